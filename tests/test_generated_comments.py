"""The comments of generated modules read as the derivation does.

Every ``# BP1`` .. ``# BP4`` comment is the network's equation from ``d.equations()`` as the text
rendering prints it, and no comment holds SymPy's own spelling (``Piecewise((``, ``Heaviside(``),
for every built-in activation, cost, shape, optimiser and dtype (generation only: no compile).
"""

from __future__ import annotations

import itertools
import re

import pytest

import symgrad as sg
from symgrad.views.notation import equation_text

SHAPES = ("blas", "unrolled")
OPTIMIZERS = (sg.SGD(), sg.Momentum(), sg.Adam(), sg.RMSprop())
DTYPES = ("float64", "float32")
BP_COMMENT = re.compile(r"^\s*# (BP[1-4])\b(.*)$")
RAW_SYMPY = ("Piecewise(", "Heaviside(", "Derivative(", "Subs(", "Symbol(", "HadamardProduct(")


def comments(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if line.strip().startswith("#")]


def every_builtin_net() -> list[sg.Network]:
    """A 2-3-2 net for every built-in activation as output (and hidden) with every cost that it
    may be declared with; softmax outputs over relu units."""
    acts = [name for name, act in sg.ACTIVATIONS.items() if act.name == name]  # no aliases
    nets = []
    for out, cost in itertools.product(acts, sg.COSTS):
        hidden = "relu" if out == "softmax" else out
        try:
            nets.append(sg.Network.mlp([2, 3, 2], hidden=hidden, output=out, cost=cost))
        except sg.SpecError:  # refused pairs, e.g. sigmoid with cross_entropy
            continue
    return nets


NETS = {
    "xor": sg.Network.mlp([2, 2, 1], hidden="tanh", output="sigmoid", cost="mse"),
    "relu-softmax-ce": sg.Network.mlp([4, 5, 3], "relu", "softmax", "cross_entropy"),
    "softmax-mse": sg.Network.mlp([3, 4, 3], "leaky_relu", "softmax", "mse"),
    "bce-no-bias": sg.Network(
        [sg.Dense(2, 3, "elu", bias=False), sg.Dense(3, 1, "sigmoid")], "binary_cross_entropy"
    ),
    "user-formula": sg.Network(
        [sg.Dense(2, 2, sg.Activation.from_formula("mish", "z*tanh(softplus(z))"))],
        sg.Cost.from_formula("logcosh", "log(cosh(a - y))"),
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(NETS))
def test_each_bp_comment_is_the_text_of_its_equation(name: str, shape: str) -> None:
    net = NETS[name]
    d = sg.derive(net)
    equations: dict[str, set[str]] = {}
    for label, _, eq in d.labelled_equations():
        equations.setdefault(label, set()).add(equation_text(eq, d))
    for opt in (sg.SGD(), sg.Adam()):  # SGD's step in the blas GEMM, and a step of its own
        seen = set()
        for line in comments(sg.generate(net, opt, shape=shape).source):
            match = BP_COMMENT.match(line)
            if match is None:
                continue
            label, rest = match.groups()
            assert rest.startswith(": "), line  # "# BP2: <the equation>", nothing else
            assert rest[2:] in equations[label], (line, equations[label])
            seen.add(rest[2:])
        assert seen == set().union(*equations.values()), "an equation has no line of code"


def test_no_comment_prints_raw_sympy() -> None:
    nets = every_builtin_net()
    outputs = {net.layers[-1].act.name for net in nets}
    costs = {net.cost.name for net in nets}
    assert outputs >= {"relu", "softmax", "elu", "silu", "sigmoid"} and len(costs) == len(sg.COSTS)
    cases = itertools.product(nets, SHAPES, OPTIMIZERS, DTYPES)
    for net, shape, opt, dtype in cases:
        code = sg.generate(net, opt, dtype, shape=shape)
        for line in comments(code.source):
            bad = [raw for raw in RAW_SYMPY if raw in line]
            assert not bad, f"{net.describe()}, {shape}, {opt.name}, {dtype}: {line}"
