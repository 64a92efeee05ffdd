"""Policies over every space: flat observations, MultiDiscrete and MultiBinary
actions, their distributions, and action masks."""

import re

import equinox as eqx
import gymnasium.spaces as gs
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lerax.env import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple
from lerax.policy import (
    Bernoulli,
    Categorical,
    DiagonalGaussian,
    GRUActorCriticPolicy,
    MLPActorCriticPolicy,
    MultiCategorical,
)

KEY = jax.random.key(0)

# Between them, every kind of space.
OBSERVATION_SPACES = {
    "dict": Dict(
        {
            "pos": Box(-1.0, 1.0, (2,)),
            "mode": Discrete(3),
            "inner": Tuple((MultiBinary((2, 2)), MultiDiscrete([2, 3]))),
        }
    ),
    "tuple": Tuple((Discrete(4), Box(0.0, 1.0, (2, 2)))),
}


def _reference_log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    return x - x.max() - np.log(np.sum(np.exp(x - x.max())))


def _sharpened(policy):
    """`policy` with its output layer scaled, so that its distributions are far
    from uniform (the initial output gain is 0.01)."""
    return eqx.tree_at(
        lambda p: p.actor.layers[-1].weight,
        policy,
        policy.actor.layers[-1].weight * 300,
    )


# Small policies shared by the tests below: building one compiles its
# initialisation for its shapes.
@pytest.fixture(scope="module")
def dict_policy():
    return MLPActorCriticPolicy(
        observation_space=OBSERVATION_SPACES["dict"],
        action_space=Discrete(4),
        key=KEY,
        width=8,
        depth=1,
    )


@pytest.fixture(scope="module")
def multi_discrete_policy():
    return MLPActorCriticPolicy(
        observation_space=Box(-1.0, 1.0, (3,)),
        action_space=MultiDiscrete([[2, 3], [4, 1]]),
        key=KEY,
        width=8,
        depth=1,
    )


@pytest.fixture(scope="module")
def multi_binary_policy():
    return MLPActorCriticPolicy(
        observation_space=OBSERVATION_SPACES["tuple"],
        action_space=MultiBinary((2, 2)),
        key=KEY,
        width=8,
        depth=1,
    )


# --- Observations ---------------------------------------------------------------


def test_every_space_is_an_observation_space(dict_policy):
    # A Dict holding every other kind of space (the Tuple is read in
    # test_multi_binary_actions).
    policy = dict_policy
    space = policy.observation_space
    assert policy.actor.layers[0].weight.shape == (8, space.flat_size)

    @jax.jit
    def run(key):
        obs = space.sample(key=key)
        action, value, log_prob = policy(obs, key=key)
        distribution, _ = policy.forward(obs)
        # The networks read the space's flat encoding.
        flat = space.flatten(obs)
        expected = (policy.critic(flat), jax.nn.log_softmax(policy.actor(flat)))
        return action, value, log_prob, distribution, expected

    action, value, log_prob, distribution, (critic, logits) = run(KEY)
    assert bool(policy.action_space.contains(action))
    np.testing.assert_allclose(value, critic, rtol=1e-6)
    np.testing.assert_allclose(log_prob, distribution.log_prob(action), rtol=1e-6)
    assert isinstance(distribution, Categorical)
    np.testing.assert_allclose(distribution.logits, logits, rtol=1e-6)


# The GRU handles spaces through the same helpers as the MLP; compiling it for
# new shapes takes seconds.
@pytest.mark.slow
def test_gru_policy_with_composite_observations_and_multi_discrete_actions():
    space = OBSERVATION_SPACES["dict"]
    policy = GRUActorCriticPolicy(
        observation_space=space,
        action_space=MultiDiscrete([3, 2]),
        key=KEY,
        hidden_size=8,
        width=8,
        depth=1,
    )
    assert policy.cell.weight_ih.shape == (3 * 8, space.flat_size)

    @eqx.filter_jit
    def step(policy, keys):
        obs = jax.vmap(lambda k: space.sample(key=k))(keys)
        states = jax.vmap(lambda k: policy.reset(key=k))(keys)
        return jax.vmap(lambda s, o, k: policy(s, o, key=k))(states, obs, keys)

    states, actions, values, log_probs = step(
        policy, jax.random.split(jax.random.key(1), 5)
    )
    assert actions.shape == (5, 2) and actions.dtype == jnp.int32
    assert bool(jnp.all(jax.vmap(MultiDiscrete([3, 2]).contains)(actions)))
    assert values.shape == (5,) and log_probs.shape == (5,)
    assert states.shape == (5, 8)


