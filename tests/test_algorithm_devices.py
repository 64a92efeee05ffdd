"""Training across devices: 2 fake CPU devices in a subprocess, and 2 processes
joined by jax.distributed on localhost."""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from lerax.algorithm import PPO
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

# Run in each subprocess before anything else: fake CPU devices, {init} (e.g.
# joining the other processes) before any JAX call, and the helpers the scripts
# share.
_PRELUDE = """
import os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count={devices}"
os.environ["JAX_PLATFORMS"] = "cpu"
import jax
import equinox as eqx
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from lerax.algorithm import PPO, evaluate
from lerax.algorithm import _base
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

{init}
SMALL = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2)
TOTAL = 64 * 10
env = CartPole()
policy = MLPActorCriticPolicy(env, key=jax.random.key(0))

def arrays(tree):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]

def identical(a, b):
    return all(np.array_equal(x, y) for x, y in zip(arrays(a), arrays(b), strict=True))

def close(a, b):
    for x, y in zip(arrays(a), arrays(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)

# The states handed to the checkpoint writer: what training left on the devices.
saved = []
_save = _base.CheckpointWriter.save
def save(self, state):
    saved.append(state)
    return _save(self, state)
_base.CheckpointWriter.save = save

def shardings(tree):
    return {x.sharding for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))}
"""

# One run split across 2 devices: sharding, results, checkpoints, errors.
_ONE_RUN = """
devices = jax.devices()
assert len(devices) == 2
split = NamedSharding(Mesh(np.array(devices), ("data",)), P("data"))
replicated = NamedSharding(split.mesh, P())
folder = sys.argv[1]
path = os.path.join(folder, "run.ckpt")

single = SMALL.learn(env, policy, TOTAL, key=jax.random.key(1))
full = SMALL.learn(env, policy, TOTAL, key=jax.random.key(1), devices=devices, checkpoint_every=3, checkpoint_path=os.path.join(folder, "full.ckpt"))
# The environments' states are split over the devices, the rest replicated.
state = saved[-1]
assert shardings(state.rollout) == {split}, shardings(state.rollout)
assert shardings(state.policy) == shardings(state.opt_state) == {replicated}
assert shardings(full) == {replicated}
close(full, single)

# Interrupted after 6 of 10 iterations, resumed onto the same devices.
SMALL.learn(env, policy, TOTAL, key=jax.random.key(1), devices=devices, checkpoint_every=3, checkpoint_path=path, callback=lambda done, _: done >= 64 * 6)
saved.clear()
resumed = SMALL.learn(env, policy, TOTAL, key=jax.random.key(1), devices=devices, checkpoint_every=3, checkpoint_path=path, resume_from=path)
assert identical(full, resumed)
assert shardings(saved[0].rollout) == {split}

for bad, match in [
    (lambda: PPO(num_envs=3).learn(env, policy, TOTAL, key=jax.random.key(1), devices=devices), "num_envs=3 is not divisible by the number of devices (2)"),
    (lambda: SMALL.learn(env, policy, TOTAL, key=jax.random.key(1), devices=[devices[0]] * 2), "lists a device twice"),
    (lambda: SMALL.learn(env, policy, TOTAL, key=jax.random.key(1), devices=[]), "non-empty sequence"),
    (lambda: SMALL.learn(env, policy, TOTAL, key=jax.random.split(jax.random.key(1), 3), devices=devices), "the number of runs (3) is not divisible"),
]:
    try:
        bad()
    except ValueError as e:
        assert match in str(e), str(e)
    else:
        raise AssertionError(match)
print("ok")
"""

# A batch split across 2 devices, and PPO learning CartPole with its
# environments split across 2 devices.
_BATCH_AND_LEARNING = """
devices = jax.devices()
split = NamedSharding(Mesh(np.array(devices), ("data",)), P("data"))
keys = jax.random.split(jax.random.key(7), 2)
sweep = {"learning_rate": [1e-3, 3e-4]}
batch = SMALL.learn(env, policy, TOTAL, key=keys, sweep=sweep, checkpoint_path=os.path.join(sys.argv[1], "b.ckpt"))
on_devices = SMALL.learn(env, policy, TOTAL, key=keys, sweep=sweep, devices=devices, checkpoint_path=os.path.join(sys.argv[1], "d.ckpt"))
# Each device trains one run: every array is split along the runs.
assert shardings(saved[-1]) == {split} and shardings(on_devices) == {split}
close(on_devices, batch)

trained = PPO().learn(env, policy, 40_000, key=jax.random.key(1), devices=devices)
returns = evaluate(env, trained, key=jax.random.key(2), num_episodes=10)
assert float(returns.mean()) >= 475, returns
print("ok")
"""


