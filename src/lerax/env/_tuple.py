"""Ordered product of spaces, with tuple elements."""

import functools
import operator
from collections.abc import Iterable, Iterator
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ._flat import checked_flat, concatenate, split
from ._space import AbstractSpace

__all__ = ["Tuple"]


@final
class Tuple(AbstractSpace):
    """Tuples whose ``i``-th entry is an element of the ``i``-th space.

    ``Tuple((Discrete(3), Box(0.0, 1.0, (2,))))`` has elements such as
    ``(2, [0.5, 0.1])``. The flat encoding concatenates the children's encodings
    in order. Children may themselves be `Tuple` or `Dict` spaces.

    The children are pytree children: their array fields (e.g. `Box` bounds) are
    leaves, their static fields stay static.

    Attributes:
        spaces: The child spaces, in order.
        shape: Always `None` (elements are tuples).
        dtype: Always `None`.
    """

    spaces: tuple[AbstractSpace, ...]
    shape: None = eqx.field(static=True)
    dtype: None = eqx.field(static=True)

    def __init__(self, spaces: Iterable[AbstractSpace]):
        """Creates the space.

        Args:
            spaces: The child spaces, an iterable.

        Raises:
            TypeError: If `spaces` is not an iterable of spaces.
        """
        if not isinstance(spaces, Iterable) or isinstance(spaces, AbstractSpace):
            raise TypeError(f"spaces must be an iterable of spaces, got {spaces!r}")
        children = tuple(spaces)
        for i, space in enumerate(children):
            if not isinstance(space, AbstractSpace):
                raise TypeError(f"spaces[{i}] must be a space, got {space!r}")
        self.spaces = children
        self.shape = None  # pyright: ignore[reportIncompatibleVariableOverride]
        self.dtype = None  # pyright: ignore[reportIncompatibleVariableOverride]

    def __getitem__(self, index: int) -> AbstractSpace:
        return self.spaces[index]

    def __iter__(self) -> Iterator[AbstractSpace]:
        return iter(self.spaces)

    def __len__(self) -> int:
        return len(self.spaces)

    def sample(self, *, key: PRNGKeyArray) -> tuple[Any, ...]:
        """Draws each child independently.

        Args:
            key: PRNG key.

        Returns:
            A tuple with a sample of each child space.
        """
        if not self.spaces:
            return ()
        keys = jax.random.split(key, len(self.spaces))
        return tuple(
            space.sample(key=k) for space, k in zip(self.spaces, keys, strict=True)
        )

    def contains(self, x: Any) -> Bool[Array, ""]:
        """Tells whether `x` is a tuple (or list) of the right length, each entry
        in its space.

        Args:
            x: Candidate element.

        Returns:
            Scalar boolean array.
        """
        if not isinstance(x, tuple | list) or len(x) != len(self.spaces):
            return jnp.array(False)
        return functools.reduce(
            operator.and_,
            (space.contains(part) for space, part in zip(self.spaces, x, strict=True)),
            jnp.array(True),
        )

    @property
    def flat_size(self) -> int:
        """Sum of the children's flat sizes."""
        return sum(space.flat_size for space in self.spaces)

    def flatten(self, x: Any) -> Float[Array, " flat_size"]:
        """Concatenates the children's flat encodings, in order.

        Args:
            x: An element: a tuple (or list) with one entry per child.

        Returns:
            Float32 vector of length `flat_size`.

        Raises:
            ValueError: If `x` is not a tuple or list of the right length, or a
                child's flatten refuses its entry.
        """
        if not isinstance(x, tuple | list) or len(x) != len(self.spaces):
            got = f"length {len(x)}" if isinstance(x, tuple | list) else repr(x)
            raise ValueError(
                f"x must be a tuple of length {len(self.spaces)} to be flattened by "
                f"Tuple, got {got}"
            )
        return concatenate(
            [space.flatten(part) for space, part in zip(self.spaces, x, strict=True)]
        )

    def unflatten(self, flat: ArrayLike) -> tuple[Any, ...]:
        """Splits a vector made by `flatten` and decodes each child's part.

        Args:
            flat: Vector of length `flat_size`.

        Returns:
            A tuple of the children's elements.

        Raises:
            ValueError: If `flat` does not have shape ``(flat_size,)``.
        """
        parts = split(checked_flat(self, flat), self.spaces)
        return tuple(
            space.unflatten(part)
            for space, part in zip(self.spaces, parts, strict=True)
        )

    def __eq__(self, other: object, /) -> bool:
        return (
            type(other) is type(self)
            and len(other.spaces) == len(self.spaces)
            and all(a == b for a, b in zip(other.spaces, self.spaces, strict=True))
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.spaces))
