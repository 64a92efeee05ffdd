"""Asynchronous saves: the caller gets control back once the arrays are copied."""

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import Net, assert_trees_identical
from lerax.utils import (
    SaveHandle,
    SerializationError,
    _async,
    _writer,
    load,
    load_tree,
    save_tree,
    wait_for_saves,
)

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _no_pending_saves():
    yield
    # Every test leaves nothing behind for the next one to wait for.
    wait_for_saves()
    assert not _async._PENDING


@pytest.fixture
def gate(monkeypatch):
    """Holds the background writer before its first leaf until `gate.set()`."""
    event = threading.Event()
    real = _writer._write_body

    def held(f, body):
        assert event.wait(30)
        real(f, body)

    monkeypatch.setattr(_writer, "_write_body", held)
    yield event
    event.set()


def test_an_async_save_writes_the_same_file(tmp_path):
    net = Net(8, key=jax.random.key(0))
    net.serialize(tmp_path / "blocking.eqx")
    handle = net.serialize(tmp_path / "async", blocking=False)
    assert isinstance(handle, SaveHandle)
    assert handle.path == tmp_path / "async.eqx"
    assert handle.wait() == tmp_path / "async.eqx"
    assert handle.done()
    assert (tmp_path / "async.eqx").read_bytes() == (
        tmp_path / "blocking.eqx"
    ).read_bytes()
    assert_trees_identical(load(tmp_path / "async.eqx"), net)


def test_save_tree_can_save_asynchronously(tmp_path):
    tree = {"w": jnp.arange(3.0), "step": 4, "table": np.ones((2, 2))}
    with save_tree(tmp_path / "t.eqx", tree, blocking=False) as handle:
        pass
    assert handle.done()
    assert_trees_identical(load_tree(tmp_path / "t.eqx", tree), tree)


def test_the_caller_may_change_its_arrays_at_once(tmp_path, gate):
    table = np.arange(4.0)
    tree = {"table": table, "items": [np.zeros(2)]}
    handle = save_tree(tmp_path / "t.eqx", tree, blocking=False)
    assert not handle.done()  # the writer is held: nothing is written yet
    table[:] = -1  # the caller mutates its arrays and its containers
    tree["items"].append(np.ones(3))
    tree["extra"] = 5
    gate.set()
    handle.wait()
    loaded = load_tree(tmp_path / "t.eqx", {"table": table, "items": [np.zeros(2)]})
    np.testing.assert_array_equal(loaded["table"], np.arange(4.0))


def test_the_caller_may_donate_its_arrays_at_once(tmp_path, gate):
    weights = jnp.arange(1024.0) + 1  # a fresh buffer of its own
    handle = save_tree(tmp_path / "t.eqx", {"w": weights}, blocking=False)
    step = jax.jit(lambda w: w * 0 - 7, donate_argnums=0)
    for _ in range(3):
        weights = step(weights)  # JAX may reuse the donated buffer...
    gate.set()
    handle.wait()  # ... the file still has the values saved
    loaded = load_tree(tmp_path / "t.eqx", {"w": jnp.zeros(1024)})
    np.testing.assert_array_equal(loaded["w"], np.arange(1024.0) + 1)


def test_an_async_save_is_atomic_and_its_error_surfaces_on_wait(tmp_path, monkeypatch):
    old = Net(4, key=jax.random.key(0))
    old.serialize(tmp_path / "n.eqx")
    before = (tmp_path / "n.eqx").read_bytes()
    real = _writer._write_body
    calls = []

    def failing(f, body):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(f, body)

    monkeypatch.setattr(_writer, "_write_body", failing)
    handle = Net(4, key=jax.random.key(1)).serialize(tmp_path / "n.eqx", blocking=False)
    with pytest.raises(OSError, match="No space left on device"):
        handle.wait()
    assert handle.done()
    assert (tmp_path / "n.eqx").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.eqx"]
    wait_for_saves()  # the error was raised once, by wait(): not again


def test_wait_for_saves_raises_errors_nobody_has_seen(tmp_path, monkeypatch):
    def failing(f, body):
        raise OSError("disk on fire")

    monkeypatch.setattr(_writer, "_write_body", failing)
    first = save_tree(tmp_path / "a.eqx", {"w": jnp.ones(2)}, blocking=False)
    save_tree(tmp_path / "b.eqx", {"w": jnp.ones(2)}, blocking=False)
    with pytest.raises(OSError, match="disk on fire") as info:
        wait_for_saves()
    assert any("b.eqx failed too" in note for note in info.value.__notes__)
    wait_for_saves()  # each error is raised once
    with pytest.raises(OSError, match="disk on fire"):
        first.wait()  # but a handle still reports its own
    assert list(tmp_path.iterdir()) == []


