"""The complete state of a training run: what a checkpoint holds."""

from typing import final

import equinox as eqx
import optax
from jaxtyping import Array, Float, Int, Key

from ._policies import Policy
from ._rollout import RolloutState


@final
class TrainingState(eqx.Module):
    """Everything a training run needs to continue exactly where it left off.

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
