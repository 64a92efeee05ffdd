"""The ``.eqx`` file format: equinox's leaf payload followed by a lerax trailer.

Layout (see docs/format.md)::

    payload   one .npy record per stored leaf, byte-identical to what
              ``eqx.tree_serialise_leaves`` writes for the same tree
    metadata  UTF-8 JSON describing the file, the object and every leaf
    footer    28 bytes: metadata length (u64), metadata XXH3-64 (u64),
              format version (u16), reserved (u16), magic b"LERAXEQX"

Equinox reads the payload and ignores what follows; lerax finds the footer at the
end of the file, so a file without it is read as a plain equinox file.
"""

import dataclasses
import io
import json
import math
import struct
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, final

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import xxhash
from jax.core import Tracer

from ._atomic import start_writeback
from ._encoding import describe, encode_value
from ._errors import SerializationError

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "Manifest",
    "check_manifest",
    "read_leaves",
    "read_manifest",
    "write_tree",
]

MAGIC = b"LERAXEQX"
FORMAT_VERSION = 1
_FOOTER = struct.Struct("<QQHH8s")
_ARGS_FIELD = "_lerax_args"  # Serializable's bookkeeping field, never compared
_MAX_NPY_HEADER = 65536  # refuse absurd .npy headers before parsing them
# Real metadata nests a few levels per nested constructor argument; a limit keeps
# the recursive decoding of a hostile file far from Python's recursion limit.
_MAX_NESTING = 200
_PYTHON_KINDS: dict[str, type] = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
}


@final
@dataclasses.dataclass(frozen=True)
class LeafRecord:
    """Where one stored leaf lives in the payload and what it holds.

    ``dtype`` and ``shape`` describe the stored data; a typed PRNG key is stored as
    its ``uint32`` key data, with ``key_dtype`` and ``impl`` to rebuild it.
    """

    path: str
    kind: str  # "jax", "numpy", "key", "generic" or a Python scalar type name
    dtype: str
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
    payload_size: int


# --------------------------------------------------------------------- writing


def _leaf_kind(x: Any) -> str | None:
    """How a leaf is stored; None for leaves equinox does not store."""
    if isinstance(x, jax.Array):
        return "key" if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else "jax"
    if isinstance(x, np.ndarray):
        return "numpy"
    if isinstance(x, np.generic):
        return "generic"
    for name, cls in _PYTHON_KINDS.items():  # bool before int: bool subclasses int
        if isinstance(x, cls):
            return name
    return None


