"""Saving and loading arbitrary pytrees (e.g. training checkpoints)."""

import os
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from .. import __version__
from ._async import SaveHandle, start_save
from ._files import PathOrFile, opened_for_reading, opened_for_writing
from ._manifest import read_manifest
from ._placement import Placement, check_placement
from ._reader import read_leaves
from ._writer import prepare_tree, write_prepared

__all__ = ["load_tree", "save_tree"]

T = TypeVar("T")


@overload
def save_tree(
    path_or_file: PathOrFile, tree: Any, *, blocking: Literal[True] = True
) -> Path | None: ...


@overload
def save_tree(
    path_or_file: str | os.PathLike[str], tree: Any, *, blocking: Literal[False]
) -> SaveHandle: ...


def save_tree(
    path_or_file: PathOrFile, tree: Any, *, blocking: bool = True
) -> Path | SaveHandle | None:
    """Saves any pytree in the lerax format (atomically, with checksums).

    Args:
        path_or_file: A path (replaced atomically) or a binary file object.
        tree: The pytree.
        blocking: False to return as soon as the leaves are copied to host
            memory and write the file on a background thread (paths only); the
            returned `SaveHandle` waits for it and raises its errors.

    Returns:
        The path written (None for a file object), or with ``blocking=False`` a
        `SaveHandle`.

    Raises:
        SerializationError: if a leaf cannot be stored (a tracer, an object
            array).
        ValueError: for ``blocking=False`` with a file object.
    """
    prepared = prepare_tree(
        tree, class_name=None, args=None, lerax_version=__version__, copy=not blocking
    )
    if not blocking:
        return start_save(path_or_file, prepared)
    with opened_for_writing(path_or_file) as (f, path):
        write_prepared(f, prepared)
    return path


def load_tree(
    path_or_file: PathOrFile, like: T, *, placement: Placement | None = None
) -> T:
    """Loads leaves into ``like``, a pytree of the same structure.

    ``like`` may hold real arrays or ``jax.ShapeDtypeStruct`` (e.g. from
    ``eqx.filter_eval_shape``); loaded arrays take the sharding of its leaves,
    unless `placement` (or a `placed` block) says otherwise. Works on files
    written by :func:`save_tree`, ``Serializable.serialize``, plain
    ``eqx.tree_serialise_leaves`` and lerax 0.0.x (whose structure fingerprint
    must be that of ``like``). To load one part of a file, see `load_leaves`.

    Args:
        path_or_file: A path or a binary file object.
        like: The skeleton: its structure, fields, kinds, dtypes and shapes
            must be the file's.
        placement: Where the loaded JAX arrays go: a `jax.Device`, a
            `jax.sharding.Sharding` for every array, or a function
            ``(path, jax.ShapeDtypeStruct)`` returning a device, a sharding or
            None (``like``'s sharding) for each; see `placed`.

    Raises:
        FileNotFoundError: if the file does not exist.
        SerializationError: if the file is damaged, does not fit ``like``, or an
            array does not fit its placement.
        TypeError: if `placement` is not a device, a sharding or a function.
    """
    check_placement(placement)
    with opened_for_reading(path_or_file) as (f, where):
        manifest = read_manifest(f, where)
        return read_leaves(f, manifest, like, where, placement=placement)
