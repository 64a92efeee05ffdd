"""Tests for the squashed Gaussian and the SAC policy (MLPSACPolicy)."""

import subprocess
import sys
import textwrap
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from lerax.algorithm import evaluate
from lerax.env import Box, CartPole, Discrete, Pendulum
from lerax.policy import AbstractStatelessPolicy, TwinQCritic
from lerax.policy._sac import MLPSACPolicy
from lerax.policy._squashed import SquashedDiagonalGaussian
from lerax.utils import SerializationError

LOW = jnp.array([-2.0, 0.0])
HIGH = jnp.array([2.0, 3.0])


def _distribution(mean=(0.3, -0.5), log_std=(-0.2, 0.4)):
    return SquashedDiagonalGaussian(jnp.array(mean), jnp.array(log_std), LOW, HIGH)


# Squashed diagonal Gaussian


def test_log_prob_is_the_derivative_of_the_cdf():
    # Independent of the change-of-variables formula: the density of each
    # component is d/da P(A <= a) = d/da Phi((atanh(y(a)) - mean) / std).
    d = _distribution()
    actions = jnp.stack(
        [jnp.linspace(-1.99, 1.99, 41), jnp.linspace(0.01, 2.99, 41)], axis=1
    )

    def cdf(a, i):
        y = 2.0 * (a - LOW[i]) / (HIGH[i] - LOW[i]) - 1.0
        return norm.cdf((jnp.arctanh(y) - d.mean[i]) / d.std[i])

    density = jax.vmap(jax.vmap(jax.grad(cdf), (0, None)), in_axes=(1, 0), out_axes=1)(
        actions, jnp.arange(2)
    )
    expected = jnp.sum(jnp.log(density), axis=1)
    np.testing.assert_allclose(
        jax.vmap(d.log_prob)(actions), expected, rtol=2e-4, atol=2e-4
    )


def test_density_integrates_to_one():
    d = SquashedDiagonalGaussian(jnp.array([0.8]), jnp.array([0.5]), -2.0, 2.0)
    grid = np.linspace(-2.0, 2.0, 200_001)[1:-1]
    density = np.exp(jax.vmap(lambda a: d.log_prob(a[None]))(jnp.asarray(grid)))
    np.testing.assert_allclose(np.trapezoid(density, grid), 1.0, atol=1e-3)


def test_log_prob_matches_monte_carlo_expectations():
    # E[f(A)] by sampling and by integrating f * exp(log_prob) on a grid.
    # Standard deviations below 1/sqrt(2): the density vanishes at the bounds,
    # so the midpoint rule is accurate.
    d = _distribution(log_std=(-0.5, -0.6))
    keys = jax.random.split(jax.random.key(0), 400_000)
    samples = np.asarray(jax.vmap(lambda k: d.sample(key=k))(keys), np.float64)
    x = np.linspace(-2.0, 2.0, 1601)[:-1] + 0.5 * 4.0 / 1600
    y = np.linspace(0.0, 3.0, 1201)[:-1] + 0.5 * 3.0 / 1200
    grid = jnp.stack(jnp.meshgrid(x, y, indexing="ij"), axis=-1)
    density = np.exp(np.asarray(jax.vmap(jax.vmap(d.log_prob))(grid), np.float64))
    area = (x[1] - x[0]) * (y[1] - y[0])
    grid = np.asarray(grid, np.float64)
    for f in (
        lambda a: a[..., 0],
        lambda a: a[..., 1],
        lambda a: a[..., 0] * a[..., 1],
        lambda a: (a[..., 0] > 1.0) & (a[..., 1] < 1.0),
    ):
        sampled = np.mean(f(samples))
        integrated = np.sum(f(grid) * density) * area
        error = np.std(f(samples)) / np.sqrt(len(samples))
        assert abs(sampled - integrated) < 4 * error + 1e-4, (sampled, integrated)


