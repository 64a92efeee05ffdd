"""The middle tier of off-policy algorithms: exploration, replay, updates."""

import abc
from collections.abc import Callable, Mapping
from typing import ClassVar, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, Key, PyTree, Shaped

from lerax.env import AbstractEnv, AbstractSpace, Discrete, MultiDiscrete
from lerax.policy import Categorical, MultiCategorical

from ._base import AbstractAlgorithm
from ._history import empty_history
from ._policies import ActionMask, Policy, PolicyState
from ._replay import ReplayBatch, ReplayBuffer
from ._rollout import RolloutState, collect_rollout, start_rollout
from ._state import AbstractTrainingState


def uniform_action(
    space: AbstractSpace, *, key: Key[Array, ""], action_mask: ActionMask = None
) -> Array:
    """A uniformly random action of `space`, among those `action_mask` allows.

    Masks restrict `Discrete` and `MultiDiscrete` actions (see ``docs/env.md``;
    a mask forbidding every value is ignored, as `Categorical.masked` does);
    without a mask, or for another space, this is ``space.sample``.
    """
    if action_mask is not None and isinstance(space, Discrete):
        uniform = Categorical(jnp.zeros(space.n, jnp.float32))
        return uniform.masked(action_mask).sample(key=key)
    if action_mask is not None and isinstance(space, MultiDiscrete):
        nvec = np.asarray(space.nvec)
        product = MultiCategorical(jnp.zeros(int(nvec.sum()), jnp.float32), nvec)
        return product.masked(action_mask).sample(key=key)
    return space.sample(key=key)


class AbstractOffPolicyState(AbstractTrainingState):
    """The state of an off-policy run: the loop's fields plus replay.

    Attributes:
        buffer: The replay buffer.
        num_updates: Gradient steps taken so far (e.g. for delayed updates).
    """

    buffer: eqx.AbstractVar[ReplayBuffer]
    num_updates: eqx.AbstractVar[Int[Array, ""]]


OffPolicyStateT = TypeVar("OffPolicyStateT", bound=AbstractOffPolicyState)


