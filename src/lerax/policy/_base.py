"""Abstract policy interfaces shared by every algorithm."""

import abc
from typing import Generic, TypeVar

import equinox as eqx
from jaxtyping import Array, Float, Key, PyTree

from lerax.env import AbstractSpace
from lerax.utils import Serializable

from ._distribution import AbstractDistribution

StateT = TypeVar("StateT", bound=PyTree[Array])


class AbstractStatelessPolicy(Serializable):
    """A feed-forward (memoryless) actor-critic policy.

    Subclasses implement `forward`; sampling, prediction, value and action evaluation
    are derived from it. Every method takes a single, unbatched observation; use
    `jax.vmap` for batches. Under `jax.jit`, outputs a caller ignores (e.g. the
    actor in `value`) are removed by dead-code elimination.

    Attributes:
        observation_space: Space of the observations the policy accepts.
        action_space: Space of the actions the policy produces.
    """

    observation_space: eqx.AbstractVar[AbstractSpace]
    action_space: eqx.AbstractVar[AbstractSpace]

    @abc.abstractmethod
    def forward(
        self, observation: Array
    ) -> tuple[AbstractDistribution, Float[Array, ""]]:
        """Returns the action distribution and the value estimate for `observation`."""

    def __call__(
        self, observation: Array, *, key: Key[Array, ""]
    ) -> tuple[Array, Float[Array, ""], Float[Array, ""]]:
        """Samples an action.

        Args:
            observation: One observation from `observation_space`.
            key: PRNG key for sampling.

        Returns:
            `(action, value, log_prob)`.
        """
        distribution, value = self.forward(observation)
        action = distribution.sample(key=key)
        return action, value, distribution.log_prob(action)

    def predict(self, observation: Array) -> Array:
        """Returns the deterministic action (argmax for Discrete, mean for Box)."""
        distribution, _ = self.forward(observation)
        return distribution.mode()

    def value(self, observation: Array) -> Float[Array, ""]:
        """Returns the critic's value estimate for `observation`."""
        _, value = self.forward(observation)
        return value

    def evaluate_action(
        self, observation: Array, action: Array
    ) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Scores a given action, as needed by PPO's loss.

        Returns:
            `(value, log_prob, entropy)`.
        """
        distribution, value = self.forward(observation)
        return value, distribution.log_prob(action), distribution.entropy()


class AbstractStatefulPolicy(Serializable, Generic[StateT]):
    """A recurrent actor-critic policy with an explicit state.

    The state is a pytree of arrays threaded by the caller: start from `reset`, pass
    the state returned by each step into the next, and reset it at episode
    boundaries. `value` and `evaluate_action` take the state *before* the step, the
    same one passed to `__call__`. Every method is unbatched; use `jax.vmap`.

    Subclasses implement `reset` and `forward`.

    Attributes:
        observation_space: Space of the observations the policy accepts.
        action_space: Space of the actions the policy produces.
    """

    observation_space: eqx.AbstractVar[AbstractSpace]
    action_space: eqx.AbstractVar[AbstractSpace]

    @abc.abstractmethod
    def reset(self, *, key: Key[Array, ""]) -> StateT:
        """Returns the initial recurrent state for a new episode."""

    @abc.abstractmethod
    def forward(
        self, state: StateT, observation: Array
    ) -> tuple[StateT, AbstractDistribution, Float[Array, ""]]:
        """Advances the state by one observation.

        Returns:
            `(next_state, action_distribution, value)`.
        """

    def __call__(
        self, state: StateT, observation: Array, *, key: Key[Array, ""]
    ) -> tuple[StateT, Array, Float[Array, ""], Float[Array, ""]]:
        """Samples an action.

        Returns:
            `(next_state, action, value, log_prob)`.
        """
        state, distribution, value = self.forward(state, observation)
        action = distribution.sample(key=key)
        return state, action, value, distribution.log_prob(action)

    def predict(self, state: StateT, observation: Array) -> tuple[StateT, Array]:
        """Returns `(next_state, deterministic_action)`."""
        state, distribution, _ = self.forward(state, observation)
        return state, distribution.mode()

    def value(self, state: StateT, observation: Array) -> Float[Array, ""]:
        """Returns the value estimate given the state before this step."""
        _, _, value = self.forward(state, observation)
        return value

    def evaluate_action(
        self, state: StateT, observation: Array, action: Array
    ) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Scores a given action from the state before this step.

        Returns:
            `(value, log_prob, entropy)`.
        """
        _, distribution, value = self.forward(state, observation)
        return value, distribution.log_prob(action), distribution.entropy()
