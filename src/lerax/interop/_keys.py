"""Gymnasium's integer seeds and JAX's PRNG keys, each made from the other."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray, UInt32

__all__ = ["key_from_seed", "seed_bits", "seed_from_bits"]

_WORD = 2**32


def key_from_seed(seed: int) -> PRNGKeyArray:
    """The PRNG key of a Gymnasium seed (a non-negative integer).

    A seed below ``2**32`` gives ``jax.random.key(seed)``; each further 32-bit
    word of a larger seed is folded in, so that distinct seeds give distinct
    keys (``jax.random.key`` alone keeps only the low 32 bits).

    Args:
        seed: A non-negative integer.

    Returns:
        A typed PRNG key.

    Raises:
        ValueError: If `seed` is not a non-negative integer.
    """
    if (
        isinstance(seed, bool | np.bool_)
        or not isinstance(seed, int | np.integer)
        or seed < 0
    ):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    key = jax.random.key(seed % _WORD)
    seed //= _WORD
    while seed:
        key = jax.random.fold_in(key, seed % _WORD)
        seed //= _WORD
    return key


def seed_bits(key: PRNGKeyArray) -> UInt32[Array, "2"]:
    """64 random bits drawn from `key`, as two uint32 words (high word first).

    Works under `jax.jit` and `jax.vmap`; `seed_from_bits` turns the words into
    the integer seed a Gymnasium `reset` takes.
    """
    return jax.random.bits(key, (2,), jnp.uint32)


def seed_from_bits(bits: np.ndarray) -> int:
    """The integer in ``[0, 2**64)`` whose words `seed_bits` drew."""
    high, low = (int(w) for w in np.asarray(bits, dtype=np.uint32))
    return high * _WORD + low
