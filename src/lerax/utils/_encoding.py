"""JSON encoding of constructor arguments and of non-array values.

The encoding is descriptive, never executable: arrays are recorded by shape and
dtype, functions and classes by name. Decoding (`decode_value`) rebuilds plain
data, dtypes and allowlisted functions only; it never imports, never resolves a
class and never calls anything a file names.
"""

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard, cast, final

import jax
import jax.numpy as jnp
import numpy as np

from ._dtypes import dtype_from_text, dtype_to_text, is_numeric
from ._errors import cut, quote
from ._trust import class_name, function_name, lookup_function

__all__ = [
    "RecordedArgs",
    "decode_value",
    "describe",
    "encode_value",
    "is_recordable",
]

_PRIMITIVES = (type(None), bool, int, str)


@final
class RecordedArgs:
    """Encoded constructor arguments, kept in a static field of a `Serializable`.

    A static field survives ``jit``, ``tree_map`` and friends. It compares equal
    to any other record so that it never makes two otherwise equal modules (or
    their treedefs) differ: the arguments are a description for people and tools
    (and the parts of a nested object's own record), never needed to load.
    """

    __slots__ = ("encoded",)

    def __init__(self, encoded: Any):
        self.encoded = encoded

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordedArgs)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<recorded constructor arguments>"


def _array_description(x: Any) -> dict[str, Any]:
    dtype = x.dtype
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        return {
            "type": "array",
            "kind": "key",
            "shape": list(x.shape),
            "dtype": str(dtype),
            "impl": str(dtype._impl.name),
        }
    kind = "numpy" if isinstance(x, np.ndarray) else "jax"
    return {
        "type": "array",
        "kind": kind,
        "shape": list(x.shape),
        "dtype": dtype_to_text(np.dtype(dtype)),
    }


def _is_function(x: Any) -> TypeGuard[Callable[..., Any]]:
    return callable(x) and not isinstance(x, type) and hasattr(x, "__qualname__")


def encode_value(x: Any) -> Any:
    """Encodes `x` as JSON-able data; never raises.

    Values that cannot be recorded become ``{"type": "unrecordable", ...}``.
    """
    if isinstance(x, _PRIMITIVES):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else {"type": "float", "value": repr(x)}
    if isinstance(x, complex):
        return {
            "type": "complex",
            "value": [encode_value(x.real), encode_value(x.imag)],
        }
    recorded = getattr(x, "_lerax_args", None)
    if isinstance(recorded, RecordedArgs) or (
        recorded is None and hasattr(type(x), "_lerax_args")
    ):  # a Serializable, named rather than imported here to keep layers apart
        return {
            "type": "serializable",
            "class": class_name(type(x)),
            "args": recorded.encoded
            if recorded is not None
            else {"type": "unrecordable", "what": "an object built without arguments"},
        }
    if isinstance(x, jax.Array | np.ndarray | jax.ShapeDtypeStruct):
        return _array_description(x)
    if isinstance(x, np.generic) and is_numeric(x.dtype):
        return {
            "type": "scalar",
            "dtype": x.dtype.name,
            "value": encode_value(x.item()),
        }
    if isinstance(x, np.dtype) and is_numeric(x):
        return {"type": "dtype", "name": x.name, "form": "numpy"}
    if isinstance(x, type) and issubclass(x, np.generic) and is_numeric(np.dtype(x)):
        return {"type": "dtype", "name": np.dtype(x).name, "form": "scalar_type"}
    if isinstance(x, type(jnp.float32)):  # jnp.float32 and friends
        jax_dtype = np.dtype(cast(Any, x).dtype)
        if is_numeric(jax_dtype):
            return {"type": "dtype", "name": jax_dtype.name, "form": "jax"}
    if isinstance(x, list | tuple) and type(x) in (list, tuple):  # no namedtuples
        return {"type": type(x).__name__, "items": [encode_value(i) for i in x]}
    if type(x) is dict:
        return {
            "type": "dict",
            "items": [
                [encode_value(k), encode_value(v)] for k, v in cast(dict, x).items()
            ],
        }
    if _is_function(x):
        name = function_name(x)
        if name is None:
            return {
                "type": "unrecordable",
                "what": f"function {getattr(x, '__module__', '?')}."
                f"{getattr(x, '__qualname__', '?')} (not registered with "
                "lerax.utils.register_function)",
            }
        return {"type": "function", "name": name}
    return {
        "type": "unrecordable",
        "what": f"{type(x).__module__}.{type(x).__qualname__}",
    }


def is_recordable(encoded: Any) -> str | None:
    """Returns None if `encoded` holds no unrecordable value, else what one was."""
    stack = [encoded]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if item.get("type") == "unrecordable":
                return quote(item.get("what"))
            stack.extend(item[k] for k in ("items", "args", "value") if k in item)
    return None


