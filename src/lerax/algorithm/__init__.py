"""Training algorithms (on-policy: PPO, A2C; off-policy: DQN, SAC, TD3) and
policy evaluation.

See ``docs/algorithm.md`` for the training loop, checkpoints and defaults.
"""

from ._a2c import A2C
from ._base import AbstractAlgorithm
from ._eval_callback import EvalCallback
from ._evaluate import evaluate
from ._gae import generalized_advantage_estimation
from ._history import History
from ._logging import AbstractLogger, ConsoleLogger, CSVLogger, TensorBoardLogger
from ._off_policy import AbstractOffPolicyAlgorithm, AbstractOffPolicyState
from ._on_policy import AbstractOnPolicyAlgorithm, OnPolicyBatch
from ._ppo import PPO
from ._replay import ReplayBatch, ReplayBuffer
from ._state import AbstractTrainingState, TrainingState

__all__ = [
    "A2C",
    "PPO",
    "AbstractAlgorithm",
    "AbstractLogger",
    "AbstractOffPolicyAlgorithm",
    "AbstractOffPolicyState",
    "AbstractOnPolicyAlgorithm",
    "AbstractTrainingState",
    "CSVLogger",
    "ConsoleLogger",
    "EvalCallback",
    "History",
    "OnPolicyBatch",
    "ReplayBatch",
    "ReplayBuffer",
    "TensorBoardLogger",
    "TrainingState",
    "evaluate",
    "generalized_advantage_estimation",
]
