"""Every way a file can be wrong gets a SerializationError naming what and where."""

import io
import json
import sys
import tracemalloc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xxhash

from helpers import FOOTER, Net, rewrite_metadata, split_file, tree_field
from lerax.utils import Serializable, SerializationError, load, load_tree, save_tree


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.eqx"
    Net(8, key=jax.random.key(0)).serialize(path)
    return path


def test_error_type():
    assert issubclass(SerializationError, ValueError)


def test_wrong_width_names_leaf_expected_and_found(net_file):
    with pytest.raises(SerializationError) as info:
        Net.deserialize(net_file, 16, key=jax.random.key(0))
    message = str(info.value)
    assert str(net_file) in message
    assert (
        ".mlp.layers[0].weight: expected float32[16, 3], file has float32[8, 3]"
        in message
    )
    assert ".mlp.width_size: expected 16, file has 8" in message


def test_wrong_activation_names_field(net_file):
    with pytest.raises(
        SerializationError,
        match=r"\.mlp\.activation: expected function "
        r"jax\.nn:relu, file has function jax\.nn:tanh",
    ):
        Net.deserialize(net_file, 8, jax.nn.relu, key=jax.random.key(0))


def test_wrong_class(net_file):
    class Other(Serializable):
        pass

    with pytest.raises(SerializationError, match=r"holds a helpers:Net, not a .*Other"):
        Other.deserialize(net_file)
    with pytest.raises(SerializationError, match=r"holds a helpers:Net"):
        Other.deserialize(net_file, 1)


def test_wrong_dtype_and_leaf_count(tmp_path):
    save_tree(tmp_path / "t.eqx", {"a": jnp.ones(3), "b": jnp.ones(2)})
    with pytest.raises(
        SerializationError, match=r"\['a'\]: expected int32\[3\], file has float32\[3\]"
    ):
        load_tree(tmp_path / "t.eqx", {"a": jnp.ones(3, jnp.int32), "b": jnp.ones(2)})
    with pytest.raises(
        SerializationError,
        match=r"stores 2 array leaves, the object has 3; missing from file: \['c'\]",
    ):
        load_tree(
            tmp_path / "t.eqx", {"a": jnp.ones(3), "b": jnp.ones(2), "c": jnp.ones(1)}
        )


def test_python_scalar_kind_mismatch(tmp_path):
    save_tree(tmp_path / "t.eqx", {"a": 1})
    with pytest.raises(
        SerializationError,
        match=r"\['a'\]: expected a Python float, file has a Python int",
    ):
        load_tree(tmp_path / "t.eqx", {"a": 1.0})


def test_typed_key_mismatch(tmp_path):
    save_tree(tmp_path / "t.eqx", {"k": jax.random.key(0)})
    with pytest.raises(
        SerializationError,
        match=r"\['k'\]: expected uint32\[2\], file has a key<fry> key",
    ):
        load_tree(tmp_path / "t.eqx", {"k": jnp.zeros(2, jnp.uint32)})


def test_truncated_files_are_detected(net_file):
    data = net_file.read_bytes()
    payload, _ = split_file(data)
    for cut in (
        1,
        10,
        27,
        28,
        29,
        len(data) - len(payload) + 1,
        len(data) // 2,
        len(payload) - 1,
        len(data) - 100,
    ):
        net_file.write_bytes(data[: len(data) - cut])
        with pytest.raises(
            SerializationError, match=r"truncated|corrupted|does not belong"
        ):
            Net.deserialize(net_file, 8, key=jax.random.key(0))
    net_file.write_bytes(b"")
    with pytest.raises(SerializationError):
        Net.deserialize(net_file, 8, key=jax.random.key(0))


def test_trailing_bytes_are_detected(net_file):
    data = net_file.read_bytes()
    for extra in (b"\0", b"x" * 100):
        net_file.write_bytes(data + extra)
        with pytest.raises(
            SerializationError, match="unexpected bytes after the last leaf"
        ):
            Net.deserialize(net_file, 8, key=jax.random.key(0))
    net_file.write_bytes(data + data[-28:])  # a second footer
    with pytest.raises(SerializationError, match="corrupted"):
        Net.deserialize(net_file)


