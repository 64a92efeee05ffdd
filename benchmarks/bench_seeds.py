"""Many seeds of PPO on CartPole-v1: one `learn` call with a batch of keys versus
one `learn` call per key, in one process.

Each of ``--seeds`` runs trains `MLPActorCriticPolicy` with `PPO()`'s defaults
for ``--timesteps`` steps, from the same initial policy, with key ``i``. The
batch is one call, ``PPO().learn(env, policy, T, key=keys)``: one jitted,
vmapped program. The sequential runs are ``--seeds`` calls, one per key, which
share one compiled program. "Cold" is the first time (compilation included),
"warm" the best of ``--repeats`` further times (compiled). Every trained policy
is then evaluated (deterministic, ``--eval-episodes`` episodes) to check that
both ways learn alike.

Usage::

    python benchmarks/bench_seeds.py [--seeds 16] [--timesteps 100000]
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from lerax.algorithm import PPO, evaluate
from lerax.algorithm._parallel import member
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = jax.block_until_ready(run())
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2, help="warm timings")
    parser.add_argument("--eval-episodes", type=int, default=10)
    args = parser.parse_args()

    env = CartPole()
    ppo = PPO()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), args.seeds)

    def batch() -> Any:
        return ppo.learn(env, policy, args.timesteps, key=keys)

    def sequential() -> list[Any]:
        return [
            ppo.learn(env, policy, args.timesteps, key=keys[i])
            for i in range(args.seeds)
        ]

    # The batch first, so that neither way gets compiled code from the other.
    batch_cold, policies = _timed(batch)
    batch_warm = min(_timed(batch)[0] for _ in range(args.repeats))
    sequential_cold, singles = _timed(sequential)
    sequential_warm = min(_timed(sequential)[0] for _ in range(args.repeats))

    def returns(policy: Any, seed: int) -> float:
        key = jax.random.key(10_000 + seed)
        return float(
            evaluate(env, policy, key=key, num_episodes=args.eval_episodes).mean()
        )

    batch_returns = [returns(member(policies, i), i) for i in range(args.seeds)]
    single_returns = [returns(singles[i], i) for i in range(args.seeds)]

    print(
        f"PPO() on CartPole-v1, MLPActorCriticPolicy: {args.seeds} seeds x "
        f"{args.timesteps:,} steps, one process, {os.cpu_count()} CPU cores, "
        f"{jax.devices()[0].platform}\n"
    )
    print("| | cold s | warm s |")
    print("|---|---:|---:|")
    print(
        f"| {args.seeds} sequential `learn` calls | {sequential_cold:.1f} | "
        f"{sequential_warm:.1f} |"
    )
    print(
        f"| one `learn` call, {args.seeds} keys | {batch_cold:.1f} | {batch_warm:.1f} |"
    )
    print(
        f"| speed-up (sequential / batch) | {sequential_cold / batch_cold:.1f}x | "
        f"{sequential_warm / batch_warm:.1f}x |"
    )
    for name, values in (("batch", batch_returns), ("sequential", single_returns)):
        solved = sum(r >= 475 for r in values)
        print(
            f"\n{name}: eval return median {statistics.median(values):.1f}, "
            f"min {min(values):.1f}; {solved}/{args.seeds} runs >= 475"
        )
    print(
        "\nmax |batch - sequential| eval return: "
        f"{np.max(np.abs(np.array(batch_returns) - np.array(single_returns))):.1f}"
    )


if __name__ == "__main__":
    main()
