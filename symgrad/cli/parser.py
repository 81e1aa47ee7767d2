"""The argument parser of the ``symgrad`` command: one line for a bad option, never a usage block."""

from __future__ import annotations

import argparse
import math
from typing import Any, NoReturn

MAX_POINTS = (
    100  # as symgrad.verify.check.MAX_POINTS, without importing the numerical stack for --help
)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


class UsageError(Exception):
    """A bad option or value: one line, not argparse's usage block."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as :class:`UsageError` (subcommands use this class too)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; see '{self.prog} --help'")


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


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number >= 0 (0: no penalty)")
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
    p.set_defaults(run="demo")  # symgrad.cli.demo.run

    p = _subparser(
        sub,
        "derive",
        "print or write the chain-rule derivation of every partial derivative",
        "symgrad derive examples/chain.toml\n"
        "symgrad derive examples/xor.toml --param W2 --index 0,1 --expand\n"
        "symgrad derive examples/xor.toml --format latex -o xor.tex\n"
        "symgrad derive examples/chain.toml --explain --sample '1.5;1' --format html -o chain.html\n"
        "symgrad derive examples/xor.toml --graph --param W1 --sample '0,1;1' -o xor.svg",
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
        "--graph",
        action="store_true",
        help="draw the computation graph instead, to -o graph.svg, graph.dot or graph.tex; "
        "--param highlights its paths to C, --sample puts in the numbers",
    )
    p.add_argument(
        "--sample",
        metavar="X;Y",
        help="with --explain or --graph: inputs, then targets (or a class label), e.g. '0.5,1;1'",
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
        "--local-steps",
        action="store_true",
        help="derive each activation's and the cost's derivative rule by rule, under their definitions",
    )
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
    p.set_defaults(run="derive")  # symgrad.cli.derive.run

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
    p.set_defaults(run="generate")  # symgrad.cli.generate.run

    p = _subparser(
        sub,
        "train",
        "train a spec's network on a data file or a built-in data set",
        "symgrad train examples/xor.toml --data xor --epochs 500 --plot loss.png\n"
        "symgrad train examples/digits.toml --data digits --save digits.npz\n"
        "symgrad train net.toml --data points.csv --targets last:2\n"
        "symgrad train examples/digits.toml --validation-split 0.2 --early-stopping 5 \\\n"
        "    --schedule cosine:t_max=50 --checkpoint ckpt.npz --checkpoint-every 5\n"
        "symgrad train examples/digits.toml --workers 2 --batch-size 512",
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
    _control_options(p)
    from .sweep import cluster_options  # --workers N | --scheduler ADDRESS: data-parallel

    cluster_options(p)
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="write the loss (and accuracy) curves, training beside validation, to FILE "
        "(.png, .pdf, .svg; matplotlib)",
    )
    p.add_argument("--save", metavar="FILE", help="write the trained weights to FILE (.npz)")
    p.add_argument(
        "--aot",
        action="store_true",
        help="also build the compiled code ahead of time into a C extension in the cache "
        "(needs a C compiler): later runs of the same network start without Numba",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run="train")  # symgrad.cli.train.run

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
    p.set_defaults(run="check")  # symgrad.cli.check.run

    p = _subparser(
        sub,
        "export",
        "write a trained network's forward pass as ONNX, a NumPy module or a C99 header",
        "symgrad train examples/xor.toml --save xor.npz\n"
        "symgrad export examples/xor.toml --weights xor.npz -o xor.onnx\n"
        "symgrad export examples/xor.toml --weights xor.npz -o xor_predict.py\n"
        "symgrad export examples/xor.toml --weights xor.npz -o xor.h",
    )
    p.add_argument("spec", metavar="SPEC", help="TOML spec file")
    p.add_argument(
        "--weights", metavar="FILE", required=True,
        help="weights saved for this spec (symgrad train SPEC --save FILE)",
    )  # fmt: skip
    p.add_argument(
        "-o", "--output", metavar="FILE", required=True,
        help="the file to write: .onnx (onnx, pip install 'symgrad[export]'), .py (NumPy only) "
        "or .h (C99)",
    )  # fmt: skip
    p.set_defaults(run="export")  # symgrad.cli.export.run

    from .lesson import add_command as lesson_command  # its options, beside its run()
    from .sweep import add_command as sweep_command

    lesson_command(sub)
    sweep_command(sub)
    from .exercise import add_commands as exercise_commands

    exercise_commands(sub)
    return parser


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must lie strictly between 0 and 1, e.g. 0.2")
    return value


def _control_options(p: argparse.ArgumentParser) -> None:
    """``symgrad train``'s options of validation, metrics, early stopping, schedules, checkpoints."""
    p.add_argument(
        "--validation-split", type=_fraction, metavar="F",
        help="hold out this fraction of the training rows (seeded) for validation; its cost "
        "and accuracy are reported each epoch (default: the spec's)",
    )  # fmt: skip
    p.add_argument(
        "--metrics", metavar="NAMES",
        help="metrics besides the loss, comma-separated: accuracy (default: the spec's)",
    )  # fmt: skip
    p.add_argument(
        "--early-stopping", type=lambda text: _whole(text, 0), metavar="PATIENCE",
        help="stop when the validation cost (or --monitor) has not improved for PATIENCE "
        "epochs, and keep the best epoch's weights",
    )  # fmt: skip
    p.add_argument(
        "--monitor", metavar="KEY",
        help="what --early-stopping watches: val_loss (default), loss, accuracy, val_accuracy",
    )  # fmt: skip
    p.add_argument(
        "--schedule", metavar="NAME[:K=V,...]",
        help="learning-rate schedule, stepped each epoch: step:step_size=10,gamma=0.5, "
        "exponential:gamma=0.95, cosine:t_max=50, plateau:factor=0.1,patience=10",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint", metavar="FILE",
        help="save the weights to FILE (.npz, atomically) every --checkpoint-every epochs",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint-every", type=_positive_int, metavar="N",
        help="epochs between checkpoints (default: the spec's, else 1)",
    )  # fmt: skip


def _optimizer_options(p: argparse.ArgumentParser) -> None:
    from ..net.optim import OPTIMIZERS  # the registry: no SymPy at import

    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), help="optimizer (default: the spec's)")
    p.add_argument("--lr", type=_positive_float, help="learning rate (default: the spec's)")
    p.add_argument(
        "--dtype", choices=("float64", "float32"), help="floating-point type (default: the spec's)"
    )
    penalty = p.add_mutually_exclusive_group()
    penalty.add_argument(
        "--l2", type=_nonnegative_float, metavar="LAM",
        help="L2 penalty lam/2 sum w^2 on the weights (default: the spec's regularization)",
    )  # fmt: skip
    penalty.add_argument(
        "--l1", type=_nonnegative_float, metavar="LAM",
        help="L1 penalty lam sum |w| on the weights (default: the spec's regularization)",
    )  # fmt: skip
