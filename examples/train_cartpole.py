"""Train PPO on CartPole, save the policy, reload it and check it acts the same.

Usage::

    python examples/train_cartpole.py [--output DIR] [--timesteps 100000] [--seed 0]

The policy is written to ``DIR/cartpole_policy.eqx`` (by default a new temporary
folder, printed at the end), and a GIF of the reloaded policy balancing the pole
for one episode to ``DIR/cartpole.gif`` (``--no-video`` skips it; writing it
needs lerax's video extra, ``pip install "lerax[video]"``). Exits with status 1 if
the reloaded policy's actions differ from the trained policy's.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from lerax.algorithm import PPO, evaluate
from lerax.env import CartPole, record_video
from lerax.policy import MLPActorCriticPolicy


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder for cartpole_policy.eqx (default: a new temporary folder)",
    )
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True
    )
    parser.add_argument(
        "--video",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write cartpole.gif, an episode of the reloaded policy",
    )
    args = parser.parse_args()
    output = args.output or Path(tempfile.mkdtemp(prefix="lerax-cartpole-"))

    env = CartPole()
    policy_key, train_key, eval_key = jax.random.split(jax.random.key(args.seed), 3)
    start = time.perf_counter()
    policy = MLPActorCriticPolicy(env, key=policy_key)
    policy, history = PPO().learn_with_history(
        env, policy, args.timesteps, key=train_key, progress_bar=args.progress
    )
    jax.block_until_ready(policy)
    seconds = time.perf_counter() - start

    path = policy.serialize(output / "cartpole_policy.eqx")
    assert path is not None
    loaded = MLPActorCriticPolicy.deserialize(path)  # no constructor arguments

    returns = evaluate(env, policy, key=eval_key, num_episodes=20)
    loaded_returns = evaluate(env, loaded, key=eval_key, num_episodes=20)

    # Same greedy actions on many observations: sampled ones (the velocity bounds
    # are infinite, so these are Gaussian) and ones seen while acting.
    keys = jax.random.split(jax.random.key(args.seed + 1), 10_000)
    observations = jax.vmap(lambda k: env.observation_space.sample(key=k))(keys)
    actions = jax.vmap(policy.predict)(observations)
    loaded_actions = jax.vmap(loaded.predict)(observations)
    same = bool(np.array_equal(actions, loaded_actions)) and bool(
        np.array_equal(returns, loaded_returns)
    )

    video = None
    if args.video:
        video = record_video(
            env, loaded, output / "cartpole.gif", key=jax.random.fold_in(eval_key, 1)
        )

    recent = history.episode_return[-10:]
    print(f"timesteps:        {int(history.timesteps[-1]):,}")
    print(f"training time:    {seconds:.1f} s (compilation included)")
    print(f"training return:  {np.nanmean(recent):.1f} (last 10 iterations)")
    print(f"eval return:      {float(returns.mean()):.1f} ± {float(returns.std()):.1f}")
    print(
        f"reloaded return:  {float(loaded_returns.mean()):.1f} ± "
        f"{float(loaded_returns.std()):.1f}"
    )
    print(f"policy file:      {path} ({path.stat().st_size:,} bytes)")
    print(f"same actions:     {same} (on {len(keys):,} observations)")
    if video is not None:
        print(f"video:            {video} ({video.stat().st_size:,} bytes)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
