"""Data loading: CSV and NPZ files checked against a network, and the built-in data sets."""

from __future__ import annotations

import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad.io import data as data_module
from symgrad.io.data import accuracy, builtin, load_data

NET_2_1 = sg.Network.mlp([2, 3, 1], hidden="tanh", output="sigmoid", cost="binary_cross_entropy")
NET_2_3 = sg.Network.mlp([2, 4, 3], hidden="tanh", output="softmax", cost="cross_entropy")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_xor_and_linreg() -> None:
    xor = builtin("xor")
    assert xor.X.shape == (4, 2) and xor.Y[:, 0].tolist() == [0, 1, 1, 0] and xor.classes == 2
    line = builtin("linreg")
    assert line.X.shape == (64, 1) and line.Y.shape == (64, 1)
    a, b = np.polyfit(line.X[:, 0], line.Y[:, 0], 1)
    assert abs(a - 2) < 0.1 and abs(b + 0.5) < 0.1
    wide = load_data("linreg", network=sg.Network.mlp([3, 2], output="identity", cost="mse"))
    assert wide.X.shape == (64, 3) and wide.Y.shape == (64, 2)
    assert np.array_equal(builtin("linreg", seed=1).X, builtin("linreg", seed=1).X)
    assert not np.array_equal(builtin("linreg", seed=1).X, builtin("linreg", seed=2).X)


def test_digits_and_iris_split_deterministically() -> None:
    digits = builtin("digits")
    assert digits.X.shape[1] == 64 and digits.n_out == 10 and digits.classes == 10
    assert len(digits) + len(digits.X_test) == 1797
    assert digits.X.min() >= 0.0 and digits.X.max() <= 1.0
    assert np.array_equal(digits.X_test, builtin("digits").X_test)
    assert not np.array_equal(digits.X_test, builtin("digits", seed=1).X_test)
    iris = load_data(
        "iris", network=sg.Network.mlp([4, 5, 3], output="softmax", cost="cross_entropy")
    )
    assert iris.X.shape == (120, 4) and iris.X_test.shape == (30, 4)
    assert np.allclose(iris.X.mean(axis=0), 0.0, atol=1e-12) and np.allclose(
        iris.X.std(axis=0), 1.0
    )
    assert set(iris.Y.sum(axis=1)) == {1.0}


def test_digits_and_iris_are_bundled(monkeypatch: pytest.MonkeyPatch) -> None:
    # the README's first command installs no scikit-learn: the demo's data comes with symgrad
    monkeypatch.setitem(sys.modules, "sklearn", None)
    digits, iris = builtin("digits"), builtin("iris")
    pixels = np.concatenate([digits.X, digits.X_test]) * 16
    assert pixels.shape == (1797, 64) and np.array_equal(pixels, np.round(pixels))
    assert pixels.min() == 0 and pixels.max() == 16
    labels = np.concatenate([digits.Y, digits.Y_test]).argmax(axis=1)
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert len(iris) + len(iris.X_test) == 150 and iris.classes == 3


def test_csv_with_header_and_integer_labels(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "x1,x2,label\n0,0,0\n0,1,2\n1,0,1\n# a comment\n\n1,1,2\n")
    ds = load_data(path, network=NET_2_3)
    assert ds.X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert ds.Y.tolist() == np.eye(3)[[0, 2, 1, 2]].tolist() and ds.classes == 3


def test_csv_without_header_one_hot_and_target_selection(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "1,0,0,0.5,2\n0,1,0,1.5,3\n")
    ds = load_data(path, network=NET_2_3, targets="0,1,2")
    assert ds.X.tolist() == [[0.5, 2], [1.5, 3]] and ds.Y.tolist() == [[1, 0, 0], [0, 1, 0]]
    ds = load_data(path, targets="last:2")
    assert ds.X.tolist() == [[1, 0, 0], [0, 1, 0]] and ds.Y.tolist() == [[0.5, 2], [1.5, 3]]
    named = write(tmp_path, "n.csv", "y,a,b\n0.5,1,2\n1.5,3,4\n")
    ds = load_data(
        named, network=sg.Network.mlp([2, 1], output="identity", cost="mse"), targets="y"
    )
    assert ds.X.tolist() == [[1, 2], [3, 4]] and ds.Y.tolist() == [[0.5], [1.5]]
    ds = load_data(named, targets="-3")
    assert ds.Y.tolist() == [[0.5], [1.5]]
    assert load_data(named).Y.tolist() == [[2], [4]]  # no network: the last column


def test_npz_with_labels_and_test_split(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x=np.zeros((3, 2)),
        labels=np.array([0, 1, 2]),
        X_test=np.ones((1, 2)),
        Y_test=np.array([1]),
    )
    ds = load_data(path, network=NET_2_3)
    assert ds.Y.tolist() == np.eye(3).tolist() and ds.Y_test.tolist() == [[0, 1, 0]]


