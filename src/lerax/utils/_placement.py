"""Where loaded arrays go: a device, a sharding, or a choice per leaf.

Files record no device layout: a file written from arrays sharded over several
devices holds whole arrays, like any other, and loads anywhere. Each reader places
every JAX array it loads (typed PRNG keys included) by the first of:

1. the `placement` argument of the call (``load``, ``load_tree``, ``load_leaves``,
   ``load_tree_distributed``);
2. the innermost `placed` block around the call, which reaches readers that take
   no such argument (``Cls.deserialize``, whose keywords belong to the
   constructor, and library code such as resuming training);
3. the sharding of the skeleton's leaf (a real array or a
   ``jax.ShapeDtypeStruct(..., sharding=...)`` in ``like``);
4. JAX's default device.

NumPy arrays and scalars and Python scalars stay on the host.
"""

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

import jax
from jax.sharding import Sharding, SingleDeviceSharding

from ._errors import SerializationError, cut
from ._leaves import Expected

__all__ = ["Placement", "check_placement", "current_placement", "placed", "target"]

if TYPE_CHECKING:
    Device: TypeAlias = Any  # jax.Device is a runtime alias type checkers cannot use
else:
    Device = jax.Device

Placement: TypeAlias = (
    Device | Sharding | Callable[[str, jax.ShapeDtypeStruct], Device | Sharding | None]
)

_CURRENT: contextvars.ContextVar[Placement | None] = contextvars.ContextVar(
    "lerax_placement", default=None
)


def check_placement(placement: Any) -> None:
    """Raises TypeError unless `placement` is None, a device, a sharding or a
    function.

    Raises:
        TypeError: for anything else.
    """
    if placement is None or isinstance(placement, jax.Device | Sharding):
        return
    if not callable(placement) or isinstance(placement, type):
        raise TypeError(
            "placement must be a jax.Device, a jax.sharding.Sharding or a function "
            f"(path, jax.ShapeDtypeStruct) -> device, sharding or None, got "
            f"{placement!r}"
        )


@contextlib.contextmanager
def placed(placement: Placement) -> Iterator[None]:
    """Places the arrays loaded inside the block, where a call says nothing.

    Readers that take no `placement` argument follow it: ``Cls.deserialize``
    (its keywords belong to the constructor), ``Cls.deserialize_subtree``, and
    library code that loads files, such as resuming training from a checkpoint.
    A reader's own `placement` argument takes precedence over the block; the
    block over the shardings of a ``like`` tree. Blocks nest (the innermost
    wins) and are local to the thread or task that enters them.

    ```python
    from jax.sharding import NamedSharding, PartitionSpec as P

    with lerax.utils.placed(jax.devices()[1]):
        policy = MLPActorCriticPolicy.deserialize("policy.eqx")

    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    with lerax.utils.placed(NamedSharding(mesh, P())):  # replicated on every device
        policy = MLPActorCriticPolicy.deserialize("policy.eqx", env, key=key)
    ```

    Args:
        placement: A `jax.Device`, a `jax.sharding.Sharding` applied to every
            loaded JAX array (it must fit each array's rank and shape, as for
            `jax.device_put`), or a function ``(path, shape_dtype)`` returning a
            device, a sharding or None (the default placement) for each array,
            given its path (``jax.tree_util.keystr``) and a
            `jax.ShapeDtypeStruct` of the array as it will load.

    Raises:
        TypeError: if `placement` is none of these.
    """
    if placement is None:
        raise TypeError("placed() needs a device, a sharding or a function, not None")
    check_placement(placement)
    token = _CURRENT.set(placement)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_placement(placement: Placement | None) -> Placement | None:
    """`placement` if given (checked), else that of the innermost `placed` block.

    Raises:
        TypeError: if `placement` is not a valid placement.
    """
    check_placement(placement)
    return placement if placement is not None else _CURRENT.get()


def target(
    placement: Placement | None, path: str, exp: Expected, where: str
) -> Sharding | None:
    """Where the JAX array loaded for `exp` at `path` goes; None: the default
    device.

    Raises:
        SerializationError: if a placement function raised on this leaf (it was
            given the file's path and shape).
        TypeError: if a placement function returned something else than a
            device, a sharding or None.
    """
    choice: Any = placement
    if callable(placement) and not isinstance(placement, jax.Device | Sharding):
        if exp.kind == "key":
            spec = jax.ShapeDtypeStruct(exp.leaf.shape, exp.leaf.dtype)
        else:
            spec = jax.ShapeDtypeStruct(exp.shape, exp.dtype)
        try:
            choice = placement(path, spec)
        except Exception as e:
            raise SerializationError(
                f"{where}: the placement function failed on leaf {cut(path)} "
                f"({type(e).__name__}: {cut(str(e))})"
            ) from e
    if choice is None:
        return getattr(exp.leaf, "sharding", None)
    if isinstance(choice, jax.Device):
        return SingleDeviceSharding(choice)
    if isinstance(choice, Sharding):
        return choice
    raise TypeError(
        f"the placement function returned {choice!r} for leaf {path}; it must "
        "return a jax.Device, a jax.sharding.Sharding or None"
    )
