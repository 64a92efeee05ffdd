"""Full training runs of every lerax algorithm vs Stable-Baselines3 and rejax.

For each algorithm, the wall-clock time of one complete training run of the
budget its learning target is stated for, with the rl-baselines3-zoo settings
that lerax's defaults follow, and the mean deterministic evaluation return of
the trained policy (so the table also shows that the runs reached comparable
results):

=========  ===========  ========  ==========================================
algorithm  env          steps     settings (rl-zoo; SB3 defaults otherwise)
=========  ===========  ========  ==========================================
A2C        CartPole-v1  500,000   8 envs, 5 steps, RMSprop lr 7e-4, MLP 64-64 tanh
DQN        CartPole-v1  50,000    lr 2.3e-3, batch 64, buffer 100k, 1k random
                                  steps, train_freq 256, 128 gradient steps,
                                  target update every 10 steps, eps 1 -> 0.04
                                  over 16 %, MLP 256-256 ReLU, plain (not
                                  double) Q-learning, Huber loss
SAC        Pendulum-v1  20,000    lr 1e-3, batch 256, 100 random steps, tau
                                  0.005, learned entropy coefficient, MLP
                                  256-256 ReLU
TD3        Pendulum-v1  20,000    lr 1e-3, gamma 0.98, buffer 200k, 10k random
                                  steps, exploration noise 0.1 (of the [-1, 1]
                                  action scale), MLP 400-300 ReLU
PPO        CartPole-v1  100,000   the bench_ppo.py settings (8 envs x 32 steps,
                                  20 epochs of one minibatch, ...)
=========  ===========  ========  ==========================================

Budgets are rounded down to whole lerax iterations (e.g. DQN 49,920 steps =
195 x 256), and every library trains for exactly that many steps.

Peers:

* lerax: ``lerax.env.CartPole`` / ``Pendulum``, the algorithm's defaults (DQN
  with ``double_q=False``, as SB3's DQN), one jitted ``learn`` call.
* ``sb3``: Stable-Baselines3 on Gymnasium's ``CartPole-v1`` / ``Pendulum-v1``,
  the same hyperparameters and network sizes, ``device="cpu"``, PyTorch
  limited to one thread (``--torch-threads``): with its default of one thread
  per core, SB3 ran 9-40x slower on the shared 2-core machine these numbers
  come from (OpenMP threads spinning while other processes held the cores;
  e.g. 400 SAC steps took 513 s instead of 12.6 s).
* ``rejax`` (PPO, DQN, SAC, TD3): rejax 0.1.3 on gymnax's envs, configured as
  close to the same settings as its configuration allows; its remaining
  differences are listed in ``docs/benchmarks-algorithms.md``. rejax 0.1.3 was
  written for gymnax 0.0.x, whose ``step`` returns 5 values; gymnax >= 1.0
  returns ``terminated`` and ``truncated`` separately, so the envs are wrapped
  to give rejax ``done = terminated | truncated`` as gymnax 0.0.x did.

Timing. Each run is a fresh Python process, timed from its start ("cold":
imports, env and policy construction, compilation included); "warm" is a
second run of the same length in the same process (another seed: compiled code
is reused, for SB3 only Python's and PyTorch's one-off costs are gone). The
trained policy is evaluated after the clock stops, on ``--eval-episodes``
episodes with deterministic actions; evaluation is not timed. Runs are made one
at a time, the peers of an algorithm in turn (in reverse order on every other
repeat) so that a busy machine slows them alike; each cell is the median over
``--repeats``. Process CPU time (user + system, all threads) is reported too:
it is less sensitive than wall time to other load on the machine.

Targets: lerax / SB3 wall time <= 0.2 cold and <= 0.05 warm; lerax speed /
rejax speed (rejax seconds / lerax seconds) >= 1.0.

SB3 needs ``pip install torch==2.13.0 stable-baselines3``, rejax ``pip install
rejax``; a missing peer is skipped with a message.

Usage::

    python benchmarks/bench_algorithms.py [--algos a2c,dqn,sac,td3,ppo]
        [--peers sb3,rejax] [--skip-cold] [--skip-warm] [--repeats 1]
        [--scale 1.0] [--json results.json]

``--skip-cold`` skips measuring the cold run: SB3 then trains once (timed from
model construction, imports excluded, as its warm run), but JAX peers still
train twice, as their warm run needs the first to compile. ``--skip-warm``
trains once in each process. ``--scale`` multiplies every budget (for a quick
check of the script: ``--scale 0.05``).
"""

