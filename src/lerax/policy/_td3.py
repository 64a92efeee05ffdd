"""Deterministic actor with twin Q-critics, the policy TD3 trains."""

from collections.abc import Callable, Sequence
from typing import cast, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key, PyTree

from lerax.env import AbstractEnv, AbstractSpace, Box

from ._base import AbstractStatelessPolicy
from ._critic import TwinQCritic, actor_and_twin_critic, unscale_action
from ._deterministic import Deterministic
from ._spaces import flatten_observation

__all__ = ["MLPTD3Policy"]


@final
class MLPTD3Policy(AbstractStatelessPolicy):
    """A deterministic MLP actor and twin Q-critics, for bounded Box actions.

    The actor maps the flat observation through an MLP and ``tanh`` to an
    action in [-1, 1] (`scaled_action`), then affinely to the bounds of the
    action space; the critics (`TwinQCritic`) read actions scaled back to
    [-1, 1]. The defaults are Stable-Baselines3's TD3 ``MlpPolicy``: hidden
    layers of 400 and 300 ReLU units for the actor and for each of two
    critics, PyTorch's default initialisation.

    `forward` returns a `Deterministic` distribution at the actor's action,
    so sampling, `predict` and `lerax.algorithm.evaluate` all take that
    action (exploration noise is added by the algorithm), and as value the
    smaller critic estimate of that action, ``min_i Q_i(observation,
    action)`` (the clipped double-Q estimate of the state's value under the
    policy).

    Example:
        ```python
        policy = MLPTD3Policy(Pendulum(), key=jax.random.key(0))
        action = policy.predict(jnp.array([1.0, 0.0, 0.0]))  # in [-2, 2]
        ```

    Attributes:
        observation_space: Space of the observations.
        action_space: The (bounded, floating) Box of the actions.
        actor: MLP from flat observation to the pre-``tanh`` action.
        critic: The Q-networks.
    """

    observation_space: AbstractSpace
    action_space: AbstractSpace
    actor: eqx.nn.Sequential
    critic: TwinQCritic

    def __init__(
        self,
        env: AbstractEnv | None = None,
        *,
        key: Key[Array, ""],
        observation_space: AbstractSpace | None = None,
        action_space: AbstractSpace | None = None,
        hidden_sizes: Sequence[int] = (400, 300),
        activation: Callable[[Array], Array] = jax.nn.relu,
        num_critics: int = 2,
    ):
        """Builds the actor and the critics.

        Args:
            env: Environment whose spaces to use; only its spaces are stored.
            key: PRNG key for parameter initialisation.
            observation_space: Observation space, when `env` is not given.
            action_space: Action space, when `env` is not given.
            hidden_sizes: Width of each hidden layer, of the actor and of
                each critic.
            activation: Hidden activation, a named function (e.g.
                `jax.nn.relu`).
            num_critics: Number of Q-networks.

        Raises:
            ValueError: On inconsistent spaces, bad sizes or `num_critics` < 1.
            TypeError: If the action space is not a bounded floating Box.
        """
        (
            self.observation_space,
            self.action_space,
            self.actor,
            self.critic,
        ) = actor_and_twin_critic(
            env,
            observation_space,
            action_space,
            key=key,
            hidden_sizes=hidden_sizes,
            activation=activation,
            num_critics=num_critics,
            outputs_per_action=1,
            who="MLPTD3Policy",
        )

    def scaled_action(
        self, observation: PyTree[Array]
    ) -> Float[Array, "*action_shape"]:
        """The actor's action in [-1, 1] (before mapping to the bounds): what
        TD3 adds exploration and smoothing noise to."""
        x = flatten_observation(self.observation_space, observation)
        return jnp.reshape(jnp.tanh(self.actor(x)), self.action_space.shape)

    def unscale(
        self, scaled_action: Float[Array, "*action_shape"]
    ) -> Float[Array, "*action_shape"]:
        """An action in [-1, 1] mapped affinely to the action space's bounds."""
        return unscale_action(cast(Box, self.action_space), scaled_action)

    def forward(
        self, observation: PyTree[Array]
    ) -> tuple[Deterministic, Float[Array, ""]]:
        """The actor's action as a point mass, and as value the smallest
        critic estimate of it, ``min_i Q_i(observation, action)``."""
        action = self.unscale(self.scaled_action(observation))
        return Deterministic(action), jnp.min(self.critic(observation, action))
