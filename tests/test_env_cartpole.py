"""Tests of lerax.env.CartPole: Gymnasium parity, auto-reset, jit/vmap, files."""

import math
import operator
from typing import Any

import equinox as eqx
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from lerax.env import AbstractEnv, Box, CartPole, CartPoleState, Discrete
from lerax.env._uniform import uniform4

# Physical parameters differing from the defaults in every field.
CUSTOM: dict[str, Any] = {
    "gravity": 11.0,
    "masscart": 1.5,
    "masspole": 0.2,
    "length": 0.7,
    "force_mag": 7.0,
    "tau": 0.01,
    "theta_threshold_radians": 0.3,
    "x_threshold": 1.5,
}
# A linear controller that keeps the pole up for thousands of steps, to reach the
# 500-step truncation despite random perturbations.
CONTROLLER = jnp.array([0.1, 0.5, 10.0, 2.0])


def _gym_env(max_episode_steps: int | None, **params: float) -> gymnasium.Env:
    """Gymnasium's CartPole-v1 with the given limit and physical parameters."""
    env = gymnasium.make("CartPole-v1", max_episode_steps=max_episode_steps)
    inner = _gym_inner(env)
    for name, value in params.items():
        setattr(inner, name, value)
    # Gymnasium caches these derived constants in __init__.
    inner.total_mass = inner.masspole + inner.masscart
    inner.polemass_length = inner.masspole * inner.length
    return env


def _gym_inner(env: gymnasium.Env) -> CartPoleEnv:
    inner = env.unwrapped
    assert isinstance(inner, CartPoleEnv)
    return inner


@eqx.filter_jit
def _rollouts(env: CartPole, key, random_actions, use_random):
    """Runs one episode stream per row of `random_actions` ([batch, steps]).

    At each step the action is the random bit where `use_random` is set, else
    the controller's choice. Returns the pre-step states and every output of
    `step`.
    """

    def one(key, bits, use):
        reset_key, key = jax.random.split(key)
        state, obs, _ = env.reset(key=reset_key)

        def body(carry, inputs):
            state, obs = carry
            bit, use_bit, step_key = inputs
            action = jnp.where(use_bit, bit, (obs @ CONTROLLER > 0).astype(jnp.int32))
            out = env.step(state, action, key=step_key)
            return (out[0], out[1]), (state, action, *out)

        keys = jax.random.split(key, bits.shape[0])
        _, trajectory = jax.lax.scan(body, (state, obs), (bits, use, keys))
        return trajectory

    keys = jax.random.split(key, random_actions.shape[0])
    return jax.vmap(one)(keys, random_actions, use_random)


def _check_parity(
    env: CartPole,
    gym_env,
    n_seqs: int,
    n_steps: int,
    seed: int,
    *,
    p_random: float,
):
    """Compares `env` with `gym_env` step by step over seeded action sequences.

    Before every step Gymnasium's state is set to lerax's pre-step state (exact:
    float32 values are float64 values), so each step is compared from identical
    states and only one step's float32 rounding separates the results. Episode
    boundaries (Gymnasium's `reset` and time limit) follow lerax's auto-reset.

    Returns:
        Number of finished episodes and number of truncated ones.
    """
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (n_seqs, n_steps), dtype=np.int32)
    use = rng.random((n_seqs, n_steps)) < p_random
    traj = _rollouts(env, jax.random.key(seed), jnp.asarray(bits), jnp.asarray(use))
    pre, actions, post, obs, reward, terminated, truncated, info = jax.tree.map(
        np.asarray, traj
    )
    pre_vec = np.stack([pre.x, pre.x_dot, pre.theta, pre.theta_dot], -1)
    final_obs = info["final_observation"]

    assert obs.dtype == np.float32
    assert final_obs.dtype == np.float32
    assert reward.dtype == np.float32
    assert terminated.dtype == np.bool_
    assert truncated.dtype == np.bool_

    n_done = n_truncated = 0
    inner = _gym_inner(gym_env)
    for i in range(n_seqs):
        for j in range(n_steps):
            if pre.t[i, j] == 0:
                gym_env.reset(seed=int(rng.integers(2**31)))
            inner.state = pre_vec[i, j].astype(np.float64)
            g_obs, g_reward, g_term, g_trunc, _ = gym_env.step(int(actions[i, j]))
            where = f"sequence {i}, step {j} (episode step {pre.t[i, j]})"
            np.testing.assert_allclose(
                final_obs[i, j], g_obs, rtol=1e-5, atol=1e-6, err_msg=where
            )
            assert reward[i, j] == g_reward, where
            assert terminated[i, j] == g_term, where
            assert truncated[i, j] == g_trunc, where
            if g_term or g_trunc:
                n_done += 1
                n_truncated += g_trunc
                # Auto-reset: fresh episode, within the reset distribution.
                assert post.t[i, j] == 0, where
                assert np.all(np.abs(obs[i, j]) <= 0.05), where
            else:
                assert post.t[i, j] == pre.t[i, j] + 1, where
                np.testing.assert_array_equal(obs[i, j], final_obs[i, j], where)
    return n_done, n_truncated


