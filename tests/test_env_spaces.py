"""Tests of lerax.env spaces: Discrete and Box."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lerax.env import AbstractSpace, Box, Discrete

KEY = jax.random.key(0)


@jax.jit
def _draw(space: AbstractSpace, key: jax.Array) -> jax.Array:
    """2000 samples of `space`, stacked; jitted so repeated calls are cheap."""
    return jax.vmap(lambda k: space.sample(key=k))(jax.random.split(key, 2000))


@jax.jit
def _all_contained(space: AbstractSpace, xs: jax.Array) -> jax.Array:
    return jnp.all(jax.vmap(space.contains)(xs))


# --- Discrete ---------------------------------------------------------------


def test_discrete_attributes():
    assert issubclass(Discrete, AbstractSpace)
    space = Discrete(5)
    assert space.n == 5
    assert space.shape == ()
    assert space.dtype == np.int32
    assert space.flat_size == 5


@settings(max_examples=25, deadline=None)
# Few values of n: each one compiles once.
@given(n=st.sampled_from([1, 2, 5, 1000]), seed=st.integers(0, 2**31 - 1))
def test_discrete_samples_are_contained_and_in_range(n, seed):
    space = Discrete(n)
    samples = _draw(space, jax.random.key(seed))
    assert samples.shape == (2000,)
    assert samples.dtype == jnp.int32
    assert bool(jnp.all((samples >= 0) & (samples < n)))
    assert bool(_all_contained(space, samples))


def test_discrete_sample_covers_all_values():
    space = Discrete(7)
    samples = _draw(space, KEY)
    counts = np.bincount(np.asarray(samples), minlength=7)
    assert counts.shape == (7,)
    # Uniform: each value has expectation 2000/7 ~ 286.
    assert counts.min() > 200
    assert counts.max() < 380


def test_discrete_contains():
    space = Discrete(3)
    assert bool(space.contains(0))
    assert bool(space.contains(2))
    assert bool(space.contains(jnp.array(1, jnp.int32)))
    assert not bool(space.contains(3))
    assert not bool(space.contains(-1))
    assert not bool(space.contains(1.0))  # not an integer dtype
    assert not bool(space.contains(jnp.array([1])))  # wrong shape
    assert bool(jax.jit(space.contains)(jnp.array(2)))
    assert not bool(jax.jit(space.contains)(jnp.array(5)))


def test_discrete_equality_and_hash():
    assert Discrete(4) == Discrete(4)
    assert hash(Discrete(4)) == hash(Discrete(4))
    assert Discrete(4) != Discrete(5)
    assert Discrete(4) != Box(0, 3, (), jnp.int32)
    assert len({Discrete(2), Discrete(2), Discrete(3)}) == 2


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_discrete_rejects_bad_n(n):
    with pytest.raises(ValueError):
        Discrete(n)


# --- Box --------------------------------------------------------------------


def test_box_broadcasts_bounds():
    assert issubclass(Box, AbstractSpace)
    space = Box(-1.0, 2.0, shape=(2, 3))
    assert space.shape == (2, 3)
    assert space.dtype == np.float32
    assert space.low.shape == (2, 3)
    assert space.high.shape == (2, 3)
    assert space.low.dtype == jnp.float32
    assert bool(jnp.all(space.low == -1.0))
    assert bool(jnp.all(space.high == 2.0))
    assert space.flat_size == 6


def test_box_infers_shape_from_bounds():
    space = Box(np.zeros(3), np.array([1.0, 2.0, 3.0]))
    assert space.shape == (3,)
    assert space.flat_size == 3
    assert Box(0.0, 1.0).shape == ()
    assert Box(0.0, 1.0).flat_size == 1


def test_box_rejects_bad_bounds():
    with pytest.raises(ValueError):
        Box(1.0, 0.0)
    with pytest.raises(ValueError):
        Box(np.zeros(2), np.ones(3))
    with pytest.raises(ValueError):
        Box(np.zeros(3), np.ones(3), shape=(4,))
    with pytest.raises(ValueError):
        Box(np.nan, 1.0)
    with pytest.raises(ValueError):
        Box(0, 1, dtype=jnp.bool_)


@settings(max_examples=25, deadline=None)
@given(
    # Few shapes: each one compiles once.
    shape=st.sampled_from([(), (3,), (2, 4)]),
    low=st.floats(-1e6, 1e6, width=32),
    width=st.floats(0.0, 1e6, width=32),
    seed=st.integers(0, 2**31 - 1),
)
def test_box_samples_are_contained(shape, low, width, seed):
    space = Box(low, np.float32(low) + np.float32(width), shape=shape)
    samples = _draw(space, jax.random.key(seed))
    assert samples.shape == (2000, *shape)
    assert samples.dtype == jnp.float32
    assert bool(_all_contained(space, samples))


def test_box_uniform_sampling_statistics():
    space = Box(-2.0, 6.0, shape=(40,))
    samples = np.asarray(_draw(space, KEY))
    assert samples.min() >= -2.0
    assert samples.max() <= 6.0
    np.testing.assert_allclose(samples.mean(), 2.0, atol=0.05)
    np.testing.assert_allclose(samples.std(), 8 / np.sqrt(12), atol=0.05)


def test_box_unbounded_and_half_bounded_sampling():
    low = np.array([-np.inf, 1.0, -np.inf, -3.0], np.float32)
    high = np.array([np.inf, np.inf, 5.0, 3.0], np.float32)
    space = Box(low, high)
    samples = np.asarray(_draw(space, KEY))
    assert np.all(np.isfinite(samples))
    assert bool(_all_contained(space, samples))
    np.testing.assert_allclose(samples[:, 0].std(), 1.0, atol=0.05)  # normal
    np.testing.assert_allclose(samples[:, 1].mean(), 2.0, atol=0.05)  # 1 + Exp(1)
    np.testing.assert_allclose(samples[:, 2].mean(), 4.0, atol=0.05)  # 5 - Exp(1)
    assert samples[:, 3].min() >= -3.0
    assert samples[:, 3].max() <= 3.0


def test_box_sampling_near_dtype_limits_is_finite():
    big = np.finfo(np.float32).max
    space = Box(-big, big, shape=(1000,))
    sample = space.sample(key=KEY)
    assert bool(jnp.all(jnp.isfinite(sample)))
    assert bool(space.contains(sample))


def test_box_integer_dtype():
    space = Box(-2, 3, shape=(5,), dtype=jnp.int32)
    assert space.dtype == np.int32
    samples = np.asarray(_draw(space, KEY))
    assert samples.dtype == np.int32
    # Both bounds are inclusive.
    assert set(np.unique(samples)) == {-2, -1, 0, 1, 2, 3}
    assert bool(space.contains(jnp.array([-2, 0, 1, 2, 3])))
    assert bool(space.contains(jnp.array([-2.0, 0.0, 1.0, 2.0, 3.0])))
    assert not bool(space.contains(jnp.array([-2.0, 0.5, 1.0, 2.0, 3.0])))
    assert not bool(space.contains(jnp.array([-3, 0, 1, 2, 3])))


def test_box_contains():
    space = Box(np.array([-1.0, 0.0]), np.array([1.0, np.inf]))
    assert bool(space.contains(jnp.array([0.0, 1e30])))
    assert bool(space.contains(jnp.array([-1.0, 0.0])))  # bounds are inclusive
    assert not bool(space.contains(jnp.array([-1.01, 0.0])))
    assert not bool(space.contains(jnp.array([0.0, -0.1])))
    assert not bool(space.contains(jnp.array([0.0, jnp.nan])))
    assert not bool(space.contains(jnp.array([0.0, 0.0, 0.0])))  # wrong shape
    assert bool(jax.jit(space.contains)(jnp.array([0.5, 3.0])))
    assert not bool(jax.jit(space.contains)(jnp.array([1.5, 3.0])))


def test_box_equality_and_hash():
    a = Box(-1.0, 1.0, shape=(3,))
    b = Box(np.full(3, -1.0), np.ones(3))
    assert a == b
    assert hash(a) == hash(b)
    assert a != Box(-1.0, 2.0, shape=(3,))
    assert a != Box(-1.0, 1.0, shape=(4,))
    assert a != Box(-1, 1, shape=(3,), dtype=jnp.int32)
    assert a != Box(-1.0, 1.0, shape=(1, 3))
    assert Box(-0.0, 1.0) == Box(0.0, 1.0)
    assert hash(Box(-0.0, 1.0)) == hash(Box(0.0, 1.0))
    assert len({a, b, Box(0.0, 1.0)}) == 2


def test_box_works_under_jit_and_vmap_as_argument():
    space = Box(-1.0, 1.0, shape=(2,))

    @jax.jit
    def f(space, key):
        x = space.sample(key=key)
        return x, space.contains(x)

    x, ok = f(space, KEY)
    assert x.shape == (2,)
    assert bool(ok)


# --- Serialization ------------------------------------------------------------


@pytest.mark.parametrize(
    "space",
    [
        Discrete(6),
        Box(-1.0, 1.0, shape=(2, 3)),
        Box(np.array([-np.inf, 0.0]), np.array([np.inf, 4.0])),
        Box(0, 10, shape=(3,), dtype=np.int32),
        Box(0, 10, shape=(3,), dtype=jnp.int32),
    ],
    ids=["discrete", "box", "box-unbounded", "box-np-int", "box-jnp-int"],
)
def test_space_serialization_round_trip(space, tmp_path):
    path = tmp_path / "space.eqx"
    space.serialize(path)
    loaded = type(space).deserialize(path)
    assert type(loaded) is type(space)
    assert loaded == space
    assert hash(loaded) == hash(space)
