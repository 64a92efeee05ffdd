"""`lerax.utils.inspect`: what a file holds, from its metadata alone."""

import gc
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import Net, RecordingFile, rewrite_metadata, tree_field
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.utils import (
    FileInfo,
    LeafInfo,
    ModuleInfo,
    Serializable,
    SerializationError,
    _inspect as inspect_module,
    inspect,
    save_tree,
)


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.eqx"
    Net(8, key=jax.random.key(0)).serialize(path)
    return path


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "policy.eqx"
    MLPActorCriticPolicy(CartPole(), key=jax.random.key(0)).serialize(path)
    return path


def test_a_policy_file_is_described_from_its_metadata(policy_file):
    info = inspect(policy_file)
    assert isinstance(info, FileInfo)
    assert info.source == str(policy_file)
    assert info.format == "lerax"
    assert info.format_version == 1
    assert info.lerax_version == "0.1.0"
    assert info.class_name == "lerax.policy:MLPActorCriticPolicy"
    assert info.call == "MLPActorCriticPolicy(CartPole(), key=key<fry>[])"
    assert info.args["kwargs"]["key"] == {
        "type": "array",
        "kind": "key",
        "shape": [],
        "dtype": "key<fry>",
        "impl": "threefry2x32",
    }
    assert info.has_structure
    assert info.modules[0] == ModuleInfo("", "lerax.policy:MLPActorCriticPolicy", 1)
    assert ModuleInfo(".actor", "equinox.nn:MLP", 1) in info.modules
    assert ModuleInfo(".actor.layers[0]", "equinox.nn:Linear", 1) in info.modules
    assert info.fields[".actor.width_size"] == 64
    weight = next(
        leaf for leaf in info.leaves if leaf.path == ".actor.layers[0].weight"
    )
    assert (weight.kind, weight.dtype, weight.shape) == ("jax", "float32", (64, 4))
    assert weight.nbytes == 64 * 4 * 4
    assert weight.checksum is not None and len(weight.checksum) == 16
    # Offsets and sizes say where the bytes are: the .npy data is there.
    data = policy_file.read_bytes()
    start = weight.offset + weight.header
    assert data[weight.offset : weight.offset + 6] == b"\x93NUMPY"
    stored = np.frombuffer(data[start : start + weight.nbytes], np.float32)
    policy = MLPActorCriticPolicy.deserialize(policy_file)
    np.testing.assert_array_equal(
        stored.reshape(64, 4), np.asarray(policy.actor.layers[0].weight)
    )
    # Totals.
    assert info.file_size == len(data)
    assert info.payload_size + info.metadata_size == info.file_size
    assert info.data_bytes == sum(leaf.nbytes for leaf in info.leaves)
    assert info.payload_size == sum(leaf.header + leaf.nbytes for leaf in info.leaves)


def test_inspect_reads_no_leaf_byte(policy_file):
    data = policy_file.read_bytes()
    f = RecordingFile(data)
    info = inspect(f)
    assert info.source == "<file object>"
    assert f.reads, "the metadata was read"
    assert f.bytes_read_within(0, info.payload_size) == set()


def test_plain_equinox_files_are_scanned_header_by_header(tmp_path):
    net = Net(8, key=jax.random.key(0))
    path = tmp_path / "plain.eqx"
    eqx.tree_serialise_leaves(path, net)
    data = path.read_bytes()
    f = RecordingFile(data)
    info = inspect(f)
    assert info.format == "equinox"
    assert (info.class_name, info.call, info.format_version) == (None, None, None)
    assert not info.has_structure and info.modules == ()
    arrays = [x for x in jax.tree.leaves(net) if not callable(x)]  # no functions
    assert len(info.leaves) == len(arrays)
    for leaf, array in zip(info.leaves, arrays, strict=True):
        assert leaf.path is None and leaf.kind == "npy"
        assert leaf.shape == np.shape(array)
        assert leaf.dtype == np.asarray(array).dtype.name
    last = info.leaves[-1]
    assert last.offset + last.header + last.nbytes == len(data)
    # Only headers were read, and the last 28 bytes, where a lerax footer would be.
    footer = len(data) - 28
    for leaf in info.leaves:
        start = leaf.offset + leaf.header
        assert f.bytes_read_within(start, min(start + leaf.nbytes, footer)) == set()


