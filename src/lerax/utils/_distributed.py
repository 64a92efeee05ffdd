"""Pytrees whose arrays span processes: orbax-checkpoint data, lerax metadata.

A distributed save is a directory::

    lerax.meta            the metadata (JSON, then a 28-byte footer), written last
    arrays-<token>/       orbax-checkpoint's directory of the JAX arrays: each
                          process writes the shards it holds
    host-<token>.eqx      the other stored leaves (NumPy arrays and scalars,
                          Python scalars), a lerax file written by process 0

The metadata describes the tree as a ``.eqx`` file does (every stored leaf's
path, kind, dtype and shape; static fields and functions), names the save's
token, and records the size and XXH3-64 checksum of every file of the save.
Loading reads and checks it first, against the caller's skeleton and the files
on disk, before orbax reads a byte; orbax's own errors become
`SerializationError`. Replacing the metadata (atomically) is what commits a save,
so a crash at any point leaves the previous save loadable; the files of older
saves are removed only after the commit.

orbax-checkpoint is imported only when a function here is called (the ``orbax``
extra); without it they raise `MissingExtraError`.
"""

import contextlib
import json
import os
import re
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any, BinaryIO, Final, TypeVar

import jax
import jax.tree_util as jtu
import numpy as np
import xxhash
from jax.core import Tracer

from .. import __version__
from ._atomic import atomic_write
from ._check import check_manifest
from ._dtypes import dtype_to_text
from ._errors import SerializationError, cut, needs_extra, quote
from ._leaves import Expected, leaf_kind
from ._manifest import (
    FOOTER,
    PYTHON_KINDS,
    Manifest,
    digest,
    parse_json,
    parse_leaf_type,
)
from ._placement import Placement, check_placement, current_placement, target
from ._reader import replace_stored
from ._structure import encode_fields
from ._tree import load_tree, save_tree

__all__ = ["load_tree_distributed", "save_tree_distributed"]

T = TypeVar("T")

METADATA: Final = "lerax.meta"
MAGIC: Final = b"LERAXDIR"
FORMAT: Final = "lerax-distributed"
FORMAT_VERSION: Final = 1
_ON_DEVICE: Final = ("jax", "key")
_TOKEN: Final = re.compile(r"[0-9a-f]{16}")
# A file of a save: under its orbax directory (names orbax writes: letters,
# digits, dots, dashes, underscores), or its host file.
_FILE: Final = re.compile(
    r"(arrays-[0-9a-f]{16}(?:/(?!\.{1,2}(?:/|$))[A-Za-z0-9_.\-]{1,255}){1,32}"
    r"|host-[0-9a-f]{16}\.eqx)"
)
_SAVE_NAME: Final = re.compile(
    r"(?:arrays-[0-9a-f]{16}(?:\.orbax-checkpoint-tmp.*)?|host-[0-9a-f]{16}\.eqx)"
)
_MAX_METADATA: Final = 2**31
_CHUNK: Final = 1 << 20
_FEATURE: Final = "save_tree_distributed and load_tree_distributed"


def _orbax() -> Any:
    return needs_extra("orbax.checkpoint", "orbax", _FEATURE)


# ------------------------------------------------------------------- saving


