"""``symgrad train SPEC --data FILE|NAME``: compile, train, report, and write the weights and the loss curve."""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any

from ..errors import SpecError
from .common import (
    EXIT_OK,
    PLOT_SUFFIXES,
    about,
    check_memory,
    check_output,
    data_input,
    load_spec_file,
    refuse_inputs,
    report_fit,
    since_start,
    spec_network,
    spec_optimizer,
    write_atomic,
)
from .plot import loss_plot, need_matplotlib


def run(args: argparse.Namespace) -> int:
    """``symgrad train SPEC --data FILE|NAME``."""
    from ..codegen.cache import writable_cache_dir
    from ..io.data import load_data
    from ..parallel.data_parallel import fit_distributed
    from ..runtime.build import compile as compile_model

    inputs = [("the spec", args.spec), ("the data file", data_input(args.data))]
    plot = check_output(args.plot, "--plot", PLOT_SUFFIXES, inputs)
    if plot is not None:
        need_matplotlib("--plot")
    save = check_output(args.save, "--save", (".npz",), inputs)
    spec = load_spec_file(args.spec)
    net = spec_network(spec, args)
    with about(args.spec):
        optimizer = spec_optimizer(spec, args)
    dtype = args.dtype or spec.train.dtype
    check_memory(net, optimizer, dtype, args.spec)
    source = args.data or spec.data_source()
    if source is None:
        raise SpecError(
            f'{args.spec}: no data; give --data FILE|NAME, or add [train] data = "..." to the spec'
        )
    if args.data is None:  # the spec's [train] data, found now that the spec is read
        for target, option in ((plot, "--plot"), (save, "--save")):
            refuse_inputs(target, option, [("the data file", data_input(source))])
    writable_cache_dir()  # where the compiled code goes: checked before the data are read
    train = spec.train
    controls = train_controls(spec, args, inputs)
    parallel = args.workers is not None or args.scheduler is not None
    if parallel:
        data_parallel_controls(args.spec, controls)
    seed = train.seed if args.seed is None else args.seed
    ds = load_data(source, network=net, targets=args.targets or train.targets, seed=seed)
    epochs = args.epochs or train.epochs
    batch_size = args.batch_size or train.batch_size
    X, Y, held = ds.X, ds.Y, None
    split = controls.pop("validation_split")
    if split is not None:  # held out here, so that the report can name its rows
        from ..runtime.fitting import split_rows

        with about(args.spec):
            rows, held_rows = split_rows(len(X), split, seed)
        X, Y, held = X[rows], Y[rows], (X[held_rows], Y[held_rows])
    if held is not None and ds.classes and "accuracy" not in controls["metrics"]:
        # validation makes each epoch its own call already: its accuracy costs one pass
        controls["metrics"] = (*controls["metrics"], "accuracy")
    print(f"network    {net.describe()}")
    print(f"data       {ds.name}: {ds.description or f'{len(ds)} examples'}")
    if held is not None:
        print(f"validation {len(held[0])} of the {len(ds)} training rows held out (seed {seed})")
    print(f"training   {epochs} epochs, batch {batch_size}, {optimizer.describe()}, {dtype}")
    if parallel:
        where = args.scheduler or f"a local Dask cluster of {args.workers} processes"
        print(f"{'':11}data-parallel on {where}: each batch split across the workers")
    for what in ("schedule", "early_stopping"):
        if controls[what] is not None:
            print(f"{'':11}{controls[what].describe()}")
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        client = dask_client(stack, args, "symgrad train --workers") if parallel else None
        with about(args.spec):
            model = compile_model(net, optimizer, dtype, aot=args.aot)
            model.init(seed=seed)
            if parallel:
                history = fit_distributed(
                    model, X, Y, epochs=epochs, batch_size=batch_size, client=client,
                    shuffle=train.shuffle, seed=seed, progress=False if args.no_progress else None,
                )  # fmt: skip
            else:
                history = model.fit(
                    X, Y, epochs=epochs, batch_size=batch_size, shuffle=train.shuffle, seed=seed,
                    progress=False if args.no_progress else None, validation=held, **controls,
                )  # fmt: skip
    seconds = time.perf_counter() - start
    if history.stopped_early:
        print(f"stopped    after epoch {len(history)}: {history.stop_reason}")
    for line in report_fit(model, ds, X, Y, held):
        print(line)
    print(
        f"time       {since_start():.1f} s since the command started, {seconds:.1f} s of it to "
        "generate, compile and train"
    )
    if controls["checkpoint"] is not None:
        every = controls["checkpoint_every"]
        print(f"wrote {controls['checkpoint']} (a checkpoint every {every} epochs, and at the end)")
    if save is not None:
        model.save(save)  # atomic: a temporary file renamed over the target
        print(f"wrote {save}")
    if plot is not None:
        picture = loss_plot(history, f"{net.name}: {net.describe()}", plot.suffix.lower())
        write_atomic(plot, picture)
        print(f"wrote {plot}")
    return EXIT_OK