def _npy_record(data: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The .npy header and body ``np.save(f, data)`` writes, without copying data."""
    if data.dtype.hasobject:
        raise ValueError("object arrays would need pickle, which lerax never uses")
    header_data = np.lib.format.header_data_from_array_1_0(data)
    header = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(header, header_data)
    except ValueError:  # header too long for version 1.0: NumPy moves to 2.0 too
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(header, header_data)
    # NumPy stores arrays that are only Fortran-contiguous in Fortran order.
    fortran = data.flags.f_contiguous and not data.flags.c_contiguous
    body = np.ascontiguousarray(data.T if fortran else data)
    return header.getvalue(), body.reshape(-1).view(np.uint8)


def write_tree(
    f: BinaryIO, tree: Any, *, class_name: str | None, args: Any, lerax_version: str
) -> None:
    """Writes ``tree`` to the binary file ``f`` (payload, metadata, footer)."""
    records: list[dict[str, Any]] = []
    checksums: list[Future[str]] = []
    fields: dict[str, Any] = {}
    pos = 0
    # Hashing a leaf on a worker thread overlaps with writing it (tofile releases
    # the GIL), which keeps saving as fast as plain equinox.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lerax-hash") as hasher:
        for key_path, leaf in jtu.tree_flatten_with_path(tree)[0]:
            path = jtu.keystr(key_path)
            kind = _leaf_kind(leaf)
            if kind is None:
                fields[path] = encode_value(leaf)
                continue
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
                header, body = _npy_record(data)
            except ValueError as e:
                raise SerializationError(f"leaf {path} cannot be stored: {e}") from None
            checksums.append(hasher.submit(_record_checksum, header, body))
            f.write(header)
            _write_body(f, body)
            record.update(
                dtype=data.dtype.name,
                shape=list(data.shape),
                offset=pos,
                header=len(header),
                nbytes=body.nbytes,
            )
            pos += len(header) + body.nbytes
            records.append(record)
        for record, checksum in zip(records, checksums, strict=True):
            record["checksum"] = checksum.result()
    fields.update(static_fields(tree))
    metadata = {
        "format": "lerax",
        "format_version": FORMAT_VERSION,
        "lerax_version": lerax_version,
        "class": class_name,
        "args": args,
        "payload_size": pos,
        "leaves": records,
        "fields": fields,
    }
    blob = json.dumps(metadata, separators=(",", ":"), allow_nan=False).encode()
    f.write(blob)
    f.write(_FOOTER.pack(len(blob), _digest(blob), FORMAT_VERSION, 0, MAGIC))


def _record_checksum(header: bytes, body: np.ndarray) -> str:
    checksum = xxhash.xxh3_64(header)
    checksum.update(body.data)
    return checksum.hexdigest()


def _digest(data: Any) -> int:
    return xxhash.xxh3_64_intdigest(data)


def _write_body(f: BinaryIO, body: np.ndarray) -> None:
    # Real files take the array directly, as np.save does; others get a view.
    if isinstance(f, io.BufferedWriter | io.FileIO):
        body.tofile(f)
        start_writeback(f, body.nbytes)
    else:
        f.write(body.data)


def static_fields(tree: Any) -> dict[str, Any]:
    """Encodes the static fields of every equinox Module inside ``tree``, by path."""
    out: dict[str, Any] = {}

    def visit(node: Any, prefix: str) -> None:
        if isinstance(node, eqx.Module):
            for field in dataclasses.fields(node):
                if field.metadata.get("static", False) and field.name != _ARGS_FIELD:
                    value = getattr(node, field.name, None)
                    out[f"{prefix}.{field.name}"] = encode_value(value)

        def is_module(x: Any) -> bool:
            return x is not node and isinstance(x, eqx.Module)

        for key_path, child in jtu.tree_flatten_with_path(node, is_leaf=is_module)[0]:
            if is_module(child):
                visit(child, prefix + jtu.keystr(key_path))

    visit(tree, "")
    return out


# --------------------------------------------------------------------- reading


def _fail(where: str, message: str) -> SerializationError:
    return SerializationError(f"{where}: {message}")


def _region(f: BinaryIO) -> tuple[int, int]:
    """The readable region: from the current position to the end of the file."""
    start = f.tell()
    end = f.seek(0, io.SEEK_END)
    f.seek(start)
    return start, end


def read_manifest(f: BinaryIO, where: str) -> Manifest | None:
    """Reads and checks the lerax trailer; None if the file has none.

    Leaves the file positioned where it was.
    """
    start, end = _region(f)
    if end - start < _FOOTER.size:
        return None
    f.seek(end - _FOOTER.size)
    meta_len, meta_digest, version, reserved, magic = _FOOTER.unpack(
        f.read(_FOOTER.size)
    )
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
    if meta_len > end - start - _FOOTER.size:
        raise _fail(
            where,
            f"the footer claims {meta_len} bytes of metadata but the file holds only "
            f"{end - start} bytes: the file is truncated or corrupted",
        )
    f.seek(end - _FOOTER.size - meta_len)
    blob = f.read(meta_len)
    f.seek(start)
    if _digest(blob) != meta_digest:
        raise _fail(where, "metadata checksum mismatch: the file is corrupted")
    try:
        meta = json.loads(blob)
    except (ValueError, RecursionError) as e:
        raise _fail(where, f"malformed lerax metadata ({e})") from None
    if _nesting(meta) > _MAX_NESTING:
        raise _fail(where, f"lerax metadata nested deeper than {_MAX_NESTING} levels")
    try:
        manifest = _parse_manifest(meta)
    except (ValueError, KeyError, TypeError, OverflowError) as e:
        raise _fail(where, f"malformed lerax metadata ({e})") from None
    payload_size = end - start - _FOOTER.size - meta_len
    if manifest.payload_size != payload_size:
        raise _fail(
            where,
            f"the metadata records a {manifest.payload_size}-byte payload but the file "
            f"holds {payload_size} bytes before it: the file is truncated or has "
            "extra bytes",
        )
    offset = 0
    for rec in manifest.leaves:
        expected_nbytes = math.prod(rec.shape) * jnp.dtype(rec.dtype).itemsize
        if rec.offset != offset or rec.header <= 0 or rec.nbytes != expected_nbytes:
            raise _fail(where, f"malformed lerax metadata at leaf {rec.path}")
        offset = rec.end
    if offset != payload_size:
        raise _fail(where, "malformed lerax metadata: leaves do not cover the payload")
    return manifest


def _nesting(value: Any) -> int:
    """Depth of nested lists and dicts, computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            stack.extend(
                (child, depth + 1)
                for child in (value.values() if isinstance(value, dict) else value)
            )
    return deepest


def _parse_manifest(meta: Any) -> Manifest:
    if not isinstance(meta, dict) or meta.get("format") != "lerax":
        raise ValueError("not lerax metadata")
    leaves = []
    for rec in meta["leaves"]:
        kind = str(rec["kind"])
        if kind not in ("jax", "numpy", "key", "generic", *_PYTHON_KINDS):
            raise ValueError(f"unknown leaf kind {kind!r}")
        dtype = jnp.dtype(rec["dtype"])
        if dtype.hasobject or dtype.type is np.void:
            raise ValueError(f"refusing dtype {dtype}")
        shape = tuple(int(d) for d in rec["shape"])
        if any(d < 0 for d in shape):
            raise ValueError(f"negative shape {shape}")
        leaves.append(
            LeafRecord(
                path=str(rec["path"]),
                kind=kind,
                dtype=dtype.name,
                shape=shape,
                offset=int(rec["offset"]),
                header=int(rec["header"]),
                nbytes=int(rec["nbytes"]),
                checksum=str(rec["checksum"]),
                key_dtype=rec.get("key_dtype"),
                impl=rec.get("impl"),
            )
        )
    fields = meta["fields"]
    class_name = meta["class"]
    if not isinstance(fields, dict) or not isinstance(class_name, str | None):
        raise ValueError("bad 'fields' or 'class'")
    return Manifest(
        format_version=int(meta["format_version"]),
        lerax_version=str(meta["lerax_version"]),
        class_name=class_name,
        args=meta["args"],
        leaves=tuple(leaves),
        fields=fields,
        payload_size=int(meta["payload_size"]),
    )


@final
@dataclasses.dataclass(frozen=True)
class _Expected:
    """What the skeleton wants at one stored leaf."""

    kind: str  # "array" (jax, numpy or abstract), "key", "generic", Python kind
    dtype: np.dtype
    shape: tuple[int, ...]
    leaf: Any

    def __str__(self) -> str:
        shape = list(self.shape)
        if self.kind == "key":
            return f"{self.leaf.dtype}{list(self.leaf.shape)} key (data uint32{shape})"
        if self.kind in _PYTHON_KINDS:
            return f"a Python {self.kind}"
        return f"{self.dtype.name}{shape}"


def _expected(leaf: Any) -> _Expected | None:
    if isinstance(leaf, jax.Array | jax.ShapeDtypeStruct):
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            data = jax.eval_shape(jax.random.key_data, leaf)
            return _Expected("key", np.dtype(data.dtype), tuple(data.shape), leaf)
        return _Expected("array", np.dtype(leaf.dtype), tuple(leaf.shape), leaf)
    kind = _leaf_kind(leaf)
    if kind is None:
        return None
    data = np.asanyarray(leaf)
    return _Expected(
        "array" if kind == "numpy" else kind, data.dtype, tuple(data.shape), leaf
    )


def _describe_record(rec: LeafRecord) -> str:
    if rec.kind == "key":
        return f"a {rec.key_dtype} key (data {rec.dtype}{list(rec.shape)})"
    if rec.kind in _PYTHON_KINDS:
        return f"a Python {rec.kind}"
    return f"{rec.dtype}{list(rec.shape)}"


def _mismatch(rec: LeafRecord, exp: _Expected) -> bool:
    if rec.kind == "key" or exp.kind == "key":
        return (
            rec.kind != exp.kind
            or rec.key_dtype != str(exp.leaf.dtype)
            or rec.shape != exp.shape
        )
    if exp.kind in _PYTHON_KINDS or rec.kind in _PYTHON_KINDS:
        return rec.kind != exp.kind
    if exp.kind == "generic" and rec.kind != "generic":
        return True
    if rec.shape != exp.shape:
        return True
    dtype, want = jnp.dtype(rec.dtype), exp.dtype
    # NumPy and JAX leaves trade places legitimately (jit turns NumPy float64 into
    # JAX float32, eval_shape too): then compare the dtypes as JAX would hold them.
    like_kind = "numpy" if isinstance(exp.leaf, np.ndarray) else "jax"
    if dtype != want and rec.kind != like_kind:
        canonical = jax.dtypes.canonicalize_dtype
        dtype, want = canonical(dtype), canonical(want)
    return dtype != want


def _comparable(encoded: Any) -> Any:
    """Drops what may legitimately differ: the arguments of nested objects."""
    if isinstance(encoded, dict):
        return {k: _comparable(v) for k, v in encoded.items() if k != "args"}
    if isinstance(encoded, list):
        return [_comparable(v) for v in encoded]
    return encoded


def _stored(skeleton: Any) -> tuple[list[tuple[str, _Expected]], dict[str, Any]]:
    stored, fields = [], {}
    for key_path, leaf in jtu.tree_flatten_with_path(skeleton)[0]:
        path = jtu.keystr(key_path)
        exp = _expected(leaf)
        if exp is None:
            fields[path] = encode_value(leaf)
        else:
            stored.append((path, exp))
    fields.update(static_fields(skeleton))
    return stored, fields


def check_manifest(
    manifest: Manifest, skeleton: Any, where: str
) -> list[tuple[str, _Expected]]:
    """Compares the file's description with the skeleton, before reading any array.

    Returns:
        The skeleton's stored leaves by path, in file order.

    Raises:
        SerializationError: listing every field and leaf that does not match.
    """
    stored, fields = _stored(skeleton)
    problems = []
    for path in sorted(fields.keys() | manifest.fields.keys()):
        if path not in manifest.fields:
            problems.append(f"{path}: expected {describe(fields[path])}, not in file")
        elif path not in fields:
            found = describe(manifest.fields[path])
            problems.append(f"{path}: file has {found}, the object has no such field")
        elif _comparable(fields[path]) != _comparable(manifest.fields[path]):
            expected, found = describe(fields[path]), describe(manifest.fields[path])
            problems.append(f"{path}: expected {expected}, file has {found}")
    paths = [path for path, _ in stored]
    file_paths = [rec.path for rec in manifest.leaves]
    if paths != file_paths:
        in_file, in_object = set(file_paths), set(paths)
        missing = [p for p in paths if p not in in_file]
        extra = [p for p in file_paths if p not in in_object]
        problems.append(
            f"the file stores {len(file_paths)} array leaves, the object has "
            f"{len(paths)}"
            + (f"; missing from file: {', '.join(missing[:5])}" if missing else "")
            + (f"; not in object: {', '.join(extra[:5])}" if extra else "")
        )
    else:
        for (path, exp), rec in zip(stored, manifest.leaves, strict=True):
            if _mismatch(rec, exp):
                found = _describe_record(rec)
                problems.append(f"{path}: expected {exp}, file has {found}")
    if problems:
        shown = problems[:20]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise _fail(
            where,
            "the file does not match the object to load:\n  "
            + "\n  ".join(shown)
            + more,
        )
    return stored


def _aligned_buffer(size: int) -> np.ndarray:
    # .npy data starts 64-byte aligned within a record; keep that in memory so that
    # arrays can be used in place.
    raw = np.empty(size + 64, np.uint8)
    skip = -raw.ctypes.data % 64
    return raw[skip : skip + size]


def _read_exactly(f: BinaryIO, out: np.ndarray, where: str, what: str) -> None:
    view = out.data.cast("B")
    done = 0
    while done < len(view):
        n = f.readinto(view[done:])  # type: ignore[attr-defined]
        if not n:
            raise _fail(where, f"the file ends inside {what}: it is truncated")
        done += n


def _parse_npy_header(header: bytes, where: str, path: str) -> tuple[Any, bool, Any]:
    try:
        fh = io.BytesIO(header)
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fh)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(fh)
        raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError, EOFError) as e:
        raise _fail(where, f"leaf {path}: bad .npy header ({e})") from None


