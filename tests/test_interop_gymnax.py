"""Tests of lerax.interop's gymnax adapters: spaces both ways, gymnax envs as
lerax envs (parity with gymnax's CartPole-v1), lerax envs as gymnax envs
(parity with lerax, gymnax-style code, dynamics against gymnax's CartPole),
and the missing-extra errors."""

import re
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import Box, CartPole, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple
from lerax.interop import (
    GymnaxEnv,
    UnsupportedSpaceError,
    space_from_gymnax,
    space_to_gymnax,
    to_gymnax,
)
from lerax.utils import MissingExtraError, SerializationError


def _gymnax() -> Any:
    """The gymnax package; skips the test without it (the extra is optional)."""
    return pytest.importorskip("gymnax", reason="pip install -e '.[gymnax]'")


def _spaces() -> Any:
    return _gymnax().environments.spaces


# -- extras ------------------------------------------------------------------------

MISSING_GYMNAX = {
    "to_gymnax": lambda: to_gymnax(CartPole()),
    "GymnaxEnv": lambda: GymnaxEnv(None),
    "space_to_gymnax": lambda: space_to_gymnax(Discrete(2)),
    "space_from_gymnax": lambda: space_from_gymnax(None),
}


@pytest.mark.parametrize("feature", MISSING_GYMNAX)
def test_without_gymnax_each_adapter_names_the_extra(feature, monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "gymnax"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "gymnax", None)
    with pytest.raises(MissingExtraError) as raised:
        MISSING_GYMNAX[feature]()
    assert isinstance(raised.value, ImportError)
    assert raised.value.extra == "gymnax"
    assert re.fullmatch(
        rf"{feature} needs the gymnax package \(.*gymnax.*\): "
        r"pip install 'lerax\[gymnax\]'",
        str(raised.value),
    )


# -- spaces ------------------------------------------------------------------------

LERAX_SPACES = {
    "box": Box(-1.0, 2.0, (2, 3)),
    "box_int": Box(0, 9, (3,), jnp.int32),
    "discrete": Discrete(4),
    "dict": Dict({"b": Discrete(2), "a": Tuple([Box(0.0, 1.0, (2,))])}),
    "tuple": Tuple([Discrete(3), Dict(x=Box(-1.0, 1.0, (1,)))]),
}


def _same_gymnax_space(a: Any, b: Any) -> bool:
    """gymnax spaces have no equality: same class and parameters."""
    gspaces = _spaces()
    if type(a) is not type(b):
        return False
    if isinstance(a, gspaces.Discrete):
        return a.n == b.n and a.dtype == b.dtype
    if isinstance(a, gspaces.Box):
        return (
            tuple(a.shape) == tuple(b.shape)
            and np.dtype(a.dtype) == np.dtype(b.dtype)
            and np.array_equal(
                np.broadcast_to(a.low, a.shape), np.broadcast_to(b.low, b.shape)
            )
            and np.array_equal(
                np.broadcast_to(a.high, a.shape), np.broadcast_to(b.high, b.shape)
            )
        )
    if isinstance(a, gspaces.Dict):
        return list(a.spaces) == list(b.spaces) and all(
            _same_gymnax_space(a.spaces[k], b.spaces[k]) for k in a.spaces
        )
    return len(a.spaces) == len(b.spaces) and all(
        _same_gymnax_space(x, y) for x, y in zip(a.spaces, b.spaces, strict=True)
    )


@pytest.mark.parametrize("name", LERAX_SPACES)
def test_lerax_spaces_round_trip_through_gymnax_with_their_elements(name):
    gspaces = _spaces()
    space = LERAX_SPACES[name]
    gymnax_space = space_to_gymnax(space)
    assert space_from_gymnax(gymnax_space) == space
    assert _same_gymnax_space(
        space_to_gymnax(space_from_gymnax(gymnax_space)), gymnax_space
    )
    for seed in range(3):
        key = jax.random.key(seed)
        assert bool(space.contains(gymnax_space.sample(key)))
        if isinstance(gymnax_space, gspaces.Box | gspaces.Discrete):
            # (gymnax's Dict.contains reads attributes, not keys)
            assert bool(gymnax_space.contains(space.sample(key=key)))


def test_gymnax_cartpole_spaces_convert():
    env, params = _gymnax().make("CartPole-v1")
    assert space_from_gymnax(env.action_space(params)) == Discrete(2)
    observations = space_from_gymnax(env.observation_space(params))
    assert isinstance(observations, Box) and observations.shape == (4,)
    np.testing.assert_array_equal(
        observations.high, np.asarray(env.observation_space(params).high)
    )


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (MultiDiscrete([2, 3]), "gymnax has no counterpart of a MultiDiscrete space"),
        (MultiBinary(3), "gymnax has no counterpart of a MultiBinary space"),
        (
            Dict(a=Discrete(2), b=MultiBinary(2)),
            "gymnax has no counterpart of a MultiBinary space",
        ),
    ],
)
def test_spaces_gymnax_lacks_are_refused(space, message):
    _gymnax()
    with pytest.raises(UnsupportedSpaceError, match=rf"^{re.escape(message)}$"):
        space_to_gymnax(space)


