"""Many runs in one program, and runs across devices.

`learn` runs a batch of runs (a batch of keys, a sweep of float hyperparameters)
as one jitted program: the state gets a leading member axis, the state's
initialisation and each iteration are vmapped, and each swept field of the
algorithm is replaced, inside the vmapped function, by that member's traced
scalar. With devices, a batch's runs are split across a one-dimensional mesh
(along the member axis); a single run's per-environment arrays are split along
their environment axis and the rest of its state is replicated. GSPMD
partitions the same jitted program. See ``docs/parallel.md``.
"""

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jax.typing import ArrayLike
from jaxtyping import Array, Float

from lerax.utils import Serializable

from ._history import History
from ._logging import AbstractLogger

if TYPE_CHECKING:
    from ._base import AbstractAlgorithm

    Device: TypeAlias = Any  # jax.Device is a runtime alias type checkers cannot use
else:
    Device = jax.Device

__all__ = [
    "AXIS",
    "Batch",
    "Device",
    "Layout",
    "Plan",
    "SweepValues",
    "member",
    "plan",
]

_T = TypeVar("_T")

# One value per run of a sweep, e.g. ``[1e-3, 3e-4]`` or a NumPy vector.
SweepValues: TypeAlias = ArrayLike | Sequence[float]

# Name of the mesh axis a run's environments, or a batch's runs, are split along.
AXIS: Final = "data"


@final
@dataclasses.dataclass(frozen=True)
class Layout:
    """How the runs of one `learn` call are laid out (hashable: a static
    argument of the jitted functions).

    Attributes:
        size: Number of runs in the batch; None for one run (no member axis).
        key_batched: Whether each run has its own key (else all share one).
        names: The swept fields of the algorithm, in order.
        mesh: The devices a run's environments, or a batch's runs, are split
            across; None for JAX's default placement.
    """

    size: int | None = None
    key_batched: bool = False
    names: tuple[str, ...] = ()
    mesh: Mesh | None = None

    def swept(self, algorithm: _T, values: Mapping[str, Float[Array, ""]] | None) -> _T:
        """`algorithm` with each swept field replaced by its value in `values`
        (one member's traced scalars); `algorithm` itself without a sweep."""
        if not self.names or values is None:
            return algorithm
        return eqx.tree_at(
            lambda a: [getattr(a, name) for name in self.names],
            algorithm,
            [values[name] for name in self.names],
        )

    def shardings(
        self, algorithm: "AbstractAlgorithm", state: Any
    ) -> list[NamedSharding] | None:
        """The sharding of each array of `state` (in the order of
        ``jax.tree.leaves(eqx.filter(state, eqx.is_array))``), or None without
        a mesh.

        The arrays of a batch are split along their leading (member) axis. Those
        of one run are split along their environment axis if they have one
        (`AbstractAlgorithm.env_axes`), and replicated otherwise.
        """
        if self.mesh is None:
            return None
        mesh = self.mesh
        if self.size is not None:
            split = NamedSharding(mesh, PartitionSpec(AXIS))
            return [split] * len(jax.tree.leaves(eqx.filter(state, eqx.is_array)))

        def sharding(axis: int | None, leaf: Any) -> NamedSharding | None:
            if not eqx.is_array(leaf):
                return None
            if axis is None:
                return NamedSharding(mesh, PartitionSpec())
            return NamedSharding(mesh, PartitionSpec(*[None] * axis, AXIS))

        tree = jax.tree.map(
            sharding, algorithm.env_axes(state), state, is_leaf=lambda x: x is None
        )
        return jax.tree.leaves(tree)

    def place(self, algorithm: "AbstractAlgorithm", state: _T) -> _T:
        """`state` moved to the mesh (environment axes split, the rest
        replicated); unchanged without a mesh."""
        shardings = self.shardings(algorithm, state)
        if shardings is None or self.mesh is None:
            return state
        dynamic, static = eqx.partition(state, eqx.is_array)
        leaves, treedef = jax.tree.flatten(dynamic)
        placed = _put(leaves, shardings, self.mesh)
        return eqx.combine(jax.tree.unflatten(treedef, placed), static)

    def gather(self, state: _T) -> _T:
        """`state` with every array whole in this process, on its default
        device, as a checkpoint, the history and the returned policy need
        (every process calls it, in the same order); `state` itself in a
        single process."""
        if self.mesh is None or jax.process_count() == 1:
            return state
        dynamic, static = eqx.partition(state, eqx.is_array)
        return eqx.combine(jax.tree.map(_local, dynamic), static)


