"""Stateful wrappers with running statistics: `NormalizeObservation`,
`NormalizeReward`, and `observation_normalizer`."""

from typing import Any, ClassVar, Generic, TypeVar, final

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

from .._box import Box
from .._env import AbstractEnv
from ._base import AbstractWrapper, Start, Transition
from ._checks import (
    boolean,
    box_space,
    nonnegative,
    optional_positive,
    probability,
    wrapped_env,
)
from ._errors import NormalizerNotFoundError
from ._statistics import ObservationNormalizer, RunningMeanStd

__all__ = [
    "NormalizeObservation",
    "NormalizeObservationState",
    "NormalizeReward",
    "NormalizeRewardState",
    "observation_normalizer",
]

StateT = TypeVar("StateT")


@final
class NormalizeObservationState(eqx.Module, Generic[StateT]):
    """State of a `NormalizeObservation`.

    Attributes:
        env_state: The wrapped environment's state.
        statistics: Running statistics of every raw observation seen since the
            last explicit `reset`; automatic resets keep them.
    """

    env_state: StateT
    statistics: RunningMeanStd


@final
class NormalizeObservation(AbstractWrapper[NormalizeObservationState[Any], Box, Any]):
    """Observations normalised by their running mean and variance.

    Each raw observation ``x`` of `env` first updates the running statistics
    (unless `update_running_mean` is off), then becomes ``(x - mean) / sqrt(var
    + epsilon)`` in float32, clipped to ``±clip`` if `clip` is set: Gymnasium's
    ``NormalizeObservation`` (``clip=10.0`` gives Stable-Baselines3's
    ``VecNormalize`` default for observations). The statistics start from
    `statistics` (mean 0, variance 1, count 1e-4 by default) at every explicit
    `reset`.

    **The statistics live in the state** (`NormalizeObservationState`), so the
    wrapper is a pure function and a batch of environments under `jax.vmap`
    keeps one set per environment, as a vector of Gymnasium-wrapped
    environments does. They **survive automatic resets**: `step` starts the
    next episode with `autoreset_env`, which this wrapper implements to carry
    the statistics over (updated with the new episode's first observation)
    instead of starting from `statistics` again.

    **Evaluation**: `frozen` returns a copy that normalises with the statistics
    of a given state and never updates them. **Deployment**: `normalizer` (or
    the function `observation_normalizer`) turns them into an
    `ObservationNormalizer`, which `lerax.policy.NormalizedPolicy` stores so
    that a saved policy reads raw observations exactly as this wrapper showed
    them.

    Example:

    ```python
    env = NormalizeObservation(Pendulum())
    state, obs, info = env.reset(key=key)
    ...
    eval_env = env.frozen(state)  # fixed statistics, for evaluation
    ```

    Attributes:
        env: The wrapped environment, with a `Box` observation space.
        epsilon: Added to the variance before the square root.
        clip: Bound on the normalised values, or `None`.
        statistics: The statistics every explicit `reset` starts from (and,
            with `update_running_mean` off, the fixed ones).
        update_running_mean: Whether observations update the statistics
            (static).
        observation_space: ``Box(-inf, inf)`` (``Box(-clip, clip)`` with `clip`)
            of the wrapped shape, float32.
    """

    env: AbstractEnv[Any, Any, Any]
    epsilon: float
    clip: float | None
    statistics: RunningMeanStd
    update_running_mean: bool = eqx.field(static=True)
    observation_space: Box

    def __init__(
        self,
        env: AbstractEnv[Any, Any, Any],
        *,
        epsilon: float = 1e-8,
        clip: float | None = None,
        statistics: RunningMeanStd | None = None,
        update_running_mean: bool = True,
    ):
        """Wraps `env`.

        Args:
            env: A lerax environment with a `Box` observation space.
            epsilon: Added to the variance before the square root.
            clip: Bound on the normalised values, or `None` for none.
            statistics: Where the statistics start, unbatched and of the
                observations' shape; fresh ones by default.
            update_running_mean: Whether observations update the statistics;
                `False` to normalise with `statistics` as they are.

        Raises:
            TypeError: If `env` is not a lerax environment, `statistics` is not
                a `RunningMeanStd`, or `update_running_mean` is not a bool.
            UnsupportedSpaceError: If the observation space is not a `Box`.
            ValueError: If `epsilon` is negative, `clip` is not positive, or
                `statistics` is batched or of another shape.
        """
        self.env = wrapped_env("NormalizeObservation", env)
        space = box_space("NormalizeObservation", "observation", env.observation_space)
        self.epsilon = nonnegative("epsilon", epsilon)
        self.clip = optional_positive("clip", clip)
        self.statistics = _statistics(statistics, space.shape)
        self.update_running_mean = boolean("update_running_mean", update_running_mean)
        bound = np.inf if self.clip is None else self.clip
        self.observation_space = Box(
            -bound, bound, shape=space.shape, dtype=jnp.float32
        )

    @property
    def action_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's action space."""
        return self.env.action_space

    def reset_env(self, *, key: PRNGKeyArray) -> Start:
        """Starts an episode of `env`, from the statistics `statistics`."""
        inner, observation, info = self.env.reset_env(key=key)
        return self._normalized(inner, self.statistics, observation, info)

    def autoreset_env(
        self, state: NormalizeObservationState[Any], *, key: PRNGKeyArray
    ) -> Start:
        """Starts the next episode of `env`, keeping the statistics."""
        inner, observation, info = self.env.autoreset_env(state.env_state, key=key)
        return self._normalized(inner, state.statistics, observation, info)

    def step_env(
        self,
        state: NormalizeObservationState[Any],
        action: ArrayLike,
        *,
        key: PRNGKeyArray,
    ) -> Transition:
        """Steps `env`, updates the statistics and normalises the observation."""
        inner, observation, reward, terminated, truncated, info = self.env.step_env(
            state.env_state, action, key=key
        )
        state, observation, info = self._normalized(
            inner, state.statistics, observation, info
        )
        return state, observation, reward, terminated, truncated, info

    def inner_state(self, state: NormalizeObservationState[Any]) -> Any:
        """``state.env_state``."""
        return state.env_state

    def current_statistics(
        self, state: NormalizeObservationState[Any] | None = None
    ) -> RunningMeanStd:
        """The statistics of `state`, merged over its batch axes if it is a batch
        of states (`RunningMeanStd.merged`); `statistics` if `state` is `None`."""
        if state is None:
            return self.statistics
        return state.statistics.merged()

    def normalizer(
        self, state: NormalizeObservationState[Any] | None = None
    ) -> ObservationNormalizer:
        """The normalisation of `state` (see `current_statistics`), frozen.

        Args:
            state: A state or a batch of states of this wrapper; `None` for the
                statistics a `reset` starts from.

        Returns:
            An `ObservationNormalizer` of raw observations of the wrapped
            environment, with this wrapper's `epsilon` and `clip`.
        """
        return ObservationNormalizer(
            self.current_statistics(state),
            self.env.observation_space,
            epsilon=self.epsilon,
            clip=self.clip,
        )

    def frozen(
        self, state: NormalizeObservationState[Any] | None = None
    ) -> "NormalizeObservation":
        """A copy normalising with the statistics of `state`, never updated.

        Use it to evaluate a policy trained on this wrapper: every episode
        then sees the same normalisation, whatever it observes.

        Args:
            state: A state or a batch of states (merged) of this wrapper; `None`
                for `statistics`.
        """
        return NormalizeObservation(
            self.env,
            epsilon=self.epsilon,
            clip=self.clip,
            statistics=self.current_statistics(state),
            update_running_mean=False,
        )

    def _normalized(
        self,
        inner: Any,
        statistics: RunningMeanStd,
        observation: PyTree[Array],
        info: dict[str, Any],
    ) -> Start:
        if self.update_running_mean:
            statistics = statistics.update(observation)
        normalized = statistics.normalize(observation, self.epsilon, self.clip)
        return NormalizeObservationState(inner, statistics), normalized, info


