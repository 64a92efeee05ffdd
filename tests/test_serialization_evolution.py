"""Class evolution: files written before a class changed still load, by migration.

Each test writes a file with one version of a class, then defines the next
version under the same name (the registry keeps the newest class of a name), and
loads the file with no arguments.
"""

import dataclasses
import re
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import rewrite_metadata, split_file, tree_field
from lerax.utils import (
    Serializable,
    SerializationError,
    inspect,
    load,
    load_leaves,
    register_class,
    register_migration,
)

CALLS: list[str] = []


def scaler_class(version: int, migrate: bool = True) -> type:
    """The class `Scaler` as it was at `version`, with its migrations.

    1: ``scale`` (4 values), ``legacy``, static ``width``.
    2: ``gain`` (``scale`` reshaped to 2x2), ``bias`` (added, default 0.5),
       ``size`` (``width`` renamed); ``legacy`` removed.
    3: ``bias`` doubled (a change of meaning, not of fields).
    """
    if version == 1:

        class Scaler(Serializable):  # pyright: ignore[reportRedeclaration]
            scale: jax.Array
            legacy: jax.Array
            width: int = eqx.field(static=True)

            def __init__(self, width: int = 4):
                self.scale = jnp.arange(float(width))
                self.legacy = jnp.zeros(2)
                self.width = width

            def __call__(self, x: jax.Array) -> jax.Array:
                return x * self.scale.sum()

        return Scaler

    class Scaler(Serializable):  # versions 2 and 3 have the same fields
        __lerax_version__ = version
        gain: jax.Array
        bias: jax.Array
        size: int = eqx.field(static=True)

        def __init__(self, size: int = 4):
            self.gain = jnp.ones((2, size // 2))
            self.bias = jnp.zeros(2)
            self.size = size

        def __call__(self, x: jax.Array) -> jax.Array:
            return x * self.gain.sum() + self.bias.sum()

    if migrate:

        @register_migration(Scaler, from_version=1)
        def _from_v1(fields: dict[str, Any]) -> dict[str, Any]:
            CALLS.append("v1")
            scale = fields.pop("scale")
            fields["gain"] = scale.reshape(2, scale.shape[0] // 2)  # reshaped
            fields["bias"] = jnp.full(2, 0.5)  # added, with a default
            fields["size"] = fields.pop("width")  # renamed
            del fields["legacy"]  # removed
            return fields

        if version == 3:

            @register_migration(Scaler, from_version=2)
            def _from_v2(fields: dict[str, Any]) -> dict[str, Any]:
                CALLS.append("v2")
                return {**fields, "bias": fields["bias"] * 2}

    return Scaler


class Holder(Serializable):
    """An unversioned class holding a versioned one."""

    inner: Any
    others: list[Any]

    def __init__(self, inner: Any, others: list[Any]):
        self.inner = inner
        self.others = others


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()


@pytest.fixture
def v1_file(tmp_path):
    path = tmp_path / "scaler.eqx"
    scaler_class(1)().serialize(path)
    return path


def test_renamed_added_removed_and_reshaped_fields_migrate(v1_file):
    Scaler = scaler_class(2)
    loaded = Scaler.deserialize(v1_file)
    assert type(loaded) is Scaler
    np.testing.assert_array_equal(loaded.gain, [[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(loaded.bias, [0.5, 0.5])
    assert loaded.size == 4
    assert not hasattr(loaded, "scale") and not hasattr(loaded, "legacy")
    assert float(loaded(jnp.array(1.0))) == 7.0
    assert loaded._lerax_args is not None  # the record of the old call is kept
    assert loaded._lerax_args.encoded == {"args": [], "kwargs": {}}
    assert CALLS == ["v1"]
    assert type(load(v1_file)) is Scaler


def test_migrations_chain_in_order(v1_file, tmp_path):
    Scaler = scaler_class(3)
    loaded = Scaler.deserialize(v1_file)
    np.testing.assert_array_equal(loaded.bias, [1.0, 1.0])
    assert CALLS == ["v1", "v2"]
    CALLS.clear()
    # A file of version 2 takes the last step only.
    scaler_class(2, migrate=False)().serialize(tmp_path / "v2.eqx")
    Scaler = scaler_class(3)
    np.testing.assert_array_equal(Scaler.deserialize(tmp_path / "v2.eqx").bias, [0, 0])
    assert CALLS == ["v2"]


def test_current_files_run_no_migration_and_record_their_version(tmp_path):
    Scaler = scaler_class(2)
    Scaler(size=6).serialize(tmp_path / "v2.eqx")
    loaded = Scaler.deserialize(tmp_path / "v2.eqx")
    assert loaded.gain.shape == (2, 3) and CALLS == []
    meta = inspect(tmp_path / "v2.eqx")
    assert [(m.class_name.rsplit(".", 1)[1], m.version) for m in meta.modules] == [
        ("Scaler", 2)
    ]


def test_unversioned_classes_record_no_version(v1_file):
    tree = split_file(v1_file.read_bytes())[1]["tree"]
    assert "version" not in tree
    assert inspect(v1_file).modules[0].version == 1


def test_nested_and_listed_modules_migrate_inside_current_ones(tmp_path):
    Scaler1 = scaler_class(1)
    Holder(Scaler1(), [Scaler1(2), eqx.nn.Identity()]).serialize(tmp_path / "h.eqx")
    Scaler = scaler_class(2)
    loaded = Holder.deserialize(tmp_path / "h.eqx")
    assert type(loaded.inner) is Scaler and type(loaded.others[0]) is Scaler
    assert loaded.others[0].gain.shape == (2, 1)
    assert isinstance(loaded.others[1], eqx.nn.Identity)
    assert CALLS == ["v1", "v1"]
    # A partial load migrates the part it loads.
    CALLS.clear()
    part = load_leaves(tmp_path / "h.eqx", ".others[0]")
    assert type(part) is Scaler and part.size == 2 and CALLS == ["v1"]


def test_a_versioned_equinox_module_registered_with_register_class(tmp_path):
    def layer_class(version: int) -> type:
        if version == 1:

            @register_class
            class Layer(eqx.Module):  # pyright: ignore[reportRedeclaration]
                w: jax.Array

            return Layer

        @register_class
        class Layer(eqx.Module):
            __lerax_version__ = 2
            weight: jax.Array

        register_migration(Layer, 1)(lambda f: {"weight": f["w"]})
        return Layer

    Holder(layer_class(1)(jnp.ones(3)), []).serialize(tmp_path / "l.eqx")
    Layer = layer_class(2)
    loaded = Holder.deserialize(tmp_path / "l.eqx")
    assert type(loaded.inner) is Layer
    np.testing.assert_array_equal(loaded.inner.weight, jnp.ones(3))


def test_without_a_migration_the_error_names_every_change(v1_file):
    Scaler = scaler_class(2, migrate=False)
    with pytest.raises(SerializationError) as info:
        Scaler.deserialize(v1_file)
    name = "test_serialization_evolution:scaler_class.<locals>.Scaler"
    assert str(info.value) == (
        f"{v1_file}: cannot rebuild the object: .scale: the class {name} has no "
        "field 'scale' (it changed since the file was written)\n"
        f"  .legacy: the class {name} has no field 'legacy' (it changed since the "
        "file was written)\n"
        f"  .width: the class {name} has no field 'width' (it changed since the "
        "file was written)\n"
        f"  the object: the file has no value for the field(s) gain, bias, size of "
        f"{name} (the class changed since the file was written)\n"
        f"  the file records version 1 of {name} and the class is at version 2, but "
        "no migration from version 1 is registered: register one with "
        "@lerax.utils.register_migration(Scaler, from_version=1) (see "
        "docs/serialization.md#class-evolution)"
    )


def test_a_changed_class_without_a_new_version_is_told_to_take_one(v1_file):
    class_name = "test_serialization_evolution:scaler_class.<locals>.Scaler"

    def edit(meta):  # as if the class had lost `legacy` without a new version
        meta["tree"]["fields"].append(["dropout", {"node": "static", "value": 0.5}])

    rewrite_metadata(v1_file, edit)
    scaler_class(1)
    with pytest.raises(
        SerializationError,
        match=re.escape(
            f".dropout: the class {class_name} has no field 'dropout' (it changed "
            "since the file was written)\n  to load files written before a change of "
            f"{class_name}, set its __lerax_version__ to 2 and register a migration "
            "from version 1 with lerax.utils.register_migration (see "
            "docs/serialization.md#class-evolution)"
        ),
    ):
        load(v1_file)


def test_a_field_that_became_static_is_named(tmp_path):
    def thing_class(static: bool) -> type:
        class Thing(Serializable):
            n: int = eqx.field(static=static)

            def __init__(self):
                self.n = 3

        return Thing

    thing_class(False)().serialize(tmp_path / "t.eqx")
    thing_class(True)
    with pytest.raises(
        SerializationError, match=r"\.n: a static field, recorded as a child"
    ):
        load(tmp_path / "t.eqx")


def test_a_file_of_a_newer_version_asks_for_newer_code(tmp_path):
    scaler_class(3)().serialize(tmp_path / "v3.eqx")
    scaler_class(2)
    with pytest.raises(
        SerializationError,
        match=r"the file was written by version 3 of .*Scaler, newer than the version "
        r"defined here \(2\): update the code defining it",
    ):
        load(tmp_path / "v3.eqx")


def test_a_failing_migration_raises_a_serialization_error_with_its_cause(v1_file):
    # E.g. a hostile or older file lacking a field the migration reads.
    Scaler = scaler_class(2, migrate=False)
    register_migration(Scaler, from_version=1)(lambda f: {**f, "gain": f["gone"]})
    with pytest.raises(
        SerializationError,
        match=r"the migration of .*Scaler from version 1 failed \(KeyError: 'gone'\); "
        "the file does not hold what the migration expects",
    ) as info:
        load(v1_file)
    assert isinstance(info.value.__cause__, KeyError)


def test_a_migration_must_return_the_fields_of_the_next_version(v1_file):
    Scaler = scaler_class(2, migrate=False)
    register_migration(Scaler, from_version=1)(lambda f: {"gain": f["scale"], "x": 1})
    with pytest.raises(
        SerializationError,
        match=r"after migrating .*Scaler from version 1 to 2, missing field\(s\) "
        r"bias, size; unknown field\(s\) x: the migrations must return exactly the "
        "fields of version 2",
    ):
        load(v1_file)
    Scaler = scaler_class(2, migrate=False)
    register_migration(Scaler, from_version=1)(lambda f: None)  # pyright: ignore[reportArgumentType]
    with pytest.raises(SerializationError, match="returned a NoneType, not a dict"):
        load(v1_file)


def test_migrations_apply_to_no_argument_loads_only(v1_file):
    """With constructor arguments the caller's class decides the structure, and
    a file of the old fields does not fit it."""
    Scaler = scaler_class(2)
    with pytest.raises(SerializationError, match=r"\.gain: .*not in file|array leaves"):
        Scaler.deserialize(v1_file, 4)
    assert CALLS == []


@pytest.mark.parametrize("version", ["2", True, 0, -1, 2**40, None, 1.0])
def test_hostile_versions_are_refused(v1_file, version):
    rewrite_metadata(v1_file, lambda m: m["tree"].update(version=version))
    scaler_class(2)
    with pytest.raises(SerializationError, match="malformed version"):
        load(v1_file)
    assert CALLS == []


def test_the_file_chooses_a_version_never_a_migration(tmp_path):
    """The migrations run are the loaded class's, from the recorded version on:
    a file naming another class, or claiming a version, runs nothing else."""
    Scaler = scaler_class(3)
    Scaler().serialize(tmp_path / "s.eqx")
    # Claiming version 2 runs exactly the class's migration from 2, on the data.
    rewrite_metadata(tmp_path / "s.eqx", lambda m: m["tree"].update(version=2))
    np.testing.assert_array_equal(Scaler.deserialize(tmp_path / "s.eqx").bias, [0, 0])
    assert CALLS == ["v2"]
    CALLS.clear()
    # An unversioned class named by the file has no migrations: nothing runs.
    holder = tmp_path / "h.eqx"
    Holder(jnp.ones(1), []).serialize(holder)
    rewrite_metadata(holder, lambda m: m["tree"].update(version=1))
    assert type(load(holder)) is Holder and CALLS == []
    rewrite_metadata(holder, lambda m: tree_field(m).update(version=5))
    with pytest.raises(SerializationError, match="newer than the version defined"):
        load(holder)
    assert CALLS == []


@pytest.mark.parametrize("value", [0, -1, "2", 2.0, True, 2**40])
def test_invalid_declared_versions_are_refused(value):
    with pytest.raises(
        TypeError, match=r"__lerax_version__ of .*Bad must be an integer"
    ):

        class Bad(Serializable):
            __lerax_version__ = value
            w: jax.Array


def test_register_migration_checks_its_arguments():
    Scaler = scaler_class(3, migrate=False)
    with pytest.raises(
        ValueError, match=r"from_version must be an integer in \[1, 3\)"
    ):
        register_migration(Scaler, from_version=3)
    with pytest.raises(ValueError, match="from_version must be"):
        register_migration(Scaler, from_version=0)
    with pytest.raises(TypeError, match=r"needs an equinox\.Module subclass"):
        register_migration(dict, from_version=1)
    first = register_migration(Scaler, from_version=1)(lambda f: f)
    assert register_migration(Scaler, from_version=1)(first) is first  # idempotent
    with pytest.raises(ValueError, match="registered already"):
        register_migration(Scaler, from_version=1)(lambda f: f)
    with pytest.raises(TypeError, match="must be a function"):
        register_migration(Scaler, from_version=2)(5)  # type: ignore[arg-type]


def test_versions_are_per_class_not_inherited():
    class Base(Serializable):
        __lerax_version__ = 4
        w: jax.Array

    class Child(Base):
        def __init__(self):
            self.w = jnp.zeros(1)

    from lerax.utils._evolution import class_version

    assert (class_version(Base), class_version(Child)) == (4, 1)
    assert dataclasses.fields(Child)[-1].name == "w"
