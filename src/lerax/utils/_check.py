"""Matching a file's description against a skeleton, before any array is read."""

from typing import Any

import jax
import jax.tree_util as jtu

from ._encoding import describe
from ._errors import SerializationError
from ._leaves import Expected, describe_record, expected
from ._manifest import PYTHON_KINDS, LeafRecord, Manifest
from ._structure import encode_fields

__all__ = ["check_manifest", "stored_leaves"]

_MAX_PROBLEMS = 20


def stored_leaves(skeleton: Any) -> list[tuple[str, Expected]]:
    """The skeleton's stored leaves by path, in file order."""
    stored = []
    for key_path, leaf in jtu.tree_flatten_with_path(skeleton)[0]:
        exp = expected(leaf)
        if exp is not None:
            stored.append((jtu.keystr(key_path), exp))
    return stored


def _mismatch(rec: LeafRecord, exp: Expected) -> bool:
    if rec.kind == "key" or exp.kind == "key":
        return (
            rec.kind != exp.kind
            or rec.key_dtype != str(exp.leaf.dtype)
            or rec.shape != exp.shape
        )
    if exp.kind in PYTHON_KINDS:
        if rec.kind == exp.kind:
            return False
        # A module passed through jit holds 0-d arrays where it was built with
        # Python scalars: accept them (they load as the arrays the file holds).
        return not (
            rec.kind in ("jax", "numpy")
            and rec.shape == ()
            and rec.dtype.kind in _SCALAR_DTYPE_KINDS[exp.kind]
        )
    if rec.kind in PYTHON_KINDS:
        return True
    if exp.kind == "generic" and rec.kind != "generic":
        return True
    if rec.shape != exp.shape:
        return True
    dtype, want = rec.dtype, exp.dtype
    # NumPy and JAX leaves trade places legitimately (jit turns NumPy float64 into
    # JAX float32, eval_shape too): then compare the dtypes as JAX would hold them.
    if dtype != want and (rec.kind == "numpy") != exp.is_numpy:
        canonical = jax.dtypes.canonicalize_dtype
        try:
            dtype, want = canonical(dtype), canonical(want)
        except (TypeError, ValueError):  # a dtype JAX has no arrays of
            return True
    return dtype != want


_SCALAR_DTYPE_KINDS = {"bool": "b", "int": "iu", "float": "f", "complex": "c"}


def _comparable(encoded: Any) -> Any:
    """Drops what may legitimately differ: the arguments of nested objects."""
    if isinstance(encoded, dict):
        return {k: _comparable(v) for k, v in encoded.items() if k != "args"}
    if isinstance(encoded, list):
        return [_comparable(v) for v in encoded]
    return encoded


def check_manifest(
    manifest: Manifest, skeleton: Any, where: str, prefix: str = ""
) -> list[tuple[str, Expected]]:
    """Compares the file's description with the skeleton.

    Args:
        manifest: What the file describes (for a partial load, the part's
            leaves and fields only, under their full paths).
        skeleton: The object, or the part, to load.
        where: How to name the file in messages.
        prefix: The path of the part in the file's object (``""`` for all of
            it), which the skeleton's paths are compared under.

    Returns:
        The skeleton's stored leaves by (full) path, in file order.

    Raises:
        SerializationError: listing every field and leaf that does not match.
    """
    stored = [(prefix + path, exp) for path, exp in stored_leaves(skeleton)]
    fields = {prefix + path: v for path, v in encode_fields(skeleton).items()}
    problems = []
    for path in sorted(fields.keys() | manifest.fields.keys()):
        if path not in manifest.fields:
            problems.append(f"{path}: expected {describe(fields[path])}, not in file")
        elif path not in fields:
            found = describe(manifest.fields[path])
            problems.append(
                f"{_short(path)}: file has {found}, the object has no such field"
            )
        elif _comparable(fields[path]) != _comparable(manifest.fields[path]):
            want, found = describe(fields[path]), describe(manifest.fields[path])
            problems.append(f"{path}: expected {want}, file has {found}")
    paths = [path for path, _ in stored]
    file_paths = [rec.path for rec in manifest.leaves]
    if paths != file_paths:
        in_file, in_object = set(file_paths), set(paths)
        missing = [p for p in paths if p not in in_file][:5]
        extra = [_short(p) for p in file_paths if p not in in_object][:5]
        problems.append(
            f"the file stores {len(file_paths)} array leaves, the object has "
            f"{len(paths)}"
            + (f"; missing from file: {', '.join(missing)}" if missing else "")
            + (f"; not in object: {', '.join(extra)}" if extra else "")
        )
    else:
        for (path, exp), rec in zip(stored, manifest.leaves, strict=True):
            if _mismatch(rec, exp):
                problems.append(
                    f"{path}: expected {exp}, file has {describe_record(rec)}"
                )
    if problems:
        shown = problems[:_MAX_PROBLEMS]
        more = len(problems) - len(shown)
        raise SerializationError(
            f"{where}: the file does not match the object to load:\n  "
            + "\n  ".join(shown)
            + (f"\n  ... and {more} more" if more else "")
        )
    return stored


def _short(path: str) -> str:
    """A path read from a file, cut short for a message."""
    return path if len(path) <= 120 else f"{path[:120]}..."
