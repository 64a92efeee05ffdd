"""Property tests over random module trees (hypothesis)."""

import io
import json
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from helpers import assert_trees_identical, join_file, seal, split_file
from lerax.utils import Serializable, SerializationError, load

JAX_DTYPES = [
    "float32",
    "float16",
    "bfloat16",
    "int32",
    "int8",
    "uint8",
    "uint32",
    "bool",
    "complex64",
]
NUMPY_DTYPES = [*JAX_DTYPES, "float64", "int64", "uint16", "complex128"]
shapes = st.lists(st.integers(0, 4), max_size=3)
leaf_specs = st.one_of(
    st.tuples(st.just("jax"), st.sampled_from(JAX_DTYPES), shapes),
    st.tuples(st.just("numpy"), st.sampled_from(NUMPY_DTYPES), shapes),
    st.tuples(
        st.just("numpy_fortran"),
        st.sampled_from(NUMPY_DTYPES),
        st.lists(st.integers(2, 4), min_size=2, max_size=3),
    ),
    st.tuples(st.just("python"), st.sampled_from(["bool", "int", "float", "complex"])),
    st.tuples(st.just("key"), shapes),
    st.tuples(st.just("legacy_key")),
    st.tuples(st.just("none")),
    st.tuples(st.just("static"), st.text(max_size=5)),
).map(list)
tree_specs = st.recursive(
    leaf_specs,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda xs: ["list", xs]),
        st.dictionaries(
            st.text("abcxyz", min_size=1, max_size=3), children, max_size=3
        ).map(lambda d: ["dict", d]),
    ),
    max_leaves=12,
)


def _random_bits(rng: np.random.Generator, dtype: str, shape: list[int]) -> np.ndarray:
    """Every bit pattern, NaNs and infinities included."""
    dt = jnp.dtype(dtype)
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * dt.itemsize, dtype=np.uint8)
    if dt == np.bool_:
        return (raw % 2).astype(np.bool_).reshape(shape)
    return raw.view(dt).reshape(shape)


def build(spec: Any, rng: np.random.Generator) -> Any:
    kind = spec[0]
    if kind == "list":
        return [build(s, rng) for s in spec[1]]
    if kind == "dict":
        return {k: build(s, rng) for k, s in spec[1].items()}
    if kind == "jax":
        return jnp.asarray(_random_bits(rng, spec[1], spec[2]))
    if kind == "numpy":
        return _random_bits(rng, spec[1], spec[2])
    if kind == "numpy_fortran":
        return np.asfortranarray(_random_bits(rng, spec[1], spec[2]))
    if kind == "python":
        return {
            "bool": lambda: bool(rng.integers(2)),
            "int": lambda: int(rng.integers(-(2**40), 2**40)),
            "float": lambda: float(rng.choice([rng.standard_normal(), np.inf, np.nan])),
            "complex": lambda: complex(rng.standard_normal(), rng.standard_normal()),
        }[spec[1]]()
    if kind == "key":
        return jax.random.split(
            jax.random.key(int(rng.integers(2**31))), tuple(spec[1])
        )
    if kind == "legacy_key":
        return jax.random.PRNGKey(int(rng.integers(2**31)))
    if kind == "none":
        return None
    return spec[1]  # a static string leaf: not stored, compared by value


class Tree(Serializable):
    """A module holding an arbitrary tree described by a JSON-able spec."""

    content: Any

    def __init__(self, spec: Any, seed: int):
        self.content = build(spec, np.random.default_rng(seed))


def _equinox_can_load(spec: Any) -> bool:
    """Plain equinox cannot save typed keys, nor load NumPy bfloat16 (it gets V2)."""
    if spec[0] in ("list", "dict"):
        children = spec[1] if spec[0] == "list" else spec[1].values()
        return all(_equinox_can_load(s) for s in children)
    if spec[0] in ("numpy", "numpy_fortran"):
        return spec[1] != "bfloat16"
    return spec[0] != "key"


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(spec=tree_specs, seed=st.integers(0, 2**31 - 1))
def test_round_trip_is_exact(spec, seed):
    module = Tree(spec, seed)
    buffer = io.BytesIO()
    module.serialize(buffer)
    for loaded in (
        Tree.deserialize(io.BytesIO(buffer.getvalue())),
        Tree.deserialize(io.BytesIO(buffer.getvalue()), spec, seed + 1),
        load(io.BytesIO(buffer.getvalue())),
    ):
        assert_trees_identical(loaded, module)