def describe(encoded: Any) -> str:
    """A short human-readable rendering of an encoded value, for error messages."""
    text = _describe(encoded)
    return text if len(text) <= _DESCRIBE_LIMIT else f"{text[:_DESCRIBE_LIMIT]}..."


_DESCRIBE_LIMIT = 200


def _describe(encoded: Any) -> str:
    if not isinstance(encoded, dict):
        return quote(encoded)
    kind = encoded.get("type")
    if kind == "function":
        return f"function {cut(encoded.get('name'))}"
    if kind == "array":
        return f"{quote(encoded.get('dtype'))}{quote(encoded.get('shape'))} array"
    if kind == "unrecordable":
        return f"a {cut(encoded.get('what'))}"
    if kind == "serializable":
        return f"a {cut(encoded.get('class'))}"
    if kind in ("list", "tuple"):
        items = encoded.get("items")
        inner = (
            ", ".join(describe(i) for i in items[:10])
            + (", ..." if len(items) > 10 else "")
            if isinstance(items, list)
            else "?"
        )
        if kind == "list":
            return f"[{inner}]"
        return (
            f"({inner},)"
            if isinstance(items, list) and len(items) == 1
            else f"({inner})"
        )
    if kind in ("dtype", "float", "complex", "scalar"):
        return quote(encoded.get("name", encoded.get("value")))
    return quote(encoded)


def decode_value(x: Any) -> Any:
    """Inverse of `encode_value` for plain data, dtypes and allowlisted functions.

    Raises:
        ValueError: for a malformed value, a function that is not allowlisted, or
            a value that only describes an object (an array, a Serializable, an
            unrecordable value); the message says which.
    """
    if isinstance(x, (*_PRIMITIVES, float)):
        return x
    if not isinstance(x, Mapping):
        raise ValueError(f"malformed recorded value {quote(x)}")
    kind = x.get("type")
    if kind == "float":
        text = x.get("value")
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"malformed float {quote(text)}")
        return float(text)
    if kind == "complex":
        parts = x.get("value")
        if not (isinstance(parts, list) and len(parts) == 2):
            raise ValueError("malformed complex value")
        real, imag = (decode_value(p) for p in parts)
        if not all(type(p) in (int, float) for p in (real, imag)):
            raise ValueError("malformed complex value")
        return complex(real, imag)
    if kind in ("list", "tuple"):
        items = x.get("items")
        if not isinstance(items, list):
            raise ValueError(f"malformed {kind}")
        decoded = [decode_value(item) for item in items]
        return decoded if kind == "list" else tuple(decoded)
    if kind == "dict":
        items = x.get("items")
        if not (isinstance(items, list) and all(_is_pair(i) for i in items)):
            raise ValueError("malformed dict")
        out = {}
        for k, v in items:
            key = decode_value(k)
            try:
                out[key] = decode_value(v)
            except TypeError:
                raise ValueError("unhashable dict key") from None
        return out
    if kind == "scalar":
        dtype = dtype_from_text(x.get("dtype"))
        value = decode_value(x.get("value"))
        if not is_numeric(dtype) or type(value) not in (bool, int, float, complex):
            raise ValueError("malformed NumPy scalar")
        try:
            return dtype.type(value)
        except (OverflowError, TypeError, ValueError):
            raise ValueError(
                f"the value does not fit a NumPy {dtype.name} scalar"
            ) from None
    if kind == "dtype":
        dtype = dtype_from_text(x.get("name"))
        if not is_numeric(dtype):
            raise ValueError(f"not a numeric dtype: {dtype}")
        return _dtype_form(dtype, x.get("form"))
    if kind == "function":
        name = x.get("name")
        fn = lookup_function(name) if isinstance(name, str) else None
        if fn is None:
            raise ValueError(
                f"the function {quote(name)} is not allowlisted; if you trust it, "
                "register it with lerax.utils.register_function (or pass the "
                "constructor arguments explicitly)"
            )
        return fn
    if kind == "unrecordable":
        raise ValueError(
            f"the value was {cut(x.get('what'))}, which a file cannot hold; pass "
            "the constructor arguments explicitly"
        )
    if kind in ("array", "serializable"):
        raise ValueError(
            f"a static field holding {describe(x)} cannot be rebuilt from a file; "
            "pass the constructor arguments explicitly"
        )
    raise ValueError(f"unknown recorded value type {quote(kind)}")


def _is_pair(item: Any) -> bool:
    return isinstance(item, list) and len(item) == 2


def _dtype_form(dtype: np.dtype, form: Any) -> Any:
    if form == "numpy":
        return dtype
    if form == "scalar_type":
        return dtype.type
    if form == "jax":
        scalar_type = getattr(jnp, dtype.name, None)
        if isinstance(scalar_type, type(jnp.float32)):
            return scalar_type
    raise ValueError(f"no {quote(form)} form of dtype {dtype.name}")
