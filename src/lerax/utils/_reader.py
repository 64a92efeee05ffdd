"""Reading stored leaves into a skeleton: lerax files and plain equinox files."""

from typing import Any, BinaryIO

import jax
import jax.tree_util as jtu
import numpy as np
import xxhash

from ._check import check_manifest, stored_leaves
from ._errors import SerializationError
from ._leaves import (
    Expected,
    npy_header,
    on_a_device,
    parse_npy_header,
    to_leaves,
)
from ._manifest import MAX_NPY_HEADER, Manifest, file_region
from ._placement import Placement, current_placement, target
from ._upstream import check_fingerprint, read_fingerprint

__all__ = ["read_leaves", "read_npy_header", "replace_stored"]


def _fail(where: str, message: str) -> SerializationError:
    return SerializationError(f"{where}: {message}")


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


def _view(buf: np.ndarray, dtype: np.dtype, shape: tuple[int, ...], fortran: bool):
    arr = buf.view(dtype) if dtype.itemsize else np.empty(0, dtype)
    if fortran:
        return arr.reshape(shape[::-1]).T
    return arr.reshape(shape)


def _same_dtype(found: np.dtype, want: np.dtype) -> bool:
    # NumPy writes dtypes it does not know (bfloat16, float8, ...) as raw void.
    return found == want or (
        found.kind == "V"
        and found.names is None
        and want.names is None
        and found.itemsize == want.itemsize
    )


def read_leaves(
    f: BinaryIO,
    manifest: Manifest | None,
    skeleton: Any,
    where: str,
    prefix: str = "",
    placement: Placement | None = None,
) -> Any:
    """Reads the stored leaves into `skeleton`; checks everything first.

    `f` is positioned at the first stored leaf to read: the start of a file, or
    for a partial load the first leaf of the part (`manifest` then lists the
    part's leaves only, and `prefix` is the part's path). Without a manifest, `f`
    holds a plain equinox file or a lerax 0.0.x file, whose structure fingerprint
    is checked first. JAX arrays are placed by `placement`, else by the innermost
    `placed` block, else like the skeleton's leaves (see `_placement`).
    """
    placement = current_placement(placement)
    if manifest is None:
        fingerprint = read_fingerprint(f)
        if fingerprint is not None:
            check_fingerprint(fingerprint, skeleton, where)
        return _read_plain(f, skeleton, where, placement)
    stored = check_manifest(manifest, skeleton, where, prefix)
    items = []
    for (path, exp), rec in zip(stored, manifest.leaves, strict=True):
        # The manifest has checked that every record lies within the file.
        buf = _aligned_buffer(rec.end - rec.offset)
        _read_exactly(f, buf, where, f"leaf {path}")
        if xxhash.xxh3_64_hexdigest(buf.data) != rec.checksum:
            raise _fail(
                where,
                f"checksum mismatch in leaf {path} (payload bytes {rec.offset}-"
                f"{rec.end}): the file is corrupted",
            )
        header = buf[: rec.header].tobytes()
        if header == npy_header(rec.dtype, rec.shape, False):  # what lerax writes
            shape, fortran, dtype = rec.shape, False, rec.dtype
        else:
            try:
                shape, fortran, dtype = parse_npy_header(header)
            except ValueError as e:
                raise _fail(where, f"leaf {path}: {e}") from None
        if shape != rec.shape or not _same_dtype(dtype, rec.dtype):
            raise _fail(
                where,
                f"leaf {path}: the .npy header says {dtype.name}{list(shape)} but "
                f"the metadata says {rec.dtype.name}{list(rec.shape)}",
            )
        data = _view(buf[rec.header :], rec.dtype, rec.shape, fortran)
        items.append((data, rec.kind, exp, rec.impl))
    full = [path for path, _ in stored]
    targets = _targets(placement, stored, [item[1] for item in items], where)
    leaves = to_leaves(items, targets, full, where)
    paths = [path[len(prefix) :] for path in full]
    return replace_stored(skeleton, dict(zip(paths, leaves, strict=True)))


