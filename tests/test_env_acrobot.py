"""Tests of lerax.env.Acrobot: Gymnasium parity, noise, auto-reset, files."""

import math
import operator
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.envs.classic_control.acrobot import AcrobotEnv

from env_parity import (
    assert_round_trip,
    assert_same_distribution,
    check_parity,
    rollouts,
)
from lerax.env import AbstractEnv, Acrobot, AcrobotState, Box, Discrete

# lerax parameter -> Gymnasium attribute.
GYM_NAMES = {
    "dt": "dt",
    "link_length_1": "LINK_LENGTH_1",
    "link_mass_1": "LINK_MASS_1",
    "link_mass_2": "LINK_MASS_2",
    "link_com_pos_1": "LINK_COM_POS_1",
    "link_com_pos_2": "LINK_COM_POS_2",
    "link_moi": "LINK_MOI",
    "max_vel_1": "MAX_VEL_1",
    "max_vel_2": "MAX_VEL_2",
    "torque_noise_max": "torque_noise_max",
    "book_or_nips": "book_or_nips",
}
# Parameters differing from the defaults (Gymnasium's gravity is a literal in
# its code, so it is tested on its own).
CUSTOM: dict[str, Any] = {
    "dt": 0.15,
    "link_length_1": 1.1,
    "link_mass_1": 0.9,
    "link_mass_2": 1.2,
    "link_com_pos_1": 0.45,
    "link_com_pos_2": 0.55,
    "link_moi": 1.1,
    "max_vel_1": 3 * math.pi,
    "max_vel_2": 8 * math.pi,
}
# One float32 Runge-Kutta step from identical states (see docs/env.md).
OBS_TOL: dict[str, Any] = {"obs_rtol": 1e-5, "obs_atol": 1e-6}


def _step(env: Acrobot, state: AcrobotState, action, key):
    """`env.step`, compiled once for all envs of the same static fields."""
    return _jit_step(env, state, jnp.int32(action), key)


@jax.jit
def _jit_step(env: Acrobot, state: AcrobotState, action, key):
    return env.step(state, action, key=key)


def _gym_env(max_episode_steps: int | None, **params) -> gymnasium.Env:
    """Gymnasium's Acrobot-v1 with the given limit and parameters."""
    env = gymnasium.make("Acrobot-v1", max_episode_steps=max_episode_steps)
    inner = env.unwrapped
    assert isinstance(inner, AcrobotEnv)
    for name, value in params.items():
        setattr(inner, GYM_NAMES[name], value)
    return env


def _set_state(inner: AcrobotEnv, state: AcrobotState) -> None:
    inner.state = np.array(
        [state.theta1, state.theta2, state.theta1_dot, state.theta2_dot],
        np.float64,
    )


def _near_goal(inner: AcrobotEnv) -> bool:
    """The tip's height is within float32 rounding of the goal line."""
    s = inner.state
    assert s is not None
    return bool(abs(-math.cos(s[0]) - math.cos(s[1] + s[0]) - 1.0) < 1e-5)


def _in_reset_distribution(obs: np.ndarray) -> bool:
    theta1, theta2 = np.arctan2(obs[1], obs[0]), np.arctan2(obs[3], obs[2])
    values = np.array([theta1, theta2, obs[4], obs[5]])
    return bool(np.all(np.abs(values) <= 0.1 + 1e-6))


def _controller(obs: jax.Array) -> jax.Array:
    """Torques along the elbow's velocity: reaches the line in ~100 steps."""
    return jnp.where(obs[5] > 0, 2, 0).astype(jnp.int32)


def _parity(env, gym_env, n_steps: int, seed: int, p_random: list[float]):
    """One episode stream per entry of `p_random`, its share of random actions."""
    rng = np.random.default_rng(seed)
    n_seqs = len(p_random)
    actions = rng.integers(0, 3, (n_seqs, n_steps), dtype=np.int32)
    use = rng.random((n_seqs, n_steps)) < np.array(p_random)[:, None]
    traj = rollouts(env, _controller, jax.random.key(seed), actions, use)
    return check_parity(
        traj,
        gym_env,
        _set_state,
        seed=seed,
        **OBS_TOL,
        near_threshold=_near_goal,
        in_reset_distribution=_in_reset_distribution,
    )


def test_parity_controlled_through_termination():
    counts = _parity(Acrobot(), _gym_env(500), 300, seed=1, p_random=[0.2] * 4)
    assert counts.terminated >= 8
    assert counts.near_misses <= 1


def test_parity_custom_physics_nips_equations_through_truncation():
    # Episodes end at the time limit (termination is covered above: the
    # controller needs longer with these equations).
    params = {**CUSTOM, "book_or_nips": "nips"}
    counts = _parity(
        Acrobot(**params, max_episode_steps=120),
        _gym_env(120, **params),
        260,
        seed=3,
        p_random=[1.0, 1.0, 0.3, 0.3],
    )
    assert counts.truncated >= 8


