"""Distributed saves: arrays spanning processes through orbax-checkpoint, with
lerax's metadata checked before orbax reads anything."""

import importlib.util
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerax.utils._distributed as distributed
from helpers import Net, assert_trees_identical
from lerax.utils import (
    MissingExtraError,
    SerializationError,
    load_tree_distributed,
    save_tree_distributed,
)

needs_orbax = pytest.mark.skipif(
    importlib.util.find_spec("orbax") is None,
    reason="the orbax extra is not installed: pip install -e '.[orbax]'",
)

TESTS = Path(__file__).resolve().parent


def _tree(seed: int = 0):
    return {
        "net": Net(8, key=jax.random.key(seed)),
        "keys": jax.random.split(jax.random.key(seed + 1), 4),
        "host": np.arange(6.0).reshape(2, 3) + seed,
        "step": 10 + seed,
        "activation": jax.nn.relu,
    }


@pytest.fixture
def saved(tmp_path):
    tree = _tree()
    return save_tree_distributed(tmp_path / "ckpt", tree), tree


@needs_orbax
def test_round_trip_of_every_kind_of_leaf(saved):
    directory, tree = saved
    assert sorted(p.name.split("-")[0] for p in directory.iterdir()) == [
        "arrays",
        "host",
        "lerax.meta",
    ]
    out = load_tree_distributed(directory, _tree(seed=5))
    assert_trees_identical(out, tree)
    # Abstract skeletons work too.
    like = jax.tree.map(
        lambda x: (
            jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, jax.Array) else x
        ),
        _tree(seed=5),
    )
    assert_trees_identical(load_tree_distributed(directory, like), tree)


@needs_orbax
def test_a_new_save_replaces_the_old_and_removes_its_files(saved):
    directory, _ = saved
    old = sorted(p.name for p in directory.iterdir())
    tree = _tree(seed=3)
    save_tree_distributed(directory, tree)
    new = sorted(p.name for p in directory.iterdir())
    assert len(new) == 3 and not set(old) & set(new) - {"lerax.meta"}
    assert_trees_identical(load_tree_distributed(directory, _tree()), tree)


@needs_orbax
def test_a_save_that_fails_before_its_commit_leaves_the_previous(saved, monkeypatch):
    directory, tree = saved

    def crash(path, metadata):
        raise OSError("disk gone")

    monkeypatch.setattr(distributed, "_write_metadata", crash)
    with pytest.raises(OSError, match="disk gone"):
        save_tree_distributed(directory, _tree(seed=7))
    assert len(list(directory.iterdir())) == 5  # the failed save's files stay
    assert_trees_identical(load_tree_distributed(directory, _tree()), tree)
    monkeypatch.undo()
    again = _tree(seed=8)
    save_tree_distributed(directory, again)  # and the next one removes them
    assert len(list(directory.iterdir())) == 3
    assert_trees_identical(load_tree_distributed(directory, _tree()), again)


@needs_orbax
def test_a_tree_without_arrays_or_without_host_leaves(tmp_path):
    only_host = {"a": np.arange(3), "b": 2.5}
    path = save_tree_distributed(tmp_path / "h", only_host)
    assert not any(p.name.startswith("arrays-") for p in path.iterdir())
    assert_trees_identical(load_tree_distributed(path, only_host), only_host)
    only_arrays = {"a": jnp.arange(3.0)}
    path = save_tree_distributed(tmp_path / "a", only_arrays)
    assert not any(p.name.startswith("host-") for p in path.iterdir())
    assert_trees_identical(load_tree_distributed(path, only_arrays), only_arrays)


@needs_orbax
def test_placement(saved):
    directory, tree = saved
    device = jax.devices()[0]
    seen = []
    out = load_tree_distributed(
        directory,
        _tree(),
        placement=lambda path, spec: seen.append(path) or device,
    )
    assert_trees_identical(out, tree)
    assert "['net'].mlp.layers[0].weight" in seen and "['keys']" in seen
    assert "['host']" not in seen  # NumPy stays on the host


@needs_orbax
def test_every_mismatch_is_listed(saved):
    directory, _ = saved
    like = _tree()
    like["net"] = Net(4, key=jax.random.key(0))
    like["activation"] = jax.nn.tanh
    with pytest.raises(SerializationError) as info:
        load_tree_distributed(directory, like)
    message = str(info.value)
    assert (
        "['net'].mlp.layers[0].weight: expected float32[4, 3], file has float32[8, 3]"
        in message
    )
    assert (
        "['activation']: expected function jax.nn:tanh, file has function jax.nn:relu"
        in message
    )


def _data_file(directory: Path) -> Path:
    files = [
        p
        for p in directory.rglob("*")
        if p.is_file() and "/d/" in p.as_posix() and p.stat().st_size > 0
    ]
    assert files
    return max(files, key=lambda p: p.stat().st_size)


@needs_orbax
def test_damage_is_found_before_orbax_reads(saved):
    directory, _ = saved
    target = _data_file(directory)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x10
    target.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="checksum mismatch in arrays-"):
        load_tree_distributed(directory, _tree())
    target.write_bytes(bytes(data[:-1]))
    with pytest.raises(SerializationError, match="the save is truncated or damaged"):
        load_tree_distributed(directory, _tree())


