"""Tests for checkpointing and resuming training."""

import subprocess
import sys
import textwrap
import time

import equinox as eqx
import jax
import numpy as np
import pytest

from lerax.algorithm import PPO
from lerax.algorithm._checkpoint import load_checkpoint
from lerax.env import CartPole
from lerax.policy import GRUActorCriticPolicy, MLPActorCriticPolicy
from lerax.utils import SerializationError

# The configuration of test_algorithm_learn.py, so the compiled code is shared.
SMALL = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2)
TOTAL = 64 * 10


def _assert_bit_identical(a, b):
    leaves_a = jax.tree.leaves(eqx.filter(a, eqx.is_array))
    leaves_b = jax.tree.leaves(eqx.filter(b, eqx.is_array))
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), strict=True)


def _stop_after(timesteps):
    return lambda done, _: done >= timesteps


@pytest.mark.parametrize("policy_class", [MLPActorCriticPolicy, GRUActorCriticPolicy])
def test_resumed_run_is_bit_identical(tmp_path, policy_class):
    env = CartPole()
    policy = policy_class(env, key=jax.random.key(0))
    path = tmp_path / "run.ckpt"
    full, full_history = SMALL.learn_with_history(
        env, policy, TOTAL, key=jax.random.key(1), checkpoint_every=3
    )
    # Interrupted after 6 of 10 iterations, right after the checkpoint.
    SMALL.learn(
        env,
        policy,
        TOTAL,
        key=jax.random.key(1),
        checkpoint_path=path,
        checkpoint_every=3,
        callback=_stop_after(64 * 6),
    )
    assert path.exists()
    resumed, history = SMALL.learn_with_history(
        env,
        policy,
        TOTAL,
        key=jax.random.key(123),  # ignored: the checkpoint's key stream goes on
        checkpoint_path=path,
        checkpoint_every=3,
        resume_from=path,
    )
    _assert_bit_identical(full, resumed)
    assert len(history) == len(full_history) == 10
    np.testing.assert_array_equal(history.timesteps, full_history.timesteps)
    np.testing.assert_array_equal(history.episode_return, full_history.episode_return)
    for name, row in full_history.metrics.items():
        np.testing.assert_array_equal(history.metrics[name], row)
    # The checkpoint now holds the finished run: resuming returns it as is.
    again = SMALL.learn(env, policy, TOTAL, key=jax.random.key(0), resume_from=path)
    _assert_bit_identical(full, again)


def test_checkpoint_does_not_change_result(tmp_path):
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    plain = SMALL.learn(env, policy, TOTAL, key=jax.random.key(1), checkpoint_every=3)
    saved = SMALL.learn(
        env,
        policy,
        TOTAL,
        key=jax.random.key(1),
        checkpoint_every=3,
        checkpoint_path=tmp_path / "c.eqx",
    )
    _assert_bit_identical(plain, saved)
    # Without checkpoint_every the checkpoint is written once, at the end.
    SMALL.learn(
        env, policy, TOTAL, key=jax.random.key(1), checkpoint_path=tmp_path / "end"
    )
    assert (tmp_path / "end.eqx").exists()


def test_resume_rejects_another_run(tmp_path):
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    path = tmp_path / "run.eqx"
    SMALL.learn(
        env,
        policy,
        TOTAL,
        key=jax.random.key(1),
        checkpoint_path=path,
        checkpoint_every=3,
        callback=_stop_after(64 * 3),
    )
    other = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2, ent_coef=0.1)
    with pytest.raises(ValueError, match=r"ent_coef: saved 0\.0, now 0\.1"):
        other.learn(env, policy, TOTAL, key=jax.random.key(1), resume_from=path)
    with pytest.raises(SerializationError, match=r"float32\[11\]") as info:
        SMALL.learn(env, policy, TOTAL + 64, key=jax.random.key(1), resume_from=path)
    assert "same total_timesteps" in "".join(info.value.__notes__)
    narrow = MLPActorCriticPolicy(env, key=jax.random.key(0), width=32)
    with pytest.raises(SerializationError):
        SMALL.learn(env, narrow, TOTAL, key=jax.random.key(1), resume_from=path)
    with pytest.raises(FileNotFoundError):
        SMALL.learn(
            env, policy, TOTAL, key=jax.random.key(1), resume_from=tmp_path / "nope"
        )


_SCRIPT = textwrap.dedent(
    """
    import os
    import sys

    import jax

    from lerax.algorithm import PPO
    from lerax.env import CartPole
    from lerax.policy import MLPActorCriticPolicy

    mode, checkpoint, output = sys.argv[1:]
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    ppo = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2)


    def die(timesteps, _):
        if timesteps >= 64 * 6:
            os._exit(3)  # killed, perhaps while the checkpoint is being written


    options = dict(checkpoint_path=checkpoint, checkpoint_every=3)
    if mode == "crash":
        ppo.learn(env, policy, 640, key=jax.random.key(1), callback=die, **options)
    else:
        trained = ppo.learn(
            env, policy, 640, key=jax.random.key(1), resume_from=checkpoint, **options
        )
        trained.serialize(output)
    """
)


