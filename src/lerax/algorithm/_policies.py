"""One calling convention for stateless and stateful policies.

Algorithms thread a recurrent state through every call; for a stateless policy that
state is ``None`` (an empty pytree), so the same jitted code handles both kinds.
Likewise the action mask is ``None`` when the environment gives none.
"""

from typing import Any, TypeAlias, cast

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Key, PyTree

from lerax.env import AbstractEnv, AbstractSpace
from lerax.env.wrappers import ObservationNormalizer, observation_normalizer
from lerax.policy import (
    AbstractStatefulPolicy,
    AbstractStatelessPolicy,
    NormalizedPolicy,
    NormalizedStatefulPolicy,
)

Policy: TypeAlias = AbstractStatelessPolicy | AbstractStatefulPolicy
PolicyState: TypeAlias = PyTree[Array] | None
ActionMask: TypeAlias = Bool[Array, " n"] | None


def action_mask(info: dict[str, Any]) -> ActionMask:
    """The env's ``info["action_mask"]`` (allowed actions), or ``None``.

    See ``docs/env.md`` for the convention.
    """
    mask = info.get("action_mask")
    return None if mask is None else jnp.asarray(mask, dtype=bool)


def initial_state(policy: Policy, *, key: Key[Array, ""]) -> PolicyState:
    """The recurrent state a new episode starts from (``None`` if stateless)."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy.reset(key=key)
    return None


def sample(
    policy: Policy,
    state: PolicyState,
    observation: PyTree[Array],
    *,
    key: Key[Array, ""],
    action_mask: ActionMask = None,
) -> tuple[PolicyState, Array, Float[Array, ""], Float[Array, ""]]:
    """Samples an action: ``(next_state, action, value, log_prob)``."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy(state, observation, key=key, action_mask=action_mask)
    action, value, log_prob = policy(observation, key=key, action_mask=action_mask)
    return None, action, value, log_prob


def predict(
    policy: Policy,
    state: PolicyState,
    observation: PyTree[Array],
    *,
    action_mask: ActionMask = None,
) -> tuple[PolicyState, Array]:
    """The deterministic action: ``(next_state, action)``."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy.predict(state, observation, action_mask=action_mask)
    return None, policy.predict(observation, action_mask=action_mask)


def value(
    policy: Policy, state: PolicyState, observation: PyTree[Array]
) -> Float[Array, ""]:
    """The value of `observation` given the state before the step."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy.value(state, observation)
    return policy.value(observation)


def evaluate_action(
    policy: Policy,
    state: PolicyState,
    observation: PyTree[Array],
    action: Array,
    *,
    action_mask: ActionMask = None,
) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
    """``(value, log_prob, entropy)`` of a stored action, from the pre-step state,
    under the mask it was sampled with."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy.evaluate_action(
            state, observation, action, action_mask=action_mask
        )
    return policy.evaluate_action(observation, action, action_mask=action_mask)


def trainable(policy: Policy) -> PyTree[bool]:
    """Filter spec marking the parameters an optimiser may change.

    Every inexact array except those of spaces and observation normalisers,
    wherever they are in the policy: `Box` bounds and normalisation statistics
    are float arrays, but they are configuration, not parameters.
    """

    def spec(node: Any) -> Any:
        if _frozen(node):
            return jax.tree.map(lambda _: False, node)
        return eqx.is_inexact_array(node)

    return jax.tree.map(spec, policy, is_leaf=_frozen)


def _frozen(node: Any) -> bool:
    return isinstance(node, AbstractSpace | ObservationNormalizer)


def acting_policy(policy: Policy, env: AbstractEnv) -> Policy:
    """The policy that reads `env`'s observations as they are.

    A `NormalizedPolicy` (or `NormalizedStatefulPolicy`) on an env whose
    observations come from a `NormalizeObservation` acts through its inner
    policy, since the env normalises already; any other policy is itself.
    """
    if _normalizes(policy, env):
        return cast(Any, policy).policy
    return policy


def with_trained(
    policy: Policy, trained: Policy, env: AbstractEnv, env_state: PyTree[Array]
) -> Policy:
    """`policy` after training `acting_policy(policy, env)` into `trained`.

    For a normalised policy on a normalising env, its inner policy becomes
    `trained` and its normaliser the statistics of `env_state` (a batch of env
    states, merged); otherwise `trained` itself.
    """
    if not _normalizes(policy, env):
        return trained
    normalizer = observation_normalizer(env, env_state)
    return eqx.tree_at(
        lambda p: (p.policy, p.normalizer), policy, (trained, normalizer)
    )


def _normalizes(policy: Policy, env: AbstractEnv) -> bool:
    return isinstance(policy, NormalizedPolicy | NormalizedStatefulPolicy) and (
        observation_normalizer(env) is not None
    )
