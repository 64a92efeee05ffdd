"""The host side of `GymnasiumEnv`: Gymnasium episodes behind integer handles.

A lerax state must be a value: it can be copied, dropped, or stepped twice,
and JAX may run a callback in any order within one step of a loop. A
Gymnasium env is a mutable object. `Host` reconciles the two:

* A state names an *episode*: the seed of its reset and the actions taken
  since. The host keeps a record per episode (its actions, the last step's
  result, and the Gymnasium env embodying it, if any), so any live state can
  be brought back by replaying its episode: Gymnasium envs are deterministic
  given the seed of `reset` and the actions.
* A fresh state (from `reset`) names only its seed. `reset` resets some free
  env to compute the first observation, and its first step reuses that env if
  nobody has used it since, or resets another one with the same seed.
* Stepping the latest state of an episode steps its env; stepping a state
  again with the same action returns the recorded result; stepping an older
  state with another action branches: a new episode replays the prefix.
* Envs are a cache: at most `max_envs` exist, and when more are needed the
  least recently used one is taken from its episode, which is replayed if
  stepped again. Records are kept for the `max_episodes` most recently used
  episodes; a state of an older one raises `StaleStateError`.
"""

import collections
import threading
from collections.abc import Callable
from typing import Any, final

import jax
import numpy as np

from lerax.env import AbstractSpace

from ._errors import StaleStateError
from ._keys import seed_from_bits
from ._values import numpy_value, stack, unbatch, value_bytes

__all__ = ["Host"]

# Episode ids are int32 handles; -1 marks a fresh state that took no step.
_MAX_ID = 2**31 - 1


@final
class _Episode:
    """The record of one Gymnasium episode."""

    __slots__ = (
        "actions",
        "ended",
        "instance",
        "last_action",
        "origin",
        "result",
        "seed",
        "t",
    )

    def __init__(self, seed: int, actions: list[Any], origin: tuple[Any, ...]):
        self.seed = seed
        # The actions taken, to replay the episode; dropped once it ends.
        self.actions: list[Any] | None = actions
        self.t = len(actions)
        self.instance: int | None = None
        self.ended = False
        self.last_action: bytes | None = None
        self.result: tuple[Any, ...] | None = None
        self.origin = origin


