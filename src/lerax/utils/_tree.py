"""Saving and loading arbitrary pytrees (e.g. training checkpoints)."""

from pathlib import Path
from typing import Any, TypeVar

from .. import __version__
from ._files import PathOrFile, opened_for_reading, opened_for_writing
from ._manifest import read_manifest
from ._reader import read_leaves
from ._writer import write_tree

__all__ = ["load_tree", "save_tree"]

T = TypeVar("T")


def save_tree(path_or_file: PathOrFile, tree: Any) -> Path | None:
    """Saves any pytree in the lerax format (atomically, with checksums).

    Returns:
        The path written, or None for a file object.
    """
    with opened_for_writing(path_or_file) as (f, path):
        write_tree(f, tree, class_name=None, args=None, lerax_version=__version__)
    return path


def load_tree(path_or_file: PathOrFile, like: T) -> T:
    """Loads leaves into ``like``, a pytree of the same structure.

    ``like`` may hold real arrays or ``jax.ShapeDtypeStruct`` (e.g. from
    ``eqx.filter_eval_shape``); loaded arrays take the sharding of its leaves. Works
    on files written by `save_tree`, ``Serializable.serialize`` and plain
    ``eqx.tree_serialise_leaves``.
    """
    with opened_for_reading(path_or_file) as (f, where):
        return read_leaves(f, read_manifest(f, where), like, where)