@final
class NormalizeRewardState(eqx.Module, Generic[StateT]):
    """State of a `NormalizeReward`.

    Attributes:
        env_state: The wrapped environment's state.
        statistics: Running statistics of the discounted return (scalar).
        discounted_return: The discounted sum of the rewards, float32 (see
            `NormalizeReward`).
    """

    env_state: StateT
    statistics: RunningMeanStd
    discounted_return: Float[Array, ""]


@final
class NormalizeReward(AbstractWrapper[NormalizeRewardState[Any], Any, Any]):
    """Rewards scaled by the running standard deviation of the discounted return.

    Gymnasium's ``NormalizeReward``, step for step: the discounted return
    ``G = G * gamma * (1 - terminated) + reward`` updates the running
    statistics (unless `update_running_mean` is off), and the reward becomes
    ``reward / sqrt(var + epsilon)`` in float32 (not centred), clipped to
    ``±clip`` if `clip` is set (``clip=10.0`` gives Stable-Baselines3's
    ``VecNormalize`` default). As in Gymnasium, ``G`` is zeroed by termination
    only, before the step's reward is added: it carries on across a truncation
    and into the next episode (Stable-Baselines3 zeroes it after every
    episode end instead).

    Like `NormalizeObservation`'s, the statistics and ``G`` live in the state
    (`NormalizeRewardState`) and survive automatic resets; an explicit `reset`
    starts from `statistics` and ``G = 0``. `frozen` gives a copy with fixed
    statistics. Rewards matter only for training, so the statistics need no
    saving with a policy; evaluate returns on the unwrapped environment.

    Example:

    ```python
    env = NormalizeReward(Pendulum(), gamma=0.99)
    ```

    Attributes:
        env: The wrapped environment.
        gamma: Discount factor of ``G``.
        epsilon: Added to the variance before the square root.
        clip: Bound on the scaled rewards, or `None`.
        statistics: The statistics every explicit `reset` starts from (and,
            with `update_running_mean` off, the fixed ones).
        update_running_mean: Whether returns update the statistics (static).
    """

    env: AbstractEnv[Any, Any, Any]
    gamma: float
    epsilon: float
    clip: float | None
    statistics: RunningMeanStd
    update_running_mean: bool = eqx.field(static=True)

    changes_observations: ClassVar[bool] = False

    def __init__(
        self,
        env: AbstractEnv[Any, Any, Any],
        *,
        gamma: float = 0.99,
        epsilon: float = 1e-8,
        clip: float | None = None,
        statistics: RunningMeanStd | None = None,
        update_running_mean: bool = True,
    ):
        """Wraps `env`.

        Args:
            env: Any lerax environment.
            gamma: Discount factor, in ``[0, 1]``.
            epsilon: Added to the variance before the square root.
            clip: Bound on the scaled rewards, or `None` for none.
            statistics: Where the statistics start (scalar, unbatched); fresh
                ones by default.
            update_running_mean: Whether returns update the statistics.

        Raises:
            TypeError: If `env` is not a lerax environment, `statistics` is not
                a `RunningMeanStd`, or `update_running_mean` is not a bool.
            ValueError: If `gamma` is not in ``[0, 1]``, `epsilon` is negative,
                `clip` is not positive, or `statistics` is not scalar.
        """
        self.env = wrapped_env("NormalizeReward", env)
        self.gamma = probability("gamma", gamma)
        self.epsilon = nonnegative("epsilon", epsilon)
        self.clip = optional_positive("clip", clip)
        self.statistics = _statistics(statistics, ())
        self.update_running_mean = boolean("update_running_mean", update_running_mean)

    @property
    def observation_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's observation space."""
        return self.env.observation_space

    @property
    def action_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's action space."""
        return self.env.action_space

    def reset_env(self, *, key: PRNGKeyArray) -> Start:
        """Starts an episode of `env`, from `statistics` and ``G = 0``."""
        inner, observation, info = self.env.reset_env(key=key)
        state = NormalizeRewardState(
            inner, self.statistics, jnp.array(0.0, jnp.float32)
        )
        return state, observation, info

    def autoreset_env(
        self, state: NormalizeRewardState[Any], *, key: PRNGKeyArray
    ) -> Start:
        """Starts the next episode of `env`, keeping the statistics and ``G``."""
        inner, observation, info = self.env.autoreset_env(state.env_state, key=key)
        new = NormalizeRewardState(inner, state.statistics, state.discounted_return)
        return new, observation, info

    def step_env(
        self,
        state: NormalizeRewardState[Any],
        action: ArrayLike,
        *,
        key: PRNGKeyArray,
    ) -> Transition:
        """Steps `env`, updates ``G`` and the statistics, scales the reward."""
        inner, observation, reward, terminated, truncated, info = self.env.step_env(
            state.env_state, action, key=key
        )
        reward = jnp.asarray(reward, jnp.float32)
        kept = jnp.where(jnp.asarray(terminated, bool), 0.0, self.gamma)
        discounted = state.discounted_return * kept + reward
        statistics = state.statistics
        if self.update_running_mean:
            statistics = statistics.update(discounted)
        scaled = reward / jnp.sqrt(statistics.var + self.epsilon)
        if self.clip is not None:
            scaled = jnp.clip(scaled, -self.clip, self.clip)
        new = NormalizeRewardState(inner, statistics, discounted)
        return new, observation, scaled, terminated, truncated, info

    def inner_state(self, state: NormalizeRewardState[Any]) -> Any:
        """``state.env_state``."""
        return state.env_state

    def current_statistics(
        self, state: NormalizeRewardState[Any] | None = None
    ) -> RunningMeanStd:
        """The statistics of `state`, merged over its batch axes if it is a batch
        of states; `statistics` if `state` is `None`."""
        if state is None:
            return self.statistics
        return state.statistics.merged()

    def frozen(
        self, state: NormalizeRewardState[Any] | None = None
    ) -> "NormalizeReward":
        """A copy scaling with the statistics of `state` (merged over its batch
        axes; `statistics` if `None`), never updated."""
        return NormalizeReward(
            self.env,
            gamma=self.gamma,
            epsilon=self.epsilon,
            clip=self.clip,
            statistics=self.current_statistics(state),
            update_running_mean=False,
        )


