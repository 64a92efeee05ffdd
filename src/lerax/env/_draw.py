"""Drawing primitives for rendering environments: anti-aliased shapes in JAX.

Every primitive computes, for each pixel of an image, how much of the pixel a
shape covers (from a signed distance to the shape's edge), and blends the
shape's colour in by that amount. The work is dense, with no data-dependent
control flow, so drawing is jit-compiled, `jax.vmap`-batched over states and
needs no display.

Coordinates are in pixels with the origin at the centre of the bottom-left
pixel, ``x`` to the right and ``y`` up: the pixel in row ``r`` (counted from
the top, as arrays are) and column ``c`` of an image of height ``H`` has its
centre at ``(c, H - 1 - r)``. This is the frame in which Gymnasium's
classic-control renderers draw before flipping the surface vertically, so their
geometry carries over unchanged.

Images are float32 arrays of shape ``(H, W, 3)`` holding values in ``[0,
255]`` while drawing; `to_uint8` converts the finished image.
"""

from collections.abc import Sequence

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, UInt8

__all__ = [
    "blank",
    "draw_graph",
    "draw_line",
    "draw_polyline",
    "fill_circle",
    "fill_polygon",
    "rectangle",
    "rotate",
    "to_uint8",
]

Color = Sequence[float]
Image = Float[Array, "H W 3"]
# An (x, y) point: an array or a pair of numbers.
Point = Float[ArrayLike, "2"] | Sequence[float]


def blank(height: int, width: int, color: Color = (255, 255, 255)) -> Image:
    """A new image of one colour.

    Args:
        height: Number of rows.
        width: Number of columns.
        color: RGB colour, each channel in ``[0, 255]``.

    Returns:
        A float32 image of shape ``(height, width, 3)``.
    """
    return jnp.broadcast_to(jnp.asarray(color, jnp.float32), (height, width, 3))


def fill_polygon(
    image: Image, vertices: Float[ArrayLike, "n 2"], color: Color
) -> Image:
    """Fills a convex polygon.

    Pixels whose centres lie inside the polygon or on its edge are covered
    whole, and the next pixel out partly, as pygame (Gymnasium's renderer)
    draws a filled polygon with an anti-aliased outline.

    Args:
        image: The image to draw on.
        vertices: The corners, in order (either orientation), as ``(x, y)``
            rows in pixel coordinates.
        color: RGB colour.

    Returns:
        The image with the polygon drawn over it; edges are anti-aliased.
    """
    vertices = jnp.asarray(vertices, jnp.float32)
    if vertices.ndim != 2 or vertices.shape[0] < 3 or vertices.shape[1] != 2:
        raise ValueError(
            f"vertices must have shape (n, 2) with n >= 3, got {vertices.shape}"
        )
    start = vertices
    end = jnp.roll(vertices, -1, axis=0)
    edge = end - start
    # Twice the signed area: positive for counter-clockwise corners. Outward
    # normals point to the right of each edge for those, to the left otherwise.
    area2 = jnp.sum(start[:, 0] * end[:, 1] - end[:, 0] * start[:, 1])
    orientation = jnp.where(area2 < 0, -1.0, 1.0)
    normal = orientation * jnp.stack([edge[:, 1], -edge[:, 0]], axis=-1)
    normal = normal / jnp.maximum(jnp.linalg.norm(normal, axis=-1, keepdims=True), 1e-6)
    x, y = _pixel_centres(image)
    # The largest signed distance to the edges' lines: the distance to the
    # polygon inside it and near its edges, a slight underestimate past a
    # corner. Distances beyond a pixel only ever give zero coverage. A loop
    # over the (few, static) edges fuses into one pass over the pixels, where
    # a reduction over a small trailing axis would not.
    distance = jnp.full(x.shape, -jnp.inf)
    for i in range(vertices.shape[0]):
        d = (x - start[i, 0]) * normal[i, 0] + (y - start[i, 1]) * normal[i, 1]
        distance = jnp.maximum(distance, d)
    return _blend(image, _fill_coverage(distance), color)