def test_wait_for_saves_waits_for_every_save(tmp_path, gate):
    handles = [
        save_tree(tmp_path / f"{i}.eqx", {"w": jnp.full(3, float(i))}, blocking=False)
        for i in range(4)
    ]
    assert not any(h.done() for h in handles)
    threading.Timer(0.05, gate.set).start()
    wait_for_saves()
    assert all(h.done() for h in handles)
    for i in range(4):
        np.testing.assert_array_equal(
            load_tree(tmp_path / f"{i}.eqx", {"w": jnp.zeros(3)})["w"], [i] * 3
        )


def test_saves_to_one_path_finish_in_order(tmp_path):
    for i in range(10):
        save_tree(tmp_path / "t.eqx", {"i": jnp.array(i)}, blocking=False)
    wait_for_saves()
    assert int(load_tree(tmp_path / "t.eqx", {"i": jnp.array(0)})["i"]) == 9


def test_wait_takes_a_timeout(tmp_path, gate):
    handle = save_tree(tmp_path / "t.eqx", {"w": jnp.ones(2)}, blocking=False)
    with pytest.raises(TimeoutError):
        handle.wait(timeout=0.01)
    assert not handle.done() and "running" in repr(handle)
    gate.set()
    assert handle.wait(timeout=30) == tmp_path / "t.eqx"
    assert "done" in repr(handle)


def test_the_context_manager_keeps_the_blocks_own_exception(tmp_path, monkeypatch):
    monkeypatch.setattr(
        _writer, "_write_body", lambda f, body: (_ for _ in ()).throw(OSError("full"))
    )
    with (
        pytest.raises(KeyError) as info,
        save_tree(tmp_path / "t.eqx", {"w": jnp.ones(2)}, blocking=False),
    ):
        raise KeyError("the block's own")
    assert any("failed too: OSError('full')" in n for n in info.value.__notes__)
    with (
        pytest.raises(OSError, match="full"),
        save_tree(tmp_path / "t.eqx", {"w": jnp.ones(2)}, blocking=False),
    ):
        pass


def test_what_cannot_be_stored_is_refused_before_returning(tmp_path):
    with pytest.raises(SerializationError, match=r"leaf \['x'\] cannot be stored"):
        save_tree(tmp_path / "o.eqx", {"x": np.array([object()])}, blocking=False)

    @jax.jit
    def inside(x):
        save_tree(tmp_path / "t.eqx", {"x": x}, blocking=False)
        return x

    with pytest.raises(SerializationError, match="is a tracer"):
        inside(jnp.ones(2))
    assert list(tmp_path.iterdir()) == []


def test_file_objects_are_written_blocking_only(tmp_path):
    with (
        open(tmp_path / "t.eqx", "wb") as f,
        pytest.raises(ValueError, match="blocking=False needs a path"),
    ):
        save_tree(f, {"w": jnp.ones(2)}, blocking=False)  # pyright: ignore[reportCallIssue, reportArgumentType]


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_interpreter_exit_waits_for_pending_saves(tmp_path):
    target = tmp_path / "n.eqx"
    result = _run(
        f"""
        import sys, time
        sys.path.insert(0, {str(TESTS)!r})
        import jax
        from helpers import Net
        from lerax.utils import _writer

        real = _writer._write_body

        def slow(f, body):
            time.sleep(0.05)  # the main thread is long gone by the end
            real(f, body)

        _writer._write_body = slow
        Net(8, key=jax.random.key(1)).serialize({str(target)!r}, blocking=False)
        print("returned")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "returned\n"
    assert_trees_identical(Net.deserialize(target), Net(8, key=jax.random.key(1)))


def test_a_save_failing_at_exit_is_reported(tmp_path):
    result = _run(
        f"""
        import jax.numpy as jnp
        from lerax.utils import _writer, save_tree

        def failing(f, body):
            raise OSError("disk on fire")

        _writer._write_body = failing
        save_tree({str(tmp_path / "t.eqx")!r}, {{"w": jnp.ones(2)}}, blocking=False)
        """
    )
    assert result.returncode == 0
    assert "an asynchronous lerax save failed: OSError('disk on fire')" in result.stderr
    assert list(tmp_path.iterdir()) == []
