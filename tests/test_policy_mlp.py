"""Tests for MLPActorCriticPolicy and the stateless policy API."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import Box, CartPole, Discrete
from lerax.policy import (
    AbstractStatelessPolicy,
    Categorical,
    DiagonalGaussian,
    MLPActorCriticPolicy,
)


@pytest.fixture(scope="module")
def cartpole_policy():
    return MLPActorCriticPolicy(CartPole(), key=jax.random.key(0))


@pytest.fixture(scope="module")
def box_policy():
    return MLPActorCriticPolicy(
        observation_space=Box(-1.0, 1.0, shape=(2, 3)),
        action_space=Box(-2.0, 2.0, shape=(2,)),
        key=jax.random.key(0),
    )


def _observation(space, seed=0):
    return space.sample(key=jax.random.key(seed))


def _assert_orthogonal_rows_or_columns(weight, gain):
    w = np.asarray(weight, dtype=np.float64)
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(gram, gain**2 * np.eye(gram.shape[0]), atol=1e-5)


def test_spaces_come_from_env_and_env_is_not_stored(cartpole_policy):
    env = CartPole()
    assert isinstance(cartpole_policy, AbstractStatelessPolicy)
    assert cartpole_policy.observation_space == env.observation_space
    assert cartpole_policy.action_space == env.action_space
    leaves = jax.tree_util.tree_leaves(
        cartpole_policy, is_leaf=lambda x: isinstance(x, type(env))
    )
    assert not any(isinstance(leaf, type(env)) for leaf in leaves)


def test_default_architecture_and_initialisation(cartpole_policy):
    for net, out_gain in ((cartpole_policy.actor, 0.01), (cartpole_policy.critic, 1.0)):
        assert net.width_size == 64
        assert net.depth == 2
        assert net.activation is jax.nn.tanh
        assert [layer.weight.shape[0] for layer in net.layers[:-1]] == [64, 64]
        for layer in net.layers[:-1]:
            _assert_orthogonal_rows_or_columns(layer.weight, math.sqrt(2.0))
        _assert_orthogonal_rows_or_columns(net.layers[-1].weight, out_gain)
        for layer in net.layers:
            np.testing.assert_array_equal(layer.bias, 0.0)
    assert cartpole_policy.actor is not cartpole_policy.critic
    assert cartpole_policy.actor.layers[-1].weight.shape == (2, 64)


def test_custom_width_depth_activation():
    policy = MLPActorCriticPolicy(
        CartPole(), key=jax.random.key(0), width=16, depth=3, activation=jax.nn.relu
    )
    assert len(policy.actor.layers) == 4
    assert policy.critic.layers[1].weight.shape == (16, 16)
    assert policy.actor.activation is jax.nn.relu
    linear = MLPActorCriticPolicy(CartPole(), key=jax.random.key(0), depth=0)
    assert len(linear.actor.layers) == 1
    value = linear.value(jnp.ones(4))
    assert value.shape == ()


def test_cartpole_shapes_and_dtypes(cartpole_policy):
    obs = _observation(cartpole_policy.observation_space)
    action, value, log_prob = cartpole_policy(obs, key=jax.random.key(1))
    assert action.shape == () and action.dtype == jnp.int32
    assert bool(cartpole_policy.action_space.contains(action))
    assert value.shape == () and log_prob.shape == ()
    assert cartpole_policy.predict(obs).shape == ()
    assert cartpole_policy.value(obs).shape == ()
    v, lp, ent = cartpole_policy.evaluate_action(obs, action)
    np.testing.assert_allclose(v, value, rtol=1e-6)
    np.testing.assert_allclose(lp, log_prob, rtol=1e-6)
    assert ent.shape == ()


def test_box_shapes_and_distribution(box_policy):
    obs = _observation(box_policy.observation_space)
    action, value, log_prob = box_policy(obs, key=jax.random.key(1))
    assert action.shape == (2,) and action.dtype == jnp.float32
    assert value.shape == () and log_prob.shape == ()
    distribution, _ = box_policy.forward(obs)
    assert isinstance(distribution, DiagonalGaussian)
    np.testing.assert_array_equal(distribution.log_std, 0.0)
    np.testing.assert_array_equal(box_policy.predict(obs), distribution.mean)


def test_determinism(cartpole_policy, box_policy):
    again = MLPActorCriticPolicy(CartPole(), key=jax.random.key(0))
    for a, b in zip(
        jax.tree_util.tree_leaves(eqx.filter(cartpole_policy, eqx.is_array)),
        jax.tree_util.tree_leaves(eqx.filter(again, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    other = MLPActorCriticPolicy(CartPole(), key=jax.random.key(1))
    assert not np.array_equal(
        other.actor.layers[0].weight, again.actor.layers[0].weight
    )

    obs = _observation(box_policy.observation_space)
    first = box_policy(obs, key=jax.random.key(5))
    second = box_policy(obs, key=jax.random.key(5))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    different = box_policy(obs, key=jax.random.key(6))
    assert not np.array_equal(first[0], different[0])
    np.testing.assert_array_equal(box_policy.predict(obs), box_policy.predict(obs))


def test_discrete_probabilities_sum_to_one_and_entropy():
    policy = MLPActorCriticPolicy(
        observation_space=Box(-1.0, 1.0, shape=(3,)),
        action_space=Discrete(5),
        key=jax.random.key(2),
    )
    # Scale the policy head so the distribution is far from uniform.
    policy = eqx.tree_at(
        lambda p: p.actor.layers[-1].weight,
        policy,
        policy.actor.layers[-1].weight * 300,
    )
    obs = jnp.asarray([0.3, -0.5, 0.9])
    actions = jnp.arange(5, dtype=jnp.int32)
    _, log_probs, entropies = jax.vmap(policy.evaluate_action, in_axes=(None, 0))(
        obs, actions
    )
    probs = np.exp(np.asarray(log_probs, dtype=np.float64))
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)
    assert probs.max() > 0.3  # not trivially uniform
    np.testing.assert_allclose(entropies, -np.sum(probs * np.log(probs)), rtol=1e-4)
    assert int(policy.predict(obs)) == int(np.argmax(probs))


def test_box_log_prob_matches_reference_formula(box_policy):
    obs = _observation(box_policy.observation_space, seed=3)
    log_std = jnp.asarray([0.3, -0.7])
    policy = eqx.tree_at(lambda p: p.action_head.log_std, box_policy, log_std)
    action = jnp.asarray([0.25, -1.5])
    value, log_prob, entropy = policy.evaluate_action(obs, action)
    mean = np.asarray(policy.predict(obs), dtype=np.float64)
    std = np.exp(np.asarray(log_std, dtype=np.float64))
    reference = np.sum(
        -((np.asarray(action) - mean) ** 2) / (2 * std**2)
        - np.log(std)
        - 0.5 * np.log(2 * np.pi)
    )
    np.testing.assert_allclose(log_prob, reference, rtol=1e-5)
    np.testing.assert_allclose(
        entropy, np.sum(0.5 * np.log(2 * np.pi * np.e * std**2)), rtol=1e-5
    )
    np.testing.assert_allclose(value, policy.value(obs), rtol=1e-6)


def test_discrete_observations_are_one_hot():
    policy = MLPActorCriticPolicy(
        observation_space=Discrete(6), action_space=Discrete(3), key=jax.random.key(0)
    )
    assert policy.actor.layers[0].weight.shape == (64, 6)
    w = policy.critic.layers[0].weight
    hidden = jnp.tanh(w[:, 4])  # one-hot input picks a column; biases are zero
    expected = policy.critic.layers[2](jnp.tanh(policy.critic.layers[1](hidden)))
    np.testing.assert_allclose(policy.value(jnp.int32(4)), expected, rtol=1e-5)


def test_vmap_and_jit_match_single_calls(box_policy):
    keys = jax.random.split(jax.random.key(4), 7)
    obs = jax.vmap(lambda k: box_policy.observation_space.sample(key=k))(keys)
    step = eqx.filter_jit(jax.vmap(lambda p, o, k: p(o, key=k), in_axes=(None, 0, 0)))
    actions, values, log_probs = step(box_policy, obs, keys)
    assert actions.shape == (7, 2) and values.shape == (7,) and log_probs.shape == (7,)
    for i in range(7):
        a, v, lp = box_policy(obs[i], key=keys[i])
        np.testing.assert_allclose(actions[i], a, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(values[i], v, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(log_probs[i], lp, rtol=1e-5, atol=1e-5)
    evaluated = eqx.filter_jit(
        jax.vmap(AbstractStatelessPolicy.evaluate_action, in_axes=(None, 0, 0))
    )(box_policy, obs, actions)
    np.testing.assert_allclose(evaluated[1], log_probs, rtol=1e-5, atol=1e-5)
    predicted = jax.jit(jax.vmap(box_policy.predict))(obs)
    assert predicted.shape == (7, 2)


def test_gradients_flow_to_all_parameters(box_policy):
    obs = _observation(box_policy.observation_space)
    action = jnp.asarray([0.5, -0.5])

    def loss(policy):
        value, log_prob, entropy = policy.evaluate_action(obs, action)
        return value + log_prob + entropy

    grads = eqx.filter_grad(loss)(box_policy)
    assert np.any(np.asarray(grads.actor.layers[0].weight) != 0)
    assert np.any(np.asarray(grads.critic.layers[0].weight) != 0)
    assert np.all(np.asarray(grads.action_head.log_std) != 0)


def test_space_argument_validation():
    env = CartPole()
    with pytest.raises(ValueError, match="not both"):
        MLPActorCriticPolicy(env, key=jax.random.key(0), action_space=Discrete(2))
    with pytest.raises(ValueError, match="env"):
        MLPActorCriticPolicy(key=jax.random.key(0), action_space=Discrete(2))
    with pytest.raises(ValueError, match="width"):
        MLPActorCriticPolicy(env, key=jax.random.key(0), width=0)
    with pytest.raises(TypeError, match="floating"):
        MLPActorCriticPolicy(
            observation_space=Discrete(3),
            action_space=Box(0, 5, shape=(2,), dtype=jnp.int32),
            key=jax.random.key(0),
        )


def test_categorical_distribution_type(cartpole_policy):
    distribution, _ = cartpole_policy.forward(jnp.zeros(4))
    assert isinstance(distribution, Categorical)
    # Small policy-head gain: initial policy is close to uniform.
    np.testing.assert_allclose(jnp.exp(distribution.logits), 0.5, atol=0.05)
