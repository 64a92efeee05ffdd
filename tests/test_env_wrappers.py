"""Tests of lerax.env.wrappers: behaviour, Gymnasium parity, auto-reset, jit/vmap,
files and errors. The normalising wrappers are in test_env_wrappers_normalize.py."""

import re
from typing import Any

import equinox as eqx
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jaxtyping import Array

import lerax.utils
from helpers import assert_trees_identical
from lerax.env import (
    AbstractEnv,
    Box,
    CartPole,
    Pendulum,
    make,
)
from lerax.env.wrappers import (
    AbstractActionWrapper,
    AbstractObservationWrapper,
    AbstractRewardWrapper,
    AbstractWrapper,
    ClipAction,
    FlattenObservation,
    FrameStack,
    InfoKeyCollisionError,
    NormalizeObservation,
    NormalizeReward,
    RecordEpisodeStatistics,
    RescaleAction,
    TimeLimit,
    TimeLimitState,
    TransformObservation,
    TransformReward,
    UnsupportedSpaceError,
    WrapperError,
)
from lerax.utils import Serializable, SerializationError, register_function
from wrapper_envs import (
    DictEnv,
    EchoEnv,
    Events,
    GymEchoEnv,
    GymReplayEnv,
    ReplayEnv,
    run_gymnasium,
    run_lerax,
)


def halve(x: Array) -> Array:
    return x / 2


register_function(halve)


class Affine(Serializable):
    """A transform with parameters, for `TransformObservation` and
    `TransformReward`."""

    scale: Array
    shift: Array

    def __init__(self, scale: Any, shift: Any):
        self.scale = jnp.asarray(scale, jnp.float32)
        self.shift = jnp.asarray(shift, jnp.float32)

    def __call__(self, x: Array) -> Array:
        return self.scale * x + self.shift


# Every wrapper, built with constructor arguments that differ from the defaults
# where there are any: (class, positional args after env, keyword args, env).
def _cases() -> list[tuple[type, tuple[Any, ...], dict[str, Any], AbstractEnv]]:
    pendulum = Pendulum(max_episode_steps=None)
    return [
        (TimeLimit, (17,), {}, CartPole()),
        (ClipAction, (), {}, pendulum),
        (RescaleAction, (-1.0, jnp.array([3.0])), {}, pendulum),
        (FlattenObservation, (), {}, DictEnv()),
        (TransformObservation, (halve,), {}, CartPole()),
        (TransformObservation, (Affine([1.0, 2.0, 3.0, 4.0], 0.5),), {}, CartPole()),
        (TransformReward, (jnp.tanh,), {}, CartPole()),
        (TransformReward, (Affine(2.0, -1.0),), {}, CartPole()),
        (RecordEpisodeStatistics, (), {"stats_key": "stats"}, CartPole()),
        (FrameStack, (3,), {"padding": "zero"}, pendulum),
        (NormalizeObservation, (), {"epsilon": 1e-6, "clip": 5.0}, CartPole()),
        (NormalizeReward, (), {"gamma": 0.9, "clip": 10.0}, pendulum),
    ]


CASES = _cases()
IDS = [f"{cls.__name__}-{i}" for i, (cls, *_) in enumerate(CASES)]


@eqx.filter_jit
def _rollout(env: AbstractEnv, steps: int, key: Array) -> Any:
    """Random actions for `steps` steps, jitted (once per wrapper structure: a
    loaded wrapper reuses the compiled code) and scanned."""

    def body(state: Any, key: Array) -> tuple[Any, Any]:
        action_key, step_key = jax.random.split(key)
        action = env.action_space.sample(key=action_key)
        state, obs, reward, terminated, truncated, info = env.step(
            state, action, key=step_key
        )
        return state, (obs, reward, terminated, truncated, info)

    state, _, _ = env.reset(key=key)
    return jax.lax.scan(body, state, jax.random.split(key, steps))


# --- Design: final, Serializable, delegating, composable ----------------------


