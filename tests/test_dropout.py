"""Dropout, a = m f(z) / (1 - p) while training: the mask as a factor of the derivation, proved,
compiled in both shapes, and trained as PyTorch trains the same network with the same masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torch_case import data, every_command, linears, refused

import symgrad as sg
from symgrad.verify import numeric

torch = pytest.importorskip("torch")

NET = sg.Network.mlp([3, 5, 5, 2], "tanh", "softmax", "cross_entropy", dropout=[0.3, 0.2, 0.0])
RESIDUAL = sg.Network.mlp(
    [3, 4, 4, 2], "tanh", "softmax", "cross_entropy", dropout=[0.3, 0.25, 0.0], residual=[2]
)
SMALL = sg.Network.mlp([2, 3, 1], "sigmoid", "identity", "quadratic", dropout=[0.4, 0.0])
TORCH_ACTS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


def torch_loss(net: sg.Network, layers: list, x, y, masks: dict[int, np.ndarray] | None):
    """The mean cost as a PyTorch user writes inverted dropout, ``f(z) * m / (1 - p)``."""
    a = x
    for l, (lin, layer) in enumerate(zip(layers, net.layers, strict=True), start=1):
        z = lin(a)
        if layer.act.is_softmax:
            return torch.nn.functional.cross_entropy(z, y.argmax(dim=1))
        f = TORCH_ACTS.get(layer.act.name, lambda t: t)(z)
        if masks is not None and layer.dropout:
            f = f * torch.from_numpy(masks[l]) / (1 - layer.dropout)
        a = a + f if layer.residual else f
    return ((a - y) ** 2).sum(dim=1).mean()


def numba_masks(net: sg.Network, shape: str, rows: int, seed: int) -> dict[int, np.ndarray]:
    """The masks train_epochs draws for one batch after ``np.random.seed(seed)``: Numba's
    generator is NumPy's legacy Mersenne Twister. The blas shape draws a layer at a time, the
    unrolled shape an example at a time."""
    rs = np.random.RandomState(seed)
    drop = {l: layer.dropout for l, layer in enumerate(net.layers, 1) if layer.dropout}
    masks = {l: np.zeros((rows, net.sizes[l])) for l in drop}
    order = (
        [(l, s) for l in drop for s in range(rows)]
        if shape == "blas"
        else [(l, s) for s in range(rows) for l in drop]
    )
    for l, s in order:
        for j in range(net.sizes[l]):
            masks[l][s, j] = rs.random_sample() >= drop[l]
    return masks


# ------------------------------------------------------------------------------------------------
# The declaration
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: sg.Dense(3, 3, "tanh", dropout=1.0), "dropout must be a probability in [0, 1)"),
        (lambda: sg.Dense(3, 3, "tanh", dropout=-0.1), "dropout must be a probability in [0, 1)"),
        (lambda: sg.Dense(3, 3, "tanh", dropout="0.5"), "dropout must be a probability"),
        (lambda: sg.Dense(3, 3, "softmax", dropout=0.5), "a softmax layer cannot have dropout"),
        (lambda: sg.Network.mlp([2, 3, 2], dropout=[0.1, 0.2]), "layer 2 is the output layer"),
        (lambda: sg.Network.mlp([2, 3, 2], dropout=[0.1]), "one probability per layer (2)"),
    ],
)
def test_bad_dropout_is_one_clear_error(make, says: str) -> None:
    with pytest.raises(sg.SpecError) as info:
        make()
    assert says in str(info.value) and "\n" not in str(info.value)


def test_the_declaration_round_trips() -> None:
    assert sg.Network.from_dict(RESIDUAL.to_dict()) == RESIDUAL
    assert RESIDUAL.to_dict()["dropout"] == [0.3, 0.25, 0.0]
    assert "5 tanh (dropout 0.3)" in NET.describe()
    assert sg.Network.mlp([2, 3, 3, 1], dropout=0.5).to_dict()["dropout"] == [0.5, 0.5, 0.0]


# ------------------------------------------------------------------------------------------------
# The derivation
# ------------------------------------------------------------------------------------------------
def test_the_mask_is_a_factor_of_the_local_step() -> None:
    d = sg.derive(SMALL)
    p = d.partial("W1", 0, 1)
    local = next(s for s in p.steps if s.lhs == d.sym.d(d.symbol("a1", 0), d.symbol("z1", 0)))
    assert d.sym.mask(1, 0) in local.expr.free_symbols and d.sym.drop(1) in local.expr.free_symbols
    text = " ".join(d.to_text(param="W1", index=(0, 1)).replace("#", " ").split())
    assert "da^(1)_0/dz^(1)_0 = m^(1)_0*sigmoid'(z^(1)_0)/(1 - p^(1))" in text
    assert "da/dz = m f'(z)/(1 - p)" in text
    assert "a^(1)_j = m^(1)_j sigmoid(z^(1)_j) / (1 - p^(1))" in text
    bp2 = next(eq for label, l, eq in d.labelled_equations() if (label, l) == ("BP2", 1))
    assert "m1" in str(bp2.rhs) and "p1" in str(bp2.rhs)


@pytest.mark.parametrize(
    "net",
    [SMALL, sg.Network.mlp([2, 2, 2, 1], "tanh", dropout=[0.5, 0.0, 0.0], residual=[2])],
    ids=["plain", "residual"],
)
def test_check_proves_the_masked_partials(net: sg.Network) -> None:
    report = sg.derive(net).check(symbolic=True, torch=True)
    assert report.ok, report.table()
    assert {"symbolic", "numeric", "backprop", "pytorch"} <= set(report.methods())
    assert not report.unproven()


def test_explain_keeps_every_unit() -> None:
    d = sg.derive(SMALL)
    params = numeric.init_params(SMALL, 2)
    x, y = np.array([0.4, -0.7]), np.array([0.2])
    ex = d.explain(x, y, params, param="W1", index=(2, 1))
    ones = {1: np.ones((1, 3))}
    want = numeric.gradients(SMALL, params, x[None, :], y[None, :], ones)["W1"][2, 1]
    assert ex.partials[0].value == pytest.approx(want, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# The compiled code against PyTorch
# ------------------------------------------------------------------------------------------------
CASES = [(NET, "blas"), (RESIDUAL, "blas"), (SMALL, "unrolled"), (RESIDUAL, "unrolled")]


@pytest.mark.parametrize(("net", "shape"), CASES, ids=lambda c: str(c)[:30])
def test_gradients_for_given_masks_equal_autograd(net: sg.Network, shape: str) -> None:
    model = sg.compile(net, shape=shape).init(seed=1)
    X, Y = data(net, 6, 2)
    rng = np.random.default_rng(3)
    for masks in (numeric.random_masks(net, 6, rng), None):
        layers = linears(net, model.params)
        loss = torch_loss(net, layers, torch.from_numpy(X), torch.from_numpy(Y), masks)
        loss.backward()
        grads = model.gradients(X, Y, masks)
        for l, lin in enumerate(layers, start=1):
            np.testing.assert_allclose(
                grads[f"W{l}"], lin.weight.grad.numpy(), rtol=1e-9, atol=1e-13
            )
            np.testing.assert_allclose(grads[f"b{l}"], lin.bias.grad.numpy(), rtol=1e-9, atol=1e-13)
    # without masks, no unit is dropped: the same numbers as the network without dropout
    plain = sg.compile(
        sg.Network.mlp(
            net.sizes,
            net.layers[0].act,
            net.layers[-1].act,
            net.cost,
            residual=[l for l, x in enumerate(net.layers, 1) if x.residual],
        ),
        shape=shape,
    )
    plain.set_params(model.params)
    assert model.loss(X, Y) == plain.loss(X, Y)
    np.testing.assert_array_equal(model.predict(X), plain.predict(X))


@pytest.mark.parametrize(
    ("net", "shape"), [(NET, "blas"), (SMALL, "unrolled")], ids=["blas", "unrolled"]
)
def test_fit_follows_torch_with_the_same_masks(net: sg.Network, shape: str) -> None:
    """Full batches: each epoch's masks are those Numba's generator gives for fit's seed."""
    X, Y = data(net, 9, 4)
    model = sg.compile(net, sg.Adam(lr=0.02), shape=shape).init(seed=2)
    layers = linears(net, model.params)
    opt = torch.optim.Adam([p for lin in layers for p in lin.parameters()], lr=0.02)
    seeds = np.random.default_rng([5, 1]).integers(0, 2**31 - 1, 4)  # fit(seed=5)'s, in order
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for e in range(4):
        opt.zero_grad()
        torch_loss(net, layers, Xt, Yt, numba_masks(net, shape, 9, int(seeds[e]))).backward()
        opt.step()
    history = model.fit(X, Y, epochs=4, batch_size=9, shuffle=False, seed=5)
    assert len(history.loss) == 4
    for l, lin in enumerate(layers, start=1):
        np.testing.assert_allclose(model.params[f"W{l}"], lin.weight.detach().numpy(), atol=1e-10)


