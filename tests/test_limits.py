"""Bounded work and wrong input through the Python API: each fails in seconds, as one SpecError.

Short formulas once took minutes (five nested abs: 36 characters; thirty nested sigmoids), a
deep narrow net's expansion ran for minutes, and wrong argument types raised TypeError,
ValueError or OverflowError that named no argument.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import symgrad as sg
from symgrad import limits
from symgrad.net import analysis, formula
from symgrad.verify import numeric, proof


def _nested(fn: str, depth: int, inner: str = "z") -> str:
    for _ in range(depth):
        inner = f"{fn}({inner})"
    return inner


@pytest.mark.parametrize(
    "formula",
    [
        "abs(abs(abs(abs(abs(z-1)-1)-1)-1)-1)",  # 36 characters, 32 branches
        "abs(z) + abs(z-1) + max(z, 0) + min(z, 1)",
        _nested("sigmoid", 30),
    ],
    ids=["abs5", "branches4", "sigmoid30"],
)
def test_costly_formulas_fail_in_seconds(formula: str) -> None:
    started = time.perf_counter()
    with pytest.raises(sg.SpecError, match=r"simpler formula|nested too deeply"):
        sg.Activation.from_formula("f", formula)
    assert time.perf_counter() - started < 5


def test_formula_work_is_bounded_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # four nested abs pass the structural limits' spirit but fold for over 10 s: the clock stops it
    monkeypatch.setattr(analysis, "FORMULA_SECONDS", 0.3)
    monkeypatch.setattr(formula, "MAX_BRANCHES", 8)
    started = time.perf_counter()
    with pytest.raises(limits.WorkLimitExceeded, match="takes too long"):
        sg.Activation.from_formula("f", "abs(abs(abs(abs(z-1)-1)-1)-1)")
    assert time.perf_counter() - started < 3
    assert sg.Activation.from_formula("g", "abs(z) + 1").name == "g"  # the timer is off again


@pytest.mark.parametrize("formula", ["1/z", "log(abs(z))", "sqrt(abs(z))", "z + 1/z"])
def test_activation_singular_at_zero_is_refused(formula: str) -> None:
    # training starts at zero biases: z = 0 is where it is most likely, not least
    with pytest.raises(sg.SpecError, match="z = 0"):
        sg.Activation.from_formula("f", formula)


def test_deep_expansion_fails_in_seconds() -> None:
    d = sg.derive(sg.Network.mlp([1, 2, 2, 2, 2, 2, 2, 1]))
    started = time.perf_counter()
    with pytest.raises(sg.DerivationError, match="too deep or wide"):
        d.partial("W1", 0, 0).expanded()
    with pytest.raises(sg.DerivationError, match="select fewer"):
        d.to_text(expand=True)
    assert time.perf_counter() - started < 5
    assert "tanh" not in d.to_text(param="W7", index=(0, 0), expand=True)  # one is fine


# ------------------------------------------------------------------------------------------------
# The symbolic judge never reports a failure it has not found
# ------------------------------------------------------------------------------------------------
def test_symbolic_judge_proves_an_algebraic_cost() -> None:
    # sqrt(1 + (a - y)**2) - 1 was reported FAILED with the other judges agreeing to 1e-10
    cost = sg.Cost.from_formula("pseudo_huber", "sqrt(1 + (a - y)**2) - 1")
    report = sg.derive(sg.Network.mlp([2, 2, 1], "tanh", "sigmoid", cost)).check()
    assert report.ok and not report.unproven(), report.table()


@pytest.mark.parametrize("formula", ["abs(z) + abs(z - 1) + abs(z - 2)", "max(z, 0)*min(z, 1)"])
def test_symbolic_judge_splits_branches_at_every_break_point(formula: str) -> None:
    act = sg.Activation.from_formula("kinked", formula)
    report = sg.derive(sg.Network.mlp([2, 2, 1], act, "sigmoid")).check()
    assert report.ok and not report.unproven(), report.table()


def test_undecided_is_not_proven_rather_than_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proof, "_rational_zero", lambda expr: False)
    report = sg.derive(sg.Network.mlp([1, 1], "tanh", "tanh")).check()
    assert report.ok and len(report.unproven()) == 2
    row = next(line for line in report.table().splitlines() if line.startswith("symbolic"))
    assert "not proven symbolically for 2" in row and "did not cancel" in row
    assert "FAILED" not in report.table()


def test_a_wrong_derivative_is_found_at_a_point(monkeypatch: pytest.MonkeyPatch) -> None:
    d = sg.derive(sg.Network.mlp([1, 1], "tanh", "tanh"))
    real = d.partial

    def wrong(name: str, *index: int) -> sg.Partial:
        p = real(name, *index)
        return sg.Partial(p.name, p.index, p.param, 1.01 * p.expr, p.steps, d)

    monkeypatch.setattr(d, "partial", wrong)
    report = d.check(numeric_points=0)
    assert not report.ok and "FAILED (differs by" in report.table()


def test_proof_time_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proof, "PROOF_SECONDS", 0.05)
    monkeypatch.setattr(proof, "_rational_zero", lambda expr: time.sleep(1) or True)
    report = sg.derive(sg.Network.mlp([2, 2, 1], "tanh", "sigmoid")).check(numeric_points=1)
    assert report.ok and report.unproven()
    assert "took more than" in report.table()


def test_check_says_when_it_leaves_out_the_symbolic_judge() -> None:
    report = sg.derive(sg.Network.mlp([4, 8, 2], "tanh", "sigmoid")).check(numeric_points=1)
    assert "symbolic" in report.table() and "skipped: the network has 58 parameters" in (
        report.table()
    )
    forced_off = sg.derive(sg.Network.mlp([1, 1], "tanh", "tanh")).check(symbolic=False)
    assert "symbolic" not in forced_off.table()  # asked for: no row


# ------------------------------------------------------------------------------------------------
# Wrong input through the Python API: one SpecError naming the argument
# ------------------------------------------------------------------------------------------------
NET = sg.Network.mlp([2, 2, 1], hidden="tanh", output="sigmoid", cost="binary_cross_entropy")
PARAMS = numeric.init_params(NET)
X, Y = np.zeros((4, 2)), np.array([[0.0], [1.0], [1.0], [0.0]])

API_CASES = {
    "mlp(None)": (lambda: sg.Network.mlp(None), "sizes"),
    "mlp('23')": (lambda: sg.Network.mlp("23"), "sizes"),
    "explain(ragged x)": (lambda: sg.derive(NET).explain([[1], [2, 3]], [1], PARAMS), "x"),
    "nudge(size='a')": (lambda: sg.nudge(NET, [1, 2], [1], PARAMS, "W1", 0, 0, size="a"), "size"),
    "nudge(index='0')": (lambda: sg.nudge(NET, [1, 2], [1], PARAMS, "W1", "0", 0), "index"),
    "descend(steps=-1)": (lambda: sg.descend("x**2", 1.0, 0.1, -1), "steps"),
    "descend(steps=10**9)": (lambda: sg.descend("x**2", 1.0, 0.1, 10**9), "steps"),
    "descend(x0='a')": (lambda: sg.descend("x**2", "a", 0.1, 3), "x0"),
    "descend(lr=nan)": (lambda: sg.descend("x**2", 1.0, float("nan"), 3), "lr"),
    "descend(sqrt(-1))": (lambda: sg.descend("x + sqrt(-1)", 1.0, 0.1, 3), "not a real"),
    "descend(log(-1))": (lambda: sg.descend("x*log(-1)", 1.0, 0.1, 3), "not a real"),
    "load_data(None)": (lambda: sg.load_data(None), "data"),
    "load_spec(None)": (lambda: sg.load_spec(None), "spec"),
    "check(points=10**9)": (lambda: sg.derive(NET).check(numeric_points=10**9), "numeric_points"),
    "check(points=-1)": (lambda: sg.derive(NET).check(numeric_points=-1), "numeric_points"),
    "check(params=W9)": (lambda: sg.derive(NET).check(params=[("W9", (0, 0))]), "W9"),
    "check(tolerance=0)": (lambda: sg.derive(NET).check(tolerance=0), "tolerance"),
    "to_text(advice=x)": (lambda: sg.derive(NET).to_text(advice="x"), "advice"),
}


@pytest.mark.parametrize("case", list(API_CASES), ids=list(API_CASES))
def test_wrong_input_is_one_spec_error(case: str) -> None:
    call, named = API_CASES[case]
    with pytest.raises(sg.SpecError, match=named):
        call()


@pytest.fixture(scope="module")
def model() -> sg.Model:
    return sg.compile(NET, sg.SGD(0.5))


MODEL_CASES = {
    "fit(seed=-1)": (lambda m: m.fit(X, Y, seed=-1), "seed"),
    "fit(seed=1.5)": (lambda m: m.fit(X, Y, seed=1.5), "seed"),
    "fit(seed='a')": (lambda m: m.fit(X, Y, seed="a"), "seed"),
    "fit(epochs=2.0)": (lambda m: m.fit(X, Y, epochs=2.0), "epochs"),
    "fit(batch_size=0)": (lambda m: m.fit(X, Y, batch_size=0), "batch_size"),
    "fit(shuffle='no')": (lambda m: m.fit(X, Y, shuffle="no"), "shuffle"),
    "fit(ragged X)": (lambda m: m.fit([[1, 2], [3]], Y[:2]), "X is not a rectangular"),
    "fit(ragged Y)": (lambda m: m.fit(X, [[0], [1, 2], [0], [1]]), "Y is not a rectangular"),
    "fit(text X)": (lambda m: m.fit([["a", "b"]], [[1]]), "X must hold real numbers"),
    "fit(complex X)": (lambda m: m.fit(X + 1j, Y), "X must hold real numbers"),
    "fit(labels -1)": (lambda m: m.fit(X, np.array([-1, 1, 1, 0])), r"Y holds -1.*\[0, 1\]"),
    "fit(targets 2.0)": (lambda m: m.fit(X, 2 * Y), r"Y holds 2.*\[0, 1\]"),
    "init(seed=-1)": (lambda m: m.init(seed=-1), "seed"),
    "set_params(ragged)": (
        lambda m: m.set_params({**PARAMS, "W1": [[1, 2], [3]]}),
        "parameter W1 is not a rectangular",
    ),
    "predict(None)": (lambda m: m.predict(None), "X must hold real numbers"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(MODEL_CASES), ids=list(MODEL_CASES))
def test_wrong_input_to_a_model_is_one_spec_error(case: str, model: sg.Model) -> None:
    call, named = MODEL_CASES[case]
    with pytest.raises(sg.SpecError, match=named):
        call(model)
