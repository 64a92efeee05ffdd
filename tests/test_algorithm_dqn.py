"""Tests for DQN: hyperparameters, target network, exploration, loss, masks,
checkpoints and learning CartPole."""

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from helpers import assert_trees_identical
from lerax.algorithm import AbstractOffPolicyAlgorithm, evaluate
from lerax.algorithm._dqn import DQN, DQNState
from lerax.algorithm._replay import ReplayBatch
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.policy._q import MLPQPolicy
from lerax.utils import load
from test_algorithm_masks import FORBIDDEN_REWARD, MaskedBandit

# 2 envs x 8 steps = 16 steps per iteration; training from the 3rd iteration.
SMALL = DQN(
    num_envs=2,
    num_steps=8,
    buffer_size=128,
    batch_size=16,
    learning_starts=32,
    gradient_steps=4,
    target_update_interval=50,
)
TOTAL = 16 * 12


def _small_policy(env=None, seed=0):
    return MLPQPolicy(
        env or CartPole(), key=jax.random.key(seed), hidden_sizes=(16, 16)
    )


def _iterations(algo, env, policy, total_iterations):
    """Every state of a run, as the training loop produces them."""
    state = algo.init_state(env, policy, total_iterations, key=jax.random.key(1))

    @eqx.filter_jit
    def advance(state):
        state, metrics = algo.train_iteration(env, state, total_iterations)
        return eqx.tree_at(lambda s: s.iteration, state, state.iteration + 1), metrics

    states, metrics = [state], []
    for _ in range(total_iterations):
        state, each = advance(state)
        states.append(state)
        metrics.append(each)
    return states, metrics


def test_defaults_are_the_rl_zoo_cartpole_settings():
    dqn = DQN()
    assert isinstance(dqn, AbstractOffPolicyAlgorithm)
    assert dqn.learning_rate == 2.3e-3
    assert (dqn.batch_size, dqn.buffer_size, dqn.learning_starts) == (64, 100_000, 1000)
    assert (dqn.gamma, dqn.tau, dqn.target_update_interval) == (0.99, 1.0, 10)
    # train_freq 256 with one environment, 128 gradient steps after each.
    assert (dqn.num_envs, dqn.num_steps, dqn.gradient_steps) == (1, 256, 128)
    assert dqn.exploration_fraction == 0.16
    assert (dqn.exploration_initial_eps, dqn.exploration_final_eps) == (1.0, 0.04)
    assert dqn.max_grad_norm == 10.0 and dqn.double_q is True
    assert dqn.steps_per_iteration == 256
    assert dqn.num_iterations(50_000) == 195


def test_hyperparameters_are_plain_python():
    dqn = DQN(learning_rate=1, num_steps=4.0, double_q=0, learning_starts=0.0)  # pyright: ignore[reportArgumentType]
    for field in dataclasses.fields(dqn):
        if field.name != "_lerax_args":
            assert type(getattr(dqn, field.name)) in (int, float, bool), field.name
    assert dqn.learning_rate == 1.0 and type(dqn.learning_rate) is float
    assert dqn.num_steps == 4 and type(dqn.num_steps) is int
    assert dqn.learning_starts == 0 and type(dqn.learning_starts) is int
    assert dqn.double_q is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learning_rate": -1.0}, "learning_rate must be a finite number >= 0.0"),
        ({"num_envs": 0}, "num_envs must be a positive integer, got 0"),
        ({"num_steps": 2.5}, "num_steps must be a positive integer, got 2.5"),
        ({"buffer_size": 0}, "buffer_size must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer, got True"),
        ({"learning_starts": -1}, "learning_starts must be an integer >= 0, got -1"),
        ({"gradient_steps": 0}, "gradient_steps must be a positive integer"),
        ({"gamma": 1.5}, r"gamma must be a finite number in \[0.0, 1.0\], got 1.5"),
        ({"tau": 0.0}, r"tau must be a finite number in \(0, 1\], got 0.0"),
        ({"tau": 1.1}, r"tau must be a finite number in \[0.0, 1.0\]"),
        ({"target_update_interval": 0}, "target_update_interval must be a positive"),
        ({"exploration_fraction": 2.0}, "exploration_fraction must be a finite"),
        ({"exploration_initial_eps": -0.1}, "exploration_initial_eps must be"),
        ({"exploration_final_eps": float("nan")}, "exploration_final_eps must be"),
        ({"max_grad_norm": float("inf")}, "max_grad_norm must be a finite number"),
    ],
)
def test_invalid_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DQN(**kwargs)