@pytest.mark.parametrize(("cls", "args", "kwargs", "env"), CASES, ids=IDS)
def test_every_wrapper_is_a_final_serializable_env_around_env(cls, args, kwargs, env):
    wrapper = cls(env, *args, **kwargs)
    assert isinstance(wrapper, AbstractWrapper)
    assert isinstance(wrapper, AbstractEnv) and isinstance(wrapper, Serializable)
    assert getattr(cls, "__final__", False)
    assert wrapper.env is env
    assert wrapper.unwrapped is env
    assert wrapper.check_actions is env.check_actions
    assert wrapper.render_fps == env.render_fps


def test_single_hook_bases_delegate_what_they_do_not_change():
    env = Pendulum()
    obs_wrapper = TransformObservation(env, halve)
    reward_wrapper = TransformReward(env, jnp.tanh)
    action_wrapper = ClipAction(env)
    assert isinstance(obs_wrapper, AbstractObservationWrapper)
    assert isinstance(reward_wrapper, AbstractRewardWrapper)
    assert isinstance(action_wrapper, AbstractActionWrapper)
    assert obs_wrapper.action_space is env.action_space
    assert reward_wrapper.observation_space is env.observation_space
    assert reward_wrapper.action_space is env.action_space
    assert action_wrapper.observation_space is env.observation_space
    assert not reward_wrapper.changes_observations
    assert not action_wrapper.changes_observations
    assert obs_wrapper.changes_observations


def test_unwrapped_and_inner_states_go_through_every_layer():
    inner = CartPole()
    env = RecordEpisodeStatistics(ClipAction(Pendulum()))
    assert env.unwrapped == Pendulum()
    env = FrameStack(TimeLimit(TransformReward(inner, jnp.tanh), 9), 2)
    state, _, _ = env.reset(key=jax.random.key(0))
    assert isinstance(env.inner_state(state), TimeLimitState)
    unwrapped = env.unwrapped_state(state)
    assert type(unwrapped).__name__ == "CartPoleState"
    assert env.unwrapped is inner


def test_render_draws_the_unwrapped_state():
    inner = EchoEnv(np.array([-1.0], np.float32), np.array([1.0], np.float32))
    env = FrameStack(TimeLimit(ClipAction(inner), 5), 2)
    state, _, _ = env.reset(key=jax.random.key(3))
    for t in range(3):
        state, *_ = env.step(state, jnp.array([0.5]), key=jax.random.key(t))
    np.testing.assert_array_equal(env.render(state), np.full((2, 3, 3), 3))
    np.testing.assert_array_equal(
        env.render(state), inner.render(env.unwrapped_state(state))
    )


def test_check_actions_checks_the_outer_action_space():
    env = RescaleAction(Pendulum(check_actions=True), -1.0, 1.0)
    state, _, _ = env.reset(key=jax.random.key(0))
    env.step(state, jnp.array([0.9]), key=jax.random.key(1))  # 1.8 inside
    message = re.escape(
        "RescaleAction.step: the action is not in the action space Box(low=f32[1], "
        "high=f32[1], shape=(1,), dtype=dtype('float32')); build the env with "
        "check_actions=False to skip this check"
    )
    with pytest.raises(eqx.EquinoxTracetimeError, match=message):
        env.step(state, jnp.array([1.5]), key=jax.random.key(1))


def test_final_observation_is_set_once_by_the_outermost_step():
    env = FrameStack(TimeLimit(CartPole(), 3), 2)
    state, obs, info = env.reset(key=jax.random.key(0))
    assert set(info) == {"final_observation"}
    previous, truncated = obs, jnp.array(False)
    for t in range(3):
        previous = obs
        state, obs, _, _, truncated, info = env.step(state, 1, key=jax.random.key(t))
    assert bool(truncated)
    assert set(info) == {"final_observation"}
    # The final observation is the stacked one, its newest frame after the last step.
    final = info["final_observation"]
    assert final.shape == (2, 4)
    np.testing.assert_array_equal(final[0], previous[1])
    # The returned observation starts a fresh episode: padding repeats it.
    np.testing.assert_array_equal(obs[0], obs[1])
    assert not np.array_equal(final[1], obs[1])


