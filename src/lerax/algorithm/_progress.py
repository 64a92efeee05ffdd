"""A tqdm progress bar fed from inside jitted training code.

The jitted code calls `report` through `jax.debug.callback`. `report` is one fixed
module-level function, so the compiled program does not depend on which bar is
shown; it updates whichever bar `progress_bar` has opened.
"""

import contextlib
from collections.abc import Iterator
from typing import final

import jax
import numpy as np
from tqdm.auto import tqdm

_bars: list["_Bar"] = []


@final
class _Bar:
    def __init__(self, bar: tqdm, steps_per_iteration: int):
        self.bar = bar
        self.steps_per_iteration = steps_per_iteration


@contextlib.contextmanager
def progress_bar(
    enabled: bool,
    *,
    total_timesteps: int,
    initial_timesteps: int,
    steps_per_iteration: int,
) -> Iterator[None]:
    """Shows a bar for the duration of the block (nothing if not `enabled`)."""
    if not enabled:
        yield
        return
    bar = _Bar(
        tqdm(
            total=total_timesteps,
            initial=initial_timesteps,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
        ),
        steps_per_iteration,
    )
    _bars.append(bar)
    try:
        yield
    finally:
        # Callbacks run asynchronously; let the last ones land before closing.
        jax.effects_barrier()
        _bars.remove(bar)
        bar.bar.close()


def report(
    iteration: np.ndarray, episode_return: np.ndarray, num_episodes: np.ndarray
) -> None:
    """Host side of the callback: `iteration` iterations done, latest mean return.

    Callbacks may arrive out of order, so the bar only ever moves forward.
    """
    if not _bars:
        return
    bar = _bars[-1]
    timesteps = int(iteration) * bar.steps_per_iteration
    if timesteps > bar.bar.n:
        if num_episodes > 0:
            bar.bar.set_postfix(
                episode_return=f"{float(episode_return):.1f}", refresh=False
            )
        bar.bar.update(timesteps - bar.bar.n)