@pytest.mark.parametrize("shape", ["blas", "unrolled"])
def test_fit_is_reproducible_from_its_seed_and_learns(shape: str) -> None:
    width = 16 if shape == "blas" else 8  # the unrolled shape compiles slower as it grows
    net = sg.Network.mlp(
        [2, width, 1], "tanh", "sigmoid", "binary_cross_entropy", dropout=[0.2, 0.0]
    )
    plain = sg.Network.mlp([2, width, 1], "tanh", "sigmoid", "binary_cross_entropy")
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (64, 2))
    Y = (X[:, 0] * X[:, 1] > 0).astype(float)  # XOR of the signs
    runs = []
    for seed in (1, 1, 2):
        model = sg.compile(net, sg.Adam(lr=0.03), shape=shape).init(seed=0)
        runs.append((model.fit(X, Y, epochs=150, batch_size=16, seed=seed).loss, model))
    assert runs[0][0] == runs[1][0] and runs[0][0] != runs[2][0]
    without = sg.compile(plain, sg.Adam(lr=0.03), shape=shape).init(seed=0)
    without.fit(X, Y, epochs=150, batch_size=16, seed=1)
    # evaluated without dropout, the dropout-trained net fits nearly as well
    assert runs[0][1].loss(X, Y) < max(0.2, 2 * without.loss(X, Y))
    assert sg.data.accuracy(runs[0][1].predict(X), Y) >= 0.9


