"""Collecting experience from a batch of environments with the current policy."""

from collections.abc import Callable
from typing import Any, TypeAlias, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key, PyTree

from lerax.env import AbstractEnv, AbstractSpace, Box

from . import _policies
from ._policies import ActionMask, Policy, PolicyState

# ``act(policy_state, observation, key=, action_mask=)`` ->
# ``(next_policy_state, action, value, log_prob)``, as `_policies.sample`.
Actor: TypeAlias = Callable[..., tuple[PolicyState, Array, Array, Array]]


def clip_to_space(space: AbstractSpace, action: Array) -> Array:
    """`action` clipped to the bounds of a floating `Box` `space`; any other
    action unchanged."""
    if isinstance(space, Box) and jnp.issubdtype(space.dtype, jnp.floating):
        return jnp.clip(action, space.low, space.high)
    return action


@final
class RolloutState(eqx.Module):
    """Everything that carries over between rollouts, batched over environments.

    Attributes:
        env_state: State of each environment.
        observation: Current observation of each environment.
        action_mask: Allowed actions at the current observation, the env's
            ``info["action_mask"]`` (``None`` if the env gives none).
        policy_state: Recurrent state of each environment's episode (``None`` for a
            stateless policy).
        episode_return: Return accumulated so far in each running episode.
        episode_length: Steps taken so far in each running episode.
    """

    env_state: PyTree[Array]
    observation: PyTree[Array]
    action_mask: ActionMask
    policy_state: PolicyState
    episode_return: Float[Array, " num_envs"]
    episode_length: Int[Array, " num_envs"]


@final
class Transitions(eqx.Module):
    """A rollout, time-major: every leaf has shape ``(num_steps, num_envs, ...)``.

    Attributes:
        observation: Observation each step started from.
        action_mask: Allowed actions at that observation (``None`` if the env gives
            none), so that the loss re-evaluates under the same mask.
        policy_state: Recurrent state before each step (what `evaluate_action`
            needs to recompute the log-probability).
        action: Action taken.
        log_prob: Log-probability of the action when it was taken.
        value: Value estimate of the observation, when the action was taken.
        reward: Reward received.
        terminated: Whether the step ended the episode in a terminal state.
        truncated: Whether the step ended the episode by a time limit.
        next_observation: Observation reached, before any automatic reset (the
            env's ``info["final_observation"]``).
        next_policy_state: Recurrent state after the step, before any reset.
    """

    observation: PyTree[Array]
    action_mask: ActionMask
    policy_state: PolicyState
    action: Array
    log_prob: Float[Array, "num_steps num_envs"]
    value: Float[Array, "num_steps num_envs"]
    reward: Float[Array, "num_steps num_envs"]
    terminated: Bool[Array, "num_steps num_envs"]
    truncated: Bool[Array, "num_steps num_envs"]
    next_observation: PyTree[Array]
    next_policy_state: PolicyState


@final
class EpisodeStats(eqx.Module):
    """Totals over the episodes that ended during a rollout.

    Attributes:
        count: Number of episodes that ended.
        return_sum: Sum of their returns.
        length_sum: Sum of their lengths.
    """

    count: Int[Array, ""]
    return_sum: Float[Array, ""]
    length_sum: Int[Array, ""]

    def metrics(self) -> dict[str, Float[Array, ""]]:
        """The episode metrics every algorithm records: ``num_episodes`` and
        the mean ``episode_return`` and ``episode_length`` (0 when no episode
        ended; `History` shows NaN there)."""
        count = self.count.astype(jnp.float32)
        divisor = jnp.maximum(count, 1.0)
        return {
            "episode_return": self.return_sum / divisor,
            "episode_length": self.length_sum.astype(jnp.float32) / divisor,
            "num_episodes": count,
        }


def start_rollout(
    env: AbstractEnv, policy: Policy, num_envs: int, *, key: Key[Array, ""]
) -> RolloutState:
    """Resets `num_envs` environments and their policy states.

    Args:
        env: The environment (unbatched).
        policy: The policy.
        num_envs: Number of parallel environments.
        key: PRNG key.

    Returns:
        The initial rollout state.
    """
    env_key, policy_key = jax.random.split(key)
    env_state, observation, info = jax.vmap(lambda k: env.reset(key=k))(
        jax.random.split(env_key, num_envs)
    )
    policy_state = jax.vmap(lambda k: _policies.initial_state(policy, key=k))(
        jax.random.split(policy_key, num_envs)
    )
    return RolloutState(
        env_state=env_state,
        observation=observation,
        action_mask=_policies.action_mask(info),
        policy_state=policy_state,
        episode_return=jnp.zeros(num_envs, jnp.float32),
        episode_length=jnp.zeros(num_envs, jnp.int32),
    )


