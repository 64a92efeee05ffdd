"""What the two Gymnasium adapters share: jitted reset and step, action checks."""

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from lerax.env import AbstractEnv, AbstractSpace, Dict, Tuple

__all__ = [
    "action_value",
    "can_render",
    "check_action",
    "jitted",
    "render",
    "reset",
    "step_without_reset",
]


def jitted(
    function: Callable[..., Any], env: AbstractEnv, *, vmap: bool = False
) -> Any:
    """``jax.jit(functools.partial(function, env))``, vmapped over the other
    arguments if `vmap`; adapters of equal envs share the compiled code."""
    try:
        return _jitted(function, env, vmap)
    except TypeError:  # an env that cannot be hashed
        return _jitted.__wrapped__(function, env, vmap)


@functools.lru_cache(maxsize=64)
def _jitted(function: Callable[..., Any], env: AbstractEnv, vmap: bool) -> Any:
    bound = functools.partial(function, env)
    return jax.jit(jax.vmap(bound) if vmap else bound)


def reset(env: AbstractEnv, key: PRNGKeyArray) -> tuple[Any, ...]:
    """Splits `key` and starts an episode with the new half.

    Returns:
        ``(key, state, observation, info)``, without the info's
        ``"final_observation"`` (Gymnasium has no such key).
    """
    key, reset_key = jax.random.split(key)
    state, observation, info = env.reset(key=reset_key)
    return key, state, observation, _without_final(info)


def step_without_reset(
    env: AbstractEnv, key: PRNGKeyArray, state: Any, action: Any
) -> tuple[Any, ...]:
    """Splits `key` and takes one step with the new half, never resetting.

    `env.step_env` gives the step (what `env.step` does before its automatic
    reset, with the same dtypes), so that a Gymnasium env keeps the last state
    of an ended episode until `reset`.

    Returns:
        ``(key, state, observation, reward, terminated, truncated, info)``.
    """
    key, step_key = jax.random.split(key)
    state, observation, reward, terminated, truncated, info = env.step_env(
        state, action, key=step_key
    )
    return (
        key,
        state,
        observation,
        jnp.asarray(reward, jnp.float32),
        jnp.asarray(terminated, bool),
        jnp.asarray(truncated, bool),
        _without_final(info),
    )


def action_value(action: Any, space: AbstractSpace) -> Any:
    """A Gymnasium action as the lerax env's action: NumPy arrays of its dtypes.

    Values keep their meaning: an integer space casts only whole numbers, so
    that an invalid action such as ``0.5`` reaches the env as ``0.5`` (lerax's
    discrete envs then give NaN outputs, or raise with ``check_actions``)
    instead of being truncated into a valid one.
    """
    if isinstance(space, Dict):
        return {name: action_value(action[name], s) for name, s in space.spaces.items()}
    if isinstance(space, Tuple):
        return tuple(
            action_value(part, s) for part, s in zip(action, space.spaces, strict=True)
        )
    array = np.asarray(action)
    assert space.dtype is not None  # array spaces
    if (
        np.issubdtype(space.dtype, np.integer)
        and not np.issubdtype(array.dtype, np.integer)
        and not np.all(array == np.round(array))
    ):
        return array.astype(np.float32)
    return array.astype(space.dtype)


def check_action(env: AbstractEnv, action: Any) -> None:
    """Raises if `env.check_actions` is set and `action` is not in its space.

    Raises:
        ValueError: With the message lerax's `step` uses.
    """
    if env.check_actions and not bool(env.action_space.contains(action)):
        raise ValueError(
            f"{type(env).__name__}.step: the action is not in the action space "
            f"{env.action_space!r}; build the env with check_actions=False to skip "
            "this check"
        )


def render(env: AbstractEnv, state: Any) -> Any:
    """``env.render(state)``, for `jitted`."""
    return env.render(state)


def can_render(env: AbstractEnv) -> bool:
    """Whether `env.render` draws its states (tried abstractly, at no cost)."""
    try:
        jax.eval_shape(lambda key: env.render(env.reset(key=key)[0]), jax.random.key(0))
    except NotImplementedError:
        return False
    return True


def _without_final(info: dict[str, Any]) -> dict[str, Array]:
    return {k: v for k, v in info.items() if k != "final_observation"}
