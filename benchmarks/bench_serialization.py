"""Save/load throughput of a ~200 MB module: lerax vs raw equinox.

Run: ``python benchmarks/bench_serialization.py [--mb 200] [--repeats 5]``.
Prints a table of median wall-clock times and the throughput ratio lerax/equinox
(higher is better for lerax; the target is >= 0.9x); then, for an asynchronous save
(``blocking=False``), the time the caller is blocked as a fraction of a plain
equinox save (the target is <= 0.2x) and the throughput until the file is complete,
and the blocked time when the leaves are NumPy arrays (which are copied first);
then the load time of a small CartPole policy, where per-leaf and metadata overheads
dominate.
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.utils import Serializable


class Blob(Serializable):
    """A module holding ``n`` float32 matrices of 1024x1024 (4 MiB each)."""

    weights: list[jax.Array]

    def __init__(self, n: int, *, key: jax.Array):
        keys = jax.random.split(key, n)
        self.weights = [jax.random.normal(k, (1024, 1024), jnp.float32) for k in keys]


def _median_times(
    fn_a: Callable[[], object], fn_b: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median wall times of two functions, run alternately so drift hits both.

    Each run starts with no dirty pages left by the previous one (``os.sync``), so
    that neither pays for the other's disk writes.
    """
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(repeats + 1):
        for fn, out in ((fn_a, times[0]), (fn_b, times[1])):
            os.sync()
            start = time.perf_counter()
            jax.block_until_ready(eqx.filter(fn(), eqx.is_array))
            if i:  # the first round only warms caches up
                out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _async_times(
    module: Serializable, p_eqx: Path, p_lrx: Path, repeats: int
) -> tuple[float, float, float]:
    """Median times of a plain equinox save, and of an asynchronous lerax save until
    `serialize` returns (blocked) and until the file is complete (total)."""
    times: tuple[list[float], list[float], list[float]] = ([], [], [])
    for i in range(repeats + 1):
        os.sync()
        start = time.perf_counter()
        eqx.tree_serialise_leaves(p_eqx, module)
        t_eqx = time.perf_counter() - start
        os.sync()
        start = time.perf_counter()
        handle = module.serialize(p_lrx, blocking=False)
        t_blocked = time.perf_counter() - start
        handle.wait()
        t_total = time.perf_counter() - start
        if i:  # the first round only warms caches up
            for out, t in zip(times, (t_eqx, t_blocked, t_total), strict=True):
                out.append(t)
    return (
        statistics.median(times[0]),
        statistics.median(times[1]),
        statistics.median(times[2]),
    )


def _eqx_save_fsync(path: Path, tree: object) -> None:
    with open(path, "wb") as f:
        eqx.tree_serialise_leaves(f, tree)
        f.flush()
        os.fsync(f.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200, help="module size in MiB")
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()

    module = Blob(max(1, args.mb // 4), key=jax.random.key(0))
    jax.block_until_ready(module.weights)
    size_mb = sum(w.nbytes for w in module.weights) / 2**20
    like = eqx.filter_eval_shape(Blob, len(module.weights), key=jax.random.key(0))
    with tempfile.TemporaryDirectory() as tmp:
        p_eqx, p_lrx = Path(tmp, "eqx.eqx"), Path(tmp, "lerax.eqx")

        def lerax_save() -> object:
            return module.serialize(p_lrx)

        contenders = {  # name: (equinox, lerax)
            "save": (lambda: eqx.tree_serialise_leaves(p_eqx, module), lerax_save),
            "save, both fsynced": (lambda: _eqx_save_fsync(p_eqx, module), lerax_save),
            "load": (
                lambda: eqx.tree_deserialise_leaves(p_eqx, like),
                lambda: Blob.deserialize(p_lrx),
            ),
        }
        # A small module of many leaves: per-leaf and metadata overheads dominate.
        policy = MLPActorCriticPolicy(CartPole(), key=jax.random.key(0))
        policy_like = eqx.filter_eval_shape(
            MLPActorCriticPolicy, CartPole(), key=jax.random.key(0)
        )
        p_small_eqx, p_small_lrx = Path(tmp, "p_eqx.eqx"), Path(tmp, "p_lerax.eqx")
        eqx.tree_serialise_leaves(p_small_eqx, policy)
        policy.serialize(p_small_lrx)
        p_small_lrx_size = p_small_lrx.stat().st_size
        small = {
            "load policy": (
                lambda: eqx.tree_deserialise_leaves(p_small_eqx, policy_like),
                lambda: MLPActorCriticPolicy.deserialize(p_small_lrx),
            ),
        }
        rows = [
            (name, *_median_times(eqx_fn, lerax_fn, args.repeats))
            for name, (eqx_fn, lerax_fn) in contenders.items()
        ]
        t_eqx_save, t_blocked, t_total = _async_times(
            module, p_eqx, p_lrx, args.repeats
        )
        # NumPy leaves are mutable, so an asynchronous save copies them first.
        numpy_module = jax.tree.map(np.asarray, module)
        _, t_blocked_np, _ = _async_times(numpy_module, p_eqx, p_lrx, args.repeats)
        small_rows = [
            (name, *_median_times(eqx_fn, lerax_fn, args.repeats))
            for name, (eqx_fn, lerax_fn) in small.items()
        ]
    print(
        f"module: {size_mb:.0f} MiB in {len(module.weights)} leaves, "
        f"median of {args.repeats}; lerax saves are atomic and fsynced"
    )
    print(
        f"{'operation':<20} {'equinox s':>10} {'lerax s':>10} {'eqx MB/s':>10} "
        f"{'lerax MB/s':>11} {'ratio':>7}"
    )
    for name, t_eqx, t_lrx in rows:
        print(
            f"{name:<20} {t_eqx:>10.3f} {t_lrx:>10.3f} {size_mb / t_eqx:>10.0f} "
            f"{size_mb / t_lrx:>11.0f} {t_eqx / t_lrx:>6.2f}x"
        )
    print(
        f"\nasync save (blocking=False) vs equinox save: blocked "
        f"{t_blocked * 1e3:.1f} ms vs {t_eqx_save * 1e3:.1f} ms "
        f"({t_blocked / t_eqx_save:.3f}x, target <= 0.2x); complete after "
        f"{t_total:.3f} s ({size_mb / t_total:.0f} MB/s, atomic and fsynced); "
        f"with NumPy leaves (copied first) blocked {t_blocked_np * 1e3:.1f} ms "
        f"({t_blocked_np / t_eqx_save:.3f}x)"
    )
    small_kb = p_small_lrx_size / 1024
    print(f"\nCartPole MLP policy ({small_kb:.0f} KiB, no constructor arguments):")
    print(f"{'operation':<20} {'equinox ms':>10} {'lerax ms':>10} {'ratio':>7}")
    for name, t_eqx, t_lrx in small_rows:
        ms_eqx, ms_lrx = t_eqx * 1e3, t_lrx * 1e3
        print(f"{name:<20} {ms_eqx:>10.2f} {ms_lrx:>10.2f} {t_eqx / t_lrx:>6.2f}x")


if __name__ == "__main__":
    main()
