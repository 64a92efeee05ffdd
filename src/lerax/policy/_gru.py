"""Recurrent (GRU) actor-critic policy."""

from collections.abc import Callable
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key, PyTree

from lerax.env import AbstractEnv, AbstractSpace

from ._base import AbstractStatefulPolicy
from ._distribution import AbstractDistribution
from ._init import actor_and_critic, gru_cell
from ._spaces import (
    AbstractActionHead,
    flatten_observation,
    make_action_head,
    observation_size,
    resolve_spaces,
)


@final
class GRUActorCriticPolicy(AbstractStatefulPolicy[Float[Array, " hidden_size"]]):
    """Actor-critic on top of a GRU cell shared by the actor and the critic.

    Each step feeds the flat observation into the GRU cell; the new hidden state is
    both the next recurrent state and the input of separate actor and critic MLPs.
    The state is the hidden vector, reset to zeros. Initialisation is orthogonal:
    gain 1 for the GRU gates, √2 for hidden MLP layers, 0.01 for the policy output,
    1.0 for the value output; all biases zero. Observation and action spaces are
    handled as by `MLPActorCriticPolicy`.

    Attributes:
        observation_space: Space of the observations.
        action_space: Space of the actions.
        cell: GRU cell from flat observation and state to the next state.
        actor: MLP from hidden state to action-distribution parameters.
        critic: MLP from hidden state to a scalar value.
        action_head: Turns the actor output into a distribution.
    """

    observation_space: AbstractSpace
    action_space: AbstractSpace
    cell: eqx.nn.GRUCell
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
        hidden_size: int = 64,
        width: int = 64,
        depth: int = 1,
        activation: Callable[[Array], Array] = jax.nn.tanh,
        log_std_init: float = 0.0,
    ):
        """Builds the policy.

        Args:
            env: Environment whose spaces to use; only its spaces are stored.
            key: PRNG key for parameter initialisation.
            observation_space: Observation space, when `env` is not given.
            action_space: Action space, when `env` is not given.
            hidden_size: Size of the GRU hidden state (the recurrent state).
            width: Units in each hidden layer of the actor and critic MLPs.
            depth: Number of hidden layers of each MLP (0 = linear).
            activation: Hidden-layer activation of the MLPs; a named function such
                as `jax.nn.tanh`, so it can be recorded for serialization.
            log_std_init: Initial log standard deviation of the Gaussian of
                Box actions (ignored for other action spaces).

        Raises:
            ValueError: On inconsistent spaces or non-positive sizes.
            TypeError: If the observation space is not a lerax space, or the
                action space is not Discrete, MultiDiscrete, MultiBinary or a
                floating Box.
        """
        if hidden_size < 1 or width < 1 or depth < 0:
            raise ValueError(
                "Need hidden_size >= 1, width >= 1 and depth >= 0, got "
                f"{hidden_size=}, {width=}, {depth=}."
            )
        self.observation_space, self.action_space = resolve_spaces(
            env, observation_space, action_space
        )
        self.action_head = make_action_head(
            self.action_space, log_std_init=log_std_init
        )
        in_size = observation_size(self.observation_space)
        cell_key, net_key = jax.random.split(key)
        self.cell = gru_cell(in_size, hidden_size, key=cell_key)
        self.actor, self.critic = actor_and_critic(
            hidden_size,
            self.action_head.num_inputs,
            width,
            depth,
            activation,
            key=net_key,
        )

    def reset(self, *, key: Key[Array, ""]) -> Float[Array, " hidden_size"]:
        del key  # The initial state is deterministic (zeros).
        return jnp.zeros((self.cell.hidden_size,), dtype=self.cell.weight_hh.dtype)

    def forward(
        self, state: Float[Array, " hidden_size"], observation: PyTree[Array]
    ) -> tuple[Float[Array, " hidden_size"], AbstractDistribution, Float[Array, ""]]:
        x = flatten_observation(self.observation_space, observation)
        state = self.cell(x, state)
        return state, self.action_head(self.actor(state)), self.critic(state)