def _same_dtype(found: np.dtype, want: np.dtype) -> bool:
    # NumPy writes dtypes it does not know (bfloat16, float8, ...) as raw void.
    return found == want or (
        found.kind == "V" and found.names is None and found.itemsize == want.itemsize
    )


def _check_npy(header: bytes, rec: LeafRecord, where: str) -> bool:
    """Checks a record's .npy header against the metadata; returns fortran_order."""
    shape, fortran, dtype = _parse_npy_header(header, where, rec.path)
    if tuple(shape) != rec.shape or not _same_dtype(
        np.dtype(dtype), jnp.dtype(rec.dtype)
    ):
        raise _fail(
            where,
            f"leaf {rec.path}: the .npy header says {np.dtype(dtype).name}"
            f"{list(shape)} but the metadata says {rec.dtype}{list(rec.shape)}",
        )
    return bool(fortran)


def _to_leaf(
    data: np.ndarray, kind: str, exp: _Expected, rec: LeafRecord | None
) -> Any:
    """Turns raw stored data into a leaf of the given kind, placed like ``exp``."""
    like = exp.leaf
    if exp.kind == "key":
        impl = rec.impl if rec is not None else str(like.dtype._impl.name)
        return jax.random.wrap_key_data(_to_device(data, like), impl=impl)
    if kind in _PYTHON_KINDS:
        return _PYTHON_KINDS[kind](data.item())
    if kind == "generic":
        return data.dtype.type(data.item())
    if kind == "numpy":
        return np.array(data)  # an independent, writable copy
    return _to_device(data, like)


