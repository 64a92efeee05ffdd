"""The seed API of issue 2, verbatim, and the path rules around it."""

import io
from pathlib import Path

import pytest

from lerax.utils import Serializable


class MyModule(Serializable):
    a: float
    b: float

    def __init__(self, a: float, b: float):
        self.a = a
        self.b = b


def test_seed_example_verbatim(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = MyModule(1.0, 2.0)
    m.serialize("my_module.eqx")
    m = MyModule.deserialize("my_module.eqx", 0.0, 0.0)
    assert m.a == 1.0
    assert m.b == 2.0
    assert type(m.a) is float


def test_seed_example_without_arguments(tmp_path):
    MyModule(1.0, 2.0).serialize(tmp_path / "m.eqx")
    m = MyModule.deserialize(tmp_path / "m.eqx")
    assert (m.a, m.b) == (1.0, 2.0)


def test_serialize_returns_the_path_written(tmp_path):
    assert MyModule(1.0, 2.0).serialize(tmp_path / "m") == tmp_path / "m.eqx"


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("model", "model.eqx"),
        ("model.eqx", "model.eqx"),
        ("model.ckpt", "model.ckpt"),  # another suffix is never replaced
        ("model.v2.bin", "model.v2.bin"),
        ("deep/er/model", "deep/er/model.eqx"),  # missing folders are created
    ],
)
def test_suffix_rules(tmp_path, given, written):
    for as_path in (str, Path):
        target = as_path(tmp_path / given)
        MyModule(3.0, 4.0).serialize(target)
        assert (tmp_path / written).is_file()
        assert MyModule.deserialize(target).a == 3.0
        (tmp_path / written).unlink()


def test_binary_file_objects(tmp_path):
    buffer = io.BytesIO()
    assert MyModule(5.0, 6.0).serialize(buffer) is None
    buffer.seek(0)
    assert MyModule.deserialize(buffer).b == 6.0
    with open(tmp_path / "f.eqx", "wb") as f:
        MyModule(7.0, 8.0).serialize(f)
    with open(tmp_path / "f.eqx", "rb") as f:
        assert MyModule.deserialize(f).a == 7.0


def test_unseekable_file_object(tmp_path):
    MyModule(1.0, 9.0).serialize(tmp_path / "m.eqx")

    class Stream(io.RawIOBase):
        def __init__(self, data: bytes):
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[override]
            return self._data.readinto(b)

    stream = io.BufferedReader(Stream((tmp_path / "m.eqx").read_bytes()))
    assert not stream.seekable()
    assert MyModule.deserialize(stream).b == 9.0


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        MyModule.deserialize(tmp_path / "nope.eqx")
    with pytest.raises(FileNotFoundError):
        MyModule.deserialize(tmp_path / "nope.eqx", 1.0, 2.0)