@needs_orbax
def test_missing_unexpected_and_linked_files_are_refused(saved):
    directory, _ = saved
    target = _data_file(directory)
    target.rename(target.with_name("moved"))
    with pytest.raises(
        SerializationError, match=r"missing: arrays-.*unexpected: arrays-.*moved"
    ):
        load_tree_distributed(directory, _tree())
    target.symlink_to(target.with_name("moved"))
    with pytest.raises(SerializationError, match="neither a regular file"):
        load_tree_distributed(directory, _tree())
    target.unlink()
    target.with_name("moved").rename(target)
    load_tree_distributed(directory, _tree())
    # A host file linked to an endless device is refused unread.
    (host,) = directory.glob("host-*.eqx")
    host.unlink()
    host.symlink_to("/dev/zero")
    with pytest.raises(SerializationError, match=r"host-.*neither a regular file"):
        load_tree_distributed(directory, _tree())


@needs_orbax
def test_an_empty_directory_is_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_tree_distributed(tmp_path, {"a": jnp.zeros(2)})


def test_without_orbax_a_missing_extra_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "orbax.checkpoint", None)
    for call in (
        lambda: save_tree_distributed(tmp_path / "x", {"a": jnp.zeros(2)}),
        lambda: load_tree_distributed(tmp_path / "x", {"a": jnp.zeros(2)}),
    ):
        with pytest.raises(
            MissingExtraError, match=r"pip install 'lerax\[orbax\]'"
        ) as info:
            call()
        assert isinstance(info.value, ImportError) and info.value.extra == "orbax"


@needs_orbax
def test_tracers_are_refused(tmp_path):
    @jax.jit
    def save(x):
        save_tree_distributed(tmp_path / "t", {"x": x})
        return x

    with pytest.raises(SerializationError, match=r"leaf \['x'\] is a tracer"):
        save(jnp.zeros(2))


# ------------------------------------------------- several processes

# Each process of a run: 2 fake CPU devices, joined by jax.distributed on
# localhost. `mode` says what the run does with the folder `folder`.
_WORKER = """
import os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax
process, count, port, folder, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
if count > 1:
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=count, process_id=process)
import jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import lerax.utils as lu

devices = jax.devices()
assert len(devices) == 2 * count and len(jax.local_devices()) == 2
mesh = Mesh(np.array(devices), ("x",))
split, replicated = NamedSharding(mesh, P("x")), NamedSharding(mesh, P())
expected = {
    "w": np.arange(32.0, dtype=np.float32).reshape(8, 4),
    "b": np.linspace(0, 1, 8, dtype=np.float32),
    "keys": np.asarray(jax.random.key_data(jax.random.split(jax.random.key(3), 8))),
    "host": np.arange(3),
    "step": 7,
}

def make(x, sharding):
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

def tree(w_sharding, b_sharding):
    return {
        "w": make(expected["w"], w_sharding),
        "b": make(expected["b"], b_sharding),
        "keys": jax.random.wrap_key_data(make(expected["keys"], w_sharding)),
        "host": expected["host"],
        "step": expected["step"],
    }

def abstract(w_sharding, b_sharding):
    like = tree(w_sharding, b_sharding)
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding) if isinstance(x, jax.Array) else x,
        like,
    )

def check(out, local):
    for name in ("w", "b", "keys"):
        x = out[name]
        data = jax.random.key_data(x) if name == "keys" else x
        if local:  # whole, on this process's first device
            assert x.devices() == {jax.local_devices()[0]}, x.devices()
            np.testing.assert_array_equal(np.asarray(data), expected[name])
        for shard in data.addressable_shards:
            np.testing.assert_array_equal(np.asarray(shard.data), expected[name][shard.index])
    assert out["keys"].dtype == jax.random.key(0).dtype
    np.testing.assert_array_equal(out["host"], expected["host"])
    assert out["step"] == expected["step"] and type(out["step"]) is int

if mode == "save":
    written = tree(split, replicated)
    assert not written["w"].is_fully_addressable or count == 1
    lu.save_tree_distributed(os.path.join(folder, "ckpt"), written)
    # The same layout, another one, and whole arrays on each process.
    out = lu.load_tree_distributed(os.path.join(folder, "ckpt"), abstract(split, replicated))
    assert out["w"].sharding == split
    check(out, local=False)
    out = lu.load_tree_distributed(os.path.join(folder, "ckpt"), abstract(replicated, split))
    assert out["w"].sharding == replicated and out["b"].sharding == NamedSharding(mesh, P("x"))
    check(out, local=False)
    like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, jax.Array) else x, written)
    check(lu.load_tree_distributed(os.path.join(folder, "ckpt"), like), local=True)
    # A placement argument applies in every process.
    out = lu.load_tree_distributed(os.path.join(folder, "ckpt"), like, placement=replicated)
    assert out["w"].sharding == replicated
    check(out, local=False)
elif mode == "load":
    like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, jax.Array) else x, tree(split, replicated))
    check(lu.load_tree_distributed(os.path.join(folder, "ckpt"), like), local=True)
    out = lu.load_tree_distributed(os.path.join(folder, "ckpt"), abstract(split, split))
    assert out["w"].sharding == split
    check(out, local=False)
print("ok", process)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(folder: Path, count: int, mode: str) -> None:
    script = folder / "worker.py"
    script.write_text(textwrap.dedent(_WORKER))
    port = str(_free_port())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), str(count), port, str(folder), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(count)
    ]
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=240))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for i, (worker, (out, err)) in enumerate(zip(workers, outputs, strict=True)):
        assert worker.returncode == 0 and out.strip().endswith(f"ok {i}"), (
            f"process {i} of {count} ({mode}):\n{out}\n{err[-5000:]}"
        )


@needs_orbax
def test_two_processes_save_and_one_loads(tmp_path):
    _run(tmp_path, 2, "save")
    _run(tmp_path, 1, "load")


@needs_orbax
def test_one_process_saves_and_two_load(tmp_path):
    _run(tmp_path, 1, "save")
    _run(tmp_path, 2, "load")
