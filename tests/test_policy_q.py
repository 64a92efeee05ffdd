"""Tests for MLPQPolicy: a Q-network as a stateless policy (DQN)."""

import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import assert_trees_identical
from lerax.env import Box, CartPole, Discrete, MultiDiscrete
from lerax.policy import AbstractStatelessPolicy, Categorical
from lerax.policy._q import MLPQPolicy
from lerax.utils import SerializationError


@pytest.fixture(scope="module")
def policy():
    return MLPQPolicy(CartPole(), key=jax.random.key(0))


def _trained_like(policy):
    """Perturbs every float array so a fresh constructor cannot reproduce it."""
    params, static = eqx.partition(policy, eqx.is_inexact_array)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(99), len(leaves))
    leaves = [
        x + 0.1 * jax.random.normal(k, x.shape, x.dtype)
        for x, k in zip(leaves, keys, strict=True)
    ]
    return eqx.combine(jax.tree.unflatten(treedef, leaves), static)


def _observations(space, n=64, seed=5):
    return jax.vmap(lambda k: space.sample(key=k))(
        jax.random.split(jax.random.key(seed), n)
    )


def test_defaults_are_stable_baselines3_dqn_mlp_policy(policy):
    assert issubclass(MLPQPolicy, AbstractStatelessPolicy)
    assert policy.observation_space == CartPole().observation_space
    assert policy.action_space == Discrete(2)
    linears = [x for x in policy.q_network.layers if isinstance(x, eqx.nn.Linear)]
    assert [lin.weight.shape for lin in linears] == [(64, 4), (64, 64), (2, 64)]
    activations = [x for x in policy.q_network.layers if isinstance(x, eqx.nn.Lambda)]
    assert [a.fn for a in activations] == [jax.nn.relu, jax.nn.relu]
    # PyTorch's nn.Linear initialisation: uniform in ±1/sqrt(fan_in).
    for lin in linears:
        bound = 1.0 / np.sqrt(lin.weight.shape[1])
        assert float(jnp.max(jnp.abs(lin.weight))) <= bound
        assert float(jnp.max(jnp.abs(lin.weight))) > 0.5 * bound


def test_custom_architecture():
    policy = MLPQPolicy(
        observation_space=Discrete(5),
        action_space=Discrete(3),
        key=jax.random.key(1),
        hidden_sizes=(256, 32, 8),
        activation=jax.nn.tanh,
    )
    linears = [x for x in policy.q_network.layers if isinstance(x, eqx.nn.Linear)]
    assert [lin.weight.shape for lin in linears] == [
        (256, 5),
        (32, 256),
        (8, 32),
        (3, 8),
    ]
    # A Discrete observation is read one-hot.
    q = policy.q_values(jnp.array(2, jnp.int32))
    np.testing.assert_array_equal(q, policy.q_network(jax.nn.one_hot(2, 5)))
    linear = MLPQPolicy(CartPole(), key=jax.random.key(0), hidden_sizes=())
    assert len(linear.q_network.layers) == 1


def test_forward_is_categorical_over_q_values_and_max_q(policy):
    observations = jax.random.normal(jax.random.key(5), (64, 4))
    q = jax.vmap(policy.q_values)(observations)
    assert q.shape == (64, 2) and q.dtype == jnp.float32
    distribution, _ = policy.forward(observations[0])
    assert isinstance(distribution, Categorical)
    np.testing.assert_allclose(distribution.probs, jax.nn.softmax(q[0]), rtol=1e-6)
    np.testing.assert_array_equal(jax.vmap(policy.value)(observations), q.max(-1))
    greedy = eqx.filter_jit(jax.vmap(lambda o: policy.predict(o)))(observations)
    np.testing.assert_array_equal(greedy, q.argmax(-1))
    assert len(np.unique(np.asarray(greedy))) == 2  # both actions appear


def test_sampling_is_boltzmann_over_q():
    policy = MLPQPolicy(
        observation_space=Box(-1.0, 1.0, (3,)),
        action_space=Discrete(4),
        key=jax.random.key(2),
    )
    observation = jnp.array([0.5, -0.2, 0.1])
    keys = jax.random.split(jax.random.key(3), 20_000)
    actions, values, log_probs = eqx.filter_jit(
        jax.vmap(lambda k: policy(observation, key=k))
    )(keys)
    q = policy.q_values(observation)
    frequencies = np.bincount(np.asarray(actions), minlength=4) / len(keys)
    np.testing.assert_allclose(frequencies, jax.nn.softmax(q), atol=0.015)
    np.testing.assert_allclose(log_probs, jax.nn.log_softmax(q)[actions], rtol=1e-5)
    np.testing.assert_array_equal(values, jnp.full(len(keys), q.max()))


