"""Partial loads: one part of a file's object, reading only that part's bytes.

A part is named by its path as ``jax.tree_util.keystr`` writes it (``.actor``,
``.actor.layers[0].weight``, ``['state'].policy``). The leaves of a part are
contiguous in the payload (they are the leaves of a subtree, in flattening order),
so loading it reads the metadata, seeks to the part's first record and reads its
records only.
"""

import ast
import dataclasses
import re
from typing import Any, BinaryIO, TypeVar, overload

import equinox as eqx

from ._encoding import decode_value
from ._errors import SerializationError, cut
from ._evolution import upgrade
from ._files import PathOrFile, opened_for_reading
from ._manifest import Manifest, read_manifest
from ._placement import Placement, check_placement
from ._reader import read_leaves
from ._structure import rebuild

__all__ = [
    "Key",
    "load_leaves",
    "navigate",
    "no_index",
    "parse_prefix",
    "read_part",
    "render",
]

T = TypeVar("T")

# A path component: an attribute (a module's field) or an item (an index or key).
Key = tuple[str, Any]

_COMPONENT = re.compile(
    r"""\.([A-Za-z_][A-Za-z_0-9]*)"""
    r"""|\[(-?[0-9]+)\]"""
    r"""|\[('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]"""
)


def parse_prefix(prefix: str) -> tuple[Key, ...]:
    """The components of a path such as ``.actor.layers[0]`` or ``['state'].policy``.

    Raises:
        ValueError: if `prefix` is not such a path.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string, got {prefix!r}")
    components: list[Key] = []
    pos = 0
    while pos < len(prefix):
        match = _COMPONENT.match(prefix, pos)
        if match is None:
            raise ValueError(
                "prefix must be a path as jax.tree_util.keystr writes it, e.g. "
                f'".actor.layers[0]" or "[\'state\'].policy", got {prefix!r}'
            )
        attribute, index, text = match.groups()
        if attribute is not None:
            components.append(("attr", attribute))
        elif index is not None:
            components.append(("item", int(index)))
        else:
            components.append(("item", ast.literal_eval(text)))
        pos = match.end()
    return tuple(components)


def render(components: tuple[Key, ...]) -> str:
    """The path as ``jax.tree_util.keystr`` writes it, as files record paths."""
    return "".join(
        f".{value}" if kind == "attr" else f"[{value!r}]" for kind, value in components
    )


def _under(path: str, key: str) -> bool:
    return not key or path == key or (path.startswith(key) and path[len(key)] in ".[")


def _find_node(tree: Any, components: tuple[Key, ...], where: str) -> Any:
    """The recorded structure node at `components`.

    Raises:
        SerializationError: naming the first component the file does not have.
    """
    node = tree
    for i, (kind, value) in enumerate(components):
        found = _child_node(node, kind, value)
        if found is None:
            raise SerializationError(
                f"{where}: the recorded object has nothing at "
                f"{cut(render(components[: i + 1]))}"
            )
        node = found[0]
    return node


def _child_node(node: Any, kind: str, value: Any) -> tuple[Any] | None:
    if not isinstance(node, dict):
        return None
    node_kind = node.get("node")
    if kind == "attr" and node_kind == "module":
        for entry in _list(node.get("fields")):
            if isinstance(entry, list) and len(entry) == 2 and entry[0] == value:
                return (entry[1],)
    elif kind == "item" and node_kind in ("list", "tuple") and type(value) is int:
        items = _list(node.get("items"))
        if 0 <= value < len(items):
            return (items[value],)
    elif kind == "item" and node_kind == "dict":
        keys, values = _list(node.get("keys")), _list(node.get("values"))
        for key, child in zip(keys, values, strict=False):
            try:
                decoded = decode_value(key)
            except ValueError:
                continue
            if type(decoded) is type(value) and decoded == value:
                return (child,)
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def navigate(obj: Any, components: tuple[Key, ...], what: str) -> Any:
    """The part of `obj` (a skeleton the caller built) at `components`.

    Raises:
        ValueError: if `obj` has nothing there.
    """
    for i, (kind, value) in enumerate(components):
        if kind == "attr":  # a module's field, or a namedtuple's
            if isinstance(obj, eqx.Module):
                names = {f.name for f in dataclasses.fields(obj)}
            elif isinstance(obj, tuple):
                names = set(getattr(type(obj), "_fields", ()))
            else:
                names = set()
            found = value in names
            obj = getattr(obj, value) if found else None
        else:
            found = (
                isinstance(obj, list | tuple)
                and type(value) is int
                and 0 <= value < len(obj)
            ) or (isinstance(obj, dict) and value in obj)
            obj = obj[value] if found else None
        if not found:
            raise ValueError(
                f"prefix {render(components)!r} names nothing in {what}: it has no "
                f"{render(components[: i + 1])}"
            )
    return obj


def read_part(
    f: BinaryIO,
    manifest: Manifest,
    where: str,
    components: tuple[Key, ...],
    like: Any = None,
    placement: Placement | None = None,
) -> Any:
    """Loads the part of a lerax file at `components`, reading only its leaves.

    `f` is positioned at the start of the file. Without `like`, the part is
    rebuilt from the recorded structure (and migrated if it is of an older
    version); with it, `like` is its skeleton.
    """
    key = render(components)
    leaves = tuple(rec for rec in manifest.leaves if _under(rec.path, key))
    fields = {p: v for p, v in manifest.fields.items() if _under(p, key)}
    has_tree = manifest.tree is not None
    node = _find_node(manifest.tree, components, where) if has_tree else None
    outdated = False
    if like is not None:
        skeleton = like
        if not has_tree and key and not leaves and not fields:
            raise SerializationError(f"{where}: the file stores nothing at {cut(key)}")
    elif not has_tree:
        raise SerializationError(
            f"{where}: the file records no structure (written by save_tree or an "
            "older lerax), so pass like=, a skeleton of the part to load"
        )
    elif isinstance(node, dict) and node.get("node") == "static":
        try:
            return decode_value(node.get("value"))  # a static field: no bytes
        except ValueError as e:
            raise SerializationError(f"{where}: {cut(key)}: {e}") from None
    else:
        try:
            skeleton, outdated = rebuild(node, leaves, key)
        except ValueError as e:
            raise SerializationError(
                f"{where}: cannot rebuild the object: {e}"
            ) from None
    if leaves:
        f.seek(f.tell() + leaves[0].offset)
    part = dataclasses.replace(manifest, leaves=leaves, fields=fields, tree=None)
    loaded = read_leaves(f, part, skeleton, where, key, placement)
    return upgrade(loaded, where) if outdated else loaded


@overload
def load_leaves(
    path_or_file: PathOrFile,
    prefix: str = "",
    *,
    like: T,
    placement: Placement | None = None,
) -> T: ...


@overload
def load_leaves(
    path_or_file: PathOrFile,
    prefix: str = "",
    *,
    like: None = None,
    placement: Placement | None = None,
) -> Any: ...


def load_leaves(
    path_or_file: PathOrFile,
    prefix: str = "",
    *,
    like: Any = None,
    placement: Placement | None = None,
) -> Any:
    """Loads one part of a saved object, reading only that part's bytes.

    ```python
    actor = lerax.utils.load_leaves("policy.eqx", ".actor")  # an eqx.nn.MLP
    policy = lerax.utils.load_leaves(
        "checkpoint.eqx", "['state'].policy", like=skeleton.policy
    )
    ```

    Args:
        path_or_file: A lerax file (a path or a binary file object).
        prefix: The part's path as ``jax.tree_util.keystr`` writes it, e.g.
            ``".actor"``, ``".actor.layers[0].weight"`` or ``"['state'].policy"``
            (double quotes work too); ``""`` loads the whole object.
        like: A skeleton of the part (real arrays or ``jax.ShapeDtypeStruct``),
            which decides its structure as in `load_tree`. Without it, the part
            is rebuilt from the structure the file records (files written by
            ``Serializable.serialize``), as a no-argument load does.
        placement: Where the loaded JAX arrays go, as for `load_tree` (see
            `placed`).

    Returns:
        The part, with every stored leaf read from the file and checked against
        its checksum. Bytes of other leaves are never read.

    Raises:
        FileNotFoundError: if the file does not exist.
        SerializationError: if the file is damaged, has no part at `prefix`,
            is a plain equinox or lerax 0.0.x file (they have no index of their
            leaves: load them whole), or the part does not fit `like`.
        ValueError: if `prefix` is not a path.
        TypeError: if `placement` is not a device, a sharding or a function.
    """
    components = parse_prefix(prefix)
    check_placement(placement)
    with opened_for_reading(path_or_file) as (f, where):
        manifest = read_manifest(f, where)
        if manifest is None:
            raise no_index(where)
        return read_part(f, manifest, where, components, like, placement)


def no_index(where: str) -> SerializationError:
    """The error for a partial load of a file without metadata."""
    return SerializationError(
        f"{where}: the file has no lerax metadata (a plain equinox or lerax 0.0.x "
        "file), so it has no index to read a part from: load it whole with "
        "load_tree(path, like) or Cls.deserialize(path, *args)"
    )
