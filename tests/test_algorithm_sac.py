"""Tests for SAC: hyperparameters, the update's parts, checkpoints and learning."""

import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.algorithm import AbstractOffPolicyAlgorithm, ReplayBatch, evaluate
from lerax.algorithm._sac import SAC, SACState, _sample
from lerax.env import Pendulum
from lerax.policy import MLPActorCriticPolicy
from lerax.policy._sac import MLPSACPolicy
from lerax.utils import load

# A small configuration for the mechanics (not for learning).
SMALL = SAC(batch_size=16, learning_starts=32, buffer_size=1000)
TOTAL = 96


@pytest.fixture(scope="module")
def policy():
    return MLPSACPolicy(Pendulum(), key=jax.random.key(0), hidden_sizes=(16, 16))


def test_defaults():
    sac = SAC()
    assert isinstance(sac, AbstractOffPolicyAlgorithm)
    assert sac.learning_rate == 1e-3  # rl-zoo Pendulum-v1
    # Stable-Baselines3's SAC defaults.
    assert (sac.num_envs, sac.num_steps, sac.gradient_steps) == (1, 1, 1)
    assert (sac.buffer_size, sac.batch_size, sac.learning_starts) == (
        1_000_000,
        256,
        100,
    )
    assert (sac.gamma, sac.tau, sac.target_update_interval) == (0.99, 0.005, 1)
    assert sac.ent_coef == 1.0 and sac.learn_ent_coef is True
    assert sac.target_entropy is None
    assert SAC.metric_names == (
        "actor_loss",
        "critic_loss",
        "ent_coef",
        "ent_coef_loss",
        "learning_rate",
    )


def test_hyperparameters_are_plain_python():
    sac = SAC(learning_rate=1, batch_size=8.0, learn_ent_coef=0, target_entropy=-2)  # pyright: ignore[reportArgumentType]
    for field in dataclasses.fields(sac):
        value = getattr(sac, field.name)
        if field.name != "_lerax_args":
            assert type(value) in (int, float, bool), field.name
    assert type(sac.learning_rate) is float and type(sac.batch_size) is int
    assert sac.learn_ent_coef is False and sac.target_entropy == -2.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"learning_rate": -1e-3},
            "learning_rate must be a finite number >= 0.0, got -0.001",
        ),
        ({"num_envs": 0}, "num_envs must be a positive integer, got 0"),
        ({"num_steps": 1.5}, "num_steps must be a positive integer, got 1.5"),
        ({"buffer_size": 0}, "buffer_size must be a positive integer, got 0"),
        ({"batch_size": True}, "batch_size must be a positive integer, got True"),
        ({"learning_starts": -1}, "learning_starts must be an integer >= 0, got -1"),
        ({"gradient_steps": 0}, "gradient_steps must be a positive integer, got 0"),
        ({"gamma": 1.01}, "gamma must be a finite number in [0.0, 1.0], got 1.01"),
        ({"tau": -0.1}, "tau must be a finite number in [0.0, 1.0], got -0.1"),
        (
            {"target_update_interval": 0},
            "target_update_interval must be a positive integer, got 0",
        ),
        ({"ent_coef": -1.0}, "ent_coef must be a finite number >= 0.0, got -1.0"),
        (
            {"ent_coef": 0.0},
            "ent_coef must be > 0 when learn_ent_coef is True, got 0.0",
        ),
        (
            {"target_entropy": float("nan")},
            "target_entropy must be a finite number, got nan",
        ),
    ],
)
def test_invalid_hyperparameters(kwargs, message):
    with pytest.raises(ValueError) as info:
        SAC(**kwargs)
    assert str(info.value) == message


def test_fixed_zero_ent_coef_is_allowed():
    assert SAC(ent_coef=0.0, learn_ent_coef=False).ent_coef == 0.0


def test_serialization_round_trip(tmp_path):
    sac = SAC(
        learning_rate=3e-4,
        num_envs=2,
        num_steps=4,
        buffer_size=5000,
        batch_size=64,
        learning_starts=0,
        gradient_steps=2,
        gamma=0.98,
        tau=0.01,
        target_update_interval=2,
        ent_coef=0.1,
        learn_ent_coef=False,
        target_entropy=-3.0,
    )
    path = sac.serialize(tmp_path / "sac")
    assert path is not None
    loaded = SAC.deserialize(path)
    assert loaded == sac and loaded != SAC()
    for field in dataclasses.fields(sac):
        assert type(getattr(loaded, field.name)) is type(getattr(sac, field.name))
    assert load(path) == sac
    default = SAC().serialize(tmp_path / "default")
    assert default is not None and SAC.deserialize(default) == SAC()


def test_other_policies_are_refused():
    env = Pendulum()
    with pytest.raises(
        TypeError, match="SAC trains an MLPSACPolicy, got MLPActorCriticPolicy"
    ):
        SMALL.learn(
            env,
            MLPActorCriticPolicy(env, key=jax.random.key(0)),
            TOTAL,
            key=jax.random.key(1),
        )


