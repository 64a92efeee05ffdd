"""Cartesian product of finite integer ranges, one per array element."""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from ._flat import checked_element, checked_flat
from ._space import AbstractSpace

__all__ = ["MultiDiscrete"]

_INT32_MAX = int(np.iinfo(np.int32).max)


@final
class MultiDiscrete(AbstractSpace):
    """Integer arrays whose element ``i`` lies in ``{0, ..., nvec[i] - 1}``.

    The product of several `Discrete` spaces, e.g. the buttons of a game pad:
    ``MultiDiscrete([5, 2, 2])`` has elements such as ``[3, 1, 0]``. As in
    Gymnasium, `nvec` may have several axes; an element then has the shape of
    `nvec`. Elements are int32 arrays. Unlike Gymnasium's, the ranges always start
    at 0 (there is no ``start``).

    Every field is static: the counts decide the shapes of the flat encoding, so
    they are configuration, never traced.

    Attributes:
        nvec: Number of values of each element, as nested tuples of ints in the
            layout of `shape` (``np.asarray(space.nvec)`` gives the array).
        shape: Shape of one element, the shape of `nvec`.
        dtype: Always int32.
    """

    nvec: tuple[Any, ...] = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    dtype: np.dtype = eqx.field(static=True)

    def __init__(self, nvec: npt.ArrayLike):
        """Creates the space.

        Args:
            nvec: Number of values of each element: a non-empty array-like of
                positive integers with at least one axis, e.g. ``[5, 2, 2]``.

        Raises:
            ValueError: If `nvec` is not such an array-like.
        """
        counts = _positive_counts(nvec)
        if counts is None:
            raise ValueError(
                "nvec must be a non-empty array of positive integers with at least "
                f"one axis, got {nvec!r}"
            )
        self.nvec = _nested_tuple(counts.tolist())
        self.shape = tuple(int(s) for s in counts.shape)  # pyright: ignore[reportIncompatibleVariableOverride]
        self.dtype = np.dtype(np.int32)  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def flat_nvec(self) -> tuple[int, ...]:
        """`nvec` ravelled in C order: the number of values of each element."""
        return tuple(int(n) for n in np.ravel(np.asarray(self.nvec)))

    def sample(self, *, key: PRNGKeyArray) -> Int[Array, "..."]:
        """Draws each element uniformly and independently.

        Args:
            key: PRNG key.

        Returns:
            Int32 array of shape `shape`.
        """
        nvec = jnp.asarray(np.asarray(self.nvec, dtype=np.int32))
        return jax.random.randint(key, self.shape, 0, nvec, dtype=jnp.int32)

    def contains(self, x: npt.ArrayLike) -> Bool[Array, ""]:
        """Tells whether `x` is an integer array of shape `shape` within range.

        Args:
            x: Candidate element; a float or boolean array is never contained.

        Returns:
            Scalar boolean array.
        """
        x = jnp.asarray(x)
        if x.shape != self.shape or not jnp.issubdtype(x.dtype, jnp.integer):
            return jnp.array(False)
        nvec = jnp.asarray(np.asarray(self.nvec, dtype=np.int32))
        return jnp.all((x >= 0) & (x < nvec))

    @property
    def flat_size(self) -> int:
        """``sum(nvec)``, the length of the concatenated one-hot encodings."""
        return sum(self.flat_nvec)

    def flatten(self, x: ArrayLike) -> Float[Array, " flat_size"]:
        """Concatenates the one-hot encodings of the elements, in C order.

        Element ``i`` (of the ravelled array) is one-hot encoded in a block of
        length ``nvec[i]``; an out-of-range value gives a block of zeros.

        Args:
            x: An element, of shape `shape`.

        Returns:
            Float32 vector of length ``sum(nvec)``.

        Raises:
            ValueError: If `x` does not have shape `shape`.
        """
        x = jnp.ravel(checked_element(self, x))
        positions, _ = _padded_layout(self.flat_nvec)
        one_hot = jax.nn.one_hot(x, max(self.flat_nvec), dtype=jnp.float32)
        return jnp.ravel(one_hot)[positions]

    def unflatten(self, flat: ArrayLike) -> Int[Array, "..."]:
        """Decodes each one-hot block to the index of its largest entry.

        Args:
            flat: Vector of length ``sum(nvec)``.

        Returns:
            Int32 array of shape `shape`.

        Raises:
            ValueError: If `flat` does not have shape ``(flat_size,)``.
        """
        flat = checked_flat(self, flat)
        _, gather = _padded_layout(self.flat_nvec)
        blocks = jnp.where(gather >= 0, flat[np.maximum(gather, 0)], -jnp.inf)
        return jnp.reshape(jnp.argmax(blocks, axis=-1), self.shape).astype(jnp.int32)

    def __eq__(self, other: object, /) -> bool:
        return type(other) is type(self) and other.nvec == self.nvec

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.nvec))


def _positive_counts(nvec: Any) -> np.ndarray | None:
    """`nvec` as an int64 array if it is a valid `nvec`, else None."""
    try:
        counts = np.asarray(nvec)
        entries = np.asarray(nvec, dtype=object).ravel()
    except Exception:  # ragged lists, tracers: not a valid nvec either way
        return None
    if any(isinstance(n, bool | np.bool_) for n in entries):
        return None
    if (
        counts.ndim < 1
        or counts.size < 1
        or counts.dtype.kind not in "iuf"
        or not np.all(np.isfinite(counts))
        or not np.all(counts == np.round(counts))
        or not np.all((counts >= 1) & (counts <= _INT32_MAX))
    ):
        return None
    return counts.astype(np.int64)


def _nested_tuple(x: Any) -> Any:
    return tuple(_nested_tuple(i) for i in x) if isinstance(x, list) else int(x)


def _padded_layout(flat_nvec: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Static index maps between the flat encoding and padded one-hot blocks.

    Returns:
        ``(positions, gather)``: `positions` (length ``sum(nvec)``) indexes the
        ravelled ``(k, max(nvec))`` block array at every real entry, in order;
        `gather` (shape ``(k, max(nvec))``) gives the flat index of each block
        entry, or -1 for padding.
    """
    width = max(flat_nvec)
    column = np.arange(width)
    starts = np.cumsum((0, *flat_nvec[:-1]))
    valid = column[None, :] < np.asarray(flat_nvec)[:, None]
    gather = np.where(valid, starts[:, None] + column[None, :], -1)
    positions = np.flatnonzero(valid)
    return positions, gather
