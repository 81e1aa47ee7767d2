"""``symgrad train SPEC --data FILE|NAME``: compile, train, report, and write the weights and the loss curve."""

from __future__ import annotations

import argparse
import time

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
    seed = train.seed if args.seed is None else args.seed
    ds = load_data(source, network=net, targets=args.targets or train.targets, seed=seed)
    epochs = args.epochs or train.epochs
    batch_size = args.batch_size or train.batch_size
    print(f"network    {net.describe()}")
    print(f"data       {ds.name}: {ds.description or f'{len(ds)} examples'}")
    print(f"training   {epochs} epochs, batch {batch_size}, {optimizer.describe()}, {dtype}")
    start = time.perf_counter()
    with about(args.spec):
        model = compile_model(net, optimizer, dtype, aot=args.aot)
        model.init(seed=seed)
        history = model.fit(
            ds.X, ds.Y, epochs=epochs, batch_size=batch_size, shuffle=train.shuffle, seed=seed,
            progress=False if args.no_progress else None,
            validation=(ds.X_test, ds.Y_test) if ds.X_test is not None else None,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    for line in report_fit(model, ds):
        print(line)
    print(
        f"time       {since_start():.1f} s since the command started, {seconds:.1f} s of it to "
        "generate, compile and train"
    )
    curves = {"training cost (mean over each epoch)": [float(v) for v in history.loss]}
    if history.val_loss:
        curves["test cost (after each epoch)"] = [float(v) for v in history.val_loss]
    picture = (
        loss_plot(curves, f"{net.name}: {net.describe()}", plot.suffix.lower()) if plot else None
    )
    if save is not None:
        model.save(save)  # atomic: a temporary file renamed over the target
        print(f"wrote {save}")
    if plot is not None and picture is not None:
        write_atomic(plot, picture)
        print(f"wrote {plot}")
    return EXIT_OK
