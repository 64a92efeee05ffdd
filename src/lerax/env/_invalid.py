"""NaN outputs for the invalid actions of discrete environments."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, PyTree

__all__ = ["invalid_choice", "nan_where"]


def invalid_choice(action: ArrayLike, n: int) -> Bool[Array, ""]:
    """Whether `action` is not one of ``0, 1, ..., n - 1``, judged by value.

    Unlike `Discrete.contains`, the dtype does not matter: ``1.0`` counts as
    ``1``, ``0.5`` is invalid.
    """
    action = jnp.asarray(action)
    valid = (action >= 0) & (action < n)
    if jnp.issubdtype(action.dtype, jnp.floating):
        valid = valid & (action == jnp.round(action))
    return ~valid


def nan_where(invalid: Bool[ArrayLike, ""], tree: PyTree) -> PyTree:
    """`tree` with every floating leaf replaced by NaN where `invalid` holds.

    An unchecked invalid action thus gives NaN outputs rather than passing for
    a valid one; the selects fuse with the dynamics and cost nothing
    measurable.
    """

    def poison(leaf):
        leaf = jnp.asarray(leaf)
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            return jnp.where(invalid, jnp.nan, leaf).astype(leaf.dtype)
        return leaf

    return jax.tree.map(poison, tree)
