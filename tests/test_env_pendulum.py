"""Tests of lerax.env.Pendulum: Gymnasium parity, clipping, auto-reset, files."""

import math
import re
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from env_parity import (
    assert_round_trip,
    assert_same_distribution,
    check_parity,
    rollouts,
)
from lerax.env import AbstractEnv, Box, Pendulum, PendulumState

# Physical parameters differing from the defaults in every field.
CUSTOM: dict[str, Any] = {
    "max_speed": 6.0,
    "max_torque": 1.5,
    "dt": 0.04,
    "g": 9.81,
    "m": 1.3,
    "l": 0.8,
}
# Observations: one float32 step from identical states (see docs/env.md).
OBS_TOL: dict[str, Any] = {"obs_rtol": 1e-5, "obs_atol": 1e-6}
REWARD_TOL: dict[str, Any] = {"reward_rtol": 1e-5, "reward_atol": 1e-6}


def _gym_env(max_episode_steps: int | None, **params: float) -> gymnasium.Env:
    """Gymnasium's Pendulum-v1 with the given limit and physical parameters."""
    params = dict(params)
    env = gymnasium.make(
        "Pendulum-v1", max_episode_steps=max_episode_steps, g=params.pop("g", 10.0)
    )
    inner = env.unwrapped
    assert isinstance(inner, PendulumEnv)
    for name, value in params.items():
        setattr(inner, name, value)
    return env


def _set_state(inner: PendulumEnv, state: PendulumState) -> None:
    inner.state = np.array([state.theta, state.theta_dot], np.float64)


def _in_reset_distribution(obs: np.ndarray) -> bool:
    return bool(abs(obs[0] ** 2 + obs[1] ** 2 - 1) < 1e-6 and abs(obs[2]) <= 1)


def _no_controller(obs: jax.Array) -> jax.Array:
    return jnp.zeros((1,), jnp.float32)


