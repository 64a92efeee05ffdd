"""Environment ids, such as ``"CartPole-v1"``, and `make`."""

import difflib
from collections.abc import Callable
from typing import Any

from ._acrobot import Acrobot
from ._cartpole import CartPole
from ._env import AbstractEnv
from ._mountain_car import MountainCar
from ._mountain_car_continuous import MountainCarContinuous
from ._pendulum import Pendulum

__all__ = [
    "DuplicateEnvIdError",
    "EnvRegistryError",
    "UnknownEnvIdError",
    "make",
    "register",
    "registered_ids",
]


class EnvRegistryError(ValueError):
    """Root of the errors of the environment registry.

    Raised directly when `register` gets an id that is not a non-empty string
    or a constructor that is not callable; the subclasses name the other
    causes.
    """


class UnknownEnvIdError(EnvRegistryError):
    """`make` got an id that nothing registered.

    The message lists the registered ids, and suggests the closest ones when
    the id looks like a misspelling.
    """


class DuplicateEnvIdError(EnvRegistryError):
    """`register` got an id that is already registered.

    Pass ``replace=True`` to register another constructor under it.
    """


# Id -> constructor. The classes themselves: their defaults are the registered
# versions' parameters, and calling a class records its arguments for
# `serialize`.
_CONSTRUCTORS: dict[str, Callable[..., AbstractEnv]] = {
    "Acrobot-v1": Acrobot,
    "CartPole-v1": CartPole,
    "MountainCar-v0": MountainCar,
    "MountainCarContinuous-v0": MountainCarContinuous,
    "Pendulum-v1": Pendulum,
}


def make(env_id: str, **overrides: Any) -> AbstractEnv:
    """Builds a registered environment.

    Example:

    ```python
    env = lerax.env.make("Pendulum-v1", g=9.81, max_episode_steps=500)
    ```

    Args:
        env_id: A registered id; see `registered_ids`.
        **overrides: Constructor keyword arguments, such as physical parameters
            or ``max_episode_steps``; the others keep the registered values.

    Returns:
        A new environment.

    Raises:
        UnknownEnvIdError: If nothing is registered under `env_id`.
        TypeError: If an override is not a parameter of the environment (as
            the constructor raises it).
        ValueError: If an override has an invalid value (idem).
    """
    try:
        constructor = _CONSTRUCTORS[env_id]
    except (KeyError, TypeError):  # TypeError: an unhashable id
        raise UnknownEnvIdError(_unknown_id_message(env_id)) from None
    try:
        return constructor(**overrides)
    except Exception as e:
        e.add_note(f"while making {env_id!r}")
        raise


def register(
    env_id: str,
    constructor: Callable[..., AbstractEnv],
    *,
    replace: bool = False,
) -> None:
    """Makes `env_id` available to `make`.

    Example:

    ```python
    lerax.env.register(
        "CartPole-long-v1", functools.partial(CartPole, max_episode_steps=2000)
    )
    env = lerax.env.make("CartPole-long-v1", gravity=5.0)
    ```

    Args:
        env_id: The id, a non-empty string.
        constructor: Builds the environment from keyword overrides, e.g. an
            environment class or a `functools.partial` of one. Prefer those to
            other functions: `serialize` records the arguments of the class
            call, so a class called inside a function still round-trips.
        replace: Whether to replace a constructor already registered under
            `env_id`.

    Raises:
        EnvRegistryError: If `env_id` is not a non-empty string or
            `constructor` is not callable.
        DuplicateEnvIdError: If `env_id` is registered and `replace` is false.
    """
    if not isinstance(env_id, str) or not env_id:
        raise EnvRegistryError(f"env_id must be a non-empty string, got {env_id!r}")
    if not callable(constructor):
        raise EnvRegistryError(
            f"constructor must be callable, got {constructor!r} for {env_id!r}"
        )
    if env_id in _CONSTRUCTORS and not replace:
        raise DuplicateEnvIdError(
            f"{env_id!r} is already registered; pass replace=True to replace it"
        )
    _CONSTRUCTORS[env_id] = constructor


def registered_ids() -> tuple[str, ...]:
    """The ids `make` accepts, sorted.

    Returns:
        The registered ids.
    """
    return tuple(sorted(_CONSTRUCTORS))


def _unknown_id_message(env_id: object) -> str:
    known = ", ".join(repr(i) for i in registered_ids())
    message = f"unknown environment id {env_id!r}; registered ids: {known}"
    if isinstance(env_id, str):
        close = difflib.get_close_matches(env_id, registered_ids(), n=3)
        if close:
            message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message