def test_serialization_round_trip(tmp_path):
    dqn = DQN(
        learning_rate=1e-4,
        num_envs=4,
        num_steps=4,
        buffer_size=50_000,
        batch_size=32,
        learning_starts=0,
        gradient_steps=1,
        gamma=0.98,
        tau=0.005,
        target_update_interval=1,
        exploration_fraction=0.5,
        exploration_initial_eps=0.5,
        exploration_final_eps=0.01,
        max_grad_norm=0.5,
        double_q=False,
    )
    path = dqn.serialize(tmp_path / "dqn")
    assert path is not None
    loaded = DQN.deserialize(path)  # no constructor arguments
    assert loaded == dqn and loaded != DQN()
    for field in dataclasses.fields(dqn):
        assert type(getattr(loaded, field.name)) is type(getattr(dqn, field.name))
    assert load(path) == dqn
    default = DQN().serialize(tmp_path / "default")
    assert default is not None and DQN.deserialize(default) == DQN()


def test_exploration_schedule_is_linear_then_constant():
    dqn = DQN()
    rate = jax.jit(dqn.exploration_rate, static_argnums=1)
    total = 100_000
    assert float(rate(jnp.array(0), total)) == 1.0
    assert float(rate(jnp.array(8_000), total)) == pytest.approx(
        1.0 - 0.96 / 2, rel=1e-6
    )
    assert float(rate(jnp.array(16_000), total)) == pytest.approx(0.04, rel=1e-5)
    assert float(rate(jnp.array(90_000), total)) == pytest.approx(0.04, rel=1e-5)
    flat = DQN(exploration_fraction=0.0, exploration_final_eps=0.2)
    assert float(flat.exploration_rate(jnp.array(0), total)) == pytest.approx(0.2)


def test_only_a_q_policy_is_trained():
    env = CartPole()
    with pytest.raises(TypeError, match="DQN trains an MLPQPolicy, got MLPActor"):
        SMALL.learn(
            env,
            MLPActorCriticPolicy(env, key=jax.random.key(0)),
            TOTAL,
            key=jax.random.key(1),
        )


def test_warm_up_then_training_and_metrics():
    env = CartPole()
    policy = _small_policy(env)
    states, metrics = _iterations(SMALL, env, policy, 12)
    updates = [int(s.num_updates) for s in states[1:]]
    # 16 steps per iteration; training once more than 32 steps were taken.
    assert updates == [0, 0] + [4 * i for i in range(1, 11)]
    assert_trees_identical(states[2].policy, policy)
    assert not eqx.tree_equal(states[3].policy, policy)
    assert float(metrics[0]["loss"]) == 0.0
    first = metrics[2]
    assert float(first["loss"]) > 0.0
    assert float(first["learning_rate"]) == pytest.approx(SMALL.learning_rate)
    # The rate the iteration explored with: at 32 of 192 steps.
    expected = 1.0 - 0.96 * (32 / 192) / 0.16
    assert float(first["exploration_rate"]) == pytest.approx(max(expected, 0.04))
    assert np.isfinite(float(first["q_value"]))
    # 128 steps kept over 2 envs: 64 rows, full after 8 of 12 iterations.
    assert int(states[7].buffer.size) == 56 and int(states[-1].buffer.size) == 64


def test_target_network_is_copied_when_an_interval_was_crossed():
    env = CartPole()
    states, _ = _iterations(SMALL, env, _small_policy(env), 12)
    assert isinstance(states[0], DQNState)
    assert_trees_identical(states[0].target_policy, states[0].policy)
    # 2 envs: an update every 50 // 2 = 25 calls of 8 per iteration, i.e. in the
    # iterations whose calls cross 25, 50 and 75 (iterations 3, 6 and 9).
    copies = {3, 6, 9}
    for i in range(12):
        before, after = states[i], states[i + 1]
        if i in copies:
            # The online network as collection left it, before this training.
            assert_trees_identical(after.target_policy, before.policy)
            assert not eqx.tree_equal(after.target_policy, after.policy)
        else:
            assert_trees_identical(after.target_policy, before.target_policy)


