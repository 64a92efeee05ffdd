"""Writing and reading training checkpoints."""

import dataclasses
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, overload

from lerax.utils import (
    SaveHandle,
    Serializable,
    SerializationError,
    load_tree,
    save_tree,
)

from ._state import AbstractTrainingState


@overload
def save_checkpoint(
    path: str | os.PathLike[str],
    algorithm: Serializable,
    total_iterations: int,
    state: AbstractTrainingState,
    *,
    blocking: Literal[True] = True,
) -> Path | None: ...


@overload
def save_checkpoint(
    path: str | os.PathLike[str],
    algorithm: Serializable,
    total_iterations: int,
    state: AbstractTrainingState,
    *,
    blocking: Literal[False],
) -> SaveHandle: ...


def save_checkpoint(
    path: str | os.PathLike[str],
    algorithm: Serializable,
    total_iterations: int,
    state: AbstractTrainingState,
    *,
    blocking: bool = True,
) -> Path | SaveHandle | None:
    """Saves `state` (atomically), together with what it is only valid for.

    The algorithm's hyperparameters and the run's length in iterations are stored
    alongside the state: the schedules and the history's length depend on them.
    With ``blocking=False`` the state is copied to host memory and written on a
    background thread; the returned `SaveHandle` waits for it.
    """
    tree = {
        "algorithm": algorithm,
        "total_iterations": total_iterations,
        "state": state,
    }
    if blocking:
        return save_tree(path, tree)
    return save_tree(path, tree, blocking=False)


class CheckpointWriter:
    """Writes a run's checkpoints in the background, one at a time.

    Each `save` waits for the previous save (raising its error), then starts
    the next and returns once the state is copied to host memory, so the
    training that follows overlaps with the disk write. Leaving the ``with``
    block waits for the last save; an exception leaving the block keeps going,
    with a failed save noted on it. Every save is atomic: a crash at any point
    leaves the previous checkpoint intact. A writer without a path saves
    nothing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        algorithm: Serializable,
        total_iterations: int,
    ):
        self._path = path
        self._algorithm = algorithm
        self._total_iterations = total_iterations
        self._pending: SaveHandle | None = None

    def save(self, state: AbstractTrainingState) -> None:
        """Starts saving `state` once the previous save is complete.

        Raises:
            lerax.utils.SerializationError, OSError: the previous save failed.
        """
        if self._path is None:
            return
        self.wait()
        self._pending = save_checkpoint(
            self._path, self._algorithm, self._total_iterations, state, blocking=False
        )

    def wait(self) -> None:
        """Waits for the pending save, if any, and raises its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.__exit__(kind, error, traceback)


def load_checkpoint(
    path: str | os.PathLike[str],
    algorithm: Serializable,
    total_iterations: int,
    like: AbstractTrainingState,
) -> AbstractTrainingState:
    """Loads a state written by `save_checkpoint` for the same run.

    Args:
        path: The checkpoint file.
        algorithm: The algorithm that is resuming; must equal the saved one.
        total_iterations: The run's length in iterations; must equal the saved
            one.
        like: Skeleton of the state (e.g. from `eqx.filter_eval_shape`).

    Raises:
        FileNotFoundError: If there is no such file.
        lerax.utils.SerializationError: If the file is damaged or does not fit
            `like` (e.g. another policy architecture or number of environments).
        ValueError: If the hyperparameters differ.
    """
    try:
        tree = load_tree(
            path,
            {
                "algorithm": algorithm,
                "total_iterations": total_iterations,
                "state": like,
            },
        )
    except SerializationError as e:
        e.add_note(
            "A checkpoint only fits a run with the same total_timesteps (which sets "
            "the history's length), num_envs, environment and policy structure, "
            "and a key of the same type."
        )
        raise
    saved = tree["algorithm"]
    if saved != algorithm:
        raise ValueError(
            f"{path}: the checkpoint was written with other hyperparameters "
            f"({_differences(saved, algorithm)}); resume with the same "
            f"{type(algorithm).__name__}"
        )
    if tree["total_iterations"] != total_iterations:
        raise ValueError(
            f"{path}: the checkpoint belongs to a run of "
            f"{tree['total_iterations']} iterations, not {total_iterations}; the "
            "schedules depend on it, so resume with the same total_timesteps"
        )
    return tree["state"]


def _differences(saved: Any, current: Any) -> str:
    diffs = [
        f"{f.name}: saved {getattr(saved, f.name)!r}, now {getattr(current, f.name)!r}"
        for f in dataclasses.fields(current)
        if getattr(saved, f.name) != getattr(current, f.name)
    ]
    return "; ".join(diffs) or "different class"
