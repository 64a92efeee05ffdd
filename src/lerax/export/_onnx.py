"""ONNX export of a policy's deterministic action, through jax2onnx."""

import importlib
import os
from pathlib import Path
from typing import Any

import jax
import jax.tree_util as jtu

from lerax.policy import AbstractStatefulPolicy, AbstractStatelessPolicy
from lerax.utils import MissingExtraError

__all__ = ["export_onnx"]


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"export_onnx needs the {module} package ({e.msg}): "
            "pip install 'lerax[onnx]'",
            extra="onnx",
        ) from e


def _names(prefix: str, tree: Any) -> list[str]:
    """ONNX names of a pytree's leaves: `prefix` alone for a single array, else
    `prefix` followed by each leaf's path (``observation['position']``)."""
    paths = [jtu.keystr(path) for path, _ in jtu.tree_flatten_with_path(tree)[0]]
    return [prefix] if paths == [""] else [f"{prefix}{path}" for path in paths]


def export_onnx(
    policy: AbstractStatelessPolicy | AbstractStatefulPolicy,
    path: str | os.PathLike[str] | None = None,
    *,
    opset: int | None = None,
    model_name: str = "lerax_policy",
) -> Any:
    """Exports the policy's deterministic action (`predict`) to ONNX.

    The model takes a batch of observations, of any size, and returns the
    batch of actions ``policy.predict`` gives (argmax for discrete actions,
    the mean for continuous ones). Inputs and outputs are named
    ``observation`` and ``action`` (a composite space has one per leaf, e.g.
    ``observation['position']``); a stateful policy also takes ``state`` (from
    ``policy.reset``, batched) and returns ``next_state``. The parameters are
    baked into the model as constants.

    ```python
    from lerax.export import export_onnx

    export_onnx(policy, "policy.onnx")

    import onnxruntime
    session = onnxruntime.InferenceSession("policy.onnx")
    (actions,) = session.run(None, {"observation": observations})
    ```

    Args:
        policy: A stateless or stateful lerax policy.
        path: Where to write the model (``.onnx``); None writes nothing.
        opset: The ONNX opset to target; jax2onnx's default when None.
        model_name: The model's name inside the file.

    Returns:
        The model, an ``onnx.ModelProto``.

    Raises:
        MissingExtraError: if jax2onnx is not installed
            (``pip install 'lerax[onnx]'``).
        TypeError: if `policy` is not a lerax policy.
    """
    if not isinstance(policy, AbstractStatelessPolicy | AbstractStatefulPolicy):
        raise TypeError(
            f"export_onnx needs a lerax policy, got a {type(policy).__name__}"
        )
    jax2onnx = _import("jax2onnx")
    onnx = _import("onnx")
    key = jax.random.key(0)
    observation = jax.eval_shape(lambda: policy.observation_space.sample(key=key))
    stateful = isinstance(policy, AbstractStatefulPolicy)
    state = jax.eval_shape(policy.reset, key=key) if stateful else None
    # One symbol for the batch, shared by every input.
    (batch,) = jax.export.symbolic_shape("batch")
    inputs_tree = (state, observation) if stateful else (observation,)
    inputs, treedef = jax.tree.flatten(inputs_tree)
    specs = [jax.ShapeDtypeStruct((batch, *x.shape), x.dtype) for x in inputs]

    def predict(*flat: Any) -> Any:
        args = jax.tree.unflatten(treedef, flat)
        return tuple(jax.tree.leaves(jax.vmap(policy.predict)(*args)))

    outputs = jax.eval_shape(jax.vmap(policy.predict), *_batched(inputs_tree))
    if stateful:
        input_names = _names("state", state) + _names("observation", observation)
        output_names = _names("next_state", outputs[0]) + _names("action", outputs[1])
    else:
        input_names = _names("observation", observation)
        output_names = _names("action", outputs)
    options: dict[str, Any] = {} if opset is None else {"opset": opset}
    model = jax2onnx.to_onnx(
        predict,
        specs,
        model_name=model_name,
        input_names=input_names,
        output_names=output_names,
        **options,
    )
    if path is not None:
        onnx.save_model(model, os.fspath(Path(path)))
    return model


def _batched(tree: Any) -> Any:
    """`tree` of shapes with a leading batch of one, to trace the outputs."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct((1, *x.shape), x.dtype), tree)
