"""Names the command line accepts, mapped to classes by explicit tables."""

from typing import Any

from lerax.algorithm import A2C, DQN, PPO, SAC, TD3
from lerax.policy import (
    GRUActorCriticPolicy,
    MLPActorCriticPolicy,
    MLPQPolicy,
    MLPSACPolicy,
    MLPTD3Policy,
)

__all__ = ["ALGORITHMS", "DEFAULT_POLICIES", "POLICIES", "lookup"]

ALGORITHMS: dict[str, type] = {
    "PPO": PPO,
    "A2C": A2C,
    "DQN": DQN,
    "SAC": SAC,
    "TD3": TD3,
}
POLICIES: dict[str, type] = {
    "mlp": MLPActorCriticPolicy,
    "gru": GRUActorCriticPolicy,
    "q": MLPQPolicy,
    "sac": MLPSACPolicy,
    "td3": MLPTD3Policy,
}
# The policy each algorithm trains when none is named.
DEFAULT_POLICIES: dict[type, str] = {
    PPO: "mlp",
    A2C: "mlp",
    DQN: "q",
    SAC: "sac",
    TD3: "td3",
}


def lookup(table: dict[str, Any], name: str, what: str) -> Any:
    """``table[name]`` (case-insensitive), or a ValueError listing the names."""
    for key, value in table.items():
        if key.lower() == name.lower():
            return value
    raise ValueError(f"unknown {what} {name!r}; known: {', '.join(table)}")
