"""A lerax policy acting on NumPy observations, e.g. in a Gymnasium env."""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from lerax.env import Box
from lerax.policy import AbstractStatefulPolicy, AbstractStatelessPolicy

from ._values import numpy_value

__all__ = ["GymnasiumActor", "policy_to_gymnasium_actor"]

Policy = AbstractStatelessPolicy | AbstractStatefulPolicy


@final
class GymnasiumActor:
    """A lerax policy as a callable from an observation to an action, NumPy in
    and out; see `policy_to_gymnasium_actor`.

    Attributes:
        policy: The policy.
        deterministic: Whether actions are ``policy.predict``'s (argmax or
            mean) rather than samples.
        clip_actions: Whether `Box` actions are clipped to the action space.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        deterministic: bool = True,
        key: PRNGKeyArray | None = None,
        clip_actions: bool = True,
    ):
        if not isinstance(policy, AbstractStatelessPolicy | AbstractStatefulPolicy):
            raise TypeError(
                "policy_to_gymnasium_actor needs a lerax policy, got a "
                f"{type(policy).__name__}"
            )
        if not deterministic and key is None:
            raise ValueError("deterministic=False samples actions and needs a key")
        self.policy = policy
        self.deterministic = bool(deterministic)
        self.clip_actions = bool(clip_actions)
        params, static = eqx.partition(policy, eqx.is_array)
        # The policy's arrays are an argument rather than constants of the
        # compiled code; its structure and functions are closed over.
        self._params = params
        deterministic, clip = self.deterministic, self.clip_actions
        self._act = jax.jit(
            lambda params, key, state, observation, mask: _act(
                eqx.combine(params, static),
                deterministic,
                clip,
                key,
                state,
                observation,
                mask,
            )
        )
        self._start = jax.jit(
            lambda params, key: _start(eqx.combine(params, static), key)
        )
        self._key = jax.random.key(0) if key is None else key
        self._state: Any = None
        self.reset()

    def reset(self, *, key: PRNGKeyArray | None = None) -> None:
        """Starts an episode: a stateful policy's state is ``policy.reset``'s.

        Call it whenever the environment is reset. A stateless policy has
        nothing to reset.

        Args:
            key: Restarts the actor's key stream (sampling, and the recurrent
                state's initialisation) from this key; by default it goes on.
        """
        if key is not None:
            self._key = key
        self._key, self._state = self._start(self._params, self._key)

    def __call__(self, observation: Any, *, action_mask: Any = None) -> np.ndarray:
        """The action for `observation`, advancing a stateful policy's state.

        Args:
            observation: An observation of the policy's observation space, as
                NumPy values (e.g. float64 values are converted to float32).
            action_mask: Allowed actions (see ``docs/policy.md``), or `None`.

        Returns:
            The action, a NumPy array of the action space's dtype (a 0-d array
            for `Discrete`); composite actions are dicts or tuples of them.
        """
        observation = numpy_value(observation, self.policy.observation_space)
        mask = None if action_mask is None else np.asarray(action_mask, dtype=bool)
        self._key, self._state, action = self._act(
            self._params, self._key, self._state, observation, mask
        )
        return jax.tree.map(np.asarray, action)


def policy_to_gymnasium_actor(
    policy: Policy,
    *,
    deterministic: bool = True,
    key: PRNGKeyArray | None = None,
    clip_actions: bool = True,
) -> GymnasiumActor:
    """A trained lerax policy acting in a real Gymnasium env, in a few lines.

    The actor maps one NumPy observation to one NumPy action with a jitted
    call; a stateful (recurrent) policy's state is kept inside it, so call
    ``actor.reset()`` whenever the env is reset.

    ```python
    import gymnasium
    from lerax.interop import policy_to_gymnasium_actor

    actor = policy_to_gymnasium_actor(policy)  # e.g. trained on lerax's CartPole
    env = gymnasium.make("CartPole-v1")
    observation, info = env.reset(seed=0)
    actor.reset()
    done = False
    while not done:
        observation, reward, terminated, truncated, info = env.step(
            actor(observation)
        )
        done = terminated or truncated
    ```

    Args:
        policy: A stateless or stateful lerax policy; its spaces must match the
            env's (`space_from_gymnasium` of them).
        deterministic: Take ``policy.predict``'s action (argmax or mean, the
            default) instead of sampling.
        key: PRNG key for sampling and for a stateful policy's `reset`; needed
            when `deterministic` is false.
        clip_actions: Clip `Box` actions to the action space's bounds (lerax
            policies do not clip their Gaussian's samples or mean).

    Returns:
        A `GymnasiumActor`: ``actor(observation) -> action``.

    Raises:
        TypeError: If `policy` is not a lerax policy.
        ValueError: If `deterministic` is false and `key` is `None`.
    """
    return GymnasiumActor(
        policy, deterministic=deterministic, key=key, clip_actions=clip_actions
    )


def _start(policy: Policy, key: PRNGKeyArray) -> tuple[PRNGKeyArray, Any]:
    if not isinstance(policy, AbstractStatefulPolicy):
        return key, None
    key, reset_key = jax.random.split(key)
    return key, policy.reset(key=reset_key)


def _act(
    policy: Policy,
    deterministic: bool,
    clip_actions: bool,
    key: PRNGKeyArray,
    state: Any,
    observation: Any,
    mask: Any,
) -> tuple[PRNGKeyArray, Any, Any]:
    key, sample_key = jax.random.split(key)
    if isinstance(policy, AbstractStatefulPolicy):
        if deterministic:
            state, action = policy.predict(state, observation, action_mask=mask)
        else:
            state, action, _, _ = policy(
                state, observation, key=sample_key, action_mask=mask
            )
    elif deterministic:
        action = policy.predict(observation, action_mask=mask)
    else:
        action, _, _ = policy(observation, key=sample_key, action_mask=mask)
    space = policy.action_space
    if clip_actions and isinstance(space, Box):
        action = jnp.clip(action, space.low, space.high)
    return key, state, action
