"""Feed-forward actor-critic policy."""

from collections.abc import Callable
from typing import final

import equinox as eqx
import jax
from jaxtyping import Array, Float, Key, PyTree

from lerax.env import AbstractEnv, AbstractSpace

from ._base import AbstractStatelessPolicy
from ._distribution import AbstractDistribution
from ._init import actor_and_critic
from ._spaces import (
    AbstractActionHead,
    flatten_observation,
    make_action_head,
    observation_size,
    resolve_spaces,
)


@final
class MLPActorCriticPolicy(AbstractStatelessPolicy):
    """Actor-critic with separate MLPs for the policy and the value function.

    The defaults are the usual PPO ones: two hidden layers of 64 tanh units per
    network, orthogonal weights (gain √2 for hidden layers, 0.01 for the policy
    output, 1.0 for the value output) and zero biases.

    Observations of any space are read through the space's flat encoding
    (``observation_space.flatten``: discrete parts one-hot). Discrete actions use a
    categorical distribution, MultiDiscrete actions independent categoricals,
    MultiBinary actions independent Bernoullis, and Box actions a diagonal Gaussian
    whose log standard deviation is learned, independent of the observation and
    initialised at 0.

    Attributes:
        observation_space: Space of the observations.
        action_space: Space of the actions.
        actor: MLP from flat observation to action-distribution parameters.
        critic: MLP from flat observation to a scalar value.
        action_head: Turns the actor output into a distribution.
    """

    observation_space: AbstractSpace
    action_space: AbstractSpace
    actor: eqx.nn.MLP
    critic: eqx.nn.MLP
    action_head: AbstractActionHead

    def __init__(
        self,
        env: AbstractEnv | None = None,
        *,
        key: Key[Array, ""],
        observation_space: AbstractSpace | None = None,
        action_space: AbstractSpace | None = None,
        width: int = 64,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.tanh,
        log_std_init: float = 0.0,
    ):
        """Builds the policy.

        Args:
            env: Environment whose spaces to use; only its spaces are stored.
            key: PRNG key for parameter initialisation.
            observation_space: Observation space, when `env` is not given.
            action_space: Action space, when `env` is not given.
            width: Units in each hidden layer.
            depth: Number of hidden layers of each network (0 = linear).
            activation: Hidden-layer activation; a named function such as
                `jax.nn.tanh`, so it can be recorded for serialization.
            log_std_init: Initial log standard deviation of the Gaussian of
                Box actions (ignored for other action spaces).

        Raises:
            ValueError: On inconsistent spaces or non-positive sizes.
            TypeError: If the observation space is not a lerax space, or the
                action space is not Discrete, MultiDiscrete, MultiBinary or a
                floating Box.
        """
        if width < 1 or depth < 0:
            raise ValueError(f"Need width >= 1 and depth >= 0, got {width=}, {depth=}.")
        self.observation_space, self.action_space = resolve_spaces(
            env, observation_space, action_space
        )
        self.action_head = make_action_head(
            self.action_space, log_std_init=log_std_init
        )
        in_size = observation_size(self.observation_space)
        self.actor, self.critic = actor_and_critic(
            in_size, self.action_head.num_inputs, width, depth, activation, key=key
        )

    def forward(
        self, observation: PyTree[Array]
    ) -> tuple[AbstractDistribution, Float[Array, ""]]:
        x = flatten_observation(self.observation_space, observation)
        return self.action_head(self.actor(x)), self.critic(x)
