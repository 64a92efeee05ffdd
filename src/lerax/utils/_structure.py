"""The recorded structure of an object, and rebuilding it without running code.

A file records its object as a tree of nodes (``"tree"`` in the metadata)::

    null                                       None
    {"node": "list" | "tuple", "items": [...]}
    {"node": "dict", "keys": [...], "values": [...]}   keys encoded as values
    {"node": "module", "class": "mod:Qual", "fields": [[name, node], ...]}
    {"node": "static", "value": ...}           a static field's encoded value
    {"node": "args", "value": ...}             a Serializable's recorded arguments
    {"node": "leaf"}                           the next stored (.npy) leaf
    {"node": "value", "value": ...}            a leaf that is not stored (a function)
    {"node": "unrecordable", "what": "..."}    something a file cannot describe

A module node may add ``"version": N``, the schema version of its class when it
is not 1 (see `_evolution`); older versions are migrated after loading.

Loading without constructor arguments rebuilds the object from this tree the way
``jax.tree_util`` unflattens a pytree on every jit call: each module is created
with ``object.__new__`` and its fields are set directly, so no constructor,
``__init__`` or ``__check_init__`` runs, and the work is proportional to the size
of the metadata. Classes come only from the registry and functions only from the
allowlist of `_trust`.
"""

import dataclasses
import inspect
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import jax.tree_util as jtu
import numpy as np

from ._encoding import RecordedArgs, decode_value, encode_value
from ._errors import cut, quote
from ._evolution import (
    ARGS_FIELD,
    EVOLUTION_DOCS,
    Outdated,
    class_version,
    migration_gap,
    outdated,
)
from ._leaves import NumpySpec, leaf_kind
from ._manifest import PYTHON_KINDS, LeafRecord, key_type
from ._trust import class_name, lookup_class

__all__ = ["describe_tree", "encode_fields", "rebuild"]

_MAX_VERSION = 2**31
_MAX_CHANGES = 20


def describe_tree(tree: Any) -> Any:
    """The structure of `tree` as JSON-able nodes (see the module docstring)."""
    if tree is None:
        return None
    kind = type(tree)
    if kind in (list, tuple):
        return {"node": kind.__name__, "items": [describe_tree(x) for x in tree]}
    if kind is dict:
        try:
            keys = sorted(tree)  # the order jax.tree_util flattens a dict in
        except TypeError:
            return _unrecordable("a dict with unsortable keys")
        return {
            "node": "dict",
            "keys": [encode_value(k) for k in keys],
            "values": [describe_tree(tree[k]) for k in keys],
        }
    if isinstance(tree, eqx.Module):
        return _describe_module(tree)
    if jtu.treedef_is_leaf(jtu.tree_structure(tree)):
        if leaf_kind(tree) is not None:
            return {"node": "leaf"}
        return {"node": "value", "value": encode_value(tree)}
    return _unrecordable(f"a {kind.__module__}.{kind.__qualname__} pytree node")


def _unrecordable(what: str) -> dict[str, Any]:
    return {"node": "unrecordable", "what": what}


def _describe_module(module: eqx.Module) -> dict[str, Any]:
    cls = type(module)
    name = class_name(cls)
    if lookup_class(name) is not cls:
        return _unrecordable(
            f"{name}, an equinox Module not registered with lerax.utils.register_class"
        )
    fields = dataclasses.fields(module)
    present = vars(module)
    if set(present) - {f.name for f in fields}:  # e.g. equinox's function wrappers
        return _unrecordable(f"{name} with attributes beyond its fields")
    described = []
    for field in fields:
        if field.name not in present:
            continue
        value = present[field.name]
        if field.name == ARGS_FIELD:
            node = {
                "node": "args",
                "value": value.encoded if isinstance(value, RecordedArgs) else None,
            }
        elif field.metadata.get("static", False):
            node = {"node": "static", "value": encode_value(value)}
        else:
            node = describe_tree(value)
        described.append([field.name, node])
    version = class_version(cls)
    if (
        version != 1
    ):  # absent means 1, so files of unversioned classes stay as they were
        return {
            "node": "module",
            "class": name,
            "version": version,
            "fields": described,
        }
    return {"node": "module", "class": name, "fields": described}


def _changed(cls: type, name: str, version: int, changes: list[str]) -> str:
    """Why a recorded module does not fit its class, and how to migrate it."""
    current = class_version(cls)
    gap = migration_gap(cls, version) if version < current else None
    if gap is not None:
        how = (
            f"the file records version {version} of {name} and the class is at "
            f"version {current}, but no migration from version {gap} is "
            f"registered: register one with @lerax.utils.register_migration("
            f"{cls.__name__}, from_version={gap}) (see {EVOLUTION_DOCS})"
        )
    else:
        how = (
            f"to load files written before a change of {name}, set its "
            f"__lerax_version__ to {current + 1} and register a migration from "
            f"version {current} with lerax.utils.register_migration (see "
            f"{EVOLUTION_DOCS})"
        )
    shown = changes[:_MAX_CHANGES]
    more = len(changes) - len(shown)
    lines = [*shown, *([f"... and {more} more"] if more else []), how]
    return "\n  ".join(lines)


