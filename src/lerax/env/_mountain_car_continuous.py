"""Mountain car with a continuous throttle, matching MountainCarContinuous-v0."""

from typing import Any, ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, UInt8

from ._box import Box
from ._env import AbstractEnv
from ._mountain_car_scene import draw_mountain_car
from ._params import check_actions_flag, episode_limit

__all__ = ["MountainCarContinuous", "MountainCarContinuousState"]


@final
class MountainCarContinuousState(eqx.Module):
    """State of one `MountainCarContinuous` episode.

    Attributes:
        position: Position of the car along the track.
        velocity: Velocity of the car, in position units per step.
        t: Number of steps taken in the episode.
    """

    position: Float[Array, ""]
    velocity: Float[Array, ""]
    t: Int[Array, ""]


@final
class MountainCarContinuous(AbstractEnv[MountainCarContinuousState, Box, Box]):
    """Drive an under-powered car up a hill, paying for every unit of throttle.

    A float32 port of Gymnasium's ``MountainCarContinuous-v0``: the valley of
    `MountainCar`, with a continuous action, a goal at 0.45 and a reward that
    pays for reaching it and charges for the throttle.

    ## Dynamics

    With the throttle ``a`` (the action, clipped to ``[min_action,
    max_action]``), one step:

        velocity' = clip(velocity + a power - gravity cos(3 position),
                         -max_speed, max_speed)
        position' = clip(position + velocity', min_position, max_position)

    and the velocity is set to 0 when the car stops against the left wall
    (``position' == min_position`` with ``velocity' < 0``). Gymnasium keeps this
    state in float32 after the first step and so computes mostly in float32,
    as this port does throughout.

    ## Spaces

    Observations are ``[position, velocity]`` (float32), in a ``Box`` with
    bounds ``[min_position, -max_speed]`` and ``[max_position, max_speed]``.
    Actions are ``Box(min_action, max_action, shape=(1,))``. As in Gymnasium,
    an action outside the bounds is clipped to them for the dynamics, while the
    reward charges the unclipped action; an action of another shape raises a
    `ValueError` while tracing. With `check_actions`, an out-of-bounds action
    raises instead of being clipped (see `AbstractEnv.step`).

    ## Reward

    ``-0.1 action^2`` on every step, for the unclipped action, plus 100 on the
    step reaching the goal.

    ## Start state

    ``position`` uniform in ``[-0.6, -0.4)``, ``velocity`` 0.

    ## Episode end

    `terminated` when, after the step, ``position >= goal_position`` and
    ``velocity >= goal_velocity``, compared in float32 as Gymnasium does
    (its float32 state against its float thresholds); `truncated` after
    `max_episode_steps` steps.

    ## Version history

    - lerax 0.1.0: first version, matching Gymnasium's
      ``MountainCarContinuous-v0`` (Gymnasium 1.x).

    Traced fields (changing them does not recompile an env passed through
    `jax.jit`): all physical parameters. Static: `max_episode_steps`,
    `check_actions`.

    Attributes:
        min_action: Lower bound of the throttle.
        max_action: Upper bound of the throttle.
        min_position: Left wall.
        max_position: Right end of the track.
        max_speed: Bound on the speed.
        goal_position: Position to reach.
        goal_velocity: Velocity the car needs at the goal (Gymnasium's
            ``goal_velocity`` argument).
        power: Acceleration per unit of throttle, per step.
        gravity: Strength of gravity along the track, per step (a constant in
            Gymnasium's code).
        max_episode_steps: Steps after which the episode is truncated, or `None`
            for never.
        check_actions: Whether `step` raises on an action outside
            `action_space` instead of clipping it (static; off by default).
        observation_space: ``Box`` of shape ``(2,)``.
        action_space: ``Box`` of shape ``(1,)``.
    """

    min_action: float
    max_action: float
    min_position: float
    max_position: float
    max_speed: float
    goal_position: float
    goal_velocity: float
    power: float
    gravity: float
    max_episode_steps: int | None = eqx.field(static=True)
    check_actions: bool = eqx.field(static=True)
    observation_space: Box
    action_space: Box

    render_fps: ClassVar[float] = 30.0

    def __init__(
        self,
        *,
        min_action: float = -1.0,
        max_action: float = 1.0,
        min_position: float = -1.2,
        max_position: float = 0.6,
        max_speed: float = 0.07,
        goal_position: float = 0.45,
        goal_velocity: float = 0.0,
        power: float = 0.0015,
        gravity: float = 0.0025,
        max_episode_steps: int | None = 999,
        check_actions: bool = False,
    ):
        """Creates the environment; the defaults are those of the Gymnasium id.

        Args:
            min_action: Lower bound of the throttle.
            max_action: Upper bound of the throttle.
            min_position: Left wall.
            max_position: Right end of the track.
            max_speed: Bound on the speed.
            goal_position: Position to reach.
            goal_velocity: Velocity needed at the goal.
            power: Acceleration per unit of throttle, per step.
            gravity: Strength of gravity along the track, per step.
            max_episode_steps: Truncation length, a positive integer, or `None`
                to never truncate.
            check_actions: Whether `step` raises on an action outside
                `action_space` instead of clipping it.

        Raises:
            ValueError: If `max_episode_steps` is neither `None` nor positive,
                or `min_action` exceeds `max_action`.
            TypeError: If `check_actions` is not a bool.
        """
        self.min_action = float(min_action)
        self.max_action = float(max_action)
        self.min_position = float(min_position)
        self.max_position = float(max_position)
        self.max_speed = float(max_speed)
        self.goal_position = float(goal_position)
        self.goal_velocity = float(goal_velocity)
        self.power = float(power)
        self.gravity = float(gravity)
        self.max_episode_steps = episode_limit(max_episode_steps)
        self.check_actions = check_actions_flag(check_actions)
        if self.min_action > self.max_action:
            raise ValueError(
                f"min_action must not exceed max_action, got {self.min_action} "
                f"and {self.max_action}"
            )
        self.observation_space = Box(
            np.array([self.min_position, -self.max_speed], np.float32),
            np.array([self.max_position, self.max_speed], np.float32),
            dtype=jnp.float32,
        )
        self.action_space = Box(
            self.min_action, self.max_action, shape=(1,), dtype=jnp.float32
        )

    def reset_env(
        self, *, key: PRNGKeyArray
    ) -> tuple[MountainCarContinuousState, Float[Array, "2"], dict[str, Any]]:
        """Places the car at rest, uniformly in ``[-0.6, -0.4)``.

        Args:
            key: PRNG key.

        Returns:
            ``(state, observation, {})``.
        """
        position = jax.random.uniform(key, (), jnp.float32, -0.6, -0.4)
        state = MountainCarContinuousState(
            position, jnp.array(0.0, jnp.float32), jnp.array(0, jnp.int32)
        )
        return state, _observe(state), {}

    def step_env(
        self,
        state: MountainCarContinuousState,
        action: ArrayLike,
        *,
        key: PRNGKeyArray,
    ) -> tuple[
        MountainCarContinuousState,
        Float[Array, "2"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """Applies the throttle for one step.

        Args:
            state: Current state.
            action: Throttle, an array of shape ``(1,)``; clipped to
                ``[min_action, max_action]`` for the dynamics only.
            key: Unused; the dynamics are deterministic.

        Returns:
            ``(state, observation, reward, terminated, truncated, {})``.

        Raises:
            ValueError: If `action` does not have shape ``(1,)``.
        """
        del key
        action = jnp.asarray(action)
        if action.shape != (1,):
            raise ValueError(
                "MountainCarContinuous needs an action of shape (1,), got shape "
                f"{action.shape}"
            )
        throttle = action.astype(jnp.float32)[0]
        force = jnp.clip(throttle, self.min_action, self.max_action)
        velocity = state.velocity + (
            force * self.power - self.gravity * jnp.cos(3 * state.position)
        )
        velocity = jnp.clip(velocity, -self.max_speed, self.max_speed)
        position = jnp.clip(
            state.position + velocity, self.min_position, self.max_position
        )
        velocity = jnp.where(
            (position == self.min_position) & (velocity < 0), 0.0, velocity
        )
        new = MountainCarContinuousState(position, velocity, state.t + 1)
        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        if self.max_episode_steps is None:
            truncated = jnp.array(False)
        else:
            truncated = new.t >= self.max_episode_steps
        reward = jnp.where(terminated, 100.0, 0.0) - 0.1 * throttle**2
        return new, _observe(new), reward, terminated, truncated, {}

    def render(self, state: MountainCarContinuousState) -> UInt8[Array, "400 600 3"]:
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


def _observe(state: MountainCarContinuousState) -> Float[Array, "2"]:
    return jnp.stack([state.position, state.velocity])
