"""Training algorithms (PPO) and policy evaluation.

See ``docs/algorithm.md`` for the training loop, checkpoints and defaults.
"""

from ._base import AbstractAlgorithm
from ._eval_callback import EvalCallback
from ._evaluate import evaluate
from ._gae import generalized_advantage_estimation
from ._history import History
from ._logging import AbstractLogger, ConsoleLogger, CSVLogger, TensorBoardLogger
from ._ppo import PPO
from ._state import TrainingState

__all__ = [
    "PPO",
    "AbstractAlgorithm",
    "AbstractLogger",
    "CSVLogger",
    "ConsoleLogger",
    "EvalCallback",
    "History",
    "TensorBoardLogger",
    "TrainingState",
    "evaluate",
    "generalized_advantage_estimation",
]
