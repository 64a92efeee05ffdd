"""Test-session settings shared by every test module."""

from collections.abc import Iterator

import jax
import pytest


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs() -> Iterator[None]:
    """Drops JAX's compiled programs after each test module.

    A single process compiling the whole suite's programs otherwise keeps every
    executable mapped, and passes the kernel's limit on memory mappings
    (``vm.max_map_count``, 65530 by default), which crashes XLA.
    """
    yield
    jax.clear_caches()
