"""Stored leaves as a safetensors file, keyed by leaf path, for other runtimes.

A safetensors file holds named arrays and string metadata, nothing else: no
structure, no static fields, no kinds. `save_safetensors` writes each stored leaf
of a pytree under its path (``jax.tree_util.keystr``), PRNG keys as their
``uint32`` key data; `load_safetensors` reads them back, into a skeleton (which
then decides structure and kinds) or as a dictionary of NumPy arrays. The
safetensors package (the ``safetensors`` extra) is imported on first use.
"""

import os
from pathlib import Path
from typing import Any, BinaryIO, Final, TypeVar, overload

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jax.core import Tracer

from .. import __version__
from ._atomic import atomic_write
from ._check import stored_leaves
from ._errors import SerializationError, cut, needs_extra
from ._files import PathOrFile
from ._leaves import Expected, leaf_kind, to_leaves
from ._manifest import PYTHON_KINDS
from ._placement import Placement, check_placement, current_placement, target
from ._reader import replace_stored

__all__ = ["load_safetensors", "save_safetensors"]

T = TypeVar("T")

_FEATURE: Final = "save_safetensors and load_safetensors"
# safetensors' dtype codes and the dtypes they stand for (absent ones skipped).
_CODES: Final = {
    code: np.dtype(scalar_type)
    for code, scalar_type in (
        ("BOOL", np.bool_),
        ("U8", np.uint8),
        ("I8", np.int8),
        ("U16", np.uint16),
        ("I16", np.int16),
        ("U32", np.uint32),
        ("I32", np.int32),
        ("U64", np.uint64),
        ("I64", np.int64),
        ("F16", np.float16),
        ("F32", np.float32),
        ("F64", np.float64),
        ("C64", np.complex64),
        ("BF16", getattr(jnp, "bfloat16", None)),
        ("F8_E4M3", getattr(jnp, "float8_e4m3fn", None)),
        ("F8_E5M2", getattr(jnp, "float8_e5m2", None)),
        ("F8_E4M3FNUZ", getattr(jnp, "float8_e4m3fnuz", None)),
        ("F8_E5M2FNUZ", getattr(jnp, "float8_e5m2fnuz", None)),
        ("F8_E8M0", getattr(jnp, "float8_e8m0fnu", None)),
    )
    if scalar_type is not None
}
_DTYPES: Final = frozenset(_CODES.values())


def _safetensors() -> Any:
    return needs_extra("safetensors", "safetensors", _FEATURE)


@overload
def save_safetensors(path_or_file: str | os.PathLike[str], tree: Any) -> Path: ...


@overload
def save_safetensors(path_or_file: BinaryIO, tree: Any) -> None: ...


def save_safetensors(path_or_file: PathOrFile, tree: Any) -> Path | None:
    """Writes the stored leaves of a pytree to a safetensors file.

    Each JAX or NumPy array, NumPy scalar and Python scalar is stored under its
    path as ``jax.tree_util.keystr`` writes it (``.actor.layers[0].weight``); a
    typed PRNG key as its ``uint32`` key data. Static fields, functions and the
    tree's structure are not stored: safetensors has no place for them. Use it
    to hand weights to another runtime; keep ``.eqx`` files for lerax.

    ```python
    lerax.utils.save_safetensors("policy.safetensors", policy)
    weights = lerax.utils.load_safetensors("policy.safetensors")  # {path: array}
    policy = lerax.utils.load_safetensors("policy.safetensors", like=policy)
    ```

    Args:
        path_or_file: A path (replaced atomically; no suffix is appended) or a
            binary file object.
        tree: The pytree.

    Returns:
        The path written, or None for a file object.

    Raises:
        MissingExtraError: if safetensors is not installed
            (``pip install 'lerax[safetensors]'``).
        SerializationError: if a leaf is a tracer or has a dtype safetensors
            cannot store (strings, structured or big-endian data, complex128,
            4-bit integers, ...), naming it.
    """
    st = _safetensors()
    arrays: dict[str, np.ndarray] = {}
    for key_path, leaf in jtu.tree_flatten_with_path(tree)[0]:
        kind = leaf_kind(leaf)
        if kind is None:
            continue
        path = jtu.keystr(key_path)
        if isinstance(leaf, Tracer):
            raise SerializationError(
                f"leaf {path} is a tracer: save outside jit/vmap/grad"
            )
        if kind == "key":
            leaf = jax.random.key_data(leaf)
        data = np.asarray(leaf, order="C")  # ascontiguousarray makes 0-d 1-d
        if data.dtype not in _DTYPES or data.dtype.byteorder == ">":
            raise SerializationError(
                f"leaf {path} cannot be stored in a safetensors file: it has no "
                f"{data.dtype} arrays"
            )
        arrays[path] = data
    if hasattr(st, "TensorSpec"):  # safetensors >= 0.8 reads the arrays in place
        specs = {
            path: st.TensorSpec(
                dtype=data.dtype.name,
                shape=data.shape,
                data_ptr=data.ctypes.data,
                data_len=data.nbytes,
            )
            for path, data in arrays.items()
        }
    else:
        specs = {
            path: {
                "dtype": data.dtype.name,
                "shape": data.shape,
                "data": data.tobytes(),
            }
            for path, data in arrays.items()
        }
    blob = st.serialize(specs, metadata={"lerax_version": __version__})
    if not isinstance(path_or_file, str | os.PathLike):
        path_or_file.write(blob)
        return None
    path = Path(path_or_file)  # as named: no .eqx suffix is appended
    with atomic_write(path) as f:
        f.write(blob)
    return path


