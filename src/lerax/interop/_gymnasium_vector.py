"""A lerax environment as a Gymnasium vector environment (batched with vmap)."""

from collections.abc import Sequence
from typing import Any, final

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from jaxtyping import Array, Bool, PRNGKeyArray

from lerax.env import AbstractEnv

from . import _gymnasium_common as common
from ._gymnasium_spaces import space_to_gymnasium, value_to_gymnasium
from ._keys import key_from_seed

__all__ = ["LeraxGymnasiumVectorEnv", "parse_autoreset_mode"]


def parse_autoreset_mode(mode: Any) -> AutoresetMode:
    """Validates an autoreset mode: an `AutoresetMode` or its value
    (``"NextStep"``, ``"SameStep"``).

    Raises:
        ValueError: For `AutoresetMode.DISABLED` or anything else.
    """
    try:
        mode = AutoresetMode(mode)
    except ValueError:
        mode = None
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(
            "autoreset_mode must be AutoresetMode.NEXT_STEP or "
            f"AutoresetMode.SAME_STEP, got {mode!r}"
        )
    return mode


@final
class LeraxGymnasiumVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` copies of a lerax environment behind Gymnasium's `VectorEnv`
    API, stepped together by one jitted, vmapped call; see `to_gymnasium_vector`.

    Attributes:
        lerax_env: The wrapped lerax environment (unbatched).
        num_envs: Number of sub-environments.
        single_observation_space: One sub-environment's observation space.
        single_action_space: One sub-environment's action space.
        observation_space: The batched observation space.
        action_space: The batched action space.
        render_mode: ``None`` or ``"rgb_array"``.
        metadata: ``autoreset_mode``, ``render_modes``, ``render_fps``.
    """

    def __init__(
        self,
        env: AbstractEnv,
        num_envs: int,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
    ):
        if not isinstance(env, AbstractEnv):
            raise TypeError(
                "to_gymnasium_vector needs a lerax environment, got a "
                f"{type(env).__name__}"
            )
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, int | np.integer)
            or num_envs < 1
        ):
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        mode = parse_autoreset_mode(autoreset_mode)
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
        self.num_envs = int(num_envs)
        self.single_observation_space = space_to_gymnasium(env.observation_space)
        self.single_action_space = space_to_gymnasium(env.action_space)
        self.observation_space = batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = render_mode
        self.metadata = {
            "autoreset_mode": mode,
            "render_modes": ["rgb_array"] if renderable else [],
            "render_fps": env.render_fps,
        }
        self._reset = common.jitted(common.reset, env, vmap=True)
        step = _same_step if mode is AutoresetMode.SAME_STEP else _next_step
        self._step = common.jitted(step, env, vmap=True)
        self._render = common.jitted(common.render, env, vmap=True)
        self._keys: Any = None
        self._state: Any = None
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    @property
    def state(self) -> Any:
        """The batched lerax state (`None` before `reset`)."""
        return self._state

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Starts an episode in every sub-environment.

        Args:
            seed: An integer ``s`` seeds sub-environment ``i`` with ``s + i``,
                as Gymnasium's vector envs do, so that it behaves like
                ``to_gymnasium(env)`` reset with seed ``s + i``; a list gives
                each sub-environment its seed (`None` entries draw one from
                `np_random`); `None` goes on with the key streams.
            options: Ignored: lerax envs take no reset options.

        Returns:
            ``(observations, infos)``, batched NumPy values.
        """
        del options
        if seed is None or isinstance(seed, int | np.integer):
            super().reset(seed=None if seed is None else int(seed))
            if seed is not None:
                seeds: list[int | None] = [int(seed) + i for i in range(self.num_envs)]
            elif self._keys is None:
                seeds = [None] * self.num_envs
            else:
                seeds = []
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(
                    f"seed must be an int, None or a list of {self.num_envs} seeds, "
                    f"got a list of {len(seeds)}"
                )
        if seeds:
            self._keys = jnp.stack(
                [
                    key_from_seed(
                        int(self.np_random.integers(2**32)) if s is None else s
                    )
                    for s in seeds
                ]
            )
        self._keys, self._state, observation, info = self._reset(self._keys)
        self._autoreset[:] = False
        observation, info = jax.device_get((observation, info))
        return (
            value_to_gymnasium(observation, self.observation_space),
            _with_masks(info, np.ones(self.num_envs, bool)),
        )

    def step(
        self, actions: Any
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every sub-environment, resetting those whose episode ended
        according to `metadata["autoreset_mode"]` (see `to_gymnasium_vector`).

        Args:
            actions: A batch of actions, an element of `action_space`.

        Returns:
            ``(observations, rewards, terminations, truncations, infos)``:
            NumPy arrays with a leading axis of size `num_envs`, and a dict.

        Raises:
            gymnasium.error.ResetNeeded: Before the first `reset`.
            ValueError: If the lerax env was built with ``check_actions=True``
                and an action is not in its action space.
        """
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset before step")
        env = self.lerax_env
        # action_value converts dtypes leaf by leaf, so it takes batches too.
        actions = common.action_value(actions, env.action_space)
        if env.check_actions:
            for i in range(self.num_envs):
                common.check_action(env, jax.tree.map(lambda a, i=i: a[i], actions))
        if self.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP:
            self._keys, self._state, out = self._step(self._keys, self._state, actions)
            observation, reward, terminated, truncated, info = jax.device_get(out)
            done = terminated | truncated
            final = info.pop("final_observation")
            infos = _with_masks(info, np.ones(self.num_envs, bool))
            if done.any():
                infos["final_obs"] = final
                infos["_final_obs"] = done
                # lerax's action mask already describes the next episode.
                final_info = {k: v for k, v in info.items() if k != "action_mask"}
                infos["final_info"] = _with_masks(final_info, done)
                infos["_final_info"] = done
        else:
            autoreset = jnp.asarray(self._autoreset)
            self._keys, self._state, out = self._step(
                self._keys, self._state, actions, autoreset
            )
            observation, reward, terminated, truncated, info = jax.device_get(out)
            done = terminated | truncated
            infos = _with_masks(info, np.ones(self.num_envs, bool))
            self._autoreset = np.array(done)
        return (
            value_to_gymnasium(observation, self.observation_space),
            np.asarray(reward),
            np.asarray(terminated),
            np.asarray(truncated),
            infos,
        )

    def render(self) -> tuple[np.ndarray, ...] | None:
        """Each sub-environment's state drawn as an RGB image, with
        ``render_mode="rgb_array"``.

        Returns:
            A tuple of ``num_envs`` ``uint8[height, width, 3]`` images, or `None`
            when `render_mode` is `None`.
        """
        if self.render_mode is None:
            return None
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset before render")
        return tuple(np.asarray(self._render(self._state)))

    def __repr__(self) -> str:
        return (
            f"<LeraxGymnasiumVectorEnv {type(self.lerax_env).__name__}, "
            f"num_envs={self.num_envs}>"
        )


def _same_step(
    env: AbstractEnv, key: PRNGKeyArray, state: Any, action: Any
) -> tuple[Any, ...]:
    """One sub-environment's step under SAME_STEP: lerax's own `step`, whose
    automatic reset puts the last observation in ``info["final_observation"]``."""
    key, step_key = jax.random.split(key)
    state, observation, reward, terminated, truncated, info = env.step(
        state, action, key=step_key
    )
    return key, state, (observation, reward, terminated, truncated, info)


def _next_step(
    env: AbstractEnv,
    key: PRNGKeyArray,
    state: Any,
    action: Any,
    autoreset: Bool[Array, ""],
) -> tuple[Any, ...]:
    """One sub-environment's step under NEXT_STEP: where the previous step ended
    the episode, a reset (reward 0, no termination, the action ignored);
    elsewhere a step that keeps the episode's last state when it ends."""
    next_key, stepped_state, observation, reward, terminated, truncated, info = (
        common.step_without_reset(env, key, state, action)
    )
    # The reset takes the stream position of the step it replaces, so that a
    # sub-environment behaves as a `to_gymnasium` env that is reset whenever
    # the sub-environment autoresets.
    _, reset_state, reset_observation, reset_info = common.reset(env, key)

    def select(fresh: Any, current: Any) -> Any:
        return jax.tree.map(lambda a, b: jnp.where(autoreset, a, b), fresh, current)

    info = {
        name: select(reset_info[name], value) if name in reset_info else value
        for name, value in info.items()
    }
    return (
        next_key,
        select(reset_state, stepped_state),
        (
            select(reset_observation, observation),
            jnp.where(autoreset, jnp.float32(0), reward),
            ~autoreset & terminated,
            ~autoreset & truncated,
            info,
        ),
    )


def _with_masks(info: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """Gymnasium's vector info layout: each key ``k`` with a boolean ``_k``
    saying which sub-environments' entries are set."""
    out: dict[str, Any] = {}
    for name, value in info.items():
        out[name] = value
        out[f"_{name}"] = mask
    return out