def test_resume_in_a_new_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    checkpoint, output = tmp_path / "run.ckpt", tmp_path / "policy.eqx"

    def run(mode):
        return subprocess.run(
            [sys.executable, str(script), mode, str(checkpoint), str(output)],
            capture_output=True,
            text=True,
            timeout=300,
        )

    crashed = run("crash")
    assert crashed.returncode == 3, crashed.stderr
    assert checkpoint.exists() and not output.exists()
    resumed = run("resume")
    assert resumed.returncode == 0, resumed.stderr

    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    full = SMALL.learn(env, policy, TOTAL, key=jax.random.key(1), checkpoint_every=3)
    _assert_bit_identical(full, MLPActorCriticPolicy.deserialize(output))


def test_checkpoints_are_written_in_the_background_one_at_a_time(tmp_path, monkeypatch):
    import lerax.algorithm._checkpoint as checkpoint_module
    import lerax.utils._async as async_module

    events = []
    real_save_tree, real_write = checkpoint_module.save_tree, async_module._write

    def save_tree(path, tree, **kwargs):
        events.append(("save", int(tree["state"].iteration), kwargs))
        return real_save_tree(path, tree, **kwargs)

    def slow_write(path, prepared):
        events.append(("write", "start"))
        time.sleep(0.3)  # a slow disk: training must not wait for it
        real_write(path, prepared)
        events.append(("write", "end"))

    def callback(timesteps, _):
        events.append(("callback", timesteps // 64))

    monkeypatch.setattr(checkpoint_module, "save_tree", save_tree)
    monkeypatch.setattr(async_module, "_write", slow_write)
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    path = tmp_path / "run.eqx"
    trained = SMALL.learn(
        env,
        policy,
        TOTAL,
        key=jax.random.key(1),
        checkpoint_path=path,
        checkpoint_every=3,
        callback=callback,
    )
    events.append(("returned",))
    assert [e for e in events if e[0] == "save"] == [
        ("save", i, {"blocking": False}) for i in (3, 6, 9, 10)
    ]
    saves = [i for i, e in enumerate(events) if e[0] == "save"]
    ends = [i for i, e in enumerate(events) if e == ("write", "end")]
    callbacks = [i for i, e in enumerate(events) if e[0] == "callback"]
    assert len(ends) == len(saves) == len(callbacks) == 4
    for k in range(4):
        # The callback after a chunk runs while its checkpoint is being written.
        assert saves[k] < callbacks[k] < ends[k]
        # The previous save completes before the next one starts.
        if k:
            assert ends[k - 1] < saves[k]
    # The last save completes before learn returns.
    assert ends[-1] < events.index(("returned",))
    state = load_checkpoint(
        path,
        SMALL,
        10,
        eqx.filter_eval_shape(
            lambda: SMALL.init_state(env, policy, 10, key=jax.random.key(1))
        ),
    )
    assert int(state.iteration) == 10
    _assert_bit_identical(state.policy, trained)


def test_a_failed_background_checkpoint_stops_training(tmp_path, monkeypatch):
    import lerax.utils._async as async_module

    def failing_write(path, prepared):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(async_module, "_write", failing_write)
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    chunks = []
    with pytest.raises(OSError, match="No space left"):
        SMALL.learn(
            env,
            policy,
            TOTAL,
            key=jax.random.key(1),
            checkpoint_path=tmp_path / "run.eqx",
            checkpoint_every=3,
            callback=lambda timesteps, _: chunks.append(timesteps),
        )
    # The first save's error is raised when the second save would start, right
    # after the second chunk, before its callback.
    assert chunks == [64 * 3]
    assert not (tmp_path / "run.eqx").exists()


_KILLED_MID_WRITE = textwrap.dedent(
    """
    import os
    import sys
    import threading
    import time

    import jax

    import lerax.utils._async as async_module
    from lerax.algorithm import PPO
    from lerax.env import CartPole
    from lerax.policy import MLPActorCriticPolicy

    checkpoint = sys.argv[1]
    writing = threading.Event()
    real_write = async_module.write_prepared
    saves = []


    def write_prepared(f, prepared):
        saves.append(f)
        if len(saves) == 2:  # the second checkpoint hangs half-written
            f.write(b"half a checkpoint")
            writing.set()
            time.sleep(120)
        real_write(f, prepared)


    def die(timesteps, _):
        if timesteps >= 64 * 6:
            writing.wait(60)
            os._exit(3)  # killed in the middle of the background write


    async_module.write_prepared = write_prepared
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    ppo = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2)
    ppo.learn(
        env,
        policy,
        640,
        key=jax.random.key(1),
        checkpoint_path=checkpoint,
        checkpoint_every=3,
        callback=die,
    )
    """
)


def test_a_crash_during_a_background_checkpoint_keeps_the_previous(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_KILLED_MID_WRITE)
    checkpoint = tmp_path / "run.ckpt"
    crashed = subprocess.run(
        [sys.executable, str(script), str(checkpoint)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert crashed.returncode == 3, crashed.stderr
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".run.ckpt.")]
    assert len(leftovers) == 1  # the half-written temporary file
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    like = eqx.filter_eval_shape(
        lambda: SMALL.init_state(env, policy, 10, key=jax.random.key(1))
    )
    state = load_checkpoint(checkpoint, SMALL, 10, like)
    assert int(state.iteration) == 3  # the previous checkpoint, intact
