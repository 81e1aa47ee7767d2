"""The ``symgrad`` command: ``demo``, ``derive``, ``generate``, ``train`` and ``check``.

Each subcommand parses its options, calls the public API and prints; the work is done by
:mod:`symgrad.io.specfile`, :mod:`symgrad.io.data`, :func:`symgrad.derive`, :func:`symgrad.generate`
and the compiled :class:`~symgrad.runtime.model.Model`. Bad input never shows a traceback: one handler
in :func:`main` turns every :class:`~symgrad.errors.SymgradError` and ``OSError`` into a single
line ``symgrad: error: FILE: [section] field: what is wrong; how to fix it`` and exit status 2.
Output files are written only once everything else has succeeded, each atomically.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ..errors import SpecError, SymgradError
from ..files import atomic_write, output_problem, physical_memory, same_file

MAX_POINTS = (
    100  # as symgrad.verify.check.MAX_POINTS, without importing the numerical stack for --help
)

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran but its verdict is negative (a failed check)
EXIT_BAD_INPUT = 2  # a bad spec, data file, formula or option; argparse uses 2 as well
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


# -------------------------------------------------------------------------------------------------
# Parser
# -------------------------------------------------------------------------------------------------
class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


class _UsageError(Exception):
    """A bad option or value: one line, not argparse's usage block."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as :class:`_UsageError` (subcommands use this class too)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message}; see '{self.prog} --help'")


