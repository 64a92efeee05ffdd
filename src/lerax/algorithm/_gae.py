"""Generalized advantage estimation with separate termination and truncation."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float


def generalized_advantage_estimation(
    rewards: Float[ArrayLike, " time *batch"],
    values: Float[ArrayLike, " time *batch"],
    next_values: Float[ArrayLike, " time *batch"],
    terminated: Bool[ArrayLike, " time *batch"],
    truncated: Bool[ArrayLike, " time *batch"],
    *,
    gamma: float | Float[ArrayLike, ""],
    gae_lambda: float | Float[ArrayLike, ""],
) -> tuple[Float[Array, " time *batch"], Float[Array, " time *batch"]]:
    """Computes GAE(λ) advantages and value targets over a time-major rollout.

    Step ``t`` goes from state ``s_t`` (value ``values[t]``) to ``s'_t`` (value
    ``next_values[t]``), the state the environment actually reached, *before* any
    automatic reset. Then:

        delta_t = rewards[t] + gamma * (1 - terminated[t]) * next_values[t] - values[t]
        A_t     = delta_t + gamma * gae_lambda * (1 - done[t]) * A_{t+1}

    with ``done = terminated | truncated`` and ``A_T = 0``. A terminated step has no
    future, so nothing is bootstrapped; a truncated one was cut short, so its
    target bootstraps from the value of the final observation. Either way, an ended
    episode's advantage never leaks into the previous one. For a step that did not
    end, ``next_values[t]`` is simply ``values[t + 1]``; at the last step it is the
    value of the observation the next rollout starts from.

    Args:
        rewards: Reward of each step, shape ``(time, *batch)``.
        values: Value estimate of the state each step started from.
        next_values: Value estimate of the state each step reached (for an ended
            episode: of its final observation, with the pre-reset recurrent state).
        terminated: Whether the step ended the episode in a terminal state.
        truncated: Whether the step ended the episode by a time limit (ignored
            where `terminated` is true).
        gamma: Discount factor.
        gae_lambda: GAE smoothing parameter λ.

    Returns:
        ``(advantages, returns)``, where ``returns = advantages + values`` are the
        value-function targets.
    """
    rewards = jnp.asarray(rewards)
    values = jnp.asarray(values)
    terminated = jnp.asarray(terminated, dtype=bool)
    alive = 1.0 - terminated.astype(values.dtype)
    goes_on = 1.0 - (terminated | jnp.asarray(truncated, dtype=bool)).astype(
        values.dtype
    )
    deltas = rewards + gamma * alive * jnp.asarray(next_values) - values

    def backward(
        next_advantage: Float[Array, " *batch"],
        step: tuple[Float[Array, " *batch"], Float[Array, " *batch"]],
    ) -> tuple[Float[Array, " *batch"], Float[Array, " *batch"]]:
        delta, goes_on_t = step
        advantage = delta + gamma * gae_lambda * goes_on_t * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(deltas[0]), (deltas, goes_on), reverse=True
    )
    return advantages, advantages + values
