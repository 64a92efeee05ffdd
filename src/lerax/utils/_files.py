"""Opening paths and binary file objects for reading and writing ``.eqx`` files."""

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ._atomic import atomic_write

__all__ = ["PathOrFile", "opened_for_reading", "opened_for_writing", "with_suffix"]

PathOrFile = str | os.PathLike[str] | BinaryIO


def with_suffix(path: str | os.PathLike[str]) -> Path:
    """Appends ``.eqx`` when the path has no suffix, as equinox does; never replaces."""
    path = Path(path)
    return path.with_suffix(".eqx") if path.suffix == "" else path


@contextlib.contextmanager
def opened_for_writing(
    path_or_file: PathOrFile,
) -> Iterator[tuple[BinaryIO, Path | None]]:
    """Yields the file and the path written (None for a file object).

    Paths are replaced atomically; file objects are written in place.
    """
    if isinstance(path_or_file, str | os.PathLike):
        path = with_suffix(path_or_file)
        with atomic_write(path) as f:
            yield f, path
    else:
        yield path_or_file, None


@contextlib.contextmanager
def opened_for_reading(path_or_file: PathOrFile) -> Iterator[tuple[BinaryIO, str]]:
    """Yields the file and how to name it in messages.

    A file object is read from its current position to its end; one that cannot
    seek is read into memory first.
    """
    if isinstance(path_or_file, str | os.PathLike):
        path = with_suffix(path_or_file)
        with open(path, "rb") as f:
            yield f, str(path)
    else:
        f = path_or_file
        if not f.seekable():
            f = io.BytesIO(f.read())
        yield f, getattr(f, "name", "<file object>")
