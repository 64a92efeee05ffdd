"""Files from an attacker: loading never imports, never runs what a file names,
never allocates what it claims, and raises nothing but SerializationError.

Every hostile file here is resealed (valid metadata and leaf checksums), so the
edits reach the parsers instead of stopping at a checksum.
"""

import abc
import contextlib
import copy
import io
import json
import os
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerax.utils._atomic
from helpers import (
    Net,
    assert_trees_identical,
    join_file,
    reseal_leaves,
    split_file,
    tree_field,
    upstream_net,
    write_upstream,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.utils import (
    Serializable,
    SerializationError,
    inspect,
    load,
    load_leaves,
    load_tree,
    placed,
    save_tree,
)

CALLS: list[Any] = []


def sentinel(*args: Any, **kwargs: Any) -> None:
    """What an attacker would like to run; reachable from many module attributes."""
    CALLS.append(args)


class Allocates(Serializable):
    """A user class whose constructor allocates what its argument says."""

    w: np.ndarray

    def __init__(self, n: int):
        self.w = np.zeros(n, np.uint8)


class Deep(Serializable):
    """A user class whose constructor takes time proportional to its argument."""

    layers: list[jax.Array]
    depth: int = eqx.field(static=True)

    def __init__(self, depth: int):
        self.layers = [jnp.zeros(1) for _ in range(depth)]
        self.depth = depth


@pytest.fixture(autouse=True)
def _sentinels(monkeypatch):
    """Plants `sentinel` where attribute traversal from trusted modules finds it."""
    CALLS.clear()
    monkeypatch.setattr(os, "system", sentinel)
    monkeypatch.setattr(sys, "exit", sentinel)
    monkeypatch.setattr(jax.nn, "evil", sentinel, raising=False)
    monkeypatch.setattr(np, "evil", sentinel, raising=False)
    yield
    assert CALLS == [], "a function named by a file was called"


def _readers(
    path: Path, skeleton: bool = True, partial: bool = False
) -> list[Callable[[], Any]]:
    """Every way to read `path` as a Net: no arguments, and unless `skeleton` is
    False, the ways that take the structure from the caller (arguments, a like
    tree), which a file's structure and class name do not affect.

    With `partial`, also the readers that read only part of a file (``.mlp``),
    which damage elsewhere does not affect, `load_leaves`, which rebuilds the
    recorded structure whatever class the file names, and `inspect`, which reads
    metadata only and resolves nothing: they load or raise SerializationError.
    """
    device = jax.devices()[0]
    readers = [
        lambda: load(path),
        lambda: Net.deserialize(path),
        lambda: load(path, placement=device),
        lambda: load(path, placement=lambda leaf, spec: device),
    ]
    if skeleton:
        like = Net(8, key=jax.random.key(0))
        readers += [
            lambda: Net.deserialize(path, 8, key=jax.random.key(0)),
            lambda: load_tree(path, like),
            lambda: load_tree(io.BytesIO(path.read_bytes()), like),
            lambda: load_tree(path, like, placement=lambda leaf, spec: None),
            lambda: _placed_deserialize(path, device),
        ]
    if partial:
        like = Net(8, key=jax.random.key(0))
        readers += [
            lambda: inspect(path),
            lambda: inspect(io.BytesIO(path.read_bytes())),
            lambda: load_leaves(path),
            lambda: load_leaves(path, like=like),
            lambda: Net.deserialize_subtree(path, ""),
            lambda: load_leaves(path, ".mlp"),
            lambda: load_leaves(path, ".mlp.layers[1]", like=like.mlp.layers[1]),
            lambda: load_leaves(io.BytesIO(path.read_bytes()), ".scale"),
            lambda: Net.deserialize_subtree(path, ".mlp"),
            lambda: Net.deserialize_subtree(path, ".mlp", 8, key=jax.random.key(0)),
            lambda: load_leaves(path, ".mlp", placement=jax.devices()[0]),
        ]
    return readers


def _placed_deserialize(path: Path, device: Any) -> Any:
    with placed(device):
        return Net.deserialize(path, 8, key=jax.random.key(0))


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory):
    """Runs every reader once, so that JAX's own lazy imports happen before the
    tests compare sys.modules."""
    path = tmp_path_factory.mktemp("warm") / "net.eqx"
    Net(8, key=jax.random.key(0)).serialize(path)
    for read in _readers(path, partial=True):
        read()


def assert_refused(path: Path, match: str | None = None, skeleton: bool = True) -> None:
    """Every reader raises SerializationError, and imports nothing."""
    modules = set(sys.modules)
    for read in _readers(path, skeleton):
        with pytest.raises(SerializationError) as info:
            read()
        assert len(str(info.value)) < 4000
    if match is not None:
        with pytest.raises(SerializationError, match=match):
            load(path)
    assert set(sys.modules) == modules


