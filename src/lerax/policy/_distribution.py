"""Small, hand-written action distributions for single (unbatched) events."""

import abc
import math
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Int8, Key

__all__ = [
    "AbstractDistribution",
    "Bernoulli",
    "Categorical",
    "DiagonalGaussian",
    "MultiCategorical",
]

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

    def masked(self, mask: Bool[ArrayLike, "..."]) -> "AbstractDistribution":
        """The distribution restricted to the actions `mask` allows.

        Only distributions over discrete choices can be masked; see
        `Categorical.masked` and `MultiCategorical.masked`.

        Raises:
            TypeError: Always, for a distribution that cannot be masked.
        """
        raise TypeError(
            f"{type(self).__name__} does not support action masks; only discrete "
            "actions (Discrete, MultiDiscrete) can be masked"
        )


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

    def masked(self, mask: Bool[ArrayLike, " n"]) -> "Categorical":
        """The distribution restricted to the categories `mask` allows.

        Forbidden categories get a hugely negative finite logit, so their
        probability is exactly 0 while `log_prob` and `entropy` stay finite (and so
        do their gradients). A mask that forbids every category is ignored.

        Args:
            mask: Boolean vector of shape ``(n,)``, true where allowed.

        Raises:
            ValueError: If `mask` does not have shape ``(n,)``.
        """
        mask = _checked_mask(mask, self.logits.shape)
        return Categorical(_masked_logits(self.logits, mask[None, :], True)[0])


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


@final
class MultiCategorical(AbstractDistribution):
    """Independent categoricals, one per element of a `MultiDiscrete` action.

    Element ``i`` (in C order) takes values in ``{0, ..., nvec[i] - 1}``; the
    event is an int32 array of the shape of `nvec`. The logits of all elements are
    given as one flat vector, element 0's first, as the actor's output and
    ``MultiDiscrete.flatten`` lay them out. Log-probabilities and entropies are
    sums over the elements.

    Attributes:
        logits: Normalised log-probabilities, one row per element, padded to
            ``(len, max(nvec))``; padding entries have probability 0.
        nvec: Number of values of each element, ravelled.
        shape: Shape of an event (of `nvec`).
    """

    logits: Float[Array, "k m"]
    nvec: tuple[int, ...] = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, logits: Float[ArrayLike, " total"], nvec: npt.ArrayLike):
        """Builds the distribution.

        Args:
            logits: Unnormalised logits, shape ``(sum(nvec),)``: element 0's
                ``nvec[0]`` logits first, then element 1's, and so on.
            nvec: Number of values of each element, positive integers; its shape
                is the shape of an event.

        Raises:
            ValueError: If `logits` does not have shape ``(sum(nvec),)``.
        """
        counts = np.asarray(nvec)
        self.nvec = tuple(int(n) for n in counts.ravel())
        self.shape = tuple(int(d) for d in counts.shape)
        logits = jnp.asarray(logits)
        if logits.shape != (sum(self.nvec),):
            raise ValueError(
                f"logits must have shape ({sum(self.nvec)},) for nvec {self.nvec}, "
                f"got shape {logits.shape}"
            )
        _, gather = _padded_layout(self.nvec)
        padded = jnp.where(
            gather >= 0, logits[np.maximum(gather, 0)], _lowest(logits.dtype)
        )
        self.logits = jax.nn.log_softmax(padded, axis=-1)

    @property
    def probs(self) -> Float[Array, "k m"]:
        """Probabilities of each value of each element (padded like `logits`)."""
        return jnp.exp(self.logits)

    def sample(self, *, key: Key[Array, ""]) -> Int[Array, "*shape"]:
        choice = jax.random.categorical(key, self.logits, axis=-1)
        return jnp.reshape(choice, self.shape).astype(jnp.int32)

    def mode(self) -> Int[Array, "*shape"]:
        return jnp.reshape(jnp.argmax(self.logits, axis=-1), self.shape).astype(
            jnp.int32
        )

    def log_prob(self, value: Int[Array, "*shape"]) -> Float[Array, ""]:
        # As for Categorical, actions are assumed valid (in range).
        index = jnp.ravel(jnp.asarray(value, dtype=jnp.int32))
        return jnp.sum(jnp.take_along_axis(self.logits, index[:, None], axis=-1))

    def entropy(self) -> Float[Array, ""]:
        # Padding and forbidden entries hold finite logits of probability 0.
        return -jnp.sum(self.probs * self.logits)

    def masked(self, mask: Bool[ArrayLike, " total"]) -> "MultiCategorical":
        """The distribution restricted to the values `mask` allows.

        Forbidden values get a hugely negative finite logit, as in
        `Categorical.masked`.
        Where the mask forbids every value of an element, it is ignored for that
        element.

        Args:
            mask: Boolean vector of shape ``(sum(nvec),)``, laid out as the
                logits: element 0's ``nvec[0]`` entries first.

        Raises:
            ValueError: If `mask` does not have shape ``(sum(nvec),)``.
        """
        mask = _checked_mask(mask, (sum(self.nvec),))
        positions, gather = _padded_layout(self.nvec)
        padded = jnp.where(gather >= 0, mask[np.maximum(gather, 0)], False)
        logits = _masked_logits(self.logits, padded, gather >= 0)
        return MultiCategorical(
            jnp.ravel(logits)[positions], np.reshape(np.asarray(self.nvec), self.shape)
        )


