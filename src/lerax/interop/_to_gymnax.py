"""`to_gymnax`: lerax envs for gymnax code."""

import importlib
from typing import Any

from lerax.env import AbstractEnv

from ._extras import require

__all__ = ["to_gymnax"]


def to_gymnax(env: AbstractEnv) -> Any:
    """A lerax environment as a gymnax environment, still pure JAX.

    gymnax's API over lerax's semantics: ``reset(key, params)`` returns
    ``(observation, state)`` from ``env.reset(key=key)``; ``step(key, state,
    action, params)`` returns ``(observation, state, reward, terminated,
    truncated, info)`` from ``env.step(state, action, key=key)``, so the same
    keys give the same trajectories as the lerax env, with lerax's automatic
    reset (``info["final_observation"]`` holds the last observation, as in
    gymnax, next to gymnax's ``"terminated"`` and ``"truncated"``). Both are
    jitted, as gymnax's are. The parameters are the lerax env itself:
    ``default_params`` is `env`, and any env of the same class with other
    physical parameters can be passed as ``params``. Spaces are converted with
    `space_to_gymnax`.

    ```python
    import jax
    from lerax.env import CartPole
    from lerax.interop import to_gymnax

    env = to_gymnax(CartPole())
    params = env.default_params
    keys = jax.random.split(jax.random.key(0), 16)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    actions = jax.vmap(env.action_space(params).sample)(keys)
    obs, state, reward, terminated, truncated, info = jax.vmap(
        env.step, in_axes=(0, 0, 0, None)
    )(keys, state, actions, params)
    ```

    Args:
        env: A lerax environment.

    Returns:
        A ``gymnax.environments.environment.Environment`` (a
        `LeraxGymnaxEnv`); its ``lerax_env`` is `env`.

    Raises:
        MissingExtraError: If gymnax is not installed
            (``pip install 'lerax[gymnax]'``).
        TypeError: If `env` is not a lerax environment.
    """
    require("gymnax", "gymnax", "to_gymnax")
    if not isinstance(env, AbstractEnv):
        raise TypeError(
            f"to_gymnax needs a lerax environment, got a {type(env).__name__}"
        )
    module = importlib.import_module("lerax.interop._gymnax_env")
    return module.LeraxGymnaxEnv(env)