def test_wrappers_compose_under_jit_vmap_and_scan():
    env = RecordEpisodeStatistics(
        NormalizeReward(
            FrameStack(
                NormalizeObservation(TimeLimit(ClipAction(Pendulum()), 7)),
                3,
            )
        )
    )
    keys = jax.random.split(jax.random.key(0), 4)
    batched = jax.jit(jax.vmap(lambda k: _rollout(env, 20, k)))(keys)
    for i, key in enumerate(keys):
        single = _rollout(env, 20, key)
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched), strict=True):
            # Batching changes XLA's fusions, hence float32 rounding.
            np.testing.assert_allclose(a, b[i], rtol=1e-5, atol=1e-5)
    _, (obs, _, _, truncated, info) = batched
    assert obs.shape == (4, 20, 3, 3)
    assert bool(truncated[:, 6].all()) and bool(truncated[:, 13].all())
    np.testing.assert_array_equal(info["episode"]["l"][:, 6], 7)


def test_a_wrapper_passed_through_jax_jit_as_an_argument():
    env = TransformReward(
        TransformObservation(TimeLimit(CartPole(), 4), halve), jnp.sin
    )

    @jax.jit
    def reset_and_step(env: Any, key: Array) -> Any:
        state, _, _ = env.reset(key=key)
        return env.step(state, 1, key=key)

    _, obs, reward, *_ = reset_and_step(env, jax.random.key(0))
    _, expected_obs, *_ = TimeLimit(CartPole(), 4).step(
        TimeLimit(CartPole(), 4).reset(key=jax.random.key(0))[0],
        1,
        key=jax.random.key(0),
    )
    np.testing.assert_allclose(obs, expected_obs / 2, rtol=1e-6)
    np.testing.assert_allclose(reward, np.sin(1.0), rtol=1e-6)


# --- Files -------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "args", "kwargs", "env"), CASES, ids=IDS)
def test_round_trip_with_and_without_arguments(tmp_path, cls, args, kwargs, env):
    wrapper = cls(env, *args, **kwargs)
    path = tmp_path / "wrapper.eqx"
    wrapper.serialize(path)
    for loaded in (
        cls.deserialize(path),
        cls.deserialize(path, env, *args, **kwargs),
        lerax.utils.load(path),
    ):
        assert type(loaded) is cls
        # Same classes, static fields (functions included) and leaves: the
        # loaded wrapper computes what the saved one does.
        assert_trees_identical(loaded, wrapper)


def test_a_made_env_round_trips_wrapped(tmp_path):
    env = RecordEpisodeStatistics(
        TimeLimit(make("CartPole-v1", max_episode_steps=None), 50)
    )
    path = tmp_path / "env.eqx"
    env.serialize(path)
    loaded = lerax.utils.load(path)
    assert_trees_identical(loaded, env)
    call = lerax.utils.inspect(path).call
    assert call is not None and call.startswith("RecordEpisodeStatistics(")


def test_a_lambda_saves_but_loads_only_with_arguments(tmp_path):
    func = lambda x: x + 1  # noqa: E731 (the point of the test)
    env = TransformReward(CartPole(), func)
    path = tmp_path / "lambda.eqx"
    env.serialize(path)
    with pytest.raises(SerializationError, match=r"\.func"):
        TransformReward.deserialize(path)
    loaded = TransformReward.deserialize(path, CartPole(), func)
    assert loaded.func is func


# --- TimeLimit -----------------------------------------------------------------


def test_time_limit_truncates_and_restarts_its_count():
    env = TimeLimit(Pendulum(max_episode_steps=None), 4)
    _, (_, _, terminated, truncated, _) = _rollout(env, 13, jax.random.key(1))
    expected = np.zeros(13, bool)
    expected[[3, 7, 11]] = True
    np.testing.assert_array_equal(truncated, expected)
    assert not terminated.any()


def test_time_limit_keeps_the_inner_flags():
    # The inner limit (3) comes first; the wrapper's (5) never fires.
    env = TimeLimit(Pendulum(max_episode_steps=3), 5)
    _, (_, _, _, truncated, _) = _rollout(env, 9, jax.random.key(1))
    np.testing.assert_array_equal(np.flatnonzero(truncated), [2, 5, 8])


