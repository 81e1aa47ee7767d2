"""PyTorch as the oracle: generated gradients equal autograd, fit follows torch.optim step for step."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import symgrad as sg

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.slow, pytest.mark.torch]

TORCH_ACTS: dict[str, Callable[..., object]] = {
    "identity": lambda t: t,
    "sigmoid": lambda t: torch.sigmoid(t),
    "tanh": lambda t: torch.tanh(t),
    "relu": lambda t: torch.relu(t),
    "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01),
    "softplus": lambda t: torch.nn.functional.softplus(t),
    "silu": lambda t: torch.nn.functional.silu(t),
    "elu": lambda t: torch.nn.functional.elu(t),
}


def torch_cost(net: sg.Network, z_out, a_out, y):
    """The mean batch cost as PyTorch users write it (built-in losses where they match)."""
    name = net.cost.name
    if name == "mse":
        return torch.nn.MSELoss()(a_out, y)
    if name == "cross_entropy":
        return torch.nn.CrossEntropyLoss()(z_out, y.argmax(dim=1))
    if name == "quadratic":
        return ((a_out - y) ** 2).sum(dim=1).mean()
    if name == "half_quadratic":
        return 0.5 * ((a_out - y) ** 2).sum(dim=1).mean()
    if name == "binary_cross_entropy":
        return torch.nn.BCEWithLogitsLoss(reduction="sum")(z_out, y) / y.shape[0]
    raise AssertionError(name)


def torch_net(net: sg.Network, params: dict[str, np.ndarray]):
    """nn.Linear layers holding the same weights (W has torch's (out, in) layout) and a forward."""
    layers = []
    for l, layer in enumerate(net.layers, start=1):
        lin = torch.nn.Linear(layer.n_in, layer.n_out, bias=layer.bias, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[f"W{l}"]))
            if layer.bias:
                lin.bias.copy_(torch.from_numpy(params[f"b{l}"]))
        layers.append(lin)

    def forward(x):
        a = x
        for lin, layer in zip(layers, net.layers, strict=True):
            z = lin(a)
            a = torch.softmax(z, dim=1) if layer.act.is_softmax else TORCH_ACTS[layer.act.name](z)
        return z, a

    return layers, forward


def torch_params(net: sg.Network, layers: list) -> dict[str, np.ndarray]:
    out = {}
    for l, (lin, layer) in enumerate(zip(layers, net.layers, strict=True), start=1):
        out[f"W{l}"] = lin.weight.detach().numpy().copy()
        if layer.bias:
            out[f"b{l}"] = lin.bias.detach().numpy().copy()
    return out


def targets(net: sg.Network, rng: np.random.Generator, rows: int) -> np.ndarray:
    n = net.sizes[-1]
    if net.cost.name == "cross_entropy":
        return np.eye(n)[rng.integers(0, n, rows)]
    if net.cost.name == "binary_cross_entropy":
        return rng.uniform(0.0, 1.0, (rows, n))
    return rng.normal(0.0, 1.0, (rows, n))


RANDOM_NETS = {
    "tanh-relu-mse": sg.Network.mlp([4, 6, 5, 3], hidden="relu", output="tanh", cost="mse"),
    "elu-softmax-ce": sg.Network.mlp(
        [5, 7, 4], hidden="elu", output="softmax", cost="cross_entropy"
    ),
    "silu-sigmoid-bce": sg.Network.mlp(
        [3, 8, 2], hidden="silu", output="sigmoid", cost="binary_cross_entropy"
    ),
    "leaky-softplus-quadratic": sg.Network(
        [
            sg.Dense(3, 5, "leaky_relu"),
            sg.Dense(5, 4, "softplus", bias=False),
            sg.Dense(4, 2, "identity"),
        ],
        "half_quadratic",
    ),
    "sigmoid-quadratic": sg.Network.mlp(
        [2, 3, 1], hidden="sigmoid", output="sigmoid", cost="quadratic"
    ),
}


# every net in the blas shape; those small enough for scalar code in the unrolled shape too
GRADIENT_CASES = [(name, "blas") for name in sorted(RANDOM_NETS)] + [
    (name, "unrolled")
    for name in ("leaky-softplus-quadratic", "sigmoid-quadratic", "silu-sigmoid-bce")
]