def test_sample_and_log_prob_agrees_with_log_prob():
    d = _distribution()
    keys = jax.random.split(jax.random.key(1), 100)
    actions, log_probs = jax.vmap(lambda k: d.sample_and_log_prob(key=k))(keys)
    np.testing.assert_array_equal(actions, jax.vmap(lambda k: d.sample(key=k))(keys))
    np.testing.assert_allclose(
        log_probs, jax.vmap(d.log_prob)(actions), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("mean", [0.0, 12.0, -40.0])
def test_samples_stay_within_the_bounds(mean):
    d = _distribution(mean=(mean, -mean), log_std=(2.0, 2.0))
    keys = jax.random.split(jax.random.key(2), 2000)
    actions, log_probs = jax.vmap(lambda k: d.sample_and_log_prob(key=k))(keys)
    assert np.all(actions >= LOW) and np.all(actions <= HIGH)
    assert np.all(np.isfinite(log_probs))


def test_saturated_samples_have_exact_finite_log_prob_and_gradients():
    # tanh(20) rounds to 1 in float32: the log-density must come from u itself.
    def log_prob(mean):
        d = SquashedDiagonalGaussian(mean, jnp.array([-3.0]), -1.0, 1.0)
        return d.sample_and_log_prob(key=jax.random.key(0))[1]

    value, grad = jax.value_and_grad(log_prob)(jnp.array([20.0]))
    u = 20.0 + jnp.exp(-3.0) * jax.random.normal(jax.random.key(0), (1,))
    gaussian = norm.logpdf(u, 20.0, jnp.exp(-3.0))
    # log(1 - tanh(u)^2) = log(4) - 2|u| + log1p(...) ~ log(4) - 2u for large u.
    np.testing.assert_allclose(
        value, jnp.sum(gaussian - (jnp.log(4.0) - 2 * u)), rtol=1e-5
    )
    assert np.all(np.isfinite(grad))


def test_log_prob_is_finite_on_and_beyond_the_bounds():
    d = _distribution()
    for action in (LOW, HIGH, LOW - 1.0, HIGH + 1.0):
        assert np.isfinite(d.log_prob(action))
    # Clipped before atanh: very unlikely, but not -inf.
    assert d.log_prob(HIGH) < d.log_prob(jnp.array([0.0, 1.5])) - 10.0


def test_mode_is_tanh_of_the_mean_mapped_to_the_bounds():
    d = _distribution()
    expected = LOW + 0.5 * (jnp.tanh(d.mean) + 1.0) * (HIGH - LOW)
    np.testing.assert_allclose(d.mode(), expected, rtol=1e-6)
    np.testing.assert_allclose(
        SquashedDiagonalGaussian(jnp.zeros(2), jnp.zeros(2), LOW, HIGH).mode(),
        [0.0, 1.5],
    )


def test_entropy_is_the_pre_squash_gaussians():
    d = _distribution()
    expected = jnp.sum(0.5 * jnp.log(2 * jnp.pi * jnp.e) + d.log_std)
    np.testing.assert_allclose(d.entropy(), expected, rtol=1e-6)


def test_default_bounds_are_the_unit_box():
    d = SquashedDiagonalGaussian(jnp.zeros(3), 0.0)
    assert d.low.shape == d.high.shape == d.log_std.shape == (3,)
    np.testing.assert_array_equal(d.low, -1.0)
    np.testing.assert_array_equal(d.high, 1.0)


# MLPSACPolicy


@pytest.fixture(scope="module")
def default_policy():
    return MLPSACPolicy(Pendulum(), key=jax.random.key(0))


@pytest.fixture(scope="module")
def small_policy():
    return MLPSACPolicy(Pendulum(), key=jax.random.key(0), hidden_sizes=(32, 16))


def test_defaults_are_sb3s(default_policy):
    policy = default_policy
    assert isinstance(policy, MLPSACPolicy)
    assert isinstance(policy, AbstractStatelessPolicy)
    linears = [
        layer for layer in policy.actor.layers if isinstance(layer, eqx.nn.Linear)
    ]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (3, 256),
        (256, 256),
        (256, 2),
    ]
    assert policy.actor.layers[1].fn is jax.nn.relu
    assert isinstance(policy.critic, TwinQCritic)
    assert len(policy.critic.q_networks) == 2
    assert policy.critic.q_networks[0].layers[0].in_features == 4


