"""``sg.fit_distributed``: synchronous data-parallel mini-batch training on Dask.

The rows live on the workers: a Dask array's partitions where they are, a NumPy array cut into
one contiguous block per worker. Each worker holds a :class:`~symgrad.parallel.worker.Shard`
(a Dask actor: calls go straight to it, not through the scheduler, which costs a quarter of a
task's round trip). Each epoch the driver draws the order of the rows as ``Model.fit`` does
(the same seed gives the same batches) and tells each shard its rows of every batch; each step
it sends the weights, each shard returns the sums over its rows of the cost and of the
gradient, and the driver forms the batch's mean gradient, weighted by rows, and takes the
optimiser's step with the generated module's own ``update``. So the result equals ``fit`` on
the same batches to rounding (a test shows 1e-12 in float64, SGD and Adam).

It pays off only where a step's compute outweighs its messages: see the README's figures.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from .. import validate
from ..errors import DivergenceError, SpecError
from ..runtime.chunks import progress_bar
from ..runtime.history import History
from ..runtime.model import Model
from .cluster import connect, worker_addresses
from .worker import Shard, recipe

Array = np.ndarray[Any, Any]


def fit_distributed(
    model: Model,
    X: Any,
    Y: Any,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    client: Any = None,
    workers: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    progress: bool | None = None,
) -> History:
    """Train ``model`` in place by synchronous data-parallel steps on Dask; returns its History.

    Args:
        model: a compiled :class:`~symgrad.runtime.model.Model` (its weights, optimiser state and
            step count are trained, as by ``fit``).
        X, Y: NumPy arrays, or Dask arrays whose partitions stay on their workers (rows split into
            chunks, the columns in one chunk).
        epochs, batch_size, shuffle, seed: as ``Model.fit``: the same values give the same batches.
        client: a ``distributed.Client``, a scheduler's address, or None: a LocalCluster of
            ``workers`` processes (default: one per core), closed at the end.
        progress: a progress bar of epochs; None: only on a terminal.

    Raises:
        DivergenceError: as ``fit``: the weights from before the diverging epoch are put back.
    """
    if not isinstance(model, Model):
        raise SpecError(f"fit_distributed trains a compiled sg.Model, got {type(model).__name__}")
    epochs = validate.whole(epochs, "epochs", 0)
    batch_size = validate.whole(batch_size, "batch_size", 1)
    seed = validate.seed(seed)
    shuffle = validate.flag(shuffle, "shuffle")
    if any(layer.dropout for layer in model.net.layers):
        raise SpecError(
            "fit_distributed does not train dropout layers yet (their masks are drawn inside the "
            "compiled step); train this network with model.fit"
        )
    distributed_x = hasattr(X, "to_delayed") and hasattr(X, "chunks")
    if not distributed_x:  # checked here, whole, before any worker starts
        X = model._inputs(X)
        Y = model._targets(Y, X.shape[0])
    rows = int(X.shape[0])
    if batch_size > rows:
        raise SpecError(
            f"batch_size {batch_size} is more than the {rows} rows of X: the data do not fill one "
            f"batch; give batch_size <= {rows}"
        )
    with connect(client, workers=workers, what="fit_distributed") as dask:
        held, owner, local = _place(dask, model, X, Y, distributed_x)
        shards = [actor for _, actor in held]
        try:
            return _train(model, shards, owner, local, epochs, batch_size, shuffle, seed, progress)
        finally:
            for future, _ in held:
                future.release()


def _place(
    dask: Any, model: Model, X: Any, Y: Any, distributed_x: bool
) -> tuple[list[Any], Array, Array]:
    """One Shard actor per worker that holds rows (with the future that keeps it alive), and for
    every row its shard and its place there."""
    addresses = worker_addresses(dask)
    plan = recipe(model.net, model.optimizer, model.dtype.name)
    if distributed_x:
        blocks = _dask_blocks(dask, X, Y)
    else:
        cuts = np.array_split(np.arange(X.shape[0]), min(len(addresses), X.shape[0]))
        blocks = []
        for part, where in zip(cuts, addresses, strict=False):
            lo, hi = int(part[0]), int(part[-1]) + 1
            fx = dask.scatter(X[lo:hi], workers=[where])
            fy = dask.scatter(Y[lo:hi], workers=[where])
            blocks.append((where, lo, hi, fx, fy))
    by_worker: dict[str, list[tuple[int, int, Any, Any]]] = {}
    for where, lo, hi, fx, fy in blocks:
        by_worker.setdefault(where, []).append((lo, hi, fx, fy))
    rows = max(hi for _, _, hi, _, _ in blocks)
    owner = np.empty(rows, np.int64)
    local = np.empty(rows, np.int64)
    futures = []
    for k, (where, parts) in enumerate(sorted(by_worker.items())):
        start = 0
        for lo, hi, _, _ in parts:
            owner[lo:hi] = k
            local[lo:hi] = np.arange(start, start + hi - lo)
            start += hi - lo
        futures.append(
            dask.submit(
                Shard,
                plan,
                [p[2] for p in parts],
                [p[3] for p in parts],
                actor=True,
                workers=[where],
                allow_other_workers=False,
            )
        )
    # an actor lives while its future does: the futures are held until training ends
    return [(f, f.result()) for f in futures], owner, local


def _dask_blocks(dask: Any, X: Any, Y: Any) -> list[tuple[str, int, int, Any, Any]]:
    """The row blocks of a Dask array X (and Y beside them): ``(worker, first row, end, X's
    block, Y's block)``, each X block on the worker that holds it."""
    import dask.array as da
    from distributed import wait

    if X.ndim != 2 or len(X.chunks[1]) != 1:
        raise SpecError(
            f"X as a Dask array must be 2-D with its columns in one chunk, got chunks {X.chunks}; "
            "use X.rechunk({1: -1})"
        )
    row_chunks = X.chunks[0]
    if not hasattr(Y, "to_delayed"):
        Y = np.asarray(Y)
        Y = da.from_array(Y, chunks=(row_chunks, *Y.shape[1:]))
    if Y.shape[0] != X.shape[0] or Y.chunks[0] != row_chunks:
        raise SpecError(
            f"Y's rows must be chunked as X's ({row_chunks}), got {Y.chunks[0]}; use "
            "Y.rechunk({0: X.chunks[0]})"
        )
    if Y.ndim == 2 and len(Y.chunks[1]) != 1:
        raise SpecError(
            "Y as a Dask array must have its columns in one chunk; use Y.rechunk({1: -1})"
        )
    xs = dask.compute(list(X.to_delayed().reshape(-1)))
    ys = dask.compute(list(Y.to_delayed().reshape(-1)))
    wait([*xs, *ys])
    who = dask.who_has(xs)
    out, lo = [], 0
    for fx, fy, n in zip(xs, ys, row_chunks, strict=True):
        holders = who.get(fx.key) or []
        out.append((sorted(holders)[0], lo, lo + n, fx, fy))
        lo += n
    return out


def _train(
    model: Model,
    shards: list[Any],
    owner: Array,
    local: Array,
    epochs: int,
    batch_size: int,
    shuffle: bool,
    seed: int,
    progress: bool | None,
) -> History:
    rows = owner.size
    rng = np.random.default_rng(seed) if shuffle else None
    update = model.module.update
    params, state = model._args(), model._state_args()
    regularized = model.net.regularization is not None
    hyper = model._hyper
    lr = float(model.optimizer.settings()["lr"])
    sizes = [p.size for p in params]
    cuts = np.cumsum(sizes)[:-1]
    history = History()
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = progress_bar(epochs, show, f"{model.net.name} (data-parallel)")
    started = time.perf_counter()
    try:
        for epoch in range(epochs):
            order = rng.permutation(rows) if rng is not None else np.arange(rows)
            batches = [order[s : s + batch_size] for s in range(0, rows, batch_size)]
            told = [  # each shard's rows of every batch, once an epoch
                shard.set_epoch([local[b[owner[b] == k]] for b in batches])
                for k, shard in enumerate(shards)
            ]
            for reply in told:
                reply.result()
            saved = [a.copy() for a in (*params, *state)], model.step
            total = penalties = 0.0
            for i, batch in enumerate(batches):
                flat = np.concatenate([p.reshape(-1) for p in params])
                replies = [f.result() for f in [shard.step(i, flat) for shard in shards]]
                n = batch.size
                cost = sum(r[0] for r in replies)
                grad = sum(r[1] for r in replies if r[2]) / n
                grads = [
                    g.reshape(p.shape) for g, p in zip(np.split(grad, cuts), params, strict=True)
                ]
                model.step += 1
                penalty = update(*params, *grads, *state, model.step, hyper)
                total += cost
                if regularized:
                    penalties += n * float(penalty)
            loss = (total + penalties) / rows
            if not (np.isfinite(loss) and all(model._all_finite(p.reshape(-1)) for p in params)):
                arrays, model.step = saved
                for a, kept in zip((*params, *state), arrays, strict=True):
                    a[...] = kept
                exc = DivergenceError(
                    f"training diverged in epoch {epoch + 1}: the loss became {loss}; the weights "
                    f"from before epoch {epoch + 1} were put back. Try a smaller learning rate.",
                    epoch + 1,
                )
                exc.history = history  # type: ignore[attr-defined]
                raise exc
            losses = np.array([[loss, total / rows]] if regularized else [loss])
            history._extend(losses, np.array([lr]), np.array([time.perf_counter() - started]))
            if bar is not None:
                bar.update(1)
                bar.set_postfix({"loss": f"{loss:.4g}"}, refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return history


__all__ = ["fit_distributed"]