class _Rebuilder:
    """Rebuilds a skeleton from a recorded tree; stored leaves become specs."""

    def __init__(self, leaves: tuple[LeafRecord, ...]):
        self._leaves = leaves
        self._next = 0
        self.outdated = False  # whether a module of an older version was met

    def node(self, node: Any, path: str) -> Any:
        if node is None:
            return None
        if not isinstance(node, dict):
            raise ValueError(f"malformed structure at {path or 'the root'}")
        kind = node.get("node")
        if kind in ("list", "tuple"):
            items = _list(node, "items", path)
            built = [self.node(x, f"{path}[{i}]") for i, x in enumerate(items)]
            return built if kind == "list" else tuple(built)
        if kind == "dict":
            keys = [decode_value(k) for k in _list(node, "keys", path)]
            values = _list(node, "values", path)
            if len(keys) != len(values):
                raise ValueError(f"malformed dict at {path or 'the root'}")
            try:
                out = {
                    k: self.node(v, f"{path}[{quote(k)}]")
                    for k, v in zip(keys, values, strict=True)
                }
            except TypeError:
                raise ValueError(
                    f"unhashable dict key at {path or 'the root'}"
                ) from None
            if len(out) != len(keys):
                raise ValueError(f"repeated dict key at {path or 'the root'}")
            try:
                sorted(out)  # jax.tree_util sorts dict keys when it flattens
            except TypeError:
                raise ValueError(
                    f"unsortable dict keys at {path or 'the root'}"
                ) from None
            return out
        if kind == "module":
            return self._module(node, path)
        if kind == "leaf":
            return self._leaf(path)
        if kind == "value":
            try:
                return decode_value(node.get("value"))
            except ValueError as e:
                raise ValueError(f"{path or 'the object'}: {e}") from None
        if kind == "unrecordable":
            raise ValueError(
                f"{path or 'the object'} held {cut(node.get('what'))}, which "
                "a file cannot describe; pass the constructor arguments explicitly"
            )
        raise ValueError(
            f"unknown structure node {quote(kind)} at {path or 'the root'}"
        )

    def _module(self, node: dict[str, Any], path: str) -> Any:
        name = node.get("class")
        cls = lookup_class(name) if isinstance(name, str) else None
        if cls is None or not isinstance(name, str):
            raise ValueError(
                f"the class {quote(name)} at {path or 'the root'} is not registered: "
                "lerax never imports a module named in a file, so import the module "
                "defining it first (Serializable subclasses register themselves; "
                "other equinox Modules with lerax.utils.register_class)"
            )
        version = node.get("version", 1)
        if not (type(version) is int and 1 <= version < _MAX_VERSION):
            raise ValueError(
                f"malformed version {quote(version)} of {name} at {path or 'the root'}"
            )
        current = class_version(cls)
        if version > current:
            raise ValueError(
                f"the file was written by version {version} of {name}"
                f"{f' (at {path})' if path else ''}, newer than the version defined "
                f"here ({current}): update the code defining it"
            )
        entries = _list(node, "fields", path)
        if version < current and migration_gap(cls, version) is None:
            self.outdated = True
            return self._outdated(cls, name, version, entries, path)
        return self._current(cls, name, version, entries, path)

    def _entries(
        self, name: str, entries: list[Any], path: str
    ) -> Iterator[tuple[str, Any, str]]:
        """``(field name, node, where)`` of each recorded field, each name once."""
        seen: set[str] = set()
        for entry in entries:
            if not (
                isinstance(entry, list)
                and len(entry) == 2
                and isinstance(entry[0], str)
            ):
                raise ValueError(f"malformed fields of {name} at {path or 'the root'}")
            field_name, field_node = entry
            where = f"{path}.{cut(field_name)}"
            if field_name in seen:
                raise ValueError(f"{where}: recorded twice")
            seen.add(field_name)
            yield field_name, field_node, where

    def _current(
        self, cls: type, name: str, version: int, entries: list[Any], path: str
    ) -> Any:
        """A node of the class's own version: its fields must be the class's."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        changes: list[str] = []
        recorded: set[str] = set()
        for field_name, field_node, where in self._entries(name, entries, path):
            recorded.add(field_name)
            field = fields.get(field_name)
            kind = field_node.get("node") if isinstance(field_node, dict) else None
            static = field is not None and field.metadata.get("static", False)
            if field is None:
                changes.append(
                    f"{where}: the class {name} has no field {quote(field_name)} "
                    "(it changed since the file was written)"
                )
            elif field_name == ARGS_FIELD:
                values[field_name] = self._field(field, field_node, where)
            elif static and kind != "static":
                changes.append(f"{where}: a static field, recorded as a child")
            elif not static and kind in ("static", "args"):
                changes.append(f"{where}: a child, recorded as a static field")
            else:
                values[field_name] = self._field(field, field_node, where)
        missing = [f for f in fields if f not in recorded]
        if missing:
            changes.append(
                f"{path or 'the object'}: the file has no value for the field(s) "
                f"{', '.join(missing)} of {name} (the class changed since the file "
                "was written)"
            )
        if changes or version != class_version(cls):
            raise ValueError(_changed(cls, name, version, changes))
        try:
            module = object.__new__(cls)
        except TypeError as e:  # an abstract class
            raise ValueError(f"cannot create a {name} ({e})") from None
        for field_name, value in values.items():
            object.__setattr__(module, field_name, value)
        return module

    def _outdated(
        self, cls: type, name: str, version: int, entries: list[Any], path: str
    ) -> Outdated:
        """A node of an older version, rebuilt as recorded; migrated once loaded."""
        if inspect.isabstract(cls):
            raise ValueError(f"cannot create a {name} (an abstract class)")
        fields: list[tuple[str, str, Any]] = []
        for field_name, field_node, where in self._entries(name, entries, path):
            kind = field_node.get("node") if isinstance(field_node, dict) else None
            if (kind == "args") != (field_name == ARGS_FIELD):
                raise ValueError(f"{where}: malformed recorded arguments")
            if kind == "args":
                value = field_node.get("value")
                args = None if value is None else RecordedArgs(value)
                fields.append((field_name, "args", args))
            elif kind == "static":
                try:
                    value = decode_value(field_node.get("value"))
                except ValueError as e:
                    raise ValueError(f"{where}: {e}") from None
                fields.append((field_name, "static", value))
            else:
                fields.append((field_name, "child", self.node(field_node, where)))
        return outdated(cls, name, version, fields)

    def _field(self, field: dataclasses.Field[Any], node: Any, where: str) -> Any:
        kind = node.get("node") if isinstance(node, dict) else None
        if field.name == ARGS_FIELD:
            if kind != "args":
                raise ValueError(f"{where}: malformed recorded arguments")
            value = node.get("value")
            return None if value is None else RecordedArgs(value)
        if field.metadata.get("static", False):
            try:
                return decode_value(node.get("value"))
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        return self.node(node, where)

    def _leaf(self, path: str) -> Any:
        if self._next >= len(self._leaves):
            raise ValueError(
                f"{path}: more stored leaves in the structure than in the file"
            )
        rec = self._leaves[self._next]
        self._next += 1
        if rec.kind == "jax":
            return jax.ShapeDtypeStruct(rec.shape, rec.dtype)
        if rec.kind == "key":
            assert rec.impl is not None
            return jax.ShapeDtypeStruct(rec.key_shape, key_type(rec.impl)[0])
        if rec.kind == "numpy":
            return NumpySpec(rec.shape, rec.dtype)
        if rec.kind == "generic":  # one element: no larger than the file
            return np.zeros((), rec.dtype)[()]
        return PYTHON_KINDS[rec.kind][0]()

    def finish(self) -> None:
        if self._next != len(self._leaves):
            raise ValueError(
                "the structure names fewer stored leaves than the file has"
            )


def _list(node: dict[str, Any], key: str, path: str) -> list[Any]:
    value = node.get(key)
    if not isinstance(value, list):
        raise ValueError(f"malformed structure at {path or 'the root'}")
    return value


def rebuild(
    tree: Any, leaves: tuple[LeafRecord, ...], path: str = ""
) -> tuple[Any, bool]:
    """A skeleton from a recorded structure: specs where the stored leaves go.

    `tree` is the structure of the object, or of its part at `path` (whose
    stored leaves are then `leaves`); messages name nodes by their full path.

    Returns:
        The skeleton, and whether it holds `Outdated` nodes (modules recorded at
        an older version of their class) to migrate once the leaves are loaded
        (`lerax.utils._evolution.upgrade`).

    Raises:
        ValueError: naming the path of the first node that cannot be rebuilt,
            or every field of a module that changed since the file was written.
    """
    rebuilder = _Rebuilder(leaves)
    skeleton = rebuilder.node(tree, path)
    rebuilder.finish()
    return skeleton, rebuilder.outdated


def encode_fields(tree: Any) -> dict[str, Any]:
    """The non-stored parts of `tree` by path: leaves that are not stored (e.g.
    functions) and the static fields of every equinox Module, encoded."""
    out: dict[str, Any] = {}
    for key_path, leaf in jtu.tree_flatten_with_path(tree)[0]:
        if leaf_kind(leaf) is None and not isinstance(
            leaf, jax.ShapeDtypeStruct | NumpySpec
        ):
            out[jtu.keystr(key_path)] = encode_value(leaf)

    def visit(node: Any, prefix: str) -> None:
        if isinstance(node, eqx.Module):
            for field in dataclasses.fields(node):
                if field.metadata.get("static", False) and field.name != ARGS_FIELD:
                    value = getattr(node, field.name, None)
                    out[f"{prefix}.{field.name}"] = encode_value(value)
        elif isinstance(node, Outdated):
            for name, value in node.layout.statics.items():
                out[f"{prefix}.{name}"] = encode_value(value)

        def is_module(x: Any) -> bool:
            return x is not node and isinstance(x, eqx.Module | Outdated)

        for key_path, child in jtu.tree_flatten_with_path(node, is_leaf=is_module)[0]:
            if is_module(child):
                visit(child, prefix + jtu.keystr(key_path))

    visit(tree, "")
    return out