def _state(sac, policy):
    return eqx.filter_jit(
        lambda: sac.init_state(Pendulum(), policy, 10, key=jax.random.key(1))
    )()


def _batch(size=8, terminated=False, seed=0):
    keys = jax.random.split(jax.random.key(seed), 4)
    observation = jax.random.uniform(keys[0], (size, 3), minval=-1.0, maxval=1.0)
    return ReplayBatch(
        observation=observation,
        action=jax.random.uniform(keys[1], (size, 1), minval=-2.0, maxval=2.0),
        reward=jax.random.normal(keys[2], (size,)),
        next_observation=jax.random.uniform(
            keys[3], (size, 3), minval=-1.0, maxval=1.0
        ),
        terminated=jnp.full((size,), terminated),
    )


def test_critic_target_is_soft_clipped_double_q(policy):
    sac = SAC(gamma=0.9)
    # Target critics unlike the critics: the target must use the former.
    target = eqx.tree_at(
        lambda c: c.q_networks[1].layers[-1].bias,
        policy.critic,
        policy.critic.q_networks[1].layers[-1].bias - 3.0,
    )
    batch = _batch()
    ent_coef = jnp.array(0.3)
    key = jax.random.key(4)
    values = eqx.filter_jit(sac.critic_target)(policy, target, batch, ent_coef, key=key)
    actions, log_prob = _sample(policy, batch.next_observation, key)
    q = jax.vmap(target)(batch.next_observation, actions)
    assert np.all(q[:, 1] < q[:, 0])  # the minimum is the shifted critic
    expected = batch.reward + 0.9 * (q[:, 1] - 0.3 * log_prob)
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5)
    # Never bootstrapped through a terminal state.
    terminal = _batch(terminated=True)
    np.testing.assert_array_equal(
        eqx.filter_jit(sac.critic_target)(policy, target, terminal, ent_coef, key=key),
        terminal.reward,
    )


def test_log_prob_is_in_the_unit_scale(policy):
    # SB3's target entropy refers to actions scaled to [-1, 1]: Pendulum's
    # bounds of +-2 must not shift the log-probabilities.
    observations = _batch().observation
    key = jax.random.key(3)
    actions, log_prob = _sample(policy, observations, key)
    densities = jax.vmap(lambda o, a: policy.distribution(o).log_prob(a))(
        observations, actions
    )
    np.testing.assert_allclose(log_prob, densities + jnp.log(2.0), rtol=1e-4, atol=1e-4)


# One configuration for the update tests, so the update compiles once.
UPDATE = SAC(tau=0.25, target_update_interval=2, ent_coef=0.5, target_entropy=50.0)


@pytest.fixture(scope="module")
def state(policy):
    return _state(UPDATE, policy)


@eqx.filter_jit
def _update(sac, state, batch, seed=0):
    return sac.update(
        state,
        batch,
        step=jnp.int32(0),
        timesteps=jnp.int32(0),
        total_timesteps=100,
        key=jax.random.key(seed),
    )


def _q_leaves(critic):
    return jax.tree.leaves(eqx.filter(critic.q_networks, eqx.is_inexact_array))


def test_update_changes_what_it_trains(state):
    assert isinstance(state, SACState)
    new, metrics = _update(UPDATE, state, _batch())
    for before, after in (
        (state.policy.actor, new.policy.actor),
        (state.policy.critic.q_networks, new.policy.critic.q_networks),
    ):
        for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True):
            if eqx.is_inexact_array(x):
                assert not np.array_equal(x, y)
    # Spaces are configuration, never trained.
    assert bool(eqx.tree_equal(state.policy.action_space, new.policy.action_space))
    assert bool(
        eqx.tree_equal(state.policy.critic.action_space, new.policy.critic.action_space)
    )
    assert set(metrics) == set(SAC.metric_names)
    assert all(np.isfinite(v) for v in metrics.values())
    assert float(metrics["ent_coef"]) == pytest.approx(0.5)  # from before the step
    assert float(metrics["learning_rate"]) == pytest.approx(1e-3)


def test_target_critics_follow_by_polyak_averaging(state):
    new, _ = _update(UPDATE, state, _batch())
    for old, critic, target in zip(
        _q_leaves(state.target_critic),
        _q_leaves(new.policy.critic),
        _q_leaves(new.target_critic),
        strict=True,
    ):
        np.testing.assert_allclose(
            target, 0.25 * critic + 0.75 * old, rtol=1e-6, atol=1e-7
        )


