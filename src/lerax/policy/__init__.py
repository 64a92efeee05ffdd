"""Policies: actor-critics (feed-forward and recurrent) for PPO and A2C, a
Q-network for DQN, actor-critics with twin Q-critics for SAC and TD3, and
wrappers normalising their observations."""

from ._base import AbstractStatefulPolicy, AbstractStatelessPolicy
from ._critic import TwinQCritic
from ._deterministic import Deterministic
from ._distribution import (
    AbstractDistribution,
    Bernoulli,
    Categorical,
    DiagonalGaussian,
    MultiCategorical,
)
from ._gru import GRUActorCriticPolicy
from ._mlp import MLPActorCriticPolicy
from ._normalized import NormalizedPolicy, NormalizedStatefulPolicy
from ._q import MLPQPolicy
from ._sac import MLPSACPolicy
from ._squashed import SquashedDiagonalGaussian
from ._td3 import MLPTD3Policy

__all__ = [
    "AbstractDistribution",
    "AbstractStatefulPolicy",
    "AbstractStatelessPolicy",
    "Bernoulli",
    "Categorical",
    "Deterministic",
    "DiagonalGaussian",
    "GRUActorCriticPolicy",
    "MLPActorCriticPolicy",
    "MLPQPolicy",
    "MLPSACPolicy",
    "MLPTD3Policy",
    "MultiCategorical",
    "NormalizedPolicy",
    "NormalizedStatefulPolicy",
    "SquashedDiagonalGaussian",
    "TwinQCritic",
]
