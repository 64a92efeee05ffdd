"""JSON encoding of constructor arguments and of non-array fields.

The encoding is descriptive, never executable: arrays are stored as shape and dtype,
functions by name, classes by name. Decoding resolves names only among modules that
are already imported and classes that subclass ``Serializable``; nothing is imported
and nothing named in a file is called, except the constructor of such a class.
"""

import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard, final

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import SerializationError

__all__ = [
    "Decoder",
    "Placeholder",
    "RecordedCall",
    "build",
    "class_name",
    "describe",
    "encode_value",
    "is_recordable",
    "lookup_class",
]

# Public modules tried first so that files name functions by their public path
# (``jax.nn:relu``) rather than by a private one that may move between releases.
_PUBLIC_MODULES = ("jax.nn", "jax.numpy", "jax.lax", "jax.random", "numpy", "math")
# Top-level packages whose functions a file may name. Functions from other modules
# are resolved only when a Serializable subclass lives in the same module.
_TRUSTED_PACKAGES = frozenset({"jax", "jaxlib", "equinox", "numpy", "optax", "lerax"})
_PRIMITIVES = (type(None), bool, int, str)


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
        "dtype": np.dtype(dtype).name,
    }


def _function_name(fn: Callable[..., Any]) -> tuple[str, str] | None:
    """Returns ``(module, qualname)`` under which ``fn`` can be found again."""
    name = getattr(fn, "__name__", None)
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(name, str):
        for public in _PUBLIC_MODULES:
            mod = sys.modules.get(public)
            if mod is not None and getattr(mod, name, None) is fn:
                return public, name
    if (
        isinstance(module, str)
        and isinstance(qualname, str)
        and _lookup(module, qualname) is fn
    ):
        return module, qualname
    return None


def _lookup(module: str, qualname: str) -> Any:
    """Finds ``module:qualname`` among imported modules, or returns None."""
    if "<" in qualname:  # <locals>, <lambda>: not reachable by name
        return None
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part, None)
    return obj


def _is_function(x: Any) -> TypeGuard[Callable[..., Any]]:
    return callable(x) and not isinstance(x, type) and hasattr(x, "__qualname__")


def encode_value(x: Any) -> Any:
    """Encodes ``x`` as JSON-able data; never raises.

    Values that cannot be recorded become ``{"type": "unrecordable", ...}``.
    """
    from ._serializable import Serializable  # circular: Serializable uses this

    if isinstance(x, _PRIMITIVES):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else {"type": "float", "value": repr(x)}
    if isinstance(x, complex):
        return {"type": "complex", "value": [x.real, x.imag]}
    if isinstance(x, Serializable):
        return {
            "type": "serializable",
            "class": class_name(type(x)),
            "args": x._lerax_args.encoded
            if x._lerax_args is not None
            else {"type": "unrecordable", "what": "an object built without arguments"},
        }
    if isinstance(x, jax.Array | np.ndarray | jax.ShapeDtypeStruct):
        return _array_description(x)
    if isinstance(x, np.generic):
        return {
            "type": "scalar",
            "dtype": x.dtype.name,
            "value": encode_value(x.item()),
        }
    if isinstance(x, np.dtype):
        return {"type": "dtype", "name": x.name, "form": "numpy"}
    if isinstance(x, type) and issubclass(x, np.generic):
        return {"type": "dtype", "name": np.dtype(x).name, "form": "scalar_type"}
    if isinstance(x, type(jnp.float32)):  # jnp.float32 and friends
        return {"type": "dtype", "name": np.dtype(x.dtype).name, "form": "jax"}
    if isinstance(x, list | tuple) and type(x) in (list, tuple):  # no namedtuples
        return {"type": type(x).__name__, "items": [encode_value(i) for i in x]}
    if type(x) is dict:
        return {
            "type": "dict",
            "items": [[encode_value(k), encode_value(v)] for k, v in x.items()],
        }
    if _is_function(x):
        found = _function_name(x)
        if found is None:
            return {
                "type": "unrecordable",
                "what": f"function {getattr(x, '__module__', '?')}."
                f"{getattr(x, '__qualname__', '?')}",
            }
        return {"type": "function", "name": f"{found[0]}:{found[1]}"}
    return _unrecordable(x)


