"""Under-powered car in a valley, matching Gymnasium's MountainCar-v0."""

from typing import Any, ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, UInt8

from ._box import Box
from ._discrete import Discrete
from ._env import AbstractEnv
from ._float32 import float32_ceil
from ._invalid import invalid_choice, nan_where
from ._mountain_car_scene import draw_mountain_car
from ._params import check_actions_flag, episode_limit

__all__ = ["MountainCar", "MountainCarState"]


@final
class MountainCarState(eqx.Module):
    """State of one `MountainCar` episode.

    Attributes:
        position: Position of the car along the track.
        velocity: Velocity of the car, in position units per step.
        t: Number of steps taken in the episode.
    """

    position: Float[Array, ""]
    velocity: Float[Array, ""]
    t: Int[Array, ""]


@final
class MountainCar(AbstractEnv[MountainCarState, Box, Discrete]):
    """Drive an under-powered car up a hill by rocking it back and forth.

    A float32 port of Gymnasium's ``MountainCar-v0`` (Moore, 1990): a car on
    the curve ``sin(3 x)``, whose engine alone cannot climb the right-hand hill.

    ## Dynamics

    With the action ``a`` in ``{0, 1, 2}`` (push left, coast, push right), one
    step:

        velocity' = clip(velocity + (a - 1) force - gravity cos(3 position),
                         -max_speed, max_speed)
        position' = clip(position + velocity', min_position, max_position)

    and the velocity is set to 0 when the car stops against the left wall
    (``position' == min_position`` with ``velocity' < 0``): the collision is
    inelastic. As in Gymnasium, the right end of the track has no such rule.

    ## Spaces

    Observations are ``[position, velocity]`` (float32), in a ``Box`` with
    bounds ``[min_position, -max_speed]`` and ``[max_position, max_speed]``.
    Actions are ``Discrete(3)``: 0 accelerates left, 1 does nothing, 2
    accelerates right. Any other action makes the step's state, observation and
    reward NaN (Gymnasium refuses it with an assertion), or raises when
    `check_actions` is set (see `AbstractEnv.step`).

    ## Reward

    -1 on every step, including the one reaching the goal.

    ## Start state

    ``position`` uniform in ``[-0.6, -0.4)``, ``velocity`` 0.

    ## Episode end

    `terminated` when, after the step, ``position >= goal_position`` and
    ``velocity >= goal_velocity``, decided exactly on the float32 values (as
    Gymnasium's float64 comparisons); `truncated` after `max_episode_steps`
    steps.

    ## Version history

    - lerax 0.1.0: first version, matching Gymnasium's ``MountainCar-v0``
      (Gymnasium 1.x).

    Traced fields (changing them does not recompile an env passed through
    `jax.jit`): all physical parameters. Static: `max_episode_steps`,
    `check_actions`.

    Attributes:
        min_position: Left wall.
        max_position: Right end of the track.
        max_speed: Bound on the speed.
        goal_position: Position to reach.
        goal_velocity: Velocity the car needs at the goal (Gymnasium's
            ``goal_velocity`` argument).
        force: Acceleration of the engine, per step.
        gravity: Strength of gravity along the track, per step.
        max_episode_steps: Steps after which the episode is truncated, or `None`
            for never.
        check_actions: Whether `step` raises on an action outside
            `action_space` (static; off by default).
        observation_space: ``Box`` of shape ``(2,)``.
        action_space: ``Discrete(3)``.
    """

    min_position: float
    max_position: float
    max_speed: float
    goal_position: float
    goal_velocity: float
    force: float
    gravity: float
    max_episode_steps: int | None = eqx.field(static=True)
    check_actions: bool = eqx.field(static=True)
    observation_space: Box
    action_space: Discrete

    render_fps: ClassVar[float] = 30.0

    def __init__(
        self,
        *,
        min_position: float = -1.2,
        max_position: float = 0.6,
        max_speed: float = 0.07,
        goal_position: float = 0.5,
        goal_velocity: float = 0.0,
        force: float = 0.001,
        gravity: float = 0.0025,
        max_episode_steps: int | None = 200,
        check_actions: bool = False,
    ):
        """Creates the environment; the defaults are those of MountainCar-v0.

        Args:
            min_position: Left wall.
            max_position: Right end of the track.
            max_speed: Bound on the speed.
            goal_position: Position to reach.
            goal_velocity: Velocity needed at the goal.
            force: Acceleration of the engine, per step.
            gravity: Strength of gravity along the track, per step.
            max_episode_steps: Truncation length, a positive integer, or `None`
                to never truncate.
            check_actions: Whether `step` raises on an action outside
                `action_space`, at some cost in speed (see ``docs/env.md``).

        Raises:
            ValueError: If `max_episode_steps` is neither `None` nor positive.
            TypeError: If `check_actions` is not a bool.
        """
        self.min_position = float(min_position)
        self.max_position = float(max_position)
        self.max_speed = float(max_speed)
        self.goal_position = float(goal_position)
        self.goal_velocity = float(goal_velocity)
        self.force = float(force)
        self.gravity = float(gravity)
        self.max_episode_steps = episode_limit(max_episode_steps)
        self.check_actions = check_actions_flag(check_actions)
        self.observation_space = Box(
            np.array([self.min_position, -self.max_speed], np.float32),
            np.array([self.max_position, self.max_speed], np.float32),
            dtype=jnp.float32,
        )
        self.action_space = Discrete(3)

    def reset_env(
        self, *, key: PRNGKeyArray
    ) -> tuple[MountainCarState, Float[Array, "2"], dict[str, Any]]:
        """Places the car at rest, uniformly in ``[-0.6, -0.4)``.

        Args:
            key: PRNG key.

        Returns:
            ``(state, observation, {})``.
        """
        position = jax.random.uniform(key, (), jnp.float32, -0.6, -0.4)
        state = MountainCarState(
            position, jnp.array(0.0, jnp.float32), jnp.array(0, jnp.int32)
        )
        return state, _observe(state), {}

    def step_env(
        self, state: MountainCarState, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        MountainCarState,
        Float[Array, "2"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """Applies the engine for one step.

        Args:
            state: Current state.
            action: 0 (left), 1 (none) or 2 (right); anything else gives NaN
                outputs.
            key: Unused; the dynamics are deterministic.

        Returns:
            ``(state, observation, -1.0, terminated, truncated, {})``; the reward
            is NaN after an invalid action.
        """
        del key
        action = jnp.asarray(action)
        velocity = state.velocity + (
            (action - 1.0) * self.force - self.gravity * jnp.cos(3 * state.position)
        )
        velocity = jnp.clip(velocity, -self.max_speed, self.max_speed)
        position = jnp.clip(
            state.position + velocity, self.min_position, self.max_position
        )
        velocity = jnp.where(
            (position == self.min_position) & (velocity < 0),
            0.0,
            velocity,
        )
        # An invalid action must not pass for a valid one: NaN state and reward
        # (a NaN state never terminates).
        new, reward = nan_where(
            invalid_choice(action, 3),
            (
                MountainCarState(position, velocity, state.t + 1),
                jnp.array(-1.0, jnp.float32),
            ),
        )
        terminated = (new.position >= float32_ceil(self.goal_position)) & (
            new.velocity >= float32_ceil(self.goal_velocity)
        )
        if self.max_episode_steps is None:
            truncated = jnp.array(False)
        else:
            truncated = new.t >= self.max_episode_steps
        return new, _observe(new), reward, terminated, truncated, {}

    def render(self, state: MountainCarState) -> UInt8[Array, "400 600 3"]:
        """Draws the valley, the car and the flag as Gymnasium's ``rgb_array``
        frames show them.

        A 600 x 400 image spanning ``[min_position, max_position]``: the track
        ``0.45 sin(3 x) + 0.55`` (black), the car (black, on two grey wheels)
        tilted by ``cos(3 position)`` radians as Gymnasium tilts it, and a
        yellow flag at `goal_position`. Works under `jax.jit` and `jax.vmap`.

        Args:
            state: The state to draw.

        Returns:
            ``uint8[400, 600, 3]``.
        """
        return draw_mountain_car(
            state.position,
            min_position=self.min_position,
            max_position=self.max_position,
            goal_position=self.goal_position,
        )


def _observe(state: MountainCarState) -> Float[Array, "2"]:
    return jnp.stack([state.position, state.velocity])
