"""Abstract policy interfaces shared by every algorithm."""

import abc
from typing import Any, Generic, TypeVar

import equinox as eqx
from jaxtyping import Array, Bool, Float, Key, PyTree

from lerax.env import AbstractSpace
from lerax.utils import Serializable

from ._distribution import AbstractDistribution

__all__ = ["AbstractStatefulPolicy", "AbstractStatelessPolicy"]

StateT = TypeVar("StateT", bound=PyTree[Array])


class AbstractStatelessPolicy(Serializable):
    """A feed-forward (memoryless) actor-critic policy.

    Subclasses implement `forward`; sampling, prediction, value and action evaluation
    are derived from it. Every method takes a single, unbatched observation; use
    `jax.vmap` for batches. Under `jax.jit`, outputs a caller ignores (e.g. the
    actor in `value`) are removed by dead-code elimination.

    Sampling, prediction and evaluation take an optional ``action_mask``: a boolean
    vector, true where an action is allowed (``n`` entries for `Discrete` actions,
    ``sum(nvec)`` for `MultiDiscrete`), which restricts the distribution with
    `AbstractDistribution.masked`. Pass the same mask to `evaluate_action` as when
    the action was sampled.

    Attributes:
        observation_space: Space of the observations the policy accepts.
        action_space: Space of the actions the policy produces.
    """

    observation_space: eqx.AbstractVar[AbstractSpace]
    action_space: eqx.AbstractVar[AbstractSpace]

    @abc.abstractmethod
    def forward(
        self, observation: PyTree[Array]
    ) -> tuple[AbstractDistribution, Float[Array, ""]]:
        """Returns the action distribution and the value estimate for `observation`."""

    def __call__(
        self,
        observation: PyTree[Array],
        *,
        key: Key[Array, ""],
        action_mask: Bool[Array, " n"] | None = None,
    ) -> tuple[Array, Float[Array, ""], Float[Array, ""]]:
        """Samples an action.

        Args:
            observation: One observation from `observation_space`.
            key: PRNG key for sampling.
            action_mask: Allowed actions (see the class docstring), or `None`.

        Returns:
            `(action, value, log_prob)`.
        """
        distribution, value = self.forward(observation)
        distribution = _restrict(distribution, action_mask)
        action = distribution.sample(key=key)
        return action, value, distribution.log_prob(action)

    def predict(
        self,
        observation: PyTree[Array],
        *,
        action_mask: Bool[Array, " n"] | None = None,
    ) -> Array:
        """Returns the deterministic action (argmax for Discrete, mean for Box)."""
        distribution, _ = self.forward(observation)
        return _restrict(distribution, action_mask).mode()

    def value(self, observation: PyTree[Array]) -> Float[Array, ""]:
        """Returns the critic's value estimate for `observation`."""
        _, value = self.forward(observation)
        return value

    def evaluate_action(
        self,
        observation: PyTree[Array],
        action: Array,
        *,
        action_mask: Bool[Array, " n"] | None = None,
    ) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Scores a given action, as needed by PPO's loss.

        Returns:
            `(value, log_prob, entropy)`, under `action_mask` if given.
        """
        distribution, value = self.forward(observation)
        distribution = _restrict(distribution, action_mask)
        return value, distribution.log_prob(action), distribution.entropy()


class AbstractStatefulPolicy(Serializable, Generic[StateT]):
    """A recurrent actor-critic policy with an explicit state.

    The state is a pytree of arrays threaded by the caller: start from `reset`, pass
    the state returned by each step into the next, and reset it at episode
    boundaries. `value` and `evaluate_action` take the state *before* the step, the
    same one passed to `__call__`. Every method is unbatched; use `jax.vmap`.

    Subclasses implement `reset` and `forward`. Sampling, prediction and evaluation
    take an optional ``action_mask``, as for `AbstractStatelessPolicy`.

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
        self, state: StateT, observation: PyTree[Array]
    ) -> tuple[StateT, AbstractDistribution, Float[Array, ""]]:
        """Advances the state by one observation.

        Returns:
            `(next_state, action_distribution, value)`.
        """

    def __call__(
        self,
        state: StateT,
        observation: PyTree[Array],
        *,
        key: Key[Array, ""],
        action_mask: Bool[Array, " n"] | None = None,
    ) -> tuple[StateT, Array, Float[Array, ""], Float[Array, ""]]:
        """Samples an action.

        Returns:
            `(next_state, action, value, log_prob)`.
        """
        state, distribution, value = self.forward(state, observation)
        distribution = _restrict(distribution, action_mask)
        action = distribution.sample(key=key)
        return state, action, value, distribution.log_prob(action)

    def predict(
        self,
        state: StateT,
        observation: PyTree[Array],
        *,
        action_mask: Bool[Array, " n"] | None = None,
    ) -> tuple[StateT, Array]:
        """Returns `(next_state, deterministic_action)`."""
        state, distribution, _ = self.forward(state, observation)
        return state, _restrict(distribution, action_mask).mode()

    def value(self, state: StateT, observation: PyTree[Array]) -> Float[Array, ""]:
        """Returns the value estimate given the state before this step."""
        _, _, value = self.forward(state, observation)
        return value

    def evaluate_action(
        self,
        state: StateT,
        observation: PyTree[Array],
        action: Array,
        *,
        action_mask: Bool[Array, " n"] | None = None,
    ) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Scores a given action from the state before this step.

        Returns:
            `(value, log_prob, entropy)`, under `action_mask` if given.
        """
        _, distribution, value = self.forward(state, observation)
        distribution = _restrict(distribution, action_mask)
        return value, distribution.log_prob(action), distribution.entropy()


def _restrict(
    distribution: AbstractDistribution, action_mask: Any
) -> AbstractDistribution:
    """`distribution` under `action_mask`; unchanged (same object) without one."""
    if action_mask is None:
        return distribution
    return distribution.masked(action_mask)
