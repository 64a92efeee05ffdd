"""The lerax trailer of a ``.eqx`` file: footer, metadata and their validation.

Layout (see docs/format.md)::

    payload   one .npy record per stored leaf, byte-identical to what
              ``eqx.tree_serialise_leaves`` writes for the same tree
    metadata  UTF-8 JSON describing the file, the object and every leaf
    footer    28 bytes: metadata length (u64), metadata XXH3-64 (u64),
              format version (u16), reserved (u16), magic b"LERAXEQX"

Everything the metadata claims is checked here against the real file length
before anything else reads it, so no later step allocates what a file asks for.
"""

import dataclasses
import io
import json
import math
import re
import struct
from typing import Any, BinaryIO, final

import jax
import numpy as np
import xxhash

from ._dtypes import dtype_from_text, is_numeric, parse_shape
from ._errors import SerializationError, cut, quote

__all__ = [
    "FOOTER",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_NPY_HEADER",
    "PYTHON_KINDS",
    "LeafRecord",
    "Manifest",
    "digest",
    "file_region",
    "key_type",
    "parse_json",
    "parse_leaf_type",
    "read_manifest",
]

MAGIC = b"LERAXEQX"
FORMAT_VERSION = 1
FOOTER = struct.Struct("<QQHH8s")
MAX_NPY_HEADER = 65536  # refuse absurd .npy headers before parsing them
# Real metadata nests a few levels per nested object; a limit keeps every
# recursive walk of a hostile file far from Python's recursion limit.
_MAX_NESTING = 200
_MAX_INT = 2**63
# How Python scalar leaves are stored: what np.asarray makes of them.
PYTHON_KINDS: dict[str, tuple[type, np.dtype]] = {
    "bool": (bool, np.dtype(bool)),
    "int": (int, np.dtype(np.int64)),
    "float": (float, np.dtype(np.float64)),
    "complex": (complex, np.dtype(np.complex128)),
}
# PRNG implementations a key may name; each is checked against JAX on first use.
_KEY_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")
_key_types: dict[str, tuple[Any, tuple[int, ...]]] = {}


@final
@dataclasses.dataclass(frozen=True)
class LeafRecord:
    """Where one stored leaf lives in the payload and what it holds.

    `dtype` and `shape` describe the stored data; a typed PRNG key is stored as
    its ``uint32`` key data, with `key_dtype` and `impl` to rebuild it.
    """

    path: str
    kind: str  # "jax", "numpy", "key", "generic" or a Python scalar type name
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int  # from the start of the payload
    header: int  # length of the .npy header
    nbytes: int  # length of the data after the header
    checksum: str  # XXH3-64 of the whole record, header included, in hex
    key_dtype: str | None = None
    impl: str | None = None

    @property
    def end(self) -> int:
        return self.offset + self.header + self.nbytes

    @property
    def key_shape(self) -> tuple[int, ...]:
        """The shape of the key array itself (without the key data's own dims)."""
        assert self.impl is not None
        return self.shape[: len(self.shape) - len(key_type(self.impl)[1])]


@final
@dataclasses.dataclass(frozen=True)
class Manifest:
    """Everything the trailer of a lerax file says."""

    format_version: int
    lerax_version: str
    class_name: str | None
    args: Any
    leaves: tuple[LeafRecord, ...]
    fields: dict[str, Any]  # non-array leaves and static fields, encoded
    tree: Any  # the object's structure (see _structure.py); None if not recorded
    payload_size: int


def digest(data: Any) -> int:
    return xxhash.xxh3_64_intdigest(data)


def file_region(f: BinaryIO) -> tuple[int, int]:
    """The readable region: from the current position to the end of the file."""
    start = f.tell()
    end = f.seek(0, io.SEEK_END)
    f.seek(start)
    return start, end


def _fail(where: str, message: str) -> SerializationError:
    return SerializationError(f"{where}: {message}")