def test_soft_target_updates_compound_over_an_iteration():
    env = CartPole()
    # One env, 8 calls per iteration, an update every 4 calls: 2 per iteration.
    dqn = DQN(
        num_steps=8,
        batch_size=8,
        learning_starts=8,
        gradient_steps=2,
        target_update_interval=4,
        tau=0.3,
    )
    states, _ = _iterations(dqn, env, _small_policy(env), 4)
    for i in (2, 3):
        before, after = states[i], states[i + 1]
        online, target, got = (
            jax.tree.leaves(eqx.filter(p.q_network, eqx.is_inexact_array))
            for p in (before.policy, before.target_policy, after.target_policy)
        )
        for o, t, g in zip(online, target, got, strict=True):
            np.testing.assert_allclose(g, o + 0.7**2 * (t - o), rtol=1e-5, atol=1e-7)
            assert not np.array_equal(t, g)
        assert_trees_identical(
            after.target_policy.observation_space, before.policy.observation_space
        )


def _batch(env, seed, size=64):
    keys = jax.random.split(jax.random.key(seed), 5)
    observation = jax.vmap(lambda k: env.observation_space.sample(key=k))(
        jax.random.split(keys[0], size)
    )
    return ReplayBatch(
        observation=observation,
        action=jax.random.randint(keys[1], (size,), 0, env.action_space.n),
        reward=jax.random.normal(keys[2], (size,)),
        next_observation=jax.vmap(lambda k: env.observation_space.sample(key=k))(
            jax.random.split(keys[3], size)
        ),
        terminated=jax.random.bernoulli(keys[4], 0.3, (size,)),
    )


def test_double_q_targets():
    env = MaskedBandit()  # four actions
    online = MLPQPolicy(env, key=jax.random.key(0))
    target = MLPQPolicy(env, key=jax.random.key(1))
    batch = _batch(env, 2)
    next_q = jax.vmap(target.q_values)(batch.next_observation)
    choice = jnp.argmax(jax.vmap(online.q_values)(batch.next_observation), -1)
    # The two networks disagree on some greedy actions, so the test can fail.
    assert bool(jnp.any(choice != jnp.argmax(next_q, -1)))
    live = 1.0 - batch.terminated.astype(jnp.float32)
    double = batch.reward + 0.9 * live * next_q[jnp.arange(64), choice]
    plain = batch.reward + 0.9 * live * next_q.max(-1)
    targets = eqx.filter_jit(lambda dqn: dqn._targets(online, target, batch))
    np.testing.assert_allclose(targets(DQN(gamma=0.9)), double, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        targets(DQN(gamma=0.9, double_q=False)), plain, rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(double, plain)


def test_loss_is_huber_on_the_taken_actions():
    env = MaskedBandit()
    policy = MLPQPolicy(env, key=jax.random.key(0))
    batch = _batch(env, 3, size=4)
    q = jax.vmap(policy.q_values)(batch.observation)[jnp.arange(4), batch.action]
    errors = jnp.array([0.5, -3.0, 0.1, 2.0])
    params, static = eqx.partition(policy, eqx.is_inexact_array)
    loss, q_value = DQN._loss(params, static, batch, q + errors)
    expected = np.mean([0.5 * 0.25, 3.0 - 0.5, 0.5 * 0.01, 2.0 - 0.5])
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(q_value) == pytest.approx(float(q.mean()), rel=1e-6)


def test_the_optimizer_clips_the_global_gradient_norm_before_adam():
    policy = MLPQPolicy(MaskedBandit(), key=jax.random.key(0))
    params = eqx.filter(policy, eqx.is_inexact_array)
    grads = jax.tree.map(jnp.ones_like, params)
    assert float(optax.tree.norm(grads)) > 1.0
    for max_norm in (1e-3, 0.5):
        optimizer = DQN(max_grad_norm=max_norm).optimizer()
        _, opt_state = optimizer.update(grads, optimizer.init(params), params)
        # Adam's first moment after one step: (1 - b1) times the clipped gradient.
        (first_moment,) = [
            s.mu
            for s in jax.tree.leaves(
                opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState)
            )
            if isinstance(s, optax.ScaleByAdamState)
        ]
        norm = float(optax.tree.norm(first_moment))
        assert norm == pytest.approx(0.1 * max_norm, rel=1e-4)


@eqx.filter_jit
def _explore(dqn, state, observations, keys, masks):
    def explore(observation, key, mask):
        return dqn.explore(
            state,
            observation,
            timesteps=jnp.array(0),
            total_timesteps=1024,
            key=key,
            action_mask=mask,
        )

    return jax.vmap(explore)(observations, keys, masks)