def _put(
    arrays: list[Array], shardings: list[NamedSharding], mesh: Mesh
) -> list[Array]:
    """`arrays` (whole, the same in every process) laid out as `shardings`
    say, on `mesh`."""
    if all(d.process_index == jax.process_index() for d in mesh.devices.flat):
        return jax.device_put(arrays, shardings)
    # Several processes: each has the whole value and keeps its own part.
    return [_global(x, s) for x, s in zip(arrays, shardings, strict=True)]


def _is_key(x: Array) -> bool:
    return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _global(x: Array, sharding: NamedSharding) -> Array:
    """The array of `sharding` (spanning processes) whose value is `x`, the
    same in every process."""
    if _is_key(x):
        data = _global(jax.random.key_data(x), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    value = np.asarray(jax.device_get(x))
    return jax.make_array_from_callback(value.shape, sharding, lambda i: value[i])


def _local(x: Array) -> Array:
    """The whole value of `x` (which may span processes), on this process's
    default device. Collective: every process calls it in the same order."""
    if _is_key(x):
        data = _local(jax.random.key_data(x))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    if x.is_fully_addressable:
        return x
    if x.is_fully_replicated:
        return jnp.asarray(x.addressable_data(0))
    return jnp.asarray(multihost_utils.process_allgather(x, tiled=True))


def constrain(dynamic: _T, shardings: list[NamedSharding] | None) -> _T:
    """Inside jit: keeps the arrays of `dynamic` (a filtered state) laid out as
    `shardings` says (nothing without a mesh)."""
    if shardings is None:
        return dynamic
    leaves, treedef = jax.tree.flatten(dynamic)
    leaves = jax.lax.with_sharding_constraint(leaves, shardings)
    return jax.tree.unflatten(treedef, leaves)


@final
class Batch(Serializable):
    """What the checkpoint of a batch of runs is valid for.

    A checkpoint of a batch records this in place of the algorithm: resuming
    needs the same algorithm, number of runs and sweep.

    Attributes:
        algorithm: The algorithm (the swept fields keep their value outside the
            sweep).
        size: Number of runs.
        sweep: The swept fields and their values, one per run.
    """

    algorithm: Serializable
    size: int
    sweep: dict[str, tuple[float, ...]]

    def __init__(
        self,
        algorithm: Serializable,
        size: int,
        sweep: Mapping[str, Sequence[float]],
    ):
        """Records a batch of `size` runs of `algorithm` with `sweep`."""
        self.algorithm = algorithm
        self.size = int(size)
        self.sweep = {name: tuple(map(float, v)) for name, v in sweep.items()}


@final
@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated `learn` call: its layout and the swept values.

    Attributes:
        layout: How the runs are laid out.
        values: Each swept field's values, one per run: weakly typed float
            arrays, so that inside the run they act as the Python floats they
            replace.
        config: What its checkpoints record as the algorithm: the algorithm for
            one run, a `Batch` for a batch.
    """

    layout: Layout
    values: dict[str, Array] | None
    config: Serializable

    @property
    def size(self) -> int | None:
        """Number of runs in the batch (None for one run)."""
        return self.layout.size

    @contextlib.contextmanager
    def tracing(self) -> Iterator[None]:
        """Explains the error of a swept field used in Python control flow
        (``if self.field > 0:``), which cannot depend on a traced value.

        Raises:
            ValueError: From JAX's concretization error, naming the swept
                fields.
        """
        try:
            yield
        except jax.errors.ConcretizationTypeError as e:
            if not self.layout.names:
                raise
            raise ValueError(
                f"cannot sweep {', '.join(map(repr, self.layout.names))}: "
                f"{type(getattr(self.config, 'algorithm', self.config)).__name__} "
                "uses a swept field where "
                "a Python value is needed (e.g. in an if statement or as a shape), "
                "so it must be fixed when the program is compiled; run one learn "
                "call per value"
            ) from e

    def loggers(
        self,
        logger: AbstractLogger | Sequence[Any] | None,
    ) -> list[list[AbstractLogger]]:
        """The loggers of each run (one list for one run).

        Raises:
            ValueError: With a batch, unless `logger` is None or has one entry
                (None, a logger or a list of loggers) per run.
        """
        if self.size is None:
            if logger is None:
                return [[]]
            if isinstance(logger, AbstractLogger):
                return [[logger]]
            return [list(logger)]
        if logger is None:
            return [[] for _ in range(self.size)]
        if isinstance(logger, AbstractLogger) or len(logger) != self.size:
            raise ValueError(
                f"with a batch of {self.size} runs, logger must be a sequence of "
                f"{self.size} entries, one per run (None, a logger or a list of "
                f"loggers), got {logger!r}"
            )
        return [
            []
            if each is None
            else [each]
            if isinstance(each, AbstractLogger)
            else list(each)
            for each in logger
        ]

    def histories(
        self,
        history: Mapping[str, Array],
        iterations: int,
        steps_per_iteration: int,
    ) -> list[History]:
        """The `History` of each run (one for one run), copied to the host once."""
        rows = jax.device_get(self.layout.gather(dict(history)))
        if self.size is None:
            return [History.from_arrays(rows, iterations, steps_per_iteration)]
        return [
            History.from_arrays(
                {name: row[i] for name, row in rows.items()},
                iterations,
                steps_per_iteration,
            )
            for i in range(self.size)
        ]


def iterations_done(iteration: Array) -> int:
    """Completed iterations of a run, or of a batch (its members step together,
    so any member's count, e.g. one this process holds, is theirs)."""
    if isinstance(iteration, jax.Array) and not iteration.is_fully_addressable:
        iteration = iteration.addressable_shards[0].data
    return int(np.asarray(jax.device_get(iteration)).reshape(-1)[0])


def checkpoint_written(path: object) -> None:
    """With several processes, waits until the first one (which writes the
    checkpoints) has finished writing the last, so that no process returns,
    and then resumes, from an older one."""
    if path is not None and jax.process_count() > 1:
        multihost_utils.sync_global_devices("lerax: last checkpoint written")


def _key_batch(key: Any) -> int | None:
    """The number of keys in `key` if it is a batch, None for one key.

    Raises:
        ValueError: If `key` is neither one key nor a one-dimensional batch.
    """
    shape, dtype = np.shape(key), getattr(key, "dtype", None)
    typed = dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)
    # Raw keys have one more axis than typed ones: their key data.
    rank = len(shape) - (0 if typed else 1)
    if rank == 0:
        return None
    if rank == 1:
        if shape[0] < 1:
            raise ValueError("key is an empty batch of keys")
        return shape[0]
    raise ValueError(
        "key must be one PRNG key or a batch of them: shape () or (n,) for keys "
        "from jax.random.key, (2,) or (n, 2) for raw uint32 keys from "
        f"jax.random.PRNGKey; got shape {shape} and dtype {dtype}"
    )


def _sweep_values(
    algorithm: Serializable, sweep: Mapping[str, SweepValues]
) -> dict[str, np.ndarray]:
    """Each swept field's values as float64 NumPy vectors, checked.

    Raises:
        ValueError: For a name that is not a float field of `algorithm`, or
            values that are not a non-empty vector of finite numbers.
    """
    fields = {
        f.name
        for f in dataclasses.fields(algorithm)
        if f.init and not f.metadata.get("static", False)
    }
    floats = sorted(
        name for name in fields if type(getattr(algorithm, name, None)) is float
    )
    kind = type(algorithm).__name__
    values = {}
    for name, given in sweep.items():
        current = getattr(algorithm, name, None)
        if name not in fields:
            raise ValueError(
                f"cannot sweep {name!r}: {kind} has no such hyperparameter "
                f"(float hyperparameters, which can be swept: {', '.join(floats)})"
            )
        if isinstance(current, bool):
            raise ValueError(
                f"cannot sweep {name!r}: it is a bool, which chooses code paths "
                "(Python control flow) fixed when the program is compiled; run "
                "one learn call per value"
            )
        if isinstance(current, int):
            raise ValueError(
                f"cannot sweep {name!r}: it is an int, which sets array shapes, "
                "loop lengths or Python control flow fixed when the program is "
                "compiled; run one learn call per value"
            )
        if not isinstance(current, float):
            raise ValueError(
                f"cannot sweep {name!r}: it is a {type(current).__name__}, not a "
                f"float (float hyperparameters of {kind}: {', '.join(floats)})"
            )
        try:
            vector = np.asarray(given, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"sweep[{name!r}] must be a vector of numbers, got {given!r}"
            ) from e
        if vector.ndim != 1 or vector.size == 0:
            raise ValueError(
                f"sweep[{name!r}] must be a non-empty vector (one value per run), "
                f"got shape {vector.shape}"
            )
        if not np.isfinite(vector).all():
            raise ValueError(f"sweep[{name!r}] has non-finite values: {vector}")
        values[name] = vector
    return values


def _check_settings(algorithm: Serializable, values: dict[str, np.ndarray]) -> None:
    """Rebuilds `algorithm` with each run's values, so that its constructor's
    checks apply (e.g. ``gamma`` in [0, 1]).

    Algorithms whose constructor does not take their fields by name are not
    rebuilt (their values are only checked to be finite).

    Raises:
        ValueError: If the constructor rejects a run's values.
    """
    size = len(next(iter(values.values())))
    for i in range(size):
        setting = {name: float(v[i]) for name, v in values.items()}
        try:
            dataclasses.replace(algorithm, **setting)
        except TypeError:
            return
        except ValueError as e:
            raise ValueError(f"sweep: run {i} ({setting}): {e}") from e


def _mesh(devices: Sequence[Device], split: int, what: str) -> Mesh:
    """A one-dimensional mesh over `devices`, which share `split` things
    (`what`, for the error message).

    Raises:
        ValueError: If `devices` is empty, repeats a device, or their number does
            not divide `split`.
    """
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise ValueError(
            f"devices must be a non-empty sequence of jax.Device, got {devices!r}"
        )
    if len(set(devices)) != len(devices):
        raise ValueError(f"devices lists a device twice: {devices}")
    if split % len(devices):
        raise ValueError(
            f"{what} is not divisible by the number of devices ({len(devices)}): "
            "each device takes an equal share"
        )
    return Mesh(np.asarray(devices), (AXIS,))


def plan(
    algorithm: "AbstractAlgorithm",
    key: Any,
    sweep: Mapping[str, SweepValues] | None,
    devices: Sequence[Device] | None,
) -> Plan:
    """Validates the batch and device arguments of a `learn` call.

    Raises:
        ValueError: For a key that is neither one key nor a batch, a sweep of an
            unknown or non-float field or of values the algorithm rejects,
            lengths that disagree, an empty sweep with one key, or devices
            whose number does not divide ``num_envs`` (one run) or the number
            of runs (a batch).
    """
    keys = _key_batch(key)
    values = {} if sweep is None else _sweep_values(algorithm, sweep)
    lengths = {name: len(v) for name, v in values.items()}
    if keys is not None:
        lengths = {"key": keys, **lengths}
    if sweep is not None and not lengths:
        raise ValueError(
            "an empty sweep with one key is not a batch: pass sweep=None for one "
            "run, or a batch of keys"
        )
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "the batch's lengths disagree: "
            + ", ".join(f"{name}: {n}" for name, n in lengths.items())
            + " (each swept value and each key is one run)"
        )
    size = next(iter(lengths.values()), None)
    if size is None:  # one run: its environments are split across the devices
        mesh = (
            None
            if devices is None
            else _mesh(devices, algorithm.num_envs, f"num_envs={algorithm.num_envs}")
        )
        return Plan(Layout(mesh=mesh), None, algorithm)
    # A batch: its runs are split across the devices.
    mesh = (
        None
        if devices is None
        else _mesh(devices, size, f"the number of runs ({size})")
    )
    if values:
        _check_settings(algorithm, values)
    # Weakly typed, as the Python floats they replace (stacked weak scalars
    # stay weak): they take the dtype of the arrays they meet.
    traced = {
        name: jnp.stack([jnp.asarray(float(x)) for x in v])
        for name, v in values.items()
    }
    if mesh is not None:
        split = NamedSharding(mesh, PartitionSpec(AXIS))
        traced = dict(
            zip(
                traced,
                _put(list(traced.values()), [split] * len(traced), mesh),
                strict=True,
            )
        )
    layout = Layout(
        size=size,
        key_batched=keys is not None,
        names=tuple(values),
        mesh=mesh,
    )
    record = {name: tuple(float(x) for x in v) for name, v in values.items()}
    return Plan(layout, traced, Batch(algorithm, size, record))


def member(batch: _T, index: int) -> _T:
    """Run `index` of a batch of runs: e.g. one policy of those `learn` returns
    for a batch of keys or a sweep.

    Every array of `batch` loses its leading (member) axis; everything else is
    kept.

    Args:
        batch: A pytree whose arrays have a leading member axis.
        index: Which member.

    Returns:
        The member, e.g. a policy to evaluate, save or keep training.
    """
    dynamic, static = eqx.partition(batch, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: x[index], dynamic), static)