def _to_device(data: np.ndarray, like: Any) -> jax.Array:
    # device_put (unlike jnp.asarray) may use the freshly read, 64-byte aligned
    # buffer in place on CPU instead of copying it; nothing else refers to it.
    return jax.device_put(data, getattr(like, "sharding", None))


def _view(buf: np.ndarray, dtype: np.dtype, shape: tuple[int, ...], fortran: bool):
    arr = buf.view(dtype)
    if fortran:
        return arr.reshape(shape[::-1]).T
    return arr.reshape(shape)


def read_leaves(
    f: BinaryIO, manifest: Manifest | None, skeleton: Any, where: str
) -> Any:
    """Reads the stored leaves into ``skeleton``; checks everything first."""
    if manifest is None:
        return _read_plain(f, skeleton, where)
    stored = check_manifest(manifest, skeleton, where)
    new = {}
    for (path, exp), rec in zip(stored, manifest.leaves, strict=True):
        buf = _aligned_buffer(rec.end - rec.offset)
        _read_exactly(f, buf, where, f"leaf {path}")
        if xxhash.xxh3_64_hexdigest(buf.data) != rec.checksum:
            raise _fail(
                where,
                f"checksum mismatch in leaf {path} (payload bytes {rec.offset}-"
                f"{rec.end}): the file is corrupted",
            )
        fortran = _check_npy(buf[: rec.header].tobytes(), rec, where)
        data = _view(buf[rec.header :], jnp.dtype(rec.dtype), rec.shape, fortran)
        new[path] = _to_leaf(data, rec.kind, exp, rec)
    return _replace_stored(skeleton, new)