# The compiled training loop of a run on 2 devices (XLA dumps its optimised HLO
# into the folder given): each device differentiates its share of the batch, and
# the gradients are all-reduced; nothing gathers the batch.
_GRADIENTS = """
from lerax.algorithm import A2C

for algo in (PPO(num_envs=8, num_steps=32), A2C(num_envs=8)):
    algo.learn(env, policy, 4 * algo.steps_per_iteration, key=jax.random.key(1),
               devices=jax.devices())
print("ok")
"""


def _run(
    script: str, *args: str, devices: int = 2, timeout: float = 240, flags: str = ""
) -> str:
    code = textwrap.dedent(
        _PRELUDE.replace("{devices}", f"{devices}{flags}").replace("{init}", "")
    ) + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return result.stdout


def test_one_run_split_across_two_devices(tmp_path):
    assert _run(_ONE_RUN, str(tmp_path)).strip().endswith("ok")


def test_gradients_are_computed_per_device_and_averaged(tmp_path):
    dump = tmp_path / "hlo"
    flags = f" --xla_dump_to={dump} --xla_dump_hlo_as_text"
    assert _run(_GRADIENTS, flags=flags).strip().endswith("ok")
    loops = sorted(dump.glob("*_run_chunk*after_optimizations.txt"))
    assert len(loops) == 2  # PPO's and A2C's
    # The first layer's weight gradient (64 x 4 for CartPole) is all-reduced.
    for loop in loops:
        text = loop.read_text()
        reductions = [line for line in text.splitlines() if "all-reduce(" in line]
        assert any("f32[64,4]" in line for line in reductions), loop.name
        assert "all-gather(" not in text, loop.name


def test_a_batch_across_two_devices_and_learning(tmp_path):
    assert _run(_BATCH_AND_LEARNING, str(tmp_path)).strip().endswith("ok")


# ------------------------------------------------- several processes

_JOIN = """
process, port, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3]
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process)
"""

# Each of 2 processes has 1 CPU device; jax.distributed joins them, and one run
# is split across both (2 environments each), then a batch of 2 (1 run each).
_WORKER = """
devices = jax.devices()
assert len(devices) == 2 and len(jax.local_devices()) == 1
path = os.path.join(folder, "run.ckpt")

full, history = SMALL.learn_with_history(env, policy, TOTAL, key=jax.random.key(1), devices=devices, checkpoint_every=3)
SMALL.learn(env, policy, TOTAL, key=jax.random.key(1), devices=devices, checkpoint_every=3, checkpoint_path=path, callback=lambda done, _: done >= 64 * 6)
resumed = SMALL.learn(env, policy, TOTAL, key=jax.random.key(1), devices=devices, checkpoint_every=3, resume_from=path)
assert identical(full, resumed)
keys = jax.random.split(jax.random.key(7), 2)
batch, histories = SMALL.learn_with_history(env, policy, TOTAL, key=keys, devices=devices)
assert len(histories) == 2
if process == 0:
    np.savez(os.path.join(folder, "one.npz"), *arrays(full), returns=history.episode_return)
    np.savez(os.path.join(folder, "batch.npz"), *arrays(batch))
print("ok", process)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(folder: Path) -> None:
    code = textwrap.dedent(
        _PRELUDE.replace("{devices}", "1").replace("{init}", _JOIN)
    ) + textwrap.dedent(_WORKER)
    port = str(_free_port())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(i), port, str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
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
            f"process {i}:\n{out}\n{err[-5000:]}"
        )


def _loaded(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files) - ("returns" in data))]


def test_two_processes_train_as_one(tmp_path):
    _two_processes(tmp_path)
    small = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2)
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    single, history = small.learn_with_history(env, policy, 640, key=jax.random.key(1))
    for x, y in zip(
        _loaded(tmp_path / "one.npz"),
        jax.tree.leaves(eqx.filter(single, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_allclose(x, np.asarray(y), rtol=1e-5, atol=1e-6)
    with np.load(tmp_path / "one.npz") as data:
        np.testing.assert_allclose(data["returns"], history.episode_return, rtol=1e-5)
    batch = small.learn(env, policy, 640, key=jax.random.split(jax.random.key(7), 2))
    for x, y in zip(
        _loaded(tmp_path / "batch.npz"),
        jax.tree.leaves(eqx.filter(batch, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_allclose(x, np.asarray(y), rtol=1e-5, atol=1e-6)
