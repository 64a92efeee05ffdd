"""Exporting trained policies for deployment outside JAX.

Sits on top of `lerax.policy`, like an integration: nothing in lerax imports it,
and its optional packages are imported only when an export runs (`export_onnx`
needs the ``onnx`` extra). Weights alone go to safetensors with
`lerax.utils.save_safetensors`.
"""

from ._onnx import export_onnx

__all__ = ["export_onnx"]
