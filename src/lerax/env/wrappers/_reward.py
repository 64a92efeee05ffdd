"""Stateless reward wrapper: `TransformReward`."""

from collections.abc import Callable
from typing import Any, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._env import AbstractEnv
from ._base import AbstractRewardWrapper
from ._checks import function_or_module, wrapped_env

__all__ = ["TransformReward"]


@final
class TransformReward(AbstractRewardWrapper):
    """Rewards passed through a function of your choice.

    ``func(reward)`` replaces the reward of every step (a float32 scalar in, a
    float32 scalar out). As for `TransformObservation`, `func` must be a
    function files may name (JAX's element-wise functions such as `jnp.sign`
    or `jnp.tanh`, or your own registered with `lerax.utils.register_function`)
    or an Equinox module for the wrapper to load with no constructor
    arguments.

    Example:

    ```python
    env = TransformReward(CartPole(), jnp.tanh)
    ```

    Attributes:
        env: The wrapped environment.
        func: The transform, when it is a plain function (a static field), else
            `None`.
        func_module: The transform, when it is an Equinox module, else `None`.
    """

    env: AbstractEnv[Any, Any, Any]
    func: Callable[[Any], Any] | None = eqx.field(static=True)
    func_module: eqx.Module | None

    def __init__(self, env: AbstractEnv[Any, Any, Any], func: Callable[[Any], Any]):
        """Wraps `env`.

        Args:
            env: Any lerax environment.
            func: The transform of one reward.

        Raises:
            TypeError: If `env` is not a lerax environment or `func` is not
                callable.
        """
        self.env = wrapped_env("TransformReward", env)
        self.func, self.func_module = function_or_module("TransformReward", func)

    def reward(self, reward: Float[Array, ""]) -> Float[Array, ""]:
        """``func(reward)``, as a float32 scalar."""
        func: Any = self.func if self.func is not None else self.func_module
        return jnp.asarray(func(reward), jnp.float32)
