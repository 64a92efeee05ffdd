"""Tests for evaluate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Float

from lerax.algorithm import evaluate
from lerax.env import AbstractSpace, CartPole
from lerax.policy import (
    AbstractStatelessPolicy,
    Categorical,
    GRUActorCriticPolicy,
    MLPActorCriticPolicy,
)


class Controller(AbstractStatelessPolicy):
    """A hand-written linear CartPole controller that balances for 500 steps."""

    observation_space: AbstractSpace
    action_space: AbstractSpace
    sharpness: float

    def __init__(self, env: CartPole, sharpness: float = 100.0):
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.sharpness = sharpness

    def forward(self, observation: Array) -> tuple[Categorical, Float[Array, ""]]:
        x, x_dot, theta, theta_dot = observation
        push = theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot
        logits = jnp.stack([-push, push]) * self.sharpness
        return Categorical(logits), jnp.array(0.0)


def _python_loop_return(env, policy, env_key, max_steps=10_000):
    """Reference: step one episode in Python from the reset with `env_key`."""
    state, obs, _ = env.reset(key=env_key)
    total = 0.0
    for _ in range(max_steps):
        state, obs, reward, terminated, truncated, _ = env.step(
            state, policy.predict(obs), key=jax.random.key(0)
        )
        total += float(reward)
        if terminated or truncated:
            break
    return total


def test_counts_whole_episodes_up_to_truncation():
    env = CartPole()
    returns = evaluate(env, Controller(env), key=jax.random.key(0), num_episodes=6)
    assert returns.shape == (6,) and returns.dtype == jnp.float32
    np.testing.assert_array_equal(returns, 500.0)
    short = CartPole(max_episode_steps=37)
    np.testing.assert_array_equal(
        evaluate(short, Controller(short), key=jax.random.key(0), num_episodes=3), 37.0
    )


def test_matches_python_loop():
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(3))
    key = jax.random.key(5)
    returns = evaluate(env, policy, key=key, num_episodes=4)
    # evaluate gives episode i the key split(key, n)[i], and resets with its
    # second sub-key.
    episode_keys = jax.random.split(key, 4)
    expected = [
        _python_loop_return(env, policy, jax.random.split(k, 3)[1])
        for k in episode_keys
    ]
    np.testing.assert_array_equal(returns, expected)
    assert len(set(expected)) > 1


def test_max_steps_and_determinism():
    env = CartPole(max_episode_steps=None)
    controller = Controller(env)
    returns = evaluate(env, controller, key=jax.random.key(0), max_steps=123)
    np.testing.assert_array_equal(returns, 123.0)
    a = evaluate(env, controller, key=jax.random.key(1), num_episodes=3, max_steps=50)
    b = evaluate(env, controller, key=jax.random.key(1), num_episodes=3, max_steps=50)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="num_episodes"):
        evaluate(env, controller, key=jax.random.key(0), num_episodes=0)
    with pytest.raises(ValueError, match="max_steps"):
        evaluate(env, controller, key=jax.random.key(0), max_steps=0)


def test_stochastic_samples_actions():
    env = CartPole()
    # A barely-decided controller: sampling makes it fail where argmax does not.
    soft = Controller(env, sharpness=0.5)
    deterministic = evaluate(env, soft, key=jax.random.key(0), num_episodes=8)
    stochastic = evaluate(
        env, soft, key=jax.random.key(0), num_episodes=8, deterministic=False
    )
    np.testing.assert_array_equal(deterministic, 500.0)
    assert float(stochastic.mean()) < 500.0


def test_stateful_policy():
    env = CartPole()
    policy = GRUActorCriticPolicy(env, key=jax.random.key(0), hidden_size=8)
    returns = evaluate(env, policy, key=jax.random.key(1), num_episodes=5)
    assert returns.shape == (5,)
    assert np.all((np.asarray(returns) >= 1) & (np.asarray(returns) <= 500))
    # The recurrent state carries through the episode: the reference threads it.
    key = jax.random.split(jax.random.key(1), 5)[0]
    _, reset_key, _ = jax.random.split(key, 3)
    state, obs, _ = env.reset(key=reset_key)
    hidden = policy.reset(key=jax.random.key(0))
    total = 0.0
    while True:
        hidden, action = policy.predict(hidden, obs)
        state, obs, reward, terminated, truncated, _ = env.step(
            state, action, key=jax.random.key(0)
        )
        total += float(reward)
        if terminated or truncated:
            break
    assert float(returns[0]) == total
