"""``symgrad sweep SPEC --grid lr=0.01,0.1 --grid seed=0,1``: train every configuration of a grid on
Dask (:func:`symgrad.parallel.sweep.sweep`), print the runs best first, write the table."""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from typing import Any

from ..errors import SpecError
from .common import (
    EXIT_OK,
    PLOT_SUFFIXES,
    about,
    check_output,
    data_input,
    load_spec_file,
    since_start,
    spec_network,
    spec_optimizer,
)


def add_command(sub: Any) -> None:
    """The ``sweep`` subcommand and its options (called by :func:`.parser.build_parser`)."""
    from .parser import _fraction, _optimizer_options, _positive_int, _seed, _subparser

    p = _subparser(
        sub,
        "sweep",
        "train every combination of a grid of hyperparameters, in parallel on Dask",
        "symgrad sweep examples/digits.toml --grid lr=0.01,0.03,0.1 --grid seed=0,1,2 -o runs.csv\n"
        "symgrad sweep examples/iris.toml --grid width=8,16,32 --grid hidden=tanh,relu --workers 2\n"
        "symgrad sweep examples/digits.toml --scheduler tcp://10.0.0.5:8786 --plot runs.png",
    )
    p.add_argument("spec", metavar="SPEC", help="TOML spec file (its [sweep] table is the grid)")
    p.add_argument(
        "--data", metavar="FILE|NAME",
        help="a .csv or .npz file, or xor, linreg, digits, iris (default: the spec's [train] data)",
    )  # fmt: skip
    p.add_argument("--targets", metavar="COLS", help="CSV target columns, as for 'symgrad train'")
    p.add_argument(
        "--grid", action="append", default=[], metavar="KEY=V1,V2",
        help="one key of the grid and its values (repeat for more keys; over the spec's "
        "[sweep]): lr, the optimiser's other values, batch_size, seed, lam, width, hidden, "
        "sizes=64-32-10,64-64-10",
    )  # fmt: skip
    p.add_argument("--epochs", type=_positive_int, metavar="N", help="each run's epochs")
    p.add_argument("--batch-size", type=_positive_int, metavar="B", help="each run's batch size")
    p.add_argument("--seed", type=_seed, help="each run's seed (unless the grid sweeps it)")
    _optimizer_options(p)
    p.add_argument(
        "--validation-split", type=_fraction, metavar="F",
        help="hold out this fraction of each run's rows (seeded by its seed) for validation",
    )  # fmt: skip
    p.add_argument(
        "--metrics",
        metavar="NAMES",
        help="metrics besides the loss: accuracy (default: the spec's)",
    )
    p.add_argument(
        "--metric", metavar="KEY",
        help="what ranks the runs: loss, val_loss, accuracy, val_accuracy (default: val_loss "
        "with validation, else loss)",
    )  # fmt: skip
    cluster_options(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write the table to FILE (.csv)")
    p.add_argument(
        "--plot", metavar="FILE", help="draw every run's curve to FILE (.png, .svg, .pdf)"
    )
    p.add_argument("--save", metavar="FILE", help="write the best run's weights to FILE (.npz)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run="sweep")  # symgrad.cli.sweep.run


def cluster_options(p: argparse.ArgumentParser) -> None:
    """``--workers N | --scheduler ADDRESS`` (sweep, and train's data-parallel mode)."""
    from .parser import _positive_int

    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=_positive_int, metavar="N",
        help="a local Dask cluster of N processes (pip install 'symgrad[dask]')",
    )  # fmt: skip
    where.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="the Dask scheduler to use, e.g. tcp://10.0.0.5:8786 (reached within 10 s)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """``symgrad sweep SPEC``."""
    from ..net.grid import check_grid, grid_option
    from ..net.stopping import check_metrics
    from ..parallel.cluster import need_dask
    from ..parallel.sweep import sweep

    inputs = [("the spec", args.spec), ("the data file", data_input(args.data))]
    output = check_output(args.output, "-o", (".csv",), inputs)
    plot = check_output(args.plot, "--plot", PLOT_SUFFIXES, inputs)
    save = check_output(args.save, "--save", (".npz",), inputs)
    if plot is not None:
        from .plot import need_matplotlib

        need_matplotlib("--plot")
    need_dask("symgrad sweep")
    spec = load_spec_file(args.spec)
    net = spec_network(spec, args)
    with about(args.spec):
        optimizer = spec_optimizer(spec, args)
    grid: dict[str, Any] = dict(spec.sweep.grid)
    for text in args.grid:
        with about("--grid"):
            key, values = grid_option(text)
        grid[key] = values
    if args.grid:
        with about("--grid"):
            check_grid(grid, net, optimizer)
    if not grid:
        raise SpecError(
            f"{args.spec}: nothing to sweep; give --grid KEY=V1,V2 (e.g. --grid lr=0.01,0.1) or "
            "add a [sweep] table to the spec"
        )
    source = args.data or spec.data_source()
    if source is None:
        raise SpecError(
            f'{args.spec}: no data; give --data FILE|NAME, or add [train] data = "..." to the spec'
        )
    from ..io.data import load_data

    train = spec.train
    seed = train.seed if args.seed is None else args.seed
    ds = load_data(source, network=net, targets=args.targets or train.targets, seed=seed)
    metrics = train.metrics
    if args.metrics is not None:
        with about("--metrics"):
            metrics = check_metrics([n.strip() for n in args.metrics.split(",") if n.strip()])
    split = train.validation_split if args.validation_split is None else args.validation_split
    workers = args.workers if args.workers is not None else spec.sweep.workers
    where = args.scheduler or "a local Dask cluster of one process per core"
    if workers is not None:
        where = f"a local Dask cluster of {workers} process{'es' if workers > 1 else ''}"
    print(f"network    {net.describe()}")
    print(f"data       {ds.name}: {ds.description or f'{len(ds)} examples'}")
    print(f"grid       {'; '.join(f'{k} = {_values(v)}' for k, v in grid.items())}")
    print(f"on         {where}")
    started = time.perf_counter()
    try:  # checked before a cluster starts; then run on it
        result = sweep(
            dataclasses.replace(spec, network=net), grid, ds.X, ds.Y, epochs=args.epochs,
            batch_size=args.batch_size, optimizer=optimizer, dtype=args.dtype or train.dtype,
            seed=seed, validation_split=split, metrics=metrics, metric=args.metric,
            client=args.scheduler, workers=workers, output=output,
            progress=False if args.no_progress else None,
        )  # fmt: skip
    except SpecError as exc:
        where = "--scheduler" if str(exc).startswith("scheduler ") else args.spec
        raise SpecError(f"{where}: {exc}") from None
    seconds = time.perf_counter() - started
    print()
    print(result.table())
    best = result.best()
    label = ", ".join(f"{k}={best[k]}" for k in result.keys)
    print(f"\nbest       {label}: {result.metric} {best[f'best_{result.metric}']:.6g}")
    compiling = sum(r["compile_seconds"] for r in result if math.isfinite(r["compile_seconds"]))
    busy = compiling + sum(r["seconds"] for r in result if math.isfinite(r["seconds"]))
    share = f" ({compiling / busy:.0%} of the workers' time)" if busy > 0 else ""
    print(
        f"time       {len(result)} runs in {seconds:.1f} s; compiling took {compiling:.1f} s"
        f"{share}; {since_start():.1f} s since the command started"
    )
    if output is not None:
        print(f"wrote {output}")
    if plot is not None:
        result.plot(plot)
        print(f"wrote {plot}")
    if save is not None:
        result.best_model().save(save)
        print(f"wrote {save} (the best run's weights)")
    return EXIT_OK


def _values(values: list[Any]) -> str:
    from ..net.grid import show_value

    return ", ".join(show_value(v) for v in values)
