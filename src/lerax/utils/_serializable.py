"""The `Serializable` mixin and the generic `load`."""

from pathlib import Path
from typing import Any, Self, TypeVar

import equinox as eqx
import jax
import numpy as np

from .. import __version__
from ._encoding import RecordedArgs, encode_value
from ._errors import SerializationError, cut
from ._files import PathOrFile, opened_for_reading, opened_for_writing
from ._leaves import NumpySpec
from ._manifest import Manifest, read_manifest
from ._reader import read_leaves
from ._structure import rebuild
from ._trust import class_name, lookup_class, register_class
from ._writer import write_tree

__all__ = ["Serializable", "load"]

_T = TypeVar("_T")


class _SerializableMeta(type(eqx.Module)):  # pyright: ignore[reportGeneralTypeIssues]
    def __call__(cls: type[_T], *args: Any, **kwargs: Any) -> _T:  # pyright: ignore[reportGeneralTypeIssues]
        self = super().__call__(*args, **kwargs)  # pyright: ignore[reportAttributeAccessIssue]
        encoded = {
            "args": [encode_value(a) for a in args],
            "kwargs": {k: encode_value(v) for k, v in kwargs.items()},
        }
        # The instance is frozen by now; this is how equinox itself sets fields.
        object.__setattr__(self, "_lerax_args", RecordedArgs(encoded))
        return self


class Serializable(eqx.Module, metaclass=_SerializableMeta):
    """Mixin giving an Equinox module ``serialize`` and ``deserialize``.

    A file records the object's structure, so it loads with no constructor
    arguments at all; given arguments, they build the skeleton the file must fit.
    Loading never imports a module, never runs a constructor or function a file
    chooses, and checks everything before reading an array (see
    docs/security.md). Example:

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

    _lerax_args: RecordedArgs | None = eqx.field(
        default=None, static=True, init=False, repr=False
    )

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        register_class(cls)

    def serialize(self, path_or_file: PathOrFile) -> Path | None:
        """Saves this module to a ``.eqx`` file.

        Args:
            path_or_file: a path (``.eqx`` is appended when it has no suffix; missing
                folders are created; a symbolic link is written through) or a
                binary file object opened for writing. A path is replaced
                atomically and keeps its permissions: an existing file survives
                any failure.

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
        """Loads a module written by `serialize` or ``eqx.tree_serialise_leaves``.

        Without arguments, the object is rebuilt from the structure recorded in
        the file, creating registered classes only and calling none of their
        constructors. With arguments, ``cls(*args, **kwargs)`` is built abstractly
        (``eqx.filter_eval_shape``: no weights are initialised) and the file must
        fit it. Either way everything is checked before any array is read, and
        every stored leaf comes from the file.

        Args:
            path_or_file: a path or a binary file object.
            *args: constructor arguments; those deciding structure must match the
                file, the others (e.g. keys) are overwritten by it.
            **kwargs: keyword constructor arguments.

        Raises:
            FileNotFoundError: the file does not exist.
            SerializationError: the file is damaged, of another class, names a
                class or function the loader does not trust, or does not fit the
                skeleton; the message names the leaf or field.
        """
        with opened_for_reading(path_or_file) as (f, where):
            manifest = read_manifest(f, where)
            recorded = None if manifest is None else manifest.class_name
            if args or kwargs:
                if recorded is not None and not _is_named(cls, recorded):
                    raise SerializationError(
                        f"{where}: the file holds a {cut(recorded)}, not a "
                        f"{class_name(cls)}"
                    )
                skeleton = _skeleton(cls, args, kwargs)
            elif manifest is None:
                raise SerializationError(
                    f"{where}: the file has no lerax metadata (written by plain "
                    "equinox?), so pass the constructor arguments: "
                    f"{cls.__name__}.deserialize(path, ...)"
                )
            else:
                skeleton = _recorded_skeleton(cls, manifest, where)
            return read_leaves(f, manifest, skeleton, where)


def _is_named(cls: type, name: str) -> bool:
    return name in (class_name(cls), f"{cls.__module__}:{cls.__qualname__}")


def _skeleton(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Builds ``cls(*args, **kwargs)`` abstractly: shapes and dtypes only."""

    def construct() -> Any:
        # NumPy leaves would come out as ShapeDtypeStructs and load as JAX arrays;
        # hide them from eval_shape so that NumPy stays NumPy.
        return jax.tree.map(_numpy_spec, cls(*args, **kwargs))

    return eqx.filter_eval_shape(construct)


def _numpy_spec(x: Any) -> Any:
    return NumpySpec(x.shape, x.dtype) if isinstance(x, np.ndarray) else x


def _recorded_skeleton(cls: type, manifest: Manifest, where: str) -> Any:
    """Rebuilds the skeleton from the structure recorded in a file."""
    recorded = manifest.class_name
    if recorded is None:
        raise SerializationError(
            f"{where}: the file holds a plain pytree (save_tree), not a "
            f"{class_name(cls)}; read it with load_tree"
        )
    target = lookup_class(recorded)
    if target is None or not issubclass(target, Serializable):
        raise SerializationError(
            f"{where}: the class {cut(recorded)} recorded in the file is not "
            "a registered Serializable; lerax never imports a module named in a "
            "file, so import the module defining it first"
        )
    if not issubclass(target, cls):
        raise SerializationError(
            f"{where}: the file holds a {cut(recorded)}, not a {class_name(cls)}"
        )
    if manifest.tree is None:
        raise SerializationError(
            f"{where}: the file records no structure to rebuild the object from "
            "(written by an older lerax); pass the constructor arguments: "
            f"{target.__name__}.deserialize(path, ...)"
        )
    try:
        skeleton = rebuild(manifest.tree, manifest.leaves)
    except ValueError as e:
        raise SerializationError(f"{where}: cannot rebuild the object: {e}") from None
    if type(skeleton) is not target:
        raise SerializationError(
            f"{where}: the recorded structure is not a {cut(recorded)}"
        )
    return skeleton


def load(path_or_file: PathOrFile) -> Serializable:
    """Loads any Serializable from its file, as the class recorded in it.

    Only registered classes can be rebuilt (a `Serializable` subclass registers
    itself when its module is imported); nothing named in the file is imported.
    """
    return Serializable.deserialize(path_or_file)
