"""Q-network policy for discrete actions (DQN)."""

from collections.abc import Callable, Sequence
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key, PyTree

from lerax.env import AbstractEnv, AbstractSpace, Discrete

from ._base import AbstractStatelessPolicy
from ._distribution import Categorical
from ._feedforward import feedforward, hidden_sizes as _hidden_sizes
from ._spaces import flatten_observation, observation_size, resolve_spaces

__all__ = ["MLPQPolicy"]


@final
class MLPQPolicy(AbstractStatelessPolicy):
    """A Q-network ``Q(observation, ·)`` for `Discrete` actions, as a policy.

    One feed-forward network maps the flat observation
    (``observation_space.flatten``) to one Q-value per action. The defaults are
    those of Stable-Baselines3's DQN ``MlpPolicy``: two hidden layers of 64
    ReLU units with PyTorch's default (uniform ±1/√fan-in) initialisation.

    As a policy, `forward` returns a `Categorical` whose logits are the
    Q-values, and the largest Q-value as the value estimate. So `predict` is
    the greedy action (argmax Q; under an action mask, the best allowed
    action), and `lerax.algorithm.evaluate`, the CLI and the interop adapters
    use the policy unchanged. Sampling from it (``policy(observation,
    key=...)``, or ``evaluate(..., deterministic=False)``) is Boltzmann
    exploration, ``softmax(Q)``; `lerax.algorithm.DQN` itself explores
    ε-greedily instead.

    Example:
        >>> import jax
        >>> from lerax.env import CartPole
        >>> policy = MLPQPolicy(CartPole(), key=jax.random.key(0))
        >>> policy.q_values(jax.numpy.zeros(4)).shape
        (2,)

    Attributes:
        observation_space: Space of the observations.
        action_space: The `Discrete` space of the actions.
        q_network: Linear layers with activations between them, from the flat
            observation to ``action_space.n`` Q-values.
    """

    observation_space: AbstractSpace
    action_space: AbstractSpace
    q_network: eqx.nn.Sequential

    def __init__(
        self,
        env: AbstractEnv | None = None,
        *,
        key: Key[Array, ""],
        observation_space: AbstractSpace | None = None,
        action_space: AbstractSpace | None = None,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        """Builds the policy.

        Args:
            env: Environment whose spaces to use; only its spaces are stored.
            key: PRNG key for parameter initialisation.
            observation_space: Observation space, when `env` is not given.
            action_space: Action space, when `env` is not given.
            hidden_sizes: Width of each hidden layer (empty: a linear map).
            activation: Hidden activation; a named function such as
                `jax.nn.relu`, so it can be recorded for serialization.

        Raises:
            ValueError: On inconsistent spaces or non-positive sizes.
            TypeError: If the observation space is not a lerax space, or the
                action space is not `Discrete`.
        """
        self.observation_space, action_space = resolve_spaces(
            env, observation_space, action_space
        )
        if not isinstance(action_space, Discrete):
            raise TypeError(
                "MLPQPolicy needs a Discrete action space (one Q-value per "
                f"action), got {action_space!r}"
            )
        self.action_space = action_space
        self.q_network = feedforward(
            observation_size(self.observation_space),
            action_space.n,
            _hidden_sizes(hidden_sizes),
            activation,
            key=key,
        )

    def q_values(self, observation: PyTree[Array]) -> Float[Array, " n"]:
        """The Q-value of every action at one (unbatched) observation."""
        return self.q_network(flatten_observation(self.observation_space, observation))

    def forward(
        self, observation: PyTree[Array]
    ) -> tuple[Categorical, Float[Array, ""]]:
        """``(Categorical(logits=Q), max Q)``: greedy `predict`, Boltzmann
        sampling."""
        q = self.q_values(observation)
        return Categorical(q), jnp.max(q)
