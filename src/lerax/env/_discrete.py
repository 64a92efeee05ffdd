"""Finite space of integers."""

from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Int, PRNGKeyArray

from ._space import AbstractSpace


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
        self.shape = ()
        self.dtype = np.dtype(np.int32)

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

    def __eq__(self, other: object, /) -> bool:
        return type(other) is type(self) and other.n == self.n

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.n))
