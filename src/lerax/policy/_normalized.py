"""Policies that read raw observations through frozen normalisation statistics."""

from typing import Any, final

from jaxtyping import Array, Float, Key, PyTree

from lerax.env import AbstractEnv, AbstractSpace
from lerax.env.wrappers import (
    NormalizerNotFoundError,
    ObservationNormalizer,
    observation_normalizer,
)

from ._base import AbstractStatefulPolicy, AbstractStatelessPolicy
from ._distribution import AbstractDistribution

__all__ = ["NormalizedPolicy", "NormalizedStatefulPolicy"]


@final
class NormalizedPolicy(AbstractStatelessPolicy):
    """A stateless policy that normalises raw observations itself.

    ``NormalizedPolicy(policy, env)(observation)`` is ``policy`` applied to
    ``normalizer(observation)``: the policy trained on the normalised
    observations of a `lerax.env.wrappers.NormalizeObservation`, plus a frozen
    copy of that wrapper's statistics (an
    `lerax.env.wrappers.ObservationNormalizer`). It is saved and loaded as one
    file, statistics included, so a policy reloaded with no arguments acts on
    raw observations exactly as it acted in training.

    Trained with `lerax.algorithm.PPO` on an environment whose observations come
    from a `NormalizeObservation` (see
    `lerax.env.wrappers.observation_normalizer`), the inner `policy` learns
    from the environment's normalised observations and, after every
    iteration, the normaliser is replaced by the environments' current
    statistics (merged over the parallel environments), so the policy handed
    to callbacks, checkpoints and the caller always carries the statistics it
    was trained with. `lerax.algorithm.evaluate` treats the pair the same way.
    On an environment without `NormalizeObservation` the policy normalises
    with its frozen statistics, which training never changes.

    Example:

    ```python
    env = NormalizeObservation(Pendulum())
    policy = NormalizedPolicy(MLPActorCriticPolicy(env, key=key), env)
    policy = PPO().learn(env, policy, 100_000, key=key)
    policy.serialize("policy.eqx")
    policy = NormalizedPolicy.deserialize("policy.eqx")  # statistics included
    action = policy.predict(raw_observation)
    ```

    Attributes:
        policy: The policy acting on normalised observations.
        normalizer: The frozen normalisation.
    """

    policy: AbstractStatelessPolicy
    normalizer: ObservationNormalizer

    def __init__(
        self,
        policy: AbstractStatelessPolicy,
        env: AbstractEnv[Any, Any, Any] | None = None,
        *,
        normalizer: ObservationNormalizer | None = None,
    ):
        """Wraps `policy`.

        Args:
            policy: A stateless policy built for the normalised observations.
            env: The training environment, whose `NormalizeObservation` gives
                the starting statistics (those of a `reset`).
            normalizer: The normalisation, instead of `env`.

        Raises:
            TypeError: If `policy` is not a stateless policy, or neither or
                both of `env` and `normalizer` are given.
            lerax.env.wrappers.NormalizerNotFoundError: If `env` has no
                `NormalizeObservation` whose observations leave it unchanged.
            ValueError: If the normalised observations do not have the shape
                of `policy`'s observations.
        """
        if not isinstance(policy, AbstractStatelessPolicy):
            raise TypeError(
                f"NormalizedPolicy needs a stateless policy, got "
                f"{type(policy).__name__} (use NormalizedStatefulPolicy for a "
                f"stateful one)"
            )
        self.policy = policy
        self.normalizer = _normalizer("NormalizedPolicy", policy, env, normalizer)

    @property
    def observation_space(self) -> AbstractSpace:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The space of the raw observations (the normaliser's)."""
        return self.normalizer.observation_space

    @property
    def action_space(self) -> AbstractSpace:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The inner policy's action space."""
        return self.policy.action_space

    def forward(
        self, observation: PyTree[Array]
    ) -> tuple[AbstractDistribution, Float[Array, ""]]:
        """The inner policy's distribution and value for the normalised
        `observation`."""
        return self.policy.forward(self.normalizer(observation))


@final
class NormalizedStatefulPolicy(AbstractStatefulPolicy[Any]):
    """A stateful policy that normalises raw observations itself.

    The recurrent counterpart of `NormalizedPolicy`, for e.g.
    `GRUActorCriticPolicy`: ``forward(state, observation)`` is the inner
    policy's on ``normalizer(observation)``, and `reset` is the inner policy's.

    Attributes:
        policy: The stateful policy acting on normalised observations.
        normalizer: The frozen normalisation.
    """

    policy: AbstractStatefulPolicy[Any]
    normalizer: ObservationNormalizer

    def __init__(
        self,
        policy: AbstractStatefulPolicy[Any],
        env: AbstractEnv[Any, Any, Any] | None = None,
        *,
        normalizer: ObservationNormalizer | None = None,
    ):
        """Wraps `policy`; the arguments are those of `NormalizedPolicy`.

        Raises:
            TypeError: If `policy` is not a stateful policy, or neither or
                both of `env` and `normalizer` are given.
            lerax.env.wrappers.NormalizerNotFoundError: If `env` has no
                `NormalizeObservation` whose observations leave it unchanged.
            ValueError: If the normalised observations do not have the shape
                of `policy`'s observations.
        """
        if not isinstance(policy, AbstractStatefulPolicy):
            raise TypeError(
                f"NormalizedStatefulPolicy needs a stateful policy, got "
                f"{type(policy).__name__} (use NormalizedPolicy for a stateless "
                f"one)"
            )
        self.policy = policy
        self.normalizer = _normalizer(
            "NormalizedStatefulPolicy", policy, env, normalizer
        )

    @property
    def observation_space(self) -> AbstractSpace:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The space of the raw observations (the normaliser's)."""
        return self.normalizer.observation_space

    @property
    def action_space(self) -> AbstractSpace:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The inner policy's action space."""
        return self.policy.action_space

    def reset(self, *, key: Key[Array, ""]) -> Any:
        """The inner policy's initial state."""
        return self.policy.reset(key=key)

    def forward(
        self, state: Any, observation: PyTree[Array]
    ) -> tuple[Any, AbstractDistribution, Float[Array, ""]]:
        """The inner policy's step on the normalised `observation`."""
        return self.policy.forward(state, self.normalizer(observation))


def _normalizer(
    name: str,
    policy: AbstractStatelessPolicy | AbstractStatefulPolicy[Any],
    env: Any,
    normalizer: Any,
) -> ObservationNormalizer:
    """The normaliser given, or that of `env`'s `NormalizeObservation`, checked."""
    if (env is None) == (normalizer is None):
        raise TypeError(f"{name} needs exactly one of env and normalizer")
    if normalizer is None:
        normalizer = observation_normalizer(env)
        if normalizer is None:
            raise NormalizerNotFoundError(
                f"{name} needs an environment whose observations come from a "
                f"NormalizeObservation, got {type(env).__name__}"
            )
    if not isinstance(normalizer, ObservationNormalizer):
        raise TypeError(
            f"normalizer must be an ObservationNormalizer, got "
            f"{type(normalizer).__name__}"
        )
    expected = policy.observation_space.shape
    if normalizer.observation_space.shape != expected:
        raise ValueError(
            f"the normalised observations have shape "
            f"{normalizer.observation_space.shape}, but the policy reads "
            f"observations of shape {expected}"
        )
    return normalizer
