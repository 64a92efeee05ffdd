"""Small, hand-written action distributions for single (unbatched) events."""

import abc
import math
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Key

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


class AbstractDistribution(eqx.Module):
    """A distribution over a single action.

    All methods act on one event; batch with `jax.vmap`.
    """

    @abc.abstractmethod
    def sample(self, *, key: Key[Array, ""]) -> Array:
        """Draws one action."""

    @abc.abstractmethod
    def mode(self) -> Array:
        """Returns the most likely action (used for deterministic prediction)."""

    @abc.abstractmethod
    def log_prob(self, value: Array) -> Float[Array, ""]:
        """Log-probability (or log-density) of `value`, as a scalar."""

    @abc.abstractmethod
    def entropy(self) -> Float[Array, ""]:
        """Entropy (differential entropy for continuous distributions)."""


@final
class Categorical(AbstractDistribution):
    """Categorical distribution over `{0, ..., n - 1}`.

    Attributes:
        logits: Normalised log-probabilities, shape `(n,)`.
    """

    logits: Float[Array, " n"]

    def __init__(self, logits: Float[Array, " n"]):
        """Builds the distribution from unnormalised logits of shape `(n,)`."""
        self.logits = jax.nn.log_softmax(jnp.asarray(logits))

    @property
    def probs(self) -> Float[Array, " n"]:
        """Probabilities of each category."""
        return jnp.exp(self.logits)

    def sample(self, *, key: Key[Array, ""]) -> Int[Array, ""]:
        return jax.random.categorical(key, self.logits).astype(jnp.int32)

    def mode(self) -> Int[Array, ""]:
        return jnp.argmax(self.logits).astype(jnp.int32)

    def log_prob(self, value: Int[Array, ""]) -> Float[Array, ""]:
        # Out-of-range indices are clamped by JAX indexing; actions are assumed valid.
        return self.logits[jnp.asarray(value, dtype=jnp.int32)]

    def entropy(self) -> Float[Array, ""]:
        # log_softmax of finite logits is finite, so an underflowed zero
        # probability contributes exactly 0 (no 0 * -inf NaN).
        return -jnp.sum(self.probs * self.logits)


@final
class DiagonalGaussian(AbstractDistribution):
    """Gaussian with independent components; the event shape is `mean.shape`.

    Attributes:
        mean: Mean of each component.
        log_std: Log standard deviation of each component (broadcast to
            `mean.shape`).
    """

    mean: Float[Array, "*shape"]
    log_std: Float[Array, "*shape"]

    def __init__(self, mean: Float[Array, "*shape"], log_std: Float[Array, "*shape"]):
        """Builds the distribution; `log_std` must broadcast to `mean.shape`."""
        self.mean = jnp.asarray(mean)
        self.log_std = jnp.broadcast_to(jnp.asarray(log_std), self.mean.shape)

    @property
    def std(self) -> Float[Array, "*shape"]:
        """Standard deviation of each component."""
        return jnp.exp(self.log_std)

    def sample(self, *, key: Key[Array, ""]) -> Float[Array, "*shape"]:
        noise = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        return self.mean + self.std * noise

    def mode(self) -> Float[Array, "*shape"]:
        return self.mean

    def log_prob(self, value: Float[Array, "*shape"]) -> Float[Array, ""]:
        z = (value - self.mean) / self.std
        return jnp.sum(-0.5 * jnp.square(z) - self.log_std - _HALF_LOG_TWO_PI)

    def entropy(self) -> Float[Array, ""]:
        return jnp.sum(0.5 + _HALF_LOG_TWO_PI + self.log_std)