def _whole(text: str, low: int, high: int | None = None) -> int:
    """``text`` as a whole number in ``low..high`` (no upper bound when high is None)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        need = f"be at least {low}" if high is None else f"lie in {low}..{high}"
        raise argparse.ArgumentTypeError(f"{text!r} must {need}")
    return value


def _positive_int(text: str) -> int:
    return _whole(text, 1)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _seed(text: str) -> int:
    return _whole(text, 0, 2**32 - 1)


def _index(text: str) -> tuple[int, ...]:
    try:
        idx = tuple(int(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an index such as 0,1 (W) or 0 (b)"
        ) from None
    if not 1 <= len(idx) <= 2 or min(idx) < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an index such as 0,1 (W) or 0 (b)")
    return idx


def _subparser(sub: Any, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="example:\n" + "\n".join(f"  {line}" for line in example.strip().splitlines()),
        formatter_class=_Formatter,
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symgrad`` command."""
    from .. import __version__

    parser = _Parser(
        prog="symgrad",
        description="See backpropagation step by step, and generate fast Numba training code from it.",
        epilog="example:\n  symgrad demo\n  symgrad derive examples/xor.toml --param W1\n"
        "run 'symgrad COMMAND --help' for the options and an example of each command",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"symgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _subparser(
        sub,
        "demo",
        "derive, generate, compile and train on built-in data, with no arguments",
        "symgrad demo\nsymgrad demo --out generated --epochs 10",
    )
    p.add_argument(
        "--out", metavar="DIR", help="write the generated module into DIR (default: the cache)"
    )
    p.add_argument("--epochs", type=_positive_int, default=30, help="training epochs (default 30)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)

    p = _subparser(
        sub,
        "derive",
        "print or write the chain-rule derivation of every partial derivative",
        "symgrad derive examples/chain.toml\n"
        "symgrad derive examples/xor.toml --param W2 --index 0,1 --expand\n"
        "symgrad derive examples/xor.toml --format latex -o xor.tex\n"
        "symgrad derive examples/chain.toml --explain --sample '1.5;1' --format html -o chain.html",
    )
    p.add_argument("spec", metavar="SPEC", help="TOML spec file")
    p.add_argument(
        "--format",
        choices=("text", "markdown", "latex", "html"),
        help="output format (default: from the -o suffix .md/.tex/.html, else text)",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="put the numbers of one example (--sample) into every chain-rule factor",
    )
    p.add_argument(
        "--sample",
        metavar="X;Y",
        help="with --explain: inputs, then targets (or a class label), e.g. '0.5,1;1'",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="with --explain: weights saved by 'symgrad train --save' (default: random, --seed)",
    )
    p.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="with --explain and no --weights: random weights' seed",
    )
    p.add_argument("--param", metavar="NAME", help="only this parameter array, e.g. W2 or b1")
    p.add_argument(
        "--index", type=_index, metavar="J[,K]", help="with --param, one entry, e.g. 0,1"
    )
    p.add_argument(
        "--layer", type=_positive_int, metavar="L", help="only the parameters of layer L"
    )
    p.add_argument(
        "--expand", action="store_true", help="also write each partial in inputs and parameters"
    )
    p.add_argument("--no-equations", action="store_true", help="leave out BP1-BP4")
    p.add_argument(
        "--max-partials",
        type=_positive_int,
        default=50,
        metavar="N",
        help="show at most N partials",
    )
    p.add_argument(
        "--document",
        action="store_true",
        help="LaTeX: a standalone document (default for -o *.tex)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    p.set_defaults(func=cmd_derive)

    p = _subparser(
        sub,
        "generate",
        "write the standalone training module (imports only numpy and numba)",
        "symgrad generate examples/xor.toml -o xor_model.py\n"
        "symgrad generate examples/digits.toml -o digits_model.py --optimizer adam --lr 0.01 --dtype float32",
    )
    p.add_argument("spec", metavar="SPEC", help="TOML spec file")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write the module to FILE (default: print it)"
    )
    _optimizer_options(p)
    p.set_defaults(func=cmd_generate)

    p = _subparser(
        sub,
        "train",
        "train a spec's network on a data file or a built-in data set",
        "symgrad train examples/xor.toml --data xor --epochs 500 --plot loss.png\n"
        "symgrad train examples/digits.toml --data digits --save digits.npz\n"
        "symgrad train net.toml --data points.csv --targets last:2",
    )
    p.add_argument("spec", metavar="SPEC", help="TOML spec file")
    p.add_argument(
        "--data",
        metavar="FILE|NAME",
        help="a .csv or .npz file, or xor, linreg, digits, iris (default: the spec's [train] data)",
    )
    p.add_argument(
        "--targets",
        metavar="COLS",
        help="CSV target columns: last, last:N, or 0-based numbers or header names, e.g. 4,5 "
        "(default: the columns after the network's inputs)",
    )
    p.add_argument("--epochs", type=_positive_int, metavar="N", help="epochs (default: the spec's)")
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="B",
        help="mini-batch size (default: the spec's)",
    )
    p.add_argument("--seed", type=_seed, help="seed for the initial weights and the shuffling")
    _optimizer_options(p)
    p.add_argument(
        "--plot", metavar="FILE", help="write the loss curve to FILE (.png, .pdf, .svg; matplotlib)"
    )
    p.add_argument("--save", metavar="FILE", help="write the trained weights to FILE (.npz)")
    p.add_argument(
        "--aot",
        action="store_true",
        help="also build the compiled code ahead of time into a C extension in the cache "
        "(needs a C compiler): later runs of the same network start without Numba",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = _subparser(
        sub,
        "check",
        "check the derivation: steps vs sympy.diff vs finite differences (vs PyTorch if installed)",
        "symgrad check examples/xor.toml\nsymgrad check examples/digits.toml --points 1",
    )
    p.add_argument("spec", metavar="SPEC", help="TOML spec file")
    p.add_argument(
        "--points",
        type=lambda text: _whole(text, 1, MAX_POINTS),
        default=2,
        metavar="N",
        help=f"random points, 1..{MAX_POINTS} (default 2)",
    )
    p.add_argument("--seed", type=_seed, default=0, help="seed for the random points")
    p.add_argument(
        "--tolerance",
        type=_positive_float,
        default=1e-6,
        help="largest relative error (default 1e-6)",
    )
    sym = p.add_mutually_exclusive_group()
    sym.add_argument(
        "--symbolic",
        dest="symbolic",
        action="store_true",
        default=None,
        help="force the symbolic proof",
    )
    sym.add_argument(
        "--no-symbolic", dest="symbolic", action="store_false", help="numeric checks only"
    )
    p.add_argument("--no-torch", action="store_true", help="leave out the PyTorch comparison")
    p.set_defaults(func=cmd_check)
    return parser


def _optimizer_options(p: argparse.ArgumentParser) -> None:
    from ..net.optim import OPTIMIZERS  # the registry: no SymPy at import

    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), help="optimizer (default: the spec's)")
    p.add_argument("--lr", type=_positive_float, help="learning rate (default: the spec's)")
    p.add_argument(
        "--dtype", choices=("float64", "float32"), help="floating-point type (default: the spec's)"
    )


