"""Deep Q-Network (DQN), with double Q-learning by default."""

from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, PyTree

from lerax.env import AbstractEnv
from lerax.policy._q import MLPQPolicy

from . import _policies
from ._hyperparameters import count, number
from ._off_policy import (
    AbstractOffPolicyAlgorithm,
    AbstractOffPolicyState,
    uniform_action,
)
from ._policies import ActionMask, Policy
from ._replay import ReplayBatch, ReplayBuffer
from ._rollout import RolloutState

__all__ = ["DQN", "DQNState"]


@final
class DQNState(AbstractOffPolicyState):
    """The state of a DQN run.

    Attributes:
        policy: The online Q-network policy being trained.
        target_policy: The target Q-network (a copy of `policy` taken every
            ``target_update_interval`` steps), never trained directly.
        opt_state: The optimiser's state (gradient clipping, Adam moments).
        key: PRNG key for the rest of the run.
        rollout: Where the parallel environments are.
        buffer: The replay buffer.
        num_updates: Gradient steps taken so far.
        iteration: Number of completed iterations.
        history: Per-iteration metrics, one float32 row of length
            ``total_iterations`` per name (zero until recorded).
    """

    policy: MLPQPolicy
    target_policy: MLPQPolicy
    opt_state: optax.OptState
    key: Key[Array, ""]
    rollout: RolloutState
    buffer: ReplayBuffer
    num_updates: Int[Array, ""]
    iteration: Int[Array, ""]
    history: dict[str, Float[Array, " total_iterations"]]


