"""Twin Delayed Deep Deterministic policy gradient (TD3)."""

from typing import Any, ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, PyTree

from lerax.env import AbstractEnv
from lerax.policy._td3 import MLPTD3Policy

from . import _policies
from ._hyperparameters import count, number
from ._off_policy import AbstractOffPolicyAlgorithm, AbstractOffPolicyState
from ._policies import ActionMask, Policy
from ._replay import ReplayBatch, ReplayBuffer
from ._rollout import RolloutState

__all__ = ["TD3", "TD3State"]


@final
class TD3State(AbstractOffPolicyState):
    """The state of a `TD3` run.

    Attributes:
        policy: The policy being trained (actor and critics).
        target_policy: Polyak-averaged copy of `policy`, for the targets.
        actor_opt_state: Adam state of the actor.
        critic_opt_state: Adam state of the critics.
        key: PRNG key for the rest of the run.
        rollout: Where the parallel environments are.
        buffer: The replay buffer.
        num_updates: Gradient steps taken so far (the actor and the targets
            are updated on every ``policy_delay``-th).
        iteration: Number of completed iterations.
        history: Per-iteration metrics.
    """

    policy: MLPTD3Policy
    target_policy: MLPTD3Policy
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    key: Key[Array, ""]
    rollout: RolloutState
    buffer: ReplayBuffer
    num_updates: Int[Array, ""]
    iteration: Int[Array, ""]
    history: dict[str, Float[Array, " total_iterations"]]


