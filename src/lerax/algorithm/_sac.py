"""Soft Actor-Critic (twin critics, learned entropy coefficient)."""

from typing import ClassVar, cast, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, PyTree

from lerax.env import AbstractEnv, Box
from lerax.policy import MLPSACPolicy, TwinQCritic

from ._hyperparameters import count, number
from ._off_policy import AbstractOffPolicyAlgorithm, AbstractOffPolicyState
from ._policies import ActionMask, Policy
from ._replay import ReplayBatch, ReplayBuffer
from ._rollout import RolloutState

__all__ = ["SAC", "SACState"]


@final
class SACState(AbstractOffPolicyState):
    """The state of a `SAC` run.

    Attributes:
        policy: The policy being trained (actor and critics).
        target_critic: Slowly updated copy of the critics (Polyak averaging),
            which gives the bootstrap targets.
        log_ent_coef: Log of the entropy coefficient (fixed when it is not
            learned).
        actor_opt_state: Adam state of the actor.
        critic_opt_state: Adam state of the critics.
        ent_coef_opt_state: Adam state of `log_ent_coef`.
        key: PRNG key for the rest of the run.
        rollout: Environment states, observations and running episode
            statistics of the parallel environments.
        buffer: The replay buffer.
        num_updates: Gradient steps taken so far.
        iteration: Number of completed iterations.
        history: Per-iteration metrics, one float32 row of length
            ``total_iterations`` per name (zero until recorded).
    """

    policy: MLPSACPolicy
    target_critic: TwinQCritic
    log_ent_coef: Float[Array, ""]
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    ent_coef_opt_state: optax.OptState
    key: Key[Array, ""]
    rollout: RolloutState
    buffer: ReplayBuffer
    num_updates: Int[Array, ""]
    iteration: Int[Array, ""]
    history: dict[str, Float[Array, " total_iterations"]]


