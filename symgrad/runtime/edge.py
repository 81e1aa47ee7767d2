"""Data at the edge of a model: what the compiled functions may assume is checked here.

Inputs and targets are checked for shape, numbers and finiteness, and made C-contiguous in the
model's dtype; integer class labels become one-hot rows; a cost that takes the log of the output
gets targets in [0, 1]; an optimiser's values become the array ``hyper`` of the compiled
functions, in the model's dtype. Arrays that are already right pass with a few attribute reads:
a small fit is short, and its checks are part of what the user waits for.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np

from .. import validate
from ..errors import SpecError
from ..net.network import Network
from ..net.optim import Optimizer
from ..net.regularization import Regularization

Array = np.ndarray[Any, Any]


class DataEdge:
    """The checks of :class:`~symgrad.runtime.model.Model` on the data and the parameters it is
    given."""

    net: Network
    dtype: np.dtype[Any]
    _names: tuple[str, ...]
    _param_set: frozenset[str]
    _shapes: dict[str, tuple[int, ...]]
    _n_in: int
    _n_out: int
    _unit_targets: bool

    def _all_finite(self, flat: Array) -> bool:
        """True when the flat array holds no NaN or infinity (the model's compiled check)."""
        raise NotImplementedError

    @property
    def _fns(self) -> Any:
        """The compiled functions (the model's extension, or its module)."""
        raise NotImplementedError

    def _buffer(self, names: tuple[str, ...] | list[str]) -> tuple[Array, dict[str, Array]]:
        """A new flat buffer for the arrays ``names`` and its C-contiguous views by name."""
        sizes = [math.prod(self._shapes[name]) for name in names]
        flat = np.empty(sum(sizes), self.dtype)
        views, start = {}, 0
        for name, size in zip(names, sizes, strict=True):
            views[name] = flat[start : start + size].reshape(self._shapes[name])
            start += size
        return flat, views

    def _checked(
        self,
        arrays: dict[str, Any],
        names: tuple[str, ...] | list[str],
        what: str,
        into: tuple[Array, dict[str, Array]] | None = None,
    ) -> dict[str, Array]:
        """Copies of the arrays ``names`` of ``arrays`` in the model's dtype, checked: views of one
        new flat buffer, or of ``into`` = (a flat buffer, its views by name in the order of names)."""
        if not isinstance(arrays, dict):
            raise SpecError(f"{what}s must be a dict of name -> array, got {type(arrays).__name__}")
        if arrays.keys() != (self._param_set if names is self._names else frozenset(names)):
            missing = [n for n in names if n not in arrays]
            extra = sorted(set(arrays) - set(names))
            raise SpecError(
                f"{what}s must be exactly {', '.join(names)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "")
            )
        arrs: list[Array] = []
        cast = False  # some array is not in the model's dtype
        for name in names:
            arr = arrays[name]
            if type(arr) is not np.ndarray:
                arr = validate.array(arr, f"{what} {name}")
            shape = self._shapes[name]
            if arr.shape != shape:
                raise SpecError(f"{what} {name} must have shape {shape}, got {arr.shape}")
            if arr.dtype is not self.dtype and arr.dtype != self.dtype:
                if arr.dtype.kind not in "fiu":  # floating, signed or unsigned integer
                    raise SpecError(f"{what} {name} must hold numbers, got dtype {arr.dtype}")
                cast = True
            arrs.append(arr)
        if not arrs:
            return {}
        # copies into the views of one buffer, then one check of it: every NumPy call costs
        # microseconds, and tens of them when the caches are cold (a fit between other work);
        # assigning into a view is the cheapest copy there is (np.concatenate takes 3x as long)
        flat, out = self._buffer(names) if into is None else into
        # a float64 beyond float32's range becomes inf in the copy, refused below
        narrowing = cast and self.dtype.itemsize < 8
        with np.errstate(over="ignore") if narrowing else contextlib.nullcontext():
            for name, arr in zip(names, arrs, strict=True):
                out[name][...] = arr
        # the module's own compiled check, as for the data (_finite): a fraction of the cost of
        # np.isfinite(...).all() on the few values of a small net
        finite = self._fns._all_finite
        if not finite(flat):
            name = next(n for n in names if not finite(out[n].reshape(-1)))
            raise SpecError(f"{what} {name} contains NaN or infinity (in {self.dtype.name})")
        return out

    def _inputs(self, X: Any, what: str = "X") -> Array:
        """X checked (shape, numbers, no NaN or infinity), C-contiguous in the model's dtype."""
        n_in = self._n_in
        if _ready(X, self.dtype, n_in):
            return self._finite(X, what)
        arr = validate.array(X, what)
        if arr.ndim == 1 and n_in == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise SpecError(
                f"{what} must be a 2-D array of shape (n_samples, {n_in}), got shape {arr.shape}"
            )
        if arr.shape[1] != n_in:
            raise SpecError(
                f"{what} has {arr.shape[1]} columns but the network takes {n_in} input"
                f"{'s' if n_in != 1 else ''}: give one column per input"
            )
        if arr.shape[0] == 0:
            raise SpecError(f"{what} has no rows")
        _check_numeric(arr, what)
        return self._finite(self._contiguous(arr), what)

    def _contiguous(self, arr: Array) -> Array:
        """arr itself when it is C-contiguous in the model's dtype, else such a copy."""
        if arr.dtype == self.dtype and arr.flags.c_contiguous:
            return arr
        with np.errstate(over="ignore"):  # a float64 beyond float32's range: inf, refused after
            return np.ascontiguousarray(arr, dtype=self.dtype)

    def _targets(self, Y: Any, rows: int, what: str = "Y") -> Array:
        """Y as :meth:`_inputs` checks X; integer class labels become one-hot rows."""
        n_out = self._n_out
        if _ready(Y, self.dtype, n_out) and Y.shape[0] == rows:
            return self._in_range(self._finite(Y, what), what)
        arr = validate.array(Y, what)
        if arr.ndim == 1 and n_out > 1 and np.issubdtype(arr.dtype, np.integer):
            lo, hi = int(arr.min(initial=0)), int(arr.max(initial=0))
            if lo < 0 or hi >= n_out:
                raise SpecError(
                    f"{what} holds class labels from {lo} to {hi}, but the network has {n_out} outputs: "
                    f"labels must lie in 0..{n_out - 1}"
                )
            arr = np.eye(n_out, dtype=self.dtype)[arr]  # integer labels -> one-hot rows
        elif arr.ndim == 1 and n_out == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != n_out:
            labels = " or integer class labels of shape (n_samples,)" if n_out > 1 else ""
            raise SpecError(
                f"{what} must have shape (n_samples, {n_out}){labels}, got shape {arr.shape}"
            )
        if arr.shape[0] != rows:
            raise SpecError(
                f"{what} has {arr.shape[0]} rows but X has {rows}: give one target row per example"
            )
        _check_numeric(arr, what)
        return self._in_range(self._finite(self._contiguous(arr), what), what)

    def _in_range(self, Y: Array, what: str) -> Array:
        """Y itself, when a cost that takes the log of the output can take these targets: one-hot
        rows, class labels or probabilities, all in [0, 1] (-1 and 2 would train towards a cost
        that has no minimum)."""
        if self._unit_targets:
            lo, hi = float(Y.min()), float(Y.max())
            if lo < 0.0 or hi > 1.0:
                bad = lo if lo < 0.0 else hi
                labels = f" or class labels 0..{self._n_out - 1}" if self._n_out > 1 else ""
                raise SpecError(
                    f"{what} holds {bad:g}, but cost {self.net.cost.name!r} with a "
                    f"{self.net.layers[-1].act.name} output needs targets in [0, 1]: one-hot rows, "
                    f"probabilities{labels}"
                )
        return Y

    def _finite(self, arr: Array, what: str) -> Array:
        """arr (C-contiguous, in the model's dtype) when it holds no NaN or infinity. The module's
        compiled check: NumPy's isfinite(...).all() costs tens of microseconds more on a small
        fit when the caches are cold, as between other work."""
        if not self._all_finite(arr.reshape(-1)):
            raise SpecError(
                f"{what} contains NaN or infinity (in {self.dtype.name}): remove or fill those entries"
            )
        return arr

    def _masks(self, masks: Any, rows: int) -> list[Array]:
        """Dropout's masks checked, as the compiled code takes them: ``m / (1 - p)``."""
        layers = [l for l, layer in enumerate(self.net.layers, 1) if layer.dropout]
        if not layers:
            raise SpecError("masks are for a network with dropout; this one has none")
        if not isinstance(masks, dict) or sorted(masks) != layers:
            raise SpecError(
                f"masks must map each layer with dropout ({', '.join(map(str, layers))}) to an "
                f"array of 1 (kept) and 0 (dropped), got {type(masks).__name__}"
            )
        out = []
        for l in layers:
            m = validate.array(masks[l], f"masks[{l}]")
            shape = (rows, self.net.sizes[l])
            if m.shape != shape or not np.isin(m, (0, 1)).all():
                raise SpecError(
                    f"masks[{l}] must be an array of shape {shape} holding only 1 (kept) and 0 "
                    f"(dropped), got shape {m.shape}"
                )
            scale = 1.0 / (1.0 - self.net.layers[l - 1].dropout)
            out.append(np.ascontiguousarray(m * scale, dtype=self.dtype))
        return out


class DataChecks(DataEdge):
    """The data checks of a model of ``net`` in ``dtype``, with none compiled (NumPy's finiteness
    check): for data that are checked before the workers that train on them have compiled."""

    def __init__(self, net: Network, dtype: str) -> None:
        self.net, self.dtype = net, np.dtype(dtype)
        self._n_in, self._n_out = net.sizes[0], net.sizes[-1]
        self._unit_targets = net.unit_targets

    def _all_finite(self, flat: Array) -> bool:
        return bool(np.isfinite(flat).all())

    def data(self, X: Any, Y: Any, what: str = "") -> tuple[Array, Array]:
        """X and Y checked as ``Model.fit`` checks them (``what``: ``"_val"`` names X_val, Y_val)."""
        x = self._inputs(X, f"X{what}")
        return x, self._targets(Y, x.shape[0], f"Y{what}")


def _check_numeric(arr: Array, what: str) -> None:
    kind = arr.dtype.kind  # b: bool, i/u: integers, f: floating, c: complex
    if kind not in "biufc":
        raise SpecError(f"{what} must hold numbers, got dtype {arr.dtype}")
    if kind == "c":
        raise SpecError(f"{what} must hold real numbers, got dtype {arr.dtype}")


def _ready(arr: Any, dtype: np.dtype[Any], columns: int) -> bool:
    """arr is already what the compiled code takes: C-contiguous rows of ``columns`` entries in
    dtype, at least one row (checked before any other way in: a small fit is short)."""
    return (
        type(arr) is np.ndarray
        and arr.dtype is dtype
        and arr.ndim == 2
        and arr.shape[1] == columns
        and arr.shape[0] > 0
        and arr.flags.c_contiguous
    )


def hyper_array(
    optimizer: Optimizer, dtype: np.dtype[Any], regularization: Regularization | None = None
) -> Array:
    """The array ``hyper`` of the compiled functions: the optimiser's values in settings order,
    then the penalty's ``lam`` when there is one (``HYPER_NAMES``)."""
    if not isinstance(optimizer, Optimizer):
        raise SpecError(f"optimizer must be an optimiser such as sg.SGD(lr=0.1), got {optimizer!r}")
    settings = list(optimizer.settings().values())
    if regularization is not None:
        settings.append(regularization.lam)
    with np.errstate(over="ignore"):  # a value beyond float32's range: refused below
        values = np.array(settings, dtype)
    if not np.isfinite(values).all():
        shown = optimizer.describe() + (
            f" with {regularization.describe()}" if regularization is not None else ""
        )
        raise SpecError(f"{shown} has a value beyond the range of {dtype.name}")
    return values


__all__ = ["DataChecks", "DataEdge", "hyper_array"]
