"""Feed-forward networks with hidden layers of any widths."""

import itertools
from collections.abc import Callable, Sequence
from typing import Literal

import equinox as eqx
import jax
from jaxtyping import Array, Key


@eqx.filter_jit
def feedforward(
    in_size: int,
    out_size: int | Literal["scalar"],
    hidden_sizes: tuple[int, ...],
    activation: Callable[[Array], Array],
    *,
    key: Key[Array, ""],
) -> eqx.nn.Sequential:
    """Linear layers with `activation` between them and none after the last.

    Layers have Equinox's default initialisation (uniform in ±1/√fan-in, as
    PyTorch's ``nn.Linear``, which Stable-Baselines3's off-policy networks
    use). Compiled as one program, so building is quick in a fresh process.

    Args:
        in_size: Input features.
        out_size: Output features, or ``"scalar"`` for a scalar output.
        hidden_sizes: Width of each hidden layer (none: a linear map).
        activation: Hidden activation; a named function such as
            `jax.nn.relu`, so it can be recorded for serialization.
        key: PRNG key.
    """
    sizes = (in_size, *hidden_sizes)
    keys = jax.random.split(key, len(sizes))
    layers: list[Callable[..., Array]] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers += [eqx.nn.Linear(n_in, n_out, key=keys[i]), eqx.nn.Lambda(activation)]
    layers.append(eqx.nn.Linear(sizes[-1], out_size, key=keys[-1]))
    return eqx.nn.Sequential(layers)


def hidden_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """`sizes` as a tuple of positive ints.

    Raises:
        ValueError: If a size is not a positive integer.
    """
    result = tuple(sizes)
    for size in result:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                f"hidden_sizes must be positive integers, got {tuple(sizes)!r}"
            )
    return result
