"""derive() against hand-written formulas, sympy.diff of the expanded cost, and finite differences."""

from __future__ import annotations

import pytest
import sympy as sp

import symgrad as sg
from symgrad.net.ops import ACTIVATIONS, COSTS

SMOOTH_OR_PIECEWISE = [n for n in ACTIVATIONS if n not in ("softmax", "swish", "linear")]


def corpus() -> list[tuple[str, str, str]]:
    """(hidden, output, cost) for every built-in activation x every cost it supports."""
    cases = []
    for act in SMOOTH_OR_PIECEWISE:
        for cost in COSTS:
            if cost == "cross_entropy":  # softmax's own cost: with softmax below
                continue
            output = (
                act
                if not COSTS[cost].needs_probability or ACTIVATIONS[act].probability
                else "sigmoid"
            )
            cases.append((act, output, cost))
    cases += [("tanh", "softmax", cost) for cost in COSTS]
    return cases


@pytest.fixture(scope="module")
def chain() -> sg.Derivation:
    return sg.derive(sg.Network.mlp([1, 1, 1, 1], "sigmoid", "sigmoid", "quadratic"))


def test_3b1b_last_weight_is_the_three_factor_product(chain: sg.Derivation) -> None:
    d = chain
    a2, a3, y = d.symbol("a2", 0), d.symbol("a3", 0), d.symbol("y", 0)
    p = d.partial("W3", 0, 0)
    sigma_prime = a3 * (1 - a3)  # sigma'(z3) written with a3 = sigma(z3)
    assert sp.simplify(p.expr - a2 * sigma_prime * 2 * (a3 - y)) == 0
    # the same with sigma'(z) in z: substitute a3 = sigma(z3)
    z3 = d.symbol("z3", 0)
    sig = 1 / (1 + sp.exp(-z3))
    in_z = p.expr.xreplace({a3: sig})
    assert sp.simplify(in_z - a2 * sp.diff(sig, z3) * 2 * (sig - y)) == 0


def test_3b1b_last_bias_has_one_in_place_of_a(chain: sg.Derivation) -> None:
    d = chain
    a3, y = d.symbol("a3", 0), d.symbol("y", 0)
    p = d.partial("b3", 0)
    assert sp.simplify(p.expr - a3 * (1 - a3) * 2 * (a3 - y)) == 0


def test_3b1b_steps_read_dz_dw_then_da_dz_then_dc_da(chain: sg.Derivation) -> None:
    d = chain
    s = d.sym
    p = d.partial("W3", 0, 0)
    w, z, a = d.symbol("W3", 0, 0), d.symbol("z3", 0), d.symbol("a3", 0)
    kinds = [step.kind for step in p.steps]
    assert kinds == ["chain", "local", "local", "cost", "closed"]
    assert p.steps[0].factors == (s.d(z, w), s.d(a, z), s.d(s.C, a))
    a2, y = d.symbol("a2", 0), d.symbol("y", 0)
    closed = p.steps[-1].factors
    assert len(closed) == 3
    assert closed[0] == a2
    assert sp.simplify(closed[1] - a * (1 - a)) == 0
    assert sp.simplify(closed[2] - 2 * (a - y)) == 0
    # each local derivative is evaluated in its own step, in the chain's order
    assert [st.lhs for st in p.steps[1:4]] == [s.d(z, w), s.d(a, z), s.d(s.C, a)]


def test_half_quadratic_drops_the_two() -> None:
    d = sg.derive(sg.Network.mlp([1, 1, 1, 1], "sigmoid", "sigmoid", "half_quadratic"))
    a2, a3, y = d.symbol("a2", 0), d.symbol("a3", 0), d.symbol("y", 0)
    assert sp.simplify(d.partial("W3", 0, 0).expr - a2 * a3 * (1 - a3) * (a3 - y)) == 0


def test_hidden_layer_dc_da_is_a_sum_over_paths() -> None:
    d = sg.derive(sg.Network.mlp([2, 2, 3], "tanh", "sigmoid", "quadratic"))
    p = d.partial("W1", 1, 0)
    paths = [st for st in p.steps if st.kind == "paths"]
    assert paths and paths[0].lhs == d.sym.d(d.sym.C, d.symbol("a1", 1))
    assert len(paths[0].forms[-1]) == 3  # one term per unit of layer 2


