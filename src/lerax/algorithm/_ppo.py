"""Proximal Policy Optimization (clipped objective)."""

import math
from collections.abc import Mapping
from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Key, PyTree, Shaped

from lerax.env import AbstractEnv

from . import _policies
from ._base import AbstractAlgorithm
from ._gae import generalized_advantage_estimation
from ._history import empty_history
from ._policies import ActionMask, Policy, PolicyState
from ._rollout import Transitions, collect_rollout, start_rollout
from ._state import TrainingState

# Adam's epsilon, as in the reference PPO implementations.
_ADAM_EPS = 1e-5


@final
class _Batch(eqx.Module):
    """Training samples, flattened over time and environments."""

    observation: PyTree[Array]
    action_mask: ActionMask
    policy_state: PolicyState
    action: Array
    log_prob: Float[Array, " batch"]
    value: Float[Array, " batch"]
    advantage: Float[Array, " batch"]
    target: Float[Array, " batch"]


@final
class PPO(AbstractAlgorithm):
    """Proximal Policy Optimization with the clipped surrogate objective.

    Each iteration collects ``num_steps`` steps from each of ``num_envs``
    environments, computes GAE(λ) advantages (bootstrapping truncated episodes from
    the value of their final observation, never terminated ones), then runs
    ``num_epochs`` epochs of Adam over ``num_minibatches`` shuffled minibatches.

    The defaults are tuned for small control tasks such as `CartPole`; they follow
    the rl-zoo CartPole-v1 settings (8 environments, 32 steps, 20 epochs).

    Works with stateless and stateful policies. For a stateful policy, each
    environment carries its recurrent state, reset with ``policy.reset`` when an
    episode ends; the state before each step is stored, so the loss re-evaluates
    each step from its stored state (no backpropagation through time).

    Works with action masks: when the environment puts a boolean
    ``info["action_mask"]`` in the info of `reset` and `step` (see ``docs/env.md``),
    each action is sampled under the mask of its observation, and the loss
    re-evaluates it under the same, stored mask.

    Actions of a floating `Box` action space are clipped to its bounds before the
    environment steps, as in Stable-Baselines3; the rollout keeps the sampled
    action and its log-probability. A `lerax.policy.NormalizedPolicy` on an
    environment normalised by `lerax.env.wrappers.NormalizeObservation` trains
    its inner policy and carries the environments' current statistics after
    every iteration (see ``docs/wrappers.md``).

    Attributes:
        learning_rate: Adam step size (initial value when annealed).
        anneal_learning_rate: Decrease the step size linearly to 0 over the run.
        num_envs: Number of parallel environments.
        num_steps: Steps per environment in each iteration.
        num_epochs: Passes over each iteration's data.
        num_minibatches: Minibatches per epoch; must divide
            ``num_envs * num_steps``.
        gamma: Discount factor.
        gae_lambda: GAE smoothing parameter λ.
        clip_coef: Clipping range ε of the probability ratio.
        anneal_clip_coef: Decrease `clip_coef` linearly to 0 over the run.
        clip_value_loss: Also clip the value update to ±ε around the old value.
        ent_coef: Weight of the entropy bonus.
        vf_coef: Weight of the value loss.
        max_grad_norm: Gradients are rescaled to at most this global norm.
        normalize_advantages: Normalise advantages within each minibatch.
    """

    learning_rate: float
    anneal_learning_rate: bool
    num_envs: int
    num_steps: int
    num_epochs: int
    num_minibatches: int
    gamma: float
    gae_lambda: float
    clip_coef: float
    anneal_clip_coef: bool
    clip_value_loss: bool
    ent_coef: float
    vf_coef: float
    max_grad_norm: float
    normalize_advantages: bool

    # Per-iteration metrics besides the episode statistics (see `History`).
    metric_names: ClassVar[tuple[str, ...]] = (
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
        "learning_rate",
        "clip_coef",
    )

    def __init__(
        self,
        *,
        learning_rate: float = 1e-3,
        anneal_learning_rate: bool = True,
        num_envs: int = 8,
        num_steps: int = 32,
        num_epochs: int = 20,
        num_minibatches: int = 1,
        gamma: float = 0.98,
        gae_lambda: float = 0.8,
        clip_coef: float = 0.2,
        anneal_clip_coef: bool = True,
        clip_value_loss: bool = False,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantages: bool = True,
    ):
        """Sets the hyperparameters (see the class attributes).

        Raises:
            ValueError: On out-of-range values, or if `num_minibatches` does not
                divide ``num_envs * num_steps``.
        """
        self.learning_rate = _number("learning_rate", learning_rate, low=0.0)
        self.anneal_learning_rate = bool(anneal_learning_rate)
        self.num_envs = _count("num_envs", num_envs)
        self.num_steps = _count("num_steps", num_steps)
        self.num_epochs = _count("num_epochs", num_epochs)
        self.num_minibatches = _count("num_minibatches", num_minibatches)
        self.gamma = _number("gamma", gamma, low=0.0, high=1.0)
        self.gae_lambda = _number("gae_lambda", gae_lambda, low=0.0, high=1.0)
        self.clip_coef = _number("clip_coef", clip_coef, low=0.0)
        self.anneal_clip_coef = bool(anneal_clip_coef)
        self.clip_value_loss = bool(clip_value_loss)
        self.ent_coef = _number("ent_coef", ent_coef)
        self.vf_coef = _number("vf_coef", vf_coef, low=0.0)
        self.max_grad_norm = _number("max_grad_norm", max_grad_norm, low=0.0)
        self.normalize_advantages = bool(normalize_advantages)
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} must divide the batch of "
                f"num_envs * num_steps = {self.num_envs * self.num_steps} steps"
            )

    def optimizer(self) -> optax.GradientTransformation:
        """Gradient clipping then Adam, without the step size.

        The (possibly annealed) step size is applied per iteration in
        `train_iteration`, so the optimiser state holds no schedule.
        """
        return optax.chain(
            optax.clip_by_global_norm(self.max_grad_norm),
            optax.scale_by_adam(eps=_ADAM_EPS),
        )

    def init_state(
        self,
        env: AbstractEnv,
        policy: Policy,
        total_iterations: int,
        *,
        key: Key[Array, ""],
    ) -> TrainingState:
        """Resets `num_envs` environments and initialises Adam.

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
        """Collects one rollout and runs the PPO update on it.

        Args:
            env: The environment (unbatched).
            state: The state after ``state.iteration`` iterations.
            total_iterations: Length of the run, for the annealing schedules.

        Returns:
            ``(state, metrics)``; the metrics are means over all minibatches.
        """
        key, rollout_key, update_key = jax.random.split(state.key, 3)
        policy = _policies.acting_policy(state.policy, env)
        rollout, transitions, stats = collect_rollout(
            env, policy, state.rollout, self.num_steps, key=rollout_key
        )
        batch = self._batch(policy, transitions)
        # Linear decay from 1 (first iteration) to 1 / total_iterations (last).
        remaining = 1.0 - state.iteration.astype(jnp.float32) / total_iterations
        learning_rate = jnp.asarray(self.learning_rate, jnp.float32)
        if self.anneal_learning_rate:
            learning_rate = learning_rate * remaining
        clip_coef = jnp.asarray(self.clip_coef, jnp.float32)
        if self.anneal_clip_coef:
            clip_coef = clip_coef * remaining
        policy, opt_state, losses = self._update(
            policy, state.opt_state, batch, learning_rate, clip_coef, key=update_key
        )
        # A normalised policy takes the envs' current statistics along.
        policy = _policies.with_trained(state.policy, policy, env, rollout.env_state)
        state = eqx.tree_at(
            lambda s: (s.policy, s.opt_state, s.key, s.rollout),
            state,
            (policy, opt_state, key, rollout),
        )
        count = stats.count.astype(jnp.float32)
        # 0 when no episode ended; `History` shows NaN there.
        divisor = jnp.maximum(count, 1.0)
        metrics = {
            **losses,
            "episode_return": stats.return_sum / divisor,
            "episode_length": stats.length_sum.astype(jnp.float32) / divisor,
            "num_episodes": count,
            "learning_rate": learning_rate,
            "clip_coef": clip_coef,
        }
        return state, metrics

    def _batch(self, policy: Policy, transitions: Transitions) -> _Batch:
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
        batch = _Batch(
            observation=transitions.observation,
            action_mask=transitions.action_mask,
            policy_state=transitions.policy_state,
            action=transitions.action,
            log_prob=transitions.log_prob,
            value=transitions.value,
            advantage=advantages,
            target=targets,
        )
        return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)

    def _loss(
        self,
        params: PyTree,
        static: PyTree,
        batch: _Batch,
        clip_coef: Float[Array, ""],
    ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        policy = eqx.combine(params, static)
        value, log_prob, entropy = jax.vmap(
            lambda s, o, a, m: _policies.evaluate_action(policy, s, o, a, action_mask=m)
        )(batch.policy_state, batch.observation, batch.action, batch.action_mask)
        advantage = batch.advantage
        if self.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        log_ratio = log_prob - batch.log_prob
        ratio = jnp.exp(log_ratio)
        clipped_ratio = jnp.clip(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
        policy_loss = jnp.mean(
            jnp.maximum(-advantage * ratio, -advantage * clipped_ratio)
        )
        value_error = jnp.square(value - batch.target)
        if self.clip_value_loss:
            clipped_value = batch.value + jnp.clip(
                value - batch.value, -clip_coef, clip_coef
            )
            value_error = jnp.maximum(
                value_error, jnp.square(clipped_value - batch.target)
            )
        value_loss = 0.5 * jnp.mean(value_error)
        mean_entropy = jnp.mean(entropy)
        loss = policy_loss + self.vf_coef * value_loss - self.ent_coef * mean_entropy
        aux = {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": mean_entropy,
            # The low-variance estimator of KL(old || new).
            "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
            "clip_fraction": jnp.mean(
                (jnp.abs(ratio - 1.0) > clip_coef).astype(jnp.float32)
            ),
        }
        return loss, aux

    def _update(
        self,
        policy: Policy,
        opt_state: optax.OptState,
        batch: _Batch,
        learning_rate: Float[Array, ""],
        clip_coef: Float[Array, ""],
        *,
        key: Key[Array, ""],
    ) -> tuple[Policy, optax.OptState, dict[str, Float[Array, ""]]]:
        """`num_epochs` epochs of minibatch Adam steps on `batch`."""
        params, static = eqx.partition(policy, _policies.trainable(policy))
        optimizer = self.optimizer()
        batch_size = batch.advantage.shape[0]
        minibatch_size = batch_size // self.num_minibatches
        grad = jax.grad(self._loss, has_aux=True)

        def minibatch_step(
            carry: tuple[PyTree, optax.OptState], minibatch: _Batch
        ) -> tuple[tuple[PyTree, optax.OptState], dict[str, Float[Array, ""]]]:
            params, opt_state = carry
            grads, aux = grad(params, static, minibatch, clip_coef)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            updates = jax.tree.map(lambda u: -learning_rate * u, updates)
            return (optax.apply_updates(params, updates), opt_state), aux

        def epoch(
            carry: tuple[PyTree, optax.OptState], key: Key[Array, ""]
        ) -> tuple[tuple[PyTree, optax.OptState], dict[str, Float[Array, ""]]]:
            if self.num_minibatches == 1:
                # One minibatch is the whole batch: its order does not matter.
                shuffled = batch
            else:
                order = jax.random.permutation(key, batch_size)
                shuffled = jax.tree.map(lambda x: x[order], batch)
            minibatches = jax.tree.map(
                lambda x: x.reshape(self.num_minibatches, minibatch_size, *x.shape[1:]),
                shuffled,
            )
            return jax.lax.scan(minibatch_step, carry, minibatches)

        (params, opt_state), aux = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, self.num_epochs)
        )
        return eqx.combine(params, static), opt_state, jax.tree.map(jnp.mean, aux)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _number(
    name: str, value: float, *, low: float | None = None, high: float | None = None
) -> float:
    value = float(value)
    if (
        not math.isfinite(value)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        bounds = (
            f" in [{low}, {high}]"
            if high is not None
            else (f" >= {low}" if low is not None else "")
        )
        raise ValueError(f"{name} must be a finite number{bounds}, got {value!r}")
    return value