@pytest.mark.slow
def test_parity_long():
    counts = _parity(Acrobot(), _gym_env(500), 1500, seed=4, p_random=[0.5] * 30)
    assert counts.terminated > 50
    assert counts.truncated >= 1


def test_parity_with_torque_noise(monkeypatch):
    # Gymnasium draws the noise from its own generator; hand it the number
    # lerax draws (uniform, from the step's key, as `AbstractEnv.step` derives
    # it), so that the two compute the same step.
    noise = 0.4
    env = Acrobot(torque_noise_max=noise)
    n = 32
    states, _, _ = jax.jit(jax.vmap(lambda k: env.reset(key=k)))(
        jax.random.split(jax.random.key(0), n)
    )
    # Moving states, so that the torque matters.
    states = jax.tree.map(
        np.asarray,
        AcrobotState(
            states.theta1 * 10,
            states.theta2 * 10,
            states.theta1_dot * 20,
            states.theta2_dot * 20,
            states.t,
        ),
    )
    actions = jnp.arange(n, dtype=jnp.int32) % 3
    keys = jax.random.split(jax.random.key(1), n)
    draws = np.asarray(
        jax.jit(
            jax.vmap(
                lambda k: jax.random.uniform(
                    jax.random.fold_in(k, 0), (), jnp.float32, -noise, noise
                )
            )
        )(keys)
    )
    assert np.abs(draws).max() <= noise and np.abs(draws).max() > noise / 2
    gym_env = _gym_env(500, torque_noise_max=noise)
    inner = gym_env.unwrapped
    assert isinstance(inner, AcrobotEnv)
    gym_env.reset(seed=0)
    n_changed = 0
    for i in range(n):

        class Draw:
            @staticmethod
            def uniform(low, high, value=float(draws[i])):
                assert (low, high) == (-noise, noise)
                return value

        monkeypatch.setattr(inner, "_np_random", Draw())
        state_i = jax.tree.map(operator.itemgetter(i), states)
        _, obs, *_ = _step(env, state_i, actions[i], keys[i])
        _set_state(inner, state_i)
        g_obs, *_ = gym_env.step(int(actions[i]))
        np.testing.assert_allclose(obs, g_obs, rtol=1e-5, atol=1e-6)
        # The noise matters: without it, Gymnasium goes elsewhere.
        monkeypatch.setattr(inner, "torque_noise_max", 0.0)
        _set_state(inner, state_i)
        g_noiseless, *_ = gym_env.step(int(actions[i]))
        monkeypatch.setattr(inner, "torque_noise_max", noise)
        n_changed += not np.allclose(obs, g_noiseless, atol=1e-4)
    assert n_changed > n // 2


def test_no_noise_draws_no_random_numbers():
    env = Acrobot()
    state, _, _ = env.reset(key=jax.random.key(0))
    jaxpr = str(
        jax.make_jaxpr(lambda s, k: env.step_env(s, 2, key=k))(state, jax.random.key(1))
    )
    assert "random_bits" not in jaxpr and "threefry" not in jaxpr


def test_defaults_match_gymnasium():
    env = Acrobot()
    gym_inner = _gym_env(500).unwrapped
    for name, gym_name in GYM_NAMES.items():
        assert getattr(env, name) == getattr(gym_inner, gym_name), name
    assert env.gravity == 9.8  # a literal in Gymnasium's dynamics
    assert env.max_episode_steps == gymnasium.spec("Acrobot-v1").max_episode_steps
    assert not env.check_actions
    assert isinstance(env, AbstractEnv)
    assert env.action_space == Discrete(3)
    assert isinstance(env.observation_space, Box)
    assert env.observation_space.shape == (6,)
    assert env.observation_space.dtype == np.float32
    gym_obs_space = gym_inner.observation_space
    assert isinstance(gym_obs_space, gymnasium.spaces.Box)
    np.testing.assert_array_equal(env.observation_space.low, gym_obs_space.low)
    np.testing.assert_array_equal(env.observation_space.high, gym_obs_space.high)


def test_gravity_parameter():
    # Without gravity or torque, a chain at rest stays where it is; with
    # gravity, a raised chain falls.
    state = AcrobotState(
        jnp.float32(1.0), jnp.float32(0.5), jnp.float32(0), jnp.float32(0), jnp.int32(0)
    )
    weightless, *_ = _step(Acrobot(gravity=0.0), state, 1, jax.random.key(0))
    assert float(weightless.theta1) == 1.0 and float(weightless.theta2) == 0.5
    assert float(weightless.theta1_dot) == 0 and float(weightless.theta2_dot) == 0
    falling, *_ = _step(Acrobot(), state, 1, jax.random.key(0))
    assert float(falling.theta1) < 1.0


