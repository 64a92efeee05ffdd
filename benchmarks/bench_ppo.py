"""PPO on CartPole-v1: wall-clock time to a deterministic evaluation return ≥ 475.

Compares lerax's `PPO()` defaults with Stable-Baselines3 PPO using the rl-zoo
CartPole-v1 hyperparameters (which lerax's defaults follow), on this machine.

Both train for at most ``--max-timesteps`` environment steps and, every
``--eval-every`` steps, evaluate the deterministic policy on
``--eval-episodes`` episodes; a run stops at the first evaluation whose mean
return reaches ``--threshold``. Each run is a fresh Python process, timed from
its start: imports, environment and policy construction, JIT compilation and
evaluations are all included ("cold"). For lerax, the same runs are also timed
inside one already-compiled process ("warm"), which is what every run after the
first costs in a sweep.

Stable-Baselines3 is optional (``pip install torch==2.13.0 stable-baselines3``);
without it only the lerax rows are printed.

Usage::

    python benchmarks/bench_ppo.py [--seeds 5] [--sb3-seeds 2]
"""

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from typing import Any

_LERAX_RUN = """
import json, sys, time
start = time.perf_counter()
import jax
from lerax.algorithm import PPO, evaluate
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

seed, max_timesteps, eval_every, episodes, threshold, repeats = (
    float(a) for a in sys.argv[1:]
)
env = CartPole()
ppo = PPO()
chunk = max(1, int(eval_every) // ppo.steps_per_iteration)


def run(seed):
    start = time.perf_counter()
    result = {"timesteps": None, "eval": None}

    def check(timesteps, policy):
        key = jax.random.key(10_000 + int(seed))
        mean = float(evaluate(env, policy, key=key, num_episodes=int(episodes)).mean())
        result["eval"] = mean
        if mean >= threshold:
            result["timesteps"] = timesteps
            return True
        return False

    policy = MLPActorCriticPolicy(env, key=jax.random.key(int(seed)))
    PPO().learn(
        env, policy, int(max_timesteps), key=jax.random.key(1000 + int(seed)),
        checkpoint_every=chunk, callback=check,
    )
    result["seconds"] = time.perf_counter() - start
    return result


cold = run(seed)
cold["seconds"] = time.perf_counter() - start  # from process start
warm = [run(seed)["seconds"] for _ in range(int(repeats))]
cold["warm_seconds"] = min(warm) if warm else None
print("RESULT " + json.dumps(cold))
"""

_SB3_RUN = """
import json, sys, time
start = time.perf_counter()
import gymnasium as gym
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import (
    EvalCallback, StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor

seed, max_timesteps, eval_every, episodes, threshold = (
    float(a) for a in sys.argv[1:6]
)
n_envs = 8


def linear(initial):
    return lambda progress_remaining: progress_remaining * initial


env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=int(seed))
model = PPO(
    "MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
    n_epochs=20, ent_coef=0.0, learning_rate=linear(1e-3), clip_range=linear(0.2),
    seed=int(seed), device="cpu", verbose=0,
)
eval_env = Monitor(gym.make("CartPole-v1"))
eval_env.reset(seed=10_000 + int(seed))
callback = EvalCallback(
    eval_env,
    callback_on_new_best=StopTrainingOnRewardThreshold(threshold, verbose=0),
    eval_freq=max(1, int(eval_every) // n_envs),
    n_eval_episodes=int(episodes),
    deterministic=True,
    verbose=0,
)
model.learn(int(max_timesteps), callback=callback)
reached = callback.best_mean_reward >= threshold
print("RESULT " + json.dumps({
    "timesteps": int(model.num_timesteps) if reached else None,
    "eval": float(callback.last_mean_reward),
    "seconds": time.perf_counter() - start,
}))
"""


def _run(code: str, *args: Any) -> dict[str, Any]:
    """Runs `code` in a fresh interpreter and returns its RESULT line."""
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"benchmark run failed:\n{out.stderr[-3000:]}")


def _cell(result: dict[str, Any] | None, key: str = "seconds") -> str:
    if result is None:
        return "-"
    if result.get(key) is None:
        return "n/a"
    suffix = "" if result["timesteps"] is not None else " (not reached)"
    return f"{result[key]:.1f}{suffix}"


def _steps(result: dict[str, Any] | None) -> str:
    if result is None:
        return "-"
    if result["timesteps"] is None:
        return f"not reached ({result['eval']:.0f})"
    return f"{result['timesteps']:,}"


def _median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="lerax seeds")
    parser.add_argument("--sb3-seeds", type=int, default=2, help="SB3 seeds")
    parser.add_argument("--max-timesteps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=5120)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument(
        "--warm-repeats", type=int, default=2, help="warm lerax runs per seed"
    )
    args = parser.parse_args()
    common = (args.max_timesteps, args.eval_every, args.eval_episodes, args.threshold)

    has_sb3 = all(
        importlib.util.find_spec(m) for m in ("stable_baselines3", "torch", "gymnasium")
    )
    lerax: list[dict[str, Any]] = []
    sb3: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        lerax.append(_run(_LERAX_RUN, seed, *common, args.warm_repeats))
        print(f"lerax seed {seed}: {lerax[-1]}", file=sys.stderr, flush=True)
    if has_sb3:
        for seed in range(args.sb3_seeds):
            sb3.append(_run(_SB3_RUN, seed, *common))
            print(f"SB3 seed {seed}: {sb3[-1]}", file=sys.stderr, flush=True)
    else:
        print(
            "Stable-Baselines3 is not importable (pip install torch==2.13.0 "
            "stable-baselines3): showing lerax only.\n"
        )

    print(
        f"PPO on CartPole-v1: time to mean deterministic return >= "
        f"{args.threshold:g} over {args.eval_episodes} episodes, evaluated every "
        f"{args.eval_every} steps, at most {args.max_timesteps:,} steps\n"
    )
    header = (
        "| seed | lerax steps | lerax cold s | lerax warm s | SB3 steps | SB3 s |\n"
        "|---:|---:|---:|---:|---:|---:|"
    )
    print(header)
    for seed in range(max(args.seeds, len(sb3))):
        row_l = lerax[seed] if seed < len(lerax) else None
        row_s = sb3[seed] if seed < len(sb3) else None
        print(
            f"| {seed} | {_steps(row_l)} | {_cell(row_l)} | "
            f"{_cell(row_l, 'warm_seconds')} | {_steps(row_s)} | {_cell(row_s)} |"
        )
    reached = sum(r["timesteps"] is not None for r in lerax)
    print(f"\nlerax reached the threshold in {reached}/{len(lerax)} seeds.")
    cold, warm = _median(lerax, "seconds"), _median(lerax, "warm_seconds")
    if sb3:
        reached_sb3 = sum(r["timesteps"] is not None for r in sb3)
        print(f"SB3 reached the threshold in {reached_sb3}/{len(sb3)} seeds.")
        slow = _median(sb3, "seconds")
        if cold is not None and slow:
            print(f"median wall-clock ratio lerax/SB3, cold: {cold / slow:.3f}x")
        if warm is not None and slow:
            print(f"median wall-clock ratio lerax/SB3, warm: {warm / slow:.3f}x")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"(benchmark took {time.perf_counter() - started:.0f} s)")
