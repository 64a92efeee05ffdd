"""Stored leaves: which leaves become .npy records, and what a skeleton expects.

Equinox stores JAX and NumPy arrays, NumPy scalars and Python bool/int/float/
complex, each as one .npy record; a typed PRNG key is stored as its key data.
"""

import dataclasses
import functools
import io
import warnings
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from ._dtypes import dtype_to_text
from ._errors import SerializationError, cut
from ._manifest import MAX_NPY_HEADER, PYTHON_KINDS, LeafRecord

__all__ = [
    "Expected",
    "NumpySpec",
    "describe_record",
    "expected",
    "leaf_kind",
    "npy_header",
    "npy_record",
    "on_a_device",
    "parse_npy_header",
    "to_leaves",
]


@final
class NumpySpec:
    """Stands for a NumPy array leaf of a skeleton: shape and dtype, no data.

    The NumPy counterpart of `jax.ShapeDtypeStruct`, so that a skeleton allocates
    nothing whatever the shape and dtype it describes.
    """

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        self.shape = shape
        self.dtype = dtype


def leaf_kind(x: Any) -> str | None:
    """How a leaf is stored; None for leaves equinox does not store."""
    if isinstance(x, jax.Array):
        return "key" if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else "jax"
    if isinstance(x, np.ndarray):
        return "numpy"
    if isinstance(x, np.generic):
        return "generic"
    for name, (cls, _) in PYTHON_KINDS.items():  # bool before int: a bool is an int
        if isinstance(x, cls):
            return name
    return None


