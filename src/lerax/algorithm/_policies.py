"""One calling convention for stateless and stateful policies.

Algorithms thread a recurrent state through every call; for a stateless policy that
state is ``None`` (an empty pytree), so the same jitted code handles both kinds.
"""

from typing import Any, TypeAlias

import equinox as eqx
import jax
from jaxtyping import Array, Float, Key, PyTree

from lerax.policy import AbstractStatefulPolicy, AbstractStatelessPolicy

Policy: TypeAlias = AbstractStatelessPolicy | AbstractStatefulPolicy
PolicyState: TypeAlias = PyTree[Array] | None


def initial_state(policy: Policy, *, key: Key[Array, ""]) -> PolicyState:
    """The recurrent state a new episode starts from (``None`` if stateless)."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy.reset(key=key)
    return None


def sample(
    policy: Policy, state: PolicyState, observation: Array, *, key: Key[Array, ""]
) -> tuple[PolicyState, Array, Float[Array, ""], Float[Array, ""]]:
    """Samples an action: ``(next_state, action, value, log_prob)``."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy(state, observation, key=key)
    action, value, log_prob = policy(observation, key=key)
    return None, action, value, log_prob


def predict(
    policy: Policy, state: PolicyState, observation: Array
) -> tuple[PolicyState, Array]:
    """The deterministic action: ``(next_state, action)``."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy.predict(state, observation)
    return None, policy.predict(observation)


def value(policy: Policy, state: PolicyState, observation: Array) -> Float[Array, ""]:
    """The value of `observation` given the state before the step."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy.value(state, observation)
    return policy.value(observation)


def evaluate_action(
    policy: Policy, state: PolicyState, observation: Array, action: Array
) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
    """``(value, log_prob, entropy)`` of a stored action, from the pre-step state."""
    if isinstance(policy, AbstractStatefulPolicy):
        return policy.evaluate_action(state, observation, action)
    return policy.evaluate_action(observation, action)


def trainable(policy: Policy) -> PyTree[bool]:
    """Filter spec marking the parameters an optimiser may change.

    Every inexact array except those of the observation and action spaces (`Box`
    bounds are float arrays, but they are configuration, not parameters).
    """
    spec = jax.tree.map(eqx.is_inexact_array, policy)

    def frozen(space: Any) -> Any:
        return jax.tree.map(lambda _: False, space)

    return eqx.tree_at(
        lambda p: (p.observation_space, p.action_space),
        spec,
        replace_fn=frozen,
    )
