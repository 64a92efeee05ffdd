"""Small configurations of every algorithm, shared by tests that run them all.

Each entry builds ``(env, policy, algorithm, total_timesteps)`` for a run of 10
short iterations; subprocess tests import this module by path.
"""

from collections.abc import Callable
from typing import Any

import jax

from lerax.algorithm import A2C, DQN, PPO, SAC, TD3
from lerax.env import CartPole, Pendulum
from lerax.policy import MLPActorCriticPolicy, MLPQPolicy, MLPSACPolicy, MLPTD3Policy

KEY = jax.random.key(0)


def _ppo() -> tuple[Any, ...]:
    env = CartPole()
    algo = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2)
    return env, MLPActorCriticPolicy(env, key=KEY, width=16), algo, 64 * 10


def _a2c() -> tuple[Any, ...]:
    env = CartPole()
    return env, MLPActorCriticPolicy(env, key=KEY, width=16), A2C(num_envs=4), 200


def _dqn() -> tuple[Any, ...]:
    env = CartPole()
    algo = DQN(
        num_steps=16,
        gradient_steps=4,
        batch_size=8,
        learning_starts=32,
        target_update_interval=32,
    )
    return env, MLPQPolicy(env, key=KEY, hidden_sizes=(16,)), algo, 160


def _sac() -> tuple[Any, ...]:
    env = Pendulum()
    algo = SAC(num_steps=4, batch_size=8, learning_starts=8)
    return env, MLPSACPolicy(env, key=KEY, hidden_sizes=(16,)), algo, 40


def _td3() -> tuple[Any, ...]:
    env = Pendulum()
    algo = TD3(num_steps=4, batch_size=8, learning_starts=8)
    return env, MLPTD3Policy(env, key=KEY, hidden_sizes=(16,)), algo, 40


CONFIGS: dict[str, Callable[[], tuple[Any, ...]]] = {
    "ppo": _ppo,
    "a2c": _a2c,
    "dqn": _dqn,
    "sac": _sac,
    "td3": _td3,
}
