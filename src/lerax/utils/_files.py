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


def _is_path(path_or_file: PathOrFile) -> bool:
    return isinstance(path_or_file, str | os.PathLike)


@contextlib.contextmanager
def opened_for_writing(path_or_file: PathOrFile) -> Iterator[BinaryIO]:
    """Paths are replaced atomically; file objects are written in place."""
    if _is_path(path_or_file):
        with atomic_write(with_suffix(path_or_file)) as f:  # type: ignore[arg-type]
            yield f
    else:
        yield path_or_file  # type: ignore[misc]


@contextlib.contextmanager
def opened_for_reading(path_or_file: PathOrFile) -> Iterator[tuple[BinaryIO, str]]:
    """Yields the file and how to name it in messages.

    A file object is read from its current position to its end; one that cannot
    seek is read into memory first.
    """
    if _is_path(path_or_file):
        path = with_suffix(path_or_file)  # type: ignore[arg-type]
        with open(path, "rb") as f:
            yield f, str(path)
    else:
        f: BinaryIO = path_or_file  # type: ignore[assignment]
        if not f.seekable():
            f = io.BytesIO(f.read())
        yield f, getattr(f, "name", "<file object>")