@final
class SAC(AbstractOffPolicyAlgorithm[SACState]):
    """Soft Actor-Critic with clipped double-Q targets and a learned entropy
    coefficient, for bounded Box actions (`lerax.policy.MLPSACPolicy`).

    The actor maximises ``min_i Q_i(s, a) - alpha log pi(a | s)`` over
    reparameterised samples ``a ~ pi(. | s)``; each critic regresses on

        r + gamma (1 - terminated) (min_i Q'_i(s', a') - alpha log pi(a' | s'))

    with ``a' ~ pi(. | s')`` and ``Q'`` the target critics (truncated
    episodes are bootstrapped from their final observation, terminated ones
    are not). The entropy coefficient ``alpha`` is learned, as in
    Stable-Baselines3, by minimising
    ``-mean(log_alpha * stop_gradient(log pi(a | s) + target_entropy))``.
    Each gradient step updates, in Stable-Baselines3's order, the entropy
    coefficient, the critics and the actor (all with the coefficient from
    before the step, the actor against the updated critics), then, every
    `target_update_interval` gradient steps (counted over the run), moves
    the target critics by Polyak averaging with rate `tau`. Actor, critics
    and coefficient each have an Adam optimiser with `learning_rate`.

    Log-probabilities are those of the action scaled to [-1, 1] (the
    squashed Gaussian's density before the affine map to the bounds), as in
    Stable-Baselines3, so `target_entropy` (``-action size`` by default)
    means the same for any bounds. Exploration samples from the policy
    (uniformly random actions for the first `learning_starts` steps);
    `lerax.algorithm.evaluate` acts deterministically with ``tanh`` of the
    Gaussian's mean.

    The defaults are the rl-baselines3-zoo settings for Pendulum-v1
    (learning rate 1e-3) on top of Stable-Baselines3's SAC defaults: one
    environment, one gradient step of 256 transitions per step from a buffer
    of up to a million steps, after 100 random steps; tau 0.005, gamma 0.99.

    Example:
        ```python
        env = Pendulum()
        policy = MLPSACPolicy(env, key=jax.random.key(0))
        policy = SAC().learn(env, policy, 20_000, key=jax.random.key(1))
        ```

    Attributes:
        learning_rate: Adam step size of the actor, critics and entropy
            coefficient.
        num_envs: Number of parallel environments.
        num_steps: Steps per environment between training phases
            (Stable-Baselines3's ``train_freq``).
        buffer_size: Steps the replay buffer keeps.
        batch_size: Transitions per gradient step.
        learning_starts: Steps of uniformly random actions before training.
        gradient_steps: Gradient steps per iteration.
        gamma: Discount factor.
        tau: Polyak averaging rate of the target critics.
        target_update_interval: Gradient steps between target updates.
        ent_coef: Entropy coefficient: its initial value if learned, else
            its fixed value.
        learn_ent_coef: Learn the entropy coefficient.
        target_entropy: Entropy the coefficient is tuned towards; None for
            minus the number of action components.
    """

    learning_rate: float
    num_envs: int
    num_steps: int
    buffer_size: int
    batch_size: int
    learning_starts: int
    gradient_steps: int
    gamma: float
    tau: float
    target_update_interval: int
    ent_coef: float
    learn_ent_coef: bool
    target_entropy: float | None

    # Per-iteration metrics besides the episode statistics (see `History`).
    metric_names: ClassVar[tuple[str, ...]] = (
        "actor_loss",
        "critic_loss",
        "ent_coef",
        "ent_coef_loss",
        "learning_rate",
    )

    def __init__(
        self,
        *,
        learning_rate: float = 1e-3,
        num_envs: int = 1,
        num_steps: int = 1,
        buffer_size: int = 1_000_000,
        batch_size: int = 256,
        learning_starts: int = 100,
        gradient_steps: int = 1,
        gamma: float = 0.99,
        tau: float = 0.005,
        target_update_interval: int = 1,
        ent_coef: float = 1.0,
        learn_ent_coef: bool = True,
        target_entropy: float | None = None,
    ):
        """Sets the hyperparameters (see the class attributes).

        Raises:
            ValueError: On out-of-range values.
        """
        self.learning_rate = number("learning_rate", learning_rate, low=0.0)
        self.num_envs = count("num_envs", num_envs)
        self.num_steps = count("num_steps", num_steps)
        self.buffer_size = count("buffer_size", buffer_size)
        self.batch_size = count("batch_size", batch_size)
        self.learning_starts = count("learning_starts", learning_starts, low=0)
        self.gradient_steps = count("gradient_steps", gradient_steps)
        self.gamma = number("gamma", gamma, low=0.0, high=1.0)
        self.tau = number("tau", tau, low=0.0, high=1.0)
        self.target_update_interval = count(
            "target_update_interval", target_update_interval
        )
        self.learn_ent_coef = bool(learn_ent_coef)
        self.ent_coef = number("ent_coef", ent_coef, low=0.0)
        if self.learn_ent_coef and self.ent_coef == 0.0:
            # A learned coefficient is optimised through its logarithm.
            raise ValueError(
                "ent_coef must be > 0 when learn_ent_coef is True, got 0.0"
            )
        self.target_entropy = (
            None if target_entropy is None else number("target_entropy", target_entropy)
        )

    def optimizer(self) -> optax.GradientTransformation:
        """Adam with `learning_rate`, for each of the three parts."""
        return optax.adam(self.learning_rate)

    def new_state(
        self,
        env: AbstractEnv,
        policy: Policy,
        *,
        rollout: RolloutState,
        buffer: ReplayBuffer,
        history: dict[str, Float[Array, " total_iterations"]],
        key: Key[Array, ""],
    ) -> SACState:
        """The state at iteration 0: target critics equal to the critics,
        fresh Adam states, the initial entropy coefficient.

        Raises:
            TypeError: If `policy` is not a `MLPSACPolicy`.
        """
        if not isinstance(policy, MLPSACPolicy):
            raise TypeError(f"SAC trains an MLPSACPolicy, got {type(policy).__name__}")
        optimizer = self.optimizer()
        log_ent_coef = jnp.log(jnp.asarray(self.ent_coef, jnp.float32))
        return SACState(
            policy=policy,
            target_critic=policy.critic,
            log_ent_coef=log_ent_coef,
            actor_opt_state=optimizer.init(_params(policy.actor)),
            critic_opt_state=optimizer.init(_params(policy.critic.q_networks)),
            ent_coef_opt_state=optimizer.init(log_ent_coef),
            key=key,
            rollout=rollout,
            buffer=buffer,
            num_updates=jnp.array(0, jnp.int32),
            iteration=jnp.array(0, jnp.int32),
            history=history,
        )

    def explore(
        self,
        state: SACState,
        observation: PyTree[Array],
        *,
        timesteps: Int[Array, ""],
        total_timesteps: int,
        key: Key[Array, ""],
        action_mask: ActionMask = None,
    ) -> Array:
        """A sample of the policy's squashed Gaussian, in the env's scale."""
        del timesteps, total_timesteps, action_mask  # no schedule; Box actions
        return state.policy.distribution(observation).sample(key=key)

    def update(
        self,
        state: SACState,
        batch: ReplayBatch,
        *,
        step: Int[Array, ""],
        timesteps: Int[Array, ""],
        total_timesteps: int,
        key: Key[Array, ""],
    ) -> tuple[SACState, dict[str, Float[Array, ""]]]:
        """One SAC gradient step on a minibatch (see the class docstring).

        Returns:
            ``(state, metrics)``: the actor and critic losses, the entropy
            coefficient used in the step and its loss (0 when not learned),
            and the learning rate.
        """
        del step, timesteps, total_timesteps  # constant step size
        actor_key, next_key = jax.random.split(key)
        optimizer = self.optimizer()
        policy = state.policy
        # The coefficient from before this step weighs both losses, as in SB3.
        if self.learn_ent_coef:
            ent_coef = jnp.exp(state.log_ent_coef)
        else:
            ent_coef = jnp.asarray(self.ent_coef, jnp.float32)

        # Critics: regress on the soft clipped double-Q target.
        target = self.critic_target(
            policy, state.target_critic, batch, ent_coef, key=next_key
        )
        q_params, q_static = eqx.partition(
            policy.critic.q_networks, eqx.is_inexact_array
        )

        def critic_loss(q_params: PyTree) -> Float[Array, ""]:
            critic = _with_q_networks(policy.critic, eqx.combine(q_params, q_static))
            q = jax.vmap(critic)(batch.observation, batch.action)
            # 0.5 * the sum over critics of their mean squared errors (SB3).
            return 0.5 * jnp.sum(jnp.mean(jnp.square(q - target[:, None]), axis=0))

        critic_loss_value, grads = jax.value_and_grad(critic_loss)(q_params)
        updates, critic_opt_state = optimizer.update(
            grads, state.critic_opt_state, q_params
        )
        q_params = optax.apply_updates(q_params, updates)
        critic = _with_q_networks(policy.critic, eqx.combine(q_params, q_static))

        # Actor: against the updated critics. Its samples (the same ones SB3
        # draws before the critic step: the actor has not changed) also give
        # the entropy coefficient's loss.
        actor_params, actor_static = eqx.partition(policy.actor, eqx.is_inexact_array)

        def actor_loss(
            actor_params: PyTree,
        ) -> tuple[Float[Array, ""], Float[Array, " batch"]]:
            actor = eqx.combine(actor_params, actor_static)
            acting = eqx.tree_at(lambda p: p.actor, policy, actor)
            actions, log_prob = _sample(acting, batch.observation, actor_key)
            q = jnp.min(jax.vmap(critic)(batch.observation, actions), axis=1)
            return jnp.mean(ent_coef * log_prob - q), log_prob

        (actor_loss_value, log_prob), grads = jax.value_and_grad(
            actor_loss, has_aux=True
        )(actor_params)
        updates, actor_opt_state = optimizer.update(
            grads, state.actor_opt_state, actor_params
        )
        actor = eqx.combine(optax.apply_updates(actor_params, updates), actor_static)

        # Entropy coefficient, through its logarithm.
        log_ent_coef = state.log_ent_coef
        ent_coef_opt_state = state.ent_coef_opt_state
        ent_coef_loss_value = jnp.zeros((), jnp.float32)
        if self.learn_ent_coef:
            target_entropy = self._target_entropy(policy)
            entropy_gap = jax.lax.stop_gradient(log_prob + target_entropy)

            def ent_coef_loss(log_ent_coef: Float[Array, ""]) -> Float[Array, ""]:
                return -jnp.mean(log_ent_coef * entropy_gap)

            ent_coef_loss_value, grad = jax.value_and_grad(ent_coef_loss)(log_ent_coef)
            updates, ent_coef_opt_state = optimizer.update(
                grad, ent_coef_opt_state, log_ent_coef
            )
            log_ent_coef = optax.apply_updates(log_ent_coef, updates)

        # Target critics: Polyak averaging every `target_update_interval` steps.
        target_q, target_static = eqx.partition(
            state.target_critic.q_networks, eqx.is_inexact_array
        )
        averaged = optax.incremental_update(q_params, target_q, self.tau)
        due = state.num_updates % self.target_update_interval == 0
        target_q = jax.tree.map(lambda a, b: jnp.where(due, a, b), averaged, target_q)
        target_critic = _with_q_networks(
            state.target_critic, eqx.combine(target_q, target_static)
        )

        policy = eqx.tree_at(lambda p: (p.actor, p.critic), policy, (actor, critic))
        state = eqx.tree_at(
            lambda s: (
                s.policy,
                s.target_critic,
                s.log_ent_coef,
                s.actor_opt_state,
                s.critic_opt_state,
                s.ent_coef_opt_state,
            ),
            state,
            (
                policy,
                target_critic,
                log_ent_coef,
                actor_opt_state,
                critic_opt_state,
                ent_coef_opt_state,
            ),
        )
        metrics = {
            "actor_loss": actor_loss_value,
            "critic_loss": critic_loss_value,
            "ent_coef": ent_coef,
            "ent_coef_loss": ent_coef_loss_value,
            "learning_rate": jnp.asarray(self.learning_rate, jnp.float32),
        }
        return state, metrics

    def critic_target(
        self,
        policy: MLPSACPolicy,
        target_critic: TwinQCritic,
        batch: ReplayBatch,
        ent_coef: Float[Array, ""],
        *,
        key: Key[Array, ""],
    ) -> Float[Array, " batch"]:
        """The critics' regression target for each transition of `batch`.

        ``r + gamma (1 - terminated) (min_i Q'_i(s', a') - ent_coef log pi(a' | s'))``
        with ``a'`` sampled from `policy` at the next observation, ``Q'`` the
        `target_critic`; no gradient flows through it.
        """
        next_actions, next_log_prob = _sample(policy, batch.next_observation, key)
        next_q = jnp.min(
            jax.vmap(target_critic)(batch.next_observation, next_actions), axis=1
        )
        soft_next_value = next_q - ent_coef * next_log_prob
        # Terminal states have no future; truncated ones are bootstrapped.
        continues = 1.0 - batch.terminated.astype(jnp.float32)
        return jax.lax.stop_gradient(
            batch.reward + continues * self.gamma * soft_next_value
        )

    def _target_entropy(self, policy: MLPSACPolicy) -> float:
        if self.target_entropy is not None:
            return self.target_entropy
        return -float(policy.action_space.flat_size)


def _params(tree: PyTree) -> PyTree:
    """The trainable arrays of a network (all its inexact arrays)."""
    return eqx.filter(tree, eqx.is_inexact_array)


def _with_q_networks(critic: TwinQCritic, q_networks: PyTree) -> TwinQCritic:
    """`critic` with other Q-network parameters."""
    return eqx.tree_at(lambda c: c.q_networks, critic, q_networks)


def _sample(
    policy: MLPSACPolicy, observations: PyTree[Array], key: Key[Array, ""]
) -> tuple[Array, Float[Array, " batch"]]:
    """Reparameterised actions for a batch of observations, with their
    log-probabilities in the [-1, 1] scale of the actions (as SB3's)."""
    batch_size = jax.tree.leaves(observations)[0].shape[0]
    space = cast(Box, policy.action_space)
    # The affine map to the bounds adds this constant to every log-density.
    log_half_width = jnp.sum(jnp.log(0.5 * (space.high - space.low)))

    def one(observation: PyTree[Array], key: Key[Array, ""]) -> tuple[Array, Array]:
        return policy.distribution(observation).sample_and_log_prob(key=key)

    actions, log_prob = jax.vmap(one)(observations, jax.random.split(key, batch_size))
    return actions, log_prob + log_half_width