def test_every_single_byte_corruption_is_detected(tmp_path):
    path = tmp_path / "small.eqx"
    save_tree(path, {"w": jnp.arange(6.0), "n": np.arange(3), "s": 2.0})
    like = {"w": jnp.zeros(6), "n": np.zeros(3, int), "s": 0.0}
    data = path.read_bytes()
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            corrupted = bytearray(data)
            corrupted[i] ^= flip
            with pytest.raises(SerializationError):
                load_tree(io.BytesIO(bytes(corrupted)), like)


def test_checksum_mismatch_names_the_leaf(net_file):
    data = bytearray(net_file.read_bytes())
    _, meta = split_file(bytes(data))
    leaf = next(r for r in meta["leaves"] if r["path"] == ".mlp.layers[1].weight")
    data[leaf["offset"] + leaf["header"] + 5] ^= 0xFF
    net_file.write_bytes(bytes(data))
    with pytest.raises(
        SerializationError,
        match=r"checksum mismatch in leaf \.mlp\.layers\[1\]\.weight",
    ):
        Net.deserialize(net_file)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world\n" * 10, b"PK\x03\x04" + bytes(200), np.arange(50).tobytes()],
)
def test_foreign_files_are_refused(tmp_path, content):
    path = tmp_path / "foreign.eqx"
    path.write_bytes(content)
    with pytest.raises(SerializationError):
        Net.deserialize(path, 8, key=jax.random.key(0))
    with pytest.raises(SerializationError):
        load(path)


def test_foreign_npy_file_is_refused(tmp_path):
    path = tmp_path / "x.eqx"
    with open(path, "wb") as f:
        np.save(f, np.zeros((2, 2)))
    with pytest.raises(
        SerializationError, match=r"expected float32\[8, 3\], file has float64\[2, 2\]"
    ):
        Net.deserialize(path, 8, key=jax.random.key(0))


def test_newer_format_version_is_refused(net_file):
    payload, meta = split_file(net_file.read_bytes())
    blob = json.dumps(meta).encode()
    net_file.write_bytes(
        payload
        + blob
        + FOOTER.pack(len(blob), xxhash.xxh3_64_intdigest(blob), 9, 0, b"LERAXEQX")
    )
    with pytest.raises(SerializationError, match=r"format version 9.*Upgrade lerax"):
        Net.deserialize(net_file)


def test_huge_array_claim_is_refused_without_allocating(tmp_path):
    # A plain-equinox-style file whose .npy header claims 4 TB.
    path = tmp_path / "huge.eqx"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}
    )
    path.write_bytes(header.getvalue() + bytes(64))
    huge_like = {"w": jax.ShapeDtypeStruct((10**12,), jnp.float32)}
    tracemalloc.start()
    try:
        with pytest.raises(SerializationError, match="truncated"):
            load_tree(path, huge_like)  # even a matching skeleton does not allocate
        with pytest.raises(SerializationError, match=r"expected float32\[3\]"):
            load_tree(path, {"w": jnp.zeros(3)})
        # A lerax file whose (re-sealed) metadata claims a huge leaf.
        lerax_path = tmp_path / "lerax.eqx"
        save_tree(lerax_path, {"w": jnp.zeros(3)})
        rewrite_metadata(lerax_path, lambda m: m["leaves"][0].update(shape=[10**12]))
        for like in ({"w": jnp.zeros(3)}, huge_like):
            with pytest.raises(SerializationError):
                load_tree(lerax_path, like)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20


def test_metadata_cannot_smuggle_object_arrays(tmp_path):
    path = tmp_path / "o.eqx"
    save_tree(path, {"w": jnp.zeros(2, jnp.int32)})
    rewrite_metadata(path, lambda m: m["leaves"][0].update(dtype="object"))
    with pytest.raises(SerializationError, match="malformed lerax metadata"):
        load_tree(path, {"w": jnp.zeros(2, jnp.int32)})


