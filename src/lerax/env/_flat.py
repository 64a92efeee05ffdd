"""Checks and pieces shared by the spaces' flat encodings (`flatten`)."""

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Float

from ._space import AbstractSpace

__all__ = ["checked_element", "checked_flat", "concatenate", "split"]


def checked_element(space: AbstractSpace, x: Any) -> Array:
    """`x` as an array, checked to have the shape of an element of `space`.

    Raises:
        ValueError: If the shape differs.
    """
    x = jnp.asarray(x)
    if x.shape != space.shape:
        raise ValueError(
            f"x must have shape {space.shape} to be flattened by "
            f"{type(space).__name__}, got shape {x.shape}"
        )
    return x


def checked_flat(space: AbstractSpace, flat: Any) -> Float[Array, " n"]:
    """`flat` as a float32 vector, checked to have shape ``(space.flat_size,)``.

    Raises:
        ValueError: If the shape differs.
    """
    flat = jnp.asarray(flat, dtype=jnp.float32)
    if flat.shape != (space.flat_size,):
        raise ValueError(
            f"flat must have shape ({space.flat_size},) to be unflattened by "
            f"{type(space).__name__}, got shape {flat.shape}"
        )
    return flat


def concatenate(parts: Sequence[Array]) -> Float[Array, " n"]:
    """Joins flat encodings; an empty float32 vector when there are none."""
    if not parts:
        return jnp.zeros((0,), jnp.float32)
    return jnp.concatenate(parts)


def split(flat: Array, spaces: Sequence[AbstractSpace]) -> list[Array]:
    """Cuts `flat` into consecutive pieces of the spaces' flat sizes."""
    parts = []
    start = 0
    for space in spaces:
        parts.append(flat[start : start + space.flat_size])
        start += space.flat_size
    return parts
