"""Data sets: the :class:`Dataset` every loader returns, accuracy, and the built-in sets.

``xor`` (the truth table), ``linreg`` (generated with a seed) and the UCI ``digits`` and ``iris``
bundled in ``symgrad/datasets`` (nothing is downloaded), split 80/20 into train and test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError

BUILTIN = ("xor", "linreg", "digits", "iris")
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Dataset:
    """Inputs and targets as float64 arrays, with an optional held-out test split.

    Attributes:
        name: the built-in name or the file it came from.
        X: inputs, shape ``(n, n_in)``.
        Y: targets, shape ``(n, n_out)``; one-hot rows for classification.
        X_test: held-out inputs (built-in ``digits`` and ``iris``), or None.
        Y_test: held-out targets, or None.
        classes: number of classes for classification (2 for one sigmoid output), 0 for regression.
        description: one line about where the data comes from.
    """

    name: str
    X: np.ndarray
    Y: np.ndarray
    X_test: np.ndarray | None = None
    Y_test: np.ndarray | None = None
    classes: int = 0
    description: str = ""

    @property
    def n_in(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.Y.shape[1])

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def __repr__(self) -> str:
        test = f", {len(self.X_test)} test" if self.X_test is not None else ""
        return f"<Dataset {self.name}: {len(self)} x {self.n_in} -> {self.n_out}{test}>"


def accuracy(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows classified right: arg-max for several outputs, threshold 0.5 for one."""
    p = np.asarray(predictions, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    if p.ndim == 1 or p.shape[1] == 1:
        return float(np.mean((p.reshape(-1) > 0.5) == (t.reshape(-1) > 0.5)))
    return float(np.mean(np.argmax(p, axis=1) == np.argmax(t, axis=1)))


# -------------------------------------------------------------------------------------------------
# Built-in data sets
# -------------------------------------------------------------------------------------------------
def builtin(
    name: str, *, n_in: int | None = None, n_out: int | None = None, seed: int = 0
) -> Dataset:
    """A built-in data set: ``xor``, ``linreg``, ``digits`` or ``iris``.

    ``linreg`` takes its shape from ``n_in`` and ``n_out`` (1 and 1 by default); ``digits`` and
    ``iris`` are the UCI data sets bundled with symgrad, split 80/20 into train and test with
    ``seed``.
    """
    if name == "xor":
        X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        Y = np.array([[0.0], [1.0], [1.0], [0.0]])
        return Dataset("xor", X, Y, classes=2, description="the XOR truth table, 4 examples")
    if name == "linreg":
        return _linreg(n_in or 1, n_out or 1, seed)
    if name in ("digits", "iris"):
        return _bundled(name, seed)
    raise SpecError(
        f"{name}: unknown data set; use a .csv or .npz file, or one of {', '.join(BUILTIN)}"
    )


def _linreg(n_in: int, n_out: int, seed: int) -> Dataset:
    # y = X a + b + noise, with small whole-tenth coefficients that are easy to read back
    rng = np.random.default_rng(seed)
    n = 64
    X = rng.uniform(-1.0, 1.0, (n, n_in))
    if n_in == 1 and n_out == 1:
        a, b = np.array([[2.0]]), np.array([-0.5])
    else:
        a = np.round(rng.uniform(-2.0, 2.0, (n_in, n_out)), 1)
        b = np.round(rng.uniform(-1.0, 1.0, n_out), 1)
    Y = X @ a + b + rng.normal(0.0, 0.1, (n, n_out))
    desc = f"{n} points on y = X a + b + noise(0.1)" + (
        " with a = 2, b = -0.5" if n_in == n_out == 1 else ""
    )
    return Dataset("linreg", X, Y, description=desc)


def bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, labels)`` of ``digits`` or ``iris`` as published, in their order (float64, int64):
    digits' pixels are counts 0..16, iris's measurements centimetres."""
    from importlib.resources import files

    with (
        files("symgrad.datasets").joinpath(f"{name}.npz").open("rb") as fh,
        np.load(fh, allow_pickle=False) as npz,
    ):
        arrays = {key: npz[key] for key in npz.files}
    # digits: pixel counts 0..16; iris: tenths of a centimetre
    X = arrays["X"] * 1.0 if name == "digits" else arrays["X_tenths"] / 10.0
    return X, arrays["y"].astype(np.int64)


def _bundled(name: str, seed: int) -> Dataset:
    """``digits`` or ``iris`` from the copies in ``symgrad/datasets`` (see its README), split."""
    X, labels = bundled(name)
    n_classes = int(labels.max()) + 1
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = round(TEST_FRACTION * len(X))
    test, train = order[:n_test], order[n_test:]
    if name == "digits":
        X = X / 16.0
        desc = "8x8 handwritten digits (UCI), pixels scaled to [0, 1], 10 classes"
    else:
        mean, std = X[train].mean(axis=0), X[train].std(axis=0)
        X = (X - mean) / std
        desc = "iris flowers (UCI), 4 standardised measurements, 3 classes"
    Y = np.eye(n_classes)[labels]
    return Dataset(
        name,
        X[train],
        Y[train],
        X[test],
        Y[test],
        n_classes,
        desc + f"; {len(train)} train / {n_test} test",
    )


__all__ = ["BUILTIN", "Dataset", "accuracy", "builtin", "bundled"]
