"""Round-trip tests of policies through lerax.utils serialization."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import Box, CartPole, Discrete
from lerax.policy import GRUActorCriticPolicy, MLPActorCriticPolicy
from lerax.utils import SerializationError


def _assert_same_arrays(a, b):
    leaves_a = jax.tree_util.tree_leaves(eqx.filter(a, eqx.is_array))
    leaves_b = jax.tree_util.tree_leaves(eqx.filter(b, eqx.is_array))
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)


def _assert_same_stateless_behaviour(a, b, obs):
    for seed in range(3):
        key = jax.random.key(seed)
        for x, y in zip(a(obs, key=key), b(obs, key=key), strict=True):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.predict(obs), b.predict(obs))


def _assert_same_stateful_behaviour(a, b, obs):
    state_a = a.reset(key=jax.random.key(0))
    state_b = b.reset(key=jax.random.key(0))
    for seed in range(3):
        key = jax.random.key(seed)
        state_a, *out_a = a(state_a, obs, key=key)
        state_b, *out_b = b(state_b, obs, key=key)
        np.testing.assert_array_equal(state_a, state_b)
        for x, y in zip(out_a, out_b, strict=True):
            np.testing.assert_array_equal(x, y)


def _trained_like(policy):
    """Perturbs every float array so a fresh constructor cannot reproduce it."""
    params, static = eqx.partition(policy, eqx.is_inexact_array)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(99), len(leaves))
    leaves = [
        x + 0.1 * jax.random.normal(k, x.shape, x.dtype)
        for x, k in zip(leaves, keys, strict=True)
    ]
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLPActorCriticPolicy(CartPole(), key=jax.random.key(0)),
        lambda: MLPActorCriticPolicy(
            observation_space=Discrete(5),
            action_space=Box(-1.0, 1.0, shape=(2,)),
            key=jax.random.key(1),
            width=16,
            depth=1,
            activation=jax.nn.relu,
        ),
    ],
    ids=["cartpole-defaults", "box-actions-custom"],
)
def test_mlp_round_trip(tmp_path, make):
    policy = _trained_like(make())
    path = tmp_path / "policy.eqx"
    policy.serialize(path)
    obs = policy.observation_space.sample(key=jax.random.key(3))

    loaded = MLPActorCriticPolicy.deserialize(path)  # recorded constructor args
    _assert_same_arrays(policy, loaded)
    assert loaded.actor.activation is policy.actor.activation
    assert loaded.actor.width_size == policy.actor.width_size
    _assert_same_stateless_behaviour(policy, loaded, obs)


def test_mlp_round_trip_with_explicit_arguments(tmp_path):
    env = CartPole()
    policy = _trained_like(
        MLPActorCriticPolicy(
            env, key=jax.random.key(0), width=32, activation=jax.nn.relu
        )
    )
    path = tmp_path / "policy.eqx"
    policy.serialize(path)
    loaded = MLPActorCriticPolicy.deserialize(
        path, env, key=jax.random.key(1), width=32, activation=jax.nn.relu
    )
    _assert_same_arrays(policy, loaded)
    _assert_same_stateless_behaviour(policy, loaded, jnp.asarray([0.1, 0.2, -0.3, 0.0]))


def test_gru_round_trip(tmp_path):
    env = CartPole()
    policy = _trained_like(
        GRUActorCriticPolicy(env, key=jax.random.key(0), hidden_size=8)
    )
    path = tmp_path / "gru.eqx"
    policy.serialize(path)
    obs = jnp.asarray([0.1, 0.2, -0.3, 0.0])
    for loaded in (
        GRUActorCriticPolicy.deserialize(path),
        GRUActorCriticPolicy.deserialize(
            path, env, key=jax.random.key(5), hidden_size=8
        ),
    ):
        _assert_same_arrays(policy, loaded)
        _assert_same_stateful_behaviour(policy, loaded, obs)


def test_loading_with_a_different_activation_names_the_field(tmp_path):
    env = CartPole()
    path = tmp_path / "policy.eqx"
    MLPActorCriticPolicy(env, key=jax.random.key(0)).serialize(path)
    with pytest.raises(SerializationError, match="activation"):
        MLPActorCriticPolicy.deserialize(
            path, env, key=jax.random.key(1), activation=jax.nn.relu
        )


def test_loading_with_a_different_width_names_the_weight(tmp_path):
    env = CartPole()
    path = tmp_path / "policy.eqx"
    MLPActorCriticPolicy(env, key=jax.random.key(0)).serialize(path)
    with pytest.raises(SerializationError) as info:
        MLPActorCriticPolicy.deserialize(path, env, key=jax.random.key(1), width=32)
    message = str(info.value)
    assert "weight" in message
    assert "64" in message and "32" in message


def test_loading_gru_with_a_different_hidden_size_fails(tmp_path):
    env = CartPole()
    path = tmp_path / "gru.eqx"
    GRUActorCriticPolicy(env, key=jax.random.key(0), hidden_size=8).serialize(path)
    with pytest.raises(SerializationError, match="weight"):
        GRUActorCriticPolicy.deserialize(
            path, env, key=jax.random.key(1), hidden_size=4
        )