def test_masked_prediction_is_the_best_allowed_action():
    policy = MLPQPolicy(
        observation_space=Box(-1.0, 1.0, (3,)),
        action_space=Discrete(4),
        key=jax.random.key(2),
    )
    observations = _observations(policy.observation_space, n=32)
    masks = jax.random.bernoulli(jax.random.key(4), 0.5, (32, 4))
    masks = masks.at[:, 3].set(True)
    q = jax.vmap(policy.q_values)(observations)
    expected = jnp.argmax(jnp.where(masks, q, -jnp.inf), axis=-1)
    keys = jax.random.split(jax.random.key(5), 32)

    @eqx.filter_jit
    def act(policy, observations, keys, masks):
        greedy = jax.vmap(lambda o, m: policy.predict(o, action_mask=m))
        sample = jax.vmap(lambda o, k, m: policy(o, key=k, action_mask=m)[0])
        return greedy(observations, masks), sample(observations, keys, masks)

    got, sampled = act(policy, observations, keys, masks)
    np.testing.assert_array_equal(got, expected)
    assert bool(jnp.all(masks[jnp.arange(32), sampled]))


@pytest.mark.parametrize(
    "action_space", [Box(-1.0, 1.0, (2,)), MultiDiscrete([2, 3])], ids=str
)
def test_non_discrete_actions_are_refused(action_space):
    with pytest.raises(
        TypeError, match=r"MLPQPolicy needs a Discrete action space .*, got"
    ):
        MLPQPolicy(
            observation_space=Box(-1.0, 1.0, (3,)),
            action_space=action_space,
            key=jax.random.key(0),
        )


def test_invalid_arguments():
    with pytest.raises(ValueError, match="hidden_sizes must be positive integers"):
        MLPQPolicy(CartPole(), key=jax.random.key(0), hidden_sizes=(64, 0))
    with pytest.raises(ValueError, match="not both"):
        MLPQPolicy(CartPole(), key=jax.random.key(0), action_space=Discrete(2))
    with pytest.raises(ValueError, match="Pass `env`"):
        MLPQPolicy(key=jax.random.key(0), action_space=Discrete(2))


@eqx.filter_jit
def _behaviour(policy, observations, keys):
    """Q-values, greedy actions and samples (with values and log-probabilities)."""
    return (
        jax.vmap(policy.q_values)(observations),
        jax.vmap(lambda o: policy.predict(o))(observations),
        jax.vmap(lambda o, k: policy(o, key=k))(observations, keys),
    )


def _assert_same_behaviour(a, b):
    observations = _observations(a.observation_space)
    keys = jax.random.split(jax.random.key(7), len(observations))
    for x, y in zip(
        jax.tree.leaves(_behaviour(a, observations, keys)),
        jax.tree.leaves(_behaviour(b, observations, keys)),
        strict=True,
    ):
        np.testing.assert_array_equal(x, y)


def test_round_trip_without_and_with_arguments(tmp_path):
    env = CartPole()
    policy = _trained_like(
        MLPQPolicy(env, key=jax.random.key(0), hidden_sizes=(32, 16))
    )
    path = policy.serialize(tmp_path / "q")
    assert path is not None
    for loaded in (
        MLPQPolicy.deserialize(path),
        MLPQPolicy.deserialize(path, env, key=jax.random.key(1), hidden_sizes=(32, 16)),
    ):
        assert bool(eqx.tree_equal(loaded, policy))
        assert_trees_identical(loaded, policy)
        _assert_same_behaviour(policy, loaded)


def test_loading_into_another_architecture_names_the_weights(tmp_path):
    env = CartPole()
    path = MLPQPolicy(env, key=jax.random.key(0)).serialize(tmp_path / "q")
    assert path is not None
    with pytest.raises(SerializationError, match=r"layers\[0\]"):
        MLPQPolicy.deserialize(path, env, key=jax.random.key(1), hidden_sizes=(32, 32))
    with pytest.raises(SerializationError, match="fn"):
        MLPQPolicy.deserialize(path, env, key=jax.random.key(1), activation=jax.nn.tanh)


_RELOAD = """
import sys

import equinox as eqx
import jax
import numpy as np

from lerax.policy._q import MLPQPolicy

folder = sys.argv[1]
policy = MLPQPolicy.deserialize(folder + "/q.eqx")
observations = np.load(folder + "/observations.npy")
keys = jax.random.split(jax.random.key(7), len(observations))


@eqx.filter_jit
def behaviour(policy, observations, keys):
    return (
        jax.vmap(policy.q_values)(observations),
        jax.vmap(lambda o: policy.predict(o))(observations),
        jax.vmap(lambda o, k: policy(o, key=k))(observations, keys),
    )


q_values, greedy, (sampled, _, _) = behaviour(policy, observations, keys)
np.save(folder + "/q_values.npy", q_values)
np.save(folder + "/greedy.npy", greedy)
np.save(folder + "/sampled.npy", sampled)
print("ok")
"""


def test_no_argument_load_in_a_fresh_process_acts_identically(tmp_path):
    policy = _trained_like(MLPQPolicy(CartPole(), key=jax.random.key(0)))
    policy.serialize(tmp_path / "q.eqx")
    observations = np.asarray(_observations(policy.observation_space, n=256))
    np.save(tmp_path / "observations.npy", observations)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_RELOAD), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip().endswith("ok"), result.stdout + result.stderr
    keys = jax.random.split(jax.random.key(7), len(observations))
    q_values, greedy, (sampled, _, _) = _behaviour(policy, observations, keys)
    np.testing.assert_array_equal(np.load(tmp_path / "q_values.npy"), q_values)
    np.testing.assert_array_equal(np.load(tmp_path / "greedy.npy"), greedy)
    np.testing.assert_array_equal(np.load(tmp_path / "sampled.npy"), sampled)
