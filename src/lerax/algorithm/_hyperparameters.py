"""Validation of hyperparameters given to the algorithms' constructors."""

import math


def count(name: str, value: int, *, low: int = 1) -> int:
    """`value` as an int, if it is an integer of at least `low` (by default a
    positive integer).

    Raises:
        ValueError: Otherwise, naming `name`.
    """
    if isinstance(value, bool) or int(value) != value or value < low:
        kind = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def number(
    name: str, value: float, *, low: float | None = None, high: float | None = None
) -> float:
    """`value` as a float, if it is finite and within ``[low, high]``.

    Raises:
        ValueError: Otherwise, naming `name`.
    """
    value = float(value)
    if (
        not math.isfinite(value)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        bounds = (
            f" in [{low}, {high}]"
            if high is not None
            else (f" >= {low}" if low is not None else "")
        )
        raise ValueError(f"{name} must be a finite number{bounds}, got {value!r}")
    return value
