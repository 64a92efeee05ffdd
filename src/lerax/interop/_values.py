"""Host-side values of lerax spaces: NumPy pytrees, their shapes, batches."""

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from lerax.env import AbstractSpace, Dict, Tuple

__all__ = ["element_struct", "numpy_value", "stack", "unbatch", "value_bytes"]


def element_struct(space: AbstractSpace) -> Any:
    """The shape and dtype of one element, as a pytree of `jax.ShapeDtypeStruct`
    (a dict for `Dict`, a tuple for `Tuple`), for `jax.pure_callback`."""
    if isinstance(space, Dict):
        return {name: element_struct(child) for name, child in space.spaces.items()}
    if isinstance(space, Tuple):
        return tuple(element_struct(child) for child in space.spaces)
    assert space.shape is not None and space.dtype is not None  # array spaces
    return jax.ShapeDtypeStruct(space.shape, space.dtype)


def numpy_value(value: Any, space: AbstractSpace) -> Any:
    """`value` as an element of `space` on the host: NumPy arrays of the space's
    shapes and dtypes, in a dict (sorted keys) or tuple for composite spaces.

    Args:
        value: A value of the same structure: a scalar, array, mapping or
            sequence (e.g. what a Gymnasium env returns).
        space: The lerax space.

    Returns:
        The converted value (float64 values become float32, and so on).

    Raises:
        ValueError: If `value` does not have the structure or shapes of an
            element of `space`.
    """
    if isinstance(space, Dict):
        if not hasattr(value, "keys") or set(value.keys()) != set(space.spaces):
            raise ValueError(
                f"expected a mapping with the keys {space.keys()}, got {value!r}"
            )
        return {name: numpy_value(value[name], s) for name, s in space.spaces.items()}
    if isinstance(space, Tuple):
        if not isinstance(value, Sequence) or len(value) != len(space.spaces):
            raise ValueError(
                f"expected a sequence of length {len(space.spaces)}, got {value!r}"
            )
        return tuple(
            numpy_value(part, s) for part, s in zip(value, space.spaces, strict=True)
        )
    array = np.asarray(value)
    if array.shape != space.shape:
        raise ValueError(
            f"expected an array of shape {space.shape} for {space!r}, got shape "
            f"{array.shape}"
        )
    return array.astype(space.dtype, copy=False)


def stack(values: Sequence[Any]) -> Any:
    """Stacks equally structured host values along a new leading axis."""
    return jax.tree.map(lambda *leaves: np.stack(leaves), *values)


def unbatch(batch: Any, space: AbstractSpace) -> tuple[int, list[Any]]:
    """Splits a batch of elements of `space` (any number of leading batch axes,
    as ``jax.pure_callback`` with ``vmap_method="broadcast_all"`` passes them)
    into its elements, in C order.

    Returns:
        ``(size, elements)``.
    """
    struct = element_struct(space)
    leaves = jax.tree.leaves(batch)
    shapes = jax.tree.leaves(struct)
    flat = [
        np.asarray(leaf).reshape(-1, *s.shape)
        for leaf, s in zip(leaves, shapes, strict=True)
    ]
    size = flat[0].shape[0] if flat else 0
    treedef = jax.tree.structure(struct)
    return size, [
        jax.tree.unflatten(treedef, [leaf[i] for leaf in flat]) for i in range(size)
    ]


def value_bytes(value: Any) -> bytes:
    """The bytes of a host value's leaves: equal values give equal bytes."""
    return b"".join(
        np.ascontiguousarray(leaf).tobytes() for leaf in jax.tree.leaves(value)
    )
