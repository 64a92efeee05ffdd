"""Tests of `lerax.env.record_video`: frames, formats, policies and errors."""

import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import CartPole, Pendulum, PendulumState, record_video
from lerax.policy import GRUActorCriticPolicy, MLPActorCriticPolicy
from lerax.utils import MissingExtraError
from test_env_render import Blind

iio = pytest.importorskip("imageio.v3", reason="the video extra is not installed")

MISSING = re.escape('install lerax\'s video extra: pip install "lerax[video]"')


def _zero_torque(observation, *, key):
    return jnp.zeros((1,), jnp.float32)


def _push_left(observation, *, key):
    return jnp.array(0, jnp.int32)


def test_gif_holds_every_state_of_every_episode(tmp_path):
    env = Pendulum()
    path = record_video(
        env, _zero_torque, tmp_path / "sub" / "pendulum.gif", key=jax.random.key(0),
        episodes=2, max_steps=5,
    )  # fmt: skip
    assert path == tmp_path / "sub" / "pendulum.gif"
    frames = iio.imread(path)
    # Each episode: its first state and one state per step.
    assert frames.shape == (2 * (5 + 1), 500, 500, 3)
    # 30 frames per second by default, as Gymnasium's Pendulum-v1 plays.
    assert iio.immeta(path)["duration"] == pytest.approx(1000 / 30, abs=5)
    assert iio.immeta(path)["loop"] == 0
    # The frames are the env's own drawings of the episodes' states, up to the
    # GIF palette, and follow the dynamics: the pendulum falls.
    first = jax.random.split(jax.random.key(0), 2)[0]
    state, _, _ = env.reset(key=jax.random.split(first, 3)[0])
    expected = np.asarray(jax.jit(env.render)(state))
    assert np.abs(frames[0].astype(np.int32) - expected).mean() < 1.0
    assert np.any(frames[0] != frames[5])
    assert np.any(frames[5] != frames[6])  # a new episode starts


def test_an_episode_ends_where_the_env_ends_it(tmp_path):
    env = CartPole()
    key = jax.random.key(3)
    path = record_video(env, _push_left, tmp_path / "left.gif", key=key, max_steps=200)
    # The same episode, stepped by hand until it terminates.
    state, _, _ = env.reset(key=jax.random.split(jax.random.split(key, 1)[0], 3)[0])
    step = jax.jit(lambda s: env.step_env(s, jnp.array(0), key=jax.random.key(0)))
    steps = 0
    while True:
        state, _, _, terminated, truncated, _ = step(state)
        steps += 1
        if terminated or truncated:
            break
    assert 5 < steps < 200
    frames = iio.imread(path)
    assert len(frames) == steps + 1
    # The last frame shows the last state (up to the GIF palette).
    last = np.asarray(jax.jit(env.render)(state)).astype(np.int32)
    assert np.abs(frames[-1] - last).mean() < 0.5 * np.abs(frames[-2] - last).mean()
    assert iio.immeta(path)["duration"] == 20  # CartPole plays at 50 fps


def test_stateless_and_stateful_policies_predict_or_sample(tmp_path):
    env = CartPole()
    mlp = MLPActorCriticPolicy(env, key=jax.random.key(0))
    gru = GRUActorCriticPolicy(env, key=jax.random.key(1), hidden_size=8, width=8)
    for name, policy in (("mlp", mlp), ("gru", gru)):
        for deterministic in (True, False):
            path = record_video(
                env, policy, tmp_path / f"{name}-{deterministic}.gif",
                key=jax.random.key(2), max_steps=4, deterministic=deterministic,
                fps=10,
            )  # fmt: skip
            frames = iio.imread(path)
            assert 2 <= len(frames) <= 5
            assert frames.shape[1:] == (400, 600, 3)
            assert iio.immeta(path)["duration"] == 100


