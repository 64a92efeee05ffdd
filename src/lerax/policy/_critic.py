"""Twin Q-critics for continuous actions (SAC, TD3)."""

import contextlib
from collections.abc import Callable, Sequence
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key, PyTree

from lerax.env import AbstractEnv, AbstractSpace, Box
from lerax.utils import Serializable

from ._feedforward import feedforward, hidden_sizes as _hidden_sizes
from ._spaces import flatten_observation, observation_size, resolve_spaces


def continuous_action_space(space: AbstractSpace, who: str) -> Box:
    """`space` if it is a bounded floating `Box`.

    Raises:
        TypeError: Otherwise, naming `who`.
    """
    bounded = True
    if isinstance(space, Box):
        # A skeleton's bounds are traced; the file's Box was checked.
        with contextlib.suppress(jax.errors.ConcretizationTypeError):
            bounded = bool(jnp.all(jnp.isfinite(space.low) & jnp.isfinite(space.high)))
    if (
        not isinstance(space, Box)
        or not jnp.issubdtype(space.dtype, jnp.floating)
        or not bounded
    ):
        raise TypeError(
            f"{who} needs a bounded floating Box action space, got {space!r}"
        )
    return space


def scale_action(space: Box, action: Array) -> Array:
    """An action of `space` mapped affinely from its bounds to [-1, 1]."""
    return 2.0 * (action - space.low) / (space.high - space.low) - 1.0


def unscale_action(space: Box, action: Array) -> Array:
    """An action in [-1, 1] mapped affinely to the bounds of `space`."""
    return space.low + 0.5 * (action + 1.0) * (space.high - space.low)


@final
class TwinQCritic(Serializable):
    """Independent Q-networks ``Q_i(observation, action)`` for a Box action space.

    SAC and TD3 learn two and use the smaller estimate against overestimation
    (clipped double Q-learning). Each network reads the flat observation
    concatenated with the action scaled from the space's bounds to [-1, 1].

    Attributes:
        observation_space: Space of the observations.
        action_space: The (bounded, floating) Box of the actions.
        q_networks: One network per critic.
    """

    observation_space: AbstractSpace
    action_space: Box
    q_networks: tuple[eqx.nn.Sequential, ...]

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
        """Builds the critics.

        Args:
            env: Environment whose spaces to use; only its spaces are stored.
            key: PRNG key for parameter initialisation.
            observation_space: Observation space, when `env` is not given.
            action_space: Action space, when `env` is not given.
            hidden_sizes: Width of each hidden layer of each network.
            activation: Hidden activation, a named function (e.g. `jax.nn.relu`).
            num_critics: Number of Q-networks.

        Raises:
            ValueError: On inconsistent spaces, bad sizes or `num_critics` < 1.
            TypeError: If the action space is not a bounded floating Box.
        """
        if isinstance(num_critics, bool) or int(num_critics) < 1:
            raise ValueError(f"num_critics must be positive, got {num_critics!r}")
        self.observation_space, action_space = resolve_spaces(
            env, observation_space, action_space
        )
        self.action_space = continuous_action_space(action_space, "TwinQCritic")
        in_size = observation_size(self.observation_space) + self.action_space.flat_size
        sizes = _hidden_sizes(hidden_sizes)
        self.q_networks = tuple(
            feedforward(in_size, "scalar", sizes, activation, key=k)
            for k in jax.random.split(key, int(num_critics))
        )

    def __call__(
        self, observation: PyTree[Array], action: Float[Array, "..."]
    ) -> Float[Array, " num_critics"]:
        """Every critic's estimate for one (unbatched) observation and action."""
        x = jnp.concatenate(
            [
                flatten_observation(self.observation_space, observation),
                jnp.ravel(scale_action(self.action_space, action)),
            ]
        )
        return jnp.stack([q(x) for q in self.q_networks])


def actor_and_twin_critic(
    env: AbstractEnv | None,
    observation_space: AbstractSpace | None,
    action_space: AbstractSpace | None,
    *,
    key: Key[Array, ""],
    hidden_sizes: Sequence[int],
    activation: Callable[[Array], Array],
    num_critics: int,
    outputs_per_action: int,
    who: str,
) -> tuple[AbstractSpace, Box, eqx.nn.Sequential, TwinQCritic]:
    """The spaces, actor and critics of an off-policy continuous-action policy.

    The actor maps the flat observation to ``outputs_per_action`` numbers per
    action dimension; actor and critics share `hidden_sizes` and `activation`.

    Raises:
        ValueError: On inconsistent spaces, bad sizes or `num_critics` < 1.
        TypeError: If the action space is not a bounded floating Box.
    """
    observation_space, action_space = resolve_spaces(
        env, observation_space, action_space
    )
    box = continuous_action_space(action_space, who)
    sizes = _hidden_sizes(hidden_sizes)
    actor_key, critic_key = jax.random.split(key)
    actor = feedforward(
        observation_size(observation_space),
        outputs_per_action * box.flat_size,
        sizes,
        activation,
        key=actor_key,
    )
    critic = TwinQCritic(
        key=critic_key,
        observation_space=observation_space,
        action_space=box,
        hidden_sizes=sizes,
        activation=activation,
        num_critics=num_critics,
    )
    return observation_space, box, actor, critic
