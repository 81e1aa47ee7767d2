"""L2 and L1 penalties on the weights: declared, derived, proved, compiled in both shapes and both
dtypes, and trained as PyTorch trains the same regularised cost."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from torch_case import data, linears, refused

import symgrad as sg
from symgrad.cli import main
from symgrad.codegen import generate as generate_module
from symgrad.verify import numeric

torch = pytest.importorskip("torch")

SOFTMAX = sg.Network.mlp(
    [4, 5, 3], hidden="tanh", output="softmax", cost="cross_entropy", regularization=sg.L2(0.05)
)
SMALL = sg.Network.mlp(
    [3, 3, 2], hidden="sigmoid", output="identity", cost="quadratic", regularization=sg.L2(0.05)
)
PENALTIES = {
    "l2": sg.L2(0.05),
    "l2-biases": sg.L2(0.1, biases=True),
    "l1": sg.L1(0.02),
    "l1-biases": sg.L1(0.03, biases=True),
}


def with_penalty(net: sg.Network, reg: sg.L2 | sg.L1 | None) -> sg.Network:
    return dataclasses.replace(net, regularization=reg)


def torch_losses(net: sg.Network, layers: list, X, Y):
    """(the data cost, the regularised cost) as a PyTorch user writes them: the penalty by hand,
    over the weights (and the biases when it covers them)."""
    a = X
    for lin, layer in zip(layers, net.layers, strict=True):
        z = lin(a)
        a = torch.tanh(z) if layer.act.name == "tanh" else z
        if layer.act.name == "sigmoid":
            a = torch.sigmoid(z)
    if net.cost.name == "cross_entropy":
        data = torch.nn.functional.cross_entropy(z, Y.argmax(dim=1))
    else:
        data = ((a - Y) ** 2).sum(dim=1).mean()
    reg = net.regularization
    tensors = [lin.weight for lin in layers] + ([lin.bias for lin in layers] if reg.biases else [])
    if reg.name == "l2":
        penalty = sum(reg.lam / 2 * (t**2).sum() for t in tensors)
    else:
        penalty = sum(reg.lam * t.abs().sum() for t in tensors)
    return data, data + penalty


# ------------------------------------------------------------------------------------------------
# The declaration
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: sg.L2(-0.1), "L2 lam must be a finite number >= 0"),
        (lambda: sg.L2(float("nan")), "got nan"),
        (lambda: sg.L1(float("inf")), "L1 lam must be a finite number >= 0"),
        (lambda: sg.L2("0.1"), "L2 lam must be a finite number >= 0"),
        (lambda: sg.L2(0.1, biases="yes"), "biases must be True or False"),
        (lambda: sg.Network.mlp([2, 1], regularization="l2"), "regularization must be sg.L2(lam)"),
        (
            lambda: sg.SGD(lr=0.1, weight_decay=0.1),
            "SGD has no setting 'weight_decay'; it takes lr",
        ),
        (lambda: sg.Adam(weight_decay=0.1), "or put sg.L2(lam) on the network"),
    ],
)
def test_bad_penalties_are_one_clear_error(make, says: str) -> None:
    with pytest.raises(sg.SpecError, match=None) as info:
        make()
    assert says in str(info.value) and "\n" not in str(info.value)


def test_the_declaration_round_trips_and_says_its_penalty() -> None:
    net = with_penalty(SMALL, sg.L1(0.02, biases=True))
    assert sg.Network.from_dict(net.to_dict()) == net
    assert net.to_dict()["regularization"] == {"name": "l1", "lam": 0.02, "biases": True}
    assert net.describe().endswith("+ L1(0.02, biases=True)")
    with pytest.raises(sg.SpecError, match="unknown field 'decay'"):
        sg.Network.from_dict({**net.to_dict(), "regularization": {"name": "l2", "decay": 1}})


# ------------------------------------------------------------------------------------------------
# The derivation
# ------------------------------------------------------------------------------------------------
def test_each_weight_partial_gains_the_penalty_step_with_its_number() -> None:
    d = sg.derive(with_penalty(SMALL, sg.L2(0.05)))
    p = d.partial("W1", 0, 1)
    assert p.steps[0].kind == "chain" and p.steps[-1].kind == "penalty"
    assert p.expr - p.steps[-2].expr == d.sym.lam * d.symbol("W1", 0, 1)
    text = d.to_text(param="W1", index=(0, 1))
    assert "dC/dw^(1)_01 = dC_0/dw^(1)_01 + lambda * w^(1)_01" in text
    assert "C = C_0 + lambda/2 sum w^2" in text and "lambda = 0.05" in text
    bias = d.partial("b1", 0)
    assert bias.steps[-1].kind == "penalty" and "leaves the biases alone" in bias.steps[-1].rule[0]
    params = numeric.init_params(d.net, 1)
    ex = d.explain([0.3, -0.2, 1.0], [0.5, -0.5], params, param="W1", index=(0, 1))
    want = numeric.gradients(d.net, params, np.array([[0.3, -0.2, 1.0]]), np.array([[0.5, -0.5]]))
    assert ex.partials[0].value == pytest.approx(want["W1"][0, 1], rel=1e-12)
    shown = ex.to_text()
    assert (
        f"0.05 * ({params['W1'][0, 1]:.6g})" in shown or f"0.05 * {params['W1'][0, 1]:.6g}" in shown
    )


@pytest.mark.parametrize("kind", sorted(PENALTIES))
def test_bp3_and_bp4_carry_the_penalty(kind: str) -> None:
    reg = PENALTIES[kind]
    d = sg.derive(with_penalty(SMALL, reg))
    eqs = {(label, l): eq for label, l, eq in d.labelled_equations()}
    assert d.sym.lam in eqs[("BP4", 1)].rhs.free_symbols
    assert (d.sym.lam in eqs[("BP3", 1)].rhs.free_symbols) == reg.biases
    matrix = {(label, l): eq for label, l, eq in d.labelled_equations("matrix")}
    assert "lambda" in str(matrix[("BP4", 2)].rhs)
    assert d.to_latex(document=True).count(r"\lambda") > 0


@pytest.mark.parametrize("kind", sorted(PENALTIES))
def test_check_proves_the_regularised_partials(kind: str) -> None:
    net = sg.Network.mlp([2, 2, 1], hidden="tanh", regularization=PENALTIES[kind])
    report = sg.derive(net).check(torch=True)
    assert report.ok, report.table()
    assert {"symbolic", "numeric", "backprop", "pytorch"} <= set(report.methods())
    assert not report.unproven()


# ------------------------------------------------------------------------------------------------
# The compiled code against PyTorch
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "shape"),
    [("l2", "blas"), ("l1", "blas"), ("l2-biases", "unrolled"), ("l1-biases", "unrolled")],
)
def test_loss_and_gradients_are_the_regularised_cost_s(kind: str, shape: str) -> None:
    net = with_penalty(SMALL, PENALTIES[kind])
    model = sg.compile(net, shape=shape).init(seed=2)
    model.set_params({**model.params, "b1": np.array([0.3, -0.2, 0.0])})  # a zero bias too
    X, Y = data(net, 7, 1)
    layers = linears(net, model.params)
    data_loss, loss = torch_losses(net, layers, torch.from_numpy(X), torch.from_numpy(Y))
    loss.backward()
    assert model.loss(X, Y) == pytest.approx(loss.item(), rel=1e-12)
    assert model.loss(X, Y, regularized=False) == pytest.approx(data_loss.item(), rel=1e-12)
    grads = model.gradients(X, Y)
    for l, lin in enumerate(layers, start=1):
        np.testing.assert_allclose(grads[f"W{l}"], lin.weight.grad.numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(grads[f"b{l}"], lin.bias.grad.numpy(), rtol=1e-10, atol=1e-13)


OPTIMIZERS = {
    "sgd": (sg.SGD(lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "momentum": (sg.Momentum(lr=0.05), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "adam": (sg.Adam(lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "adamw": (
        sg.AdamW(lr=0.01, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    ),
}
# every optimiser with L2, every penalty with SGD (whose L2 step is the GEMM's), in both shapes
FIT_CASES = (
    [("softmax", opt, "l2", "blas") for opt in sorted(OPTIMIZERS)]
    + [("softmax", "sgd", kind, "blas") for kind in ("l1", "l1-biases")]
    + [("small", "adamw", "l2", "unrolled"), ("small", "sgd", "l1-biases", "unrolled")]
)


def follow_torch(model, torch_opt, layers, X, Y, batch: int, epochs: int) -> None:
    """Train side by side: every epoch's regularised and data costs, and the weights at the end."""
    net, rows = model.net, len(X)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for epoch in range(epochs):
        seen = seen_data = 0.0
        for start in range(0, rows, batch):
            torch_opt.zero_grad()
            part = slice(start, start + batch)
            data_loss, loss = torch_losses(net, layers, Xt[part], Yt[part])
            loss.backward()
            torch_opt.step()
            seen += loss.item() * len(Xt[part])
            seen_data += data_loss.item() * len(Xt[part])
        history = model.fit(X, Y, epochs=1, batch_size=batch, shuffle=False, progress=False)
        assert history.loss[0] == pytest.approx(seen / rows, rel=1e-10), f"epoch {epoch}"
        assert history.data_loss[0] == pytest.approx(seen_data / rows, rel=1e-10)
    for l, lin in enumerate(layers, start=1):
        np.testing.assert_allclose(model.params[f"W{l}"], lin.weight.detach().numpy(), atol=1e-9)
        np.testing.assert_allclose(model.params[f"b{l}"], lin.bias.detach().numpy(), atol=1e-9)