def test_time_limit_matches_gymnasium():
    # Episodes of up to 6 steps under a limit of 6: the longest are truncated by
    # the wrapper, and those that also terminate have both flags set.
    events = Events(seed=3, episodes=30, max_length=6)
    lerax_rows = run_lerax(TimeLimit(ReplayEnv(events), 6), events.num_steps)
    gym_rows = run_gymnasium(
        gymnasium.wrappers.TimeLimit(GymReplayEnv(events), 6), events.num_steps
    )
    both = 0
    for ours, theirs in zip(lerax_rows[1:], gym_rows[1:], strict=True):
        assert bool(ours[2]) == theirs[2] and bool(ours[3]) == theirs[3]
        both += bool(ours[2] and ours[3])
    assert both > 0


# --- RecordEpisodeStatistics -----------------------------------------------------


def test_record_episode_statistics_matches_gymnasium():
    events = Events(seed=0, episodes=8)
    lerax_rows = run_lerax(RecordEpisodeStatistics(ReplayEnv(events)), events.num_steps)
    gym_rows = run_gymnasium(
        gymnasium.wrappers.RecordEpisodeStatistics(GymReplayEnv(events)),
        events.num_steps,
    )
    _, first_info = lerax_rows[0]
    assert first_info["episode"] == {"r": 0.0, "l": 0}
    ended = 0
    for ours, theirs in zip(lerax_rows[1:], gym_rows[1:], strict=True):
        _, _, terminated, truncated, info = ours
        if terminated or truncated:
            ended += 1
            np.testing.assert_allclose(
                info["episode"]["r"], theirs[4]["episode"]["r"], rtol=1e-5, atol=1e-5
            )
            assert info["episode"]["l"] == theirs[4]["episode"]["l"]
        else:
            assert "episode" not in theirs[4]
    assert ended == 8


