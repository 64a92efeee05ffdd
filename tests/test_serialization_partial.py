"""Partial loads: one part of a saved object, reading only that part's bytes."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import Net, RecordingFile, assert_trees_identical, write_upstream
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.utils import SerializationError, inspect, load_leaves, save_tree


@pytest.fixture(scope="module")
def policy():
    return MLPActorCriticPolicy(CartPole(), key=jax.random.key(0))


@pytest.fixture
def policy_file(tmp_path, policy):
    path = tmp_path / "policy.eqx"
    policy.serialize(path)
    return path


def _read_leaves(f: RecordingFile, path) -> list[str]:
    """The paths of the stored leaves any of whose bytes were read."""
    return [
        leaf.path or "?"
        for leaf in inspect(path).leaves
        if f.bytes_read_within(leaf.offset, leaf.offset + leaf.header + leaf.nbytes)
    ]


def test_the_actor_of_a_policy_loads_alone(policy_file, policy):
    actor = load_leaves(policy_file, ".actor")
    assert isinstance(actor, eqx.nn.MLP)
    assert_trees_identical(actor, policy.actor)
    x = jnp.ones(4)
    np.testing.assert_array_equal(actor(x), policy.actor(x))


def test_only_the_parts_bytes_are_read(policy_file, policy):
    f = RecordingFile(policy_file.read_bytes())
    actor = load_leaves(f, ".actor")
    assert_trees_identical(actor, policy.actor)
    expected = [
        leaf.path
        for leaf in inspect(policy_file).leaves
        if leaf.path is not None and leaf.path.startswith(".actor.")
    ]
    assert len(expected) == 6
    assert _read_leaves(f, policy_file) == expected


def test_a_single_leaf_loads_alone(policy_file, policy):
    f = RecordingFile(policy_file.read_bytes())
    weight = load_leaves(f, ".critic.layers[1].weight")
    assert_trees_identical(weight, policy.critic.layers[1].weight)
    assert _read_leaves(f, policy_file) == [".critic.layers[1].weight"]


def test_a_static_field_loads_without_reading_any_leaf(policy_file):
    f = RecordingFile(policy_file.read_bytes())
    assert load_leaves(f, ".actor.width_size") == 64
    assert _read_leaves(f, policy_file) == []


def test_a_function_field_loads(policy_file, policy):
    assert load_leaves(policy_file, ".actor.activation") is policy.actor.activation


def test_an_empty_prefix_loads_the_whole_object(policy_file, policy):
    assert_trees_identical(load_leaves(policy_file), policy)
    assert_trees_identical(load_leaves(policy_file, ""), policy)


def test_deserialize_subtree_checks_the_class(policy_file, policy, tmp_path):
    actor = MLPActorCriticPolicy.deserialize_subtree(policy_file, ".actor")
    assert_trees_identical(actor, policy.actor)
    Net(8, key=jax.random.key(0)).serialize(tmp_path / "net.eqx")
    with pytest.raises(
        SerializationError,
        match=r"holds a helpers:Net, not a lerax\.policy:MLPActorCriticPolicy",
    ):
        MLPActorCriticPolicy.deserialize_subtree(tmp_path / "net.eqx", ".mlp")
    with pytest.raises(
        SerializationError,
        match=r"holds a helpers:Net, not a lerax\.policy:MLPActorCriticPolicy",
    ):
        MLPActorCriticPolicy.deserialize_subtree(
            tmp_path / "net.eqx", ".actor", CartPole(), key=jax.random.key(0)
        )


def test_deserialize_subtree_with_arguments_takes_the_part_of_the_skeleton(
    policy_file, policy
):
    f = RecordingFile(policy_file.read_bytes())
    actor = MLPActorCriticPolicy.deserialize_subtree(
        f, ".actor", CartPole(), key=jax.random.key(7)
    )
    assert_trees_identical(actor, policy.actor)  # the file's values, not key 7's
    read = _read_leaves(f, policy_file)
    assert read and all(p.startswith(".actor.") for p in read)


def test_the_skeletons_part_decides_the_structure(tmp_path):
    path = tmp_path / "net.eqx"
    Net(8, key=jax.random.key(0)).serialize(path)
    with pytest.raises(SerializationError) as info:
        Net.deserialize_subtree(path, ".mlp", 16, key=jax.random.key(0))
    message = str(info.value)
    assert message.startswith(f"{path}: the file does not match the object to load:")
    assert (
        "\n  .mlp.layers[0].weight: expected float32[16, 3], file has float32[8, 3]"
        in message
    )
    with pytest.raises(
        ValueError,
        match=r"prefix '\.mlp\.layers\[5\]' names nothing in Net: it has no "
        r"\.mlp\.layers\[5\]",
    ):
        Net.deserialize_subtree(path, ".mlp.layers[5]", 8, key=jax.random.key(0))


class State(eqx.Module):
    """A training state, as lerax's algorithms keep one."""

    policy: MLPActorCriticPolicy
    step: jax.Array
    opt: list[jax.Array]


