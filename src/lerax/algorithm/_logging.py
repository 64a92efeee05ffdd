"""Loggers: where `learn` writes each chunk's training curves (CSV, TensorBoard,
the console)."""

import abc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO, final

import numpy as np

from lerax.utils import MissingExtraError

from ._history import History

__all__ = ["AbstractLogger", "CSVLogger", "ConsoleLogger", "TensorBoardLogger"]


class AbstractLogger(abc.ABC):
    """Receives the training history after every chunk of `learn`.

    `learn` calls `log` on the host after each jitted chunk (every
    ``checkpoint_every`` iterations, or once at the end), with the whole history
    so far, a resumed run's earlier iterations included, and the index of the
    first row not logged before in this process. So curves continue across a
    resume: a logger writes rows ``history[start:]``, or rewrites everything.
    """

    @abc.abstractmethod
    def log(self, history: History, start: int) -> None:
        """Records rows ``start:`` of `history` (earlier rows were logged)."""

    def close(self) -> None:  # noqa: B027 (most loggers have nothing to close)
        """Flushes and releases what the logger holds; `learn` calls it last."""


@final
class CSVLogger(AbstractLogger):
    """Writes the whole history to a CSV file (one row per iteration) each time.

    Args:
        path: The file; its folder is created.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def log(self, history: History, start: int) -> None:
        del start  # the whole history is rewritten: resumed runs continue it
        self.path.parent.mkdir(parents=True, exist_ok=True)
        history.to_csv(self.path)


@final
class ConsoleLogger(AbstractLogger):
    """Prints one line per chunk: timesteps, mean return, and chosen metrics.

    Args:
        metrics: Extra series to print (names of `History.columns`).
        stream: Where to print (standard output by default).
    """

    def __init__(self, metrics: Sequence[str] = (), stream: TextIO | None = None):
        self.metrics = tuple(metrics)
        self.stream = stream

    def log(self, history: History, start: int) -> None:
        if len(history) <= start:
            return
        columns = history.columns()
        recent = history.episode_return[start:]
        mean = float(np.nanmean(recent)) if np.any(recent == recent) else float("nan")
        parts = [f"timesteps {int(history.timesteps[-1]):>10,}", f"return {mean:8.2f}"]
        parts += [f"{m} {float(columns[m][-1]):.4g}" for m in self.metrics]
        print("  ".join(parts), file=self.stream or sys.stdout, flush=True)


@final
class TensorBoardLogger(AbstractLogger):
    """Writes every series as TensorBoard scalars, against timesteps.

    Needs tensorboardX (the ``tensorboard`` extra). A resumed run appends to the
    same folder from the first new iteration, so its curves continue.

    Args:
        logdir: The TensorBoard run folder.
    """

    def __init__(self, logdir: str | os.PathLike[str]):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise MissingExtraError(
                "TensorBoardLogger needs tensorboardX: pip install "
                "'lerax[tensorboard]'",
                extra="tensorboard",
            ) from e
        self.logdir = Path(logdir)
        self._writer: Any = SummaryWriter(str(self.logdir))

    def log(self, history: History, start: int) -> None:
        columns = history.columns()
        for i in range(start, len(history)):
            step = int(history.timesteps[i])
            for name, series in columns.items():
                value = float(series[i])
                if name != "timesteps" and value == value:
                    self._writer.add_scalar(f"train/{name}", value, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