def read_manifest(f: BinaryIO, where: str) -> Manifest | None:
    """Reads and checks the lerax trailer; None if the file has none.

    Leaves the file positioned where it was.
    """
    start, end = file_region(f)
    if end - start < FOOTER.size:
        return None
    f.seek(end - FOOTER.size)
    meta_len, meta_digest, version, reserved, magic = FOOTER.unpack(f.read(FOOTER.size))
    if magic != MAGIC:
        f.seek(start)
        return None
    if version > FORMAT_VERSION:
        raise _fail(
            where,
            f"written in lerax file format version {version}; this lerax reads "
            f"versions up to {FORMAT_VERSION}. Upgrade lerax to read it.",
        )
    if version < 1 or reserved != 0:
        raise _fail(where, "the lerax footer is corrupted")
    if meta_len > end - start - FOOTER.size:
        raise _fail(
            where,
            f"the footer claims {meta_len} bytes of metadata but the file holds only "
            f"{end - start} bytes: the file is truncated or corrupted",
        )
    f.seek(end - FOOTER.size - meta_len)
    blob = f.read(meta_len)
    f.seek(start)
    if len(blob) != meta_len or digest(blob) != meta_digest:
        raise _fail(where, "metadata checksum mismatch: the file is corrupted")
    meta = parse_json(blob, where)
    payload_size = end - start - FOOTER.size - meta_len
    try:
        manifest = _parse(meta, version, payload_size)
    except (ValueError, KeyError, TypeError) as e:
        raise _fail(where, f"malformed lerax metadata ({cut(str(e))})") from None
    return manifest


# A JSON string, written as "unrolled loop" (runs of plain characters between
# escapes): Python's re then scans a long string in one step, not per character.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def _nesting(blob: bytes) -> int:
    """Depth of nested arrays and objects of a valid JSON text, from its brackets
    outside strings (vectorised: this runs on every load)."""
    marks = np.frombuffer(_JSON_STRING.sub(b"", blob), np.uint8)
    steps = np.isin(marks, _OPENING).astype(np.int64) - np.isin(marks, _CLOSING)
    return int(np.cumsum(steps).max(initial=0))


_OPENING = np.frombuffer(b"[{", np.uint8)
_CLOSING = np.frombuffer(b"]}", np.uint8)


def _get(meta: dict[str, Any], key: str, types: tuple[type, ...]) -> Any:
    if key not in meta:
        raise ValueError(f"no {key!r}")
    value = meta[key]
    # bool is an int to isinstance, never to a file format.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ValueError(f"{key!r} has the wrong type")
    return value


def _count(meta: dict[str, Any], key: str) -> int:
    value = _get(meta, key, (int,))
    if not 0 <= value < _MAX_INT:
        raise ValueError(f"{key!r} out of range")
    return value


def _parse(meta: Any, footer_version: int, payload_size: int) -> Manifest:
    if not isinstance(meta, dict) or meta.get("format") != "lerax":
        raise ValueError("not lerax metadata")
    version = _count(meta, "format_version")
    if version != footer_version:
        raise ValueError(
            f"the metadata says format version {version}, the footer {footer_version}"
        )
    if _count(meta, "payload_size") != payload_size:
        raise ValueError(
            f"the metadata records a {meta['payload_size']}-byte payload but the "
            f"file holds {payload_size} bytes before it: the file is truncated or "
            "has extra bytes"
        )
    records = _get(meta, "leaves", (list,))
    leaves = []
    offset = 0
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise ValueError(f"leaf record {i} is not an object")
        leaf = _parse_leaf(rec, offset)
        if leaf.end > payload_size:
            raise ValueError(f"leaf {quote(leaf.path)} extends past the payload")
        leaves.append(leaf)
        offset = leaf.end
    if offset != payload_size:
        raise ValueError("the leaves do not cover the payload")
    class_name = _get(meta, "class", (str, type(None)))
    return Manifest(
        format_version=version,
        lerax_version=_get(meta, "lerax_version", (str,)),
        class_name=class_name,
        args=meta.get("args"),
        leaves=tuple(leaves),
        fields=_get(meta, "fields", (dict,)),
        tree=meta.get("tree"),
        payload_size=payload_size,
    )


