"""The ``lerax`` command line: inspect, verify, diff, train, eval, errors."""

import json
import os
import subprocess
import sys

import equinox as eqx
import jax
import pytest

from helpers import rewrite_metadata
from lerax.cli import main
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy, MLPQPolicy
from lerax.utils import load

# A tiny run: 2 iterations of 4 envs x 16 steps.
TINY = [
    "--timesteps",
    "128",
    "--set",
    "num_envs=4",
    "--set",
    "num_steps=16",
    "--set",
    "num_epochs=1",
    "--episodes",
    "2",
    "--no-progress",
]


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "policy.eqx"
    MLPActorCriticPolicy(CartPole(), key=jax.random.key(0)).serialize(path)
    return path


def test_inspect_reads_metadata_only(policy_file, capsys):
    assert main(["inspect", str(policy_file)]) == 0
    out = capsys.readouterr().out
    assert "class:  lerax.policy:MLPActorCriticPolicy" in out
    assert ".actor.layers[0].weight" in out and "float32[64, 4]" in out


def test_inspect_json(policy_file, capsys):
    assert main(["inspect", "--json", str(policy_file)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["class_name"] == "lerax.policy:MLPActorCriticPolicy"
    assert any(leaf["path"] == ".critic.layers[2].bias" for leaf in info["leaves"])


def test_inspect_never_imports_what_a_file_names(policy_file, capsys):
    rewrite_metadata(policy_file, lambda m: m.update({"class": "antigravity:Thing"}))
    modules = set(sys.modules)
    assert main(["inspect", str(policy_file)]) == 0
    assert "antigravity:Thing" in capsys.readouterr().out
    assert "antigravity" not in set(sys.modules) - modules


def test_verify_reports_each_file(policy_file, tmp_path, capsys):
    damaged = tmp_path / "damaged.eqx"
    data = bytearray(policy_file.read_bytes())
    data[1000] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert main(["verify", str(policy_file)]) == 0
    assert main(["verify", str(policy_file), str(damaged)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("checksums verified)")
    assert (
        lines[-1].startswith(f"{damaged}: FAILED: ")
        and "checksum mismatch" in lines[-1]
    )


def test_diff(policy_file, tmp_path, capsys):
    other = tmp_path / "other.eqx"
    MLPActorCriticPolicy(CartPole(), key=jax.random.key(1), width=32).serialize(other)
    assert main(["diff", str(policy_file), str(policy_file)]) == 0
    assert capsys.readouterr().out.strip() == "no differences"
    assert main(["diff", str(policy_file), str(other)]) == 1
    out = capsys.readouterr().out
    assert ".actor.layers[0].weight: float32[64, 4] != float32[32, 4]" in out
    assert ".actor.width_size: 64 != 32" in out


def test_diff_counts_changed_elements(tmp_path, capsys):
    a, b = tmp_path / "a.eqx", tmp_path / "b.eqx"
    policy = MLPActorCriticPolicy(CartPole(), key=jax.random.key(0))
    policy.serialize(a)
    bias = policy.critic.layers[2].bias
    assert bias is not None
    changed = eqx.tree_at(lambda p: p.critic.layers[2].bias, policy, bias + 0.5)
    changed.serialize(b)
    assert main(["diff", str(a), str(b)]) == 1
    assert (
        ".critic.layers[2].bias: 1 of 1 elements differ, largest absolute difference 0.5"
        in capsys.readouterr().out
    )


def test_train_resume_and_eval(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--no-compile-cache", "train", "CartPole-v1", "--output", str(run), *TINY]
    assert main([*args, "--checkpoint-every", "1"]) == 0
    out = capsys.readouterr().out
    assert "timesteps:    128" in out and "eval return:" in out
    assert {p.name for p in run.iterdir()} >= {
        "run.json",
        "policy.eqx",
        "checkpoint.eqx",
        "history.csv",
    }
    assert len((run / "history.csv").read_text().splitlines()) == 3  # header + 2
    assert main(["plot", str(run), "--metric", "entropy"]) == 0
    assert (run / "curves.png").stat().st_size > 1000
    first = load(run / "policy.eqx")
    # Resuming a finished run returns its policy as is.
    assert main([*args, "--checkpoint-every", "1", "--resume"]) == 0
    capsys.readouterr()
    assert main(["diff", str(run / "policy.eqx"), str(run / "policy.eqx")]) == 0
    assert type(load(run / "policy.eqx")) is type(first)
    # Another configuration cannot resume this run.
    assert main([*args, "--checkpoint-every", "1", "--resume", "--seed", "3"]) == 1
    assert "another configuration" in capsys.readouterr().err
    video = tmp_path / "v.gif"
    code = main(
        ["--no-compile-cache", "eval", str(run / "policy.eqx"), "--env", "CartPole-v1",
         "--episodes", "2", "--video", str(video)]
    )  # fmt: skip
    assert code == 0
    assert video.exists() and "video:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "Nope-v0"], "unknown environment id 'Nope-v0'"),
        (
            ["train", "CartPole-v1", "--algo", "XYZ"],
            "unknown algorithm 'XYZ'; known: PPO",
        ),
        (["train", "CartPole-v1", "--set", "lr=3"], "unexpected keyword argument 'lr'"),
        (
            ["train", "CartPole-v1", "--set", "gamma=7"],
            "gamma must be a finite number in [0.0, 1.0]",
        ),
        (["train", "CartPole-v1", "--set", "novalue"], "--set needs name=value"),
        (["eval", "missing.eqx", "--env", "CartPole-v1"], "No such file"),
    ],
)
def test_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--no-compile-cache", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lerax: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_damaged_file_is_one_line(policy_file, capsys):
    policy_file.write_bytes(policy_file.read_bytes()[:-5])
    assert main(["inspect", str(policy_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lerax: error: ") and "Traceback" not in err


def test_eval_refuses_a_policy_for_another_env(policy_file, capsys):
    assert (
        main(["--no-compile-cache", "eval", str(policy_file), "--env", "Pendulum-v1"])
        == 1
    )
    assert "does not match Pendulum-v1" in capsys.readouterr().err


def test_python_dash_m_and_compile_cache(tmp_path):
    env = {**os.environ, "LERAX_CACHE_DIR": str(tmp_path / "cache")}
    run = [
        sys.executable,
        "-m",
        "lerax",
        "train",
        "CartPole-v1",
        "--output",
        str(tmp_path / "r"),
        *TINY,
    ]
    result = subprocess.run(run, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert any((tmp_path / "cache").iterdir())  # compiled programs were stored
    help_text = subprocess.run(
        [sys.executable, "-m", "lerax", "--help"], capture_output=True, text=True
    ).stdout
    assert "inspect" in help_text and "train" in help_text


def test_train_picks_the_algorithms_policy(tmp_path):
    out = tmp_path / "dqn"
    args = ["--no-compile-cache", "train", "CartPole-v1", "--algo", "dqn"]
    args += ["--timesteps", "512"]
    settings = ["--set", "learning_starts=256", "--set", "gradient_steps=2"]
    assert main([*args, *settings, "--output", str(out), "--no-progress"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert (run["algorithm"], run["policy"]) == ("DQN", "q")
    assert isinstance(MLPQPolicy.deserialize(out / "policy.eqx"), MLPQPolicy)
