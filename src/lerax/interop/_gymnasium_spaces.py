"""Lerax spaces as Gymnasium spaces and back, and values between the two."""

from typing import Any

import jax
import numpy as np

from lerax.env import (
    AbstractSpace,
    Box,
    Dict,
    Discrete,
    MultiBinary,
    MultiDiscrete,
    Tuple,
)

from ._errors import UnsupportedSpaceError
from ._extras import require

__all__ = ["space_from_gymnasium", "space_to_gymnasium", "value_to_gymnasium"]


def space_to_gymnasium(space: AbstractSpace) -> Any:
    """The Gymnasium space with the same elements as a lerax space.

    `Box`, `Discrete`, `MultiDiscrete`, `MultiBinary`, `Dict` and `Tuple` map to
    Gymnasium's spaces of the same names. Box bounds and dtypes are kept; the
    integer spaces take Gymnasium's default dtypes (int64 for `Discrete` and
    `MultiDiscrete`, int8 for `MultiBinary`), so their values change dtype on
    the way (`value_to_gymnasium`).

    ```python
    space_to_gymnasium(lerax.env.CartPole().action_space)  # Discrete(2)
    ```

    Args:
        space: A lerax space.

    Returns:
        A ``gymnasium.spaces.Space``.

    Raises:
        MissingExtraError: If Gymnasium is not installed
            (``pip install 'lerax[gymnasium]'``).
        UnsupportedSpaceError: If `space` is not one of lerax's spaces.
    """
    spaces = require("gymnasium.spaces", "gymnasium", "space_to_gymnasium")
    if isinstance(space, Box):
        return spaces.Box(
            low=np.asarray(space.low),
            high=np.asarray(space.high),
            shape=space.shape,
            dtype=space.dtype,
        )
    if isinstance(space, Discrete):
        return spaces.Discrete(space.n)
    if isinstance(space, MultiDiscrete):
        return spaces.MultiDiscrete(np.asarray(space.nvec))
    if isinstance(space, MultiBinary):
        shape = space.shape
        return spaces.MultiBinary(shape[0] if len(shape) == 1 else list(shape))
    if isinstance(space, Dict):
        return spaces.Dict(
            {name: space_to_gymnasium(child) for name, child in space.spaces.items()}
        )
    if isinstance(space, Tuple):
        return spaces.Tuple([space_to_gymnasium(child) for child in space.spaces])
    raise UnsupportedSpaceError(
        f"space_to_gymnasium needs a lerax space, got a {type(space).__name__}"
    )


def space_from_gymnasium(space: Any) -> AbstractSpace:
    """The lerax space with the same elements as a Gymnasium space.

    `Box`, `Discrete`, `MultiDiscrete`, `MultiBinary`, `Dict` and `Tuple` map to
    lerax's spaces of the same names. Dtypes become JAX's: without 64-bit mode
    a float64 `Box` becomes float32 and an int64 one int32, and `Discrete` and
    `MultiDiscrete` values are int32.

    ```python
    space_from_gymnasium(gymnasium.spaces.Discrete(3))  # lerax Discrete(n=3)
    ```

    Args:
        space: A ``gymnasium.spaces.Space``.

    Returns:
        A lerax space.

    Raises:
        MissingExtraError: If Gymnasium is not installed.
        UnsupportedSpaceError: If lerax has no such space: `Text`, `Graph`,
            `Sequence`, `OneOf`; a `Discrete` or `MultiDiscrete` starting
            elsewhere than at 0; a boolean `Box`; integer bounds beyond JAX's
            integers; a `Dict` with keys that are not strings.
    """
    spaces = require("gymnasium.spaces", "gymnasium", "space_from_gymnasium")
    if isinstance(space, spaces.Box):
        return Box(
            _bound(space.low, space.dtype),
            _bound(space.high, space.dtype),
            shape=space.shape,
            dtype=space.dtype,
        )
    if isinstance(space, spaces.Discrete):
        if int(space.start) != 0:
            raise UnsupportedSpaceError(
                "lerax's Discrete spaces start at 0, got a Discrete space starting "
                f"at {int(space.start)}"
            )
        return Discrete(int(space.n))
    if isinstance(space, spaces.MultiDiscrete):
        if np.any(space.start != 0):
            raise UnsupportedSpaceError(
                "lerax's MultiDiscrete spaces start at 0, got one starting at "
                f"{space.start.tolist()}"
            )
        return MultiDiscrete(np.asarray(space.nvec))
    if isinstance(space, spaces.MultiBinary):
        return MultiBinary(list(space.shape))
    if isinstance(space, spaces.Dict):
        bad = [key for key in space.spaces if not isinstance(key, str)]
        if bad:
            raise UnsupportedSpaceError(
                f"lerax's Dict spaces need string keys, got {bad[0]!r}"
            )
        return Dict(
            {name: space_from_gymnasium(child) for name, child in space.spaces.items()}
        )
    if isinstance(space, spaces.Tuple):
        return Tuple([space_from_gymnasium(child) for child in space.spaces])
    raise UnsupportedSpaceError(
        f"lerax has no counterpart of a Gymnasium {type(space).__name__} space"
    )


def value_to_gymnasium(value: Any, space: Any) -> Any:
    """A host value of a lerax space as an element of the Gymnasium `space`.

    Arrays take the Gymnasium space's dtype; a `Discrete` value becomes a NumPy
    scalar of its dtype (what Gymnasium's env checker expects), `Dict` values
    dicts and `Tuple` values tuples.
    """
    spaces = require("gymnasium.spaces", "gymnasium", "value_to_gymnasium")
    if isinstance(space, spaces.Dict):
        return {name: value_to_gymnasium(value[name], s) for name, s in space.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(
            value_to_gymnasium(part, s)
            for part, s in zip(value, space.spaces, strict=True)
        )
    array = np.asarray(value, dtype=space.dtype)
    if isinstance(space, spaces.Discrete):
        return array.dtype.type(array)
    return array


def _bound(bound: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A Gymnasium `Box` bound, checked to fit the dtype JAX gives `dtype`."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        raise UnsupportedSpaceError("lerax's Box spaces cannot hold booleans")
    if np.issubdtype(dtype, np.integer):
        target = np.iinfo(jax.dtypes.canonicalize_dtype(dtype))
        if np.any(bound < target.min) or np.any(bound > target.max):
            raise UnsupportedSpaceError(
                f"the bounds of a {dtype} Box exceed the range of "
                f"{np.dtype(jax.dtypes.canonicalize_dtype(dtype))}; enable "
                "jax_enable_x64 or narrow them"
            )
    return np.asarray(bound)