def _unrecordable(x: Any) -> dict[str, Any]:
    return {
        "type": "unrecordable",
        "what": f"{type(x).__module__}.{type(x).__qualname__}",
    }


def is_recordable(encoded: Any) -> str | None:
    """Returns None if ``encoded`` can be decoded, else what cannot be."""
    if isinstance(encoded, list):
        for item in encoded:
            if (why := is_recordable(item)) is not None:
                return why
        return None
    if not isinstance(encoded, dict):
        return None
    if encoded.get("type") == "unrecordable":
        return str(encoded.get("what"))
    for key in ("items", "args", "value"):
        if key in encoded and (why := is_recordable(encoded[key])) is not None:
            return why
    return None


def describe(encoded: Any) -> str:
    """A short human-readable rendering of an encoded value, for error messages."""
    if not isinstance(encoded, dict):
        return repr(encoded)
    kind = encoded.get("type")
    if kind == "function":
        return f"function {encoded.get('name')}"
    if kind == "array":
        return f"{encoded.get('dtype')}{encoded.get('shape')} array"
    if kind == "unrecordable":
        return f"a {encoded.get('what')}"
    if kind == "serializable":
        return f"a {encoded.get('class')}"
    if kind in ("list", "tuple"):
        items = encoded.get("items")
        inner = (
            ", ".join(describe(i) for i in items) if isinstance(items, list) else "?"
        )
        return f"[{inner}]" if kind == "list" else f"({inner})"
    if kind in ("dtype", "float", "complex", "scalar"):
        return str(encoded.get("name", encoded.get("value")))
    return repr(encoded)


def class_name(cls: type) -> str:
    """``module:qualname`` under the shortest module path that exports ``cls``.

    Files then name ``lerax.policy:MLPActorCriticPolicy``, not the private module it
    is defined in, so that moving code between private modules breaks no file.
    """
    parts = cls.__module__.split(".")
    for i in range(1, len(parts)):
        module = ".".join(parts[:i])
        if _lookup(module, cls.__qualname__) is cls:
            return f"{module}:{cls.__qualname__}"
    return f"{cls.__module__}:{cls.__qualname__}"


def lookup_class(name: str) -> Any:
    """Finds ``module:qualname`` among imported modules (never imports)."""
    module, _, qualname = name.partition(":")
    return _lookup(module, qualname)


@final
class Placeholder:
    """Stands for a recorded array argument until it is materialised abstractly."""

    def __init__(self, kind: str, shape: tuple[int, ...], dtype: str, impl: str | None):
        self.kind = kind
        self.shape = shape
        self.dtype = dtype
        self.impl = impl

    def materialise(self) -> Any:
        """Call inside ``eqx.filter_eval_shape``: allocates nothing there."""
        if self.kind == "key":
            key = jax.random.key(0, impl=self.impl)
            return key if self.shape == () else jax.random.split(key, self.shape)
        if self.kind == "numpy":  # stays NumPy; zero strides allocate one element
            return np.broadcast_to(np.zeros((), jnp.dtype(self.dtype)), self.shape)
        return jnp.zeros(self.shape, self.dtype)


