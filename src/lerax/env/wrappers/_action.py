"""Stateless action wrappers: `ClipAction`, `RescaleAction`."""

from typing import Any, final

import jax.numpy as jnp
import numpy as np
from jax.core import Tracer
from jaxtyping import Array, ArrayLike

from .._box import Box
from .._env import AbstractEnv
from ._base import AbstractActionWrapper
from ._checks import box_space, wrapped_env
from ._errors import UnsupportedSpaceError

__all__ = ["ClipAction", "RescaleAction"]


@final
class ClipAction(AbstractActionWrapper[Box]):
    """Actions clipped to the wrapped environment's `Box` before each step.

    The wrapper accepts any real action of the right shape (its action space
    is unbounded, as Gymnasium's ``ClipAction``'s is) and hands
    ``clip(action, low, high)`` to `env`.

    Example:

    ```python
    env = ClipAction(Pendulum())
    env.step(state, jnp.array([5.0]), key=key)  # steps with a torque of 2.0
    ```

    Attributes:
        env: The wrapped environment, with a floating `Box` action space.
        action_space: ``Box(-inf, inf)`` of the same shape and dtype.
    """

    env: AbstractEnv[Any, Any, Any]
    action_space: Box

    def __init__(self, env: AbstractEnv[Any, Any, Any]):
        """Wraps `env`.

        Args:
            env: A lerax environment with a floating `Box` action space.

        Raises:
            TypeError: If `env` is not a lerax environment.
            UnsupportedSpaceError: If its action space is not a floating `Box`.
        """
        self.env = wrapped_env("ClipAction", env)
        space = box_space("ClipAction", "action", env.action_space, floating=True)
        self.action_space = Box(-np.inf, np.inf, shape=space.shape, dtype=space.dtype)

    def action(self, action: ArrayLike) -> Array:
        """``clip(action, low, high)`` with the wrapped action space's bounds."""
        inner = self.env.action_space
        return jnp.clip(jnp.asarray(action, inner.dtype), inner.low, inner.high)


@final
class RescaleAction(AbstractActionWrapper[Box]):
    """Actions mapped linearly from ``[min_action, max_action]`` to the wrapped
    environment's bounds.

    An action ``a`` becomes ``low + (a - min_action) / (max_action - min_action) *
    (high - low)``, elementwise, as in Gymnasium's ``RescaleAction``; it is
    computed as the convex combination ``low * (1 - t) + high * t`` with ``t =
    (a - min_action) / (max_action - min_action)``. ``min_action`` maps to
    ``low`` and ``max_action`` to ``high`` exactly, and an action within
    ``[min_action, max_action]`` to one within ``[low, high]``, whatever the
    rounding. Actions outside ``[min_action, max_action]`` are extrapolated,
    not clipped (wrap the result in `ClipAction` to clip them).

    Example:

    ```python
    env = RescaleAction(Pendulum(), -1.0, 1.0)  # torque = 2 * action
    ```

    Attributes:
        env: The wrapped environment, with a floating `Box` action space with
            finite bounds.
        action_space: ``Box(min_action, max_action)`` of the wrapped action
            space's shape and dtype.
    """

    env: AbstractEnv[Any, Any, Any]
    action_space: Box

    def __init__(
        self,
        env: AbstractEnv[Any, Any, Any],
        min_action: ArrayLike,
        max_action: ArrayLike,
    ):
        """Wraps `env`.

        Args:
            env: A lerax environment with a floating `Box` action space whose
                bounds are finite.
            min_action: The action mapped to the lower bounds; a scalar or an
                array broadcastable to the action shape.
            max_action: The action mapped to the upper bounds, likewise.

        Raises:
            TypeError: If `env` is not a lerax environment.
            UnsupportedSpaceError: If its action space is not a floating `Box`,
                or has an infinite bound.
            ValueError: If `min_action` or `max_action` is not finite or does
                not broadcast to the action shape, or ``min_action <
                max_action`` fails somewhere.
        """
        self.env = wrapped_env("RescaleAction", env)
        space = box_space("RescaleAction", "action", env.action_space, floating=True)
        if _fails(jnp.isfinite(space.low) & jnp.isfinite(space.high)):
            raise UnsupportedSpaceError(
                f"RescaleAction needs an action space with finite bounds, got {space!r}"
            )
        bounds = []
        for name, value in (("min_action", min_action), ("max_action", max_action)):
            array = jnp.asarray(value, space.dtype)
            try:
                array = jnp.broadcast_to(array, space.shape)
            except ValueError:
                raise ValueError(
                    f"{name} must broadcast to the action shape {space.shape}, "
                    f"got shape {array.shape}"
                ) from None
            if _fails(jnp.isfinite(array)):
                raise ValueError(f"{name} must be finite, got {value!r}")
            bounds.append(array)
        low, high = bounds
        if _fails(low < high):
            raise ValueError(
                f"min_action must be below max_action elementwise, got "
                f"{min_action!r} and {max_action!r}"
            )
        self.action_space = Box(low, high, shape=space.shape, dtype=space.dtype)

    def action(self, action: ArrayLike) -> Array:
        """The wrapped environment's action for `action` (see the class)."""
        inner = self.env.action_space
        space = self.action_space
        action = jnp.asarray(action, space.dtype)
        t = (action - space.low) / (space.high - space.low)
        mapped = inner.low * (1 - t) + inner.high * t
        # XLA's vectorised division is not always correctly rounded, so an action
        # within the bounds is kept within the env's bounds, and each bound is
        # mapped to the env's bound exactly.
        inside = (action >= space.low) & (action <= space.high)
        mapped = jnp.where(inside, jnp.clip(mapped, inner.low, inner.high), mapped)
        mapped = jnp.where(action == space.low, inner.low, mapped)
        return jnp.where(action == space.high, inner.high, mapped)


def _fails(condition: Any) -> bool:
    """Whether `condition` is false somewhere. Traced values (a deserialization
    skeleton, whose values come from a file written by a checked wrapper) pass."""
    condition = jnp.all(condition)
    return not isinstance(condition, Tracer) and not bool(condition)