def test_target_update_interval_counts_gradient_steps(state):
    for num_updates, moves in ((0, True), (1, False), (2, True), (3, False)):
        state = eqx.tree_at(lambda s: s.num_updates, state, jnp.int32(num_updates))
        new, _ = _update(UPDATE, state, _batch(seed=num_updates))
        unchanged = all(
            np.array_equal(a, b)
            for a, b in zip(
                _q_leaves(state.target_critic),
                _q_leaves(new.target_critic),
                strict=True,
            )
        )
        assert unchanged is not moves, num_updates
        state = new


def test_entropy_coefficient_moves_towards_the_target(state):
    np.testing.assert_allclose(state.log_ent_coef, np.log(0.5), rtol=1e-6)
    # log_prob + 50 > 0: the policy is less random than the target wants.
    new, metrics = _update(UPDATE, state, _batch())
    # Adam's first step has the size of the learning rate.
    np.testing.assert_allclose(new.log_ent_coef - state.log_ent_coef, 1e-3, rtol=1e-3)
    # -log(0.5) * mean(log_prob + 50) > 0.
    assert float(metrics["ent_coef_loss"]) > 0.0


def test_fixed_entropy_coefficient(policy):
    sac = SAC(ent_coef=0.2, learn_ent_coef=False)
    state = _state(sac, policy)
    new, metrics = _update(sac, state, _batch())
    np.testing.assert_array_equal(new.log_ent_coef, state.log_ent_coef)
    assert float(metrics["ent_coef"]) == pytest.approx(0.2)
    assert float(metrics["ent_coef_loss"]) == 0.0


def test_learn_records_the_metrics(policy):
    env = Pendulum()
    trained, history = SMALL.learn_with_history(
        env, policy, TOTAL, key=jax.random.key(1)
    )
    assert len(history) == TOTAL
    assert set(SAC.metric_names) <= set(history.metrics)
    # No training before more than learning_starts steps.
    steps = history.timesteps
    for name in SAC.metric_names:
        row = history.metrics[name]
        np.testing.assert_array_equal(row[steps <= 32], 0.0)
        assert np.all(np.isfinite(row)), name
        # (The entropy coefficient's first loss is 0: log(1) = 0.)
        assert np.all(row[steps > 33] != 0.0), name
    assert not bool(eqx.tree_equal(trained, policy))


def _assert_bit_identical(a, b):
    leaves_a = jax.tree.leaves(eqx.filter(a, eqx.is_array))
    leaves_b = jax.tree.leaves(eqx.filter(b, eqx.is_array))
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), strict=True)


def test_resumed_run_is_bit_identical(tmp_path, policy):
    env = Pendulum()
    path = tmp_path / "run.ckpt"
    full, full_history = SMALL.learn_with_history(
        env, policy, TOTAL, key=jax.random.key(1), checkpoint_every=24
    )
    # Interrupted after 48 of 96 iterations, right after a checkpoint.
    SMALL.learn(
        env,
        policy,
        TOTAL,
        key=jax.random.key(1),
        checkpoint_path=path,
        checkpoint_every=24,
        callback=lambda done, _: done >= 48,
    )
    resumed, history = SMALL.learn_with_history(
        env,
        policy,
        TOTAL,
        key=jax.random.key(123),  # ignored: the checkpoint's key stream goes on
        checkpoint_path=path,
        checkpoint_every=24,
        resume_from=path,
    )
    _assert_bit_identical(full, resumed)
    for name, row in full_history.metrics.items():
        np.testing.assert_array_equal(history.metrics[name], row)
    # Without chunks the result is the same too.
    _assert_bit_identical(full, SMALL.learn(env, policy, TOTAL, key=jax.random.key(1)))


# Learning: Pendulum, deterministic evaluation >= -200 within 20,000 steps.

TARGET = -200.0


def _learn_pendulum(seed, steps=20_000, hidden_sizes=(256, 256)):
    env = Pendulum()
    policy = MLPSACPolicy(env, key=jax.random.key(seed), hidden_sizes=hidden_sizes)
    start = time.perf_counter()
    policy = SAC().learn(env, policy, steps, key=jax.random.key(seed + 100))
    jax.block_until_ready(policy)
    elapsed = time.perf_counter() - start
    returns = evaluate(env, policy, key=jax.random.key(seed + 200), num_episodes=10)
    mean = float(jnp.mean(returns))
    print(f"seed {seed}: eval {mean:.1f} after {steps} steps, {elapsed:.0f} s")
    return mean


def test_learns_pendulum():
    # The default run's budget: SAC's defaults with a smaller policy (64 x 64,
    # about a sixth of the compute per step) for half the steps; the slow test
    # checks the defaults themselves.
    assert _learn_pendulum(0, steps=10_000, hidden_sizes=(64, 64)) >= TARGET


@pytest.mark.slow
def test_learns_pendulum_on_most_seeds():
    # SAC() and MLPSACPolicy() defaults, 20,000 steps.
    results = [_learn_pendulum(seed) for seed in range(5)]
    assert sum(r >= TARGET for r in results) >= 4, results