def test_only_spaces_of_the_library_converted_from_convert():
    gspaces = _spaces()
    with pytest.raises(
        UnsupportedSpaceError,
        match=r"^space_to_gymnax needs a lerax space, got a Discrete$",
    ):
        space_to_gymnax(gspaces.Discrete(2))
    with pytest.raises(
        UnsupportedSpaceError,
        match=r"^lerax has no counterpart of a gymnax Discrete space$",
    ):
        space_from_gymnax(Discrete(2))


# -- gymnax env -> lerax env ---------------------------------------------------------


@jax.jit
def _lerax_stream(env, key, actions):
    """One episode stream of a lerax env under jit and scan: the reset, then the
    pre-step state and the outputs of every step. The env is an argument of
    `jax.jit`, so its parameters are traced, as gymnax's are."""
    key, reset_key = jax.random.split(key)
    state, first, _ = env.reset(key=reset_key)

    def body(state, inputs):
        action, step_key = inputs
        after, observation, reward, terminated, truncated, info = env.step(
            state, action, key=step_key
        )
        return after, (state, observation, reward, terminated, truncated, info)

    step_keys = jax.random.split(key, actions.shape[0])
    _, outputs = jax.lax.scan(body, state, (actions, step_keys))
    return reset_key, step_keys, first, outputs


def test_gymnax_env_matches_gymnax_cartpole_step_by_step():
    """The same keys give gymnax's trajectory: resets equal gymnax's reset with
    the key lerax hands reset_env, steps gymnax's step_env (whose dynamics
    ignore the key) and is_truncated."""
    genv, params = _gymnax().make("CartPole-v1")
    params = params.replace(max_steps_in_episode=40)
    env = GymnaxEnv(genv, params)
    actions = jnp.asarray(np.random.default_rng(0).integers(0, 2, 300), jnp.int32)
    reset_key, step_keys, first, outputs = _lerax_stream(
        env, jax.random.key(4), actions
    )
    states, observations, rewards, terminated, truncated, info = outputs
    gym_reset = jax.jit(genv.reset)
    gym_step = jax.jit(genv.step_env)
    expected, _ = gym_reset(reset_key, params)
    np.testing.assert_array_equal(first, expected)
    ends = {"terminated": 0, "truncated": 0}
    for t in range(actions.shape[0]):
        state = jax.tree.map(lambda leaf, t=t: leaf[t], states)
        final, after, reward, term, gym_info = gym_step(
            step_keys[t], state, actions[t], params
        )
        trunc = genv.is_truncated(after, params)
        np.testing.assert_array_equal(info["final_observation"][t], final)
        np.testing.assert_array_equal(info["discount"][t], gym_info["discount"])
        assert float(rewards[t]) == float(reward)
        assert (bool(terminated[t]), bool(truncated[t])) == (bool(term), bool(trunc))
        if term or trunc:
            ends["terminated" if term else "truncated"] += 1
            final, _ = gym_reset(step_keys[t], params)
        np.testing.assert_array_equal(observations[t], final)
    assert ends["terminated"] >= 3 and ends["truncated"] >= 1


def test_gymnax_env_files_load_with_their_arguments(tmp_path):
    make = _gymnax().make
    env = GymnaxEnv(*make("CartPole-v1"))
    path = tmp_path / "env.eqx"
    env.serialize(path)
    loaded = GymnaxEnv.deserialize(path, *make("CartPole-v1"))
    assert loaded.observation_space == env.observation_space
    assert float(loaded.params.gravity) == 9.8
    with pytest.raises(SerializationError, match=r"\.env: the value was"):
        GymnaxEnv.deserialize(path)


def test_gymnax_env_refuses_other_objects():
    _gymnax()
    with pytest.raises(
        TypeError, match=r"^GymnaxEnv needs a gymnax environment, got a CartPole$"
    ):
        GymnaxEnv(CartPole())


# -- lerax env -> gymnax env ---------------------------------------------------------