def test_parity_random_actions():
    # 200 sequences of 500 random actions: ~4500 terminations.
    n_done, _ = _check_parity(CartPole(), _gym_env(500), 200, 500, seed=1, p_random=1.0)
    assert n_done > 1000


def test_parity_truncation_at_500():
    # Mostly controlled, 10% random: episodes last until the time limit.
    n_done, n_truncated = _check_parity(
        CartPole(), _gym_env(500), 8, 1250, seed=2, p_random=0.1
    )
    assert n_truncated >= 8
    assert n_done >= n_truncated


def test_parity_short_time_limit():
    n_done, n_truncated = _check_parity(
        CartPole(max_episode_steps=15),
        _gym_env(15),
        40,
        200,
        seed=3,
        p_random=1.0,
    )
    assert n_truncated > 100
    assert n_done > n_truncated


def test_parity_custom_physics():
    n_done, _ = _check_parity(
        CartPole(**CUSTOM, max_episode_steps=100),
        _gym_env(100, **CUSTOM),
        50,
        300,
        seed=4,
        p_random=0.7,
    )
    assert n_done > 20


def test_defaults_match_gymnasium():
    env = CartPole()
    gym_inner = _gym_inner(gymnasium.make("CartPole-v1"))
    for name in [
        "gravity",
        "masscart",
        "masspole",
        "length",
        "force_mag",
        "tau",
        "theta_threshold_radians",
        "x_threshold",
    ]:
        assert getattr(env, name) == getattr(gym_inner, name), name
    assert env.max_episode_steps == gymnasium.spec("CartPole-v1").max_episode_steps
    assert not env.check_actions
    assert isinstance(env, AbstractEnv)
    assert env.action_space == Discrete(2)
    assert isinstance(env.observation_space, Box)
    assert env.observation_space.shape == (4,)
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


@pytest.mark.parametrize(
    "params",
    [{}, {"x_threshold": 1.7, "theta_threshold_radians": 0.1}],
    ids=["default", "custom"],
)
def test_termination_thresholds_are_strict_and_exact(params):
    # tau = 0 freezes the state, so the post-step state is the given one.
    env = CartPole(tau=0.0, **params)
    gym_env = _gym_env(500, tau=0.0, **params)
    cases = []
    for sign in (1.0, -1.0):
        cases += [(x, 0.0) for x in _float32_neighbours(sign * env.x_threshold)]
        cases += [
            (0.0, t) for t in _float32_neighbours(sign * env.theta_threshold_radians)
        ]
    step = jax.jit(env.step)
    n_terminated = 0
    for x, theta in cases:
        # Strict inequality, decided exactly on the float32 value (like
        # Gymnasium's float64 comparison), not after rounding the threshold.
        expected = (
            abs(float(x)) > env.x_threshold
            or abs(float(theta)) > env.theta_threshold_radians
        )
        n_terminated += expected
        zero = jnp.float32(0)
        state = CartPoleState(
            jnp.float32(x), zero, jnp.float32(theta), zero, jnp.int32(3)
        )
        _, _, reward, terminated, truncated, info = step(
            state, 1, key=jax.random.key(0)
        )
        assert bool(terminated) == expected, (x, theta)
        assert not bool(truncated)
        assert float(reward) == 1.0  # also on the terminating step
        np.testing.assert_array_equal(info["final_observation"], [x, 0, theta, 0])
        gym_env.reset(seed=0)
        _gym_inner(gym_env).state = np.array([x, 0.0, theta, 0.0], np.float64)
        _, g_reward, g_terminated, _, _ = gym_env.step(1)
        assert g_terminated == expected, (x, theta)
        assert g_reward == 1.0
    assert 0 < n_terminated < len(cases)


