"""Tests for the TD3 policy (deterministic actor, twin critics) and the point
mass it acts through."""

import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.algorithm import evaluate
from lerax.algorithm._policies import trainable
from lerax.env import Box, CartPole, Discrete, Pendulum
from lerax.policy import AbstractStatelessPolicy, TwinQCritic
from lerax.policy._deterministic import Deterministic
from lerax.policy._td3 import MLPTD3Policy
from lerax.utils import SerializationError


@eqx.filter_jit
def _trained_like(policy):
    """Perturbs every parameter so a fresh constructor cannot reproduce it
    (the spaces' bounds are configuration and stay)."""
    params, static = eqx.partition(policy, trainable(policy))
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(99), len(leaves))
    leaves = [
        x + 0.1 * jax.random.normal(k, x.shape, x.dtype)
        for x, k in zip(leaves, keys, strict=True)
    ]
    return eqx.combine(jax.tree.unflatten(treedef, leaves), static)


@eqx.filter_jit
def _observations(policy, n=32, seed=3):
    return jax.vmap(lambda k: policy.observation_space.sample(key=k))(
        jax.random.split(jax.random.key(seed), n)
    )


# Deterministic


def test_deterministic_is_a_point_mass():
    action = jnp.array([0.5, -1.5], jnp.float32)
    distribution = Deterministic(action)
    for seed in range(3):
        np.testing.assert_array_equal(
            distribution.sample(key=jax.random.key(seed)), action
        )
    np.testing.assert_array_equal(distribution.mode(), action)
    for value in (action, action + 1.0):
        log_prob = distribution.log_prob(value)
        assert log_prob.shape == () and log_prob.dtype == jnp.float32
        assert float(log_prob) == 0.0
    assert float(distribution.entropy()) == 0.0
    batched = jax.vmap(lambda a: Deterministic(a).mode())(jnp.ones((4, 2)))
    assert batched.shape == (4, 2)
    with pytest.raises(TypeError, match="does not support action masks"):
        distribution.masked(jnp.array([True, False]))


def test_deterministic_of_integer_actions_has_float_log_prob():
    distribution = Deterministic(jnp.array(3, jnp.int32))
    assert distribution.log_prob(jnp.array(3)).dtype == jnp.float32
    assert distribution.entropy().dtype == jnp.float32


# MLPTD3Policy


@pytest.fixture(scope="module")
def pendulum_policy() -> MLPTD3Policy:
    return MLPTD3Policy(Pendulum(), key=jax.random.key(0))


def test_defaults_are_sb3_td3_mlp_policy(pendulum_policy: MLPTD3Policy):
    policy = pendulum_policy
    assert isinstance(policy, AbstractStatelessPolicy)
    widths = [
        (layer.in_features, layer.out_features)
        for layer in policy.actor.layers
        if isinstance(layer, eqx.nn.Linear)
    ]
    assert widths == [(3, 400), (400, 300), (300, 1)]
    assert all(
        layer.fn is jax.nn.relu
        for layer in policy.actor.layers
        if isinstance(layer, eqx.nn.Lambda)
    )
    assert isinstance(policy.critic, TwinQCritic)
    assert len(policy.critic.q_networks) == 2
    for q in policy.critic.q_networks:
        linear = [layer for layer in q.layers if isinstance(layer, eqx.nn.Linear)]
        assert [(x.in_features, x.out_features) for x in linear] == [
            (4, 400),
            (400, 300),
            (300, "scalar"),
        ]
    # Actor and critics are initialised independently.
    assert not np.array_equal(
        policy.critic.q_networks[0].layers[0].weight,
        policy.critic.q_networks[1].layers[0].weight,
    )


# Custom arguments, shared by the tests that need them (one compilation).
CUSTOM = {
    "observation_space": Box(-1.0, 1.0, shape=(5,)),
    "action_space": Box(jnp.array([-1.0, 0.0]), jnp.array([3.0, 0.5])),
    "hidden_sizes": (32, 8, 4),
    "activation": jax.nn.tanh,
    "num_critics": 3,
}


@pytest.fixture(scope="module")
def custom_policy() -> MLPTD3Policy:
    return _trained_like(MLPTD3Policy(key=jax.random.key(2), **CUSTOM))


def test_actions_are_squashed_to_the_bounds(custom_policy):
    # A huge output layer saturates the tanh: actions stay within the bounds.
    policy = eqx.tree_at(
        lambda p: p.actor.layers[-1].weight,
        custom_policy,
        1e3 * custom_policy.actor.layers[-1].weight,
    )
    space = CUSTOM["action_space"]
    observations = _observations(policy, 256)
    scaled = jax.vmap(policy.scaled_action)(observations)
    actions = jax.vmap(policy.predict)(observations)
    assert scaled.shape == actions.shape == (256, 2)
    assert np.all(np.abs(scaled) <= 1.0)
    assert np.all((actions >= space.low) & (actions <= space.high))
    np.testing.assert_allclose(actions, jax.vmap(policy.unscale)(scaled), rtol=1e-6)
    assert np.any(np.abs(scaled) > 0.99)
    np.testing.assert_allclose(
        policy.unscale(jnp.array([-1.0, 1.0])), jnp.array([-1.0, 0.5])
    )


