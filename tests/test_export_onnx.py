"""ONNX export: the exported model, run by onnxruntime, acts as the policy does."""

import importlib
import importlib.util
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import CartPole, Pendulum
from lerax.export import export_onnx
from lerax.policy import GRUActorCriticPolicy, MLPActorCriticPolicy
from lerax.utils import MissingExtraError

needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("jax2onnx") is None
    or importlib.util.find_spec("onnxruntime") is None,
    reason="the onnx extra is not installed: pip install -e '.[onnx]'",
)


def _session(model):
    onnxruntime = importlib.import_module("onnxruntime")
    return onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _observations(shape, count=512, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(count, *shape)) * rng.uniform(0.1, 3, size=(count, 1))
    ).astype(np.float32)


@needs_onnx
def test_discrete_actions_match_the_policy(tmp_path):
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    path = tmp_path / "cartpole.onnx"
    model = export_onnx(policy, path)
    assert path.is_file() and path.stat().st_size > 1000
    onnxruntime = importlib.import_module("onnxruntime")
    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in session.get_inputs()] == ["observation"]
    assert [o.name for o in session.get_outputs()] == ["action"]
    observations = _observations((4,))
    for batch in (observations, observations[:1], observations[:7]):  # any batch
        (actions,) = session.run(None, {"observation": batch})
        expected = np.asarray(jax.vmap(policy.predict)(jnp.asarray(batch)))
        assert actions.dtype == expected.dtype and actions.shape == expected.shape
        np.testing.assert_array_equal(actions, expected)
    assert len(np.unique(expected)) == 2  # both actions occur: the test can fail
    onnx = importlib.import_module("onnx")
    assert onnx.load(str(path)).SerializeToString() == model.SerializeToString()


@needs_onnx
def test_continuous_actions_match_the_policy():
    env = Pendulum()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(1))
    session = _session(export_onnx(policy))
    observations = _observations((3,), seed=1)
    (actions,) = session.run(None, {"observation": observations})
    expected = np.asarray(jax.vmap(policy.predict)(jnp.asarray(observations)))
    assert actions.shape == expected.shape == (512, 1)
    np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-6)
    assert np.std(expected) > 0


@needs_onnx
def test_a_stateful_policy_threads_its_state():
    env = CartPole()
    policy = GRUActorCriticPolicy(env, key=jax.random.key(2))
    session = _session(export_onnx(policy))
    assert [i.name for i in session.get_inputs()] == ["state", "observation"]
    assert [o.name for o in session.get_outputs()] == ["next_state", "action"]
    count = 64
    state = np.asarray(
        jax.vmap(lambda k: policy.reset(key=k))(
            jax.random.split(jax.random.key(0), count)
        )
    )
    expected_state = jnp.asarray(state)
    for step in range(5):
        observations = _observations((4,), count=count, seed=step)
        state, actions = session.run(
            None, {"state": state, "observation": observations}
        )
        expected_state, expected = jax.vmap(policy.predict)(
            expected_state, jnp.asarray(observations)
        )
        np.testing.assert_allclose(
            state, np.asarray(expected_state), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_array_equal(actions, np.asarray(expected))


def test_only_policies_export():
    with pytest.raises(TypeError, match="needs a lerax policy, got a CartPole"):
        export_onnx(CartPole())  # pyright: ignore[reportArgumentType]


def test_without_jax2onnx_a_missing_extra_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax2onnx", None)
    policy = MLPActorCriticPolicy(CartPole(), key=jax.random.key(0))
    with pytest.raises(MissingExtraError, match=r"pip install 'lerax\[onnx\]'") as info:
        export_onnx(policy)
    assert isinstance(info.value, ImportError) and info.value.extra == "onnx"
