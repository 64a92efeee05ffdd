"""A lerax environment as a gymnax environment (imports gymnax)."""

import functools
from typing import Any, final

import jax
from gymnax.environments import environment, spaces

from lerax.env import AbstractEnv, Discrete

from ._gymnax_spaces import space_to_gymnax

__all__ = ["LeraxGymnaxEnv"]


@final
class LeraxGymnaxEnv(environment.Environment):
    """A lerax environment behind gymnax's API; see `to_gymnax`.

    Its parameters are the lerax environment itself (a pytree): pass another
    configuration of the same class as ``params`` to change its traced
    physical parameters.
    """

    def __init__(self, env: AbstractEnv):
        super().__init__()
        self.lerax_env = env

    @property
    def default_params(self) -> Any:  # pyright: ignore[reportIncompatibleMethodOverride]
        """The wrapped lerax environment."""
        return self.lerax_env

    @functools.partial(jax.jit, static_argnames=("self",))
    def step(  # pyright: ignore[reportIncompatibleMethodOverride]
        self,
        key: jax.Array,
        state: Any,
        action: Any,
        params: AbstractEnv | None = None,
    ) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[Any, Any]]:
        """lerax's `step`, with gymnax's argument order and outputs.

        Returns:
            ``(observation, state, reward, terminated, truncated, info)``;
            ``info`` has lerax's ``"final_observation"`` and gymnax's
            ``"terminated"`` and ``"truncated"``.
        """
        env = self.lerax_env if params is None else params
        state, observation, reward, terminated, truncated, info = env.step(
            state, action, key=key
        )
        info = {**info, "terminated": terminated, "truncated": truncated}
        return observation, state, reward, terminated, truncated, info

    @functools.partial(jax.jit, static_argnames=("self",))
    def reset(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, key: jax.Array, params: AbstractEnv | None = None
    ) -> tuple[Any, Any]:
        """lerax's `reset`: ``(observation, state)``."""
        env = self.lerax_env if params is None else params
        state, observation, _ = env.reset(key=key)
        return observation, state

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:  # pyright: ignore[reportIncompatibleMethodOverride]
        """lerax's `reset_env` hook: ``(observation, state)``."""
        state, observation, _ = params.reset_env(key=key)
        return observation, state

    def step_env(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, key: jax.Array, state: Any, action: Any, params: Any
    ) -> tuple[Any, Any, jax.Array, jax.Array, dict[Any, Any]]:
        """lerax's `step_env` hook: one step without reset; the truncation flag
        is ``info["truncated"]`` (gymnax's `is_truncated` cannot read it from
        the state of an arbitrary lerax env)."""
        state, observation, reward, terminated, truncated, info = params.step_env(
            state, action, key=key
        )
        return observation, state, reward, terminated, {**info, "truncated": truncated}

    def observation_space(self, params: Any = None) -> spaces.Space:
        """The lerax observation space, converted with `space_to_gymnax`."""
        env = self.lerax_env if params is None else params
        return space_to_gymnax(env.observation_space)

    def action_space(self, params: Any = None) -> spaces.Space:
        """The lerax action space, converted with `space_to_gymnax`."""
        env = self.lerax_env if params is None else params
        return space_to_gymnax(env.action_space)

    @property
    def name(self) -> str:
        """The lerax environment's class name."""
        return type(self.lerax_env).__name__

    @property
    def num_actions(self) -> int:
        """``n`` of a `Discrete` action space.

        Raises:
            TypeError: For any other action space.
        """
        space = self.lerax_env.action_space
        if not isinstance(space, Discrete):
            raise TypeError(f"num_actions needs a Discrete action space, got {space!r}")
        return space.n

    def __repr__(self) -> str:
        return f"<LeraxGymnaxEnv {type(self.lerax_env).__name__}>"
