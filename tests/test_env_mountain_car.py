"""Tests of lerax.env.MountainCar: Gymnasium parity, auto-reset, jit/vmap, files."""

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv

from env_parity import (
    assert_round_trip,
    assert_same_distribution,
    check_parity,
    rollouts,
)
from lerax.env import AbstractEnv, Box, Discrete, MountainCar, MountainCarState

# Parameters differing from the defaults in every field.
CUSTOM: dict[str, Any] = {
    "min_position": -1.1,
    "max_position": 0.55,
    "max_speed": 0.06,
    "goal_position": 0.45,
    "goal_velocity": 0.01,
    "force": 0.0012,
    "gravity": 0.0022,
}
# Observations: one float32 step from identical states (see docs/env.md).
OBS_TOL: dict[str, Any] = {"obs_rtol": 1e-5, "obs_atol": 1e-6}


def _gym_env(max_episode_steps: int | None, **params: float) -> gymnasium.Env:
    """Gymnasium's MountainCar-v0 with the given limit and parameters."""
    params = dict(params)
    env = gymnasium.make(
        "MountainCar-v0",
        max_episode_steps=max_episode_steps,
        goal_velocity=params.pop("goal_velocity", 0),
    )
    inner = env.unwrapped
    assert isinstance(inner, MountainCarEnv)
    for name, value in params.items():
        setattr(inner, name, value)
    return env


def _set_state(inner: MountainCarEnv, state: MountainCarState) -> None:
    inner.state = np.array([state.position, state.velocity], np.float64)


def _near_goal(inner: MountainCarEnv) -> bool:
    """Gymnasium's terminal test is within float32 rounding of its threshold."""
    position, velocity = inner.state
    return bool(
        abs(position - inner.goal_position) < 1e-6
        or abs(velocity - inner.goal_velocity) < 1e-7
    )


def _in_reset_distribution(obs: np.ndarray) -> bool:
    return bool(-0.6 <= obs[0] <= -0.4 and obs[1] == 0)


def _controller(obs: jax.Array) -> jax.Array:
    """Pushes along the velocity: pumps energy, reaching the goal in ~150 steps."""
    return jnp.where(obs[1] > 0, 2, 0).astype(jnp.int32)


def _parity(env, gym_env, n_steps: int, seed: int, p_random: list[float]):
    """One episode stream per entry of `p_random`, its share of random actions."""
    rng = np.random.default_rng(seed)
    n_seqs = len(p_random)
    actions = rng.integers(0, 3, (n_seqs, n_steps), dtype=np.int32)
    use = rng.random((n_seqs, n_steps)) < np.array(p_random)[:, None]
    traj = rollouts(env, _controller, jax.random.key(seed), actions, use)
    counts = check_parity(
        traj,
        gym_env,
        _set_state,
        seed=seed,
        **OBS_TOL,
        near_threshold=_near_goal,
        in_reset_distribution=_in_reset_distribution,
    )
    final_obs = np.asarray(traj[-1]["final_observation"])
    wall_hits = int(np.sum(final_obs[..., 0] == np.float32(env.min_position)))
    return counts, wall_hits


def test_parity_through_termination_and_truncation():
    # Random streams run into the time limit; those driven mostly by the
    # energy-pumping controller reach the goal, and hit the left wall on the
    # way (the inelastic collision).
    counts, wall_hits = _parity(
        MountainCar(), _gym_env(200), 450, seed=1, p_random=[1.0, 1.0, 0.2, 0.2, 0.2]
    )
    assert counts.truncated >= 4
    assert counts.terminated >= 6
    assert wall_hits > 5
    assert counts.near_misses <= 1


def test_parity_custom_parameters():
    counts, _ = _parity(
        MountainCar(**CUSTOM, max_episode_steps=150),
        _gym_env(150, **CUSTOM),
        400,
        seed=3,
        p_random=[1.0, 0.2, 0.2, 0.2],
    )
    assert counts.truncated >= 2
    assert counts.terminated >= 3


@pytest.mark.slow
def test_parity_long():
    counts, _ = _parity(
        MountainCar(), _gym_env(200), 1000, seed=4, p_random=[1.0, 0.3] * 30
    )
    assert counts.terminated > 120
    assert counts.truncated > 120


def test_defaults_match_gymnasium():
    env = MountainCar()
    gym_inner = _gym_env(200).unwrapped
    for name in [
        "min_position",
        "max_position",
        "max_speed",
        "goal_position",
        "goal_velocity",
        "force",
        "gravity",
    ]:
        assert getattr(env, name) == getattr(gym_inner, name), name
    assert env.max_episode_steps == gymnasium.spec("MountainCar-v0").max_episode_steps
    assert not env.check_actions
    assert isinstance(env, AbstractEnv)
    assert env.action_space == Discrete(3)
    assert isinstance(env.observation_space, Box)
    assert env.observation_space.shape == (2,)
    assert env.observation_space.dtype == np.float32
    gym_obs_space = gym_inner.observation_space
    assert isinstance(gym_obs_space, gymnasium.spaces.Box)
    np.testing.assert_array_equal(env.observation_space.low, gym_obs_space.low)
    np.testing.assert_array_equal(env.observation_space.high, gym_obs_space.high)


