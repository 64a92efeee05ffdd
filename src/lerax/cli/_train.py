"""``lerax train`` and ``lerax eval``: a run folder from an env id, and back."""

import ast
import json
import time
from pathlib import Path
from typing import Any

import jax

import lerax
from lerax.algorithm import CSVLogger, History, evaluate
from lerax.env import make, record_video
from lerax.utils import load

from ._tables import ALGORITHMS, DEFAULT_POLICIES, POLICIES, lookup

__all__ = ["evaluate_file", "parse_settings", "plot_run", "train"]

RUN_FILE = "run.json"
POLICY_FILE = "policy.eqx"
_CHECKPOINT_STEPS = 10_000
CHECKPOINT_FILE = "checkpoint.eqx"
HISTORY_FILE = "history.csv"


def parse_settings(settings: list[str]) -> dict[str, Any]:
    """``["learning_rate=3e-4", "num_envs=16"]`` as keyword arguments.

    Values are Python literals (numbers, booleans, None, strings in quotes);
    anything else is taken as a string.
    """
    out: dict[str, Any] = {}
    for setting in settings:
        name, sep, text = setting.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"--set needs name=value, got {setting!r}")
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[name] = text
    return out


def train(
    env_id: str,
    *,
    output: Path,
    algorithm: str = "PPO",
    policy: str | None = None,
    timesteps: int = 100_000,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    env_settings: dict[str, Any] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    progress_bar: bool = True,
    episodes: int = 10,
) -> dict[str, Any]:
    """Trains a policy on a registered env and writes a run folder.

    The folder holds ``run.json`` (the configuration), ``checkpoint.eqx`` (the
    training state, written atomically every `checkpoint_every` iterations,
    by default the iterations of about 10,000 steps),
    ``policy.eqx`` (the final policy) and ``history.csv`` (one row per
    iteration). With `resume`, a run is continued from its checkpoint; its
    configuration must be the same.

    Returns:
        A summary: timesteps, seconds, evaluation mean and standard deviation.
    """
    algorithm_cls = lookup(ALGORITHMS, algorithm, "algorithm")
    policy = policy or DEFAULT_POLICIES[algorithm_cls]
    policy_cls = lookup(POLICIES, policy, "policy")
    config = {
        "lerax_version": lerax.__version__,
        "env": env_id,
        "env_settings": env_settings or {},
        "algorithm": algorithm_cls.__name__,
        "policy": policy,
        "timesteps": timesteps,
        "seed": seed,
        "settings": settings or {},
        "checkpoint_every": checkpoint_every,
    }
    env = make(env_id, **(env_settings or {}))
    algo = algorithm_cls(**(settings or {}))
    if checkpoint_every is None:
        # Off-policy iterations can be a single step: count in steps instead.
        checkpoint_every = max(1, _CHECKPOINT_STEPS // algo.steps_per_iteration)
    output.mkdir(parents=True, exist_ok=True)
    run_file = output / RUN_FILE
    checkpoint = output / CHECKPOINT_FILE
    if resume:
        if not checkpoint.exists():
            raise FileNotFoundError(f"{checkpoint}: no checkpoint to resume from")
        saved = json.loads(run_file.read_text()) if run_file.exists() else None
        if saved is not None:
            saved.pop("lerax_version", None)
            current = {k: v for k, v in config.items() if k != "lerax_version"}
            if saved != current:
                raise ValueError(
                    f"{run_file}: the run was started with another configuration "
                    f"({saved}); resume with the same arguments"
                )
    run_file.write_text(json.dumps(config, indent=2) + "\n")
    policy_key, train_key, eval_key = jax.random.split(jax.random.key(seed), 3)
    start = time.perf_counter()
    initial = policy_cls(env, key=policy_key)
    trained, history = algo.learn_with_history(
        env,
        initial,
        timesteps,
        key=train_key,
        progress_bar=progress_bar,
        checkpoint_path=checkpoint,
        checkpoint_every=checkpoint_every,
        resume_from=checkpoint if resume else None,
        logger=CSVLogger(output / HISTORY_FILE),
    )
    jax.block_until_ready(trained)
    seconds = time.perf_counter() - start
    trained.serialize(output / POLICY_FILE)
    returns = evaluate(env, trained, key=eval_key, num_episodes=episodes)
    return {
        "timesteps": int(history.timesteps[-1]) if len(history) else 0,
        "seconds": seconds,
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "policy": str(output / POLICY_FILE),
    }


def plot_run(
    run_dir: Path, *, output: Path | None = None, metrics: list[str] | None = None
) -> Path:
    """Plots a run folder's ``history.csv`` (matplotlib); returns the image path."""
    history = History.read_csv(run_dir / HISTORY_FILE)
    path = output or run_dir / "curves.png"
    history.plot(path, metrics=tuple(metrics or ("episode_return", "episode_length")))
    return path


def evaluate_file(
    path: Path,
    env_id: str,
    *,
    episodes: int = 10,
    seed: int = 0,
    video: Path | None = None,
    env_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluates a saved policy on a registered env; optionally records a video.

    Returns:
        A summary: evaluation mean and standard deviation, the video's path.
    """
    policy = load(path)
    env = make(env_id, **(env_settings or {}))
    for name in ("observation_space", "action_space"):
        if getattr(policy, name, None) != getattr(env, name):
            raise ValueError(
                f"{path}: the policy's {name} does not match {env_id}'s; evaluate "
                "it on the env it was trained for"
            )
    eval_key, video_key = jax.random.split(jax.random.key(seed))
    returns = evaluate(env, policy, key=eval_key, num_episodes=episodes)  # pyright: ignore[reportArgumentType]
    written = None
    if video is not None:
        written = record_video(env, policy, video, key=video_key)
    return {
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "video": None if written is None else str(written),
    }
