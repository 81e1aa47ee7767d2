"""Residual layers, a = a_prev + f(z): the skip path in the derivation and the equations, proved,
compiled in both shapes and both dtypes, and trained as PyTorch trains the same network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torch_case import data, every_command, linears, refused

import symgrad as sg
from symgrad.verify import numeric

torch = pytest.importorskip("torch")

TWO = sg.Network.mlp([3, 4, 4, 4, 2], "tanh", "softmax", "cross_entropy", residual=[2, 3])
THREE = sg.Network.mlp([2, 3, 3, 3, 3, 1], "sigmoid", "identity", "quadratic", residual=[2, 3, 4])
FIRST = sg.Network.mlp([3, 3, 3, 2], "relu", "identity", "mse", residual=[1, 2])
SMALL = sg.Network.mlp([2, 2, 2, 1], "tanh", "sigmoid", "quadratic", residual=[2])
TORCH_ACTS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


def torch_run(net: sg.Network, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray):
    """nn.Linear layers with the same weights, the skip written as a PyTorch user writes it, and
    the mean cost of the batch."""
    layers = linears(net, params)

    def loss(x, y):
        a = x
        for lin, layer in zip(layers, net.layers, strict=True):
            z = lin(a)
            if layer.act.is_softmax:
                return torch.nn.functional.cross_entropy(z, y.argmax(dim=1))
            f = TORCH_ACTS.get(layer.act.name, lambda t: t)(z)
            a = a + f if layer.residual else f
        if net.cost.name == "mse":
            return torch.nn.functional.mse_loss(a, y)
        return ((a - y) ** 2).sum(dim=1).mean()

    return layers, loss


# ------------------------------------------------------------------------------------------------
# The declaration
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: sg.Dense(3, 4, "tanh", residual=True), "this one has 3 inputs and 4 units"),
        (lambda: sg.Dense(3, 3, "softmax", residual=True), "a softmax layer cannot be residual"),
        (lambda: sg.Dense(3, 3, "tanh", residual=1), "residual must be True or False"),
        (lambda: sg.Network.mlp([2, 3, 3], residual=[2]), "layer 2 is the output layer"),
        (lambda: sg.Network.mlp([2, 3, 4, 1], residual=[2]), "3 inputs and 4 units"),
        (lambda: sg.Network.mlp([2, 3, 1], residual=[3]), "residual must list layer numbers"),
    ],
)
def test_bad_residual_layers_are_one_clear_error(make, says: str) -> None:
    with pytest.raises(sg.SpecError) as info:
        make()
    assert says in str(info.value) and "\n" not in str(info.value)


def test_the_declaration_round_trips_and_says_its_skips() -> None:
    assert sg.Network.from_dict(TWO.to_dict()) == TWO
    assert TWO.to_dict()["residual"] == [False, True, True, False]
    assert "4 tanh (residual)" in TWO.describe()
    assert "residual" not in sg.Network.mlp([2, 3, 1]).to_dict()  # plain nets as before


# ------------------------------------------------------------------------------------------------
# The derivation
# ------------------------------------------------------------------------------------------------
def test_the_skip_path_is_a_step_in_words_and_symbols() -> None:
    d = sg.derive(SMALL)
    p = d.partial("W1", 0, 1)
    paths = next(
        s for s in p.steps if s.kind == "paths" and s.lhs == d.sym.d(d.sym.C, d.symbol("a1", 0))
    )
    chain, local = paths.forms
    skip = (d.sym.d(d.symbol("a2", 0), d.symbol("a1", 0)), d.sym.d(d.sym.C, d.symbol("a2", 0)))
    assert chain[-1] == skip and local[-1] == (1, skip[1])
    text = d.to_text(param="W1", index=(0, 1))
    flat = " ".join(text.replace("#", " ").split())  # the rules as one line, unwrapped
    assert "along the skip connection straight to a^(2)_0" in flat
    assert "+ da^(2)_0/da^(1)_0 * dC/da^(2)_0" in text
    assert "a^(2)_j = a^(1)_j + tanh(z^(2)_j)" in text
    assert "dC/da^(2)[j] = " in text  # the skip equation beside BP2
    for label, l, eq in d.labelled_equations():
        if (label, l) == ("BP2", 1):
            assert "dCda2" in str(eq.rhs)
    latex = d.to_latex(document=True)
    assert r"\partial a^{(l+1)}_{j}/\partial a^{(l)}_{j} = 1" in latex


def test_explain_gives_the_skip_factor_the_value_one() -> None:
    d = sg.derive(SMALL)
    params = numeric.init_params(SMALL, 3)
    x, y = np.array([0.4, -0.7]), np.array([0.2])
    ex = d.explain(x, y, params, param="W1", index=(1, 0))
    want = numeric.gradients(SMALL, params, x[None, :], y[None, :])["W1"][1, 0]
    assert ex.partials[0].value == pytest.approx(want, rel=1e-12)
    assert "a^(2)_1 = a^(1)_1 + tanh(z^(2)_1)" in ex.to_text()


@pytest.mark.parametrize(
    "net",
    [SMALL, sg.Network.mlp([2, 2, 2, 1], "tanh", "identity", "mse", residual=[1, 2])],
    ids=["hidden", "first-layer"],
)
def test_check_proves_a_small_residual_net(net: sg.Network) -> None:
    report = sg.derive(net).check(symbolic=True, torch=True)
    assert report.ok, report.table()
    assert {"symbolic", "numeric", "backprop", "pytorch"} <= set(report.methods())
    assert not report.unproven()


def test_expanded_includes_the_skip() -> None:
    d = sg.derive(SMALL)
    a2 = d.forward_map()[d.symbol("a2", 0)]
    assert a2.has(d.symbol("W1", 0, 0)) and a2 - d.forward_map()[d.symbol("a1", 0)] != a2
    p = d.partial("b1", 0)
    x = {d.symbol("x", 0): 0.3, d.symbol("x", 1): -0.1, d.symbol("y", 0): 0.5}
    values = {
        **x,
        **{
            d.symbol(n, *i): 0.2 + 0.1 * k
            for k, (n, i) in enumerate(
                (n, i) for n in SMALL.param_names for i in np.ndindex(SMALL.param_shape(n))
            )
        },
    }
    import sympy as sp

    exact = sp.diff(d.expanded_cost(), d.symbol("b1", 0)).xreplace(values)
    assert float(p.expanded().xreplace(values)) == pytest.approx(float(exact), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# The compiled code against PyTorch
# ------------------------------------------------------------------------------------------------
CASES = [(TWO, "blas"), (THREE, "blas"), (SMALL, "unrolled"), (FIRST, "unrolled")]


@pytest.mark.parametrize(("net", "shape"), CASES, ids=lambda c: getattr(c, "describe", lambda: c)())
def test_gradients_equal_autograd(net: sg.Network, shape: str) -> None:
    model = sg.compile(net, shape=shape)
    rng = np.random.default_rng(0)
    for trial in range(2):
        model.init(seed=trial)
        params = {
            **model.params,
            **{f"b{l}": rng.normal(0.0, 0.3, n) for l, n in enumerate(net.sizes[1:], 1)},
        }
        model.set_params(params)
        X, Y = data(net, 5 + trial, trial)
        layers, loss = torch_run(net, params, X, Y)
        value = loss(torch.from_numpy(X), torch.from_numpy(Y))
        value.backward()
        assert model.loss(X, Y) == pytest.approx(value.item(), rel=1e-12)
        grads = model.gradients(X, Y)
        for l, lin in enumerate(layers, start=1):
            np.testing.assert_allclose(
                grads[f"W{l}"], lin.weight.grad.numpy(), rtol=1e-9, atol=1e-12
            )
            np.testing.assert_allclose(grads[f"b{l}"], lin.bias.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("net", "opt", "shape"),
    [
        (TWO, "adam", "blas"),
        (THREE, "momentum", "blas"),
        (SMALL, "sgd", "unrolled"),
    ],
)
def test_fit_follows_torch_optim(net: sg.Network, opt: str, shape: str) -> None:
    ours, make = {
        "sgd": (sg.SGD(lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
        "momentum": (sg.Momentum(lr=0.05), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
        "adam": (sg.Adam(lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    }[opt]
    X, Y = data(net, 22, 7)
    model = sg.compile(net, ours, shape=shape).init(seed=3)
    layers, loss = torch_run(net, model.params, X, Y)
    torch_opt = make([p for lin in layers for p in lin.parameters()])
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for epoch in range(4):
        seen = 0.0
        for start in range(0, 22, 8):
            torch_opt.zero_grad()
            value = loss(Xt[start : start + 8], Yt[start : start + 8])
            value.backward()
            torch_opt.step()
            seen += value.item() * len(Xt[start : start + 8])
        history = model.fit(X, Y, epochs=1, batch_size=8, shuffle=False)
        assert history.loss[0] == pytest.approx(seen / 22, rel=1e-10), f"epoch {epoch}"
    for l, lin in enumerate(layers, start=1):
        np.testing.assert_allclose(model.params[f"W{l}"], lin.weight.detach().numpy(), atol=1e-9)


@pytest.mark.parametrize("shape", ["blas", "unrolled"])
def test_float32_trains_as_float64_does(shape: str) -> None:
    net = SMALL if shape == "unrolled" else TWO
    X, Y = data(net, 22, 3)
    runs = {}
    for dtype in ("float64", "float32"):
        model = sg.compile(net, sg.Adam(lr=0.01), dtype, shape=shape).init(seed=3)
        runs[dtype] = model.fit(X, Y, epochs=5, batch_size=8, shuffle=False).loss
    np.testing.assert_allclose(runs["float32"], runs["float64"], rtol=1e-5)


def test_save_load_and_regularisation_together(tmp_path: Path) -> None:
    net = sg.Network.mlp(
        [3, 4, 4, 2], "tanh", "softmax", "cross_entropy", residual=[2], regularization=sg.L2(0.01)
    )
    X, Y = data(net, 12, 1)
    model = sg.compile(net, sg.AdamW(lr=0.01)).init(seed=0)
    model.fit(X, Y, epochs=2, batch_size=4)
    loaded = sg.Model.load(model.save(tmp_path / "r.npz"))
    assert loaded.net == net and loaded.loss(X, Y) == model.loss(X, Y)
    grads, want = model.gradients(X, Y), numeric.gradients(net, model.params, X, Y)
    for p in net.param_names:
        np.testing.assert_allclose(grads[p], want[p], rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------------------------------------
# Spec files and the command line
# ------------------------------------------------------------------------------------------------
SPEC = """
[network]
sizes = [2, 3, 3, 3, 1]
hidden = "tanh"
output = "sigmoid"
cost = "binary_cross_entropy"
{residual}

[optimizer]
name = "adam"
lr = 0.05

[train]
epochs = 3
batch_size = 4
data = "xor"
"""


def test_a_spec_declares_residual_layers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "res.toml"
    path.write_text(SPEC.format(residual="residual = [2, 3]"))
    spec = sg.load_spec(path)
    assert [layer.residual for layer in spec.network.layers] == [False, True, True, False]
    derived, module = every_command(path, capsys)
    assert "along the skip connection" in derived
    assert "a1[s, j] + " in module or "a1_0 + " in module


@pytest.mark.parametrize(
    ("residual", "says"),
    [
        ("residual = [1]", "[network] residual: layer 1 has 2 inputs and 3 units"),
        ("residual = [4]", "[network] residual: layer 4 has 3 inputs and 1 units"),
        ("residual = [0]", "[network] residual: must list layer numbers from 1 to 4"),
        ('residual = "2"', "[network] residual: must list layer numbers"),
    ],
)
def test_bad_residual_layers_in_a_spec_name_them(
    tmp_path: Path, residual: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SPEC.format(residual=residual))
    assert says in refused(path, capsys)