def test_angles_wrap_and_velocities_clip():
    # Spinning fast across the wrap-around angle.
    state = AcrobotState(
        jnp.float32(3.1),
        jnp.float32(-3.1),
        jnp.float32(4 * math.pi),
        jnp.float32(-9 * math.pi),
        jnp.int32(0),
    )
    new, obs, *_ = _step(Acrobot(), state, 1, jax.random.key(0))
    assert -math.pi <= float(new.theta1) <= math.pi
    assert -math.pi <= float(new.theta2) <= math.pi
    assert abs(float(new.theta1_dot)) <= np.float32(4 * math.pi)
    assert abs(float(new.theta2_dot)) <= np.float32(9 * math.pi)
    gym_env = _gym_env(500)
    gym_env.reset(seed=0)
    inner = gym_env.unwrapped
    assert isinstance(inner, AcrobotEnv)
    _set_state(inner, state)
    g_obs, *_ = gym_env.step(1)
    np.testing.assert_allclose(obs, g_obs, rtol=1e-5, atol=1e-6)
    assert inner.state is not None
    np.testing.assert_allclose([new.theta1, new.theta2], inner.state[:2], atol=1e-5)


def test_truncation_step_count():
    zero = jnp.float32(0)
    state = AcrobotState(zero, zero, zero, zero, jnp.int32(499))
    for env, expected in [
        (Acrobot(), True),
        (Acrobot(max_episode_steps=None), False),
    ]:
        _, _, reward, terminated, truncated, _ = _step(env, state, 1, jax.random.key(0))
        assert not bool(terminated)
        assert float(reward) == -1.0
        assert bool(truncated) == expected


def test_reward_zero_at_the_goal():
    # Both links straight up: the tip is 2 above the pivot.
    zero = jnp.float32(0)
    state = AcrobotState(jnp.float32(math.pi), zero, zero, zero, jnp.int32(7))
    _, _, reward, terminated, truncated, _ = _step(
        Acrobot(), state, 1, jax.random.key(0)
    )
    assert bool(terminated) and not bool(truncated)
    assert float(reward) == 0.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"max_episode_steps": 0},
            "max_episode_steps must be a positive integer or None, got 0",
        ),
        (
            {"book_or_nips": "paper"},
            'book_or_nips must be "book" or "nips", got \'paper\'',
        ),
        ({"torque_noise_max": -0.1}, "torque_noise_max must be at least 0, got -0.1"),
    ],
)
def test_rejects_bad_parameters(params, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        Acrobot(**params)


def test_reset_distribution():
    env = Acrobot()
    keys = jax.random.split(jax.random.key(0), 20_000)
    state, obs, info = jax.jit(jax.vmap(lambda k: env.reset(key=k)))(keys)
    obs = np.asarray(obs)
    assert obs.shape == (20_000, 6) and obs.dtype == np.float32
    np.testing.assert_array_equal(info["final_observation"], obs)
    assert np.all(np.asarray(state.t) == 0)
    values = np.stack(
        [state.theta1, state.theta2, state.theta1_dot, state.theta2_dot], -1
    )
    np.testing.assert_allclose(obs[:, 0], np.cos(values[:, 0]), atol=1e-6)
    np.testing.assert_allclose(obs[:, 3], np.sin(values[:, 1]), atol=1e-6)
    np.testing.assert_array_equal(obs[:, 4:], values[:, 2:])
    assert values.min() >= -0.1 and values.max() <= 0.1
    assert values.min() < -0.0995 and values.max() > 0.0995
    np.testing.assert_allclose(values.mean(0), 0.0, atol=0.002)
    np.testing.assert_allclose(values.std(0), 0.2 / math.sqrt(12), rtol=0.02)
    assert len(np.unique(values[:, 0])) > 19_000
    gym_env = _gym_env(500)
    theirs = np.stack([gym_env.reset(seed=s)[0] for s in range(2000)])
    assert_same_distribution(obs, theirs, atol=0.01)


def test_env_as_jit_argument():
    @jax.jit
    def first_step(env, key):
        state, _, _ = env.reset(key=key)
        return env.step(state, 2, key=key)

    a = first_step(Acrobot(), jax.random.key(0))
    b = first_step(Acrobot(link_mass_2=2.0), jax.random.key(0))
    assert not np.allclose(a[1], b[1])


def test_info_structure_is_constant():
    env = Acrobot()
    state, _, info = env.reset(key=jax.random.key(0))
    out = _step(env, state, 0, jax.random.key(1))
    assert jax.tree.structure(info) == jax.tree.structure(out[-1])
    assert set(info) == {"final_observation"}


def test_equality():
    assert Acrobot() == Acrobot()
    assert Acrobot(dt=0.2) == Acrobot()
    assert Acrobot(dt=0.1) != Acrobot()
    assert Acrobot(book_or_nips="nips") != Acrobot()
    assert Acrobot(max_episode_steps=10) != Acrobot()


def test_serialization_round_trip(tmp_path):
    kwargs = {
        **CUSTOM,
        "gravity": 9.0,
        "torque_noise_max": 0.3,
        "book_or_nips": "nips",
        "max_episode_steps": 250,
        "check_actions": True,
    }
    assert_round_trip(Acrobot(**kwargs), kwargs, tmp_path / "env.eqx", 0)


def test_serialization_default_env(tmp_path):
    path = tmp_path / "env.eqx"
    Acrobot().serialize(path)
    assert Acrobot.deserialize(path) == Acrobot()
