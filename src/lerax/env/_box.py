"""Box-shaped (possibly unbounded) space of real or integer arrays."""

import math
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, DTypeLike, Float, PRNGKeyArray, Shaped

from ._flat import checked_element, checked_flat
from ._space import AbstractSpace

__all__ = ["Box"]


@final
class Box(AbstractSpace):
    """Arrays of a fixed shape with elementwise bounds ``low <= x <= high``.

    Bounds may be infinite for floating dtypes. Sampling is uniform where both
    bounds are finite, standard normal where both are infinite, and a shifted
    exponential where only one is finite (the same rule as Gymnasium's `Box`).

    Attributes:
        low: Lower bounds, broadcast to `shape`, with dtype `dtype`.
        high: Upper bounds, broadcast to `shape`, with dtype `dtype`.
        shape: Shape of one element.
        dtype: Element dtype (canonical JAX dtype, so float64 becomes float32
            unless 64-bit mode is enabled).
    """

    low: Shaped[Array, "..."]
    high: Shaped[Array, "..."]
    shape: tuple[int, ...] = eqx.field(static=True)
    dtype: np.dtype = eqx.field(static=True)

    def __init__(
        self,
        low: ArrayLike,
        high: ArrayLike,
        shape: tuple[int, ...] | None = None,
        dtype: DTypeLike = jnp.float32,
    ):
        """Creates the space.

        Args:
            low: Lower bounds, a scalar or an array broadcastable to `shape`.
            high: Upper bounds, a scalar or an array broadcastable to `shape`.
            shape: Element shape; inferred by broadcasting `low` with `high` when
                omitted.
            dtype: Element dtype.

        Raises:
            ValueError: If `dtype` is neither integer nor floating, the bounds do
                not broadcast to `shape`, are NaN, or some lower bound exceeds its
                upper bound.
        """
        dtype = np.dtype(jax.dtypes.canonicalize_dtype(dtype))
        if not (
            jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)
        ):
            raise ValueError(f"Box needs an integer or floating dtype, got {dtype}")
        # jnp rather than np throughout: deserialization rebuilds the module
        # abstractly, with traced bounds.
        low_arr = jnp.asarray(low)
        high_arr = jnp.asarray(high)
        if shape is None:
            shape = jnp.broadcast_shapes(low_arr.shape, high_arr.shape)
        shape = tuple(int(s) for s in shape)
        try:
            low_arr = jnp.broadcast_to(low_arr, shape).astype(dtype)
            high_arr = jnp.broadcast_to(high_arr, shape).astype(dtype)
        except ValueError as e:
            raise ValueError(
                f"Box bounds of shapes {low_arr.shape} and {high_arr.shape} do not "
                f"broadcast to shape {shape}"
            ) from e
        try:
            nan = bool(jnp.any(jnp.isnan(low_arr) | jnp.isnan(high_arr)))
            inverted = bool(jnp.any(low_arr > high_arr))
        except jax.errors.ConcretizationTypeError:
            # Traced bounds: deserialization builds an abstract skeleton, whose
            # values come from a file written from an already checked Box.
            nan = inverted = False
        if nan:
            raise ValueError("Box bounds must not be NaN")
        if inverted:
            raise ValueError("Box needs low <= high elementwise")
        self.low = low_arr
        self.high = high_arr
        self.shape = shape  # pyright: ignore[reportIncompatibleVariableOverride]
        self.dtype = dtype  # pyright: ignore[reportIncompatibleVariableOverride]

    def sample(self, *, key: PRNGKeyArray) -> Shaped[Array, "..."]:
        """Draws one random element.

        Args:
            key: PRNG key.

        Returns:
            Array of shape `shape` and dtype `dtype` inside the bounds.
        """
        if jnp.issubdtype(self.dtype, jnp.integer):
            # randint's upper bound is exclusive; widen so high is reachable.
            wide = jnp.int64 if jax.config.read("jax_enable_x64") else jnp.int32
            return jax.random.randint(
                key,
                self.shape,
                self.low.astype(wide),
                self.high.astype(wide) + 1,
                dtype=wide,
            ).astype(self.dtype)
        ukey, nkey, ekey = jax.random.split(key, 3)
        low_finite = jnp.isfinite(self.low)
        high_finite = jnp.isfinite(self.high)
        low = jnp.where(low_finite, self.low, 0)
        high = jnp.where(high_finite, self.high, 0)
        u = jax.random.uniform(ukey, self.shape, self.dtype)
        # Convex combination instead of low + u * (high - low): high - low can
        # overflow for bounds near the dtype's limits.
        uniform = jnp.clip(low * (1 - u) + high * u, low, high)
        normal = jax.random.normal(nkey, self.shape, self.dtype)
        expo = jax.random.exponential(ekey, self.shape, self.dtype)
        return jnp.where(
            low_finite & high_finite,
            uniform,
            jnp.where(
                low_finite, low + expo, jnp.where(high_finite, high - expo, normal)
            ),
        )

    def contains(self, x: ArrayLike) -> Bool[Array, ""]:
        """Tells whether `x` has shape `shape` and lies within the bounds.

        For an integer box, `x` must also hold whole numbers.

        Args:
            x: Candidate element.

        Returns:
            Scalar boolean array.
        """
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.array(False)
        inside = jnp.all((x >= self.low) & (x <= self.high))
        if jnp.issubdtype(self.dtype, jnp.integer) and not jnp.issubdtype(
            x.dtype, jnp.integer
        ):
            inside = inside & jnp.all(x == jnp.round(x))
        return inside

    @property
    def flat_size(self) -> int:
        """Number of elements, ``prod(shape)``."""
        return math.prod(self.shape)

    def flatten(self, x: ArrayLike) -> Float[Array, " flat_size"]:
        """Ravels `x` (C order) into a float32 vector.

        Args:
            x: An element, of shape `shape`.

        Returns:
            Float32 vector of length ``prod(shape)``.

        Raises:
            ValueError: If `x` does not have shape `shape`.
        """
        return jnp.ravel(checked_element(self, x).astype(jnp.float32))

    def unflatten(self, flat: ArrayLike) -> Shaped[Array, "..."]:
        """Reshapes a vector made by `flatten` into an element.

        An integer box rounds to the nearest integer before converting.

        Args:
            flat: Vector of length `flat_size`.

        Returns:
            Array of shape `shape` and dtype `dtype`.

        Raises:
            ValueError: If `flat` does not have shape ``(flat_size,)``.
        """
        x = jnp.reshape(checked_flat(self, flat), self.shape)
        if jnp.issubdtype(self.dtype, jnp.integer):
            x = jnp.round(x)
        return x.astype(self.dtype)

    def __eq__(self, other: object, /) -> bool:
        return (
            isinstance(other, Box)
            and other.shape == self.shape
            and other.dtype == self.dtype
            and bool(np.array_equal(np.asarray(other.low), np.asarray(self.low)))
            and bool(np.array_equal(np.asarray(other.high), np.asarray(self.high)))
        )

    def __hash__(self) -> int:
        return hash(
            (
                type(self).__name__,
                self.shape,
                self.dtype.str,
                # + 0 maps -0.0 to 0.0, which compare equal.
                (np.asarray(self.low) + 0).tobytes(),
                (np.asarray(self.high) + 0).tobytes(),
            )
        )
