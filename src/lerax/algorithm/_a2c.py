"""Advantage Actor-Critic (synchronous, one gradient step per rollout)."""

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


@final
class A2C(AbstractOnPolicyAlgorithm):
    """Advantage Actor-Critic: one gradient step per rollout, on all of it.

    Each iteration collects ``num_steps`` steps from each of ``num_envs``
    environments, computes GAE(λ) advantages (λ = 1 gives the n-step returns of
    the original A2C) and takes one RMSprop step on the policy-gradient loss
    ``-mean(advantage * log_prob)`` plus ``vf_coef`` times the mean squared
    error of the values, minus ``ent_coef`` times the mean entropy.

    The defaults are Stable-Baselines3's, which the rl-zoo uses for CartPole-v1
    (8 environments, 5 steps, RMSprop with alpha = 0.99 and eps = 1e-5 outside the
    square root, as PyTorch's). Works with stateful policies and action masks
    as `PPO` does.

    Attributes:
        learning_rate: RMSprop step size (initial value when annealed).
        anneal_learning_rate: Decrease the step size linearly to 0 over the run.
        num_envs: Number of parallel environments.
        num_steps: Steps per environment in each iteration.
        gamma: Discount factor.
        gae_lambda: GAE smoothing parameter λ.
        ent_coef: Weight of the entropy bonus.
        vf_coef: Weight of the value loss.
        max_grad_norm: Gradients are rescaled to at most this global norm.
        rms_prop_decay: RMSprop's decay (alpha) of the squared-gradient average.
        rms_prop_eps: RMSprop's epsilon, added to the root of that average.
        normalize_advantages: Normalise advantages within each batch.
    """

    learning_rate: float
    anneal_learning_rate: bool
    num_envs: int
    num_steps: int
    gamma: float
    gae_lambda: float
    ent_coef: float
    vf_coef: float
    max_grad_norm: float
    rms_prop_decay: float
    rms_prop_eps: float
    normalize_advantages: bool

    metric_names: ClassVar[tuple[str, ...]] = (
        "policy_loss",
        "value_loss",
        "entropy",
        "learning_rate",
    )

    def __init__(
        self,
        *,
        learning_rate: float = 7e-4,
        anneal_learning_rate: bool = False,
        num_envs: int = 8,
        num_steps: int = 5,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        rms_prop_decay: float = 0.99,
        rms_prop_eps: float = 1e-5,
        normalize_advantages: bool = False,
    ):
        """Sets the hyperparameters (see the class attributes).

        Raises:
            ValueError: On out-of-range values.
        """
        self.learning_rate = number("learning_rate", learning_rate, low=0.0)
        self.anneal_learning_rate = bool(anneal_learning_rate)
        self.num_envs = count("num_envs", num_envs)
        self.num_steps = count("num_steps", num_steps)
        self.gamma = number("gamma", gamma, low=0.0, high=1.0)
        self.gae_lambda = number("gae_lambda", gae_lambda, low=0.0, high=1.0)
        self.ent_coef = number("ent_coef", ent_coef)
        self.vf_coef = number("vf_coef", vf_coef, low=0.0)
        self.max_grad_norm = number("max_grad_norm", max_grad_norm, low=0.0)
        self.rms_prop_decay = number(
            "rms_prop_decay", rms_prop_decay, low=0.0, high=1.0
        )
        self.rms_prop_eps = number("rms_prop_eps", rms_prop_eps, low=0.0)
        self.normalize_advantages = bool(normalize_advantages)

    def optimizer(self) -> optax.GradientTransformation:
        """Gradient clipping then RMSprop (PyTorch's form), without the step size."""
        return optax.chain(
            optax.clip_by_global_norm(self.max_grad_norm),
            optax.scale_by_rms(
                decay=self.rms_prop_decay, eps=self.rms_prop_eps, eps_in_sqrt=False
            ),
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
        """One RMSprop step on the whole batch.

        Returns:
            ``(policy, opt_state, metrics)``.
        """
        del key  # The whole batch is one step: nothing to shuffle.
        learning_rate = jnp.asarray(self.learning_rate, jnp.float32)
        if self.anneal_learning_rate:
            remaining = 1.0 - iteration.astype(jnp.float32) / total_iterations
            learning_rate = learning_rate * remaining
        params, static = eqx.partition(policy, _policies.trainable(policy))
        grads, aux = jax.grad(self._loss, has_aux=True)(params, static, batch)
        updates, opt_state = self.optimizer().update(grads, opt_state, params)
        updates = jax.tree.map(lambda u: -learning_rate * u, updates)
        params: PyTree = optax.apply_updates(params, updates)
        return (
            eqx.combine(params, static),
            opt_state,
            {**aux, "learning_rate": learning_rate},
        )

    def _loss(
        self, params: PyTree, static: PyTree, batch: OnPolicyBatch
    ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        policy = eqx.combine(params, static)
        value, log_prob, entropy = jax.vmap(
            lambda s, o, a, m: _policies.evaluate_action(policy, s, o, a, action_mask=m)
        )(batch.policy_state, batch.observation, batch.action, batch.action_mask)
        advantage = batch.advantage
        if self.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        policy_loss = -jnp.mean(advantage * log_prob)
        value_loss = jnp.mean(jnp.square(value - batch.target))
        mean_entropy = jnp.mean(entropy)
        loss = policy_loss + self.vf_coef * value_loss - self.ent_coef * mean_entropy
        return loss, {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": mean_entropy,
        }
