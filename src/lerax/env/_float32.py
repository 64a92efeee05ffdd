"""Exact comparisons of float32 values with float64 thresholds."""

import numpy as np
from jaxtyping import Array

__all__ = ["float32_ceil", "float32_floor"]


def float32_floor(threshold: float | Array) -> float | Array:
    """The largest float32 not above `threshold`.

    For float32 `v`, ``v > threshold`` holds exactly when ``v >
    float32_floor(threshold)``, whereas comparing with `threshold` itself would
    round it to the nearest float32 first. This decides a strict comparison
    exactly, as Gymnasium's float64 comparisons do, even for values on the
    threshold. A traced threshold (an env passed through `jax.jit` as an
    argument) is returned as is.
    """
    if not isinstance(threshold, float):
        return threshold
    below = np.float32(threshold)
    if float(below) > threshold:
        below = np.nextafter(below, np.float32(-np.inf))
    return float(below)


def float32_ceil(threshold: float | Array) -> float | Array:
    """The smallest float32 not below `threshold`.

    For float32 `v`, ``v >= threshold`` holds exactly when ``v >=
    float32_ceil(threshold)``: the counterpart of `float32_floor` for
    non-strict comparisons. A traced threshold is returned as is.
    """
    if not isinstance(threshold, float):
        return threshold
    above = np.float32(threshold)
    if float(above) < threshold:
        above = np.nextafter(above, np.float32(np.inf))
    return float(above)
