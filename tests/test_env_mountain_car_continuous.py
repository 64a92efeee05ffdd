"""Tests of lerax.env.MountainCarContinuous: Gymnasium parity, clipping, files."""

import re
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.envs.classic_control.continuous_mountain_car import (
    Continuous_MountainCarEnv,
)

from env_parity import (
    assert_round_trip,
    assert_same_distribution,
    check_parity,
    rollouts,
)
from lerax.env import (
    AbstractEnv,
    Box,
    MountainCarContinuous,
    MountainCarContinuousState,
)

# Parameters Gymnasium lets us change, differing from the defaults (its gravity
# is a constant in the code).
CUSTOM: dict[str, Any] = {
    "min_action": -0.8,
    "max_action": 1.2,
    "min_position": -1.1,
    "max_position": 0.55,
    "max_speed": 0.06,
    "goal_position": 0.4,
    "goal_velocity": 0.005,
    "power": 0.0018,
}
# Observations: one float32 step from identical states (see docs/env.md).
OBS_TOL: dict[str, Any] = {"obs_rtol": 1e-5, "obs_atol": 1e-6}
# Gymnasium's reward is a Python float computed in float64.
REWARD_TOL: dict[str, Any] = {"reward_rtol": 1e-6, "reward_atol": 1e-6}


def _gym_env(max_episode_steps: int | None, **params: float) -> gymnasium.Env:
    """Gymnasium's MountainCarContinuous-v0 with the given limit and parameters."""
    params = dict(params)
    env = gymnasium.make(
        "MountainCarContinuous-v0",
        max_episode_steps=max_episode_steps,
        goal_velocity=params.pop("goal_velocity", 0),
    )
    inner = env.unwrapped
    assert isinstance(inner, Continuous_MountainCarEnv)
    for name, value in params.items():
        setattr(inner, name, value)
    return env


def _set_state(
    inner: Continuous_MountainCarEnv, state: MountainCarContinuousState
) -> None:
    # As Gymnasium stores it: float64 after a reset, float32 after a step.
    dtype = np.float64 if state.t == 0 else np.float32
    inner.state = np.array([state.position, state.velocity], dtype)


def _near_goal(inner: Continuous_MountainCarEnv) -> bool:
    position, velocity = inner.state
    return bool(
        abs(position - inner.goal_position) < 1e-6
        or abs(velocity - inner.goal_velocity) < 1e-7
    )


def _in_reset_distribution(obs: np.ndarray) -> bool:
    return bool(-0.6 <= obs[0] <= -0.4 and obs[1] == 0)


def _controller(obs: jax.Array) -> jax.Array:
    """Full throttle along the velocity: reaches the goal in ~80 steps."""
    return jnp.where(obs[1] > 0, 1.0, -1.0)[None].astype(jnp.float32)


def _parity(env, gym_env, n_steps: int, seed: int, p_random: list[float]):
    """One episode stream per entry of `p_random`, its share of random actions.

    Random throttles are uniform in ``[-1.5, 1.5]``: a third are clipped.
    """
    rng = np.random.default_rng(seed)
    n_seqs = len(p_random)
    actions = rng.uniform(-1.5, 1.5, (n_seqs, n_steps, 1)).astype(np.float32)
    use = rng.random((n_seqs, n_steps)) < np.array(p_random)[:, None]
    traj = rollouts(env, _controller, jax.random.key(seed), actions, use)
    return check_parity(
        traj,
        gym_env,
        _set_state,
        seed=seed,
        **OBS_TOL,
        **REWARD_TOL,
        near_threshold=_near_goal,
        in_reset_distribution=_in_reset_distribution,
    )


def test_parity_controlled_through_termination():
    counts = _parity(
        MountainCarContinuous(), _gym_env(999), 300, seed=1, p_random=[0.3] * 4
    )
    assert counts.terminated >= 6
    assert counts.near_misses <= 1


def test_parity_custom_parameters_through_truncation():
    # Random streams run into the time limit, controlled ones reach the goal.
    counts = _parity(
        MountainCarContinuous(**CUSTOM, max_episode_steps=150),
        _gym_env(150, **CUSTOM),
        320,
        seed=3,
        p_random=[1.0, 1.0, 0.3, 0.3],
    )
    assert counts.truncated >= 4
    assert counts.terminated >= 4


@pytest.mark.slow
def test_parity_long():
    counts = _parity(
        MountainCarContinuous(), _gym_env(999), 2500, seed=4, p_random=[1.0, 0.5] * 10
    )
    assert counts.terminated > 100
    assert counts.truncated >= 1


def test_defaults_match_gymnasium():
    env = MountainCarContinuous()
    gym_inner = _gym_env(999).unwrapped
    for name in [
        "min_action",
        "max_action",
        "min_position",
        "max_position",
        "max_speed",
        "goal_position",
        "goal_velocity",
        "power",
    ]:
        assert getattr(env, name) == getattr(gym_inner, name), name
    assert env.gravity == 0.0025  # a literal in Gymnasium's step
    spec = gymnasium.spec("MountainCarContinuous-v0")
    assert env.max_episode_steps == spec.max_episode_steps
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


