"""A lerax environment as a Gymnasium environment (one episode at a time)."""

from typing import Any, final

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from lerax.env import AbstractEnv

from . import _gymnasium_common as common
from ._gymnasium_spaces import space_to_gymnasium, value_to_gymnasium
from ._keys import key_from_seed

__all__ = ["LeraxGymnasiumEnv"]


@final
class LeraxGymnasiumEnv(gymnasium.Env):
    """A lerax environment behind Gymnasium's `Env` API; see `to_gymnasium`.

    Attributes:
        lerax_env: The wrapped lerax environment.
        observation_space: Its observation space, as a Gymnasium space.
        action_space: Its action space, as a Gymnasium space.
        render_mode: ``None`` or ``"rgb_array"``.
        metadata: ``render_modes`` (``["rgb_array"]`` when the env can be
            drawn) and ``render_fps`` (the env's `render_fps`).
    """

    def __init__(self, env: AbstractEnv, *, render_mode: str | None = None):
        if not isinstance(env, AbstractEnv):
            raise TypeError(
                f"to_gymnasium needs a lerax environment, got a {type(env).__name__}"
            )
        renderable = common.can_render(env)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(
                f"render_mode must be None or 'rgb_array', got {render_mode!r}"
            )
        if render_mode is not None and not renderable:
            raise ValueError(
                f"render_mode={render_mode!r} needs an env that can be drawn; "
                f"{type(env).__name__} does not implement render"
            )
        self.lerax_env = env
        self.observation_space = space_to_gymnasium(env.observation_space)
        self.action_space = space_to_gymnasium(env.action_space)
        self.render_mode = render_mode
        self.metadata = {
            "render_modes": ["rgb_array"] if renderable else [],
            "render_fps": env.render_fps,
        }
        self._reset = common.jitted(common.reset, env)
        self._step = common.jitted(_step, env)
        self._render = common.jitted(common.render, env)
        self._key: Any = None
        self._state: Any = None
        self._ended = False

    @property
    def state(self) -> Any:
        """The lerax state of the current episode (`None` before `reset`)."""
        return self._state

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Restarts the key stream from ``key_from_seed(seed)``
                (``jax.random.key(seed)`` for seeds below ``2**32``); without
                one the stream goes on (a first reset without a seed draws its
                seed from `np_random`).
            options: Ignored: lerax envs take no reset options.

        Returns:
            ``(observation, info)``, NumPy values.
        """
        del options
        super().reset(seed=seed)
        if seed is not None:
            self._key = key_from_seed(seed)
        elif self._key is None:
            self._key = key_from_seed(int(self.np_random.integers(2**32)))
        self._key, self._state, observation, info = self._reset(self._key)
        self._ended = False
        observation, info = jax.device_get((observation, info))
        return value_to_gymnasium(observation, self.observation_space), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Takes one step; never resets (call `reset` once the episode ends).

        Args:
            action: An element of `action_space`.

        Returns:
            ``(observation, reward, terminated, truncated, info)``: NumPy
            values, a float and two bools.

        Raises:
            gymnasium.error.ResetNeeded: Before the first `reset`, or after a
                step that ended the episode.
            ValueError: If the lerax env was built with ``check_actions=True``
                and `action` is not in its action space.
        """
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset before step")
        if self._ended:
            raise gymnasium.error.ResetNeeded(
                "the episode has ended: call reset before step"
            )
        env = self.lerax_env
        action = common.action_value(action, env.action_space)
        common.check_action(env, action)
        self._key, self._state, observation, scalars, info = self._step(
            self._key, self._state, action
        )
        observation, scalars, info = jax.device_get((observation, scalars, info))
        reward, terminated, truncated = float(scalars[0]), *(scalars[1:] != 0)
        self._ended = bool(terminated or truncated)
        return (
            value_to_gymnasium(observation, self.observation_space),
            reward,
            bool(terminated),
            bool(truncated),
            info,
        )

    def render(self) -> np.ndarray | None:  # pyright: ignore[reportIncompatibleMethodOverride]
        """The current state drawn as an RGB image, with ``render_mode="rgb_array"``.

        Returns:
            ``uint8[height, width, 3]``, or `None` when `render_mode` is `None`.

        Raises:
            gymnasium.error.ResetNeeded: Before the first `reset`.
        """
        if self.render_mode is None:
            return None
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset before render")
        return np.asarray(self._render(self._state))

    def __repr__(self) -> str:
        return f"<LeraxGymnasiumEnv {type(self.lerax_env).__name__}>"


def _step(env: AbstractEnv, key: Any, state: Any, action: Any) -> tuple[Any, ...]:
    """`step_without_reset`, with reward and flags in one float32 vector: one
    transfer to the host instead of three."""
    key, state, observation, reward, terminated, truncated, info = (
        common.step_without_reset(env, key, state, action)
    )
    scalars = jnp.stack([reward, terminated, truncated]).astype(jnp.float32)
    return key, state, observation, scalars, info