class AbstractOffPolicyAlgorithm(AbstractAlgorithm[OffPolicyStateT]):
    """An algorithm that learns from a replay buffer of past experience.

    Each iteration steps each of ``num_envs`` environments ``num_steps`` times
    (Stable-Baselines3's ``train_freq``) with `explore`'s actions (uniformly
    random ones, among those an action mask allows, while fewer than
    ``learning_starts`` steps have been taken),
    appends the steps to the replay buffer, and then, once more than
    ``learning_starts`` steps have been taken, runs ``gradient_steps`` calls of
    `update` on minibatches of ``batch_size`` drawn uniformly from the buffer.
    The step count is checked once per iteration, at its start (exploration)
    and end (training).

    The buffer holds the last ``buffer_size`` steps, or the whole run if that
    is shorter (so a short run allocates no more than it uses).

    Subclasses supply the state (`new_state`), exploration and the update.

    Attributes:
        num_envs: Number of parallel environments.
        num_steps: Steps per environment between training phases.
        buffer_size: Steps the replay buffer keeps (over all environments).
        batch_size: Transitions per gradient step.
        learning_starts: Steps of uniformly random actions before training.
        gradient_steps: Gradient steps per iteration.
        gamma: Discount factor.
    """

    num_envs: eqx.AbstractVar[int]
    num_steps: eqx.AbstractVar[int]
    buffer_size: eqx.AbstractVar[int]
    batch_size: eqx.AbstractVar[int]
    learning_starts: eqx.AbstractVar[int]
    gradient_steps: eqx.AbstractVar[int]
    gamma: eqx.AbstractVar[float]

    # Per-iteration metrics `update` returns (see `History`).
    metric_names: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def new_state(
        self,
        env: AbstractEnv,
        policy: Policy,
        *,
        rollout: RolloutState,
        buffer: ReplayBuffer,
        history: dict[str, Float[Array, " total_iterations"]],
        key: Key[Array, ""],
    ) -> OffPolicyStateT:
        """The state at iteration 0, with the algorithm's own parts (optimiser
        states, target networks) initialised, ``iteration`` and
        ``num_updates`` 0, and `key` as its key."""

    @abc.abstractmethod
    def explore(
        self,
        state: OffPolicyStateT,
        observation: PyTree[Array],
        *,
        timesteps: Int[Array, ""],
        total_timesteps: int,
        key: Key[Array, ""],
        action_mask: ActionMask = None,
    ) -> Array:
        """The action to take in one (unbatched) environment while training.

        Args:
            state: The state (its policy acts).
            observation: The observation.
            timesteps: Environment steps taken before this iteration.
            total_timesteps: Length of the run, for exploration schedules.
            key: PRNG key.
            action_mask: Allowed actions, if the env gives them.
        """

    @abc.abstractmethod
    def update(
        self,
        state: OffPolicyStateT,
        batch: ReplayBatch,
        *,
        step: Int[Array, ""],
        timesteps: Int[Array, ""],
        total_timesteps: int,
        key: Key[Array, ""],
    ) -> tuple[OffPolicyStateT, Mapping[str, Float[Array, ""]]]:
        """One gradient step on a minibatch.

        Args:
            state: The state (``num_updates`` counts the steps before this one).
            batch: ``batch_size`` transitions from the replay buffer.
            step: Index of this gradient step within the iteration.
            timesteps: Environment steps taken, this iteration's included.
            total_timesteps: Length of the run, for schedules.
            key: PRNG key.

        Returns:
            ``(state, metrics)``, one metric per `metric_names`; the loop
            counts ``num_updates``.
        """

    def buffer_capacity(self, total_iterations: int) -> int:
        """Steps the buffer keeps per environment in a run of
        `total_iterations`."""
        return min(
            max(self.buffer_size // self.num_envs, 1),
            total_iterations * self.num_steps,
        )

    def init_state(
        self,
        env: AbstractEnv,
        policy: Policy,
        total_iterations: int,
        *,
        key: Key[Array, ""],
    ) -> OffPolicyStateT:
        """Resets `num_envs` environments and allocates the replay buffer.

        Args:
            env: The environment (unbatched).
            policy: The initial policy.
            total_iterations: Length of the run, in iterations.
            key: PRNG key for everything random in the run.

        Returns:
            The state at iteration 0.
        """
        rollout_key, key = jax.random.split(key)
        return self.new_state(
            env,
            policy,
            rollout=start_rollout(env, policy, self.num_envs, key=rollout_key),
            buffer=ReplayBuffer.empty(
                env, self.buffer_capacity(total_iterations), self.num_envs
            ),
            history=empty_history(self.metric_names, total_iterations),
            key=key,
        )

    def train_iteration(
        self, env: AbstractEnv, state: OffPolicyStateT, total_iterations: int
    ) -> tuple[OffPolicyStateT, Mapping[str, Shaped[Array, ""]]]:
        """Explores for ``num_steps`` steps, stores them, then trains.

        Args:
            env: The environment (unbatched).
            state: The state after ``state.iteration`` iterations.
            total_iterations: Length of the run, for schedules.

        Returns:
            ``(state, metrics)``; the update metrics are means over the
            iteration's gradient steps (0 before training starts).
        """
        key, rollout_key, train_key = jax.random.split(state.key, 3)
        total_timesteps = total_iterations * self.steps_per_iteration
        timesteps = state.iteration * self.steps_per_iteration
        warming_up = timesteps < self.learning_starts

        def act(
            policy_state: PolicyState,
            observation: PyTree[Array],
            *,
            key: Key[Array, ""],
            action_mask: ActionMask = None,
        ) -> tuple[PolicyState, Array, Array, Array]:
            random_key, explore_key = jax.random.split(key)
            action = self.explore(
                state,
                observation,
                timesteps=timesteps,
                total_timesteps=total_timesteps,
                key=explore_key,
                action_mask=action_mask,
            )
            # Warm-up actions respect the env's action mask too.
            uniform = uniform_action(
                env.action_space, key=random_key, action_mask=action_mask
            )
            action = jnp.where(warming_up, uniform.astype(action.dtype), action)
            zero = jnp.zeros((), jnp.float32)
            return policy_state, action, zero, zero

        rollout, transitions, stats = collect_rollout(
            env, state.policy, state.rollout, self.num_steps, key=rollout_key, act=act
        )
        state = eqx.tree_at(
            lambda s: (s.rollout, s.buffer, s.key),
            state,
            (rollout, state.buffer.add(transitions), key),
        )
        timesteps = timesteps + self.steps_per_iteration

        def gradient_step(
            state: OffPolicyStateT, step_and_key: tuple[Int[Array, ""], Key[Array, ""]]
        ) -> tuple[OffPolicyStateT, Mapping[str, Float[Array, ""]]]:
            step, key = step_and_key
            sample_key, update_key = jax.random.split(key)
            batch = state.buffer.sample(self.batch_size, key=sample_key)
            state, metrics = self.update(
                state,
                batch,
                step=step,
                timesteps=timesteps,
                total_timesteps=total_timesteps,
                key=update_key,
            )
            state = eqx.tree_at(lambda s: s.num_updates, state, state.num_updates + 1)
            return state, metrics

        def train(
            state: OffPolicyStateT,
        ) -> tuple[OffPolicyStateT, dict[str, Float[Array, ""]]]:
            steps = jnp.arange(self.gradient_steps, dtype=jnp.int32)
            keys = jax.random.split(train_key, self.gradient_steps)
            # The scan carries arrays only: networks hold functions (activations).
            dynamic, static = eqx.partition(state, eqx.is_array)

            def scan_step(
                dynamic: PyTree, step_and_key: tuple[Int[Array, ""], Key[Array, ""]]
            ) -> tuple[PyTree, Mapping[str, Float[Array, ""]]]:
                state, metrics = gradient_step(
                    eqx.combine(dynamic, static), step_and_key
                )
                return eqx.filter(state, eqx.is_array), metrics

            dynamic, metrics = jax.lax.scan(scan_step, dynamic, (steps, keys))
            state = eqx.combine(dynamic, static)
            return state, {name: jnp.mean(metrics[name]) for name in self.metric_names}

        def skip(
            state: OffPolicyStateT,
        ) -> tuple[OffPolicyStateT, dict[str, Float[Array, ""]]]:
            return state, {
                name: jnp.zeros((), jnp.float32) for name in self.metric_names
            }

        dynamic, static = eqx.partition(state, eqx.is_array)

        def branch(
            fn: Callable[
                [OffPolicyStateT], tuple[OffPolicyStateT, dict[str, Float[Array, ""]]]
            ],
        ) -> Callable[[PyTree], tuple[PyTree, dict[str, Float[Array, ""]]]]:
            def run(dynamic: PyTree) -> tuple[PyTree, dict[str, Float[Array, ""]]]:
                state, metrics = fn(eqx.combine(dynamic, static))
                return eqx.filter(state, eqx.is_array), metrics

            return run

        dynamic, metrics = jax.lax.cond(
            timesteps > self.learning_starts, branch(train), branch(skip), dynamic
        )
        return eqx.combine(dynamic, static), {**metrics, **stats.metrics()}
