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
from lerax.utils import SerializationError, _atomic, _writer, save_tree

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
    # The interrupted temporary file is a hidden sibling, never the target...
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".n.eqx.lerax-")
    # ... and the next save to the same path removes it.
    Net(4, key=jax.random.key(2)).serialize(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.eqx"]


def _leftover(folder: Path, name: str, pid: int, host: str | None = None) -> Path:
    """A temporary file as a save by process `pid` on this host would leave it."""
    host = host if host is not None else _atomic._HOST
    path = folder / f"{_atomic._temp_prefix(name)}lerax-{host}-{pid}-abcd_123.tmp"
    path.write_bytes(b"partial")
    return path


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        check=True,
    )
    return int(child.stdout)


def test_only_stale_leftovers_of_the_same_path_are_removed(tmp_path):
    dead = _dead_pid()
    stale = _leftover(tmp_path, "n.eqx", dead)
    kept = [
        _leftover(tmp_path, "n.eqx", os.getpid()),  # a save in progress here
        _leftover(tmp_path, "n.eqx", 1),  # a live process
        _leftover(tmp_path, "n.eqx", dead, host="000000"),  # another host's
        _leftover(tmp_path, "other.eqx", dead),  # another target's
    ]
    lookalike = tmp_path / ".n.eqx.lerax-not-ours.tmp"
    lookalike.write_bytes(b"user data")
    link = tmp_path / f".n.eqx.lerax-{_atomic._HOST}-{dead}-linkxxxx.tmp"
    link.symlink_to(lookalike)
    Net(4, key=jax.random.key(0)).serialize(tmp_path / "n.eqx")
    assert not stale.exists()
    assert all(p.exists() for p in [*kept, lookalike, link])


def test_saving_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "private.eqx"
    Net(4, key=jax.random.key(0)).serialize(target)
    target.chmod(0o600)
    Net(4, key=jax.random.key(1)).serialize(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    target.chmod(0o640)
    save_tree(target, {"a": np.ones(2)})
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_saving_writes_through_a_symlink(tmp_path):
    real = tmp_path / "store" / "real.eqx"
    Net(4, key=jax.random.key(0)).serialize(real)
    link = tmp_path / "latest.eqx"
    link.symlink_to(real)
    new = Net(4, key=jax.random.key(1))
    new.serialize(link)
    assert link.is_symlink() and link.resolve() == real
    assert_trees_identical(Net.deserialize(real), new)
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.eqx"]


def test_longest_legal_file_name(tmp_path):
    name = "n" * 251 + ".eqx"  # 255 bytes, the limit of one name
    net = Net(4, key=jax.random.key(0))
    net.serialize(tmp_path / name)
    stale = _leftover(tmp_path, name, _dead_pid())
    assert len(stale.name) <= 255
    net.serialize(tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert_trees_identical(Net.deserialize(tmp_path / name), net)


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
