"""Writes the golden files of format version 1 (run once; never overwrite).

Usage::

    python tests/golden/make_golden.py [--force]

Existing files are kept unless --force is given: the point of a golden file is
that it was written by an older lerax.
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from golden_objects import OBJECTS, STATES, every_leaf_kind  # noqa: E402
from lerax.utils import save_tree  # noqa: E402

FOLDER = HERE / "v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true")
    force = parser.parse_args().force
    FOLDER.mkdir(exist_ok=True)
    writers = {name: build().serialize for name, build in OBJECTS.items()}
    for name, build in STATES.items():
        writers[name] = lambda p, build=build: save_tree(p, build()[0])
    writers["every_leaf_kind"] = lambda p: save_tree(p, every_leaf_kind())
    for name, write in writers.items():
        path = FOLDER / f"{name}.eqx"
        if path.exists() and not force:
            continue
        write(path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