def collect_rollout(
    env: AbstractEnv,
    policy: Policy,
    state: RolloutState,
    num_steps: int,
    *,
    key: Key[Array, ""],
    act: Actor | None = None,
) -> tuple[RolloutState, Transitions, EpisodeStats]:
    """Steps every environment `num_steps` times, sampling actions from `policy`.

    Actions for a floating `Box` action space are clipped to its bounds before
    the environment steps (as Stable-Baselines3 does), while the transition
    stores the action as sampled, with its log-probability.

    Where an episode ends, the environment resets itself and the recurrent state is
    replaced by ``policy.reset``; the transition still records the final
    observation and the pre-reset recurrent state so that truncated episodes can be
    bootstrapped. If the environment puts an ``"action_mask"`` in its info, each
    action is sampled under the mask of the observation it answers.

    Args:
        env: The environment (unbatched; vmapped here).
        policy: The policy acting.
        state: Where the previous rollout left off.
        num_steps: Steps per environment.
        key: PRNG key.
        act: How actions are chosen, with the signature of
            ``_policies.sample(policy, ...)`` minus the policy (off-policy
            algorithms explore this way, returning zeros for value and
            log-probability); sampling from `policy` by default.

    Returns:
        ``(state, transitions, episode_stats)``.
    """
    num_envs = state.episode_return.shape[0]
    choose: Actor = act or (
        lambda *args, **kwargs: _policies.sample(policy, *args, **kwargs)
    )

    def act_and_step(
        env_state: Any,
        observation: Any,
        action_mask: ActionMask,
        policy_state: PolicyState,
        key: Array,
    ) -> tuple[Any, ...]:
        action_key, env_key, reset_key = jax.random.split(key, 3)
        next_policy_state, action, value, log_prob = choose(
            policy_state, observation, key=action_key, action_mask=action_mask
        )
        # The env gets the action clipped to a Box's bounds; the transition keeps
        # the sample, whose log-probability the loss re-evaluates.
        env_state, next_obs, reward, terminated, truncated, info = env.step(
            env_state, clip_to_space(env.action_space, action), key=env_key
        )
        done = terminated | truncated
        fresh = _policies.initial_state(policy, key=reset_key)
        carried = jax.tree.map(
            lambda a, b: jnp.where(done, a, b), fresh, next_policy_state
        )
        transition = Transitions(
            observation=observation,
            action_mask=action_mask,
            policy_state=policy_state,
            action=action,
            log_prob=log_prob,
            value=value,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            next_observation=info["final_observation"],
            next_policy_state=next_policy_state,
        )
        return env_state, next_obs, _policies.action_mask(info), carried, transition

    def step(
        carry: tuple[RolloutState, EpisodeStats], key: Array
    ) -> tuple[tuple[RolloutState, EpisodeStats], Transitions]:
        rollout, stats = carry
        env_state, observation, action_mask, policy_state, transition = jax.vmap(
            act_and_step
        )(
            rollout.env_state,
            rollout.observation,
            rollout.action_mask,
            rollout.policy_state,
            jax.random.split(key, num_envs),
        )
        done = transition.terminated | transition.truncated
        episode_return = rollout.episode_return + transition.reward
        episode_length = rollout.episode_length + 1
        stats = EpisodeStats(
            count=stats.count + jnp.sum(done, dtype=jnp.int32),
            return_sum=stats.return_sum + jnp.sum(jnp.where(done, episode_return, 0)),
            length_sum=stats.length_sum + jnp.sum(jnp.where(done, episode_length, 0)),
        )
        rollout = RolloutState(
            env_state=env_state,
            observation=observation,
            action_mask=action_mask,
            policy_state=policy_state,
            episode_return=jnp.where(done, 0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
        )
        return (rollout, stats), transition

    no_episodes = EpisodeStats(
        count=jnp.array(0, jnp.int32),
        return_sum=jnp.array(0, jnp.float32),
        length_sum=jnp.array(0, jnp.int32),
    )
    (state, stats), transitions = jax.lax.scan(
        step, (state, no_episodes), jax.random.split(key, num_steps)
    )
    return state, transitions, stats
