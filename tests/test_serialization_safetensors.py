"""Leaves to safetensors, keyed by leaf path, and back."""

import importlib
import importlib.util
import io
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerax
from helpers import Net, assert_trees_identical
from lerax.utils import (
    MissingExtraError,
    SerializationError,
    load_safetensors,
    save_safetensors,
)

needs_safetensors = pytest.mark.skipif(
    importlib.util.find_spec("safetensors") is None,
    reason="the safetensors extra is not installed: pip install -e '.[safetensors]'",
)


def _tree():
    return {
        "net": Net(8, key=jax.random.key(0)),
        "bf16": jnp.arange(4, dtype=jnp.bfloat16),
        "keys": jax.random.split(jax.random.key(1), 3),
        "flag": np.bool_(True),
        "count": 3,
        "ratio": 0.25,
        "activation": jax.nn.relu,
    }


@needs_safetensors
def test_round_trip_into_a_skeleton(tmp_path):
    tree = _tree()
    path = save_safetensors(tmp_path / "model.safetensors", tree)
    assert path == tmp_path / "model.safetensors"
    like = _tree()
    like["net"] = Net(8, key=jax.random.key(9))
    like["keys"] = jax.random.split(jax.random.key(9), 3)
    assert_trees_identical(load_safetensors(path, like), tree)
    abstract = jax.tree.map(
        lambda x: (
            jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, jax.Array) else x
        ),
        like,
    )
    assert_trees_identical(load_safetensors(path, abstract), tree)


@needs_safetensors
def test_keys_are_leaf_paths_readable_by_safetensors_itself(tmp_path):
    tree = _tree()
    path = save_safetensors(tmp_path / "model", tree)
    assert path == tmp_path / "model"  # as named: no suffix appended
    expected = {
        jax.tree_util.keystr(k): np.asarray(
            jax.random.key_data(v) if k[0].key == "keys" else v
        )
        for k, v in jax.tree_util.tree_flatten_with_path(tree)[0]
        if not callable(v)
    }
    ours = load_safetensors(path)
    assert set(ours) == set(expected)
    for name, value in expected.items():
        assert ours[name].dtype == value.dtype and ours[name].shape == value.shape
        np.testing.assert_array_equal(ours[name], value)
    # safetensors' own reader agrees (its NumPy reader has no bfloat16).
    safetensors = importlib.import_module("safetensors")
    with safetensors.safe_open(str(path), framework="numpy") as f:
        names = f.keys()
        assert set(names) == set(expected)
        assert f.metadata() == {"lerax_version": lerax.__version__}
        for name in names:
            if name != "['bf16']":
                np.testing.assert_array_equal(f.get_tensor(name), expected[name])


@needs_safetensors
def test_file_objects(tmp_path):
    tree = {"w": jnp.ones((2, 3)), "b": np.arange(3)}
    buffer = io.BytesIO()
    assert save_safetensors(buffer, tree) is None
    buffer.seek(0)
    assert_trees_identical(load_safetensors(buffer, tree), tree)


@needs_safetensors
def test_every_mismatch_is_listed(tmp_path):
    path = save_safetensors(tmp_path / "m.safetensors", _tree())
    like = _tree()
    like["net"] = Net(4, key=jax.random.key(0))
    like["count"] = 2.5
    del like["bf16"]
    with pytest.raises(SerializationError) as info:
        load_safetensors(path, like)
    message = str(info.value)
    assert "not in object: ['bf16']" in message
    assert (
        "['net'].mlp.layers[0].weight: expected float32[4, 3], file has float32[8, 3]"
        in message
    )
    assert "['count']: expected a Python float, file has int64[]" in message


@needs_safetensors
@pytest.mark.parametrize(
    "leaf",
    [
        np.array(["a", "b"]),
        np.arange(3, dtype=">i4"),
        np.ones(2, np.complex128),
        jnp.ones(2, jnp.int4),
    ],
    ids=["strings", "big-endian", "complex128", "int4"],
)
def test_dtypes_safetensors_cannot_store_are_named(tmp_path, leaf):
    with pytest.raises(
        SerializationError, match=r"leaf \['x'\] cannot be stored in a safetensors file"
    ):
        save_safetensors(tmp_path / "x.safetensors", {"x": leaf})
    assert not (tmp_path / "x.safetensors").exists()


@needs_safetensors
def test_damaged_files_are_serialization_errors(tmp_path):
    path = save_safetensors(tmp_path / "m.safetensors", _tree())
    data = path.read_bytes()
    for damaged in (data[:-3], data[:7], b"", b"\xff" * 16 + data[16:], data + b"x"):
        path.write_bytes(damaged)
        for read in (
            lambda: load_safetensors(path),
            lambda: load_safetensors(path, _tree()),
        ):
            with pytest.raises(SerializationError):
                read()


@needs_safetensors
def test_placement(tmp_path):
    tree = {"w": jnp.ones((2, 3)), "k": jax.random.key(0)}
    path = save_safetensors(tmp_path / "m.safetensors", tree)
    seen = []
    device = jax.devices()[0]
    out = load_safetensors(path, tree, placement=lambda p, s: seen.append(p) or device)
    assert_trees_identical(out, tree)
    assert sorted(seen) == ["['k']", "['w']"]


def test_without_safetensors_a_missing_extra_error_names_the_extra(
    tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'lerax\[safetensors\]'"):
        save_safetensors(tmp_path / "m.safetensors", {"w": jnp.ones(2)})
    with pytest.raises(ImportError):
        load_safetensors(tmp_path / "m.safetensors")
