"""Actor-critic policies: stateless (feed-forward) and stateful (recurrent)."""

from ._base import AbstractStatefulPolicy, AbstractStatelessPolicy
from ._distribution import AbstractDistribution, Categorical, DiagonalGaussian
from ._gru import GRUActorCriticPolicy
from ._mlp import MLPActorCriticPolicy

__all__ = [
    "AbstractDistribution",
    "AbstractStatefulPolicy",
    "AbstractStatelessPolicy",
    "Categorical",
    "DiagonalGaussian",
    "GRUActorCriticPolicy",
    "MLPActorCriticPolicy",
]
