"""Environments and spaces: a functional, jit- and vmap-friendly env API.

See ``docs/env.md`` for the auto-reset contract, the classic-control ports'
parity with Gymnasium, `make`, the handling of invalid actions, rendering
(`AbstractEnv.render`) and `record_video`.
"""

# The wrappers subpackage is imported with the package so that files of wrapped
# environments load after a plain ``import lerax.env`` (a no-argument load finds
# registered classes only).
from . import wrappers
from ._acrobot import Acrobot, AcrobotState
from ._box import Box
from ._cartpole import CartPole, CartPoleState
from ._dict import Dict
from ._discrete import Discrete
from ._env import AbstractEnv
from ._mountain_car import MountainCar, MountainCarState
from ._mountain_car_continuous import (
    MountainCarContinuous,
    MountainCarContinuousState,
)
from ._multi_binary import MultiBinary
from ._multi_discrete import MultiDiscrete
from ._pendulum import Pendulum, PendulumState
from ._registry import (
    DuplicateEnvIdError,
    EnvRegistryError,
    UnknownEnvIdError,
    make,
    register,
    registered_ids,
)
from ._space import AbstractSpace
from ._tuple import Tuple
from ._video import record_video

__all__ = [
    "AbstractEnv",
    "AbstractSpace",
    "Acrobot",
    "AcrobotState",
    "Box",
    "CartPole",
    "CartPoleState",
    "Dict",
    "Discrete",
    "DuplicateEnvIdError",
    "EnvRegistryError",
    "MountainCar",
    "MountainCarContinuous",
    "MountainCarContinuousState",
    "MountainCarState",
    "MultiBinary",
    "MultiDiscrete",
    "Pendulum",
    "PendulumState",
    "Tuple",
    "UnknownEnvIdError",
    "make",
    "record_video",
    "register",
    "registered_ids",
    "wrappers",
]
