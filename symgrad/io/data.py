"""Training data: CSV and NPZ files and the built-in sets, checked against a network.

Everything that comes in is checked here, at the edge, and every problem is one
:class:`~symgrad.errors.SpecError` naming the file and the column: columns that do not match the
network, NaN or infinite values, non-numeric cells, an empty file, class labels out of range.
Class labels may be integers (one column) or one-hot rows; they are turned into one-hot rows of
the network's output size. Built-in sets: ``xor``, ``linreg`` (generated, seeded), ``digits`` and
``iris`` (UCI's, bundled in ``symgrad/datasets``; nothing is downloaded).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import SpecError
from ..files import read_input
from ..net.network import Network
from ..npz import NpyHeader, NpzArchive
from .datasets import BUILTIN, Dataset, accuracy, builtin, bundled

MAX_CLASSES = 10_000
MAX_DATA_BYTES = 2 << 30
"""The largest data file read (2 GiB), and the most bytes of arrays read from one NPZ file."""
NPZ_FIX = "save the arrays with numpy.savez(path, X=..., Y=...)"


# -------------------------------------------------------------------------------------------------
# Files
# -------------------------------------------------------------------------------------------------
def load_data(
    source: str | Path, *, network: Network | None = None, targets: str | None = None, seed: int = 0
) -> Dataset:
    """Load a built-in data set or a CSV/NPZ file, checked against ``network`` when given.

    Args:
        source: ``xor``, ``linreg``, ``digits``, ``iris``, or a path ending in ``.csv`` or ``.npz``.
        network: the network the data is for; columns, labels and target ranges are checked against it.
        targets: CSV only: which columns are targets: ``"last"``, ``"last:N"`` (the last N),
            or a comma-separated list of 0-based column numbers or header names (``"3,4"``,
            ``"label"``). By default the columns after the network's inputs, else the last one.
        seed: for the generated and split built-in sets.
    """
    if not isinstance(source, str | os.PathLike):
        raise SpecError(
            f"data must be a file path or one of {', '.join(BUILTIN)}, got {type(source).__name__}"
        )
    text = str(source)
    if text in BUILTIN:
        if targets is not None:
            raise SpecError(
                f"{text}: --targets applies to CSV files, not to the built-in {text!r} data set"
            )
        n_in = network.sizes[0] if network is not None else None
        n_out = network.sizes[-1] if network is not None else None
        ds = builtin(text, n_in=n_in, n_out=n_out, seed=seed)
        return fit_network(ds, network) if network is not None else ds
    path = Path(source)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise SpecError(f"{text}: is a folder, not a data file; give a .csv or .npz file")
    if not suffix and not path.exists():
        close = difflib.get_close_matches(text, BUILTIN, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(
            f"{text}: no such data set{hint}; use one of {', '.join(BUILTIN)}, or a .csv or .npz file"
        )
    if suffix not in (".csv", ".npz"):
        raise SpecError(
            f"{text}: not a data file symgrad reads; give a .csv or .npz file, or one of {', '.join(BUILTIN)}"
        )
    if suffix == ".npz" and targets is not None:
        raise SpecError(f"{text}: --targets applies to CSV files; an NPZ file holds arrays X and Y")
    try:
        if suffix == ".csv":
            X, Y, labels = _read_csv(_read_bytes(path), text, targets, network)
            integer_labels: bool | None = labels
            ds = Dataset(text, X, Y, description=f"{len(X)} rows from {path.name}")
        else:
            ds = _read_npz(path, text, network)
            integer_labels = None
        if network is not None:
            ds = fit_network(ds, network, integer_labels=integer_labels)
    except MemoryError:  # a large file's rows, or its arrays converted to float64
        raise SpecError(
            f"{text}: out of memory while reading the data; use a smaller file or free some memory"
        ) from None
    return ds


def _missing() -> str:
    return f"check the path, or use a built-in data set ({', '.join(BUILTIN)})"


def _read_bytes(path: Path) -> bytes:
    where = str(path)
    data = read_input(path, limit=MAX_DATA_BYTES, missing=_missing(), what="a data file")
    if not data.strip():
        raise SpecError(f"{where}: the file is empty; it needs one row per example")
    return data


def _read_csv(
    raw: bytes, where: str, targets: str | None, network: Network | None
) -> tuple[np.ndarray, np.ndarray, bool]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(f"{where}: line {line} is not UTF-8 text; save the CSV as UTF-8") from None
    rows: list[tuple[int, list[str]]] = []
    try:
        reader = csv.reader(io.StringIO(text))
        for cells in reader:
            if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            rows.append((reader.line_num, [c.strip() for c in cells]))
    except csv.Error as exc:
        raise SpecError(
            f"{where}: line {reader.line_num}: not valid CSV ({exc}); fix that line"
        ) from None
    if not rows:
        raise SpecError(f"{where}: no data rows; the file needs one row per example")
    header: list[str] | None = None
    if not all(_is_number(c) for c in rows[0][1]):
        header = rows[0][1]
        rows = rows[1:]
        if not rows:
            raise SpecError(f"{where}: only a header row, no data; add one row per example")
    n_cols = len(header) if header is not None else len(rows[0][1])
    names = header if header is not None else [str(i) for i in range(n_cols)]
    table = np.empty((len(rows), n_cols))
    for r, (line, cells) in enumerate(rows):
        if len(cells) != n_cols:
            raise SpecError(
                f"{where}: line {line}: {len(cells)} cells, but the {'header' if header else 'first row'} "
                f"has {n_cols}; give every row the same columns"
            )
        for c, cell in enumerate(cells):
            try:
                table[r, c] = float(cell)
            except ValueError:
                what = "is empty" if not cell else f"holds {cell[:30]!r}, not a number"
                raise SpecError(
                    f"{where}: line {line}, column {_col(names, c, header)}: {what}; "
                    "every cell after the header must be a number"
                ) from None
    _check_finite(
        table,
        where,
        lambda c: f"column {_col(names, c, header)}",
        first_line=[ln for ln, _ in rows],
    )
    cols = _target_columns(targets, names, header, n_cols, network, where)
    inputs = [c for c in range(n_cols) if c not in cols]
    if not inputs:
        raise SpecError(
            f"{where}: every column is a target; leave at least one input column (see --targets)"
        )
    Y = table[:, cols]
    integer_labels = len(cols) == 1 and bool(np.all(np.round(Y) == Y))
    return table[:, inputs], Y, integer_labels


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _col(names: list[str], c: int, header: list[str] | None) -> str:
    return f"{c} ({names[c]!r})" if header is not None else str(c)


def _target_columns(
    targets: str | None,
    names: list[str],
    header: list[str] | None,
    n_cols: int,
    network: Network | None,
    where: str,
) -> list[int]:
    """Which CSV columns hold the targets (0-based)."""
    if targets is None:
        if network is None:
            return [n_cols - 1]
        n_in, n_out = network.sizes[0], network.sizes[-1]
        if n_cols - n_in in (1, n_out) and n_cols > n_in:
            return list(range(n_in, n_cols))
        raise SpecError(
            f"{where}: {n_cols} columns, but the network takes {n_in} inputs and gives {n_out} outputs, so "
            f"the file needs {n_in} input columns and 1 label column"
            + (f" or {n_out} target columns" if n_out > 1 else "")
            + "; fix the file or the [network] sizes, or say which columns are targets with --targets"
        )
    spec = targets.strip()
    if spec == "last":
        return [n_cols - 1]
    if spec.startswith("last:"):
        count = spec[5:]
        if not (count.isascii() and count.isdigit()) or not 1 <= int(count) < n_cols:
            raise SpecError(f"{where}: --targets {spec!r}: N in last:N must be 1..{n_cols - 1}")
        return list(range(n_cols - int(count), n_cols))
    cols: list[int] = []
    for item in (s.strip() for s in spec.split(",")):
        if header is not None and item in header:
            cols.append(header.index(item))
        elif (
            item.lstrip("-").isascii()
            and item.lstrip("-").isdigit()
            and -n_cols <= int(item) < n_cols
        ):
            cols.append(int(item) % n_cols)
        else:
            have = f"the header names {', '.join(header)}" if header else "no header"
            raise SpecError(
                f"{where}: --targets: no column {item!r}; the file has columns 0..{n_cols - 1} and {have}"
            )
    if len(set(cols)) != len(cols):
        raise SpecError(f"{where}: --targets {spec!r} names a column twice; name each once")
    return cols


def _read_npz(path: Path, where: str, network: Network | None = None) -> Dataset:
    """The arrays X, Y (and X_test, Y_test) of an NPZ file. Their headers are checked first,
    names, dtypes, shapes, rows and the network's inputs, so that no array is read (or
    decompressed) for a file that would be refused, nor one larger than MAX_DATA_BYTES."""
    with NpzArchive(
        path, max_bytes=MAX_DATA_BYTES, where=where, fix=NPZ_FIX, missing=_missing()
    ) as npz:
        headers = npz.headers
        found: dict[str, str] = {}
        for want, aliases in (("X", ("X", "x", "inputs")), ("Y", ("Y", "y", "targets", "labels"))):
            key = next((k for k in aliases if k in headers), None)
            if key is None:
                have = ", ".join(k[:40] for k in sorted(headers)[:20]) or "nothing"
                raise SpecError(
                    f"{where}: no array {want!r} (it holds {have}); save it with numpy.savez(path, X=..., Y=...)"
                )
            found[want] = key
        for want, pair in (("X_test", ("X_test", "x_test")), ("Y_test", ("Y_test", "y_test"))):
            key = next((k for k in pair if k in headers), None)
            if key is not None:
                found[want] = key
        if ("X_test" in found) != ("Y_test" in found):
            partner = found.get("X_test", found.get("Y_test"))
            raise SpecError(
                f"{where}: has {partner!r} but not its partner; save both X_test and Y_test"
            )
        shapes = {want: _npz_shape(headers[key], where) for want, key in found.items()}
        if shapes["X"][0] != shapes["Y"][0]:
            raise SpecError(
                f"{where}: {found['X']!r} has {shapes['X'][0]} rows but {found['Y']!r} has "
                f"{shapes['Y'][0]}; give one target row per input row"
            )
        if network is not None:
            _check_inputs(shapes["X"][1], network, where)
        if "X_test" in found and (
            shapes["X_test"][0] != shapes["Y_test"][0] or shapes["X_test"][1] != shapes["X"][1]
        ):
            raise SpecError(
                f"{where}: X_test and Y_test must match X and Y in columns and each other in rows"
            )
        npz.check_size(found.values())
        arrays = {want: _npz_array(npz.read(key), key, where) for want, key in found.items()}
    return Dataset(
        where,
        arrays["X"],
        arrays["Y"],
        arrays.get("X_test"),
        arrays.get("Y_test"),
        description=f"{len(arrays['X'])} rows from {Path(where).name}",
    )


def _npz_shape(header: NpyHeader, where: str) -> tuple[int, int]:
    """(rows, columns) of an array from its header: real numbers in 1 or 2 dimensions."""
    key, dtype, shape = header.name, header.dtype, header.shape
    if dtype.kind not in "biuf":  # bool, integers, floating
        raise SpecError(
            f"{where}: array {key!r} holds {dtype}, not real numbers; store floats or integers"
        )
    if len(shape) not in (1, 2):
        raise SpecError(
            f"{where}: array {key!r} has shape {shape}; store a 2-D (rows, columns) array"
        )
    rows, cols = shape[0], shape[1] if len(shape) == 2 else 1
    if rows == 0 or cols == 0:
        raise SpecError(
            f"{where}: array {key!r} is empty (shape {shape}); it needs one row per example"
        )
    return rows, cols


def _npz_array(arr: np.ndarray, key: str, where: str) -> np.ndarray:
    """An array whose header :func:`_npz_shape` passed, as finite float64 rows."""
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    out = arr.astype(np.float64)
    _check_finite(out, where, lambda c: f"array {key!r} column {c}")
    return out


def _check_finite(
    table: np.ndarray, where: str, column: object, first_line: list[int] | None = None
) -> None:
    bad = ~np.isfinite(table)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        row = f"line {first_line[r]}" if first_line is not None else f"row {r}"
        what = "NaN" if np.isnan(table[r, c]) else "infinite"
        name = column(c) if callable(column) else str(column)
        raise SpecError(
            f"{where}: {row}, {name}: value is {what}; remove or fill in missing and infinite values"
        )


# -------------------------------------------------------------------------------------------------
# Data against a network
# -------------------------------------------------------------------------------------------------
def _check_inputs(columns: int, network: Network, where: str) -> None:
    n_in = network.sizes[0]
    if columns != n_in:
        raise SpecError(
            f"{where}: {columns} input column{'s' if columns != 1 else ''}, but the network takes {n_in} "
            f"inputs; make [network] sizes start with {columns}, or fix the data"
        )


def fit_network(ds: Dataset, network: Network, *, integer_labels: bool | None = None) -> Dataset:
    """Check ``ds`` against ``network`` and turn integer labels into one-hot rows."""
    where = ds.name
    n_in = network.sizes[0]
    _check_inputs(ds.n_in, network, where)
    if integer_labels is None:
        integer_labels = ds.n_out == 1 and bool(np.all(np.round(ds.Y) == ds.Y))
    Y, classes = _targets(ds.Y, network, where, integer_labels)
    Y_test = ds.Y_test
    if ds.X_test is not None and ds.Y_test is not None:
        if ds.X_test.shape[1] != n_in:
            raise SpecError(
                f"{where}: X_test has {ds.X_test.shape[1]} columns, but the network takes {n_in} inputs"
            )
        Y_test, _ = _targets(ds.Y_test, network, where + " (test)", integer_labels)
    return replace(ds, Y=Y, Y_test=Y_test, classes=ds.classes or classes)


def _targets(
    Y: np.ndarray, network: Network, where: str, integer_labels: bool
) -> tuple[np.ndarray, int]:
    n_out = network.sizes[-1]
    cost = network.cost.name
    out_act = network.layers[-1].act
    if Y.shape[1] == 1 and n_out > 1:
        if not integer_labels:
            raise SpecError(
                f"{where}: one target column of non-whole numbers, but the network has {n_out} outputs; "
                f"give integer class labels 0..{n_out - 1} or {n_out} target columns"
            )
        labels = Y[:, 0].astype(np.int64)
        bad = np.flatnonzero((labels < 0) | (labels >= n_out))
        if bad.size:
            raise SpecError(
                f"{where}: row {bad[0]}: class label {labels[bad[0]]} is out of range for {n_out} outputs; "
                f"labels must be 0..{n_out - 1} (or make the last of [network] sizes {labels.max() + 1})"
            )
        return np.eye(n_out)[labels], n_out
    if Y.shape[1] != n_out:
        raise SpecError(
            f"{where}: {Y.shape[1]} target columns, but the network has {n_out} outputs; make the last of "
            f"[network] sizes {Y.shape[1]}, or fix the data"
        )
    probability = network.unit_targets
    if probability:
        bad_rows = np.flatnonzero(np.any((Y < 0) | (Y > 1), axis=1))
        if bad_rows.size:
            r = int(bad_rows[0])
            raise SpecError(
                f"{where}: row {r}: target {Y[r].tolist()[:6]} is outside [0, 1], but cost {cost!r} with a "
                f"{out_act.name} output needs one-hot rows or probabilities"
                + (
                    f"; give integer class labels 0..{n_out - 1} in one column instead"
                    if n_out > 1
                    else ""
                )
            )
    one_hot = bool(np.all((Y == 0) | (Y == 1))) and (n_out == 1 or bool(np.all(Y.sum(axis=1) == 1)))
    classes = (
        (2 if n_out == 1 else n_out) if one_hot and (probability or out_act.probability) else 0
    )
    return Y, classes


__all__ = ["BUILTIN", "Dataset", "accuracy", "builtin", "bundled", "fit_network", "load_data"]
