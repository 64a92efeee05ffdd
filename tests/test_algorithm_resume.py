"""Every algorithm resumes bit-identically, in-process and after a real kill.

PPO's checkpoint behaviour in detail is tested in test_algorithm_checkpoint.py;
this file checks the property for every algorithm, including the replay buffer
of the off-policy ones.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest

from algorithm_configs import CONFIGS
from lerax.utils import load_leaves

NAMES = sorted(CONFIGS)


def _assert_bit_identical(a, b):
    leaves_a = jax.tree.leaves(eqx.filter(a, eqx.is_array))
    leaves_b = jax.tree.leaves(eqx.filter(b, eqx.is_array))
    assert len(leaves_a) == len(leaves_b) > 0
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), strict=True)


@pytest.mark.parametrize("name", NAMES)
def test_resumed_run_is_bit_identical(tmp_path, name):
    env, policy, algo, total = CONFIGS[name]()
    per_iteration = algo.steps_per_iteration
    path = tmp_path / "run.ckpt"
    full, full_history = algo.learn_with_history(
        env, policy, total, key=jax.random.key(1), checkpoint_every=3
    )
    algo.learn(
        env,
        policy,
        total,
        key=jax.random.key(1),
        checkpoint_path=path,
        checkpoint_every=3,
        callback=lambda done, _: done >= 6 * per_iteration,
    )
    stopped = load_leaves(path, "['state'].iteration", like=jax.numpy.int32(0))
    assert int(stopped) == 6
    resumed, history = algo.learn_with_history(
        env, policy, total, key=jax.random.key(9), checkpoint_every=3, resume_from=path
    )
    _assert_bit_identical(full, resumed)
    for row, full_row in zip(
        history.metrics.values(), full_history.metrics.values(), strict=True
    ):
        np.testing.assert_array_equal(row, full_row)
    np.testing.assert_array_equal(history.episode_return, full_history.episode_return)


_SCRIPT = textwrap.dedent(
    """
    import os
    import sys

    import jax

    sys.path.insert(0, sys.argv[4])
    from algorithm_configs import CONFIGS

    name, checkpoint, output = sys.argv[1:4]
    mode = sys.argv[5]
    env, policy, algo, total = CONFIGS[name]()
    per_iteration = algo.steps_per_iteration


    def die(timesteps, _):
        if timesteps >= 6 * per_iteration:
            os._exit(3)  # killed, perhaps while the checkpoint is being written


    options = dict(checkpoint_path=checkpoint, checkpoint_every=3)
    if mode == "crash":
        algo.learn(env, policy, total, key=jax.random.key(1), callback=die, **options)
    else:
        trained = algo.learn(
            env, policy, total, key=jax.random.key(1), resume_from=checkpoint,
            **options,
        )
        trained.serialize(output)
    """
)


# PPO's kill test is in test_algorithm_checkpoint.py. One off-policy algorithm
# (its replay buffer) runs by default; the others under `-m slow`, for time.
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=() if n == "dqn" else pytest.mark.slow)
        for n in NAMES
        if n != "ppo"
    ],
)
def test_resume_after_a_kill(tmp_path, name):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    checkpoint, output = tmp_path / "run.ckpt", tmp_path / "policy.eqx"
    tests = str(Path(__file__).parent)

    def run(mode):
        return subprocess.run(
            [
                sys.executable,
                str(script),
                name,
                str(checkpoint),
                str(output),
                tests,
                mode,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )

    crashed = run("crash")
    assert crashed.returncode == 3, crashed.stderr
    assert checkpoint.exists() and not output.exists()
    resumed = run("resume")
    assert resumed.returncode == 0, resumed.stderr

    env, policy, algo, total = CONFIGS[name]()
    full = algo.learn(env, policy, total, key=jax.random.key(1), checkpoint_every=3)
    _assert_bit_identical(full, type(full).deserialize(output))
