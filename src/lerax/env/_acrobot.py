"""Two-link underactuated swing-up, matching Gymnasium's Acrobot-v1."""

import math
from typing import Any, ClassVar, Literal, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, UInt8

from ._box import Box
from ._discrete import Discrete
from ._draw import (
    blank,
    draw_line,
    fill_circle,
    fill_polygon,
    rectangle,
    rotate,
    to_uint8,
)
from ._env import AbstractEnv
from ._invalid import invalid_choice, nan_where
from ._params import check_actions_flag, episode_limit
from ._uniform import uniform4

__all__ = ["Acrobot", "AcrobotState"]


@final
class AcrobotState(eqx.Module):
    """State of one `Acrobot` episode.

    Attributes:
        theta1: Angle of the first link from hanging straight down, in
            ``[-pi, pi]``.
        theta2: Angle of the second link relative to the first, in
            ``[-pi, pi]``.
        theta1_dot: Angular velocity of the first link.
        theta2_dot: Angular velocity of the second link relative to the first.
        t: Number of steps taken in the episode.
    """

    theta1: Float[Array, ""]
    theta2: Float[Array, ""]
    theta1_dot: Float[Array, ""]
    theta2_dot: Float[Array, ""]
    t: Int[Array, ""]


@final
class Acrobot(AbstractEnv[AcrobotState, Box, Discrete]):
    """Swing the tip of a two-link chain above a line, torquing only the elbow.

    A float32 port of Gymnasium's ``Acrobot-v1`` (Sutton, 1996; Sutton & Barto):
    two links hanging from a fixed pivot, with a motor only at the joint
    between them.

    ## Dynamics

    The action picks a torque of -1, 0 or +1 at the joint, to which noise
    uniform in ``[-torque_noise_max, torque_noise_max]`` is added (none by
    default). Holding the torque fixed, the equations of motion of Sutton and
    Barto's book (or, with ``book_or_nips="nips"``, of the NIPS paper, which
    lacks one term) are integrated over `dt` seconds with one classical
    fourth-order Runge-Kutta step, as Gymnasium does. The angles are then
    wrapped into ``[-pi, pi]`` and the angular velocities clipped to
    ``[-max_vel_1, max_vel_1]`` and ``[-max_vel_2, max_vel_2]``. Gymnasium
    integrates in float64, this port in float32.

    ## Spaces

    Observations are ``[cos(theta1), sin(theta1), cos(theta2), sin(theta2),
    theta1_dot, theta2_dot]`` (float32), in a ``Box`` with bounds ``[-1, -1,
    -1, -1, -max_vel_1, -max_vel_2]`` and their negation. Actions are
    ``Discrete(3)``: 0 applies torque -1, 1 none, 2 torque +1. Any other action
    makes the step's state, observation and reward NaN (Gymnasium reads it from
    a list: -1 gives torque +1, 3 raises `IndexError`), or raises when
    `check_actions` is set (see `AbstractEnv.step`).

    ## Reward

    -1 on every step, 0 on the step reaching the goal.

    ## Start state

    The two angles and two velocities each uniform in ``[-0.1, 0.1)``: both
    links hang down, nearly at rest.

    ## Episode end

    `terminated` when, after the step, the tip is above the line one link
    length over the pivot: ``-cos(theta1) - cos(theta1 + theta2) > 1``;
    `truncated` after `max_episode_steps` steps.

    ## Version history

    - lerax 0.1.0: first version, matching Gymnasium's ``Acrobot-v1``
      (Gymnasium 1.x). Not provided: Gymnasium's ``LINK_LENGTH_2`` as a
      parameter; only rendering uses it, and `render` draws the second link
      with Gymnasium's value, 1 (the goal line stays at height 1 whatever the
      lengths, as in Gymnasium). The start state is drawn from three random
      32-bit words (development versions used four): the same distribution,
      other values for a given key.

    Traced fields (changing them does not recompile an env passed through
    `jax.jit`): all physical parameters. Static: `book_or_nips`,
    `max_episode_steps`, `check_actions`.

    Attributes:
        dt: Integration time step, in seconds.
        link_length_1: Length of the first link.
        link_mass_1: Mass of the first link.
        link_mass_2: Mass of the second link.
        link_com_pos_1: Distance from the pivot to the first link's centre of
            mass.
        link_com_pos_2: Distance from the joint to the second link's centre of
            mass.
        link_moi: Moment of inertia of each link.
        gravity: Gravitational acceleration.
        max_vel_1: Bound on the first link's angular velocity.
        max_vel_2: Bound on the second link's angular velocity.
        torque_noise_max: Half-width of the uniform torque noise; 0 for none.
        book_or_nips: ``"book"`` or ``"nips"``: which equations of motion.
        max_episode_steps: Steps after which the episode is truncated, or `None`
            for never.
        check_actions: Whether `step` raises on an action outside
            `action_space` (static; off by default).
        observation_space: ``Box`` of shape ``(6,)``.
        action_space: ``Discrete(3)``.
    """

    dt: float
    link_length_1: float
    link_mass_1: float
    link_mass_2: float
    link_com_pos_1: float
    link_com_pos_2: float
    link_moi: float
    gravity: float
    max_vel_1: float
    max_vel_2: float
    torque_noise_max: float
    book_or_nips: Literal["book", "nips"] = eqx.field(static=True)
    max_episode_steps: int | None = eqx.field(static=True)
    check_actions: bool = eqx.field(static=True)
    observation_space: Box
    action_space: Discrete

    render_fps: ClassVar[float] = 15.0

    def __init__(
        self,
        *,
        dt: float = 0.2,
        link_length_1: float = 1.0,
        link_mass_1: float = 1.0,
        link_mass_2: float = 1.0,
        link_com_pos_1: float = 0.5,
        link_com_pos_2: float = 0.5,
        link_moi: float = 1.0,
        gravity: float = 9.8,
        max_vel_1: float = 4 * math.pi,
        max_vel_2: float = 9 * math.pi,
        torque_noise_max: float = 0.0,
        book_or_nips: Literal["book", "nips"] = "book",
        max_episode_steps: int | None = 500,
        check_actions: bool = False,
    ):
        """Creates the environment; the defaults are those of Acrobot-v1.

        Args:
            dt: Integration time step, in seconds.
            link_length_1: Length of the first link.
            link_mass_1: Mass of the first link.
            link_mass_2: Mass of the second link.
            link_com_pos_1: Pivot to the first link's centre of mass.
            link_com_pos_2: Joint to the second link's centre of mass.
            link_moi: Moment of inertia of each link.
            gravity: Gravitational acceleration.
            max_vel_1: Bound on the first link's angular velocity.
            max_vel_2: Bound on the second link's angular velocity.
            torque_noise_max: Half-width of the uniform noise added to the
                torque, at least 0.
            book_or_nips: ``"book"`` for the equations of Sutton and Barto's
                book (Gymnasium's default), ``"nips"`` for those of the NIPS
                paper.
            max_episode_steps: Truncation length, a positive integer, or `None`
                to never truncate.
            check_actions: Whether `step` raises on an action outside
                `action_space`, at some cost in speed (see ``docs/env.md``).

        Raises:
            ValueError: If `max_episode_steps` is neither `None` nor positive,
                `torque_noise_max` is negative or `book_or_nips` is neither
                ``"book"`` nor ``"nips"``.
            TypeError: If `check_actions` is not a bool.
        """
        if book_or_nips not in ("book", "nips"):
            raise ValueError(
                f'book_or_nips must be "book" or "nips", got {book_or_nips!r}'
            )
        if not float(torque_noise_max) >= 0:
            raise ValueError(
                f"torque_noise_max must be at least 0, got {torque_noise_max!r}"
            )
        self.dt = float(dt)
        self.link_length_1 = float(link_length_1)
        self.link_mass_1 = float(link_mass_1)
        self.link_mass_2 = float(link_mass_2)
        self.link_com_pos_1 = float(link_com_pos_1)
        self.link_com_pos_2 = float(link_com_pos_2)
        self.link_moi = float(link_moi)
        self.gravity = float(gravity)
        self.max_vel_1 = float(max_vel_1)
        self.max_vel_2 = float(max_vel_2)
        self.torque_noise_max = float(torque_noise_max)
        self.book_or_nips = book_or_nips
        self.max_episode_steps = episode_limit(max_episode_steps)
        self.check_actions = check_actions_flag(check_actions)
        high = np.array(
            [1.0, 1.0, 1.0, 1.0, self.max_vel_1, self.max_vel_2], dtype=np.float32
        )
        self.observation_space = Box(-high, high, dtype=jnp.float32)
        self.action_space = Discrete(3)

    def reset_env(
        self, *, key: PRNGKeyArray
    ) -> tuple[AcrobotState, Float[Array, "6"], dict[str, Any]]:
        """Draws each state variable uniformly in ``[-0.1, 0.1)``.

        Args:
            key: PRNG key.

        Returns:
            ``(state, observation, {})``.
        """
        # As jax.random.uniform(key, (4,), minval=-0.1, maxval=0.1) draws
        # them, from fewer random bits (see uniform4).
        theta1, theta2, theta1_dot, theta2_dot = uniform4(key) * 0.2 - 0.1
        state = AcrobotState(
            theta1, theta2, theta1_dot, theta2_dot, jnp.array(0, jnp.int32)
        )
        return state, _observe(state), {}

    def step_env(
        self, state: AcrobotState, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        AcrobotState,
        Float[Array, "6"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """Applies a torque at the joint and integrates for `dt` seconds.

        Args:
            state: Current state.
            action: 0, 1 or 2 for torque -1, 0 or +1; anything else gives NaN
                outputs.
            key: PRNG key for the torque noise; unused without noise.

        Returns:
            ``(state, observation, reward, terminated, truncated, {})``; the
            reward is NaN after an invalid action.
        """
        action = jnp.asarray(action)
        torque = action - 1.0
        # A noise-free env draws no random numbers (when the noise level is a
        # constant rather than traced).
        if not (
            isinstance(self.torque_noise_max, float) and self.torque_noise_max == 0
        ):
            torque = torque + jax.random.uniform(
                key,
                (),
                jnp.float32,
                -self.torque_noise_max,
                self.torque_noise_max,
            )
        y = jnp.stack([state.theta1, state.theta2, state.theta1_dot, state.theta2_dot])
        y = _rk4(lambda s: self._derivatives(s, torque), y, self.dt)
        new = AcrobotState(
            theta1=_wrap(y[0]),
            theta2=_wrap(y[1]),
            theta1_dot=jnp.clip(y[2], -self.max_vel_1, self.max_vel_1),
            theta2_dot=jnp.clip(y[3], -self.max_vel_2, self.max_vel_2),
            t=state.t + 1,
        )
        # An invalid action must not pass for a valid one: NaN state and reward
        # (a NaN state never terminates).
        invalid = invalid_choice(action, 3)
        new = nan_where(invalid, new)
        terminated = -jnp.cos(new.theta1) - jnp.cos(new.theta2 + new.theta1) > 1.0
        if self.max_episode_steps is None:
            truncated = jnp.array(False)
        else:
            truncated = new.t >= self.max_episode_steps
        reward = nan_where(invalid, jnp.where(terminated, 0.0, -1.0))
        return new, _observe(new), reward, terminated, truncated, {}

    def _derivatives(
        self, y: Float[Array, "4"], torque: Float[Array, ""]
    ) -> Float[Array, "4"]:
        """Time derivative of ``[theta1, theta2, theta1_dot, theta2_dot]``."""
        theta1, theta2, dtheta1, dtheta2 = y
        m1, m2 = self.link_mass_1, self.link_mass_2
        l1 = self.link_length_1
        lc1, lc2 = self.link_com_pos_1, self.link_com_pos_2
        inertia = self.link_moi
        g = self.gravity
        cos2, sin2 = jnp.cos(theta2), jnp.sin(theta2)
        # Inertia terms of the two joints' coupled equations.
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + 2 * inertia
        d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + inertia
        # Gravity and velocity terms; cos(a - pi / 2) is written sin(a).
        phi2 = m2 * lc2 * g * jnp.sin(theta1 + theta2)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * sin2
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
            + (m1 * lc1 + m2 * l1) * g * jnp.sin(theta1)
            + phi2
        )
        numerator = torque + d2 / d1 * phi1 - phi2
        if self.book_or_nips == "book":
            numerator = numerator - m2 * l1 * lc2 * dtheta1**2 * sin2
        ddtheta2 = numerator / (m2 * lc2**2 + inertia - d2**2 / d1)
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])

    def render(self, state: AcrobotState) -> UInt8[Array, "500 500 3"]:
        """Draws the two links as Gymnasium's ``rgb_array`` frames show them.

        A 500 x 500 image centred on the pivot: the goal line (black) at height
        1 above the pivot, the links as cyan bars and the pivot and the joint
        as yellow dots. As in Gymnasium, the first link is `link_length_1` long
        and the second 1 (its ``LINK_LENGTH_2``, which only rendering reads);
        the image spans ``link_length_1 + 1.2`` either side of the pivot. Works
        under `jax.jit` and `jax.vmap`.

        Args:
            state: The state to draw.

        Returns:
            ``uint8[500, 500, 3]``.
        """
        size = _SCREEN_DIM
        scale = size / (2 * (self.link_length_1 + _LINK_LENGTH_2 + 0.2))
        centre = size / 2
        image = blank(size, size)
        # Gymnasium's line lies on a whole pixel row: its height, truncated.
        line_y = jnp.trunc(1.0 * scale + centre)
        image = draw_line(
            image,
            jnp.stack([-2.2 * scale + centre, line_y]),
            jnp.stack([2.2 * scale + centre, line_y]),
            (0, 0, 0),
        )
        pivot = jnp.stack([jnp.float32(centre), jnp.float32(centre)])
        joint = pivot + self.link_length_1 * scale * jnp.stack(
            [jnp.sin(state.theta1), -jnp.cos(state.theta1)]
        )
        links = (
            (pivot, state.theta1 - math.pi / 2, self.link_length_1),
            (joint, state.theta1 + state.theta2 - math.pi / 2, _LINK_LENGTH_2),
        )
        half_width = 0.1 * scale
        for start, angle, length in links:
            bar = rectangle(0.0, -half_width, length * scale, half_width)
            image = fill_polygon(image, start + rotate(bar, angle), _LINK_COLOR)
            # Gymnasium truncates the centre and radius to whole pixels.
            image = fill_circle(
                image, jnp.trunc(start), jnp.trunc(half_width), _JOINT_COLOR
            )
        return to_uint8(image)


