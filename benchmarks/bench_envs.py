"""Random-policy throughput of every lerax env vs gymnax and Gymnasium.

Counts environment steps per second, on this machine, in one run, for each
registered id (``lerax.env.registered_ids()``):

* lerax and gymnax: ``--num-envs`` environments batched with `jax.vmap`,
  ``--num-steps`` steps in one jitted `jax.lax.scan`, auto-reset included.
  Both draw their actions the same way (one batched `jax.random.randint`, or
  `jax.random.uniform` within the action bounds, per step) and give each env
  its own key every step, as their APIs require, so that only the
  environments differ. Compilation is excluded; the best of ``--repeats``
  timed runs is kept, the two implementations' runs alternating so that a
  busy machine slows both alike. JAX's default ``jax_threefry_partitionable``
  setting is used throughout (``bench_cartpole.py`` compares both settings).
* Gymnasium: ``gymnasium.make(id)`` stepped in a Python loop with
  ``action_space.sample()``, resetting when an episode ends; and, where
  Gymnasium has one (CartPole), its NumPy-vectorized env with
  ``--num-envs`` environments. Each is timed over ``--repeats`` stretches of
  ``--gymnasium-steps`` (or ``--vector-steps``) steps, keeping the best.

Targets: lerax >= 1.0x gymnax and >= 100x Gymnasium (1 env). gymnax is
optional (``pip install gymnax``): its rows are skipped with a message when it
is missing.

Usage::

    python benchmarks/bench_envs.py [--num-envs 16384] [--num-steps 500]
        [--env CartPole-v1 ...]
"""

import argparse
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import lerax.env
from lerax.env import AbstractEnv, Box, Discrete

# Sampler of one batch of random actions: (key, num_envs) -> actions.
Sampler = Callable[[jax.Array, int], jax.Array]


def _best_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of `repeats` calls of each function, after one untimed
    warm-up call each; the functions take turns, so that a busy machine
    slows them alike."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _sampler(env: AbstractEnv) -> Sampler:
    """Uniform random actions for a whole batch, drawn in one call."""
    space = env.action_space
    if isinstance(space, Discrete):
        n = space.n
        return lambda key, num_envs: jax.random.randint(key, (num_envs,), 0, n)
    if isinstance(space, Box):
        low, high, shape = space.low, space.high, space.shape
        return lambda key, num_envs: jax.random.uniform(
            key, (num_envs, *shape), minval=low, maxval=high
        )
    raise TypeError(f"no random actions for {space!r}")


def _scan_rollout(
    reset: Callable[[jax.Array], Any],
    step: Callable[[Any, jax.Array, jax.Array], tuple[Any, jax.Array]],
    sample: Sampler,
    num_envs: int,
    num_steps: int,
) -> Callable[[jax.Array], jax.Array]:
    """A jitted rollout of `num_envs` vmapped envs for `num_steps` steps.

    `reset(key) -> state` and `step(state, action, key) -> (state, checksum)`
    act on one env; the checksum consumes every output, so that none is
    optimized away.
    """

    @jax.jit
    def rollout(key: jax.Array) -> jax.Array:
        reset_key, key = jax.random.split(key)
        states = jax.vmap(reset)(jax.random.split(reset_key, num_envs))

        def body(carry, key):
            states, checksum = carry
            action_key, step_key = jax.random.split(key)
            actions = sample(action_key, num_envs)
            states, sums = jax.vmap(step)(
                states, actions, jax.random.split(step_key, num_envs)
            )
            return (states, checksum + sums.sum()), None

        (_, checksum), _ = jax.lax.scan(
            body, (states, jnp.float32(0)), jax.random.split(key, num_steps)
        )
        return checksum

    return rollout


def lerax_rollout(
    env_id: str, num_envs: int, num_steps: int
) -> Callable[[jax.Array], jax.Array]:
    env = lerax.env.make(env_id)

    def reset(key):
        return env.reset(key=key)[0]

    def step(state, action, key):
        state, obs, reward, terminated, truncated, _ = env.step(state, action, key=key)
        return state, obs.sum() + reward + (terminated | truncated)

    return _scan_rollout(reset, step, _sampler(env), num_envs, num_steps)


def gymnax_rollout(
    env_id: str, num_envs: int, num_steps: int
) -> Callable[[jax.Array], jax.Array] | None:
    """gymnax's rollout, or `None` if gymnax is not installed."""
    try:
        import gymnax
    except ImportError:
        return None
    env, params = gymnax.make(env_id)

    def reset(key):
        return env.reset(key, params)[1]

    def step(state, action, key):
        # gymnax >= 1.0 returns terminated and truncated, older ones done.
        obs, state, reward, *flags, _ = env.step(key, state, action, params)
        done = functools.reduce(jnp.logical_or, flags)
        return state, obs.sum() + reward + done

    # The same random actions as lerax's, from lerax's (identical) space.
    sample = _sampler(lerax.env.make(env_id))
    return _scan_rollout(reset, step, sample, num_envs, num_steps)


