"""Proximal Policy Optimization (clipped objective)."""

from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, PyTree

from . import _policies
from ._hyperparameters import count, number
from ._on_policy import AbstractOnPolicyAlgorithm, OnPolicyBatch
from ._policies import Policy

# Adam's epsilon, as in the reference PPO implementations.
_ADAM_EPS = 1e-5


@final
class PPO(AbstractOnPolicyAlgorithm):
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
        self.learning_rate = number("learning_rate", learning_rate, low=0.0)
        self.anneal_learning_rate = bool(anneal_learning_rate)
        self.num_envs = count("num_envs", num_envs)
        self.num_steps = count("num_steps", num_steps)
        self.num_epochs = count("num_epochs", num_epochs)
        self.num_minibatches = count("num_minibatches", num_minibatches)
        self.gamma = number("gamma", gamma, low=0.0, high=1.0)
        self.gae_lambda = number("gae_lambda", gae_lambda, low=0.0, high=1.0)
        self.clip_coef = number("clip_coef", clip_coef, low=0.0)
        self.anneal_clip_coef = bool(anneal_clip_coef)
        self.clip_value_loss = bool(clip_value_loss)
        self.ent_coef = number("ent_coef", ent_coef)
        self.vf_coef = number("vf_coef", vf_coef, low=0.0)
        self.max_grad_norm = number("max_grad_norm", max_grad_norm, low=0.0)
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

    def update(
        self,
        policy: Policy,
        opt_state: optax.OptState,
        batch: OnPolicyBatch,
        iteration: Int[Array, ""],
        total_iterations: int,
        *,
        key: Key[Array, ""],
    ) -> tuple[Policy, optax.OptState, dict[str, Float[Array, ""]]]:
        """`num_epochs` epochs of minibatch Adam steps on `batch`.

        Returns:
            ``(policy, opt_state, metrics)``; the losses are means over all
            minibatches.
        """
        # Linear decay from 1 (first iteration) to 1 / total_iterations (last).
        remaining = 1.0 - iteration.astype(jnp.float32) / total_iterations
        learning_rate = jnp.asarray(self.learning_rate, jnp.float32)
        if self.anneal_learning_rate:
            learning_rate = learning_rate * remaining
        clip_coef = jnp.asarray(self.clip_coef, jnp.float32)
        if self.anneal_clip_coef:
            clip_coef = clip_coef * remaining
        policy, opt_state, losses = self._epochs(
            policy, opt_state, batch, learning_rate, clip_coef, key=key
        )
        metrics = {**losses, "learning_rate": learning_rate, "clip_coef": clip_coef}
        return policy, opt_state, metrics

    def _loss(
        self,
        params: PyTree,
        static: PyTree,
        batch: OnPolicyBatch,
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

    def _epochs(
        self,
        policy: Policy,
        opt_state: optax.OptState,
        batch: OnPolicyBatch,
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
            carry: tuple[PyTree, optax.OptState], minibatch: OnPolicyBatch
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
