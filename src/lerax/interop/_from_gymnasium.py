"""`GymnasiumEnv`: a Gymnasium environment as a lerax environment."""

import functools
from collections.abc import Callable, Mapping
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree, UInt32

from lerax.env import AbstractEnv, AbstractSpace, Dict, Tuple

from ._extras import require
from ._gymnasium_spaces import space_from_gymnasium, value_to_gymnasium
from ._host import Host
from ._keys import seed_bits
from ._values import element_struct

__all__ = ["GymnasiumEnv", "GymnasiumState"]


@final
class GymnasiumState(eqx.Module):
    """State of a `GymnasiumEnv`: a handle on an episode kept by the host.

    Attributes:
        seed: The episode's reset seed, as two uint32 words (high first).
        episode: The host's id of the episode; -1 until its first step.
        t: Steps the episode has taken.
    """

    seed: UInt32[Array, "2"]
    episode: Int[Array, ""]
    t: Int[Array, ""]


@final
class GymnasiumEnv(AbstractEnv[GymnasiumState, AbstractSpace, AbstractSpace]):
    """A Gymnasium environment as a lerax environment.

    Bring your own Gymnasium env to lerax's `evaluate` and `PPO.learn`:

    ```python
    import jax
    from lerax.algorithm import PPO, evaluate
    from lerax.interop import GymnasiumEnv
    from lerax.policy import MLPActorCriticPolicy

    env = GymnasiumEnv("CartPole-v1")  # or GymnasiumEnv(lambda: MyEnv(...))
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    policy = PPO(num_envs=4).learn(env, policy, 20_000, key=jax.random.key(1))
    returns = evaluate(env, policy, key=jax.random.key(2))
    ```

    **Not jit-fast.** The Gymnasium envs live in the host process, as Python
    objects; the state is a handle on one of their episodes, and `reset_env`
    and `step_env` call them through `jax.pure_callback`. Everything works under
    `jax.jit`, `jax.vmap` and `jax.lax.scan`, at Python speed: a batch (a
    `vmap`) is one callback that steps a Gymnasium env per element in a loop,
    as Gymnasium's `SyncVectorEnv` does, and every lerax `step` also resets a
    spare env, since `AbstractEnv.step` draws the next episode's start on every
    step (see ``docs/interop.md``).

    **Determinism.** The lerax key decides everything: `reset_env` draws a
    64-bit seed from its key (`jax.random.bits`) and resets a Gymnasium env
    with it, and the episode then depends only on that seed and the actions
    (the step's key is unused: a Gymnasium env draws from its own `np_random`,
    seeded by `reset`). Automatic resets go through `reset_env` like any
    other, so the same keys give the same trajectories, as for a lerax env.

    **States are values.** The host records each episode's seed and actions,
    so a state can be stepped again (the recorded result comes back) or
    branched (an older state stepped with another action replays its episode
    into a new one), and envs are recycled freely: an episode that lost its env
    is replayed when next stepped. This relies on Gymnasium's contract that an
    env is deterministic given its reset seed and actions. Limits: at most
    `max_episodes` episodes are remembered (a state of a forgotten one raises
    `StaleStateError`, as do states from another process, e.g. a checkpoint,
    or after `close`); the older states of an ended episode cannot be stepped
    with new actions; Gymnasium's infos are dropped (lerax needs the same info
    structure on every step) and `render` is not available.

    **Files.** `serialize` records the constructor arguments and the spaces,
    not the host: load with the arguments, e.g.
    ``GymnasiumEnv.deserialize(path, "CartPole-v1")``; without them loading
    raises `lerax.utils.SerializationError` naming ``.host``.

    Attributes:
        observation_space: The Gymnasium observation space, converted with
            `space_from_gymnasium`.
        action_space: The Gymnasium action space, converted likewise.
        check_actions: Whether `step` checks that the action is in
            `action_space` (static; off by default).
        host: The host-side envs and episode records (static; compared by
            identity, so every `GymnasiumEnv` compiles on its own).
    """

    observation_space: AbstractSpace
    action_space: AbstractSpace
    check_actions: bool = eqx.field(static=True)
    host: Host = eqx.field(static=True)

    def __init__(
        self,
        env: Any,
        *,
        max_envs: int | None = None,
        max_episodes: int = 10_000,
        check_actions: bool = False,
        **make_kwargs: Any,
    ):
        """Creates the adapter and one Gymnasium env (more are made as needed).

        Args:
            env: How to make the Gymnasium env: an id or ``EnvSpec`` for
                ``gymnasium.make`` (with `make_kwargs`), or a function of no
                arguments returning a new ``gymnasium.Env`` each call. Not an
                env object: the adapter needs several.
            max_envs: Most Gymnasium envs to create; `None` for three times the
                largest batch seen plus two. Fewer than the batch size works
                but replays episodes on most steps.
            max_episodes: Most episode records to keep, at least 1.
            check_actions: Whether `step` raises on an action outside
                `action_space`.
            **make_kwargs: Keyword arguments of ``gymnasium.make``, with an id.

        Raises:
            MissingExtraError: If Gymnasium is not installed
                (``pip install 'lerax[gymnasium]'``).
            TypeError: If `env` is an env object, or not an id, spec or
                function; if the function does not return a ``gymnasium.Env``.
            ValueError: If `max_envs` or `max_episodes` is not a positive
                integer.
            UnsupportedSpaceError: If a space has no lerax counterpart.
        """
        gymnasium = require("gymnasium", "gymnasium", "GymnasiumEnv")
        if isinstance(env, gymnasium.Env):
            raise TypeError(
                "GymnasiumEnv needs to make several envs: pass an id, an EnvSpec "
                "or a function returning a new env (e.g. functools.partial("
                "gymnasium.make, 'CartPole-v1')), not an env object"
            )
        if isinstance(env, str | gymnasium.envs.registration.EnvSpec):
            make_env: Callable[[], Any] = functools.partial(
                gymnasium.make, env, **make_kwargs
            )
        elif callable(env):
            if make_kwargs:
                raise TypeError(
                    "keyword arguments for gymnasium.make need an env id, got "
                    f"{sorted(make_kwargs)} with a function"
                )
            make_env = env
        else:
            raise TypeError(
                "env must be a Gymnasium id, an EnvSpec or a function returning "
                f"an env, got {env!r}"
            )
        if max_envs is not None:
            max_envs = _positive("max_envs", max_envs)
        max_episodes = _positive("max_episodes", max_episodes)
        if not isinstance(check_actions, bool):
            raise TypeError(f"check_actions must be a bool, got {check_actions!r}")
        first = make_env()
        if not isinstance(first, gymnasium.Env):
            raise TypeError(
                f"the env function must return a gymnasium.Env, got {first!r}"
            )
        gymnasium_actions = first.action_space
        self.observation_space = space_from_gymnasium(first.observation_space)
        self.action_space = space_from_gymnasium(gymnasium_actions)
        self.check_actions = check_actions
        self.host = Host(
            make_env,
            first,
            self.observation_space,
            self.action_space,
            functools.partial(_to_gymnasium_action, gymnasium_actions),
            max_envs=max_envs,
            max_episodes=max_episodes,
        )

    def reset_env(
        self, *, key: PRNGKeyArray
    ) -> tuple[GymnasiumState, PyTree[Array], dict[str, Any]]:
        """Resets a Gymnasium env with a seed drawn from `key`.

        Args:
            key: PRNG key; the seed is ``jax.random.bits(key, (2,), uint32)``
                read as a 64-bit integer (high word first).

        Returns:
            ``(state, observation, {})``.
        """
        bits = seed_bits(key)
        observation = jax.pure_callback(
            self.host.reset,
            element_struct(self.observation_space),
            bits,
            vmap_method="broadcast_all",
        )
        state = GymnasiumState(
            seed=bits, episode=jnp.array(-1, jnp.int32), t=jnp.array(0, jnp.int32)
        )
        return state, observation, {}

    def step_env(
        self, state: GymnasiumState, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[
        GymnasiumState,
        PyTree[Array],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """Steps the Gymnasium episode `state` names.

        Args:
            state: Current state.
            action: An element of `action_space`.
            key: Unused: the Gymnasium env draws from its own generator,
                seeded when its episode was reset.

        Returns:
            ``(state, observation, reward, terminated, truncated, {})``.
        """
        del key
        scalar = jax.ShapeDtypeStruct((), jnp.int32)
        episode, t, observation, reward, terminated, truncated = jax.pure_callback(
            self.host.step,
            (
                scalar,
                scalar,
                element_struct(self.observation_space),
                jax.ShapeDtypeStruct((), jnp.float32),
                jax.ShapeDtypeStruct((), jnp.bool_),
                jax.ShapeDtypeStruct((), jnp.bool_),
            ),
            state.seed,
            state.episode,
            state.t,
            _action_leaves(action, self.action_space),
            vmap_method="broadcast_all",
        )
        state = GymnasiumState(seed=state.seed, episode=episode, t=t)
        return state, observation, reward, terminated, truncated, {}

    def close(self) -> None:
        """Closes the Gymnasium envs; every state of this env becomes stale."""
        self.host.close()


def _action_leaves(action: Any, space: AbstractSpace) -> Any:
    """The action with the structure of `space`'s elements, each leaf an array
    of the element's shape (its dtype kept: the host checks the values)."""
    if isinstance(space, Dict):
        return {
            name: _action_leaves(action[name], s) for name, s in space.spaces.items()
        }
    if isinstance(space, Tuple):
        return tuple(
            _action_leaves(part, s)
            for part, s in zip(action, space.spaces, strict=True)
        )
    array = jnp.asarray(action)
    if array.shape != space.shape:
        raise ValueError(
            f"the action must have shape {space.shape} for {space!r}, got shape "
            f"{array.shape}"
        )
    return array


def _to_gymnasium_action(space: Any, action: Any) -> Any:
    """A host action (lerax structure) as an element of the Gymnasium `space`.

    Raises:
        ValueError: If an integer space gets a value that is not a whole number
            (lerax's own discrete envs give NaN outputs for it; a Gymnasium env
            would truncate it into another action).
    """
    children = getattr(space, "spaces", None)
    if isinstance(children, Mapping):
        return {
            name: _to_gymnasium_action(child, action[name])
            for name, child in children.items()
        }
    if children is not None:
        return tuple(
            _to_gymnasium_action(child, part)
            for child, part in zip(children, action, strict=True)
        )
    array = np.asarray(action)
    if (
        np.issubdtype(space.dtype, np.integer)
        and np.issubdtype(array.dtype, np.floating)
        and not np.all(array == np.round(array))
    ):
        raise ValueError(f"the action {array!r} is not an element of {space!r}")
    return value_to_gymnasium(array, space)


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
