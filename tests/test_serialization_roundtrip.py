"""Round trips: every leaf kind, recorded arguments, equinox compatibility."""

import io

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.core import Tracer

from helpers import Net, array_leaves, assert_trees_identical, split_file
from lerax.utils import Serializable, SerializationError, load, load_tree, save_tree


class Everything(Serializable):
    """One field of each leaf type of requirement 7."""

    jax_f32: jax.Array
    jax_bf16: jax.Array
    jax_int: jax.Array
    empty: jax.Array
    numpy_f64: np.ndarray
    numpy_fortran: np.ndarray
    numpy_scalar: np.float16
    py_bool: bool
    py_int: int
    py_float: float
    py_complex: complex
    typed_key: jax.Array
    typed_keys: jax.Array
    legacy_key: jax.Array
    nothing: None
    label: str = eqx.field(static=True)
    sizes: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, seed: int):
        key = jax.random.key(seed)
        self.jax_f32 = jax.random.normal(key, (3, 4))
        self.jax_bf16 = jax.random.normal(key, (5,), jnp.bfloat16)
        self.jax_int = jnp.arange(6, dtype=jnp.int8).reshape(2, 3)
        self.empty = jnp.zeros((0, 7))
        self.numpy_f64 = np.linspace(0.0, 1.0, 5)
        self.numpy_fortran = np.asfortranarray(
            np.arange(6, dtype=np.int32).reshape(2, 3)
        )
        self.numpy_scalar = np.float16(seed + 0.5)
        self.py_bool = seed % 2 == 0
        self.py_int = -seed
        self.py_float = seed / 3
        self.py_complex = complex(seed, -1.5)
        self.typed_key = jax.random.fold_in(key, 1)
        self.typed_keys = jax.random.split(key, (2, 3))
        self.legacy_key = jax.random.PRNGKey(seed)
        self.nothing = None
        self.label = f"seed-{seed}"
        self.sizes = (seed, 2)


def test_every_leaf_kind_round_trips_exactly(tmp_path):
    module = Everything(5)
    module.serialize(tmp_path / "e.eqx")
    for loaded in (
        Everything.deserialize(tmp_path / "e.eqx"),
        Everything.deserialize(tmp_path / "e.eqx", 5),
        load(tmp_path / "e.eqx"),
    ):
        assert type(loaded) is Everything
        assert_trees_identical(loaded, module)
        assert isinstance(loaded.numpy_f64, np.ndarray)  # numpy stays numpy
        assert loaded.numpy_f64.flags.writeable
        assert loaded.label == "seed-5" and loaded.sizes == (5, 2)


def test_explicit_arguments_take_precedence_and_values_come_from_file(tmp_path):
    net = Net(4, key=jax.random.key(0))
    net.serialize(tmp_path / "n.eqx")
    # The key decides no structure: every value, the key leaf included, comes
    # from the file.
    loaded = Net.deserialize(tmp_path / "n.eqx", 4, key=jax.random.key(6))
    assert_trees_identical(loaded, net)
    # Static fields come from the arguments given, so they must match the file.
    with pytest.raises(
        SerializationError, match=r"\.name: expected 'other', file has 'net'"
    ):
        Net.deserialize(tmp_path / "n.eqx", 4, name="other", key=jax.random.key(6))
    # Everything's seed also decides static fields: the file says 5, not 6.
    Everything(5).serialize(tmp_path / "e.eqx")
    with pytest.raises(SerializationError, match=r"\.label: expected 'seed-6'"):
        Everything.deserialize(tmp_path / "e.eqx", 6)


def test_recorded_arguments_survive_jit_and_tree_map(tmp_path):
    net = Net(8, jax.nn.relu, name="x", key=jax.random.key(0))
    through_jit = eqx.filter_jit(lambda m: m)(net)
    through_map = jax.tree.map(lambda x: x * 2 if eqx.is_inexact_array(x) else x, net)
    for i, module in enumerate((through_jit, through_map)):
        module.serialize(tmp_path / f"{i}.eqx")
        loaded = Net.deserialize(tmp_path / f"{i}.eqx")
        assert_trees_identical(loaded, module)
        assert loaded.mlp.activation is jax.nn.relu


def test_module_built_inside_jit_records_its_arguments(tmp_path):
    @eqx.filter_jit
    def make(key):
        return Net(4, key=key)

    make(jax.random.key(3)).serialize(tmp_path / "n.eqx")
    loaded = Net.deserialize(tmp_path / "n.eqx")
    assert_trees_identical(loaded, make(jax.random.key(3)))