def assert_only_serialization_errors(path: Path) -> None:
    """Every reader, partial ones and `inspect` included, either loads or raises
    SerializationError; nothing is imported."""
    modules = set(sys.modules)
    for read in _readers(path, partial=True):
        try:
            read()
        except SerializationError as e:
            assert len(str(e)) < 4000
    assert set(sys.modules) == modules


def _edit(path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    payload, meta = split_file(path.read_bytes())
    edit(meta)
    path.write_bytes(join_file(payload, meta))
    return path


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.eqx"
    Net(8, key=jax.random.key(0)).serialize(path)
    return path


# ------------------------------------------------- 1. function names escape


@pytest.mark.parametrize(
    "name",
    [
        "os:system",
        "lerax.utils._atomic:os.system",
        "lerax.utils._atomic:sys.exit",
        "jax.nn:evil",
        "numpy:evil",
        "jax.nn:tanh.__globals__",
        "__main__:sentinel",
        "test_serialization_hostile:sentinel",
        "builtins:exec",
        "jax.numpy:load",
        "",
        "jax.nn",
        "x" * 5_000_000,
    ],
)
def test_function_names_resolve_only_from_the_allowlist(net_file, name):
    assert lerax.utils._atomic.os.system is sentinel  # the door is really there

    def edit(meta):
        tree_field(meta, "mlp", "activation")["value"].update(name=name)
        meta["fields"][".mlp.activation"]["name"] = name

    _edit(net_file, edit)
    assert_refused(
        net_file, match=r"\.mlp\.activation: the function .* is not allowlisted"
    )


def test_recorded_arguments_are_never_run(net_file):
    """Arguments naming hostile functions, classes and huge values are data."""

    def edit(meta):
        meta["args"] = {
            "args": [{"type": "function", "name": "os:system"}],
            "kwargs": {
                "x": {"type": "serializable", "class": "numpy:matlib.X", "args": {}},
                "big": {"type": "scalar", "dtype": "V1", "value": 10**9},
                "depth": 10**6,
            },
        }
        tree_field(meta, "_lerax_args")["value"] = meta["args"]

    _edit(net_file, edit)
    modules = set(sys.modules)
    loaded = Net.deserialize(net_file)
    assert set(sys.modules) == modules
    assert_trees_identical(loaded, Net(8, key=jax.random.key(0)))
    assert loaded._lerax_args is not None
    assert loaded._lerax_args.encoded["kwargs"]["depth"] == 10**6


def test_sentinel_is_never_called_by_a_loaded_policy(tmp_path):
    """A loaded policy whose activation was rewritten cannot exit the process."""
    path = tmp_path / "policy.eqx"
    policy = MLPActorCriticPolicy(CartPole(), key=jax.random.key(0))
    policy.serialize(path)
    _edit(
        path,
        lambda m: tree_field(m, "actor", "activation")["value"].update(
            name="lerax.policy._mlp:jax.nn.evil"
        ),
    )
    with pytest.raises(SerializationError, match="not allowlisted"):
        MLPActorCriticPolicy.deserialize(path)
    with pytest.raises(SerializationError, match="not allowlisted"):
        load(path)


# ------------------------------------------------------ 2. imports triggered


@pytest.mark.parametrize(
    "name",
    [
        "numpy:matlib.X",
        "scipy:stats.norm",
        "antigravity:Thing",
        "lerax.policy:_mlp.MLPActorCriticPolicy",
        "lerax.policy._mlp:jax.nn.tanh",
        "xml.etree:ElementTree.parse",
        "os:path",
        "helpers:Net.__init__",
    ],
)
def test_class_names_never_import_or_traverse(net_file, name):
    _edit(net_file, lambda m: m.update({"class": name}))
    assert_refused(net_file, skeleton=False)
    for node in ("root", "nested"):
        original = net_file.read_bytes()

        def edit(meta, node=node):
            target = meta["tree"] if node == "root" else tree_field(meta, "mlp")
            target["class"] = name

        _edit(net_file, edit)
        modules = set(sys.modules)
        with pytest.raises(SerializationError):
            Net.deserialize(net_file)
        assert set(sys.modules) == modules
        net_file.write_bytes(original)
    assert "numpy.matlib" not in sys.modules or name != "numpy:matlib.X"


def test_unregistered_modules_are_not_created(tmp_path):
    class Holder(Serializable):
        inner: Any

        def __init__(self):
            self.inner = eqx.nn.Linear(2, 2, key=jax.random.key(0))

    path = tmp_path / "h.eqx"
    Holder().serialize(path)
    # BatchNorm is an equinox layer holding hidden state references: not registered.
    _edit(
        path, lambda m: tree_field(m, "inner").update({"class": "equinox.nn:BatchNorm"})
    )
    with pytest.raises(
        SerializationError, match=r"equinox\.nn:BatchNorm.*not registered"
    ):
        Holder.deserialize(path)


# ------------------------------------------- 3. allocation and CPU by claim


def _bounded(read: Callable[[], Any], max_bytes: int, max_seconds: float) -> None:
    tracemalloc.start()
    start = time.process_time()
    try:
        with contextlib.suppress(SerializationError):
            read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < max_bytes, peak
    assert time.process_time() - start < max_seconds


def test_constructors_are_not_run_on_recorded_arguments(tmp_path):
    path = tmp_path / "a.eqx"
    Allocates(16).serialize(path)
    _edit(path, lambda m: m["args"]["args"].__setitem__(0, 10**12))
    _bounded(lambda: Allocates.deserialize(path), 20 * 2**20, 30)
    assert Allocates.deserialize(path).w.shape == (16,)


def test_recorded_depth_costs_no_more_than_the_metadata(tmp_path):
    path = tmp_path / "d.eqx"
    Deep(2).serialize(path)
    _edit(path, lambda m: m["args"]["args"].__setitem__(0, 10**9))
    _edit(path, lambda m: tree_field(m, "depth").update(value=10**9))
    _edit(path, lambda m: m["fields"].update({".depth": 10**9}))
    _bounded(lambda: Deep.deserialize(path), 20 * 2**20, 30)
    assert len(Deep.deserialize(path).layers) == 2


def test_static_scalars_of_hostile_dtypes_are_refused(tmp_path):
    class Scaled(Serializable):
        factor: Any = eqx.field(static=True)

        def __init__(self):
            self.factor = np.float32(2.0)

    path = tmp_path / "s.eqx"
    Scaled().serialize(path)
    for dtype, value in [
        ("V1", 10**9),
        ("<U100000000", "x"),
        ("O", 1),
        ("int8", 10**6),
    ]:
        original = path.read_bytes()

        def edit(meta, dtype=dtype, value=value):
            tree_field(meta, "factor")["value"].update(dtype=dtype, value=value)

        _edit(path, edit)
        _bounded(lambda: Scaled.deserialize(path), 5 * 2**20, 10)
        with pytest.raises(SerializationError, match=r"\.factor: "):
            Scaled.deserialize(path)
        path.write_bytes(original)


def test_many_nodes_cost_a_small_multiple_of_the_metadata(tmp_path):
    """A structure of a million nodes costs memory and time in proportion."""
    path = tmp_path / "wide.eqx"
    save_tree(path, {"a": jnp.zeros(1)})

    def edit(meta):
        meta["class"] = "helpers:Net"
        meta["tree"] = {"node": "list", "items": [None] * 1_000_000}

    _edit(path, edit)
    size = path.stat().st_size
    _bounded(lambda: load(path), 100 * size, 60)
    with pytest.raises(SerializationError):
        load(path)


def test_huge_leaf_claims_are_checked_against_the_file_length(net_file):
    for edit in (
        lambda m: m["leaves"][0].update(shape=[2**61, 2**61]),
        lambda m: m["leaves"][0].update(shape=[2**62] * 64, nbytes=0),
        lambda m: m["leaves"][0].update(shape=[10**4000]),
        lambda m: m["leaves"][0].update(dtype="|V2000000000", shape=[0], nbytes=0),
        lambda m: m["leaves"][-1].update(header=10**12),
        lambda m: m.update(payload_size=10**15),
    ):
        original = net_file.read_bytes()
        _edit(net_file, edit)
        _bounded(lambda: load(net_file), 20 * 2**20, 10)
        assert_refused(net_file)
        net_file.write_bytes(original)


# ----------------------------------------------- 4. other exception types


def _npy_header(text: bytes) -> bytes:
    """A .npy version 1.0 record header with the given header text."""
    text = text + b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


DAMAGED_HEADERS = [
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,",  # TokenError
    b"{'descr': 5, 'fortran_order': False, 'shape': (2,), }",  # TypeError
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
    b"{'descr': '<f4', 'fortran_order': False, 'shape': 'ab', }",
    b"{'descr': '<f4', 'fortran_order': 'yes', 'shape': (2,), }",
    b"{'descr': 'O', 'fortran_order': False, 'shape': (2,), }",
    b"{'descr': [('a', '<f4', (10**20,))], 'fortran_order': False, 'shape': (1,), }",
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': __import__('os')}",
    b"(" * 10_000,
    b"\xff\xfe garbage",
    b"",
]


@pytest.mark.parametrize("header", DAMAGED_HEADERS)
def test_damaged_npy_headers_in_plain_equinox_files(tmp_path, header):
    path = tmp_path / "plain.eqx"
    path.write_bytes(_npy_header(header) + bytes(64))
    assert_refused(path)
    with pytest.raises(SerializationError):
        load_tree(path, {"w": jnp.zeros(2)})


@pytest.mark.parametrize("header", DAMAGED_HEADERS)
def test_damaged_npy_headers_in_lerax_files(tmp_path, header):
    path = tmp_path / "t.eqx"
    save_tree(path, {"w": jnp.zeros(2), "v": jnp.ones(3)})
    payload, meta = split_file(path.read_bytes())
    first = meta["leaves"][0]
    bad = _npy_header(header)
    data = payload[first["offset"] + first["header"] :]
    payload = bad + data
    offset = 0
    for record in meta["leaves"]:
        if record is first:
            record["header"] = len(bad)
        record["offset"] = offset
        offset += record["header"] + record["nbytes"]
    meta["payload_size"] = len(payload)
    reseal_leaves(payload, meta)
    path.write_bytes(join_file(payload, meta))
    with pytest.raises(SerializationError):
        load_tree(path, {"w": jnp.zeros(2), "v": jnp.ones(3)})


@pytest.mark.parametrize(
    "edit",
    [
        {"impl": "nope"},
        {"impl": 5},
        {"impl": "rbg"},
        {"key_dtype": "key<rbg>"},
        {"key_dtype": None},
        {"dtype": "float32"},
        {"dtype": "uint8", "shape": [8], "nbytes": 8},
        {"shape": [3]},
    ],
)
def test_odd_key_records(tmp_path, edit):
    path = tmp_path / "k.eqx"
    save_tree(path, {"k": jax.random.key(0)})
    _edit(path, lambda m: m["leaves"][0].update(edit))
    for like in ({"k": jax.random.key(1)}, {"k": jnp.zeros(2, jnp.uint32)}):
        with pytest.raises(SerializationError):
            load_tree(path, like)


@pytest.mark.parametrize(
    ("kind", "dtype", "shape"),
    [
        ("float", "int8", []),
        ("float", "float32", []),
        ("int", "float64", []),
        ("bool", "uint8", []),
        ("float", "float64", [1]),
        ("complex", "float64", []),
        ("generic", "float32", [2]),
    ],
)
def test_python_scalar_records_must_say_what_was_stored(tmp_path, kind, dtype, shape):
    path = tmp_path / "s.eqx"
    save_tree(path, {"x": 1.5})
    _edit(path, lambda m: m["leaves"][0].update(kind=kind, dtype=dtype, shape=shape))
    with pytest.raises(SerializationError, match="malformed lerax metadata"):
        load_tree(path, {"x": 0.0})


@pytest.mark.parametrize(
    "meta_edit",
    [
        lambda m: m.update(format_version=2),
        lambda m: m.update(format_version="1"),
        lambda m: m.update(format_version=True),
        lambda m: m.update(lerax_version=None),
        lambda m: m.update({"class": 7}),
        lambda m: m.update(fields=[]),
        lambda m: m.update(leaves={}),
        lambda m: m["leaves"].append("x"),
        lambda m: m["leaves"][0].update(path=None),
        lambda m: m["leaves"][0].update(offset=-1),
        lambda m: m["leaves"][0].update(offset=1.0),
        lambda m: m["leaves"][0].update(dtype="object"),
        lambda m: m["leaves"][0].update(dtype=[["a", "O"]]),
        lambda m: m["leaves"][0].update(dtype="i4,i4"),
        lambda m: m["leaves"][0].update(dtype="float32" * 1000),
        lambda m: m["leaves"][0].update(checksum=None),
        lambda m: m.update(tree=[]),
        lambda m: m.update(tree={"node": "module", "class": None, "fields": []}),
        lambda m: m.update(tree={"node": "dict", "keys": [[1]], "values": [None]}),
        lambda m: m.update(
            tree={"node": "dict", "keys": [1, 1], "values": [None, None]}
        ),
        lambda m: m.update(tree={"node": "leaf"}),
        lambda m: m.update(
            tree={"node": "dict", "keys": [1, "a"], "values": [None, None]}
        ),
        lambda m: m.update(
            tree={"node": "dict", "keys": [True, 1], "values": [None, None]}
        ),
        lambda m: m.update(
            tree={"node": "value", "value": {"type": "float", "value": "1e999"}}
        ),
        lambda m: m.update(
            tree={"node": "value", "value": {"type": "complex", "value": ["a", 1]}}
        ),
        lambda m: m.update(
            tree={
                "node": "value",
                "value": {"type": "dtype", "name": "V8", "form": "numpy"},
            }
        ),
        lambda m: m.update(
            tree={
                "node": "value",
                "value": {"type": "dtype", "name": "float32", "form": "jax.numpy"},
            }
        ),
        lambda m: tree_field(m, "mlp").update(
            fields=[["layers", {"node": "static", "value": 1}]]
        ),
        lambda m: tree_field(m, "mlp").update(fields=[[None, None]]),
        lambda m: tree_field(m, "mlp", "depth").update(node="leaf"),
        lambda m: tree_field(m, "mlp", "layers").update(items=None),
        lambda m: tree_field(m, "scale").update(node="value", value=1.0),
        lambda m: tree_field(m, "_lerax_args").update(node="static"),
        lambda m: m["tree"]["fields"].append(m["tree"]["fields"][1]),
    ],
)
def test_malformed_metadata_gives_serialization_errors(net_file, meta_edit):
    _edit(net_file, meta_edit)
    assert_only_serialization_errors(net_file)
    with pytest.raises(SerializationError):
        Net.deserialize(net_file)


class AbstractThing(Serializable):
    w: jax.Array

    @abc.abstractmethod
    def f(self) -> None: ...


class Thing(AbstractThing):
    def __init__(self):
        self.w = jnp.ones(2)

    def f(self) -> None:
        pass


def test_abstract_classes_are_not_created(tmp_path):
    path = tmp_path / "t.eqx"
    Thing().serialize(path)
    _edit(
        path,
        lambda m: m["tree"].update(
            {"class": "test_serialization_hostile:AbstractThing"}
        ),
    )
    with pytest.raises(SerializationError, match=r"cannot create a .*AbstractThing"):
        AbstractThing.deserialize(path)


def test_format_version_in_metadata_must_match_the_footer(net_file):
    _edit(net_file, lambda m: m.update(format_version=0))
    with pytest.raises(SerializationError, match="format version 0, the footer 1"):
        load(net_file)


# ---------------------------------------------------------- 5. round trips


def test_string_bytes_void_and_structured_arrays_round_trip(tmp_path):
    tree = {
        "unicode": np.array(["ab", "c", "def"]),
        "bytes": np.array([b"x" * 16, b""]),
        "void": np.frombuffer(b"abcdefgh", "V4"),
        "structured": np.array(
            [(1, (2.0, 3.0)), (4, (5.0, 6.0))], [("a", "<i4"), ("b", "<f8", (2,))]
        ),
        "big_endian": np.arange(3, dtype=">i4"),
        "datetime": np.array(["2020-01-01T00:00"], "datetime64[ns]"),
        "timedelta": np.array([5], "timedelta64[s]"),
        "str_scalar": np.str_("abc"),
        "bytes_scalar": np.bytes_(b"zz"),
        "fortran_unicode": np.asfortranarray(np.array([["a", "bb"], ["ccc", "d"]])),
    }
    save_tree(tmp_path / "t.eqx", tree)
    loaded = load_tree(tmp_path / "t.eqx", tree)
    assert_trees_identical(loaded, tree)
    assert loaded["big_endian"].dtype.str == ">i4"


def test_modules_through_jit_round_trip_without_arguments(tmp_path):
    env = jax.jit(lambda e: e)(CartPole())
    assert isinstance(env.gravity, jax.Array)
    env.serialize(tmp_path / "env.eqx")
    assert_trees_identical(load(tmp_path / "env.eqx"), env)
    # With arguments the file's arrays fill the Python-float fields.
    loaded = CartPole.deserialize(tmp_path / "env.eqx", max_episode_steps=500)
    assert_trees_identical(loaded, env)
    policy = jax.tree.map(
        lambda x: x * 2 if eqx.is_array(x) else x,
        MLPActorCriticPolicy(CartPole(), key=jax.random.key(0)),
    )
    policy.serialize(tmp_path / "p.eqx")
    assert_trees_identical(load(tmp_path / "p.eqx"), policy)


# ---------------------------------------------------------- 6. messages


def test_hostile_strings_are_cut_in_messages(net_file):
    huge = "A" * 5_000_000
    for edit in (
        lambda m: m.update({"class": huge}),
        lambda m: m["leaves"][0].update(kind=huge),
        lambda m: m["leaves"][0].update(dtype=huge),
        lambda m: tree_field(m, "mlp").update({"class": huge}),
        lambda m: tree_field(m, "mlp", "activation")["value"].update(name=huge),
        lambda m: m["fields"].update({huge: 1}),
        lambda m: m["fields"].update({".mlp.width_size": _bushy(5)}),
    ):
        original = net_file.read_bytes()
        _edit(net_file, edit)
        for read in _readers(net_file):
            try:
                read()
            except SerializationError as e:
                assert len(str(e)) < 4000
        net_file.write_bytes(original)


def _bushy(depth: int) -> Any:
    """An encoded list of ten lists of ten lists ..., 10**depth leaves in all."""
    if depth == 0:
        return "x" * 100
    return {"type": "list", "items": [_bushy(depth - 1) for _ in range(10)]}


# ---------------------------------------------------------- the invariant


def _corpus(tmp_path: Path) -> list[Path]:
    """Valid files of every kind the readers see."""
    net = Net(8, key=jax.random.key(0))
    paths = []
    for name, write in [
        ("net.eqx", lambda p: net.serialize(p)),
        ("tree.eqx", lambda p: save_tree(p, {"w": jnp.ones(3), "s": 1.5})),
        ("plain.eqx", lambda p: eqx.tree_serialise_leaves(p, net)),
        ("upstream.eqx", lambda p: write_upstream(p, upstream_net(net))),
        (
            "policy.eqx",
            lambda p: MLPActorCriticPolicy(CartPole(), key=jax.random.key(0)).serialize(
                p
            ),
        ),
    ]:
        path = tmp_path / name
        write(path)
        paths.append(path)
    return paths


def _mutations(data: bytes, rng: np.random.Generator, count: int):
    """Random damage: flipped, dropped, inserted bytes; metadata rewritten."""
    hostile_values = [
        None, -1, 0, 2**64, 10**100, 1.5, "", "O", "V99999999", "<U999999999",
        "jax.nn:relu", "os:system", "numpy:matlib.X", [], {}, [[]],
        {"node": "module", "class": "os:system", "fields": []},
        {"type": "function", "name": "sys:exit"},
        {"type": "scalar", "dtype": "V1", "value": 10**9},
        {"node": "leaf"}, {"node": "value"}, {"type": "dtype", "name": "x"},
    ]  # fmt: skip
    for _ in range(count):
        choice = rng.integers(4)
        if choice < 2 and data[-8:] == b"LERAXEQX":
            payload, meta = split_file(data)
            meta = copy.deepcopy(meta)
            nodes = _json_nodes(meta)
            container, key = nodes[rng.integers(len(nodes))]
            container[key] = copy.deepcopy(
                hostile_values[rng.integers(len(hostile_values))]
            )
            yield join_file(payload, meta)
        elif choice == 2:
            mutated = bytearray(data)
            for _ in range(rng.integers(1, 4)):
                mutated[rng.integers(len(mutated))] ^= 1 << rng.integers(8)
            yield _resealed(bytes(mutated))
        else:
            cut = rng.integers(len(data))
            yield (
                data[:cut]
                + bytes(rng.integers(0, 256, rng.integers(0, 9), np.uint8))
                + data[cut + rng.integers(0, 3) :]
            )


def _json_nodes(value: Any) -> list[tuple[Any, Any]]:
    out, stack = [], [value]
    while stack:
        item = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            out.append((item, key))
            if isinstance(child, dict | list):
                stack.append(child)
    return out


def _resealed(data: bytes) -> bytes:
    """Reseals a damaged lerax file where its metadata still parses."""
    try:
        payload, meta = split_file(data)
        reseal_leaves(payload, meta)
        return join_file(payload, meta)
    except Exception:
        return data


def _fuzz(tmp_path: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    target = tmp_path / "fuzzed.eqx"
    for path in _corpus(tmp_path):
        data = path.read_bytes()
        for mutated in _mutations(data, rng, count):
            target.write_bytes(mutated)
            assert_only_serialization_errors(target)


def test_fuzzed_files_raise_only_serialization_errors(tmp_path):
    _fuzz(tmp_path, 60)


@pytest.mark.slow
def test_fuzzed_files_raise_only_serialization_errors_many(tmp_path):
    _fuzz(tmp_path, 1500)


# ------------------------------------- the invariant: other readers and formats

_HOSTILE_META_VALUES = [
    None, -1, 0, 2**64, 10**100, 1.5, "", "O", "V99999999", "<U999999999", [], {},
    [[]], "../../../etc/passwd", "/etc/passwd", "arrays-0123456789abcdef/../../x",
    "0123456789abcdef/..", ["arrays-0123456789abcdef/../../../etc/passwd", 1, "0"],
    ["/dev/zero", 10**12, "0"], {"path": ".x", "kind": "key", "impl": "os:system"},
    {"path": ".x", "kind": "jax", "dtype": "float32", "shape": [2**61]},
    {"type": "function", "name": "sys:exit"},
]  # fmt: skip


def _seal_meta(blob: bytes) -> bytes:
    """A distributed save's metadata file of `blob`, with a valid footer."""
    import xxhash

    return blob + struct.pack(
        "<QQHH8s", len(blob), xxhash.xxh3_64_intdigest(blob), 1, 0, b"LERAXDIR"
    )


def _unseal_meta(data: bytes) -> dict[str, Any]:
    return json.loads(data[:-28])


def _record_file(meta: dict[str, Any], directory: Path, name: str) -> None:
    """Re-records a changed file's size and checksum, as an attacker would."""
    import xxhash

    data = (directory / name).read_bytes()
    for entry in meta["files"]:
        if entry[0] == name:
            entry[1:] = [len(data), xxhash.xxh3_64_hexdigest(data)]


def _distributed_mutations(directory: Path, rng: np.random.Generator, count: int):
    """Edits a distributed save: its metadata (resealed or not), and the files of
    orbax and the host file (re-recorded in the metadata so the edits reach the
    parsers); yields after each edit, then restores the save."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    originals = {p: p.read_bytes() for p in files}
    meta_path = directory / "lerax.meta"
    for _ in range(count):
        choice = rng.integers(4)
        if choice < 2:
            meta = _unseal_meta(originals[meta_path])
            nodes = _json_nodes(meta)
            container, key = nodes[rng.integers(len(nodes))]
            container[key] = copy.deepcopy(
                _HOSTILE_META_VALUES[rng.integers(len(_HOSTILE_META_VALUES))]
            )
            meta_path.write_bytes(_seal_meta(json.dumps(meta).encode()))
        elif choice == 2:
            target = files[rng.integers(len(files))]
            data = bytearray(originals[target])
            if target != meta_path and data and rng.integers(2):
                for _ in range(rng.integers(1, 4)):
                    data[rng.integers(len(data))] ^= 1 << rng.integers(8)
            elif data:
                data = data[: rng.integers(len(data))]
            target.write_bytes(bytes(data))
            if target != meta_path:
                meta = _unseal_meta(originals[meta_path])
                _record_file(meta, directory, target.relative_to(directory).as_posix())
                meta_path.write_bytes(_seal_meta(json.dumps(meta).encode()))
        else:
            data = originals[meta_path]
            cut = rng.integers(len(data))
            meta_path.write_bytes(
                data[:cut]
                + bytes(rng.integers(0, 256, rng.integers(0, 9), np.uint8))
                + data[cut + rng.integers(0, 3) :]
            )
        yield
        for path, data in originals.items():
            path.write_bytes(data)


def _distributed_readers(directory: Path) -> list[Callable[[], Any]]:
    from lerax.utils import load_tree_distributed

    like = {
        "net": Net(8, key=jax.random.key(0)),
        "keys": jax.random.split(jax.random.key(1), 2),
    }
    abstract = jax.tree.map(
        lambda x: (
            jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, jax.Array) else x
        ),
        like,
    )
    return [
        lambda: load_tree_distributed(directory, like),
        lambda: load_tree_distributed(directory, like, verify_checksums=False),
        lambda: load_tree_distributed(directory, abstract, placement=jax.devices()[0]),
    ]


def _fuzz_distributed(tmp_path: Path, count: int) -> None:
    pytest.importorskip("orbax.checkpoint", reason="the orbax extra is not installed")
    from lerax.utils import save_tree_distributed

    tree = {
        "net": Net(8, key=jax.random.key(0)),
        "keys": jax.random.split(jax.random.key(1), 2),
    }
    directory = save_tree_distributed(tmp_path / "ckpt", tree)
    readers = _distributed_readers(directory)
    for read in readers:  # orbax's own lazy imports happen here
        assert_trees_identical(read(), tree)
    rng = np.random.default_rng(0)
    modules = set(sys.modules)
    for _ in _distributed_mutations(directory, rng, count):
        for read in readers:
            try:
                read()
            except SerializationError as e:
                assert len(str(e)) < 4000
    assert set(sys.modules) == modules


# orbax leaves the coroutines of a failed restore to the garbage collector, which
# reports them as unraisable exceptions: noise, not errors of the load.
_ORBAX_NOISE = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)


@_ORBAX_NOISE
def test_fuzzed_distributed_saves_raise_only_serialization_errors(tmp_path):
    _fuzz_distributed(tmp_path, 40)


@_ORBAX_NOISE
@pytest.mark.slow
def test_fuzzed_distributed_saves_raise_only_serialization_errors_many(tmp_path):
    _fuzz_distributed(tmp_path, 600)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(token="../../../../tmp"),
        lambda m: m["files"].append([f"arrays-{m['token']}/../../outside", 1, "0"]),
        lambda m: m["files"].append(["/etc/passwd", 1, "0"]),
        lambda m: m["files"].append([f"host-{m['token']}.eqx/..", 1, "0"]),
        lambda m: m["files"].append([f"arrays-{'0' * 16}/x", 1, "0"]),
        lambda m: m["files"].pop(),
        lambda m: m["leaves"][0].update(shape=[2**61, 3]),
        lambda m: m["leaves"][1].update(kind="numpy"),
        lambda m: m.update(format_version=2),
    ],
)
@_ORBAX_NOISE
def test_hostile_distributed_metadata_is_refused_before_orbax_reads(tmp_path, edit):
    pytest.importorskip("orbax.checkpoint", reason="the orbax extra is not installed")
    from lerax.utils import load_tree_distributed, save_tree_distributed

    tree = {"w": jnp.ones((4, 3)), "n": np.arange(2)}
    directory = save_tree_distributed(tmp_path / "ckpt", tree)
    meta = _unseal_meta((directory / "lerax.meta").read_bytes())
    edit(meta)
    (directory / "lerax.meta").write_bytes(_seal_meta(json.dumps(meta).encode()))
    import orbax.checkpoint as ocp

    restores = []
    real = ocp.StandardCheckpointer.restore
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            ocp.StandardCheckpointer,
            "restore",
            lambda self, *a, **k: restores.append(a) or real(self, *a, **k),
        )
        with pytest.raises(SerializationError):
            load_tree_distributed(directory, tree)
    assert restores == []


def _safetensors_mutations(data: bytes, rng: np.random.Generator, count: int):
    """Random damage to a safetensors file: its JSON header edited (length kept
    consistent), bytes flipped, dropped or inserted."""
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    body = data[8 + header_len :]
    hostile = [
        None, -1, 2**64, "F32", "BF16", "X", [], [2**40, 2**40], [0, 2**63],
        {"dtype": "F32", "shape": [2**30], "data_offsets": [0, 4]}, "'", "\u0000",
    ]  # fmt: skip
    for _ in range(count):
        choice = rng.integers(3)
        if choice == 0:
            edited = copy.deepcopy(header)
            nodes = _json_nodes(edited)
            container, key = nodes[rng.integers(len(nodes))]
            container[key] = copy.deepcopy(hostile[rng.integers(len(hostile))])
            blob = json.dumps(edited).encode()
            yield len(blob).to_bytes(8, "little") + blob + body
        elif choice == 1:
            mutated = bytearray(data)
            for _ in range(rng.integers(1, 4)):
                mutated[rng.integers(len(mutated))] ^= 1 << rng.integers(8)
            yield bytes(mutated)
        else:
            cut = rng.integers(len(data))
            yield (
                data[:cut]
                + bytes(rng.integers(0, 256, rng.integers(0, 9), np.uint8))
                + data[cut + rng.integers(0, 3) :]
            )


def _fuzz_safetensors(tmp_path: Path, count: int) -> None:
    pytest.importorskip("safetensors", reason="the safetensors extra is not installed")
    from lerax.utils import load_safetensors, save_safetensors

    net = Net(8, key=jax.random.key(0))
    path = save_safetensors(tmp_path / "net.safetensors", net)
    assert path is not None
    readers = [
        lambda: load_safetensors(path),
        lambda: load_safetensors(path, net),
        lambda: load_safetensors(io.BytesIO(path.read_bytes()), net),
        lambda: load_safetensors(path, net, placement=jax.devices()[0]),
    ]
    for read in readers:
        read()
    data = path.read_bytes()
    modules = set(sys.modules)
    for mutated in _safetensors_mutations(data, np.random.default_rng(0), count):
        path.write_bytes(mutated)
        for read in readers:
            try:
                read()
            except SerializationError as e:
                assert len(str(e)) < 4000
    assert set(sys.modules) == modules


def test_fuzzed_safetensors_files_raise_only_serialization_errors(tmp_path):
    _fuzz_safetensors(tmp_path, 200)


@pytest.mark.slow
def test_fuzzed_safetensors_files_raise_only_serialization_errors_many(tmp_path):
    _fuzz_safetensors(tmp_path, 3000)
