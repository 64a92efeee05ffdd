"""Environments for the wrapper tests: a replay of fixed events (lerax and Gymnasium
twins, for parity), an env echoing its action, and one with a Dict observation."""

from typing import Any, final

import equinox as eqx
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from lerax.env import AbstractEnv, Box, Dict, Discrete


class Events:
    """A fixed stream of resets and steps: episodes of random lengths that end by
    termination or truncation, with random observations and rewards.

    Event 0 is a reset; a reset follows every step that ends an episode, the
    last one included. Reset events have reward 0 and both flags false.
    """

    def __init__(self, seed: int, episodes: int, dim: int = 3, max_length: int = 9):
        rng = np.random.default_rng(seed)
        obs, rewards, terminated, truncated, resets = [], [], [], [], []
        scale = rng.uniform(0.5, 20.0, dim)
        shift = rng.uniform(-10.0, 10.0, dim)
        for _ in range(episodes):
            length = int(rng.integers(1, max_length + 1))
            ends_by_termination = bool(rng.integers(2))
            for k in range(length + 1):
                obs.append(shift + scale * rng.standard_normal(dim))
                resets.append(k == 0)
                last = k == length
                rewards.append(0.0 if k == 0 else float(rng.normal(1.0, 3.0)))
                terminated.append(last and ends_by_termination)
                truncated.append(last and not ends_by_termination)
        # A last reset, which follows the last episode's end.
        obs.append(shift + scale * rng.standard_normal(dim))
        resets.append(True)
        rewards.append(0.0)
        terminated.append(False)
        truncated.append(False)
        self.observations = np.asarray(obs, np.float32)
        self.rewards = np.asarray(rewards, np.float32)
        self.terminated = np.asarray(terminated)
        self.truncated = np.asarray(truncated)
        self.resets = np.asarray(resets)

    @property
    def num_steps(self) -> int:
        """Number of step events."""
        return int(np.sum(~self.resets))


@final
class ReplayState(eqx.Module):
    index: Int[Array, ""]


