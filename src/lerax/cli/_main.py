"""Argument parsing and error reporting of the ``lerax`` command."""

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from ._cache import cache_dir, enable_compilation_cache

__all__ = ["main"]

# What a user can get wrong: one line each, no traceback (unless --debug).
_USER_ERRORS = (ValueError, TypeError, KeyError, LookupError, OSError, ImportError)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lerax",
        description="Train, evaluate, inspect, verify and compare lerax files.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks of errors"
    )
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not use JAX's persistent compilation cache "
        f"(default folder: {cache_dir()}, or $LERAX_CACHE_DIR)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="what a file holds (metadata only)")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("verify", help="check checksums and that files load")
    p.add_argument("files", type=Path, nargs="+")

    p = sub.add_parser("diff", help="which leaves and fields of two files differ")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)

    p = sub.add_parser("plot", help="plot a run folder's training curves")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--output", type=Path, default=None, help="image (curves.png)")
    p.add_argument(
        "--metric",
        dest="metrics",
        action="append",
        default=None,
        help="a series of history.csv (repeatable; default: return and length)",
    )

    p = sub.add_parser("train", help="train a policy on a registered env")
    p.add_argument("env_id", help="e.g. CartPole-v1 (see lerax.env.registered_ids)")
    p.add_argument(
        "--algo", default="PPO", help="PPO, A2C, DQN, SAC or TD3 (default PPO)"
    )
    p.add_argument(
        "--policy",
        default=None,
        help="mlp or gru (PPO, A2C), q (DQN), sac, td3 (default: the algorithm's)",
    )
    p.add_argument("--timesteps", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, default=None, help="run folder")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an algorithm hyperparameter, e.g. --set learning_rate=3e-4",
    )
    p.add_argument(
        "--env-set",
        dest="env_settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an env constructor argument, e.g. --env-set max_episode_steps=200",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="iterations between checkpoints (default: every 10,000 steps)",
    )
    p.add_argument("--resume", action="store_true", help="continue from checkpoint")
    p.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("eval", help="evaluate a saved policy")
    p.add_argument("file", type=Path)
    p.add_argument("--env", dest="env_id", required=True)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--video", type=Path, default=None, help="write a GIF or MP4")
    p.add_argument(
        "--env-set", dest="env_settings", action="append", default=[], metavar="N=V"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``lerax`` command; returns its exit status."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("lerax: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as e:
        if args.debug:
            traceback.print_exc()
        print(f"lerax: error: {_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    first, *rest = text.splitlines()
    return first + (f" (and {len(rest)} more lines; --debug shows all)" if rest else "")


def _run(args: argparse.Namespace) -> int:
    # Imported here so that `lerax --help` answers at once.
    from ._files import diff_files, inspect_file, verify_file

    if args.command == "inspect":
        print(inspect_file(args.file, as_json=args.json))
        return 0
    if args.command == "verify":
        failed = 0
        for path in args.files:
            try:
                print(f"{path}: {verify_file(path)}")
            except _USER_ERRORS as e:
                failed += 1
                print(f"{path}: FAILED: {_one_line(e)}")
        return 1 if failed else 0
    if args.command == "diff":
        lines = diff_files(args.a, args.b)
        print("\n".join(lines) if lines else "no differences")
        return 1 if lines else 0
    if args.command == "plot":
        from ._train import plot_run

        print(plot_run(args.run_dir, output=args.output, metrics=args.metrics))
        return 0
    if not args.no_compile_cache:
        enable_compilation_cache(cache_dir())
    from ._train import evaluate_file, parse_settings, train

    if args.command == "train":
        output = args.output or Path("runs") / f"{args.env_id}-{args.algo}-{args.seed}"
        summary = train(
            args.env_id,
            output=output,
            algorithm=args.algo,
            policy=args.policy,
            timesteps=args.timesteps,
            seed=args.seed,
            settings=parse_settings(args.settings),
            env_settings=parse_settings(args.env_settings),
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            progress_bar=not args.no_progress,
            episodes=args.episodes,
        )
        print(f"run folder:   {output}")
        print(f"timesteps:    {summary['timesteps']:,}")
        print(f"time:         {summary['seconds']:.1f} s")
        print(
            f"eval return:  {summary['return_mean']:.1f} ± {summary['return_std']:.1f} "
            f"({args.episodes} episodes)"
        )
        print(f"policy:       {summary['policy']}")
        return 0
    summary = evaluate_file(
        args.file,
        args.env_id,
        episodes=args.episodes,
        seed=args.seed,
        video=args.video,
        env_settings=parse_settings(args.env_settings),
    )
    print(
        f"eval return:  {summary['return_mean']:.1f} ± {summary['return_std']:.1f} "
        f"({args.episodes} episodes)"
    )
    if summary["video"] is not None:
        print(f"video:        {summary['video']}")
    return 0
