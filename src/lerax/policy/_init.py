"""Orthogonal re-initialisation of equinox layers (weights orthogonal, biases 0)."""

import math
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, DTypeLike, Key


def _orthogonal(
    key: Key[Array, ""], shape: tuple[int, ...], gain: float, dtype: DTypeLike
) -> Array:
    return jax.nn.initializers.orthogonal(gain)(key, shape, dtype)


def orthogonal_linear(
    linear: eqx.nn.Linear, gain: float, *, key: Key[Array, ""]
) -> eqx.nn.Linear:
    """Returns `linear` with an orthogonal weight scaled by `gain` and zero bias."""
    weight = _orthogonal(key, linear.weight.shape, gain, linear.weight.dtype)
    linear = eqx.tree_at(lambda lin: lin.weight, linear, weight)
    if linear.bias is not None:
        linear = eqx.tree_at(lambda lin: lin.bias, linear, jnp.zeros_like(linear.bias))
    return linear


def orthogonal_mlp(
    mlp: eqx.nn.MLP, *, hidden_gain: float, output_gain: float, key: Key[Array, ""]
) -> eqx.nn.MLP:
    """Re-initialises every layer of `mlp` orthogonally.

    Hidden layers use `hidden_gain`; the output layer uses `output_gain`.
    """
    keys = jax.random.split(key, len(mlp.layers))
    last = len(mlp.layers) - 1
    layers = tuple(
        orthogonal_linear(layer, output_gain if i == last else hidden_gain, key=keys[i])
        for i, layer in enumerate(mlp.layers)
    )
    return eqx.tree_at(lambda m: m.layers, mlp, layers)


def _actor_critic_mlp(
    in_size: int,
    out_size: int | Literal["scalar"],
    width: int,
    depth: int,
    activation: Callable[[Array], Array],
    *,
    output_gain: float,
    key: Key[Array, ""],
) -> eqx.nn.MLP:
    """Hidden layers with gain √2, a linear output layer with `output_gain`."""
    build_key, init_key = jax.random.split(key)
    mlp = eqx.nn.MLP(
        in_size,
        out_size,
        width,
        depth,
        activation=activation,
        # A named identity, unlike equinox's default lambda, can be recorded.
        final_activation=jax.nn.identity,
        key=build_key,
    )
    return orthogonal_mlp(
        mlp, hidden_gain=math.sqrt(2.0), output_gain=output_gain, key=init_key
    )


# Initialisation is compiled as one program: run op by op, the orthogonal
# initialisers (QR decompositions) took seconds in a fresh process.
@eqx.filter_jit
def actor_and_critic(
    in_size: int,
    num_actor_outputs: int,
    width: int,
    depth: int,
    activation: Callable[[Array], Array],
    *,
    key: Key[Array, ""],
) -> tuple[eqx.nn.MLP, eqx.nn.MLP]:
    """Separate actor and critic MLPs, orthogonally initialised.

    The actor's output layer has gain 0.01 (near-uniform initial policy), the
    critic's (a scalar) gain 1.0; hidden layers have gain √2 and biases are zero.
    """
    actor_key, critic_key = jax.random.split(key)
    args = (width, depth, activation)
    actor = _actor_critic_mlp(
        in_size, num_actor_outputs, *args, output_gain=0.01, key=actor_key
    )
    critic = _actor_critic_mlp(
        in_size, "scalar", *args, output_gain=1.0, key=critic_key
    )
    return actor, critic


@eqx.filter_jit
def gru_cell(in_size: int, hidden_size: int, *, key: Key[Array, ""]) -> eqx.nn.GRUCell:
    """A GRU cell whose gate blocks are orthogonal (gain 1), biases zero."""
    build_key, init_key = jax.random.split(key)
    cell = eqx.nn.GRUCell(in_size, hidden_size, key=build_key)
    return orthogonal_gru(cell, 1.0, key=init_key)


def orthogonal_gru(
    cell: eqx.nn.GRUCell, gain: float, *, key: Key[Array, ""]
) -> eqx.nn.GRUCell:
    """Re-initialises a GRU cell: each gate block orthogonal, biases zero.

    The reset, update and candidate weights are stacked along axis 0; each block is
    made orthogonal on its own so the recurrent map of every gate is norm-preserving.
    """
    hidden = cell.hidden_size
    key_ih, key_hh = jax.random.split(key)

    def blocks(k: Key[Array, ""], weight: Array) -> Array:
        ks = jax.random.split(k, 3)
        shape = (hidden, weight.shape[1])
        return jnp.concatenate(
            [_orthogonal(ks[i], shape, gain, weight.dtype) for i in range(3)], axis=0
        )

    cell = eqx.tree_at(
        lambda c: (c.weight_ih, c.weight_hh),
        cell,
        (blocks(key_ih, cell.weight_ih), blocks(key_hh, cell.weight_hh)),
    )
    if cell.bias is not None and cell.bias_n is not None:
        cell = eqx.tree_at(
            lambda c: (c.bias, c.bias_n),
            cell,
            (jnp.zeros_like(cell.bias), jnp.zeros_like(cell.bias_n)),
        )
    return cell
