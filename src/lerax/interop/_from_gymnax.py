"""`GymnaxEnv`: a gymnax environment as a lerax environment."""

from typing import Any, final

import equinox as eqx
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray, PyTree

from lerax.env import AbstractEnv, AbstractSpace

from ._extras import require
from ._gymnax_spaces import space_from_gymnax

__all__ = ["GymnaxEnv"]


@final
class GymnaxEnv(AbstractEnv[Any, AbstractSpace, AbstractSpace]):
    """A gymnax environment as a lerax environment, still pure JAX.

    The state is gymnax's state; the hooks call gymnax's own: `reset_env` is
    ``env.reset(key, params)``, `step_env` is ``env.step_env(key, state, action,
    params)`` with truncation from ``env.is_truncated(state, params)``, as
    gymnax's `step` computes them before its automatic reset. lerax's `step`
    then resets as lerax does, so:

    * ``GymnaxEnv(env, params).reset(key=k)`` is ``env.reset(k, params)``;
    * a `step` that does not end the episode equals gymnax's, for envs whose
      `step_env` ignores its key (classic control), and otherwise gives
      `step_env` the key ``jax.random.fold_in(k, 0)`` where gymnax's `step`
      gives it ``jax.random.split(k)[0]``;
    * a `step` that ends the episode starts the next one with
      ``env.reset(k, params)`` (gymnax's uses ``jax.random.split(k)[1]``), and
      ``info["final_observation"]`` is the last observation, as in gymnax.

    gymnax's `step_env` info (e.g. ``"discount"``) is passed on.

    ```python
    import gymnax
    import jax
    from lerax.algorithm import PPO
    from lerax.interop import GymnaxEnv
    from lerax.policy import MLPActorCriticPolicy

    env = GymnaxEnv(*gymnax.make("CartPole-v1"))
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    policy = PPO().learn(env, policy, 100_000, key=jax.random.key(1))
    ```

    The environment parameters are a pytree field, traced when the env is
    passed through `jax.jit`, like a lerax env's physical parameters. A file
    cannot hold the gymnax env object: load a serialized `GymnaxEnv` with its
    arguments, ``GymnaxEnv.deserialize(path, *gymnax.make("CartPole-v1"))``.

    Attributes:
        env: The gymnax environment (static).
        params: Its parameters (gymnax's ``EnvParams``).
        observation_space: ``env.observation_space(params)``, converted with
            `space_from_gymnax`.
        action_space: ``env.action_space(params)``, converted likewise.
        check_actions: Whether `step` checks that the action is in
            `action_space` (static; off by default).
    """

    env: Any = eqx.field(static=True)
    params: Any
    observation_space: AbstractSpace
    action_space: AbstractSpace
    check_actions: bool = eqx.field(static=True)

    def __init__(self, env: Any, params: Any = None, *, check_actions: bool = False):
        """Wraps a gymnax environment.

        Args:
            env: A ``gymnax.environments.environment.Environment``.
            params: Its parameters; `None` for ``env.default_params``. So
                ``GymnaxEnv(*gymnax.make("CartPole-v1"))`` works.
            check_actions: Whether `step` raises on an action outside
                `action_space`.

        Raises:
            MissingExtraError: If gymnax is not installed
                (``pip install 'lerax[gymnax]'``).
            TypeError: If `env` is not a gymnax environment, or `check_actions`
                not a bool.
            UnsupportedSpaceError: If a space has no lerax counterpart.
        """
        environment = require("gymnax.environments.environment", "gymnax", "GymnaxEnv")
        if not isinstance(env, environment.Environment):
            raise TypeError(
                f"GymnaxEnv needs a gymnax environment, got a {type(env).__name__}"
            )
        if not isinstance(check_actions, bool):
            raise TypeError(f"check_actions must be a bool, got {check_actions!r}")
        self.env = env
        self.params = env.default_params if params is None else params
        self.observation_space = space_from_gymnax(env.observation_space(self.params))
        self.action_space = space_from_gymnax(env.action_space(self.params))
        self.check_actions = check_actions

    def reset_env(
        self, *, key: PRNGKeyArray
    ) -> tuple[Any, PyTree[Array], dict[str, Any]]:
        """gymnax's ``env.reset(key, params)``.

        Returns:
            ``(state, observation, {})``.
        """
        observation, state = self.env.reset(key, self.params)
        return state, observation, {}

    def step_env(
        self, state: Any, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        Any,
        PyTree[Array],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """gymnax's ``env.step_env`` and ``env.is_truncated``: one step, no reset.

        Returns:
            ``(state, observation, reward, terminated, truncated, info)``, with
            gymnax's `step_env` info.
        """
        observation, state, reward, terminated, info = self.env.step_env(
            key, state, action, self.params
        )
        truncated = self.env.is_truncated(state, self.params)
        return state, observation, reward, terminated, truncated, dict(info)
