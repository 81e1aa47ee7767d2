"""The runtime: a :class:`Model` holds the parameters and drives a generated module.

Data are checked here, at the edge (shapes, dtypes, finiteness, class labels), so that the
compiled functions may assume well-formed arrays. :meth:`Model.fit` runs many epochs in one
call of the compiled ``train_epochs`` (chunks that grow to a fraction of a second, so that the
progress bar still moves); :meth:`Model.save` and :meth:`Model.load` keep the weights, the
optimiser state and the network's declaration together in one ``.npz`` file.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .. import validate
from ..errors import DivergenceError, SpecError
from ..files import atomic_write
from ..net.network import Network
from ..net.optim import Optimizer
from .history import History
from .weights import FORMAT, META_KEY, n_params, read_weights

Array = np.ndarray[Any, Any]

HE_INIT = frozenset({"relu", "leaky_relu", "elu", "silu", "swish", "softplus"})
"""Activations initialised He-style (variance 2 / fan_in); the others Glorot-style."""


class Model:
    """A network with its parameters, trained by a compiled, generated module.

    Made by :meth:`symgrad.codegen.generate.GeneratedModule.compile` (or :func:`symgrad.compile`, or
    :meth:`Model.load`); starts initialised with :meth:`init` (seed 0).
    """

    def __init__(
        self,
        module: ModuleType | Callable[[], ModuleType],
        net: Network,
        optimizer: Optimizer,
        dtype: str,
        compiled: Any = None,
    ) -> None:
        # the generated module, or a function that imports it when first asked for (with an
        # extension built ahead of time, a process may train without importing it, nor Numba)
        self._module = module
        # what the runtime calls (train_epochs, predict, loss, ...): the extension's functions
        # when there is one (symgrad.runtime.aot), else the module's own
        self._compiled = compiled
        self.net = net
        self.dtype = np.dtype(dtype)
        self._optimizer = optimizer
        # the optimiser's values as the compiled functions take them (hyper, in settings order)
        self._hyper = _hyper(optimizer, self.dtype)
        self.step = 0
        self._seconds_per_row: dict[int, float] = {}  # by batch size: sizes fit's calls
        self._names = net.param_names
        self._param_set = frozenset(self._names)
        self._n_in, self._n_out = net.sizes[0], net.sizes[-1]
        self._unit_targets = net.unit_targets
        shapes = {name: net.param_shape(name) for name in self._names}
        # the shape of every parameter and every array of optimiser state ("m_W1", ...)
        self._shapes = {
            **shapes,
            **{f"{s}_{p}": shapes[p] for s in optimizer.state for p in shapes},
        }
        self._params: dict[str, Array] = {}
        self._param_buffers: list[tuple[Array, dict[str, Array]]] = []  # see _spare_params
        self._state: dict[str, Array] = {}
        self.init(0)

    # ----------------------------------------------------------------------------------------
    # Parameters and optimiser state
    # ----------------------------------------------------------------------------------------
    def init(self, seed: int = 0) -> Model:
        """Random weights (Glorot-uniform, or He-uniform for ReLU-like activations), zero biases.

        Also resets the optimiser state and the step count. Returns the model.
        """
        rng = np.random.default_rng(validate.seed(seed))
        params: dict[str, Array] = {}
        for l, layer in enumerate(self.net.layers, start=1):
            fan_in, fan_out = layer.n_in, layer.n_out
            # He (Var w = 2 / fan_in) for ReLU-like units, else Glorot (Var w = 2 / (fan_in + fan_out))
            he = layer.act.name in HE_INIT
            limit = math.sqrt(6.0 / fan_in) if he else math.sqrt(6.0 / (fan_in + fan_out))
            params[f"W{l}"] = rng.uniform(-limit, limit, (fan_out, fan_in)).astype(self.dtype)
            if layer.bias:
                params[f"b{l}"] = np.zeros(fan_out, self.dtype)
        self._params = params
        self.reset_optimizer()
        return self

    def reset_optimizer(self) -> None:
        """Zero the optimiser state (momentum, Adam's moments) and the step count."""
        self._state = {
            f"{s}_{p}": np.zeros_like(self._params[p])
            for s in self.optimizer.state
            for p in self.net.param_names
        }
        self.step = 0

    @property
    def optimizer(self) -> Optimizer:
        """The optimiser. Its values are run-time arguments of the compiled code: assigning an
        optimiser of the same kind (``sg.Adam(lr=1e-4)`` to a model compiled for Adam) takes
        effect at the next step, without compiling, and keeps the optimiser state, as changing
        ``lr`` in a ``torch.optim`` param group does. Another kind needs another module:
        ``sg.compile(model.net, optimizer=...)``."""
        return self._optimizer

    @optimizer.setter
    def optimizer(self, optimizer: Optimizer) -> None:
        current = self._optimizer
        hyper = _hyper(optimizer, self.dtype)
        if type(optimizer) is not type(current):
            shown = type(optimizer).__name__
            raise SpecError(
                f"this model was compiled for {type(current).__name__}, not {shown}: a new "
                f"optimiser of the same kind changes its values; for {shown}, compile a new "
                f"model with sg.compile(model.net, optimizer=...)"
            )
        self._optimizer, self._hyper = optimizer, hyper

    @property
    def module(self) -> ModuleType:
        """The generated module (imported on first use when the model runs an extension)."""
        if not isinstance(self._module, ModuleType):
            self._module = self._module()
        return self._module

    @property
    def _fns(self) -> Any:
        """The compiled functions the runtime calls: the extension's, else the module's."""
        return self._compiled if self._compiled is not None else self.module

    @property
    def aot(self) -> bool:
        """True when the model trains with an extension built ahead of time (:mod:`symgrad.runtime.aot`)."""
        return self._compiled is not None

    @property
    def shape(self) -> str:
        """The emitted shape of the generated module: ``"blas"`` or ``"unrolled"``."""
        return str(self._fns.SHAPE)

    @property
    def params(self) -> dict[str, Array]:
        """Copies of the parameters, ``{"W1": (n1, n0), "b1": (n1,), ...}``."""
        return {name: arr.copy() for name, arr in self._params.items()}

    def set_params(self, params: dict[str, Any]) -> None:
        """Replace every parameter (validated; the optimiser state is kept)."""
        self._params = self._checked(params, self._names, "parameter", into=self._spare_params())

    def _spare_params(self) -> tuple[Array, dict[str, Array]]:
        """A flat buffer for every parameter and its views by name, not the ones in use.

        ``set_params`` copies into it and then takes it up: two such buffers, used in turn, so a
        model trained again and again from given weights allocates nothing for them.
        """
        for flat, views in self._param_buffers:
            if views is not self._params:
                return flat, views
        self._param_buffers.append(self._buffer(self._names))
        return self._param_buffers[-1]

    def _buffer(self, names: tuple[str, ...] | list[str]) -> tuple[Array, dict[str, Array]]:
        """A new flat buffer for the arrays ``names`` and its C-contiguous views by name."""
        sizes = [math.prod(self._shapes[name]) for name in names]
        flat = np.empty(sum(sizes), self.dtype)
        views, start = {}, 0
        for name, size in zip(names, sizes, strict=True):
            views[name] = flat[start : start + size].reshape(self._shapes[name])
            start += size
        return flat, views

    @property
    def optimizer_state(self) -> dict[str, Any]:
        """Copies of the optimiser's arrays (``m_W1``, ``v_W1``, ...) and ``step``."""
        return {"step": self.step, **{k: arr.copy() for k, arr in self._state.items()}}

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

    def _args(self) -> list[Array]:
        return [self._params[n] for n in self._names]

    def _state_args(self) -> list[Array]:
        return [self._state[f"{s}_{p}"] for s in self.optimizer.state for p in self._names]

    # ----------------------------------------------------------------------------------------
    # Data at the edge
    # ----------------------------------------------------------------------------------------
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
        if not self._fns._all_finite(arr.reshape(-1)):
            raise SpecError(
                f"{what} contains NaN or infinity (in {self.dtype.name}): remove or fill those entries"
            )
        return arr

    # ----------------------------------------------------------------------------------------
    # Compiled functions
    # ----------------------------------------------------------------------------------------
    def predict(self, X: Any) -> Array:
        """The outputs ``a^(L)`` for the rows of X: shape (n_samples, n_out)."""
        return np.asarray(self._fns.predict(self._inputs(X), *self._args()))

    def loss(self, X: Any, Y: Any) -> float:
        """The mean over the rows of the per-example cost C_x."""
        x = self._inputs(X)
        return float(self._fns.loss(x, self._targets(Y, x.shape[0]), *self._args()))

    def gradients(self, X: Any, Y: Any) -> dict[str, Array]:
        """Gradients of :meth:`loss` with respect to every parameter."""
        x = self._inputs(X)
        grads = self._fns.gradients(x, self._targets(Y, x.shape[0]), *self._args())
        return dict(zip(self.net.param_names, grads, strict=True))

    def fit(
        self,
        X: Any,
        Y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        progress: bool | None = None,
        validation: tuple[Any, Any] | None = None,
    ) -> History:
        """Train by mini-batch steps of the optimiser; many epochs per compiled call.

        Args:
            X: inputs, shape (n_samples, n_in).
            Y: targets, shape (n_samples, n_out), or integer class labels.
            epochs: passes over the data.
            batch_size: examples per step; the last batch of an epoch may be shorter.
            shuffle: visit the rows in a new random order each epoch (else in order).
            seed: seed of the shuffling (numpy's default_rng).
            progress: show a progress bar with the running loss; None: only on a terminal.
            validation: ``(X_val, Y_val)``, whose mean cost is recorded after each epoch
                (then each epoch is its own compiled call).

        Raises:
            DivergenceError: an epoch's loss or weights became NaN or infinite; the weights
                and optimiser state from before that epoch are put back.
        """
        x = self._inputs(X)
        y = self._targets(Y, x.shape[0])
        epochs = validate.whole(epochs, "epochs", 0)
        batch_size = validate.whole(batch_size, "batch_size", 1)
        seed = validate.seed(seed)
        shuffle = validate.flag(shuffle, "shuffle")
        val = None
        if validation is not None:
            if not isinstance(validation, tuple | list) or len(validation) != 2:
                raise SpecError("validation must be a pair (X_val, Y_val)")
            xv = self._inputs(validation[0], "X_val")
            val = (xv, self._targets(validation[1], xv.shape[0], "Y_val"))
        rows = x.shape[0]
        batch = min(int(batch_size), rows)
        rng = np.random.default_rng(seed) if shuffle else None
        history = History()
        show = sys.stderr.isatty() if progress is None else bool(progress)
        bar = _progress(int(epochs), show, self.net.name)
        done = 0
        per_row = self._seconds_per_row.get(batch)
        chunk = 1 if per_row is None else _chunk(per_row * rows, rows)
        # a module may have a version of train_epochs for batches of one (the unrolled shape)
        fns = self._fns
        train = fns.train_epochs
        if batch == 1:
            train = getattr(fns, "train_epochs_one", train)
        try:
            while done < epochs:
                # validation is measured between epochs, in Python: one epoch per call then
                k = 1 if val is not None else min(chunk, int(epochs) - done)
                # a permutation per epoch: the same numbers as k calls of rng.permutation(rows)
                if rng is not None:
                    orders = np.tile(np.arange(rows, dtype=np.int64), (k, 1))
                    rng.permuted(orders, axis=1, out=orders)
                else:
                    orders = IN_ORDER
                losses = np.empty(k)  # History keeps it: a new one per call
                started = time.perf_counter()
                completed, step = train(
                    x, y, orders, k, batch, *self._args(), *self._state_args(), self.step,
                    self._hyper, losses,
                )  # fmt: skip
                elapsed = time.perf_counter() - started
                completed, self.step = int(completed), int(step)
                history._extend(losses if completed == k else losses[:completed])
                if val is not None and completed:
                    history.val_loss.append(float(fns.loss(val[0], val[1], *self._args())))
                if bar is not None and completed:
                    bar.update(completed)
                    bar.set_postfix(loss=f"{losses[completed - 1]:.4g}")
                if completed < k:
                    epoch = done + completed + 1
                    mean = float(losses[completed])
                    exc = DivergenceError(
                        f"training diverged in epoch {epoch}: the loss became {mean}; the weights from "
                        f"before epoch {epoch} were put back. Try a smaller learning rate.",
                        epoch,
                    )
                    exc.history = history  # type: ignore[attr-defined]
                    raise exc
                done += k
                self._seconds_per_row[batch] = elapsed / (k * rows)
                chunk = _chunk(elapsed / k, rows)
        finally:
            if bar is not None:
                bar.close()
        return history

    # ----------------------------------------------------------------------------------------
    # Files
    # ----------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write weights, optimiser state and the network's declaration to one ``.npz`` file."""
        from .. import __version__

        meta = {
            "format": FORMAT,
            "network": self.net.to_dict(),
            "optimizer": self.optimizer.to_dict(),
            "dtype": self.dtype.name,
            "shape": self.shape,
            "step": self.step,
            "symgrad": __version__,
        }
        arrays: dict[str, Any] = {
            **self._params,
            **self._state,
            META_KEY: np.array(json.dumps(meta, sort_keys=True)),
        }
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        target = Path(path)
        atomic_write(target, buf.getvalue())
        return target

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read a file written by :meth:`save`: validated (:func:`read_weights`: the declaration,
        then every array's shape and dtype from its header), then compiled (from the cache if
        there). Nothing is compiled, nor any array read, for a file that does not fit."""
        from .build import compile as compile_model

        saved = read_weights(path, finite=False)  # the compiled check below sees NaN
        net = saved.net
        try:
            model = compile_model(net, saved.optimizer, saved.dtype, shape=saved.shape)
            try:
                params = model._checked(saved.params, net.param_names, "parameter")
                state = model._checked(saved.state, list(saved.state), "optimizer state")
            except SpecError as exc:
                raise SpecError(f"{path}: {exc}") from None
        except MemoryError:  # the model's own copies of a large network
            raise SpecError(
                f"{path}: out of memory while loading its {n_params(net):,} parameters; "
                "free some memory or load it on a larger machine"
            ) from None
        model._params, model._state, model.step = params, state, saved.step
        return model

    def __repr__(self) -> str:
        return (
            f"<Model {self.net.describe()}, {self.optimizer.describe()}, {self.dtype.name}, "
            f"{self.shape}{' (built ahead of time)' if self.aot else ''}, step {self.step}>"
        )


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


def _hyper(optimizer: Optimizer, dtype: np.dtype[Any]) -> Array:
    """The array ``hyper`` of the compiled functions: the optimiser's values in settings order."""
    if not isinstance(optimizer, Optimizer):
        raise SpecError(f"optimizer must be an optimiser such as sg.SGD(lr=0.1), got {optimizer!r}")
    with np.errstate(over="ignore"):  # a value beyond float32's range: refused below
        values = np.array(list(optimizer.settings().values()), dtype)
    if not np.isfinite(values).all():
        raise SpecError(f"{optimizer.describe()} has a value beyond the range of {dtype.name}")
    return values


IN_ORDER = np.empty((0, 0), np.int64)
"""The ``orders`` of ``train_epochs`` that takes the rows in order (it has no rows)."""
CHUNK_SECONDS = 0.2
"""Aim of one compiled call of ``train_epochs`` in :meth:`Model.fit`: the progress bar (and
Ctrl-C, which waits for the compiled call) answers a few times per second."""
MAX_ORDER_ENTRIES = 1 << 22
"""At most this many row indices of shuffled orders are made for one call (32 MiB)."""


def _chunk(epoch_seconds: float, rows: int) -> int:
    """Epochs for the next call of ``train_epochs``, from the time of one epoch so far.

    The first call of a model runs one epoch (it may include loading or compiling the
    module); later calls aim at :data:`CHUNK_SECONDS`.
    """
    most = max(1, MAX_ORDER_ENTRIES // max(rows, 1))
    if epoch_seconds <= 0:
        return most
    return max(1, min(most, int(CHUNK_SECONDS / epoch_seconds)))


def _progress(epochs: int, show: bool, name: str) -> Any:
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=epochs, desc=name, unit="epoch", file=sys.stderr, leave=True)


def load(path: str | Path) -> Model:
    """``Model.load(path)``."""
    return Model.load(path)


__all__ = ["History", "Model", "load", "read_weights"]