def test_exploration_is_epsilon_greedy_among_allowed_actions():
    env = MaskedBandit()
    policy = MLPQPolicy(env, key=jax.random.key(0))
    observations = jax.random.uniform(jax.random.key(1), (4000, 4))
    masks = jax.random.bernoulli(jax.random.key(2), 0.5, (4000, 4))
    masks = masks.at[:, 0].set(True)
    keys = jax.random.split(jax.random.key(3), 4000)
    greedy = eqx.filter_jit(jax.vmap(lambda o, m: policy.predict(o, action_mask=m)))(
        observations, masks
    )
    # Exploration reads only the state's policy.
    state = DQN().init_state(env, policy, 4, key=jax.random.key(0))
    # A random action is the greedy one with probability 1 / allowed.
    chance = float(jnp.mean(1.0 - 1.0 / masks.sum(-1)))
    for epsilon in (1.0, 0.5, 0.0):
        dqn = DQN(exploration_initial_eps=epsilon, exploration_final_eps=0.0)
        actions = _explore(dqn, state, observations, keys, masks)
        assert bool(jnp.all(masks[jnp.arange(4000), actions]))
        differs = float(jnp.mean(actions != greedy))
        assert differs == pytest.approx(epsilon * chance, abs=0.03)
    # Uniform among the allowed actions: with all allowed, each a quarter.
    actions = _explore(DQN(), state, observations, keys, None)
    np.testing.assert_allclose(
        np.bincount(actions, minlength=4) / 4000, 0.25, atol=0.03
    )


def test_masked_env_never_takes_a_forbidden_action():
    env = MaskedBandit()
    dqn = DQN(
        num_envs=4,
        num_steps=8,
        batch_size=16,
        learning_starts=64,
        gradient_steps=4,
        exploration_final_eps=0.5,
    )
    states, metrics = _iterations(dqn, env, _small_policy(env), 6)
    buffer = states[-1].buffer
    assert int(buffer.size) == 6 * 8 and int(states[-1].num_updates) > 0
    rewards = np.asarray(buffer.data.reward)
    assert not np.any(rewards == FORBIDDEN_REWARD)
    assert all(float(m["episode_return"]) >= 0.0 for m in metrics)


def test_learn_with_checkpoint_and_resume_is_bit_identical(tmp_path):
    env = CartPole()
    policy = _small_policy(env)
    run: dict[str, Any] = {"key": jax.random.key(1), "checkpoint_every": 3}
    full, full_history = SMALL.learn_with_history(env, policy, TOTAL, **run)
    path = tmp_path / "run.ckpt"
    SMALL.learn(
        env,
        policy,
        TOTAL,
        checkpoint_path=path,
        callback=lambda timesteps, _: timesteps >= 16 * 6,
        **run,
    )
    assert path.exists()
    resumed, history = SMALL.learn_with_history(
        env, policy, TOTAL, checkpoint_path=path, resume_from=path, **run
    )
    assert_trees_identical(resumed, full)
    assert not eqx.tree_equal(resumed, policy)
    assert len(history) == len(full_history) == 12
    for name, row in full_history.metrics.items():
        np.testing.assert_array_equal(history.metrics[name], row)
    # Without chunks: the same result.
    assert_trees_identical(SMALL.learn(env, policy, TOTAL, key=jax.random.key(1)), full)


def _steps_to_solve(seed: int) -> int | None:
    """Environment steps after which the greedy policy of a default DQN run
    first has a mean return >= 475 over 10 episodes (checked every 10
    iterations, 2,560 steps), within 50,000 steps; None if never."""
    env = CartPole()
    policy_key, learn_key, eval_key = jax.random.split(jax.random.key(seed), 3)
    policy = MLPQPolicy(env, key=policy_key, hidden_sizes=(256, 256))
    solved: list[int] = []

    def check(timesteps: int, policy: MLPQPolicy) -> bool:
        returns = evaluate(env, policy, key=eval_key, num_episodes=10)
        if float(returns.mean()) >= 475.0:
            solved.append(timesteps)
        return bool(solved)

    DQN().learn(env, policy, 50_000, key=learn_key, checkpoint_every=10, callback=check)
    return solved[0] if solved else None


def test_learns_cartpole():
    assert _steps_to_solve(0) is not None


@pytest.mark.slow
def test_learns_cartpole_on_four_of_five_seeds():
    solved = [_steps_to_solve(seed) for seed in range(5)]
    assert sum(steps is not None for steps in solved) >= 4, solved