def test_truncation_step_count():
    zero = jnp.float32(0)
    state = CartPoleState(zero, zero, zero, zero, jnp.int32(499))
    for env, expected in [
        (CartPole(), True),
        (CartPole(max_episode_steps=501), False),
        (CartPole(max_episode_steps=None), False),
    ]:
        _, _, _, terminated, truncated, _ = env.step(state, 0, key=jax.random.key(0))
        assert not bool(terminated)
        assert bool(truncated) == expected


def test_reset_distribution():
    env = CartPole()
    keys = jax.random.split(jax.random.key(0), 20_000)
    state, obs, info = jax.jit(jax.vmap(lambda k: env.reset(key=k)))(keys)
    obs = np.asarray(obs)
    assert obs.shape == (20_000, 4)
    assert obs.dtype == np.float32
    assert np.all(np.asarray(state.t) == 0)
    assert state.t.dtype == jnp.int32
    np.testing.assert_array_equal(info["final_observation"], obs)
    np.testing.assert_array_equal(obs[:, 0], state.x)
    assert obs.min() >= -0.05
    assert obs.max() <= 0.05
    assert obs.min() < -0.0495
    assert obs.max() > 0.0495
    np.testing.assert_allclose(obs.mean(0), 0.0, atol=0.001)
    np.testing.assert_allclose(obs.std(0), 0.1 / math.sqrt(12), rtol=0.02)
    # Distinct keys, distinct episodes.
    assert len(np.unique(obs[:, 0])) > 19_000


def test_reset_uses_all_23_random_bits_of_each_value():
    """Each reset variable is k / 2**23 scaled to [-0.05, 0.05), every bit of k fair."""
    keys = jax.random.split(jax.random.key(1), 20_000)
    unit = np.asarray(jax.vmap(uniform4)(keys))
    assert unit.dtype == np.float32 and unit.shape == (20_000, 4)
    assert unit.min() >= 0.0 and unit.max() < 1.0
    k = unit.astype(np.float64) * 2**23
    np.testing.assert_array_equal(k, np.round(k))  # exactly on the 2**-23 grid
    bits = (k.astype(np.int64)[..., None] >> np.arange(23)) & 1
    # Every one of the 4 x 23 bits is set about half the time (sd ~0.0035).
    np.testing.assert_allclose(bits.mean(axis=0), 0.5, atol=0.02)
    # ... and the four values are uncorrelated.
    corr = np.corrcoef(unit.T)
    np.testing.assert_allclose(corr[~np.eye(4, dtype=bool)], 0.0, atol=0.03)


