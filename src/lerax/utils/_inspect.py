"""Inspecting a file: what it holds, from its metadata alone.

`inspect` reads a lerax file's footer and metadata and never a leaf's bytes; it
resolves no class and no function and imports nothing, so it works on files of
classes that are not importable here, and on hostile files (which raise
`SerializationError`). Files without metadata (plain equinox, lerax 0.0.x) are
described by scanning their .npy headers, seeking over the data.
"""

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, BinaryIO, Final, final

import numpy as np

from ._dtypes import dtype_to_text
from ._encoding import decode_value
from ._errors import SerializationError, cut
from ._files import PathOrFile, opened_for_reading
from ._manifest import LeafRecord, Manifest, file_region, read_manifest
from ._reader import read_npy_header
from ._upstream import FINGERPRINT_SIZE, read_fingerprint

__all__ = ["FileInfo", "LeafInfo", "ModuleInfo", "inspect"]

# Listings of files without metadata, and of modules, stop here: inspecting
# costs at most this many header reads, and memory in proportion.
_MAX_RECORDS: Final = 100_000
_MAX_MODULES: Final = 10_000
_MAX_PATH: Final = 500
_CALL_LIMIT: Final = 300
_SHOWN_ITEMS: Final = 8
_SHOWN_LEAVES: Final = 50


@final
@dataclasses.dataclass(frozen=True)
class LeafInfo:
    """One stored leaf: a .npy record of the payload.

    Attributes:
        path: The leaf's path in the object (``jax.tree_util.keystr``); None in
            files without metadata, whose records are unnamed.
        kind: How the leaf was stored: ``jax``, ``numpy``, ``key``, ``generic``
            (a NumPy scalar), ``bool``, ``int``, ``float`` or ``complex``; ``npy``
            in files without metadata.
        dtype: The stored dtype as the file records it (``float32``, ``<U3``,
            ...); a PRNG key is stored as its ``uint32`` key data.
        shape: The stored shape.
        nbytes: Bytes of data (the .npy header excluded).
        offset: Where the record (its .npy header) starts, in bytes from the
            start of the file.
        header: The length of the .npy header; the data starts at
            ``offset + header``.
        key_dtype: For a PRNG key, its key dtype (``key<fry>``); else None.
        checksum: The XXH3-64 of the record (hex) the metadata records; None
            without metadata.
    """

    path: str | None
    kind: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    offset: int
    header: int
    key_dtype: str | None = None
    checksum: str | None = None


@final
@dataclasses.dataclass(frozen=True)
class ModuleInfo:
    """One module of the recorded structure.

    Attributes:
        path: Its path in the object (``""`` for the object itself).
        class_name: The class the file names (``module:qualname``), whether or
            not it is importable or registered here.
        version: The schema version of the class it was written with.
    """

    path: str
    class_name: str
    version: int