@pytest.mark.parametrize("hidden,output,cost", corpus(), ids=lambda v: str(v))
@pytest.mark.parametrize("sizes", [[1, 1, 1, 1], [2, 2, 1]], ids=["chain", "2-2-1"])
def test_product_multiplies_the_factors_the_steps_derived(
    hidden: str, output: str, cost: str, sizes: list[int]
) -> None:
    # the "multiply" line once expanded the fused dC/dz = a - y back into its raw factors
    sizes = [*sizes[:-1], 3] if output == "softmax" else sizes
    d = sg.derive(sg.Network.mlp(sizes, hidden, output, cost))
    for p in d.partials():
        *steps, closed = p.steps
        # what the steps derived: their values, and each factor they wrote
        values = {st.expr for st in steps}
        values |= {f for st in steps for form in st.forms for term in form for f in term}
        if max(sizes[1:]) == 1:
            # one path to C: every factor of the product is the value of a step, as derived
            for factor in closed.factors:
                assert factor in values or factor.is_Symbol or factor == 1, (p.name, factor)
        if d.fused:
            L = d.net.L
            a_out = [d.symbol(f"a{L}", j) for j in range(d.net.sizes[-1])]
            denominator = sp.denom(sp.together(closed.expr))
            assert not denominator.has(*a_out), (p.name, closed.expr)


@pytest.mark.parametrize("hidden,output,cost", corpus(), ids=lambda v: str(v))
def test_composition_equals_sympy_diff_of_expanded_cost(
    hidden: str, output: str, cost: str
) -> None:
    sizes = [2, 2, 2] if output == "softmax" else [2, 2, 1]
    report = sg.derive(sg.Network.mlp(sizes, hidden, output, cost)).check(
        symbolic=True, numeric_points=1
    )
    assert report.ok, report.table()
    assert set(report.methods()) == {"symbolic", "numeric", "backprop"}


def test_3_4_3_sigmoid_symbolic() -> None:
    report = sg.derive(sg.Network.mlp([3, 4, 3], "sigmoid", "sigmoid", "quadratic")).check()
    assert report.ok and "symbolic" in report.methods()


def test_user_formulas_derive_and_check() -> None:
    swish = sg.Activation.from_formula("swish2", "z*sigmoid(z)")
    logcosh = sg.Cost.from_formula("logcosh", "log(cosh(a - y))")
    net = sg.Network([sg.Dense(2, 2, swish), sg.Dense(2, 1, "identity")], logcosh)
    assert sg.derive(net).check(symbolic=True, numeric_points=1).ok


@pytest.mark.parametrize(
    "sizes,hidden,output,cost",
    [
        ([4, 16, 16, 3], "tanh", "softmax", "cross_entropy"),
        ([5, 8, 8, 2], "relu", "sigmoid", "binary_cross_entropy"),
        ([3, 6, 4, 2], "softplus", "identity", "mse"),
    ],
)
def test_larger_nets_numerically(sizes: list[int], hidden: str, output: str, cost: str) -> None:
    report = sg.derive(sg.Network.mlp(sizes, hidden, output, cost)).check(numeric_points=2)
    assert report.ok, report.table()
    assert "symbolic" not in report.methods()


def test_wide_net_derives_without_expanding() -> None:
    net = sg.Network.mlp([1024] * 12, "relu", "softmax", "cross_entropy")
    d = sg.derive(net)
    p = d.partial("W1", 3, 5)
    assert p.expr.has(sp.Sum)
    assert p.steps[-1].kind == "closed"
    assert len(d.equations()) == 1 + 10 + 11 + 11
    with pytest.raises(sg.DerivationError, match="expand"):
        p.expanded()
    report = d.check(params=[("W11", (0, 0)), ("b1", (3,))], numeric_points=0)
    assert report.ok


def test_softmax_with_cross_entropy_is_fused() -> None:
    d = sg.derive(sg.Network.mlp([2, 3], "tanh", "softmax", "cross_entropy"))
    a, y = d.symbol("a1", 1), d.symbol("y", 1)
    p = d.partial("b1", 1)
    assert sp.simplify(p.expr - (a - y)) == 0
    assert d.fused


def test_sigmoid_with_binary_cross_entropy_is_fused() -> None:
    d = sg.derive(sg.Network.mlp([2, 1], "tanh", "sigmoid", "binary_cross_entropy"))
    assert sp.simplify(d.partial("b1", 0).expr - (d.symbol("a1", 0) - d.symbol("y", 0))) == 0


def test_forward_form_derivatives() -> None:
    a, z = sp.Symbol("a", real=True), sp.Symbol("z", real=True)
    assert sp.simplify(ACTIVATIONS["sigmoid"].derivative - a * (1 - a)) == 0
    assert sp.simplify(ACTIVATIONS["tanh"].derivative - (1 - a**2)) == 0
    for act in ACTIVATIONS.values():
        if act.is_softmax:
            continue
        # the forward form equals SymPy's derivative once a = f(z) is put back
        diff = act.derivative_z - sp.diff(act.expr, z)
        for value in (-1.7, -0.3, 0.4, 2.2):
            assert abs(float(diff.subs(z, value))) < 1e-12, act.name