@final
class ReplayEnv(AbstractEnv[ReplayState, Box, Discrete]):
    """Replays `Events`: `reset` gives event 0, each step the next event, and the
    automatic reset the reset event after an episode's last step (through the
    `autoreset_env` hook). Actions are ignored."""

    observations: Float[Array, "n dim"]
    rewards: Float[Array, " n"]
    terminated: Bool[Array, " n"]
    truncated: Bool[Array, " n"]
    observation_space: Box
    action_space: Discrete
    check_actions: bool = eqx.field(static=True)

    def __init__(self, events: Events, check_actions: bool = False):
        self.observations = jnp.asarray(events.observations)
        self.rewards = jnp.asarray(events.rewards)
        self.terminated = jnp.asarray(events.terminated)
        self.truncated = jnp.asarray(events.truncated)
        dim = events.observations.shape[1]
        self.observation_space = Box(-np.inf, np.inf, shape=(dim,))
        self.action_space = Discrete(2)
        self.check_actions = check_actions

    def reset_env(self, *, key: PRNGKeyArray) -> tuple[ReplayState, Array, dict]:
        return ReplayState(jnp.array(0, jnp.int32)), self.observations[0], {}

    def autoreset_env(
        self, state: ReplayState, *, key: PRNGKeyArray
    ) -> tuple[ReplayState, Array, dict]:
        index = state.index + 1
        return ReplayState(index), self.observations[index], {}

    def step_env(
        self, state: ReplayState, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[ReplayState, Array, Array, Array, Array, dict]:
        i = state.index + 1
        return (
            ReplayState(i),
            self.observations[i],
            self.rewards[i],
            self.terminated[i],
            self.truncated[i],
            {},
        )


class GymReplayEnv(gymnasium.Env):
    """The Gymnasium twin of `ReplayEnv`: each call takes the next event and
    checks that it is of the expected kind."""

    def __init__(self, events: Events):
        self.events = events
        dim = events.observations.shape[1]
        self.observation_space = gymnasium.spaces.Box(
            -np.inf, np.inf, (dim,), np.float32
        )
        self.action_space = gymnasium.spaces.Discrete(2)
        self.next = 0

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        assert self.events.resets[self.next]
        obs = self.events.observations[self.next]
        self.next += 1
        return obs.copy(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        i = self.next
        assert not self.events.resets[i]
        self.next += 1
        return (
            self.events.observations[i].copy(),
            float(self.events.rewards[i]),
            bool(self.events.terminated[i]),
            bool(self.events.truncated[i]),
            {},
        )


def run_lerax(env: AbstractEnv, steps: int) -> list[tuple[Any, ...]]:
    """`steps` steps of `env` (a `ReplayEnv`, wrapped), jitted and scanned.

    Returns the first observation and info, then per step the returned
    observation, reward, flags and info, all as NumPy.
    """

    def body(state: Any, key: Array) -> tuple[Any, tuple[Any, ...]]:
        state, obs, reward, terminated, truncated, info = env.step(state, 0, key=key)
        return state, (obs, reward, terminated, truncated, info)

    @jax.jit
    def run(key: Array) -> tuple[Any, ...]:
        state, obs, info = env.reset(key=key)
        _, outputs = jax.lax.scan(body, state, jax.random.split(key, steps))
        return obs, info, outputs

    obs, info, (o, r, te, tr, infos) = jax.device_get(run(jax.random.key(0)))
    rows = [
        (o[t], r[t], te[t], tr[t], jax.tree.map(lambda x, t=t: x[t], infos))
        for t in range(steps)
    ]
    return [(obs, info), *rows]


def run_gymnasium(env: gymnasium.Env, steps: int) -> list[tuple[Any, ...]]:
    """The same as `run_lerax` for a Gymnasium env, resetting after every episode;
    a step that ends an episode returns ``(final_obs, reward, terminated, truncated,
    info, reset_obs)``."""
    obs, info = env.reset()
    rows: list[tuple[Any, ...]] = [(obs, info)]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(0)
        row: tuple[Any, ...] = (obs, reward, terminated, truncated, info)
        if terminated or truncated:
            reset_obs, _ = env.reset()
            row = (*row, reset_obs)
        rows.append(row)
    return rows


@final
class EchoEnv(AbstractEnv[Int[Array, ""], Box, Box]):
    """Observes the action it was given, and is rewarded with its first entry;
    episodes last `length` steps."""

    observation_space: Box
    action_space: Box
    length: int = eqx.field(static=True)
    check_actions: bool = eqx.field(static=True)

    def __init__(self, low: Any, high: Any, length: int = 5):
        self.action_space = Box(low, high)
        self.observation_space = Box(-np.inf, np.inf, shape=self.action_space.shape)
        self.length = length
        self.check_actions = False

    def reset_env(self, *, key: PRNGKeyArray) -> tuple[Array, Array, dict]:
        return jnp.array(0, jnp.int32), jnp.zeros_like(self.action_space.low), {}

    def step_env(
        self, state: Array, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[Array, Array, Array, Array, Array, dict]:
        action = jnp.asarray(action, jnp.float32)
        t = state + 1
        return t, action, action.ravel()[0], jnp.array(False), t >= self.length, {}

    def render(self, state: Array) -> Array:
        """A 2 x 3 image whose pixels are the step count."""
        return jnp.full((2, 3, 3), state, jnp.uint8)


class GymEchoEnv(gymnasium.Env):
    """The Gymnasium twin of `EchoEnv`."""

    def __init__(self, low: Any, high: Any):
        self.zeros = np.zeros_like(np.asarray(low, np.float32))
        self.action_space = gymnasium.spaces.Box(
            np.asarray(low, np.float32), np.asarray(high, np.float32), dtype=np.float32
        )
        self.observation_space = gymnasium.spaces.Box(
            -np.inf, np.inf, self.zeros.shape, np.float32
        )

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[Any, dict]:
        return self.zeros.copy(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        action = np.asarray(action, np.float32)
        return action, float(action.ravel()[0]), False, False, {}


@final
class DictEnv(AbstractEnv[Int[Array, ""], Dict, Discrete]):
    """Observations in a `Dict` of a `Box` and a `Discrete` space, drawn at random."""

    observation_space: Dict
    action_space: Discrete
    check_actions: bool = eqx.field(static=True)

    def __init__(self):
        self.observation_space = Dict(
            position=Box(-2.0, 3.0, shape=(2, 2)), mode=Discrete(3)
        )
        self.action_space = Discrete(2)
        self.check_actions = False

    def reset_env(self, *, key: PRNGKeyArray) -> tuple[Array, dict, dict]:
        return jnp.array(0, jnp.int32), self.observation_space.sample(key=key), {}

    def step_env(
        self, state: Array, action: ArrayLike, *, key: PRNGKeyArray
    ) -> tuple[Array, dict, Array, Array, Array, dict]:
        obs = self.observation_space.sample(key=key)
        return state + 1, obs, jnp.array(1.0), jnp.array(False), state >= 3, {}
