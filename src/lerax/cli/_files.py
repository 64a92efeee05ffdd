"""``lerax inspect``, ``lerax verify`` and ``lerax diff``: files, not training."""

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import lerax.algorithm  # noqa: F401  (registers lerax's classes, so its files load)
from lerax.utils import inspect, load, load_arrays

__all__ = ["diff_files", "inspect_file", "verify_file"]


def inspect_file(path: Path, *, as_json: bool = False) -> str:
    """What a file holds, from its metadata alone (`lerax.utils.inspect`).

    Reads no array and imports nothing the file names, so it works on files of
    classes that are not installed here.
    """
    info = inspect(path)
    if not as_json:
        return str(info)
    return json.dumps(_jsonable(info), indent=2, default=str)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def verify_file(path: Path) -> str:
    """Checks every checksum of `path` and that it loads; returns a summary line.

    Raises:
        SerializationError: on the first problem found.
    """
    info = inspect(path)
    if info.format != "lerax":
        # No checksums to verify; a full scan of the .npy records still finds
        # truncation.
        return f"ok (no checksums: {info.format} file, {len(info.leaves)} records)"
    arrays = load_arrays(path)
    if info.class_name is not None:
        load(path)
        return f"ok ({info.class_name}, {len(arrays)} leaves, checksums verified)"
    return f"ok (save_tree file, {len(arrays)} leaves, checksums verified)"


def diff_files(a: Path, b: Path) -> list[str]:
    """The leaves and fields that differ between two lerax files, one line each.

    Leaves are compared by path: a missing leaf, another dtype or shape, or the
    number of differing elements and the largest absolute difference. Fields
    (static values, functions) are compared as recorded.
    """
    arrays_a, arrays_b = load_arrays(a), load_arrays(b)
    lines = []
    for path in [*arrays_a, *(p for p in arrays_b if p not in arrays_a)]:
        if path not in arrays_b:
            lines.append(f"{path}: only in {a}")
        elif path not in arrays_a:
            lines.append(f"{path}: only in {b}")
        else:
            line = _leaf_difference(arrays_a[path], arrays_b[path])
            if line is not None:
                lines.append(f"{path}: {line}")
    fields_a, fields_b = inspect(a).fields, inspect(b).fields
    for path in sorted(fields_a.keys() | fields_b.keys()):
        if fields_a.get(path) != fields_b.get(path):
            lines.append(
                f"{path}: {_short(fields_a.get(path))} != {_short(fields_b.get(path))}"
            )
    return lines


def _leaf_difference(x: np.ndarray, y: np.ndarray) -> str | None:
    if x.dtype != y.dtype or x.shape != y.shape:
        return f"{x.dtype}{list(x.shape)} != {y.dtype}{list(y.shape)}"
    if x.dtype.kind not in "biufc":
        differ = int(np.sum(x != y)) if x.dtype.names is None else int(x != y)
        return f"{differ} of {x.size} elements differ" if differ else None
    equal = x == y
    if x.dtype.kind in "fc":  # NaN equals NaN here: the same bits were saved
        equal |= np.isnan(x) & np.isnan(y)
    differ = int(np.sum(~equal))
    if not differ:
        return None
    delta = np.abs(x.astype(np.complex128 if x.dtype.kind == "c" else np.float64) - y)
    return (
        f"{differ} of {x.size} elements differ, largest absolute difference "
        f"{float(np.nanmax(delta)):.6g}"
    )


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else f"{text[:80]}..."