@final
class Host:
    """Gymnasium envs and the episodes they embody, for one `GymnasiumEnv`.

    The callbacks `reset` and `step` take and return batches, as
    ``jax.pure_callback`` passes them with ``vmap_method="broadcast_all"``.
    Equality is identity, so a `GymnasiumEnv` holds its host in a static field.
    """

    def __init__(
        self,
        make_env: Callable[[], Any],
        first: Any,
        observation_space: AbstractSpace,
        action_space: AbstractSpace,
        to_gymnasium_action: Callable[[Any], Any],
        *,
        max_envs: int | None,
        max_episodes: int,
    ):
        self._make_env = make_env
        self._observation_space = observation_space
        self._action_space = action_space
        self._to_gymnasium_action = to_gymnasium_action
        self._max_envs = max_envs
        self._max_episodes = max_episodes
        self._envs: list[Any] = [first]
        self._owner: list[int | None] = [None]
        self._fresh: list[int | None] = [None]  # seed of an untouched reset
        self._fresh_by_seed: dict[int, int] = {}
        # Least recently used first.
        self._free: collections.OrderedDict[int, None] = collections.OrderedDict(
            [(0, None)]
        )
        self._busy: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._episodes: collections.OrderedDict[int, _Episode] = (
            collections.OrderedDict()
        )
        self._branches: dict[tuple[Any, ...], int] = {}
        self._next_id = 0
        self._largest_batch = 1
        self._closed = False
        self._lock = threading.Lock()

    # -- the callbacks ------------------------------------------------------------

    def reset(self, bits: Any) -> Any:
        """Resets a free env once per seed; returns the first observations.

        Args:
            bits: uint32 words of the seeds, shape ``(*batch, 2)``.

        Returns:
            The observations, with leading axes ``batch``.
        """
        bits = np.asarray(bits)
        batch = bits.shape[:-1]
        seeds = [seed_from_bits(b) for b in bits.reshape(-1, 2)]
        with self._lock:
            self._check_open()
            self._largest_batch = max(self._largest_batch, len(seeds))
            observations = [self._reset_one(seed) for seed in seeds]
        return _reshaped(stack(observations), batch)

    def step(self, bits: Any, episodes: Any, ts: Any, actions: Any) -> tuple[Any, ...]:
        """Steps the episode each state names; see the module docstring.

        Args:
            bits: uint32 words of the states' seeds, shape ``(*batch, 2)``.
            episodes: Episode ids, shape ``batch`` (-1 for fresh states).
            ts: Steps each state's episode had taken.
            actions: The actions, with leading axes ``batch``.

        Returns:
            ``(episodes, ts, observations, rewards, terminated, truncated)``
            after the step, with leading axes ``batch``.
        """
        episodes = np.asarray(episodes)
        batch = episodes.shape
        seeds = [seed_from_bits(b) for b in np.asarray(bits).reshape(-1, 2)]
        _, action_list = unbatch(actions, self._action_space)
        with self._lock:
            self._check_open()
            self._largest_batch = max(self._largest_batch, len(seeds))
            results = [
                self._step_one(seed, int(e), int(t), action)
                for seed, e, t, action in zip(
                    seeds,
                    episodes.reshape(-1),
                    np.asarray(ts).reshape(-1),
                    action_list,
                    strict=True,
                )
            ]
        ids, steps, observations, rewards, terminated, truncated = zip(
            *results, strict=True
        )
        return (
            np.asarray(ids, np.int32).reshape(batch),
            np.asarray(steps, np.int32).reshape(batch),
            _reshaped(stack(observations), batch),
            np.asarray(rewards, np.float32).reshape(batch),
            np.asarray(terminated, bool).reshape(batch),
            np.asarray(truncated, bool).reshape(batch),
        )

    def close(self) -> None:
        """Closes every env; the states become stale."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for env in self._envs:
                env.close()
            self._envs.clear()
            self._episodes.clear()
            self._branches.clear()

    @property
    def num_envs(self) -> int:
        """Number of Gymnasium envs created so far (and not closed)."""
        return len(self._envs)

    @property
    def num_episodes(self) -> int:
        """Number of episode records kept."""
        return len(self._episodes)

    # -- episodes -----------------------------------------------------------------

    def _reset_one(self, seed: int) -> Any:
        index, _ = self._acquire(None)
        observation, _ = self._envs[index].reset(seed=seed)
        self._fresh[index] = seed
        self._fresh_by_seed[seed] = index
        return numpy_value(observation, self._observation_space)

    def _step_one(self, seed: int, e: int, t: int, action: Any) -> tuple[Any, ...]:
        key = value_bytes(action)
        episode = None
        if e < 0:
            if t != 0:
                raise StaleStateError(_NOT_A_STATE.format(e=e, t=t))
            origin: tuple[Any, ...] = ("seed", seed)
        else:
            episode = self._episodes.get(e)
            if episode is None:
                raise StaleStateError(_RELEASED.format(e=e))
            self._episodes.move_to_end(e)
            if episode.t == t + 1 and episode.last_action == key:
                # This state's step already ran (JAX may run a callback
                # again, and a batched while loop steps finished elements).
                return (e, episode.t, *_result(episode))
            if episode.t == t and not episode.ended:
                return self._advance(e, episode, action, key)
            if t > episode.t:
                raise StaleStateError(_NOT_A_STATE.format(e=e, t=t))
            origin = ("episode", e)
        # A branch: a first step of a fresh state, or a step of an older state.
        branch = (origin, t, key)
        child = self._branches.get(branch)
        if child is not None:
            record = self._episodes.get(child)
            if record is not None and record.t == t + 1:
                self._episodes.move_to_end(child)
                return (child, record.t, *_result(record))
        if episode is None:
            prefix: list[Any] = []
        elif episode.actions is None:
            raise StaleStateError(_ENDED.format(e=e, t=t))
        else:
            prefix = episode.actions[:t]
            seed = episode.seed
        child = self._new_episode(seed, list(prefix), branch)
        return self._advance(child, self._episodes[child], action, key)

    def _advance(
        self, e: int, episode: _Episode, action: Any, key: bytes
    ) -> tuple[Any, ...]:
        env = self._embody(e, episode)
        observation, reward, terminated, truncated, _ = env.step(
            self._to_gymnasium_action(action)
        )
        episode.t += 1
        episode.last_action = key
        episode.result = (
            numpy_value(observation, self._observation_space),
            np.float32(reward),
            bool(terminated),
            bool(truncated),
        )
        if terminated or truncated:
            episode.ended = True
            episode.actions = None
            self._release(episode)
        else:
            assert episode.actions is not None
            episode.actions.append(action)
        return (e, episode.t, *_result(episode))

    def _embody(self, e: int, episode: _Episode) -> Any:
        """The env of `episode`, replaying the episode into one if it has none."""
        if episode.instance is not None:
            self._busy.move_to_end(episode.instance)
            return self._envs[episode.instance]
        assert episode.actions is not None
        index, fresh = self._acquire(episode.seed if episode.t == 0 else None)
        env = self._envs[index]
        if not fresh:
            env.reset(seed=episode.seed)
            for action in episode.actions:
                env.step(self._to_gymnasium_action(action))
        episode.instance = index
        self._owner[index] = e
        del self._free[index]
        self._busy[index] = None
        return env

    def _new_episode(
        self, seed: int, actions: list[Any], origin: tuple[Any, ...]
    ) -> int:
        while self._next_id in self._episodes:
            self._next_id = (self._next_id + 1) % _MAX_ID
        e = self._next_id
        self._next_id = (self._next_id + 1) % _MAX_ID
        self._episodes[e] = _Episode(seed, actions, origin)
        self._branches[origin] = e
        while len(self._episodes) > self._max_episodes:
            _, oldest = self._episodes.popitem(last=False)
            self._release(oldest)
            if self._branches.get(oldest.origin) is not None:
                del self._branches[oldest.origin]
        return e

    # -- envs ---------------------------------------------------------------------

    def _acquire(self, seed: int | None) -> tuple[int, bool]:
        """A free env (left in `_free`), and whether it holds an untouched reset
        with `seed`. Takes the least recently used env from its episode when
        `max_envs` envs exist and none is free."""
        index = self._fresh_by_seed.get(seed) if seed is not None else None
        if index is not None and self._owner[index] is None:
            self._clear_fresh(index)
            self._free.move_to_end(index)
            return index, True
        if self._free:
            index = next(iter(self._free))
        elif len(self._envs) < self._capacity():
            index = len(self._envs)
            self._envs.append(self._make_env())
            self._owner.append(None)
            self._fresh.append(None)
        else:
            index = next(iter(self._busy))
            owner = self._owner[index]
            if owner is not None:
                self._episodes[owner].instance = None
            self._owner[index] = None
            del self._busy[index]
        self._clear_fresh(index)
        self._free[index] = None
        self._free.move_to_end(index)
        return index, False

    def _release(self, episode: _Episode) -> None:
        index = episode.instance
        if index is None:
            return
        episode.instance = None
        self._owner[index] = None
        del self._busy[index]
        self._free[index] = None

    def _clear_fresh(self, index: int) -> None:
        seed = self._fresh[index]
        if seed is not None and self._fresh_by_seed.get(seed) == index:
            del self._fresh_by_seed[seed]
        self._fresh[index] = None

    def _capacity(self) -> int:
        if self._max_envs is not None:
            return self._max_envs
        # A rollout step holds a batch of episodes and resets a batch of spare
        # envs; three batches keep the spares' resets for the first steps of
        # the episodes that start.
        return 3 * self._largest_batch + 2

    def _check_open(self) -> None:
        if self._closed:
            raise StaleStateError("this GymnasiumEnv was closed")


def _result(episode: _Episode) -> tuple[Any, ...]:
    assert episode.result is not None
    return episode.result


def _reshaped(tree: Any, batch: tuple[int, ...]) -> Any:
    return jax.tree.map(lambda leaf: leaf.reshape(*batch, *leaf.shape[1:]), tree)


_RELEASED = (
    "the Gymnasium episode {e} of this state was released: the state comes from "
    "another process or a closed GymnasiumEnv, or more than max_episodes newer "
    "episodes were used since"
)
_ENDED = (
    "cannot step state {t} of the ended Gymnasium episode {e}: ended episodes are "
    "not replayed, only their last step is repeated"
)
_NOT_A_STATE = "episode {e} at step {t} is not a state of this GymnasiumEnv"
