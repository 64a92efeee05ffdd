"""Every stored array of a lerax file by path, with no object to load into."""

import math
from typing import BinaryIO

import numpy as np
import xxhash

from ._errors import SerializationError
from ._files import PathOrFile, opened_for_reading
from ._leaves import npy_header, parse_npy_header
from ._manifest import LeafRecord, read_manifest

__all__ = ["load_arrays"]


def load_arrays(path_or_file: PathOrFile) -> dict[str, np.ndarray]:
    """Reads every stored leaf of a lerax file as a NumPy array, by its path.

    Each record's checksum and .npy header are verified. Nothing is resolved: no
    class, no function, no structure, so this reads files of any class (tools
    such as ``lerax verify`` and ``lerax diff`` use it). PRNG keys come as their
    ``uint32`` key data, Python scalars as 0-d arrays.

    Args:
        path_or_file: a path or a binary file object.

    Returns:
        The arrays, in file order, by leaf path (``jax.tree_util.keystr``).

    Raises:
        FileNotFoundError: the file does not exist.
        SerializationError: the file is damaged or has no lerax metadata (plain
            equinox files name no leaves: read them with `load_tree`).
    """
    with opened_for_reading(path_or_file) as (f, where):
        manifest = read_manifest(f, where)
        if manifest is None:
            raise SerializationError(
                f"{where}: the file has no lerax metadata (written by plain "
                "equinox?), so its arrays have no names; read it with "
                "load_tree(path, like)"
            )
        start = f.tell()
        return {rec.path: _read_record(f, start, rec, where) for rec in manifest.leaves}


def _read_record(f: BinaryIO, start: int, rec: LeafRecord, where: str) -> np.ndarray:
    f.seek(start + rec.offset)
    # The manifest has checked that every record lies within the file.
    raw = bytearray(rec.end - rec.offset)
    if f.readinto(memoryview(raw)) != len(raw):  # type: ignore[attr-defined]
        raise SerializationError(f"{where}: the file ends inside leaf {rec.path}")
    if xxhash.xxh3_64_hexdigest(raw) != rec.checksum:
        raise SerializationError(
            f"{where}: checksum mismatch in leaf {rec.path}: the file is corrupted"
        )
    header = bytes(raw[: rec.header])
    fortran = False
    if header != npy_header(rec.dtype, rec.shape, False):
        try:
            shape, fortran, dtype = parse_npy_header(header)
        except ValueError as e:
            raise SerializationError(f"{where}: leaf {rec.path}: {e}") from None
        if shape != rec.shape or dtype.itemsize != rec.dtype.itemsize:
            raise SerializationError(
                f"{where}: leaf {rec.path}: the .npy header does not match the metadata"
            )
    count = math.prod(rec.shape)
    flat = np.frombuffer(raw, rec.dtype, count=count, offset=rec.header)
    if fortran:
        return flat.reshape(rec.shape[::-1]).T
    return flat.reshape(rec.shape)