@final
class Bernoulli(AbstractDistribution):
    """Independent Bernoulli variables, one per element of a `MultiBinary` action.

    The event is an int8 array of 0s and 1s of shape `logits.shape` (the dtype of
    `MultiBinary`); log-probabilities and entropies are sums over the elements.

    Attributes:
        logits: Log-odds of each element being 1.
    """

    logits: Float[Array, "*shape"]

    def __init__(self, logits: Float[ArrayLike, "*shape"]):
        """Builds the distribution from the log-odds of each element being 1."""
        self.logits = jnp.asarray(logits)

    @property
    def probs(self) -> Float[Array, "*shape"]:
        """Probability of each element being 1."""
        return jax.nn.sigmoid(self.logits)

    def sample(self, *, key: Key[Array, ""]) -> Int8[Array, "*shape"]:
        return jax.random.bernoulli(key, self.probs).astype(jnp.int8)

    def mode(self) -> Int8[Array, "*shape"]:
        return (self.logits > 0).astype(jnp.int8)

    def log_prob(self, value: Int8[Array, "*shape"]) -> Float[Array, ""]:
        one = jnp.asarray(value).astype(self.logits.dtype)
        return jnp.sum(
            one * jax.nn.log_sigmoid(self.logits)
            + (1 - one) * jax.nn.log_sigmoid(-self.logits)
        )

    def entropy(self) -> Float[Array, ""]:
        # log_sigmoid of a finite logit is finite: no 0 * -inf NaN.
        p = self.probs
        return -jnp.sum(
            p * jax.nn.log_sigmoid(self.logits)
            + (1 - p) * jax.nn.log_sigmoid(-self.logits)
        )


def _lowest(dtype: Any) -> Array:
    """A logit of probability exactly 0: the lowest value of `dtype` over 2**16.

    Finite, unlike ``-inf``, so that ``0 * logit`` (entropy) and the gradients
    stay finite; and far enough above the lowest value that summing it over many
    elements (a `MultiCategorical` log-probability) cannot overflow to ``-inf``.
    """
    return jnp.asarray(jnp.finfo(dtype).min / 2**16, dtype)


def _checked_mask(mask: Any, shape: tuple[int, ...]) -> Bool[Array, "..."]:
    mask = jnp.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"action_mask must have shape {shape}, got shape {mask.shape}")
    return mask.astype(bool)


def _masked_logits(
    logits: Float[Array, "k m"], mask: Bool[Array, "k m"], valid: Any
) -> Float[Array, "k m"]:
    """Row-wise masking: forbidden entries get the `_lowest` logit; a row whose
    valid entries are all forbidden is left as it was."""
    allowed = mask | (valid & ~jnp.any(mask, axis=-1, keepdims=True))
    return jnp.where(allowed, logits, _lowest(logits.dtype))


def _padded_layout(nvec: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Static index maps between a flat vector of per-element blocks (lengths
    `nvec`) and a padded ``(len(nvec), max(nvec))`` array.

    Returns:
        ``(positions, gather)``: `positions` indexes the ravelled padded array at
        every real entry, in order; `gather` gives the flat index of each padded
        entry, or -1 for padding.
    """
    column = np.arange(max(nvec))
    starts = np.cumsum((0, *nvec[:-1]))
    valid = column[None, :] < np.asarray(nvec)[:, None]
    return np.flatnonzero(valid), np.where(valid, starts[:, None] + column, -1)
