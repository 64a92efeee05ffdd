"""Tests for generalized advantage estimation, truncation and termination."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

from lerax.algorithm import generalized_advantage_estimation


def _reference(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Straightforward per-episode loop, in float64."""
    advantages = np.zeros_like(values, dtype=np.float64)
    following = 0.0
    for t in reversed(range(len(rewards))):
        done = terminated[t] or truncated[t]
        bootstrap = 0.0 if terminated[t] else gamma * next_values[t]
        delta = rewards[t] + bootstrap - values[t]
        following = delta + (0.0 if done else gamma * lam * following)
        advantages[t] = following
    return advantages, advantages + values


def test_hand_computed_example():
    # gamma = lambda = 0.5 keeps the arithmetic exact in float32.
    rewards = [1.0, 1.0, 1.0, 1.0]
    values = [2.0, 3.0, 4.0, 5.0]
    # Step 1 is truncated: its next value is that of the final observation (10),
    # not of the reset observation. Step 2 terminates: nothing is bootstrapped.
    next_values = [3.0, 10.0, 5.0, 6.0]
    terminated = [False, False, True, False]
    truncated = [False, True, False, False]
    advantages, returns = generalized_advantage_estimation(
        jnp.array(rewards),
        jnp.array(values),
        jnp.array(next_values),
        jnp.array(terminated),
        jnp.array(truncated),
        gamma=0.5,
        gae_lambda=0.5,
    )
    # t=3: 1 + 0.5 * 6 - 5                      = -1  (end of rollout: bootstrap)
    # t=2: 1 + 0 - 4                              = -3  (terminated: no bootstrap)
    # t=1: 1 + 0.5 * 10 - 3                       =  3  (truncated: final obs value)
    # t=0: (1 + 0.5 * 3 - 2) + 0.5 * 0.5 * 3      =  1.25
    np.testing.assert_array_equal(advantages, [1.25, 3.0, -3.0, -1.0])
    np.testing.assert_array_equal(returns, [3.25, 6.0, 1.0, 4.0])
    assert advantages.dtype == jnp.float32


def test_truncation_differs_from_termination_only_in_bootstrap():
    kwargs = dict(gamma=0.9, gae_lambda=0.95)
    rewards = jnp.ones(3)
    values = jnp.array([1.0, 2.0, 3.0])
    next_values = jnp.array([2.0, 7.0, 4.0])
    ended_by_termination, _ = generalized_advantage_estimation(
        rewards,
        values,
        next_values,
        jnp.array([False, True, False]),
        jnp.array([False, False, False]),
        **kwargs,
    )
    ended_by_truncation, _ = generalized_advantage_estimation(
        rewards,
        values,
        next_values,
        jnp.array([False, False, False]),
        jnp.array([False, True, False]),
        **kwargs,
    )
    # At the ended step a truncation adds exactly the bootstrapped value.
    np.testing.assert_allclose(
        ended_by_truncation[1] - ended_by_termination[1], 0.9 * 7.0, rtol=1e-6
    )
    # After it, nothing changes; before it, the difference is discounted once more.
    np.testing.assert_allclose(ended_by_truncation[2], ended_by_termination[2])
    np.testing.assert_allclose(
        ended_by_truncation[0] - ended_by_termination[0],
        0.9 * 0.95 * 0.9 * 7.0,
        rtol=1e-5,
    )


def test_batched_matches_columns():
    key = jax.random.key(0)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    shape = (7, 3)
    rewards = jax.random.normal(k1, shape)
    values = jax.random.normal(k2, shape)
    next_values = jax.random.normal(k3, shape)
    ends = jax.random.randint(k4, shape, 0, 3)
    args = (rewards, values, next_values, ends == 1, ends == 2)
    adv, ret = generalized_advantage_estimation(*args, gamma=0.99, gae_lambda=0.9)
    for column in range(shape[1]):
        adv_c, ret_c = generalized_advantage_estimation(
            *(a[:, column] for a in args), gamma=0.99, gae_lambda=0.9
        )
        np.testing.assert_allclose(adv[:, column], adv_c, rtol=1e-6)
        np.testing.assert_allclose(ret[:, column], ret_c, rtol=1e-6)


def test_lambda_one_gives_discounted_return_minus_value():
    rewards = jnp.array([1.0, 2.0, 3.0])
    values = jnp.array([0.5, 0.25, 0.125])
    next_values = jnp.array([0.25, 0.125, 4.0])
    no = jnp.zeros(3, bool)
    adv, ret = generalized_advantage_estimation(
        rewards, values, next_values, no, no, gamma=0.5, gae_lambda=1.0
    )
    # Monte Carlo return bootstrapped from the last next value.
    expected = [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 4, 2 + 0.5 * 3 + 0.25 * 4, 3 + 2.0]
    np.testing.assert_allclose(ret, expected, rtol=1e-6)
    np.testing.assert_allclose(adv, np.array(expected) - values, rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.floats(-10, 10),
            st.floats(-10, 10),
            st.floats(-10, 10),
            st.sampled_from(["go", "terminated", "truncated", "both"]),
        ),
        min_size=1,
        max_size=12,
    ),
    gamma=st.floats(0.0, 1.0),
    lam=st.floats(0.0, 1.0),
)
def test_matches_reference_loop(data, gamma, lam):
    rewards, values, next_values, ends = zip(*data, strict=True)
    terminated = [e in ("terminated", "both") for e in ends]
    truncated = [e in ("truncated", "both") for e in ends]
    adv, ret = generalized_advantage_estimation(
        jnp.array(rewards, jnp.float32),
        jnp.array(values, jnp.float32),
        jnp.array(next_values, jnp.float32),
        jnp.array(terminated),
        jnp.array(truncated),
        gamma=gamma,
        gae_lambda=lam,
    )
    ref_adv, ref_ret = _reference(
        np.array(rewards, np.float32),
        np.array(values, np.float32),
        np.array(next_values, np.float32),
        terminated,
        truncated,
        gamma,
        lam,
    )
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ret, ref_ret, rtol=1e-4, atol=1e-3)
