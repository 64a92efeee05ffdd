"""Class evolution: schema versions of registered classes and user migrations.

A registered class declares its schema version with a class attribute,
``__lerax_version__ = 2`` (absent means 1), and registers one migration per
version step with `register_migration`. Files record the version of every module
node of their structure (``"version"``, absent for 1). Loading a node recorded at
an older version rebuilds it as an `Outdated` node (a pytree whose children have
the recorded field names, so that every stored leaf keeps its recorded path),
loads the leaves into it, then runs the class's migrations bottom-up on plain
dictionaries of field values and creates the current class from the result.

A file only supplies the version number: which code runs is decided by the class
(found in the registry) and the migrations its author registered for it, in
order. A file can neither name a migration nor skip one.
"""

import dataclasses
import threading
import weakref
from collections.abc import Callable
from typing import Any, Final, TypeVar, final

import equinox as eqx
import jax.tree_util as jtu

from ._errors import SerializationError, cut

__all__ = [
    "ARGS_FIELD",
    "EVOLUTION_DOCS",
    "Outdated",
    "check_version_attribute",
    "class_version",
    "migration_gap",
    "outdated",
    "register_migration",
    "upgrade",
]

ARGS_FIELD: Final = "_lerax_args"
EVOLUTION_DOCS: Final = "docs/serialization.md#class-evolution"
_VERSION_ATTRIBUTE: Final = "__lerax_version__"
_MAX_VERSION: Final = 2**31

Migration = Callable[[dict[str, Any]], dict[str, Any]]
_M = TypeVar("_M", bound=Migration)

# Migrations by class (weakly, as the class registry) and by the version they
# migrate from; each turns the fields of version v into those of version v + 1.
_MIGRATIONS: "weakref.WeakKeyDictionary[type, dict[int, Migration]]" = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def _valid_version(value: Any) -> bool:
    return type(value) is int and 1 <= value < _MAX_VERSION


def check_version_attribute(cls: type) -> None:
    """Raises TypeError if `cls` declares a schema version that is not valid.

    Raises:
        TypeError: if ``__lerax_version__`` is not an integer in [1, 2**31).
    """
    value = vars(cls).get(_VERSION_ATTRIBUTE, 1)
    if not _valid_version(value):
        raise TypeError(
            f"{_VERSION_ATTRIBUTE} of {cls.__qualname__} must be an integer in "
            f"[1, 2**31), got {value!r}"
        )


def class_version(cls: type) -> int:
    """The schema version `cls` declares (``__lerax_version__``), 1 by default.

    Versions are per class: a subclass does not inherit its parent's.
    """
    value = vars(cls).get(_VERSION_ATTRIBUTE, 1)
    return value if _valid_version(value) else 1


def register_migration(cls: type, from_version: int) -> Callable[[_M], _M]:
    """Registers how to load fields written at `from_version` of `cls`.

    The migration receives the fields recorded at `from_version` as a
    dictionary (field name to loaded value: arrays, static values and child
    modules, already migrated themselves) and returns the fields of version
    ``from_version + 1``: rename, add (with a default), remove or reshape them.
    Files written at older versions then load without arguments, through every
    migration from their version to the class's ``__lerax_version__``, in order.
    Usable as a decorator:

    ```python
    class Scaler(Serializable):
        __lerax_version__ = 2
        gain: jax.Array   # version 1 called it "scale" and had no "bias"
        bias: jax.Array
        ...

    @register_migration(Scaler, from_version=1)
    def _scaler_v1(fields):
        fields["gain"] = fields.pop("scale")
        fields["bias"] = jnp.zeros_like(fields["gain"])
        return fields
    ```

    A migration is your code, run on data from the file: only the version
    number comes from the file, and it selects among the migrations registered
    here for the class. The constructor is not run on the result.

    Args:
        cls: A registered class (a `Serializable` subclass, or an Equinox module
            registered with `register_class`) declaring ``__lerax_version__``.
        from_version: The version the migration reads, from 1 to the class's
            version minus one.

    Returns:
        A decorator registering a function ``fields -> fields`` and returning
        it unchanged.

    Raises:
        TypeError: if `cls` is not an Equinox module class.
        ValueError: if `from_version` is not below the class's version, or
            another migration is registered for it.
    """
    if not (isinstance(cls, type) and issubclass(cls, eqx.Module)):
        raise TypeError(
            f"register_migration needs an equinox.Module subclass, got {cls!r}"
        )
    current = class_version(cls)
    if not (type(from_version) is int and 1 <= from_version < current):
        raise ValueError(
            f"from_version must be an integer in [1, {current}) for "
            f"{cls.__qualname__} (its {_VERSION_ATTRIBUTE} is {current}), got "
            f"{from_version!r}"
        )

    def register(fn: _M) -> _M:
        if not callable(fn):
            raise TypeError(f"a migration must be a function, got {fn!r}")
        with _LOCK:
            table = _MIGRATIONS.setdefault(cls, {})
            existing = table.get(from_version)
            if existing is not None and existing is not fn:
                raise ValueError(
                    f"a migration from version {from_version} of "
                    f"{cls.__qualname__} is registered already"
                )
            table[from_version] = fn
        return fn

    return register


