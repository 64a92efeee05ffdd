"""The objects behind the golden files of tests/golden/v1: every public class.

`make_golden.py` writes them; `test_golden.py` loads the committed files and
compares them with these objects, built afresh, in every run. A file that stops
loading exactly means a class changed how it is stored: add a migration
(`lerax.utils.register_migration`), never regenerate a golden file.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lerax.algorithm import A2C, DQN, PPO, SAC, TD3
from lerax.env import (
    Acrobot,
    Box,
    CartPole,
    Dict,
    Discrete,
    MountainCar,
    MountainCarContinuous,
    MultiBinary,
    MultiDiscrete,
    Pendulum,
    Tuple,
)
from lerax.policy import (
    GRUActorCriticPolicy,
    MLPActorCriticPolicy,
    MLPQPolicy,
    MLPSACPolicy,
    MLPTD3Policy,
    TwinQCritic,
)

KEY = jax.random.key(7)

# Serializable objects, loaded with no constructor arguments.
OBJECTS: dict[str, Callable[[], Any]] = {
    "cartpole": lambda: CartPole(gravity=9.5, max_episode_steps=300),
    "acrobot": lambda: Acrobot(),
    "mountain_car": lambda: MountainCar(),
    "mountain_car_continuous": lambda: MountainCarContinuous(),
    "pendulum": lambda: Pendulum(g=9.0),
    "box": lambda: Box(-1.0, jnp.arange(3.0), dtype=jnp.float32),
    "discrete": lambda: Discrete(5),
    "multi_discrete": lambda: MultiDiscrete([3, 2, 4]),
    "multi_binary": lambda: MultiBinary(6),
    "dict": lambda: Dict({"pos": Box(-1.0, 1.0, shape=(2,)), "id": Discrete(3)}),
    "tuple": lambda: Tuple((Discrete(2), MultiBinary(3))),
    "mlp_policy_discrete": lambda: MLPActorCriticPolicy(CartPole(), key=KEY),
    "mlp_policy_box": lambda: MLPActorCriticPolicy(
        Pendulum(), key=KEY, width=16, depth=1, activation=jax.nn.relu
    ),
    "gru_policy": lambda: GRUActorCriticPolicy(CartPole(), key=KEY, hidden_size=8),
    "ppo": lambda: PPO(learning_rate=3e-4, num_envs=4, num_steps=16),
    "q_policy": lambda: MLPQPolicy(CartPole(), key=KEY, hidden_sizes=(16, 8)),
    "sac_policy": lambda: MLPSACPolicy(Pendulum(), key=KEY, hidden_sizes=(16,)),
    "td3_policy": lambda: MLPTD3Policy(Pendulum(), key=KEY, hidden_sizes=(16, 8)),
    "twin_q_critic": lambda: TwinQCritic(
        Pendulum(), key=KEY, hidden_sizes=(8,), num_critics=3
    ),
    "a2c": lambda: A2C(learning_rate=1e-3, num_envs=4, ent_coef=0.01),
    "dqn": lambda: DQN(learning_rate=1e-3, batch_size=32, double_q=False),
    "sac": lambda: SAC(learning_rate=3e-4, learn_ent_coef=False, ent_coef=0.1),
    "td3": lambda: TD3(learning_rate=3e-4, policy_delay=3),
}


def _ppo_state() -> tuple[Any, Any]:
    """A PPO training state (what a checkpoint holds) and its skeleton."""
    env, algo = CartPole(), PPO(num_envs=2, num_steps=8)
    policy = MLPActorCriticPolicy(env, key=KEY, width=8)
    state = algo.init_state(env, policy, 3, key=KEY)
    like = eqx.filter_eval_shape(lambda: state)
    return state, like


def _dqn_state() -> tuple[Any, Any]:
    """A DQN training state, replay buffer included, after 2 iterations."""
    env = CartPole()
    algo = DQN(num_steps=4, batch_size=4, learning_starts=4, gradient_steps=2)
    policy = MLPQPolicy(env, key=KEY, hidden_sizes=(8,))
    state = algo.init_state(env, policy, 3, key=KEY)
    for _ in range(2):
        state, _ = algo.train_iteration(env, state, 3)
    like = eqx.filter_eval_shape(lambda: state)
    return state, like


# Training states (what checkpoints hold), loaded with a skeleton.
STATES: dict[str, Callable[[], tuple[Any, Any]]] = {
    "training_state": _ppo_state,
    "dqn_training_state": _dqn_state,
}


def every_leaf_kind() -> dict[str, Any]:
    """A save_tree of every leaf kind lerax stores."""
    return {
        "jax_float32": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3),
        "jax_bfloat16": jnp.arange(4, dtype=jnp.bfloat16),
        "jax_int8": jnp.array([-3, 7], jnp.int8),
        "jax_bool": jnp.array([True, False]),
        "jax_complex64": jnp.array([1 + 2j], jnp.complex64),
        "numpy_float64": np.arange(3.0),
        "numpy_fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        "numpy_unicode": np.array(["ab", "c"]),
        "numpy_bytes": np.array([b"xyz"]),
        "numpy_void": np.frombuffer(b"abcd", "V2"),
        "numpy_structured": np.array([(1, 2.5)], [("a", "<i4"), ("b", "<f8")]),
        "numpy_big_endian": np.arange(2, dtype=">u2"),
        "numpy_datetime": np.array(["2024-01-01"], "datetime64[D]"),
        "numpy_scalar": np.float32(1.25),
        "python": [True, 3, 2.5, 1 - 1j, None],
        "key": jax.random.key(3),
        "key_rbg": jax.random.key(3, impl="rbg"),
        "legacy_key": jax.random.PRNGKey(4),
    }
