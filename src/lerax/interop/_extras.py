"""Imports of the optional packages, named by the extra that installs them."""

import importlib
from typing import Any

from lerax.utils import MissingExtraError

__all__ = ["require"]


def require(module: str, extra: str, feature: str) -> Any:
    """Imports `module` for `feature`, or raises `MissingExtraError`.

    Args:
        module: The module to import, e.g. ``"gymnasium"``.
        extra: The lerax extra that installs it, e.g. ``"gymnasium"``.
        feature: What needs it, for the message (e.g. ``"to_gymnasium"``).

    Returns:
        The module.

    Raises:
        MissingExtraError: If `module` cannot be imported; the message names
            the extra to install, e.g. ``pip install 'lerax[gymnasium]'``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{feature} needs the {module.split('.')[0]} package ({e.msg}): "
            f"pip install 'lerax[{extra}]'",
            extra=extra,
        ) from e
