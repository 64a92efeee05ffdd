"""Stateful observation wrapper `FrameStack`: the last observations, stacked."""

from typing import Any, Generic, Literal, TypeVar, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray, Shaped

from .._box import Box
from .._env import AbstractEnv
from ._base import AbstractWrapper, Start, Transition
from ._checks import box_space, positive_int, wrapped_env

__all__ = ["FrameStack", "FrameStackState"]

StateT = TypeVar("StateT")


@final
class FrameStackState(eqx.Module, Generic[StateT]):
    """State of a `FrameStack`.

    Attributes:
        env_state: The wrapped environment's state.
        frames: The last `stack_size` observations, oldest first: the current
            stacked observation.
    """

    env_state: StateT
    frames: Shaped[Array, "stack_size ..."]


@final
class FrameStack(AbstractWrapper[FrameStackState[Any], Box, Any]):
    """Observations are the last `stack_size` observations of `env`, stacked.

    An observation of shape ``shape`` becomes an array of shape ``(stack_size,
    *shape)``, the oldest first and the newest last, as in Gymnasium's
    ``FrameStackObservation``. At the start of an episode (automatic resets
    included) the missing older frames are copies of the first observation
    (``padding="reset"``, Gymnasium's default) or zeros (``padding="zero"``).

    Example:

    ```python
    env = FrameStack(CartPole(), 4)
    state, obs, info = env.reset(key=key)  # obs: float32[4, 4]
    ```

    Attributes:
        env: The wrapped environment, with a `Box` observation space.
        stack_size: Number of stacked observations (static).
        padding: ``"reset"`` or ``"zero"`` (static).
        observation_space: The wrapped `Box` repeated `stack_size` times along a
            new first axis.
    """

    env: AbstractEnv[Any, Any, Any]
    stack_size: int = eqx.field(static=True)
    padding: Literal["reset", "zero"] = eqx.field(static=True)
    observation_space: Box

    def __init__(
        self,
        env: AbstractEnv[Any, Any, Any],
        stack_size: int,
        *,
        padding: Literal["reset", "zero"] = "reset",
    ):
        """Wraps `env`.

        Args:
            env: A lerax environment with a `Box` observation space.
            stack_size: Number of observations to stack.
            padding: What fills the stack at the start of an episode: copies of
                the first observation (``"reset"``) or zeros (``"zero"``).

        Raises:
            TypeError: If `env` is not a lerax environment.
            UnsupportedSpaceError: If its observation space is not a `Box`.
            ValueError: If `stack_size` is not a positive integer or `padding`
                is neither ``"reset"`` nor ``"zero"``.
        """
        self.env = wrapped_env("FrameStack", env)
        space = box_space("FrameStack", "observation", env.observation_space)
        self.stack_size = positive_int("stack_size", stack_size)
        if padding not in ("reset", "zero"):
            raise ValueError(f"padding must be 'reset' or 'zero', got {padding!r}")
        self.padding = padding
        shape = (self.stack_size, *space.shape)
        self.observation_space = Box(
            jnp.broadcast_to(space.low, shape),
            jnp.broadcast_to(space.high, shape),
            dtype=space.dtype,
        )

    @property
    def action_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's action space."""
        return self.env.action_space

    def reset_env(self, *, key: PRNGKeyArray) -> Start:
        """Starts an episode of `env`; the stack is padded (see the class)."""
        state, observation, info = self.env.reset_env(key=key)
        return self._start(state, observation, info)

    def autoreset_env(self, state: FrameStackState[Any], *, key: PRNGKeyArray) -> Start:
        """Starts the next episode of `env`; the stack is padded afresh."""
        inner, observation, info = self.env.autoreset_env(state.env_state, key=key)
        return self._start(inner, observation, info)

    def step_env(
        self, state: FrameStackState[Any], action: ArrayLike, *, key: PRNGKeyArray
    ) -> Transition:
        """Steps `env`; its observation goes last, the oldest frame goes."""
        inner, observation, reward, terminated, truncated, info = self.env.step_env(
            state.env_state, action, key=key
        )
        frame = self._frame(observation)
        frames = jnp.concatenate([state.frames[1:], frame[None]])
        return (
            FrameStackState(inner, frames),
            frames,
            reward,
            terminated,
            truncated,
            info,
        )

    def inner_state(self, state: FrameStackState[Any]) -> Any:
        """``state.env_state``."""
        return state.env_state

    def _frame(self, observation: Any) -> Array:
        return jnp.asarray(observation, self.observation_space.dtype)

    def _start(self, inner: Any, observation: Any, info: dict[str, Any]) -> Start:
        frame = self._frame(observation)
        pad = frame if self.padding == "reset" else jnp.zeros_like(frame)
        frames = jnp.concatenate(
            [jnp.broadcast_to(pad, (self.stack_size - 1, *frame.shape)), frame[None]]
        )
        return FrameStackState(inner, frames), frames, info
