"""Validation of the wrappers' constructor arguments, in one shape."""

import math
from collections.abc import Callable
from typing import Any, cast

import equinox as eqx
import numpy as np
from jax.core import Tracer

from .._box import Box
from .._env import AbstractEnv
from ._errors import UnsupportedSpaceError

__all__ = [
    "boolean",
    "box_space",
    "function_or_module",
    "nonnegative",
    "optional_positive",
    "positive_int",
    "probability",
    "wrapped_env",
]


def wrapped_env(wrapper: str, env: Any) -> AbstractEnv:
    """`env`, checked to be a lerax environment.

    Raises:
        TypeError: If it is not an `AbstractEnv`.
    """
    if not isinstance(env, AbstractEnv):
        raise TypeError(f"{wrapper} needs a lerax environment, got {env!r}")
    return env


def positive_int(name: str, value: Any) -> int:
    """`value` as an `int`, checked to be a positive integer (not a bool).

    Raises:
        ValueError: Otherwise.
    """
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | np.integer)
        or value < 1
    ):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def optional_positive(name: str, value: Any) -> float | None:
    """`value` as a `float`, checked to be positive and finite, or `None`.

    A traced value is returned unchecked, as by `nonnegative`.

    Raises:
        ValueError: Otherwise.
    """
    if value is None or isinstance(value, Tracer):
        return cast(float | None, value)
    number = _number(name, value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(
            f"{name} must be a positive finite number or None, got {value!r}"
        )
    return number


def nonnegative(name: str, value: Any) -> float:
    """`value` as a `float`, checked to be finite and at least 0.

    A traced value (a wrapper's field inside `jax.jit`) is returned unchecked:
    it comes from a wrapper that checked it when it was built.

    Raises:
        ValueError: Otherwise.
    """
    if isinstance(value, Tracer):
        return cast(float, value)
    number = _number(name, value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def probability(name: str, value: Any) -> float:
    """`value` as a `float`, checked to be in ``[0, 1]``.

    Raises:
        ValueError: Otherwise.
    """
    number = _number(name, value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return number


def boolean(name: str, value: Any) -> bool:
    """`value` as a `bool`, checked to be a Python or NumPy boolean.

    Raises:
        TypeError: Otherwise (``0`` and ``1`` too: such switches are static and
            decide the compiled code).
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def box_space(wrapper: str, which: str, space: Any, *, floating: bool = False) -> Box:
    """`space`, checked to be a `Box` (with a floating dtype if `floating`).

    Raises:
        UnsupportedSpaceError: Otherwise.
    """
    if not isinstance(space, Box) or (
        floating and not np.issubdtype(space.dtype, np.floating)
    ):
        kind = "floating Box" if floating else "Box"
        raise UnsupportedSpaceError(
            f"{wrapper} needs an environment whose {which} space is a {kind}, "
            f"got {space!r}"
        )
    return space


def function_or_module(
    wrapper: str, func: Any
) -> tuple[Callable[..., Any] | None, eqx.Module | None]:
    """Splits a transform into ``(function, None)`` or ``(None, module)``.

    A plain function is kept in a static field, so that the wrapper can be
    passed through `jax.jit` as an argument; an Equinox module (a
    `lerax.utils.Serializable` transform with parameters) in an ordinary field,
    so that its arrays are traced.

    Raises:
        TypeError: If `func` is not callable.
    """
    if isinstance(func, eqx.Module):
        if not callable(func):
            raise TypeError(f"{wrapper} needs a callable func, got {func!r}")
        return None, func
    if not callable(func) or isinstance(func, type):
        raise TypeError(f"{wrapper} needs a callable func, got {func!r}")
    return func, None


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
