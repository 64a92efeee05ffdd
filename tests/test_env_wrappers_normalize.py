"""Tests of the normalising wrappers of lerax.env.wrappers: running statistics
against NumPy and Gymnasium, statistics across automatic resets, freezing, the
frozen normaliser, errors."""

import re
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.wrappers.utils import RunningMeanStd as GymRunningMeanStd
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from lerax.env import CartPole, Pendulum
from lerax.env.wrappers import (
    ClipAction,
    FrameStack,
    NormalizeObservation,
    NormalizeObservationState,
    NormalizeReward,
    NormalizerNotFoundError,
    ObservationNormalizer,
    RecordEpisodeStatistics,
    RunningMeanStd,
    TimeLimit,
    TransformReward,
    UnsupportedSpaceError,
    WrapperError,
    observation_normalizer,
)
from wrapper_envs import (
    DictEnv,
    Events,
    GymReplayEnv,
    ReplayEnv,
    run_gymnasium,
    run_lerax,
)

_samples = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.integers(1, 3)),
    elements=st.floats(-1e3, 1e3),
)


@jax.jit
def _update(stats: RunningMeanStd, x: Any) -> RunningMeanStd:
    return stats.update(x)


def _reference(samples: np.ndarray) -> GymRunningMeanStd:
    """Gymnasium's statistics of `samples`, one update per sample, in float64."""
    reference = GymRunningMeanStd(shape=samples.shape[1:])
    for x in samples:
        reference.update(x[None])
    return reference


