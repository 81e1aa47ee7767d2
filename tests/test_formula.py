"""The whitelist formula parser: what it accepts, what it rejects, and that it never runs code."""

from __future__ import annotations

import contextlib
import os

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.net.formula import MAX_LENGTH, parse_formula
from symgrad.net.ops import a, z

Z = sp.Symbol("z", real=True)
A = sp.Symbol("a", real=True)
Y = sp.Symbol("y", real=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("z", Z),
        ("2*z + 1", 2 * Z + 1),
        ("z**2 - z/3", Z**2 - Z / 3),
        ("-z", -Z),
        ("+z", Z),
        ("((z))", Z),
        ("exp(-z)", sp.exp(-Z)),
        ("log(1 + exp(z))", sp.log(1 + sp.exp(Z))),
        ("tanh(z)", sp.tanh(Z)),
        ("z*sigmoid(z)", Z / (1 + sp.exp(-Z))),
        ("softplus(z)", sp.log(1 + sp.exp(Z))),
        ("max(z, 0)", sp.Max(Z, 0)),
        ("sqrt(z**2 + 1)", sp.sqrt(Z**2 + 1)),
        ("log1p(z**2)", sp.log(1 + Z**2)),
        ("pi*z + e", sp.pi * Z + sp.E),
        ("0.5*z", sp.Float(0.5) * Z),
        ("2**64", sp.Integer(2) ** 64),
        ("abs(z)", sp.Abs(Z)),
    ],
)
def test_accepted_formulas_map_to_sympy(text: str, expected: sp.Expr) -> None:
    assert parse_formula(text, {"z"}) == expected


def test_cost_variables() -> None:
    assert parse_formula("log(cosh(a - y))", {"a", "y"}) == sp.log(sp.cosh(A - Y))
    with pytest.raises(sg.SpecError, match=r"unknown name 'z'; the formula may use 'a', 'y'"):
        parse_formula("z", {"a", "y"})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("q + z", r"unknown name 'q'; the formula may use 'z', pi and e"),
        ("z.real", r"attribute access '\.real' is not allowed"),
        ("z.__class__", r"attribute access '\.__class__' is not allowed"),
        ("__import__", r"name '__import__' is not allowed"),
        ("__builtins__", r"name '__builtins__' is not allowed"),
        ("open(z)", r"function 'open' is not allowed; the allowed functions are abs, .*tanh"),
        ("eval(z)", r"function 'eval' is not allowed"),
        ("exp", r"function 'exp' must be called, e\.g\. 'exp\(\.\.\.\)'"),
        ("exp(z, z)", r"exp\(\) takes 1 argument"),
        ("max(z)", r"max\(\) takes 2 arguments"),
        ("exp(x=z)", r"exp\(\) takes no keyword arguments"),
        ("exp(*z)", r"exp\(\) takes 1 argument"),
        ("lambda z: z", r"Lambda is not allowed"),
        ("[z for z in z]", r"ListComp is not allowed"),
        ("{z: z}", r"Dict is not allowed"),
        ("z[0]", r"Subscript is not allowed"),
        ("'z'", r"constant 'z' is not a number"),
        ("b'z'", r"is not a number"),
        ("f'{z}'", r"JoinedStr is not allowed"),
        ("True", r"constant True is not a number"),
        ("1j*z", r"constant 1j is not a number"),
        ("z if z else 1", r"IfExp is not allowed"),
        ("z < 1", r"Compare is not allowed"),
        ("z // 2", r"operator FloorDiv is not allowed; use \+ - \* / \*\*"),
        ("z % 2", r"operator Mod is not allowed"),
        ("z @ z", r"operator MatMult is not allowed"),
        ("z ^ 2", r"uses '\^'; write powers as '\*\*'"),
        ("9**9**9", r"exponent 387420489 is too large \(limit 64\)"),
        ("z**100", r"exponent 100 is too large"),
        ("(((999999999999**64)**64)**64)**64", r"more than 1000 digits"),
        ("1e400", r"too large"),
        ("(z := 1)", r"NamedExpr is not allowed"),
        ("z; z", r"is not a valid formula"),
        ("import os", r"is not a valid formula"),
        ("", r"is empty; write a formula in z"),
        ("   ", r"is empty"),
        ("\x00", r"is not a valid formula"),
        ("heaviside(z)", r"heaviside\(\) is a step function.*sigmoid\(z\) or tanh\(z\)"),
        ("sign(z)", r"sign\(\) is a step function"),
        ("floor(z)", r"floor\(\) is a step function"),
        ("z" + "+z" * MAX_LENGTH, rf"characters long; the limit is {MAX_LENGTH}"),
        ("exp(" * 60 + "z" + ")" * 60, r"nested more than 40 levels deep"),
        ("-" * 200 + "z", r"nested more than 40 levels deep"),
        ("(" * 500 + "z" + ")" * 500, r"characters long"),
    ],
)
def test_rejected_formulas(text: str, match: str) -> None:
    with pytest.raises(sg.SpecError, match=match):
        parse_formula(text, {"z"})


