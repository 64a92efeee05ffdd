"""Serialization core: safe, fast, self-describing ``.eqx`` files.

Nothing reinforcement-learning specific may be imported here; the rest of lerax builds
on this package, never the reverse.
"""

from ._arrays import load_arrays
from ._async import SaveHandle, wait_for_saves
from ._errors import SerializationError
from ._evolution import register_migration
from ._inspect import FileInfo, LeafInfo, ModuleInfo, inspect
from ._partial import load_leaves
from ._serializable import Serializable, load
from ._tree import load_tree, save_tree
from ._trust import register_class, register_function

__all__ = [
    "FileInfo",
    "LeafInfo",
    "ModuleInfo",
    "SaveHandle",
    "Serializable",
    "SerializationError",
    "inspect",
    "load",
    "load_arrays",
    "load_leaves",
    "load_tree",
    "register_class",
    "register_function",
    "register_migration",
    "save_tree",
    "wait_for_saves",
]
