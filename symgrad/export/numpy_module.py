"""A standalone, readable prediction module: the weights inside as literals, a ``predict(x)`` in
NumPy alone.

Each layer is two lines, ``z2 = a1 @ W2.T + b2`` and ``a2 = f(z2)``, with ``f`` printed from
:mod:`symgrad.export.lowering` (:mod:`symgrad.export.code_text`). Sigmoid and softplus are
helpers that never overflow (``exp(-|z|)`` only), softmax subtracts the row's maximum, and
``erf``, which NumPy lacks, is the standard library's, value by value. Every weight is printed
with ``repr``, which reads back to the same float.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..net.network import Network
from .code_text import Infix, numpy_spelling
from .lowering import elementwise

WIDTH = 100

_HELPERS = {
    "sigmoid": '''
def _sigmoid(z):
    """1 / (1 + exp(-z)) without overflow: exp(-|z|) only, as e / (1 + e) for z < 0."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
''',
    "softplus": '''
def _softplus(z):
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
''',
    "erf": """
# NumPy has no erf: the standard library's, value by value
_erf = np.vectorize(math.erf, otypes=[DTYPE])
""",
}


def wrapped(items: list[str], indent: str, width: int = WIDTH) -> list[str]:
    """``items`` joined by ``", "`` into lines of at most ``width`` characters (each line but
    the last ends in a comma)."""
    lines: list[str] = []
    line = ""
    for item in items:
        if line and len(indent) + len(line) + len(item) + 2 > width:
            lines.append(f"{indent}{line},")
            line = item
        else:
            line = f"{line}, {item}" if line else item
    lines.append(f"{indent}{line}")
    return lines


def _array(name: str, values: np.ndarray[Any, Any]) -> list[str]:
    """``name = np.array([...], dtype=DTYPE)``, a matrix one row after the other."""
    if values.ndim == 1:
        body = wrapped([repr(float(v)) for v in values], "    ")
        line = f"{name} = np.array([{body[0].strip()}], dtype=DTYPE)"
        if len(body) == 1 and len(line) <= WIDTH:
            return [line]
        return [f"{name} = np.array([", *body, "], dtype=DTYPE)"]
    lines = [f"{name} = np.array(["]
    for row in values:
        body = wrapped([repr(float(v)) for v in row], "        ")
        lines += ["    [", *body, "    ],"] if len(body) > 1 else [f"    [{body[0].strip()}],"]
    return [*lines, "], dtype=DTYPE)"]


def numpy_source(net: Network, params: dict[str, Any], dtype: np.dtype[Any]) -> str:
    """The module's source."""
    printer = Infix(numpy_spelling())
    weights: list[str] = []
    body: list[str] = []
    formulas: dict[str, str] = {}
    for l, layer in enumerate(net.layers, start=1):
        act = layer.act
        weights += ["", f"# layer {l}: {layer.n_in} -> {layer.n_out} {act.name}"]
        weights += _array(f"W{l}", np.asarray(params[f"W{l}"]))
        bias = f" + b{l}" if layer.bias else ""
        if layer.bias:
            weights += _array(f"b{l}", np.asarray(params[f"b{l}"]))
        body.append(f"    z{l} = a{l - 1} @ W{l}.T{bias}")
        if act.formula is not None:
            formulas[act.name] = act.formula
        tree = elementwise(act)
        if tree is None:  # softmax: the row's largest z subtracted, so exp never overflows
            body.append(f"    e{l} = np.exp(z{l} - z{l}.max(axis=1, keepdims=True))")
            f = f"e{l} / e{l}.sum(axis=1, keepdims=True)"
        else:
            f = printer.code(tree, f"z{l}")
        note = f"  # {act.name}(z) = {act.formula}" if act.formula is not None else ""
        if layer.residual:
            body.append(f"    a{l} = a{l - 1} + {f}  # residual: a{l} = a{l - 1} + f(z{l}){note}")
        else:
            body.append(f"    a{l} = {f}{note}")
        if layer.dropout:
            body.append(f"    # dropout {layer.dropout:g} is for training only: none at prediction")
    n_in, n_out = net.sizes[0], net.sizes[-1]
    doc = [
        f'"""Prediction with the network {net.name}:',
        "",
        f"    {net.describe_layers()}",
        "",
        f"Exported by symgrad from trained weights, in {dtype.name}; it imports only NumPy.",
        f"predict(x) takes rows of {n_in} inputs, shape (n_rows, {n_in}), and returns rows of "
        f"{n_out} outputs.",
        "W2[j, k] joins unit k of layer 1 to unit j of layer 2: z2 = a1 W2^T + b2, a2 = f(z2).",
        *[f"User activation: {name}(z) = {text}" for name, text in formulas.items()],
        '"""',
    ]
    helpers = [_HELPERS[name] for name in ("sigmoid", "softplus", "erf") if name in printer.used]
    imports = ["import math", ""] if "erf" in printer.used else []
    lines = [
        *doc, "", *imports, "import numpy as np", "",
        f"DTYPE = np.{dtype.name}", f"N_IN = {n_in}", f"N_OUT = {n_out}", "",
        "# fmt: off", *weights, "# fmt: on", "",
        *[line for h in helpers for line in ["", *h.strip("\n").splitlines(), ""]],
        "",
        "def predict(x):",
        f'    """The outputs for the rows of x: shape (n_rows, {n_in}) -> (n_rows, {n_out}), in '
        'DTYPE."""',
        "    a0 = np.asarray(x, dtype=DTYPE)",
        "    if a0.ndim == 1:  # one row",
        "        a0 = a0[None, :]",
        "    if a0.ndim != 2 or a0.shape[1] != N_IN:",
        '        raise ValueError(f"x must have shape (n_rows, {N_IN}), got {a0.shape}")',
        *body,
        f"    return a{net.L}",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


__all__ = ["WIDTH", "numpy_source", "wrapped"]