def test_record_episode_statistics_counts_this_step():
    env = RecordEpisodeStatistics(Pendulum(max_episode_steps=3), stats_key="stats")
    _, (_, reward, _, _, info) = _rollout(env, 7, jax.random.key(2))
    np.testing.assert_array_equal(info["stats"]["l"], [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_allclose(info["stats"]["r"][2], reward[:3].sum(), rtol=1e-6)
    np.testing.assert_allclose(info["stats"]["r"][5], reward[3:6].sum(), rtol=1e-6)
    assert info["stats"]["r"].dtype == jnp.float32
    assert info["stats"]["l"].dtype == jnp.int32


def test_record_episode_statistics_refuses_a_taken_key():
    env = RecordEpisodeStatistics(RecordEpisodeStatistics(CartPole()))
    message = (
        "RecordEpisodeStatistics: the wrapped environment's info already has the "
        "key 'episode'; give this wrapper another stats_key"
    )
    with pytest.raises(InfoKeyCollisionError, match=re.escape(message)):
        env.reset(key=jax.random.key(0))
    assert issubclass(InfoKeyCollisionError, WrapperError)
    assert issubclass(WrapperError, ValueError)
    # Two of them with different keys work.
    env = RecordEpisodeStatistics(RecordEpisodeStatistics(CartPole()), "outer")
    _, _, info = env.reset(key=jax.random.key(0))
    assert set(info) == {"episode", "outer", "final_observation"}


@pytest.mark.parametrize("key", ["", "final_observation", "action_mask", 3])
def test_record_episode_statistics_refuses_a_bad_stats_key(key):
    message = (
        "stats_key must be a non-empty string other than 'final_observation' and "
        f"'action_mask', got {key!r}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        RecordEpisodeStatistics(CartPole(), key)


# --- FrameStack -------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["reset", "zero"])
def test_frame_stack_matches_gymnasium(padding):
    events = Events(seed=1, episodes=6, dim=2)
    lerax_rows = run_lerax(
        FrameStack(ReplayEnv(events), 3, padding=padding), events.num_steps
    )
    gym_rows = run_gymnasium(
        gymnasium.wrappers.FrameStackObservation(
            GymReplayEnv(events), 3, padding_type=padding
        ),
        events.num_steps,
    )
    np.testing.assert_array_equal(lerax_rows[0][0], gym_rows[0][0])
    for ours, theirs in zip(lerax_rows[1:], gym_rows[1:], strict=True):
        obs, _, terminated, truncated, info = ours
        np.testing.assert_array_equal(info["final_observation"], theirs[0])
        if terminated or truncated:
            np.testing.assert_array_equal(obs, theirs[5])
        else:
            np.testing.assert_array_equal(obs, theirs[0])


def test_frame_stack_space_and_errors():
    env = FrameStack(Pendulum(), 4)
    assert env.observation_space.shape == (4, 3)
    np.testing.assert_array_equal(env.observation_space.high[2], [1.0, 1.0, 8.0])
    assert env.action_space is env.env.action_space
    with pytest.raises(
        ValueError, match=re.escape("stack_size must be a positive integer, got 0")
    ):
        FrameStack(Pendulum(), 0)
    with pytest.raises(
        ValueError, match=re.escape("stack_size must be a positive integer, got 2.0")
    ):
        FrameStack(Pendulum(), 2.0)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=re.escape("padding must be 'reset' or 'zero', got 'same'")
    ):
        FrameStack(Pendulum(), 2, padding="same")  # type: ignore[arg-type]
    message = (
        "FrameStack needs an environment whose observation space is a Box, got Dict("
    )
    with pytest.raises(UnsupportedSpaceError, match=re.escape(message)):
        FrameStack(DictEnv(), 2)


# --- FlattenObservation, TransformObservation, TransformReward ----------------------


def test_flatten_observation_matches_gymnasium_and_its_space():
    env = FlattenObservation(DictEnv())
    space = env.observation_space
    assert space.shape == (7,) and space.dtype == jnp.float32
    np.testing.assert_array_equal(space.low, [0, 0, 0, -2, -2, -2, -2])
    np.testing.assert_array_equal(space.high, [1, 1, 1, 3, 3, 3, 3])
    # A plain dict: Gymnasium sorts its keys, as lerax does.
    gym_space = gymnasium.spaces.Dict(
        {
            "position": gymnasium.spaces.Box(-2.0, 3.0, (2, 2), np.float32),
            "mode": gymnasium.spaces.Discrete(3),
        }
    )

    @jax.jit
    def observe(keys: Array) -> tuple[Any, Any, Array]:
        flat = jax.vmap(lambda k: env.reset(key=k)[1])(keys)
        raw = jax.vmap(lambda k: env.env.reset(key=k)[1])(keys)
        return flat, raw, jax.vmap(space.contains)(flat)

    flat, raw, contained = jax.device_get(
        observe(jax.random.split(jax.random.key(0), 8))
    )
    assert contained.all()
    for i in range(8):
        raw_i = {k: np.asarray(v[i]) for k, v in raw.items()}
        np.testing.assert_array_equal(
            flat[i], gymnasium.spaces.flatten(gym_space, raw_i)
        )


def test_transform_observation_and_reward():
    env = TransformReward(
        TransformObservation(CartPole(), Affine(2.0, 1.0)), Affine(-3.0, 0.5)
    )
    state, obs, _ = env.reset(key=jax.random.key(0))
    raw_state, raw_obs, _ = CartPole().reset(key=jax.random.key(0))
    np.testing.assert_allclose(obs, 2 * raw_obs + 1, rtol=1e-6)
    _, obs, reward, *_ = env.step(state, 0, key=jax.random.key(1))
    _, raw_obs, raw_reward, *_ = CartPole().step(raw_state, 0, key=jax.random.key(1))
    np.testing.assert_allclose(obs, 2 * raw_obs + 1, rtol=1e-6)
    assert reward.dtype == jnp.float32 and float(reward) == -3.0 * raw_reward + 0.5
    space = Box(-1.0, 1.0, shape=(4,))
    assert TransformObservation(CartPole(), jnp.tanh, space).observation_space is space


def test_transform_errors():
    with pytest.raises(
        TypeError, match=re.escape("TransformReward needs a callable func, got 3")
    ):
        TransformReward(CartPole(), 3)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError,
        match=re.escape(
            "TransformObservation needs a callable func, got <class 'float'>"
        ),
    ):
        TransformObservation(CartPole(), float)
    with pytest.raises(
        TypeError, match=re.escape("observation_space must be a lerax space, got (4,)")
    ):
        TransformObservation(CartPole(), halve, (4,))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError,
        match=re.escape("TimeLimit needs a lerax environment, got 'CartPole-v1'"),
    ):
        TimeLimit("CartPole-v1", 10)  # type: ignore[arg-type]


