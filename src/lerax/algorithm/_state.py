"""Training states: everything a checkpoint holds."""

from typing import Any, final

import equinox as eqx
import optax
from jaxtyping import Array, Float, Int, Key

from ._policies import Policy
from ._rollout import RolloutState


class AbstractTrainingState(eqx.Module):
    """The state of a training run, continued exactly where it left off.

    The training loop touches only these fields; each algorithm adds what it
    needs (optimiser states, a replay buffer, target networks) in its own final
    state class.

    Attributes:
        policy: The policy being trained.
        key: PRNG key for the rest of the run.
        rollout: Where the parallel environments are: their states,
            observations, recurrent states and running episode statistics.
        iteration: Number of completed iterations.
        history: Per-iteration metrics, one float32 row of length
            ``total_iterations`` per name (zero until recorded).
    """

    policy: eqx.AbstractVar[Any]
    key: eqx.AbstractVar[Key[Array, ""]]
    rollout: eqx.AbstractVar[RolloutState]
    iteration: eqx.AbstractVar[Int[Array, ""]]
    history: eqx.AbstractVar[dict[str, Float[Array, " total_iterations"]]]


@final
class TrainingState(AbstractTrainingState):
    """The state of an on-policy run (`PPO`, `A2C`).

    Attributes:
        policy: The policy being trained.
        opt_state: The optimiser's state (e.g. Adam moments).
        key: PRNG key for the rest of the run.
        rollout: Environment states, observations, recurrent states and running
            episode returns/lengths of the parallel environments.
        iteration: Number of completed iterations.
        history: Per-iteration metrics, one float32 row of length
            ``total_iterations`` per name (zero until recorded).
    """

    policy: Policy
    opt_state: optax.OptState
    key: Key[Array, ""]
    rollout: RolloutState
    iteration: Int[Array, ""]
    history: dict[str, Float[Array, " total_iterations"]]
