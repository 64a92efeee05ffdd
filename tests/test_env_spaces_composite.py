"""Tests of lerax.env spaces MultiDiscrete, MultiBinary, Dict and Tuple, and of
every space's flat encoding (flatten / unflatten)."""

import re

import gymnasium.spaces as gs
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lerax.env import (
    AbstractSpace,
    Box,
    Dict,
    Discrete,
    MultiBinary,
    MultiDiscrete,
    Tuple,
)

KEY = jax.random.key(0)


def _nested():
    """Every kind of space, nested."""
    return Dict(
        {
            "z": MultiBinary((2, 2)),
            "a": Tuple(
                (MultiDiscrete([[2, 3], [1, 4]]), Dict(pos=Box(-1.0, 1.0, (2,))))
            ),
            "m": Discrete(3),
        }
    )


# A fixed set of spaces for the error tests.
SPACES = {
    "multi-discrete": MultiDiscrete([3, 1, 4]),
    "multi-discrete-2d": MultiDiscrete([[2, 3], [4, 5]]),
    "multi-binary": MultiBinary(5),
    "multi-binary-2d": MultiBinary((2, 3)),
    "dict": Dict({"pos": Box(-1.0, 1.0, (2,)), "mode": Discrete(3)}),
    "tuple": Tuple((Discrete(3), Box(0, 5, (2,), jnp.int32), MultiBinary(2))),
    "nested": _nested(),
    "box": Box(-2.0, 2.0, (2, 3)),
    "discrete": Discrete(4),
}


def _same(a, b):
    """Same pytree structure and equal leaves (dtype included)."""
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert jnp.asarray(x).dtype == jnp.asarray(y).dtype
        np.testing.assert_array_equal(x, y)


# --- Random spaces ------------------------------------------------------------
#
# A recipe is a nested description of a space; building it twice gives two equal
# spaces that are distinct objects.

# Few distinct parameters: JAX compiles each operation once per shape, and
# compilation is most of the cost of these small computations.
_leaf_recipes = st.one_of(
    st.tuples(st.just("discrete"), st.sampled_from([1, 3])),
    st.tuples(st.just("box"), st.sampled_from([[], [2], [2, 3]])),
    st.tuples(st.just("multi_discrete"), st.sampled_from([[1], [3, 2], [2, 4, 3]])),
    st.tuples(st.just("multi_binary"), st.sampled_from([1, 3, [2, 3], []])),
)

_recipes = st.recursive(
    _leaf_recipes,
    lambda children: st.one_of(
        st.tuples(st.just("tuple"), st.lists(children, max_size=3)),
        st.tuples(
            st.just("dict"),
            st.dictionaries(st.sampled_from("abcdxy"), children, max_size=3),
        ),
    ),
    max_leaves=6,
)


def _build(recipe) -> AbstractSpace:
    kind, arg = recipe
    if kind == "discrete":
        return Discrete(arg)
    if kind == "box":
        return Box(-3.0, 3.0, shape=tuple(arg))
    if kind == "multi_discrete":
        return MultiDiscrete(arg)
    if kind == "multi_binary":
        return MultiBinary(arg)
    if kind == "tuple":
        return Tuple([_build(r) for r in arg])
    return Dict({k: _build(r) for k, r in arg.items()})


