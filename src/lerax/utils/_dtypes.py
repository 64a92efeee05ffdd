"""Dtypes as file text: written so they read back exactly, read without trusting.

A dtype is written as its name when the name reads back as the very same dtype
(``float32``, ``bfloat16``, ``datetime64[ns]``), else as NumPy's type string
(``<U3``, ``|S16``, ``|V4``, ``>i4``), else, for structured dtypes, as a list of
``[name, dtype]`` or ``[name, dtype, shape]`` fields. Reading accepts exactly these
forms and nothing NumPy would evaluate more freely.
"""

import re
from typing import Any

import jax.numpy as jnp
import numpy as np

__all__ = ["MAX_NDIM", "dtype_from_text", "dtype_to_text", "is_numeric", "parse_shape"]

MAX_NDIM = 64  # NumPy's own limit
# Dims up to 2**62 keep every size computation within int64 and cheap.
_MAX_DIM = 2**62
_MAX_FIELDS = 4096
_MAX_ITEMSIZE = 2**31

_NUMERIC_TYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
    # ml_dtypes' types, which JAX exports (absent ones are skipped).
    "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3b11fnuz",
    "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e3m4", "float8_e4m3",
    "float8_e8m0fnu", "float4_e2m1fn", "int4", "uint4", "int2", "uint2",
)  # fmt: skip


def _numeric_table() -> dict[str, np.dtype]:
    table = {}
    for name in _NUMERIC_TYPES:
        scalar_type = getattr(jnp, name, None)
        if scalar_type is not None:
            dtype = np.dtype(scalar_type)
            table[dtype.name] = dtype
    for scalar_type in (np.longdouble, np.clongdouble):
        table[np.dtype(scalar_type).name] = np.dtype(scalar_type)
    return table


_NUMERIC = _numeric_table()
# Type strings NumPy writes for flexible, byte-ordered and date/time dtypes.
_TYPE_STRING = re.compile(
    r"[<>|=]?(?:[biufcUSV]\d{1,10}|[Mm]8(?:\[\d{0,6}[a-zA-Z]{1,3}\])?)"
)
_DATETIME_NAME = re.compile(r"(?:datetime|timedelta)64(?:\[\d{0,6}[a-zA-Z]{1,3}\])?")


def is_numeric(dtype: np.dtype) -> bool:
    """Whether `dtype` is one of the plain numeric dtypes (native byte order)."""
    return _NUMERIC.get(dtype.name) == dtype


def dtype_to_text(dtype: np.dtype) -> Any:
    """How a file records `dtype`: a string, or a list for a structured dtype."""
    dtype = np.dtype(dtype)
    if dtype.names is not None:
        fields = []
        fields_by_name: Any = dtype.fields
        for name in dtype.names:
            field_dtype = fields_by_name[name][0]
            base, shape = field_dtype.base, field_dtype.shape
            entry = [name, dtype_to_text(base)]
            if shape:
                entry.append(list(shape))
            fields.append(entry)
        return fields
    if _text_or_none(dtype.name) == dtype:
        return dtype.name
    return dtype.str


def dtype_from_text(text: Any, depth: int = 0) -> np.dtype:
    """Inverse of `dtype_to_text`.

    Raises:
        ValueError: for anything `dtype_to_text` does not write, object dtypes
            included.
    """
    if isinstance(text, str):
        dtype = _text_or_none(text)
        if dtype is None:
            raise ValueError(f"unknown dtype {text[:40]!r}")
        return dtype
    if isinstance(text, list) and 0 < len(text) <= _MAX_FIELDS and depth < 8:
        fields = []
        for entry in text:
            if not (isinstance(entry, list) and len(entry) in (2, 3)):
                raise ValueError("malformed structured dtype")
            name, base = entry[0], dtype_from_text(entry[1], depth + 1)
            if not isinstance(name, str):
                raise ValueError("malformed structured dtype")
            shape = parse_shape(entry[2]) if len(entry) == 3 else ()
            fields.append((name, base, shape))
        dtype = np.dtype(fields)
        if dtype.itemsize > _MAX_ITEMSIZE:
            raise ValueError("structured dtype too large")
        return dtype
    raise ValueError("malformed dtype")


def _text_or_none(text: str) -> np.dtype | None:
    if text in _NUMERIC:
        return _NUMERIC[text]
    if len(text) > 24:
        return None
    if _TYPE_STRING.fullmatch(text) or _DATETIME_NAME.fullmatch(text):
        try:
            dtype = np.dtype(text)
        except TypeError:
            return None
        if dtype.hasobject or dtype.itemsize > _MAX_ITEMSIZE:
            return None
        return dtype
    return None


def parse_shape(value: Any) -> tuple[int, ...]:
    """A recorded shape: at most 64 non-negative integer dims, each below 2**62.

    Raises:
        ValueError: for anything else.
    """
    if not isinstance(value, list) or len(value) > MAX_NDIM:
        raise ValueError("a shape must be a list of at most 64 dims")
    if not all(type(d) is int and 0 <= d < _MAX_DIM for d in value):
        raise ValueError("shape dims must be integers in [0, 2**62)")
    return tuple(value)
