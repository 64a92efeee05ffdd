"""The middle tier of on-policy algorithms: rollouts, GAE, and the iteration."""

import abc
from collections.abc import Mapping
from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, PyTree, Shaped

from lerax.env import AbstractEnv

from . import _policies
from ._base import AbstractAlgorithm
from ._gae import generalized_advantage_estimation
from ._history import empty_history
from ._policies import ActionMask, Policy, PolicyState
from ._rollout import Transitions, collect_rollout, start_rollout
from ._state import TrainingState


@final
class OnPolicyBatch(eqx.Module):
    """One iteration's training samples, flattened over environments and time
    (environment-major).

    Attributes:
        observation: Observation each step started from.
        action_mask: Allowed actions there (``None`` if the env gives none).
        policy_state: Recurrent state before the step (``None`` if stateless).
        action: Action taken.
        log_prob: Its log-probability when it was taken.
        value: The value estimate when it was taken.
        advantage: GAE(λ) advantage.
        target: Value target (advantage plus value).
    """

    observation: PyTree[Array]
    action_mask: ActionMask
    policy_state: PolicyState
    action: Array
    log_prob: Float[Array, " batch"]
    value: Float[Array, " batch"]
    advantage: Float[Array, " batch"]
    target: Float[Array, " batch"]


class AbstractOnPolicyAlgorithm(AbstractAlgorithm[TrainingState]):
    """An algorithm that learns from the rollouts of its current policy.

    Each iteration collects ``num_steps`` steps from each of ``num_envs``
    environments, computes GAE(λ) advantages (bootstrapping truncated episodes
    from the value of their final observation, never terminated ones), and
    hands the batch to `update`. Subclasses (`PPO`, `A2C`) supply the optimiser
    and the update.

    Attributes:
        num_envs: Number of parallel environments.
        num_steps: Steps per environment in each iteration.
        gamma: Discount factor.
        gae_lambda: GAE smoothing parameter λ.
    """

    num_envs: eqx.AbstractVar[int]
    num_steps: eqx.AbstractVar[int]
    gamma: eqx.AbstractVar[float]
    gae_lambda: eqx.AbstractVar[float]

    # Per-iteration metrics `update` returns (see `History`).
    metric_names: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def optimizer(self) -> optax.GradientTransformation:
        """The optimiser whose state `update` carries."""

    @abc.abstractmethod
    def update(
        self,
        policy: Policy,
        opt_state: optax.OptState,
        batch: OnPolicyBatch,
        iteration: Int[Array, ""],
        total_iterations: int,
        *,
        key: Key[Array, ""],
    ) -> tuple[Policy, optax.OptState, Mapping[str, Float[Array, ""]]]:
        """Trains `policy` on one iteration's `batch`.

        Args:
            policy: The policy that collected the batch.
            opt_state: The optimiser's state.
            batch: The samples, with advantages and value targets.
            iteration: Completed iterations before this one, for schedules.
            total_iterations: Length of the run, for schedules.
            key: PRNG key (e.g. for shuffling minibatches).

        Returns:
            ``(policy, opt_state, metrics)``, one metric per `metric_names`.
        """

    def init_state(
        self,
        env: AbstractEnv,
        policy: Policy,
        total_iterations: int,
        *,
        key: Key[Array, ""],
    ) -> TrainingState:
        """Resets `num_envs` environments and initialises the optimiser.

        Args:
            env: The environment (unbatched).
            policy: The initial policy.
            total_iterations: Length of the run, in iterations.
            key: PRNG key for everything random in the run.

        Returns:
            The state at iteration 0.
        """
        rollout_key, key = jax.random.split(key)
        # A normalised policy on a normalising env trains its inner policy.
        acting = _policies.acting_policy(policy, env)
        params = eqx.filter(acting, _policies.trainable(acting))
        return TrainingState(
            policy=policy,
            opt_state=self.optimizer().init(params),
            key=key,
            rollout=start_rollout(env, policy, self.num_envs, key=rollout_key),
            iteration=jnp.array(0, jnp.int32),
            history=empty_history(self.metric_names, total_iterations),
        )

    def train_iteration(
        self, env: AbstractEnv, state: TrainingState, total_iterations: int
    ) -> tuple[TrainingState, Mapping[str, Shaped[Array, ""]]]:
        """Collects one rollout and runs `update` on it.

        Args:
            env: The environment (unbatched).
            state: The state after ``state.iteration`` iterations.
            total_iterations: Length of the run, for schedules.

        Returns:
            ``(state, metrics)``.
        """
        key, rollout_key, update_key = jax.random.split(state.key, 3)
        policy = _policies.acting_policy(state.policy, env)
        rollout, transitions, stats = collect_rollout(
            env, policy, state.rollout, self.num_steps, key=rollout_key
        )
        batch = self._batch(policy, transitions)
        policy, opt_state, metrics = self.update(
            policy,
            state.opt_state,
            batch,
            state.iteration,
            total_iterations,
            key=update_key,
        )
        # A normalised policy takes the envs' current statistics along.
        policy = _policies.with_trained(state.policy, policy, env, rollout.env_state)
        state = eqx.tree_at(
            lambda s: (s.policy, s.opt_state, s.key, s.rollout),
            state,
            (policy, opt_state, key, rollout),
        )
        return state, {**metrics, **stats.metrics()}

    def _batch(self, policy: Policy, transitions: Transitions) -> OnPolicyBatch:
        """Advantages and value targets, flattened into one batch of samples."""

        def next_value(state: PolicyState, observation: Array) -> Float[Array, ""]:
            return _policies.value(policy, state, observation)

        # The value of the state each step reached, with its pre-reset recurrent
        # state: the bootstrap target of truncated episodes.
        next_values = jax.vmap(jax.vmap(next_value))(
            transitions.next_policy_state, transitions.next_observation
        )
        advantages, targets = generalized_advantage_estimation(
            transitions.reward,
            transitions.value,
            next_values,
            transitions.terminated,
            transitions.truncated,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
        )
        batch = OnPolicyBatch(
            observation=transitions.observation,
            action_mask=transitions.action_mask,
            policy_state=transitions.policy_state,
            action=transitions.action,
            log_prob=transitions.log_prob,
            value=transitions.value,
            advantage=advantages,
            target=targets,
        )
        # Environment-major, so that a batch sharded over environments stays
        # sharded in contiguous blocks and the update is data-parallel.
        return jax.tree.map(
            lambda x: jnp.swapaxes(x, 0, 1).reshape(-1, *x.shape[2:]), batch
        )
