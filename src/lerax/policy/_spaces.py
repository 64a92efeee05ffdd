"""Helpers mapping `lerax.env` spaces to network inputs and action distributions."""

import abc
import math
from typing import Any, final

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from lerax.env import (
    AbstractEnv,
    AbstractSpace,
    Box,
    Discrete,
    MultiBinary,
    MultiDiscrete,
)
from lerax.utils import register_class

from ._distribution import (
    AbstractDistribution,
    Bernoulli,
    Categorical,
    DiagonalGaussian,
    MultiCategorical,
)

__all__ = [
    "AbstractActionHead",
    "BernoulliHead",
    "CategoricalHead",
    "DiagonalGaussianHead",
    "MultiCategoricalHead",
    "flatten_observation",
    "make_action_head",
    "observation_size",
    "resolve_spaces",
]


def resolve_spaces(
    env: AbstractEnv | None,
    observation_space: AbstractSpace | None,
    action_space: AbstractSpace | None,
) -> tuple[AbstractSpace, AbstractSpace]:
    """Returns `(observation_space, action_space)` from `env` or the explicit spaces.

    Raises:
        ValueError: If both `env` and a space are given, or if neither is.
    """
    if env is not None:
        if observation_space is not None or action_space is not None:
            raise ValueError(
                "Pass either `env` or `observation_space`/`action_space`, not both."
            )
        return env.observation_space, env.action_space
    if observation_space is None or action_space is None:
        raise ValueError("Pass `env`, or both `observation_space` and `action_space`.")
    return observation_space, action_space


def observation_size(space: AbstractSpace) -> int:
    """Length of the flat float vector `flatten_observation` produces for `space`.

    Raises:
        TypeError: If `space` is not a lerax space.
        ValueError: If its flat encoding is empty (e.g. an empty `Dict`).
    """
    if not isinstance(space, AbstractSpace):
        raise TypeError(
            f"observation_space must be a lerax.env space, got {type(space).__name__}"
        )
    if space.flat_size < 1:
        raise ValueError(
            "observation_space must have a non-empty flat encoding, got "
            f"{type(space).__name__} with flat_size {space.flat_size}"
        )
    return int(space.flat_size)


def flatten_observation(space: AbstractSpace, observation: Any) -> Float[Array, " n"]:
    """Turns one observation into a flat float32 vector: ``space.flatten``.

    Every space has a flat encoding: `Box` and `MultiBinary` observations are
    ravelled, `Discrete` and `MultiDiscrete` ones one-hot encoded (so the network
    reads no ordering into category indices), `Dict` and `Tuple` ones concatenate
    their parts (a `Dict` in sorted key order).
    """
    return space.flatten(observation)


class AbstractActionHead(eqx.Module):
    """Maps a flat vector of network outputs to an action distribution.

    Attributes:
        num_inputs: Number of network outputs the head consumes.
    """

    num_inputs: eqx.AbstractVar[int]

    @abc.abstractmethod
    def __call__(self, outputs: Float[Array, " n"]) -> AbstractDistribution:
        """Builds the distribution for one observation."""


@register_class
@final
class CategoricalHead(AbstractActionHead):
    """Reads the network outputs as the logits of a `Categorical`."""

    num_inputs: int = eqx.field(static=True)

    def __init__(self, n: int):
        """Builds a head for `Discrete(n)` actions."""
        self.num_inputs = n

    def __call__(self, outputs: Float[Array, " n"]) -> Categorical:
        return Categorical(outputs)


@register_class
@final
class DiagonalGaussianHead(AbstractActionHead):
    """Reads the network outputs as the mean of a `DiagonalGaussian`.

    The log standard deviation is a learned parameter that does not depend on the
    observation.

    Attributes:
        log_std: Learned log standard deviation, shape of the action.
        shape: Action shape.
    """

    log_std: Float[Array, "*shape"]
    shape: tuple[int, ...] = eqx.field(static=True)
    num_inputs: int = eqx.field(static=True)

    def __init__(self, shape: tuple[int, ...], log_std_init: float = 0.0):
        """Builds a head for `Box` actions of the given shape."""
        self.shape = tuple(int(d) for d in shape)
        self.num_inputs = math.prod(self.shape)
        self.log_std = jnp.full(self.shape, log_std_init, dtype=jnp.float32)

    def __call__(self, outputs: Float[Array, " n"]) -> DiagonalGaussian:
        return DiagonalGaussian(jnp.reshape(outputs, self.shape), self.log_std)


@register_class
@final
class MultiCategoricalHead(AbstractActionHead):
    """Reads the network outputs as the logits of a `MultiCategorical`.

    Attributes:
        nvec: Number of values of each action element, ravelled.
        shape: Action shape.
        num_inputs: ``sum(nvec)``.
    """

    nvec: tuple[int, ...] = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    num_inputs: int = eqx.field(static=True)

    def __init__(self, nvec: tuple[int, ...], shape: tuple[int, ...]):
        """Builds a head for `MultiDiscrete` actions of counts `nvec` (ravelled)
        and the given shape."""
        self.nvec = tuple(int(n) for n in nvec)
        self.shape = tuple(int(d) for d in shape)
        self.num_inputs = sum(self.nvec)

    def __call__(self, outputs: Float[Array, " n"]) -> MultiCategorical:
        return MultiCategorical(outputs, np.reshape(self.nvec, self.shape))


@register_class
@final
class BernoulliHead(AbstractActionHead):
    """Reads the network outputs as the log-odds of a `Bernoulli` per bit.

    Attributes:
        shape: Action shape.
        num_inputs: ``prod(shape)``.
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    num_inputs: int = eqx.field(static=True)

    def __init__(self, shape: tuple[int, ...]):
        """Builds a head for `MultiBinary` actions of the given shape."""
        self.shape = tuple(int(d) for d in shape)
        self.num_inputs = math.prod(self.shape)

    def __call__(self, outputs: Float[Array, " n"]) -> Bernoulli:
        return Bernoulli(jnp.reshape(outputs, self.shape))


def make_action_head(
    space: AbstractSpace, *, log_std_init: float = 0.0
) -> AbstractActionHead:
    """Chooses the action head for `space`.

    `Discrete` → `Categorical`, `MultiDiscrete` → `MultiCategorical`,
    `MultiBinary` → `Bernoulli`, floating `Box` → `DiagonalGaussian` (whose
    learned log standard deviation starts at `log_std_init`).

    Raises:
        TypeError: For any other space (an integer `Box`, `Dict`, `Tuple`, ...).
    """
    if isinstance(space, Discrete):
        return CategoricalHead(int(space.n))
    if isinstance(space, MultiDiscrete):
        return MultiCategoricalHead(space.flat_nvec, space.shape)
    if isinstance(space, MultiBinary):
        return BernoulliHead(space.shape)
    if isinstance(space, Box):
        if not jnp.issubdtype(space.dtype, jnp.floating):
            # A Gaussian sample is never an element of an integer box.
            raise TypeError(
                f"action_space must have a floating dtype when it is a Box, got "
                f"{space.dtype}"
            )
        return DiagonalGaussianHead(space.shape, float(log_std_init))
    raise TypeError(
        "action_space must be a Discrete, MultiDiscrete, MultiBinary or floating "
        f"Box space, got a {type(space).__name__} space"
    )
