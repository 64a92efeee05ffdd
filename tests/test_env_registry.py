"""Tests of lerax.env.make, register and registered_ids."""

import functools
import re
from typing import Any

import gymnasium
import jax
import numpy as np
import pytest

import lerax.env
from lerax.env import (
    Acrobot,
    CartPole,
    DuplicateEnvIdError,
    EnvRegistryError,
    MountainCar,
    MountainCarContinuous,
    Pendulum,
    UnknownEnvIdError,
    make,
    register,
    registered_ids,
)

BUILT_IN = {
    "Acrobot-v1": Acrobot,
    "CartPole-v1": CartPole,
    "MountainCar-v0": MountainCar,
    "MountainCarContinuous-v0": MountainCarContinuous,
    "Pendulum-v1": Pendulum,
}


def test_built_in_ids_are_registered():
    assert set(BUILT_IN) <= set(registered_ids())
    assert list(registered_ids()) == sorted(registered_ids())


@pytest.mark.parametrize("env_id", sorted(BUILT_IN))
def test_make_gives_the_gymnasium_version(env_id):
    env: Any = make(env_id)
    assert type(env) is BUILT_IN[env_id]
    assert env == BUILT_IN[env_id]()
    # The time limit Gymnasium registers under the same id.
    assert env.max_episode_steps == gymnasium.spec(env_id).max_episode_steps


def test_make_applies_overrides():
    env = make("Pendulum-v1", g=9.81, max_episode_steps=500)
    assert env == Pendulum(g=9.81, max_episode_steps=500)
    assert isinstance(env, Pendulum)
    assert env.g == 9.81
    assert env.m == 1.0


def test_made_env_round_trips_with_its_overrides(tmp_path):
    env = make("Acrobot-v1", book_or_nips="nips", link_mass_2=2.0)
    path = tmp_path / "env.eqx"
    env.serialize(path)
    loaded = Acrobot.deserialize(path)
    assert loaded == env
    assert isinstance(loaded, Acrobot)
    assert loaded.book_or_nips == "nips" and loaded.link_mass_2 == 2.0


def test_unknown_id_lists_the_registered_ids():
    with pytest.raises(UnknownEnvIdError) as info:
        make("Breakout-v5")
    message = str(info.value)
    assert message.startswith("unknown environment id 'Breakout-v5'; registered ids: ")
    for env_id in registered_ids():
        assert repr(env_id) in message
    assert not message.endswith(".")
    assert isinstance(info.value, EnvRegistryError)
    assert isinstance(info.value, ValueError)


def test_unknown_id_suggests_close_ids():
    message = (
        "unknown environment id 'CartPole-v0'; registered ids: "
        + ", ".join(repr(i) for i in registered_ids())
        + "; did you mean 'CartPole-v1'?"
    )
    with pytest.raises(UnknownEnvIdError, match=f"^{re.escape(message)}$"):
        make("CartPole-v0")


@pytest.mark.parametrize("env_id", [None, 3, ["CartPole-v1"]])
def test_non_string_id_is_unknown(env_id):
    with pytest.raises(
        UnknownEnvIdError, match=f"^unknown environment id {re.escape(repr(env_id))};"
    ):
        make(env_id)  # pyright: ignore[reportArgumentType]


def test_bad_override_name_raises_the_constructors_type_error():
    with pytest.raises(
        TypeError, match="unexpected keyword argument 'gravityy'"
    ) as info:
        make("CartPole-v1", gravityy=3.0)
    assert "while making 'CartPole-v1'" in info.value.__notes__


def test_bad_override_value_raises_the_constructors_value_error():
    with pytest.raises(
        ValueError,
        match=r"^max_episode_steps must be a positive integer or None, got 0\n",
    ) as info:
        make("MountainCar-v0", max_episode_steps=0)
    assert info.value.__notes__ == ["while making 'MountainCar-v0'"]


def test_register_a_partial():
    env_id = "test-registry/LongCartPole-v1"
    register(env_id, functools.partial(CartPole, max_episode_steps=2000))
    assert env_id in registered_ids()
    env = make(env_id, gravity=5.0)
    assert env == CartPole(max_episode_steps=2000, gravity=5.0)
    # Overrides win over the partial's arguments.
    short: Any = make(env_id, max_episode_steps=10)
    assert short.max_episode_steps == 10
    _, obs, _ = env.reset(key=jax.random.key(0))
    assert np.asarray(obs).shape == (4,)


def test_register_refuses_duplicates_unless_replacing():
    env_id = "test-registry/Pendulum-v9"
    register(env_id, Pendulum)
    with pytest.raises(
        DuplicateEnvIdError,
        match=f"^{re.escape(repr(env_id))} is already registered; pass replace=True to replace it$",
    ):
        register(env_id, Pendulum)
    register(env_id, functools.partial(Pendulum, g=3.0), replace=True)
    assert make(env_id) == Pendulum(g=3.0)
    # The built-in ids are protected the same way.
    with pytest.raises(DuplicateEnvIdError):
        register("CartPole-v1", Acrobot)
    assert type(make("CartPole-v1")) is CartPole


@pytest.mark.parametrize(
    ("env_id", "constructor", "message"),
    [
        ("", Pendulum, "env_id must be a non-empty string, got ''"),
        (7, Pendulum, "env_id must be a non-empty string, got 7"),
        (
            "test-registry/Bad-v0",
            "Pendulum",
            "constructor must be callable, got 'Pendulum' for 'test-registry/Bad-v0'",
        ),
    ],
)
def test_register_validates_its_arguments(env_id, constructor, message):
    with pytest.raises(EnvRegistryError, match=f"^{re.escape(message)}$"):
        register(env_id, constructor)
    assert env_id not in registered_ids()


def test_registry_is_exported():
    for name in [
        "make",
        "register",
        "registered_ids",
        "EnvRegistryError",
        "UnknownEnvIdError",
        "DuplicateEnvIdError",
    ]:
        assert name in lerax.env.__all__


@pytest.mark.parametrize("env_id", registered_ids())
@pytest.mark.parametrize("steps", [0, -1, 2.5, True])
def test_every_env_rejects_bad_max_episode_steps(env_id, steps):
    with pytest.raises(
        ValueError, match="max_episode_steps must be a positive integer or None"
    ):
        make(env_id, max_episode_steps=steps)