def test_unusable_observation_spaces():
    message = "observation_space must be a lerax.env space, got Discrete"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        MLPActorCriticPolicy(
            observation_space=gs.Discrete(3),  # pyright: ignore[reportArgumentType]
            action_space=Discrete(2),
            key=KEY,
        )
    message = (
        "observation_space must have a non-empty flat encoding, got Dict with "
        "flat_size 0"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MLPActorCriticPolicy(
            observation_space=Dict(), action_space=Discrete(2), key=KEY
        )


# --- Actions --------------------------------------------------------------------


def test_multi_discrete_actions(multi_discrete_policy):
    policy = _sharpened(multi_discrete_policy)
    action_space = policy.action_space
    assert policy.actor.layers[-1].weight.shape == (10, 8)
    obs = jnp.array([0.3, -0.5, 0.9])
    distribution, _ = policy.forward(obs)
    assert isinstance(distribution, MultiCategorical)
    outputs = np.asarray(policy.actor(obs))
    blocks = np.split(outputs, np.cumsum([2, 3, 4, 1])[:-1])
    references = [_reference_log_softmax(b) for b in blocks]

    @jax.jit
    @jax.vmap
    def act(key):
        action, _, log_prob = policy(obs, key=key)
        _, again, entropy = policy.evaluate_action(obs, action)
        return action, action_space.contains(action), log_prob, again, entropy

    actions, contained, log_probs, again, entropies = act(jax.random.split(KEY, 50))
    assert actions.shape == (50, 2, 2) and actions.dtype == jnp.int32
    assert bool(jnp.all(contained))
    np.testing.assert_allclose(again, log_probs, rtol=1e-6)
    expected = [
        sum(ref[a] for ref, a in zip(references, action.ravel(), strict=True))
        for action in np.asarray(actions)
    ]
    np.testing.assert_allclose(log_probs, expected, rtol=1e-4, atol=1e-5)
    expected_entropy = -sum(np.sum(np.exp(r) * r) for r in references)
    np.testing.assert_allclose(entropies, expected_entropy, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(
        policy.predict(obs),
        np.reshape([np.argmax(r) for r in references], (2, 2)),
    )


def test_multi_binary_actions(multi_binary_policy):
    policy = _sharpened(multi_binary_policy)
    action_space = policy.action_space
    obs = (jnp.int32(2), jnp.full((2, 2), 0.5))
    distribution, _ = policy.forward(obs)
    assert isinstance(distribution, Bernoulli)
    logits = np.asarray(policy.actor(policy.observation_space.flatten(obs)), np.float64)
    action, _, log_prob = policy(obs, key=jax.random.key(3))
    assert action.shape == (2, 2) and action.dtype == jnp.int8
    assert bool(action_space.contains(action))
    bits = np.asarray(action).ravel()
    p = 1 / (1 + np.exp(-logits))
    expected = np.sum(np.where(bits == 1, np.log(p), np.log1p(-p)))
    np.testing.assert_allclose(log_prob, expected, rtol=1e-4)
    np.testing.assert_array_equal(policy.predict(obs), (logits > 0).reshape(2, 2))


@pytest.mark.parametrize(
    ("space", "error", "message"),
    [
        (
            Dict(a=Discrete(2)),
            TypeError,
            "action_space must be a Discrete, MultiDiscrete, MultiBinary or "
            "floating Box space, got a Dict space",
        ),
        (
            Tuple((Discrete(2), Discrete(3))),
            TypeError,
            "action_space must be a Discrete, MultiDiscrete, MultiBinary or "
            "floating Box space, got a Tuple space",
        ),
        (
            Box(0, 5, (2,), jnp.int32),
            TypeError,
            "action_space must have a floating dtype when it is a Box, got int32",
        ),
    ],
    ids=["dict", "tuple", "integer-box"],
)
@pytest.mark.parametrize("policy_class", [MLPActorCriticPolicy, GRUActorCriticPolicy])
def test_unsupported_action_spaces(space, error, message, policy_class):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        policy_class(observation_space=Discrete(3), action_space=space, key=KEY)


# --- Distributions ----------------------------------------------------------------

_logit = st.floats(-20.0, 20.0, allow_nan=False, width=32)


@settings(max_examples=6, deadline=None)
# Few shapes: each compiles once.
@given(nvec=st.sampled_from([[1], [3], [2, 4], [1, 3, 2]]), data=st.data())
def test_multi_categorical_matches_independent_categoricals(nvec, data):
    logits = data.draw(st.lists(_logit, min_size=sum(nvec), max_size=sum(nvec)))
    dist = MultiCategorical(jnp.asarray(logits, jnp.float32), nvec)
    blocks = np.split(np.asarray(logits), np.cumsum(nvec)[:-1])
    references = [_reference_log_softmax(b) for b in blocks]
    value = data.draw(st.tuples(*(st.integers(0, n - 1) for n in nvec)))
    expected = sum(r[v] for r, v in zip(references, value, strict=True))
    np.testing.assert_allclose(
        dist.log_prob(jnp.asarray(value)), expected, rtol=1e-5, atol=1e-5
    )
    entropy = -sum(np.sum(np.exp(r) * r) for r in references)
    np.testing.assert_allclose(dist.entropy(), entropy, rtol=1e-5, atol=1e-5)
    # Padding has probability 0: each row sums to 1 over its own values.
    np.testing.assert_allclose(np.sum(dist.probs, axis=-1), 1.0, rtol=1e-5)
    assert dist.sample(key=KEY).shape == (len(nvec),)


def test_multi_categorical_sampling_frequencies_and_shape():
    probs = [[0.2, 0.8], [1.0], [0.1, 0.3, 0.6]]
    flat_probs = [p for row in probs for p in row]
    dist = MultiCategorical(jnp.log(jnp.asarray(flat_probs)), [[2, 1, 3]])
    assert dist.shape == (1, 3) and dist.nvec == (2, 1, 3)
    samples = jax.vmap(lambda k: dist.sample(key=k))(jax.random.split(KEY, 8000))
    assert samples.shape == (8000, 1, 3) and samples.dtype == jnp.int32
    for i, p in enumerate(probs):
        frequencies = np.bincount(np.asarray(samples[:, 0, i]), minlength=len(p))
        np.testing.assert_allclose(frequencies / 8000, p, atol=0.025)
    np.testing.assert_array_equal(dist.mode(), [[1, 0, 2]])
    message = "logits must have shape (6,) for nvec (2, 1, 3), got shape (5,)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MultiCategorical(jnp.zeros(5), [[2, 1, 3]])


def test_bernoulli_distribution():
    logits = jnp.array([[-1.0, 0.0], [2.0, 30.0]])
    dist = Bernoulli(logits)
    p = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
    value = jnp.array([[0, 1], [1, 1]], jnp.int8)
    expected = np.sum(np.where(np.asarray(value) == 1, np.log(p), np.log1p(-p)))
    np.testing.assert_allclose(dist.log_prob(value), expected, rtol=1e-5)
    # Entropy in the numerically safe form: 30 is far past float32 saturation.
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -(p * np.log(p) + np.where(p < 1, (1 - p) * np.log1p(-p), 0.0))
    np.testing.assert_allclose(dist.entropy(), np.sum(terms), rtol=1e-5)
    assert bool(jnp.isfinite(Bernoulli(jnp.array([1e4, -1e4])).entropy()))
    np.testing.assert_array_equal(dist.mode(), [[0, 0], [1, 1]])
    samples = jax.vmap(lambda k: dist.sample(key=k))(jax.random.split(KEY, 8000))
    assert samples.dtype == jnp.int8 and samples.shape == (8000, 2, 2)
    np.testing.assert_allclose(np.asarray(samples).mean(axis=0), p, atol=0.025)


# --- Action masks -------------------------------------------------------------------


def test_categorical_mask():
    dist = Categorical(jnp.array([3.0, 1.0, 0.0, -1.0]))
    mask = jnp.array([False, True, True, False])
    masked = dist.masked(mask)
    reference = _reference_log_softmax([1.0, 0.0])
    np.testing.assert_allclose(masked.probs, [0, *np.exp(reference), 0], atol=1e-6)
    np.testing.assert_allclose(masked.log_prob(jnp.int32(2)), reference[1], rtol=1e-5)
    np.testing.assert_allclose(
        masked.entropy(), -np.sum(np.exp(reference) * reference), rtol=1e-5
    )
    # A forbidden action has a finite, hugely negative log-probability.
    forbidden = masked.log_prob(jnp.int32(0))
    assert bool(jnp.isfinite(forbidden)) and float(forbidden) < -1e30
    assert int(masked.mode()) == 1
    samples = jax.vmap(lambda k: masked.sample(key=k))(jax.random.split(KEY, 2000))
    assert set(np.unique(np.asarray(samples))) == {1, 2}

    def score(logits):
        d = Categorical(logits).masked(mask)
        return d.log_prob(jnp.int32(1)) + d.entropy()

    gradient = jax.grad(score)(jnp.array([3.0, 1.0, 0.0, -1.0]))
    assert bool(jnp.all(jnp.isfinite(gradient)))
    # Forbidden logits do not change the result (only rounding reaches them).
    np.testing.assert_allclose(gradient[jnp.array([0, 3])], 0.0, atol=1e-6)
    # A mask that forbids everything is ignored.
    np.testing.assert_allclose(
        dist.masked(jnp.zeros(4, bool)).logits, dist.logits, rtol=1e-6
    )
    message = "action_mask must have shape (4,), got shape (3,)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        dist.masked(jnp.ones(3, bool))


def test_multi_categorical_mask():
    dist = MultiCategorical(jnp.array([0.0, 0.0, 0.0, 5.0, 1.0]), [2, 3])
    assert int(dist.mode()[1]) == 1
    masked = dist.masked(jnp.array([False, False, True, False, True]))
    # The first element's mask forbids everything: ignored there only.
    np.testing.assert_allclose(masked.probs[0, :2], [0.5, 0.5], rtol=1e-6)
    second = np.exp(_reference_log_softmax([0.0, 1.0]))
    np.testing.assert_allclose(masked.probs[1], [second[0], 0.0, second[1]], rtol=1e-5)
    np.testing.assert_array_equal(masked.mode(), [0, 2])
    samples = jax.vmap(lambda k: masked.sample(key=k))(jax.random.split(KEY, 500))
    assert set(np.unique(np.asarray(samples[:, 1]))) == {0, 2}
    entropy = np.log(2) - np.sum(second * np.log(second))
    np.testing.assert_allclose(masked.entropy(), entropy, rtol=1e-5)
    # Forbidden values in several elements: still finite, no -inf.
    many = MultiCategorical(jnp.zeros(20), [2] * 10).masked(np.tile([True, False], 10))
    forbidden = many.log_prob(jnp.ones(10, jnp.int32))
    assert bool(jnp.isfinite(forbidden)) and float(forbidden) < -1e30
    message = "action_mask must have shape (5,), got shape (2, 3)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        dist.masked(jnp.ones((2, 3), bool))


@pytest.mark.parametrize(
    "dist",
    [DiagonalGaussian(jnp.zeros(2), jnp.zeros(2)), Bernoulli(jnp.zeros(2))],
    ids=["gaussian", "bernoulli"],
)
def test_continuous_and_binary_distributions_refuse_masks(dist):
    message = (
        f"{type(dist).__name__} does not support action masks; only discrete "
        "actions (Discrete, MultiDiscrete) can be masked"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        dist.masked(jnp.ones(2, bool))


@pytest.mark.parametrize(
    "policy_class",
    [MLPActorCriticPolicy, pytest.param(GRUActorCriticPolicy, marks=pytest.mark.slow)],
)
def test_policies_honour_action_masks(policy_class, dict_policy):
    if policy_class is MLPActorCriticPolicy:
        policy = dict_policy
    else:
        policy = _gru_policy(
            observation_space=dict_policy.observation_space, action_space=Discrete(4)
        )
    # Far from uniform, so that the most likely action is worth forbidding.
    policy = _sharpened(policy)
    space = policy.observation_space
    stateful = policy_class is GRUActorCriticPolicy

    @eqx.filter_jit
    @jax.vmap
    def run(key, mask):
        obs = space.sample(key=key)
        # The same calls for both kinds of policy, a stateless one taking no state.
        state = (policy.reset(key=KEY),) if stateful else ()
        drop = (lambda out: out[1:]) if stateful else (lambda out: out)
        greedy = (lambda out: out[1]) if stateful else (lambda out: out)
        action, _, log_prob = drop(policy(*state, obs, key=key, action_mask=mask))
        _, again, entropy = policy.evaluate_action(
            *state, obs, action, action_mask=mask
        )
        masked_mode = greedy(policy.predict(*state, obs, action_mask=mask))
        mode = greedy(policy.predict(*state, obs))
        return action, log_prob, again, entropy, masked_mode, mode

    keys = jax.random.split(jax.random.key(1), 300)
    masks = jax.random.bernoulli(jax.random.key(2), 0.5, (300, 4))
    masks = masks.at[:, 3].set(~jnp.any(masks[:, :3], axis=1))  # never all False
    actions, log_probs, again, entropy, greedy, unmasked = run(keys, masks)
    rows = jnp.arange(300)
    assert bool(jnp.all(masks[rows, actions]))
    assert bool(jnp.all(masks[rows, greedy]))
    np.testing.assert_allclose(again, log_probs, rtol=1e-5, atol=1e-5)
    assert bool(jnp.all(jnp.isfinite(log_probs)) & jnp.all(jnp.isfinite(entropy)))
    # Without the mask the greedy action would often be a forbidden one.
    assert not bool(jnp.all(masks[rows, unmasked]))


# --- Serialization ----------------------------------------------------------------


def _gru_policy(**kwargs):
    return GRUActorCriticPolicy(key=KEY, hidden_size=8, width=8, depth=1, **kwargs)


@pytest.mark.parametrize(
    "name",
    [
        "multi_discrete_policy",
        "multi_binary_policy",
        # Compiling a GRU for new shapes takes seconds.
        pytest.param("gru", marks=pytest.mark.slow),
    ],
)
def test_policy_serialization_round_trip(name, request, tmp_path):
    if name == "gru":
        spaces = {
            "observation_space": OBSERVATION_SPACES["dict"],
            "action_space": MultiBinary(3),
        }
        policy = _gru_policy(**spaces)
        arguments = {"hidden_size": 8, **spaces}
    else:
        policy = request.getfixturevalue(name)
        arguments = {
            "observation_space": policy.observation_space,
            "action_space": policy.action_space,
        }
    cls = type(policy)
    path = tmp_path / "policy.eqx"
    policy.serialize(path)
    obs = policy.observation_space.sample(key=jax.random.key(1))
    explicit = {"key": jax.random.key(5), "width": 8, "depth": 1, **arguments}
    for loaded in (cls.deserialize(path), cls.deserialize(path, **explicit)):
        assert loaded.observation_space == policy.observation_space
        assert loaded.action_space == policy.action_space
        assert jax.tree.structure(loaded) == jax.tree.structure(policy)
        for a, b in zip(
            jax.tree.leaves(eqx.filter(loaded, eqx.is_array)),
            jax.tree.leaves(eqx.filter(policy, eqx.is_array)),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
        # Same actions: the heads and spaces rebuilt alike.
        if isinstance(policy, GRUActorCriticPolicy):
            assert isinstance(loaded, GRUActorCriticPolicy)
            state = policy.reset(key=KEY)
            outputs = (loaded(state, obs, key=KEY), policy(state, obs, key=KEY))
        else:
            assert isinstance(loaded, MLPActorCriticPolicy)
            outputs = (loaded(obs, key=KEY), policy(obs, key=KEY))
        for x, y in zip(*outputs, strict=True):
            np.testing.assert_array_equal(x, y)