def _float32_neighbours(value: float, k: int = 3) -> list[np.float32]:
    """The float32 values within `k` ulps of `value` rounded to float32."""
    center = np.float32(value)
    out = [center]
    up = down = center
    for _ in range(k):
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(-np.inf))
        out += [up, down]
    return out


@pytest.mark.parametrize("which", ["position", "velocity"])
def test_goal_is_decided_exactly(which):
    # No force and no gravity: the velocity stays, and the position moves by
    # it. 0.45 and 0.01 are not float32 numbers; states on either side of
    # them, however close, are decided as Gymnasium's float64 comparisons do.
    params: dict[str, Any] = {"force": 0.0, "gravity": 0.0, "goal_position": 0.45}
    if which == "position":
        cases = [(p, np.float32(0.0)) for p in _float32_neighbours(0.45)]
    else:
        params["goal_velocity"] = 0.01
        cases = [(np.float32(0.5), v) for v in _float32_neighbours(0.01)]
    gym_env = _gym_env(200, **params)
    inner = gym_env.unwrapped
    assert isinstance(inner, MountainCarEnv)
    step = jax.jit(lambda s: MountainCar(**params).step(s, 1, key=jax.random.key(0)))
    n_terminated = 0
    for position, velocity in cases:
        state = MountainCarState(
            jnp.float32(position), jnp.float32(velocity), jnp.int32(5)
        )
        _, _, reward, terminated, truncated, info = step(state)
        # The state after the step, before any automatic reset.
        position_after, velocity_after = map(float, info["final_observation"])
        expected = position_after >= 0.45 and velocity_after >= params.get(
            "goal_velocity", 0.0
        )
        n_terminated += expected
        assert not bool(truncated)
        assert bool(terminated) == expected, (position, velocity)
        assert float(reward) == -1.0
        gym_env.reset(seed=0)
        _set_state(inner, state)
        assert gym_env.step(1)[2] == expected, (position, velocity)
    assert 0 < n_terminated < len(cases)


def test_left_wall_is_inelastic():
    env = MountainCar()
    state = MountainCarState(jnp.float32(-1.19), jnp.float32(-0.05), jnp.int32(0))
    new, obs, *_ = env.step(state, 0, key=jax.random.key(0))
    assert float(new.position) == np.float32(-1.2)
    assert float(new.velocity) == 0.0
    np.testing.assert_array_equal(obs, [np.float32(-1.2), 0.0])
    # Moving right from the wall keeps its velocity.
    new, *_ = env.step(new, 2, key=jax.random.key(0))
    assert float(new.velocity) > 0


def test_truncation_step_count():
    state = MountainCarState(jnp.float32(-0.5), jnp.float32(0.0), jnp.int32(199))
    for env, expected in [
        (MountainCar(), True),
        (MountainCar(max_episode_steps=201), False),
        (MountainCar(max_episode_steps=None), False),
    ]:
        _, _, _, terminated, truncated, _ = env.step(state, 1, key=jax.random.key(0))
        assert not bool(terminated)
        assert bool(truncated) == expected


def test_reset_distribution():
    env = MountainCar()
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
    assert len(np.unique(position)) > 19_000
    gym_env = _gym_env(200)
    theirs = np.stack([gym_env.reset(seed=s)[0] for s in range(2000)])
    assert_same_distribution(obs, theirs, atol=0.01)


def test_env_as_jit_argument():
    @jax.jit
    def first_step(env, key):
        state, _, _ = env.reset(key=key)
        return env.step(state, 2, key=key)

    a = first_step(MountainCar(), jax.random.key(0))
    b = first_step(MountainCar(force=0.002), jax.random.key(0))
    assert float(b[1][1] - a[1][1]) == pytest.approx(0.001, rel=1e-3)


def test_info_structure_is_constant():
    env = MountainCar()
    state, _, info = env.reset(key=jax.random.key(0))
    out = env.step(state, 0, key=jax.random.key(1))
    assert jax.tree.structure(info) == jax.tree.structure(out[-1])
    assert set(info) == {"final_observation"}


def test_equality():
    assert MountainCar() == MountainCar()
    assert MountainCar(force=0.001) == MountainCar()
    assert MountainCar(force=0.002) != MountainCar()
    assert MountainCar(max_episode_steps=10) != MountainCar()


def test_serialization_round_trip(tmp_path):
    kwargs = {**CUSTOM, "max_episode_steps": 123, "check_actions": True}
    assert_round_trip(MountainCar(**kwargs), kwargs, tmp_path / "env.eqx", 2)


def test_serialization_default_env(tmp_path):
    path = tmp_path / "env.eqx"
    MountainCar().serialize(path)
    assert MountainCar.deserialize(path) == MountainCar()