_SCREEN_DIM = 500
# Gymnasium's LINK_LENGTH_2: the drawn length of the second link, which the
# dynamics never read.
_LINK_LENGTH_2 = 1.0
_LINK_COLOR = (0, 204, 204)
_JOINT_COLOR = (204, 204, 0)


def _rk4(derivatives: Any, y: Float[Array, "4"], dt: float) -> Float[Array, "4"]:
    """One classical fourth-order Runge-Kutta step of length `dt`."""
    k1 = derivatives(y)
    k2 = derivatives(y + dt / 2 * k1)
    k3 = derivatives(y + dt / 2 * k2)
    k4 = derivatives(y + dt * k3)
    return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def _wrap(angle: Float[Array, ""]) -> Float[Array, ""]:
    """`angle` shifted by a multiple of ``2 pi`` into ``[-pi, pi]``.

    Only an angle outside the interval moves, by as few turns as needed, as in
    Gymnasium's loop.
    """
    turn = 2 * math.pi
    above = jnp.ceil((angle - math.pi) / turn)
    below = jnp.ceil((-math.pi - angle) / turn)
    return jnp.where(
        angle > math.pi,
        angle - above * turn,
        jnp.where(angle < -math.pi, angle + below * turn, angle),
    )


def _observe(state: AcrobotState) -> Float[Array, "6"]:
    return jnp.stack(
        [
            jnp.cos(state.theta1),
            jnp.sin(state.theta1),
            jnp.cos(state.theta2),
            jnp.sin(state.theta2),
            state.theta1_dot,
            state.theta2_dot,
        ]
    )
