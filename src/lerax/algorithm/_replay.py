"""A replay buffer that is a pytree, so it lives (and is saved) in the state."""

from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key, PyTree

from lerax.env import AbstractEnv

from ._rollout import Transitions


@final
class ReplayBatch(eqx.Module):
    """Transitions drawn from a `ReplayBuffer`; every leaf has a leading
    ``batch_size`` axis.

    Attributes:
        observation: Observation each step started from.
        action: Action taken (as sampled, before any clipping to the space).
        reward: Reward received.
        next_observation: Observation reached, before any automatic reset.
        terminated: Whether the step reached a terminal state (a truncated
            episode is bootstrapped from `next_observation`, as in
            Stable-Baselines3's ``handle_timeout_termination``).
    """

    observation: PyTree[Array]
    action: Array
    reward: Float[Array, " batch"]
    next_observation: PyTree[Array]
    terminated: Bool[Array, " batch"]


@final
class ReplayBuffer(eqx.Module):
    """A ring buffer of the last ``capacity`` steps of ``num_envs`` environments.

    Every leaf has shape ``(capacity, num_envs, ...)``: the environment axis is
    kept so that data-parallel training can shard it like the environments.
    Being a pytree of fixed-shape arrays, the buffer is part of the training
    state, is updated inside the jitted loop and is saved in checkpoints with
    the rest of the state (no pickling).

    Attributes:
        data: The stored transitions (only the first `size` rows are valid).
        position: Row the next step is written to.
        size: Number of valid rows.
    """

    data: ReplayBatch
    position: Int[Array, ""]
    size: Int[Array, ""]

    @staticmethod
    def empty(env: AbstractEnv, capacity: int, num_envs: int) -> "ReplayBuffer":
        """An empty buffer for `env`'s observations and actions.

        Args:
            env: The environment (unbatched); its spaces give the shapes.
            capacity: Steps kept per environment.
            num_envs: Number of parallel environments.
        """
        key = jax.random.key(0)
        observation = env.observation_space.sample(key=key)
        action = env.action_space.sample(key=key)

        def zeros(x: Array) -> Array:
            return jnp.zeros((capacity, num_envs, *jnp.shape(x)), jnp.asarray(x).dtype)

        data = ReplayBatch(
            observation=jax.tree.map(zeros, observation),
            action=zeros(action),
            reward=jnp.zeros((capacity, num_envs), jnp.float32),
            next_observation=jax.tree.map(zeros, observation),
            terminated=jnp.zeros((capacity, num_envs), bool),
        )
        return ReplayBuffer(
            data=data,
            position=jnp.array(0, jnp.int32),
            size=jnp.array(0, jnp.int32),
        )

    @property
    def capacity(self) -> int:
        """Steps kept per environment."""
        return self.data.reward.shape[0]

    def add(self, transitions: Transitions) -> "ReplayBuffer":
        """The buffer with a rollout's steps appended, overwriting the oldest.

        Args:
            transitions: A rollout, time-major (``(num_steps, num_envs, ...)``).
        """
        num_steps = transitions.reward.shape[0]
        rows = (self.position + jnp.arange(num_steps)) % self.capacity
        new = ReplayBatch(
            observation=transitions.observation,
            action=transitions.action,
            reward=transitions.reward.astype(jnp.float32),
            next_observation=transitions.next_observation,
            terminated=transitions.terminated,
        )
        data = jax.tree.map(
            lambda old, x: old.at[rows].set(x.astype(old.dtype)), self.data, new
        )
        return ReplayBuffer(
            data=data,
            position=(self.position + num_steps) % self.capacity,
            size=jnp.minimum(self.size + num_steps, self.capacity),
        )

    def sample(self, batch_size: int, *, key: Key[Array, ""]) -> ReplayBatch:
        """Draws `batch_size` stored steps uniformly, with replacement.

        The buffer must not be empty.
        """
        row_key, env_key = jax.random.split(key)
        num_envs = self.data.reward.shape[1]
        rows = jax.random.randint(row_key, (batch_size,), 0, self.size)
        envs = jax.random.randint(env_key, (batch_size,), 0, num_envs)
        return jax.tree.map(lambda x: x[rows, envs], self.data)