def train_controls(spec: Any, args: argparse.Namespace, inputs: list[Any]) -> dict[str, Any]:
    """``fit``'s validation, metrics, early stopping, schedule and checkpoint: the spec's
    ``[train]`` settings with the command's options over them, checked before any work."""
    from ..net.schedules import schedule_from_dict
    from ..net.stopping import EarlyStopping, check_metrics, check_monitor
    from ..runtime.fitting import checkpoint_path

    train = spec.train
    metrics = train.metrics
    if args.metrics is not None:
        names = [n.strip() for n in args.metrics.split(",") if n.strip()]
        with about("--metrics"):
            metrics = check_metrics(names)
    stopping = train.early_stopping
    if args.early_stopping is not None or args.monitor is not None:
        base = stopping or EarlyStopping()
        with about("--monitor"):
            monitor = check_monitor(args.monitor) if args.monitor is not None else base.monitor
        patience = base.patience if args.early_stopping is None else args.early_stopping
        stopping = EarlyStopping(patience, base.min_delta, base.restore_best, monitor)
    schedule = train.schedule
    if args.schedule is not None:
        with about("--schedule"):
            schedule = schedule_from_dict(schedule_option(args.schedule), "--schedule")
    split = train.validation_split if args.validation_split is None else args.validation_split
    for rule, what in ((stopping, "early stopping"), (schedule, "the schedule")):
        monitor = getattr(rule, "monitor", "")
        if monitor.startswith("val_") and split is None:
            raise SpecError(
                f"{args.spec}: {what} watches {monitor}, which needs held-out rows: add [train] "
                "validation_split = 0.2 or --validation-split 0.2 (the data's test split is "
                "kept for the final report, not used to stop or schedule)"
            )
    checkpoint = args.checkpoint if args.checkpoint is not None else train.checkpoint
    if checkpoint is not None:
        option = "--checkpoint" if args.checkpoint is not None else "[train] checkpoint"
        target = check_output(checkpoint, option, (".npz",), inputs)
        with about(option):
            checkpoint_path(target)
    return {
        "validation_split": split,
        "metrics": metrics,
        "early_stopping": stopping,
        "schedule": schedule,
        "checkpoint": checkpoint,
        "checkpoint_every": args.checkpoint_every or train.checkpoint_every,
    }


def dask_client(stack: contextlib.ExitStack[Any], args: argparse.Namespace, what: str) -> Any:
    """The Dask client of ``--workers`` or ``--scheduler``, closed with ``stack``; an address
    not reached is an error naming ``--scheduler``."""
    from ..parallel.cluster import connect

    with about("--scheduler"):
        return stack.enter_context(connect(args.scheduler, workers=args.workers, what=what))


def data_parallel_controls(spec: str, controls: dict[str, Any]) -> None:
    """Refuse what data-parallel training does not do (yet), before any work; Dask installed."""
    from ..parallel.cluster import need_dask

    for key, option in (
        ("early_stopping", "--early-stopping"),
        ("schedule", "--schedule"),
        ("checkpoint", "--checkpoint"),
    ):
        if controls[key] is not None:
            raise SpecError(
                f"{spec}: data-parallel training (--workers, --scheduler) takes no {key} yet; "
                f"leave out {option} and [train] {key}, or train in one process"
            )
    if controls["metrics"] and controls["validation_split"] is None:
        controls["metrics"] = ()  # accuracy is reported at the end, as it always is
    need_dask("symgrad train --workers")


def schedule_option(text: str) -> dict[str, Any]:
    """``--schedule cosine:t_max=50,eta_min=0.001`` as ``{"name": "cosine", "t_max": 50, ...}``."""
    name, _, rest = text.partition(":")
    out: dict[str, Any] = {"name": name.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"--schedule: {item!r} is not KEY=VALUE, e.g. cosine:t_max=50")
        out[key.strip()] = _value(value.strip())
    return out


def _value(text: str) -> Any:
    """A setting's value as written: a whole number, a number, or a word (threshold_mode=abs)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
