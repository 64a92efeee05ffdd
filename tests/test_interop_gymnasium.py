"""Tests of lerax.interop's Gymnasium adapters: spaces both ways, lerax envs as
Gymnasium envs and vector envs (parity, check_env, autoreset modes), Gymnasium
envs as lerax envs (parity with Gymnasium, evaluate, learn, states as values),
Stable-Baselines3 through the adapter, and the missing-extra errors."""

import re
import subprocess
import sys
import warnings
from typing import Any

import equinox as eqx
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from lerax.algorithm import PPO, evaluate
from lerax.env import (
    Box,
    CartPole,
    Dict,
    Discrete,
    MultiBinary,
    MultiDiscrete,
    Tuple,
    make,
    registered_ids,
)
from lerax.interop import (
    GymnasiumEnv,
    InteropError,
    StaleStateError,
    UnsupportedSpaceError,
    key_from_seed,
    space_from_gymnasium,
    space_to_gymnasium,
    to_gymnasium,
    to_gymnasium_vector,
)
from lerax.interop._gymnasium_spaces import value_to_gymnasium
from lerax.interop._values import numpy_value
from lerax.policy import MLPActorCriticPolicy
from lerax.utils import MissingExtraError, SerializationError

# JAX reports an exception raised inside a callback as one of these, with the
# original's type and message in its text.
CALLBACK_ERRORS = (jax.errors.JaxRuntimeError, ValueError)


# -- layers and extras --------------------------------------------------------------


def test_interop_sits_on_top_and_imports_no_optional_package():
    script = (
        "import sys, lerax.utils, lerax.env, lerax.policy, lerax.algorithm\n"
        "print('lerax.interop' in sys.modules)\n"
        "import lerax.interop\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'gymnasium', 'gymnax', 'flax', 'torch', 'stable_baselines3'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["False", "[]"]


MISSING_GYMNASIUM = {
    "to_gymnasium": lambda: to_gymnasium(CartPole()),
    "to_gymnasium_vector": lambda: to_gymnasium_vector(CartPole(), 2),
    "GymnasiumEnv": lambda: GymnasiumEnv("CartPole-v1"),
    "space_to_gymnasium": lambda: space_to_gymnasium(Discrete(2)),
    "space_from_gymnasium": lambda: space_from_gymnasium(None),
}


@pytest.mark.parametrize("feature", MISSING_GYMNASIUM)
def test_without_gymnasium_each_adapter_names_the_extra(feature, monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "gymnasium"]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExtraError) as raised:
        MISSING_GYMNASIUM[feature]()
    assert isinstance(raised.value, ImportError)
    assert raised.value.extra == "gymnasium"
    assert re.fullmatch(
        rf"{feature} needs the gymnasium package \(import of gymnasium(\.spaces)? "
        r"halted; None in sys.modules\): pip install 'lerax\[gymnasium\]'",
        str(raised.value),
    )


# -- spaces -------------------------------------------------------------------------

LERAX_SPACES = {
    "box": Box(-1.0, 2.0, (2, 3)),
    "box_unbounded": Box(np.array([-np.inf, 0.0]), np.array([np.inf, 1.0])),
    "box_uint8": Box(0, 255, (4, 4), jnp.uint8),
    "discrete": Discrete(5),
    "multi_discrete": MultiDiscrete([[2, 3], [4, 5]]),
    "multi_binary": MultiBinary(3),
    "multi_binary_2d": MultiBinary([2, 2]),
    "dict": Dict({"b": Discrete(2), "a": Tuple([Box(0.0, 1.0, (2,)), MultiBinary(2)])}),
    "tuple": Tuple([Discrete(3), Dict(x=Box(-1.0, 1.0, (1,)), y=MultiDiscrete([3]))]),
}


@pytest.mark.parametrize("name", LERAX_SPACES)
def test_lerax_spaces_round_trip_through_gymnasium_with_their_elements(name):
    space = LERAX_SPACES[name]
    gym_space = space_to_gymnasium(space)
    assert space_from_gymnasium(gym_space) == space
    sample = jax.jit(lambda key: space.sample(key=key))
    contains = jax.jit(lambda x: space.contains(x))
    for seed in range(5):
        element = jax.device_get(sample(jax.random.key(seed)))
        assert gym_space.contains(value_to_gymnasium(element, gym_space))
        gym_space.seed(seed)
        assert bool(contains(numpy_value(gym_space.sample(), space)))


