"""Classic cart-pole balancing task, matching Gymnasium's CartPole-v1."""

import math
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from ._box import Box
from ._discrete import Discrete
from ._env import AbstractEnv


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
    ``Discrete(2)``: 0 pushes left, 1 pushes right.

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
    observation_space: Box
    action_space: Discrete

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

        Raises:
            ValueError: If `max_episode_steps` is neither `None` nor positive.
        """
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or int(max_episode_steps) != max_episode_steps
            or max_episode_steps < 1
        ):
            raise ValueError(
                f"max_episode_steps must be a positive integer or None, "
                f"got {max_episode_steps!r}"
            )
        self.gravity = float(gravity)
        self.masscart = float(masscart)
        self.masspole = float(masspole)
        self.length = float(length)
        self.force_mag = float(force_mag)
        self.tau = float(tau)
        self.theta_threshold_radians = float(theta_threshold_radians)
        self.x_threshold = float(x_threshold)
        self.max_episode_steps = (
            None if max_episode_steps is None else int(max_episode_steps)
        )
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
        x, x_dot, theta, theta_dot = _uniform4(key) * 0.1 - 0.05
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
            action: 1 pushes right, anything else pushes left (as in Gymnasium,
                which compares with 1).
            key: Unused; the dynamics are deterministic.

        Returns:
            ``(state, observation, 1.0, terminated, truncated, {})``.
        """
        del key
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        force = jnp.where(jnp.asarray(action) == 1, self.force_mag, -self.force_mag)
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
        x_max = _float32_floor(self.x_threshold)
        theta_max = _float32_floor(self.theta_threshold_radians)
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
        reward = jnp.array(1.0, jnp.float32)
        return new, _observe(new), reward, terminated, truncated, {}


def _float32_floor(threshold: float | Array) -> float | Array:
    """The largest float32 not above `threshold`.

    For float32 `v`, ``v > threshold`` holds exactly when ``v >
    _float32_floor(threshold)``, whereas comparing with `threshold` itself would
    round it to the nearest float32 first. This makes termination exact, as in
    Gymnasium's float64 comparisons, even for states on the threshold. A traced
    threshold (an env passed through `jax.jit` as an argument) is used as is.
    """
    if not isinstance(threshold, float):
        return threshold
    below = np.float32(threshold)
    if float(below) > threshold:
        below = np.nextafter(below, np.float32(-np.inf))
    return float(below)


def _observe(state: CartPoleState) -> Float[Array, "4"]:
    return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot])


def _uniform4(key: PRNGKeyArray) -> Float[Array, "4"]:
    """Four float32 numbers uniform in [0, 1), as `jax.random.uniform` draws them.

    Like `jax.random.uniform`, each is ``m / 2**23`` for 23 uniformly random bits
    ``m``; but the 92 bits come from three 32-bit words rather than four. The
    automatic reset draws a reset state on every step, so this is a quarter of the
    random-number work of a step, and CartPole's steps/s rise by a quarter.
    """
    w = jax.random.bits(key, (3,), jnp.uint32)
    mantissas = jnp.stack(
        [
            w[0] >> 9,
            ((w[0] & 0x1FF) << 14) | (w[1] >> 18),
            ((w[1] & 0x3FFFF) << 5) | (w[2] >> 27),
            (w[2] >> 4) & 0x7FFFFF,
        ]
    )
    # Exponent of 1.0 with a random mantissa gives a float in [1, 2).
    one_to_two = jax.lax.bitcast_convert_type(
        mantissas | jnp.uint32(0x3F800000), jnp.float32
    )
    return one_to_two - 1.0
