"""The ``Serializable`` mixin and the generic ``load``."""

import weakref
from pathlib import Path
from typing import Any, Self, TypeVar, final

import equinox as eqx
import jax
import numpy as np

from .. import __version__
from ._encoding import Decoder, build, class_name, encode_value, lookup_class
from ._errors import SerializationError
from ._files import PathOrFile, opened_for_reading, opened_for_writing
from ._format import read_leaves, read_manifest, write_tree

__all__ = ["Serializable", "load"]

# Serializable subclasses by "module:qualname". A file can only ever name one of
# these: lerax never imports a module because a file says so.
_REGISTRY: "weakref.WeakValueDictionary[str, type[Serializable]]" = (
    weakref.WeakValueDictionary()
)


@final
class _RecordedArgs:
    """Encoded constructor arguments, kept in a static field.

    A static field survives ``jit``, ``tree_map`` and friends. It compares equal to
    any other record so that it never makes two otherwise equal modules (or their
    treedefs) differ: the arguments only matter for rebuilding a skeleton.
    """

    __slots__ = ("encoded",)

    def __init__(self, encoded: Any):
        self.encoded = encoded

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _RecordedArgs)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<recorded constructor arguments>"


_T = TypeVar("_T")


class _SerializableMeta(type(eqx.Module)):  # pyright: ignore[reportGeneralTypeIssues]
    def __call__(cls: type[_T], *args: Any, **kwargs: Any) -> _T:  # pyright: ignore[reportGeneralTypeIssues]
        self = super().__call__(*args, **kwargs)  # pyright: ignore[reportAttributeAccessIssue]
        encoded = {
            "args": [encode_value(a) for a in args],
            "kwargs": {k: encode_value(v) for k, v in kwargs.items()},
        }
        # The instance is frozen by now; this is how equinox itself sets fields.
        object.__setattr__(self, "_lerax_args", _RecordedArgs(encoded))
        return self


class Serializable(eqx.Module, metaclass=_SerializableMeta):
    """Mixin giving an Equinox module ``serialize`` and ``deserialize``.

    Constructor arguments are recorded when the module is built, so a file can be
    loaded with no arguments at all. Example:

    ```python
    class MyModule(Serializable):
        a: float
        b: float

        def __init__(self, a: float, b: float):
            self.a = a
            self.b = b

    MyModule(1.0, 2.0).serialize("my_module.eqx")
    MyModule.deserialize("my_module.eqx")             # a == 1.0, b == 2.0
    MyModule.deserialize("my_module.eqx", 0.0, 0.0)   # the same, from a skeleton
    ```
    """

    _lerax_args: _RecordedArgs | None = eqx.field(
        default=None, static=True, init=False, repr=False
    )

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        _REGISTRY[class_name(cls)] = cls

    def serialize(self, path_or_file: PathOrFile) -> Path | None:
        """Saves this module to a ``.eqx`` file.

        Args:
            path_or_file: a path (``.eqx`` is appended when it has no suffix; missing
                folders are created) or a binary file object opened for writing.
                A path is replaced atomically: an existing file survives any failure.

        Returns:
            The path written, or None for a file object.

        Raises:
            SerializationError: if a leaf cannot be stored (e.g. a tracer).
        """
        args = self._lerax_args.encoded if self._lerax_args is not None else None
        with opened_for_writing(path_or_file) as (f, path):
            write_tree(
                f,
                self,
                class_name=class_name(type(self)),
                args=args,
                lerax_version=__version__,
            )
        return path

    @classmethod
    def deserialize(cls, path_or_file: PathOrFile, *args: Any, **kwargs: Any) -> Self:
        """Loads a module written by :meth:`serialize` or ``eqx.tree_serialise_leaves``.

        The skeleton is built abstractly (``eqx.filter_eval_shape``: no weights are
        initialised) from the constructor arguments given here, or, when none are
        given, from those recorded in the file. Everything is checked against the
        skeleton before any array is read.

        Args:
            path_or_file: a path or a binary file object.
            *args: constructor arguments; those deciding structure must match the
                file, the others (e.g. keys) are overwritten by it.
            **kwargs: keyword constructor arguments.

        Raises:
            FileNotFoundError: the file does not exist.
            SerializationError: the file is damaged, of another class, or does not
                fit the skeleton; the message names the leaf or field.
        """
        with opened_for_reading(path_or_file) as (f, where):
            manifest = read_manifest(f, where)
            recorded = None if manifest is None else manifest.class_name
            if args or kwargs:
                if recorded is not None and not _is_named(cls, recorded):
                    raise SerializationError(
                        f"{where}: the file holds a {recorded}, not a {class_name(cls)}"
                    )
                skeleton = _skeleton(cls, list(args), kwargs)
            elif manifest is None:
                raise SerializationError(
                    f"{where}: the file has no lerax metadata (written by plain "
                    "equinox?), so pass the constructor arguments: "
                    f"{cls.__name__}.deserialize(path, ...)"
                )
            else:
                if recorded is None:
                    raise SerializationError(
                        f"{where}: the file holds a plain pytree (save_tree), not a "
                        f"{class_name(cls)}; read it with load_tree"
                    )
                target = (
                    cls if _is_named(cls, recorded) else _resolve_class(recorded, where)
                )
                if not issubclass(target, cls):
                    raise SerializationError(
                        f"{where}: the file holds a {recorded}, not a {class_name(cls)}"
                    )
                skeleton = _recorded_skeleton(target, manifest.args, where)
            return read_leaves(f, manifest, skeleton, where)