# Reading an MP4 back starts ffmpeg (fork, then exec at once): not the fork JAX
# warns about.
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
def test_mp4(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    path = record_video(
        Pendulum(), _zero_torque, tmp_path / "pendulum.mp4", key=jax.random.key(0),
        max_steps=7, fps=25,
    )  # fmt: skip
    frames = iio.imread(path)
    assert frames.shape == (8, 500, 500, 3)  # H.264 keeps the size
    assert iio.immeta(path)["fps"] == 25


@pytest.mark.parametrize(
    ("module", "suffix", "package"),
    [
        ("PIL", ".gif", "Pillow"),
        ("imageio", ".mp4", "imageio"),
        ("imageio_ffmpeg", ".mp4", "imageio-ffmpeg"),
    ],
)
def test_a_missing_package_names_the_extra(
    tmp_path, monkeypatch, module, suffix, package
):
    # A module set to None in sys.modules cannot be imported.
    monkeypatch.setitem(sys.modules, module, None)
    path = tmp_path / f"video{suffix}"
    kind = suffix[1:].upper()
    with pytest.raises(
        MissingExtraError,
        match=f"^record_video needs {package} to write {kind} files; {MISSING}$",
    ) as caught:
        record_video(Pendulum(), _zero_torque, path, key=jax.random.key(0), max_steps=2)
    assert isinstance(caught.value, ImportError)
    assert caught.value.extra == "video"
    assert not path.exists()


def test_invalid_arguments(tmp_path):
    env = Pendulum()
    key = jax.random.key(0)
    with pytest.raises(
        ValueError, match=r"^path must end in \.gif or \.mp4, got '.*video\.avi'$"
    ):
        record_video(env, _zero_torque, tmp_path / "video.avi", key=key)
    with pytest.raises(
        ValueError, match=r"^episodes must be a positive integer, got 0$"
    ):
        record_video(env, _zero_torque, tmp_path / "v.gif", key=key, episodes=0)
    with pytest.raises(
        ValueError, match=r"^max_steps must be a positive integer, got 2\.5$"
    ):
        record_video(env, _zero_torque, tmp_path / "v.gif", key=key, max_steps=2.5)  # pyright: ignore[reportArgumentType]
    with pytest.raises(
        ValueError, match=r"^fps must be a positive number or None, got 0$"
    ):
        record_video(env, _zero_torque, tmp_path / "v.gif", key=key, fps=0)
    with pytest.raises(
        ValueError,
        match=r"^max_steps must be given, since Pendulum has no max_episode_steps to bound the episodes$",
    ):
        record_video(
            Pendulum(max_episode_steps=None), _zero_torque, tmp_path / "v.gif", key=key
        )
    assert not any(tmp_path.iterdir())


def test_an_env_without_render_fails_before_the_episodes(tmp_path):
    with pytest.raises(NotImplementedError, match=r"^Blind does not implement render"):
        record_video(
            Blind(), lambda obs, *, key: jnp.array(0), tmp_path / "v.gif",
            key=jax.random.key(0), max_steps=3,
        )  # fmt: skip
    assert not any(tmp_path.iterdir())


def test_states_are_recorded_as_the_env_steps_them():
    """The rollout behind the video: the env's own reset and step_env."""
    from lerax.env._video import _rollout

    env = Pendulum()
    key = jax.random.key(5)
    states, lengths = _rollout(env, _zero_torque, key, 1, 3, True)
    np.testing.assert_array_equal(lengths, [3])
    episode_key = jax.random.split(key, 1)[0]
    env_key, _, scan_key = jax.random.split(episode_key, 3)
    state, _, _ = env.reset(key=env_key)
    expected: list[PendulumState] = [state]
    for step_key in jax.random.split(scan_key, 3):
        state = env.step_env(state, jnp.zeros((1,)), key=jax.random.split(step_key)[1])[
            0
        ]
        expected.append(state)
    np.testing.assert_allclose(states.theta[0], [s.theta for s in expected], rtol=1e-6)
    np.testing.assert_array_equal(states.t[0], [0, 1, 2, 3])