@final
class Decoder:
    """Inverse of :func:`encode_value`; arrays become :class:`Placeholder` objects.

    Args:
        resolve_class: maps a recorded class name to an imported Serializable class.
        trusted_modules: module names whose functions may be named, in addition to
            the trusted packages.
        where: the location, for error messages.
    """

    def __init__(
        self,
        *,
        resolve_class: Callable[[str], type],
        trusted_modules: set[str],
        where: str,
    ):
        self._resolve_class = resolve_class
        self._trusted = trusted_modules
        self._where = where

    def _fail(self, msg: str) -> SerializationError:
        return SerializationError(f"{self._where}: {msg}")

    def call(self, encoded: Any) -> tuple[list[Any], dict[str, Any]]:
        """Decodes ``{"args": [...], "kwargs": {...}}`` as recorded by Serializable."""
        if (why := is_recordable(encoded)) is not None:
            raise self._fail(
                f"the constructor arguments were not recorded (one was {why}); "
                "pass them explicitly"
            )
        args = encoded.get("args") if isinstance(encoded, dict) else None
        kwargs = encoded.get("kwargs") if isinstance(encoded, dict) else None
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise self._fail(f"malformed recorded constructor arguments {encoded!r}")
        return [self.value(a) for a in args], {
            str(k): self.value(v) for k, v in kwargs.items()
        }

    def value(self, x: Any) -> Any:
        """Decodes one recorded value."""
        if isinstance(x, (*_PRIMITIVES, float)):
            return x
        if not isinstance(x, Mapping):
            raise self._fail(f"malformed recorded value {x!r}")
        kind = x.get("type")
        try:
            if kind == "float":
                return float(x["value"])
            if kind == "complex":
                real, imag = x["value"]
                return complex(real, imag)
            if kind in ("list", "tuple"):
                items = [self.value(item) for item in x["items"]]
                return items if kind == "list" else tuple(items)
            if kind == "dict":
                return {self.value(k): self.value(v) for k, v in x["items"]}
            if kind == "array":
                shape = tuple(int(d) for d in x["shape"])
                return Placeholder(x["kind"], shape, str(x["dtype"]), x.get("impl"))
            if kind == "scalar":
                return np.dtype(x["dtype"]).type(self.value(x["value"]))
            if kind == "dtype":
                return _dtype(jnp.dtype(x["name"]), x["form"])
            if kind == "function":
                return self._function(str(x["name"]))
            if kind == "serializable":
                cls = self._resolve_class(str(x["class"]))
                return RecordedCall(cls, *self.call(x["args"]))
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise self._fail(f"malformed recorded value {x!r} ({e})") from None
        if kind == "unrecordable":
            raise self._fail(
                f"the argument was {x.get('what')}, which cannot be recorded in a "
                "file; pass the constructor arguments explicitly"
            )
        raise self._fail(f"unknown recorded value type {kind!r}")

    def _function(self, name: str) -> Any:
        module, _, qualname = name.partition(":")
        if (
            module.split(".")[0] not in _TRUSTED_PACKAGES
            and module not in self._trusted
        ):
            raise self._fail(
                f"function {name} is not from a trusted package "
                f"({', '.join(sorted(_TRUSTED_PACKAGES))}) nor from a module defining "
                "a Serializable class; pass the constructor arguments explicitly"
            )
        fn = _lookup(module, qualname)
        if fn is None:
            raise self._fail(
                f"function {name} is not available (its module is not imported); "
                "import it first or pass the constructor arguments explicitly"
            )
        if not _is_function(fn):
            raise self._fail(f"{name} is not a function")
        return fn


def _dtype(dtype: np.dtype, form: str) -> Any:
    if form == "numpy":
        return dtype
    if form == "scalar_type":
        return dtype.type
    if form == "jax":
        scalar_type = getattr(jnp, dtype.name, None)
        if isinstance(scalar_type, type(jnp.float32)):
            return scalar_type
    raise ValueError(f"no {form} form of dtype {dtype.name}")


@final
class RecordedCall:
    """A recorded ``cls(*args, **kwargs)`` call, rebuilt by :func:`build`."""

    def __init__(self, cls: type, args: list[Any], kwargs: dict[str, Any]):
        self.cls = cls
        self.args = args
        self.kwargs = kwargs


def build(decoded: Any) -> Any:
    """Materialises placeholders and recorded calls (inside ``filter_eval_shape``)."""
    if isinstance(decoded, Placeholder):
        return decoded.materialise()
    if isinstance(decoded, RecordedCall):
        return decoded.cls(*build(decoded.args), **build(decoded.kwargs))
    if type(decoded) in (list, tuple):
        return type(decoded)(build(item) for item in decoded)
    if type(decoded) is dict:
        return {k: build(v) for k, v in decoded.items()}
    return decoded
