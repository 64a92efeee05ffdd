"""Tests of the invalid-action policy shared by every lerax environment.

Unchecked (the default), an invalid action of a discrete env gives NaN outputs
and a continuous env clips; with ``check_actions=True``, `AbstractEnv.step`
raises on any action outside the action space.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import (
    Acrobot,
    CartPole,
    MountainCar,
    MountainCarContinuous,
    Pendulum,
)

DISCRETE = [CartPole, Acrobot, MountainCar]
CONTINUOUS = [Pendulum, MountainCarContinuous]
MESSAGE = r"{}\.step: the action is not in the action space"
# How an error raised inside a `jax.jit` program reaches Python depends on JAX's
# dispatch path; the message is the same.
JIT_ERRORS = (jax.errors.JaxRuntimeError, ValueError)


def _leaves(out):
    return [np.asarray(x) for x in jax.tree.leaves(out)]


@pytest.mark.parametrize("cls", DISCRETE)
def test_invalid_discrete_action_gives_nan_outputs(cls):
    env = cls()
    n = env.action_space.n
    state, _, _ = env.reset(key=jax.random.key(0))
    # Valid actions first, then invalid ones.
    actions = jnp.array([*range(n), n, -1, n + 7, 2**31 - 1], jnp.int32)
    step = jax.jit(jax.vmap(lambda a: env.step(state, a, key=jax.random.key(1))))
    new, obs, reward, terminated, truncated, info = step(actions)
    valid = np.arange(len(actions)) < n
    for leaf in [obs, info["final_observation"], reward, *jax.tree.leaves(new)]:
        leaf = np.asarray(leaf)
        if leaf.dtype == np.float32:
            assert np.all(np.isfinite(leaf[valid]))
            assert np.all(np.isnan(leaf[~valid]))
    # A NaN state never terminates; the time limit still counts.
    assert not np.any(terminated[~valid]) and not np.any(truncated)
    np.testing.assert_array_equal(new.t, 1)


def test_valid_actions_are_unaffected_by_checking():
    # The check lives in AbstractEnv.step: one env shows it for all.
    checked, unchecked = CartPole(check_actions=True), CartPole()
    keys = jax.random.split(jax.random.key(0), 16)
    states, _, _ = jax.vmap(lambda k: checked.reset(key=k))(keys)
    actions = jnp.arange(16, dtype=jnp.int32) % 2
    outs = [
        jax.jit(jax.vmap(lambda s, a, k, env=env: env.step(s, a, key=k)))(
            states, actions, keys
        )
        for env in (checked, unchecked)
    ]
    for a, b in zip(_leaves(outs[0]), _leaves(outs[1]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_check_actions_raises_eagerly_jitted_and_vmapped():
    env = CartPole(check_actions=True)
    state, _, _ = env.reset(key=jax.random.key(0))
    key = jax.random.key(1)
    message = MESSAGE.format("CartPole")
    # A concrete action is checked at once, eagerly or while tracing.
    for step in [env.step, eqx.filter_jit(env.step)]:
        with pytest.raises(eqx.EquinoxTracetimeError, match=message):
            step(state, 2, key=key)
    # A traced one, when the computation runs.
    with pytest.raises(eqx.EquinoxRuntimeError, match=message):
        eqx.filter_jit(env.step)(state, jnp.int32(-1), key=key)
    # Under vmap, one invalid action in the batch is enough.
    batched = jax.jit(jax.vmap(lambda s, a: env.step(s, a, key=key), (None, 0)))
    batched(state, jnp.array([0, 1, 1], jnp.int32))
    with pytest.raises(JIT_ERRORS, match=message):
        batched(state, jnp.array([0, 1, 2], jnp.int32))


@pytest.mark.parametrize("cls", DISCRETE)
def test_check_actions_raises_on_out_of_range_values(cls):
    env = cls(check_actions=True)
    n = env.action_space.n
    state, _, _ = env.reset(key=jax.random.key(0))
    step = jax.jit(env.step)
    for action in range(n):
        step(state, jnp.int32(action), key=jax.random.key(1))
    for action in [-1, n]:
        with pytest.raises(JIT_ERRORS, match=MESSAGE.format(cls.__name__)):
            step(state, jnp.int32(action), key=jax.random.key(1))


@pytest.mark.parametrize("cls", DISCRETE)
def test_check_actions_rejects_wrong_dtype_and_shape_while_tracing(cls):
    env = cls(check_actions=True)
    state, _, _ = env.reset(key=jax.random.key(0))
    for action in [jnp.float32(1.0), jnp.array([1], jnp.int32), jnp.bool_(True)]:
        with pytest.raises(
            eqx.EquinoxTracetimeError, match=MESSAGE.format(cls.__name__)
        ):
            jax.eval_shape(
                lambda s, a: env.step(s, a, key=jax.random.key(1)), state, action
            )


@pytest.mark.parametrize("cls", CONTINUOUS)
def test_continuous_envs_clip_unless_checking(cls):
    env, checked = cls(), cls(check_actions=True)
    state, _, _ = env.reset(key=jax.random.key(0))
    key = jax.random.key(1)
    high = env.action_space.high
    low = env.action_space.low
    clipped = env.step(state, high, key=key)
    beyond = env.step(state, high + 1, key=key)
    # Same dynamics (the reward may charge the unclipped action).
    for a, b in zip(_leaves(beyond[:2]), _leaves(clipped[:2]), strict=True):
        np.testing.assert_array_equal(a, b)
    step = eqx.filter_jit(checked.step)
    for inside in [high, low, (high + low) / 2]:  # the bounds are inclusive
        for a, b in zip(
            _leaves(step(state, inside, key=key)),
            _leaves(env.step(state, inside, key=key)),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
    message = MESSAGE.format(cls.__name__)
    with pytest.raises(eqx.EquinoxRuntimeError, match=message):
        step(state, high + 0.5, key=key)
    with pytest.raises(eqx.EquinoxRuntimeError, match=message):
        step(state, jnp.full_like(low, jnp.nan), key=key)
    with pytest.raises(eqx.EquinoxTracetimeError, match=message):
        step(state, jnp.zeros(()), key=key)


@pytest.mark.parametrize("cls", DISCRETE + CONTINUOUS)
def test_checking_is_off_by_default_and_free_when_off(cls):
    env = cls()
    assert env.check_actions is False
    state, _, _ = env.reset(key=jax.random.key(0))
    action = env.action_space.sample(key=jax.random.key(1))

    def program(env):
        return str(
            jax.make_jaxpr(lambda s, a: env.step(s, a, key=jax.random.key(2)))(
                state, action
            )
        )

    assert "callback" not in program(env)
    assert "callback" in program(cls(check_actions=True))
    # The flag is static: part of the structure, not a traced leaf.
    assert jax.tree.structure(env) != jax.tree.structure(cls(check_actions=True))


@pytest.mark.parametrize("cls", DISCRETE + CONTINUOUS)
@pytest.mark.parametrize("value", [1, 0, None, "yes"])
def test_check_actions_must_be_a_bool(cls, value):
    with pytest.raises(
        TypeError, match=f"^check_actions must be a bool, got {value!r}$"
    ):
        cls(check_actions=value)
