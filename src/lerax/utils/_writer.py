"""Writing the ``.eqx`` format: the .npy payload, then metadata and footer."""

import io
import json
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

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

__all__ = ["write_tree"]


def write_tree(
    f: BinaryIO, tree: Any, *, class_name: str | None, args: Any, lerax_version: str
) -> None:
    """Writes `tree` to the binary file `f` (payload, metadata, footer).

    Raises:
        SerializationError: if a leaf cannot be stored (a tracer, an object array).
    """
    records: list[dict[str, Any]] = []
    checksums: list[Future[str]] = []
    pos = 0
    # Hashing a leaf on a worker thread overlaps with writing it (tofile releases
    # the GIL), which keeps saving as fast as plain equinox.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lerax-hash") as hasher:
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
            # Byte for byte what np.save, and so equinox, writes for this leaf.
            data = np.asanyarray(leaf)
            try:
                header, body = npy_record(data)
            except ValueError as e:
                raise SerializationError(f"leaf {path} cannot be stored: {e}") from None
            checksums.append(hasher.submit(_record_checksum, header, body))
            f.write(header)
            _write_body(f, body)
            record.update(
                dtype=dtype_to_text(data.dtype),
                shape=list(data.shape),
                offset=pos,
                header=len(header),
                nbytes=body.nbytes,
            )
            pos += len(header) + body.nbytes
            records.append(record)
        for record, checksum in zip(records, checksums, strict=True):
            record["checksum"] = checksum.result()
    metadata = {
        "format": "lerax",
        "format_version": FORMAT_VERSION,
        "lerax_version": lerax_version,
        "class": class_name,
        "args": args,
        "payload_size": pos,
        "leaves": records,
        "fields": encode_fields(tree),
        "tree": describe_tree(tree) if class_name is not None else None,
    }
    blob = json.dumps(metadata, separators=(",", ":"), allow_nan=False).encode()
    f.write(blob)
    f.write(FOOTER.pack(len(blob), digest(blob), FORMAT_VERSION, 0, MAGIC))


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