def save_tree_distributed(directory: str | os.PathLike[str], tree: Any) -> Path:
    """Saves a pytree whose arrays may span processes, with orbax-checkpoint.

    Every process calls it, with the same tree structure (as for any
    collective). JAX arrays are written by orbax-checkpoint, each process
    writing the shards it holds (arrays sharded over all processes' devices,
    e.g. by `jax.make_array_from_process_local_data`, need never be gathered);
    the other stored leaves (NumPy arrays and scalars, Python scalars), which
    must be the same in every process, by process 0 in a lerax file. Process 0
    then writes lerax's metadata: the tree's structure and fields, each leaf's
    path, kind, dtype and shape, and the size and checksum of every file. The
    directory must be on a file system every process sees.

    ```python
    jax.distributed.initialize()  # one call per process
    lerax.utils.save_tree_distributed("/shared/run/checkpoint", {"state": state})
    ```

    A save replaces the directory's previous save atomically: a crash at any
    point leaves the previous save loadable.

    Args:
        directory: The directory (created if missing; relative paths are taken
            from the current directory of each process).
        tree: The pytree.

    Returns:
        The directory, as an absolute path.

    Raises:
        MissingExtraError: if orbax-checkpoint is not installed
            (``pip install 'lerax[orbax]'``).
        SerializationError: if a leaf cannot be stored (a tracer, an object
            array, a dtype a file cannot describe).
        OSError: if a file cannot be written; the previous save is intact.
    """
    ocp = _orbax()
    directory = Path(directory).absolute()
    arrays, host, records = _split(tree)
    token = _shared_token()
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lerax_version": __version__,
        "orbax_version": str(getattr(ocp, "__version__", "unknown")),
        "process_count": jax.process_count(),
        "token": token,
        "leaves": records,
        "fields": encode_fields(tree),
        "files": None,  # process 0 lists them once every process has written
    }
    directory.mkdir(parents=True, exist_ok=True)
    if arrays:
        checkpointer = ocp.StandardCheckpointer()
        try:
            checkpointer.save(directory / f"arrays-{token}", arrays)
            checkpointer.wait_until_finished()
        finally:
            checkpointer.close()
    _barrier(f"lerax-saved-{token}")
    failure: BaseException | None = None
    if jax.process_index() == 0:
        try:
            if host:
                save_tree(directory / f"host-{token}.eqx", host)
            metadata["files"] = _describe_files(directory, token)
            _write_metadata(directory / METADATA, metadata)
        except BaseException as e:
            failure = e
        else:
            _remove_older_saves(directory, token)
    _agree_on_success(failure, token)
    return directory


def _split(tree: Any) -> tuple[dict[str, Any], list[Any], list[dict[str, Any]]]:
    """The JAX arrays (for orbax, by leaf number), the other stored leaves, and
    the record of every stored leaf."""
    arrays: dict[str, Any] = {}
    host: list[Any] = []
    records: list[dict[str, Any]] = []
    for key_path, leaf in jtu.tree_flatten_with_path(tree)[0]:
        kind = leaf_kind(leaf)
        if kind is None:
            continue
        path = jtu.keystr(key_path)
        if isinstance(leaf, Tracer):
            raise SerializationError(
                f"leaf {path} is a tracer: save outside jit/vmap/grad"
            )
        record: dict[str, Any] = {"path": path, "kind": kind}
        if kind == "key":
            record["key_dtype"] = str(leaf.dtype)
            record["impl"] = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        if kind in _ON_DEVICE:
            arrays[str(len(records))] = leaf
            dtype, shape = np.dtype(leaf.dtype), tuple(leaf.shape)
        else:
            host.append(leaf)
            if kind in PYTHON_KINDS:
                dtype, shape = PYTHON_KINDS[kind][1], ()
            else:
                dtype, shape = leaf.dtype, tuple(leaf.shape)
            if dtype.hasobject:
                raise SerializationError(
                    f"leaf {path} cannot be stored: object arrays would need "
                    "pickle, which lerax never uses"
                )
        try:
            record["dtype"] = dtype_to_text(dtype)
        except ValueError as e:
            raise SerializationError(f"leaf {path} cannot be stored: {e}") from None
        record["shape"] = list(shape)
        records.append(record)
    return arrays, host, records


def _shared_token() -> str:
    """A fresh random token, the same in every process (process 0's)."""
    token = secrets.token_hex(8)
    if jax.process_count() == 1:
        return token
    from jax.experimental import multihost_utils

    words = np.frombuffer(bytes.fromhex(token), np.uint32)
    shared = np.asarray(multihost_utils.broadcast_one_to_all(words))
    return shared.astype(np.uint32).tobytes().hex()


