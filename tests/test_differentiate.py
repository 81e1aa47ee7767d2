"""``sg.differentiate``: a local derivative derived rule by rule, judged by ``sympy.diff``.

Every built-in activation and cost and several user formulas: the final form equals
``sympy.diff`` at random points, every single step is an equality, the rules are named right on
small cases, bad formulas are one SpecError line, and the documents and ``symgrad derive
--local-steps`` show the steps.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sympy as sp

import symgrad as sg
from symgrad.calculus.rules import LocalStep
from symgrad.cli import main
from symgrad.net.formula import FUNCTIONS, parse_formula
from symgrad.net.named import expand_named
from symgrad.net.variables import a as A
from symgrad.net.variables import z as Z

ROOT = Path(__file__).resolve().parent.parent
CHAIN = str(ROOT / "examples" / "chain.toml")

ACTIVATION_NAMES = sorted({act.name for act in sg.ACTIVATIONS.values()})
COST_NAMES = sorted(sg.COSTS)
USER_ACTIVATIONS = [
    "z*tanh(softplus(z))",
    "z*sigmoid(z)",
    "exp(-z**2)",
    "z/(1+abs(z))",
    "log1p(z**2) + atan(z)",
    "max(z, 0.1*z) + min(z, 0)",
    "sqrt(1 + z**2) * erf(z/2)",
    "sin(z)*cos(2*z) + tan(z/4) + sinh(z/3)/cosh(z)",
    "asinh(3*z) / (2 + z**2) - 2**z",
]
USER_COSTS = ["log(cosh(a - y))", "-y*log(a)", "(a - y)**4 / 4 + abs(a - y)"]


# -- the judge: values at random points, to 30 digits ----------------------------------------------
def _sample(sym: sp.Symbol, rng: random.Random) -> sp.Float:
    """A value away from the kinks at 0: the output a and the target y of a cost in (0, 1)."""
    if sym.name == "a":
        return sp.Float(rng.uniform(0.05, 0.95), 30)
    if sym.name == "y":
        return sp.Float(rng.uniform(0.0, 1.0), 30)
    if sym.name == "S":
        return sp.Float(rng.uniform(0.5, 3.0), 30)
    return sp.Float(rng.choice((-1, 1)) * rng.uniform(0.2, 3.0), 30)


def _value(expr: sp.Basic, point: dict[sp.Symbol, sp.Float]) -> complex:
    # DiracDelta away from 0 is 0: sympy.diff writes the jump of sign(z) with it
    return complex(sp.N(expand_named(expr).xreplace(point), 30))


def assert_equal_at_random_points(lhs: sp.Basic, rhs: sp.Basic, points: int = 6) -> None:
    rng = random.Random(7)
    symbols = sorted((lhs.free_symbols | rhs.free_symbols) - {sp.pi, sp.E}, key=lambda s: s.name)
    for _ in range(points):
        point = {s: _sample(s, rng) for s in symbols}
        left, right = _value(lhs, point), _value(rhs, point)
        assert abs(left - right) <= 1e-12 * (1 + abs(left)), (lhs, rhs, point, left, right)


def final_in_var(ld: sg.LocalDerivation) -> sp.Expr:
    """The last form, the output ``a`` substituted back."""
    out = ld.result
    for step in ld.steps:
        out = out.xreplace(dict(step.given))
    return out


def every_step(ld: sg.LocalDerivation) -> Iterator[LocalStep]:
    for root in ld.steps:
        for _, step in root.walk():
            yield step


def assert_steps_are_equalities(ld: sg.LocalDerivation) -> None:
    for step in every_step(ld):
        if step.rewrite:
            assert_equal_at_random_points(step.expr, step.result.xreplace(dict(step.given)))
        else:
            judge = sp.diff(expand_named(step.expr), step.var)
            assert_equal_at_random_points(judge, step.result)


# -- every built-in activation and cost, and user formulas -----------------------------------------
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_builtin_activation_matches_sympy_diff(name: str) -> None:
    act = sg.ACTIVATIONS[name]
    ld = sg.differentiate(act)
    assert ld.kind == "activation" and ld.var == Z
    assert_equal_at_random_points(final_in_var(ld), sp.diff(ld.function, Z))
    if not act.is_softmax:  # softmax's own unit: exp(z)/(exp(z) + S)
        assert ld.function == act.expr
    assert_steps_are_equalities(ld)
    if act.derivative.has(A):  # the registry's forward form is reused, not found again
        assert ld.result == act.derivative and ld.output == A


@pytest.mark.parametrize("name", COST_NAMES)
def test_builtin_cost_matches_sympy_diff(name: str) -> None:
    cost = sg.COSTS[name]
    ld = sg.differentiate(cost)
    assert ld.kind == "cost" and ld.var == A and ld.output is None
    assert_equal_at_random_points(ld.result, sp.diff(cost.expr, A))
    assert_equal_at_random_points(ld.result, cost.dC_da)
    assert_steps_are_equalities(ld)


@pytest.mark.parametrize("formula", USER_ACTIVATIONS)
def test_user_formula_matches_sympy_diff(formula: str) -> None:
    ld = sg.differentiate(formula)
    plain = parse_formula(formula, {"z"})  # sigmoid and softplus written out: an independent judge
    assert_equal_at_random_points(final_in_var(ld), sp.diff(plain, Z))
    assert_steps_are_equalities(ld)


@pytest.mark.parametrize("formula", USER_COSTS)
def test_user_cost_matches_sympy_diff(formula: str) -> None:
    plain = parse_formula(formula, {"a", "y"})
    for ld in (
        sg.differentiate(formula, var="a"),
        sg.differentiate(sg.Cost.from_formula("mine", formula)),
    ):
        assert_equal_at_random_points(ld.result, sp.diff(plain, A))
        assert_steps_are_equalities(ld)


def test_user_activation_and_sympy_expression() -> None:
    mish = sg.Activation.from_formula("mish", "z*tanh(softplus(z))")
    ld = sg.differentiate(mish)
    assert ld.name == "mish" and ld.steps[0].rule == "product"
    assert_equal_at_random_points(final_in_var(ld), sp.diff(mish.expr, Z))
    x = sp.Symbol("x")  # any symbol: made real, as the parser makes them
    ld = sg.differentiate(x**3 * sp.exp(-x), var="x")
    assert_equal_at_random_points(ld.result, sp.diff(sp.Symbol("x", real=True) ** 3 * sp.exp(
        -sp.Symbol("x", real=True)), sp.Symbol("x", real=True)))  # fmt: skip
    assert_steps_are_equalities(ld)


def test_every_whitelisted_function_has_its_rule() -> None:
    rule_of = {"log1p": "log", "abs": "abs", "max": "max", "min": "min"}
    for name, arity in FUNCTIONS.items():
        formula = f"{name}(z, z/2)" if arity == 2 else f"{name}(2*z - 1)"
        ld = sg.differentiate(formula)
        rules = {step.rule for step in every_step(ld)}
        assert rule_of.get(name, name) in rules, (formula, rules)
        assert_steps_are_equalities(ld)


# -- the rules' names on small cases ---------------------------------------------------------------
@pytest.mark.parametrize(
    "formula,rule",
    [
        ("z*exp(z)", "product"),
        ("1/(1+exp(-z))", "quotient"),
        ("tanh(2*z)", "chain"),
        ("3*z**2", "constant multiple"),
        ("z**3", "power"),
        ("z", "power"),
        ("exp(z) + z", "sum"),
        ("exp(z)", "exp"),
        ("log(z**2 + 1)", "chain"),
        ("sigmoid(z)", "sigmoid"),
        ("softplus(z)", "softplus"),
        ("abs(z)", "abs"),
        ("max(z, 0)", "max"),
        ("sqrt(z**2 + 1)", "chain"),
        ("erf(z)", "erf"),
    ],
)
def test_rule_names(formula: str, rule: str) -> None:
    assert sg.differentiate(formula).steps[0].rule == rule


def test_the_chain_rule_names_its_outer_and_inner_parts() -> None:
    step = sg.differentiate("tanh(2*z)").steps[0]
    outer, inner = step.parts
    u = outer.var
    assert outer.rule == "tanh" and outer.expr == sp.tanh(u) and outer.result == 1 - sp.tanh(u) ** 2
    assert inner.rule == "constant multiple" and inner.var == Z and inner.result == 2
    assert sp.tanh(u) in step.why and 2 * Z in step.why  # "outer tanh(u), inner u = 2*z"
    nested = sg.differentiate("exp(sin(z**2))").steps[0]  # a chain in a chain: u, then v
    assert nested.parts[0].var != nested.parts[1].parts[0].var


def test_quotient_and_product_parts() -> None:
    q = sg.differentiate("1/(1+exp(-z))").steps[0]
    assert [p.expr for p in q.parts] == [1, 1 + sp.exp(-Z)]
    p = sg.differentiate("z*exp(z)").steps[0]
    assert [s.rule for s in p.parts] == ["power", "exp"]
    assert p.result == sp.exp(Z) + Z * sp.exp(Z)


def test_relu_like_functions_go_branch_by_branch() -> None:
    relu = sg.differentiate(sg.ACTIVATIONS["relu"]).steps[0]
    assert relu.rule == "piecewise" and [p.rule for p in relu.parts] == ["power", "constant"]
    assert relu.result == sp.Piecewise((1, Z > 0), (0, True))
    assert sg.differentiate("abs(z)").result == sp.sign(Z)
    jump = sg.differentiate(sp.sign(Z) * Z + sp.Heaviside(Z))
    assert {"sign", "heaviside"} <= {s.rule for s in every_step(jump)}
    assert_steps_are_equalities(jump)


# -- rewritten in the output -----------------------------------------------------------------------
def test_written_in_the_output_where_it_can_be() -> None:
    assert sg.differentiate(sg.ACTIVATIONS["sigmoid"]).result == A * (1 - A)
    assert sg.differentiate(sg.ACTIVATIONS["tanh"]).result == 1 - A**2
    assert sg.differentiate("exp(z)").result == A
    assert sg.differentiate("tanh(z)").result == 1 - A**2
    assert sp.expand(sg.differentiate("sigmoid(z)").result - A * (1 - A)) == 0
    softplus = sg.differentiate(sg.ACTIVATIONS["softplus"])
    named = [s for s in softplus.steps if s.rule == "named"]
    assert (
        named and named[0].result == sg.differentiate("sigmoid(z)").function
    )  # softplus' = sigmoid
    assert softplus.steps[-1].rule == "output"
    none = sg.differentiate("exp(-z**2)")  # no form in a: the derivative stays in z
    assert none.output is None and none.result == none.derivative


# -- bad input: one SpecError line naming the formula and the fix ----------------------------------
@pytest.mark.parametrize(
    "formula,var,says",
    [
        ("foo(z)", None, "'foo(z)'"),
        ("z*x", None, "unknown name 'x'"),
        ("z +* 2", None, "not a valid formula"),
        ("z ^ 2", None, "write powers as '**'"),
        ("y*z", None, "unknown name 'y'"),
        ("2 + 3", None, "does not depend on z"),
        (sp.Symbol("z") * sp.Symbol("w"), None, "more than one variable (z, w)"),
        (sp.besselj(0, sp.Symbol("z")), None, "no rule differentiates besselj"),
        (sp.Function("g")(sp.Symbol("z")), None, "no rule differentiates g"),
        (42, None, "takes a formula"),
        ("z", "exp", "var must be"),
        (sg.ACTIVATIONS["tanh"], "a", "leave out var="),
    ],
)
def test_bad_formulas_are_one_spec_error_line(formula: object, var: str | None, says: str) -> None:
    with pytest.raises(sg.SpecError) as info:
        sg.differentiate(formula, var=var)
    message = str(info.value)
    assert "\n" not in message and says in message, message


# -- the views -------------------------------------------------------------------------------------
def test_every_format_shows_the_steps() -> None:
    ld = sg.differentiate("z*tanh(softplus(z))")
    text = ld.to_text()
    assert "1: product rule" in text and "1.2: chain rule" in text
    assert "outer tanh(u), inner u = softplus(z)" in text
    assert "d/dz (z*tanh(softplus(z))) = " in text and "d/du tanh(u) = 1 - tanh(u)**2" in text
    md = ld.to_markdown()
    assert (
        md.startswith("# ") and "$$" in md and r"\frac{d}{dz}" in md and md == ld._repr_markdown_()
    )
    tex = ld.to_latex()
    assert r"\begin{align*}" in tex and r"\frac{d}{du} \tanh{\left(u \right)}" in tex
    assert ld.to_latex(document=True).startswith(r"\documentclass")
    assert ld._repr_latex_().startswith("$$") and str(ld) == text
    page = ld.to_html()
    assert page.startswith('<details class="local" open>') and "<math" in page
    assert page.count("<table") == sum(1 for _ in every_step(ld))


def test_the_derivation_shows_them_under_the_definitions_on_request() -> None:
    net = sg.Network.mlp([1, 1, 1], hidden="tanh", output="sigmoid", cost="binary_cross_entropy")
    d = sg.derive(net)
    assert "Rule by rule" not in d.to_text()  # the default, and the goldens, are unchanged
    text = d.to_text(local_steps=True, equations=False)
    forward, cost, partials = text.index("Forward pass"), text.index("\nCost\n"), text.index(
        "Partial derivatives")  # fmt: skip
    for head in ("Rule by rule: tanh'(z)", "Rule by rule: sigmoid'(z)"):
        assert forward < text.index(head) < cost
    assert cost < text.index("Rule by rule: dc/da") < partials
    assert "It is the cost of one output unit" in " ".join(text.split())
    assert "Rule by rule" in d.to_markdown(local_steps=True)
    assert r"\sigma'\left(z\right)" in d.to_latex(local_steps=True)
    from symgrad.views.html import to_html

    page = to_html(d, local_steps=True)
    assert page.count('<details class="local"') == 3 and page.count("</details>") >= 3
    assert '<details class="local"' not in to_html(d)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_with_local_steps_compiles(tmp_path: Path) -> None:
    net = sg.Network.mlp([2, 2, 2], hidden="elu", output="softmax", cost="cross_entropy")
    d = sg.derive(net)
    documents = {
        "net.tex": d.to_latex(document=True, local_steps=True, param="W2", equations=False),
        "mish.tex": sg.differentiate("z*tanh(softplus(z)) + max(z, 0)").to_latex(document=True),
    }
    for name, tex in documents.items():
        (tmp_path / name).write_text(tex)
        result = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout[-2000:]


# -- the command line ------------------------------------------------------------------------------
def test_cli_local_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["derive", CHAIN, "--local-steps", "--no-equations", "--param", "W3"])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    assert "Rule by rule: sigmoid'(z)" in out and "1: quotient rule" in out
    assert "Rule by rule: dc/da" in out
    page = tmp_path / "chain.html"
    status = main(
        ["derive", CHAIN, "--local-steps", "--explain", "--sample", "1.5;1", "-o", str(page)]
    )
    capsys.readouterr()
    assert status == 0 and '<details class="local"' in page.read_text()
    assert main(["derive", CHAIN, "--param", "W3"]) == 0
    assert "Rule by rule" not in capsys.readouterr().out


def test_cli_local_steps_with_explain_in_text_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["derive", CHAIN, "--local-steps", "--explain", "--sample", "1.5;1"])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("symgrad: error: ") and "--format html" in err
    assert "Traceback" not in err


def test_public_names() -> None:
    assert {"differentiate", "LocalDerivation"} <= set(sg.__all__)
    assert sg.differentiate.__module__ == "symgrad.calculus.local"
    assert isinstance(sg.differentiate("z"), sg.LocalDerivation)