def test_actions_clipped_for_dynamics_charged_unclipped():
    env = MountainCarContinuous()
    state = MountainCarContinuousState(
        jnp.float32(-0.5), jnp.float32(0.01), jnp.int32(3)
    )
    key = jax.random.key(0)
    step = jax.jit(env.step)
    at_bound = step(state, jnp.array([1.0]), key=key)
    beyond = step(state, jnp.array([3.0]), key=key)
    same = zip(jax.tree.leaves(beyond[:2]), jax.tree.leaves(at_bound[:2]), strict=True)
    for a, b in same:
        np.testing.assert_array_equal(a, b)
    assert float(at_bound[2]) == pytest.approx(-0.1)
    assert float(beyond[2]) == pytest.approx(-0.9)


def test_reward_at_the_goal():
    env = MountainCarContinuous()
    # Just below the goal, moving right fast enough to reach it.
    state = MountainCarContinuousState(
        jnp.float32(0.44), jnp.float32(0.02), jnp.int32(3)
    )
    _, _, reward, terminated, _, _ = env.step(
        state, jnp.array([0.5]), key=jax.random.key(0)
    )
    assert bool(terminated)
    assert float(reward) == pytest.approx(100.0 - 0.1 * 0.25)


@pytest.mark.parametrize("shape", [(), (2,), (1, 1)])
def test_rejects_actions_of_another_shape(shape):
    env = MountainCarContinuous()
    state, _, _ = env.reset(key=jax.random.key(0))
    message = f"MountainCarContinuous needs an action of shape (1,), got shape {shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        env.step(state, jnp.zeros(shape), key=jax.random.key(1))


def test_rejects_inverted_action_bounds():
    with pytest.raises(
        ValueError, match=r"min_action must not exceed max_action, got 1\.0 and -1\.0"
    ):
        MountainCarContinuous(min_action=1.0, max_action=-1.0)


def test_left_wall_is_inelastic():
    env = MountainCarContinuous()
    state = MountainCarContinuousState(
        jnp.float32(-1.19), jnp.float32(-0.05), jnp.int32(0)
    )
    new, obs, *_ = env.step(state, jnp.array([-1.0]), key=jax.random.key(0))
    assert float(new.position) == np.float32(-1.2)
    assert float(new.velocity) == 0.0
    np.testing.assert_array_equal(obs, [np.float32(-1.2), 0.0])


def test_truncation_step_count():
    state = MountainCarContinuousState(
        jnp.float32(-0.5), jnp.float32(0.0), jnp.int32(998)
    )
    for env, expected in [
        (MountainCarContinuous(), True),
        (MountainCarContinuous(max_episode_steps=1000), False),
        (MountainCarContinuous(max_episode_steps=None), False),
    ]:
        _, _, _, terminated, truncated, _ = env.step(
            state, jnp.zeros(1), key=jax.random.key(0)
        )
        assert not bool(terminated)
        assert bool(truncated) == expected


def test_reset_distribution():
    env = MountainCarContinuous()
    keys = jax.random.split(jax.random.key(0), 20_000)
    state, obs, info = jax.jit(jax.vmap(lambda k: env.reset(key=k)))(keys)
    obs = np.asarray(obs)
    assert obs.shape == (20_000, 2) and obs.dtype == np.float32
    np.testing.assert_array_equal(info["final_observation"], obs)
    np.testing.assert_array_equal(obs[:, 0], state.position)
    assert np.all(np.asarray(state.t) == 0)
    assert np.all(obs[:, 1] == 0)
    position = obs[:, 0]
    assert position.min() >= -0.6 and position.max() <= -0.4
    assert position.min() < -0.599 and position.max() > -0.401
    np.testing.assert_allclose(position.mean(), -0.5, atol=0.002)
    np.testing.assert_allclose(position.std(), 0.2 / np.sqrt(12), rtol=0.02)
    gym_env = _gym_env(999)
    theirs = np.stack([gym_env.reset(seed=s)[0] for s in range(2000)])
    assert_same_distribution(obs, theirs, atol=0.01)


def test_env_as_jit_argument():
    @jax.jit
    def first_step(env, key):
        state, _, _ = env.reset(key=key)
        return env.step(state, jnp.ones(1), key=key)

    a = first_step(MountainCarContinuous(), jax.random.key(0))
    b = first_step(MountainCarContinuous(power=0.003), jax.random.key(0))
    assert float(b[1][1] - a[1][1]) == pytest.approx(0.0015, rel=1e-3)


def test_info_structure_is_constant():
    env = MountainCarContinuous()
    state, _, info = env.reset(key=jax.random.key(0))
    out = env.step(state, jnp.zeros(1), key=jax.random.key(1))
    assert jax.tree.structure(info) == jax.tree.structure(out[-1])
    assert set(info) == {"final_observation"}


def test_equality():
    assert MountainCarContinuous() == MountainCarContinuous()
    assert MountainCarContinuous(power=0.0015) == MountainCarContinuous()
    assert MountainCarContinuous(power=0.002) != MountainCarContinuous()
    assert MountainCarContinuous(max_action=2.0) != MountainCarContinuous()


def test_serialization_round_trip(tmp_path):
    kwargs = {
        **CUSTOM,
        "gravity": 0.002,
        "max_episode_steps": 321,
        "check_actions": True,
    }
    env = MountainCarContinuous(**kwargs)
    assert_round_trip(env, kwargs, tmp_path / "env.eqx", jnp.array([0.7]))


def test_serialization_default_env(tmp_path):
    path = tmp_path / "env.eqx"
    MountainCarContinuous().serialize(path)
    assert MountainCarContinuous.deserialize(path) == MountainCarContinuous()
