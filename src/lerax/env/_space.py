"""Abstract base class of all spaces."""

import abc
from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray, PyTree

from lerax.utils import Serializable

__all__ = ["AbstractSpace"]


class AbstractSpace(Serializable):
    """A set of values (observations or actions).

    Spaces are immutable configuration and single-valued: an element has no batch
    dimension. Batch with `jax.vmap`. An array space (`Box`, `Discrete`,
    `MultiDiscrete`, `MultiBinary`) has elements that are arrays of a fixed
    `shape` and `dtype`; a composite space (`Dict`, `Tuple`) has elements that are
    dicts or tuples of its children's elements, and `shape` and `dtype` `None`, as
    in Gymnasium.

    Every element has a flat encoding, a float32 vector of length `flat_size`
    (`flatten` and `unflatten`), which is what a network reads.

    Attributes:
        shape: Shape of one element, or `None` for a composite space.
        dtype: NumPy dtype of the elements, or `None` for a composite space.
    """

    # Concrete spaces narrow these to a tuple and a dtype, or to None. Fields are
    # frozen, so narrowing is safe, but pyright treats them as mutable and asks
    # for an ignore comment where each is first assigned.
    shape: eqx.AbstractVar[tuple[int, ...] | None]
    dtype: eqx.AbstractVar[np.dtype | None]

    @abc.abstractmethod
    def sample(self, *, key: PRNGKeyArray) -> PyTree[Array]:
        """Draws one random element of the space.

        Args:
            key: PRNG key.

        Returns:
            An element: an array of shape `shape` and dtype `dtype`, or for a
            composite space a dict or tuple of its children's elements.
        """

    @abc.abstractmethod
    def contains(self, x: Any) -> Bool[Array, ""]:
        """Tells whether `x` is an element of the space.

        A mismatch of shape or structure (or, for discrete spaces, a non-integer
        dtype) is decided statically and gives `False`; the rest is computed with
        JAX, so it works under `jax.jit` and `jax.vmap`.

        Args:
            x: Candidate element.

        Returns:
            Scalar boolean array.
        """

    @property
    @abc.abstractmethod
    def flat_size(self) -> int:
        """Length of the flat vector encoding one element (see `flatten`).

        A discrete space counts its one-hot encoding.
        """

    @abc.abstractmethod
    def flatten(self, x: Any) -> Float[Array, " flat_size"]:
        """Encodes one element as a flat float32 vector of length `flat_size`.

        Discrete values are one-hot encoded, so that a network reads no order
        into category indices; arrays are ravelled in C order; composite spaces
        concatenate their children's encodings in a fixed order.

        Args:
            x: An element of the space (not batched; use `jax.vmap`).

        Returns:
            Float32 vector of shape ``(flat_size,)``.

        Raises:
            ValueError: If `x` does not have the element's shape or structure.
        """

    @abc.abstractmethod
    def unflatten(self, flat: Any) -> PyTree[Array]:
        """Decodes a vector made by `flatten` back into an element.

        ``unflatten(flatten(x))`` equals `x` for every element `x`. A one-hot
        block decodes to the index of its largest entry.

        Args:
            flat: Vector of shape ``(flat_size,)``.

        Returns:
            An element of the space.

        Raises:
            ValueError: If `flat` does not have shape ``(flat_size,)``.
        """

    # Equality is structural (same class and parameters) and needs concrete
    # arrays: spaces are configuration, not traced values.
    @abc.abstractmethod
    def __eq__(self, other: object, /) -> bool:  # pyright: ignore[reportIncompatibleMethodOverride]
        ...

    @abc.abstractmethod
    def __hash__(self) -> int: ...