def test_accuracy() -> None:
    assert accuracy(
        np.array([[0.9], [0.2], [0.6]]), np.array([[1.0], [0.0], [0.0]])
    ) == pytest.approx(2 / 3)
    assert accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([[0, 1], [0, 1]])) == 0.5


# (file name, content, network, targets, fragment of the message after the file name)
BAD_DATA: list[tuple[str, str | bytes, sg.Network, str | None, str]] = [
    ("e.csv", "", NET_2_1, None, "the file is empty"),
    ("e.csv", "\n\n  \n", NET_2_1, None, "the file is empty"),
    ("h.csv", "a,b,c\n", NET_2_1, None, "only a header row, no data"),
    ("c.csv", "# only a comment\n", NET_2_1, None, "no data rows"),
    ("n.csv", "a,b,c\n0,0,0\n0,nan,1\n", NET_2_1, None, "line 3, column 1 ('b'): value is NaN"),
    ("i.csv", "0,0,0\n0,inf,1\n", NET_2_1, None, "line 2, column 1: value is infinite"),
    (
        "t.csv",
        "a,b,c\n0,0,0\n0,x,1\n",
        NET_2_1,
        None,
        "line 3, column 1 ('b'): holds 'x', not a number",
    ),
    ("m.csv", "a,b,c\n0,,0\n", NET_2_1, None, "line 2, column 1 ('b'): is empty"),
    ("r.csv", "0,0,0\n0,1\n", NET_2_1, None, "line 2: 2 cells, but the first row has 3"),
    (
        "w.csv",
        "0,0,0,0\n",
        NET_2_1,
        None,
        "4 columns, but the network takes 2 inputs and gives 1 outputs",
    ),
    (
        "l.csv",
        "0,0,3\n",
        NET_2_3,
        None,
        "row 0: class label 3 is out of range for 3 outputs; labels must be 0..2",
    ),
    ("l.csv", "0,0,-1\n", NET_2_3, None, "class label -1 is out of range"),
    (
        "f.csv",
        "0,0,0.5\n",
        NET_2_3,
        None,
        "one target column of non-whole numbers, but the network has 3 outputs",
    ),
    ("b.csv", "0,0,2\n", NET_2_1, None, "target [2.0] is outside [0, 1]"),
    ("g.csv", "0,0,0\n", NET_2_1, "7", "--targets: no column '7'"),
    ("g.csv", "0,0,0\n", NET_2_1, "last:9", "N in last:N must be 1..2"),
    ("g.csv", "0,0,0\n", NET_2_1, "0,0", "names a column twice"),
    ("g.csv", "0,0,0\n", NET_2_1, "0,1,2", "every column is a target"),
    ("k.csv", "0,0\n", NET_2_3, "last", "1 input column, but the network takes 2"),
    ("u.csv", b"0,0,\xff\n", NET_2_1, None, "is not UTF-8 text"),
    ("d.txt", "0,0,0\n", NET_2_1, None, "not a data file symgrad reads; give a .csv or .npz file"),
    ("j.npz", b"not a zip file", NET_2_1, None, "not a valid .npz file"),
]


@pytest.mark.parametrize(
    ("name", "content", "net", "targets", "fragment"), BAD_DATA, ids=[b[4][:30] for b in BAD_DATA]
)
def test_bad_data_names_the_file_and_column(
    tmp_path: Path,
    name: str,
    content: str | bytes,
    net: sg.Network,
    targets: str | None,
    fragment: str,
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(sg.SpecError) as info:
        load_data(path, network=net, targets=targets)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert fragment in message, message


def test_bad_npz_arrays(tmp_path: Path) -> None:
    cases = {
        "nox": ({"Y": np.zeros(3)}, "no array 'X' (it holds Y)"),
        "obj": ({"X": np.array([[1, None]], dtype=object), "Y": np.zeros(1)}, "never loaded"),
        "str": (
            {"X": np.array([["a", "b"]]), "Y": np.zeros(1)},
            "array 'X' holds <U1, not real numbers",
        ),
        "rows": ({"X": np.zeros((3, 2)), "Y": np.zeros(2)}, "'X' has 3 rows but 'Y' has 2"),
        "nan": (
            {"X": np.array([[0.0, np.nan]]), "Y": np.zeros(1)},
            "array 'X' column 1: value is NaN",
        ),
        "empty": ({"X": np.zeros((0, 2)), "Y": np.zeros(0)}, "array 'X' is empty"),
        "3d": ({"X": np.zeros((2, 2, 2)), "Y": np.zeros(2)}, "has shape (2, 2, 2)"),
        "half": (
            {"X": np.zeros((2, 2)), "Y": np.zeros(2), "X_test": np.zeros((1, 2))},
            "but not its partner",
        ),
        "cols": (
            {"X": np.zeros((2, 3)), "Y": np.zeros(2)},
            "3 input columns, but the network takes 2 inputs",
        ),
    }
    for name, (arrays, fragment) in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)  # type: ignore[arg-type]
        with pytest.raises(sg.SpecError) as info:
            load_data(path, network=NET_2_1)
        assert fragment in str(info.value), (name, str(info.value))


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(sg.SpecError, match="no such file"):
        load_data(tmp_path / "nope.csv")
    with pytest.raises(sg.SpecError, match="no such data set \\(did you mean 'digits'\\?\\)"):
        load_data("digitz")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(sg.SpecError, match="is a folder"):
        load_data(tmp_path / "dir.csv")
    with pytest.raises(sg.SpecError, match="--targets applies to CSV files"):
        load_data("xor", targets="last")