@SETTINGS
@given(spec=tree_specs, seed=st.integers(0, 2**31 - 1))
def test_equinox_compatibility_both_ways(spec, seed):
    assume(_equinox_can_load(spec))
    module = Tree(spec, seed)
    other = Tree(spec, seed + 1)
    ours = io.BytesIO()
    module.serialize(ours)
    ours.seek(0)
    from_ours = eqx.tree_deserialise_leaves(ours, other)
    theirs = io.BytesIO()
    eqx.tree_serialise_leaves(theirs, module)
    theirs.seek(0)
    from_theirs = Tree.deserialize(theirs, spec, seed + 1)
    for loaded in (from_ours, from_theirs):
        assert_trees_identical(
            jax.tree.leaves(eqx.filter(loaded, eqx.is_array)),
            jax.tree.leaves(eqx.filter(module, eqx.is_array)),
        )


@SETTINGS
@given(spec=tree_specs, seed=st.integers(0, 2**31 - 1), data=st.data())
def test_any_corruption_is_detected(spec, seed, data):
    buffer = io.BytesIO()
    Tree(spec, seed).serialize(buffer)
    raw = bytearray(buffer.getvalue())
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SerializationError):
        Tree.deserialize(io.BytesIO(bytes(raw)))
    with pytest.raises(SerializationError):
        Tree.deserialize(io.BytesIO(bytes(raw)), spec, seed)


@SETTINGS
@given(spec=tree_specs, seed=st.integers(0, 2**31 - 1), data=st.data())
def test_any_truncation_is_detected(spec, seed, data):
    buffer = io.BytesIO()
    Tree(spec, seed).serialize(buffer)
    raw = buffer.getvalue()
    # Cutting all of it leaves an empty file, which is what plain equinox writes
    # for a tree without arrays: only detectable when the tree has some.
    stores_nothing = not jax.tree.leaves(
        eqx.filter(Tree(spec, seed), eqx.is_array_like)
    )
    cut = data.draw(st.integers(1, len(raw) - stores_nothing))
    with pytest.raises(SerializationError):
        Tree.deserialize(io.BytesIO(raw[:-cut]), spec, seed)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def _json_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            paths += _json_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            paths += _json_paths(v, (*prefix, i))
    return paths


SMALL_SPEC = ["list", [["jax", "float32", [2]], ["python", "int"]]]


@SETTINGS
@given(data=st.data())
def test_any_metadata_edit_gives_a_serialization_error_or_a_valid_load(data):
    """Resealed (checksum-valid) metadata with any value replaced anywhere."""
    module = Tree(SMALL_SPEC, 0)
    buffer = io.BytesIO()
    module.serialize(buffer)
    payload, metadata = split_file(buffer.getvalue())
    path = data.draw(st.sampled_from(_json_paths(metadata)[1:]))
    parent = metadata
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(json_values)
    raw = join_file(payload, metadata)
    for load_it in (
        lambda: Tree.deserialize(io.BytesIO(raw)),
        lambda: Tree.deserialize(io.BytesIO(raw), SMALL_SPEC, 0),
        lambda: load(io.BytesIO(raw)),
    ):
        try:
            loaded = load_it()
        except SerializationError:
            continue
        assert_trees_identical(loaded, module)  # an edit that changed nothing real


def test_deeply_nested_metadata_is_refused():
    buffer = io.BytesIO()
    Tree(["python", "int"], 0).serialize(buffer)
    payload, metadata = split_file(buffer.getvalue())
    blob = json.dumps({**metadata, "args": "DEEP"}).encode()
    deep = b"[" * 100_000 + b"]" * 100_000
    for nested in (deep, b'{"args": [' + deep + b'], "kwargs": {}}'):
        raw = seal(payload, blob.replace(b'"DEEP"', nested))
        with pytest.raises(SerializationError, match=r"nested|recursion"):
            Tree.deserialize(io.BytesIO(raw))
