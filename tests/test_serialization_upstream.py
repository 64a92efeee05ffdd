"""Files of upstream lerax 0.0.x: a 32-byte structure fingerprint, then the plain
equinox payload. They load with constructor arguments, fingerprint checked.

Upstream (RunnersNum40/lerax, ``lerax/utils.py``) wrote
``hashlib.sha256(repr(jax.tree.structure(self)).encode()).digest()`` and then
``eqx.tree_serialise_leaves(f, self)``, and on loading compared the stored
fingerprint with that of ``eqx.filter_eval_shape(cls, *args, **kwargs)``;
`helpers.write_upstream` writes the same bytes.
"""

import hashlib
import io

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import Net, assert_trees_identical, upstream_net, write_upstream
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.utils import (
    Serializable,
    SerializationError,
    inspect,
    load,
    load_leaves,
    load_tree,
)


@pytest.fixture
def net():
    return Net(8, key=jax.random.key(0))


@pytest.fixture
def upstream_file(tmp_path, net):
    """A file as upstream wrote it, from upstream's own class (no lerax fields)."""
    path = tmp_path / "net.eqx"
    write_upstream(path, upstream_net(net))
    return path


def test_the_writer_writes_what_upstream_wrote(upstream_file, net):
    data = upstream_file.read_bytes()
    twin = upstream_net(net)
    digest = hashlib.sha256(str(jax.tree_util.tree_structure(twin)).encode()).digest()
    assert data[:32] == digest  # str and repr of a treedef are the same text
    plain = io.BytesIO()
    eqx.tree_serialise_leaves(plain, net)
    assert data[32:] == plain.getvalue()


def test_upstream_files_load_with_constructor_arguments(upstream_file, net):
    loaded = Net.deserialize(upstream_file, 8, key=jax.random.key(1))
    assert_trees_identical(loaded, net)  # every leaf from the file, not key 1's


def test_files_written_with_lerax_classes_load_too(tmp_path):
    """A lerax class saved the upstream way: its fingerprint includes lerax's
    recorded-arguments field, which the skeleton has as well."""
    policy = MLPActorCriticPolicy(CartPole(), key=jax.random.key(0))
    write_upstream(tmp_path / "policy.eqx", policy)
    loaded = MLPActorCriticPolicy.deserialize(
        tmp_path / "policy.eqx", CartPole(), key=jax.random.key(5)
    )
    assert_trees_identical(loaded, policy)


def test_load_tree_checks_the_fingerprint_against_like(upstream_file, net):
    assert_trees_identical(load_tree(upstream_file, net), net)
    with pytest.raises(SerializationError, match="fingerprint"):
        load_tree(upstream_file, [jnp.zeros(1)])


def test_another_structure_is_refused_by_fingerprint(upstream_file):
    # The same arrays, another static value: only the fingerprint tells.
    with pytest.raises(SerializationError) as info:
        Net.deserialize(upstream_file, 8, name="other", key=jax.random.key(0))
    message = str(info.value)
    assert message.startswith(
        f"{upstream_file}: this lerax 0.0.x file (a structure fingerprint, then "
        "plain equinox data) does not match the object to load: its fingerprint "
    )
    assert "the constructor arguments build another structure" in message
    assert "another version of equinox or JAX" in message


def test_a_damaged_fingerprint_is_refused(upstream_file):
    data = bytearray(upstream_file.read_bytes())
    data[3] ^= 1
    upstream_file.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="does not match the object to load"):
        Net.deserialize(upstream_file, 8, key=jax.random.key(0))


def test_a_damaged_payload_is_refused(upstream_file):
    upstream_file.write_bytes(upstream_file.read_bytes()[:-5])
    with pytest.raises(SerializationError, match="truncated"):
        Net.deserialize(upstream_file, 8, key=jax.random.key(0))


def test_no_argument_loads_ask_for_arguments(upstream_file):
    for read in (lambda: Net.deserialize(upstream_file), lambda: load(upstream_file)):
        with pytest.raises(
            SerializationError,
            match=r"the file was written by lerax 0\.0\.x \(a structure fingerprint, "
            r"then plain equinox data\), so pass the constructor arguments",
        ):
            read()


def test_partial_loads_need_an_index(upstream_file, net):
    with pytest.raises(SerializationError, match="no index"):
        load_leaves(upstream_file, ".mlp", like=net.mlp)


def test_inspect_recognises_upstream_files(upstream_file, net):
    info = inspect(upstream_file)
    data = upstream_file.read_bytes()
    assert info.format == "lerax-0.0"
    assert info.fingerprint == data[:32].hex()
    assert info.class_name is None and not info.has_structure
    arrays = [np.asarray(x) for x in jax.tree.leaves(net) if not callable(x)]
    assert [(leaf.dtype, leaf.shape) for leaf in info.leaves] == [
        (a.dtype.name, a.shape) for a in arrays
    ]
    assert info.leaves[0].offset == 32
    last = info.leaves[-1]
    assert last.offset + last.header + last.nbytes == len(data) == info.file_size
    assert "lerax 0.0.x file" in str(info)


def test_an_object_without_arrays_is_just_a_fingerprint(tmp_path):
    class Empty(Serializable):
        n: int = eqx.field(static=True)

        def __init__(self, n: int):
            self.n = n

    write_upstream(tmp_path / "e.eqx", Empty(3))
    assert (tmp_path / "e.eqx").stat().st_size == 32
    assert Empty.deserialize(tmp_path / "e.eqx", 3).n == 3
    with pytest.raises(SerializationError, match="fingerprint"):
        Empty.deserialize(tmp_path / "e.eqx", 4)
    assert inspect(tmp_path / "e.eqx").format == "lerax-0.0"


def test_plain_equinox_files_are_not_mistaken_for_upstream_ones(tmp_path, net):
    eqx.tree_serialise_leaves(tmp_path / "plain.eqx", net)
    assert inspect(tmp_path / "plain.eqx").format == "equinox"
    loaded = Net.deserialize(tmp_path / "plain.eqx", 8, key=jax.random.key(0))
    assert_trees_identical(loaded, net)
