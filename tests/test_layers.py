"""Layers point one way: utils <- env <- policy <- algorithm."""

import subprocess
import sys

import pytest

LAYERS = ["lerax.utils", "lerax.env", "lerax.policy", "lerax.algorithm"]


@pytest.mark.parametrize("index", range(len(LAYERS) - 1))
def test_a_layer_imports_no_layer_above_it(index):
    layer, above = LAYERS[index], LAYERS[index + 1 :]
    script = (
        f"import sys, {layer}\n"
        f"print([m for m in sys.modules if m.split('.')[:2] in {[a.split('.') for a in above]!r}])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


OPTIONAL = [
    "orbax",
    "safetensors",
    "jax2onnx",
    "onnx",
    "onnxruntime",
    "gymnasium",
    "gymnax",
]


@pytest.mark.parametrize("module", [*LAYERS, "lerax.export", "lerax.interop"])
def test_optional_packages_are_imported_only_when_used(module):
    """Extras (orbax, safetensors, ONNX) load when a feature runs, never on import;
    nothing below lerax.export imports it."""
    script = (
        f"import sys, {module}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(OPTIONAL)!r}),"
        " 'lerax.export' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"[] {module == 'lerax.export'}"