@pytest.mark.parametrize(("name", "shape"), GRADIENT_CASES)
def test_gradients_equal_autograd(name: str, shape: str) -> None:
    net = RANDOM_NETS[name]
    model = sg.compile(net, shape=shape)
    rng = np.random.default_rng(sorted(RANDOM_NETS).index(name))
    for trial in range(3):
        model.init(seed=trial)
        for p in net.param_names:  # random biases too, not only the zeros of init
            if p.startswith("b"):
                model.set_params({**model.params, p: rng.normal(0.0, 0.5, net.param_shape(p))})
        rows = int(rng.integers(1, 9))
        X, Y = rng.normal(0.0, 1.0, (rows, net.sizes[0])), targets(net, rng, rows)
        layers, forward = torch_net(net, model.params)
        z, a = forward(torch.from_numpy(X))
        loss = torch_cost(net, z, a, torch.from_numpy(Y))
        loss.backward()
        grads = model.gradients(X, Y)
        assert model.loss(X, Y) == pytest.approx(loss.item(), rel=1e-12, abs=1e-13)
        for l, (lin, layer) in enumerate(zip(layers, net.layers, strict=True), start=1):
            np.testing.assert_allclose(
                grads[f"W{l}"], lin.weight.grad.numpy(), rtol=1e-9, atol=1e-12
            )
            if layer.bias:
                np.testing.assert_allclose(
                    grads[f"b{l}"], lin.bias.grad.numpy(), rtol=1e-9, atol=1e-12
                )


