"""Training with wrapped environments: normalisation statistics saved with the
policy (NormalizedPolicy, across processes), and Box actions clipped by PPO and
evaluate."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

import lerax.utils
from helpers import assert_trees_identical
from lerax.algorithm import PPO, EvalCallback, _policies, evaluate
from lerax.algorithm._rollout import collect_rollout, start_rollout
from lerax.env import AbstractSpace, CartPole, Pendulum
from lerax.env.wrappers import (
    FrameStack,
    NormalizeObservation,
    NormalizerNotFoundError,
    ObservationNormalizer,
    RecordEpisodeStatistics,
    RunningMeanStd,
    TimeLimit,
    observation_normalizer,
)
from lerax.policy import (
    AbstractStatefulPolicy,
    Categorical,
    MLPActorCriticPolicy,
    NormalizedPolicy,
    NormalizedStatefulPolicy,
)
from wrapper_envs import EchoEnv

TESTS = Path(__file__).resolve().parent


def _statistics(mean: Any, var: Any, count: float = 50.0) -> RunningMeanStd:
    return RunningMeanStd(jnp.asarray(mean), jnp.asarray(var), count)


# Policies are built once per module: their initialisation compiles per shape.
@pytest.fixture(scope="module")
def cartpole_mlp() -> MLPActorCriticPolicy:
    env = NormalizeObservation(CartPole())
    return MLPActorCriticPolicy(env, key=jax.random.key(0), width=8, depth=1)


class Counter(AbstractStatefulPolicy[Array]):
    """A small stateful policy: counts its steps; logits are a linear map of the
    observation plus the count (a GRU policy's initialisation takes seconds to
    compile)."""

    observation_space: AbstractSpace
    action_space: AbstractSpace
    weight: Array

    def __init__(self, env: Any):
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.weight = jnp.arange(8.0).reshape(2, 4) / 10

    def reset(self, *, key: Array) -> Array:
        return jnp.array(0.0)

    def forward(self, state: Array, observation: Array) -> tuple[Any, Any, Any]:
        logits = self.weight @ observation + state
        return state + 1, Categorical(logits), jnp.sum(observation)


@pytest.fixture(scope="module")
def cartpole_counter() -> Counter:
    return Counter(NormalizeObservation(CartPole()))


@pytest.fixture(scope="module")
def pendulum_mlp() -> MLPActorCriticPolicy:
    env = NormalizeObservation(Pendulum())
    return MLPActorCriticPolicy(env, key=jax.random.key(0), width=8, depth=1)


# --- NormalizedPolicy ---------------------------------------------------------


def test_normalized_policy_acts_on_normalised_observations(pendulum_mlp):
    env = NormalizeObservation(Pendulum(), clip=4.0)
    inner = pendulum_mlp
    stats = _statistics([0.5, -0.5, 1.0], [4.0, 0.25, 9.0])
    normalizer = ObservationNormalizer(
        stats, Pendulum().observation_space, epsilon=1e-8, clip=4.0
    )
    policy = NormalizedPolicy(inner, normalizer=normalizer)
    assert policy.observation_space == Pendulum().observation_space
    assert policy.action_space is inner.action_space
    raw = jnp.array([0.9, 0.1, -7.5])
    normalized = stats.normalize(raw, 1e-8, 4.0)
    np.testing.assert_array_equal(policy.predict(raw), inner.predict(normalized))
    np.testing.assert_array_equal(policy.value(raw), inner.value(normalized))
    key = jax.random.key(3)
    for a, b in zip(policy(raw, key=key), inner(normalized, key=key), strict=True):
        np.testing.assert_array_equal(a, b)
    action = jnp.array([0.3])
    for a, b in zip(
        policy.evaluate_action(raw, action),
        inner.evaluate_action(normalized, action),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    # From the env: the statistics a reset starts from.
    fresh = NormalizedPolicy(inner, TimeLimit(env, 10))
    np.testing.assert_array_equal(fresh.normalizer.statistics.var, np.ones(3))
    assert fresh.normalizer.clip == 4.0


def test_normalized_stateful_policy(cartpole_counter):
    inner = cartpole_counter
    stats = _statistics(jnp.arange(4.0), jnp.full(4, 2.0))
    normalizer = ObservationNormalizer(stats, CartPole().observation_space)
    policy = NormalizedStatefulPolicy(inner, normalizer=normalizer)
    state = policy.reset(key=jax.random.key(1))
    np.testing.assert_array_equal(state, inner.reset(key=jax.random.key(1)))
    raw = jnp.array([0.1, -0.2, 0.03, 0.4])
    normalized = stats.normalize(raw, 1e-8)
    for a, b in zip(
        policy.predict(state, raw), inner.predict(state, normalized), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    value, log_prob, _ = policy.evaluate_action(state, raw, jnp.array(1))
    np.testing.assert_allclose(value, jnp.sum(normalized), rtol=1e-6)
    np.testing.assert_allclose(
        log_prob, jax.nn.log_softmax(inner.weight @ normalized)[1], rtol=1e-6
    )


def test_normalized_policy_errors(cartpole_mlp, cartpole_counter):
    env = NormalizeObservation(CartPole())
    inner, counter = cartpole_mlp, cartpole_counter
    normalizer = observation_normalizer(env)
    cases: list[tuple[Any, type[Exception], str]] = [
        (
            lambda: NormalizedPolicy(inner),
            TypeError,
            "NormalizedPolicy needs exactly one of env and normalizer",
        ),
        (
            lambda: NormalizedPolicy(inner, env, normalizer=normalizer),
            TypeError,
            "NormalizedPolicy needs exactly one of env and normalizer",
        ),
        (
            lambda: NormalizedPolicy(counter, env),
            TypeError,
            "NormalizedPolicy needs a stateless policy, got Counter "
            "(use NormalizedStatefulPolicy for a stateful one)",
        ),
        (
            lambda: NormalizedStatefulPolicy(inner, env),
            TypeError,
            "NormalizedStatefulPolicy needs a stateful policy, got "
            "MLPActorCriticPolicy (use NormalizedPolicy for a stateless one)",
        ),
        (
            lambda: NormalizedPolicy(inner, RecordEpisodeStatistics(CartPole())),
            NormalizerNotFoundError,
            "NormalizedPolicy needs an environment whose observations come from a "
            "NormalizeObservation, got RecordEpisodeStatistics",
        ),
        (
            lambda: NormalizedPolicy(inner, FrameStack(env, 2)),
            NormalizerNotFoundError,
            "the observations of NormalizeObservation are changed again by FrameStack",
        ),
        (
            lambda: NormalizedPolicy(inner, NormalizeObservation(Pendulum())),
            ValueError,
            "the normalised observations have shape (3,), but the policy reads "
            "observations of shape (4,)",
        ),
        (
            lambda: NormalizedPolicy(inner, normalizer=env),  # pyright: ignore[reportArgumentType]
            TypeError,
            "normalizer must be an ObservationNormalizer, got NormalizeObservation",
        ),
    ]
    for build, error, text in cases:
        with pytest.raises(error, match=re.escape(text)):
            build()


def test_normalized_policy_round_trips(tmp_path, pendulum_mlp):
    env = NormalizeObservation(Pendulum())
    inner = pendulum_mlp
    normalizer = ObservationNormalizer(
        _statistics([1.0, 2.0, 3.0], [0.5, 0.5, 2.0]), Pendulum().observation_space
    )
    policy = NormalizedPolicy(inner, normalizer=normalizer)
    path = tmp_path / "policy.eqx"
    policy.serialize(path)
    raw = jnp.array([0.2, 0.4, -1.0])
    for loaded in (
        NormalizedPolicy.deserialize(path),
        NormalizedPolicy.deserialize(path, inner, env),
        NormalizedPolicy.deserialize(path, inner, normalizer=normalizer),
        lerax.utils.load(path),
    ):
        assert isinstance(loaded, NormalizedPolicy)
        np.testing.assert_array_equal(loaded.normalizer.statistics.mean, [1, 2, 3])
        np.testing.assert_array_equal(loaded.predict(raw), policy.predict(raw))


def test_normalizers_are_never_trained(cartpole_mlp):
    env = NormalizeObservation(CartPole())
    inner = cartpole_mlp
    policy = NormalizedPolicy(inner, env)
    spec = _policies.trainable(policy)
    assert not any(jax.tree.leaves(spec.normalizer))
    assert not any(jax.tree.leaves(spec.policy.observation_space))
    layer = spec.policy.actor.layers[0]
    assert layer.weight is True and layer.bias is True
    # Plain policies: every inexact array but the spaces', as before.
    plain = _policies.trainable(inner)
    assert not any(jax.tree.leaves(plain.observation_space))
    assert plain.critic.layers[-1].weight is True
    # On a normalising env the inner policy trains; elsewhere the whole policy.
    assert _policies.acting_policy(policy, TimeLimit(env, 5)) is inner
    assert _policies.acting_policy(policy, CartPole()) is policy
    assert _policies.acting_policy(inner, env) is inner


def test_training_takes_the_envs_merged_statistics_along(cartpole_mlp):
    env = TimeLimit(NormalizeObservation(CartPole()), 4)
    inner = cartpole_mlp
    policy = NormalizedPolicy(inner, env)
    trained = eqx.tree_at(lambda p: p.actor.layers[0].bias, inner, jnp.ones(8))

    def run(key: Any) -> Any:
        def body(state: Any, key: Any) -> tuple[Any, None]:
            return env.step(state, 1, key=key)[0], None

        state, _, _ = env.reset(key=key)
        return jax.lax.scan(body, state, jax.random.split(key, 6))[0]

    states = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(1), 3))
    updated = _policies.with_trained(policy, trained, env, states)
    assert isinstance(updated, NormalizedPolicy)
    assert eqx.tree_equal(updated.policy, trained)
    merged = states.env_state.statistics.merged()
    np.testing.assert_array_equal(updated.normalizer.statistics.mean, merged.mean)
    # 3 envs x (reset + 6 steps + 1 automatic reset), plus the priors.
    assert float(updated.normalizer.statistics.count) == pytest.approx(24.0003)
    # A plain policy, or a raw env: the trained policy as is.
    assert _policies.with_trained(inner, trained, env, states) is trained
    raw_states = jax.vmap(lambda k: CartPole().reset(key=k)[0])(
        jax.random.split(jax.random.key(2), 3)
    )
    assert _policies.with_trained(policy, trained, CartPole(), raw_states) is trained


# --- PPO with NormalizeObservation, saved and reloaded in a fresh process ---------

_RELOAD = """
import sys
import jax, numpy as np
import lerax.policy  # registers the policy classes
from lerax.utils import load

