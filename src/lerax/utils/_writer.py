"""Writing the ``.eqx`` format: the .npy payload, then metadata and footer.

Writing has two steps. `prepare_tree` takes from the object everything the file
describes (leaf paths and kinds, fields, structure) and, for an asynchronous save,
a host copy of every leaf; `write_prepared` then writes bytes, computing checksums.
Only the first step needs the object, so an asynchronous save returns after it.
"""

import io
import json
import queue
import threading
from typing import Any, BinaryIO, final

import jax
import jax.tree_util as jtu
import numpy as np
import xxhash
from jax.core import Tracer

from ._atomic import start_writeback
from ._dtypes import dtype_to_text
from ._errors import SerializationError
from ._leaves import leaf_kind, npy_record
from ._manifest import FOOTER, FORMAT_VERSION, MAGIC, digest
from ._structure import describe_tree, encode_fields

__all__ = ["PreparedTree", "prepare_tree", "write_prepared", "write_tree"]


@final
class _Leaf:
    """One stored leaf: its record so far, and its data or the leaf itself."""

    __slots__ = ("data", "path", "record")

    def __init__(self, path: str, record: dict[str, Any], data: Any):
        self.path = path
        self.record = record
        self.data = data  # the leaf itself, or its `_Npy` once copied to the host

    def npy(self) -> "_Npy":
        if isinstance(self.data, _Npy):
            return self.data
        return _Npy(self.path, np.asanyarray(self.data))


@final
class _Npy:
    """Byte for byte what np.save, and so equinox, writes for one leaf."""

    __slots__ = ("body", "dtype", "header", "shape")

    def __init__(self, path: str, data: np.ndarray):
        try:
            self.header, self.body = npy_record(data)
        except ValueError as e:
            raise SerializationError(f"leaf {path} cannot be stored: {e}") from None
        self.dtype, self.shape = data.dtype, data.shape


@final
class PreparedTree:
    """What a file will hold, taken from the object: ready to be written."""

    __slots__ = ("leaves", "metadata")

    def __init__(self, leaves: list[_Leaf], metadata: dict[str, Any]):
        self.leaves = leaves
        self.metadata = metadata


def prepare_tree(
    tree: Any,
    *,
    class_name: str | None,
    args: Any,
    lerax_version: str,
    copy: bool = False,
) -> PreparedTree:
    """Takes from `tree` everything its file describes.

    Args:
        tree: The pytree to save.
        class_name: The recorded class (None for `save_tree` files, which record
            no structure).
        args: The recorded constructor arguments.
        lerax_version: The version of lerax writing the file.
        copy: Copy every stored leaf to host memory now, so that the caller may
            change or donate its arrays as soon as this returns: NumPy arrays
            are copied; JAX arrays are fetched with one ``jax.device_get`` (on
            CPU a view that keeps the buffer alive: JAX then neither reuses nor
            donates it).

    Raises:
        SerializationError: if a leaf cannot be stored (a tracer; with `copy`,
            also an object array).
    """
    leaves: list[_Leaf] = []
    for key_path, leaf in jtu.tree_flatten_with_path(tree)[0]:
        kind = leaf_kind(leaf)
        if kind is None:
            continue
        path = jtu.keystr(key_path)
        if isinstance(leaf, Tracer):
            raise SerializationError(
                f"leaf {path} is a tracer: serialize outside jit/vmap/grad"
            )
        record: dict[str, Any] = {"path": path, "kind": kind}
        if kind == "key":
            record["key_dtype"] = str(leaf.dtype)
            record["impl"] = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        leaves.append(_Leaf(path, record, leaf))
    if copy:
        _copy_to_host(leaves)
    metadata = {
        "format": "lerax",
        "format_version": FORMAT_VERSION,
        "lerax_version": lerax_version,
        "class": class_name,
        "args": args,
        "fields": encode_fields(tree),
        "tree": describe_tree(tree) if class_name is not None else None,
    }
    return PreparedTree(leaves, metadata)


