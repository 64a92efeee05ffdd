"""Stateful wrapper `RecordEpisodeStatistics`: episode returns and lengths in
``info``."""

from typing import Any, ClassVar, Generic, TypeVar, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._env import AbstractEnv
from ._base import AbstractWrapper, Start, Transition
from ._checks import wrapped_env
from ._errors import InfoKeyCollisionError

__all__ = ["EpisodeStatisticsState", "RecordEpisodeStatistics"]

StateT = TypeVar("StateT")


@final
class EpisodeStatisticsState(eqx.Module, Generic[StateT]):
    """State of a `RecordEpisodeStatistics`.

    Attributes:
        env_state: The wrapped environment's state.
        episode_return: Sum of the rewards of the current episode so far,
            float32.
        episode_length: Steps of the current episode so far, int32.
    """

    env_state: StateT
    episode_return: Float[Array, ""]
    episode_length: Int[Array, ""]


@final
class RecordEpisodeStatistics(AbstractWrapper[EpisodeStatisticsState[Any], Any, Any]):
    """Puts the running episode return and length in ``info[stats_key]``.

    ``info["episode"]`` (the default `stats_key`) is ``{"r": return, "l":
    length}``: the undiscounted return (float32) and the number of steps
    (int32) of the current episode, **this step included**. On the step that
    ends an episode (``terminated | truncated``) they are the finished
    episode's totals, the numbers Gymnasium's ``RecordEpisodeStatistics`` puts
    in ``info["episode"]`` at that step. Unlike Gymnasium's, the key is present
    on every step (lerax infos keep one structure; ``reset`` gives ``r = 0``
    and ``l = 0``), so select the finished episodes with the flags, e.g.
    ``jnp.where(terminated | truncated, info["episode"]["r"], jnp.nan)``. There
    is no wall-clock ``"t"``, since the step runs inside compiled code.

    Example:

    ```python
    env = RecordEpisodeStatistics(CartPole())
    state, obs, reward, terminated, truncated, info = env.step(state, 1, key=key)
    info["episode"]["r"], info["episode"]["l"]
    ```

    Attributes:
        env: The wrapped environment.
        stats_key: The info key (static).
    """

    env: AbstractEnv[Any, Any, Any]
    stats_key: str = eqx.field(static=True)

    changes_observations: ClassVar[bool] = False

    def __init__(self, env: AbstractEnv[Any, Any, Any], stats_key: str = "episode"):
        """Wraps `env`.

        Args:
            env: Any lerax environment.
            stats_key: The info key of the statistics.

        Raises:
            TypeError: If `env` is not a lerax environment.
            ValueError: If `stats_key` is not a non-empty string, or is
                ``"final_observation"`` or ``"action_mask"``.
        """
        self.env = wrapped_env("RecordEpisodeStatistics", env)
        if (
            not isinstance(stats_key, str)
            or not stats_key
            or stats_key in ("final_observation", "action_mask")
        ):
            raise ValueError(
                "stats_key must be a non-empty string other than "
                f"'final_observation' and 'action_mask', got {stats_key!r}"
            )
        self.stats_key = stats_key

    @property
    def observation_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's observation space."""
        return self.env.observation_space

    @property
    def action_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's action space."""
        return self.env.action_space

    def reset_env(self, *, key: PRNGKeyArray) -> Start:
        """Starts an episode of `env`; the statistics read 0."""
        state, observation, info = self.env.reset_env(key=key)
        return self._start(state, observation, info)

    def autoreset_env(
        self, state: EpisodeStatisticsState[Any], *, key: PRNGKeyArray
    ) -> Start:
        """Starts the next episode of `env`; the statistics read 0."""
        inner, observation, info = self.env.autoreset_env(state.env_state, key=key)
        return self._start(inner, observation, info)

    def step_env(
        self,
        state: EpisodeStatisticsState[Any],
        action: ArrayLike,
        *,
        key: PRNGKeyArray,
    ) -> Transition:
        """Steps `env` and adds the reward and the step to the statistics."""
        inner, observation, reward, terminated, truncated, info = self.env.step_env(
            state.env_state, action, key=key
        )
        new = EpisodeStatisticsState(
            inner,
            state.episode_return + jnp.asarray(reward, jnp.float32),
            state.episode_length + 1,
        )
        info = self._record(info, new)
        return new, observation, reward, terminated, truncated, info

    def inner_state(self, state: EpisodeStatisticsState[Any]) -> Any:
        """``state.env_state``."""
        return state.env_state

    def _start(self, inner: Any, observation: Any, info: dict[str, Any]) -> Start:
        state = EpisodeStatisticsState(
            inner, jnp.array(0.0, jnp.float32), jnp.array(0, jnp.int32)
        )
        return state, observation, self._record(info, state)

    def _record(
        self, info: dict[str, Any], state: EpisodeStatisticsState[Any]
    ) -> dict[str, Any]:
        if self.stats_key in info:
            raise InfoKeyCollisionError(
                f"RecordEpisodeStatistics: the wrapped environment's info already "
                f"has the key {self.stats_key!r}; give this wrapper another "
                f"stats_key"
            )
        stats = {"r": state.episode_return, "l": state.episode_length}
        return {**info, self.stats_key: stats}
