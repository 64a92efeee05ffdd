"""Abstract base class of all environments, with automatic reset."""

import abc
from typing import Any, Generic, TypeVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray, PyTree

from lerax.utils import Serializable

from ._space import AbstractSpace

StateT = TypeVar("StateT")
ObsSpaceT = TypeVar("ObsSpaceT", bound=AbstractSpace)
ActSpaceT = TypeVar("ActSpaceT", bound=AbstractSpace)


class AbstractEnv(Serializable, Generic[StateT, ObsSpaceT, ActSpaceT]):
    """A functional, single (unbatched) environment.

    An environment object holds only configuration; the evolving state is an
    explicit value passed in and out, so `reset` and `step` are pure and can be
    `jax.jit`-compiled, `jax.vmap`-batched and `jax.lax.scan`-ned.

    Subclasses implement the hooks `reset_env` and `step_env`; the public
    `reset` and `step` wrap them and must not be overridden. `step` resets
    automatically: when an episode ends, it returns the first observation and
    state of a fresh episode, and ``info["final_observation"]`` holds the last
    observation of the finished one. ``info`` always has the key
    ``"final_observation"`` (equal to the returned observation when the episode
    goes on), so its pytree structure never changes between steps.

    The type parameters are the state type and the concrete types of the two
    spaces, so that a subclass can declare e.g. ``observation_space: Box``.

    Attributes:
        observation_space: Space of the observations.
        action_space: Space of the actions.
    """

    observation_space: eqx.AbstractVar[ObsSpaceT]
    action_space: eqx.AbstractVar[ActSpaceT]

    @abc.abstractmethod
    def reset_env(
        self, *, key: PRNGKeyArray
    ) -> tuple[StateT, PyTree[Array], dict[str, Any]]:
        """Starts an episode (hook for subclasses).

        Args:
            key: PRNG key.

        Returns:
            ``(state, observation, info)`` of the first time step.
        """

    @abc.abstractmethod
    def step_env(
        self, state: StateT, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        StateT,
        PyTree[Array],
        Float[ArrayLike, ""],
        Bool[ArrayLike, ""],
        Bool[ArrayLike, ""],
        dict[str, Any],
    ]:
        """Advances one time step without resetting (hook for subclasses).

        Args:
            state: Current state.
            action: Action, an element of `action_space`.
            key: PRNG key.

        Returns:
            ``(state, observation, reward, terminated, truncated, info)`` after
            the step. ``info`` must have the same pytree structure every step and
            must not use the key ``"final_observation"``.
        """

    @final
    def reset(
        self, *, key: PRNGKeyArray
    ) -> tuple[StateT, PyTree[Array], dict[str, Any]]:
        """Starts an episode.

        Args:
            key: PRNG key.

        Returns:
            ``(state, observation, info)``; ``info["final_observation"]`` is the
            observation itself, so `reset` and `step` return the same info
            structure when the hooks do.
        """
        state, observation, info = self.reset_env(key=key)
        return state, observation, {**info, "final_observation": observation}

    @final
    def step(
        self, state: StateT, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        StateT,
        PyTree[Array],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """Advances one time step, starting a new episode if this one ended.

        Args:
            state: Current state.
            action: Action, an element of `action_space`.
            key: PRNG key.

        Returns:
            ``(state, observation, reward, terminated, truncated, info)``.
            `reward` is a float32 scalar and `terminated` / `truncated` are
            boolean scalars describing the step just taken. If either is true,
            `state` and `observation` belong to a fresh episode and
            ``info["final_observation"]`` is the last observation of the ended
            one; otherwise ``info["final_observation"]`` equals `observation`.
            The info of the fresh episode's `reset_env` is discarded.
        """
        # Random-number generation is most of the cost of a cheap env's step, so
        # derive as little as possible: the reset uses the key itself, and the
        # step a fold_in of it, which XLA drops when step_env ignores its key (as
        # deterministic dynamics do). The two keys are still independent.
        step_key = jax.random.fold_in(key, 0)
        reset_key = key
        next_state, observation, reward, terminated, truncated, info = self.step_env(
            state, action, key=step_key
        )
        terminated = jnp.asarray(terminated, dtype=bool)
        truncated = jnp.asarray(truncated, dtype=bool)
        done = terminated | truncated
        # Both branches are computed and selected, as lax.cond would be under
        # vmap anyway; this keeps step branch-free for batched use.
        reset_state, reset_observation, _ = self.reset_env(key=reset_key)

        def select(fresh: Any, current: Any) -> Any:
            return jax.tree.map(lambda a, b: jnp.where(done, a, b), fresh, current)

        return (
            select(reset_state, next_state),
            select(reset_observation, observation),
            jnp.asarray(reward, dtype=jnp.float32),
            terminated,
            truncated,
            {**info, "final_observation": observation},
        )
