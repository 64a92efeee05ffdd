"""The one exception type of the serialization core."""

from typing import final

__all__ = ["SerializationError"]


@final
class SerializationError(ValueError):
    """A file cannot be written, read or matched to the object it should restore.

    The message names the file, the leaf or field path (e.g. ``.action_head.weight``),
    what was expected and what was found. A missing file raises
    :class:`FileNotFoundError` instead.
    """