def _parity(env: Pendulum, gym_env, n_seqs: int, n_steps: int, seed: int, scale):
    """Random torques uniform in ``[-scale, scale]``, beyond the bounds if > 2."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-scale, scale, (n_seqs, n_steps, 1)).astype(np.float32)
    use = np.ones((n_seqs, n_steps), bool)
    traj = rollouts(
        env, _no_controller, jax.random.key(seed), jnp.asarray(actions), use
    )
    return check_parity(
        traj,
        gym_env,
        _set_state,
        seed=seed,
        **OBS_TOL,
        **REWARD_TOL,
        in_reset_distribution=_in_reset_distribution,
    )


def test_parity_random_actions_through_truncation():
    # Torques up to 1.5x the bound, so clipping is exercised too.
    counts = _parity(Pendulum(), _gym_env(200), 6, 450, seed=1, scale=3.0)
    assert counts.truncated == 12
    assert counts.terminated == 0


def test_parity_custom_physics():
    counts = _parity(
        Pendulum(**CUSTOM, max_episode_steps=40),
        _gym_env(40, **CUSTOM),
        4,
        130,
        seed=2,
        scale=2.0,
    )
    assert counts.truncated == 12


@pytest.mark.slow
def test_parity_long():
    counts = _parity(Pendulum(), _gym_env(200), 40, 1000, seed=3, scale=3.0)
    assert counts.truncated == 200


def test_defaults_match_gymnasium():
    env = Pendulum()
    gym_inner = _gym_env(200).unwrapped
    for name in ["max_speed", "max_torque", "dt", "g", "m", "l"]:
        assert getattr(env, name) == getattr(gym_inner, name), name
    assert env.max_episode_steps == gymnasium.spec("Pendulum-v1").max_episode_steps
    assert not env.check_actions
    assert isinstance(env, AbstractEnv)
    for ours, theirs in [
        (env.observation_space, gym_inner.observation_space),
        (env.action_space, gym_inner.action_space),
    ]:
        assert isinstance(ours, Box)
        assert isinstance(theirs, gymnasium.spaces.Box)
        assert ours.shape == theirs.shape
        assert ours.dtype == theirs.dtype == np.float32
        np.testing.assert_array_equal(ours.low, theirs.low)
        np.testing.assert_array_equal(ours.high, theirs.high)


def test_actions_are_clipped_for_dynamics_and_reward():
    env = Pendulum()
    state = PendulumState(jnp.float32(0.5), jnp.float32(-0.3), jnp.int32(0))
    key = jax.random.key(0)
    step = jax.jit(env.step)
    at_bound = step(state, jnp.array([2.0]), key=key)
    for beyond in [2.5, 100.0, jnp.inf]:
        out = step(state, jnp.array([beyond]), key=key)
        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(at_bound), strict=True):
            np.testing.assert_array_equal(a, b)
    below = step(state, jnp.array([-7.0]), key=key)
    assert float(below[2]) == float(step(state, jnp.array([-2.0]), key=key)[2])
    assert float(below[0].theta_dot) < float(at_bound[0].theta_dot)


@pytest.mark.parametrize("shape", [(), (2,), (1, 1)])
def test_rejects_actions_of_another_shape(shape):
    env = Pendulum()
    state, _, _ = env.reset(key=jax.random.key(0))
    message = f"Pendulum needs an action of shape (1,), got shape {shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        env.step(state, jnp.zeros(shape), key=jax.random.key(1))


def test_theta_stays_wrapped_in_long_episodes():
    # Full torque without a time limit: the pendulum spins for good.
    env = Pendulum(max_episode_steps=None)
    state = PendulumState(jnp.float32(3.0), jnp.float32(0.0), jnp.int32(0))

    @jax.jit
    def spin(state):
        def body(state, _):
            out = env.step(state, jnp.array([2.0]), key=jax.random.key(0))
            return out[0], (out[0].theta, out[1], out[3] | out[4])

        return jax.lax.scan(body, state, None, length=5000)[1]

    theta, obs, done = map(np.asarray, spin(state))
    assert not done.any()
    assert np.all(np.abs(theta) <= np.float32(math.pi))
    # It spins: the angle wraps hundreds of times, without loss of precision.
    assert np.sum(np.abs(np.diff(theta)) > math.pi) > 100
    np.testing.assert_allclose(obs[:, 0], np.cos(theta), atol=1e-6)
    np.testing.assert_allclose(obs[:, 1], np.sin(theta), atol=1e-6)


def test_truncation_step_count():
    state = PendulumState(jnp.float32(0.0), jnp.float32(0.0), jnp.int32(199))
    for env, expected in [
        (Pendulum(), True),
        (Pendulum(max_episode_steps=201), False),
        (Pendulum(max_episode_steps=None), False),
    ]:
        _, _, _, terminated, truncated, _ = env.step(
            state, jnp.zeros(1), key=jax.random.key(0)
        )
        assert not bool(terminated)
        assert bool(truncated) == expected


def test_reset_distribution():
    env = Pendulum()
    keys = jax.random.split(jax.random.key(0), 20_000)
    state, obs, info = jax.jit(jax.vmap(lambda k: env.reset(key=k)))(keys)
    theta, theta_dot, obs = map(np.asarray, (state.theta, state.theta_dot, obs))
    assert obs.shape == (20_000, 3) and obs.dtype == np.float32
    np.testing.assert_array_equal(info["final_observation"], obs)
    assert np.all(np.asarray(state.t) == 0)
    np.testing.assert_allclose(obs[:, 0], np.cos(theta), atol=1e-6)
    np.testing.assert_allclose(obs[:, 1], np.sin(theta), atol=1e-6)
    np.testing.assert_array_equal(obs[:, 2], theta_dot)
    for values, high in [(theta, math.pi), (theta_dot, 1.0)]:
        assert values.min() >= -high and values.max() <= high
        assert values.min() < -0.999 * high and values.max() > 0.999 * high
        np.testing.assert_allclose(values.mean(), 0.0, atol=0.02 * high)
        np.testing.assert_allclose(values.std(), 2 * high / math.sqrt(12), rtol=0.02)
    assert len(np.unique(theta)) > 19_000
    # Gymnasium's reset observations have the same distribution.
    gym_env = _gym_env(200)
    theirs = np.stack([gym_env.reset(seed=s)[0] for s in range(2000)])
    assert_same_distribution(obs, theirs, atol=0.06)


def test_env_as_jit_argument():
    @jax.jit
    def first_step(env, key):
        state, _, _ = env.reset(key=key)
        return env.step(state, jnp.array([1.0]), key=key)

    a = first_step(Pendulum(), jax.random.key(0))
    b = first_step(Pendulum(g=3.0), jax.random.key(0))
    # Same start, weaker gravity: another velocity, and the same reward (it
    # depends on the pre-step state only).
    assert not np.allclose(a[1][2], b[1][2])
    assert float(a[2]) == float(b[2])


def test_info_structure_is_constant():
    env = Pendulum()
    state, _, info = env.reset(key=jax.random.key(0))
    out = env.step(state, jnp.zeros(1), key=jax.random.key(1))
    assert jax.tree.structure(info) == jax.tree.structure(out[-1])
    assert set(info) == {"final_observation"}


def test_equality():
    assert Pendulum() == Pendulum()
    assert Pendulum(g=10.0) == Pendulum()
    assert Pendulum(g=9.81) != Pendulum()
    assert Pendulum(max_episode_steps=10) != Pendulum()
    assert Pendulum(check_actions=True) != Pendulum()


def test_serialization_round_trip(tmp_path):
    kwargs = {**CUSTOM, "max_episode_steps": 77, "check_actions": True}
    assert_round_trip(Pendulum(**kwargs), kwargs, tmp_path / "env.eqx", jnp.ones(1))


def test_serialization_default_env(tmp_path):
    path = tmp_path / "env.eqx"
    Pendulum().serialize(path)
    assert Pendulum.deserialize(path) == Pendulum()
