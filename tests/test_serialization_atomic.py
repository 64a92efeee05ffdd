"""Saving never loses what is on disk: atomic replacement, crash safety."""

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from helpers import Net, assert_trees_identical
from lerax.utils import SerializationError, _writer, save_tree

TESTS = Path(__file__).parent


def test_success_leaves_no_temporary_files(tmp_path):
    net = Net(4, key=jax.random.key(0))
    for _ in range(3):  # replacing an existing file, too
        net.serialize(tmp_path / "n.eqx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.eqx"]


def test_permissions_follow_umask(tmp_path):
    Net(4, key=jax.random.key(0)).serialize(tmp_path / "n.eqx")
    mode = stat.S_IMODE((tmp_path / "n.eqx").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_exception_during_save_keeps_previous_file(tmp_path, monkeypatch, error):
    old = Net(4, key=jax.random.key(0))
    old.serialize(tmp_path / "n.eqx")
    before = (tmp_path / "n.eqx").read_bytes()
    calls = []
    real_write_body = _writer._write_body

    def failing_write_body(f, body):
        calls.append(1)
        if len(calls) == 3:
            raise error
        real_write_body(f, body)

    monkeypatch.setattr(_writer, "_write_body", failing_write_body)
    with pytest.raises(type(error)):
        Net(4, key=jax.random.key(1)).serialize(tmp_path / "n.eqx")
    assert (tmp_path / "n.eqx").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.eqx"]
    assert_trees_identical(Net.deserialize(tmp_path / "n.eqx"), old)


def test_failed_first_save_creates_nothing(tmp_path):
    with pytest.raises(SerializationError):
        save_tree(tmp_path / "new.eqx", {"bad": np.array([object()])})
    assert list(tmp_path.iterdir()) == []


def test_crash_during_save_keeps_previous_file(tmp_path):
    """A process killed mid-write (no cleanup at all) leaves the old file intact."""
    target = tmp_path / "n.eqx"
    Net(4, key=jax.random.key(0)).serialize(target)
    before = target.read_bytes()
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(TESTS)!r})
        import jax
        from helpers import Net
        from lerax.utils import _writer

        real = _writer._write_body
        count = [0]

        def crash(f, body):
            count[0] += 1
            if count[0] == 4:
                f.write(bytes(body)[: body.nbytes // 2])
                f.flush()
                os._exit(17)  # like a kill -9: no finally blocks, no cleanup
            real(f, body)

        _writer._write_body = crash
        Net(64, key=jax.random.key(1)).serialize({str(target)!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == 17, result.stderr.decode()
    assert target.read_bytes() == before
    assert_trees_identical(Net.deserialize(target), Net(4, key=jax.random.key(0)))
    # The interrupted temporary file is a hidden sibling, never the target.
    assert all(p.name.startswith(".n.eqx.") for p in tmp_path.iterdir() if p != target)


def test_sharding_of_skeleton_is_used(tmp_path):
    """Loaded arrays land on the skeleton's sharding (two fake CPU devices)."""
    script = textwrap.dedent(
        f"""
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from lerax.utils import save_tree, load_tree

        devices = jax.devices()
        assert len(devices) == 2, devices
        mesh = Mesh(np.array(devices), ("x",))
        sharded = NamedSharding(mesh, P("x"))
        on_second = jax.sharding.SingleDeviceSharding(devices[1])
        tree = {{"a": jnp.arange(8.0), "b": jnp.ones(3), "c": jnp.zeros(2)}}
        save_tree({str(tmp_path / "s.eqx")!r}, tree)
        like = {{
            "a": jax.ShapeDtypeStruct((8,), jnp.float32, sharding=sharded),
            "b": jax.device_put(jnp.zeros(3), on_second),
            "c": jax.ShapeDtypeStruct((2,), jnp.float32),
        }}
        out = load_tree({str(tmp_path / "s.eqx")!r}, like)
        assert out["a"].sharding == sharded, out["a"].sharding
        assert out["b"].sharding == on_second, out["b"].sharding
        assert out["c"].devices() == {{devices[0]}}
        assert (out["a"] == tree["a"]).all()
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.stdout.decode().strip() == "ok", result.stderr.decode()


def test_fsync_is_called_before_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))
    )
    monkeypatch.setattr(
        os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))
    )
    Net(4, key=jax.random.key(0)).serialize(tmp_path / "n.eqx")
    assert events[:2] == ["fsync", "replace"]
