"""Running mean and variance, and the frozen observation normaliser built on it."""

from typing import final

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PyTree

from lerax.utils import Serializable

from .._space import AbstractSpace
from ._checks import nonnegative, optional_positive

__all__ = ["ObservationNormalizer", "RunningMeanStd"]

# The count a fresh RunningMeanStd starts from (Gymnasium's and Stable-Baselines3's
# `epsilon`): the prior mean 0 and variance 1 weigh as much as 1e-4 samples.
_PRIOR_COUNT = 1e-4


@final
class RunningMeanStd(Serializable):
    """The mean, variance and count of every sample seen so far, elementwise.

    Gymnasium's and Stable-Baselines3's ``RunningMeanStd`` as an immutable
    float32 module: `update` returns new statistics, combining the old ones with
    a sample by the parallel algorithm of Chan, Golub and LeVeque (the variance
    is the population variance, ``ddof=0``). A fresh one holds mean 0 and
    variance 1 weighted as ``1e-4`` samples, as theirs do.

    Example:

    ```python
    stats = RunningMeanStd.initial((3,))
    stats = stats.update(jnp.array([1.0, 2.0, 3.0]))
    stats.mean  # ~[1, 2, 3]
    ```

    Attributes:
        mean: Mean of the samples, float32.
        var: Population variance of the samples, float32, same shape.
        count: Number of samples (plus the prior's 1e-4), a float32 scalar; with
            leading batch axes on all three (e.g. one set per vmapped
            environment), `merged` combines them.
    """

    mean: Float[Array, "*shape"]
    var: Float[Array, "*shape"]
    count: Float[Array, ""]

    def __init__(self, mean: ArrayLike, var: ArrayLike, count: ArrayLike):
        """Wraps given statistics (see `initial` for fresh ones).

        Args:
            mean: The mean.
            var: The variance, of the mean's shape.
            count: The number of samples they summarise.

        Raises:
            ValueError: If `var` does not have the shape of `mean`.
        """
        self.mean = jnp.asarray(mean, jnp.float32)
        self.var = jnp.asarray(var, jnp.float32)
        self.count = jnp.asarray(count, jnp.float32)
        if self.var.shape != self.mean.shape:
            raise ValueError(
                f"var must have the shape of mean, {self.mean.shape}, "
                f"got shape {self.var.shape}"
            )

    @classmethod
    def initial(cls, shape: tuple[int, ...] = ()) -> "RunningMeanStd":
        """Fresh statistics of samples of `shape`: mean 0, variance 1, count 1e-4."""
        return cls(jnp.zeros(shape), jnp.ones(shape), _PRIOR_COUNT)

    def update(self, x: ArrayLike) -> "RunningMeanStd":
        """The statistics with one more sample, `x` (of the mean's shape).

        The same arithmetic as Gymnasium's ``update(np.array([x]))``, in float32.
        """
        x = jnp.asarray(x, jnp.float32)
        return self.combine(RunningMeanStd(x, jnp.zeros_like(x), 1.0))

    def combine(self, other: "RunningMeanStd") -> "RunningMeanStd":
        """The statistics of the samples of both `self` and `other`.

        Gymnasium's ``update_mean_var_count_from_moments``, term for term.
        """
        delta = other.mean - self.mean
        total = self.count + other.count
        mean = self.mean + delta * other.count / total
        m2 = (
            self.var * self.count
            + other.var * other.count
            + jnp.square(delta) * self.count * other.count / total
        )
        return RunningMeanStd(mean, m2 / total, total)

    def merged(self) -> "RunningMeanStd":
        """One set of statistics from a batch of them (leading axes of `count`).

        A batch of environment states under `jax.vmap` holds one set per
        environment; this is the set of all their samples together, by the same
        parallel formula as `combine`. Unbatched statistics are returned as is.
        """
        axes = tuple(range(self.count.ndim))
        if not axes:
            return self
        counts = self.count.reshape(
            self.count.shape + (1,) * (self.mean.ndim - len(axes))
        )
        total = jnp.sum(self.count, axis=axes)
        mean = jnp.sum(counts * self.mean, axis=axes) / total
        m2 = jnp.sum(
            counts * self.var + counts * jnp.square(self.mean - mean), axis=axes
        )
        return RunningMeanStd(mean, m2 / total, total)

    def normalize(
        self, x: ArrayLike, epsilon: float, clip: float | None = None
    ) -> Float[Array, "*shape"]:
        """``(x - mean) / sqrt(var + epsilon)`` in float32, clipped to ``±clip``."""
        normalized = (jnp.asarray(x, jnp.float32) - self.mean) / jnp.sqrt(
            self.var + epsilon
        )
        if clip is not None:
            normalized = jnp.clip(normalized, -clip, clip)
        return normalized


@final
class ObservationNormalizer(Serializable):
    """A frozen observation normalisation: what a policy needs to read raw
    observations the way `NormalizeObservation` showed them in training.

    ``normalizer(observation)`` is ``(observation - mean) / sqrt(var + epsilon)``
    with the stored statistics, clipped to ``±clip`` when `clip` is set, exactly
    as `NormalizeObservation` computes it. Get one from a trained environment
    state with `NormalizeObservation.normalizer` or `observation_normalizer`;
    `lerax.policy.NormalizedPolicy` stores one, so a saved policy carries its
    statistics.

    Attributes:
        statistics: The frozen statistics.
        epsilon: Added to the variance before the square root.
        clip: Bound on the normalised values, or `None`.
        observation_space: Space of the raw observations (the `Box` that
            `NormalizeObservation` wraps).
    """

    statistics: RunningMeanStd
    epsilon: float
    clip: float | None
    observation_space: AbstractSpace

    def __init__(
        self,
        statistics: RunningMeanStd,
        observation_space: AbstractSpace,
        *,
        epsilon: float = 1e-8,
        clip: float | None = None,
    ):
        """Freezes `statistics` for observations of `observation_space`.

        Args:
            statistics: Unbatched statistics (see `RunningMeanStd.merged`).
            observation_space: Space of the raw observations.
            epsilon: Added to the variance before the square root.
            clip: Bound on the normalised values, or `None` for none.

        Raises:
            TypeError: If `statistics` is not a `RunningMeanStd`.
            ValueError: If `epsilon` is negative, `clip` is not positive, or the
                statistics are batched or not of the observations' shape.
        """
        if not isinstance(statistics, RunningMeanStd):
            raise TypeError(
                f"statistics must be a RunningMeanStd, got {type(statistics).__name__}"
            )
        if statistics.count.ndim or statistics.mean.shape != observation_space.shape:
            raise ValueError(
                f"statistics must be unbatched, of the observations' shape "
                f"{observation_space.shape}, got mean of shape "
                f"{statistics.mean.shape} and count of shape {statistics.count.shape}"
            )
        self.statistics = statistics
        self.epsilon = nonnegative("epsilon", epsilon)
        self.clip = optional_positive("clip", clip)
        self.observation_space = observation_space

    def __call__(self, observation: PyTree[Array]) -> Float[Array, "*shape"]:
        """Normalises one raw observation (use `jax.vmap` for a batch)."""
        return self.statistics.normalize(observation, self.epsilon, self.clip)
