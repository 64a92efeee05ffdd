"""What a file may name: registered classes and allowlisted functions, by exact name.

A file is data. Rebuilding an object from it may create instances of registered
classes only (every `Serializable` subclass registers itself; other Equinox
modules are registered with `register_class`) and may refer to allowlisted
functions only (JAX's activations, a few element-wise functions, and functions
registered with `register_function`). Names are looked up in dictionaries, never
by importing a module or following attributes, so a file can neither trigger an
import nor reach an object it was not given.
"""

import sys
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

import equinox as eqx
import jax
import jax.numpy as jnp

from ._evolution import check_version_attribute

__all__ = [
    "class_name",
    "function_name",
    "lookup_class",
    "lookup_function",
    "register_class",
    "register_function",
]

_T = TypeVar("_T", bound=type)
_F = TypeVar("_F", bound=Callable[..., Any])

# Registered classes by the name they were defined under ("module:qualname").
# Weak, so that a class defined in a test or a notebook cell can be collected.
_CLASSES: "weakref.WeakValueDictionary[str, type]" = weakref.WeakValueDictionary()
# The same classes by their public name (see `class_name`), built on demand.
_PUBLIC_NAMES: dict[str, "weakref.ReferenceType[type]"] = {}
_PUBLIC_NAMES_VALID = False
# Allowlisted functions by name, and names by the identity of the function.
_FUNCTIONS: dict[str, Callable[..., Any]] = {}
_FUNCTION_NAMES: dict[int, str] = {}
_LOCK = threading.Lock()