def test_a_file_object_is_inspected_from_its_position(policy_file):
    f = RecordingFile(b"junk" + policy_file.read_bytes())
    f.seek(4)
    info, expected = inspect(f), inspect(policy_file)
    assert info.leaves == expected.leaves  # offsets count from the position
    assert (info.class_name, info.file_size) == (
        expected.class_name,
        expected.file_size,
    )
    assert f.bytes_read_within(4, 4 + info.payload_size) == set()


def test_save_tree_files_record_no_class_and_no_call(tmp_path):
    path = tmp_path / "t.eqx"
    save_tree(path, {"w": jnp.ones((2, 3)), "step": 3, "name": "x"})
    info = inspect(path)
    assert info.class_name is None and info.call is None and info.args is None
    assert not info.has_structure
    assert [(leaf.path, leaf.kind, leaf.shape) for leaf in info.leaves] == [
        ("['step']", "int", ()),
        ("['w']", "jax", (2, 3)),
    ]
    assert info.fields == {"['name']": "x"}


def test_unimportable_classes_and_functions_are_described_not_resolved(net_file):
    rewrite_metadata(net_file, _rename_everything)
    modules = set(sys.modules)
    info = inspect(net_file)
    assert set(sys.modules) == modules
    assert info.class_name == "nowhere.to.be:Found"
    assert info.modules[0].class_name == "nowhere.to.be:Found"
    assert ModuleInfo(".mlp", "os:system", 1) in info.modules
    assert info.fields[".mlp.activation"] == {"type": "function", "name": "os:system"}
    with pytest.raises(SerializationError):
        Net.deserialize(net_file)


def _rename_everything(meta):
    meta["class"] = "nowhere.to.be:Found"
    meta["tree"]["class"] = "nowhere.to.be:Found"
    tree_field(meta, "mlp")["class"] = "os:system"
    tree_field(meta, "mlp", "activation")["value"]["name"] = "os:system"
    meta["fields"][".mlp.activation"]["name"] = "os:system"


def test_a_class_that_no_longer_exists_is_described(tmp_path):
    def write() -> None:
        class Gone(Serializable):
            w: jax.Array

            def __init__(self):
                self.w = jnp.zeros(3)

        Gone().serialize(tmp_path / "gone.eqx")

    write()
    gc.collect()  # the registry holds classes weakly: Gone is gone
    info = inspect(tmp_path / "gone.eqx")
    assert info.class_name is not None
    assert info.class_name.endswith("write.<locals>.Gone")
    assert info.call == "Gone()"
    assert [leaf.path for leaf in info.leaves] == [".w"]


def test_schema_versions_are_listed(tmp_path):
    class Versioned(Serializable):
        __lerax_version__ = 3
        inner: eqx.nn.Linear

        def __init__(self):
            self.inner = eqx.nn.Linear(2, 2, key=jax.random.key(0))

    Versioned().serialize(tmp_path / "v.eqx")
    info = inspect(tmp_path / "v.eqx")
    assert [(m.path, m.version) for m in info.modules] == [("", 3), (".inner", 1)]
    assert "(version 3)" in str(info)


def test_the_summary_names_the_class_the_call_and_the_leaves(policy_file):
    text = str(inspect(policy_file))
    assert text.startswith(f"{policy_file}: lerax file, format version 1")
    assert "class:  lerax.policy:MLPActorCriticPolicy (version 1)" in text
    assert "call:   MLPActorCriticPolicy(CartPole(), key=key<fry>[])" in text
    assert ".actor.layers[0].weight" in text and "float32[64, 4]" in text