@pytest.mark.parametrize(("name", "opt", "kind", "shape"), FIT_CASES)
def test_fit_follows_torch_on_the_regularised_cost(name, opt, kind, shape) -> None:
    net = with_penalty({"softmax": SOFTMAX, "small": SMALL}[name], PENALTIES[kind])
    ours, make_torch_opt = OPTIMIZERS[opt]
    X, Y = data(net, 22, 7)  # batches of 8: 8, 8, 6
    model = sg.compile(net, ours, shape=shape).init(seed=3)
    layers = linears(net, model.params)
    torch_opt = make_torch_opt([p for lin in layers for p in lin.parameters()])
    follow_torch(model, torch_opt, layers, X, Y, 8, 5)


@pytest.mark.parametrize("shape", ["blas", "unrolled"])
def test_l2_is_torch_s_weight_decay_on_the_weights(shape: str) -> None:
    """SGD on the L2-regularised cost takes torch.optim.SGD's steps with weight_decay=lam on the
    weights alone (a param group of the biases without it): the same gradient, lam w."""
    net = with_penalty(SMALL if shape == "unrolled" else SOFTMAX, sg.L2(0.2))
    X, Y = data(net, 16, 4)
    model = sg.compile(net, sg.SGD(lr=0.1), shape=shape).init(seed=1)
    layers = linears(net, model.params)
    opt = torch.optim.SGD(
        [
            {"params": [lin.weight for lin in layers], "weight_decay": 0.2},
            {"params": [lin.bias for lin in layers]},
        ],
        lr=0.1,
    )
    plain = with_penalty(net, None)
    for _ in range(4):
        opt.zero_grad()
        z = torch.from_numpy(X)
        for lin, layer in zip(layers, plain.layers, strict=True):
            z = lin(z)
            z = (
                torch.tanh(z)
                if layer.act.name == "tanh"
                else torch.sigmoid(z)
                if layer.act.name == "sigmoid"
                else z
            )
        loss = (
            torch.nn.functional.cross_entropy(z, torch.from_numpy(Y).argmax(dim=1))
            if plain.cost.name == "cross_entropy"
            else ((z - torch.from_numpy(Y)) ** 2).sum(dim=1).mean()
        )
        loss.backward()
        opt.step()
    model.fit(X, Y, epochs=4, batch_size=16, shuffle=False)
    for l, lin in enumerate(layers, start=1):
        np.testing.assert_allclose(model.params[f"W{l}"], lin.weight.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("shape", ["blas", "unrolled"])
def test_float32_trains_as_float64_does(shape: str) -> None:
    net = with_penalty(SMALL, sg.L2(0.05, biases=True))
    X, Y = data(net, 22, 3)
    runs = {}
    for dtype in ("float64", "float32"):
        model = sg.compile(net, sg.Adam(lr=0.01), dtype, shape=shape).init(seed=3)
        runs[dtype] = (model.fit(X, Y, epochs=5, batch_size=8, shuffle=False), model.params)
    h64, h32 = runs["float64"][0], runs["float32"][0]
    np.testing.assert_allclose(h32.loss, h64.loss, rtol=1e-5)
    np.testing.assert_allclose(h32.data_loss, h64.data_loss, rtol=1e-5)
    for p, value in runs["float64"][1].items():
        np.testing.assert_allclose(runs["float32"][1][p], value, atol=1e-5)


def test_one_module_serves_every_lam(monkeypatch: pytest.MonkeyPatch) -> None:
    """lam is a run-time value, as the learning rate is: another lam compiles nothing."""
    first = sg.compile(with_penalty(SOFTMAX, sg.L2(0.01)), shape="blas")
    assert "lam" in first.module.HYPER_NAMES
    calls = []
    monkeypatch.setattr(generate_module, "generate", lambda *a, **k: calls.append(a))
    again = sg.compile(with_penalty(SOFTMAX, sg.L2(0.3)), shape="blas")
    assert calls == [] and again.module is first.module
    X, Y = data(SOFTMAX, 10, 0)
    grads = again.gradients(X, Y)
    want = numeric.gradients(again.net, again.params, X, Y)
    np.testing.assert_allclose(grads["W1"], want["W1"], rtol=1e-10, atol=1e-14)


def test_sgd_with_l2_takes_its_step_in_the_gemm() -> None:
    """W <- (1 - lr lam) W - lr dC_0/dW: the GEMM's beta, not a pass over the weights."""
    source = sg.generate(SOFTMAX, sg.SGD(0.1), shape="blas").source
    train = source[source.index("def train_epochs(") :]
    assert "keep[0] = 1.0 - lr * lam" in train
    assert "gemm(TRANS, NO_TRANS, minus_lr, delta1, x, keep, W1)" in train
    assert "_step(" not in train.split("def train_epoch(")[0]


def test_nielsen_s_lmbda_over_n() -> None:
    """Nielsen's update w -> (1 - eta lmbda / n) w - (eta / m) sum_x dC_x/dw is SGD(eta) on
    L2(lmbda / n), n the size of the training set (network3.py's convention)."""
    n, eta, lmbda = 12, 0.5, 5.0
    net = with_penalty(SMALL, sg.L2(lmbda / n))
    X, Y = data(net, n, 9)
    model = sg.compile(net, sg.SGD(eta)).init(seed=0)
    before = model.params
    grads0 = model.gradients(X, Y)  # with the penalty: dC_0/dw + lam w
    model.fit(X, Y, epochs=1, batch_size=n, shuffle=False)
    data_grad = grads0["W1"] - lmbda / n * before["W1"]
    want = (1 - eta * lmbda / n) * before["W1"] - eta * data_grad
    np.testing.assert_allclose(model.params["W1"], want, rtol=1e-12, atol=1e-15)


def test_save_and_load_keep_the_penalty(tmp_path: Path) -> None:
    model = sg.compile(with_penalty(SMALL, sg.L1(0.04, biases=True)), sg.Adam()).init(seed=1)
    X, Y = data(SMALL, 10, 2)
    model.fit(X, Y, epochs=2, batch_size=5)
    loaded = sg.Model.load(model.save(tmp_path / "m.npz"))
    assert loaded.net.regularization == sg.L1(0.04, biases=True)
    assert loaded.loss(X, Y) == model.loss(X, Y)
    assert loaded.fit(X, Y, epochs=1).data_loss == model.fit(X, Y, epochs=1).data_loss


def test_a_diverging_regularised_run_keeps_the_last_good_weights() -> None:
    net = with_penalty(SMALL, sg.L2(0.01))
    X, Y = data(net, 10, 2)
    model = sg.compile(net, sg.SGD(lr=1e3)).init(seed=1)
    with pytest.raises(sg.DivergenceError) as info:
        model.fit(X, Y, epochs=50, batch_size=10)
    assert all(np.isfinite(v).all() for v in model.params.values())
    assert len(info.value.history.data_loss) == len(info.value.history.loss)


# ------------------------------------------------------------------------------------------------
# Spec files and the command line
# ------------------------------------------------------------------------------------------------
SPEC = """
[network]
sizes = [2, 3, 1]
hidden = "tanh"
output = "sigmoid"
cost = "binary_cross_entropy"
regularization = {table}

[optimizer]
name = "adamw"
lr = 0.05

[train]
epochs = 3
batch_size = 4
data = "xor"
"""


def test_a_spec_declares_a_penalty(tmp_path: Path) -> None:
    path = tmp_path / "reg.toml"
    path.write_text(SPEC.format(table="{ l2 = 0.01, biases = true }"))
    spec = sg.load_spec(path)
    assert spec.network.regularization == sg.L2(0.01, biases=True)


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("{ l2 = -1.0 }", "[network] regularization: L2 lam must be a finite number >= 0"),
        ("{ l2 = 0.1, l1 = 0.1 }", "[network] regularization: must be a table with one penalty"),
        ('"l2"', "[network] regularization: must be a table with one penalty"),
        ("{ l2 = 0.1, bias = true }", "unknown field 'bias' (did you mean 'biases'?)"),
        ("{ l1 = nan }", "L1 lam must be a finite number >= 0"),
    ],
)
def test_bad_penalties_in_a_spec_name_the_field(
    tmp_path: Path, table: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SPEC.format(table=table))
    assert says in refused(path, capsys)