def test_jit_vmap_scan_many_envs():
    n_envs, n_steps, limit = 4096, 120, 50
    env = CartPole(max_episode_steps=limit)

    @jax.jit
    def run(key):
        reset_key, key = jax.random.split(key)
        state, _, _ = jax.vmap(lambda k: env.reset(key=k))(
            jax.random.split(reset_key, n_envs)
        )

        def body(state, key):
            action_key, step_key = jax.random.split(key)
            actions = jax.vmap(lambda k: env.action_space.sample(key=k))(
                jax.random.split(action_key, n_envs)
            )
            out = jax.vmap(lambda s, a, k: env.step(s, a, key=k))(
                state, actions, jax.random.split(step_key, n_envs)
            )
            return out[0], (state, *out)

        return jax.lax.scan(body, state, jax.random.split(key, n_steps))

    _, (pre, post, obs, reward, terminated, truncated, info) = run(jax.random.key(7))
    pre, post, obs, reward, terminated, truncated, final_obs = jax.tree.map(
        np.asarray,
        (pre, post, obs, reward, terminated, truncated, info["final_observation"]),
    )
    assert obs.shape == final_obs.shape == (n_steps, n_envs, 4)
    assert reward.shape == terminated.shape == truncated.shape == (n_steps, n_envs)
    assert np.all(reward == 1.0)
    done = terminated | truncated
    # Random play ends episodes often, and the limit truncates the survivors.
    assert terminated.sum() > n_envs
    assert truncated.sum() > 0
    np.testing.assert_array_equal(truncated, pre.t + 1 >= limit)
    np.testing.assert_array_equal(post.t, np.where(done, 0, pre.t + 1))
    assert post.t.max() < limit
    np.testing.assert_array_equal(obs[~done], final_obs[~done])
    assert np.all(np.abs(obs[done]) <= 0.05)
    # The final observation of a terminated episode is past a threshold.
    x, theta = final_obs[..., 0], final_obs[..., 2]
    beyond = (np.abs(x) > env.x_threshold) | (
        np.abs(theta) > np.float32(env.theta_threshold_radians)
    )
    np.testing.assert_array_equal(terminated, beyond)


def test_vmap_matches_unbatched_step():
    env = CartPole()
    keys = jax.random.split(jax.random.key(3), 64)
    states, _, _ = jax.vmap(lambda k: env.reset(key=k))(keys)
    actions = jnp.arange(64) % 2
    step_keys = jax.random.split(jax.random.key(4), 64)
    batched = jax.vmap(lambda s, a, k: env.step(s, a, key=k))(
        states, actions, step_keys
    )
    for i in [0, 17, 63]:
        state_i = jax.tree.map(operator.itemgetter(i), states)
        single = env.step(state_i, actions[i], key=step_keys[i])
        for b, s in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_allclose(b[i], s, rtol=1e-6)


def test_env_as_jit_argument():
    @eqx.filter_jit
    def first_step(env, key):
        state, _, _ = env.reset(key=key)
        return env.step(state, 1, key=key)

    a = first_step(CartPole(), jax.random.key(0))
    b = first_step(CartPole(force_mag=20.0), jax.random.key(0))
    # Same start, twice the push: a different velocity.
    assert not np.allclose(a[1], b[1])
    np.testing.assert_allclose(a[1][0], b[1][0])  # x advances with old velocity


def test_info_structure_is_constant():
    env = CartPole()
    state, _, info = env.reset(key=jax.random.key(0))
    out = env.step(state, 0, key=jax.random.key(1))
    assert jax.tree.structure(info) == jax.tree.structure(out[-1])
    assert set(info) == {"final_observation"}


def test_equality():
    assert CartPole() == CartPole()
    assert CartPole(gravity=9.8) == CartPole()
    assert CartPole(gravity=3.0) != CartPole()
    assert CartPole(max_episode_steps=10) != CartPole()
    assert CartPole(check_actions=True) != CartPole()


def test_serialization_round_trip(tmp_path):
    kwargs = {
        "gravity": 3.5,
        "force_mag": 12.0,
        "max_episode_steps": 200,
        "check_actions": True,
    }
    env = CartPole(**kwargs)
    path = tmp_path / "env.eqx"
    env.serialize(path)
    for loaded in [CartPole.deserialize(path), CartPole.deserialize(path, **kwargs)]:
        assert type(loaded) is CartPole
        assert loaded == env
        assert loaded.gravity == 3.5
        assert loaded.max_episode_steps == 200
        assert loaded.check_actions is True
        state, obs, _ = loaded.reset(key=jax.random.key(0))
        expected = env.reset(key=jax.random.key(0))
        np.testing.assert_array_equal(obs, expected[1])
        out = loaded.step(state, 1, key=jax.random.key(1))
        np.testing.assert_array_equal(
            out[1], env.step(expected[0], 1, key=jax.random.key(1))[1]
        )


def test_serialization_default_env(tmp_path):
    path = tmp_path / "env.eqx"
    CartPole().serialize(path)
    assert CartPole.deserialize(path) == CartPole()