def _parse_leaf(rec: dict[str, Any], offset: int) -> LeafRecord:
    leaf = parse_leaf_type(rec)
    where = f"at leaf {quote(leaf.path)}"
    header = _count(rec, "header")
    if not 0 < header <= MAX_NPY_HEADER:
        raise ValueError(f"bad .npy header length {where}")
    nbytes = _count(rec, "nbytes")
    if nbytes != leaf.nbytes:
        raise ValueError(f"the byte count does not match dtype and shape {where}")
    if _count(rec, "offset") != offset:
        raise ValueError(f"leaf records are not contiguous {where}")
    return dataclasses.replace(
        leaf, offset=offset, header=header, checksum=_get(rec, "checksum", (str,))
    )


def parse_leaf_type(rec: dict[str, Any]) -> LeafRecord:
    """What a leaf record says the leaf is: path, kind, dtype, shape and, for a
    PRNG key, its key dtype and implementation, all checked to be consistent.

    The record's position is not read: `offset` and `header` are 0, `checksum`
    is empty, and `nbytes` is computed from the dtype and shape.

    Raises:
        ValueError: naming what is malformed.
    """
    path = _get(rec, "path", (str,))
    where = f"at leaf {quote(path)}"
    kind = _get(rec, "kind", (str,))
    dtype = dtype_from_text(rec.get("dtype"))
    shape = parse_shape(rec.get("shape"))
    key_dtype = impl = None
    if kind in PYTHON_KINDS:
        if (dtype, shape) != (PYTHON_KINDS[kind][1], ()):
            raise ValueError(f"a Python {kind} stored as {dtype}{list(shape)} {where}")
    elif kind == "key":
        impl = _get(rec, "impl", (str,))
        key_dtype = _get(rec, "key_dtype", (str,))
        if impl not in _KEY_IMPLS:
            raise ValueError(f"unknown PRNG implementation {quote(impl)} {where}")
        expected_dtype, data_shape = key_type(impl)
        if (
            key_dtype != str(expected_dtype)
            or dtype != np.uint32
            or shape[len(shape) - len(data_shape) :] != data_shape
        ):
            raise ValueError(f"inconsistent PRNG key record {where}")
    elif kind == "generic":
        if shape != ():
            raise ValueError(f"a NumPy scalar of shape {list(shape)} {where}")
    elif kind == "jax":
        if not is_numeric(dtype) or dtype.name in ("float128", "complex256"):
            raise ValueError(f"JAX has no {dtype} arrays {where}")
    elif kind != "numpy":
        raise ValueError(f"unknown leaf kind {quote(kind)} {where}")
    return LeafRecord(
        path=path,
        kind=kind,
        dtype=dtype,
        shape=shape,
        offset=0,
        header=0,
        # Dims are below 2**62 and at most 64, so this product is cheap to compute.
        nbytes=math.prod(shape) * dtype.itemsize,
        checksum="",
        key_dtype=key_dtype,
        impl=impl,
    )


def parse_json(blob: bytes, where: str) -> Any:
    """Parses lerax metadata: JSON text, nested at most a couple of hundred levels.

    Raises:
        SerializationError: if `blob` is not such JSON.
    """
    try:
        meta = json.loads(blob)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise _fail(where, f"malformed lerax metadata ({cut(str(e))})") from None
    if _nesting(blob) > _MAX_NESTING:
        raise _fail(where, f"lerax metadata nested deeper than {_MAX_NESTING} levels")
    return meta


def key_type(impl: str) -> tuple[Any, tuple[int, ...]]:
    """The key dtype and key-data shape of a PRNG implementation (cached)."""
    if impl not in _key_types:
        key = jax.eval_shape(lambda: jax.random.key(0, impl=impl))
        data = jax.eval_shape(jax.random.key_data, key)
        _key_types[impl] = (key.dtype, tuple(data.shape))
    return _key_types[impl]
