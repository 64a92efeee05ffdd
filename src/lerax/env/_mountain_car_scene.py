"""Drawing of the mountain-car scene, shared by both mountain-car environments."""

import jax.numpy as jnp
from jaxtyping import Array, Float, UInt8

from ._draw import (
    blank,
    draw_graph,
    draw_line,
    fill_circle,
    fill_polygon,
    rectangle,
    rotate,
    to_uint8,
)

__all__ = ["draw_mountain_car"]

_WIDTH, _HEIGHT = 600, 400
_CAR_WIDTH, _CAR_HEIGHT = 40.0, 20.0
_CLEARANCE = 10.0  # gap between the track and the car's underside, in pixels
_WHEEL_COLOR = (128, 128, 128)
_FLAG_COLOR = (204, 204, 0)


def draw_mountain_car(
    position: Float[Array, ""],
    *,
    min_position: float | Float[Array, ""],
    max_position: float | Float[Array, ""],
    goal_position: float | Float[Array, ""],
) -> UInt8[Array, "400 600 3"]:
    """Draws the valley, the car at `position` and the goal flag.

    The scene of Gymnasium's ``rgb_array`` frames: a 600 x 400 image whose
    width spans ``[min_position, max_position]``, the track ``0.45 sin(3 x) +
    0.55`` (a black curve through 100 points), the car (a black 40 x 20 body on
    two grey wheels) tilted by ``cos(3 position)`` radians as Gymnasium tilts
    it, and a yellow flag on a black pole at `goal_position`.

    Args:
        position: The car's position.
        min_position: Left end of the track.
        max_position: Right end of the track.
        goal_position: Where the flag stands.

    Returns:
        ``uint8[400, 600, 3]``.
    """
    scale = _WIDTH / (max_position - min_position)
    image = blank(_HEIGHT, _WIDTH)
    xs = jnp.linspace(min_position, max_position, 100)
    image = draw_graph(
        image, (xs - min_position) * scale, _track_height(xs) * scale, (0, 0, 0)
    )

    angle = jnp.cos(3 * position)
    base = jnp.stack(
        [
            (position - min_position) * scale,
            _CLEARANCE + _track_height(position) * scale,
        ]
    )
    half = _CAR_WIDTH / 2
    body = rectangle(-half, 0.0, half, _CAR_HEIGHT)
    image = fill_polygon(image, base + rotate(body, angle), (0, 0, 0))
    axles = jnp.array([[_CAR_WIDTH / 4, 0.0], [-_CAR_WIDTH / 4, 0.0]])
    # Gymnasium truncates the wheels' centres and radius to whole pixels.
    wheels = jnp.trunc(base + rotate(axles, angle))
    radius = float(int(_CAR_HEIGHT / 2.5))
    for wheel in wheels:
        image = fill_circle(image, wheel, radius, _WHEEL_COLOR)

    flag_x = jnp.trunc((goal_position - min_position) * scale)
    flag_bottom = jnp.trunc(_track_height(goal_position) * scale)
    flag_top = flag_bottom + 50
    image = draw_line(
        image,
        jnp.stack([flag_x, flag_bottom]),
        jnp.stack([flag_x, flag_top]),
        (0, 0, 0),
    )
    flag = jnp.stack(
        [
            jnp.stack([flag_x, flag_top]),
            jnp.stack([flag_x, flag_top - 10]),
            jnp.stack([flag_x + 25, flag_top - 5]),
        ]
    )
    image = fill_polygon(image, flag, _FLAG_COLOR)
    return to_uint8(image)


def _track_height(x: Float[Array, "*shape"] | float) -> Float[Array, "*shape"]:
    return jnp.sin(3 * jnp.asarray(x, jnp.float32)) * 0.45 + 0.55