def bench_jax(
    env_id: str, num_envs: int, num_steps: int, repeats: int
) -> dict[str, float]:
    """Steps/s of lerax and (if installed) gymnax, timed in alternation."""
    key = jax.random.key(0)
    rollouts = {"lerax": lerax_rollout(env_id, num_envs, num_steps)}
    gymnax_fn = gymnax_rollout(env_id, num_envs, num_steps)
    if gymnax_fn is not None:
        rollouts["gymnax"] = gymnax_fn
    times = _best_times(
        {name: functools.partial(fn, key) for name, fn in rollouts.items()}, repeats
    )
    return {name: num_envs * num_steps / t for name, t in times.items()}


def bench_gymnasium(env_id: str, num_steps: int, repeats: int) -> float:
    import gymnasium

    env = gymnasium.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(num_steps):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        best = min(best, time.perf_counter() - start)
    return num_steps / best


def bench_gymnasium_vector(
    env_id: str, num_envs: int, num_steps: int, repeats: int
) -> float | None:
    """Steps/s of Gymnasium's own vectorized env, or `None` if it has none."""
    import gymnasium

    if gymnasium.spec(env_id).vector_entry_point is None:
        return None
    env = gymnasium.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point"
    )
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(num_steps)]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for action in actions:  # the vector env resets finished episodes itself
            env.step(action)
        best = min(best, time.perf_counter() - start)
    return num_envs * num_steps / best


def _table(headers: list[str], rows: list[list[str]], left: int) -> str:
    """A Markdown table; the first `left` columns are left-aligned."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i < left else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    rule = "|" + "|".join(
        "-" * (w + 2) if i < left else "-" * (w + 1) + ":" for i, w in enumerate(widths)
    )
    return "\n".join([line(headers), rule + "|", *(line(r) for r in rows)])


def _rate(sps: float) -> str:
    return f"{sps / 1e6:.3g} M" if sps >= 1e5 else f"{sps / 1e3:.3g} k"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=16384)
    parser.add_argument("--num-steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gymnasium-steps", type=int, default=5_000)
    parser.add_argument("--vector-steps", type=int, default=100)
    parser.add_argument(
        "--env",
        action="append",
        choices=lerax.env.registered_ids(),
        help="benchmark only this id (repeatable; default: every registered id)",
    )
    args = parser.parse_args()
    env_ids = args.env or list(lerax.env.registered_ids())

    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform} "
        f"({os.cpu_count()} CPUs); {args.num_envs} envs x {args.num_steps} steps, "
        "random policy"
    )
    try:
        import gymnax  # noqa: F401
    except ImportError:
        print("gymnax is not installed (pip install gymnax): skipping its rows.")

    rows: list[list[str]] = []
    summary: list[list[str]] = []
    for env_id in env_ids:
        start = time.perf_counter()
        jax_sps = bench_jax(env_id, args.num_envs, args.num_steps, args.repeats)
        lerax_sps = jax_sps["lerax"]
        results: list[tuple[str, float | None]] = [
            ("lerax (jit + vmap)", lerax_sps),
            ("gymnax (jit + vmap)", jax_sps.get("gymnax")),
            (
                "Gymnasium (1 env)",
                bench_gymnasium(env_id, args.gymnasium_steps, args.repeats),
            ),
            (
                f"Gymnasium vector env ({args.num_envs} envs, NumPy)",
                bench_gymnasium_vector(
                    env_id, args.num_envs, args.vector_steps, args.repeats
                ),
            ),
        ]
        ratios: dict[str, float] = {}
        for name, sps in results:
            if sps is None:
                continue
            ratios[name] = lerax_sps / sps
            rows.append([env_id, name, _rate(sps), f"{lerax_sps / sps:.2f}x"])
        gymnax_ratio = ratios.get("gymnax (jit + vmap)")
        gymnasium_ratio = ratios["Gymnasium (1 env)"]
        met = (gymnax_ratio is None or gymnax_ratio >= 1.0) and gymnasium_ratio >= 100
        summary.append(
            [
                env_id,
                _rate(lerax_sps),
                "-" if gymnax_ratio is None else f"{gymnax_ratio:.2f}x",
                f"{gymnasium_ratio:.0f}x",
                "yes" if met else "no",
            ]
        )
        print(f"{env_id}: {time.perf_counter() - start:.0f} s", flush=True)

    print()
    print(_table(["env", "implementation", "steps/s", "lerax / row"], rows, left=2))
    print()
    print(
        _table(
            ["env", "lerax steps/s", "vs gymnax", "vs Gymnasium (1 env)", "targets"],
            summary,
            left=1,
        )
    )
    print()
    print("Targets: lerax >= 1.0x gymnax and >= 100x Gymnasium (1 env).")


if __name__ == "__main__":
    main()