@final
class TD3(AbstractOffPolicyAlgorithm[TD3State]):
    """Twin Delayed DDPG (Fujimoto et al., 2018), as in Stable-Baselines3.

    Trains an `lerax.policy.MLPTD3Policy` (deterministic actor, twin
    Q-critics) for a bounded Box action space. Each iteration steps each of
    ``num_envs`` environments ``num_steps`` times with the actor's action
    plus Gaussian noise of standard deviation `action_noise`, added in the
    [-1, 1] scale of the actor's ``tanh`` output and clipped to it
    (Stable-Baselines3's ``NormalActionNoise``); uniformly random actions
    during the first `learning_starts` steps. Then ``gradient_steps``
    gradient steps, each on ``batch_size`` transitions from the replay buffer:

    - Critics: Adam on the sum over critics of the mean squared error to
      ``r + gamma (1 - terminated) min_i Q'_i(s', a')``, with the target actor's
      action ``a'`` smoothed by Gaussian noise of standard deviation
      `target_policy_noise` clipped to ±`target_noise_clip` (in [-1, 1]
      scale, then clipped to [-1, 1]); truncated episodes are bootstrapped.
    - Every `policy_delay`-th gradient step of the run (counted over the
      whole run, as Stable-Baselines3's ``_n_updates``): Adam on the actor
      to maximise the first critic's ``Q_1(s, μ(s))`` (with the critics just
      updated), then Polyak averaging of the target actor and critics with
      rate `tau`.

    The defaults are the rl-baselines3-zoo settings for ``Pendulum-v1``
    (gamma 0.98, a 200,000-step buffer, 10,000 random steps, noise 0.1,
    learning rate 1e-3, one step per environment and one gradient step per
    iteration) on top of Stable-Baselines3's TD3 defaults (batch 256,
    tau 0.005, policy delay 2, smoothing noise 0.2 clipped at 0.5); the
    policy's default networks (400 and 300 ReLU units) are the zoo's.

    Example:
        ```python
        env = Pendulum()
        policy = MLPTD3Policy(env, key=jax.random.key(0))
        policy = TD3().learn(env, policy, 20_000, key=jax.random.key(1))
        ```

    Attributes:
        learning_rate: Adam step size of the actor and the critics.
        num_envs: Number of parallel environments.
        num_steps: Steps per environment between training phases
            (``train_freq``).
        buffer_size: Steps the replay buffer keeps (over all environments).
        batch_size: Transitions per gradient step.
        learning_starts: Steps of uniformly random actions before training.
        gradient_steps: Gradient steps per iteration.
        gamma: Discount factor.
        tau: Polyak averaging rate of the target networks.
        policy_delay: Gradient steps per actor and target update.
        action_noise: Standard deviation of the exploration noise, in the
            [-1, 1] scale of the actions.
        target_policy_noise: Standard deviation of the target smoothing noise,
            in the same scale.
        target_noise_clip: Bound on the absolute target smoothing noise.
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
    policy_delay: int
    action_noise: float
    target_policy_noise: float
    target_noise_clip: float

    metric_names: ClassVar[tuple[str, ...]] = (
        "actor_loss",
        "critic_loss",
        "learning_rate",
    )

    def __init__(
        self,
        *,
        learning_rate: float = 1e-3,
        num_envs: int = 1,
        num_steps: int = 1,
        buffer_size: int = 200_000,
        batch_size: int = 256,
        learning_starts: int = 10_000,
        gradient_steps: int = 1,
        gamma: float = 0.98,
        tau: float = 0.005,
        policy_delay: int = 2,
        action_noise: float = 0.1,
        target_policy_noise: float = 0.2,
        target_noise_clip: float = 0.5,
    ):
        """Sets the hyperparameters (see the class attributes).

        Raises:
            ValueError: On out-of-range values, naming the field.
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
        self.policy_delay = count("policy_delay", policy_delay)
        self.action_noise = number("action_noise", action_noise, low=0.0)
        self.target_policy_noise = number(
            "target_policy_noise", target_policy_noise, low=0.0
        )
        self.target_noise_clip = number("target_noise_clip", target_noise_clip, low=0.0)

    def optimizer(self) -> optax.GradientTransformation:
        """Adam with PyTorch's defaults (ε = 1e-8), as Stable-Baselines3."""
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
    ) -> TD3State:
        """The state at iteration 0: Adam states for the actor and the critics,
        and target networks equal to the policy's.

        Raises:
            TypeError: If `policy` is not an `MLPTD3Policy`.
        """
        if not isinstance(policy, MLPTD3Policy):
            raise TypeError(f"TD3 trains an MLPTD3Policy, got {type(policy).__name__}")
        params = eqx.filter(policy, _policies.trainable(policy))
        optimizer = self.optimizer()
        return TD3State(
            policy=policy,
            target_policy=policy,
            actor_opt_state=optimizer.init(params.actor),
            critic_opt_state=optimizer.init(params.critic),
            key=key,
            rollout=rollout,
            buffer=buffer,
            num_updates=jnp.array(0, jnp.int32),
            iteration=jnp.array(0, jnp.int32),
            history=history,
        )

    def explore(
        self,
        state: TD3State,
        observation: PyTree[Array],
        *,
        timesteps: Int[Array, ""],
        total_timesteps: int,
        key: Key[Array, ""],
        action_mask: ActionMask = None,
    ) -> Array:
        """The actor's action plus clipped Gaussian noise (in [-1, 1] scale),
        mapped to the bounds of the action space."""
        if action_mask is not None:
            raise TypeError("TD3 does not support action masks (Box actions)")
        policy = state.policy
        scaled = policy.scaled_action(observation)
        noise = self.action_noise * jax.random.normal(key, scaled.shape, scaled.dtype)
        return policy.unscale(jnp.clip(scaled + noise, -1.0, 1.0))

    def update(
        self,
        state: TD3State,
        batch: ReplayBatch,
        *,
        step: Int[Array, ""],
        timesteps: Int[Array, ""],
        total_timesteps: int,
        key: Key[Array, ""],
    ) -> tuple[TD3State, dict[str, Float[Array, ""]]]:
        """One critic step; on every `policy_delay`-th step of the run also
        one actor step and the target update.

        Returns:
            ``(state, metrics)``: the critic loss (sum over critics of the
            mean squared TD error), the actor loss ``-mean Q_1(s, μ(s))`` on
            the batch (computed also when the actor is not updated) and the
            learning rate.
        """
        optimizer = self.optimizer()
        spec: Any = _policies.trainable(state.policy)
        critic, critic_opt_state, critic_loss = self._critic_step(
            state, batch, spec, optimizer, key=key
        )
        policy = eqx.tree_at(lambda p: p.critic, state.policy, critic)
        state = eqx.tree_at(
            lambda s: (s.policy, s.critic_opt_state),
            state,
            (policy, critic_opt_state),
        )
        # The actor loss with the critics just updated, as Stable-Baselines3.
        actor_params, actor_static = eqx.partition(policy.actor, spec.actor)

        def actor_loss(params: PyTree) -> Float[Array, ""]:
            acting = eqx.tree_at(
                lambda p: p.actor, policy, eqx.combine(params, actor_static)
            )
            scaled = jax.vmap(acting.scaled_action)(batch.observation)
            action = acting.unscale(scaled)
            q = jax.vmap(acting.critic)(batch.observation, action)
            return -jnp.mean(q[:, 0])

        # SB3 counts its update before testing the delay: the first actor
        # step is the policy_delay-th gradient step.
        delayed = (state.num_updates + 1) % self.policy_delay == 0
        # Branches of `lax.cond` take and return arrays only.
        dynamic, static = eqx.partition(
            (actor_params, state.actor_opt_state, state.target_policy), eqx.is_array
        )

        def improve(dynamic: PyTree) -> tuple[PyTree, Float[Array, ""]]:
            params, opt_state, target = eqx.combine(dynamic, static)
            loss, grads = jax.value_and_grad(actor_loss)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            trained = eqx.tree_at(
                lambda p: p.actor, policy, eqx.combine(params, actor_static)
            )
            target = self._polyak(trained, target, spec)
            return eqx.filter((params, opt_state, target), eqx.is_array), loss

        def measure(dynamic: PyTree) -> tuple[PyTree, Float[Array, ""]]:
            params, _, _ = eqx.combine(dynamic, static)
            return dynamic, actor_loss(params)

        dynamic, loss = jax.lax.cond(delayed, improve, measure, dynamic)
        actor_params, actor_opt_state, target = eqx.combine(dynamic, static)
        policy = eqx.tree_at(
            lambda p: p.actor, policy, eqx.combine(actor_params, actor_static)
        )
        state = eqx.tree_at(
            lambda s: (s.policy, s.actor_opt_state, s.target_policy),
            state,
            (policy, actor_opt_state, target),
        )
        return state, {
            "actor_loss": loss,
            "critic_loss": critic_loss,
            "learning_rate": jnp.asarray(self.learning_rate, jnp.float32),
        }

    def _critic_step(
        self,
        state: TD3State,
        batch: ReplayBatch,
        spec: Any,
        optimizer: optax.GradientTransformation,
        *,
        key: Key[Array, ""],
    ) -> tuple[Any, optax.OptState, Float[Array, ""]]:
        """One Adam step of the critics towards the clipped double-Q target.

        Returns:
            ``(critic, opt_state, loss)``.
        """
        target = state.target_policy
        scaled = jax.vmap(target.scaled_action)(batch.next_observation)
        noise = jnp.clip(
            self.target_policy_noise
            * jax.random.normal(key, scaled.shape, scaled.dtype),
            -self.target_noise_clip,
            self.target_noise_clip,
        )
        next_action = target.unscale(jnp.clip(scaled + noise, -1.0, 1.0))
        next_q = jnp.min(
            jax.vmap(target.critic)(batch.next_observation, next_action), axis=-1
        )
        continuing = 1.0 - batch.terminated.astype(next_q.dtype)
        td_target = batch.reward + continuing * self.gamma * next_q
        params, static = eqx.partition(state.policy.critic, spec.critic)

        def loss(params: PyTree) -> Float[Array, ""]:
            critic = eqx.combine(params, static)
            q = jax.vmap(critic)(batch.observation, batch.action)
            return jnp.sum(jnp.mean(jnp.square(q - td_target[:, None]), axis=0))

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, state.critic_opt_state, params)
        params = optax.apply_updates(params, updates)
        return eqx.combine(params, static), opt_state, value

    def _polyak(
        self, policy: MLPTD3Policy, target: MLPTD3Policy, spec: Any
    ) -> MLPTD3Policy:
        """`target`'s parameters moved towards `policy`'s by `tau` (as
        Stable-Baselines3's ``polyak_update``); spaces are left alone."""
        online, _ = eqx.partition(policy, spec)
        params, static = eqx.partition(target, spec)

        def average(t: Array, p: Array) -> Array:
            return t * (1.0 - self.tau) + self.tau * p

        return eqx.combine(jax.tree.map(average, params, online), static)
