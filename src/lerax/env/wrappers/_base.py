"""Abstract wrappers: one environment around another, delegating the hooks."""

import abc
from typing import Any, ClassVar, TypeVar, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray, PyTree, UInt8

from .._env import AbstractEnv
from .._space import AbstractSpace

__all__ = [
    "AbstractActionWrapper",
    "AbstractObservationWrapper",
    "AbstractRewardWrapper",
    "AbstractWrapper",
]

StateT = TypeVar("StateT")
ObsSpaceT = TypeVar("ObsSpaceT", bound=AbstractSpace)
ActSpaceT = TypeVar("ActSpaceT", bound=AbstractSpace)

# (state, observation, info), as `reset_env` and `autoreset_env` return them.
Start = tuple[Any, PyTree[Array], dict[str, Any]]
# (state, observation, reward, terminated, truncated, info), as `step_env` does.
Transition = tuple[
    Any,
    PyTree[Array],
    Float[ArrayLike, ""],
    Bool[ArrayLike, ""],
    Bool[ArrayLike, ""],
    dict[str, Any],
]


class AbstractWrapper(AbstractEnv[StateT, ObsSpaceT, ActSpaceT]):
    """An environment that changes another one, `env`.

    A wrapper is itself an `AbstractEnv`: it implements the hooks `reset_env`,
    `step_env` and `autoreset_env` by calling the same hooks of `env`, never its
    public `reset` and `step`. The automatic reset and
    ``info["final_observation"]`` therefore happen once, in the outermost
    wrapper's `step`, and `check_actions` (delegated to the innermost env)
    checks actions against the outermost action space.

    A wrapper's state is the inner state itself (stateless wrappers) or its own
    state class holding the inner state as ``env_state`` (stateful wrappers);
    `inner_state` tells which. `autoreset_env` is abstract here, so that no
    wrapper can forget to pass the automatic reset on to the inner env, where a
    stateful wrapper may keep statistics that outlive episodes.

    Attributes:
        env: The wrapped environment.
        changes_observations: Whether the observations leaving the wrapper
            differ from those of `env` (a class variable; `True` unless a wrapper
            says otherwise). `lerax.policy.NormalizedPolicy` looks for a
            `NormalizeObservation` through wrappers that set it to `False` only.
    """

    env: eqx.AbstractVar[AbstractEnv[Any, Any, Any]]

    changes_observations: ClassVar[bool] = True

    @abc.abstractmethod
    def autoreset_env(self, state: StateT, *, key: PRNGKeyArray) -> Start:
        """Starts the episode after one that ended in `state` (delegating).

        Must call ``self.env.autoreset_env`` on the inner state, so that what an
        inner wrapper carries over from episode to episode survives.
        """

    @abc.abstractmethod
    def inner_state(self, state: StateT) -> Any:
        """The state of `env` inside `state` (a batch of states works too)."""

    @property
    def check_actions(self) -> bool:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's switch (see `AbstractEnv.check_actions`).

        `step` checks actions against this wrapper's `action_space`, the space
        the actions are taken from.
        """
        return self.env.check_actions

    @property
    def render_fps(self) -> float:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's frame rate (see `AbstractEnv.render_fps`)."""
        return self.env.render_fps

    @property
    def unwrapped(self) -> AbstractEnv[Any, Any, Any]:
        """The innermost environment, under every wrapper."""
        env = self.env
        while isinstance(env, AbstractWrapper):
            env = env.env
        return env

    def unwrapped_state(self, state: StateT) -> Any:
        """The state of `unwrapped` inside `state` (a batch of states works too)."""
        env: AbstractEnv[Any, Any, Any] = self
        while isinstance(env, AbstractWrapper):
            state = env.inner_state(state)
            env = env.env
        return state

    def render(self, state: StateT) -> UInt8[Array, "height width 3"]:
        """Draws the wrapped environment's part of `state` (see
        `AbstractEnv.render`)."""
        return self.env.render(self.inner_state(state))


