"""Tests of lerax.interop.policy_to_gymnasium_actor: lerax policies acting in
real Gymnasium envs, stateless and stateful, deterministic and sampled."""

import equinox as eqx
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import AbstractSpace, CartPole, Discrete, Pendulum
from lerax.interop import GymnasiumActor, policy_to_gymnasium_actor
from lerax.policy import (
    AbstractStatefulPolicy,
    Categorical,
    GRUActorCriticPolicy,
    MLPActorCriticPolicy,
)


def _episode(env, actor, seed):
    """Runs one episode of a Gymnasium env with `actor`; returns the
    observations it acted on and the actions it took."""
    observation, _ = env.reset(seed=seed)
    actor.reset()
    observations, actions = [], []
    done = False
    while not done:
        action = actor(observation)
        observations.append(observation)
        actions.append(action)
        observation, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    return observations, actions


def test_a_stateless_policy_acts_in_gymnasium_cartpole_as_predict():
    policy = MLPActorCriticPolicy(CartPole(), key=jax.random.key(0))
    actor = policy_to_gymnasium_actor(policy)
    assert isinstance(actor, GymnasiumActor)
    predict = eqx.filter_jit(policy.predict)
    env = gymnasium.make("CartPole-v1", max_episode_steps=100)
    for seed in (0, 1):
        observations, actions = _episode(env, actor, seed)
        assert len(actions) >= 8
        for observation, action in zip(observations, actions, strict=True):
            assert isinstance(action, np.ndarray) and action.shape == ()
            assert action == predict(jnp.asarray(observation))


class _Cycle(AbstractStatefulPolicy):
    """A stateful policy whose state counts steps: it pushes left on every
    third step of an episode, right otherwise."""

    observation_space: AbstractSpace
    action_space: AbstractSpace

    def __init__(self):
        self.observation_space = CartPole().observation_space
        self.action_space = Discrete(2)

    def reset(self, *, key):
        return jnp.array(0, jnp.int32)

    def forward(self, state, observation):
        logits = jnp.where(state % 3 == 0, jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]))
        return state + 1, Categorical(logits), jnp.array(0.0)


def test_a_stateful_policy_threads_its_state_and_resets_it():
    actor = policy_to_gymnasium_actor(_Cycle())
    env = gymnasium.make("CartPole-v1")
    for seed in (0, 1):  # _episode resets the actor: each episode restarts
        _, actions = _episode(env, actor, seed)
        assert len(actions) >= 6
        assert [int(a) for a in actions] == [
            int(i % 3 != 0) for i in range(len(actions))
        ]


@pytest.mark.slow
def test_a_recurrent_policy_acts_as_its_predict():
    policy = GRUActorCriticPolicy(CartPole(), key=jax.random.key(1))
    actor = policy_to_gymnasium_actor(policy)
    predict = eqx.filter_jit(policy.predict)
    env = gymnasium.make("CartPole-v1", max_episode_steps=100)
    for seed in (0, 1):
        observations, actions = _episode(env, actor, seed)
        # GRU states start from policy.reset whatever the key.
        state = policy.reset(key=jax.random.key(0))
        for observation, action in zip(observations, actions, strict=True):
            state, expected = predict(state, jnp.asarray(observation))
            assert action == expected
        assert len(actions) >= 8


def test_box_actions_are_clipped_to_the_action_space_by_default():
    # Pendulum's torque from CartPole-sized observations: the hidden layers
    # have the shapes of the other tests' policies (compiled once).
    policy = MLPActorCriticPolicy(
        observation_space=CartPole().observation_space,
        action_space=Pendulum().action_space,
        key=jax.random.key(2),
    )
    # A large final bias: the unclipped mean leaves [-2, 2].
    policy = eqx.tree_at(
        lambda p: p.actor.layers[-1].bias, policy, replace_fn=lambda b: b + 5.0
    )
    observation = np.array([0.1, -0.2, 0.05, 0.3])
    raw = policy_to_gymnasium_actor(policy, clip_actions=False)(observation)
    expected = policy.predict(jnp.asarray(observation, jnp.float32))
    np.testing.assert_allclose(raw, expected, rtol=1e-6)
    assert raw.shape == (1,) and raw.dtype == np.float32 and np.all(raw > 2.0)
    clipped = policy_to_gymnasium_actor(policy)(observation)
    np.testing.assert_array_equal(clipped, np.clip(raw, -2.0, 2.0))
    assert gymnasium.spaces.Box(-2.0, 2.0, (1,), np.float32).contains(clipped)


def test_sampling_needs_a_key_and_is_reproducible():
    policy = MLPActorCriticPolicy(CartPole(), key=jax.random.key(3))
    with pytest.raises(
        ValueError, match=r"^deterministic=False samples actions and needs a key$"
    ):
        policy_to_gymnasium_actor(policy, deterministic=False)
    observation = np.zeros(4, np.float64)
    runs = []
    for _ in range(2):
        actor = policy_to_gymnasium_actor(
            policy, deterministic=False, key=jax.random.key(4)
        )
        runs.append([int(actor(observation)) for _ in range(40)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {0, 1}  # an untrained policy samples both actions


def test_action_masks_reach_the_policy():
    policy = MLPActorCriticPolicy(CartPole(), key=jax.random.key(5))
    actor = policy_to_gymnasium_actor(policy)
    observation = np.array([0.01, 0.02, 0.03, 0.04])
    best = int(actor(observation))
    assert int(actor(observation, action_mask=np.array([True, True]))) == best
    only = np.array([best == 1, best == 0])
    assert int(actor(observation, action_mask=only)) == 1 - best


def test_only_lerax_policies_make_actors():
    with pytest.raises(
        TypeError, match=r"^policy_to_gymnasium_actor needs a lerax policy, got a str$"
    ):
        policy_to_gymnasium_actor("policy.eqx")  # pyright: ignore[reportArgumentType]


@pytest.mark.slow
def test_a_policy_trained_on_lerax_cartpole_solves_gymnasium_cartpole():
    from lerax.algorithm import PPO

    env = CartPole()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    policy = PPO().learn(env, policy, 100_000, key=jax.random.key(1))
    actor = policy_to_gymnasium_actor(policy)
    gym_env = gymnasium.make("CartPole-v1")
    lengths = [len(_episode(gym_env, actor, seed)[1]) for seed in range(10)]
    assert np.mean(lengths) >= 475
