"""Many runs in one call: a batch of keys and sweeps of hyperparameters, as one
jitted, vmapped program."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.algorithm import PPO, AbstractAlgorithm, CSVLogger, History
from lerax.algorithm._history import empty_history
from lerax.algorithm._parallel import member
from lerax.algorithm._rollout import RolloutState, start_rollout
from lerax.algorithm._state import AbstractTrainingState
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.utils import SerializationError

# The configuration of test_algorithm_learn.py, so the single runs' compiled
# code is shared.
SMALL = PPO(num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2)
TOTAL = 64 * 10
# vmapped arithmetic may round differently from unbatched arithmetic in the last
# bit (XLA picks other kernels for batched matrix products); after 10 short
# iterations the parameters differ by a few float32 ulps.
RTOL, ATOL = 1e-5, 1e-6


def _arrays(tree):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def _assert_close(a, b):
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL)


def _assert_bit_identical(a, b):
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_array_equal(x, y, strict=True)


def _assert_histories_match(a: History, b: History):
    np.testing.assert_array_equal(a.timesteps, b.timesteps)
    np.testing.assert_array_equal(a.num_episodes, b.num_episodes)
    np.testing.assert_allclose(a.episode_return, b.episode_return, rtol=RTOL, atol=ATOL)
    for name, row in a.metrics.items():
        np.testing.assert_allclose(row, b.metrics[name], rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def setup():
    env = CartPole()
    return env, MLPActorCriticPolicy(env, key=jax.random.key(0))


def test_each_run_of_a_batch_matches_its_single_run(setup):
    env, policy = setup
    keys = jax.random.split(jax.random.key(7), 2)
    policies, histories = SMALL.learn_with_history(env, policy, TOTAL, key=keys)
    assert isinstance(policies, MLPActorCriticPolicy)
    assert isinstance(histories, list) and len(histories) == 2
    for leaf, one in zip(_arrays(policies), _arrays(policy), strict=True):
        assert leaf.shape == (2, *one.shape)
    for i in range(2):
        single, history = SMALL.learn_with_history(env, policy, TOTAL, key=keys[i])
        _assert_close(member(policies, i), single)
        _assert_histories_match(histories[i], history)
        assert len(histories[i]) == 10
    # The runs differ (other keys), and learn returns learn_with_history's batch.
    weight = policies.actor.layers[0].weight
    assert not np.array_equal(weight[0], weight[1])
    again = SMALL.learn(env, policy, TOTAL, key=keys)
    _assert_bit_identical(policies, again)


def test_a_sweep_gives_each_run_its_value(setup):
    env, policy = setup
    # Raw uint32 keys, one per run; the second run cannot learn.
    keys = jax.random.split(jax.random.PRNGKey(7), 2)
    assert keys.shape == (2, 2)
    sweep = {"learning_rate": [1e-3, 0.0], "ent_coef": np.array([0.0, 0.5])}
    policies, histories = SMALL.learn_with_history(
        env, policy, TOTAL, key=keys, sweep=sweep
    )
    np.testing.assert_allclose(
        histories[0].metrics["learning_rate"], 1e-3 * (1 - np.arange(10) / 10)
    )
    np.testing.assert_array_equal(histories[1].metrics["learning_rate"], 0.0)
    # The first run has the algorithm's own values: it is the run with key 0.
    _assert_close(member(policies, 0), SMALL.learn(env, policy, TOTAL, key=keys[0]))
    # With a step size of 0 the parameters never move.
    _assert_bit_identical(member(policies, 1), policy)
    # The swept value is a traced scalar inside the run: the algorithm object
    # is untouched.
    assert SMALL.learning_rate == 1e-3 and SMALL.ent_coef == 0.0


def test_a_sweep_with_one_key_gives_every_run_that_key(setup, tmp_path):
    env, policy = setup
    policies, histories = SMALL.learn_with_history(
        env,
        policy,
        TOTAL,
        key=jax.random.key(3),
        sweep={"gae_lambda": [0.8, 0.8, 0.95]},
        logger=[CSVLogger(tmp_path / "0.csv"), None, [CSVLogger(tmp_path / "2.csv")]],
    )
    assert len(histories) == 3
    # The same key and value: the same run, bit for bit, within one batch.
    _assert_bit_identical(member(policies, 0), member(policies, 1))
    weight = policies.actor.layers[0].weight
    assert not np.array_equal(weight[0], weight[2])
    # Each run's logger got that run's history.
    for i in (0, 2):
        logged = History.read_csv(tmp_path / f"{i}.csv")
        np.testing.assert_array_equal(logged.num_episodes, histories[i].num_episodes)


def _stop_after(timesteps, seen):
    def callback(done, policies):
        seen.append((done, policies.actor.layers[0].weight.shape))
        return done >= timesteps

    return callback


def test_a_resumed_batch_is_bit_identical(setup, tmp_path, capsys):
    env, policy = setup
    keys = jax.random.split(jax.random.key(5), 2)
    sweep = {"learning_rate": [1e-3, 3e-4]}

    def learn(path=None, resume=False, callback=None, key=keys, sweep=sweep):
        return SMALL.learn_with_history(
            env,
            policy,
            TOTAL,
            key=key,
            sweep=sweep,
            checkpoint_every=3,
            progress_bar=True,
            checkpoint_path=path,
            resume_from=path if resume else None,
            callback=callback,
        )

    full, full_histories = learn()
    assert "640/640" in capsys.readouterr().err
    path = tmp_path / "run.ckpt"
    seen = []
    learn(path, callback=_stop_after(64 * 6, seen))
    # The callback gets the batch of policies, and stops every run.
    shape = (2, *policy.actor.layers[0].weight.shape)
    assert seen == [(64 * 3, shape), (64 * 6, shape)]
    # Another key is ignored: the checkpoint's key stream goes on.
    resumed, histories = learn(
        path, resume=True, key=jax.random.split(jax.random.key(0), 2)
    )
    _assert_bit_identical(full, resumed)
    for history, full_history in zip(histories, full_histories, strict=True):
        assert len(history) == 10
        for name, column in full_history.columns().items():
            np.testing.assert_array_equal(history.columns()[name], column)
    # Resuming needs the same batch: the same sweep, as many runs.
    with pytest.raises(ValueError, match=r"sweep: saved .*0\.0003.*now .*0\.0001"):
        learn(path, resume=True, sweep={"learning_rate": [1e-3, 1e-4]})
    with pytest.raises(SerializationError) as info:
        SMALL.learn(env, policy, TOTAL, key=keys[0], resume_from=path)
    assert "batch of runs" in "".join(info.value.__notes__)
    with pytest.raises(SerializationError):
        learn(path, resume=True, key=jax.random.split(keys[0], 3), sweep=None)


@pytest.mark.parametrize(
    "sweep, match",
    [
        ({"learning_rte": [1e-3]}, r"cannot sweep 'learning_rte': PPO has no such"),
        ({"num_epochs": [1, 2]}, r"cannot sweep 'num_epochs': it is an int"),
        ({"anneal_learning_rate": [0, 1]}, r"'anneal_learning_rate': it is a bool"),
        ({"_lerax_args": [1.0]}, "no such hyperparameter"),
        ({"gamma": [0.9, 1.5]}, r"run 1 .*gamma must be a finite number in \[0"),
        ({"gamma": [0.9, float("nan")]}, "non-finite"),
        ({"gamma": [[0.9]]}, "non-empty vector"),
        ({"gamma": []}, "non-empty vector"),
        ({"gamma": ["a"]}, "vector of numbers"),
        ({"gamma": [0.9, 0.99], "gae_lambda": [0.9]}, "gamma: 2, gae_lambda: 1"),
        ({}, "empty sweep with one key"),
    ],
)
def test_invalid_sweeps_are_refused(setup, sweep, match):
    env, policy = setup
    with pytest.raises(ValueError, match=match):
        SMALL.learn(env, policy, TOTAL, key=jax.random.key(0), sweep=sweep)


def test_invalid_batches_are_refused(setup):
    env, policy = setup
    keys = jax.random.split(jax.random.key(0), 3)
    with pytest.raises(ValueError, match="key: 3, gamma: 2"):
        SMALL.learn(env, policy, TOTAL, key=keys, sweep={"gamma": [0.9, 0.99]})
    with pytest.raises(ValueError, match=r"key must be one PRNG key or a batch"):
        SMALL.learn(env, policy, TOTAL, key=keys.reshape(3, 1))
    with pytest.raises(ValueError, match="empty batch"):
        SMALL.learn(env, policy, TOTAL, key=keys[:0])
    with pytest.raises(ValueError, match="logger must be a sequence of 3 entries"):
        SMALL.learn(env, policy, TOTAL, key=keys, logger=CSVLogger("never.csv"))
    with pytest.raises(ValueError, match="logger must be a sequence of 3 entries"):
        SMALL.learn(env, policy, TOTAL, key=keys, logger=[None, None])


# ----------------------------------------- an algorithm of the tests' own


class _State(AbstractTrainingState):
    policy: Any
    key: jax.Array
    rollout: RolloutState
    iteration: jax.Array
    history: dict


class _Drift(AbstractAlgorithm[_State]):
    """Moves the policy's first bias by ``rate`` per iteration; with ``gate``
    set, it reads ``rate`` in Python control flow."""

    rate: float
    gate: bool
    num_envs: int
    num_steps: int

    def __init__(self, rate: float, gate: bool, num_envs: int = 2, num_steps: int = 1):
        self.rate = rate
        self.gate = gate
        self.num_envs = num_envs
        self.num_steps = num_steps

    def init_state(self, env, policy, total_iterations, *, key):
        rollout_key, key = jax.random.split(key)
        return _State(
            policy=policy,
            key=key,
            rollout=start_rollout(env, policy, self.num_envs, key=rollout_key),
            iteration=jnp.array(0, jnp.int32),
            history=empty_history((), total_iterations),
        )

    def train_iteration(self, env, state, total_iterations):
        rate = self.rate
        if self.gate and self.rate > 0:  # Python control flow on a float
            rate = 2 * rate
        bias = state.policy.actor.layers[0].bias
        policy = eqx.tree_at(
            lambda p: p.actor.layers[0].bias, state.policy, bias + rate
        )
        zero = jnp.zeros((), jnp.float32)
        metrics = {"episode_return": zero, "episode_length": zero, "num_episodes": zero}
        return eqx.tree_at(lambda s: s.policy, state, policy), metrics


def test_any_algorithm_can_be_batched_and_swept(setup):
    env, policy = setup
    drift = _Drift(rate=1.0, gate=False)
    policies = drift.learn(
        env, policy, 4, key=jax.random.key(0), sweep={"rate": [1.0, -0.5, 0.25]}
    )
    bias = policies.actor.layers[0].bias
    expected = policy.actor.layers[0].bias + 2 * np.array([[1.0], [-0.5], [0.25]])
    np.testing.assert_allclose(bias, expected)
    with pytest.raises(ValueError, match=r"cannot sweep 'rate': _Drift uses a swept"):
        _Drift(rate=1.0, gate=True).learn(
            env, policy, 4, key=jax.random.key(0), sweep={"rate": [1.0, 2.0]}
        )