def _barrier(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _agree_on_success(failure: BaseException | None, token: str) -> None:
    """Raises process 0's failure there, and an OSError in the other processes,
    which then return only once the save is committed (or failed)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        failed = np.int32(failure is not None)
        failed = int(np.asarray(multihost_utils.broadcast_one_to_all(failed)))
        if failure is None and failed:
            raise OSError(
                f"process 0 could not commit the distributed save {token} (see "
                "its error); the previous save is intact"
            )
    if failure is not None:
        raise failure


def _describe_files(directory: Path, token: str) -> list[list[Any]]:
    """``[relative path, size, checksum]`` of every file of the save."""
    files = []
    for path in _files_of(directory, token):
        if not _FILE.fullmatch(path):
            raise SerializationError(
                f"{directory}: orbax-checkpoint wrote a file lerax cannot record "
                f"({cut(path)}); please report this with your orbax version"
            )
        size, checksum = _checksum(directory / path)
        files.append([path, size, checksum])
    return files


def _files_of(directory: Path, token: str) -> list[str]:
    """The files of save `token`, relative to `directory`, sorted.

    Raises:
        SerializationError: for a symbolic link or another special file.
    """
    found = []
    stack = [
        name
        for name in (f"host-{token}.eqx", f"arrays-{token}")
        if os.path.lexists(directory / name)
    ]
    # Iterative, not following links: a directory's depth costs no recursion.
    while stack:
        relative = stack.pop()
        info = os.lstat(directory / relative)
        if stat.S_ISDIR(info.st_mode) and relative != f"host-{token}.eqx":
            with os.scandir(directory / relative) as entries:
                stack.extend(f"{relative}/{entry.name}" for entry in entries)
        elif stat.S_ISREG(info.st_mode):
            found.append(relative)
        else:
            raise SerializationError(
                f"{directory}: {cut(relative)} is neither a regular file nor a "
                "directory (a link?); a save holds only plain files"
            )
    return sorted(found)


def _checksum(path: Path) -> tuple[int, str]:
    hasher = xxhash.xxh3_64()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return size, hasher.hexdigest()


def _write_metadata(path: Path, metadata: dict[str, Any]) -> None:
    blob = json.dumps(metadata, separators=(",", ":"), allow_nan=False).encode()
    with atomic_write(path) as f:
        f.write(blob)
        f.write(FOOTER.pack(len(blob), digest(blob), FORMAT_VERSION, 0, MAGIC))


def _remove_older_saves(directory: Path, token: str) -> None:
    """Removes the files of saves other than `token` (older or crashed ones)."""
    with os.scandir(directory) as entries:
        stale = [
            entry.path
            for entry in entries
            if _SAVE_NAME.fullmatch(entry.name) and token not in entry.name
        ]
    for path in stale:
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)


# ------------------------------------------------------------------ loading


def load_tree_distributed(
    directory: str | os.PathLike[str],
    like: T,
    *,
    placement: Placement | None = None,
    verify_checksums: bool = True,
) -> T:
    """Loads a save of `save_tree_distributed` into ``like``.

    Every process calls it. lerax's metadata is read and checked first: against
    ``like`` (structure, fields, each leaf's kind, dtype and shape, every
    mismatch listed at once) and against the files on disk (each present, a
    plain file, of the recorded size and, with `verify_checksums`, checksum).
    Only then does orbax-checkpoint read the arrays, each process the shards
    it needs. The save may come from any number of processes and devices: each
    array is placed by `placement`, else by a `placed` block, else like
    ``like``'s leaf (e.g. a ``jax.ShapeDtypeStruct`` with a sharding over every
    process's devices), else whole on each process's first local device.

    ```python
    like = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
        abstract_state,
    )
    state = lerax.utils.load_tree_distributed("/shared/run/checkpoint", like)
    ```

    Args:
        directory: The directory `save_tree_distributed` wrote.
        like: A skeleton of the tree (real arrays or ``jax.ShapeDtypeStruct``).
        placement: Where the loaded JAX arrays go: a `jax.Device`, a
            `jax.sharding.Sharding` for every array, or a function
            ``(path, jax.ShapeDtypeStruct)`` returning either (or None) for each.
        verify_checksums: Check every file's checksum before restoring (each
            process reads the whole save once more); sizes are always checked.

    Returns:
        ``like`` with every stored leaf loaded.

    Raises:
        MissingExtraError: if orbax-checkpoint is not installed.
        FileNotFoundError: if the directory holds no lerax metadata.
        SerializationError: if the save is damaged, incomplete, does not fit
            ``like``, or orbax-checkpoint cannot restore it (its error is the
            ``__cause__``).
        TypeError: if `placement` is not a device, a sharding or a function.
    """
    check_placement(placement)
    ocp = _orbax()
    directory = Path(directory).absolute()
    where = str(directory)
    with open(directory / METADATA, "rb") as f:
        meta = _read_metadata(f, where)
    manifest, token, files = meta
    stored = check_manifest(manifest, like, where)
    _check_files(directory, token, files, where, verify_checksums)
    placement = current_placement(placement)
    records = manifest.leaves
    on_device = [i for i, rec in enumerate(records) if rec.kind in _ON_DEVICE]
    abstract = {
        str(i): jax.ShapeDtypeStruct(
            records[i].shape,
            records[i].dtype,
            sharding=_sharding(placement, *stored[i], where),
        )
        for i in on_device
    }
    restored = _restore(ocp, directory / f"arrays-{token}", abstract, where)
    new: dict[str, Any] = {}
    for i in on_device:
        rec, path = records[i], stored[i][0]
        array = restored[str(i)]
        if rec.kind == "key":
            assert rec.impl is not None
            array = jax.random.wrap_key_data(array, impl=rec.impl)
        new[path] = array
    host = [i for i, rec in enumerate(records) if rec.kind not in _ON_DEVICE]
    if host:
        host_like = [stored[i][1].leaf for i in host]
        try:
            values = load_tree(directory / f"host-{token}.eqx", host_like)
        except FileNotFoundError:
            raise SerializationError(
                f"{where}: the save's host-{token}.eqx is missing"
            ) from None
        for i, value in zip(host, values, strict=True):
            new[stored[i][0]] = value
    return replace_stored(like, new)


def _sharding(placement: Placement | None, path: str, exp: Expected, where: str) -> Any:
    chosen = target(placement, path, exp, where)
    if chosen is None:
        chosen = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return chosen


def _restore(ocp: Any, path: Path, abstract: dict[str, Any], where: str) -> Any:
    if not abstract:
        return {}
    checkpointer = ocp.StandardCheckpointer()
    try:
        restored = checkpointer.restore(path, abstract)
    except Exception as e:
        raise SerializationError(
            f"{where}: orbax-checkpoint cannot restore the arrays "
            f"({type(e).__name__}: {cut(str(e))})"
        ) from e
    finally:
        checkpointer.close()
    # orbax reads its own metadata: check it gave what lerax's metadata says.
    if not isinstance(restored, dict) or set(restored) != set(abstract):
        raise SerializationError(f"{where}: orbax-checkpoint restored another tree")
    for name, spec in abstract.items():
        array = restored[name]
        if not (
            isinstance(array, jax.Array)
            and array.shape == spec.shape
            and array.dtype == spec.dtype
        ):
            raise SerializationError(
                f"{where}: orbax-checkpoint restored {quote(repr(array))[:80]} for "
                f"leaf number {name}, not {spec.dtype}{list(spec.shape)}"
            )
    return restored


def _fail(where: str, message: str) -> SerializationError:
    return SerializationError(f"{where}: {message}")


def _read_metadata(
    f: BinaryIO, where: str
) -> tuple[Manifest, str, dict[str, tuple[int, str]]]:
    """Reads and checks ``lerax.meta``: (description, token, files)."""
    size = os.fstat(f.fileno()).st_size
    if size < FOOTER.size:
        raise _fail(where, f"{METADATA} is too short: the save is damaged")
    if size > _MAX_METADATA:
        raise _fail(where, f"{METADATA} is larger than {_MAX_METADATA} bytes")
    data = f.read(size)
    if len(data) != size:
        raise _fail(where, f"{METADATA} changed while being read")
    meta_len, meta_digest, version, reserved, magic = FOOTER.unpack(
        data[-FOOTER.size :]
    )
    if magic != MAGIC:
        raise _fail(where, f"{METADATA} is not lerax metadata of a distributed save")
    if version > FORMAT_VERSION:
        raise _fail(
            where,
            f"written in distributed format version {version}; this lerax reads "
            f"versions up to {FORMAT_VERSION}. Upgrade lerax to read it.",
        )
    if version < 1 or reserved != 0 or meta_len != size - FOOTER.size:
        raise _fail(where, f"the footer of {METADATA} is corrupted")
    blob = data[: -FOOTER.size]
    if digest(blob) != meta_digest:
        raise _fail(where, f"checksum mismatch in {METADATA}: the save is corrupted")
    meta = parse_json(blob, where)
    try:
        return _parse(meta, version)
    except (ValueError, KeyError, TypeError) as e:
        raise _fail(where, f"malformed lerax metadata ({cut(str(e))})") from None


def _parse(meta: Any, version: int) -> tuple[Manifest, str, dict[str, tuple[int, str]]]:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError("not the metadata of a distributed save")
    if meta.get("format_version") != version or type(version) is not int:
        raise ValueError("the format versions of the metadata and footer differ")
    token = meta.get("token")
    if not (isinstance(token, str) and _TOKEN.fullmatch(token)):
        raise ValueError(f"malformed token {quote(token)}")
    lerax_version = meta.get("lerax_version")
    if not isinstance(lerax_version, str):
        raise ValueError("'lerax_version' has the wrong type")
    records = meta.get("leaves")
    fields = meta.get("fields")
    if not isinstance(records, list) or not isinstance(fields, dict):
        raise ValueError("'leaves' or 'fields' has the wrong type")
    leaves = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise ValueError(f"leaf record {i} is not an object")
        leaves.append(parse_leaf_type(rec))
    entries = meta.get("files")
    if not isinstance(entries, list):
        raise ValueError("'files' has the wrong type")
    files: dict[str, tuple[int, str]] = {}
    for entry in entries:
        if not (
            isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[0], str)
            and _FILE.fullmatch(entry[0])
            and entry[0].split("/")[0] in (f"arrays-{token}", f"host-{token}.eqx")
            and type(entry[1]) is int
            and 0 <= entry[1] < 2**63
            and isinstance(entry[2], str)
        ):
            raise ValueError(f"malformed file entry {quote(entry)}")
        if entry[0] in files:
            raise ValueError(f"file {quote(entry[0])} listed twice")
        files[entry[0]] = (entry[1], entry[2])
    manifest = Manifest(
        format_version=version,
        lerax_version=lerax_version,
        class_name=None,
        args=None,
        leaves=tuple(leaves),
        fields=fields,
        tree=None,
        payload_size=0,
    )
    return manifest, token, files


def _check_files(
    directory: Path,
    token: str,
    files: dict[str, tuple[int, str]],
    where: str,
    verify: bool,
) -> None:
    """Every file of the save is there, plain, of its size and checksum, and
    no other file is.

    Raises:
        SerializationError: naming the first file that is not.
    """
    found = _files_of(directory, token)
    missing = sorted(set(files) - set(found))
    extra = sorted(set(found) - set(files))
    if missing or extra:
        raise _fail(
            where,
            "the save's files are not those its metadata lists"
            + (f"; missing: {cut(', '.join(missing[:5]))}" if missing else "")
            + (f"; unexpected: {cut(', '.join(extra[:5]))}" if extra else "")
            + ": the save is incomplete or damaged",
        )
    for name in found:
        size, checksum = files[name]
        real = os.lstat(directory / name).st_size
        if real != size:
            raise _fail(
                where,
                f"{cut(name)} holds {real} bytes, the metadata says {size}: the "
                "save is truncated or damaged",
            )
        if verify and _checksum(directory / name) != (size, checksum):
            raise _fail(where, f"checksum mismatch in {cut(name)}: it is corrupted")