folder = sys.argv[1]
raw = np.load(folder + "/raw.npy")
keys = jax.random.split(jax.random.key(7), len(raw))
for name in ("final", "best"):
    policy = load(folder + "/" + name + ".eqx")
    np.save(folder + "/" + name + "_greedy.npy", jax.vmap(policy.predict)(raw))
    sampled = jax.vmap(lambda o, k: policy(o, key=k))(raw, keys)
    np.save(folder + "/" + name + "_sampled.npy", np.stack([np.asarray(x, np.float32) for x in sampled]))
print("ok")
"""


def test_a_policy_trained_with_normalize_observation_reloads_in_a_fresh_process(
    tmp_path, cartpole_mlp
):
    env = NormalizeObservation(CartPole())
    policy = NormalizedPolicy(cartpole_mlp, env)
    saved: dict[int, Any] = {}
    # Stable-Baselines3's lost statistics: a best model saved by an evaluation
    # callback. Here the callback evaluates on the raw env, and the policy it
    # saves carries the statistics of its time.
    evaluation = EvalCallback(
        CartPole(), 128, tmp_path / "best.eqx", key=jax.random.key(9), num_episodes=2
    )

    def callback(timesteps: int, policy: Any) -> None:
        saved[timesteps] = policy
        evaluation(timesteps, policy)

    ppo = PPO(num_envs=4, num_steps=16, num_epochs=2)
    trained, history = ppo.learn_with_history(
        env,
        policy,
        4 * 16 * 4,
        key=jax.random.key(1),
        checkpoint_every=2,
        callback=callback,
    )
    assert isinstance(trained, NormalizedPolicy) and sorted(saved) == [128, 256]
    # The callback saves on strict improvements: best.eqx holds the first
    # policy that reached the best mean return.
    assert [t for t, _ in evaluation.evaluations] == [128, 256]
    best = saved[min(t for t, m in evaluation.evaluations if m == evaluation.best)]
    trained.serialize(tmp_path / "final.eqx")
    # The statistics moved with training: every env's reset, step and
    # automatic reset, merged.
    count = 4 * (1 + 1e-4) + 4 * 16 * 4 + int(np.sum(history.num_episodes))
    assert float(trained.normalizer.statistics.count) == pytest.approx(count, rel=1e-6)
    assert float(best.normalizer.statistics.count) <= count
    assert not np.array_equal(trained.normalizer.statistics.mean, np.zeros(4))
    # The policy acts on raw observations as its inner policy on normalised ones.
    raw = np.asarray(
        jax.vmap(lambda k: CartPole().observation_space.sample(key=k))(
            jax.random.split(jax.random.key(5), 64)
        )
    )
    raw = np.clip(raw, -3.0, 3.0).astype(np.float32)
    np.save(tmp_path / "raw.npy", raw)
    normalized = jax.vmap(trained.normalizer)(raw)
    np.testing.assert_allclose(
        jax.vmap(trained.value)(raw),
        jax.vmap(trained.policy.value)(normalized),
        rtol=1e-5,
        atol=1e-6,
    )
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_RELOAD), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip().endswith("ok"), result.stdout + result.stderr
    keys = jax.random.split(jax.random.key(7), len(raw))
    for name, expected in (("final", trained), ("best", best)):
        greedy = np.load(tmp_path / f"{name}_greedy.npy")
        np.testing.assert_array_equal(greedy, jax.vmap(expected.predict)(raw))
        sampled = np.load(tmp_path / f"{name}_sampled.npy")
        ours = jax.vmap(lambda o, k, p=expected: p(o, key=k))(raw, keys)
        np.testing.assert_array_equal(
            sampled, np.stack([np.asarray(x, np.float32) for x in ours])
        )


@pytest.mark.slow
def test_a_resumed_run_with_normalize_observation_is_bit_identical(
    tmp_path, cartpole_mlp
):
    env = NormalizeObservation(CartPole())
    policy = NormalizedPolicy(cartpole_mlp, env)
    ppo = PPO(num_envs=4, num_steps=16, num_epochs=2)
    run: dict[str, Any] = {"key": jax.random.key(1), "checkpoint_every": 2}
    full = ppo.learn(env, policy, 64 * 6, **run)
    checkpoint = tmp_path / "run.ckpt"
    ppo.learn(
        env,
        policy,
        64 * 6,
        checkpoint_path=checkpoint,
        callback=lambda timesteps, _: timesteps >= 128,
        **run,
    )
    resumed = ppo.learn(
        env, policy, 64 * 6, checkpoint_path=checkpoint, resume_from=checkpoint, **run
    )
    assert_trees_identical(resumed, full)


def test_evaluate_a_normalized_policy_on_the_raw_env(cartpole_mlp):
    inner = cartpole_mlp
    stats = _statistics([0.0, 0.1, 0.0, -0.1], [0.01, 0.3, 0.002, 0.4])
    policy = NormalizedPolicy(
        inner, normalizer=ObservationNormalizer(stats, CartPole().observation_space)
    )
    key = jax.random.key(3)
    on_raw = evaluate(CartPole(), policy, key=key, num_episodes=4)
    frozen = NormalizeObservation(
        CartPole(), statistics=stats, update_running_mean=False
    )
    np.testing.assert_array_equal(
        on_raw, evaluate(frozen, inner, key=key, num_episodes=4)
    )
    # On a normalising env the policy acts through its inner policy, as PPO
    # trains it.
    np.testing.assert_array_equal(
        evaluate(frozen, policy, key=key, num_episodes=4), on_raw
    )


# --- Box actions are clipped to the action space before stepping ----------------


def _far_policy(env: Any) -> MLPActorCriticPolicy:
    """A policy whose Gaussian mean is 3 (beyond the bounds [-1, 1])."""
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0), width=4, depth=0)
    layer = policy.actor.layers[-1]
    assert layer.bias is not None
    return eqx.tree_at(
        lambda p: (p.actor.layers[-1].weight, p.actor.layers[-1].bias),
        policy,
        (jnp.zeros_like(layer.weight), jnp.full_like(layer.bias, 3.0)),
    )


def test_ppo_rollout_clips_box_actions_and_keeps_the_sample():
    env = EchoEnv(np.array([-1.0, -0.5], np.float32), np.array([1.0, 0.5], np.float32))
    policy = _far_policy(env)
    state = start_rollout(env, policy, 3, key=jax.random.key(1))
    _, transitions, _ = jax.jit(
        lambda s: collect_rollout(env, policy, s, 4, key=jax.random.key(2))
    )(state)
    action = transitions.action
    # The env echoes the action it received: the clipped one.
    np.testing.assert_array_equal(
        transitions.next_observation, np.clip(action, [-1.0, -0.5], [1.0, 0.5])
    )
    assert float(jnp.max(action)) > 1.0  # the stored sample is not clipped
    # ... and its log-probability is the sample's.
    _, log_prob, _ = jax.vmap(jax.vmap(policy.evaluate_action))(
        transitions.observation, action
    )
    np.testing.assert_allclose(transitions.log_prob, log_prob, rtol=1e-5, atol=1e-5)


def test_evaluate_clips_box_actions():
    env = EchoEnv(np.array([-1.0], np.float32), np.array([1.0], np.float32), length=5)
    returns = evaluate(env, _far_policy(env), key=jax.random.key(0), num_episodes=2)
    # The reward is the first entry of the received action: 1 per step.
    np.testing.assert_array_equal(returns, [5.0, 5.0])
