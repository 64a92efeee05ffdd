"""Squashed-Gaussian actor with twin Q-critics, the policy SAC trains."""

from collections.abc import Callable, Sequence
from typing import cast, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key, PyTree

from lerax.env import AbstractEnv, AbstractSpace, Box

from ._base import AbstractStatelessPolicy
from ._critic import TwinQCritic, actor_and_twin_critic
from ._spaces import flatten_observation
from ._squashed import SquashedDiagonalGaussian

__all__ = ["MLPSACPolicy"]

# Bounds of the actor's log standard deviation, as Stable-Baselines3's SAC.
LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0


@final
class MLPSACPolicy(AbstractStatelessPolicy):
    """A squashed-Gaussian MLP actor and twin Q-critics, for bounded Box actions.

    The actor maps the flat observation through an MLP to the mean and the
    log standard deviation (clipped to [-20, 2]) of a Gaussian, squashed by
    ``tanh`` and mapped affinely to the bounds of the action space
    (`SquashedDiagonalGaussian`): samples and `predict` (``tanh(mean)``,
    mapped) are actions of the environment's scale. The critics
    (`TwinQCritic`) read actions scaled back to [-1, 1]. The defaults are
    Stable-Baselines3's SAC ``MlpPolicy``: hidden layers of 256 and 256 ReLU
    units for the actor and for each of two critics, PyTorch's default
    initialisation.

    `forward` returns the distribution and, as value, the smaller critic
    estimate of the deterministic action, ``min_i Q_i(observation, mode)``:
    the clipped double-Q value of acting deterministically (without SAC's
    entropy bonus), for logging and generic callers; SAC itself trains on
    sampled actions.

    Example:
        ```python
        policy = MLPSACPolicy(Pendulum(), key=jax.random.key(0))
        action = policy.predict(jnp.array([1.0, 0.0, 0.0]))  # in [-2, 2]
        ```

    Attributes:
        observation_space: Space of the observations.
        action_space: The (bounded, floating) Box of the actions.
        actor: MLP from flat observation to the pre-squash mean and log
            standard deviation (concatenated, each of the action's size).
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
        hidden_sizes: Sequence[int] = (256, 256),
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
            outputs_per_action=2,
            who="MLPSACPolicy",
        )

    def distribution(self, observation: PyTree[Array]) -> SquashedDiagonalGaussian:
        """The actor's action distribution (without the critics' value)."""
        x = flatten_observation(self.observation_space, observation)
        mean, log_std = jnp.split(self.actor(x), 2)
        space = cast(Box, self.action_space)
        return SquashedDiagonalGaussian(
            jnp.reshape(mean, space.shape),
            jnp.reshape(jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX), space.shape),
            space.low,
            space.high,
        )

    def forward(
        self, observation: PyTree[Array]
    ) -> tuple[SquashedDiagonalGaussian, Float[Array, ""]]:
        """The action distribution, and as value the smallest critic estimate
        of its mode, ``min_i Q_i(observation, mode)``."""
        distribution = self.distribution(observation)
        return distribution, jnp.min(self.critic(observation, distribution.mode()))
