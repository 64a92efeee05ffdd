"""The `Serializable` mixin and the generic `load`."""

import os
from pathlib import Path
from typing import Any, BinaryIO, Literal, Self, TypeVar, overload

import equinox as eqx
import jax
import numpy as np

from .. import __version__
from ._async import SaveHandle, start_save
from ._encoding import RecordedArgs, encode_value
from ._errors import SerializationError, cut
from ._evolution import Outdated, upgrade
from ._files import PathOrFile, opened_for_reading, opened_for_writing
from ._leaves import NumpySpec
from ._manifest import Manifest, read_manifest
from ._partial import navigate, no_index, parse_prefix, read_part
from ._placement import Placement, check_placement
from ._reader import read_leaves
from ._structure import rebuild
from ._trust import class_name, lookup_class, register_class
from ._upstream import read_fingerprint
from ._writer import prepare_tree, write_prepared

__all__ = ["Serializable", "load"]

_T = TypeVar("_T")
_S = TypeVar("_S", bound="Serializable")


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

    @overload
    def serialize(
        self, path_or_file: PathOrFile, *, blocking: Literal[True] = True
    ) -> Path | None: ...

    @overload
    def serialize(
        self, path_or_file: str | os.PathLike[str], *, blocking: Literal[False]
    ) -> SaveHandle: ...

    def serialize(
        self, path_or_file: PathOrFile, *, blocking: bool = True
    ) -> Path | SaveHandle | None:
        """Saves this module to a ``.eqx`` file.

        Args:
            path_or_file: a path (``.eqx`` is appended when it has no suffix; missing
                folders are created; a symbolic link is written through) or a
                binary file object opened for writing. A path is replaced
                atomically and keeps its permissions: an existing file survives
                any failure.
            blocking: False to return as soon as the arrays are copied to host
                memory and write the file on a background thread (paths only);
                the returned `SaveHandle` waits for it and raises its errors.
                Interpreter exit waits for pending saves.

        Returns:
            The path written (None for a file object), or with ``blocking=False``
            a `SaveHandle`.

        Raises:
            SerializationError: if a leaf cannot be stored (e.g. a tracer).
            ValueError: for ``blocking=False`` with a file object.
        """
        args = self._lerax_args.encoded if self._lerax_args is not None else None
        prepared = prepare_tree(
            self,
            class_name=class_name(type(self)),
            args=args,
            lerax_version=__version__,
            copy=not blocking,
        )
        if not blocking:
            return start_save(path_or_file, prepared)
        with opened_for_writing(path_or_file) as (f, path):
            write_prepared(f, prepared)
        return path

    @classmethod
    def deserialize(cls, path_or_file: PathOrFile, *args: Any, **kwargs: Any) -> Self:
        """Loads a module written by `serialize`, ``eqx.tree_serialise_leaves`` or
        lerax 0.0.x.

        Without arguments, the object is rebuilt from the structure recorded in
        the file, creating registered classes only and calling none of their
        constructors; modules recorded at an older version of their class are
        migrated (see `register_migration`). With arguments,
        ``cls(*args, **kwargs)`` is built abstractly (``eqx.filter_eval_shape``:
        no weights are initialised) and the file must fit it (for a lerax 0.0.x
        file, its structure fingerprint too). Either way everything is checked
        before any array is read, and every stored leaf comes from the file. To
        load one part only, see `deserialize_subtree`. Loaded JAX arrays go to
        JAX's default device, or where a `lerax.utils.placed` block around the
        call says (keywords here all belong to the constructor).

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
        return _load(cls, path_or_file, args, kwargs, None)

    @classmethod
    def deserialize_subtree(
        cls, path_or_file: PathOrFile, prefix: str, *args: Any, **kwargs: Any
    ) -> Any:
        """Loads one part of a module of this class, reading only its bytes.

        ```python
        actor = MLPActorCriticPolicy.deserialize_subtree("policy.eqx", ".actor")
        actor = MLPActorCriticPolicy.deserialize_subtree(
            "policy.eqx", ".actor", env, key=key
        )
        ```

        The file must hold a `cls` (as for `deserialize`). Without arguments the
        part is rebuilt from the recorded structure; with arguments, from the
        same part of ``cls(*args, **kwargs)`` built abstractly, which the file
        must fit. `lerax.utils.load_leaves` does the same for any file.

        Args:
            path_or_file: a path or a binary file object of a lerax file.
            prefix: the part's path as ``jax.tree_util.keystr`` writes it, e.g.
                ``".actor"`` or ``".actor.layers[0].weight"``.
            *args: constructor arguments, as for `deserialize`.
            **kwargs: keyword constructor arguments.

        Returns:
            The part (a module, an array, ...), its stored leaves read from the
            file and checked against their checksums.

        Raises:
            FileNotFoundError: the file does not exist.
            SerializationError: the file is damaged, of another class, has no
                part at `prefix`, has no lerax metadata (plain equinox and lerax
                0.0.x files have no index: load them whole), or does not fit.
            ValueError: `prefix` is not a path, or names nothing in a `cls`
                built from the arguments.
        """
        components = parse_prefix(prefix)
        like = None
        if args or kwargs:
            like = navigate(_skeleton(cls, args, kwargs), components, cls.__name__)
        with opened_for_reading(path_or_file) as (f, where):
            manifest = read_manifest(f, where)
            if manifest is None:
                raise no_index(where)
            if like is None:
                _recorded_class(cls, manifest, where)
            else:
                _check_named(cls, manifest, where)
            return read_part(f, manifest, where, components, like)


def _load(
    cls: type[_S],
    path_or_file: PathOrFile,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    placement: Placement | None,
) -> _S:
    """`Serializable.deserialize`, with the placement of `load`."""
    with opened_for_reading(path_or_file) as (f, where):
        manifest = read_manifest(f, where)
        if args or kwargs:
            _check_named(cls, manifest, where)
            skeleton = _skeleton(cls, args, kwargs)
            return read_leaves(f, manifest, skeleton, where, placement=placement)
        if manifest is None:
            raise _needs_arguments(cls, f, where)
        target = _recorded_class(cls, manifest, where)
        try:
            skeleton, outdated = rebuild(manifest.tree, manifest.leaves)
        except ValueError as e:
            raise SerializationError(
                f"{where}: cannot rebuild the object: {e}"
            ) from None
        root = skeleton.layout.cls if isinstance(skeleton, Outdated) else type(skeleton)
        if root is not target:
            raise SerializationError(
                f"{where}: the recorded structure is not a {cut(manifest.class_name)}"
            )
        loaded = read_leaves(f, manifest, skeleton, where, placement=placement)
        return upgrade(loaded, where) if outdated else loaded


def _check_named(cls: type, manifest: Manifest | None, where: str) -> None:
    """Refuses a file that records a class other than `cls`."""
    recorded = None if manifest is None else manifest.class_name
    if recorded is not None and not _is_named(cls, recorded):
        raise SerializationError(
            f"{where}: the file holds a {cut(recorded)}, not a {class_name(cls)}"
        )


def _needs_arguments(cls: type, f: BinaryIO, where: str) -> SerializationError:
    """The error for a no-argument load of a file without metadata."""
    what = (
        "was written by lerax 0.0.x (a structure fingerprint, then plain equinox data)"
        if read_fingerprint(f) is not None
        else "has no lerax metadata (written by plain equinox?)"
    )
    return SerializationError(
        f"{where}: the file {what}, so pass the constructor arguments: "
        f"{cls.__name__}.deserialize(path, ...)"
    )


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


def _recorded_class(cls: type, manifest: Manifest, where: str) -> type:
    """The registered class a file records, checked to be a `cls` with a
    recorded structure to rebuild it from."""
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
    return target


def load(
    path_or_file: PathOrFile, *, placement: Placement | None = None
) -> Serializable:
    """Loads any Serializable from its file, as the class recorded in it.

    Only registered classes can be rebuilt (a `Serializable` subclass registers
    itself when its module is imported); nothing named in the file is imported.

    ```python
    policy = lerax.utils.load("policy.eqx")
    policy = lerax.utils.load("policy.eqx", placement=jax.devices()[1])
    ```

    Args:
        path_or_file: A path or a binary file object.
        placement: Where the loaded JAX arrays go: a `jax.Device`, a
            `jax.sharding.Sharding` for every array, or a function
            ``(path, jax.ShapeDtypeStruct)`` returning a device, a sharding or
            None for each (see `placed`). By default, the innermost `placed`
            block's, else JAX's default device.

    Raises:
        FileNotFoundError: if the file does not exist.
        SerializationError: if the file is damaged, names a class or function
            the loader does not trust, or an array does not fit `placement`.
        TypeError: if `placement` is not a device, a sharding or a function.
    """
    check_placement(placement)
    return _load(Serializable, path_or_file, (), {}, placement)