def test_float32_and_save_load(tmp_path: Path) -> None:
    X, Y = data(NET, 12, 1)
    h64 = sg.compile(NET, sg.Adam(lr=0.01)).init(seed=3).fit(X, Y, epochs=3, batch_size=4, seed=2)
    model = sg.compile(NET, sg.Adam(lr=0.01), "float32").init(seed=3)
    h32 = model.fit(X, Y, epochs=3, batch_size=4, seed=2)
    np.testing.assert_allclose(h32.loss, h64.loss, rtol=1e-4)
    loaded = sg.Model.load(model.save(tmp_path / "d.npz"))
    assert loaded.net == NET and loaded.loss(X, Y) == model.loss(X, Y)


def test_masks_are_checked() -> None:
    model = sg.compile(NET).init(seed=0)
    X, Y = data(NET, 4, 0)
    for bad, says in [
        ({2: np.ones((4, 5))}, "masks must map each layer with dropout (1, 2)"),
        ({1: np.ones((4, 5)), 2: np.full((4, 5), 0.5)}, "holding only 1 (kept) and 0"),
        ({1: np.ones((3, 5)), 2: np.ones((4, 5))}, "masks[1] must be an array of shape (4, 5)"),
    ]:
        with pytest.raises(sg.SpecError, match=None) as info:
            model.gradients(X, Y, bad)
        assert says in str(info.value)


# ------------------------------------------------------------------------------------------------
# Spec files and the command line
# ------------------------------------------------------------------------------------------------
SPEC = """
[network]
sizes = [2, 4, 4, 1]
hidden = "tanh"
output = "sigmoid"
cost = "binary_cross_entropy"
{dropout}

[optimizer]
name = "adam"
lr = 0.05

[train]
epochs = 3
batch_size = 4
data = "xor"
"""


def test_a_spec_declares_dropout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "drop.toml"
    path.write_text(SPEC.format(dropout="dropout = [0.2, 0.1, 0.0]"))
    assert [layer.dropout for layer in sg.load_spec(path).network.layers] == [0.2, 0.1, 0.0]
    derived, module = every_command(path, capsys)
    assert "m^(1)_0" in derived
    assert "np.random.random() >= 0.2" in module


@pytest.mark.parametrize(
    ("dropout", "says"),
    [
        ("dropout = [0.2, 0.1, 0.3]", "[network] dropout: layer 3 is the output layer"),
        ("dropout = [1.0, 0.1, 0.0]", "[network] dropout: must list one probability in [0, 1)"),
        ("dropout = 0.5", "[network] dropout: must list one probability"),
    ],
)
def test_bad_dropout_in_a_spec_names_the_field(
    tmp_path: Path, dropout: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SPEC.format(dropout=dropout))
    assert says in refused(path, capsys)
