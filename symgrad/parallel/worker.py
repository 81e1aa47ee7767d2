"""What runs on a Dask worker: one configuration of a sweep, and one shard of data-parallel training.

A worker compiles each distinct network once, from its recipe (the declaration as plain data,
the optimiser's kind, the dtype), into its own cache; every later configuration of that network
(another learning rate, seed, batch size or penalty strength: run-time values) reuses the module
already imported in the process. The time that first compile takes is reported apart from the
training time, so a sweep can say how much of it was compiling.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import numpy as np

from ..codegen.cache import record_numba_caches
from ..errors import DivergenceError, SymgradError
from ..net.network import Network
from ..net.optim import optimizer_from_dict
from ..runtime.build import compile as compile_model
from ..runtime.model import Model

Array = np.ndarray[Any, Any]

_WARM: set[str] = set()
"""The modules (by file) this process has compiled and run once: their functions are ready."""


def recipe(net: Network, optimizer: Any, dtype: str) -> dict[str, Any]:
    """What a worker needs to compile a model: plain data, cheap to send."""
    return {"network": net.to_dict(), "optimizer": optimizer.to_dict(), "dtype": dtype}


def model_of(plan: dict[str, Any]) -> tuple[Model, bool]:
    """The model of ``plan`` (:func:`recipe`), and whether this process compiles it now."""
    net = Network.from_dict(plan["network"])
    model = compile_model(net, optimizer_from_dict(plan["optimizer"]), plan["dtype"])
    key = str(model._fns.__file__)  # named by the recipe's key, in which lam is no part
    fresh = key not in _WARM
    _WARM.add(key)
    return model, fresh


def where() -> str:
    """This worker's address (or ``local`` outside Dask)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"local:{os.getpid()}"


def train_config(
    plan: dict[str, Any],
    values: dict[str, Any],
    x: Array,
    y: Array,
    epochs: int,
    batch_size: int,
    seed: int,
    options: dict[str, Any],
) -> dict[str, Any]:
    """Train one configuration as ``model.init(seed); model.fit(..., seed=seed)`` would, and
    return its row: the values, the history, the final weights, the times, where it ran."""
    started = time.perf_counter()
    model, fresh = model_of(plan)
    if fresh:  # compile what fit calls, on a few rows of a scratch model (same types)
        _warm_up(plan, x, y, batch_size, options)
        record_numba_caches()  # now, so that the processes that import it next load it
    compiled = time.perf_counter() - started
    model.init(seed)
    status = "ok"
    began = time.perf_counter()
    try:
        history = model.fit(
            x, y, epochs=epochs, batch_size=batch_size, seed=seed, progress=False, **options
        )
    except DivergenceError as exc:
        history = exc.history  # type: ignore[attr-defined]
        status = f"diverged in epoch {exc.epoch}"
    return {
        "values": values,
        "status": status,
        "history": history.to_dict(),
        "params": model.params,
        "seconds": time.perf_counter() - began,
        "compile_seconds": compiled,
        "worker": where(),
    }


def _warm_up(
    plan: dict[str, Any], x: Array, y: Array, batch_size: int, options: dict[str, Any]
) -> None:
    scratch, _ = model_of(plan)
    rows = min(batch_size, x.shape[0])
    extra: dict[str, Any] = {"metrics": options.get("metrics")}
    if options.get("validation") is not None:
        xv, yv = options["validation"]
        extra["validation"] = (xv[:2], yv[:2])
    elif options.get("validation_split") is not None:
        extra["validation"] = (x[:2], y[:2])
    with contextlib.suppress(SymgradError):  # a diverging scratch step compiled all the same
        scratch.fit(x[:rows], y[:rows], epochs=1, batch_size=rows, progress=False, **extra)


class Shard:
    """A Dask actor: one worker's rows of a data-parallel fit and the model that computes their
    gradient. Each step it gets the weights (one flat array) and returns the sums over its rows
    of the data cost and of its gradient, for the driver to weigh by rows."""

    def __init__(self, plan: dict[str, Any], blocks_x: list[Any], blocks_y: list[Any]) -> None:
        self.model, _ = model_of(plan)
        x = np.concatenate([np.asarray(b) for b in blocks_x]) if blocks_x else None
        y = np.concatenate([np.asarray(b) for b in blocks_y]) if blocks_y else None
        self.x: Array | None = None
        self.y: Array | None = None
        if x is not None:  # rows of a Dask array are checked here, where they live
            self.x = self.model._inputs(x)
            self.y = self.model._targets(y, self.x.shape[0])
        self.epoch: list[Array] = []
        self._fns = self.model._fns
        self._shapes = [self.model.net.param_shape(n) for n in self.model.net.param_names]
        self._work: Any = None  # the blas shape's work arrays (see _blas_step)

    def rows(self) -> int:
        return 0 if self.x is None else int(self.x.shape[0])

    def set_epoch(self, batches: list[Array]) -> int:
        """This shard's rows of each batch of the coming epoch (local row numbers)."""
        self.epoch = batches
        return len(batches)

    def step(self, i: int, flat: Array) -> tuple[float, Array, int]:
        """``(sum of C_x, sum of dC_x/dtheta as one flat array, rows)`` over this shard's rows of
        batch ``i`` of the epoch, at the weights ``flat``."""
        rows = self.epoch[i] if self.epoch else np.empty(0, np.int64)
        n = int(rows.size)
        if n == 0 or self.x is None or self.y is None:
            return 0.0, np.zeros(flat.size, flat.dtype), 0
        params, start = [], 0
        for shape in self._shapes:
            size = int(np.prod(shape))
            params.append(flat[start : start + size].reshape(shape))
            start += size
        x, y = self.x[rows], self.y[rows]
        module = self.model.module
        if hasattr(module, "cost_sum"):  # the blas shape: one forward pass for both
            cost, grads = self._blas_step(module, x, y, params)
        else:  # the unrolled shape (tiny networks): two cheap calls
            cost = float(self._fns.loss(x, y, *params)) * n
            grads = self._fns.gradients(x, y, *params)
        return cost, np.concatenate([g.reshape(-1) for g in grads]) * n, n

    def _blas_step(self, module: Any, x: Array, y: Array, params: list[Array]) -> tuple[float, Any]:
        """The blas module's forward, cost_sum and backward on work arrays kept between steps
        (as its train_epochs does), rather than loss and gradients: one forward pass, not two."""
        n, sizes = x.shape[0], self.model.net.sizes
        if self._work is None or self._work[0] < n:
            dtype = self.model.dtype
            layers = [(np.empty((n, k), dtype), np.empty((n, k), dtype)) for k in sizes[1:]]
            deltas = [np.empty((n, k), dtype) for k in sizes[1:]]
            grads = [np.empty(shape, dtype) for shape in self._shapes]
            self._work = (n, layers, deltas, grads)
        _, layers, deltas, grads = self._work
        za = [a[:n] for pair in layers for a in pair]
        module.forward(x, *params, *za)
        cost = float(module.cost_sum(y, za[-2], za[-1]))
        module.backward(x, y, *params, *za, *[d[:n] for d in deltas], *grads)
        return cost, grads


__all__ = ["Shard", "model_of", "recipe", "train_config", "where"]