# --- ClipAction, RescaleAction ----------------------------------------------------


def _echo(env: AbstractEnv, action: Any) -> Any:
    state, _, _ = env.reset(key=jax.random.key(0))
    _, obs, *_ = env.step(state, action, key=jax.random.key(0))
    return obs


def test_clip_action_matches_gymnasium():
    low, high = np.array([-1.0, 0.0], np.float32), np.array([2.0, 0.5], np.float32)
    env = ClipAction(EchoEnv(low, high))
    gym_env = gymnasium.wrappers.ClipAction(GymEchoEnv(low, high))
    assert env.action_space == Box(-np.inf, np.inf, shape=(2,))
    rng = np.random.default_rng(0)
    for action in rng.normal(0.0, 3.0, (20, 2)).astype(np.float32):
        np.testing.assert_array_equal(_echo(env, action), gym_env.step(action)[0])


def test_rescale_action_matches_gymnasium():
    low, high = (
        np.array([-2.0, 0.0, 1.0], np.float32),
        np.array([2.0, 0.5, 7.0], np.float32),
    )
    low_action, high_action = np.float32(-1.0), np.array([1.0, 3.0, 2.0], np.float32)
    env = RescaleAction(EchoEnv(low, high), low_action, high_action)
    gym_env = gymnasium.wrappers.RescaleAction(
        GymEchoEnv(low, high), low_action, high_action
    )
    assert env.action_space == Box(low_action, high_action, shape=(3,))
    rng = np.random.default_rng(1)
    actions = rng.uniform(low_action, high_action, (20, 3)).astype(np.float32)
    for action in actions:
        np.testing.assert_allclose(
            _echo(env, action), gym_env.step(action)[0], rtol=1e-6, atol=1e-6
        )


# Normal float32 numbers: XLA on CPU flushes subnormal ones to zero.
_finite = st.floats(-1e4, 1e4, width=32, allow_subnormal=False)


@settings(max_examples=30, deadline=None)
@given(
    bounds=st.tuples(_finite, _finite).filter(lambda b: b[0] < b[1]),
    targets=st.tuples(_finite, _finite).filter(lambda b: b[0] < b[1]),
)
def test_rescale_action_maps_bounds_to_bounds(bounds, targets):
    low, high = (np.array([b], np.float32) for b in bounds)
    env = RescaleAction(EchoEnv(low, high), *targets)
    corners = jnp.array([[targets[0]], [targets[1]]], jnp.float32)
    mapped = jax.vmap(env.action)(corners)
    np.testing.assert_array_equal(mapped[:, 0], np.float32(bounds))
    middle = env.action(jnp.array([(targets[0] + targets[1]) / 2], jnp.float32))
    assert bounds[0] <= float(middle[0]) <= bounds[1]


def test_action_wrapper_errors():
    message = (
        "ClipAction needs an environment whose action space is a floating Box, got "
        "Discrete(n=2"
    )
    with pytest.raises(UnsupportedSpaceError, match=re.escape(message)):
        ClipAction(CartPole())
    message = "RescaleAction needs an action space with finite bounds, got Box("
    with pytest.raises(UnsupportedSpaceError, match=re.escape(message)):
        RescaleAction(ClipAction(Pendulum()), -1.0, 1.0)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "min_action must be below max_action elementwise, got 1.0 and 1.0"
        ),
    ):
        RescaleAction(Pendulum(), 1.0, 1.0)
    with pytest.raises(
        ValueError, match=re.escape("max_action must be finite, got inf")
    ):
        RescaleAction(Pendulum(), -1.0, np.inf)
    message = "min_action must broadcast to the action shape (1,), got shape (2,)"
    with pytest.raises(ValueError, match=re.escape(message)):
        RescaleAction(Pendulum(), jnp.zeros(2), 1.0)
    assert issubclass(UnsupportedSpaceError, WrapperError)
