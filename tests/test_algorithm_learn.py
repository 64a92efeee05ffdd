"""Tests for PPO.learn: stateless and stateful policies, history, progress bar."""

import math

import equinox as eqx
import jax
import numpy as np
import pytest

from lerax.algorithm import PPO, History, evaluate
from lerax.env import Box, CartPole
from lerax.policy import GRUActorCriticPolicy, MLPActorCriticPolicy

# One small configuration shared by the quick tests, so it compiles once.
SMALL = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2)


def _arrays(tree):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def _changed(before, after):
    return any(
        not np.array_equal(a, b)
        for a, b in zip(_arrays(before), _arrays(after), strict=True)
    )


def test_history_shape_and_contents():
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    trained, history = SMALL.learn_with_history(
        env, policy, 64 * 10 + 63, key=jax.random.key(1)
    )
    assert isinstance(history, History) and len(history) == 10
    np.testing.assert_array_equal(history.timesteps, 64 * np.arange(1, 11))
    for row in (history.episode_return, history.episode_length, history.num_episodes):
        assert row.shape == (10,)
    assert set(history.metrics) == set(PPO.metric_names)
    for row in history.metrics.values():
        assert row.shape == (10,) and np.isfinite(row).all()
    ended = history.num_episodes > 0
    assert ended.any()
    assert np.isnan(history.episode_return[~ended]).all()
    assert np.isfinite(history.episode_return[ended]).all()
    # A random CartPole policy: every episode is short, returns equal lengths.
    np.testing.assert_allclose(
        history.episode_return[ended], history.episode_length[ended]
    )
    # Linear annealing, from the initial value down to 1 / iterations of it.
    np.testing.assert_allclose(
        history.metrics["learning_rate"], 1e-3 * (1 - np.arange(10) / 10), rtol=1e-6
    )
    np.testing.assert_allclose(history.metrics["clip_coef"][-1], 0.02, rtol=1e-6)
    assert _changed(policy, trained)
    # The spaces are configuration, never optimised.
    space, original = trained.observation_space, policy.observation_space
    assert isinstance(space, Box) and isinstance(original, Box)
    assert space == original
    np.testing.assert_array_equal(space.low, original.low)
    # learn is learn_with_history without the history.
    again = SMALL.learn(env, policy, 64 * 10, key=jax.random.key(1))
    assert not _changed(trained, again)


def test_stateful_policy_learns():
    env = CartPole()
    policy = GRUActorCriticPolicy(env, key=jax.random.key(0), hidden_size=16)
    ppo = PPO(num_envs=8, num_steps=32, num_epochs=4, num_minibatches=4)
    trained, history = ppo.learn_with_history(
        env, policy, 256 * 40, key=jax.random.key(2)
    )
    assert isinstance(trained, GRUActorCriticPolicy)
    assert _changed(policy, trained)
    networks = (trained.cell, trained.actor, trained.critic)
    assert all(np.isfinite(a).all() for a in _arrays(networks))
    early = np.nanmean(history.episode_return[:5])
    late = np.nanmean(history.episode_return[-5:])
    assert late > early
    returns = evaluate(env, trained, key=jax.random.key(3), num_episodes=8)
    assert returns.shape == (8,) and float(returns.mean()) > early


def test_callback_stops_training():
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    seen = []

    def callback(timesteps, current):
        seen.append(timesteps)
        assert isinstance(current, MLPActorCriticPolicy)
        return timesteps >= 64 * 6

    _, history = SMALL.learn_with_history(
        env,
        policy,
        64 * 10,
        key=jax.random.key(1),
        checkpoint_every=3,
        callback=callback,
    )
    assert seen == [64 * 3, 64 * 6]
    assert len(history) == 6


def test_invalid_chunk_size():
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    with pytest.raises(ValueError, match="checkpoint_every"):
        SMALL.learn(env, policy, 640, key=jax.random.key(0), checkpoint_every=0)


def test_progress_bar(capsys):
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    shown = SMALL.learn(env, policy, 64 * 4, key=jax.random.key(1), progress_bar=True)
    err = capsys.readouterr().err
    assert "256/256" in err and "episode_return=" in err
    # The host callback does not change the computation.
    hidden = SMALL.learn(env, policy, 64 * 4, key=jax.random.key(1))
    assert not _changed(shown, hidden)


def test_cartpole_reaches_475_with_defaults():
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    trained, history = PPO().learn_with_history(
        env, policy, 100_000, key=jax.random.key(1000)
    )
    assert history.timesteps[-1] <= 100_000
    returns = evaluate(env, trained, key=jax.random.key(0), num_episodes=20)
    assert float(returns.mean()) >= 475, returns
    assert not math.isnan(float(np.nanmean(history.episode_return[-10:])))
