"""Stateful wrapper `TimeLimit`: truncation after a number of steps."""

from typing import Any, ClassVar, Generic, TypeVar, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Int, PRNGKeyArray

from .._env import AbstractEnv
from ._base import AbstractWrapper, Start, Transition
from ._checks import positive_int, wrapped_env

__all__ = ["TimeLimit", "TimeLimitState"]

StateT = TypeVar("StateT")


@final
class TimeLimitState(eqx.Module, Generic[StateT]):
    """State of a `TimeLimit`.

    Attributes:
        env_state: The wrapped environment's state.
        elapsed_steps: Steps taken in the current episode, int32.
    """

    env_state: StateT
    elapsed_steps: Int[Array, ""]


@final
class TimeLimit(AbstractWrapper[TimeLimitState[Any], Any, Any]):
    """Truncates episodes after `max_episode_steps` steps.

    `truncated` is true on the step that brings the episode to
    `max_episode_steps` steps, whatever `terminated` says, and wherever the
    wrapped environment truncates; this is Gymnasium's ``TimeLimit``. The count
    restarts with every episode, automatic resets included. The lerax
    environments have a time limit of their own (``max_episode_steps=``);
    build them with ``max_episode_steps=None`` to leave it to this wrapper.

    Example:

    ```python
    env = TimeLimit(Pendulum(max_episode_steps=None), 100)
    ```

    Attributes:
        env: The wrapped environment.
        max_episode_steps: The limit, a positive int (static).
    """

    env: AbstractEnv[Any, Any, Any]
    max_episode_steps: int = eqx.field(static=True)

    changes_observations: ClassVar[bool] = False

    def __init__(self, env: AbstractEnv[Any, Any, Any], max_episode_steps: int):
        """Wraps `env`.

        Args:
            env: Any lerax environment.
            max_episode_steps: Steps after which an episode is truncated.

        Raises:
            TypeError: If `env` is not a lerax environment.
            ValueError: If `max_episode_steps` is not a positive integer.
        """
        self.env = wrapped_env("TimeLimit", env)
        self.max_episode_steps = positive_int("max_episode_steps", max_episode_steps)

    @property
    def observation_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's observation space."""
        return self.env.observation_space

    @property
    def action_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's action space."""
        return self.env.action_space

    def reset_env(self, *, key: PRNGKeyArray) -> Start:
        """Starts an episode of `env` with a step count of 0."""
        state, observation, info = self.env.reset_env(key=key)
        return _start(state), observation, info

    def autoreset_env(self, state: TimeLimitState[Any], *, key: PRNGKeyArray) -> Start:
        """Starts the next episode of `env` with a step count of 0."""
        inner, observation, info = self.env.autoreset_env(state.env_state, key=key)
        return _start(inner), observation, info

    def step_env(
        self, state: TimeLimitState[Any], action: ArrayLike, *, key: PRNGKeyArray
    ) -> Transition:
        """Steps `env`; truncates when the count reaches `max_episode_steps`."""
        inner, observation, reward, terminated, truncated, info = self.env.step_env(
            state.env_state, action, key=key
        )
        elapsed = state.elapsed_steps + 1
        truncated = jnp.asarray(truncated, bool) | (elapsed >= self.max_episode_steps)
        return (
            TimeLimitState(inner, elapsed),
            observation,
            reward,
            terminated,
            truncated,
            info,
        )

    def inner_state(self, state: TimeLimitState[Any]) -> Any:
        """``state.env_state``."""
        return state.env_state


def _start(inner: Any) -> TimeLimitState[Any]:
    return TimeLimitState(inner, jnp.array(0, jnp.int32))
