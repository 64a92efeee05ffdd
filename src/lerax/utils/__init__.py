"""Serialization core: safe, fast, self-describing ``.eqx`` files.

Nothing reinforcement-learning specific may be imported here; the rest of lerax builds
on this package, never the reverse.
"""

from ._arrays import load_arrays
from ._async import SaveHandle, wait_for_saves
from ._distributed import load_tree_distributed, save_tree_distributed
from ._errors import MissingExtraError, SerializationError
from ._evolution import register_migration
from ._inspect import FileInfo, LeafInfo, ModuleInfo, inspect
from ._partial import load_leaves
from ._placement import placed
from ._safetensors import load_safetensors, save_safetensors
from ._serializable import Serializable, load
from ._tree import load_tree, save_tree
from ._trust import register_class, register_function

__all__ = [
    "FileInfo",
    "LeafInfo",
    "MissingExtraError",
    "ModuleInfo",
    "SaveHandle",
    "Serializable",
    "SerializationError",
    "inspect",
    "load",
    "load_arrays",
    "load_leaves",
    "load_safetensors",
    "load_tree",
    "load_tree_distributed",
    "placed",
    "register_class",
    "register_function",
    "register_migration",
    "save_safetensors",
    "save_tree",
    "save_tree_distributed",
    "wait_for_saves",
]
