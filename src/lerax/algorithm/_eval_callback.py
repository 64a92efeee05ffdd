"""A callback for `learn` that evaluates the policy and keeps the best one."""

import os
from pathlib import Path
from typing import Any, final

import jax
from jaxtyping import Array, Key

from lerax.env import AbstractEnv

from ._evaluate import evaluate

__all__ = ["EvalCallback"]


@final
class EvalCallback:
    """Evaluates every `every` timesteps; saves each new best policy atomically.

    Pass it as ``learn(..., callback=EvalCallback(...))``. `learn` calls
    callbacks after each jitted chunk (``checkpoint_every`` iterations), so
    evaluations happen at the first chunk end at or after each multiple of
    `every`. Evaluation uses a key folded from `key` and the timestep, so the
    same run evaluates the same episodes, resumed or not.

    Args:
        env: The evaluation environment (unbatched).
        every: Timesteps between evaluations.
        path: Where to save the best policy (``policy.serialize``, atomic); None
            to only record the evaluations.
        key: PRNG key of the evaluation episodes.
        num_episodes: Episodes per evaluation.
        deterministic: Evaluate ``policy.predict``'s actions.

    Attributes:
        evaluations: ``(timesteps, mean return)`` of every evaluation so far.
        best: The best mean return so far (``-inf`` before the first).
    """

    def __init__(
        self,
        env: AbstractEnv,
        every: int,
        path: str | os.PathLike[str] | None = None,
        *,
        key: Key[Array, ""],
        num_episodes: int = 10,
        deterministic: bool = True,
    ):
        if isinstance(every, bool) or int(every) != every or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.env = env
        self.every = int(every)
        self.path = None if path is None else Path(path)
        self.key = key
        self.num_episodes = num_episodes
        self.deterministic = deterministic
        self.evaluations: list[tuple[int, float]] = []
        self.best = float("-inf")
        self._next = self.every

    def __call__(self, timesteps: int, policy: Any) -> None:
        if timesteps < self._next:
            return
        self._next = (timesteps // self.every + 1) * self.every
        returns = evaluate(
            self.env,
            policy,
            key=jax.random.fold_in(self.key, timesteps),
            num_episodes=self.num_episodes,
            deterministic=self.deterministic,
        )
        mean = float(returns.mean())
        self.evaluations.append((timesteps, mean))
        if mean > self.best:
            self.best = mean
            if self.path is not None:
                policy.serialize(self.path)
