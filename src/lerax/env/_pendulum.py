"""Inverted pendulum swing-up, matching Gymnasium's Pendulum-v1."""

import math
from typing import Any, ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, UInt8

from ._box import Box
from ._draw import blank, fill_circle, fill_polygon, rectangle, rotate, to_uint8
from ._env import AbstractEnv
from ._params import check_actions_flag, episode_limit

__all__ = ["Pendulum", "PendulumState"]


@final
class PendulumState(eqx.Module):
    """State of one `Pendulum` episode.

    Attributes:
        theta: Angle from upright, in radians, counter-clockwise, kept in
            ``[-pi, pi)``.
        theta_dot: Angular velocity, in radians per second.
        t: Number of steps taken in the episode.
    """

    theta: Float[Array, ""]
    theta_dot: Float[Array, ""]
    t: Int[Array, ""]


@final
class Pendulum(AbstractEnv[PendulumState, Box, Box]):
    """Swing a pendulum up and hold it upright with a limited torque.

    A float32 port of Gymnasium's ``Pendulum-v1``: a rod of mass `m` and length
    `l` turning about a fixed pivot, driven by a torque at the pivot.

    ## Dynamics

    With the torque ``u`` (the action, clipped to ``[-max_torque, max_torque]``),
    one step of semi-implicit Euler integration over `dt` seconds:

        theta_dot' = clip(theta_dot + (3 g / (2 l) sin(theta)
                          + 3 / (m l^2) u) dt, -max_speed, max_speed)
        theta'     = theta + theta_dot' dt

    Gymnasium lets ``theta`` grow without bound; here it is wrapped into
    ``[-pi, pi)`` after every step. Observations and rewards depend on it only
    through its sine, cosine and wrapped value, so they are unchanged, and the
    float32 angle keeps its precision however long the episode.

    ## Spaces

    Observations are ``[cos(theta), sin(theta), theta_dot]`` (float32), in a
    ``Box`` with bounds ``[-1, -1, -max_speed]`` and ``[1, 1, max_speed]``.
    Actions are ``Box(-max_torque, max_torque, shape=(1,))``: the torque. As in
    Gymnasium, an action outside the bounds is clipped to them before it enters
    the dynamics and the reward; an action of another shape raises a
    `ValueError` while tracing. With `check_actions`, an out-of-bounds action
    raises instead of being clipped (see `AbstractEnv.step`).

    ## Reward

    ``-(wrap(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2)`` for the state before the
    step and the clipped torque, where ``wrap`` maps an angle into
    ``[-pi, pi)``: 0 at best (upright, still, no torque), about -16.27 at worst.

    ## Start state

    ``theta`` uniform in ``[-pi, pi)``, ``theta_dot`` uniform in ``[-1, 1)``.

    ## Episode end

    The task never terminates; `truncated` is set after `max_episode_steps`
    steps.

    ## Version history

    - lerax 0.1.0: first version, matching Gymnasium's ``Pendulum-v1``
      (Gymnasium 1.x).

    Traced fields (changing them does not recompile an env passed through
    `jax.jit`): all physical parameters. Static: `max_episode_steps`,
    `check_actions`.

    Attributes:
        max_speed: Bound on the angular velocity.
        max_torque: Bound on the torque.
        dt: Integration time step, in seconds.
        g: Gravitational acceleration.
        m: Mass of the rod.
        l: Length of the rod.
        max_episode_steps: Steps after which the episode is truncated, or `None`
            for never.
        check_actions: Whether `step` raises on an action outside
            `action_space` instead of clipping it (static; off by default).
        observation_space: ``Box`` of shape ``(3,)``.
        action_space: ``Box`` of shape ``(1,)``.
    """

    max_speed: float
    max_torque: float
    dt: float
    g: float
    m: float
    l: float  # noqa: E741 (Gymnasium's name)
    max_episode_steps: int | None = eqx.field(static=True)
    check_actions: bool = eqx.field(static=True)
    observation_space: Box
    action_space: Box

    render_fps: ClassVar[float] = 30.0

    def __init__(
        self,
        *,
        max_speed: float = 8.0,
        max_torque: float = 2.0,
        dt: float = 0.05,
        g: float = 10.0,
        m: float = 1.0,
        l: float = 1.0,  # noqa: E741 (Gymnasium's name)
        max_episode_steps: int | None = 200,
        check_actions: bool = False,
    ):
        """Creates the environment; the defaults are those of Pendulum-v1.

        Args:
            max_speed: Bound on the angular velocity.
            max_torque: Bound on the torque.
            dt: Integration time step, in seconds.
            g: Gravitational acceleration (Gymnasium's ``g`` argument).
            m: Mass of the rod.
            l: Length of the rod.
            max_episode_steps: Truncation length, a positive integer, or `None`
                to never truncate.
            check_actions: Whether `step` raises on an action outside
                `action_space` instead of clipping it.

        Raises:
            ValueError: If `max_episode_steps` is neither `None` nor positive.
            TypeError: If `check_actions` is not a bool.
        """
        self.max_speed = float(max_speed)
        self.max_torque = float(max_torque)
        self.dt = float(dt)
        self.g = float(g)
        self.m = float(m)
        self.l = float(l)
        self.max_episode_steps = episode_limit(max_episode_steps)
        self.check_actions = check_actions_flag(check_actions)
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        self.observation_space = Box(-high, high, dtype=jnp.float32)
        self.action_space = Box(
            -self.max_torque, self.max_torque, shape=(1,), dtype=jnp.float32
        )

    def reset_env(
        self, *, key: PRNGKeyArray
    ) -> tuple[PendulumState, Float[Array, "3"], dict[str, Any]]:
        """Draws the angle in ``[-pi, pi)`` and the velocity in ``[-1, 1)``.

        Args:
            key: PRNG key.

        Returns:
            ``(state, observation, {})``.
        """
        high = jnp.array([math.pi, 1.0], jnp.float32)
        theta, theta_dot = jax.random.uniform(key, (2,), jnp.float32, -high, high)
        state = PendulumState(theta, theta_dot, jnp.array(0, jnp.int32))
        return state, _observe(state), {}

    def step_env(
        self, state: PendulumState, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        PendulumState,
        Float[Array, "3"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """Applies the torque for `dt` seconds.

        Args:
            state: Current state.
            action: Torque, an array of shape ``(1,)``; clipped to
                ``[-max_torque, max_torque]``.
            key: Unused; the dynamics are deterministic.

        Returns:
            ``(state, observation, reward, False, truncated, {})``.

        Raises:
            ValueError: If `action` does not have shape ``(1,)``.
        """
        del key
        u = _torque(action, self.max_torque)
        cost = _wrap(state.theta) ** 2 + 0.1 * state.theta_dot**2 + 0.001 * u**2
        accel = (
            3 * self.g / (2 * self.l) * jnp.sin(state.theta)
            + 3.0 / (self.m * self.l**2) * u
        )
        theta_dot = jnp.clip(
            state.theta_dot + accel * self.dt, -self.max_speed, self.max_speed
        )
        new = PendulumState(
            theta=_wrap(state.theta + theta_dot * self.dt),
            theta_dot=theta_dot,
            t=state.t + 1,
        )
        if self.max_episode_steps is None:
            truncated = jnp.array(False)
        else:
            truncated = new.t >= self.max_episode_steps
        return new, _observe(new), -cost, jnp.array(False), truncated, {}

    def render(self, state: PendulumState) -> UInt8[Array, "500 500 3"]:
        """Draws the pendulum as Gymnasium's ``rgb_array`` frames show it.

        A 500 x 500 image centred on the pivot, spanning 2.2 either side of it:
        the rod (red, with rounded ends) of length 1 as Gymnasium draws it,
        whatever `l`, pointing up at ``theta = 0`` and turning
        counter-clockwise with `theta`, and the axle (a black dot). Gymnasium
        also shows the last torque as a curved arrow; the state does not
        record it, so it is not drawn. Works under `jax.jit` and `jax.vmap`.

        Args:
            state: The state to draw.

        Returns:
            ``uint8[500, 500, 3]``.
        """
        size = _SCREEN_DIM
        scale = size / (2 * 2.2)
        pivot = jnp.full((2,), size // 2, jnp.float32)
        rod_length = 1.0 * scale
        half_width = 0.1 * scale
        angle = state.theta + math.pi / 2
        rod = rectangle(0.0, -half_width, rod_length, half_width)
        image = blank(size, size)
        image = fill_polygon(image, pivot + rotate(rod, angle), _ROD_COLOR)
        # Gymnasium rounds radii and the rod end's centre down to whole pixels.
        radius = float(int(half_width))
        image = fill_circle(image, pivot, radius, _ROD_COLOR)
        end = jnp.stack([rod_length * jnp.cos(angle), rod_length * jnp.sin(angle)])
        image = fill_circle(image, jnp.trunc(pivot + end), radius, _ROD_COLOR)
        image = fill_circle(image, pivot, float(int(0.05 * scale)), (0, 0, 0))
        return to_uint8(image)


_SCREEN_DIM = 500
_ROD_COLOR = (204, 77, 77)


def _torque(action: ArrayLike, max_torque: float) -> Float[Array, ""]:
    """The clipped scalar torque of a shape ``(1,)`` action."""
    action = jnp.asarray(action)
    if action.shape != (1,):
        raise ValueError(
            f"Pendulum needs an action of shape (1,), got shape {action.shape}"
        )
    return jnp.clip(action.astype(jnp.float32)[0], -max_torque, max_torque)


def _wrap(theta: Float[Array, ""]) -> Float[Array, ""]:
    """`theta` shifted by a multiple of ``2 pi`` into ``[-pi, pi)``."""
    return jnp.remainder(theta + math.pi, 2 * math.pi) - math.pi


def _observe(state: PendulumState) -> Float[Array, "3"]:
    return jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot])
