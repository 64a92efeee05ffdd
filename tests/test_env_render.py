"""Tests of rendering: `AbstractEnv.render`, the classic-control scenes and the
drawing primitives they are made of, compared with Gymnasium's frames."""

import re
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerax.env
from lerax.env import (
    AbstractEnv,
    AcrobotState,
    CartPoleState,
    Discrete,
    MountainCarContinuousState,
    MountainCarState,
    PendulumState,
)
from lerax.env._draw import (
    blank,
    draw_graph,
    draw_line,
    draw_polyline,
    fill_circle,
    fill_polygon,
    rectangle,
    rotate,
    to_uint8,
)


def _states(cls: type, *rows: tuple[float, ...]) -> Any:
    """A batch of states of `cls`, one per row of its float fields (t = 0)."""
    columns = [jnp.asarray(c, jnp.float32) for c in zip(*rows, strict=True)]
    return cls(*columns, jnp.zeros(len(rows), jnp.int32))


# Per id: Gymnasium's frame size (height, width) and three states drawn
# differently, as the float fields of the state class in order; Gymnasium's
# env state holds the same values in the same order.
CASES: dict[str, tuple[tuple[int, int], Any, list[tuple[float, ...]]]] = {
    "CartPole-v1": (
        (400, 600),
        CartPoleState,
        [(0.0, 0.0, 0.0, 0.0), (1.3, 0.5, 0.2, -1.0), (-2.1, 0.0, -0.4, 0.0)],
    ),
    "Acrobot-v1": (
        (500, 500),
        AcrobotState,
        [(0.0, 0.0, 0.0, 0.0), (0.7, 1.2, 1.0, 0.0), (-2.5, -0.8, 0.0, 3.0)],
    ),
    "MountainCar-v0": (
        (400, 600),
        MountainCarState,
        [(-0.5, 0.0), (-1.1, 0.01), (0.45, -0.02)],
    ),
    "MountainCarContinuous-v0": (
        (400, 600),
        MountainCarContinuousState,
        [(-0.5, 0.0), (-1.0, 0.01), (0.3, -0.02)],
    ),
    "Pendulum-v1": (
        (500, 500),
        PendulumState,
        [(0.0, 0.0), (2.5, 1.0), (-1.2, -3.0)],
    ),
}
IDS = sorted(CASES)


@pytest.fixture(scope="module")
def frames() -> dict[str, np.ndarray]:
    """Each env's three states, drawn with one jitted, vmapped call."""
    out = {}
    for env_id, (_, cls, rows) in CASES.items():
        env = lerax.env.make(env_id)
        out[env_id] = np.asarray(jax.jit(jax.vmap(env.render))(_states(cls, *rows)))
    return out


@pytest.mark.parametrize("env_id", IDS)
def test_frames_have_gymnasiums_size_and_are_bytes(frames, env_id):
    (height, width), _, rows = CASES[env_id]
    assert frames[env_id].shape == (len(rows), height, width, 3)
    assert frames[env_id].dtype == np.uint8


@pytest.mark.parametrize("env_id", IDS)
def test_render_is_deterministic_and_vmap_matches_single_calls(frames, env_id):
    _, cls, rows = CASES[env_id]
    env = lerax.env.make(env_id)
    render = jax.jit(env.render)
    for i, row in enumerate(rows):
        state = jax.tree.map(lambda x: x[0], _states(cls, row))
        single = np.asarray(render(state))
        np.testing.assert_array_equal(np.asarray(render(state)), single)
        # Batched code may round a blended edge pixel the other way.
        difference = np.abs(single.astype(np.int32) - frames[env_id][i])
        assert difference.max() <= 1
        assert np.mean(difference > 0) < 1e-3


@pytest.mark.parametrize("env_id", IDS)
def test_different_states_are_drawn_differently(frames, env_id):
    batch = frames[env_id]
    for i in range(len(batch)):
        # Mostly the white background, with something drawn on it.
        assert 0.5 < np.mean(np.all(batch[i] == 255, axis=-1)) < 0.999
        for j in range(i):
            assert np.mean(np.any(batch[i] != batch[j], axis=-1)) > 0.001


def test_cartpole_moves_and_tilts_the_pole_as_the_state_says():
    env = lerax.env.CartPole()
    states = _states(
        CartPoleState, (0.0, 0.0, 0.0, 0.0), (1.2, 0.0, 0.0, 0.0), (0.0, 0.0, 0.2, 0.0)
    )
    upright, right, tilted = np.asarray(jax.jit(jax.vmap(env.render))(states))

    def columns(frame: np.ndarray, rgb: tuple[int, ...]) -> np.ndarray:
        return np.nonzero(np.all(frame == rgb, axis=-1).any(axis=0))[0]

    black, brown = (0, 0, 0), (202, 152, 101)
    # The track is the row 100 pixels above the bottom.
    assert np.all(upright[299] == black)
    # Row 310 crosses only the cart: 50 pixels (51 centres) wide, centred, and
    # 1.2 * 600 / 4.8 = 150 pixels to the right at x = 1.2.
    np.testing.assert_array_equal(columns(upright[310:311], black), np.arange(275, 326))
    np.testing.assert_array_equal(columns(right[310:311], black), np.arange(425, 476))
    # A positive angle leans the pole to the right, as Gymnasium draws it.
    assert columns(upright, brown).max() - columns(upright, brown).min() < 12
    assert columns(tilted, brown).max() > columns(upright, brown).max() + 10