@settings(max_examples=30, deadline=None)
@given(_samples)
def test_running_mean_and_variance_match_numpy_and_gymnasium(samples):
    stats = RunningMeanStd.initial(samples.shape[1:])
    for x in samples:
        stats = _update(stats, x)
    reference = _reference(samples)
    scale = 1.0 + np.abs(samples).max()
    np.testing.assert_allclose(stats.mean, reference.mean, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(
        stats.var, reference.var, rtol=1e-3, atol=1e-5 * scale**2
    )
    np.testing.assert_allclose(stats.count, len(samples) + 1e-4, rtol=1e-6)
    # NumPy's moments: the prior (mean 0, variance 1) weighs 1e-4 samples only.
    prior = 1e-4 / len(samples)
    np.testing.assert_allclose(
        stats.mean, samples.mean(0), rtol=1e-3, atol=1e-4 * scale + prior * scale
    )
    np.testing.assert_allclose(
        stats.var, samples.var(0), rtol=1e-3, atol=1e-4 * scale**2 + prior * scale**2
    )


@settings(max_examples=25, deadline=None)
@given(_samples, st.integers(1, 4))
def test_merged_statistics_are_those_of_all_samples(samples, parts):
    batch = []
    for chunk in np.array_split(samples, parts):
        stats = RunningMeanStd.initial(samples.shape[1:])
        for x in chunk:
            stats = _update(stats, x)
        batch.append(stats)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *batch)
    merged = stacked.merged()
    # The parallel formula in float64.
    count = sum(float(s.count) for s in batch)
    mean = sum(float(s.count) * np.float64(s.mean) for s in batch) / count
    m2 = sum(
        float(s.count) * (np.float64(s.var) + (np.float64(s.mean) - mean) ** 2)
        for s in batch
    )
    scale = 1.0 + np.abs(samples).max()
    np.testing.assert_allclose(merged.count, count, rtol=1e-6)
    np.testing.assert_allclose(merged.mean, mean, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(merged.var, m2 / count, rtol=1e-3, atol=1e-5 * scale**2)
    # One set merges to itself.
    assert batch[0].merged() is batch[0]


def test_normalize_observation_matches_gymnasium_across_resets():
    events = Events(seed=2, episodes=10)
    lerax_rows = run_lerax(NormalizeObservation(ReplayEnv(events)), events.num_steps)
    gym_rows = run_gymnasium(
        gymnasium.wrappers.NormalizeObservation(GymReplayEnv(events)), events.num_steps
    )
    tol: dict[str, Any] = {"rtol": 1e-4, "atol": 1e-5}
    np.testing.assert_allclose(lerax_rows[0][0], gym_rows[0][0], **tol)
    for ours, theirs in zip(lerax_rows[1:], gym_rows[1:], strict=True):
        obs, _, terminated, truncated, info = ours
        np.testing.assert_allclose(info["final_observation"], theirs[0], **tol)
        # After an automatic reset, the fresh episode's first observation is
        # normalised with the statistics carried over, as Gymnasium's reset does.
        np.testing.assert_allclose(
            obs, theirs[5] if terminated or truncated else theirs[0], **tol
        )


def test_statistics_survive_automatic_resets_and_not_explicit_ones():
    env = NormalizeObservation(Pendulum(max_episode_steps=4))
    state, _, _ = env.reset(key=jax.random.key(0))
    assert float(state.statistics.count) == pytest.approx(1.0001)
    step = jax.jit(lambda s, k: env.step(s, jnp.array([0.5]), key=k))
    for t in range(10):
        state, *_ = step(state, jax.random.key(t))
    # 1 reset + 10 steps + 2 automatic resets (after steps 4 and 8).
    assert float(state.statistics.count) == pytest.approx(13.0001)
    state, _, _ = env.reset(key=jax.random.key(1))
    assert float(state.statistics.count) == pytest.approx(1.0001)


def test_frozen_statistics_do_not_move():
    env = TimeLimit(NormalizeObservation(CartPole(), clip=3.0), 5)
    state, _, _ = env.reset(key=jax.random.key(0))
    step = jax.jit(lambda s, k: env.step(s, 1, key=k))
    for t in range(7):
        state, *_ = step(state, jax.random.key(t))
    normalize = env.env
    assert isinstance(normalize, NormalizeObservation)
    trained = normalize.current_statistics(env.inner_state(state))
    frozen = normalize.frozen(env.inner_state(state))
    assert not frozen.update_running_mean
    assert frozen.clip == 3.0 and frozen.epsilon == normalize.epsilon
    frozen_state, obs, _ = frozen.reset(key=jax.random.key(1))
    raw_state, raw, _ = CartPole().reset(key=jax.random.key(1))
    frozen_step = jax.jit(lambda s, k: frozen.step(s, 1, key=k))
    raw_step = jax.jit(lambda s, k: CartPole().step(s, 1, key=k))
    for t in range(12):  # through an automatic reset
        expected = trained.normalize(raw, 1e-8, 3.0)
        np.testing.assert_allclose(obs, expected, rtol=1e-6, atol=1e-6)
        assert frozen_state.statistics.count == trained.count
        frozen_state, obs, *_ = frozen_step(frozen_state, jax.random.key(t))
        raw_state, raw, *_ = raw_step(raw_state, jax.random.key(t))
    # update_running_mean=False from the constructor does the same.
    fixed = NormalizeObservation(
        CartPole(), statistics=trained, update_running_mean=False
    )
    state, obs, _ = fixed.reset(key=jax.random.key(1))
    _, raw, _ = CartPole().reset(key=jax.random.key(1))
    np.testing.assert_allclose(obs, trained.normalize(raw, 1e-8), rtol=1e-6)
    assert state.statistics is trained


def test_clip_bounds_observations_and_space():
    stats = RunningMeanStd(jnp.zeros(4), jnp.full(4, 1e-4), 10.0)
    env = NormalizeObservation(
        CartPole(), clip=2.0, statistics=stats, update_running_mean=False
    )
    _, obs, _ = env.reset(key=jax.random.key(0))
    assert float(jnp.max(jnp.abs(obs))) == 2.0
    np.testing.assert_array_equal(env.observation_space.high, 2.0)
    unclipped = NormalizeObservation(CartPole())
    np.testing.assert_array_equal(unclipped.observation_space.high, np.inf)


def test_normalizer_of_a_batch_of_states():
    env = RecordEpisodeStatistics(
        TransformReward(TimeLimit(NormalizeObservation(Pendulum()), 3), jnp.tanh)
    )
    keys = jax.random.split(jax.random.key(0), 5)

    def run(key: Any) -> Any:
        state, _, _ = env.reset(key=key)
        for t in range(4):
            state, *_ = env.step(
                state, jnp.array([1.0]), key=jax.random.fold_in(key, t)
            )
        return state

    states = jax.jit(jax.vmap(run))(keys)
    normalizer = observation_normalizer(env, states)
    assert isinstance(normalizer, ObservationNormalizer)
    statistics = states.env_state.env_state  # under TimeLimit, under the recorder
    assert isinstance(statistics, NormalizeObservationState)
    assert statistics.statistics.count.shape == (5,)
    merged = statistics.statistics.merged()
    np.testing.assert_array_equal(normalizer.statistics.mean, merged.mean)
    np.testing.assert_array_equal(normalizer.statistics.var, merged.var)
    assert normalizer.observation_space == Pendulum().observation_space
    obs = jnp.array([0.5, -0.5, 3.0])
    np.testing.assert_allclose(normalizer(obs), merged.normalize(obs, 1e-8), rtol=1e-6)
    # Without a state: the statistics a reset starts from.
    fresh = observation_normalizer(env)
    assert fresh is not None
    np.testing.assert_array_equal(fresh.statistics.var, np.ones(3))
    # No NormalizeObservation at all.
    assert observation_normalizer(TimeLimit(Pendulum(), 3)) is None
    assert observation_normalizer(Pendulum()) is None


def test_a_normalizer_whose_observations_change_again_is_refused():
    env = ClipAction(FrameStack(NormalizeObservation(Pendulum()), 2))
    message = (
        "the observations of NormalizeObservation are changed again by FrameStack "
        "before they leave the environment, so a policy cannot normalise raw "
        "observations the same way; put NormalizeObservation outside FrameStack"
    )
    with pytest.raises(NormalizerNotFoundError, match=re.escape(message)):
        observation_normalizer(env)
    assert issubclass(NormalizerNotFoundError, WrapperError)


def test_normalize_reward_matches_gymnasium():
    events = Events(seed=4, episodes=10)
    lerax_rows = run_lerax(
        NormalizeReward(ReplayEnv(events), gamma=0.9), events.num_steps
    )
    gym_rows = run_gymnasium(
        gymnasium.wrappers.NormalizeReward(GymReplayEnv(events), gamma=0.9),
        events.num_steps,
    )
    for ours, theirs in zip(lerax_rows[1:], gym_rows[1:], strict=True):
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-6)