OPTIMIZERS = {
    "sgd": (sg.SGD(lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "momentum": (
        sg.Momentum(lr=0.05, beta=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
    ),
    "adam": (sg.Adam(lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "rmsprop": (sg.RMSprop(lr=0.01), lambda ps: torch.optim.RMSprop(ps, lr=0.01)),
    "adamw": (
        sg.AdamW(lr=0.01, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    ),
}
# every value of every kind away from its default, as torch names it
ODD_VALUES = {
    "sgd": (sg.SGD(lr=0.07), lambda ps: torch.optim.SGD(ps, lr=0.07)),
    "momentum": (
        sg.Momentum(lr=0.03, beta=0.7),
        lambda ps: torch.optim.SGD(ps, lr=0.03, momentum=0.7),
    ),
    "adam": (
        sg.Adam(lr=0.02, beta1=0.8, beta2=0.95, eps=1e-3),
        lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.95), eps=1e-3),
    ),
    "rmsprop": (
        sg.RMSprop(lr=0.005, alpha=0.9, eps=1e-3),
        lambda ps: torch.optim.RMSprop(ps, lr=0.005, alpha=0.9, eps=1e-3),
    ),
    "adamw": (
        sg.AdamW(lr=0.02, beta1=0.8, beta2=0.95, eps=1e-3, weight_decay=0.3),
        lambda ps: torch.optim.AdamW(ps, lr=0.02, betas=(0.8, 0.95), eps=1e-3, weight_decay=0.3),
    ),
}
FIT_NETS = {
    "softmax-ce": sg.Network.mlp([4, 6, 3], hidden="tanh", output="softmax", cost="cross_entropy"),
    "sigmoid-mse": sg.Network.mlp([3, 5, 4, 2], hidden="sigmoid", output="identity", cost="mse"),
}


# the unrolled shape on small nets of the same kinds (its compile time grows with the size)
FIT_NETS_SMALL = {
    "small-sigmoid-mse": sg.Network.mlp(
        [3, 3, 2, 2], hidden="sigmoid", output="identity", cost="mse"
    ),
    "small-softmax-ce": sg.Network.mlp(
        [3, 3, 3], hidden="tanh", output="softmax", cost="cross_entropy"
    ),
}
FIT_CASES = (
    [(name, opt, "blas", 8) for name in sorted(FIT_NETS) for opt in sorted(OPTIMIZERS)]
    + [("small-sigmoid-mse", opt, "unrolled", 8) for opt in sorted(OPTIMIZERS)]
    + [("small-softmax-ce", "adam", "unrolled", 8)]
    # batches of one with plain SGD: the unrolled shape's train_epochs_one
    + [("small-sigmoid-mse", "sgd", "unrolled", 1), ("small-softmax-ce", "sgd", "unrolled", 1)]
)


@pytest.mark.parametrize(("name", "opt", "shape", "batch"), FIT_CASES)
def test_fit_follows_torch_optim(name: str, opt: str, shape: str, batch: int) -> None:
    net = {**FIT_NETS, **FIT_NETS_SMALL}[name]
    ours, make_torch_opt = OPTIMIZERS[opt]
    rng = np.random.default_rng(7)
    rows, epochs = 22, 6  # batches of 8: 8, 8, 6, the last one short
    X, Y = rng.normal(0.0, 1.0, (rows, net.sizes[0])), targets(net, rng, rows)
    model = sg.compile(net, ours, shape=shape).init(seed=3)
    layers, forward = torch_net(net, model.params)
    torch_opt = make_torch_opt([p for lin in layers for p in lin.parameters()])
    follow_torch(model, layers, forward, torch_opt, X, Y, batch, epochs)
    assert model.step == epochs * -(-rows // batch)


def follow_torch(model, layers, forward, torch_opt, X, Y, batch: int, epochs: int) -> None:
    """Train ``model`` and the torch layers side by side, epoch by epoch, in order: the same
    mean cost every epoch, the same parameters at the end."""
    net, rows = model.net, len(X)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for epoch in range(epochs):
        seen = 0.0
        for start in range(0, rows, batch):
            torch_opt.zero_grad()
            z, a = forward(Xt[start : start + batch])
            loss = torch_cost(net, z, a, Yt[start : start + batch])
            loss.backward()
            torch_opt.step()
            seen += loss.item() * len(Xt[start : start + batch])
        history = model.fit(X, Y, epochs=1, batch_size=batch, shuffle=False, progress=False)
        assert history.loss[0] == pytest.approx(seen / rows, rel=1e-10), f"epoch {epoch}"
    want = torch_params(net, layers)
    for p in net.param_names:
        np.testing.assert_allclose(model.params[p], want[p], rtol=1e-8, atol=1e-8, err_msg=p)


@pytest.mark.parametrize(
    ("name", "shape"), [("softmax-ce", "blas"), ("small-sigmoid-mse", "unrolled")]
)
@pytest.mark.parametrize("opt", sorted(ODD_VALUES))
def test_every_value_of_the_optimizer_is_read_at_run_time(name: str, shape: str, opt: str) -> None:
    """A model compiled with the kind's defaults, then given other values for every field (one
    module serves them all), follows torch.optim with those values."""
    net = {**FIT_NETS, **FIT_NETS_SMALL}[name]
    ours, make_torch_opt = ODD_VALUES[opt]
    rng = np.random.default_rng(11)
    X, Y = rng.normal(0.0, 1.0, (22, net.sizes[0])), targets(net, rng, 22)
    model = sg.compile(net, type(ours)(), shape=shape).init(seed=3)
    model.optimizer = ours
    layers, forward = torch_net(net, model.params)
    torch_opt = make_torch_opt([p for lin in layers for p in lin.parameters()])
    follow_torch(model, layers, forward, torch_opt, X, Y, 8, 4)


@pytest.mark.parametrize("opt", ["adam", "momentum"])
def test_new_values_mid_training_follow_a_torch_param_group_change(opt: str) -> None:
    """New values of the same kind keep the optimiser state and the step count, as setting
    ``lr`` (and the betas) in a torch param group does."""
    net = FIT_NETS["softmax-ce"]
    ours, make_torch_opt = OPTIMIZERS[opt]
    rng = np.random.default_rng(5)
    X, Y = rng.normal(0.0, 1.0, (22, net.sizes[0])), targets(net, rng, 22)
    model = sg.compile(net, ours, shape="blas").init(seed=3)
    layers, forward = torch_net(net, model.params)
    torch_opt = make_torch_opt([p for lin in layers for p in lin.parameters()])
    follow_torch(model, layers, forward, torch_opt, X, Y, 8, 3)
    new, _ = ODD_VALUES[opt]
    model.optimizer = new
    values, group = new.settings(), torch_opt.param_groups[0]
    group["lr"] = values["lr"]
    if opt == "adam":
        group["betas"], group["eps"] = (values["beta1"], values["beta2"]), values["eps"]
    else:
        group["momentum"] = values["beta"]
    follow_torch(model, layers, forward, torch_opt, X, Y, 8, 3)
    assert model.step == 6 * 3
