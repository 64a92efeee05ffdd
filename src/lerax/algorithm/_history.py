"""Per-iteration training curves returned by ``learn_with_history``."""

import dataclasses
from collections.abc import Mapping
from typing import final

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, Shaped

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
