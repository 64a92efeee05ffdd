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

Loading without constructor arguments rebuilds the object from this tree the way
``jax.tree_util`` unflattens a pytree on every jit call: each module is created
with ``object.__new__`` and its fields are set directly, so no constructor,
``__init__`` or ``__check_init__`` runs, and the work is proportional to the size
of the metadata. Classes come only from the registry and functions only from the
allowlist of `_trust`.
"""

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.tree_util as jtu
import numpy as np

from ._encoding import RecordedArgs, decode_value, encode_value
from ._errors import cut, quote
from ._leaves import NumpySpec, leaf_kind
from ._manifest import PYTHON_KINDS, LeafRecord, key_type
from ._trust import class_name, lookup_class

__all__ = ["describe_tree", "encode_fields", "rebuild"]

_ARGS_FIELD = "_lerax_args"


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
        if field.name == _ARGS_FIELD:
            node = {
                "node": "args",
                "value": value.encoded if isinstance(value, RecordedArgs) else None,
            }
        elif field.metadata.get("static", False):
            node = {"node": "static", "value": encode_value(value)}
        else:
            node = describe_tree(value)
        described.append([field.name, node])
    return {"node": "module", "class": name, "fields": described}


class _Rebuilder:
    """Rebuilds a skeleton from a recorded tree; stored leaves become specs."""

    def __init__(self, leaves: tuple[LeafRecord, ...]):
        self._leaves = leaves
        self._next = 0

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
        if cls is None:
            raise ValueError(
                f"the class {quote(name)} at {path or 'the root'} is not registered: "
                "lerax never imports a module named in a file, so import the module "
                "defining it first (Serializable subclasses register themselves; "
                "other equinox Modules with lerax.utils.register_class)"
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for entry in _list(node, "fields", path):
            if not (isinstance(entry, list) and len(entry) == 2):
                raise ValueError(f"malformed fields of {name} at {path or 'the root'}")
            field_name, field_node = entry
            field = fields.get(field_name) if isinstance(field_name, str) else None
            where = f"{path}.{field_name}"
            if field is None or field_name in values:
                raise ValueError(
                    f"{where}: the class {name} has no field {quote(field_name)} "
                    "(it changed since the file was written)"
                )
            values[field_name] = self._field(field, field_node, where)
        missing = [f for f in fields if f not in values]
        if missing:
            raise ValueError(
                f"{path or 'the object'}: the file has no value for the field(s) "
                f"{', '.join(missing)} of {name} (the class changed since the file "
                "was written)"
            )
        try:
            module = object.__new__(cls)
        except TypeError as e:  # an abstract class
            raise ValueError(f"cannot create a {name} ({e})") from None
        for field_name, value in values.items():
            object.__setattr__(module, field_name, value)
        return module

    def _field(self, field: dataclasses.Field[Any], node: Any, where: str) -> Any:
        static = field.metadata.get("static", False)
        kind = node.get("node") if isinstance(node, dict) else None
        if field.name == _ARGS_FIELD:
            if kind != "args":
                raise ValueError(f"{where}: malformed recorded arguments")
            value = node.get("value")
            return None if value is None else RecordedArgs(value)
        if static:
            if kind != "static":
                raise ValueError(f"{where}: a static field, recorded as a child")
            try:
                return decode_value(node.get("value"))
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        if kind in ("static", "args"):
            raise ValueError(f"{where}: a child, recorded as a static field")
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


def rebuild(tree: Any, leaves: tuple[LeafRecord, ...]) -> Any:
    """A skeleton from a recorded structure: specs where the stored leaves go.

    Raises:
        ValueError: naming the path of the first node that cannot be rebuilt.
    """
    rebuilder = _Rebuilder(leaves)
    skeleton = rebuilder.node(tree, "")
    rebuilder.finish()
    return skeleton


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
                if field.metadata.get("static", False) and field.name != _ARGS_FIELD:
                    value = getattr(node, field.name, None)
                    out[f"{prefix}.{field.name}"] = encode_value(value)

        def is_module(x: Any) -> bool:
            return x is not node and isinstance(x, eqx.Module)

        for key_path, child in jtu.tree_flatten_with_path(node, is_leaf=is_module)[0]:
            if is_module(child):
                visit(child, prefix + jtu.keystr(key_path))

    visit(tree, "")
    return out