def _corrupt(space: AbstractSpace, x, how: int):
    """Something like `x` that `space` must reject; `how` picks the part and way."""
    if isinstance(space, Dict):
        if len(space) == 0:
            return {"extra": jnp.array(0)}
        key = space.keys()[how % len(space)]
        return {**x, key: _corrupt(space[key], x[key], how // len(space))}
    if isinstance(space, Tuple):
        if len(space) == 0:
            return (jnp.array(0),)
        i = how % len(space)
        return (*x[:i], _corrupt(space[i], x[i], how // len(space)), *x[i + 1 :])
    x = jnp.asarray(x)
    way = how % 3
    if way == 0:  # an extra axis
        return x[None]
    if isinstance(space, Box):  # Box does not constrain the dtype: out of range
        return x.at[(0,) * x.ndim].set(jnp.nan if way == 1 else 4.0)
    if way == 1:  # out of range
        if isinstance(space, Discrete):
            return x + space.n
        if isinstance(space, MultiDiscrete):
            return x + jnp.asarray(space.nvec, x.dtype)
        return x + 2
    return x.astype(jnp.float32)  # a discrete space wants integers


@settings(max_examples=10, deadline=None)
@given(recipe=_recipes, seed=st.integers(0, 2**31 - 1), how=st.integers(0, 99))
def test_random_spaces_sample_flatten_round_trip(recipe, seed, how):
    space = _build(recipe)
    x = space.sample(key=jax.random.key(seed))
    assert bool(space.contains(x))
    assert not bool(space.contains(_corrupt(space, x, how)))
    flat = space.flatten(x)
    assert flat.shape == (space.flat_size,)
    assert flat.dtype == jnp.float32
    _same(space.unflatten(flat), x)
    assert bool(space.contains(space.unflatten(flat)))
    # Equality and hashing are structural.
    again = _build(recipe)
    assert again is not space
    assert again == space
    assert hash(again) == hash(space)


# --- jit and vmap -------------------------------------------------------------


def test_jit_and_vmap_of_sample_contains_flatten():
    # Compiling is the cost: one nested space covers every kind of space.
    space = _nested()

    @jax.jit
    def run(space, key):
        xs = jax.vmap(lambda k: space.sample(key=k))(jax.random.split(key, 64))
        flat = jax.vmap(space.flatten)(xs)
        back = jax.vmap(space.unflatten)(flat)
        return xs, jax.vmap(space.contains)(xs), flat, back

    # The space is a jit argument: its arrays are traced, its structure static.
    xs, contained, flat, back = run(space, KEY)
    assert bool(jnp.all(contained))
    assert flat.shape == (64, space.flat_size)
    _same(back, xs)
    first = jax.tree.map(lambda leaf: leaf[0], xs)
    np.testing.assert_array_equal(space.flatten(first), flat[0])
    # Different keys give different samples.
    assert len({np.asarray(row).tobytes() for row in flat}) > 1


# --- MultiDiscrete --------------------------------------------------------------


def test_multi_discrete_attributes_and_sampling():
    assert issubclass(MultiDiscrete, AbstractSpace)
    space = MultiDiscrete([3, 1, 4])
    assert space.nvec == (3, 1, 4)
    assert space.flat_nvec == (3, 1, 4)
    assert space.shape == (3,)
    assert space.dtype == np.int32
    assert space.flat_size == 8
    grid = MultiDiscrete(np.array([[2, 3], [4, 5]]))
    assert grid.nvec == ((2, 3), (4, 5))
    assert grid.shape == (2, 2)
    assert grid.flat_nvec == (2, 3, 4, 5)
    np.testing.assert_array_equal(np.asarray(grid.nvec), [[2, 3], [4, 5]])
    samples = jax.vmap(lambda k: space.sample(key=k))(jax.random.split(KEY, 3000))
    assert samples.dtype == jnp.int32 and samples.shape == (3000, 3)
    for i, n in enumerate((3, 1, 4)):
        counts = np.bincount(np.asarray(samples[:, i]), minlength=n)
        assert counts.shape == (n,)  # nothing out of range
        np.testing.assert_allclose(counts / 3000, 1 / n, atol=0.04)


def test_multi_discrete_contains():
    space = MultiDiscrete([3, 2])
    assert bool(space.contains(jnp.array([2, 1])))
    assert bool(space.contains(np.array([0, 0], np.int64)))
    assert bool(space.contains([1, 1]))
    assert not bool(space.contains(jnp.array([3, 1])))  # out of range
    assert not bool(space.contains(jnp.array([0, -1])))
    assert not bool(space.contains(jnp.array([1.0, 1.0])))  # not integers
    assert not bool(space.contains(jnp.array([True, False])))
    assert not bool(space.contains(jnp.array([1, 1, 1])))  # wrong shape
    assert not bool(space.contains(jnp.array(1)))
    assert bool(jax.jit(space.contains)(jnp.array([2, 0])))
    assert not bool(jax.jit(space.contains)(jnp.array([2, 2])))


def test_multi_discrete_flatten_layout_and_unflatten():
    space = MultiDiscrete([3, 2])
    np.testing.assert_array_equal(space.flatten(jnp.array([2, 0])), [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(space.unflatten(jnp.array([0, 0, 1, 1, 0])), [2, 0])
    # Out-of-range values give an all-zero block, as Discrete's do.
    np.testing.assert_array_equal(space.flatten(jnp.array([3, 1])), [0, 0, 0, 0, 1])
    grid = MultiDiscrete([[2, 3], [1, 2]])
    x = jnp.array([[1, 2], [0, 0]])
    np.testing.assert_array_equal(grid.flatten(x), [0, 1, 0, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(grid.unflatten(grid.flatten(x)), x)


def test_multi_discrete_equality_and_hash():
    assert MultiDiscrete([2, 3]) == MultiDiscrete(np.array([2, 3]))
    assert hash(MultiDiscrete([2, 3])) == hash(MultiDiscrete((2, 3)))
    assert MultiDiscrete([2, 3]) != MultiDiscrete([3, 2])
    assert MultiDiscrete([2, 3]) != MultiDiscrete([[2, 3]])
    assert MultiDiscrete([2]) != Discrete(2)
    assert len({MultiDiscrete([2, 3]), MultiDiscrete([2, 3]), MultiDiscrete([4])}) == 2


@pytest.mark.parametrize(
    "nvec", [[3, 0], [], 5, [2.5], [[1, 2], [3]], [True, 2], "ab", [-1], [2**31]]
)
def test_multi_discrete_rejects_bad_nvec(nvec):
    message = (
        "nvec must be a non-empty array of positive integers with at least one "
        f"axis, got {nvec!r}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MultiDiscrete(nvec)


# --- MultiBinary ----------------------------------------------------------------


def test_multi_binary_attributes_and_sampling():
    assert issubclass(MultiBinary, AbstractSpace)
    space = MultiBinary(4)
    assert space.n == 4 and space.shape == (4,) and space.dtype == np.int8
    assert space.flat_size == 4
    grid = MultiBinary([2, 3])
    assert grid.n == (2, 3) and grid.shape == (2, 3) and grid.flat_size == 6
    assert MultiBinary(np.array([2, 3])).shape == (2, 3)
    samples = jax.vmap(lambda k: grid.sample(key=k))(jax.random.split(KEY, 2000))
    assert samples.dtype == jnp.int8 and samples.shape == (2000, 2, 3)
    assert set(np.unique(np.asarray(samples))) == {0, 1}
    np.testing.assert_allclose(np.asarray(samples).mean(axis=0), 0.5, atol=0.05)


def test_multi_binary_contains():
    space = MultiBinary(3)
    assert bool(space.contains(jnp.array([0, 1, 1], jnp.int8)))
    assert bool(space.contains(jnp.array([1, 0, 1])))  # any integer dtype
    assert bool(space.contains(jnp.array([True, False, True])))
    assert not bool(space.contains(jnp.array([0, 2, 1])))
    assert not bool(space.contains(jnp.array([0, -1, 1])))
    assert not bool(space.contains(jnp.array([0.0, 1.0, 1.0])))  # floats
    assert not bool(space.contains(jnp.array([0, 1])))  # wrong shape
    assert not bool(space.contains(jnp.array([[0, 1, 1]])))
    assert not bool(jax.jit(space.contains)(jnp.array([0, 1, 3])))


def test_multi_binary_flatten_and_unflatten():
    space = MultiBinary((2, 2))
    x = jnp.array([[1, 0], [0, 1]], jnp.int8)
    np.testing.assert_array_equal(space.flatten(x), [1, 0, 0, 1])
    back = space.unflatten(jnp.array([1.0, 0.0, 0.0, 1.0]))
    assert back.dtype == jnp.int8
    np.testing.assert_array_equal(back, x)


def test_multi_binary_equality_and_hash():
    assert MultiBinary(3) == MultiBinary([3])
    assert hash(MultiBinary(3)) == hash(MultiBinary((3,)))
    assert MultiBinary(3) != MultiBinary(4)
    assert MultiBinary((2, 3)) != MultiBinary((3, 2))
    assert MultiBinary(2) != MultiDiscrete([2, 2])


@pytest.mark.parametrize("n", [0, -2, True, 2.0, [2, 0], [2, 1.5], "ab", None])
def test_multi_binary_rejects_bad_n(n):
    message = (
        f"n must be a positive integer or a sequence of positive integers, got {n!r}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MultiBinary(n)


# --- Dict -----------------------------------------------------------------------


def test_dict_keys_are_sorted_and_accessible():
    space = Dict({"b": Discrete(2), "a": Box(0.0, 1.0, (2,))}, c=MultiBinary(1))
    assert issubclass(Dict, AbstractSpace)
    assert space.keys() == ["a", "b", "c"]
    assert list(space) == ["a", "b", "c"]
    assert list(space.spaces) == ["a", "b", "c"]
    assert len(space) == 3
    assert space["b"] == Discrete(2)
    assert space.shape is None and space.dtype is None
    assert space.flat_size == 2 + 2 + 1
    assert Dict([("b", Discrete(2)), ("a", Discrete(3))]).keys() == ["a", "b"]
    assert Dict().keys() == [] and Dict().flat_size == 0
    sample = space.sample(key=KEY)
    assert list(sample) == ["a", "b", "c"]


def test_dict_contains():
    space = Dict(a=Discrete(2), b=Box(0.0, 1.0, (2,)))
    good = {"a": jnp.array(1), "b": jnp.array([0.5, 0.5])}
    assert bool(space.contains(good))
    assert not bool(space.contains({**good, "a": jnp.array(2)}))  # out of range
    assert not bool(space.contains({**good, "b": jnp.array([0.5])}))  # shape
    assert not bool(space.contains({"a": jnp.array(1)}))  # missing key
    assert not bool(space.contains({**good, "c": jnp.array(0)}))  # extra key
    assert not bool(space.contains((jnp.array(1), jnp.array([0.5, 0.5]))))
    assert not bool(space.contains(jnp.array(1)))
    assert bool(jax.jit(space.contains)(good))
    assert not bool(jax.jit(space.contains)({**good, "b": jnp.array([0.5, 2.0])}))
    assert bool(Dict().contains({}))


def test_dict_flatten_concatenates_in_sorted_key_order():
    space = Dict({"b": Discrete(3), "a": Box(-1.0, 1.0, (2,))})
    flat = space.flatten({"b": jnp.array(1), "a": jnp.array([0.25, -0.5])})
    np.testing.assert_array_equal(flat, [0.25, -0.5, 0.0, 1.0, 0.0])
    back = space.unflatten(flat)
    assert list(back) == ["a", "b"]
    np.testing.assert_array_equal(back["a"], [0.25, -0.5])
    assert int(back["b"]) == 1
    assert Dict().flatten({}).shape == (0,)


def test_dict_equality_and_hash():
    a = Dict(x=Discrete(2), y=Box(0.0, 1.0, (3,)))
    b = Dict({"y": Box(np.zeros(3), np.ones(3)), "x": Discrete(2)})
    assert a == b and hash(a) == hash(b)
    assert a != Dict(x=Discrete(3), y=Box(0.0, 1.0, (3,)))
    assert a != Dict(x=Discrete(2), z=Box(0.0, 1.0, (3,)))
    assert a != Dict(x=Discrete(2))
    assert a != Tuple((Discrete(2), Box(0.0, 1.0, (3,))))
    assert len({a, b, Dict()}) == 2


def test_dict_children_are_pytree_children():
    space = Dict(pos=Box(-1.0, 2.0, (2,)), inner=Tuple((Box(0.0, 3.0, ()),)))
    leaves = jax.tree.leaves(space)
    assert len(leaves) == 4  # the two bounds of each Box
    doubled = jax.tree.map(lambda x: x * 2, space)
    assert isinstance(doubled, Dict)
    box = doubled["pos"]
    assert isinstance(box, Box)
    np.testing.assert_array_equal(box.high, [4.0, 4.0])


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda: Dict(5),  # pyright: ignore[reportArgumentType]
            TypeError,
            "spaces must be a mapping or a sequence of (key, space) pairs, got 5",
        ),
        (
            lambda: Dict([("a", Discrete(2), 3)]),  # pyright: ignore[reportArgumentType]
            TypeError,
            "spaces must be a mapping or a sequence of (key, space) pairs, got "
            "[('a', Discrete(n=2, shape=(), dtype=dtype('int32')), 3)]",
        ),
        (
            lambda: Dict({1: Discrete(2)}),  # pyright: ignore[reportArgumentType]
            TypeError,
            "keys of spaces must be strings, got 1",
        ),
        (
            lambda: Dict({"a": 3}),  # pyright: ignore[reportArgumentType]
            TypeError,
            "spaces['a'] must be a space, got 3",
        ),
        (
            lambda: Dict({"a": Discrete(2)}, a=Discrete(3)),
            ValueError,
            "keys of spaces must be unique, got 'a' twice",
        ),
    ],
    ids=["not-a-mapping", "bad-pair", "key", "value", "twice"],
)
def test_dict_constructor_errors(make, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        make()


# --- Tuple ----------------------------------------------------------------------


def test_tuple_attributes_and_access():
    space = Tuple([Discrete(2), MultiBinary(3)])
    assert issubclass(Tuple, AbstractSpace)
    assert isinstance(space.spaces, tuple)
    assert len(space) == 2 and space[1] == MultiBinary(3)
    assert list(space) == [Discrete(2), MultiBinary(3)]
    assert space.shape is None and space.dtype is None
    assert space.flat_size == 5
    sample = space.sample(key=KEY)
    assert isinstance(sample, tuple) and len(sample) == 2
    assert Tuple(()).sample(key=KEY) == () and Tuple(()).flat_size == 0


def test_tuple_contains():
    space = Tuple((Discrete(2), Box(0.0, 1.0, (2,))))
    good = (jnp.array(1), jnp.array([0.5, 0.5]))
    assert bool(space.contains(good))
    assert bool(space.contains(list(good)))
    assert not bool(space.contains((jnp.array(2), good[1])))
    assert not bool(space.contains((good[1], good[0])))  # swapped: wrong shapes
    assert not bool(space.contains(good[:1]))
    assert not bool(space.contains((*good, jnp.array(0))))
    assert not bool(space.contains({"a": good[0]}))
    assert not bool(jax.jit(space.contains)((good[0], jnp.array([0.5, -1.0]))))


def test_tuple_flatten_in_order():
    space = Tuple((Discrete(2), Box(-1.0, 1.0, (2,)), MultiDiscrete([2])))
    flat = space.flatten((jnp.array(1), jnp.array([0.5, -0.25]), jnp.array([0])))
    np.testing.assert_array_equal(flat, [0.0, 1.0, 0.5, -0.25, 1.0, 0.0])
    back = space.unflatten(flat)
    assert int(back[0]) == 1 and int(back[2][0]) == 0
    np.testing.assert_array_equal(back[1], [0.5, -0.25])


def test_tuple_equality_and_hash():
    a = Tuple((Discrete(2), MultiBinary(3)))
    assert a == Tuple([Discrete(2), MultiBinary([3])])
    assert hash(a) == hash(Tuple([Discrete(2), MultiBinary([3])]))
    assert a != Tuple((MultiBinary(3), Discrete(2)))
    assert a != Tuple((Discrete(2),))
    assert a != Dict(a=Discrete(2), b=MultiBinary(3))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Tuple(5), "spaces must be an iterable of spaces, got 5"),  # pyright: ignore[reportArgumentType]
        (
            lambda: Tuple(Discrete(2)),  # pyright: ignore[reportArgumentType]
            "spaces must be an iterable of spaces, got "
            "Discrete(n=2, shape=(), dtype=dtype('int32'))",
        ),
        (
            lambda: Tuple([Discrete(2), "x"]),  # pyright: ignore[reportArgumentType]
            "spaces[1] must be a space, got 'x'",
        ),
    ],
    ids=["not-iterable", "a-space", "item"],
)
def test_tuple_constructor_errors(make, message):
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        make()


# --- Flat encodings of Discrete and Box, and their errors ---------------------


def test_discrete_and_box_flatten():
    space = Discrete(4)
    np.testing.assert_array_equal(space.flatten(2), [0, 0, 1, 0])
    assert space.flatten(jnp.int32(1)).dtype == jnp.float32
    assert int(space.unflatten(jnp.array([0.1, 0.7, 0.2, 0.0]))) == 1
    assert space.unflatten(jnp.array([0, 0, 0, 1.0])).dtype == jnp.int32
    box = Box(-1.0, 1.0, (2, 2))
    x = jnp.array([[0.5, -0.5], [0.25, 1.0]])
    np.testing.assert_array_equal(box.flatten(x), [0.5, -0.5, 0.25, 1.0])
    np.testing.assert_array_equal(box.unflatten(box.flatten(x)), x)
    ints = Box(0, 9, (3,), jnp.int32)
    back = ints.unflatten(jnp.array([2.9999, 4.0001, 7.0]))
    assert back.dtype == jnp.int32
    np.testing.assert_array_equal(back, [3, 4, 7])


@pytest.mark.parametrize(
    ("space", "x", "message"),
    [
        (
            Box(0.0, 1.0, (3,)),
            jnp.zeros(4),
            "x must have shape (3,) to be flattened by Box, got shape (4,)",
        ),
        (
            Discrete(3),
            jnp.array([1]),
            "x must have shape () to be flattened by Discrete, got shape (1,)",
        ),
        (
            MultiDiscrete([2, 2]),
            jnp.array([1]),
            "x must have shape (2,) to be flattened by MultiDiscrete, got shape (1,)",
        ),
        (
            MultiBinary(2),
            jnp.zeros((2, 1)),
            "x must have shape (2,) to be flattened by MultiBinary, got shape (2, 1)",
        ),
        (
            Dict(a=Discrete(2), b=Discrete(2)),
            {"a": 0, "c": 1},
            "x must be a mapping with the keys ['a', 'b'] to be flattened by Dict, "
            "got the keys ['a', 'c']",
        ),
        (
            Tuple((Discrete(2),)),
            (0, 1),
            "x must be a tuple of length 1 to be flattened by Tuple, got length 2",
        ),
    ],
    ids=["box", "discrete", "multi-discrete", "multi-binary", "dict", "tuple"],
)
def test_flatten_errors(space, x, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        space.flatten(x)


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES.keys())
def test_unflatten_rejects_wrong_length(space):
    message = (
        f"flat must have shape ({space.flat_size},) to be unflattened by "
        f"{type(space).__name__}, got shape ({space.flat_size + 1},)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        space.unflatten(jnp.zeros(space.flat_size + 1))


# --- Parity with Gymnasium's flatten ---------------------------------------------


def test_flatten_matches_gymnasium():
    ours = Dict(
        {
            "box": Box(-1.0, 1.0, (2, 2)),
            "disc": Discrete(3),
            "multi": MultiDiscrete([[2, 3], [4, 1]]),
            "bits": MultiBinary((2, 3)),
            "tup": Tuple((Discrete(2), Dict(c=MultiDiscrete([3]), a=MultiBinary(2)))),
        }
    )
    theirs = gs.Dict(
        {
            "box": gs.Box(-1.0, 1.0, (2, 2)),
            "disc": gs.Discrete(3),
            "multi": gs.MultiDiscrete(np.array([[2, 3], [4, 1]])),
            "bits": gs.MultiBinary((2, 3)),
            "tup": gs.Tuple(
                (
                    gs.Discrete(2),
                    gs.Dict({"c": gs.MultiDiscrete([3]), "a": gs.MultiBinary(2)}),
                )
            ),
        }
    )
    assert ours.flat_size == gs.flatdim(theirs)

    @jax.jit
    def sample_and_flatten(key):
        x = ours.sample(key=key)
        return x, ours.flatten(x)

    for seed in range(5):
        x, flat = sample_and_flatten(jax.random.key(seed))
        as_numpy = jax.tree.map(np.asarray, x)
        as_numpy["tup"] = tuple(as_numpy["tup"])
        assert theirs.contains(as_numpy)
        np.testing.assert_array_equal(
            flat, np.asarray(gs.flatten(theirs, as_numpy), np.float32)
        )


# --- Serialization --------------------------------------------------------------

SERIALIZED = {
    "multi-discrete": (MultiDiscrete, ([3, 1, 4],), {}),
    "multi-discrete-2d": (MultiDiscrete, ([[2, 3], [4, 5]],), {}),
    "multi-binary": (MultiBinary, (5,), {}),
    "multi-binary-shape": (MultiBinary, ((2, 3),), {}),
    "dict": (Dict, ({"pos": Box(-1.0, 2.0, (2,)), "mode": Discrete(3)},), {}),
    "dict-kwargs": (Dict, (), {"b": MultiBinary(2), "a": MultiDiscrete([2, 2])}),
    "tuple": (Tuple, ((Discrete(3), Box(0, 5, (2,), jnp.int32)),), {}),
    "nested": (
        Dict,
        (),
        {
            "z": MultiBinary((2, 2)),
            "a": Tuple(
                [MultiDiscrete([2, 3]), Dict(pos=Box(np.array([-1.0, 0.0]), 3.0))]
            ),
        },
    ),
    "empty-tuple": (Tuple, ((),), {}),
}


@pytest.mark.parametrize(
    ("cls", "args", "kwargs"), SERIALIZED.values(), ids=SERIALIZED.keys()
)
def test_serialization_round_trip(cls, args, kwargs, tmp_path):
    space = cls(*args, **kwargs)
    path = tmp_path / "space.eqx"
    space.serialize(path)
    for loaded in (cls.deserialize(path), cls.deserialize(path, *args, **kwargs)):
        assert type(loaded) is cls
        assert loaded == space
        assert hash(loaded) == hash(space)
        _same(loaded, space)
        x = space.sample(key=KEY)
        _same(loaded.sample(key=KEY), x)
        np.testing.assert_array_equal(loaded.flatten(x), space.flatten(x))


def test_serialization_round_trip_with_array_arguments(tmp_path):
    for space, args in (
        (MultiDiscrete(np.array([3, 4])), (np.array([3, 4]),)),
        (MultiBinary(np.array([2, 3])), (np.array([2, 3]),)),
        (Tuple(iter([MultiBinary(2)])), ((MultiBinary(2),),)),
    ):
        path = tmp_path / "space.eqx"
        space.serialize(path)
        for loaded in (
            type(space).deserialize(path),
            type(space).deserialize(path, *args),
        ):
            assert loaded == space
