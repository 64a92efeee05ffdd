"""Validation of the constructor arguments shared by the environments."""

from typing import Any

import numpy as np

__all__ = ["check_actions_flag", "episode_limit"]


def episode_limit(max_episode_steps: Any) -> int | None:
    """Validates a truncation length.

    Args:
        max_episode_steps: A positive integer, or `None` for no limit.

    Returns:
        The limit as an `int`, or `None`.

    Raises:
        ValueError: If `max_episode_steps` is neither `None` nor a positive
            integer (booleans and fractional numbers are refused).
    """
    if max_episode_steps is None:
        return None
    if (
        isinstance(max_episode_steps, bool | np.bool_)
        or int(max_episode_steps) != max_episode_steps
        or max_episode_steps < 1
    ):
        raise ValueError(
            f"max_episode_steps must be a positive integer or None, "
            f"got {max_episode_steps!r}"
        )
    return int(max_episode_steps)


def check_actions_flag(check_actions: Any) -> bool:
    """Validates the `check_actions` switch.

    Args:
        check_actions: A Python or NumPy boolean.

    Returns:
        The switch as a Python `bool`.

    Raises:
        TypeError: If `check_actions` is not a boolean; ``0`` and ``1`` are
            refused too, since the field is static and decides the compiled code.
    """
    if not isinstance(check_actions, bool | np.bool_):
        raise TypeError(f"check_actions must be a bool, got {check_actions!r}")
    return bool(check_actions)
