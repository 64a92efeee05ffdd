"""Abstract base class of all algorithms: the jitted, checkpointable training loop."""

import abc
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

import equinox as eqx
import jax
from jaxtyping import Array, Key, Shaped

from lerax.env import AbstractEnv
from lerax.utils import Serializable

from . import _progress
from ._checkpoint import CheckpointWriter, load_checkpoint
from ._history import History, record
from ._logging import AbstractLogger
from ._policies import Policy
from ._state import AbstractTrainingState

PolicyT = TypeVar("PolicyT", bound=Policy)
StateT = TypeVar("StateT", bound=AbstractTrainingState)

Callback = Callable[[int, Any], bool | None]


class AbstractAlgorithm(Serializable, Generic[StateT]):
    """A reinforcement-learning algorithm: hyperparameters plus a training loop.

    An algorithm object holds only hyperparameters, as plain Python fields, so it
    serializes (and compares) by value. Training runs `train_iteration` in a
    `jax.lax.scan` under `jax.jit`, in chunks of ``checkpoint_every`` iterations;
    between chunks the host may write a checkpoint, call a callback, or stop.

    Subclasses implement `init_state` and `train_iteration`.

    Attributes:
        num_envs: Number of parallel environments.
        num_steps: Steps per environment in each iteration.
    """

    num_envs: eqx.AbstractVar[int]
    num_steps: eqx.AbstractVar[int]

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps per iteration, over all environments."""
        return self.num_envs * self.num_steps

    def num_iterations(self, total_timesteps: int) -> int:
        """Iterations in a run of `total_timesteps` (rounded down).

        Raises:
            ValueError: If that is less than one iteration.
        """
        iterations = int(total_timesteps) // self.steps_per_iteration
        if iterations < 1:
            raise ValueError(
                f"total_timesteps={total_timesteps} is less than one iteration "
                f"({self.num_envs} envs x {self.num_steps} steps = "
                f"{self.steps_per_iteration})"
            )
        return iterations

    @abc.abstractmethod
    def init_state(
        self,
        env: AbstractEnv,
        policy: Policy,
        total_iterations: int,
        *,
        key: Key[Array, ""],
    ) -> StateT:
        """Builds the state a run of `total_iterations` iterations starts from.

        Must be traceable (it is run under `jax.jit` and `eqx.filter_eval_shape`),
        with ``iteration`` 0 and a history row of length `total_iterations` for
        every metric `train_iteration` returns (see `empty_history`).

        Args:
            env: The environment (unbatched).
            policy: The initial policy.
            total_iterations: Length of the run, in iterations.
            key: PRNG key for everything random in the run.
        """

    @abc.abstractmethod
    def train_iteration(
        self, env: AbstractEnv, state: StateT, total_iterations: int
    ) -> tuple[StateT, Mapping[str, Shaped[Array, ""]]]:
        """Runs one iteration (jitted): collect experience, update the policy.

        Args:
            env: The environment (unbatched).
            state: The state after ``state.iteration`` iterations.
            total_iterations: Length of the run, for schedules.

        Returns:
            ``(state, metrics)``: the new state, with ``iteration`` and ``history``
            left unchanged (the caller records `metrics` and counts the iteration),
            and scalar metrics, each with a history row, including
            ``"num_episodes"`` (episodes that ended in the iteration) and
            ``"episode_return"`` and ``"episode_length"`` (their means; ignored
            when no episode ended).
        """

    def learn(
        self,
        env: AbstractEnv,
        policy: PolicyT,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        progress_bar: bool = False,
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        callback: Callback | None = None,
        logger: AbstractLogger | Sequence[AbstractLogger] | None = None,
    ) -> PolicyT:
        """Trains `policy` on `env` and returns the trained policy.

        The same as `learn_with_history`, without the history.
        """
        policy, _ = self.learn_with_history(
            env,
            policy,
            total_timesteps,
            key=key,
            progress_bar=progress_bar,
            checkpoint_path=checkpoint_path,
            checkpoint_every=checkpoint_every,
            resume_from=resume_from,
            callback=callback,
            logger=logger,
        )
        return policy

    def learn_with_history(
        self,
        env: AbstractEnv,
        policy: PolicyT,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        progress_bar: bool = False,
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        callback: Callback | None = None,
        logger: AbstractLogger | Sequence[AbstractLogger] | None = None,
    ) -> tuple[PolicyT, History]:
        """Trains `policy` on `env`; returns it with the per-iteration history.

        A run is ``total_timesteps // (num_envs * num_steps)`` iterations. They run
        jitted in chunks of `checkpoint_every` iterations (all at once by default);
        after each chunk the host writes the checkpoint and calls the callback.
        The result depends only on the arguments, not on whether a checkpoint is
        written or a progress bar shown, nor on whether the run was interrupted
        and resumed with the same arguments: a resumed run is bit-identical to an
        uninterrupted one.

        Args:
            env: The environment (unbatched; `num_envs` copies run in parallel).
            policy: The initial policy, stateless or stateful. When resuming, only
                its structure is used (as a skeleton); the parameters come from
                the checkpoint.
            total_timesteps: Length of the run in environment steps (rounded down
                to whole iterations); annealing schedules span this length.
            key: PRNG key for the run. When resuming, the checkpoint's key stream
                is continued instead (pass any key of the same type).
            progress_bar: Show a tqdm bar with the latest mean episode return.
            checkpoint_path: Where to save the training state (atomically), after
                every chunk. Without `checkpoint_every`, once at the end. Each
                save is written on a background thread while the next chunk
                runs; the previous save completes before the next starts, and
                the last before this method returns (or raises).
            checkpoint_every: Iterations per jitted chunk, i.e. how often the
                checkpoint is written and the callback called. Keep it the same
                when resuming.
            resume_from: A checkpoint of a run with the same algorithm,
                `total_timesteps`, environment, policy structure and
                `checkpoint_every`, to continue from. A finished run's checkpoint
                returns its policy as is.
            callback: Called on the host after each chunk as
                ``callback(timesteps, policy)``; returning True stops training
                (the history then ends at that iteration). It runs while the
                chunk's checkpoint is being written; `lerax.utils.wait_for_saves`
                waits for it.
            logger: One or more loggers (`CSVLogger`, `TensorBoardLogger`,
                `ConsoleLogger`) given the history after each chunk; a resumed
                run's curves continue where the checkpoint left them. They are
                closed when training ends.

        Returns:
            ``(policy, history)``.

        Raises:
            ValueError: On a run shorter than one iteration, a non-positive
                `checkpoint_every`, or a checkpoint of another run.
            FileNotFoundError: If `resume_from` does not exist.
            lerax.utils.SerializationError: If `resume_from` is damaged or does
                not fit the environment and policy.
        """
        total_iterations = self.num_iterations(total_timesteps)
        if checkpoint_every is None:
            chunk = total_iterations
        elif isinstance(checkpoint_every, bool) or int(checkpoint_every) < 1:
            raise ValueError(
                f"checkpoint_every must be a positive integer, got {checkpoint_every!r}"
            )
        else:
            chunk = min(int(checkpoint_every), total_iterations)
        if resume_from is None:
            state = _init_state(self, env, policy, total_iterations, key)
        else:
            like = eqx.filter_eval_shape(
                _init_state, self, env, policy, total_iterations, key
            )
            state = load_checkpoint(resume_from, self, total_iterations, like)
        steps = self.steps_per_iteration
        iteration = logged = int(state.iteration)
        loggers = (
            []
            if logger is None
            else [logger]
            if isinstance(logger, AbstractLogger)
            else list(logger)
        )
        # Checkpoints are written in the background while the next chunk runs;
        # leaving the block waits for the last one.
        with (
            CheckpointWriter(checkpoint_path, self, total_iterations) as checkpoints,
            _progress.progress_bar(
                progress_bar,
                total_timesteps=total_iterations * steps,
                initial_timesteps=iteration * steps,
                steps_per_iteration=steps,
            ),
        ):
            while iteration < total_iterations:
                state = _run_chunk(
                    self, env, state, chunk, total_iterations, progress_bar
                )
                iteration = int(state.iteration)
                checkpoints.save(state)
                if loggers:
                    history = History.from_arrays(state.history, iteration, steps)
                    for each in loggers:
                        each.log(history, logged)
                    logged = iteration
                if callback is not None and callback(iteration * steps, state.policy):
                    break
        for each in loggers:
            each.close()
        history = History.from_arrays(state.history, iteration, steps)
        return cast(PolicyT, state.policy), history


@eqx.filter_jit
def _init_state(
    algorithm: AbstractAlgorithm,
    env: AbstractEnv,
    policy: Policy,
    total_iterations: int,
    key: Key[Array, ""],
) -> AbstractTrainingState:
    return algorithm.init_state(env, policy, total_iterations, key=key)


@eqx.filter_jit
def _run_chunk(
    algorithm: AbstractAlgorithm,
    env: AbstractEnv,
    state: AbstractTrainingState,
    length: int,
    total_iterations: int,
    progress: bool,
) -> AbstractTrainingState:
    """Runs `length` iterations, or fewer if the run ends first.

    Iterations past the end are skipped with `lax.cond` rather than run in a
    shorter scan, so every chunk of a run is the same compiled program.
    """
    dynamic, static = eqx.partition(state, eqx.is_array)

    def iterate(dynamic: AbstractTrainingState) -> AbstractTrainingState:
        state = eqx.combine(dynamic, static)
        state, metrics = algorithm.train_iteration(env, state, total_iterations)
        iteration = state.iteration + 1
        history = record(state.history, state.iteration, metrics)
        state = eqx.tree_at(
            lambda s: (s.iteration, s.history), state, (iteration, history)
        )
        if progress:
            jax.debug.callback(
                _progress.report,
                iteration,
                metrics["episode_return"],
                metrics["num_episodes"],
            )
        return eqx.filter(state, eqx.is_array)

    def body(
        dynamic: AbstractTrainingState, _: None
    ) -> tuple[AbstractTrainingState, None]:
        dynamic = jax.lax.cond(
            dynamic.iteration < total_iterations, iterate, lambda d: d, dynamic
        )
        return dynamic, None

    dynamic, _ = jax.lax.scan(body, dynamic, length=length)
    return eqx.combine(dynamic, static)