def test_the_command_line_derives_checks_and_trains_with_a_penalty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reg.toml"
    path.write_text(SPEC.format(table="{ l1 = 0.001 }"))
    assert main(["derive", str(path), "--param", "W2", "--explain", "--sample", "1,0;1"]) == 0
    out = capsys.readouterr().out
    assert "dC/dw^(2)_00 = dC_0/dw^(2)_00 + lambda * sign(w^(2)_00)" in out
    assert "C = C_0 + lambda sum |w|" in out
    for fmt in ("markdown", "latex", "html"):
        target = tmp_path / f"d.{fmt}"
        assert main(["derive", str(path), "--format", fmt, "-o", str(target)]) == 0
        assert "lambda" in target.read_text()
    assert main(["check", str(path), "--no-torch"]) == 0
    assert "symbolic" in capsys.readouterr().out
    saved = tmp_path / "w.npz"
    assert main(["train", str(path), "--l2", "0.02", "--save", str(saved), "--no-progress"]) == 0
    assert "L2(0.02)" in capsys.readouterr().out
    assert sg.Model.load(saved).net.regularization == sg.L2(0.02)
    module = tmp_path / "m.py"
    assert main(["generate", str(path), "-o", str(module)]) == 0
    assert (
        "HYPER_NAMES = ('lr', 'beta1', 'beta2', 'eps', 'weight_decay', 'lam')" in module.read_text()
    )
