"""Recording a video of a policy acting in an environment."""

import importlib
import numbers
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int, Key, PyTree

from lerax.utils import MissingExtraError

from ._env import AbstractEnv
from ._gif import write_gif

__all__ = ["record_video"]

_FORMATS = (".gif", ".mp4")
# Frames rendered per vmapped call: large enough to amortise the call, small
# enough that the float32 drawing buffers stay around 100 MB at 600 x 400.
_CHUNK = 32

_MISSING = (
    "record_video needs {package} to write {kind} files; install lerax's video "
    'extra: pip install "lerax[video]"'
)
# Module -> the package that provides it.
_PACKAGES = {"PIL": "Pillow", "imageio": "imageio", "imageio_ffmpeg": "imageio-ffmpeg"}


def record_video(
    env: AbstractEnv,
    policy: Any,
    path: str | os.PathLike[str],
    *,
    key: Key[Array, ""],
    episodes: int = 1,
    fps: float | None = None,
    max_steps: int | None = None,
    deterministic: bool = True,
) -> Path:
    """Writes a GIF or MP4 of `policy` acting in `env`, one episode after another.

    The episodes run in one jitted, vmapped `jax.lax.scan`; the frames are then
    drawn by ``env.render``, vmapped over batches of states, and written by
    Pillow (GIF, with one palette for the whole video) or imageio with
    imageio-ffmpeg (MP4), all three from lerax's optional ``video`` extra
    (``pip install "lerax[video]"``). Each episode shows its first
    state and the state after every step, its last state included (the
    rollout calls `AbstractEnv.reset` and the `AbstractEnv.step_env` hook, since
    `AbstractEnv.step` would replace the last state by a fresh episode's
    first; it does not check actions). An episode ends when the env
    terminates or truncates it, or after `max_steps` steps.

    The policy is duck-typed, so that `lerax.env` needs nothing from
    `lerax.policy`; each of these works:

    * a stateless lerax policy (`lerax.policy.AbstractStatelessPolicy`), or
      anything with ``predict(observation)`` returning the action and
      ``__call__(observation, *, key)`` returning a tuple whose first element
      is the action;
    * a stateful one (`lerax.policy.AbstractStatefulPolicy`), recognised by a
      ``reset(*, key)`` method giving the state each episode starts from,
      ``predict(state, observation)`` returning ``(state, action)`` and
      ``__call__(state, observation, *, key)`` returning ``(state, action,
      ...)``;
    * a plain function ``policy(observation, *, key)`` returning the action,
      e.g. ``lambda obs, *, key: env.action_space.sample(key=key)``.

    When the env gives action masks, each call also gets
    ``action_mask=info["action_mask"]``.

    Example:

    ```python
    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    record_video(env, policy, "cartpole.gif", key=jax.random.key(1))
    ```

    Args:
        env: The environment (unbatched); it must implement `AbstractEnv.render`.
        policy: The policy, as above.
        path: Where to write: a ``.gif`` (looping) or ``.mp4`` file; missing
            parent folders are created.
        key: PRNG key for the episodes' start states, the env's randomness
            and sampled actions.
        episodes: Number of episodes, a positive integer.
        fps: Frames per second of the video; by default ``env.render_fps``,
            the speed at which the env plays in real time.
        max_steps: Stop an episode after this many steps; by default the env's
            ``max_episode_steps``. One of the two must be set.
        deterministic: Take ``policy.predict``'s action (argmax or mean);
            false samples from the policy with ``policy(...)``. Plain functions
            are called the same way either way.

    Returns:
        The path written.

    Raises:
        ValueError: If the suffix of `path` is not ``.gif`` or ``.mp4``, an
            argument is out of range, or neither `max_steps` nor the env's
            ``max_episode_steps`` bounds the episodes.
        lerax.utils.MissingExtraError: If a package needed for the format is
            not installed (Pillow for GIF, imageio and imageio-ffmpeg for MP4);
            an `ImportError` whose message names the extra to install.
        NotImplementedError: If `env` does not implement `render`; raised
            before the episodes run.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"path must end in .gif or .mp4, got {str(path)!r}")
    episodes = _positive_int("episodes", episodes)
    if max_steps is None:
        max_steps = getattr(env, "max_episode_steps", None)
        if max_steps is None:
            raise ValueError(
                f"max_steps must be given, since {type(env).__name__} has no "
                "max_episode_steps to bound the episodes"
            )
    steps = _positive_int("max_steps", max_steps)
    if fps is None:
        fps = float(getattr(env, "render_fps", 30.0))
    elif isinstance(fps, bool) or not (
        isinstance(fps, numbers.Real) and 0 < fps < float("inf")
    ):
        raise ValueError(f"fps must be a positive number or None, got {fps!r}")
    _require(suffix)
    # Trace render once, cheaply, so that an env without one fails now rather
    # than after the episodes.
    jax.eval_shape(lambda k: env.render(env.reset(key=k)[0]), key)

    states, lengths = _rollout(env, policy, key, episodes, steps, bool(deterministic))
    frames = _Frames(env, jax.device_get(states), np.asarray(lengths))
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        # The palette comes from frames spread over the whole video.
        sample = np.linspace(0, frames.count - 1, min(frames.count, _CHUNK))
        write_gif(path, frames, sample=frames.render(sample.astype(np.int64)), fps=fps)
    else:
        _write_mp4(path, frames, fps=fps)
    return path


def _positive_int(name: str, value: Any) -> int:
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | np.integer)
        or value < 1
    ):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _require(suffix: str) -> None:
    """Checks, before any work is done, that writing `suffix` files can work.

    Raises:
        MissingExtraError: If a package of the ``video`` extra is missing.
    """
    kind = suffix[1:].upper()
    needed = {".gif": ("PIL",), ".mp4": ("imageio", "imageio_ffmpeg")}[suffix]
    for module in needed:
        try:
            importlib.import_module(module)
        except ImportError as e:
            package = _PACKAGES[module]
            raise MissingExtraError(
                _MISSING.format(package=package, kind=kind), extra="video"
            ) from e


class _Frames:
    """The frames of recorded episodes, in order: each episode's first state,
    then one per step; rendered on demand, `_CHUNK` states per vmapped call."""

    def __init__(
        self, env: AbstractEnv, states: PyTree[np.ndarray], lengths: np.ndarray
    ):
        self._env = env
        self._states = states
        self._episode = np.repeat(np.arange(len(lengths)), lengths + 1)
        self._step = np.concatenate([np.arange(n + 1) for n in lengths])
        self.count = len(self._step)

    def render(self, indices: np.ndarray) -> Array:
        """``uint8[len(indices), H, W, 3]``: the frames at `indices` (at most
        `_CHUNK` of them), on the device."""
        # Padded to `_CHUNK` states, so that rendering compiles once.
        padded = np.resize(indices, _CHUNK)
        episode, step = self._episode[padded], self._step[padded]
        batch = jax.tree.map(lambda x: x[episode, step], self._states)
        return _render(self._env, batch)[: len(indices)]

    def __iter__(self) -> Iterator[Array]:
        for start in range(0, self.count, _CHUNK):
            yield self.render(np.arange(start, min(start + _CHUNK, self.count)))


def _write_mp4(path: Path, batches: Iterable[Array], *, fps: float) -> None:
    import imageio.v2 as imageio

    with warnings.catch_warnings():
        # imageio-ffmpeg starts ffmpeg with subprocess, whose fork is followed
        # at once by exec: JAX's warning about forking a threaded process does
        # not apply.
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        # H.264 needs even sizes only; imageio's default block of 16 pixels
        # would resize 600 x 400 and 500 x 500 frames.
        writer: Any = imageio.get_writer(
            path, format="FFMPEG", mode="I", fps=fps, macro_block_size=2
        )
        with writer:
            for frames in batches:
                for frame in np.asarray(frames):
                    writer.append_data(frame)


@final
class _Step(eqx.Module):
    """Scan carry of one recorded episode."""

    env_state: PyTree[Array]
    observation: PyTree[Array]
    action_mask: Bool[Array, " n"] | None
    policy_state: PyTree[Array] | None
    ended: Bool[Array, ""]


@eqx.filter_jit
def _rollout(
    env: AbstractEnv,
    policy: Any,
    key: Key[Array, ""],
    episodes: int,
    steps: int,
    deterministic: bool,
) -> tuple[PyTree[Array], Int[Array, " episodes"]]:
    """States of `episodes` episodes, ``[episodes, steps + 1]`` each, and their
    lengths in steps; an episode's state stays put once it has ended."""
    stateful = callable(getattr(policy, "reset", None))

    def act(carry: _Step, key: Key[Array, ""]) -> tuple[Any, Array]:
        kwargs = {} if carry.action_mask is None else {"action_mask": carry.action_mask}
        observation = carry.observation
        if not hasattr(policy, "predict"):
            return carry.policy_state, policy(observation, key=key, **kwargs)
        if stateful:
            if deterministic:
                return policy.predict(carry.policy_state, observation, **kwargs)
            out = policy(carry.policy_state, observation, key=key, **kwargs)
            return out[0], out[1]
        if deterministic:
            return None, policy.predict(observation, **kwargs)
        return None, policy(observation, key=key, **kwargs)[0]

    def step(carry: _Step, key: Key[Array, ""]) -> tuple[_Step, Any]:
        action_key, env_key = jax.random.split(key)
        policy_state, action = act(carry, action_key)
        env_state, observation, _, terminated, truncated, info = env.step_env(
            carry.env_state, action, key=env_key
        )
        mask = info.get("action_mask")
        new = _Step(
            env_state=env_state,
            observation=observation,
            action_mask=None if mask is None else jnp.asarray(mask, bool),
            policy_state=policy_state,
            ended=jnp.logical_or(terminated, truncated),
        )
        # An ended episode keeps its last state (and still counts as ended).
        new = jax.tree.map(lambda n, o: jnp.where(carry.ended, o, n), new, carry)
        return new, (new.env_state, ~carry.ended)

    def run(key: Key[Array, ""]) -> tuple[PyTree[Array], Int[Array, ""]]:
        env_key, policy_key, key = jax.random.split(key, 3)
        env_state, observation, info = env.reset(key=env_key)
        mask = info.get("action_mask")
        start = _Step(
            env_state=env_state,
            observation=observation,
            action_mask=None if mask is None else jnp.asarray(mask, bool),
            policy_state=policy.reset(key=policy_key) if stateful else None,
            ended=jnp.array(False),
        )
        _, (later, moved) = jax.lax.scan(step, start, jax.random.split(key, steps))
        states = jax.tree.map(
            lambda first, rest: jnp.concatenate([first[None], rest]), env_state, later
        )
        return states, jnp.sum(moved, dtype=jnp.int32)

    return jax.vmap(run)(jax.random.split(key, episodes))


@eqx.filter_jit
def _render(env: AbstractEnv, states: PyTree[Array]) -> Array:
    return jax.vmap(env.render)(states)
