"""Environments and spaces: a functional, jit- and vmap-friendly env API.

See ``docs/env.md`` for the auto-reset contract and CartPole's parity with
Gymnasium.
"""

from ._box import Box
from ._cartpole import CartPole, CartPoleState
from ._discrete import Discrete
from ._env import AbstractEnv
from ._space import AbstractSpace

__all__ = [
    "AbstractEnv",
    "AbstractSpace",
    "Box",
    "CartPole",
    "CartPoleState",
    "Discrete",
]