class AbstractObservationWrapper(AbstractWrapper[Any, ObsSpaceT, Any]):
    """A stateless wrapper that changes observations, and nothing else.

    Subclasses implement `observation` and declare `observation_space`; every
    observation of `env` (first ones, after each step, after automatic resets)
    goes through `observation`. The state is the inner state.
    """

    observation_space: eqx.AbstractVar[ObsSpaceT]

    @abc.abstractmethod
    def observation(self, observation: PyTree[Array]) -> PyTree[Array]:
        """Maps an observation of `env` to one of `observation_space`."""

    @property
    def action_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's action space."""
        return self.env.action_space

    @final
    def reset_env(self, *, key: PRNGKeyArray) -> Start:
        state, observation, info = self.env.reset_env(key=key)
        return state, self.observation(observation), info

    @final
    def autoreset_env(self, state: Any, *, key: PRNGKeyArray) -> Start:
        state, observation, info = self.env.autoreset_env(state, key=key)
        return state, self.observation(observation), info

    @final
    def step_env(
        self, state: Any, action: ArrayLike, *, key: PRNGKeyArray
    ) -> Transition:
        state, observation, reward, terminated, truncated, info = self.env.step_env(
            state, action, key=key
        )
        return state, self.observation(observation), reward, terminated, truncated, info

    @final
    def inner_state(self, state: Any) -> Any:
        return state


class AbstractRewardWrapper(AbstractWrapper[Any, Any, Any]):
    """A stateless wrapper that changes rewards, and nothing else.

    Subclasses implement `reward`; the reward of every step goes through it.
    The state is the inner state.
    """

    changes_observations: ClassVar[bool] = False

    @abc.abstractmethod
    def reward(self, reward: Float[Array, ""]) -> Float[ArrayLike, ""]:
        """Maps a reward of `env` (a float32 scalar) to this wrapper's."""

    @property
    def observation_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's observation space."""
        return self.env.observation_space

    @property
    def action_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's action space."""
        return self.env.action_space

    @final
    def reset_env(self, *, key: PRNGKeyArray) -> Start:
        return self.env.reset_env(key=key)

    @final
    def autoreset_env(self, state: Any, *, key: PRNGKeyArray) -> Start:
        return self.env.autoreset_env(state, key=key)

    @final
    def step_env(
        self, state: Any, action: ArrayLike, *, key: PRNGKeyArray
    ) -> Transition:
        state, observation, reward, terminated, truncated, info = self.env.step_env(
            state, action, key=key
        )
        reward = self.reward(_float32(reward))
        return state, observation, reward, terminated, truncated, info

    @final
    def inner_state(self, state: Any) -> Any:
        return state


class AbstractActionWrapper(AbstractWrapper[Any, Any, ActSpaceT]):
    """A stateless wrapper that changes actions, and nothing else.

    Subclasses implement `action` and declare `action_space`: the wrapper takes
    actions from `action_space` and hands ``action(a)`` to `env`. The state is
    the inner state.
    """

    action_space: eqx.AbstractVar[ActSpaceT]

    changes_observations: ClassVar[bool] = False

    @abc.abstractmethod
    def action(self, action: ArrayLike) -> PyTree[Array]:
        """Maps an action of `action_space` to one of the wrapped environment."""

    @property
    def observation_space(self) -> Any:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The wrapped environment's observation space."""
        return self.env.observation_space

    @final
    def reset_env(self, *, key: PRNGKeyArray) -> Start:
        return self.env.reset_env(key=key)

    @final
    def autoreset_env(self, state: Any, *, key: PRNGKeyArray) -> Start:
        return self.env.autoreset_env(state, key=key)

    @final
    def step_env(
        self, state: Any, action: ArrayLike, *, key: PRNGKeyArray
    ) -> Transition:
        return self.env.step_env(state, self.action(action), key=key)

    @final
    def inner_state(self, state: Any) -> Any:
        return state


def _float32(reward: Float[ArrayLike, ""]) -> Float[Array, ""]:
    return jnp.asarray(reward, dtype=jnp.float32)
