"""The runtime: a :class:`Model` holds the parameters and drives a generated module.

Data are checked here, at the edge (shapes, dtypes, finiteness, class labels), so that the
compiled functions may assume well-formed arrays. :meth:`Model.fit` runs many epochs in one
call of the compiled ``train_epochs`` (chunks that grow to a fraction of a second, so that the
progress bar still moves); :meth:`Model.save` and :meth:`Model.load` keep the weights, the
optimiser state and the network's declaration together in one ``.npz`` file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .. import validate
from ..errors import SpecError
from ..net.network import Network
from ..net.optim import Optimizer
from ..net.schedules import Schedule
from ..net.stopping import EarlyStopping, check_metrics
from .edge import DataEdge, hyper_array
from .history import History
from .weights import n_params, read_weights, write_weights

Array = np.ndarray[Any, Any]

HE_INIT = frozenset({"relu", "leaky_relu", "elu", "silu", "swish", "softplus"})
"""Activations initialised He-style (variance 2 / fan_in); the others Glorot-style."""


class Model(DataEdge):
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
        self._hyper = hyper_array(optimizer, self.dtype, net.regularization)
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
        self.metrics: tuple[str, ...] = ()  # of the last fit: what evaluate computes
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
        hyper = hyper_array(optimizer, self.dtype, self.net.regularization)
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

    def _all_finite(self, flat: Array) -> bool:
        return bool(self._fns._all_finite(flat))

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

    @property
    def optimizer_state(self) -> dict[str, Any]:
        """Copies of the optimiser's arrays (``m_W1``, ``v_W1``, ...) and ``step``."""
        return {"step": self.step, **{k: arr.copy() for k, arr in self._state.items()}}

    def _args(self) -> list[Array]:
        return [self._params[n] for n in self._names]

    def _state_args(self) -> list[Array]:
        return [self._state[f"{s}_{p}"] for s in self.optimizer.state for p in self._names]

    # ----------------------------------------------------------------------------------------
    # Compiled functions
    # ----------------------------------------------------------------------------------------
    def predict(self, X: Any) -> Array:
        """The outputs ``a^(L)`` for the rows of X: shape (n_samples, n_out)."""
        return np.asarray(self._fns.predict(self._inputs(X), *self._args()))

    def loss(self, X: Any, Y: Any, regularized: bool = True) -> float:
        """The mean over the rows of the per-example cost C_x, plus the penalty on the weights
        when the network has one; ``regularized=False``: the data cost alone (what other
        frameworks report as their loss)."""
        regularized = validate.flag(regularized, "regularized")
        x = self._inputs(X)
        data = float(self._fns.loss(x, self._targets(Y, x.shape[0]), *self._args()))
        return data + self.penalty() if regularized else data

    def penalty(self) -> float:
        """The penalty on the weights at the current parameters (``lam/2 sum w^2``); 0 without one."""
        reg = self.net.regularization
        if reg is None:
            return 0.0
        return sum(reg.value(self._params[p]) for p in self._names if reg.covers(p))

    def gradients(self, X: Any, Y: Any, masks: dict[int, Any] | None = None) -> dict[str, Array]:
        """Gradients of :meth:`loss` (penalty included) with respect to every parameter.

        Without ``masks`` no unit is dropped (as in ``predict`` and ``loss``); ``masks`` gives
        dropout's masks of a training step, ``{l: (n_samples, n_l) array of 1 (kept) and 0}``
        for every layer with dropout, and the gradients are those of that step."""
        x = self._inputs(X)
        y = self._targets(Y, x.shape[0])
        if masks is None:
            grads = self._fns.gradients(x, y, *self._args())
        else:
            scaled = self._masks(masks, x.shape[0])
            grads = self.module.dropout_gradients(x, y, *self._args(), *scaled)
        out = dict(zip(self.net.param_names, grads, strict=True))
        reg = self.net.regularization
        if reg is not None:  # the compiled gradients are the data cost's: dC/dw = dC_0/dw + lam w
            for name in out:
                if reg.covers(name):
                    out[name] = out[name] + reg.gradient(self._params[name]).astype(self.dtype)
        return out

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
        validation_split: float | None = None,
        metrics: list[str] | tuple[str, ...] | None = None,
        early_stopping: EarlyStopping | None = None,
        schedule: Schedule | None = None,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 1,
        callbacks: list[Callable[[int, dict[str, float]], Any]] | None = None,
    ) -> History:
        """Train by mini-batch steps of the optimiser.

        Without validation, metrics, a schedule, early stopping or callbacks, many epochs run in
        one compiled call; with any of them, one call per epoch (:mod:`symgrad.runtime.fitting`).

        Args:
            X: inputs, shape (n_samples, n_in).
            Y: targets, shape (n_samples, n_out), or integer class labels.
            epochs: passes over the data (at most: early stopping or a callback may end sooner).
            batch_size: examples per step; the last batch of an epoch may be shorter.
            shuffle: visit the rows in a new random order each epoch (else in order).
            seed: seed of the shuffling (numpy's default_rng), of dropout's masks and of
                ``validation_split``'s choice of rows.
            progress: show a progress bar with the running loss; None: only on a terminal.
            validation: ``(X_val, Y_val)``, whose mean cost (with the penalty, as the training
                loss) is recorded after each epoch in ``val_loss``.
            validation_split: instead of ``validation``, the fraction of the rows of X held out
                for it (a seeded random choice, taken before any shuffling; not trained on).
            metrics: ``["accuracy"]``: record the fraction of rows classified right after each
                epoch (``accuracy``, and ``val_accuracy`` with validation), computed in
                compiled code; the targets must be classes (labels, one-hot rows, or 0 and 1).
            early_stopping: :class:`~symgrad.net.stopping.EarlyStopping`: stop when its monitored
                figure stops improving; ``hist.best_epoch`` and ``hist.stopped_early`` say what
                happened.
            schedule: a learning-rate schedule (:mod:`symgrad.net.schedules`), stepped after
                each epoch as ``torch.optim.lr_scheduler`` is; ``hist.lr`` holds each epoch's
                rate. The model's optimiser keeps its own ``lr``.
            checkpoint: a ``.npz`` path: :meth:`save` (atomically) every ``checkpoint_every``
                epochs and at the end, so that a killed run leaves the last checkpoint whole.
            checkpoint_every: epochs between checkpoints.
            callbacks: functions ``fn(epoch, logs)`` called after each epoch (``epoch`` counts
                from 0; ``logs`` holds that epoch's figures by name); returning False stops.

        Raises:
            DivergenceError: an epoch's loss or weights became NaN or infinite; the weights
                and optimiser state from before that epoch are put back.
        """
        from . import fitting

        x = self._inputs(X)
        y = self._targets(Y, x.shape[0])
        epochs = validate.whole(epochs, "epochs", 0)
        batch_size = validate.whole(batch_size, "batch_size", 1)
        seed = validate.seed(seed)
        shuffle = validate.flag(shuffle, "shuffle")
        val = None
        if validation is not None and validation_split is not None:
            raise SpecError("give validation=(X_val, Y_val) or validation_split=, not both")
        if validation is not None:
            if not isinstance(validation, tuple | list) or len(validation) != 2:
                raise SpecError("validation must be a pair (X_val, Y_val)")
            xv = self._inputs(validation[0], "X_val")
            val = (xv, self._targets(validation[1], xv.shape[0], "Y_val"))
        elif validation_split is not None:
            train_rows, val_rows = fitting.split_rows(x.shape[0], validation_split, seed)
            val = (x[val_rows], y[val_rows])
            x, y = x[train_rows], y[train_rows]
        controls = fitting.Controls.checked(
            metrics, early_stopping, schedule, checkpoint, checkpoint_every, callbacks,
            has_validation=val is not None,
        )  # fmt: skip
        if "accuracy" in controls.metrics:
            fitting.class_targets(y, "Y")
            if val is not None:
                fitting.class_targets(val[1], "Y_val")
        self.metrics = controls.metrics
        return fitting.run(
            self, x, y, int(epochs), int(batch_size), shuffle, seed, progress, val, controls
        )

    def evaluate(self, X: Any, Y: Any, metrics: list[str] | None = None) -> dict[str, float]:
        """The loss (:meth:`loss`, penalty included) and the metrics on the rows of X and Y:
        ``{"loss": ..., "accuracy": ...}``. ``metrics``: by default those of the last
        :meth:`fit` (none before one)."""
        from . import fitting

        names = self.metrics if metrics is None else check_metrics(metrics)
        x = self._inputs(X)
        y = self._targets(Y, x.shape[0])
        out = {"loss": float(self._fns.loss(x, y, *self._args())) + self.penalty()}
        if "accuracy" in names:
            fitting.class_targets(y, "Y")
            out["accuracy"] = float(self._fns.accuracy(x, y, *self._args()))
        return out

    # ----------------------------------------------------------------------------------------
    # Files
    # ----------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write weights, optimiser state and the network's declaration to one ``.npz`` file
        (atomically: a killed save leaves the file before it)."""
        return write_weights(
            path, self.net, self.optimizer, self.dtype.name, self.shape, self.step,
            {**self._params, **self._state},
        )  # fmt: skip

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

    def export(self, path: str | Path) -> Path:
        """Write the forward pass to ``path``: ``.onnx``, ``.py`` (NumPy) or ``.h`` (C99)."""
        from ..export import export

        return export(self, path)

    def to_torch(self) -> Any:
        """A ``torch.nn.Sequential`` holding this model's weights, in its dtype."""
        from ..export import to_torch

        return to_torch(self)

    def __repr__(self) -> str:
        return (
            f"<Model {self.net.describe()}, {self.optimizer.describe()}, {self.dtype.name}, "
            f"{self.shape}{' (built ahead of time)' if self.aot else ''}, step {self.step}>"
        )


def load(path: str | Path) -> Model:
    """``Model.load(path)``."""
    return Model.load(path)


__all__ = ["History", "Model", "load", "read_weights"]