GYMNASIUM_SPACES = {
    "box": spaces.Box(-1.0, 1.0, (3,), np.float32),
    "box_uint8": spaces.Box(0, 255, (2, 2), np.uint8),
    "discrete": spaces.Discrete(4),
    "multi_discrete": spaces.MultiDiscrete([3, 2]),
    "multi_binary": spaces.MultiBinary(4),
    "dict": spaces.Dict({"x": spaces.Discrete(2), "y": spaces.MultiBinary([2, 3])}),
    "tuple": spaces.Tuple(
        [spaces.Box(0.0, 1.0, (2,), np.float32), spaces.Dict({"z": spaces.Discrete(3)})]
    ),
}


@pytest.mark.parametrize("name", GYMNASIUM_SPACES)
def test_gymnasium_spaces_round_trip_through_lerax(name):
    space = GYMNASIUM_SPACES[name]
    assert space_to_gymnasium(space_from_gymnasium(space)) == space


def test_gymnasium_float64_and_int64_boxes_take_jax_dtypes():
    assert space_from_gymnasium(spaces.Box(-1.0, 1.0, (2,), np.float64)) == Box(
        -1.0, 1.0, (2,), jnp.float32
    )
    assert space_from_gymnasium(spaces.Box(0, 9, (2,), np.int64)) == Box(
        0, 9, (2,), jnp.int32
    )


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (spaces.Text(5), "lerax has no counterpart of a Gymnasium Text space"),
        (
            spaces.Sequence(spaces.Discrete(2)),
            "lerax has no counterpart of a Gymnasium Sequence space",
        ),
        (
            spaces.Graph(node_space=spaces.Discrete(2), edge_space=None),
            "lerax has no counterpart of a Gymnasium Graph space",
        ),
        (
            spaces.OneOf([spaces.Discrete(2), spaces.Discrete(3)]),
            "lerax has no counterpart of a Gymnasium OneOf space",
        ),
        (
            spaces.Discrete(3, start=1),
            "lerax's Discrete spaces start at 0, got a Discrete space starting at 1",
        ),
        (
            spaces.MultiDiscrete([2, 3], start=[0, 1]),
            "lerax's MultiDiscrete spaces start at 0, got one starting at [0, 1]",
        ),
        (
            spaces.Box(0, 2**40, (2,), np.int64),
            "the bounds of a int64 Box exceed the range of int32; enable "
            "jax_enable_x64 or narrow them",
        ),
        (
            spaces.Tuple([spaces.Discrete(2), spaces.Text(3)]),
            "lerax has no counterpart of a Gymnasium Text space",
        ),
    ],
)
def test_unsupported_gymnasium_spaces_are_refused(space, message):
    with pytest.raises(UnsupportedSpaceError, match=rf"^{re.escape(message)}$"):
        space_from_gymnasium(space)


def test_only_lerax_spaces_convert_to_gymnasium():
    with pytest.raises(
        UnsupportedSpaceError,
        match=r"^space_to_gymnasium needs a lerax space, got a Discrete$",
    ) as raised:
        space_to_gymnasium(spaces.Discrete(2))  # pyright: ignore[reportArgumentType]
    assert isinstance(raised.value, InteropError)
    assert isinstance(raised.value, ValueError)


# -- lerax env -> gymnasium.Env -------------------------------------------------------

# What check_env may warn about the classic-control envs: infinite observation
# bounds (CartPole; Gymnasium's own uses float32's largest value), Pendulum's
# torque range, and the render modes it cannot test without a registered spec.
EXPECTED_WARNINGS = (
    "minimum value is -infinity",
    "maximum value is infinity",
    "recommend using a symmetric and normalized space",
    "Not able to test alternative render modes",
)


# CartPole's render, jitted once for the tests that compare frames.
_render = jax.jit(lambda state: CartPole().render(state))


