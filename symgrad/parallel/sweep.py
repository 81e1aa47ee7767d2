"""``sg.sweep``: train every configuration of a grid, in parallel on a Dask cluster.

Each configuration is one Dask task (:func:`symgrad.parallel.worker.train_config`): its row is
what ``model.init(seed); model.fit(X, Y, ..., seed=seed)`` gives in one process, to the bit for
the same compiled code. The data go to every worker once. A worker compiles each distinct network
once and reuses it for every learning rate, seed, batch size and penalty strength. A task whose
worker dies is run again by Dask elsewhere, so no result is lost. Rows stream in as they finish;
with ``output=`` the table so far is rewritten atomically after each one.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import validate
from ..codegen.recipe import checked_recipe
from ..errors import SpecError
from ..files import output_problem
from ..io.specfile import SpecFile, load_spec
from ..net.grid import Config, check_grid, configs
from ..net.network import Network
from ..net.optim import SGD, Optimizer
from ..net.stopping import check_monitor
from ..runtime.chunks import progress_bar
from ..runtime.edge import DataChecks
from ..runtime.fitting import Controls, class_targets, needs, split_rows
from .cluster import connect, need_dask
from .results import SweepResult, summary
from .worker import recipe, train_config


def sweep(
    net_or_spec: Network | SpecFile | str | Path,
    grid: dict[str, Any] | None,
    X: Any = None,
    Y: Any = None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    validation: tuple[Any, Any] | None = None,
    validation_split: float | None = None,
    metrics: list[str] | tuple[str, ...] | None = None,
    early_stopping: Any = None,
    schedule: Any = None,
    shuffle: bool = True,
    optimizer: Optimizer | None = None,
    dtype: str | None = None,
    client: Any = None,
    workers: int | None = None,
    seed: int | None = None,
    metric: str | None = None,
    output: str | Path | None = None,
    progress: bool | None = None,
) -> SweepResult:
    """Train every combination of ``grid`` on ``X``, ``Y``, in parallel on Dask.

    Args:
        net_or_spec: a :class:`~symgrad.net.network.Network`, or a spec (a path or a loaded
            :class:`~symgrad.io.specfile.SpecFile`), whose ``[optimizer]``, ``[train]`` and
            ``[sweep]`` give the defaults of what is not passed here, and whose ``[train] data``
            is used when X is None.
        grid: ``{key: [values]}`` (:mod:`symgrad.net.grid`): ``lr`` and the optimiser's other
            values, ``batch_size``, ``seed``, ``lam``, ``sizes``, ``width``, ``hidden``. None: the
            spec's ``[sweep]``.
        X, Y: the training data (as for ``Model.fit``).
        epochs, batch_size: each run's (``batch_size`` unless the grid sweeps it).
        validation, validation_split, metrics, early_stopping, schedule, shuffle: each run's
            ``fit`` options.
        optimizer: the optimiser whose values the grid varies (default: the spec's, else SGD).
        dtype: ``"float64"`` (default) or ``"float32"``.
        client: a ``distributed.Client``, a scheduler's address, or None: a LocalCluster of
            ``workers`` processes (default one per core), closed at the end. ``workers=0``: no
            Dask, every run one after another in this process.
        seed: every run's ``model.init(seed)`` and ``fit(seed=seed)`` unless the grid sweeps it.
        metric: what :meth:`SweepResult.best` ranks by (default ``val_loss`` with validation,
            else ``loss``).
        output: a ``.csv`` path, rewritten atomically as rows arrive.
        progress: a progress bar of finished runs; None: only on a terminal.
    """
    spec = load_spec(net_or_spec) if isinstance(net_or_spec, str | Path) else net_or_spec
    if isinstance(spec, SpecFile):
        net = spec.network
        optimizer = optimizer if optimizer is not None else spec.optimizer.build()
        train = spec.train
        grid = grid if grid is not None else dict(spec.sweep.grid)
        metric = metric if metric is not None else spec.sweep.metric
        workers = workers if workers is not None else spec.sweep.workers
        epochs = epochs if epochs is not None else train.epochs
        batch_size = batch_size if batch_size is not None else train.batch_size
        dtype = dtype or train.dtype
        seed = seed if seed is not None else train.seed
        if validation is None and validation_split is None:
            validation_split = train.validation_split
        metrics = metrics if metrics is not None else train.metrics
        if X is None and spec.data_source() is not None:
            from ..io.data import load_data

            ds = load_data(spec.data_source() or "", network=net, targets=train.targets, seed=seed)
            X, Y = ds.X, ds.Y
    elif isinstance(net_or_spec, Network):
        net = net_or_spec
    else:
        raise SpecError(
            f"sweep takes a Network or a spec (a .toml path), got {type(net_or_spec).__name__}"
        )
    optimizer = optimizer if optimizer is not None else SGD()
    dtype = dtype or "float64"
    if epochs is None:
        raise SpecError("sweep needs epochs=N (each run's number of epochs)")
    epochs = validate.whole(epochs, "epochs", 1)
    batch_size = validate.whole(32 if batch_size is None else batch_size, "batch_size", 1)
    seed = validate.seed(0 if seed is None else seed)
    if X is None or Y is None:
        raise SpecError("sweep needs data: X and Y (or a spec with [train] data)")
    if grid is None:
        raise SpecError("sweep needs a grid, e.g. {'lr': [0.01, 0.1]} (or a spec with [sweep])")
    optimizer, _ = checked_recipe(net, optimizer, dtype, "auto")  # what every worker compiles
    points = configs(check_grid(grid, net, optimizer), net, optimizer, batch_size, seed)
    checks = DataChecks(net, dtype)
    x, y = checks.data(X, Y)
    val = None if validation is None else _validation(checks, validation)
    controls = Controls.checked(
        metrics, early_stopping, schedule, None, 1, None,
        has_validation=validation is not None or validation_split is not None,
    )  # fmt: skip
    if "accuracy" in controls.metrics:
        class_targets(y, "Y")
    if validation_split is not None:  # checked here; each run draws its own rows by its seed
        if val is not None:
            raise SpecError("give validation=(X_val, Y_val) or validation_split=, not both")
        split_rows(x.shape[0], validation_split, seed)
    held = val is not None or validation_split is not None
    metric = check_monitor(metric or ("val_loss" if held else "loss"), "metric")
    needs(metric, "metric", held, controls.metrics)
    for point in points:
        if point.batch_size > x.shape[0]:
            raise SpecError(
                f"grid point {point.label()}: batch_size {point.batch_size} is more than the "
                f"{x.shape[0]} rows of X; sweep batch sizes up to {x.shape[0]}"
            )
    target = _output(output)
    if not (workers == 0 and client is None):
        need_dask("sg.sweep")  # before any work: which extra to install
    options = {
        "validation": val,
        "validation_split": validation_split,
        "metrics": list(controls.metrics),
        "early_stopping": controls.early_stopping,
        "schedule": controls.schedule,
        "shuffle": validate.flag(shuffle, "shuffle"),
    }
    keys = list(points[0].values) if points else []
    plans = [recipe(p.network, p.optimizer, str(x.dtype)) for p in points]
    job = _Job(points, plans, x, y, epochs, options)
    return _run(job, client, workers, metric, keys, target, progress)


def _validation(checks: DataChecks, validation: Any) -> tuple[Any, Any]:
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise SpecError("validation must be a pair (X_val, Y_val)")
    return checks.data(validation[0], validation[1], "_val")


def _output(output: Any) -> Path | None:
    """The CSV path, checked before any work."""
    if output is None:
        return None
    target = Path(output)
    if target.suffix.lower() != ".csv":
        raise SpecError(f"output {str(target)!r} must end in .csv")
    if not target.parent.is_dir():
        raise SpecError(
            f"output {str(target)!r}: the folder {str(target.parent)!r} does not exist; create it"
        )
    problem = output_problem(target)
    if problem is not None:
        raise SpecError(f"output {str(target)!r} {problem}")
    return target


@dataclass(frozen=True)
class _Job:
    """What every run of a sweep is given: its configuration and recipe, the data, the options."""

    points: list[Config]
    plans: list[dict[str, Any]]
    x: Any
    y: Any
    epochs: int
    options: dict[str, Any]

    def run(
        self, i: int, x: Any = None, y: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any], Any, Any, int, int, int]:
        """The arguments of :func:`train_config` for run ``i`` (``x``, ``y``: where the data are)."""
        point = self.points[i]
        x, y = (self.x, self.y) if x is None else (x, y)
        return (self.plans[i], point.values, x, y, self.epochs, point.batch_size, point.seed)


def _run(
    job: _Job,
    client: Any,
    workers: int | None,
    metric: str,
    keys: list[str],
    target: Path | None,
    progress: bool | None,
) -> SweepResult:
    plans = job.plans
    results: list[dict[str, Any] | None] = [None] * len(job.points)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = progress_bar(len(job.points), show, "sweep", unit="run")
    started = time.perf_counter()

    def arrived(i: int, raw: dict[str, Any]) -> None:
        results[i] = raw
        if bar is not None:
            bar.update(1)
        if target is not None:  # the rows so far, atomically: a killed sweep keeps them
            _result(results, plans, keys, metric, started).to_csv(target)

    try:
        if workers == 0 and client is None:  # in this process, one after another
            for i in range(len(job.points)):
                arrived(i, train_config(*job.run(i), job.options))
        else:
            _on_dask(job, client, workers, arrived)
    finally:
        if bar is not None:
            bar.close()
    return _result(results, plans, keys, metric, started)


def _on_dask(job: _Job, client: Any, workers: int | None, arrived: Any) -> None:
    as_completed = need_dask("sg.sweep").as_completed
    with connect(client, workers=workers, what="sg.sweep") as dask:
        data = dask.scatter([job.x, job.y], broadcast=True)  # once to every worker
        options = job.options
        val = options["validation"]
        if val is not None:
            options = {**options, "validation": tuple(dask.scatter(list(val), broadcast=True))}
        tag = uuid.uuid4().hex[:8]
        futures, index = [], {}
        for i in range(len(job.points)):
            future = dask.submit(
                train_config, *job.run(i, data[0], data[1]), options,
                key=f"symgrad-sweep-{tag}-{i}", pure=False,
            )  # fmt: skip
            futures.append(future)
            index[future.key] = i
        for future in as_completed(futures):
            i = index[future.key]
            try:
                raw = future.result()
            except Exception as exc:  # the task failed for good (its workers kept dying)
                raw = _failed(job.points[i], exc)
            arrived(i, raw)


def _failed(point: Config, exc: BaseException) -> dict[str, Any]:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return {
        "values": point.values,
        "status": f"failed: {type(exc).__name__}: {reason}",
        "history": {},
        "params": {},
        "seconds": float("nan"),
        "compile_seconds": float("nan"),
        "worker": "",
    }


def _result(
    results: list[dict[str, Any] | None],
    plans: list[dict[str, Any]],
    keys: list[str],
    metric: str,
    started: float,
) -> SweepResult:
    done = [(i, raw) for i, raw in enumerate(results) if raw is not None]
    return SweepResult(
        rows=[summary(raw, i) for i, raw in done],
        histories=[raw["history"] for _, raw in done],
        params=[raw["params"] for _, raw in done],
        plans=[plans[i] for i, _ in done],
        keys=keys,
        metric=metric,
        seconds=time.perf_counter() - started,
    )


__all__ = ["sweep"]
