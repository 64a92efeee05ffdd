"""Serialization core: safe, fast, self-describing ``.eqx`` files.

Nothing reinforcement-learning specific may be imported here; the rest of lerax builds
on this package, never the reverse.
"""

from ._errors import SerializationError
from ._serializable import Serializable, load
from ._tree import load_tree, save_tree
from ._trust import register_class, register_function

__all__ = [
    "Serializable",
    "SerializationError",
    "load",
    "load_tree",
    "register_class",
    "register_function",
    "save_tree",
]