@final
class DQN(AbstractOffPolicyAlgorithm[DQNState]):
    """Deep Q-Network: Q-learning from replay with a target network.

    Trains an `lerax.policy.MLPQPolicy` (``Discrete`` actions). Each iteration
    steps each of ``num_envs`` environments ``num_steps`` times
    (Stable-Baselines3's ``train_freq``), ε-greedily, and stores the steps in
    the replay buffer; then, once more than ``learning_starts`` steps have been
    taken, it runs ``gradient_steps`` Adam steps, each on ``batch_size``
    transitions drawn uniformly from the buffer, minimising the Huber (smooth
    L1, δ = 1) loss between ``Q(s, a)`` and the target
    ``r + gamma * (1 - terminated) * Q'(s', a')``, with gradients clipped to a
    global norm of ``max_grad_norm``. Truncated episodes are bootstrapped from
    their final observation, terminated ones are not.

    - **Double Q-learning** (``double_q=True``, the default; van Hasselt et
      al., 2016): the online network chooses ``a' = argmax Q(s', ·)`` and the
      target network evaluates it, against the overestimation of the plain
      ``max Q'(s', ·)`` (``double_q=False``, Stable-Baselines3's DQN).
    - **Target network**: updated every ``target_update_interval``
      environment steps, as ``target <- tau * online + (1 - tau) * target``
      (a hard copy with τ = 1). As in Stable-Baselines3, the count is of
      calls to the vectorised environment, each of ``num_envs`` steps: an
      update every ``max(target_update_interval // num_envs, 1)`` calls. The
      online network does not change while experience is collected, so the
      ``n`` updates due during an iteration's collection are applied together
      at the start of its training phase, as
      ``target <- online + (1 - tau)**n * (target - online)``: the same target
      networks as updating during collection.
    - **Exploration**: ε-greedy, with ε falling linearly from
      ``exploration_initial_eps`` to ``exploration_final_eps`` over the first
      ``exploration_fraction`` of the run and constant after. ε is evaluated
      once per iteration, at the steps taken before it (Stable-Baselines3
      updates it after every step); the first ``learning_starts`` steps are
      uniformly random. Random actions are uniform among those the env's
      action mask allows, greedy ones the best allowed (``policy.predict``
      under the mask). The bootstrap ``a'`` ranges over all actions: the
      replay buffer stores no masks.

    The defaults are the rl-baselines3-zoo DQN CartPole-v1 settings, which pair
    them with a policy of two hidden layers of 256 units:
    ``MLPQPolicy(env, key=key, hidden_sizes=(256, 256))``. With that policy
    on `CartPole`, the greedy policy first reaches a mean return of at least
    475 (10 episodes, checked every 2,560 steps) after 23,000 to 41,000 steps
    on each of the seeds 0-9. Like Stable-Baselines3's DQN with these
    settings, it does not stay there: after the whole 50,000-step run of the
    rl-zoo, about half of the seeds score 475 or more. Keep the best policy
    seen with `EvalCallback`.

    Example:
        >>> import jax
        >>> from lerax.env import CartPole
        >>> from lerax.policy._q import MLPQPolicy
        >>> env = CartPole()
        >>> policy = MLPQPolicy(env, key=jax.random.key(0), hidden_sizes=(256, 256))
        >>> policy = DQN().learn(env, policy, 50_000, key=jax.random.key(1))

    Attributes:
        learning_rate: Adam step size (constant).
        num_envs: Number of parallel environments.
        num_steps: Steps per environment between training phases
            (``train_freq``).
        buffer_size: Steps the replay buffer keeps (over all environments).
        batch_size: Transitions per gradient step.
        learning_starts: Steps of uniformly random actions before training.
        gradient_steps: Gradient steps per iteration.
        gamma: Discount factor.
        tau: Target update coefficient (1: hard copy).
        target_update_interval: Environment steps between target updates.
        exploration_fraction: Fraction of the run over which ε falls.
        exploration_initial_eps: ε at the start.
        exploration_final_eps: ε at the end of the fall, and after.
        max_grad_norm: Gradients are rescaled to at most this global norm.
        double_q: Evaluate the online network's greedy next action with the
            target network (double DQN) instead of the target's own maximum.
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
    exploration_fraction: float
    exploration_initial_eps: float
    exploration_final_eps: float
    max_grad_norm: float
    double_q: bool

    # Per-iteration metrics besides the episode statistics (see `History`).
    metric_names: ClassVar[tuple[str, ...]] = (
        "loss",
        "q_value",
        "exploration_rate",
        "learning_rate",
    )

    def __init__(
        self,
        *,
        learning_rate: float = 2.3e-3,
        num_envs: int = 1,
        num_steps: int = 256,
        buffer_size: int = 100_000,
        batch_size: int = 64,
        learning_starts: int = 1000,
        gradient_steps: int = 128,
        gamma: float = 0.99,
        tau: float = 1.0,
        target_update_interval: int = 10,
        exploration_fraction: float = 0.16,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.04,
        max_grad_norm: float = 10.0,
        double_q: bool = True,
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
        if self.tau == 0.0:
            # The target network would never move.
            raise ValueError(f"tau must be a finite number in (0, 1], got {tau!r}")
        self.target_update_interval = count(
            "target_update_interval", target_update_interval
        )
        self.exploration_fraction = number(
            "exploration_fraction", exploration_fraction, low=0.0, high=1.0
        )
        self.exploration_initial_eps = number(
            "exploration_initial_eps", exploration_initial_eps, low=0.0, high=1.0
        )
        self.exploration_final_eps = number(
            "exploration_final_eps", exploration_final_eps, low=0.0, high=1.0
        )
        self.max_grad_norm = number("max_grad_norm", max_grad_norm, low=0.0)
        self.double_q = bool(double_q)

    def optimizer(self) -> optax.GradientTransformation:
        """Gradient clipping by global norm, then Adam (PyTorch's defaults)."""
        return optax.chain(
            optax.clip_by_global_norm(self.max_grad_norm),
            optax.adam(self.learning_rate),
        )

    def exploration_rate(
        self, timesteps: Int[Array, ""], total_timesteps: int
    ) -> Float[Array, ""]:
        """ε after `timesteps` of a run of `total_timesteps` steps.

        Falls linearly from `exploration_initial_eps` to `exploration_final_eps`
        over the first ``exploration_fraction * total_timesteps`` steps, as
        Stable-Baselines3's ``LinearSchedule``.
        """
        start = jnp.asarray(self.exploration_initial_eps, jnp.float32)
        end = jnp.asarray(self.exploration_final_eps, jnp.float32)
        if self.exploration_fraction == 0.0:
            return end
        progress = jnp.asarray(timesteps, jnp.float32) / total_timesteps
        fraction = jnp.minimum(progress / self.exploration_fraction, 1.0)
        return start + fraction * (end - start)

    def new_state(
        self,
        env: AbstractEnv,
        policy: Policy,
        *,
        rollout: RolloutState,
        buffer: ReplayBuffer,
        history: dict[str, Float[Array, " total_iterations"]],
        key: Key[Array, ""],
    ) -> DQNState:
        """The state at iteration 0: the target network a copy of `policy`.

        Raises:
            TypeError: If `policy` is not an `MLPQPolicy`.
        """
        if not isinstance(policy, MLPQPolicy):
            raise TypeError(
                f"DQN trains an MLPQPolicy, got {type(policy).__name__}; build "
                "one with lerax.policy.MLPQPolicy(env, key=...)"
            )
        params = eqx.filter(policy, _policies.trainable(policy))
        return DQNState(
            policy=policy,
            target_policy=policy,
            opt_state=self.optimizer().init(params),
            key=key,
            rollout=rollout,
            buffer=buffer,
            num_updates=jnp.array(0, jnp.int32),
            iteration=jnp.array(0, jnp.int32),
            history=history,
        )

    def explore(
        self,
        state: DQNState,
        observation: PyTree[Array],
        *,
        timesteps: Int[Array, ""],
        total_timesteps: int,
        key: Key[Array, ""],
        action_mask: ActionMask = None,
    ) -> Array:
        """ε-greedy: a uniformly random allowed action with probability ε,
        else the greedy (best allowed) one."""
        coin_key, random_key = jax.random.split(key)
        greedy = state.policy.predict(observation, action_mask=action_mask)
        random = uniform_action(
            state.policy.action_space, key=random_key, action_mask=action_mask
        )
        epsilon = self.exploration_rate(timesteps, total_timesteps)
        return jnp.where(jax.random.uniform(coin_key) < epsilon, random, greedy)

    def update(
        self,
        state: DQNState,
        batch: ReplayBatch,
        *,
        step: Int[Array, ""],
        timesteps: Int[Array, ""],
        total_timesteps: int,
        key: Key[Array, ""],
    ) -> tuple[DQNState, dict[str, Float[Array, ""]]]:
        """One Adam step on the Huber loss, after any target update that fell
        due during this iteration's collection (on its first gradient step).

        Returns:
            ``(state, metrics)``: the loss, the mean Q-value of the batch's
            actions, the ε this iteration explored with and the step size.
        """
        target = self._updated_target(state, step, timesteps)
        params, static = eqx.partition(state.policy, _policies.trainable(state.policy))
        targets = self._targets(state.policy, target, batch)
        (loss, q_value), grads = jax.value_and_grad(self._loss, has_aux=True)(
            params, static, batch, targets
        )
        updates, opt_state = self.optimizer().update(grads, state.opt_state, params)
        policy = eqx.combine(optax.apply_updates(params, updates), static)
        state = eqx.tree_at(
            lambda s: (s.policy, s.target_policy, s.opt_state),
            state,
            (policy, target, opt_state),
        )
        collected_from = timesteps - self.steps_per_iteration
        metrics = {
            "loss": loss,
            "q_value": q_value,
            "exploration_rate": self.exploration_rate(collected_from, total_timesteps),
            "learning_rate": jnp.asarray(self.learning_rate, jnp.float32),
        }
        return state, metrics

    def _updated_target(
        self, state: DQNState, step: Int[Array, ""], timesteps: Int[Array, ""]
    ) -> MLPQPolicy:
        """The target network after the updates due in this iteration.

        Stable-Baselines3 updates it after every ``max(interval // num_envs,
        1)``-th call to the vectorised env; all of this iteration's calls saw
        the same online network, so the ``n`` updates due collapse into one.
        """
        every = max(self.target_update_interval // self.num_envs, 1)
        calls = timesteps // self.num_envs
        due = calls // every - (calls - self.num_steps) // every
        apply = (step == 0) & (due > 0)
        online, target = state.policy, state.target_policy
        if self.tau == 1.0:
            # An exact copy, bit for bit.
            def mix(new: Array, old: Array) -> Array:
                return jnp.where(apply, new, old)
        else:
            keep = (1.0 - self.tau) ** due.astype(jnp.float32)

            def mix(new: Array, old: Array) -> Array:
                return jnp.where(apply, new + keep * (old - new), old)

        spec = _policies.trainable(online)
        new_params, static = eqx.partition(online, spec)
        old_params = eqx.filter(target, spec)
        return eqx.combine(jax.tree.map(mix, new_params, old_params), static)

    def _targets(
        self, online: MLPQPolicy, target: MLPQPolicy, batch: ReplayBatch
    ) -> Float[Array, " batch"]:
        """The TD targets ``r + gamma * (1 - terminated) * Q'(s', a')``."""
        next_q = jax.vmap(target.q_values)(batch.next_observation)
        if self.double_q:
            # The online network (before this step) chooses, the target evaluates.
            online_next_q = jax.vmap(online.q_values)(batch.next_observation)
            choice = jnp.argmax(online_next_q, axis=-1)
        else:
            choice = jnp.argmax(next_q, axis=-1)
        bootstrap = jnp.take_along_axis(next_q, choice[:, None], axis=-1)[:, 0]
        not_terminal = 1.0 - batch.terminated.astype(jnp.float32)
        return batch.reward + self.gamma * not_terminal * bootstrap

    @staticmethod
    def _loss(
        params: PyTree,
        static: PyTree,
        batch: ReplayBatch,
        targets: Float[Array, " batch"],
    ) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """The mean Huber loss and the mean Q-value of the batch's actions."""
        online: MLPQPolicy = eqx.combine(params, static)
        q = jax.vmap(online.q_values)(batch.observation)
        action = batch.action.astype(jnp.int32)
        q_taken = jnp.take_along_axis(q, action[:, None], axis=-1)[:, 0]
        loss = jnp.mean(optax.huber_loss(q_taken, targets, delta=1.0))
        return loss, jnp.mean(q_taken)
