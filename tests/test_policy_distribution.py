"""Tests for the hand-written action distributions."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

from lerax.policy import Categorical, DiagonalGaussian

_finite = st.floats(-20.0, 20.0, allow_nan=False, width=32)


@settings(max_examples=30, deadline=None)
@given(st.lists(_finite, min_size=1, max_size=8))
def test_categorical_probabilities_and_entropy(logits):
    dist = Categorical(jnp.asarray(logits, dtype=jnp.float32))
    n = len(logits)
    log_probs = jnp.stack([dist.log_prob(jnp.int32(a)) for a in range(n)])
    np.testing.assert_allclose(jnp.sum(jnp.exp(log_probs)), 1.0, rtol=1e-5)

    x = np.asarray(logits, dtype=np.float64)
    p = np.exp(x - x.max())
    p /= p.sum()
    np.testing.assert_allclose(np.exp(log_probs), p, atol=1e-6)
    reference_entropy = -np.sum(np.where(p > 0, p * np.log(np.maximum(p, 1e-300)), 0))
    np.testing.assert_allclose(dist.entropy(), reference_entropy, atol=1e-5)
    # Ties may be broken either way after float32 rounding.
    assert p[int(dist.mode())] >= p.max() - 1e-6


def test_categorical_uniform_entropy_and_sampling_frequencies():
    assert math.isclose(
        float(Categorical(jnp.zeros(5)).entropy()), math.log(5), rel_tol=1e-6
    )

    dist = Categorical(jnp.log(jnp.asarray([0.1, 0.2, 0.7])))
    keys = jax.random.split(jax.random.key(0), 20_000)
    samples = jax.vmap(lambda k: dist.sample(key=k))(keys)
    assert samples.dtype == jnp.int32
    frequencies = np.bincount(np.asarray(samples), minlength=3) / samples.size
    np.testing.assert_allclose(frequencies, [0.1, 0.2, 0.7], atol=0.015)


def test_categorical_extreme_logits_have_finite_entropy():
    dist = Categorical(jnp.asarray([0.0, -1e4, 1e4]))
    assert jnp.isfinite(dist.entropy())
    assert jnp.isclose(dist.entropy(), 0.0, atol=1e-6)


def _gaussian_reference_log_prob(x, mean, std):
    x, mean, std = (np.asarray(v, dtype=np.float64) for v in (x, mean, std))
    return np.sum(
        -((x - mean) ** 2) / (2 * std**2) - np.log(std) - 0.5 * np.log(2 * np.pi)
    )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-5, 5, width=32),
            st.floats(-2, 1, width=32),
            st.floats(-5, 5, width=32),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_gaussian_log_prob_and_entropy_match_reference(components):
    mean, log_std, x = (
        np.asarray(c, dtype=np.float32) for c in zip(*components, strict=True)
    )
    dist = DiagonalGaussian(jnp.asarray(mean), jnp.asarray(log_std))
    std = np.exp(log_std.astype(np.float64))
    np.testing.assert_allclose(
        dist.log_prob(jnp.asarray(x)),
        _gaussian_reference_log_prob(x, mean, std),
        rtol=1e-5,
        atol=1e-4,
    )
    reference_entropy = np.sum(0.5 * np.log(2 * np.pi * np.e * std**2))
    np.testing.assert_allclose(dist.entropy(), reference_entropy, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(dist.mode(), mean)


def test_gaussian_sampling_statistics_and_shape():
    mean = jnp.asarray([[1.0, -2.0], [0.0, 3.0]])
    log_std = jnp.log(jnp.asarray([[0.5, 2.0], [1.0, 0.1]]))
    dist = DiagonalGaussian(mean, log_std)
    keys = jax.random.split(jax.random.key(1), 20_000)
    samples = jax.vmap(lambda k: dist.sample(key=k))(keys)
    assert samples.shape == (20_000, 2, 2)
    np.testing.assert_allclose(samples.mean(0), mean, atol=0.05)
    np.testing.assert_allclose(samples.std(0), jnp.exp(log_std), rtol=0.03)


def test_gaussian_broadcasts_scalar_log_std():
    dist = DiagonalGaussian(jnp.zeros(3), jnp.asarray(0.0))
    assert dist.log_std.shape == (3,)
    np.testing.assert_allclose(
        dist.log_prob(jnp.zeros(3)), -1.5 * np.log(2 * np.pi), rtol=1e-6
    )