def _checkpoint(policy):
    state = State(policy, jnp.array(3), [jnp.zeros(5)])
    return {"state": state, "total_iterations": 10}


def test_a_policy_inside_a_save_tree_checkpoint_needs_like(tmp_path, policy):
    path = tmp_path / "ckpt.eqx"
    save_tree(path, _checkpoint(policy))
    like = eqx.filter_eval_shape(
        MLPActorCriticPolicy, CartPole(), key=jax.random.key(0)
    )
    f = RecordingFile(path.read_bytes())
    loaded = load_leaves(f, "['state'].policy", like=like)
    assert_trees_identical(loaded, policy)
    read = _read_leaves(f, path)
    assert read and all(p.startswith("['state'].policy.") for p in read)
    # Double quotes work as well.
    assert_trees_identical(load_leaves(path, '["state"].policy', like=like), policy)
    assert_trees_identical(
        load_leaves(path, "['state'].opt[0]", like=jnp.ones(5)), jnp.zeros(5)
    )
    with pytest.raises(
        SerializationError,
        match=r"records no structure \(written by save_tree or an older lerax\), so pass like=",
    ):
        load_leaves(path, "['state'].policy")


def test_like_must_fit_the_part(tmp_path, policy):
    path = tmp_path / "ckpt.eqx"
    save_tree(path, _checkpoint(policy))
    with pytest.raises(
        SerializationError,
        match=r"does not match the object to load:\n  \['state'\]\.step: expected float32\[2\], file has int32\[\]",
    ):
        load_leaves(path, "['state'].step", like=jnp.zeros(2))
    with pytest.raises(
        SerializationError, match=r"the file stores nothing at \['nope'\]"
    ):
        load_leaves(path, "['nope']", like=jnp.zeros(2))


def test_a_file_object_is_read_from_its_position(policy_file, policy):
    f = RecordingFile(b"junk!" + policy_file.read_bytes())
    f.seek(5)
    assert_trees_identical(load_leaves(f, ".critic"), policy.critic)


@pytest.mark.parametrize(
    "prefix", [".nope", ".actor.layers[7]", ".actor.layers['x']", ".actor.width_size.x"]
)
def test_paths_the_file_does_not_have(policy_file, prefix):
    with pytest.raises(
        SerializationError,
        match=f"policy.eqx: the recorded object has nothing at {re.escape(prefix)}$",
    ):
        load_leaves(policy_file, prefix)


@pytest.mark.parametrize("prefix", ["actor", ".actor.", ".actor[", "[state]", ".0", 5])
def test_malformed_prefixes_are_argument_errors(policy_file, prefix):
    with pytest.raises((ValueError, TypeError), match="prefix must be"):
        load_leaves(policy_file, prefix)


def test_files_without_metadata_have_no_index(tmp_path, policy):
    net = Net(8, key=jax.random.key(0))
    eqx.tree_serialise_leaves(tmp_path / "plain.eqx", net)
    write_upstream(tmp_path / "upstream.eqx", net)
    for name in ("plain.eqx", "upstream.eqx"):
        with pytest.raises(
            SerializationError,
            match=r"has no lerax metadata .* so it has no index to read a part from: load it whole",
        ):
            load_leaves(tmp_path / name, ".mlp", like=net.mlp)
        with pytest.raises(SerializationError, match="no index"):
            Net.deserialize_subtree(tmp_path / name, ".mlp", 8, key=jax.random.key(0))


def test_damage_elsewhere_in_the_payload_does_not_matter(policy_file, policy):
    """Bytes outside the part are not read, so not checked either; the part's are."""
    info = inspect(policy_file)
    data = bytearray(policy_file.read_bytes())
    critic = next(
        leaf for leaf in info.leaves if leaf.path == ".critic.layers[0].weight"
    )
    data[critic.offset + critic.header] ^= 0xFF
    policy_file.write_bytes(bytes(data))
    assert_trees_identical(load_leaves(policy_file, ".actor"), policy.actor)
    with pytest.raises(
        SerializationError,
        match=r"checksum mismatch in leaf \.critic\.layers\[0\]\.weight",
    ):
        load_leaves(policy_file, ".critic")
