"""Abstract base class of all algorithms: the jitted, checkpointable training loop."""

import abc
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast, overload

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key, PyTree, Shaped

from lerax.env import AbstractEnv
from lerax.utils import Serializable, SerializationError

from . import _parallel, _progress
from ._checkpoint import CheckpointWriter, load_checkpoint
from ._history import History, record
from ._logging import AbstractLogger
from ._parallel import Device, SweepValues
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

    def env_axes(self, state: StateT) -> PyTree[int | None]:
        """The environment axis of each leaf of `state`, for `learn`'s devices.

        With ``devices``, `learn` splits every array that has an environment
        axis across the devices along that axis, and replicates every other
        array. By default that is axis 0 of each leaf of ``state.rollout`` (the
        environments' states, observations, recurrent states and running
        episode statistics) and nothing else; an algorithm whose state holds
        other per-environment arrays (e.g. a replay buffer of shape
        ``(capacity, num_envs, ...)``) overrides this to name them too.

        Args:
            state: A state of one run (only its structure is used).

        Returns:
            A pytree with the structure of `state` holding, for each leaf, the
            index of its environment axis, or None to replicate it.
        """
        replicated = jax.tree.map(lambda _: None, state)
        per_env = jax.tree.map(lambda _: 0, state.rollout)
        return eqx.tree_at(
            lambda s: s.rollout, replicated, per_env, is_leaf=lambda x: x is None
        )

    def learn(
        self,
        env: AbstractEnv,
        policy: PolicyT,
        total_timesteps: int,
        *,
        key: Key[Array, "*runs"],
        sweep: Mapping[str, SweepValues] | None = None,
        devices: Sequence[Device] | None = None,
        progress_bar: bool = False,
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        callback: Callback | None = None,
        logger: AbstractLogger | Sequence[Any] | None = None,
    ) -> PolicyT:
        """Trains `policy` on `env` and returns the trained policy.

        The same as `learn_with_history`, without the history. With a batch of
        keys or a `sweep`, returns the batch of trained policies: one policy
        whose arrays have a leading axis of one entry per run
        (`lerax.algorithm.member` takes one out).
        """
        policy, _ = self.learn_with_history(
            env,
            policy,
            total_timesteps,
            key=key,
            sweep=sweep,
            devices=devices,
            progress_bar=progress_bar,
            checkpoint_path=checkpoint_path,
            checkpoint_every=checkpoint_every,
            resume_from=resume_from,
            callback=callback,
            logger=logger,
        )
        return policy

    @overload
    def learn_with_history(
        self,
        env: AbstractEnv,
        policy: PolicyT,
        total_timesteps: int,
        *,
        key: Key[Array, "*runs"],
        sweep: None = None,
        devices: Sequence[Device] | None = None,
        progress_bar: bool = False,
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        callback: Callback | None = None,
        logger: AbstractLogger | Sequence[Any] | None = None,
    ) -> tuple[PolicyT, History]: ...

    @overload
    def learn_with_history(
        self,
        env: AbstractEnv,
        policy: PolicyT,
        total_timesteps: int,
        *,
        key: Key[Array, "*runs"],
        sweep: Mapping[str, SweepValues],
        devices: Sequence[Device] | None = None,
        progress_bar: bool = False,
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        callback: Callback | None = None,
        logger: AbstractLogger | Sequence[Any] | None = None,
    ) -> tuple[PolicyT, list[History]]: ...

    def learn_with_history(
        self,
        env: AbstractEnv,
        policy: PolicyT,
        total_timesteps: int,
        *,
        key: Key[Array, "*runs"],
        sweep: Mapping[str, SweepValues] | None = None,
        devices: Sequence[Device] | None = None,
        progress_bar: bool = False,
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        callback: Callback | None = None,
        logger: AbstractLogger | Sequence[Any] | None = None,
    ) -> tuple[PolicyT, History] | tuple[PolicyT, list[History]]:
        """Trains `policy` on `env`; returns it with the per-iteration history.

        A run is ``total_timesteps // (num_envs * num_steps)`` iterations. They run
        jitted in chunks of `checkpoint_every` iterations (all at once by default);
        after each chunk the host writes the checkpoint and calls the callback.
        The result depends only on the arguments, not on whether a checkpoint is
        written or a progress bar shown, nor on whether the run was interrupted
        and resumed with the same arguments: a resumed run is bit-identical to an
        uninterrupted one.

        **A batch of runs** (a batch of keys, a `sweep`, or both) trains as one
        jitted, vmapped program: every array of the training state gets a
        leading axis of one entry per run, and the runs step together. Run
        ``i`` matches the run with key ``i`` (and the swept values ``i``) up to
        float rounding: vmapped arithmetic may round differently in the last
        bits, and training amplifies such differences over a long run. The
        returned policy is then the batch of policies (`lerax.algorithm.member`
        takes one out) and the history a list, one `History` per run.

        **With devices**, one run's environments are split across them (each
        steps ``num_envs / len(devices)``; see `env_axes`) and the rest of its
        state (policy, optimiser state, key, history) is replicated; a batch's
        runs are split across them instead (each trains ``n / len(devices)``
        runs). The same jitted program runs, partitioned by GSPMD (XLA inserts
        the communication). Results match those on one device up to float
        rounding.

        Args:
            env: The environment (unbatched; `num_envs` copies run in parallel).
            policy: The initial policy, stateless or stateful; every run of a
                batch starts from it. When resuming, only its structure is used
                (as a skeleton); the parameters come from the checkpoint.
            total_timesteps: Length of the run in environment steps (rounded down
                to whole iterations); annealing schedules span this length.
            key: PRNG key for the run, or a batch of keys for a batch of runs
                (shape ``(n,)`` for keys from `jax.random.key`, ``(n, 2)`` for
                raw keys from `jax.random.PRNGKey`; e.g.
                ``jax.random.split(key, n)``). With one key and a `sweep`, every
                run uses that key. When resuming, the checkpoint's key stream is
                continued instead (pass any key of the same type and shape).
            sweep: Float hyperparameters to vary across the batch, by field
                name, each with one value per run, e.g.
                ``{"learning_rate": [1e-3, 3e-4]}``; with a batch of keys, as
                many values as keys. The other fields keep their value. Only
                float fields can be swept: ints and bools set shapes or choose
                code paths when the program is compiled. Each run's values must
                pass the algorithm's own checks.
            devices: Devices to split the run's environments, or the batch's
                runs, across (e.g. ``jax.devices()``, also with several
                processes after ``jax.distributed.initialize()``); their
                number must divide `num_envs` (one run) or the number of runs
                (a batch). None runs on JAX's default device.
            progress_bar: Show a tqdm bar with the latest mean episode return
                (over all runs of a batch).
            checkpoint_path: Where to save the training state (atomically), after
                every chunk. Without `checkpoint_every`, once at the end. Each
                save is written on a background thread while the next chunk
                runs; the previous save completes before the next starts, and
                the last before this method returns (or raises). A batch's
                checkpoint holds all its runs (and records the sweep).
            checkpoint_every: Iterations per jitted chunk, i.e. how often the
                checkpoint is written and the callback called. Keep it the same
                when resuming.
            resume_from: A checkpoint of a run with the same algorithm,
                `total_timesteps`, environment, policy structure and
                `checkpoint_every` (and for a batch, the same number of runs
                and sweep), to continue from, on the same `devices`. A finished
                run's checkpoint returns its policy as is.
            callback: Called on the host after each chunk as
                ``callback(timesteps, policy)``; returning True stops training
                (the history then ends at that iteration). For a batch it gets
                the batch of policies and stops every run. It runs while the
                chunk's checkpoint is being written;
                `lerax.utils.wait_for_saves` waits for it.
            logger: One or more loggers (`CSVLogger`, `TensorBoardLogger`,
                `ConsoleLogger`) given the history after each chunk; a resumed
                run's curves continue where the checkpoint left them. They are
                closed when training ends. For a batch of ``n`` runs, a
                sequence of ``n`` entries, one per run: None, a logger, or a
                list of loggers.

        Returns:
            ``(policy, history)``; for a batch, ``(policies, histories)``: the
            batch of policies and a list of one `History` per run.

        Raises:
            ValueError: On a run shorter than one iteration, a non-positive
                `checkpoint_every`, a checkpoint of another run, a key that is
                neither one key nor a batch, a sweep of an unknown or non-float
                field or of values the algorithm rejects, batch lengths that
                disagree, loggers that do not fit a batch, or `devices` whose
                number does not divide `num_envs` (or the number of runs).
            FileNotFoundError: If `resume_from` does not exist.
            lerax.utils.SerializationError: If `resume_from` is damaged or does
                not fit the environment and policy (or the batch).
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
        plan = _parallel.plan(self, key, sweep, devices)
        layout, values = plan.layout, plan.values
        loggers = plan.loggers(logger)
        with plan.tracing():
            if resume_from is None:
                state = _init_state(
                    self, env, policy, total_iterations, key, layout, values
                )
            else:
                like = eqx.filter_eval_shape(
                    _init_state,
                    self,
                    env,
                    policy,
                    total_iterations,
                    key,
                    layout,
                    values,
                )
                try:
                    state = load_checkpoint(
                        resume_from, plan.config, total_iterations, like
                    )
                except SerializationError as e:
                    e.add_note(
                        "A checkpoint of a batch of runs fits only a batch of as many "
                        "runs with the same swept fields, and one run's checkpoint "
                        "only one run."
                    )
                    raise
        state = layout.place(self, state)
        steps = self.steps_per_iteration
        iteration = logged = _parallel.iterations_done(state.iteration)
        # Checkpoints are written in the background while the next chunk runs;
        # leaving the block waits for the last one.
        with (
            CheckpointWriter(
                # With several processes, the first writes the checkpoints.
                checkpoint_path if jax.process_index() == 0 else None,
                plan.config,
                total_iterations,
            ) as checkpoints,
            _progress.progress_bar(
                progress_bar,
                total_timesteps=total_iterations * steps,
                initial_timesteps=iteration * steps,
                steps_per_iteration=steps,
            ),
        ):
            while iteration < total_iterations:
                with plan.tracing():
                    state = _run_chunk(
                        self,
                        env,
                        state,
                        chunk,
                        total_iterations,
                        progress_bar,
                        layout,
                        values,
                    )
                iteration = _parallel.iterations_done(state.iteration)
                if checkpoint_path is not None:
                    checkpoints.save(layout.gather(state))
                if any(loggers):
                    histories = plan.histories(state.history, iteration, steps)
                    for history, each in zip(histories, loggers, strict=True):
                        for one in each:
                            one.log(history, logged)
                    logged = iteration
                if callback is not None and callback(
                    iteration * steps, layout.gather(state.policy)
                ):
                    break
        _parallel.checkpoint_written(checkpoint_path)
        for each in loggers:
            for one in each:
                one.close()
        histories = plan.histories(state.history, iteration, steps)
        # With several processes, each gets the whole policy (or batch).
        trained = cast(PolicyT, layout.gather(state.policy))
        if plan.size is None:
            return trained, histories[0]
        return trained, histories


@eqx.filter_jit
def _init_state(
    algorithm: AbstractAlgorithm,
    env: AbstractEnv,
    policy: Policy,
    total_iterations: int,
    key: Key[Array, "*runs"],
    layout: _parallel.Layout,
    values: dict[str, Float[Array, " runs"]] | None,
) -> AbstractTrainingState:
    """The state at iteration 0: of one run, or of each run of a batch."""
    if layout.size is None:
        return algorithm.init_state(env, policy, total_iterations, key=key)

    def init(key: Key[Array, ""], values: dict[str, Float[Array, ""]] | None):
        member = layout.swept(algorithm, values)
        return member.init_state(env, policy, total_iterations, key=key)

    return eqx.filter_vmap(
        init, in_axes=(0 if layout.key_batched else None, 0), axis_size=layout.size
    )(key, values)


@eqx.filter_jit
def _run_chunk(
    algorithm: AbstractAlgorithm,
    env: AbstractEnv,
    state: AbstractTrainingState,
    length: int,
    total_iterations: int,
    progress: bool,
    layout: _parallel.Layout,
    values: dict[str, Float[Array, " runs"]] | None,
) -> AbstractTrainingState:
    """Runs `length` iterations, or fewer if the run ends first.

    Iterations past the end are skipped with `lax.cond` rather than run in a
    shorter scan, so every chunk of a run is the same compiled program. A batch
    of runs steps together: each iteration is vmapped over the runs (each with
    its swept values), inside the one scan and the one `lax.cond`.
    """
    dynamic, static = eqx.partition(state, eqx.is_array)
    shardings = layout.shardings(algorithm, state)

    def iterate(
        dynamic: AbstractTrainingState, values: dict[str, Float[Array, ""]] | None
    ) -> tuple[AbstractTrainingState, Mapping[str, Shaped[Array, ""]]]:
        state = eqx.combine(dynamic, static)
        member = layout.swept(algorithm, values)
        state, metrics = member.train_iteration(env, state, total_iterations)
        iteration = state.iteration + 1
        history = record(state.history, state.iteration, metrics)
        state = eqx.tree_at(
            lambda s: (s.iteration, s.history), state, (iteration, history)
        )
        return eqx.filter(state, eqx.is_array), metrics

    def advance(dynamic: AbstractTrainingState) -> AbstractTrainingState:
        if layout.size is None:
            dynamic, metrics = iterate(dynamic, values)
            iteration = dynamic.iteration
            episodes = metrics["num_episodes"]
            episode_return = metrics["episode_return"]
        else:
            dynamic, metrics = jax.vmap(iterate)(dynamic, values)
            iteration = dynamic.iteration[0]
            # The mean return of the episodes that ended in any run.
            episodes = jnp.sum(metrics["num_episodes"])
            episode_return = jnp.sum(
                metrics["episode_return"] * metrics["num_episodes"]
            ) / jnp.maximum(episodes, 1)
        if progress:
            jax.debug.callback(_progress.report, iteration, episode_return, episodes)
        return dynamic

    def body(
        dynamic: AbstractTrainingState, _: None
    ) -> tuple[AbstractTrainingState, None]:
        # The runs of a batch step together: the first one's count is theirs.
        done = dynamic.iteration if layout.size is None else dynamic.iteration[0]
        dynamic = jax.lax.cond(done < total_iterations, advance, lambda d: d, dynamic)
        return _parallel.constrain(dynamic, shardings), None

    dynamic, _ = jax.lax.scan(body, dynamic, length=length)
    return eqx.combine(dynamic, static)
