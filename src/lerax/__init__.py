"""lerax: reinforcement learning in JAX + Equinox with safe, self-describing files."""

__version__ = "0.1.0"

__all__ = ["__version__"]