@overload
def load_safetensors(
    path_or_file: PathOrFile, like: None = None, *, placement: None = None
) -> dict[str, np.ndarray]: ...


@overload
def load_safetensors(
    path_or_file: PathOrFile, like: T, *, placement: Placement | None = None
) -> T: ...


def load_safetensors(
    path_or_file: PathOrFile, like: Any = None, *, placement: Placement | None = None
) -> Any:
    """Reads a safetensors file: into ``like``, or as arrays by name.

    Args:
        path_or_file: A path or a binary file object.
        like: A skeleton (real arrays or ``jax.ShapeDtypeStruct``): the file must
            hold exactly its stored leaves, by path, of its dtypes and shapes
            (every mismatch is listed at once). ``like`` decides everything else:
            structure, static fields, and each leaf's kind (JAX or NumPy array,
            PRNG key of ``like``'s implementation, NumPy or Python scalar).
            Without it, every array of the file is returned as a NumPy array,
            by name, in file order.
        placement: Where the loaded JAX arrays go, as for `load_tree` (only with
            ``like``; see `placed`).

    Returns:
        ``like`` with its stored leaves read from the file, or a dictionary of
        NumPy arrays.

    Raises:
        MissingExtraError: if safetensors is not installed.
        FileNotFoundError: if the file does not exist.
        SerializationError: if the file is not a valid safetensors file or does
            not fit ``like``, or an array does not fit its placement.
        TypeError: if `placement` is not a device, a sharding or a function.
    """
    check_placement(placement)
    st = _safetensors()
    if isinstance(path_or_file, str | os.PathLike):
        where = str(path_or_file)
        data = Path(path_or_file).read_bytes()  # as named: no .eqx suffix
    else:
        where = getattr(path_or_file, "name", "<file object>")
        data = path_or_file.read()
    try:
        entries = st.deserialize(data)
    except Exception as e:  # safetensors raises SafetensorError and others
        raise SerializationError(
            f"{where}: not a valid safetensors file ({type(e).__name__}: {cut(str(e))})"
        ) from None
    arrays = {name: _array(name, view, where) for name, view in entries}
    if like is None:
        return arrays
    stored = stored_leaves(like)
    _check(arrays, stored, where)
    placement = current_placement(placement)
    items = []
    for path, exp in stored:
        kind = _kind(exp)
        items.append((arrays[path], kind, exp, None))
    shardings = None
    if placement is not None:
        shardings = [
            target(placement, path, exp, where) if kind in ("jax", "key") else None
            for (path, exp), (_, kind, _, _) in zip(stored, items, strict=True)
        ]
    paths = [path for path, _ in stored]
    leaves = to_leaves(items, shardings, paths, where)
    return replace_stored(like, dict(zip(paths, leaves, strict=True)))


def _array(name: Any, view: Any, where: str) -> np.ndarray:
    """One tensor of the file, as safetensors' deserializer describes it."""
    try:
        dtype = _CODES[view["dtype"]]
        shape = tuple(int(d) for d in view["shape"])
        return np.frombuffer(view["data"], dtype).reshape(shape)
    except (KeyError, TypeError, ValueError) as e:
        raise SerializationError(
            f"{where}: tensor {cut(str(name))} cannot be read ({type(e).__name__}: "
            f"{cut(str(e))})"
        ) from None


def _kind(exp: Expected) -> str:
    """How the skeleton wants the leaf: the file has no kinds."""
    if exp.kind == "array":
        return "numpy" if exp.is_numpy else "jax"
    return exp.kind


def _check(
    arrays: dict[str, np.ndarray], stored: list[tuple[str, Expected]], where: str
) -> None:
    problems = []
    paths = [path for path, _ in stored]
    missing = [p for p in paths if p not in arrays]
    extra = [cut(p) for p in arrays if p not in set(paths)]
    if missing or extra:
        problems.append(
            f"the file holds {len(arrays)} arrays, the object has {len(paths)} "
            "stored leaves"
            + (f"; missing from file: {', '.join(missing[:5])}" if missing else "")
            + (f"; not in object: {', '.join(extra[:5])}" if extra else "")
        )
    for path, exp in stored:
        array = arrays.get(path)
        if array is None:
            continue
        want = PYTHON_KINDS[exp.kind][1] if exp.kind in PYTHON_KINDS else exp.dtype
        if array.dtype != want or array.shape != exp.shape:
            problems.append(
                f"{path}: expected {exp}, file has "
                f"{array.dtype.name}{list(array.shape)}"
            )
    if problems:
        raise SerializationError(
            f"{where}: the file does not match the object to load:\n  "
            + "\n  ".join(problems[:20])
            + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        )
