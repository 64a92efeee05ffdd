"""Arrays of bits of a fixed shape."""

from collections.abc import Sequence
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jaxtyping import Array, ArrayLike, Bool, Float, Int8, PRNGKeyArray

from ._flat import checked_element, checked_flat
from ._space import AbstractSpace

__all__ = ["MultiBinary"]


@final
class MultiBinary(AbstractSpace):
    """Arrays of 0s and 1s of a fixed shape, as int8 (Gymnasium's dtype).

    ``MultiBinary(5)`` has elements of shape ``(5,)``, ``MultiBinary([2, 3])``
    of shape ``(2, 3)``. Every field is static.

    Attributes:
        n: The `n` given: an int, or a tuple of ints for a shape. Spaces with
            the same shape are equal (``MultiBinary(3) == MultiBinary([3])``).
        shape: Shape of one element: ``(n,)`` or ``n``.
        dtype: Always int8.
    """

    n: int | tuple[int, ...] = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    dtype: np.dtype = eqx.field(static=True)

    def __init__(self, n: int | Sequence[int] | np.ndarray):
        """Creates the space.

        Args:
            n: Number of bits, a positive integer, or a sequence of positive
                integers giving the shape of an element.

        Raises:
            ValueError: If `n` is neither.
        """
        if isinstance(n, int | np.integer) and _is_count(n):
            self.n = int(n)
        elif (
            isinstance(n, Sequence) or (isinstance(n, np.ndarray) and n.ndim == 1)
        ) and all(_is_count(d) for d in n):
            self.n = tuple(int(d) for d in n)
        else:
            raise ValueError(
                "n must be a positive integer or a sequence of positive integers, "
                f"got {n!r}"
            )
        shape = self.n if isinstance(self.n, tuple) else (self.n,)
        self.shape = shape  # pyright: ignore[reportIncompatibleVariableOverride]
        self.dtype = np.dtype(np.int8)  # pyright: ignore[reportIncompatibleVariableOverride]

    def sample(self, *, key: PRNGKeyArray) -> Int8[Array, "..."]:
        """Draws every bit by an independent fair coin toss.

        Args:
            key: PRNG key.

        Returns:
            Int8 array of shape `shape`.
        """
        return jax.random.bernoulli(key, 0.5, self.shape).astype(jnp.int8)

    def contains(self, x: npt.ArrayLike) -> Bool[Array, ""]:
        """Tells whether `x` has shape `shape` and only 0s and 1s.

        Args:
            x: Candidate element, of an integer or boolean dtype; a float array is
                never contained.

        Returns:
            Scalar boolean array.
        """
        x = jnp.asarray(x)
        if x.shape != self.shape or jnp.issubdtype(x.dtype, jnp.inexact):
            return jnp.array(False)
        return jnp.all((x == 0) | (x == 1))

    @property
    def flat_size(self) -> int:
        """Number of bits, ``prod(shape)``."""
        return int(np.prod(self.shape, dtype=np.int64))

    def flatten(self, x: ArrayLike) -> Float[Array, " flat_size"]:
        """The bits, ravelled in C order, as a float32 vector.

        Args:
            x: An element, of shape `shape`.

        Returns:
            Float32 vector of length ``prod(shape)``.

        Raises:
            ValueError: If `x` does not have shape `shape`.
        """
        return jnp.ravel(checked_element(self, x).astype(jnp.float32))

    def unflatten(self, flat: ArrayLike) -> Int8[Array, "..."]:
        """Reshapes a vector made by `flatten`; entries above 0.5 become 1.

        Args:
            flat: Vector of length `flat_size`.

        Returns:
            Int8 array of shape `shape`.

        Raises:
            ValueError: If `flat` does not have shape ``(flat_size,)``.
        """
        bits = jnp.reshape(checked_flat(self, flat), self.shape) > 0.5
        return bits.astype(jnp.int8)

    def __eq__(self, other: object, /) -> bool:
        return type(other) is type(self) and other.shape == self.shape

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.shape))


def _is_count(n: object) -> bool:
    """Whether `n` is a positive whole number (an int or NumPy integer, not bool)."""
    return (
        isinstance(n, int | np.integer)
        and not isinstance(n, bool | np.bool_)
        and bool(n > 0)
    )
