"""Random-policy CartPole-v1 throughput: lerax vs gymnax vs Gymnasium.

Counts environment steps per second, on this machine, in one run:

* lerax and gymnax: ``--num-envs`` environments batched with `jax.vmap`,
  ``--num-steps`` steps in one jitted `jax.lax.scan`, auto-reset included.
  Both draw their actions the same way (one batched `jax.random.bernoulli`
  per step) and give each env its own key every step, as their APIs require,
  so that only the environments differ. Compilation is excluded; the best of
  ``--repeats`` timed runs is kept. Random-number generation dominates the
  cost on CPU, so both are measured under each setting of JAX's
  ``jax_threefry_partitionable`` flag (the default first).
* Gymnasium: ``gymnasium.make("CartPole-v1")`` stepped in a Python loop with
  ``action_space.sample()``, resetting when an episode ends; and, for
  reference, Gymnasium's NumPy-vectorized ``CartPoleVectorEnv``.

gymnax is optional (``pip install gymnax``): its rows are skipped with a
message when it is missing.

Usage::

    python benchmarks/bench_cartpole.py [--num-envs 16384] [--num-steps 500]
"""

import argparse
import functools
import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lerax.env import CartPole


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of `repeats` calls, after one untimed warm-up call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def _random_actions(key: jax.Array, num_envs: int) -> jax.Array:
    """Uniform actions in {0, 1}: one random bit per env, drawn in one batch."""
    return jax.random.bernoulli(key, 0.5, (num_envs,)).astype(jnp.int32)


def bench_lerax(num_envs: int, num_steps: int, repeats: int) -> float:
    env = CartPole()

    @jax.jit
    def rollout(key):
        reset_key, key = jax.random.split(key)
        states, _, _ = jax.vmap(lambda k: env.reset(key=k))(
            jax.random.split(reset_key, num_envs)
        )

        def body(carry, key):
            states, checksum = carry
            action_key, step_key = jax.random.split(key)
            actions = _random_actions(action_key, num_envs)
            states, obs, reward, terminated, truncated, _ = jax.vmap(
                lambda s, a, k: env.step(s, a, key=k)
            )(states, actions, jax.random.split(step_key, num_envs))
            # Consume every output so that none is optimized away.
            checksum += obs.sum() + reward.sum() + (terminated | truncated).sum()
            return (states, checksum), None

        (_, checksum), _ = jax.lax.scan(
            body, (states, jnp.float32(0)), jax.random.split(key, num_steps)
        )
        return checksum

    key = jax.random.key(0)
    return num_envs * num_steps / _best_time(lambda: rollout(key), repeats)


def bench_gymnax(num_envs: int, num_steps: int, repeats: int) -> float | None:
    try:
        import gymnax
    except ImportError:
        return None
    env, params = gymnax.make("CartPole-v1")

    @jax.jit
    def rollout(key):
        reset_key, key = jax.random.split(key)
        _, states = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(reset_key, num_envs), params
        )

        def body(carry, key):
            states, checksum = carry
            action_key, step_key = jax.random.split(key)
            actions = _random_actions(action_key, num_envs)
            # gymnax >= 1.0 returns terminated and truncated, older ones done.
            obs, states, reward, *flags, _ = jax.vmap(
                env.step, in_axes=(0, 0, 0, None)
            )(jax.random.split(step_key, num_envs), states, actions, params)
            done = functools.reduce(jnp.logical_or, flags)
            checksum += obs.sum() + reward.sum() + done.sum()
            return (states, checksum), None

        (_, checksum), _ = jax.lax.scan(
            body, (states, jnp.float32(0)), jax.random.split(key, num_steps)
        )
        return checksum

    key = jax.random.key(0)
    return num_envs * num_steps / _best_time(lambda: rollout(key), repeats)


def bench_gymnasium(num_steps: int) -> float:
    import gymnasium

    env = gymnasium.make("CartPole-v1")
    env.reset(seed=0)
    env.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(num_steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return num_steps / (time.perf_counter() - start)


def bench_gymnasium_vector(num_envs: int, num_steps: int) -> float:
    import gymnasium

    env = gymnasium.make_vec(
        "CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point"
    )
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(num_steps):  # the vector env resets finished episodes itself
        env.step(rng.integers(0, 2, num_envs))
    return num_envs * num_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=16384)
    parser.add_argument("--num-steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gymnasium-steps", type=int, default=50_000)
    parser.add_argument("--vector-steps", type=int, default=100)
    args = parser.parse_args()

    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform} "
        f"({os.cpu_count()} CPUs); {args.num_envs} envs x {args.num_steps} steps, "
        "random policy"
    )
    try:
        import gymnax  # noqa: F401
    except ImportError:
        have_gymnax = False
    else:
        have_gymnax = True
    if not have_gymnax:
        print("gymnax is not installed (pip install gymnax): skipping its rows.")

    # (name, threefry mode, steps/s); JAX rows once per threefry mode.
    rows: list[tuple[str, str, float]] = []
    lerax_sps: dict[str, float] = {}
    default_mode = jax.config.jax_threefry_partitionable  # pyright: ignore
    for partitionable in (default_mode, not default_mode):
        mode = "partitionable" if partitionable else "non-partitionable"
        if partitionable == default_mode:
            mode += " (default)"
        # Traced anew below, so the setting applies to fresh compilations.
        jax.config.update("jax_threefry_partitionable", partitionable)
        sps = bench_lerax(args.num_envs, args.num_steps, args.repeats)
        lerax_sps[mode] = sps
        rows.append(("lerax CartPole (jit + vmap)", mode, sps))
        if have_gymnax:
            sps = bench_gymnax(args.num_envs, args.num_steps, args.repeats)
            assert sps is not None
            rows.append(("gymnax CartPole-v1 (jit + vmap)", mode, sps))
    jax.config.update("jax_threefry_partitionable", default_mode)
    rows.append(
        ("Gymnasium CartPole-v1 (1 env)", "-", bench_gymnasium(args.gymnasium_steps))
    )
    rows.append(
        (
            f"Gymnasium CartPoleVectorEnv ({args.num_envs} envs, NumPy)",
            "-",
            bench_gymnasium_vector(args.num_envs, args.vector_steps),
        )
    )

    modes = list(lerax_sps)
    headers = [
        "implementation",
        "threefry",
        "steps/s",
        *(f"lerax {m.split()[0]} / row" for m in modes),
    ]
    table = [
        [name, mode, f"{sps:,.0f}", *(f"{lerax_sps[m] / sps:.2f}x" for m in modes)]
        for name, mode, sps in rows
    ]
    widths = [max(len(r[i]) for r in [headers, *table]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    print()
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for cells in table:
        print(line(cells))
    print()
    print(
        "Targets: lerax >= 1.0x gymnax (same threefry mode) and >= 100x Gymnasium "
        "(1 env).\nthreefry: JAX's jax_threefry_partitionable flag, which decides "
        "how random bits are generated; non-partitionable is cheaper on CPU."
    )


if __name__ == "__main__":
    main()