def _copy_to_host(leaves: list[_Leaf]) -> None:
    on_device = [i for i, leaf in enumerate(leaves) if isinstance(leaf.data, jax.Array)]
    # One call for all arrays, so that transfers from accelerators overlap. JAX
    # arrays are immutable: a view of a CPU buffer is as good as a copy.
    fetched = jax.device_get([leaves[i].data for i in on_device])
    host = dict(zip(on_device, fetched, strict=True))
    for i, leaf in enumerate(leaves):
        if i in host:
            data = np.asanyarray(host[i])
        elif isinstance(leaf.data, np.ndarray):  # the caller's, and mutable
            data = np.array(leaf.data, copy=True, subok=True)
        else:  # NumPy and Python scalars are immutable
            data = np.asanyarray(leaf.data)
        leaf.data = _Npy(leaf.path, data)


def write_prepared(f: BinaryIO, prepared: PreparedTree) -> None:
    """Writes a prepared tree to the binary file `f` (payload, metadata, footer).

    Raises:
        SerializationError: if a leaf cannot be stored (an object array).
    """
    records: list[dict[str, Any]] = []
    pos = 0
    # Hashing a leaf on a helper thread overlaps with writing it (tofile releases
    # the GIL), which keeps saving as fast as plain equinox.
    with _Hasher() as hasher:
        for leaf in prepared.leaves:
            npy = leaf.npy()
            header, body = npy.header, npy.body
            hasher.submit(header, body)
            f.write(header)
            _write_body(f, body)
            record = dict(leaf.record)
            record.update(
                dtype=dtype_to_text(npy.dtype),
                shape=list(npy.shape),
                offset=pos,
                header=len(header),
                nbytes=body.nbytes,
            )
            pos += len(header) + body.nbytes
            records.append(record)
        for record, checksum in zip(records, hasher.results(), strict=True):
            record["checksum"] = checksum
    metadata = dict(prepared.metadata)
    fields, tree = metadata.pop("fields"), metadata.pop("tree")
    # The key order of version 1 files: the trailer stays byte-identical.
    metadata.update(payload_size=pos, leaves=records, fields=fields, tree=tree)
    blob = json.dumps(metadata, separators=(",", ":"), allow_nan=False).encode()
    f.write(blob)
    f.write(FOOTER.pack(len(blob), digest(blob), FORMAT_VERSION, 0, MAGIC))


def write_tree(
    f: BinaryIO, tree: Any, *, class_name: str | None, args: Any, lerax_version: str
) -> None:
    """Writes `tree` to the binary file `f` (payload, metadata, footer).

    Raises:
        SerializationError: if a leaf cannot be stored (a tracer, an object array).
    """
    prepared = prepare_tree(
        tree, class_name=class_name, args=args, lerax_version=lerax_version
    )
    write_prepared(f, prepared)


@final
class _Hasher:
    """Checksums records on a helper thread, in order, while the caller writes.

    A plain thread rather than a `concurrent.futures` pool: pools refuse work
    once the interpreter starts shutting down, which is exactly when pending
    asynchronous saves finish. Hashes inline if no thread can be started.
    """

    def __init__(self):
        self._queue: queue.SimpleQueue[tuple[bytes, np.ndarray] | None] = (
            queue.SimpleQueue()
        )
        self._results: list[str] = []
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="lerax-hash", daemon=True
        )
        try:
            self._thread.start()
        except RuntimeError:  # no new threads at interpreter shutdown
            self._thread = None

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._results.append(_record_checksum(*item))

    def submit(self, header: bytes, body: np.ndarray) -> None:
        if self._thread is None:
            self._results.append(_record_checksum(header, body))
        else:
            self._queue.put((header, body))

    def results(self) -> list[str]:
        """Every checksum, in the order submitted, once all are computed."""
        self._stop()
        return self._results

    def _stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "_Hasher":
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()


def _record_checksum(header: bytes, body: np.ndarray) -> str:
    checksum = xxhash.xxh3_64(header)
    checksum.update(body.data)
    return checksum.hexdigest()


def _write_body(f: BinaryIO, body: np.ndarray) -> None:
    # Real files take the array directly, as np.save does; others get a view.
    if isinstance(f, io.BufferedWriter | io.FileIO):
        body.tofile(f)
        start_writeback(f, body.nbytes)
    else:
        f.write(body.data)
