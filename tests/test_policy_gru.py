"""Tests for GRUActorCriticPolicy and the stateful policy API."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import Box, CartPole, Discrete
from lerax.policy import AbstractStatefulPolicy, GRUActorCriticPolicy


@pytest.fixture(scope="module")
def policy():
    return GRUActorCriticPolicy(CartPole(), key=jax.random.key(0), hidden_size=16)


@pytest.fixture(scope="module")
def box_policy():
    return GRUActorCriticPolicy(
        observation_space=Discrete(4),
        action_space=Box(-1.0, 1.0, shape=(3,)),
        key=jax.random.key(0),
        hidden_size=8,
        width=32,
        depth=2,
    )


def _observations(space, n, seed=0):
    keys = jax.random.split(jax.random.key(seed), n)
    return jax.vmap(lambda k: space.sample(key=k))(keys)


def test_defaults_and_initialisation():
    policy: GRUActorCriticPolicy = GRUActorCriticPolicy(
        CartPole(), key=jax.random.key(0)
    )
    assert isinstance(policy, AbstractStatefulPolicy)
    assert policy.cell.hidden_size == 64 and policy.cell.input_size == 4
    assert policy.actor.width_size == 64 and policy.actor.depth == 1
    assert policy.actor.activation is jax.nn.tanh
    hidden = policy.cell.hidden_size
    for weight in (policy.cell.weight_ih, policy.cell.weight_hh):
        for gate in range(3):
            block = np.asarray(weight, np.float64)[gate * hidden : (gate + 1) * hidden]
            gram = (
                block.T @ block if block.shape[0] >= block.shape[1] else block @ block.T
            )
            np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-5)
    np.testing.assert_array_equal(policy.cell.bias, 0.0)
    np.testing.assert_array_equal(policy.cell.bias_n, 0.0)
    w = np.asarray(policy.actor.layers[0].weight, np.float64)
    np.testing.assert_allclose(w @ w.T, 2.0 * np.eye(64), atol=1e-5)
    head = np.asarray(policy.actor.layers[-1].weight, np.float64)
    np.testing.assert_allclose(head @ head.T, 1e-4 * np.eye(2), atol=1e-9)
    value_head = np.asarray(policy.critic.layers[-1].weight, np.float64)
    np.testing.assert_allclose(np.linalg.norm(value_head), 1.0, rtol=1e-5)
    for net in (policy.actor, policy.critic):
        for layer in net.layers:
            np.testing.assert_array_equal(layer.bias, 0.0)
    assert policy.actor.layers[0].weight.shape == (64, hidden)


def test_reset_and_shapes(policy):
    state = policy.reset(key=jax.random.key(0))
    assert state.shape == (16,)
    np.testing.assert_array_equal(state, 0.0)
    obs = jnp.asarray([0.1, -0.2, 0.03, 0.4])
    next_state, action, value, log_prob = policy(state, obs, key=jax.random.key(1))
    assert next_state.shape == (16,)
    assert action.shape == () and action.dtype == jnp.int32
    assert bool(policy.action_space.contains(action))
    assert value.shape == () and log_prob.shape == ()
    predicted_state, predicted = policy.predict(state, obs)
    np.testing.assert_allclose(predicted_state, next_state, rtol=1e-6)
    assert predicted.shape == ()
    v, lp, ent = policy.evaluate_action(state, obs, action)
    np.testing.assert_allclose(v, value, rtol=1e-6)
    np.testing.assert_allclose(v, policy.value(state, obs), rtol=1e-6)
    np.testing.assert_allclose(lp, log_prob, rtol=1e-6)
    assert 0.0 < float(ent) <= math.log(2) + 1e-6


def test_state_threading_matters(policy):
    obs = _observations(policy.observation_space, 5, seed=1)
    state = policy.reset(key=jax.random.key(0))
    states = [state]
    for o in obs:
        state, _ = policy.predict(state, o)
        states.append(state)
    assert not np.allclose(states[1], states[2])
    # Same observation, different incoming state: different outputs.
    value_fresh = policy.value(states[0], obs[4])
    value_later = policy.value(states[4], obs[4])
    assert not np.isclose(value_fresh, value_later)
    # value/evaluate_action take the state before the step, like __call__.
    _, _, value_step, _ = policy(states[4], obs[4], key=jax.random.key(2))
    np.testing.assert_allclose(value_step, value_later, rtol=1e-6)


def test_scan_rollout_matches_python_loop(policy):
    obs = _observations(policy.observation_space, 6, seed=2)
    keys = jax.random.split(jax.random.key(3), 6)

    @eqx.filter_jit
    def rollout(policy, obs, keys):
        def step(state, inputs):
            o, k = inputs
            state, action, value, log_prob = policy(state, o, key=k)
            return state, (action, value, log_prob)

        return jax.lax.scan(step, policy.reset(key=jax.random.key(0)), (obs, keys))

    final_state, (actions, values, log_probs) = rollout(policy, obs, keys)
    state = policy.reset(key=jax.random.key(0))
    for i in range(6):
        state, action, value, log_prob = policy(state, obs[i], key=keys[i])
        assert int(action) == int(actions[i])
        np.testing.assert_allclose(value, values[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(log_prob, log_probs[i], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state, final_state, rtol=1e-5, atol=1e-6)


def test_vmap_over_batch_of_states(box_policy):
    batch = 5
    keys = jax.random.split(jax.random.key(0), batch)
    states = jax.vmap(lambda k: box_policy.reset(key=k))(keys)
    # Make the incoming states differ so per-example state handling is exercised.
    states = states + jax.random.normal(jax.random.key(1), states.shape)
    obs = _observations(box_policy.observation_space, batch)
    step = jax.jit(jax.vmap(lambda s, o, k: box_policy(s, o, key=k)))
    next_states, actions, values, log_probs = step(states, obs, keys)
    assert next_states.shape == (batch, 8)
    assert actions.shape == (batch, 3) and actions.dtype == jnp.float32
    assert values.shape == (batch,) and log_probs.shape == (batch,)
    evaluate = jax.jit(jax.vmap(box_policy.evaluate_action))
    re_values, re_log_probs, entropies = evaluate(states, obs, actions)
    np.testing.assert_allclose(re_values, values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(re_log_probs, log_probs, rtol=1e-5, atol=1e-5)
    # The log-std is state-independent and initialised to 0.
    np.testing.assert_allclose(entropies, 1.5 * np.log(2 * np.pi * np.e), rtol=1e-5)
    for i in range(batch):
        s, a, _, _ = box_policy(states[i], obs[i], key=keys[i])
        np.testing.assert_allclose(s, next_states[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a, actions[i], rtol=1e-5, atol=1e-6)


def test_determinism():
    a = GRUActorCriticPolicy(CartPole(), key=jax.random.key(7), hidden_size=8)
    b = GRUActorCriticPolicy(CartPole(), key=jax.random.key(7), hidden_size=8)
    assert eqx.tree_equal(eqx.filter(a, eqx.is_array), eqx.filter(b, eqx.is_array))
    state = a.reset(key=jax.random.key(0))
    obs = jnp.ones(4)
    out_a = a(state, obs, key=jax.random.key(1))
    out_b = b(state, obs, key=jax.random.key(1))
    for x, y in zip(out_a, out_b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_gradients_reach_the_cell(policy):
    state = policy.reset(key=jax.random.key(0))
    obs = jnp.asarray([0.1, 0.2, 0.3, 0.4])

    def loss(p):
        value, log_prob, entropy = p.evaluate_action(state, obs, jnp.int32(1))
        return value + log_prob + entropy

    grads = eqx.filter_grad(loss)(policy)
    assert np.any(np.asarray(grads.cell.weight_ih) != 0)
    assert np.any(np.asarray(grads.critic.layers[0].weight) != 0)


def test_validation():
    with pytest.raises(ValueError, match="hidden_size"):
        GRUActorCriticPolicy(CartPole(), key=jax.random.key(0), hidden_size=0)
