"""Lerax spaces as gymnax spaces and back."""

from typing import Any

import jax.numpy as jnp

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

__all__ = ["space_from_gymnax", "space_to_gymnax"]


def space_to_gymnax(space: AbstractSpace) -> Any:
    """The gymnax space with the same elements as a lerax space.

    `Box`, `Discrete`, `Dict` and `Tuple` map to gymnax's spaces of the same
    names (bounds, shapes and dtypes kept; `Discrete` is int32 in both).
    gymnax has no `MultiDiscrete` or `MultiBinary` space.

    ```python
    space_to_gymnax(lerax.env.CartPole().observation_space)  # gymnax Box
    ```

    Args:
        space: A lerax space.

    Returns:
        A ``gymnax.environments.spaces.Space``.

    Raises:
        MissingExtraError: If gymnax is not installed
            (``pip install 'lerax[gymnax]'``).
        UnsupportedSpaceError: For a `MultiDiscrete` or `MultiBinary` space (or
            a composite space holding one), or a space that is not lerax's.
    """
    spaces = require("gymnax.environments.spaces", "gymnax", "space_to_gymnax")
    if isinstance(space, Box):
        return spaces.Box(
            low=jnp.asarray(space.low),
            high=jnp.asarray(space.high),
            shape=space.shape,
            dtype=space.dtype,
        )
    if isinstance(space, Discrete):
        return spaces.Discrete(space.n)
    if isinstance(space, Dict):
        return spaces.Dict(
            {name: space_to_gymnax(child) for name, child in space.spaces.items()}
        )
    if isinstance(space, Tuple):
        return spaces.Tuple([space_to_gymnax(child) for child in space.spaces])
    if isinstance(space, MultiDiscrete | MultiBinary):
        raise UnsupportedSpaceError(
            f"gymnax has no counterpart of a {type(space).__name__} space"
        )
    raise UnsupportedSpaceError(
        f"space_to_gymnax needs a lerax space, got a {type(space).__name__}"
    )


def space_from_gymnax(space: Any) -> AbstractSpace:
    """The lerax space with the same elements as a gymnax space.

    gymnax's `Box`, `Discrete`, `Dict` and `Tuple` map to lerax's spaces of the
    same names; scalar `Box` bounds are broadcast to the shape.

    ```python
    import gymnax

    env, params = gymnax.make("CartPole-v1")
    space_from_gymnax(env.action_space(params))  # lerax Discrete(n=2)
    ```

    Args:
        space: A ``gymnax.environments.spaces.Space``.

    Returns:
        A lerax space.

    Raises:
        MissingExtraError: If gymnax is not installed.
        UnsupportedSpaceError: If `space` is not one of gymnax's four spaces.
    """
    spaces = require("gymnax.environments.spaces", "gymnax", "space_from_gymnax")
    if isinstance(space, spaces.Box):
        # jnp: while a GymnaxEnv is deserialized, gymnax computes its bounds
        # from traced parameters.
        return Box(
            jnp.asarray(space.low),
            jnp.asarray(space.high),
            shape=tuple(space.shape),
            dtype=space.dtype,
        )
    if isinstance(space, spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, spaces.Dict):
        return Dict(
            {name: space_from_gymnax(child) for name, child in space.spaces.items()}
        )
    if isinstance(space, spaces.Tuple):
        return Tuple([space_from_gymnax(child) for child in space.spaces])
    raise UnsupportedSpaceError(
        f"lerax has no counterpart of a gymnax {type(space).__name__} space"
    )
