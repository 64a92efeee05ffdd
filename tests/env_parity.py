"""Step-by-step comparison of lerax environments with their Gymnasium originals.

Shared by the ``tests/test_env_<name>.py`` files of the classic-control ports.
`rollouts` runs batched episode streams through lerax (jit + vmap + scan, with
automatic resets); `check_parity` then replays every step in Gymnasium from
lerax's pre-step state, so each step is compared from identical states (float32
values are exact float64 values) and only one step's rounding separates the two.
"""

import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lerax.env import AbstractEnv


class Counts(NamedTuple):
    """What a parity run covered."""

    steps: int
    terminated: int
    truncated: int
    # Steps whose terminated flag differs, each with Gymnasium's terminal
    # condition within float32 rounding of its threshold.
    near_misses: int


@eqx.filter_jit
def rollouts(
    env: AbstractEnv,
    controller: Callable[[jax.Array], jax.Array],
    key: jax.Array,
    random_actions: ArrayLike,
    use_random: ArrayLike,
) -> Any:
    """Runs one episode stream per row of `random_actions` ([batch, steps, ...]).

    At each step the action is the random one where `use_random` is set, else
    ``controller(observation)``. Returns ``(pre_state, action, *step_outputs)``
    per step, each with leading ``[batch, steps]`` axes.
    """

    def one(key, randoms, use):
        reset_key, key = jax.random.split(key)
        state, obs, _ = env.reset(key=reset_key)

        def body(carry, inputs):
            state, obs = carry
            random_action, use_it, step_key = inputs
            action = jnp.where(use_it, random_action, controller(obs))
            out = env.step(state, action, key=step_key)
            return (out[0], out[1]), (state, action, *out)

        keys = jax.random.split(key, randoms.shape[0])
        _, trajectory = jax.lax.scan(body, (state, obs), (randoms, use, keys))
        return trajectory

    random_actions = jnp.asarray(random_actions)
    keys = jax.random.split(key, random_actions.shape[0])
    return jax.vmap(one)(keys, random_actions, jnp.asarray(use_random))


def check_parity(
    trajectory: Any,
    gym_env: gymnasium.Env,
    set_gym_state: Callable[[Any, Any], None],
    *,
    seed: int,
    obs_rtol: float,
    obs_atol: float,
    reward_rtol: float = 0.0,
    reward_atol: float = 0.0,
    near_threshold: Callable[[Any], bool] | None = None,
    in_reset_distribution: Callable[[np.ndarray], bool],
) -> Counts:
    """Replays `trajectory` (from `rollouts`) in `gym_env` and compares each step.

    Before every step, ``set_gym_state(gym_env.unwrapped, pre_state)`` gives
    Gymnasium lerax's state; Gymnasium's `reset` is called where lerax starts an
    episode, so that its `TimeLimit` counts the same steps.

    Args:
        trajectory: Output of `rollouts`.
        gym_env: ``gymnasium.make(...)`` of the same task and time limit.
        set_gym_state: Writes a lerax state (NumPy leaves) into the unwrapped
            Gymnasium env.
        seed: Seeds Gymnasium's resets.
        obs_rtol: Relative tolerance on observations.
        obs_atol: Absolute tolerance on observations.
        reward_rtol: Relative tolerance on rewards (0: exact).
        reward_atol: Absolute tolerance on rewards.
        near_threshold: Tells, from the unwrapped Gymnasium env after a step,
            whether its terminal condition is within float32 rounding of the
            threshold; only then may the terminated flags differ. `None`: they
            must always agree.
        in_reset_distribution: Tells whether an observation can start an
            episode.

    Returns:
        What the run covered.
    """
    pre, actions, post, obs, reward, terminated, truncated, info = jax.tree.map(
        np.asarray, trajectory
    )
    final_obs = info["final_observation"]
    assert obs.dtype == np.float32
    assert final_obs.dtype == np.float32
    assert reward.dtype == np.float32
    assert terminated.dtype == np.bool_
    assert truncated.dtype == np.bool_

    rng = np.random.default_rng(seed)
    inner = gym_env.unwrapped
    n_seqs, n_steps = reward.shape
    n_terminated = n_truncated = near_misses = 0
    for i in range(n_seqs):
        for j in range(n_steps):
            if pre.t[i, j] == 0:
                gym_env.reset(seed=int(rng.integers(2**31)))
            set_gym_state(inner, jax.tree.map(operator.itemgetter((i, j)), pre))
            action = actions[i, j]
            g_obs, g_reward, g_term, g_trunc, _ = gym_env.step(
                int(action) if action.ndim == 0 else action
            )
            where = f"sequence {i}, step {j} (episode step {pre.t[i, j]})"
            np.testing.assert_allclose(
                final_obs[i, j], g_obs, rtol=obs_rtol, atol=obs_atol, err_msg=where
            )
            np.testing.assert_allclose(
                reward[i, j],
                float(g_reward),
                rtol=reward_rtol,
                atol=reward_atol,
                err_msg=where,
            )
            if terminated[i, j] != g_term:
                assert near_threshold is not None and near_threshold(inner), where
                near_misses += 1
            assert truncated[i, j] == g_trunc, where
            n_terminated += g_term
            n_truncated += g_trunc
            if terminated[i, j] or truncated[i, j]:
                # Auto-reset: a fresh episode from the reset distribution.
                assert post.t[i, j] == 0, where
                assert in_reset_distribution(obs[i, j]), where
            else:
                assert post.t[i, j] == pre.t[i, j] + 1, where
                np.testing.assert_array_equal(obs[i, j], final_obs[i, j], where)
    return Counts(n_seqs * n_steps, n_terminated, n_truncated, near_misses)


def assert_same_distribution(
    ours: np.ndarray, theirs: np.ndarray, *, atol: float
) -> None:
    """Deciles of two samples ([n, d]) agree within `atol`, column by column."""
    quantiles = np.linspace(0.1, 0.9, 9)
    np.testing.assert_allclose(
        np.quantile(ours, quantiles, axis=0),
        np.quantile(theirs, quantiles, axis=0),
        atol=atol,
    )


@eqx.filter_jit
def _reset_and_step(env: AbstractEnv, action: Any) -> Any:
    state, _, _ = env.reset(key=jax.random.key(0))
    return env.step(state, action, key=jax.random.key(1))


def assert_round_trip(env: Any, kwargs: dict[str, Any], path: Any, action: Any) -> None:
    """`env` (built with `kwargs`) survives `serialize` and both `deserialize`s."""
    cls = type(env)
    env.serialize(path)
    expected = _reset_and_step(env, action)
    for loaded in [cls.deserialize(path), cls.deserialize(path, **kwargs)]:
        assert type(loaded) is cls
        assert loaded == env
        for name, value in kwargs.items():
            assert getattr(loaded, name) == value, name
        # Equal fields: the compiled program is reused, and gives the same steps.
        out = _reset_and_step(loaded, action)
        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(expected), strict=True):
            np.testing.assert_array_equal(a, b)
