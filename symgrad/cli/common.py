"""What the commands share: exit codes, the one-line error, outputs checked before the work and
written atomically after it, the spec's optimiser with the command line's options applied, and
the report of a trained model."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import SpecError, SymgradError
from ..files import atomic_write, output_problem, physical_memory, same_file

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran but its verdict is negative (a failed check)
EXIT_BAD_INPUT = 2  # a bad spec, data file, formula or option; argparse uses 2 as well
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")

STARTED = time.perf_counter()  # the package's first import: when the command started


def error_line(message: str) -> int:
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"symgrad: error: {line}", file=sys.stderr)
    return EXIT_BAD_INPUT


@contextlib.contextmanager
def about(where: str) -> Iterator[None]:
    """Prefix SymgradErrors raised inside with ``where`` (a file, an option) unless they name it."""
    try:
        yield
    except SymgradError as exc:
        if str(exc).startswith(where):
            raise
        raise SpecError(f"{where}: {exc}") from None


def check_output(
    path: str | None,
    option: str,
    suffixes: tuple[str, ...] | None = None,
    inputs: Sequence[tuple[str, str | None]] = (),
) -> Path | None:
    """The output path of ``option``, checked before any work: its suffix, that it is a regular
    file or a new path (atomic_write would replace a link, a FIFO or a device), that its folder
    is writable, and that it is none of ``inputs`` ((what, path) pairs: the spec, the data)."""
    if path is None:
        return None
    target = Path(path)
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise SpecError(f"{path}: {option} needs a file ending in {', '.join(suffixes)}; rename it")
    problem = output_problem(target)
    if problem is not None:
        raise SpecError(f"{path}: {option} {problem}")
    refuse_inputs(target, option, inputs)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise SpecError(f"{path}: {option}: folder {str(parent)!r} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise SpecError(
            f"{path}: {option}: folder {str(parent)!r} is not writable; choose another place"
        )
    return target


def refuse_inputs(
    target: Path | None, option: str, inputs: Sequence[tuple[str, str | None]]
) -> None:
    """Refuse an output that is one of the run's inputs: writing it would destroy that input."""
    if target is None:
        return
    for what, source in inputs:
        if source is not None and same_file(target, source):
            raise SpecError(
                f"{target}: {option} would overwrite {what} of this run ({source}); "
                "give another output path"
            )


def data_input(source: str | None) -> str | None:
    """The data file of ``--data`` (None for a built-in data set)."""
    from ..io.data import BUILTIN

    return None if source is None or source in BUILTIN else source


def write_atomic(path: Path, data: bytes) -> None:
    atomic_write(path, data)


def load_spec_file(spec_path: str) -> Any:
    from ..io.specfile import load_spec

    return load_spec(spec_path)


def spec_optimizer(spec: Any, args: argparse.Namespace) -> Any:
    """The spec's optimiser, with ``--optimizer`` and ``--lr`` applied."""
    from ..io.specfile import OptimizerSettings
    from ..net.optim import OPTIMIZERS

    name = args.optimizer or spec.optimizer.name
    settings = (
        dict(spec.optimizer.settings)
        if name == spec.optimizer.name
        else OPTIMIZERS[name].defaults()
    )
    if args.lr is not None:
        settings["lr"] = args.lr
    return OptimizerSettings(name, settings).build()


def spec_network(spec: Any, args: argparse.Namespace) -> Any:
    """The spec's network, with ``--l2`` or ``--l1`` applied (its ``biases`` kept from the spec)."""
    from ..net.regularization import L1, L2

    net = spec.network
    for kind, lam in ((L2, args.l2), (L1, args.l1)):
        if lam is not None:
            old = net.regularization
            reg = kind(lam, old.biases if old is not None else False)
            return dataclasses.replace(net, regularization=reg)
    return net


def check_memory(net: Any, optimizer: Any, dtype: str, where: str) -> None:
    """Refuse networks whose parameters, gradients and optimiser state exceed physical memory."""
    import numpy as np

    n_params = sum(math.prod(net.param_shape(p)) for p in net.param_names)
    arrays = 2 + len(getattr(optimizer, "state", ()))  # weights, gradients, optimiser state
    need = n_params * np.dtype(dtype).itemsize * arrays
    have = physical_memory()
    if have is not None and need > have:
        raise SpecError(
            f"{where}: [network] sizes: {n_params:,} parameters need {size_text(need)} for weights, "
            f"gradients and optimizer state, but this machine has {size_text(have)}; "
            "use fewer or narrower layers"
        )


def size_text(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def report_fit(
    model: Any, ds: Any, X: Any = None, Y: Any = None, held: tuple[Any, Any] | None = None
) -> list[str]:
    """The mean cost (and accuracy, for classes) of the trained model on the rows it trained on
    (``X``, ``Y``; by default all of ``ds``), the held-out validation rows, and the test split."""
    sets = [("train set", ds.X if X is None else X, ds.Y if Y is None else Y)]
    if held is not None:
        sets.append(("validation", *held))
    if ds.X_test is not None:
        sets.append(("test set", ds.X_test, ds.Y_test))
    lines = []
    for name, x, y in sets:
        figures = model.evaluate(x, y, metrics=["accuracy"] if ds.classes else [])
        line = f"{name:<10} cost {figures['loss']:.4g}"
        if "accuracy" in figures:
            line += f", accuracy {figures['accuracy']:.1%}"
        lines.append(line + (" after training" if name == "train set" else ""))
    return lines


def since_start() -> float:
    """Seconds since the command started (Python's own start-up, some 50 ms, aside)."""
    return time.perf_counter() - STARTED