def test_normalize_reward_clips_freezes_and_keeps_the_return():
    env = NormalizeReward(Pendulum(max_episode_steps=3), gamma=0.5, clip=0.5)
    state, _, _ = env.reset(key=jax.random.key(0))
    for t in range(4):
        state, _, reward, _, _, _ = env.step(
            state, jnp.array([2.0]), key=jax.random.key(t)
        )
        assert abs(float(reward)) <= 0.5
    # Truncation does not zero the discounted return (Gymnasium's rule).
    assert float(state.discounted_return) != 0.0
    assert float(state.statistics.count) == pytest.approx(4.0001)
    frozen = env.frozen(state)
    assert not frozen.update_running_mean
    frozen_state, _, _ = frozen.reset(key=jax.random.key(0))
    frozen_state, *_ = frozen.step(
        frozen_state, jnp.array([2.0]), key=jax.random.key(1)
    )
    assert frozen_state.statistics.count == state.statistics.count


def test_normalizing_wrapper_errors():
    message = (
        "NormalizeObservation needs an environment whose observation space is a "
        "Box, got Dict("
    )
    with pytest.raises(UnsupportedSpaceError, match=re.escape(message)):
        NormalizeObservation(DictEnv())
    cases: list[tuple[Any, type[Exception], str]] = [
        (
            lambda: NormalizeObservation(CartPole(), epsilon=-1.0),
            ValueError,
            "epsilon must be a finite number >= 0, got -1.0",
        ),
        (
            lambda: NormalizeObservation(CartPole(), clip=0.0),
            ValueError,
            "clip must be a positive finite number or None, got 0.0",
        ),
        (
            lambda: NormalizeObservation(CartPole(), clip="big"),  # pyright: ignore[reportArgumentType]
            ValueError,
            "clip must be a number, got 'big'",
        ),
        (
            lambda: NormalizeObservation(CartPole(), update_running_mean=0),  # pyright: ignore[reportArgumentType]
            TypeError,
            "update_running_mean must be a bool, got 0",
        ),
        (
            lambda: NormalizeObservation(
                CartPole(), statistics=RunningMeanStd.initial()
            ),
            ValueError,
            "statistics must be unbatched, of shape (4,), got mean of shape () and "
            "count of shape ()",
        ),
        (
            lambda: NormalizeObservation(CartPole(), statistics=(0.0, 1.0)),  # pyright: ignore[reportArgumentType]
            TypeError,
            "statistics must be a RunningMeanStd, got tuple",
        ),
        (
            lambda: NormalizeReward(CartPole(), gamma=1.5),
            ValueError,
            "gamma must be a number in [0, 1], got 1.5",
        ),
        (
            lambda: RunningMeanStd(jnp.zeros(3), jnp.ones(2), 1.0),
            ValueError,
            "var must have the shape of mean, (3,), got shape (2,)",
        ),
        (
            lambda: ObservationNormalizer(
                RunningMeanStd.initial((3,)), CartPole().observation_space
            ),
            ValueError,
            "statistics must be unbatched, of the observations' shape (4,), got "
            "mean of shape (3,) and count of shape ()",
        ),
    ]
    for build, error, text in cases:
        with pytest.raises(error, match=re.escape(text)):
            build()