@final
@dataclasses.dataclass(frozen=True)
class FileInfo:
    """What a file holds, read from its metadata (see `inspect`).

    Attributes:
        source: How the file is named in messages (its path).
        format: ``"lerax"`` (metadata and checksums), ``"equinox"`` (a plain
            ``eqx.tree_serialise_leaves`` file) or ``"lerax-0.0"`` (a lerax 0.0.x
            file: a structure fingerprint, then plain equinox data).
        format_version: The lerax format version; None without metadata.
        lerax_version: The lerax version that wrote the file; None if unknown.
        class_name: The recorded class (``module:qualname``); None for
            `save_tree` files and files without metadata.
        args: The recorded constructor arguments, as recorded (JSON data, see
            docs/format.md); None if none were recorded.
        call: A short human rendering of the recorded constructor call, e.g.
            ``MLPActorCriticPolicy(CartPole(...), key=key<fry>[])``; None if
            nothing was recorded.
        leaves: Every stored leaf, in file order.
        modules: The modules of the recorded structure with their classes and
            schema versions, outermost first (at most 10,000).
        fields: The non-stored values (static fields, functions) by path, as
            recorded.
        has_structure: Whether the file records its structure, i.e. loads with
            no constructor arguments.
        fingerprint: The structure fingerprint of a lerax 0.0.x file (hex).
        file_size: Bytes from the start of the file to its end.
        payload_size: Bytes of .npy records.
        metadata_size: Bytes of the metadata and footer.
        truncated: Whether `leaves` or `modules` stop short (files without
            metadata are scanned for at most 100,000 records).
    """

    source: str
    format: str
    format_version: int | None
    lerax_version: str | None
    class_name: str | None
    args: Any
    call: str | None
    leaves: tuple[LeafInfo, ...]
    modules: tuple[ModuleInfo, ...]
    fields: Mapping[str, Any]
    has_structure: bool
    fingerprint: str | None
    file_size: int
    payload_size: int
    metadata_size: int
    truncated: bool = False

    @property
    def data_bytes(self) -> int:
        """Bytes of array data in all leaves (.npy headers excluded)."""
        return sum(leaf.nbytes for leaf in self.leaves)

    def __str__(self) -> str:
        lines = [f"{self.source}: {_FORMATS.get(self.format, self.format)}"]
        if self.format_version is not None:
            lines[0] += f", format version {self.format_version}"
        if self.lerax_version is not None:
            lines[0] += f", written by lerax {cut(self.lerax_version)}"
        if self.class_name is not None:
            version = self.modules[0].version if self.modules else 1
            lines.append(f"class:  {cut(self.class_name)} (version {version})")
        if self.call is not None:
            lines.append(f"call:   {self.call}")
        if self.fingerprint is not None:
            lines.append(f"fingerprint: {self.fingerprint}")
        lines.append(
            f"leaves: {len(self.leaves)}{'+' if self.truncated else ''}, "
            f"{self.data_bytes:,} bytes of data; file {self.file_size:,} bytes "
            f"(metadata {self.metadata_size:,})"
        )
        for leaf in self.leaves[:_SHOWN_LEAVES]:
            dims = ", ".join(map(str, leaf.shape))
            stored = f"{cut(leaf.dtype)}[{dims}]"
            lines.append(
                f"  {cut(leaf.path or '?'):<32} {leaf.kind:<7} {stored:<18} "
                f"{leaf.nbytes:>12,} B at {leaf.offset:,}"
            )
        if len(self.leaves) > _SHOWN_LEAVES:
            lines.append(f"  ... and {len(self.leaves) - _SHOWN_LEAVES} more")
        return "\n".join(lines)


_FORMATS = {
    "lerax": "lerax file",
    "equinox": "plain equinox file (no metadata)",
    "lerax-0.0": "lerax 0.0.x file (structure fingerprint and equinox data)",
}


def inspect(path_or_file: PathOrFile) -> FileInfo:
    """Describes a file from its metadata, without reading any leaf's data.

    ```python
    info = lerax.utils.inspect("policy.eqx")
    info.class_name      # 'lerax.policy:MLPActorCriticPolicy'
    info.call            # 'MLPActorCriticPolicy(CartPole(...), key=key<fry>[])'
    [(leaf.path, leaf.dtype, leaf.shape) for leaf in info.leaves]
    print(info)          # a summary
    ```

    Works on any lerax file, whether or not its class is importable or
    registered: nothing the file names is imported or looked up. Plain equinox
    and lerax 0.0.x files are described by reading their .npy headers only.

    Args:
        path_or_file: A path or a binary file object (read from its current
            position).

    Returns:
        A `FileInfo`.

    Raises:
        FileNotFoundError: if the file does not exist.
        SerializationError: if the file is damaged or is not a lerax or equinox
            file.
    """
    with opened_for_reading(path_or_file) as (f, where):
        start, end = file_region(f)
        manifest = read_manifest(f, where)
        if manifest is not None:
            return _lerax_info(manifest, where, end - start)
        fingerprint = read_fingerprint(f)
        skip = FINGERPRINT_SIZE if fingerprint is not None else 0
        leaves, truncated = _scan(f, start, start + skip, end, where)
        return FileInfo(
            source=where,
            format="equinox" if fingerprint is None else "lerax-0.0",
            format_version=None,
            lerax_version=None,
            class_name=None,
            args=None,
            call=None,
            leaves=tuple(leaves),
            modules=(),
            fields=MappingProxyType({}),
            has_structure=False,
            fingerprint=None if fingerprint is None else fingerprint.hex(),
            file_size=end - start,
            payload_size=end - start - skip,
            metadata_size=0,
            truncated=truncated,
        )


