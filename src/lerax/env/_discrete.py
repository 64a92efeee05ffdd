"""Finite space of integers."""

from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from ._flat import checked_element, checked_flat
from ._space import AbstractSpace

__all__ = ["Discrete"]


@final
class Discrete(AbstractSpace):
    """The integers ``{0, 1, ..., n - 1}`` as scalar int32 arrays.

    Attributes:
        n: Number of elements.
        shape: Always ``()``.
        dtype: Always int32.
    """

    n: int = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    dtype: np.dtype = eqx.field(static=True)

    def __init__(self, n: int):
        """Creates the space.

        Args:
            n: Number of elements, at least 1.

        Raises:
            ValueError: If `n` is not a positive integer.
        """
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"Discrete needs a positive integer n, got {n!r}")
        self.n = int(n)
        self.shape = ()  # pyright: ignore[reportIncompatibleVariableOverride]
        self.dtype = np.dtype(np.int32)  # pyright: ignore[reportIncompatibleVariableOverride]

    def sample(self, *, key: PRNGKeyArray) -> Int[Array, ""]:
        """Draws a uniformly random element.

        Args:
            key: PRNG key.

        Returns:
            Scalar int32 array in ``[0, n)``.
        """
        return jax.random.randint(key, (), 0, self.n, dtype=jnp.int32)

    def contains(self, x: ArrayLike) -> Bool[Array, ""]:
        """Tells whether `x` is an integer scalar in ``[0, n)``.

        Args:
            x: Candidate element; a float or boolean array is never contained.

        Returns:
            Scalar boolean array.
        """
        x = jnp.asarray(x)
        if x.shape != () or not jnp.issubdtype(x.dtype, jnp.integer):
            return jnp.array(False)
        return (x >= 0) & (x < self.n)

    @property
    def flat_size(self) -> int:
        """``n``, the length of the one-hot encoding."""
        return self.n

    def flatten(self, x: ArrayLike) -> Float[Array, " n"]:
        """One-hot encodes `x`: a float32 vector of length `n` with a 1 at `x`.

        Args:
            x: An element, a scalar.

        Returns:
            Float32 vector of length `n` (all zeros if `x` is out of range).

        Raises:
            ValueError: If `x` is not a scalar.
        """
        return jax.nn.one_hot(checked_element(self, x), self.n, dtype=jnp.float32)

    def unflatten(self, flat: ArrayLike) -> Int[Array, ""]:
        """Decodes a one-hot vector: the index of its largest entry.

        Args:
            flat: Vector of length `n`.

        Returns:
            Scalar int32 array.

        Raises:
            ValueError: If `flat` does not have shape ``(n,)``.
        """
        return jnp.argmax(checked_flat(self, flat)).astype(jnp.int32)

    def __eq__(self, other: object, /) -> bool:
        return type(other) is type(self) and other.n == self.n

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.n))