def test_recorded_arguments_do_not_affect_equality():
    a = Net(4, key=jax.random.key(0))
    b = Net(4, jax.nn.tanh, "net", key=jax.random.key(0))
    assert eqx.tree_equal(a, b)
    assert jax.tree.structure(a) == jax.tree.structure(b)


def test_deserialize_does_not_initialise_weights(tmp_path, monkeypatch):
    Net(4, key=jax.random.key(0)).serialize(tmp_path / "n.eqx")
    calls = []
    real_uniform = jax.random.uniform  # what equinox's Linear initialises with

    def spy(*args, **kwargs):
        out = real_uniform(*args, **kwargs)
        calls.append(isinstance(out, Tracer))
        return out

    monkeypatch.setattr(jax.random, "uniform", spy)
    Net.deserialize(tmp_path / "n.eqx")
    Net.deserialize(tmp_path / "n.eqx", 4, key=jax.random.key(1))
    assert calls and all(calls)  # only ever traced abstractly


def test_lerax_file_loads_with_plain_equinox(tmp_path):
    net = Net(8, key=jax.random.key(0))
    net.serialize(tmp_path / "n.eqx")
    like = Net(8, key=jax.random.key(1))
    loaded = eqx.tree_deserialise_leaves(tmp_path / "n.eqx", like)
    assert_trees_identical(loaded, net)


def test_payload_is_byte_identical_to_equinox(tmp_path):
    tree = eqx.filter(
        Everything(2),
        lambda x: (
            not isinstance(x, jax.Array)
            or not (jnp.issubdtype(x.dtype, jax.dtypes.prng_key))
        ),
    )
    theirs = io.BytesIO()
    eqx.tree_serialise_leaves(theirs, tree)
    ours = io.BytesIO()
    save_tree(ours, tree)
    payload, metadata = split_file(ours.getvalue())
    assert payload == theirs.getvalue()
    assert metadata["format"] == "lerax" and metadata["class"] is None


def test_equinox_file_loads_with_deserialize(tmp_path):
    net = Net(8, key=jax.random.key(0))
    eqx.tree_serialise_leaves(tmp_path / "plain.eqx", net)
    loaded = Net.deserialize(tmp_path / "plain.eqx", 8, key=jax.random.key(9))
    assert_trees_identical(array_leaves(loaded), array_leaves(net))
    assert type(loaded.table) is np.ndarray
    with pytest.raises(SerializationError, match="no lerax metadata"):
        Net.deserialize(tmp_path / "plain.eqx")


def test_equinox_file_with_legacy_keys_loads_into_typed_key_skeleton(tmp_path):
    tree = {"k": jax.random.key_data(jax.random.key(4)), "w": jnp.ones(2)}
    eqx.tree_serialise_leaves(tmp_path / "k.eqx", tree)
    like = {"k": jax.random.key(0), "w": jnp.zeros(2)}
    loaded = load_tree(tmp_path / "k.eqx", like)
    assert jnp.issubdtype(loaded["k"].dtype, jax.dtypes.prng_key)
    assert (jax.random.key_data(loaded["k"]) == tree["k"]).all()


def test_self_description(tmp_path):
    Net(4, jax.nn.relu, key=jax.random.key(0)).serialize(tmp_path / "n.eqx")
    _, meta = split_file((tmp_path / "n.eqx").read_bytes())
    assert meta["format_version"] == 1
    assert meta["lerax_version"]
    assert meta["class"] == "helpers:Net"
    args = meta["args"]
    assert args["args"][0] == 4
    assert args["args"][1] == {"type": "function", "name": "jax.nn:relu"}
    assert args["kwargs"]["key"] == {
        "type": "array",
        "kind": "key",
        "shape": [],
        "dtype": "key<fry>",
        "impl": "threefry2x32",
    }
    paths = [leaf["path"] for leaf in meta["leaves"]]
    assert ".mlp.layers[0].weight" in paths and ".key" in paths
    assert meta["fields"][".mlp.activation"] == {
        "type": "function",
        "name": "jax.nn:relu",
    }


def test_nested_serializable_arguments(tmp_path):
    class Inner(Serializable):
        w: jax.Array

        def __init__(self, n: int):
            self.w = jnp.ones(n)

    class Outer(Serializable):
        inner: Inner
        v: jax.Array

        def __init__(self, inner: Inner, data: jax.Array):
            self.inner = inner
            self.v = data * 2

    outer = Outer(Inner(3), jnp.arange(4.0))
    outer.serialize(tmp_path / "o.eqx")
    assert_trees_identical(Outer.deserialize(tmp_path / "o.eqx"), outer)