def _check(env: Any) -> None:
    """Gymnasium's env checker, failing on any warning but the expected ones."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [
        str(w.message)
        for w in caught
        if not any(text in str(w.message) for text in EXPECTED_WARNINGS)
    ]
    assert not unexpected


@pytest.mark.parametrize("env_id", registered_ids())
def test_to_gymnasium_passes_gymnasiums_env_checker(env_id):
    env = to_gymnasium(make(env_id))
    _check(env)
    assert env.metadata["render_modes"] == ["rgb_array"]
    assert env.metadata["render_fps"] == type(env.lerax_env).render_fps


def test_to_gymnasium_renders_with_the_lerax_env():
    env = to_gymnasium(CartPole(), render_mode="rgb_array")
    _check(env)  # calls render too
    env.reset(seed=0)
    env.step(1)
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.shape == (400, 600, 3)
    assert frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, np.asarray(_render(env.state)))


@pytest.mark.parametrize(
    ("env_id", "steps"), [("CartPole-v1", 300), ("Pendulum-v1", 450)]
)
def test_to_gymnasium_steps_as_the_lerax_env(env_id, steps):
    lerax_env = make(env_id)
    env = to_gymnasium(lerax_env)
    reset, step = jax.jit(lerax_env.reset), jax.jit(lerax_env.step)
    env.action_space.seed(0)
    observation, info = env.reset(seed=7)
    key, reset_key = jax.random.split(jax.random.key(7))
    np.testing.assert_array_equal(observation, reset(key=reset_key)[1])
    assert info == {} and observation.dtype == np.float32
    ends = 0
    for _ in range(steps):
        before = env.state
        action = env.action_space.sample()
        observation, reward, terminated, truncated, info = env.step(action)
        key, step_key = jax.random.split(key)
        _, _, expected_reward, expected_terminated, expected_truncated, expected = step(
            before, numpy_value(action, lerax_env.action_space), key=step_key
        )
        np.testing.assert_array_equal(observation, expected["final_observation"])
        assert reward == float(expected_reward) and isinstance(reward, float)
        assert (terminated, truncated) == (
            bool(expected_terminated),
            bool(expected_truncated),
        )
        if terminated or truncated:
            ends += 1
            observation, _ = env.reset()
            key, reset_key = jax.random.split(key)
            np.testing.assert_array_equal(observation, reset(key=reset_key)[1])
    assert ends >= 2


def test_to_gymnasium_needs_a_reset_before_stepping_and_after_an_episode_ends():
    env = to_gymnasium(CartPole())
    with pytest.raises(gymnasium.error.ResetNeeded, match=r"^call reset before step$"):
        env.step(0)
    env.reset(seed=0)
    terminated = truncated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(1)
    with pytest.raises(
        gymnasium.error.ResetNeeded,
        match=r"^the episode has ended: call reset before step$",
    ):
        env.step(1)
    env.reset()
    env.step(1)


def test_to_gymnasium_passes_invalid_actions_to_the_env_unless_it_checks_them():
    env = to_gymnasium(CartPole())
    env.reset(seed=0)
    # 0.5 is not truncated into the valid action 0: lerax's CartPole sees it.
    observation, reward, *_ = env.step(np.float64(0.5))
    assert np.isnan(observation).all() and np.isnan(reward)
    checked = to_gymnasium(CartPole(check_actions=True))
    checked.reset(seed=0)
    with pytest.raises(
        ValueError,
        match=r"^CartPole.step: the action is not in the action space Discrete\(n=2.*; "
        "build the env with check_actions=False to skip this check$",
    ):
        checked.step(2)
    checked.step(1)


def test_to_gymnasium_refuses_bad_arguments():
    with pytest.raises(
        TypeError, match=r"^to_gymnasium needs a lerax environment, got a str$"
    ):
        to_gymnasium("CartPole-v1")  # pyright: ignore[reportArgumentType]
    with pytest.raises(
        ValueError, match=r"^render_mode must be None or 'rgb_array', got 'human'$"
    ):
        to_gymnasium(CartPole(), render_mode="human")
    assert to_gymnasium(CartPole()).render() is None


# -- lerax env -> gymnasium.vector.VectorEnv ------------------------------------------


def test_vector_env_in_next_step_mode_is_a_batch_of_single_envs():
    envs = to_gymnasium_vector(CartPole(), 3)
    singles = [to_gymnasium(CartPole()) for _ in range(3)]
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert envs.observation_space.shape == (3, 4)
    assert envs.single_action_space == spaces.Discrete(2)
    observations, infos = envs.reset(seed=11)
    assert infos == {}
    for i, single in enumerate(singles):
        np.testing.assert_array_equal(observations[i], single.reset(seed=11 + i)[0])
    rng = np.random.default_rng(0)
    autoresets = 0
    pending = [False] * 3
    for _ in range(120):
        actions = rng.integers(0, 2, size=3)
        observations, rewards, terminations, truncations, _ = envs.step(actions)
        for i, single in enumerate(singles):
            if pending[i]:
                # The step after the end resets: the action is ignored.
                expected = (single.reset()[0], 0.0, False, False)
                autoresets += 1
            else:
                expected = single.step(actions[i])[:4]
            np.testing.assert_array_equal(observations[i], expected[0])
            assert (rewards[i], terminations[i], truncations[i]) == expected[1:]
            pending[i] = bool(terminations[i] or truncations[i])
    assert autoresets >= 3
    np.testing.assert_array_equal(
        envs.reset(seed=[11, 12, 13])[0], envs.reset(seed=11)[0]
    )


def test_vector_env_in_same_step_mode_is_lerax_auto_reset():
    env = CartPole()
    envs = to_gymnasium_vector(env, 4, autoreset_mode=AutoresetMode.SAME_STEP)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    observations, _ = envs.reset(seed=3)
    keys = jnp.stack([key_from_seed(3 + i) for i in range(4)])
    split = jax.vmap(jax.random.split)
    keys, reset_keys = split(keys)[:, 0], split(keys)[:, 1]
    state, expected, _ = jax.jit(jax.vmap(lambda k: env.reset(key=k)))(reset_keys)
    np.testing.assert_array_equal(observations, expected)
    step = jax.jit(jax.vmap(lambda s, a, k: env.step(s, a, key=k)))
    rng = np.random.default_rng(1)
    finals = 0
    for _ in range(80):
        actions = rng.integers(0, 2, size=4)
        observations, rewards, terminations, truncations, infos = envs.step(actions)
        keys, step_keys = split(keys)[:, 0], split(keys)[:, 1]
        state, expected, reward, terminated, truncated, info = step(
            state, jnp.asarray(actions, jnp.int32), step_keys
        )
        np.testing.assert_array_equal(observations, expected)
        np.testing.assert_array_equal(rewards, reward)
        np.testing.assert_array_equal(terminations, terminated)
        np.testing.assert_array_equal(truncations, truncated)
        done = np.asarray(terminated | truncated)
        if done.any():
            finals += 1
            np.testing.assert_array_equal(infos["_final_obs"], done)
            np.testing.assert_array_equal(
                infos["final_obs"][done], np.asarray(info["final_observation"])[done]
            )
            np.testing.assert_array_equal(infos["_final_info"], done)
        else:
            assert "final_obs" not in infos
    assert finals >= 2


@pytest.mark.slow
def test_vector_env_renders_each_sub_environment():
    envs = to_gymnasium_vector(CartPole(), 2, render_mode="rgb_array")
    envs.reset(seed=0)
    envs.step(np.array([0, 1]))
    frames = envs.render()
    assert isinstance(frames, tuple) and len(frames) == 2
    for i, frame in enumerate(frames):
        state = jax.tree.map(lambda leaf, i=i: leaf[i], envs.state)
        np.testing.assert_array_equal(frame, np.asarray(_render(state)))


def test_vector_env_refuses_bad_arguments():
    with pytest.raises(
        ValueError, match=r"^num_envs must be a positive integer, got 0$"
    ):
        to_gymnasium_vector(CartPole(), 0)
    with pytest.raises(
        ValueError,
        match=r"^autoreset_mode must be AutoresetMode.NEXT_STEP or "
        r"AutoresetMode.SAME_STEP, got <AutoresetMode.DISABLED: 'Disabled'>$",
    ):
        to_gymnasium_vector(CartPole(), 2, autoreset_mode=AutoresetMode.DISABLED)
    envs = to_gymnasium_vector(CartPole(), 2)
    with pytest.raises(gymnasium.error.ResetNeeded):
        envs.step(np.zeros(2, np.int64))
    with pytest.raises(
        ValueError,
        match=r"^seed must be an int, None or a list of 2 seeds, got a list of 3$",
    ):
        envs.reset(seed=[1, 2, 3])


# -- Stable-Baselines3 through the adapter ----------------------------------------


def _sb3_env(n_envs: int) -> Any:
    from stable_baselines3.common.env_util import make_vec_env

    return make_vec_env(lambda: to_gymnasium(CartPole()), n_envs=n_envs, seed=0)


def test_stable_baselines3_ppo_runs_on_a_lerax_env():
    sb3 = pytest.importorskip("stable_baselines3")
    model = sb3.PPO(
        "MlpPolicy",
        _sb3_env(2),
        n_steps=64,
        batch_size=64,
        n_epochs=1,
        seed=0,
        device="cpu",
    )
    model.learn(384)
    assert model.num_timesteps == 384
    episodes = list(model.ep_info_buffer)
    assert episodes
    # One reward per step, as in CartPole: each return equals its length.
    assert all(e["r"] == e["l"] and 1 <= e["l"] <= 500 for e in episodes)


@pytest.mark.slow
def test_stable_baselines3_ppo_learns_a_lerax_cartpole():
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.evaluation import evaluate_policy

    model = sb3.PPO(
        "MlpPolicy",
        _sb3_env(8),
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=lambda progress: 1e-3 * progress,
        clip_range=lambda progress: 0.2 * progress,
        seed=0,
        device="cpu",
    )
    model.learn(100_000)
    mean, _ = evaluate_policy(model, _sb3_env(1), n_eval_episodes=10)
    assert isinstance(mean, float) and mean >= 400


# -- gymnasium.Env -> lerax env ----------------------------------------------------


def _seed(key: jax.Array) -> int:
    """The documented seed of GymnasiumEnv.reset_env: 64 bits from the key,
    high word first."""
    high, low = (int(w) for w in jax.random.bits(key, (2,), jnp.uint32))
    return high * 2**32 + low


@eqx.filter_jit
def _lerax_rollout(env, keys, actions):
    """Episode streams of `env`, one per key: (reset observation, then per step
    observation, reward, terminated, truncated, final observation)."""

    def stream(key, actions):
        key, reset_key = jax.random.split(key)
        state, first, _ = env.reset(key=reset_key)

        def body(state, inputs):
            action, step_key = inputs
            state, observation, reward, terminated, truncated, info = env.step(
                state, action, key=step_key
            )
            return state, (
                observation,
                reward,
                terminated,
                truncated,
                info["final_observation"],
            )

        step_keys = jax.random.split(key, actions.shape[0])
        _, outputs = jax.lax.scan(body, state, (actions, step_keys))
        return reset_key, step_keys, first, outputs

    return jax.vmap(stream)(keys, actions)


def test_gymnasium_env_replays_gymnasium_step_by_step():
    """Three batched streams through jit, vmap and scan equal Gymnasium's
    CartPole-v1 driven by hand with the documented seeds."""
    env = GymnasiumEnv("CartPole-v1")
    rng = np.random.default_rng(0)
    actions = jnp.asarray(rng.integers(0, 2, size=(3, 60)), jnp.int32)
    keys = jax.random.split(jax.random.key(5), 3)
    reset_keys, step_keys, first, outputs = _lerax_rollout(env, keys, actions)
    gym_env = gymnasium.make("CartPole-v1")
    ends = 0
    for i in range(3):
        observation, _ = gym_env.reset(seed=_seed(reset_keys[i]))
        np.testing.assert_array_equal(first[i], observation)
        for t in range(actions.shape[1]):
            observation, reward, terminated, truncated, _ = gym_env.step(
                int(actions[i, t])
            )
            np.testing.assert_array_equal(outputs[4][i, t], observation)
            assert float(outputs[1][i, t]) == reward
            assert bool(outputs[2][i, t]) == terminated
            assert bool(outputs[3][i, t]) == truncated
            if terminated or truncated:
                # lerax's step resets with its own key (docs/env.md).
                ends += 1
                observation, _ = gym_env.reset(seed=_seed(step_keys[i, t]))
            np.testing.assert_array_equal(outputs[0][i, t], observation)
    assert ends >= 3


def test_gymnasium_env_works_with_evaluate_deterministically():
    env = GymnasiumEnv("CartPole-v1")
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    returns = evaluate(env, policy, key=jax.random.key(1), num_episodes=3, max_steps=60)
    again = evaluate(env, policy, key=jax.random.key(1), num_episodes=3, max_steps=60)
    np.testing.assert_array_equal(returns, again)
    assert returns.shape == (3,) and np.all((returns >= 1) & (returns <= 60))


def test_ppo_learns_briefly_on_a_gymnasium_env():
    env = GymnasiumEnv("CartPole-v1")
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    ppo = PPO(num_envs=2, num_steps=32, num_epochs=2)
    trained, history = ppo.learn_with_history(env, policy, 256, key=jax.random.key(1))
    assert history.timesteps[-1] == 256
    assert history.num_episodes.sum() >= 1
    lengths = history.episode_length[history.num_episodes > 0]
    returns = history.episode_return[history.num_episodes > 0]
    np.testing.assert_array_equal(lengths, returns)  # CartPole: 1 per step
    changed = jax.tree.map(
        lambda a, b: bool(jnp.any(a != b)),
        eqx.filter(policy, eqx.is_inexact_array),
        eqx.filter(trained, eqx.is_inexact_array),
    )
    assert any(jax.tree.leaves(changed))


def test_gymnasium_env_states_are_values():
    env = GymnasiumEnv("CartPole-v1")
    step = jax.jit(lambda s, a: env.step(s, a, key=jax.random.key(0)))
    state, _, _ = env.reset(key=jax.random.key(3))
    one = step(state, jnp.int32(1))
    # Stepped again with the same action: the same result, no new episode.
    episodes = env.host.num_episodes
    two = step(state, jnp.int32(1))
    jax.tree.map(np.testing.assert_array_equal, one, two)
    assert env.host.num_episodes == episodes
    # Go on, then branch from the first state with the other action.
    later = step(step(one[0], jnp.int32(0))[0], jnp.int32(0))
    branch = step(state, jnp.int32(0))
    gym_env = gymnasium.make("CartPole-v1")
    gym_env.reset(seed=_seed(jax.random.key(3)))
    np.testing.assert_array_equal(branch[1], gym_env.step(0)[0])
    gym_env.reset(seed=_seed(jax.random.key(3)))
    for action in (1, 0, 0):
        expected = gym_env.step(action)[0]
    np.testing.assert_array_equal(later[1], expected)


def test_gymnasium_env_states_go_stale_when_forgotten_or_closed():
    env = GymnasiumEnv("CartPole-v1", max_episodes=1)
    step = jax.jit(lambda s, a: env.step(s, a, key=jax.random.key(0)))
    old = step(env.reset(key=jax.random.key(0))[0], jnp.int32(0))[0]
    step(env.reset(key=jax.random.key(1))[0], jnp.int32(0))
    with pytest.raises(CALLBACK_ERRORS, match="StaleStateError: the Gymnasium episode"):
        jax.block_until_ready(step(old, jnp.int32(0)))
    env.close()
    with pytest.raises(CALLBACK_ERRORS, match="this GymnasiumEnv was closed"):
        jax.block_until_ready(env.reset(key=jax.random.key(2)))
    assert issubclass(StaleStateError, InteropError)


def test_gymnasium_env_refuses_non_integral_discrete_actions():
    env = GymnasiumEnv("CartPole-v1")
    state, _, _ = env.reset(key=jax.random.key(0))
    with pytest.raises(
        CALLBACK_ERRORS,
        match=re.escape("the action array(0.5, dtype=float32) is not an element of "),
    ):
        jax.block_until_ready(env.step(state, jnp.float32(0.5), key=jax.random.key(0)))


class _Drift(gymnasium.Env):
    """A small deterministic env with composite observations and Box actions."""

    def __init__(self):
        self.observation_space = spaces.Dict(
            {
                "position": spaces.Box(-10.0, 10.0, (2,), np.float64),
                "steps": spaces.Discrete(6),
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._position = self.np_random.uniform(-1.0, 1.0, 2)
        self._steps = 0
        return self._observation(), {}

    def step(self, action):
        self._position = (
            self._position + np.asarray(action) + self.np_random.normal(0.0, 0.1, 2)
        )
        self._steps += 1
        truncated = self._steps == 5
        return (
            self._observation(),
            float(-np.abs(self._position).sum()),
            False,
            truncated,
            {},
        )

    def _observation(self):
        return {"position": self._position.copy(), "steps": self._steps}


def test_gymnasium_env_handles_composite_observations_and_box_actions():
    """A stochastic env with Dict observations and Box actions; with
    max_envs=1 the two streams share one Gymnasium env, so every step replays
    its episode (noise included) from the seed and the recorded actions."""
    env = GymnasiumEnv(_Drift, max_envs=1)
    assert env.observation_space == Dict(
        position=Box(-10.0, 10.0, (2,)), steps=Discrete(6)
    )
    actions = jnp.asarray(
        np.random.default_rng(2).uniform(-1, 1, (2, 8, 2)), jnp.float32
    )
    keys = jax.random.split(jax.random.key(9), 2)
    reset_keys, step_keys, first, outputs = _lerax_rollout(env, keys, actions)
    for i in range(2):
        gym_env = _Drift()
        observation, _ = gym_env.reset(seed=_seed(reset_keys[i]))
        np.testing.assert_array_equal(
            first["position"][i], observation["position"].astype(np.float32)
        )
        for t in range(8):
            observation, reward, _, truncated, _ = gym_env.step(
                np.asarray(actions[i, t])
            )
            final = outputs[4]
            np.testing.assert_array_equal(
                final["position"][i, t], observation["position"].astype(np.float32)
            )
            assert int(final["steps"][i, t]) == observation["steps"]
            assert float(outputs[1][i, t]) == np.float32(reward)
            assert bool(outputs[3][i, t]) == truncated
            if truncated:
                gym_env.reset(seed=_seed(step_keys[i, t]))
    assert env.host.num_envs == 1


def test_gymnasium_env_refuses_bad_arguments():
    with pytest.raises(TypeError, match=r"^GymnasiumEnv needs to make several envs"):
        GymnasiumEnv(gymnasium.make("CartPole-v1"))
    with pytest.raises(
        TypeError,
        match=r"^keyword arguments for gymnasium.make need an env id, got \['max_episode_steps'\] with a function$",
    ):
        GymnasiumEnv(_Drift, max_episode_steps=3)
    with pytest.raises(
        ValueError, match=r"^max_envs must be a positive integer, got 0$"
    ):
        GymnasiumEnv("CartPole-v1", max_envs=0)
    with pytest.raises(
        TypeError, match=r"^the env function must return a gymnasium.Env"
    ):
        GymnasiumEnv(lambda: "CartPole-v1")
    with pytest.raises(TypeError, match=r"^env must be a Gymnasium id, an EnvSpec"):
        GymnasiumEnv(3)
    # Keywords go to gymnasium.make: here a three-step time limit.
    limited = GymnasiumEnv("CartPole-v1", max_episode_steps=3)
    state, *_ = limited.reset(key=jax.random.key(0))
    flags = []
    for action in (0, 1, 0):
        state, _, _, terminated, truncated, _ = limited.step(
            state, jnp.int32(action), key=jax.random.key(0)
        )
        flags.append((bool(terminated), bool(truncated)))
    assert flags == [(False, False), (False, False), (False, True)]


def test_gymnasium_env_files_load_with_their_arguments(tmp_path):
    env = GymnasiumEnv("CartPole-v1", max_episode_steps=50)
    path = tmp_path / "env.eqx"
    env.serialize(path)
    loaded = GymnasiumEnv.deserialize(path, "CartPole-v1", max_episode_steps=50)
    assert loaded.observation_space == env.observation_space
    assert loaded.host is not env.host
    with pytest.raises(SerializationError, match=r"\.host: the value was"):
        GymnasiumEnv.deserialize(path)
