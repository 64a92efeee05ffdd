"""Actor-critic policies: stateless (feed-forward) and stateful (recurrent), and
wrappers normalising their observations."""

from ._base import AbstractStatefulPolicy, AbstractStatelessPolicy
from ._critic import TwinQCritic
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

__all__ = [
    "AbstractDistribution",
    "AbstractStatefulPolicy",
    "AbstractStatelessPolicy",
    "Bernoulli",
    "Categorical",
    "DiagonalGaussian",
    "GRUActorCriticPolicy",
    "MLPActorCriticPolicy",
    "MultiCategorical",
    "NormalizedPolicy",
    "NormalizedStatefulPolicy",
    "TwinQCritic",
]