def test_redundant_parentheses_are_not_nesting() -> None:
    assert parse_formula("(" * 120 + "z" + ")" * 120, {"z"}) == Z


def test_non_string_is_rejected() -> None:
    with pytest.raises(sg.SpecError, match=r"must be a string such as 'z\*sigmoid\(z\)', got int"):
        parse_formula(3, {"z"})  # type: ignore[arg-type]


def test_formula_never_executes(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    attacks = [
        "__import__('os').system('touch X')",
        "exp(__import__('os').system('touch X'))",
        "[c for c in ().__class__.__base__.__subclasses__()]",
        "open('X', 'w')",
        "(lambda: __import__('os').system('touch X'))()",
    ]
    for text in attacks:
        with pytest.raises(sg.SpecError):
            sg.Activation.from_formula("evil", text)
        with pytest.raises(sg.SpecError):
            sg.Cost.from_formula("evil", text)
    assert not (tmp_path / "X").exists()
    assert os.listdir(tmp_path) == []


# -- user activations get derivatives in the forward value a ----------------------------------------
def _same(f: sp.Expr, g: sp.Expr, act: sg.Activation) -> bool:
    """f and g agree as functions of z once a = act(z) is put in (checked at sample points)."""
    for v in (-2.5, -0.3, 0.7, 1.9):
        fv = f.xreplace({a: act.expr}).subs(z, v).evalf()
        gv = g.xreplace({a: act.expr}).subs(z, v).evalf()
        if abs(fv - gv) > 1e-12:
            return False
    return True


def test_sigmoid_like_formula_gets_a_times_one_minus_a() -> None:
    act = sg.Activation.from_formula("logistic", "1/(1 + exp(-z))")
    assert not act.derivative.has(z)
    assert sp.expand(act.derivative - a * (1 - a)) == 0
    assert act.probability  # a log-based cost may follow it
    sg.Network.mlp([2, 1], output=act, cost="binary_cross_entropy")


def test_softplus_formula_gets_one_minus_exp_minus_a() -> None:
    act = sg.Activation.from_formula("my_softplus", "log(1+exp(z))")
    assert act.derivative == 1 - sp.exp(-a)
    assert _same(act.derivative, sp.diff(act.expr, z), act)


def test_tanh_formula_gets_one_minus_a_squared() -> None:
    act = sg.Activation.from_formula("my_tanh", "(exp(z) - exp(-z))/(exp(z) + exp(-z))")
    assert sp.expand(act.derivative - (1 - a**2)) == 0


def test_swish_formula_derivative_is_correct() -> None:
    act = sg.Activation.from_formula("my_swish", "z*sigmoid(z)")
    assert _same(act.derivative, sp.diff(act.expr, z), act)


def test_user_cost_derivative() -> None:
    cost = sg.Cost.from_formula("logcosh", "log(cosh(a - y))")
    assert sp.simplify(cost.dC_da - sp.tanh(a - sp.Symbol("y", real=True))) == 0
    assert not cost.needs_probability  # log(cosh(.)) is defined for every a
    sg.Network.mlp([2, 1], output="identity", cost=cost)


# -- fuzzing: only SpecError may escape -----------------------------------------------------------
TOKENS = [
    "z", "a", "y", "q", "1", "2", "0.5", "1e9", "64", "pi", "e", "+", "-", "*", "/", "**", "^",
    "(", ")", ",", "exp", "log", "tanh", "sigmoid", "max", "abs", "sqrt", "heaviside", "sign",
    "__import__", ".", "real", "'os'", "lambda", ":", "[", "]", "for", "in", "if", "else", "=",
    " ", "9**9", "\n", ";", "@", "%", "//", "<", "not", "**-1",
]  # fmt: skip


def _only_spec_error(text: str) -> None:
    for parse in (
        lambda: parse_formula(text, {"z"}),
        lambda: sg.Activation.from_formula("fuzz", text),
        lambda: sg.Cost.from_formula("fuzz", text),
    ):
        with contextlib.suppress(sg.SpecError):
            parse()


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=60))
def test_fuzz_random_text(text: str) -> None:
    _only_spec_error(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=14))
def test_fuzz_grammar_tokens(tokens: list[str]) -> None:
    _only_spec_error("".join(tokens))
