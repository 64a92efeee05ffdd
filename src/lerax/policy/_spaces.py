"""Helpers mapping `lerax.env` spaces to network inputs and action distributions."""

import abc
import math
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from lerax.env import AbstractEnv, AbstractSpace, Box, Discrete

from ._distribution import AbstractDistribution, Categorical, DiagonalGaussian


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
    """Length of the flat float vector `flatten_observation` produces for `space`."""
    if isinstance(space, Box | Discrete):
        return int(space.flat_size)
    raise _unsupported_observation_space(space)


def flatten_observation(space: AbstractSpace, observation: Array) -> Float[Array, " n"]:
    """Turns one observation into a flat float32 vector.

    `Box` observations are ravelled; `Discrete` observations are one-hot encoded so
    the network does not read an ordering into category indices.
    """
    if isinstance(space, Discrete):
        return jax.nn.one_hot(observation, space.n, dtype=jnp.float32)
    if isinstance(space, Box):
        return jnp.ravel(jnp.asarray(observation, dtype=jnp.float32))
    raise _unsupported_observation_space(space)


def _unsupported_observation_space(space: AbstractSpace) -> TypeError:
    return TypeError(
        f"Unsupported observation space {type(space).__name__}; "
        "expected Box or Discrete."
    )


class AbstractActionHead(eqx.Module):
    """Maps a flat vector of network outputs to an action distribution.

    Attributes:
        num_inputs: Number of network outputs the head consumes.
    """

    num_inputs: eqx.AbstractVar[int]

    @abc.abstractmethod
    def __call__(self, outputs: Float[Array, " n"]) -> AbstractDistribution:
        """Builds the distribution for one observation."""


@final
class CategoricalHead(AbstractActionHead):
    """Reads the network outputs as the logits of a `Categorical`."""

    num_inputs: int = eqx.field(static=True)

    def __init__(self, n: int):
        """Builds a head for `Discrete(n)` actions."""
        self.num_inputs = n

    def __call__(self, outputs: Float[Array, " n"]) -> Categorical:
        return Categorical(outputs)


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


def make_action_head(space: AbstractSpace) -> AbstractActionHead:
    """Chooses the action head for `space`: Discrete → categorical, Box → Gaussian."""
    if isinstance(space, Discrete):
        return CategoricalHead(int(space.n))
    if isinstance(space, Box):
        if not jnp.issubdtype(space.dtype, jnp.floating):
            # A Gaussian sample is never an element of an integer box.
            raise TypeError(
                f"Box action spaces must have a floating dtype, got {space.dtype}."
            )
        return DiagonalGaussianHead(space.shape)
    raise TypeError(
        f"Unsupported action space {type(space).__name__}; expected Box or Discrete."
    )
