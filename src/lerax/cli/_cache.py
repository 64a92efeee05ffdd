"""JAX's persistent compilation cache, on by default for the command line."""

import os
from pathlib import Path

import jax

__all__ = ["cache_dir", "enable_compilation_cache"]


def cache_dir() -> Path:
    """``$LERAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/lerax/jax``, else
    ``~/.cache/lerax/jax``."""
    explicit = os.environ.get("LERAX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lerax" / "jax"


def enable_compilation_cache(folder: Path) -> None:
    """Stores every compiled program in `folder`, so that a second run of the
    same configuration loads its programs instead of compiling them."""
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # Cache every program: lerax's are small and many, each under a second.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