def fill_circle(
    image: Image,
    centre: Point,
    radius: Float[ArrayLike, ""],
    color: Color,
) -> Image:
    """Fills a disc.

    Pixels whose centres lie within `radius` of `centre` are covered whole,
    and the next pixel out partly, as pygame fills and outlines a circle.

    Args:
        image: The image to draw on.
        centre: ``(x, y)`` in pixel coordinates.
        radius: Radius in pixels.
        color: RGB colour.

    Returns:
        The image with the disc drawn over it; the edge is anti-aliased.
    """
    centre = jnp.asarray(centre, jnp.float32)
    x, y = _pixel_centres(image)
    distance = jnp.hypot(x - centre[0], y - centre[1]) - radius
    return _blend(image, _fill_coverage(distance), color)


def draw_line(
    image: Image,
    start: Point,
    end: Point,
    color: Color,
    width: float = 1.0,
) -> Image:
    """Draws a straight line segment with round ends.

    Args:
        image: The image to draw on.
        start: One end, ``(x, y)`` in pixel coordinates.
        end: The other end.
        color: RGB colour.
        width: Thickness in pixels.

    Returns:
        The image with the line drawn over it; edges are anti-aliased.
    """
    points = jnp.stack([jnp.asarray(start), jnp.asarray(end)]).astype(jnp.float32)
    return draw_polyline(image, points, color, width)


def draw_polyline(
    image: Image,
    points: Float[ArrayLike, "n 2"],
    color: Color,
    width: float = 1.0,
) -> Image:
    """Draws connected line segments through `points` (an open path).

    Args:
        image: The image to draw on.
        points: At least two points, as ``(x, y)`` rows in pixel coordinates.
        color: RGB colour.
        width: Thickness in pixels.

    Returns:
        The image with the path drawn over it; edges are anti-aliased.
    """
    points = jnp.asarray(points, jnp.float32)
    x, y = _pixel_centres(image)
    if points.ndim != 2 or points.shape[0] < 2 or points.shape[1] != 2:
        raise ValueError(
            f"points must have shape (n, 2) with n >= 2, got {points.shape}"
        )
    distance2 = jnp.full(x.shape, jnp.inf)
    # One pass over the pixels per segment (see fill_polygon); draw_graph is
    # cheaper for long paths.
    for i in range(points.shape[0] - 1):
        (x0, y0), (x1, y1) = points[i], points[i + 1]
        ex, ey = x1 - x0, y1 - y0
        dx, dy = x - x0, y - y0
        # Position of the closest point along the segment, clamped to its ends.
        along = (dx * ex + dy * ey) / jnp.maximum(ex**2 + ey**2, 1e-12)
        along = jnp.clip(along, 0.0, 1.0)
        d2 = (dx - along * ex) ** 2 + (dy - along * ey) ** 2
        distance2 = jnp.minimum(distance2, d2)
    distance = jnp.sqrt(distance2) - width / 2
    return _blend(image, _coverage(distance), color)


def rectangle(
    left: Float[ArrayLike, ""],
    bottom: Float[ArrayLike, ""],
    right: Float[ArrayLike, ""],
    top: Float[ArrayLike, ""],
) -> Float[Array, "4 2"]:
    """The corners of an axis-aligned rectangle, for `fill_polygon`.

    Returns:
        ``(x, y)`` rows: bottom-left, top-left, top-right, bottom-right.
    """
    xs = jnp.stack([left, left, right, right]).astype(jnp.float32)
    ys = jnp.stack([bottom, top, top, bottom]).astype(jnp.float32)
    return jnp.stack([xs, ys], axis=-1)


def rotate(
    points: Float[ArrayLike, "n 2"], angle: Float[ArrayLike, ""]
) -> Float[Array, "n 2"]:
    """Turns ``(x, y)`` rows counter-clockwise by `angle` radians about the origin.

    With ``y`` up this is the turn of Gymnasium's ``Vector2.rotate_rad`` (drawn
    before its vertical flip), so shapes built as Gymnasium builds them land
    where its frames show them.
    """
    points = jnp.asarray(points, jnp.float32)
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    return jnp.stack(
        [
            points[:, 0] * cos - points[:, 1] * sin,
            points[:, 0] * sin + points[:, 1] * cos,
        ],
        axis=-1,
    )