def test_npz_headers_are_checked_before_any_array_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small file whose arrays decompress to tens of MB: refused from the headers alone when
    the rows, the columns or the limit do not fit."""
    big = np.zeros((5000, 2000))  # 80 MB of zeros, compressed to some 80 kB
    cases = {
        "rows": ({"X": big, "Y": np.zeros(4999)}, NET_2_1, "'X' has 5000 rows but 'Y' has 4999"),
        "columns": ({"X": big, "Y": np.zeros(5000)}, NET_2_1, "2000 input columns, but the network takes 2"),
        "test rows": ({"X": np.zeros((2, 2)), "Y": np.zeros(2), "X_test": np.zeros((5000, 2)),
                       "Y_test": big[:, :1][:4000]}, NET_2_1, "X_test and Y_test must match"),
        "strings": ({"X": np.full((5000, 200), "a" * 20), "Y": np.zeros(5000)}, NET_2_1, "holds <U20"),
        "limit": ({"X": big[:, :2].copy(), "Y": big[:, 0]}, NET_2_1, "bytes of arrays from such a file"),
    }  # fmt: skip
    for name, (arrays, net, fragment) in cases.items():
        if name == "limit":
            monkeypatch.setattr(data_module, "MAX_DATA_BYTES", 100_000)  # and 120 kB of arrays
        path = tmp_path / f"{name.replace(' ', '_')}.npz"
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        assert path.stat().st_size < 2_000_000, name
        tracemalloc.start()
        try:
            with pytest.raises(sg.SpecError) as info:
                load_data(path, network=net)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        message = str(info.value)
        assert message.startswith(f"{path}: ") and fragment in message, (name, message)
        assert peak < 1_000_000, (name, peak)
    monkeypatch.undo()
    ok = tmp_path / "ok.npz"
    np.savez_compressed(ok, X=big[:, :2], Y=np.ones(5000))
    assert load_data(ok, network=NET_2_1).X.shape == (5000, 2)


def test_files_that_are_not_npz_archives_say_so_in_one_line(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "single.npz").write_bytes((tmp_path / "x.npy").read_bytes())
    (tmp_path / "text.npz").write_text("X,Y\n0,1\n")
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as zf:
        zf.writestr("X.csv", "0,1\n")
    damaged = tmp_path / "damaged.npz"
    np.savez(damaged, X=np.zeros((4, 2)), Y=np.zeros(4))
    data = bytearray(damaged.read_bytes())
    data[data.index(b"\x93NUMPY") + 140] ^= 0xFF  # inside X's data: the zip's CRC catches it
    damaged.write_bytes(bytes(data))
    for name, fragment in (
        ("single.npz", "is a single .npy array, not an .npz archive"),
        ("text.npz", "not a valid .npz file: it is not a zip archive"),
        ("other.npz", "member 'X.csv' is not a .npy array"),
        ("damaged.npz", "array 'X' is damaged (Bad CRC-32"),
    ):
        with pytest.raises(sg.SpecError) as info:
            load_data(tmp_path / name, network=NET_2_1)
        message = str(info.value)
        assert message.startswith(f"{tmp_path / name}: ") and fragment in message, message
        assert "allow_pickle" not in message and "\n" not in message


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_out_of_memory_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        path.write_text("0,0,1\n1,1,0\n")
    else:
        np.savez(path, X=np.zeros((2, 2)), Y=np.zeros(2))
    for target, name in ((data_module, "_read_csv" if suffix == ".csv" else "_npz_array"),
                         (data_module, "fit_network"), (np, "empty")):  # fmt: skip
        with monkeypatch.context() as patch:

            def exhausted(*args: object, **kwargs: object) -> None:
                raise MemoryError

            patch.setattr(target, name, exhausted)
            if name == "empty" and suffix == ".csv":
                continue  # the CSV reader allocates with np.empty too, but after the parse
            with pytest.raises(sg.SpecError) as info:
                load_data(path, network=NET_2_1)
        message = str(info.value)
        assert message.startswith(f"{path}: out of memory while reading"), (name, message)
        assert "free some memory" in message and "\n" not in message
