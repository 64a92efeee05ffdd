"""Classic cart-pole balancing task, matching Gymnasium's CartPole-v1."""

import math
from typing import Any, ClassVar, final

import equinox as eqx
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
from ._float32 import float32_floor
from ._invalid import invalid_choice, nan_where
from ._params import check_actions_flag, episode_limit
from ._uniform import uniform4

__all__ = ["CartPole", "CartPoleState"]


@final
class CartPoleState(eqx.Module):
    """State of one `CartPole` episode.

    Attributes:
        x: Cart position.
        x_dot: Cart velocity.
        theta: Pole angle from upright, in radians.
        theta_dot: Pole angular velocity.
        t: Number of steps taken in the episode.
    """

    x: Float[Array, ""]
    x_dot: Float[Array, ""]
    theta: Float[Array, ""]
    theta_dot: Float[Array, ""]
    t: Int[Array, ""]


@final
class CartPole(AbstractEnv[CartPoleState, Box, Discrete]):
    """Keep a pole upright on a cart by pushing the cart left or right.

    A float32 port of Gymnasium's ``CartPole-v1`` (the Barto, Sutton & Anderson
    system): same constants, explicit Euler integration, reset state uniform in
    ``[-0.05, 0.05)^4``, reward 1 for every step including the terminating one,
    termination when ``|x| > x_threshold`` or ``|theta| >
    theta_threshold_radians`` after the step, truncation after
    `max_episode_steps` steps.

    Observations are ``[x, x_dot, theta, theta_dot]`` (float32); actions are
    ``Discrete(2)``: 0 pushes left, 1 pushes right. Any other action makes the
    step's state, observation and reward NaN (Gymnasium refuses it with an
    assertion), or raises when `check_actions` is set (see `AbstractEnv.step`).

    ## Version history

    - lerax 0.1.0: first version, matching Gymnasium's ``CartPole-v1``
      (Gymnasium 1.x). An action other than 0 or 1 gives NaN outputs (development
      versions pushed left with it); `check_actions` added.

    Attributes:
        gravity: Gravitational acceleration.
        masscart: Mass of the cart.
        masspole: Mass of the pole.
        length: Half the pole's length.
        force_mag: Magnitude of the push.
        tau: Integration time step, in seconds.
        theta_threshold_radians: Pole angle beyond which the episode terminates.
        x_threshold: Cart position beyond which the episode terminates.
        max_episode_steps: Steps after which the episode is truncated, or `None`
            for never.
        check_actions: Whether `step` raises on an action outside
            `action_space` (static; off by default).
        observation_space: ``Box`` of shape ``(4,)``, bounds as in Gymnasium.
        action_space: ``Discrete(2)``.
    """

    gravity: float
    masscart: float
    masspole: float
    length: float
    force_mag: float
    tau: float
    theta_threshold_radians: float
    x_threshold: float
    max_episode_steps: int | None = eqx.field(static=True)
    check_actions: bool = eqx.field(static=True)
    observation_space: Box
    action_space: Discrete

    render_fps: ClassVar[float] = 50.0

    def __init__(
        self,
        *,
        gravity: float = 9.8,
        masscart: float = 1.0,
        masspole: float = 0.1,
        length: float = 0.5,
        force_mag: float = 10.0,
        tau: float = 0.02,
        theta_threshold_radians: float = 12 * 2 * math.pi / 360,
        x_threshold: float = 2.4,
        max_episode_steps: int | None = 500,
        check_actions: bool = False,
    ):
        """Creates the environment; the defaults are those of CartPole-v1.

        Args:
            gravity: Gravitational acceleration.
            masscart: Mass of the cart.
            masspole: Mass of the pole.
            length: Half the pole's length.
            force_mag: Magnitude of the push.
            tau: Integration time step, in seconds.
            theta_threshold_radians: Termination angle.
            x_threshold: Termination position.
            max_episode_steps: Truncation length, a positive integer, or `None`
                to never truncate.
            check_actions: Whether `step` raises on an action outside
                `action_space`, at some cost in speed (see ``docs/env.md``).

        Raises:
            ValueError: If `max_episode_steps` is neither `None` nor positive.
            TypeError: If `check_actions` is not a bool.
        """
        self.gravity = float(gravity)
        self.masscart = float(masscart)
        self.masspole = float(masspole)
        self.length = float(length)
        self.force_mag = float(force_mag)
        self.tau = float(tau)
        self.theta_threshold_radians = float(theta_threshold_radians)
        self.x_threshold = float(x_threshold)
        self.max_episode_steps = episode_limit(max_episode_steps)
        self.check_actions = check_actions_flag(check_actions)
        inf = np.inf
        high = np.array(
            [self.x_threshold * 2, inf, self.theta_threshold_radians * 2, inf],
            dtype=np.float32,
        )
        self.observation_space = Box(-high, high, dtype=jnp.float32)
        self.action_space = Discrete(2)

    def reset_env(
        self, *, key: PRNGKeyArray
    ) -> tuple[CartPoleState, Float[Array, "4"], dict[str, Any]]:
        """Draws each state variable uniformly in ``[-0.05, 0.05)``.

        Args:
            key: PRNG key.

        Returns:
            ``(state, observation, {})``.
        """
        x, x_dot, theta, theta_dot = uniform4(key) * 0.1 - 0.05
        state = CartPoleState(x, x_dot, theta, theta_dot, jnp.array(0, jnp.int32))
        return state, _observe(state), {}

    def step_env(
        self, state: CartPoleState, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        CartPoleState,
        Float[Array, "4"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """Applies one push and integrates the dynamics for `tau` seconds.

        Args:
            state: Current state.
            action: 0 pushes left, 1 pushes right; anything else gives NaN
                outputs.
            key: Unused; the dynamics are deterministic.

        Returns:
            ``(state, observation, 1.0, terminated, truncated, {})``; the
            reward is NaN after an invalid action.
        """
        del key
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        action = jnp.asarray(action)
        force = jnp.where(action == 1, self.force_mag, -self.force_mag)
        costheta = jnp.cos(state.theta)
        sintheta = jnp.sin(state.theta)
        temp = (force + polemass_length * state.theta_dot**2 * sintheta) / total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta**2 / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        # Explicit Euler: positions advance with the old velocities.
        new = CartPoleState(
            x=state.x + self.tau * state.x_dot,
            x_dot=state.x_dot + self.tau * xacc,
            theta=state.theta + self.tau * state.theta_dot,
            theta_dot=state.theta_dot + self.tau * thetaacc,
            t=state.t + 1,
        )
        # An invalid action must not pass for a valid one: NaN state and reward
        # (a NaN state never terminates).
        new, reward = nan_where(
            invalid_choice(action, 2), (new, jnp.array(1.0, jnp.float32))
        )
        x_max = float32_floor(self.x_threshold)
        theta_max = float32_floor(self.theta_threshold_radians)
        terminated = (
            (new.x < -x_max)
            | (new.x > x_max)
            | (new.theta < -theta_max)
            | (new.theta > theta_max)
        )
        if self.max_episode_steps is None:
            truncated = jnp.array(False)
        else:
            truncated = new.t >= self.max_episode_steps
        return new, _observe(new), reward, terminated, truncated, {}

    def render(self, state: CartPoleState) -> UInt8[Array, "400 600 3"]:
        """Draws the cart and pole as Gymnasium's ``rgb_array`` frames show them.

        A 600 x 400 image: the track (a black line) across the middle of the
        cart, the cart (black, 50 x 30 pixels), the pole (brown, 10 pixels wide)
        turning about the axle (a blue-grey dot) a quarter of the cart's height
        above its middle. The width of the image spans ``[-x_threshold,
        x_threshold]``, and the pole is drawn at its full length ``2 *
        length`` on that scale. Works under `jax.jit` and `jax.vmap`.

        Args:
            state: The state to draw.

        Returns:
            ``uint8[400, 600, 3]``.
        """
        width, height = _SCREEN
        scale = width / (2 * self.x_threshold)
        pole_width = 10.0
        pole_length = scale * 2 * self.length
        cart_width, cart_height = 50.0, 30.0
        cart = jnp.stack([state.x * scale + width / 2, jnp.float32(_CART_Y)])
        axle = cart + jnp.array([0.0, cart_height / 4])
        image = blank(height, width)
        w, h = cart_width / 2, cart_height / 2
        image = fill_polygon(image, cart + rectangle(-w, -h, w, h), (0, 0, 0))
        # Gymnasium's pole is a rectangle from half a width below the axle to
        # its full length above it, turned clockwise by theta.
        half = pole_width / 2
        pole = rectangle(-half, -half, half, pole_length - half)
        image = fill_polygon(image, axle + rotate(pole, -state.theta), _POLE_COLOR)
        # Gymnasium truncates the axle's centre to whole pixels.
        image = fill_circle(image, jnp.trunc(axle), half, _AXLE_COLOR)
        image = draw_line(image, (0.0, _CART_Y), (float(width), _CART_Y), (0, 0, 0))
        return to_uint8(image)


_SCREEN = (600, 400)  # width, height
_CART_Y = 100.0  # height of the cart's middle, and of the track, in pixels
_POLE_COLOR = (202, 152, 101)
_AXLE_COLOR = (129, 132, 203)


def _observe(state: CartPoleState) -> Float[Array, "4"]:
    return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot])
