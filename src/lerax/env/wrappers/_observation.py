"""Stateless observation wrappers: `FlattenObservation`, `TransformObservation`."""

from collections.abc import Callable
from typing import Any, final

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree

from .._box import Box
from .._dict import Dict
from .._discrete import Discrete
from .._env import AbstractEnv
from .._multi_binary import MultiBinary
from .._multi_discrete import MultiDiscrete
from .._space import AbstractSpace
from .._tuple import Tuple
from ._base import AbstractObservationWrapper
from ._checks import function_or_module, wrapped_env

__all__ = ["FlattenObservation", "TransformObservation"]


@final
class FlattenObservation(AbstractObservationWrapper[Box]):
    """Observations as flat float32 vectors: the space's `flatten` encoding.

    Each observation becomes ``env.observation_space.flatten(observation)``:
    arrays ravelled in C order, `Discrete` and `MultiDiscrete` values one-hot,
    `Dict` parts in sorted key order and `Tuple` parts in order, concatenated
    (the table in ``docs/env.md``). Gymnasium's ``FlattenObservation`` encodes
    the same way, but keeps integer dtypes; here the vector is always float32.

    Example:

    ```python
    env = FlattenObservation(make_dict_env())
    state, obs, info = env.reset(key=key)  # obs: float32[flat_size]
    ```

    Attributes:
        env: The wrapped environment.
        observation_space: ``Box`` of shape ``(flat_size,)``, float32, whose
            bounds are the flattened bounds of a `Box` and ``[0, 1]`` for the
            one-hot and binary parts (infinite for spaces lerax does not
            know).
    """

    env: AbstractEnv[Any, Any, Any]
    observation_space: Box

    def __init__(self, env: AbstractEnv[Any, Any, Any]):
        """Wraps `env`.

        Args:
            env: Any lerax environment.

        Raises:
            TypeError: If `env` is not a lerax environment.
        """
        self.env = wrapped_env("FlattenObservation", env)
        low, high = _flat_bounds(env.observation_space)
        self.observation_space = Box(low, high, dtype=jnp.float32)

    def observation(self, observation: PyTree[Array]) -> Float[Array, " flat_size"]:
        """``env.observation_space.flatten(observation)``."""
        return self.env.observation_space.flatten(observation)


@final
class TransformObservation(AbstractObservationWrapper[AbstractSpace]):
    """Observations passed through a function of your choice.

    ``func(observation)`` replaces every observation of `env`. For the wrapper
    to be saved and loaded with no constructor arguments, `func` must be
    recordable: a function that files may name (JAX's activations and common
    element-wise ``jax.numpy`` functions, or your own registered with
    `lerax.utils.register_function`), or an Equinox module, e.g. a small
    `lerax.utils.Serializable` class with parameters. A lambda or a local
    function works, but its file loads only with explicit constructor
    arguments (see ``docs/serialization.md``).

    Example:

    ```python
    @lerax.utils.register_function
    def scaled(observation):
        return observation / 10.0

    env = TransformObservation(CartPole(), scaled)
    ```

    Attributes:
        env: The wrapped environment.
        observation_space: Space of the transformed observations.
        func: The transform, when it is a plain function (a static field), else
            `None`.
        func_module: The transform, when it is an Equinox module (its arrays are
            traced), else `None`.
    """

    env: AbstractEnv[Any, Any, Any]
    observation_space: AbstractSpace
    func: Callable[[Any], Any] | None = eqx.field(static=True)
    func_module: eqx.Module | None

    def __init__(
        self,
        env: AbstractEnv[Any, Any, Any],
        func: Callable[[Any], Any],
        observation_space: AbstractSpace | None = None,
    ):
        """Wraps `env`.

        Args:
            env: Any lerax environment.
            func: The transform of one (unbatched) observation.
            observation_space: Space of ``func``'s results; by default that of
                `env`, right when `func` keeps shapes, dtypes and bounds.

        Raises:
            TypeError: If `env` is not a lerax environment, `func` is not
                callable, or `observation_space` is not a lerax space.
        """
        self.env = wrapped_env("TransformObservation", env)
        self.func, self.func_module = function_or_module("TransformObservation", func)
        if observation_space is None:
            observation_space = env.observation_space
        if not isinstance(observation_space, AbstractSpace):
            raise TypeError(
                f"observation_space must be a lerax space, got {observation_space!r}"
            )
        self.observation_space = observation_space

    def observation(self, observation: PyTree[Array]) -> PyTree[Array]:
        """``func(observation)``."""
        func: Any = self.func if self.func is not None else self.func_module
        return func(observation)


def _flat_bounds(space: AbstractSpace) -> tuple[Array, Array]:
    """The bounds of each entry of ``space.flatten(x)``, as float32 vectors."""
    size = space.flat_size
    if isinstance(space, Box):
        return (
            jnp.ravel(space.low).astype(jnp.float32),
            jnp.ravel(space.high).astype(jnp.float32),
        )
    if isinstance(space, Discrete | MultiDiscrete | MultiBinary):
        return jnp.zeros(size, jnp.float32), jnp.ones(size, jnp.float32)
    if isinstance(space, Dict | Tuple):
        children = [space[k] for k in space] if isinstance(space, Dict) else list(space)
        parts = [_flat_bounds(child) for child in children]
        if not parts:
            empty = jnp.zeros((0,), jnp.float32)
            return empty, empty
        return (
            jnp.concatenate([low for low, _ in parts]),
            jnp.concatenate([high for _, high in parts]),
        )
    return jnp.full(size, -np.inf, jnp.float32), jnp.full(size, np.inf, jnp.float32)
