"""Abstract base class of all environments, with automatic reset."""

import abc
from typing import Any, ClassVar, Generic, TypeVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.core import Tracer
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray, PyTree, UInt8

from lerax.utils import Serializable

from ._space import AbstractSpace

__all__ = ["AbstractEnv"]

StateT = TypeVar("StateT")
ObsSpaceT = TypeVar("ObsSpaceT", bound=AbstractSpace)
ActSpaceT = TypeVar("ActSpaceT", bound=AbstractSpace)


class AbstractEnv(Serializable, Generic[StateT, ObsSpaceT, ActSpaceT]):
    """A functional, single (unbatched) environment.

    An environment object holds only configuration; the evolving state is an
    explicit value passed in and out, so `reset` and `step` are pure and can be
    `jax.jit`-compiled, `jax.vmap`-batched and `jax.lax.scan`-ned.

    Subclasses implement the hooks `reset_env` and `step_env` (and may override
    `autoreset_env`, which `step` calls to start the next episode); the public
    `reset` and `step` wrap them and must not be overridden. `step` resets
    automatically: when an episode ends, it returns the first observation and
    state of a fresh episode, and ``info["final_observation"]`` holds the last
    observation of the finished one. ``info`` always has the key
    ``"final_observation"`` (equal to the returned observation when the episode
    goes on), so its pytree structure never changes between steps.

    The type parameters are the state type and the concrete types of the two
    spaces, so that a subclass can declare e.g. ``observation_space: Box``.

    Invalid actions: when `check_actions` is true, `step` raises if the action is
    not in `action_space` (see `step`); when it is false, `step` passes every
    action to `step_env`, and what an invalid one does is up to the environment
    (lerax's discrete ones give NaN outputs, its continuous ones clip to their
    bounds as Gymnasium's do). Every lerax environment takes ``check_actions=``
    as a constructor argument, off by default: the check costs a batch-wide
    reduction and a branch per step (see ``docs/env.md``).

    Attributes:
        observation_space: Space of the observations.
        action_space: Space of the actions.
        check_actions: Whether `step` checks that the action is in `action_space`;
            a static field, so turning it off removes the check from compiled
            code entirely.
    """

    observation_space: eqx.AbstractVar[ObsSpaceT]
    action_space: eqx.AbstractVar[ActSpaceT]
    check_actions: eqx.AbstractVar[bool]

    render_fps: ClassVar[float] = 30.0
    """Frames per second at which `render`'s frames play in real time (the
    ``render_fps`` of Gymnasium's metadata); `lerax.env.record_video` uses it by
    default."""

    @abc.abstractmethod
    def reset_env(
        self, *, key: PRNGKeyArray
    ) -> tuple[StateT, PyTree[Array], dict[str, Any]]:
        """Starts an episode (hook for subclasses).

        Args:
            key: PRNG key.

        Returns:
            ``(state, observation, info)`` of the first time step.
        """

    @abc.abstractmethod
    def step_env(
        self, state: StateT, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        StateT,
        PyTree[Array],
        Float[ArrayLike, ""],
        Bool[ArrayLike, ""],
        Bool[ArrayLike, ""],
        dict[str, Any],
    ]:
        """Advances one time step without resetting (hook for subclasses).

        Args:
            state: Current state.
            action: Action, an element of `action_space`.
            key: PRNG key.

        Returns:
            ``(state, observation, reward, terminated, truncated, info)`` after
            the step. ``info`` must have the same pytree structure every step and
            must not use the key ``"final_observation"``.
        """

    def autoreset_env(
        self, state: StateT, *, key: PRNGKeyArray
    ) -> tuple[StateT, PyTree[Array], dict[str, Any]]:
        """Starts the episode that follows one ending in `state` (hook).

        `step` calls it, rather than `reset_env`, for the automatic reset, with
        the state the finished episode reached. By default it is
        ``reset_env(key=key)``: nothing carries over, as after an explicit
        `reset`. A wrapper whose state holds something that must outlive
        episodes (`lerax.env.wrappers.NormalizeObservation`'s running
        statistics) overrides it to carry that over.

        Args:
            state: The state the finished episode reached.
            key: PRNG key.

        Returns:
            ``(state, observation, info)`` of the new episode's first time step.
        """
        del state
        return self.reset_env(key=key)

    @final
    def reset(
        self, *, key: PRNGKeyArray
    ) -> tuple[StateT, PyTree[Array], dict[str, Any]]:
        """Starts an episode.

        Args:
            key: PRNG key.

        Returns:
            ``(state, observation, info)``; ``info["final_observation"]`` is the
            observation itself, so `reset` and `step` return the same info
            structure when the hooks do.
        """
        state, observation, info = self.reset_env(key=key)
        return state, observation, {**info, "final_observation": observation}

    @final
    def step(
        self, state: StateT, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        StateT,
        PyTree[Array],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """Advances one time step, starting a new episode if this one ended.

        Args:
            state: Current state.
            action: Action, an element of `action_space`.
            key: PRNG key.

        Returns:
            ``(state, observation, reward, terminated, truncated, info)``.
            `reward` is a float32 scalar and `terminated` / `truncated` are
            boolean scalars describing the step just taken. If either is true,
            `state` and `observation` belong to a fresh episode and
            ``info["final_observation"]`` is the last observation of the ended
            one; otherwise ``info["final_observation"]`` equals `observation`.
            The fresh episode comes from `autoreset_env` (by default
            `reset_env`); its info is discarded, except
            its ``"action_mask"``: when the env gives action masks (see
            ``docs/env.md``), ``info["action_mask"]`` always describes the
            returned observation.

        Raises:
            RuntimeError: If `check_actions` is true and the action is not in
                `action_space`; the message names the env and the space. What
                can be decided without traced values (a wrong shape or dtype, a
                concrete action) raises at once, as
                `equinox.EquinoxTracetimeError`; a traced value out of range
                raises when the computation runs, as
                `equinox.EquinoxRuntimeError` under `equinox.filter_jit`. Under
                `jax.jit`, JAX reports it with the same text as a
                `jax.errors.JaxRuntimeError` or, from its fast dispatch path, a
                `ValueError`. Under `jax.vmap` one invalid action in the batch
                is enough.
        """
        if self.check_actions:
            message = _INVALID_ACTION.format(
                env=type(self).__name__, space=self.action_space
            )
            # Evaluated eagerly where possible: a wrong shape or dtype is decided
            # without looking at values and raises while tracing, and a constant
            # action is checked once, at no run-time cost.
            with jax.ensure_compile_time_eval():
                invalid = ~self.action_space.contains(action)
            if not isinstance(invalid, Tracer):
                if bool(invalid):
                    raise eqx.EquinoxTracetimeError(message)
            else:
                # error_if collapses a vmapped predicate to one scalar, so a
                # batched step pays a reduction and a branch, not a check per
                # environment.
                action = eqx.error_if(jnp.asarray(action), invalid, message)
        # Random-number generation is most of the cost of a cheap env's step, so
        # derive as little as possible: the reset uses the key itself, and the
        # step a fold_in of it, which XLA drops when step_env ignores its key (as
        # deterministic dynamics do). The two keys are still independent.
        step_key = jax.random.fold_in(key, 0)
        reset_key = key
        next_state, observation, reward, terminated, truncated, info = self.step_env(
            state, action, key=step_key
        )
        terminated = jnp.asarray(terminated, dtype=bool)
        truncated = jnp.asarray(truncated, dtype=bool)
        # terminated | truncated, as a reduction: XLA's CPU fusion copies an
        # elementwise producer into each of its consumers, so every select
        # below would recompute the termination test (for Acrobot, the whole
        # integration step and two cosines), whereas a reduction is computed
        # once. Acrobot's batched steps/s rise by half, the others' by up to 8%.
        done = jnp.max(jnp.stack([terminated, truncated]).astype(jnp.int32)) > 0
        # Both branches are computed and selected, as lax.cond would be under
        # vmap anyway; this keeps step branch-free for batched use.
        reset_state, reset_observation, reset_info = self.autoreset_env(
            next_state, key=reset_key
        )

        def select(fresh: Any, current: Any) -> Any:
            return jax.tree.map(lambda a, b: jnp.where(done, a, b), fresh, current)

        info = {**info, "final_observation": observation}
        if "action_mask" in info:
            # The mask belongs to the returned observation: after an automatic
            # reset, to the fresh episode's first one.
            if "action_mask" not in reset_info:
                raise ValueError(_MASK_ON_RESET.format(env=type(self).__name__))
            info["action_mask"] = select(reset_info["action_mask"], info["action_mask"])
        return (
            select(reset_state, next_state),
            select(reset_observation, observation),
            jnp.asarray(reward, dtype=jnp.float32),
            terminated,
            truncated,
            info,
        )

    def render(self, state: StateT) -> UInt8[Array, "height width 3"]:
        """Draws `state` as an RGB image.

        Rendering is a pure function of the state, so it can be `jax.jit`-compiled
        and `jax.vmap`-batched over states; it needs no display. The classic-control
        environments draw Gymnasium's ``render_mode="rgb_array"`` scenes, at its
        sizes. Subclasses that can be drawn override this method.

        Example:

        ```python
        env = CartPole()
        state, _, _ = env.reset(key=jax.random.key(0))
        frame = env.render(state)  # uint8[400, 600, 3]
        ```

        Args:
            state: A state of this environment (unbatched).

        Returns:
            The image, ``uint8`` of shape ``(height, width, 3)``.

        Raises:
            NotImplementedError: If the environment cannot be drawn (the default).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement render")


_MASK_ON_RESET = (
    "{env}.reset_env must put an action_mask in its info, since step_env does"
)

_INVALID_ACTION = (
    "{env}.step: the action is not in the action space {space!r}; build the "
    "env with check_actions=False to skip this check"
)
