"""Device layouts: files record none, so a file written from arrays sharded over
two devices loads on one and vice versa; readers place what they load by a
`placement` argument, a `placed` block, or the shardings of a `like` tree."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import Net, assert_trees_identical
from lerax.utils import (
    SerializationError,
    load,
    load_leaves,
    load_tree,
    placed,
    save_tree,
)

TESTS = Path(__file__).resolve().parent

# Run in a fresh interpreter with `devices` fake CPU devices; `path` is a folder
# shared by the runs. Net is the helpers' module with every kind of leaf.
_PRELUDE = """
import os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count={devices}"
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from helpers import Net, assert_trees_identical
import lerax.utils as lu

folder = {folder!r}
devices = jax.devices()
assert len(devices) == {devices}, devices
"""

# Written with two devices: a Net whose arrays are sharded or replicated over
# both, by every writer (serialize, save_tree, background saves).
_WRITE_SHARDED = """
mesh = Mesh(np.array(devices), ("x",))
net = Net(8, key=jax.random.key(0))
spread = lambda x: jax.device_put(
    x, NamedSharding(mesh, P("x") if x.ndim and x.shape[0] % 2 == 0 else P())
)
sharded = jax.tree.map(lambda x: spread(x) if isinstance(x, jax.Array) else x, net)
weight = sharded.mlp.layers[0].weight
assert len(weight.sharding.device_set) == 2 and not weight.sharding.is_fully_replicated
sharded.serialize(os.path.join(folder, "net.eqx"))
lu.save_tree(os.path.join(folder, "tree.eqx"), {{"net": sharded, "k": spread(jax.random.split(jax.random.key(1), 4))}})
with sharded.serialize(os.path.join(folder, "async.eqx"), blocking=False):
    pass
# What the other process must find: the same values, as plain host arrays.
np.savez(os.path.join(folder, "expected.npz"), *[np.asarray(x) for x in jax.tree.leaves(net)[:-1] if isinstance(x, jax.Array)])
print("ok")
"""

_READ_ON_ONE = """
expected = np.load(os.path.join(folder, "expected.npz"))
for name in ("net.eqx", "async.eqx"):
    net = lu.load(os.path.join(folder, name))
    arrays = [x for x in jax.tree.leaves(net) if isinstance(x, jax.Array)][:-1]
    for i, x in enumerate(arrays):
        assert x.devices() == {{devices[0]}}, x.devices()
        np.testing.assert_array_equal(np.asarray(x), expected[f"arr_{{i}}"])
like = {{"net": Net(8, key=jax.random.key(5)), "k": jax.random.split(jax.random.key(2), 4)}}
tree = lu.load_tree(os.path.join(folder, "tree.eqx"), like)
assert_trees_identical(tree["net"], lu.load(os.path.join(folder, "net.eqx")))
assert tree["k"].dtype == like["k"].dtype and tree["k"].devices() == {{devices[0]}}
print("ok")
"""

_READ_ON_TWO = """
mesh = Mesh(np.array(devices), ("x",))
replicated = NamedSharding(mesh, P())
split = NamedSharding(mesh, P("x"))
path = os.path.join(folder, "one.eqx")
saved = lu.load(path)

def on(x, sharding):
    return isinstance(x, jax.Array) and x.sharding == sharding

# A sharding for every array.
net = lu.load(path, placement=replicated)
assert_trees_identical(net, saved)
assert on(net.mlp.layers[0].weight, replicated) and on(net.scale, replicated)
assert isinstance(net.table, np.ndarray)  # NumPy stays on the host
# A device.
net = lu.load(path, placement=devices[1])
assert net.mlp.layers[0].weight.devices() == {{devices[1]}}
# A choice per leaf: split what divides, the rest on the default device.
seen = []
def choose(path, spec):
    seen.append((path, spec.shape, spec.dtype))
    return split if spec.ndim and spec.shape[0] % 2 == 0 else None
net = lu.load(path, placement=choose)
assert_trees_identical(net, saved)
assert on(net.mlp.layers[0].weight, split), net.mlp.layers[0].weight.sharding
assert net.scale.devices() == {{devices[0]}}  # a scalar: None, the default
assert (".mlp.layers[0].weight", (8, 3), jnp.float32) in seen
assert all(not p.startswith(".table") for p, _, _ in seen)  # NumPy: not asked
# deserialize, whose keywords are the constructor's: a placed block.
with lu.placed(replicated):
    net = Net.deserialize(path)
    assert on(net.mlp.layers[0].weight, replicated)
    net = Net.deserialize(path, 8, key=jax.random.key(3))
    assert on(net.mlp.layers[0].weight, replicated)
    # The call's own argument wins over the block.
    net = lu.load(path, placement=devices[1])
    assert net.mlp.layers[0].weight.devices() == {{devices[1]}}
    part = Net.deserialize_subtree(path, ".mlp")
    assert on(part.layers[0].weight, replicated)