def test_forward_distribution_and_value(small_policy):
    env = Pendulum()
    policy = small_policy
    obs = jnp.array([0.6, 0.8, -1.5])
    distribution, value = policy.forward(obs)
    assert isinstance(distribution, SquashedDiagonalGaussian)
    np.testing.assert_array_equal(distribution.low, env.action_space.low)
    np.testing.assert_array_equal(distribution.high, env.action_space.high)
    outputs = policy.actor(obs)
    np.testing.assert_allclose(distribution.mean, outputs[:1])
    np.testing.assert_allclose(distribution.log_std, outputs[1:])
    mode = policy.predict(obs)
    assert mode.shape == (1,) and -2.0 <= float(mode[0]) <= 2.0
    np.testing.assert_allclose(value, jnp.min(policy.critic(obs, mode)))
    action, _, log_prob = policy(obs, key=jax.random.key(1))
    np.testing.assert_allclose(log_prob, distribution.log_prob(action), rtol=1e-6)


def test_log_std_is_clipped_to_sb3s_range(small_policy):
    policy = small_policy
    last = policy.actor.layers[-1]
    for bias, expected in ((100.0, 2.0), (-100.0, -20.0)):
        shifted = eqx.tree_at(
            lambda p: p.actor.layers[-1].bias, policy, last.bias + bias
        )
        distribution, _ = shifted.forward(jnp.array([1.0, 0.0, 0.0]))
        np.testing.assert_array_equal(distribution.log_std, expected)


def test_evaluate_acts_with_the_mode(small_policy):
    returns = evaluate(Pendulum(), small_policy, key=jax.random.key(1), num_episodes=2)
    assert returns.shape == (2,) and np.all(np.isfinite(returns))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"observation_space": Box(-1.0, 1.0, (2,)), "action_space": Discrete(3)},
            TypeError,
            "MLPSACPolicy needs a bounded floating Box",
        ),
        (
            {
                "observation_space": Box(-1.0, 1.0, (2,)),
                "action_space": Box(-jnp.inf, jnp.inf, (1,)),
            },
            TypeError,
            "bounded",
        ),
        ({"observation_space": Box(-1.0, 1.0, (2,))}, ValueError, "Pass `env`"),
        ({"env": Pendulum(), "hidden_sizes": (0,)}, ValueError, "hidden_sizes"),
        ({"env": Pendulum(), "num_critics": 0}, ValueError, "num_critics"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MLPSACPolicy(key=jax.random.key(0), **kwargs)


def test_discrete_env_is_refused():
    with pytest.raises(TypeError, match="Discrete"):
        MLPSACPolicy(CartPole(), key=jax.random.key(0))


@eqx.filter_jit
def _trained_like(policy):
    """Perturbs every network parameter so a fresh constructor cannot
    reproduce it."""
    networks = (policy.actor, policy.critic.q_networks)
    params, static = eqx.partition(networks, eqx.is_inexact_array)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(99), len(leaves))
    leaves = [
        x + 0.1 * jax.random.normal(k, x.shape, x.dtype)
        for x, k in zip(leaves, keys, strict=True)
    ]
    networks = eqx.combine(jax.tree.unflatten(treedef, leaves), static)
    return eqx.tree_at(lambda p: (p.actor, p.critic.q_networks), policy, networks)