def _replace_stored(skeleton: Any, new: dict[str, Any]) -> Any:
    def replace(key_path: Any, leaf: Any) -> Any:
        return new.get(jtu.keystr(key_path), leaf)

    return jtu.tree_map_with_path(replace, skeleton)


def _read_plain(f: BinaryIO, skeleton: Any, where: str) -> Any:
    """Reads a file written by plain ``eqx.tree_serialise_leaves``.

    Each .npy header is checked against the skeleton before its data is read.
    """
    start, end = _region(f)
    new = {}
    for path, exp in _stored(skeleton)[0]:
        pos = f.tell()
        try:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unsupported .npy version {version}")
            read_header: Callable[..., Any] = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f, max_header_size=_MAX_NPY_HEADER)
        except (ValueError, SyntaxError, EOFError) as e:
            raise _fail(
                where,
                f"no valid .npy record for leaf {path} at byte {pos - start} ({e}): "
                "this is not a lerax or equinox file, or it is truncated",
            ) from None
        shape = tuple(shape)
        dtype = np.dtype(dtype)
        kind = "numpy" if isinstance(exp.leaf, np.ndarray) else exp.kind
        want = exp.dtype
        # An abstract skeleton made NumPy float64 float32 (x64 off); a file holding
        # float64 there can only come from a NumPy array, so it stays one.
        if (
            isinstance(exp.leaf, jax.ShapeDtypeStruct)
            and dtype != want
            and jax.dtypes.canonicalize_dtype(dtype) == want
        ):
            kind, want = "numpy", dtype
        if shape != exp.shape or not _same_dtype(dtype, want):
            raise _fail(
                where,
                f"the file does not match the object to load:\n  {path}: expected "
                f"{exp}, file has {dtype.name}{list(shape)}",
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if end - f.tell() < nbytes:
            raise _fail(
                where,
                f"the file ends inside leaf {path}: it needs {nbytes} bytes, "
                f"{end - f.tell()} are left: the file is truncated",
            )
        buf = _aligned_buffer(nbytes)
        _read_exactly(f, buf, where, f"leaf {path}")
        new[path] = _to_leaf(_view(buf, want, shape, fortran), kind, exp, None)
    if f.tell() != end:
        rest = f.read(32)
        hint = (
            "; it looks like a damaged lerax trailer"
            if rest.startswith(b'{"format":"lerax"')
            else ""
        )
        raise _fail(
            where,
            f"{end - f.tell() + len(rest)} unexpected bytes after the last leaf"
            f"{hint}: the file is corrupted or does not belong to this object",
        )
    return _replace_stored(skeleton, new)