# Outside the block: the default device again.
assert Net.deserialize(path).mlp.layers[0].weight.devices() == {{devices[0]}}
# Partial loads and load_tree.
part = lu.load_leaves(path, ".mlp.layers[0]", placement=split)
assert on(part.weight, split)
like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=split) if isinstance(x, jax.Array) and x.ndim and x.shape[0] % 2 == 0 else x, saved)
net = lu.load_tree(path, like)
assert on(net.mlp.layers[0].weight, split)
net = lu.load_tree(path, like, placement=replicated)  # the argument wins
assert on(net.mlp.layers[0].weight, replicated)
# Typed keys are placed too.
keys = lu.load_tree(os.path.join(folder, "keys.eqx"), jax.random.split(jax.random.key(0), 4), placement=split)
assert on(keys, split) and keys.dtype == jax.random.key(0).dtype
# A sharding that does not fit an array is a SerializationError naming it.
try:
    lu.load(path, placement=split)
except lu.SerializationError as e:
    assert "cannot be placed" in str(e), e
    assert ".mlp.layers" in str(e) or ".scale" in str(e) or ".count" in str(e), e
else:
    raise AssertionError("a split of odd rows was accepted")
print("ok")
"""


def _run(devices: int, folder: Path, body: str) -> None:
    script = textwrap.dedent(_PRELUDE) + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", script.format(devices=devices, folder=str(folder))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.stdout.strip().endswith("ok"), result.stdout + result.stderr


def test_sharded_over_two_devices_loads_on_one(tmp_path):
    _run(2, tmp_path, _WRITE_SHARDED)
    _run(1, tmp_path, _READ_ON_ONE)


def test_written_on_one_device_loads_sharded_over_two(tmp_path):
    Net(8, key=jax.random.key(0)).serialize(tmp_path / "one.eqx")
    save_tree(tmp_path / "keys.eqx", jax.random.split(jax.random.key(7), 4))
    _run(2, tmp_path, _READ_ON_TWO)


# ------------------------------------------------------- in this process


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.eqx"
    Net(8, key=jax.random.key(0)).serialize(path)
    return path


def test_a_device_or_a_sharding_places_every_array(net_file):
    device = jax.devices()[0]
    saved = load(net_file)
    for placement in (device, jax.sharding.SingleDeviceSharding(device)):
        net = load(net_file, placement=placement)
        assert_trees_identical(net, saved)
        assert isinstance(net, Net)
        weight = net.mlp.layers[0].weight
        assert weight.sharding == jax.sharding.SingleDeviceSharding(device)
        assert isinstance(net.table, np.ndarray)


def test_a_placement_function_sees_paths_and_shapes(net_file):
    seen = {}

    def choose(path, spec):
        seen[path] = (spec.shape, spec.dtype)
        return None

    load_tree(net_file, Net(8, key=jax.random.key(1)), placement=choose)
    assert seen[".mlp.layers[0].weight"] == ((8, 3), jnp.float32)
    assert seen[".scale"] == ((), jnp.float32)
    assert ".table" not in seen  # NumPy arrays stay on the host: not asked
    assert ".count" not in seen  # Python scalars neither


def test_a_key_is_described_as_a_key(tmp_path):
    path = tmp_path / "k.eqx"
    save_tree(path, {"k": jax.random.key(3)})
    seen = []
    out = load_tree(
        path,
        {"k": jax.random.key(0)},
        placement=lambda p, spec: seen.append((p, spec)) or jax.devices()[0],
    )
    assert seen[0][0] == "['k']" and seen[0][1].dtype == jax.random.key(0).dtype
    assert seen[0][1].shape == ()
    assert jax.random.key_data(out["k"]).tolist() == (
        jax.random.key_data(jax.random.key(3)).tolist()
    )


def test_a_failing_placement_function_is_a_serialization_error(net_file):
    def choose(path, spec):
        raise KeyError(path)

    with pytest.raises(SerializationError, match=r"placement function failed") as info:
        load(net_file, placement=choose)
    assert isinstance(info.value.__cause__, KeyError)


def test_bad_placements_are_type_errors(net_file):
    with pytest.raises(TypeError, match="placement must be"):
        load(net_file, placement="cpu:0")  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="placement must be"):
        load_leaves(net_file, ".mlp", placement=3)  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="returned 'cpu'"):
        load(net_file, placement=lambda p, s: "cpu")  # pyright: ignore[reportArgumentType]
    with (
        pytest.raises(TypeError, match="not None"),
        placed(None),  # pyright: ignore[reportArgumentType]
    ):
        pass


def test_placed_blocks_nest_and_end(net_file):
    device = jax.devices()[0]
    calls = []

    def outer(path, spec):
        calls.append("outer")
        return device

    def inner(path, spec):
        calls.append("inner")
        return None

    with placed(outer):
        with placed(inner):
            Net.deserialize(net_file)
        assert set(calls) == {"inner"}
        calls.clear()
        Net.deserialize(net_file)
        assert set(calls) == {"outer"}
    calls.clear()
    Net.deserialize(net_file)
    assert calls == []
