"""Names the command line accepts, mapped to classes by explicit tables."""

from typing import Any

from lerax.algorithm import PPO
from lerax.policy import GRUActorCriticPolicy, MLPActorCriticPolicy

__all__ = ["ALGORITHMS", "POLICIES", "lookup"]

ALGORITHMS: dict[str, type] = {"PPO": PPO}
POLICIES: dict[str, type] = {
    "mlp": MLPActorCriticPolicy,
    "gru": GRUActorCriticPolicy,
}


def lookup(table: dict[str, Any], name: str, what: str) -> Any:
    """``table[name]`` (case-insensitive), or a ValueError listing the names."""
    for key, value in table.items():
        if key.lower() == name.lower():
            return value
    raise ValueError(f"unknown {what} {name!r}; known: {', '.join(table)}")
