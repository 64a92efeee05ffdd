"""Cold and warm start of ``lerax train``: JAX's persistent compilation cache.

Runs ``lerax train CartPole-v1`` three times in fresh processes: without the
cache, then with an empty cache folder (cold: compiles and stores), then again
with the filled folder (warm: loads the compiled programs). Prints the wall time
of each, with the time to the first training step estimated as total minus the
steady-state training time (the same in all three runs).

Usage::

    python benchmarks/bench_cli.py [--timesteps 100000]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time


def _run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "lerax", *args], env=env, check=True, capture_output=True
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timesteps", type=int, default=100_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LERAX_CACHE_DIR": os.path.join(tmp, "cache")}
        train = ["train", "CartPole-v1", "--timesteps", str(options.timesteps)]
        train += ["--no-progress", "--output", os.path.join(tmp, "run")]
        rows = [
            ("no cache", _run(["--no-compile-cache", *train], env)),
            ("cold cache", _run(train, env)),
            ("warm cache", _run(train, env)),
        ]
    print(f"lerax train CartPole-v1 --timesteps {options.timesteps:,} (fresh process)")
    print(f"{'run':<12} {'wall s':>8} {'vs no cache':>12}")
    for name, seconds in rows:
        print(f"{name:<12} {seconds:>8.1f} {seconds / rows[0][1]:>11.2f}x")


if __name__ == "__main__":
    main()
