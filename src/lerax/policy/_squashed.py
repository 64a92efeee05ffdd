"""A diagonal Gaussian squashed by ``tanh`` into a box: SAC's action distribution."""

import math
from typing import final

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Key

from ._distribution import AbstractDistribution

__all__ = ["SquashedDiagonalGaussian"]

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
_LOG_TWO = math.log(2.0)


@final
class SquashedDiagonalGaussian(AbstractDistribution):
    """``low + (tanh(u) + 1) / 2 * (high - low)`` for a diagonal Gaussian ``u``.

    The Gaussian lives in the pre-squash space (`mean`, `log_std`); ``tanh``
    maps it into (-1, 1) and an affine map into the box ``[low, high]``, so
    every sample is a valid action of the environment's scale. The density
    follows from the change of variables: per component,

        log p(a) = log N(u; mean, std) - log(1 - tanh(u)^2) - log((high - low) / 2)

    with ``u = atanh(y)`` and ``y`` the action scaled to [-1, 1]. The middle
    term is computed as ``2 (log 2 - u - softplus(-2 u))``, exact and finite
    for any ``u`` (unlike ``log(1 - y^2 + 1e-6)``, whose small constant
    Stable-Baselines3 adds to avoid ``log(0)``).

    `sample_and_log_prob` is what SAC uses: a reparameterised sample, with
    its log-density computed from the Gaussian sample itself, never through
    ``atanh`` of a value rounded to ±1.

    Example:
        ```python
        d = SquashedDiagonalGaussian(jnp.zeros(1), jnp.zeros(1), -2.0, 2.0)
        action, log_prob = d.sample_and_log_prob(key=jax.random.key(0))
        d.mode()  # Array([0.])
        ```

    Attributes:
        mean: Mean of the pre-squash Gaussian.
        log_std: Log standard deviation of the pre-squash Gaussian (broadcast
            to `mean.shape`).
        low: Lower bounds of the actions (broadcast to `mean.shape`).
        high: Upper bounds of the actions (broadcast to `mean.shape`).
    """

    mean: Float[Array, "*shape"]
    log_std: Float[Array, "*shape"]
    low: Float[Array, "*shape"]
    high: Float[Array, "*shape"]

    def __init__(
        self,
        mean: Float[ArrayLike, "*shape"],
        log_std: Float[ArrayLike, "*shape"],
        low: Float[ArrayLike, "*shape"] = -1.0,
        high: Float[ArrayLike, "*shape"] = 1.0,
    ):
        """Builds the distribution.

        Args:
            mean: Mean of the pre-squash Gaussian; its shape is the event's.
            log_std: Its log standard deviation; broadcast to `mean`'s shape.
            low: Lower bounds (finite), broadcast to `mean`'s shape.
            high: Upper bounds (finite, above `low`), broadcast likewise.
        """
        self.mean = jnp.asarray(mean)
        shape, dtype = self.mean.shape, self.mean.dtype
        self.log_std = jnp.broadcast_to(jnp.asarray(log_std, dtype), shape)
        self.low = jnp.broadcast_to(jnp.asarray(low, dtype), shape)
        self.high = jnp.broadcast_to(jnp.asarray(high, dtype), shape)

    @property
    def std(self) -> Float[Array, "*shape"]:
        """Standard deviation of the pre-squash Gaussian."""
        return jnp.exp(self.log_std)

    def sample(self, *, key: Key[Array, ""]) -> Float[Array, "*shape"]:
        return self._squash(self._gaussian_sample(key))

    def sample_and_log_prob(
        self, *, key: Key[Array, ""]
    ) -> tuple[Float[Array, "*shape"], Float[Array, ""]]:
        """A reparameterised sample and its log-density.

        The sample is differentiable with respect to `mean` and `log_std`
        (``u = mean + std * noise``); the log-density is computed from ``u``,
        so it stays exact even where ``tanh(u)`` rounds to ±1.

        Returns:
            ``(action, log_prob)``: the action in ``[low, high]`` and
            ``log_prob`` as `log_prob` defines it.
        """
        u = self._gaussian_sample(key)
        return self._squash(u), self._log_prob_pre_squash(u)

    def mode(self) -> Float[Array, "*shape"]:
        """``tanh(mean)`` mapped to the bounds: the deterministic action.

        This is the image of the Gaussian's mode, as Stable-Baselines3 acts
        deterministically; the squashed density's own maximum can lie
        elsewhere (nearer a bound) when the standard deviation is large.
        """
        return self._squash(self.mean)

    def log_prob(self, value: Float[Array, "*shape"]) -> Float[Array, ""]:
        """Log-density of an action (in the box's scale), summed over components.

        The action is scaled to [-1, 1] and clipped to ``±(1 - eps)`` (``eps``
        the dtype's machine epsilon, 1.2e-7 in float32) before ``atanh``, so
        that actions on or beyond the bounds (an environment's limits, or a
        rounded ``tanh``) get a finite, very low log-density instead of
        ``-inf`` or NaN: ``atanh(1 - eps)`` is about 8.3 in float32.
        """
        value = jnp.asarray(value, self.mean.dtype)
        scaled = 2.0 * (value - self.low) / (self.high - self.low) - 1.0
        limit = 1.0 - jnp.finfo(self.mean.dtype).eps
        return self._log_prob_pre_squash(jnp.arctanh(jnp.clip(scaled, -limit, limit)))

    def entropy(self) -> Float[Array, ""]:
        """The pre-squash Gaussian's entropy, ``sum(0.5 + log(2 pi) / 2 + log_std)``.

        The squashed distribution's entropy has no closed form
        (Stable-Baselines3 returns None); this is the entropy of ``u``, an
        upper bound on that of ``tanh(u)`` (``tanh`` contracts volume), which
        grows and shrinks with it. It omits the constant
        ``sum(log((high - low) / 2))`` of the affine map. Useful for logging;
        SAC's entropy term uses `sample_and_log_prob` instead.
        """
        return jnp.sum(0.5 + _HALF_LOG_TWO_PI + self.log_std)

    def _gaussian_sample(self, key: Key[Array, ""]) -> Float[Array, "*shape"]:
        noise = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        return self.mean + self.std * noise

    def _squash(self, u: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        # The clip only guards against rounding in the affine map (tanh(u) = 1
        # need not give exactly `high`); inside the box its gradient is 1.
        action = self.low + 0.5 * (jnp.tanh(u) + 1.0) * (self.high - self.low)
        return jnp.clip(action, self.low, self.high)

    def _log_prob_pre_squash(self, u: Float[Array, "*shape"]) -> Float[Array, ""]:
        z = (u - self.mean) / self.std
        gaussian = -0.5 * jnp.square(z) - self.log_std - _HALF_LOG_TWO_PI
        # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2 u)), stable for any u.
        log_tanh_derivative = 2.0 * (_LOG_TWO - u - jax.nn.softplus(-2.0 * u))
        log_half_width = jnp.log(0.5 * (self.high - self.low))
        return jnp.sum(gaussian - log_tanh_derivative - log_half_width)
