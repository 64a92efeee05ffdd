"""Per-iteration training curves returned by ``learn_with_history``."""

import csv
import dataclasses
import os
from collections.abc import Mapping
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, Shaped

from lerax.utils import MissingExtraError

# Recorded by every algorithm; the rest of an algorithm's metrics go to `metrics`.
EPISODE_METRICS = ("episode_return", "episode_length", "num_episodes")


def empty_history(
    names: tuple[str, ...], total_iterations: int
) -> dict[str, Float[Array, " total_iterations"]]:
    """A zero-filled float32 row per metric, one entry per iteration.

    Zeros rather than NaN markers, so that training runs under `jax_debug_nans`;
    only the rows of completed iterations are ever read.
    """
    return {
        name: jnp.zeros(total_iterations, jnp.float32)
        for name in (*EPISODE_METRICS, *names)
    }


def record(
    history: dict[str, Float[Array, " total_iterations"]],
    iteration: Int[Array, ""],
    values: Mapping[str, Shaped[Array, ""]],
) -> dict[str, Float[Array, " total_iterations"]]:
    """Writes one iteration's metrics into the history arrays (inside jit)."""
    unknown = set(values) - set(history)
    if unknown:
        raise KeyError(f"metrics {sorted(unknown)} have no history row")
    return {
        name: row.at[iteration].set(jnp.asarray(values[name], jnp.float32))
        if name in values
        else row
        for name, row in history.items()
    }


@final
@dataclasses.dataclass(frozen=True)
class History:
    """What happened in each training iteration, as NumPy arrays for plotting.

    All arrays have one entry per completed iteration (of this run and, after a
    resume, of the run it resumed).

    Attributes:
        timesteps: Environment steps taken by the end of each iteration (all
            environments together).
        episode_return: Mean return of the episodes that ended during the
            iteration; NaN if none did.
        episode_length: Mean length of those episodes; NaN if none ended.
        num_episodes: Number of episodes that ended during the iteration.
        metrics: Algorithm-specific per-iteration values, e.g. PPO's
            ``"policy_loss"``, ``"value_loss"``, ``"entropy"``, ``"approx_kl"``,
            ``"clip_fraction"``, ``"learning_rate"`` and ``"clip_coef"``.

    Example:
        ```python
        policy, history = PPO().learn_with_history(env, policy, 100_000, key=key)
        plt.plot(history.timesteps, history.episode_return)
        ```
    """

    timesteps: Int[np.ndarray, " iterations"]
    episode_return: Float[np.ndarray, " iterations"]
    episode_length: Float[np.ndarray, " iterations"]
    num_episodes: Int[np.ndarray, " iterations"]
    metrics: Mapping[str, Float[np.ndarray, " iterations"]]

    def __len__(self) -> int:
        return len(self.timesteps)

    @classmethod
    def from_arrays(
        cls,
        history: Mapping[str, Float[Array, " total_iterations"]],
        iterations: int,
        steps_per_iteration: int,
    ) -> "History":
        """Builds the history of the first `iterations` iterations.

        Args:
            history: The training state's history rows.
            iterations: Number of completed iterations.
            steps_per_iteration: Environment steps per iteration.
        """
        rows = {
            name: np.array(jax.device_get(row))[:iterations]
            for name, row in history.items()
        }
        num_episodes = rows.pop("num_episodes").astype(np.int64)
        episode_return = rows.pop("episode_return")
        episode_length = rows.pop("episode_length")
        episode_return[num_episodes == 0] = np.nan
        episode_length[num_episodes == 0] = np.nan
        return cls(
            timesteps=np.arange(1, iterations + 1, dtype=np.int64)
            * steps_per_iteration,
            episode_return=episode_return,
            episode_length=episode_length,
            num_episodes=num_episodes,
            metrics=rows,
        )

    def columns(self) -> dict[str, np.ndarray]:
        """Every per-iteration series by name, `timesteps` first."""
        return {
            "timesteps": self.timesteps,
            "episode_return": self.episode_return,
            "episode_length": self.episode_length,
            "num_episodes": self.num_episodes,
            **self.metrics,
        }

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Writes one row per iteration (an empty cell where a value is NaN)."""
        columns = self.columns()
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for row in zip(*columns.values(), strict=True):
                writer.writerow(["" if v != v else repr(v.item()) for v in row])

    @classmethod
    def read_csv(cls, path: str | os.PathLike[str]) -> "History":
        """Reads a history written by `to_csv` (e.g. a run folder's history.csv).

        Raises:
            ValueError: if the file lacks a column `History` needs.
        """
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            raise ValueError(f"{path}: an empty history file")
        names, values = rows[0], rows[1:]
        data = {
            name: np.array([float(r[i]) if r[i] else np.nan for r in values])
            for i, name in enumerate(names)
        }
        missing = {"timesteps", *EPISODE_METRICS} - set(data)
        if missing:
            raise ValueError(f"{path}: no column {', '.join(sorted(missing))}")
        return cls(
            timesteps=data.pop("timesteps").astype(np.int64),
            episode_return=data.pop("episode_return"),
            episode_length=data.pop("episode_length"),
            num_episodes=data.pop("num_episodes").astype(np.int64),
            metrics=data,
        )

    def plot(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        metrics: tuple[str, ...] = ("episode_return", "episode_length"),
    ) -> Any:
        """Plots training curves against timesteps (needs matplotlib).

        Args:
            path: Where to save the figure (PNG, SVG, PDF by suffix); None to
                only return it.
            metrics: The series to plot, one panel each: names of `columns`.

        Returns:
            The matplotlib figure.

        Raises:
            MissingExtraError: if matplotlib is not installed (the ``plot``
                extra: ``pip install "lerax[plot]"``).
            KeyError: for an unknown metric name.
        """
        try:
            import matplotlib

            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise MissingExtraError(
                "History.plot needs matplotlib: pip install 'lerax[plot]'",
                extra="plot",
            ) from e
        columns = self.columns()
        unknown = [m for m in metrics if m not in columns]
        if unknown:
            raise KeyError(f"unknown metrics {unknown}; known: {list(columns)}")
        figure, axes = plt.subplots(
            len(metrics), 1, figsize=(7, 2.6 * len(metrics)), sharex=True, squeeze=False
        )
        for ax, name in zip(axes[:, 0], metrics, strict=True):
            # Iterations where no episode ended have NaN returns: skip them.
            values = np.asarray(columns[name], dtype=np.float64)
            finite = np.isfinite(values)
            ax.plot(self.timesteps[finite], values[finite], lw=1.5)
            ax.set_ylabel(name.replace("_", " "))
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("timesteps")
        figure.tight_layout()
        if path is not None:
            figure.savefig(path, dpi=110)
        return figure