def test_to_gymnax_gives_the_lerax_trajectories_under_vmap():
    """gymnax-style code (vmap over keys, scan over steps) on the adapter gives
    what the same code gives on the lerax env with the same keys."""
    _gymnax()
    env = CartPole()
    genv = to_gymnax(env)
    params = genv.default_params
    assert params is env and genv.name == "CartPole" and genv.num_actions == 2
    sample = genv.action_space(params).sample

    @jax.jit
    def gymnax_rollout(keys, params):
        observation, state = jax.vmap(genv.reset, in_axes=(0, None))(keys, params)

        def body(state, i):
            step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, i)
            actions = jax.vmap(sample)(step_keys)
            observation, state, reward, terminated, truncated, info = jax.vmap(
                genv.step, in_axes=(0, 0, 0, None)
            )(step_keys, state, actions, params)
            outputs = (observation, reward, terminated, truncated, info)
            return state, outputs

        return observation, jax.lax.scan(body, state, jnp.arange(60))[1]

    # The env as an argument, so that its parameters are traced as gymnax's
    # params are (folded constants round differently).
    @jax.jit
    def lerax_rollout(keys, env):
        state, observation, _ = jax.vmap(lambda k: env.reset(key=k))(keys)

        def body(state, i):
            step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, i)
            actions = jax.vmap(sample)(step_keys)
            state, *outputs = jax.vmap(lambda s, a, k: env.step(s, a, key=k))(
                state, actions, step_keys
            )
            return state, tuple(outputs)

        return observation, jax.lax.scan(body, state, jnp.arange(60))[1]

    keys = jax.random.split(jax.random.key(0), 8)
    first, (observations, *flags, info) = gymnax_rollout(keys, params)
    expected_first, (expected, *expected_flags, expected_info) = lerax_rollout(
        keys, env
    )
    np.testing.assert_array_equal(first, expected_first)
    np.testing.assert_array_equal(observations, expected)
    for ours, theirs in zip(flags, expected_flags, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(
        info["final_observation"], expected_info["final_observation"]
    )
    np.testing.assert_array_equal(info["terminated"], flags[1])
    np.testing.assert_array_equal(info["truncated"], flags[2])
    assert int(jnp.sum(flags[1] | flags[2])) >= 8


def test_to_gymnax_runs_gymnax_wrappers_and_traced_parameters():
    purerl = pytest.importorskip("gymnax.wrappers.purerl")
    genv = purerl.LogWrapper(to_gymnax(CartPole()))
    # Other physics, passed as gymnax params: the pole may lean 3 degrees only.
    strict = CartPole(theta_threshold_radians=0.05)

    @jax.jit
    def rollout(key, params):
        _, state = genv.reset(key, params)

        def body(state, key):
            action = jax.random.bernoulli(key).astype(jnp.int32)
            observation, state, _, _, _, info = genv.step(key, state, action, params)
            return state, (observation, info)

        _, (observations, info) = jax.lax.scan(body, state, jax.random.split(key, 200))
        return observations, info

    _, info = rollout(jax.random.key(1), genv.default_params)
    ended = np.asarray(info["returned_episode"])
    assert ended.sum() >= 3
    np.testing.assert_array_equal(
        info["returned_episode_returns"][ended], info["returned_episode_lengths"][ended]
    )
    _, strict_info = rollout(jax.random.key(1), strict)
    assert np.asarray(strict_info["returned_episode"]).sum() > 2 * ended.sum()


def test_lerax_cartpole_dynamics_match_gymnax_cartpole_from_the_same_states():
    """lerax draws its reset states with other random bits than gymnax, so the
    dynamics are compared from the same states: each of lerax's pre-step
    states, stepped by gymnax's CartPole-v1."""
    gymnax = _gymnax()
    env = CartPole()
    genv, params = gymnax.make("CartPole-v1")
    actions = jnp.asarray(np.random.default_rng(3).integers(0, 2, 400), jnp.int32)
    _, _, _, outputs = _lerax_stream(env, jax.random.key(2), actions)
    states, _, rewards, terminated, _, info = outputs
    gym_states = gymnax.environments.classic_control.cartpole.EnvState(
        x=states.x,
        x_dot=states.x_dot,
        theta=states.theta,
        theta_dot=states.theta_dot,
        time=states.t,
    )
    final, _, _, term, _ = jax.jit(jax.vmap(genv.step_env, in_axes=(None, 0, 0, None)))(
        jax.random.key(0), gym_states, actions, params
    )
    # Both step in float32 with the same formulas; constants rounded apart
    # (gymnax keeps total_mass and polemass_length as parameters) leave a few
    # units in the last place.
    np.testing.assert_allclose(info["final_observation"], final, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(terminated, term)
    np.testing.assert_array_equal(rewards, 1.0)
    assert int(terminated.sum()) >= 5
    # Resets: both uniform in [-0.05, 0.05) for every variable.
    keys = jax.random.split(jax.random.key(1), 256)
    starts = jax.jit(jax.vmap(lambda k: env.reset(key=k)[1]))(keys)
    gym_starts = jax.vmap(genv.reset, in_axes=(0, None))(keys, params)[0]
    for values in (np.asarray(starts), np.asarray(gym_starts)):
        assert values.min() >= -0.05 and values.max() < 0.05


def test_to_gymnax_refuses_other_objects():
    _gymnax()
    with pytest.raises(
        TypeError, match=r"^to_gymnax needs a lerax environment, got a str$"
    ):
        to_gymnax("CartPole-v1")  # pyright: ignore[reportArgumentType]
    from lerax.env import Pendulum

    with pytest.raises(
        TypeError, match=r"^num_actions needs a Discrete action space, got Box"
    ):
        _ = to_gymnax(Pendulum()).num_actions


@pytest.mark.slow
def test_ppo_solves_gymnax_cartpole_through_the_adapter():
    from lerax.algorithm import PPO, evaluate
    from lerax.policy import MLPActorCriticPolicy

    env = GymnaxEnv(*_gymnax().make("CartPole-v1"))
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    policy = PPO().learn(env, policy, 100_000, key=jax.random.key(1))
    returns = evaluate(env, policy, key=jax.random.key(2), num_episodes=20)
    assert float(returns.mean()) >= 475