def test_recorded_arguments_are_rendered_briefly(net_file):
    def edit(meta):
        meta["args"] = {
            "args": [
                8,
                {"type": "function", "name": "jax.nn:relu"},
                {"type": "list", "items": list(range(100))},
                {
                    "type": "serializable",
                    "class": "a.b:Inner",
                    "args": {
                        "args": [
                            {"type": "serializable", "class": "a:Deeper", "args": {}}
                        ],
                        "kwargs": {},
                    },
                },
            ],
            "kwargs": {
                "name": "x" * 10_000,
                "dtype": {"type": "dtype", "name": "float32", "form": "jax"},
                "weird": {"type": "nope"},
                "bad": [[[]]],
            },
        }

    rewrite_metadata(net_file, edit)
    call = inspect(net_file).call
    assert call is not None and len(call) <= 303
    assert call.startswith(
        "Net(8, jax.nn:relu, [0, 1, 2, 3, 4, 5, 6, 7, ...], Inner(Deeper(...)), "
        "name='xxxx"
    )


@pytest.mark.parametrize(
    "args",
    [None, 5, "x", [], {"args": 5, "kwargs": []}, {"args": [{"type": None}]}],
)
def test_malformed_recorded_arguments_render_without_raising(net_file, args):
    rewrite_metadata(net_file, lambda m: m.update(args=args))
    info = inspect(net_file)
    assert info.args == args
    assert info.call is None if args is None else isinstance(info.call, str)


@pytest.mark.parametrize(
    "data",
    [b"hello, this is not a model", b"\x93NUMPY\x01\x00garbage", bytes(100)],
)
def test_foreign_files_raise_serialization_errors(tmp_path, data):
    path = tmp_path / "f.eqx"
    path.write_bytes(data)
    with pytest.raises(SerializationError, match="not a lerax or equinox file"):
        inspect(path)


def test_truncated_and_damaged_files_raise_serialization_errors(tmp_path, net_file):
    plain = tmp_path / "plain.eqx"
    eqx.tree_serialise_leaves(plain, Net(8, key=jax.random.key(0)))
    plain.write_bytes(plain.read_bytes()[:-3])
    with pytest.raises(SerializationError, match=r"ends inside record 9 .*truncated"):
        inspect(plain)
    net_file.write_bytes(net_file.read_bytes()[:-40])
    with pytest.raises(SerializationError):
        inspect(net_file)


def test_an_empty_file_is_an_empty_equinox_file(tmp_path):
    (tmp_path / "e.eqx").write_bytes(b"")
    info = inspect(tmp_path / "e.eqx")
    assert (info.format, info.leaves, info.file_size) == ("equinox", (), 0)


def test_missing_files_raise_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        inspect(tmp_path / "missing.eqx")


def test_scanning_stops_after_a_bounded_number_of_records(tmp_path, monkeypatch):
    path = tmp_path / "many.eqx"
    eqx.tree_serialise_leaves(path, [jnp.zeros(1)] * 20)
    monkeypatch.setattr(inspect_module, "_MAX_RECORDS", 5)
    info = inspect(path)
    assert info.truncated and len(info.leaves) == 5
    assert str(info).splitlines()[1].startswith("leaves: 5+,")


def test_leaf_info_is_a_frozen_record():
    leaf = LeafInfo(".w", "jax", "float32", (2,), 8, 0, 128)
    with pytest.raises(AttributeError):
        leaf.path = ".v"  # type: ignore[misc]


def test_odd_structure_nodes_are_skipped(net_file):
    # Loading refuses such a structure; inspect describes what it can.
    def edit(meta):
        meta["tree"]["fields"].append(
            [
                "odd",
                {
                    "node": "dict",
                    "keys": [{"type": "x"}, 1],
                    "values": [
                        None,
                        {"node": "module", "class": "a:B", "version": 7, "fields": []},
                    ],
                },
            ]
        )
        meta["tree"]["fields"].append(
            ["bad", {"node": "module", "class": 5, "fields": 3}]
        )

    rewrite_metadata(net_file, edit)
    info = inspect(net_file)
    assert ModuleInfo(".odd[1]", "a:B", 7) in info.modules
    assert all(m.path != ".bad" for m in info.modules)