def test_unimported_class_is_never_imported(tmp_path, net_file):
    rewrite_metadata(net_file, lambda m: m.update({"class": "antigravity_mod:Thing"}))
    with pytest.raises(SerializationError, match="never imports a module"):
        load(net_file)
    assert "antigravity_mod" not in sys.modules


def test_functions_outside_the_allowlist_are_refused(net_file):
    def use_os_system(meta):
        tree_field(meta, "mlp", "activation")["value"]["name"] = "os:system"

    rewrite_metadata(net_file, use_os_system)
    with pytest.raises(
        SerializationError,
        match=r"\.mlp\.activation.*'os:system' is not allowlisted.*register_function",
    ):
        Net.deserialize(net_file)


def test_only_allowlisted_functions_are_resolved(net_file):
    def use_class(meta):
        tree_field(meta, "mlp", "activation")["value"]["name"] = "jax.numpy:ndarray"

    rewrite_metadata(net_file, use_class)
    with pytest.raises(SerializationError, match="is not allowlisted"):
        Net.deserialize(net_file)


def test_malformed_metadata(net_file):
    for edit in (
        lambda m: m.pop("leaves"),
        lambda m: m.update(leaves="nope"),
        lambda m: m["leaves"][0].update(offset=3),
        lambda m: m["leaves"][0].update(kind="pickle"),
        lambda m: m.update(payload_size=1),
        lambda m: m.update(tree={"node": "mystery"}),
        lambda m: tree_field(m, "mlp").update(fields="nope"),
    ):
        original = net_file.read_bytes()
        rewrite_metadata(net_file, edit)
        with pytest.raises(SerializationError):
            Net.deserialize(net_file)
        net_file.write_bytes(original)


def test_serializing_a_tracer_is_an_error(tmp_path):
    @eqx.filter_jit
    def save_inside(m):
        m.serialize(tmp_path / "x.eqx")
        return m

    with pytest.raises(SerializationError, match="tracer"):
        save_inside(Net(4, key=jax.random.key(0)))
    assert not (tmp_path / "x.eqx").exists()
    assert list(tmp_path.iterdir()) == []


def test_object_leaves_cannot_be_saved(tmp_path):
    with pytest.raises(SerializationError, match=r"leaf \['x'\] cannot be stored"):
        save_tree(tmp_path / "o.eqx", {"x": np.array([object()])})
    assert list(tmp_path.iterdir()) == []


def test_a_field_the_class_no_longer_has(net_file):
    # As if the class lost a field since the file was written.
    rewrite_metadata(
        net_file,
        lambda m: m["tree"]["fields"].append(
            ["dropout", {"node": "static", "value": 0.5}]
        ),
    )
    with pytest.raises(
        SerializationError,
        match=r"cannot rebuild the object: \.dropout: the class helpers:Net has no field 'dropout' \(it changed since the file was written\)",
    ):
        Net.deserialize(net_file)


def test_a_field_the_file_lacks(net_file):
    # As if the class gained a field since the file was written.
    rewrite_metadata(
        net_file,
        lambda m: m["tree"].update(
            fields=[f for f in m["tree"]["fields"] if f[0] != "count"]
        ),
    )
    with pytest.raises(
        SerializationError,
        match=r"the file has no value for the field\(s\) count of helpers:Net",
    ):
        Net.deserialize(net_file)


def test_wrong_explicit_arguments_raise_as_the_constructor_does(net_file):
    with pytest.raises(TypeError, match="dropout"):
        Net.deserialize(net_file, 8, dropout=0.5, key=jax.random.key(0))


def test_static_tuple_mismatch_reads_like_python(tmp_path):
    class Shaped(Serializable):
        shape: tuple[int, ...] = eqx.field(static=True)

        def __init__(self, shape):
            self.shape = tuple(shape)

    Shaped((4,)).serialize(tmp_path / "s.eqx")
    with pytest.raises(
        SerializationError, match=r"\.shape: expected \(6,\), file has \(4,\)"
    ):
        Shaped.deserialize(tmp_path / "s.eqx", (6,))