def test_unrecordable_arguments_are_not_needed(tmp_path):
    class Odd(Serializable):
        w: jax.Array

        def __init__(self, f):
            self.w = f(jnp.ones(2))

    Odd(lambda x: x + 1).serialize(tmp_path / "o.eqx")
    # The structure, not the lambda, rebuilds the object.
    assert (Odd.deserialize(tmp_path / "o.eqx").w == 2).all()
    assert (Odd.deserialize(tmp_path / "o.eqx", lambda x: x).w == 2).all()


def test_unrecordable_structure_needs_explicit_arguments(tmp_path):
    class Holder(Serializable):
        layer: eqx.nn.Lambda

        def __init__(self, fn):
            self.layer = eqx.nn.Lambda(fn)

    Holder(lambda x: x + 1).serialize(tmp_path / "h.eqx")
    with pytest.raises(
        SerializationError,
        match=r"\.layer\.fn: the value was function .*<lambda> \(not registered with lerax\.utils\.register_function\), which a file cannot hold; pass the constructor arguments explicitly",
    ):
        Holder.deserialize(tmp_path / "h.eqx")


def test_generic_load_and_abstract_target(tmp_path):
    class Base(Serializable):
        pass

    class Child(Base):
        w: jax.Array

        def __init__(self):
            self.w = jnp.ones(2)

    Child().serialize(tmp_path / "c.eqx")
    assert type(load(tmp_path / "c.eqx")) is Child
    assert type(Base.deserialize(tmp_path / "c.eqx")) is Child
    with pytest.raises(SerializationError, match=r"holds a .*Child, not a .*Net"):
        Net.deserialize(tmp_path / "c.eqx")


def test_save_tree_load_tree_round_trip(tmp_path):
    tree = {"a": [jnp.ones(3), np.zeros(2)], "b": (1, 2.5), "c": jax.random.key(1)}
    assert save_tree(tmp_path / "t", tree) == tmp_path / "t.eqx"
    like = jax.tree.map(lambda x: x, tree)
    assert_trees_identical(load_tree(tmp_path / "t.eqx", like), tree)
    abstract = {
        "a": [jax.ShapeDtypeStruct((3,), jnp.float32), np.ones(2)],
        "b": (0, 0.0),
        "c": jax.eval_shape(lambda: jax.random.key(0)),
    }
    assert_trees_identical(load_tree(tmp_path / "t.eqx", abstract), tree)


def scaled_tanh(x):
    return 2 * jnp.tanh(x)


def test_custom_activation_loads_once_registered(tmp_path, monkeypatch):
    from lerax.env import CartPole
    from lerax.policy import MLPActorCriticPolicy
    from lerax.utils import _trust, register_function

    monkeypatch.setattr(_trust, "_FUNCTIONS", dict(_trust._FUNCTIONS))
    monkeypatch.setattr(_trust, "_FUNCTION_NAMES", dict(_trust._FUNCTION_NAMES))
    policy = MLPActorCriticPolicy(
        CartPole(), activation=scaled_tanh, key=jax.random.key(0)
    )
    policy.serialize(tmp_path / "p.eqx")
    with pytest.raises(
        SerializationError,
        match=r"\.actor\.activation: the value was function test_serialization_roundtrip\.scaled_tanh \(not registered with lerax\.utils\.register_function\)",
    ):
        MLPActorCriticPolicy.deserialize(tmp_path / "p.eqx")
    assert register_function(scaled_tanh) is scaled_tanh
    policy.serialize(tmp_path / "p.eqx")
    loaded = MLPActorCriticPolicy.deserialize(tmp_path / "p.eqx")
    assert loaded.actor.activation is scaled_tanh
    assert_trees_identical(loaded, policy)


def test_register_function_needs_a_reachable_name():
    from lerax.utils import register_function

    with pytest.raises(ValueError, match="pass name='module:qualname'"):
        register_function(lambda x: x)
    with pytest.raises(ValueError, match="registered for another function"):
        register_function(lambda x: x, name="jax.nn:relu")
    with pytest.raises(TypeError, match=r"needs an equinox\.Module subclass"):
        from lerax.utils import register_class

        register_class(int)


def test_register_function_as_a_decorator():
    from lerax.utils import register_function
    from lerax.utils._trust import function_name, lookup_function

    # A decorator runs before the module binds the name: it must still work.
    def doubled(x):
        return 2 * x

    doubled.__qualname__ = "doubled_by_decorator"
    assert register_function(doubled) is doubled
    name = "test_serialization_roundtrip:doubled_by_decorator"
    assert function_name(doubled) == name and lookup_function(name) is doubled
