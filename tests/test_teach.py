"""Teaching views: chain-rule steps with numbers, the nudge view, gradient descent in 1-D."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest
from chain_case import CHAIN_PARAMS, CHAIN_X, CHAIN_Y, chain_net

import symgrad as sg
from symgrad.verify import numeric
from symgrad.views.descent import Descent, descend, nudge
from symgrad.views.teach import Explanation


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


@pytest.fixture(scope="module")
def chain() -> tuple[sg.Derivation, Explanation]:
    d = sg.derive(chain_net())
    return d, d.explain([CHAIN_X], [CHAIN_Y], CHAIN_PARAMS)


def test_chain_factors_match_the_hand_computation(chain: tuple[sg.Derivation, Explanation]) -> None:
    _, ex = chain
    # Forward pass by hand, z = w a + b and a = sigma(z):
    #   z1 = 0.8 * 1.5 + 0.1 = 1.3              a1 = sigma(1.3)       = 0.785835
    #   z2 = -0.4 * 0.785835 + 0.2 = -0.114334  a2 = sigma(-0.114334) = 0.471448
    #   z3 = 1.2 * 0.471448 - 0.3 = 0.265737    a3 = sigma(0.265737)  = 0.566046
    #   C  = (a3 - y)^2 = (0.566046 - 1)^2 = 0.188316
    z1 = 0.8 * 1.5 + 0.1
    a1 = sigmoid(z1)
    z2 = -0.4 * a1 + 0.2
    a2 = sigmoid(z2)
    z3 = 1.2 * a2 - 0.3
    a3 = sigmoid(z3)
    cost = (a3 - 1.0) ** 2
    # Local derivatives: dC/da3 = 2 (a3 - y), da/dz = sigma'(z) = a (1 - a), dz/dw = a_prev,
    # dz/db = 1, and dz^(l+1)/da^(l) = w^(l+1) carries dC/da back one layer:
    #   dC/da3 = 2 (0.566046 - 1)             = -0.867908
    #   s3 = a3 (1 - a3)                      =  0.245638
    #   dC/da2 = w3 s3 dC/da3 = 1.2 * 0.245638 * -0.867908   = -0.255829
    #   s2 = a2 (1 - a2)                      =  0.249185
    #   dC/da1 = w2 s2 dC/da2 = -0.4 * 0.249185 * -0.255829  =  0.0254995
    #   s1 = a1 (1 - a1)                      =  0.168298
    # Each partial is dz/dp * da/dz * dC/da:
    #   dC/dw1 = 1.5 * 0.168298 * 0.0254995        =  0.00643729
    #   dC/dw2 = 0.785835 * 0.249185 * -0.255829   = -0.050096
    #   dC/dw3 = 0.471448 * 0.245638 * -0.867908   = -0.100508
    dC_da3 = 2 * (a3 - 1.0)
    s3 = a3 * (1 - a3)
    dC_da2 = 1.2 * s3 * dC_da3
    s2 = a2 * (1 - a2)
    dC_da1 = -0.4 * s2 * dC_da2
    s1 = a1 * (1 - a1)
    rounded = {"a1": 0.785835, "a2": 0.471448, "a3": 0.566046, "C": 0.188316, "dC/dw1": 0.00643729}
    assert (a1, a2, a3, cost) == pytest.approx(
        [rounded[k] for k in ("a1", "a2", "a3", "C")], abs=1e-6
    )

    assert ex.cost == pytest.approx(cost, abs=1e-15)
    assert [ex.z[l][0] for l in (1, 2, 3)] == pytest.approx([z1, z2, z3], abs=1e-15)
    assert [ex.a[l][0] for l in (1, 2, 3)] == pytest.approx([a1, a2, a3], abs=1e-15)
    hand = {
        ("W1", 0, 0): (CHAIN_X, s1, dC_da1),
        ("b1", 0): (1.0, s1, dC_da1),
        ("W2", 0, 0): (a1, s2, dC_da2),
        ("b2", 0): (1.0, s2, dC_da2),
        ("W3", 0, 0): (a2, s3, dC_da3),
        ("b3", 0): (1.0, s3, dC_da3),
    }
    assert len(ex.partials) == len(hand)
    for key, factors in hand.items():
        pn = ex[key]
        assert pn.factors == pytest.approx(factors, abs=1e-12), key
        assert pn.product == pytest.approx(math.prod(factors), abs=1e-12), key
        assert pn.value == pytest.approx(math.prod(factors), abs=1e-12), key
    assert ex["W1", 0, 0].value == pytest.approx(rounded["dC/dw1"], abs=1e-8)

    # every step of dC/dw1 carries the numbers of its own factors
    steps = {sn.step.lhs.name: sn for sn in ex["W1", 0, 0].steps if sn.step.kind != "closed"}
    assert steps["dz1_0/dw1_0_0"].value == CHAIN_X
    assert steps["da1_0/dz1_0"].values == (((s1,),), ((s1,),))
    paths = steps["dC/da1_0"]  # dz2/da1 * da2/dz2 * dC/da2, then w2 * a2(1 - a2) * dC/da2
    assert paths.values[0][0] == pytest.approx((-0.4, s2, dC_da2), abs=1e-15)
    assert paths.values[1][0] == pytest.approx((-0.4, s2, dC_da2), abs=1e-15)
    assert paths.value == pytest.approx(dC_da1, abs=1e-15)
    assert steps["dC/da3_0"].value == pytest.approx(dC_da3, abs=1e-15)
    closed = ex["W1", 0, 0].steps[-1]
    assert closed.step.kind == "closed"
    # one path leads to C, so the closed form is the whole chain of local derivatives
    chain_factors = (CHAIN_X, s1, -0.4, s2, 1.2, s3, dC_da3)
    assert closed.values[0][0] == pytest.approx(chain_factors, abs=1e-15)


def test_explained_text_golden(chain: tuple[sg.Derivation, Explanation], golden) -> None:
    _, ex = chain
    golden("explain_chain.txt", ex.to_text())
    golden("explain_chain.md", ex.to_markdown())


def test_explained_softmax_golden(golden) -> None:
    net = sg.Network.mlp([2, 2, 2], hidden="tanh", output="softmax", cost="quadratic")
    d = sg.derive(net)
    params = numeric.init_params(net, seed=3)
    ex = d.explain([0.5, -1.0], [0.0, 1.0], params, param="W1", index=(0, 1))
    golden("explain_softmax_w1_01.txt", ex.to_text())
    reference = numeric.gradients(net, params, np.array([[0.5, -1.0]]), np.array([[0.0, 1.0]]))
    assert ex["W1", 0, 1].value == pytest.approx(reference["W1"][0, 1], abs=1e-12)


NETS = {
    "chain-sigmoid-quadratic": ([1, 1, 1, 1], "sigmoid", "sigmoid", "quadratic"),
    "tanh-softmax-ce": ([2, 3, 3], "tanh", "softmax", "cross_entropy"),
    "relu-sigmoid-bce": ([3, 2, 1], "relu", "sigmoid", "binary_cross_entropy"),
    "silu-identity-mse": ([2, 3, 2], "silu", "identity", "mse"),
    "elu-softmax-quadratic": ([2, 2, 3], "elu", "softmax", "quadratic"),
}


def _example(net: sg.Network, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        numeric.init_params(net, seed=seed),
        rng.normal(size=net.sizes[0]),
        numeric.random_targets(net, 1, rng)[0],
    )


@pytest.mark.parametrize("case", list(NETS), ids=list(NETS))
def test_explain_agrees_with_reference_backprop(case: str) -> None:
    sizes, hidden, output, cost = NETS[case]
    net = sg.Network.mlp(sizes, hidden=hidden, output=output, cost=cost)
    params, x, y = _example(net, 7)
    ex = sg.derive(net).explain(x, y, params)
    ref = numeric.gradients(net, params, x[None, :], y[None, :])
    for name, grad in ex.gradients().items():
        np.testing.assert_allclose(grad, ref[name], rtol=0, atol=1e-12, err_msg=name)
    for pn in ex.partials:
        assert pn.product == pytest.approx(pn.value, abs=1e-12)


def test_explain_gradients_has_every_entry_past_max_partials() -> None:
    # 111 parameters, 50 explained: the other 61 were NaN
    net = sg.Network.mlp([5, 7, 6, 3], hidden="tanh", output="softmax", cost="cross_entropy")
    params, x, y = _example(net, 3)
    ref = numeric.gradients(net, params, x[None, :], y[None, :])
    for options in ({}, {"max_partials": 3}, {"param": "b2"}, {"layer": 1, "max_partials": 0}):
        grads = sg.derive(net).explain(x, y, params, **options).gradients()
        for name, grad in grads.items():
            assert np.isfinite(grad).all(), (options, name)
            np.testing.assert_allclose(grad, ref[name], rtol=0, atol=1e-12, err_msg=name)


def test_explain_wide_network_evaluates_index_sums() -> None:
    # 17 * 17 paths from a unit of layer 1: its dC/da is an index-form Sum, evaluated by looping
    net = sg.Network.mlp([2, 3, 17, 17, 1], hidden="sigmoid", output="sigmoid")
    params, x, y = _example(net, 1)
    ex = sg.derive(net).explain(x, y, params, param="W1", index=(2, 1))
    ref = numeric.gradients(net, params, x[None, :], y[None, :])
    assert ex["W1", 2, 1].value == pytest.approx(ref["W1"][2, 1], abs=1e-12)
    assert ex["W1", 2, 1].product == pytest.approx(ref["W1"][2, 1], abs=1e-12)
    assert "dC/da^(1)_j" in ex.to_text()  # the per-layer step over a symbolic unit j


def test_explain_takes_a_class_label() -> None:
    net = sg.Network.mlp([2, 2, 3], hidden="tanh", output="softmax", cost="cross_entropy")
    params, x, _ = _example(net, 2)
    ex = sg.derive(net).explain(x, 2, params, param="b2")
    assert list(ex.y) == [0.0, 0.0, 1.0]
    # softmax + cross-entropy: dC/dz = a - y, so dC/db2 = a2 - y
    assert [p.value for p in ex.partials] == pytest.approx(list(ex.a[2] - ex.y), abs=1e-15)


def test_explain_rejects_bad_input(chain: tuple[sg.Derivation, Explanation]) -> None:
    d, _ = chain
    with pytest.raises(sg.SpecError, match="W2"):
        d.explain([1.0], [1.0], {**CHAIN_PARAMS, "W2": np.zeros((2, 1))})
    with pytest.raises(sg.SpecError, match="b3"):
        d.explain([1.0], [1.0], {k: v for k, v in CHAIN_PARAMS.items() if k != "b3"})
    with pytest.raises(sg.SpecError, match="one example"):
        d.explain([[1.0], [2.0]], [1.0], CHAIN_PARAMS)


def test_explained_latex_compiles(chain: tuple[sg.Derivation, Explanation], tmp_path) -> None:
    tex = chain[1].to_latex(document=True)
    assert tex.count("\\begin{align*}") == tex.count("\\end{align*}") > 10
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    (tmp_path / "ex.tex").write_text(tex)
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "ex.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]


@pytest.mark.slow
def test_explain_agrees_with_generated_gradients() -> None:
    # one compiled net (numba compiles in seconds); the reference test above covers the corpus
    sizes, hidden, output, cost = NETS["tanh-softmax-ce"]
    net = sg.Network.mlp(sizes, hidden=hidden, output=output, cost=cost)
    model = sg.compile(net, dtype="float64")
    params, x, y = _example(net, 11)
    model.set_params(params)
    generated = model.gradients(x[None, :], y[None, :])  # one example: X of shape (1, n_0)
    ex = sg.derive(net).explain(x, y, params)
    for name, grad in ex.gradients().items():
        np.testing.assert_allclose(grad, generated[name], rtol=0, atol=1e-12, err_msg=name)


# ------------------------------------------------------------------------------------------------
# The nudge view
# ------------------------------------------------------------------------------------------------
def test_nudge_prediction_matches_the_forward_pass(
    chain: tuple[sg.Derivation, Explanation],
) -> None:
    d, ex = chain
    view = nudge(d, [CHAIN_X], [CHAIN_Y], CHAIN_PARAMS, "W3", 0, 0)
    assert view.size == 0.01
    assert view.grad == pytest.approx(ex["W3", 0, 0].value, abs=1e-14)
    assert view.predicted == pytest.approx(view.grad * 0.01, abs=1e-16)
    moved = {**CHAIN_PARAMS, "W3": np.array([[1.21]])}
    x, y = np.array([[CHAIN_X]]), np.array([[CHAIN_Y]])
    assert view.actual == pytest.approx(numeric.cost(d.net, moved, x, y) - ex.cost, abs=1e-15)
    # first-order agreement: the error is second order in the nudge
    assert abs(view.actual - view.predicted) < 0.01 * abs(view.predicted)
    assert "predicted change" in view.to_text() and "actual change" in view.to_text()


def test_nudge_shows_where_a_step_is_too_large() -> None:
    net = sg.Network.mlp([2, 3, 1], hidden="tanh", output="identity", cost="mse")
    params = numeric.init_params(net, seed=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    Y = 2 * X[:, :1] - X[:, 1:]
    view = nudge(net, X, Y, params, "W1", 1, 0, lrs=(0.001, 0.5, 2.0))
    grads = numeric.gradients(net, params, X, Y)
    norm2 = sum(float(np.sum(g * g)) for g in grads.values())
    assert view.grad_norm2 == pytest.approx(norm2, rel=1e-12)
    small, _, big = view.steps
    assert small.predicted == pytest.approx(view.cost - 0.001 * norm2, rel=1e-12)
    assert small.verdict == "linear"
    assert big.actual > view.cost and big.verdict == "too large"
    assert "too large" in view.to_text()


# ------------------------------------------------------------------------------------------------
# Gradient descent on one variable
# ------------------------------------------------------------------------------------------------
def test_descend_on_a_parabola() -> None:
    run = sg.descend("x**2", 3.0, 0.1, 10)
    assert isinstance(run, Descent) and not run.diverged and run.diverged_at is None
    # x <- x - 0.1 * 2x = 0.8 x
    np.testing.assert_allclose(run.xs, 3.0 * 0.8 ** np.arange(11), rtol=1e-12)
    slope, intercept = run.tangent(2)  # tangent of x^2 at x_t: 2 x_t x - x_t^2
    assert (slope, intercept) == pytest.approx((2 * run.xs[2], -(run.xs[2] ** 2)), rel=1e-12)
    table = run.table()
    assert table.splitlines()[1].split() == [
        "step",
        "x",
        "f(x)",
        "slope",
        "pred.",
        "df",
        "actual",
        "df",
    ]
    assert len(table.splitlines()) == 2 + 11 + 1 and "after 10 steps" in table


def test_descend_reports_divergence(tmp_path) -> None:
    run = descend("x**2", 3.0, 1.1, 200)  # x <- -1.2 x: |x_t| = 3 * 1.2^t passes 1e6 at t = 70
    assert run.diverged and run.diverged_at == 70 and len(run.xs) == 70
    assert "diverged at step 70" in run.table()
    blown = descend("x**4", 3.0, 0.5, 50, limit=math.inf)  # overshoots until f is not finite
    assert blown.diverged and "diverged" in blown.reason and np.all(np.isfinite(blown.fs))
    path = run.plot(tmp_path / "descent.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        sg.descend("x**4 - 3*x**2 + x", 2.0, 0.05, 30).plot(tmp_path / "d.svg").stat().st_size
        > 1000
    )


def test_descend_rejects_bad_formulas() -> None:
    with pytest.raises(sg.SpecError):
        descend("__import__('os')", 0.0, 0.1)
    with pytest.raises(sg.SpecError):
        descend("y**2", 0.0, 0.1)
    with pytest.raises(sg.SpecError, match="not finite"):
        descend("log(x)", -1.0, 0.1)