def observation_normalizer(
    env: AbstractEnv[Any, Any, Any], state: Any = None
) -> ObservationNormalizer | None:
    """The `NormalizeObservation` normalisation that `env`'s observations went
    through, frozen; `None` if `env` has no `NormalizeObservation`.

    The wrapper is looked for from the outside in, through wrappers whose
    ``changes_observations`` is `False` (reward and action wrappers,
    `TimeLimit`, `RecordEpisodeStatistics`, `NormalizeReward`), so that the
    observations leaving `env` are exactly the normalised ones. This is how
    `lerax.algorithm.PPO` refreshes the statistics a
    `lerax.policy.NormalizedPolicy` carries.

    Args:
        env: An environment, wrapped or not.
        state: A state or a batch of states of `env` (the statistics are merged
            over the batch); `None` for the statistics a `reset` starts from.

    Returns:
        An `ObservationNormalizer`, or `None`.

    Raises:
        NormalizerNotFoundError: If a `NormalizeObservation` is inside a wrapper
            that changes observations (e.g. `FrameStack`), so that a policy
            could not reproduce the observations from raw ones.
    """
    current: AbstractEnv[Any, Any, Any] = env
    while isinstance(current, AbstractWrapper):
        if isinstance(current, NormalizeObservation):
            return current.normalizer(state)
        if current.changes_observations:
            if _contains_normalizer(current.env):
                raise NormalizerNotFoundError(
                    f"the observations of NormalizeObservation are changed again by "
                    f"{type(current).__name__} before they leave the environment, so "
                    f"a policy cannot normalise raw observations the same way; put "
                    f"NormalizeObservation outside {type(current).__name__}"
                )
            return None
        if state is not None:
            state = current.inner_state(state)
        current = current.env
    return None


def _contains_normalizer(env: AbstractEnv[Any, Any, Any]) -> bool:
    while isinstance(env, AbstractWrapper):
        if isinstance(env, NormalizeObservation):
            return True
        env = env.env
    return False


def _statistics(statistics: Any, shape: tuple[int, ...]) -> RunningMeanStd:
    """Checks starting statistics (fresh ones for `None`)."""
    if statistics is None:
        return RunningMeanStd.initial(shape)
    if not isinstance(statistics, RunningMeanStd):
        raise TypeError(
            f"statistics must be a RunningMeanStd, got {type(statistics).__name__}"
        )
    if statistics.count.ndim or statistics.mean.shape != shape:
        raise ValueError(
            f"statistics must be unbatched, of shape {shape}, got mean of shape "
            f"{statistics.mean.shape} and count of shape {statistics.count.shape}"
        )
    return statistics
