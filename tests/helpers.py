"""Shared test helpers: a small Serializable module, file surgery, a file object
that records what is read, and a writer of lerax 0.0.x files."""

import hashlib
import io
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xxhash
from jaxtyping import Array, Float

from lerax.utils import Serializable

FOOTER = struct.Struct("<QQHH8s")


class Net(Serializable):
    """A small module with every kind of leaf lerax stores."""

    mlp: eqx.nn.MLP
    scale: Float[Array, ""]
    table: np.ndarray
    key: jax.Array
    count: int
    name: str = eqx.field(static=True)

    def __init__(
        self, width: int, activation=jax.nn.tanh, name: str = "net", *, key: jax.Array
    ):
        mlp_key, own_key = jax.random.split(key)
        # Legacy uint32 key data: plain equinox cannot save typed keys.
        self.key = jax.random.key_data(own_key)
        self.mlp = eqx.nn.MLP(3, 2, width, 2, activation=activation, key=mlp_key)
        self.scale = jnp.array(1.5)
        self.table = np.arange(4.0)
        self.count = 7
        self.name = name


def array_leaves(tree: Any) -> list[Any]:
    return jax.tree.leaves(eqx.filter(tree, eqx.is_array))


def assert_trees_identical(a: Any, b: Any) -> None:
    """Same structure, same leaf types, same dtypes and bit-identical values."""
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert type(x) is type(y), (type(x), type(y))
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert x.dtype == y.dtype
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        if isinstance(x, jax.Array | np.ndarray | np.generic):
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(
                np.ascontiguousarray(x).reshape(-1).view(np.uint8),
                np.ascontiguousarray(y).reshape(-1).view(np.uint8),
            )
        else:
            assert x == y or (x != x and y != y), (x, y)


def split_file(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """Returns (payload, metadata) of a lerax file."""
    meta_len = FOOTER.unpack(data[-FOOTER.size :])[0]
    meta_start = len(data) - FOOTER.size - meta_len
    return data[:meta_start], json.loads(data[meta_start : -FOOTER.size])


def seal(payload: bytes, blob: bytes) -> bytes:
    """A lerax file of the given payload and metadata bytes, with a valid footer."""
    footer = FOOTER.pack(len(blob), xxhash.xxh3_64_intdigest(blob), 1, 0, b"LERAXEQX")
    return payload + blob + footer


def join_file(payload: bytes, metadata: dict[str, Any]) -> bytes:
    return seal(payload, json.dumps(metadata).encode())


def rewrite_metadata(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edits a file's metadata and re-seals it with a valid checksum, as an
    attacker or a buggy writer could."""
    payload, metadata = split_file(path.read_bytes())
    edit(metadata)
    path.write_bytes(join_file(payload, metadata))


def tree_field(metadata: dict[str, Any], *names: str) -> dict[str, Any]:
    """The recorded structure node of a (nested) module field, e.g.
    ``tree_field(meta, "mlp", "activation")``; edit it in place."""
    node = metadata["tree"]
    for name in names:
        node = next(value for key, value in node["fields"] if key == name)
    return node


def reseal_leaves(payload: bytes, metadata: dict[str, Any]) -> None:
    """Recomputes every leaf checksum, so that edits of the payload get past them."""
    for record in metadata["leaves"]:
        start = record["offset"]
        end = start + record["header"] + record["nbytes"]
        record["checksum"] = xxhash.xxh3_64_hexdigest(payload[start:end])


class RecordingFile(io.BytesIO):
    """An in-memory binary file that records every byte range read from it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read(self, size: int | None = -1) -> bytes:
        start = self.tell()
        out = super().read(size)
        if out:
            self.reads.append((start, start + len(out)))
        return out

    def readinto(self, buffer: Any) -> int:
        start = self.tell()
        n = super().readinto(buffer)
        if n:
            self.reads.append((start, start + n))
        return n

    def bytes_read_within(self, start: int, end: int) -> set[int]:
        """Every offset in [start, end) that some read covered."""
        return {i for lo, hi in self.reads for i in range(max(lo, start), min(hi, end))}


def write_upstream(path: Path, obj: Any) -> None:
    """Writes `obj` as lerax 0.0.x did: the SHA-256 of the text of its treedef,
    then exactly what ``eqx.tree_serialise_leaves`` writes."""
    with open(path, "wb") as f:
        f.write(hashlib.sha256(repr(jax.tree.structure(obj)).encode()).digest())
        eqx.tree_serialise_leaves(f, obj)


def upstream_net(net: Net) -> Any:
    """`net` as an instance of upstream's `Net`: the same fields, but an
    ``eqx.Module`` without lerax's recorded-arguments field (lerax 0.0.x's
    `Serializable` had no fields)."""

    class Net(eqx.Module):  # the same class name: a treedef's text shows it
        mlp: eqx.nn.MLP
        scale: Any
        table: Any
        key: Any
        count: int
        name: str = eqx.field(static=True)

    twin = object.__new__(Net)
    for field in ("mlp", "scale", "table", "key", "count", "name"):
        object.__setattr__(twin, field, getattr(net, field))
    return twin
