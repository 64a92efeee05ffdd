"""Golden files of format version 1 load exactly, in every run, forever."""

from pathlib import Path

import pytest

from golden_objects import OBJECTS, STATES, every_leaf_kind
from helpers import assert_trees_identical
from lerax.utils import load, load_tree

FOLDER = Path(__file__).parent / "golden" / "v1"


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_golden_object_loads_exactly(name):
    expected = OBJECTS[name]()
    path = FOLDER / f"{name}.eqx"
    assert_trees_identical(load(path), expected)
    assert_trees_identical(type(expected).deserialize(path), expected)


@pytest.mark.parametrize("name", sorted(STATES))
def test_golden_training_state_loads_exactly(name):
    state, like = STATES[name]()
    assert_trees_identical(load_tree(FOLDER / f"{name}.eqx", like), state)


def test_golden_tree_of_every_leaf_kind_loads_exactly():
    tree = every_leaf_kind()
    assert_trees_identical(load_tree(FOLDER / "every_leaf_kind.eqx", tree), tree)


def test_every_golden_file_is_tested():
    names = {p.stem for p in FOLDER.glob("*.eqx")}
    assert names == {*OBJECTS, *STATES, "every_leaf_kind"}