# -------------------------------------------------------------------------------------------------
# Entry point and the one error handler
# -------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``symgrad`` command; returns the exit status (0 ok, 1 failed check, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or --version
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except _UsageError as exc:
        return _error(str(exc))
    if args.command is None:  # a bare "symgrad": what there is to do
        parser.print_help()
        return EXIT_OK
    try:
        status: int = args.func(args)
    except SymgradError as exc:
        return _error(str(exc))
    except OSError as exc:
        name = exc.filename if exc.filename is not None else "file"
        return _error(f"{name}: {exc.strerror or exc}; check the path and its permissions")
    except MemoryError:
        return _error("out of memory; use a smaller network, fewer examples or a smaller batch")
    except KeyboardInterrupt:
        print("symgrad: interrupted", file=sys.stderr)
        return 130
    return status


def _error(message: str) -> int:
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"symgrad: error: {line}", file=sys.stderr)
    return EXIT_BAD_INPUT


@contextlib.contextmanager
def _about(where: str) -> Iterator[None]:
    """Prefix SymgradErrors raised inside with ``where`` (a file, an option) unless they name it."""
    try:
        yield
    except SymgradError as exc:
        if str(exc).startswith(where):
            raise
        raise SpecError(f"{where}: {exc}") from None


# -------------------------------------------------------------------------------------------------
# Outputs: checked before the work, written atomically after it
# -------------------------------------------------------------------------------------------------
def _check_output(
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
    _refuse_inputs(target, option, inputs)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise SpecError(f"{path}: {option}: folder {str(parent)!r} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise SpecError(
            f"{path}: {option}: folder {str(parent)!r} is not writable; choose another place"
        )
    return target


def _refuse_inputs(
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


def _data_input(source: str | None) -> str | None:
    """The data file of ``--data`` (None for a built-in data set)."""
    from ..io.data import BUILTIN

    return None if source is None or source in BUILTIN else source


def _write_atomic(path: Path, data: bytes) -> None:
    atomic_write(path, data)


# -------------------------------------------------------------------------------------------------
# Shared pieces
# -------------------------------------------------------------------------------------------------
def _load(spec_path: str) -> Any:
    from ..io.specfile import load_spec

    return load_spec(spec_path)


def _optimizer(spec: Any, args: argparse.Namespace) -> Any:
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


def _check_memory(net: Any, optimizer: Any, dtype: str, where: str) -> None:
    """Refuse networks whose parameters, gradients and optimiser state exceed physical memory."""
    import numpy as np

    n_params = sum(math.prod(net.param_shape(p)) for p in net.param_names)
    arrays = 2 + len(getattr(optimizer, "state", ()))  # weights, gradients, optimiser state
    need = n_params * np.dtype(dtype).itemsize * arrays
    have = physical_memory()
    if have is not None and need > have:
        raise SpecError(
            f"{where}: [network] sizes: {n_params:,} parameters need {_bytes(need)} for weights, "
            f"gradients and optimizer state, but this machine has {_bytes(have)}; "
            "use fewer or narrower layers"
        )


def _bytes(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def _report_fit(model: Any, ds: Any) -> list[str]:
    """The mean cost (and accuracy) of the trained model on the training and test data."""
    from ..io.data import accuracy

    lines = [f"train set  cost {model.loss(ds.X, ds.Y):.4g} after training"]
    if ds.classes:
        lines[-1] += f", accuracy {accuracy(model.predict(ds.X), ds.Y):.1%}"
    if ds.X_test is not None:
        lines.append(f"test set   cost {model.loss(ds.X_test, ds.Y_test):.4g}")
        if ds.classes:
            lines[-1] += f", accuracy {accuracy(model.predict(ds.X_test), ds.Y_test):.1%}"
    return lines


_STARTED = time.perf_counter()  # this module is the first the command imports


def _since_start() -> float:
    """Seconds since the command started (Python's own start-up, some 50 ms, aside)."""
    return time.perf_counter() - _STARTED


def _need_matplotlib(option: str) -> None:
    """Before any work: ``option`` draws with matplotlib, which is an optional extra."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SpecError(
            f"{option} draws with matplotlib, which is not installed: pip install 'symgrad[plot]' "
            "(or pip install matplotlib)"
        ) from None


def _loss_plot(curves: dict[str, list[float]], title: str, suffix: str) -> bytes:
    buf = io.BytesIO()
    _loss_figure(curves, title).savefig(buf, format=suffix.lstrip(".").replace("jpg", "jpeg"))
    return buf.getvalue()


def _loss_figure(curves: dict[str, list[float]], title: str) -> Any:
    """The loss curves as a matplotlib Figure."""
    import textwrap

    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, loss in curves.items():
        ax.plot(range(1, len(loss) + 1), loss, label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    ax.set_ylabel("mean cost")
    ax.set_yscale("log" if min(min(v) for v in curves.values()) > 0 else "linear")
    ax.legend()
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=10)  # a long title on two lines
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------------------------------------------
# Commands
# -------------------------------------------------------------------------------------------------
def cmd_derive(args: argparse.Namespace) -> int:
    """``symgrad derive SPEC``."""
    from ..calculus.derivation import derive

    output = _check_output(
        args.output, "-o", inputs=[("the spec", args.spec), ("the weights file", args.weights)]
    )
    spec = _load(args.spec)
    fmt = args.format
    if fmt is None:
        suffix = output.suffix.lower() if output is not None else ""
        fmt = {".md": "markdown", ".tex": "latex", ".html": "html", ".htm": "html"}.get(
            suffix, "text"
        )
    if args.explain and args.sample is None:
        raise SpecError(
            f"{args.spec}: --explain needs one example: add --sample 'X;Y', e.g. '0.5,1;1'"
        )
    if args.sample is not None and not args.explain:
        raise SpecError(f"{args.spec}: --sample is for --explain; add --explain")
    if args.index is not None and args.param is None:
        raise SpecError(
            f"{args.spec}: --index selects one entry of an array; give --param too, e.g. --param W2"
        )
    options: dict[str, Any] = {
        "param": args.param,
        "layer": args.layer,
        "index": args.index,
        "expand": args.expand,
        "equations": not args.no_equations,
        "max_partials": args.max_partials,
        "advice": "cli",
    }
    net = spec.network
    if args.param is not None:
        with _about(f"{args.spec}: --param"):
            net.layer_of(args.param)
    if args.layer is not None and args.layer > net.L:
        raise SpecError(
            f"{args.spec}: --layer: layer {args.layer} does not exist; this network has layers 1..{net.L}"
        )
    d = derive(net)
    if args.index is not None:
        with _about(f"{args.spec}: --index"):
            d.symbol(args.param, *args.index)
    explanation = _explanation(args, d) if args.explain else None
    with _about(f"{args.spec}: --expand" if args.expand else args.spec):
        if fmt == "html":
            from ..views.html import to_html

            text = to_html(d, explanation, **options)
        elif explanation is not None:
            if fmt == "text":
                text = explanation.to_text()
            elif fmt == "markdown":
                text = explanation.to_markdown()
            else:
                document = args.document or (output is not None and output.suffix.lower() == ".tex")
                text = explanation.to_latex(document=document)
        elif fmt == "text":
            text = d.to_text(**options)
        elif fmt == "markdown":
            text = d.to_markdown(**options)
        else:
            document = args.document or (output is not None and output.suffix.lower() == ".tex")
            text = d.to_latex(document=document, **options)
    if output is None:
        sys.stdout.write(text)
    else:
        _write_atomic(output, text.encode("utf-8"))
        print(f"wrote {output} ({fmt}, {text.count(chr(10))} lines)")
    return EXIT_OK


def _explanation(args: argparse.Namespace, d: Any) -> Any:
    """``derive --explain``: the numbers of the ``--sample`` example in every step."""
    import numpy as np

    from ..verify import numeric
    from ..views.teach import explain

    net = d.net
    where = f"{args.spec}: --sample"
    parts = args.sample.split(";")
    if len(parts) != 2:
        raise SpecError(f"{where}: write inputs, then targets, separated by ';', e.g. '0.5,1;1'")
    try:
        x = [float(v) for v in parts[0].split(",")]
        y = [float(v) for v in parts[1].split(",")]
    except ValueError:
        raise SpecError(
            f"{where}: {args.sample!r} is not a list of numbers, e.g. '0.5,1;1'"
        ) from None
    if not all(np.isfinite(x + y)):
        raise SpecError(f"{where}: the numbers must be finite")
    if len(x) != net.sizes[0]:
        raise SpecError(f"{where}: {len(x)} inputs given, the network takes {net.sizes[0]}")
    if len(y) == 1 and net.sizes[-1] > 1 and net.layers[-1].act.is_softmax:
        label = y[0]
        if label != int(label) or not 0 <= label < net.sizes[-1]:
            raise SpecError(f"{where}: class label {label:g} must be one of 0..{net.sizes[-1] - 1}")
        y = list(np.eye(net.sizes[-1])[int(label)])
    if len(y) != net.sizes[-1]:
        raise SpecError(f"{where}: {len(y)} targets given, the network has {net.sizes[-1]} outputs")
    if args.weights is not None:
        from ..runtime.model import read_weights

        with _about(f"{args.spec}: --weights"):
            saved = read_weights(args.weights)  # checked, and nothing compiled
        _same_network(saved.net, net, args.weights, args.spec)
        params = {k: np.asarray(v, dtype=np.float64) for k, v in saved.params.items()}
    else:
        params = numeric.init_params(net, args.seed)
    with _about(where):
        return explain(
            d,
            np.array(x),
            np.array(y),
            params,
            param=args.param,
            layer=args.layer,
            index=args.index,
            max_partials=args.max_partials,
            advice="cli",
        )


def _same_network(saved: Any, net: Any, weights: str, spec: str) -> None:
    """Weights are for the spec's network when the whole declaration is the same but the name:
    sizes, activations, biases, cost and their formulas."""
    theirs = {k: v for k, v in saved.to_dict().items() if k != "name"}
    ours = {k: v for k, v in net.to_dict().items() if k != "name"}
    differ = [key for key in ours.keys() | theirs.keys() if ours.get(key) != theirs.get(key)]
    if differ:
        order = list(ours) + [key for key in theirs if key not in ours]
        what = "; ".join(
            f"{key} {theirs.get(key)!r} in the weights, {ours.get(key)!r} in the spec"
            for key in sorted(differ, key=order.index)
        )
        raise SpecError(
            f"{weights}: these weights are for another network than {spec} ({what}); "
            "give weights saved for this spec (symgrad train SPEC --save FILE)"
        )


def cmd_generate(args: argparse.Namespace) -> int:
    """``symgrad generate SPEC -o model.py``."""
    from ..codegen.generate import generate

    output = _check_output(args.output, "-o", (".py",), inputs=[("the spec", args.spec)])
    spec = _load(args.spec)
    with _about(args.spec):
        optimizer = _optimizer(spec, args)
        dtype = args.dtype or spec.train.dtype
        code = generate(spec.network, optimizer, dtype)
    if output is None:
        sys.stdout.write(code.source)
        return EXIT_OK
    _write_atomic(output, code.source.encode("utf-8"))
    print(f"wrote {output}: {spec.network.describe()}; {optimizer.describe()}, {dtype}")
    print(
        "  standalone (numpy and numba only): forward, backward, update, train_epoch, predict, loss"
    )
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    """``symgrad train SPEC --data FILE|NAME``."""
    from ..codegen.generate import _writable_cache_dir
    from ..codegen.generate import compile as compile_model
    from ..io.data import load_data

    inputs = [("the spec", args.spec), ("the data file", _data_input(args.data))]
    plot = _check_output(args.plot, "--plot", PLOT_SUFFIXES, inputs)
    if plot is not None:
        _need_matplotlib("--plot")
    save = _check_output(args.save, "--save", (".npz",), inputs)
    spec = _load(args.spec)
    net = spec.network
    with _about(args.spec):
        optimizer = _optimizer(spec, args)
    dtype = args.dtype or spec.train.dtype
    _check_memory(net, optimizer, dtype, args.spec)
    source = args.data or spec.data_source()
    if source is None:
        raise SpecError(
            f'{args.spec}: no data; give --data FILE|NAME, or add [train] data = "..." to the spec'
        )
    if args.data is None:  # the spec's [train] data, found now that the spec is read
        for target, option in ((plot, "--plot"), (save, "--save")):
            _refuse_inputs(target, option, [("the data file", _data_input(source))])
    _writable_cache_dir()  # where the compiled code goes: checked before the data are read
    train = spec.train
    seed = train.seed if args.seed is None else args.seed
    ds = load_data(source, network=net, targets=args.targets or train.targets, seed=seed)
    epochs = args.epochs or train.epochs
    batch_size = args.batch_size or train.batch_size
    print(f"network    {net.describe()}")
    print(f"data       {ds.name}: {ds.description or f'{len(ds)} examples'}")
    print(f"training   {epochs} epochs, batch {batch_size}, {optimizer.describe()}, {dtype}")
    start = time.perf_counter()
    with _about(args.spec):
        model = compile_model(net, optimizer, dtype, aot=args.aot)
        model.init(seed=seed)
        history = model.fit(
            ds.X, ds.Y, epochs=epochs, batch_size=batch_size, shuffle=train.shuffle, seed=seed,
            progress=False if args.no_progress else None,
            validation=(ds.X_test, ds.Y_test) if ds.X_test is not None else None,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    for line in _report_fit(model, ds):
        print(line)
    print(
        f"time       {_since_start():.1f} s since the command started, {seconds:.1f} s of it to "
        "generate, compile and train"
    )
    curves = {"training cost (mean over each epoch)": [float(v) for v in history.loss]}
    if history.val_loss:
        curves["test cost (after each epoch)"] = [float(v) for v in history.val_loss]
    picture = (
        _loss_plot(curves, f"{net.name}: {net.describe()}", plot.suffix.lower()) if plot else None
    )
    if save is not None:
        model.save(save)  # atomic: a temporary file renamed over the target
        print(f"wrote {save}")
    if plot is not None and picture is not None:
        _write_atomic(plot, picture)
        print(f"wrote {plot}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """``symgrad check SPEC``."""
    from ..calculus.derivation import derive

    spec = _load(args.spec)
    net = spec.network
    print(f"checking   {net.describe()}")
    with _about(args.spec):
        d = derive(net)
        report = d.check(
            symbolic=args.symbolic,
            numeric_points=args.points,
            seed=args.seed,
            tolerance=args.tolerance,
            torch=False if args.no_torch else None,  # None: when PyTorch is installed
        )
    print(report.table())
    if not report.ok:
        worst = report.worst()
        where = f" at {worst.label} ({worst.method})" if worst is not None and not worst.ok else ""
        print(f"symgrad: check failed{where}", file=sys.stderr)
        return EXIT_FAILED
    print("all checks passed")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``symgrad demo``: the chain rule on 3Blue1Brown's 1-1-1-1 net, then a digits classifier."""
    from ..calculus.derivation import derive
    from ..codegen.generate import generate
    from ..io.data import load_data
    from ..net.network import Network
    from ..net.optim import Adam
    from ..views.layout import TextNotation

    out_dir = Path(args.out) if args.out else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise SpecError(
            f"{args.out}: --out must be a folder, and this is a file; give a folder name"
        )
    chain = Network.mlp(
        [1, 1, 1, 1], hidden="sigmoid", output="sigmoid", cost="quadratic", name="chain"
    )
    print(
        "Part 1. 3Blue1Brown's chain: one neuron per layer, x -> a^(1) -> a^(2) -> a^(3), "
        "cost C = (a^(3)_0 - y_0)**2."
    )
    print("Each partial derivative is a product of local derivatives, one per link of the chain.\n")
    print(derive(chain).to_text(param="W1", equations=False))

    net = Network.mlp(
        [64, 16, 10], hidden="tanh", output="softmax", cost="cross_entropy", name="digits_demo"
    )
    ds = load_data("digits", network=net)
    optimizer = Adam(lr=0.01)
    print(f"Part 2. A classifier of the built-in digits: {ds.description}.")
    print(f"network    {net.describe()}")
    d = derive(net)
    example = d.partial(f"W{net.L}", 0, 0)  # the same chain rule, at the output layer
    shown = TextNotation()
    n_params = sum(math.prod(net.param_shape(p)) for p in net.param_names)
    print(
        f"derived    {n_params} partial derivatives, e.g. "
        f"{shown.doprint(example.steps[-1].lhs)} = {shown.doprint(example.expr)},"
    )
    print("           vectorised as BP1-BP4 in the generated code")
    code = generate(net, optimizer, "float64")
    print(
        f"generated  {code.source.count(chr(10))} lines of Python ({code.shape} shape); "
        "Numba compiles them on the first epoch"
    )
    started = time.perf_counter()
    model = code.compile()
    model.init(seed=0)
    model.fit(
        ds.X,
        ds.Y,
        epochs=args.epochs,
        batch_size=32,
        shuffle=True,
        seed=0,
        progress=False if args.no_progress else None,
    )
    print(
        f"trained    {args.epochs} epochs, batch 32, {optimizer.describe()}: "
        f"{time.perf_counter() - started:.1f} s, compiling included"
    )
    for line in _report_fit(model, ds):
        print(line)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        module_path = code.write(out_dir / f"{net.name}.py")
    else:
        module_path = code.cache_path()
    print(f"module     {module_path}")
    print(
        f"done in {_since_start():.1f} s. Next: symgrad derive SPEC, symgrad train SPEC --data NAME"
    )
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