def draw_graph(
    image: Image,
    xs: Float[ArrayLike, " n"],
    ys: Float[ArrayLike, " n"],
    color: Color,
    width: float = 1.0,
) -> Image:
    """Draws the graph of a function: the path through ``(xs[i], ys[i])``.

    The path `draw_polyline` draws for points of increasing ``x``, at a cost
    that does not grow with their number: each column of pixels measures its
    distance to the one segment above or below it. The thickness is measured
    along the minor axis (vertically for parts flatter than 45 degrees), as
    pygame's anti-aliased lines measure it, so steep parts look thinner than
    with `draw_polyline`. Pixels left of ``xs[0]`` or right of ``xs[-1]`` are
    not drawn.

    Args:
        image: The image to draw on.
        xs: Increasing ``x`` coordinates of at least two points.
        ys: Their ``y`` coordinates.
        color: RGB colour.
        width: Thickness in pixels.

    Returns:
        The image with the graph drawn over it; edges are anti-aliased.
    """
    xs = jnp.asarray(xs, jnp.float32)
    ys = jnp.asarray(ys, jnp.float32)
    if xs.ndim != 1 or xs.shape[0] < 2 or ys.shape != xs.shape:
        raise ValueError(
            f"xs and ys must have the same shape (n,) with n >= 2, got {xs.shape} "
            f"and {ys.shape}"
        )
    x, y = _pixel_centres(image)
    column = x[0]
    segment = jnp.clip(jnp.searchsorted(xs, column) - 1, 0, xs.shape[0] - 2)
    x0, x1 = xs[segment], xs[segment + 1]
    y0, y1 = ys[segment], ys[segment + 1]
    slope = (y1 - y0) / jnp.maximum(x1 - x0, 1e-12)
    curve = y0 + slope * (column - x0)
    # Distance along the minor axis: vertical where the path is flatter than
    # 45 degrees, horizontal where it is steeper. As in Xiaolin Wu's
    # anti-aliased lines (pygame's aalines, which Gymnasium draws tracks with),
    # the coverage of each column or row of pixels then sums to `width`.
    distance = jnp.abs(y - curve) / jnp.maximum(1.0, jnp.abs(slope)) - width / 2
    inside = (column >= xs[0] - 0.5) & (column <= xs[-1] + 0.5)
    distance = jnp.where(inside, distance, jnp.inf)
    return _blend(image, _coverage(distance), color)


def to_uint8(image: Image) -> UInt8[Array, "H W 3"]:
    """The finished image as bytes: rounded and clipped to ``[0, 255]``."""
    return jnp.clip(jnp.round(image), 0, 255).astype(jnp.uint8)


def _pixel_centres(image: Image) -> tuple[Float[Array, "H W"], Float[Array, "H W"]]:
    height, width = image.shape[-3], image.shape[-2]
    x = jnp.arange(width, dtype=jnp.float32)
    y = jnp.arange(height - 1, -1, -1, dtype=jnp.float32)
    return jnp.broadcast_to(x, (height, width)), jnp.broadcast_to(
        y[:, None], (height, width)
    )


def _coverage(distance: Float[Array, "H W"]) -> Float[Array, "H W"]:
    """Fraction of a pixel covered, from the signed distance of its centre to
    the shape's edge (negative inside): a one-pixel linear ramp."""
    return jnp.clip(0.5 - distance, 0.0, 1.0)


def _fill_coverage(distance: Float[Array, "H W"]) -> Float[Array, "H W"]:
    """Coverage of a filled shape: whole for pixels whose centres are inside it
    or on its edge, as pygame fills them (Gymnasium's renderer), then falling
    to zero over the next pixel out, as pygame's anti-aliased outline does."""
    return jnp.clip(1.0 - distance, 0.0, 1.0)


def _blend(image: Image, coverage: Float[Array, "H W"], color: Color) -> Image:
    color_array = jnp.asarray(color, jnp.float32)
    return image + coverage[..., None] * (color_array - image)