import argparse
import dataclasses
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from typing import Any, cast

_PROCESS_START = time.perf_counter()


@dataclasses.dataclass(frozen=True)
class _Spec:
    """An algorithm's benchmark: env, budget, peers."""

    name: str
    env_id: str
    budget: int
    steps_per_iteration: int  # lerax's; the budget is rounded down to it
    peers: tuple[str, ...]

    def steps(self, scale: float) -> int:
        budget = int(self.budget * scale)
        return max(1, budget // self.steps_per_iteration) * self.steps_per_iteration


_SPECS = {
    "a2c": _Spec("A2C", "CartPole-v1", 500_000, 40, ("lerax", "sb3")),
    "dqn": _Spec("DQN", "CartPole-v1", 50_000, 256, ("lerax", "sb3", "rejax")),
    "sac": _Spec("SAC", "Pendulum-v1", 20_000, 1, ("lerax", "sb3", "rejax")),
    "td3": _Spec("TD3", "Pendulum-v1", 20_000, 2, ("lerax", "sb3", "rejax")),
    "ppo": _Spec("PPO", "CartPole-v1", 100_000, 256, ("lerax", "sb3", "rejax")),
}
_PEER_NAMES = {"lerax": "lerax", "sb3": "SB3", "rejax": "rejax"}
_PEER_MODULES = {
    "lerax": ("lerax", "jax"),
    "sb3": ("stable_baselines3", "torch", "gymnasium"),
    "rejax": ("rejax", "gymnax"),
}
_PEER_INSTALL = {
    "sb3": "pip install torch==2.13.0 stable-baselines3",
    "rejax": "pip install rejax",
}


# --------------------------------------------------------------------------
# Workers: each runs in a fresh process (``--worker``); imports stay inside.


def _lerax_trainer(algo: str, seed: int, steps: int) -> Any:
    """Builds the policy and trains it; returns a function evaluating it."""
    import equinox as eqx
    import jax

    from lerax.algorithm import A2C, DQN, PPO, SAC, TD3, evaluate
    from lerax.env import CartPole, Pendulum
    from lerax.policy import (
        MLPActorCriticPolicy,
        MLPQPolicy,
        MLPSACPolicy,
        MLPTD3Policy,
    )

    key = jax.random.key(seed)
    if algo in ("a2c", "ppo"):
        env = CartPole()
        algorithm = A2C() if algo == "a2c" else PPO()
        policy = MLPActorCriticPolicy(env, key=key)
    elif algo == "dqn":
        env = CartPole()
        algorithm = DQN(double_q=False)  # SB3's and rejax's plain Q-learning
        policy = MLPQPolicy(env, key=key, hidden_sizes=(256, 256))
    elif algo == "sac":
        env = Pendulum()
        algorithm = SAC()
        policy = MLPSACPolicy(env, key=key)
    else:
        env = Pendulum()
        algorithm = TD3()
        policy = MLPTD3Policy(env, key=key)
    policy = algorithm.learn(env, policy, steps, key=jax.random.key(1000 + seed))
    jax.block_until_ready(eqx.filter(policy, eqx.is_array))

    def evaluate_policy(episodes: int) -> float:
        eval_key = jax.random.key(10_000 + seed)
        return float(evaluate(env, policy, key=eval_key, num_episodes=episodes).mean())

    return evaluate_policy


def _sb3_trainer(algo: str, seed: int, steps: int) -> Any:
    """Builds the SB3 model and trains it; returns a function evaluating it."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.noise import NormalActionNoise

    env_id = _SPECS[algo].env_id
    common: dict[str, Any] = {"seed": seed, "device": "cpu", "verbose": 0}
    model: Any
    if algo == "a2c":
        env = make_vec_env(env_id, n_envs=8, seed=seed)
        model = A2C("MlpPolicy", env, **common)  # SB3's defaults are the zoo's
    elif algo == "ppo":

        def linear(initial: float) -> Any:
            return lambda progress_remaining: progress_remaining * initial

        env = make_vec_env(env_id, n_envs=8, seed=seed)
        model = PPO(
            "MlpPolicy",
            env,
            n_steps=32,
            batch_size=256,
            gae_lambda=0.8,
            gamma=0.98,
            n_epochs=20,
            ent_coef=0.0,
            learning_rate=linear(1e-3),
            clip_range=linear(0.2),
            **common,
        )
    elif algo == "dqn":
        model = DQN(
            "MlpPolicy",
            gym.make(env_id),
            learning_rate=2.3e-3,
            batch_size=64,
            buffer_size=100_000,
            learning_starts=1000,
            gamma=0.99,
            target_update_interval=10,
            train_freq=256,
            gradient_steps=128,
            exploration_fraction=0.16,
            exploration_final_eps=0.04,
            policy_kwargs={"net_arch": [256, 256]},
            **common,
        )
    elif algo == "sac":
        model = SAC("MlpPolicy", gym.make(env_id), learning_rate=1e-3, **common)
    else:
        model = TD3(
            "MlpPolicy",
            gym.make(env_id),
            gamma=0.98,
            buffer_size=200_000,
            learning_starts=10_000,
            action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)),
            train_freq=1,
            gradient_steps=1,
            learning_rate=1e-3,
            policy_kwargs={"net_arch": [400, 300]},
            **common,
        )
    model.learn(steps)

    def evaluate_model(episodes: int) -> float:
        eval_env = Monitor(gym.make(env_id))
        eval_env.reset(seed=10_000 + seed)
        returns, _ = evaluate_policy(
            model,
            eval_env,
            n_eval_episodes=episodes,
            deterministic=True,
            return_episode_rewards=True,
        )
        return statistics.fmean(cast(list[float], returns))

    return evaluate_model


class _Gymnax0Env:
    """A gymnax >= 1.0 env with gymnax 0.0.x's ``step``, for rejax 0.1.3:
    ``(obs, state, reward, done, info)`` with ``done = terminated |
    truncated``."""

    def __init__(self, env: Any):
        self._env = env

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_env":  # copy.deepcopy probes these
            raise AttributeError(name)
        return getattr(self._env, name)

    def reset(self, key: Any, params: Any = None) -> Any:
        return self._env.reset(key, params)

    def step(self, key: Any, state: Any, action: Any, params: Any = None) -> Any:
        import jax.numpy as jnp

        obs, state, reward, terminated, truncated, info = self._env.step(
            key, state, action, params
        )
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


def _rejax_trainer(algo: str, seed: int, steps: int, cache: dict[str, Any]) -> Any:
    """Configures rejax, compiles its training (once per process, kept in
    `cache`) and trains; returns a function evaluating the result."""
    import gymnax
    import jax
    import jax.numpy as jnp

    if "train" not in cache:
        import optax
        from flax import linen as nn
        from rejax import DQN, PPO, SAC, TD3, networks

        # rejax's annotations are narrower than what its own code passes.
        nets = cast(Any, networks)

        gymnax_env, env_params = gymnax.make(_SPECS[algo].env_id)
        env = _Gymnax0Env(gymnax_env)
        # One evaluation at the very end, replaced by a no-op: the benchmark
        # evaluates after the clock stops, with deterministic actions.
        common: dict[str, Any] = {
            "env": env,
            "env_params": env_params,
            "total_timesteps": steps,
            "eval_freq": steps,
            "skip_initial_evaluation": True,
        }
        config: Any
        if algo == "ppo":
            updates = steps // 256 * 20  # iterations x epochs x 1 minibatch
            config = PPO.create(
                num_envs=8,
                num_steps=32,
                num_epochs=20,
                num_minibatches=1,
                gamma=0.98,
                gae_lambda=0.8,
                learning_rate=optax.linear_schedule(1e-3, 0.0, updates),
                clip_eps=0.2,
                ent_coef=0.0,
                vf_coef=0.5,
                max_grad_norm=0.5,
                agent_kwargs={"activation": "tanh", "hidden_layer_sizes": (64, 64)},
                **common,
            )
        elif algo == "dqn":
            # 256 envs stepped once, then 128 gradient steps: SB3's schedule of
            # 256 steps of one env (rejax trains after every vectorised step).
            config = DQN.create(
                num_envs=256,
                num_epochs=128,
                batch_size=64,
                buffer_size=min(100_000, steps),
                fill_buffer=1000,
                learning_rate=2.3e-3,
                gamma=0.99,
                target_update_freq=10,
                polyak=0.0,
                eps_start=1.0,
                eps_end=0.04,
                exploration_fraction=0.16,
                ddqn=False,
                max_grad_norm=10.0,
                **common,
            )
            # Its create() fixes the Q-network's hidden sizes to (64, 64).
            config = config.replace(
                agent=nets.EpsilonGreedyPolicy(nets.DiscreteQNetwork)(
                    hidden_layer_sizes=(256, 256),
                    action_dim=gymnax_env.num_actions,
                    activation=nn.relu,
                )
            )
        elif algo == "sac":
            config = SAC.create(
                num_envs=1,
                num_epochs=1,
                batch_size=256,
                buffer_size=min(1_000_000, steps),
                fill_buffer=100,
                learning_rate=1e-3,
                gamma=0.99,
                polyak=0.995,
                target_update_freq=1,
                hidden_layer_sizes=(256, 256),
                agent_kwargs={"activation": "relu"},
                **common,
            )
        else:
            space = gymnax_env.action_space(env_params)
            scale = float((space.high - space.low) / 2)  # rejax adds noise unscaled
            config = TD3.create(
                num_envs=1,
                num_epochs=1,
                batch_size=256,
                buffer_size=min(200_000, steps),
                fill_buffer=10_000,
                learning_rate=1e-3,
                gamma=0.98,
                polyak=0.995,
                target_update_freq=1,
                policy_delay=2,
                exploration_noise=0.1 * scale,
                target_noise=0.2 * scale,
                target_noise_clip=0.5 * scale,
                **common,
            )
            # Its create() fixes both networks' hidden sizes to (64, 64).
            config = config.replace(
                actor=nets.DeterministicPolicy(
                    1, (space.low, space.high), (400, 300), nn.relu
                ),
                critic=nets.QNetwork((400, 300), nn.relu),
            )
        config = config.replace(eval_callback=lambda algo, ts, rng: jnp.zeros(()))
        cache["config"] = config
        cache["train"] = jax.jit(config.train)

    config = cache["config"]
    state, _ = cache["train"](jax.random.key(seed))
    jax.block_until_ready(state)

    def act(obs: Any, rng: Any) -> Any:
        del rng  # deterministic
        obs = obs[None]
        if algo == "ppo":
            params = state.actor_ts.params
            dist = config.actor.apply(params, obs, method="_action_dist")
            return dist.mode()[0]
        if algo == "dqn":
            return jnp.argmax(config.agent.apply(state.q_ts.params, obs), -1)[0]
        if algo == "sac":
            params = state.actor_ts.params
            dist = config.actor.apply(params, obs, method="_action_dist")
            actor = config.actor
            return (actor.action_loc + jnp.tanh(dist.mean()) * actor.action_scale)[0]
        return config.actor.apply(state.actor_ts.params, obs)[0]

    def evaluate_state(episodes: int) -> float:
        from rejax.evaluate import evaluate

        params = config.env_params
        _, returns = evaluate(
            act,
            jax.random.key(10_000 + seed),
            config.env,
            params,
            episodes,
            params.max_steps_in_episode,
        )
        return float(returns.mean())

    return evaluate_state


def _worker(job: dict[str, Any]) -> dict[str, Any]:
    """Cold run (from process start), then warm runs; prints nothing."""
    peer, algo, seed, steps = job["peer"], job["algo"], job["seed"], job["steps"]
    cache: dict[str, Any] = {}
    if peer == "sb3" and job["torch_threads"]:
        import torch

        torch.set_num_threads(job["torch_threads"])

    def train(run_seed: int) -> Any:
        if peer == "lerax":
            return _lerax_trainer(algo, run_seed, steps)
        if peer == "sb3":
            return _sb3_trainer(algo, run_seed, steps)
        return _rejax_trainer(algo, run_seed, steps, cache)

    result: dict[str, Any] = {"steps": steps, "cold": None, "warm": []}
    if not job["skip_cold"]:
        evaluate = train(seed)
        result["cold"] = {
            "seconds": time.perf_counter() - _PROCESS_START,
            "cpu": time.process_time(),
            "eval": evaluate(job["episodes"]),
        }
    elif peer != "sb3":
        train(seed)  # compiles; SB3 has nothing to compile, its one run is warm
    for repeat in range(job["warm_repeats"]):
        start, cpu = time.perf_counter(), time.process_time()
        evaluate = train(seed + 1 + repeat)
        result["warm"].append(
            {
                "seconds": time.perf_counter() - start,
                "cpu": time.process_time() - cpu,
                "eval": evaluate(job["episodes"]),
            }
        )
    return result


# --------------------------------------------------------------------------
# Driver.


def _run(job: dict[str, Any]) -> dict[str, Any]:
    """Runs one worker in a fresh interpreter and returns its RESULT line."""
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"benchmark run failed ({job}):\n{out.stderr[-3000:]}")


def _median(runs: list[dict[str, Any]], phase: str, key: str) -> float | None:
    values = []
    for run in runs:
        entries = [run[phase]] if phase == "cold" else run[phase]
        values += [e[key] for e in entries if e is not None]
    return statistics.median(values) if values else None


def _evals(runs: list[dict[str, Any]]) -> str:
    values = [r["cold"]["eval"] for r in runs if r["cold"] is not None]
    values += [w["eval"] for r in runs for w in r["warm"]]
    return ", ".join(f"{v:.0f}" for v in values) if values else "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(num: float | None, den: float | None, target: float, low: bool) -> str:
    if num is None or den is None or den == 0:
        return "-"
    ratio = num / den
    met = ratio <= target if low else ratio >= target
    return (
        f"{ratio:.3f} {'✓' if met else '✗'}"
        if low
        else f"{ratio:.2f} {'✓' if met else '✗'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--algos", default="a2c,dqn,sac,td3,ppo")
    parser.add_argument("--peers", default="sb3,rejax")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-warm", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="processes per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--scale", type=float, default=1.0, help="budget factor")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="PyTorch intra-op threads for SB3 (0: PyTorch's default, one per core)",
    )
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument(
        "--report",
        metavar="JSON",
        help="print the tables of a --json file, run nothing",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(_worker(json.loads(args.worker))), flush=True)
        return
    if args.report:
        with open(args.report) as f:
            saved = json.load(f)
        _report(
            saved["results"],
            repeats=saved["args"]["repeats"],
            episodes=saved["args"]["eval_episodes"],
        )
        return

    algos = [a.strip().lower() for a in args.algos.split(",") if a.strip()]
    peers = [p.strip().lower() for p in args.peers.split(",") if p.strip()]
    for name in algos:
        if name not in _SPECS:
            parser.error(f"unknown algorithm {name!r}; choose from {', '.join(_SPECS)}")
    for name in peers:
        if name not in ("sb3", "rejax"):
            parser.error(f"unknown peer {name!r}; choose from sb3, rejax")
    if args.skip_cold and args.skip_warm:
        parser.error("--skip-cold and --skip-warm leave nothing to measure")
    available = []
    for name in peers:
        if all(importlib.util.find_spec(m) for m in _PEER_MODULES[name]):
            available.append(name)
        else:
            install = _PEER_INSTALL[name]
            print(f"{_PEER_NAMES[name]} is not importable ({install}): skipped.")

    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for algo in algos:
        spec = _SPECS[algo]
        steps = spec.steps(args.scale)
        order = ["lerax"] + [p for p in available if p in spec.peers]
        results[algo] = {peer: [] for peer in order}
        for repeat in range(args.repeats):
            for peer in order if repeat % 2 == 0 else order[::-1]:
                job = {
                    "peer": peer,
                    "algo": algo,
                    "seed": args.seed + 100 * repeat,
                    "steps": steps,
                    "episodes": args.eval_episodes,
                    "skip_cold": args.skip_cold,
                    "warm_repeats": 0 if args.skip_warm else 1,
                    "torch_threads": args.torch_threads,
                }
                started = time.perf_counter()
                run = _run(job)
                results[algo][peer].append(run)
                print(
                    f"{spec.name} {_PEER_NAMES[peer]} repeat {repeat}: "
                    f"{json.dumps(run)} ({time.perf_counter() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                if args.json:  # after every run: a long benchmark keeps its part
                    with open(args.json, "w") as f:
                        json.dump({"args": vars(args), "results": results}, f, indent=1)

    _report(results, repeats=args.repeats, episodes=args.eval_episodes)


def _report(
    results: dict[str, dict[str, list[dict[str, Any]]]], *, repeats: int, episodes: int
) -> None:
    """Prints the tables: per peer, wall-clock seconds (with evaluation
    returns), then process CPU seconds."""
    peers = [p for p in ("sb3", "rejax") if any(p in r for r in results.values())]
    print(
        f"\nFull training runs: medians over {repeats} process(es) per cell; eval ="
        f" mean deterministic return over {episodes} episodes of each run's policy"
        " (cold run first, then warm).\n"
    )
    for peer in peers:
        for key in ("seconds", "cpu"):
            _table(results, peer, key)


def _table(
    results: dict[str, dict[str, list[dict[str, Any]]]], peer: str, key: str
) -> None:
    name = _PEER_NAMES[peer]
    unit = "wall-clock s" if key == "seconds" else "CPU s"
    if peer == "sb3":
        what, head = "ratio = lerax / SB3; targets ≤ 0.2 cold, ≤ 0.05 warm", "lerax/SB3"
    else:
        what, head = f"speed = {name} / lerax; target ≥ 1.0", "speed"
    print(f"lerax vs {name}, {unit} ({what}):\n")
    evals = key == "seconds"
    print(
        f"| algorithm | env | steps | lerax cold | {name} cold | {head} cold | "
        f"lerax warm | {name} warm | {head} warm |"
        + (f" lerax eval | {name} eval |" if evals else "")
        + "\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
        + ("---:|---:|" if evals else "")
    )
    for algo, by_peer in results.items():
        if peer not in by_peer or "lerax" not in by_peer:
            continue
        spec = _SPECS[algo]
        lerax, other = by_peer["lerax"], by_peer[peer]
        lc, pc = _median(lerax, "cold", key), _median(other, "cold", key)
        lw, pw = _median(lerax, "warm", key), _median(other, "warm", key)
        if peer == "sb3":
            cold, warm = _ratio(lc, pc, 0.2, low=True), _ratio(lw, pw, 0.05, low=True)
        else:
            cold, warm = _ratio(pc, lc, 1.0, low=False), _ratio(pw, lw, 1.0, low=False)
        steps = (lerax or other)[0]["steps"]
        print(
            f"| {spec.name} | {spec.env_id} | {steps:,} | {_seconds(lc)} | "
            f"{_seconds(pc)} | {cold} | {_seconds(lw)} | {_seconds(pw)} | {warm} |"
            + (f" {_evals(lerax)} | {_evals(other)} |" if evals else "")
        )
    print()


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    if "--worker" not in sys.argv and "--report" not in sys.argv:
        print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