def npy_record(data: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The .npy header and body ``np.save(f, data)`` writes, without copying data.

    Raises:
        ValueError: for object arrays (they would need pickle) and dtypes a file
            cannot describe exactly.
    """
    if data.dtype.hasobject:
        raise ValueError("object arrays would need pickle, which lerax never uses")
    dtype_to_text(data.dtype)  # raises for a dtype that cannot be recorded
    # NumPy stores arrays that are only Fortran-contiguous in Fortran order.
    fortran = bool(data.flags.f_contiguous and not data.flags.c_contiguous)
    header = npy_header(data.dtype, data.shape, fortran)
    if len(header) > MAX_NPY_HEADER:
        raise ValueError(f"its .npy header exceeds {MAX_NPY_HEADER} bytes")
    body = np.ascontiguousarray(data.T if fortran else data)
    return header, body.reshape(-1).view(np.uint8)


@functools.lru_cache(maxsize=256)
def npy_header(dtype: np.dtype, shape: tuple[int, ...], fortran: bool) -> bytes:
    """The .npy header ``np.save`` writes for an array of this dtype and shape."""
    header_data = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": fortran,
        "shape": tuple(shape),
    }
    header = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(header, header_data)
    except ValueError:  # header too long for version 1.0: NumPy moves to 2.0 too
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(header, header_data)
    return header.getvalue()


def parse_npy_header(header: bytes) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of a .npy record's header.

    Raises:
        ValueError: for anything that is not a valid version 1.0/2.0 header.
    """
    fh = io.BytesIO(header)
    try:
        # NumPy parses the header's Python literal: a hostile one raises whatever
        # the tokenizer, parser or dtype constructor raise (TokenError, TypeError,
        # ...) and may warn (bad escapes); neither reaches the caller.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shape, fortran, dtype = _read_npy_header(fh)
    except Exception as e:
        raise ValueError(f"bad .npy header ({type(e).__name__})") from None
    if fh.tell() != len(header):
        raise ValueError("bad .npy header (unexpected length)")
    return tuple(shape), bool(fortran), np.dtype(dtype)


def _read_npy_header(fh: io.BytesIO) -> tuple[Any, Any, Any]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        read = np.lib.format.read_array_header_1_0
    elif version == (2, 0):
        read = np.lib.format.read_array_header_2_0
    else:
        raise ValueError(f"unsupported .npy version {version}")
    return read(fh, max_header_size=MAX_NPY_HEADER)


@final
@dataclasses.dataclass(frozen=True)
class Expected:
    """What a skeleton wants at one stored leaf."""

    kind: str  # "array" (jax, numpy or abstract), "key", "generic", Python kind
    dtype: np.dtype
    shape: tuple[int, ...]
    leaf: Any

    @property
    def is_numpy(self) -> bool:
        return isinstance(self.leaf, np.ndarray | NumpySpec | np.generic)

    def __str__(self) -> str:
        shape = list(self.shape)
        if self.kind == "key":
            return f"{self.leaf.dtype}{list(self.leaf.shape)} key (data uint32{shape})"
        if self.kind in PYTHON_KINDS:
            return f"a Python {self.kind}"
        return f"{self.dtype.name}{shape}"


def expected(leaf: Any) -> Expected | None:
    """What `leaf` of a skeleton expects from a file; None if it is not stored."""
    if isinstance(leaf, jax.Array | jax.ShapeDtypeStruct):
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            data = jax.eval_shape(jax.random.key_data, leaf)
            return Expected("key", np.dtype(data.dtype), tuple(data.shape), leaf)
        return Expected("array", np.dtype(leaf.dtype), tuple(leaf.shape), leaf)
    if isinstance(leaf, NumpySpec):
        return Expected("array", leaf.dtype, leaf.shape, leaf)
    kind = leaf_kind(leaf)
    if kind is None:
        return None
    if kind in PYTHON_KINDS:
        return Expected(kind, PYTHON_KINDS[kind][1], (), leaf)
    return Expected(
        "array" if kind == "numpy" else kind, leaf.dtype, tuple(leaf.shape), leaf
    )


def describe_record(rec: LeafRecord) -> str:
    if rec.kind == "key":
        return f"a {rec.key_dtype} key (data {rec.dtype}{list(rec.shape)})"
    if rec.kind in PYTHON_KINDS:
        return f"a Python {rec.kind}"
    return f"{rec.dtype.name}{list(rec.shape)}"


def on_a_device(kind: str, exp: Expected) -> bool:
    """Whether data stored as `kind` loads into `exp` as a JAX array."""
    return exp.kind == "key" or kind not in (*PYTHON_KINDS, "generic", "numpy")


def to_leaves(
    items: list[tuple[np.ndarray, str, Expected, str | None]],
    shardings: list[Any] | None = None,
    paths: list[str] | None = None,
    where: str = "",
) -> list[Any]:
    """Turns raw stored data into leaves: each ``(data, kind, expected, impl)``
    becomes a leaf of that kind; JAX arrays are placed on ``shardings[i]``
    (None: the default device), or without `shardings` like the expected leaf.

    Raises:
        SerializationError: if an array does not fit its sharding (e.g. a
            dimension the devices do not divide), naming ``paths[i]``.
    """
    on_device = [
        i for i, (_, kind, exp, _) in enumerate(items) if on_a_device(kind, exp)
    ]
    if shardings is None:
        shardings = [_sharding(exp) for _, _, exp, _ in items]
    # One transfer for all leaves on the default device: per-array dispatch is
    # most of the cost of loading a small model. device_put (unlike jnp.asarray)
    # may use each freshly read, 64-byte aligned buffer in place on CPU.
    default = [i for i in on_device if shardings[i] is None]
    placed = dict(
        zip(default, jax.device_put([items[i][0] for i in default]), strict=True)
    )
    for i in on_device:
        if i not in placed:
            placed[i] = _put(items[i][0], shardings[i], paths, i, where)
    leaves = []
    for i, (data, kind, exp, impl) in enumerate(items):
        if exp.kind == "key":
            impl = impl if impl is not None else str(exp.leaf.dtype._impl.name)
            leaves.append(jax.random.wrap_key_data(placed[i], impl=impl))
        elif i in placed:
            leaves.append(placed[i])
        elif kind in PYTHON_KINDS:
            leaves.append(PYTHON_KINDS[kind][0](data.item()))
        elif kind == "generic":
            leaves.append(np.array(data)[()])  # a NumPy scalar of the stored type
        else:
            leaves.append(np.array(data))  # an independent, writable copy
    return leaves


def _put(
    data: np.ndarray, sharding: Any, paths: list[str] | None, i: int, where: str
) -> jax.Array:
    try:
        return jax.device_put(data, sharding)
    except (ValueError, TypeError, RuntimeError) as e:
        path = paths[i] if paths is not None else f"number {i}"
        raise SerializationError(
            f"{where}: leaf {cut(path)} ({data.dtype.name}{list(data.shape)}) cannot "
            f"be placed on {cut(repr(sharding))}: {cut(str(e))}"
        ) from None


def _sharding(exp: Expected) -> Any:
    return getattr(exp.leaf, "sharding", None)