def migration_gap(cls: type, version: int) -> int | None:
    """The first version from `version` on lacking a migration; None if every
    step up to the class's version has one."""
    table = _MIGRATIONS.get(cls, {})
    for v in range(version, class_version(cls)):
        if v not in table:
            return v
    return None


@final
@dataclasses.dataclass(frozen=True, eq=False)
class _Layout:
    """The non-child parts of an outdated node (its pytree aux data)."""

    cls: type
    name: str  # as the file names the class
    version: int
    children: tuple[str, ...]
    statics: dict[str, Any]
    args: Any  # the recorded constructor arguments, or None


@final
class Outdated:
    """A module recorded at an older version of its class, before migration.

    A pytree whose children are the recorded non-static fields, keyed by their
    recorded names, so stored leaves keep the paths the file records.
    """

    __slots__ = ("layout", "values")

    def __init__(self, layout: _Layout, values: tuple[Any, ...]):
        self.layout = layout
        self.values = values


def _flatten_with_keys(node: Outdated) -> tuple[Any, _Layout]:
    keys = [jtu.GetAttrKey(name) for name in node.layout.children]
    return list(zip(keys, node.values, strict=True)), node.layout


def _flatten(node: Outdated) -> tuple[Any, _Layout]:
    return node.values, node.layout


def _unflatten(layout: _Layout, values: Any) -> Outdated:
    return Outdated(layout, tuple(values))


jtu.register_pytree_with_keys(Outdated, _flatten_with_keys, _unflatten, _flatten)


def outdated(
    cls: type,
    name: str,
    version: int,
    fields: list[tuple[str, str, Any]],
) -> Outdated:
    """An outdated node from its recorded fields, ``(name, kind, value)`` with
    kind ``"child"``, ``"static"`` or ``"args"``."""
    children = tuple(f for f, kind, _ in fields if kind == "child")
    values = tuple(v for _, kind, v in fields if kind == "child")
    statics = {f: v for f, kind, v in fields if kind == "static"}
    args = next((v for _, kind, v in fields if kind == "args"), None)
    return Outdated(_Layout(cls, name, version, children, statics, args), values)


def upgrade(tree: Any, where: str) -> Any:
    """Migrates every `Outdated` node of a loaded tree, innermost first.

    Raises:
        SerializationError: if a migration fails or returns fields that the
            class does not have.
    """

    def fix(node: Any) -> Any:
        if not isinstance(node, Outdated):
            return node
        layout = node.layout
        values = [upgrade(v, where) for v in node.values]
        fields = dict(zip(layout.children, values, strict=True))
        fields.update(layout.statics)
        return _migrate(layout, fields, where)

    return jtu.tree_map(fix, tree, is_leaf=lambda x: isinstance(x, Outdated))


def _migrate(layout: _Layout, fields: dict[str, Any], where: str) -> Any:
    cls, current = layout.cls, class_version(layout.cls)
    table = _MIGRATIONS.get(cls, {})
    for version in range(layout.version, current):
        fn = table[version]  # the rebuild checked that every step exists
        try:
            result = fn(fields)
        except Exception as e:
            raise SerializationError(
                f"{where}: the migration of {cut(layout.name)} from version "
                f"{version} failed ({type(e).__name__}: {cut(str(e))}); the file "
                f"does not hold what the migration expects"
            ) from e
        if not isinstance(result, dict):
            raise SerializationError(
                f"{where}: the migration of {cut(layout.name)} from version "
                f"{version} returned a {type(result).__name__}, not a dict of fields"
            )
        fields = result
    wanted = [f.name for f in dataclasses.fields(cls) if f.name != ARGS_FIELD]
    missing = [f for f in wanted if f not in fields]
    unknown = [str(f) for f in fields if f not in wanted]
    if missing or unknown:
        raise SerializationError(
            f"{where}: after migrating {cut(layout.name)} from version "
            f"{layout.version} to {current}, "
            + "; ".join(
                part
                for part in (
                    f"missing field(s) {', '.join(missing)}" if missing else "",
                    f"unknown field(s) {cut(', '.join(unknown))}" if unknown else "",
                )
                if part
            )
            + f": the migrations must return exactly the fields of version {current}"
        )
    try:
        module = object.__new__(cls)
    except TypeError as e:  # an abstract class
        raise SerializationError(
            f"{where}: cannot create a {cut(layout.name)} ({e})"
        ) from None
    for name in wanted:
        object.__setattr__(module, name, fields[name])
    if any(f.name == ARGS_FIELD for f in dataclasses.fields(cls)):
        object.__setattr__(module, ARGS_FIELD, layout.args)
    return module