def _is_named(cls: type, name: str) -> bool:
    return name in (class_name(cls), f"{cls.__module__}:{cls.__qualname__}")


def _resolve_class(name: str, where: str) -> type["Serializable"]:
    cls = _REGISTRY.get(name) or lookup_class(name)
    if not (isinstance(cls, type) and issubclass(cls, Serializable)):
        raise SerializationError(
            f"{where}: the class {name} recorded in the file is not imported; lerax "
            "never imports a module named in a file, so import it first"
        )
    return cls


def _skeleton(cls: type, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Builds ``cls(*args, **kwargs)`` abstractly: shapes and dtypes only."""

    def construct() -> Any:
        module = cls(*build(args), **build(kwargs))
        # NumPy leaves would come out as ShapeDtypeStructs and load as JAX arrays;
        # hide them from eval_shape so that NumPy stays NumPy.
        return jax.tree.map(_hide_numpy, module)

    return jax.tree.map(_unhide_numpy, eqx.filter_eval_shape(construct))


def _recorded_skeleton(cls: type, encoded_args: Any, where: str) -> Any:
    """Builds the skeleton from the constructor arguments recorded in a file."""
    decoder = Decoder(
        resolve_class=lambda name: _resolve_class(name, where),
        trusted_modules={c.__module__ for c in _REGISTRY.values()},
        where=f"{where}: constructor arguments",
    )
    args, kwargs = decoder.call(encoded_args)
    try:
        return _skeleton(cls, args, kwargs)
    except SerializationError:
        raise
    except Exception as e:  # the class changed since the file was written?
        raise SerializationError(
            f"{where}: could not build a {cls.__name__} from the constructor "
            f"arguments recorded in the file ({type(e).__name__}: {e}); pass them "
            "explicitly"
        ) from e


@final
class _NumpyLeaf:
    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        self.shape = shape
        self.dtype = dtype


def _hide_numpy(x: Any) -> Any:
    return _NumpyLeaf(x.shape, x.dtype) if isinstance(x, np.ndarray) else x


def _unhide_numpy(x: Any) -> Any:
    # A zero-strided view: the right shape and dtype for the cost of one element.
    if isinstance(x, _NumpyLeaf):
        return np.broadcast_to(np.zeros((), x.dtype), x.shape)
    return x


def load(path_or_file: PathOrFile) -> Serializable:
    """Loads any Serializable from its file, as the class recorded in it.

    Only classes that are already imported can be resolved; nothing named in the
    file is imported.
    """
    return Serializable.deserialize(path_or_file)