def _defined_name(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _attribute_path(module: str, qualname: str) -> Any:
    """Follows ``qualname`` from an imported module; None if anything is missing.

    Used only with names taken from an object itself (its ``__module__`` and
    ``__qualname__``), never with a name read from a file.
    """
    if "<" in qualname:  # <locals>, <lambda>: not reachable by attribute
        return None
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        if obj is None:
            return None
        # A module's own namespace only: a module __getattr__ may import things.
        obj = (
            vars(obj).get(part)
            if isinstance(obj, types.ModuleType)
            else (getattr(obj, part, None))
        )
    return obj


def class_name(cls: type) -> str:
    """``module:qualname`` of `cls` under the shortest module path exporting it.

    Files then name ``lerax.policy:MLPActorCriticPolicy``, not the private module
    it is defined in, so that moving code between private modules breaks no file.
    """
    parts = cls.__module__.split(".")
    for i in range(1, len(parts)):
        module = ".".join(parts[:i])
        if _attribute_path(module, cls.__qualname__) is cls:
            return f"{module}:{cls.__qualname__}"
    return _defined_name(cls)


def register_class(cls: _T) -> _T:
    """Lets files name `cls`, an Equinox module, so objects holding it load.

    `Serializable` subclasses register themselves. Register any other Equinox
    module that is stored inside a `Serializable` (a layer, an action head) so
    that it can be rebuilt from a file without constructor arguments; loading
    creates it without calling its ``__init__``, as ``jax.tree_util`` does when
    it unflattens a pytree. Usable as a decorator. Equinox's own layers
    (``equinox.nn``) are registered already.

    Args:
        cls: A concrete subclass of `equinox.Module`.

    Returns:
        `cls` itself.

    A class whose fields change can declare a schema version
    (``__lerax_version__ = 2``) and register migrations from older versions
    with `register_migration`, so that older files still load.

    Raises:
        TypeError: if `cls` is not an `equinox.Module` subclass, or declares a
            ``__lerax_version__`` that is not a positive integer.
    """
    if not (isinstance(cls, type) and issubclass(cls, eqx.Module)):
        raise TypeError(f"register_class needs an equinox.Module subclass, got {cls!r}")
    check_version_attribute(cls)
    global _PUBLIC_NAMES_VALID
    with _LOCK:
        _CLASSES[_defined_name(cls)] = cls
        _PUBLIC_NAMES_VALID = False
    return cast(_T, cls)


def lookup_class(name: str) -> type | None:
    """The registered class a file names, by its public or defined name; else None."""
    global _PUBLIC_NAMES_VALID
    cls = _CLASSES.get(name)
    if cls is not None:
        return cls
    with _LOCK:
        if not _PUBLIC_NAMES_VALID:
            _PUBLIC_NAMES.clear()
            for registered in list(_CLASSES.values()):
                _PUBLIC_NAMES[class_name(registered)] = weakref.ref(registered)
            _PUBLIC_NAMES_VALID = True
        ref = _PUBLIC_NAMES.get(name)
    cls = ref() if ref is not None else None
    # The public name is computed when needed; check it still leads to the class.
    return cls if cls is not None and class_name(cls) == name else None


def register_function(fn: _F, name: str | None = None) -> _F:
    """Lets files name `fn` (e.g. a custom activation), so objects holding it load.

    Files refer to functions by name, and loading resolves only allowlisted names:
    JAX's activations (``jax.nn``), common element-wise functions of
    ``jax.numpy`` and ``jax.lax``, and functions registered here. Usable as a
    decorator.

    Args:
        fn: The function.
        name: The name files use, ``"module:qualname"``; by default where `fn`
            is defined, which must then lead back to `fn` itself.

    Returns:
        `fn` itself.

    Raises:
        ValueError: if the default name does not lead to `fn` (a lambda or a
            local function: give a name), or the name is taken by another
            function.
    """
    if not callable(fn) or isinstance(fn, type):
        raise TypeError(f"register_function needs a function, got {fn!r}")
    if name is None:
        # The function's own name: where it is defined. Used as a decorator, the
        # module does not hold it yet, so its name is not looked up, only
        # required to be one a module can hold (no <lambda>, no <locals>).
        module = getattr(fn, "__module__", None)
        qualname = getattr(fn, "__qualname__", None)
        if not (
            isinstance(module, str)
            and isinstance(qualname, str)
            and "<" not in qualname
        ):
            raise ValueError(
                f"cannot name {fn!r} by where it is defined; pass "
                "name='module:qualname'"
            )
        name = f"{module}:{qualname}"
    if name.count(":") != 1 or not all(name.split(":")):
        raise ValueError(
            f"a function name must look like 'module:qualname', got {name!r}"
        )
    with _LOCK:
        existing = _FUNCTIONS.get(name)
        if existing is not None and existing is not fn:
            raise ValueError(f"the name {name!r} is registered for another function")
        _FUNCTIONS[name] = fn
        _FUNCTION_NAMES.setdefault(id(fn), name)
    return fn


def lookup_function(name: str) -> Callable[..., Any] | None:
    """The allowlisted function a file names; None if it is not allowlisted."""
    return _FUNCTIONS.get(name)


def function_name(fn: Any) -> str | None:
    """The name under which `fn` is allowlisted, by identity; None if it is not."""
    name = _FUNCTION_NAMES.get(id(fn))
    return name if name is not None and _FUNCTIONS.get(name) is fn else None


# Activations and element-wise functions a layer may hold. Names are listed here,
# in code; the objects are taken from modules JAX has imported already.
_JAX_NN = (
    "celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "identity", "leaky_relu", "log_sigmoid", "log_softmax", "mish",
    "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign", "softmax", "softplus",
    "sparse_plus", "sparse_sigmoid", "squareplus", "standardize", "swish", "tanh",
)  # fmt: skip
_JAX_NUMPY = (
    "abs", "arcsinh", "arctan", "cbrt", "ceil", "cos", "cosh", "exp", "exp2",
    "expm1", "floor", "log", "log1p", "negative", "reciprocal", "sign", "sin",
    "sinh", "sqrt", "square", "tan", "tanh",
)  # fmt: skip
_JAX_LAX = ("add", "max", "min", "mul")  # the reductions of equinox's pooling layers
# Equinox layers with no pytree state of their own or with hidden references
# (shared weights, state indices) are left out: they cannot be rebuilt as data.
_EQUINOX_NN_EXCLUDED = frozenset(
    {"BatchNorm", "Shared", "SpectralNorm", "State", "StateIndex", "StatefulLayer"}
)


def _register_defaults() -> None:
    for module, names in (
        (jax.nn, _JAX_NN),
        (jnp, _JAX_NUMPY),
        (jax.lax, _JAX_LAX),
    ):
        for name in names:
            fn = getattr(module, name, None)
            if fn is not None:
                register_function(fn, f"{module.__name__}:{name}")
    mlp_module = sys.modules.get("equinox.nn._mlp")
    identity = getattr(mlp_module, "_identity", None)
    if identity is not None:  # eqx.nn.MLP's default final activation
        register_function(identity, "equinox.nn._mlp:_identity")
    for name, obj in vars(eqx.nn).items():
        if (
            isinstance(obj, type)
            and issubclass(obj, eqx.Module)
            and not name.startswith("_")
            and name not in _EQUINOX_NN_EXCLUDED
        ):
            register_class(obj)


_register_defaults()
