"""The exception types of the serialization core, and how file values are quoted."""

import importlib
import itertools
from typing import Any, final

__all__ = ["MissingExtraError", "SerializationError", "cut", "needs_extra", "quote"]

# A file may hold megabytes in one string; messages show only this much of it.
_QUOTE_LIMIT = 200


@final
class SerializationError(ValueError):
    """A file cannot be written, read or matched to the object it should restore.

    Raised for every damaged, hostile or foreign file: truncation, flipped bits,
    malformed metadata, a class or function the loader does not trust, or leaves
    and fields that do not fit the object to load. The message names the file,
    the leaf or field path (e.g. ``.action_head.weight``), what was expected and
    what was found. A missing file raises `FileNotFoundError` instead.
    """


@final
class MissingExtraError(ImportError):
    """An optional feature needs a package that is not installed.

    Raised when the feature is used, never when lerax is imported: distributed
    saves through orbax-checkpoint (the ``orbax`` extra), safetensors files (the
    ``safetensors`` extra) and ONNX export (the ``onnx`` extra). The message
    names the extra to install, e.g. ``pip install 'lerax[orbax]'``.

    Attributes:
        extra: The name of the extra that provides the missing package.
    """

    def __init__(self, message: str, *, extra: str):
        super().__init__(message)
        self.extra = extra


def needs_extra(module: str, extra: str, feature: str) -> Any:
    """Imports `module` for `feature`, or raises `MissingExtraError` naming `extra`.

    Raises:
        MissingExtraError: if `module` cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{feature} needs the {module.split('.')[0]} package ({e.msg}): "
            f"pip install 'lerax[{extra}]'",
            extra=extra,
        ) from e


def quote(value: Any) -> str:
    """``repr(value)``, cut to a short prefix: file values go into messages this way.

    Only the first characters of a long string are formatted, so quoting costs
    nothing however large the value a hostile file holds.
    """
    if isinstance(value, str | bytes) and len(value) > _QUOTE_LIMIT:
        return f"{value[:_QUOTE_LIMIT]!r}... ({len(value)} characters)"
    text = repr(value) if isinstance(value, str | bytes | int | float | bool) else None
    if text is None:
        text = _bounded_repr(value)
    if len(text) > _QUOTE_LIMIT:
        return f"{text[:_QUOTE_LIMIT]}..."
    return text


def _bounded_repr(value: Any, budget: int = _QUOTE_LIMIT + 1) -> str:
    """repr of nested lists and dicts that stops once `budget` characters exist."""
    parts: list[str] = []
    size = 0
    stack: list[Any] = [value]
    while stack and size < budget:
        item = stack.pop()
        if isinstance(item, _Text):
            piece = item.text
        elif isinstance(item, list):
            stack.append(_Text("]"))
            # Each item takes at least a character: the rest would be cut anyway.
            stack.extend(reversed(_joined(item[:budget])))
            piece = "["
        elif isinstance(item, dict):
            stack.append(_Text("}"))
            pairs = [_Pair(k, v) for k, v in itertools.islice(item.items(), budget)]
            stack.extend(reversed(_joined(pairs)))
            piece = "{"
        elif isinstance(item, _Pair):
            stack.extend([item.value, _Text(": "), item.key])
            piece = ""
        elif isinstance(item, str) and len(item) > budget:
            piece = repr(item[:budget])
        else:
            piece = repr(item)
        parts.append(piece)
        size += len(piece)
    return "".join(parts)


@final
class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


@final
class _Pair:
    __slots__ = ("key", "value")

    def __init__(self, key: Any, value: Any):
        self.key = key
        self.value = value


def _joined(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for i, item in enumerate(items):
        if i:
            out.append(_Text(", "))
        out.append(item)
    return out


def cut(text: Any) -> str:
    """`text` as is when a short string, else quoted and cut as `quote` does."""
    if isinstance(text, str) and len(text) <= _QUOTE_LIMIT:
        return text
    return quote(text)