@eqx.filter_jit
def _behaviour(policy, observation):
    """Sampled actions, values and log-probabilities for three keys, and the
    deterministic action: one compiled call instead of many eager ones."""
    keys = jax.random.split(jax.random.key(0), 3)
    sampled = jax.vmap(lambda k: policy(observation, key=k))(keys)
    return sampled, policy.predict(observation)


def _assert_same_behaviour(a, b, observation):
    assert bool(eqx.tree_equal(a, b))
    for x, y in zip(
        jax.tree.leaves(_behaviour(a, observation)),
        jax.tree.leaves(_behaviour(b, observation)),
        strict=True,
    ):
        np.testing.assert_array_equal(x, y)


def test_round_trip_without_arguments(tmp_path, default_policy):
    policy = _trained_like(default_policy)
    path = policy.serialize(tmp_path / "sac")
    assert path is not None
    loaded = MLPSACPolicy.deserialize(path)
    _assert_same_behaviour(policy, loaded, jnp.array([0.6, 0.8, -1.5]))
    assert loaded.actor.layers[1].fn is jax.nn.relu


def test_round_trip_with_arguments(tmp_path):
    obs_space = Box(-1.0, 1.0, (5,))
    act_space = Box(jnp.array([-1.0, 0.0]), jnp.array([1.0, 4.0]))
    kwargs: dict[str, Any] = dict(
        observation_space=obs_space,
        action_space=act_space,
        hidden_sizes=(32, 8, 16),
        activation=jax.nn.tanh,
        num_critics=3,
    )
    policy = _trained_like(MLPSACPolicy(key=jax.random.key(0), **kwargs))
    path = tmp_path / "sac.eqx"
    policy.serialize(path)
    observation = jnp.linspace(-1.0, 1.0, 5)
    for loaded in (
        MLPSACPolicy.deserialize(path),
        MLPSACPolicy.deserialize(path, key=jax.random.key(7), **kwargs),
    ):
        _assert_same_behaviour(policy, loaded, observation)
        assert len(loaded.critic.q_networks) == 3


def test_loading_with_other_sizes_names_the_weight(tmp_path, small_policy):
    path = tmp_path / "sac.eqx"
    small_policy.serialize(path)
    with pytest.raises(SerializationError, match="weight"):
        MLPSACPolicy.deserialize(
            path, Pendulum(), key=jax.random.key(1), hidden_sizes=(32, 8)
        )


_ACT = """
def act(policy, observations):
    keys = jax.random.split(jax.random.key(6), observations.shape[0])
    sampled = jax.vmap(lambda o, k: policy(o, key=k)[0])(observations, keys)
    return sampled, jax.vmap(policy.predict)(observations)
"""


def test_no_argument_load_in_a_fresh_process_acts_identically(tmp_path, small_policy):
    policy = _trained_like(small_policy)
    path = tmp_path / "sac.eqx"
    policy.serialize(path)
    observations = jax.random.uniform(
        jax.random.key(5), (16, 3), minval=-1.0, maxval=1.0
    )
    np.save(tmp_path / "obs.npy", np.asarray(observations))
    namespace: dict[str, Any] = {"jax": jax}
    exec(_ACT, namespace)
    sampled, modes = eqx.filter_jit(namespace["act"])(policy, observations)
    script = (
        textwrap.dedent(
            """
        import equinox as eqx, jax, numpy as np
        from lerax.policy._sac import MLPSACPolicy
        """
        )
        + _ACT
        + textwrap.dedent(
            f"""
        policy = MLPSACPolicy.deserialize({str(path)!r})
        observations = jax.numpy.asarray(np.load({str(tmp_path / "obs.npy")!r}))
        sampled, modes = eqx.filter_jit(act)(policy, observations)
        np.save({str(tmp_path / "sampled.npy")!r}, np.asarray(sampled))
        np.save({str(tmp_path / "modes.npy")!r}, np.asarray(modes))
        """
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sampled.npy"), sampled)
    np.testing.assert_array_equal(np.load(tmp_path / "modes.npy"), modes)
