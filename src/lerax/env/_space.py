"""Abstract base class of all spaces."""

import abc

import equinox as eqx
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, PRNGKeyArray

from lerax.utils import Serializable


class AbstractSpace(Serializable):
    """A set of values (observations or actions) with a fixed shape and dtype.

    Spaces are immutable and single-valued: ``shape`` is the shape of one element,
    without any batch dimension. Batch with `jax.vmap`.

    Attributes:
        shape: Shape of one element of the space.
        dtype: NumPy dtype of the elements.
    """

    shape: eqx.AbstractVar[tuple[int, ...]]
    dtype: eqx.AbstractVar[np.dtype]

    @abc.abstractmethod
    def sample(self, *, key: PRNGKeyArray) -> Array:
        """Draws one random element of the space.

        Args:
            key: PRNG key.

        Returns:
            An array of shape `shape` and dtype `dtype`.
        """

    @abc.abstractmethod
    def contains(self, x: ArrayLike) -> Bool[Array, ""]:
        """Tells whether `x` is an element of the space.

        A shape mismatch is decided statically and gives `False`; the rest is
        computed with JAX, so it works under `jax.jit` and `jax.vmap`.

        Args:
            x: Candidate element.

        Returns:
            Scalar boolean array.
        """

    @property
    @abc.abstractmethod
    def flat_size(self) -> int:
        """Length of the flat vector encoding one element.

        A discrete space counts its one-hot encoding.
        """

    # Equality is structural (same class and parameters) and needs concrete
    # arrays: spaces are configuration, not traced values.
    @abc.abstractmethod
    def __eq__(self, other: object, /) -> bool:  # pyright: ignore[reportIncompatibleMethodOverride]
        ...

    @abc.abstractmethod
    def __hash__(self) -> int: ...
