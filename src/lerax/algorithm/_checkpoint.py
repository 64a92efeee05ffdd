"""Writing and reading training checkpoints."""

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lerax.utils import SerializationError, load_tree, save_tree

from ._state import TrainingState

if TYPE_CHECKING:
    from ._base import AbstractAlgorithm


def save_checkpoint(
    path: str | os.PathLike[str],
    algorithm: "AbstractAlgorithm",
    total_iterations: int,
    state: TrainingState,
) -> Path | None:
    """Saves `state` (atomically), together with what it is only valid for.

    The algorithm's hyperparameters and the run's length in iterations are stored
    alongside the state: the schedules and the history's length depend on them.
    """
    return save_tree(
        path,
        {"algorithm": algorithm, "total_iterations": total_iterations, "state": state},
    )


def load_checkpoint(
    path: str | os.PathLike[str],
    algorithm: "AbstractAlgorithm",
    total_iterations: int,
    like: TrainingState,
) -> TrainingState:
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
