"""Evaluating a policy: returns of whole episodes, run in parallel."""

from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key, PyTree

from lerax.env import AbstractEnv

from . import _policies
from ._policies import ActionMask, Policy, PolicyState
from ._rollout import clip_to_space


def evaluate(
    env: AbstractEnv,
    policy: Policy,
    *,
    key: Key[Array, ""],
    num_episodes: int = 10,
    deterministic: bool = True,
    max_steps: int | None = 100_000,
) -> Float[Array, " num_episodes"]:
    """Runs `num_episodes` episodes in parallel and returns their returns.

    The episodes run as one jitted, vmapped `jax.lax.while_loop` until every one
    has ended (terminated or truncated). A stateful policy starts each episode from
    ``policy.reset`` and threads its state through the episode. Actions honour
    the env's ``info["action_mask"]`` when it gives one, and are clipped to the
    bounds of a floating `Box` action space, as in training. A
    `lerax.policy.NormalizedPolicy` on an environment that normalises its own
    observations acts through its inner policy, as `PPO` trains it.

    Args:
        env: The environment (unbatched).
        policy: A stateless or stateful policy.
        key: PRNG key (initial states; actions too, if not deterministic).
        num_episodes: Number of episodes.
        deterministic: Take ``policy.predict``'s action (argmax or mean) instead
            of sampling.
        max_steps: Stop an episode after this many steps even if the environment
            has not ended it (a guard for environments without a time limit);
            `None` for no limit.

    Returns:
        The undiscounted return of each episode, shape ``(num_episodes,)``.
    """
    if isinstance(num_episodes, bool) or int(num_episodes) < 1:
        raise ValueError(f"num_episodes must be positive, got {num_episodes!r}")
    if max_steps is not None and int(max_steps) < 1:
        raise ValueError(f"max_steps must be positive or None, got {max_steps!r}")
    return _evaluate(
        env,
        _policies.acting_policy(policy, env),
        key,
        int(num_episodes),
        bool(deterministic),
        None if max_steps is None else int(max_steps),
    )


@final
class _Episode(eqx.Module):
    """Loop carry of one evaluation episode."""

    env_state: PyTree[Array]
    observation: PyTree[Array]
    action_mask: ActionMask
    policy_state: PolicyState
    total: Float[Array, ""]
    ended: Bool[Array, ""]
    steps: Int[Array, ""]
    key: Key[Array, ""]


@eqx.filter_jit
def _evaluate(
    env: AbstractEnv,
    policy: Policy,
    key: Key[Array, ""],
    num_episodes: int,
    deterministic: bool,
    max_steps: int | None,
) -> Float[Array, " num_episodes"]:
    def running(episode: _Episode) -> Bool[Array, ""]:
        if max_steps is None:
            return ~episode.ended
        return ~episode.ended & (episode.steps < max_steps)

    def step(episode: _Episode) -> _Episode:
        key, action_key, env_key = jax.random.split(episode.key, 3)
        if deterministic:
            policy_state, action = _policies.predict(
                policy,
                episode.policy_state,
                episode.observation,
                action_mask=episode.action_mask,
            )
        else:
            policy_state, action, _, _ = _policies.sample(
                policy,
                episode.policy_state,
                episode.observation,
                key=action_key,
                action_mask=episode.action_mask,
            )
        env_state, observation, reward, terminated, truncated, info = env.step(
            episode.env_state, clip_to_space(env.action_space, action), key=env_key
        )
        return _Episode(
            env_state=env_state,
            observation=observation,
            action_mask=_policies.action_mask(info),
            policy_state=policy_state,
            total=episode.total + reward,
            ended=terminated | truncated,
            steps=episode.steps + 1,
            key=key,
        )

    def run(key: Key[Array, ""]) -> Float[Array, ""]:
        key, env_key, policy_key = jax.random.split(key, 3)
        env_state, observation, info = env.reset(key=env_key)
        start = _Episode(
            env_state=env_state,
            observation=observation,
            action_mask=_policies.action_mask(info),
            policy_state=_policies.initial_state(policy, key=policy_key),
            total=jnp.array(0.0, jnp.float32),
            ended=jnp.array(False),
            steps=jnp.array(0, jnp.int32),
            key=key,
        )
        return jax.lax.while_loop(running, step, start).total

    return jax.vmap(run)(jax.random.split(key, num_episodes))