def _lerax_info(manifest: Manifest, where: str, size: int) -> FileInfo:
    modules, truncated = _modules(manifest.tree)
    return FileInfo(
        source=where,
        format="lerax",
        format_version=manifest.format_version,
        lerax_version=manifest.lerax_version,
        class_name=manifest.class_name,
        args=manifest.args,
        call=None if manifest.args is None else _call(manifest),
        leaves=tuple(_leaf_info(rec) for rec in manifest.leaves),
        modules=modules,
        fields=MappingProxyType(manifest.fields),
        has_structure=manifest.tree is not None,
        fingerprint=None,
        file_size=size,
        payload_size=manifest.payload_size,
        metadata_size=size - manifest.payload_size,
        truncated=truncated,
    )


def _leaf_info(rec: LeafRecord) -> LeafInfo:
    return LeafInfo(
        path=rec.path,
        kind=rec.kind,
        dtype=_dtype(rec.dtype),
        shape=rec.shape,
        nbytes=rec.nbytes,
        offset=rec.offset,
        header=rec.header,
        key_dtype=rec.key_dtype,
        checksum=rec.checksum,
    )


def _dtype(dtype: np.dtype) -> str:
    text = dtype_to_text(dtype)
    return text if isinstance(text, str) else str(dtype)


def _scan(
    f: BinaryIO, start: int, pos: int, end: int, where: str
) -> tuple[list[LeafInfo], bool]:
    """The .npy records from `pos` to `end`, reading their headers only; offsets
    count from `start`."""
    leaves: list[LeafInfo] = []
    while pos < end:
        if len(leaves) == _MAX_RECORDS:
            return leaves, True
        f.seek(pos)
        try:
            shape, _, dtype = read_npy_header(f)
        except ValueError as e:
            raise SerializationError(
                f"{where}: no valid .npy record at byte {pos - start} ({e}): this "
                "is not a lerax or equinox file, or it is damaged"
            ) from None
        header = f.tell() - pos
        if any(d < 0 for d in shape):
            raise SerializationError(
                f"{where}: record {len(leaves)} at byte {pos - start} has a "
                "negative dimension: the file is damaged"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > end - pos - header:
            raise SerializationError(
                f"{where}: the file ends inside record {len(leaves)} (it needs "
                f"{nbytes} bytes of data, {end - pos - header} are left): it is "
                "truncated"
            )
        leaves.append(
            LeafInfo(
                path=None,
                kind="npy",
                dtype=_dtype(dtype),
                shape=shape,
                nbytes=nbytes,
                offset=pos - start,
                header=header,
            )
        )
        pos += header + nbytes
    return leaves, False


def _modules(tree: Any) -> tuple[tuple[ModuleInfo, ...], bool]:
    """The module nodes of a recorded structure, outermost first.

    Malformed nodes are skipped: loading reports them, inspecting describes
    what is there.
    """
    found: list[ModuleInfo] = []
    # (node, parent path, label): paths are joined when visited, so the stack
    # holds no copies of long paths.
    stack: list[tuple[Any, str, str]] = [(tree, "", "")]
    while stack:
        node, parent, label = stack.pop()
        if not isinstance(node, dict):
            continue
        path = (
            cut(parent + label)
            if len(parent) + len(label) > _MAX_PATH
            else (parent + label)
        )
        kind = node.get("node")
        children: list[tuple[Any, str, str]] = []
        if kind == "module":
            name, version = node.get("class"), node.get("version", 1)
            if isinstance(name, str) and type(version) is int:
                if len(found) == _MAX_MODULES:
                    return tuple(found), True
                found.append(ModuleInfo(path, cut(name), version))
            for entry in _items(node.get("fields")):
                if isinstance(entry, list) and len(entry) == 2:
                    children.append((entry[1], path, f".{cut(entry[0])}"))
        elif kind in ("list", "tuple"):
            for i, item in enumerate(_items(node.get("items"))):
                children.append((item, path, f"[{i}]"))
        elif kind == "dict":
            keys, values = _items(node.get("keys")), _items(node.get("values"))
            for key, value in zip(keys, values, strict=False):
                children.append((value, path, f"[{_key(key)}]"))
        stack.extend(reversed(children))
    return tuple(found), False


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _key(encoded: Any) -> str:
    try:
        key = decode_value(encoded)
    except (ValueError, TypeError):
        return "?"
    return cut(repr(key)) if isinstance(key, str | int) else "?"


# ------------------------------------------------ the recorded call, for people


def _call(manifest: Manifest) -> str:
    text = _render_call(manifest.class_name, manifest.args, 0)
    return text if len(text) <= _CALL_LIMIT else f"{text[:_CALL_LIMIT]}..."


def _short_name(name: Any) -> str:
    if not isinstance(name, str):
        return "?"
    return cut(name.rpartition(":")[2].rpartition(".")[2] or name)


def _render_call(name: Any, args: Any, depth: int) -> str:
    short = _short_name(name) if name is not None else "tree"
    if depth >= 2:
        return f"{short}(...)"
    if not isinstance(args, dict):
        return f"{short}(?)"
    positional = _items(args.get("args"))
    keywords = args.get("kwargs")
    parts = [_render(a, depth) for a in positional[:_SHOWN_ITEMS]]
    if len(positional) > _SHOWN_ITEMS:
        parts.append("...")
    if isinstance(keywords, dict):
        for i, (k, v) in enumerate(keywords.items()):
            if i == _SHOWN_ITEMS:
                parts.append("...")
                break
            parts.append(f"{cut(k)}={_render(v, depth)}")
    return f"{short}({', '.join(parts)})"


def _render(value: Any, depth: int) -> str:
    """A recorded value, briefly; never raises, whatever the file holds."""
    if value is None or isinstance(value, bool | int | float):
        return cut(repr(value))
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}..."
    if not isinstance(value, dict):
        return "?"
    kind = value.get("type")
    if depth >= 3:
        return "..."
    if kind == "serializable":
        return _render_call(value.get("class"), value.get("args"), depth + 1)
    if kind == "array":
        dtype, shape = value.get("dtype"), value.get("shape")
        dims = ", ".join(cut(repr(d)) for d in _items(shape)[:_SHOWN_ITEMS])
        return f"{cut(dtype) if isinstance(dtype, str) else 'structured'}[{dims}]"
    if kind == "function":
        return cut(value.get("name"))
    if kind in ("list", "tuple"):
        items = _items(value.get("items"))
        inner = [_render(i, depth + 1) for i in items[:_SHOWN_ITEMS]]
        inner += ["..."] if len(items) > _SHOWN_ITEMS else []
        text = ", ".join(inner)
        return f"[{text}]" if kind == "list" else f"({text})"
    if kind == "dict":
        pairs = [
            p
            for p in _items(value.get("items"))[:_SHOWN_ITEMS]
            if isinstance(p, list) and len(p) == 2
        ]
        inner = ", ".join(
            f"{_render(k, depth + 1)}: {_render(v, depth + 1)}" for k, v in pairs
        )
        return f"{{{inner}}}"
    if kind in ("float", "dtype"):
        return cut(value.get("value", value.get("name")))
    if kind == "scalar":
        return f"{cut(value.get('dtype'))}({_render(value.get('value'), depth + 1)})"
    if kind == "complex":
        parts = _items(value.get("value"))
        return f"complex({', '.join(_render(p, depth + 1) for p in parts[:2])})"
    if kind == "unrecordable":
        return f"<{cut(value.get('what'))}>"
    return "?"