def test_forward_is_the_actor_and_the_smallest_critic(pendulum_policy):
    policy = _trained_like(pendulum_policy)
    for observation in _observations(policy, 4):
        distribution, value = policy.forward(observation)
        assert isinstance(distribution, Deterministic)
        action = policy.predict(observation)
        np.testing.assert_array_equal(distribution.mode(), action)
        q = policy.critic(observation, action)
        assert q.shape == (2,) and q[0] != q[1]
        assert float(value) == float(jnp.min(q))
        np.testing.assert_array_equal(policy.value(observation), value)
        sampled, sampled_value, log_prob = policy(observation, key=jax.random.key(0))
        np.testing.assert_array_equal(sampled, action)
        np.testing.assert_array_equal(sampled_value, value)
        assert float(log_prob) == 0.0


def test_evaluate_runs_the_policy(pendulum_policy):
    returns = evaluate(
        Pendulum(max_episode_steps=20),
        pendulum_policy,
        key=jax.random.key(0),
        num_episodes=3,
    )
    assert returns.shape == (3,) and np.all(np.isfinite(returns))
    # Deterministic: sampling changes nothing.
    np.testing.assert_array_equal(
        returns,
        evaluate(
            Pendulum(max_episode_steps=20),
            pendulum_policy,
            key=jax.random.key(0),
            num_episodes=3,
            deterministic=False,
        ),
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"env": CartPole()}, TypeError, "MLPTD3Policy needs a bounded floating Box"),
        (
            {
                "observation_space": Box(-1.0, 1.0, shape=(2,)),
                "action_space": Box(-jnp.inf, jnp.inf, shape=(1,)),
            },
            TypeError,
            "bounded floating Box",
        ),
        (
            {
                "observation_space": Box(-1.0, 1.0, shape=(2,)),
                "action_space": Discrete(3),
            },
            TypeError,
            "bounded floating Box",
        ),
        ({"env": Pendulum(), "hidden_sizes": (64, 0)}, ValueError, "hidden_sizes"),
        ({"env": Pendulum(), "num_critics": 0}, ValueError, "num_critics"),
        (
            {"env": Pendulum(), "action_space": Box(-1.0, 1.0, shape=(1,))},
            ValueError,
            "not both",
        ),
        ({"observation_space": Box(-1.0, 1.0, shape=(2,))}, ValueError, "both"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MLPTD3Policy(key=jax.random.key(0), **kwargs)


def test_round_trip_without_and_with_arguments(tmp_path, pendulum_policy):
    policy = _trained_like(pendulum_policy)
    path = policy.serialize(tmp_path / "td3")
    assert path is not None
    observations = _observations(policy)
    for loaded in (
        MLPTD3Policy.deserialize(path),
        MLPTD3Policy.deserialize(path, Pendulum(), key=jax.random.key(5)),
    ):
        assert eqx.tree_equal(loaded, policy)
        np.testing.assert_array_equal(
            jax.vmap(loaded.predict)(observations),
            jax.vmap(policy.predict)(observations),
        )


def test_round_trip_with_custom_arguments(tmp_path, custom_policy):
    policy, kwargs = custom_policy, CUSTOM
    path = tmp_path / "custom.eqx"
    policy.serialize(path)
    for loaded in (
        MLPTD3Policy.deserialize(path),
        MLPTD3Policy.deserialize(path, key=jax.random.key(0), **kwargs),
    ):
        assert eqx.tree_equal(loaded, policy)
        assert len(loaded.critic.q_networks) == 3
        assert loaded.actor.layers[1].fn is jax.nn.tanh
    with pytest.raises(SerializationError):
        MLPTD3Policy.deserialize(
            path, key=jax.random.key(0), **{**kwargs, "hidden_sizes": (32, 8, 5)}
        )
    with pytest.raises(SerializationError, match=r"fn: expected function jax.nn:relu"):
        MLPTD3Policy.deserialize(
            path, key=jax.random.key(0), **{**kwargs, "activation": jax.nn.relu}
        )


_RELOAD = """
import sys
import jax, numpy as np
from lerax.policy._td3 import MLPTD3Policy

folder = sys.argv[1]
policy = MLPTD3Policy.deserialize(folder + "/policy.eqx")
observations = np.load(folder + "/observations.npy")
np.save(folder + "/actions.npy", jax.vmap(policy.predict)(observations))
np.save(folder + "/values.npy", jax.vmap(policy.value)(observations))
print("ok")
"""


def test_a_reloaded_policy_acts_identically_in_a_fresh_process(
    tmp_path, pendulum_policy
):
    policy = _trained_like(pendulum_policy)
    policy.serialize(tmp_path / "policy.eqx")
    observations = np.asarray(_observations(policy, 64))
    np.save(tmp_path / "observations.npy", observations)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_RELOAD), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip().endswith("ok"), result.stdout + result.stderr
    np.testing.assert_array_equal(
        np.load(tmp_path / "actions.npy"), jax.vmap(policy.predict)(observations)
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / "values.npy"), jax.vmap(policy.value)(observations)
    )
