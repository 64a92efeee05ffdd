"""Files of lerax 0.0.x: a structure fingerprint, then a plain equinox payload.

Upstream lerax (0.0.x) saved a `Serializable` as 32 bytes, the SHA-256 of
``repr(jax.tree.structure(obj))`` (a ``PyTreeDef``, whose ``str`` is the same
text), followed by exactly what ``eqx.tree_serialise_leaves`` writes; loading
rebuilt the object from constructor arguments with ``eqx.filter_eval_shape`` and
refused the file unless the skeleton's fingerprint was the stored one. There is no
metadata, so these files load only with constructor arguments (or a ``like``
tree), and the fingerprint is checked the same way.

The text of a ``PyTreeDef`` names every class and static field value of the
object. lerax's `Serializable` has one static field more than upstream's, its
recorded constructor arguments (``repr``: ``<recorded constructor arguments>``),
so a skeleton matches a file if either its own fingerprint or the one without
those values is the stored one.
"""

import hashlib
from typing import Any, BinaryIO, Final

import jax

from ._errors import SerializationError
from ._manifest import file_region

__all__ = [
    "FINGERPRINT_SIZE",
    "NPY_MAGIC",
    "check_fingerprint",
    "fingerprints",
    "read_fingerprint",
]

FINGERPRINT_SIZE: Final = 32
NPY_MAGIC: Final = b"\x93NUMPY"
# What a treedef's text shows for lerax's recorded-arguments field (the repr of
# `_encoding.RecordedArgs`), which upstream's classes do not have.
_RECORDED_ARGS: Final = "<recorded constructor arguments>"


def read_fingerprint(f: BinaryIO) -> bytes | None:
    """The fingerprint of a lerax 0.0.x file, leaving `f` just after it.

    A file without a lerax trailer is one if it does not start with a .npy
    record but has one right after 32 bytes (or is exactly 32 bytes long: an
    object without arrays). Returns None, leaving `f` where it was, otherwise.
    """
    start, end = file_region(f)
    head = f.read(FINGERPRINT_SIZE + len(NPY_MAGIC))
    f.seek(start)
    if head.startswith(NPY_MAGIC):
        return None
    if head[FINGERPRINT_SIZE:] == NPY_MAGIC or end - start == FINGERPRINT_SIZE:
        f.seek(start + FINGERPRINT_SIZE)
        return head[:FINGERPRINT_SIZE]
    return None


def fingerprints(tree: Any) -> tuple[bytes, ...]:
    """The fingerprints a lerax 0.0.x file of `tree` may carry: of its treedef's
    text, and of that text without lerax's recorded constructor arguments."""
    text = repr(jax.tree.structure(tree))
    upstream = text.replace(f", {_RECORDED_ARGS})", ",)").replace(
        f", {_RECORDED_ARGS}", ""
    )
    return tuple(
        hashlib.sha256(t.encode()).digest() for t in dict.fromkeys((upstream, text))
    )


def check_fingerprint(fingerprint: bytes, tree: Any, where: str) -> None:
    """Raises unless `fingerprint` is one of `tree`'s.

    Raises:
        SerializationError: naming both fingerprints.
    """
    expected = fingerprints(tree)
    if fingerprint not in expected:
        raise SerializationError(
            f"{where}: this lerax 0.0.x file (a structure fingerprint, then plain "
            "equinox data) does not match the object to load: its fingerprint "
            f"{fingerprint.hex()[:16]}... is not the object's "
            f"{expected[0].hex()[:16]}...; the constructor arguments build another "
            "structure than the one saved (other sizes, activations or static "
            "values), or the file was written with another version of equinox "
            "or JAX, whose structures read differently"
        )
