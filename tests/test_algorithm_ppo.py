"""Tests for PPO's hyperparameters, serialization and loss targets."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.algorithm import PPO, AbstractAlgorithm
from lerax.algorithm._rollout import collect_rollout, start_rollout
from lerax.env import CartPole
from lerax.policy import GRUActorCriticPolicy, MLPActorCriticPolicy
from lerax.utils import load


def test_defaults():
    ppo = PPO()
    assert isinstance(ppo, AbstractAlgorithm)
    assert (ppo.num_envs, ppo.num_steps, ppo.num_epochs, ppo.num_minibatches) == (
        8,
        32,
        20,
        1,
    )
    assert ppo.learning_rate == 1e-3 and ppo.anneal_learning_rate
    assert (ppo.gamma, ppo.gae_lambda) == (0.98, 0.8)
    assert ppo.clip_coef == 0.2 and ppo.anneal_clip_coef and not ppo.clip_value_loss
    assert (ppo.ent_coef, ppo.vf_coef, ppo.max_grad_norm) == (0.0, 0.5, 0.5)
    assert ppo.normalize_advantages
    assert ppo.steps_per_iteration == 256
    assert ppo.num_iterations(100_000) == 390


def test_hyperparameters_are_plain_python():
    ppo = PPO(learning_rate=1, num_envs=4.0, clip_value_loss=1)  # pyright: ignore[reportArgumentType]
    for field in dataclasses.fields(ppo):
        value = getattr(ppo, field.name)
        if field.name != "_lerax_args":
            assert type(value) in (int, float, bool), field.name
    assert ppo.learning_rate == 1.0 and type(ppo.learning_rate) is float
    assert ppo.num_envs == 4 and type(ppo.num_envs) is int
    assert ppo.clip_value_loss is True


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_envs": 0}, "num_envs"),
        ({"num_steps": 2.5}, "num_steps"),
        ({"num_epochs": True}, "num_epochs"),
        ({"num_minibatches": 3}, "must divide"),
        ({"gamma": 1.5}, "gamma"),
        ({"gae_lambda": -0.1}, "gae_lambda"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"clip_coef": -0.2}, "clip_coef"),
        ({"max_grad_norm": float("inf")}, "max_grad_norm"),
    ],
)
def test_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PPO(**kwargs)


def test_run_shorter_than_an_iteration():
    with pytest.raises(ValueError, match="less than one iteration"):
        PPO().num_iterations(255)


def test_serialization_round_trip(tmp_path):
    ppo = PPO(
        learning_rate=3e-4,
        anneal_learning_rate=False,
        num_envs=4,
        num_steps=128,
        num_epochs=4,
        num_minibatches=4,
        gamma=0.99,
        gae_lambda=0.95,
        clip_coef=0.1,
        anneal_clip_coef=False,
        clip_value_loss=True,
        ent_coef=0.01,
        vf_coef=1.0,
        max_grad_norm=1.0,
        normalize_advantages=False,
    )
    path = ppo.serialize(tmp_path / "ppo")
    assert path is not None and path == tmp_path / "ppo.eqx"
    default_path = PPO().serialize(tmp_path / "default.eqx")
    assert default_path is not None
    loaded = PPO.deserialize(path)  # no constructor arguments
    assert loaded == ppo
    assert loaded != PPO()
    for field in dataclasses.fields(ppo):
        assert type(getattr(loaded, field.name)) is type(getattr(ppo, field.name))
    assert load(path) == ppo
    assert PPO.deserialize(default_path) == PPO()


def test_abstract_algorithm_cannot_be_instantiated():
    with pytest.raises(TypeError):
        AbstractAlgorithm()  # pyright: ignore[reportAbstractUsage]


def _rollout(env, policy, num_steps, seed=0):
    state = start_rollout(env, policy, 2, key=jax.random.key(seed))
    return collect_rollout(env, policy, state, num_steps, key=jax.random.key(seed + 1))


def test_rollout_records_final_observation_and_pre_reset_state():
    env = CartPole(max_episode_steps=3)
    policy = GRUActorCriticPolicy(env, key=jax.random.key(0), hidden_size=8)
    rollout, tr, stats = _rollout(env, policy, 5)
    hidden, next_hidden = tr.policy_state, tr.next_policy_state
    assert hidden is not None and next_hidden is not None
    np.testing.assert_array_equal(
        tr.truncated[:, 0], [False, False, True, False, False]
    )
    assert not tr.terminated.any()
    assert int(stats.count) == 2 and float(stats.return_sum) == 6.0
    assert int(stats.length_sum) == 6
    # Where the episode goes on, the step's successor is the next step's input.
    for t in (0, 1, 3):
        np.testing.assert_array_equal(tr.next_observation[t], tr.observation[t + 1])
        np.testing.assert_array_equal(next_hidden[t], hidden[t + 1])
    # Where it was truncated, the successor is the final observation and the
    # pre-reset recurrent state; the next step starts afresh.
    assert not np.array_equal(tr.next_observation[2], tr.observation[3])
    assert np.all(np.abs(np.asarray(tr.observation[3])) <= 0.05)
    np.testing.assert_array_equal(hidden[3], 0.0)
    np.testing.assert_array_equal(hidden[0], 0.0)
    assert np.abs(np.asarray(next_hidden[2])).min() > 0.0
    np.testing.assert_array_equal(rollout.episode_length, [2, 2])
    np.testing.assert_array_equal(rollout.episode_return, [2.0, 2.0])


def test_targets_bootstrap_truncation_from_final_observation():
    env = CartPole(max_episode_steps=3)
    policy = GRUActorCriticPolicy(env, key=jax.random.key(0), hidden_size=8)
    _, tr, _ = _rollout(env, policy, 4)
    hidden, next_hidden = tr.policy_state, tr.next_policy_state
    assert hidden is not None and next_hidden is not None
    # With lambda = 0 the value target is the one-step TD target.
    ppo = PPO(gamma=0.9, gae_lambda=0.0)
    batch = ppo._batch(policy, tr)
    # The batch is environment-major: back to (steps, envs).
    targets = np.asarray(batch.target).reshape(2, 4).T
    for env_index in range(2):
        final = policy.value(
            next_hidden[2, env_index], tr.next_observation[2, env_index]
        )
        np.testing.assert_allclose(targets[2, env_index], 1.0 + 0.9 * final, rtol=1e-5)
        after_reset = policy.value(hidden[3, env_index], tr.observation[3, env_index])
        assert not np.isclose(targets[2, env_index], 1.0 + 0.9 * after_reset)
        following = policy.value(hidden[1, env_index], tr.observation[1, env_index])
        np.testing.assert_allclose(
            targets[0, env_index], 1.0 + 0.9 * following, rtol=1e-5
        )


def test_targets_do_not_bootstrap_termination():
    # The pole starts beyond this angle, so every step terminates.
    env = CartPole(theta_threshold_radians=1e-9)
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    _, tr, _ = _rollout(env, policy, 3)
    assert tr.terminated.all()
    batch = PPO(gae_lambda=0.95)._batch(policy, tr)
    np.testing.assert_allclose(batch.target, 1.0, rtol=1e-6)
    np.testing.assert_allclose(batch.advantage, 1.0 - jnp.ravel(tr.value.T), rtol=1e-6)