class Blind(AbstractEnv[jax.Array, Discrete, Discrete]):
    """An env that does not override `render`."""

    observation_space: Discrete
    action_space: Discrete
    check_actions: bool = eqx.field(static=True)

    def __init__(self):
        self.observation_space = Discrete(2)
        self.action_space = Discrete(2)
        self.check_actions = False

    def reset_env(self, *, key):
        return jnp.array(0), jnp.array(0), {}

    def step_env(self, state, action, *, key):
        return state, state, 0.0, False, False, {}


def test_render_defaults_to_an_error_naming_the_env():
    env = Blind()
    state, _, _ = env.reset(key=jax.random.key(0))
    with pytest.raises(NotImplementedError, match=r"^Blind does not implement render$"):
        env.render(state)


def test_render_fps_is_gymnasiums():
    import gymnasium

    for env_id in IDS:
        expected = gymnasium.make(env_id).metadata["render_fps"]
        assert lerax.env.make(env_id).render_fps == expected
    assert Blind.render_fps == 30


# Similarity with Gymnasium's frames ------------------------------------------


def _foreground(frame: np.ndarray) -> np.ndarray:
    """Pixels at least half covered by a shape (on the white background)."""
    return (255 - frame.astype(np.int32)).max(axis=-1) > 127


@pytest.mark.parametrize("env_id", IDS)
def test_frames_look_like_gymnasiums(frames, env_id):
    pytest.importorskip("pygame", reason="Gymnasium draws with pygame")
    import gymnasium

    _, _, rows = CASES[env_id]
    env = gymnasium.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    inner: Any = env.unwrapped
    for i, row in enumerate(rows):
        inner.state = np.array(row, np.float64)
        inner.last_u = None  # Pendulum's torque arrow, which lerax does not draw
        expected = np.asarray(env.render())
        actual = frames[env_id][i]
        assert actual.shape == expected.shape
        ours, theirs = _foreground(actual), _foreground(expected)
        iou = (ours & theirs).sum() / (ours | theirs).sum()
        difference = np.abs(actual.astype(np.int32) - expected).mean()
        # Measured: IoU 0.91-0.99 and mean differences 0.03-0.2 out of 255;
        # what differs is anti-aliasing at the edges of the shapes.
        assert iou > 0.85, (row, iou)
        assert difference < 1.0, (row, difference)
    env.close()


# Drawing primitives ----------------------------------------------------------


def _drawn(draw: Any) -> np.ndarray:
    """The red channel of ``draw()``, jitted (one compilation is cheaper than
    running the primitive's operations one by one)."""
    return np.asarray(jax.jit(lambda: to_uint8(draw()))())[..., 0]


def _covered(draw: Any) -> np.ndarray:
    """Pixels fully painted black on white."""
    return _drawn(draw) == 0


def test_polygons_fill_the_pixels_inside_whatever_the_orientation():
    # Pixel (row r, column c) of a 10-row image has its centre at (c, 9 - r).
    # Centres on the edge count as inside, as pygame fills them.
    square = rectangle(2.0, 3.0, 5.5, 6.0)
    expected = np.zeros((10, 10), bool)
    expected[9 - 6 : 9 - 3 + 1, 2:6] = True
    for vertices in (square, square[::-1]):
        values = _drawn(lambda v=vertices: fill_polygon(blank(10, 10), v, (0, 0, 0)))
        np.testing.assert_array_equal(values == 0, expected)
        # Half a pixel beyond the right edge: half covered (anti-aliased);
        # nothing else.
        half = np.zeros_like(expected)
        half[9 - 6 : 9 - 3 + 1, 6] = True
        np.testing.assert_array_equal(values[half], 128)
        assert np.all(values[~(expected | half)] == 255)


def test_circles_lines_and_graphs_cover_what_they_should():
    disc = _covered(
        lambda: fill_circle(blank(41, 41), jnp.array([20.0, 20.0]), 10.0, (0,) * 3)
    )
    assert abs(disc.sum() - np.pi * 10**2) < 0.1 * np.pi * 10**2
    assert disc[20, 20] and disc[20, 10] and not disc[20, 9]
    line = _covered(lambda: draw_line(blank(9, 20), (0.0, 4.0), (19.0, 4.0), (0, 0, 0)))
    np.testing.assert_array_equal(np.nonzero(line.any(axis=1))[0], [4])
    assert line[4].all()
    xs = jnp.linspace(0.0, 19.0, 5)
    graph = _drawn(lambda: draw_graph(blank(9, 20), xs, xs * 0 + 4, (0, 0, 0)))
    path = _drawn(
        lambda: draw_polyline(blank(9, 20), jnp.stack([xs, xs * 0 + 4], -1), (0,) * 3)
    )
    np.testing.assert_array_equal(graph, path)


def test_rotate_turns_counter_clockwise():
    np.testing.assert_allclose(
        rotate(jnp.array([[1.0, 0.0], [0.0, 2.0]]), jnp.pi / 2),
        [[0.0, 1.0], [-2.0, 0.0]],
        atol=1e-6,
    )


def test_primitives_refuse_too_few_points():
    with pytest.raises(
        ValueError,
        match=re.escape("vertices must have shape (n, 2) with n >= 3, got (2, 2)"),
    ):
        fill_polygon(blank(4, 4), jnp.zeros((2, 2)), (0, 0, 0))
    with pytest.raises(
        ValueError,
        match=re.escape("points must have shape (n, 2) with n >= 2, got (1, 2)"),
    ):
        draw_polyline(blank(4, 4), jnp.zeros((1, 2)), (0, 0, 0))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "xs and ys must have the same shape (n,) with n >= 2, got (3,) and (2,)"
        ),
    ):
        draw_graph(blank(4, 4), jnp.zeros(3), jnp.zeros(2), (0, 0, 0))
