"""A point mass: the action distribution of deterministic policies."""

from typing import final

import jax.numpy as jnp
from jaxtyping import Array, Float, Key

from ._distribution import AbstractDistribution

__all__ = ["Deterministic"]


@final
class Deterministic(AbstractDistribution):
    """All probability on one action, as a deterministic policy (TD3) acts.

    `sample` and `mode` both return the action. `log_prob` and `entropy` are
    0: a point mass has no density, so these values are a convention that
    lets the policy serve the common interface (sampling, evaluation,
    ``policy(observation, key=...)``); nothing should optimise them.

    Example:
        ```python
        distribution = Deterministic(jnp.array([0.5]))
        distribution.sample(key=jax.random.key(0))  # Array([0.5])
        ```

    Attributes:
        action: The action.
    """

    action: Float[Array, "*shape"]

    def __init__(self, action: Float[Array, "*shape"]):
        """Puts all probability on `action`."""
        self.action = jnp.asarray(action)

    def sample(self, *, key: Key[Array, ""]) -> Float[Array, "*shape"]:
        del key  # nothing is random
        return self.action

    def mode(self) -> Float[Array, "*shape"]:
        return self.action

    def log_prob(self, value: Float[Array, "*shape"]) -> Float[Array, ""]:
        """0 for any `value`: a degenerate density, for interface completeness
        only (it is neither a density nor differentiable in a useful way)."""
        del value
        return jnp.zeros((), _float_dtype(self.action))

    def entropy(self) -> Float[Array, ""]:
        """0 (by the same convention as `log_prob`)."""
        return jnp.zeros((), _float_dtype(self.action))


def _float_dtype(x: Array) -> jnp.dtype:
    """`x`'s dtype if floating, float32 otherwise."""
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.dtype(jnp.float32)
