"""Action masks from the environment: rollouts, PPO and evaluation honour them."""

import re
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Bool, Int

from lerax.algorithm import PPO, evaluate
from lerax.algorithm._rollout import collect_rollout, start_rollout
from lerax.env import AbstractEnv, Box, Discrete
from lerax.policy import GRUActorCriticPolicy, MLPActorCriticPolicy

FORBIDDEN_REWARD = -10.0


class MaskedState(eqx.Module):
    mask: Bool[Array, "4"]
    t: Int[Array, ""]


class MaskedBandit(AbstractEnv[MaskedState, Box, Discrete]):
    """Four actions, a random subset of them allowed at each step.

    The observation is the mask itself (as floats), so a test can tell which
    mask belongs to which observation. An allowed action ``a`` earns ``a``; a
    forbidden one earns `FORBIDDEN_REWARD`. Episodes last `length` steps.
    """

    length: int = eqx.field(static=True)
    mask_on_reset: bool = eqx.field(static=True)
    check_actions: bool = eqx.field(static=True)
    observation_space: Box
    action_space: Discrete

    def __init__(self, length: int = 5, mask_on_reset: bool = True):
        self.length = length
        self.mask_on_reset = mask_on_reset
        self.check_actions = True
        self.observation_space = Box(0.0, 1.0, (4,))
        self.action_space = Discrete(4)

    def _draw(self, key: Array, t: Array) -> tuple[MaskedState, Array, dict[str, Any]]:
        allowed_key, fallback_key = jax.random.split(key)
        mask = jax.random.bernoulli(allowed_key, 0.4, (4,))
        # At least one action is always allowed.
        mask = mask.at[jax.random.randint(fallback_key, (), 0, 4)].set(True)
        state = MaskedState(mask=mask, t=t)
        return state, mask.astype(jnp.float32), {"action_mask": mask}

    def reset_env(self, *, key):
        state, observation, info = self._draw(key, jnp.array(0, jnp.int32))
        return state, observation, info if self.mask_on_reset else {}

    def step_env(self, state, action, *, key):
        reward = jnp.where(
            state.mask[action], jnp.asarray(action, jnp.float32), FORBIDDEN_REWARD
        )
        state, observation, info = self._draw(key, state.t + 1)
        truncated = state.t >= self.length
        return state, observation, reward, jnp.array(False), truncated, info


SMALL = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2)


def test_step_gives_the_mask_of_the_returned_observation():
    env = MaskedBandit(length=2)
    state, observation, info = env.reset(key=jax.random.key(0))
    np.testing.assert_array_equal(info["action_mask"], observation > 0.5)
    for seed in range(1, 7):
        action = jnp.argmax(info["action_mask"])
        state, observation, reward, _, truncated, info = env.step(
            state, action, key=jax.random.key(seed)
        )
        # Also after the automatic reset, where the step's own mask (that of the
        # final observation) is replaced by the fresh episode's.
        np.testing.assert_array_equal(info["action_mask"], observation > 0.5)
        assert float(reward) >= 0.0
        assert bool(truncated) == (seed % 2 == 0)


def test_step_needs_a_mask_on_reset_too():
    env = MaskedBandit(mask_on_reset=False)
    state, _, _ = env.reset(key=jax.random.key(0))
    message = (
        "MaskedBandit.reset_env must put an action_mask in its info, since "
        "step_env does"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        env.step(state, jnp.int32(0), key=jax.random.key(1))


def test_rollout_samples_within_masks_and_stores_them():
    env = MaskedBandit(length=5)
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0), width=8, depth=1)

    @eqx.filter_jit
    def rollout(policy):
        state = start_rollout(env, policy, 3, key=jax.random.key(1))
        state, transitions, stats = collect_rollout(
            env, policy, state, 12, key=jax.random.key(2)
        )
        # The loss of the unchanged policy, which re-evaluates every action.
        params, static = eqx.partition(policy, eqx.is_inexact_array)
        batch = SMALL._batch(policy, transitions)
        _, metrics = SMALL._loss(params, static, batch, jnp.float32(0.2))
        return state, transitions, stats, metrics

    state, transitions, stats, metrics = rollout(policy)
    assert state.action_mask is not None and state.action_mask.shape == (3, 4)
    mask = transitions.action_mask
    assert mask is not None and mask.shape == (12, 3, 4) and mask.dtype == jnp.bool_
    # Every stored mask is the one of its observation, across automatic resets.
    np.testing.assert_array_equal(mask, transitions.observation > 0.5)
    chosen = np.take_along_axis(
        np.asarray(mask), np.asarray(transitions.action)[..., None], axis=-1
    )
    assert chosen.all()
    assert bool(jnp.all(transitions.reward >= 0.0))
    assert int(stats.count) == 6  # two episodes of 5 steps per env
    # Re-evaluated under the stored masks, every action has its sampled
    # probability: ratio 1. (Without the masks it would be about 0.5.)
    assert float(metrics["approx_kl"]) < 1e-6
    assert float(metrics["clip_fraction"]) == 0.0


@pytest.mark.parametrize(
    "policy_class",
    [
        MLPActorCriticPolicy,
        # Compiling the recurrent PPO update takes several seconds more.
        pytest.param(GRUActorCriticPolicy, marks=pytest.mark.slow),
    ],
)
def test_ppo_trains_on_a_masked_env(policy_class):
    env = MaskedBandit()
    policy = policy_class(env, key=jax.random.key(0))
    trained, history = SMALL.learn_with_history(
        env, policy, 64 * 6, key=jax.random.key(1)
    )
    for row in history.metrics.values():
        assert np.isfinite(row).all()
    ended = history.num_episodes > 0
    # No forbidden action was ever taken in training.
    assert (history.episode_return[ended] >= 0).all()
    # Greedy actions honour the masks too (sampled ones did in training).
    returns = evaluate(env, trained, key=jax.random.key(2), num_episodes=64)
    assert bool(jnp.all(returns >= 0.0))
