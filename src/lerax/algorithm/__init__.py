"""Training algorithms (on-policy: PPO, A2C; off-policy: DQN, SAC, TD3) and
policy evaluation.

See ``docs/algorithm.md`` for the training loop, checkpoints and defaults.
"""

from ._a2c import A2C
from ._base import AbstractAlgorithm
from ._dqn import DQN, DQNState
from ._eval_callback import EvalCallback
from ._evaluate import evaluate
from ._gae import generalized_advantage_estimation
from ._history import History
from ._logging import AbstractLogger, ConsoleLogger, CSVLogger, TensorBoardLogger
from ._off_policy import AbstractOffPolicyAlgorithm, AbstractOffPolicyState
from ._on_policy import AbstractOnPolicyAlgorithm, OnPolicyBatch
from ._parallel import member
from ._ppo import PPO
from ._replay import ReplayBatch, ReplayBuffer
from ._sac import SAC, SACState
from ._state import AbstractTrainingState, TrainingState
from ._td3 import TD3, TD3State

__all__ = [
    "A2C",
    "DQN",
    "PPO",
    "SAC",
    "TD3",
    "AbstractAlgorithm",
    "AbstractLogger",
    "AbstractOffPolicyAlgorithm",
    "AbstractOffPolicyState",
    "AbstractOnPolicyAlgorithm",
    "AbstractTrainingState",
    "CSVLogger",
    "ConsoleLogger",
    "DQNState",
    "EvalCallback",
    "History",
    "OnPolicyBatch",
    "ReplayBatch",
    "ReplayBuffer",
    "SACState",
    "TD3State",
    "TensorBoardLogger",
    "TrainingState",
    "evaluate",
    "generalized_advantage_estimation",
    "member",
]
