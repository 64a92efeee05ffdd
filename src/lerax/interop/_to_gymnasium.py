"""`to_gymnasium` and `to_gymnasium_vector`: lerax envs for Gymnasium code."""

import importlib
from typing import Any

from lerax.env import AbstractEnv

from ._extras import require

__all__ = ["to_gymnasium", "to_gymnasium_vector"]


def to_gymnasium(env: AbstractEnv, *, render_mode: str | None = None) -> Any:
    """A lerax environment as a ``gymnasium.Env``.

    Each `reset` and `step` is one jitted call, with NumPy values in and out;
    the spaces are converted with `space_to_gymnasium`. The env behaves as
    Gymnasium's own do: it never resets by itself (`step` after the end of an
    episode raises ``gymnasium.error.ResetNeeded``), and it passes
    ``gymnasium.utils.env_checker.check_env``.

    Seeding: ``reset(seed=s)`` restarts a stream of PRNG keys from
    ``key_from_seed(s)`` (``jax.random.key(s)`` for ``s < 2**32``); every
    `reset` and `step` then splits the stream once and hands the new key to
    the lerax env (``env.reset(key=...)``, ``env.step_env(state, action,
    key=...)``). So ``reset(seed=s)`` gives the observation of
    ``env.reset(key=jax.random.split(jax.random.key(s))[1])``.

    ```python
    import gymnasium
    from lerax.env import CartPole
    from lerax.interop import to_gymnasium

    env = to_gymnasium(CartPole(), render_mode="rgb_array")
    check_env(env)
    observation, info = env.reset(seed=0)
    observation, reward, terminated, truncated, info = env.step(1)
    frame = env.render()  # uint8[400, 600, 3]
    ```

    Args:
        env: A lerax environment.
        render_mode: ``None``, or ``"rgb_array"`` to draw the current state with
            the env's `render` (its ``render_fps`` goes to ``metadata``).

    Returns:
        A ``gymnasium.Env`` (a `LeraxGymnasiumEnv`); its ``lerax_env`` is `env`
        and its ``state`` the current lerax state.

    Raises:
        MissingExtraError: If Gymnasium is not installed
            (``pip install 'lerax[gymnasium]'``).
        TypeError: If `env` is not a lerax environment.
        ValueError: If `render_mode` is neither ``None`` nor ``"rgb_array"``,
            or the env cannot be drawn.
        UnsupportedSpaceError: If a space is not one of lerax's.
    """
    require("gymnasium", "gymnasium", "to_gymnasium")
    module = importlib.import_module("lerax.interop._gymnasium_env")
    return module.LeraxGymnasiumEnv(env, render_mode=render_mode)


def to_gymnasium_vector(
    env: AbstractEnv,
    num_envs: int,
    *,
    autoreset_mode: Any = "NextStep",
    render_mode: str | None = None,
) -> Any:
    """A lerax environment as a ``gymnasium.vector.VectorEnv`` of `num_envs`
    copies, stepped together by one jitted, `jax.vmap`-ped call.

    Two of Gymnasium 1.x's autoreset modes (``metadata["autoreset_mode"]``):

    * ``AutoresetMode.NEXT_STEP`` (``"NextStep"``, the default, as in
      Gymnasium's own vector envs): the step that ends an episode returns its
      last observation; the next `step` of that sub-environment ignores its
      action and resets it, returning the first observation with reward 0 and
      no termination or truncation. Sub-environment ``i`` of
      ``reset(seed=s)`` is then exactly ``to_gymnasium(env)`` reset with seed
      ``s + i``, and reset again (without a seed) where it autoresets.
    * ``AutoresetMode.SAME_STEP`` (``"SameStep"``): lerax's own automatic reset
      (`lerax.env.AbstractEnv.step`). The step that ends an episode returns the
      first observation of the next one, with the last one in
      ``infos["final_obs"]`` and the step's info in ``infos["final_info"]``
      (without its ``"action_mask"``, which lerax gives for the next episode;
      masks ``"_final_obs"`` and ``"_final_info"``; both keys only when an
      episode ended).

    Every other key ``k`` of the lerax info (e.g. ``"action_mask"``) comes with
    Gymnasium's mask ``"_k"``. ``reset(seed=s)`` seeds sub-environment ``i``
    with ``s + i``; a list of seeds gives each its own.

    ```python
    from lerax.env import CartPole
    from lerax.interop import to_gymnasium_vector

    envs = to_gymnasium_vector(CartPole(), 8)
    observations, infos = envs.reset(seed=0)  # float32[8, 4]
    observations, rewards, terminations, truncations, infos = envs.step(
        envs.action_space.sample()
    )
    ```

    Args:
        env: A lerax environment (unbatched).
        num_envs: Number of sub-environments, positive.
        autoreset_mode: ``gymnasium.vector.AutoresetMode.NEXT_STEP`` or
            ``SAME_STEP``, or their values ``"NextStep"`` and ``"SameStep"``.
            ``DISABLED`` is not supported.
        render_mode: ``None``, or ``"rgb_array"``: `render` then returns a tuple
            of each sub-environment's image.

    Returns:
        A ``gymnasium.vector.VectorEnv`` (a `LeraxGymnasiumVectorEnv`).

    Raises:
        MissingExtraError: If Gymnasium is not installed.
        TypeError: If `env` is not a lerax environment.
        ValueError: If `num_envs` is not a positive integer, `autoreset_mode`
            is not one of the two modes, or `render_mode` is not supported.
        UnsupportedSpaceError: If a space is not one of lerax's.
    """
    require("gymnasium", "gymnasium", "to_gymnasium_vector")
    module = importlib.import_module("lerax.interop._gymnasium_vector")
    return module.LeraxGymnasiumVectorEnv(
        env, num_envs, autoreset_mode=autoreset_mode, render_mode=render_mode
    )