def _targets(
    placement: Placement | None,
    stored: list[tuple[str, Expected]],
    kinds: list[str],
    where: str,
) -> list[Any] | None:
    """The sharding of each stored leaf that loads as a JAX array (None: the
    default device); without a placement, None: like the skeleton's leaves."""
    if placement is None:
        return None
    return [
        target(placement, path, exp, where) if on_a_device(kind, exp) else None
        for (path, exp), kind in zip(stored, kinds, strict=True)
    ]


def replace_stored(skeleton: Any, new: dict[str, Any]) -> Any:
    """`skeleton` with the leaves at the paths of `new` replaced."""

    def replace(key_path: Any, leaf: Any) -> Any:
        return new.get(jtu.keystr(key_path), leaf)

    return jtu.tree_map_with_path(replace, skeleton)


def read_npy_header(f: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Reads one .npy header from `f`, at most `MAX_NPY_HEADER` bytes of it.

    Returns:
        ``(shape, fortran_order, dtype)``; `f` is left at the record's data.

    Raises:
        ValueError: if `f` holds no valid .npy header there.
    """
    prefix = f.read(10)  # magic (6), version (2), header length (2 or 4)
    if len(prefix) < 10 or prefix[:6] != b"\x93NUMPY":
        raise ValueError("no .npy magic")
    if prefix[6:8] == b"\x01\x00":
        length = int.from_bytes(prefix[8:10], "little")
    elif prefix[6:8] == b"\x02\x00":
        more = f.read(2)
        if len(more) < 2:
            raise ValueError("truncated .npy header")
        prefix += more
        length = int.from_bytes(prefix[8:12], "little")
    else:
        raise ValueError("unsupported .npy version")
    if length > MAX_NPY_HEADER:
        raise ValueError(f"a .npy header of {length} bytes")
    rest = f.read(length)
    if len(rest) < length:
        raise ValueError("truncated .npy header")
    return parse_npy_header(prefix + rest)


def _read_plain(
    f: BinaryIO, skeleton: Any, where: str, placement: Placement | None
) -> Any:
    """Reads a file written by plain ``eqx.tree_serialise_leaves``.

    Each .npy header is checked against the skeleton before its data is read.
    """
    start, end = file_region(f)
    stored = stored_leaves(skeleton)
    items = []
    for path, exp in stored:
        pos = f.tell()
        try:
            shape, fortran, dtype = read_npy_header(f)
        except ValueError as e:
            raise _fail(
                where,
                f"no valid .npy record for leaf {path} at byte {pos - start} ({e}): "
                "this is not a lerax or equinox file, or it is truncated",
            ) from None
        kind = "numpy" if exp.is_numpy else exp.kind
        want = exp.dtype
        # An abstract skeleton made NumPy float64 float32 (x64 off); a file holding
        # float64 there can only come from a NumPy array, so it stays one.
        if (
            isinstance(exp.leaf, jax.ShapeDtypeStruct)
            and dtype != want
            and dtype.kind in "biufc"
            and jax.dtypes.canonicalize_dtype(dtype) == want
        ):
            kind, want = "numpy", dtype
        if shape != exp.shape or not _same_dtype(dtype, want):
            raise _fail(
                where,
                f"the file does not match the object to load:\n  {path}: expected "
                f"{exp}, file has {dtype.name}{list(shape)}",
            )
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if end - f.tell() < nbytes:
            raise _fail(
                where,
                f"the file ends inside leaf {path}: it needs {nbytes} bytes, "
                f"{end - f.tell()} are left: the file is truncated",
            )
        buf = _aligned_buffer(nbytes)
        _read_exactly(f, buf, where, f"leaf {path}")
        items.append((_view(buf, want, shape, fortran), kind, exp, None))
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
    paths = [path for path, _ in stored]
    targets = _targets(placement, stored, [item[1] for item in items], where)
    leaves = to_leaves(items, targets, paths, where)
    return replace_stored(skeleton, dict(zip(paths, leaves, strict=True)))
