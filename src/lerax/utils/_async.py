"""Asynchronous saves: write on a background thread, wait when you need to.

The caller's thread only takes what the file describes from the object and a host
copy of its leaves (`_writer.prepare_tree` with ``copy=True``); writing, checksums
and fsync happen on one background thread, in the order the saves were started,
so the last save to a path wins. Each save is as atomic as a blocking one.

The writer is a plain non-daemon thread that runs while saves are queued: the
interpreter joins it before exiting, so exit waits for every pending save
(`concurrent.futures` pools refuse new work during that wait, so none is used).
An `atexit` handler then reports failures nobody has seen.
"""

import atexit
import collections
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Self, final

from ._files import PathOrFile, opened_for_writing, with_suffix
from ._writer import PreparedTree, write_prepared

__all__ = ["SaveHandle", "start_save", "wait_for_saves"]

_LOCK = threading.Lock()
# Saves waiting for the writer thread, which runs while there are any.
_QUEUE: "collections.deque[tuple[Future[None], Path, PreparedTree]]" = (
    collections.deque()
)
_WRITER: threading.Thread | None = None
# Saves not yet known to have succeeded, and failed saves whose error nobody has
# seen yet (neither `SaveHandle.wait` nor `wait_for_saves` raised it).
# A dict for its order: errors are raised in the order the saves were started.
_PENDING: "dict[SaveHandle, None]" = {}


@final
class SaveHandle:
    """A save running on a background thread, returned by ``blocking=False``.

    By the time you hold a handle, the object's arrays have been copied to host
    memory: you may change, donate or delete them. The file appears atomically
    once the save is done; any error (a full disk, a permission) is raised by
    `wait`. Usable as a context manager, which waits on exit:

    ```python
    with policy.serialize("policy.eqx", blocking=False) as handle:
        ...  # keep training; the file is written meanwhile
    handle.path  # PosixPath('policy.eqx'), complete and durable
    ```

    Attributes:
        path: The path being written.
    """

    __slots__ = ("__weakref__", "_future", "_seen", "path")

    def __init__(self, future: "Future[None]", path: Path):
        self._future = future
        self._seen = False
        self.path = path

    def done(self) -> bool:
        """Whether the save has finished, successfully or not."""
        return self._future.done()

    def wait(self, timeout: float | None = None) -> Path:
        """Waits for the save to finish.

        Args:
            timeout: Seconds to wait at most; None waits as long as it takes.

        Returns:
            The path written.

        Raises:
            TimeoutError: if the save is still running after `timeout` seconds.
            SerializationError: if a leaf could not be stored.
            OSError: if the file could not be written; the previous file at the
                path, if any, is intact.
        """
        error = self._future.exception(timeout)
        self._seen = True
        with _LOCK:
            _PENDING.pop(self, None)
        if error is not None:
            raise error
        return self.path

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.wait()
        except Exception as save_error:
            if error is None:
                raise
            # The block's own exception goes on; the save's is noted on it.
            error.add_note(f"the save to {self.path} failed too: {save_error!r}")

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<SaveHandle {str(self.path)!r} ({state})>"


def _write(path: Path, prepared: PreparedTree) -> None:
    with opened_for_writing(path) as (f, _):
        write_prepared(f, prepared)


def _run(future: "Future[None]", path: Path, prepared: PreparedTree) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        _write(path, prepared)
    except BaseException as e:  # delivered by SaveHandle.wait
        future.set_exception(e)
    else:
        future.set_result(None)


def _work() -> None:
    """The writer thread: saves in the order they were started, until none is
    left (an idle writer ends, so that it never holds up interpreter exit)."""
    global _WRITER
    while True:
        with _LOCK:
            if not _QUEUE:
                _WRITER = None
                return
            job = _QUEUE.popleft()
        _run(*job)


def _submit(future: "Future[None]", path: Path, prepared: PreparedTree) -> None:
    global _WRITER
    with _LOCK:
        _QUEUE.append((future, path, prepared))
        if _WRITER is not None:
            return
        writer = threading.Thread(target=_work, name="lerax-save", daemon=False)
        try:
            writer.start()
        except RuntimeError:  # no new threads at interpreter shutdown: write now
            _QUEUE.pop()
        else:
            _WRITER = writer
            return
    _run(future, path, prepared)


def start_save(path_or_file: PathOrFile, prepared: PreparedTree) -> SaveHandle:
    """Writes `prepared` to a path on the background thread.

    Raises:
        ValueError: for a file object: only paths are written asynchronously.
    """
    if not isinstance(path_or_file, str | os.PathLike):
        raise ValueError(
            "blocking=False needs a path (files are replaced atomically in the "
            f"background), got the file object {path_or_file!r}"
        )
    path = with_suffix(path_or_file)
    future: Future[None] = Future()
    handle = SaveHandle(future, path)
    with _LOCK:
        _PENDING[handle] = None
    future.add_done_callback(_forget_success(handle))
    _submit(future, path, prepared)
    return handle


def _forget_success(handle: SaveHandle) -> Callable[["Future[None]"], None]:
    def forget(future: "Future[None]") -> None:
        if not future.cancelled() and future.exception() is None:
            with _LOCK:
                _PENDING.pop(handle, None)

    return forget


def wait_for_saves() -> None:
    """Waits for every asynchronous save started so far.

    Raises:
        SerializationError, OSError: the first error of a failed save that no
            `SaveHandle.wait` has raised yet (each error is raised once); the
            other failed saves are listed in its notes.
    """
    with _LOCK:
        handles = list(_PENDING)
    failed = []
    for handle in handles:
        handle._future.exception()  # waits
        with _LOCK:
            _PENDING.pop(handle, None)
        if handle._future.exception() is not None and not handle._seen:
            handle._seen = True
            failed.append(handle)
    if failed:
        error = failed[0]._future.exception()
        assert error is not None
        for other in failed[1:]:
            error.add_note(
                f"the save to {other.path} failed too: {other._future.exception()!r}"
            )
        raise error


def _wait_at_exit() -> None:
    try:
        wait_for_saves()
    except BaseException as e:
        warnings.warn(
            f"an asynchronous lerax save failed: {e!r}", RuntimeWarning, stacklevel=1
        )


atexit.register(_wait_at_exit)
