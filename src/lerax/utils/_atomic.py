"""Atomic file replacement: a reader sees the old file or the new one, never a mix."""

import contextlib
import ctypes
import os
import re
import socket
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import xxhash

__all__ = ["atomic_write", "start_writeback"]

# Read once: os.umask can only be read by setting it, which is not thread-safe later.
_UMASK = os.umask(0)
os.umask(_UMASK)
_NAME_MAX = 255  # bytes in one file name on every common Linux/macOS file system
# Temporary names end ".lerax-<host>-<pid>-<8 random>.tmp": this host and process
# own the file, so a later save can tell a crashed save's leftover from a live one.
_HOST = xxhash.xxh3_64_hexdigest(socket.gethostname().encode())[:6]
_TEMP_TAIL = re.compile(r"lerax-([0-9a-f]{6})-(\d{1,10})-[a-z0-9_]{8}\.tmp")
_TEMP_TAIL_MAX = len("lerax-") + 6 + 1 + 10 + 1 + 8 + len(".tmp")


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Yields a temporary file that replaces `path` once the block succeeds.

    The temporary file lives in the same folder (so the final rename is atomic), is
    flushed and fsynced before the rename, and is removed if the block raises.
    Missing parent folders are created. A symbolic link is written through: its
    target is replaced. The new file keeps the permissions of the file it
    replaces (and, for root, its owner); a new file gets the umask's. Leftovers of
    saves to the same path that crashed (their process is gone) are removed.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = _temp_prefix(path.name)
    _remove_stale(path.parent, prefix)
    try:
        old = path.stat()
    except FileNotFoundError:
        old = None
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f"{prefix}lerax-{_HOST}-{os.getpid()}-", suffix=".tmp"
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            _copy_permissions(f.fileno(), old)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _temp_prefix(name: str) -> str:
    """``.<name>.``, shortened with a hash of `name` where a temporary name built
    on it would exceed the file system's limit on name length."""
    prefix = f".{name}."
    if len(os.fsencode(prefix)) + _TEMP_TAIL_MAX <= _NAME_MAX:
        return prefix
    tag = xxhash.xxh3_64_hexdigest(os.fsencode(name))
    keep = name
    while len(os.fsencode(f".{keep}~{tag}.")) + _TEMP_TAIL_MAX > _NAME_MAX:
        keep = keep[:-1]
    return f".{keep}~{tag}."


def _remove_stale(folder: Path, prefix: str) -> None:
    """Removes temporary files of crashed saves under `prefix`: regular files of
    ours, named by this host, whose writing process no longer exists."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _TEMP_TAIL.fullmatch(entry.name[len(prefix) :])
        if match is None or match[1] != _HOST:
            continue
        pid = int(match[2])
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if (
                stat.S_ISREG(info.st_mode)
                and info.st_uid == os.geteuid()
                and pid != os.getpid()
                and not _process_exists(pid)
            ):
                os.unlink(entry.path)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or a pid we cannot even ask about
    return True


def _copy_permissions(fd: int, old: os.stat_result | None) -> None:
    if old is None:
        # mkstemp creates the file private (0600); give it the usual permissions.
        os.fchmod(fd, 0o666 & ~_UMASK)
        return
    os.fchmod(fd, stat.S_IMODE(old.st_mode))
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.fchown(fd, old.st_uid, old.st_gid)


def _fsync_dir(folder: Path) -> None:
    """Makes the rename itself durable; not every platform can open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _load_sync_file_range() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE = _load_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(f: BinaryIO, nbytes: int) -> None:
    """Asks Linux to start writing the last `nbytes` written to `f` to disk.

    It does not wait, so the disk works while the caller writes on, and the final
    fsync has little left to do; it also spares the writer the kernel's throttling
    of dirty pages. Saving is then faster with fsync than plain equinox without.
    A no-op where unsupported (other systems, objects without a file descriptor).
    """
    if _SYNC_FILE_RANGE is None:
        return
    try:
        fd, end = f.fileno(), f.tell()
    except (OSError, AttributeError, ValueError):
        return
    _SYNC_FILE_RANGE(fd, end - nbytes, nbytes, _SYNC_FILE_RANGE_WRITE)
