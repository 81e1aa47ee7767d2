"""Hyperparameters are run-time values: one compiled module per optimiser kind serves every value.

The learning rate, momentum, betas, alpha and epsilon are the array ``hyper`` of the compiled
functions; a module's cache key names the optimiser's kind, never its values. (That every value
reaches the arithmetic is checked against ``torch.optim`` in tests/test_torch_parity.py.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli import main
from symgrad.codegen import generate as generate_module
from symgrad.runtime import build as build_module

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])
XOR_SPEC = str(Path(__file__).resolve().parent.parent / "examples" / "xor.toml")


def xor_net() -> sg.Network:
    return sg.Network.mlp([2, 2, 1], hidden="tanh", output="sigmoid", cost="mse", name="xor")


def test_the_cache_key_names_the_kind_not_the_values() -> None:
    net = xor_net()
    one, two = sg.generate(net, sg.SGD(lr=0.1)), sg.generate(net, sg.SGD(lr=0.05))
    assert one.key == two.key and one.cache_path() == two.cache_path()
    assert one.key != sg.generate(net, sg.Momentum(lr=0.1)).key
    # the module written standalone starts from its own values; the cache holds the kind's defaults
    assert "HYPER = np.array([0.05], DTYPE)" in two.source
    assert two.cached_source == one.source == sg.generate(net, sg.SGD()).source
    adam = sg.generate(net, sg.Adam(lr=0.01, beta2=0.99))
    assert "HYPER_NAMES = ('lr', 'beta1', 'beta2', 'eps')" in adam.source
    assert "HYPER = np.array([0.01, 0.9, 0.99, 1e-08], DTYPE)" in adam.source
    for code in (adam, sg.generate(net, sg.RMSprop(), shape="blas")):
        assert "LR" not in code.source and "EPS" not in code.source  # no constants left


@pytest.mark.parametrize("shape", ["blas", "unrolled"])
def test_one_module_serves_every_learning_rate(shape: str) -> None:
    """Two learning rates, one module: each model takes a full-batch step of its own lr (the
    blas shape inside its GEMM, the unrolled one as step = lr/B), and batches of one too."""
    net = xor_net()
    models = {lr: sg.compile(net, sg.SGD(lr=lr), shape=shape) for lr in (0.1, 0.05)}
    assert models[0.1].module is models[0.05].module
    for lr, model in models.items():
        for rows in (4, 1):  # a batch of four, and of one (train_epochs_one where there is one)
            model.init(seed=1)
            x, y = XOR_X[:rows], XOR_Y[:rows]
            start, grads = model.params, model.gradients(x, y)
            model.fit(x, y, epochs=1, batch_size=rows, shuffle=False, progress=False)
            for p in net.param_names:
                want = start[p] - lr * grads[p]
                np.testing.assert_allclose(model.params[p], want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_assigning_an_optimizer_of_the_same_kind_equals_compiling_for_it(
    dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = xor_net()
    wanted = sg.Adam(lr=0.003, beta1=0.8, beta2=0.99, eps=1e-6)
    fresh = sg.compile(net, wanted, dtype, shape="blas").init(seed=2)
    model = sg.compile(net, sg.Adam(lr=0.01), dtype, shape="blas").init(seed=2)

    def no_compile(*args: object, **kwargs: object) -> None:
        raise AssertionError("assigning an optimiser of the same kind compiled a module")

    monkeypatch.setattr(generate_module, "generate", no_compile)
    monkeypatch.setattr(build_module, "compile", no_compile)
    model.optimizer = wanted
    assert model.optimizer == wanted and model.module is fresh.module
    for m in (model, fresh):
        m.fit(XOR_X, XOR_Y, epochs=5, batch_size=2, shuffle=False, progress=False)
    for p in net.param_names:
        np.testing.assert_array_equal(model.params[p], fresh.params[p])
    assert model.optimizer_state.keys() == fresh.optimizer_state.keys()


def test_assigning_another_kind_or_a_bad_value_is_a_clear_error() -> None:
    net = xor_net()
    model = sg.compile(net, sg.Adam(lr=0.01), "float32", shape="blas")
    with pytest.raises(sg.SpecError, match=r"compiled for Adam, not SGD.*sg\.compile"):
        model.optimizer = sg.SGD(lr=0.1)
    with pytest.raises(sg.SpecError, match="optimizer must be an optimiser"):
        model.optimizer = "adam"  # type: ignore[assignment]
    with pytest.raises(sg.SpecError, match="beyond the range of float32"):
        model.optimizer = sg.Adam(lr=1e39)
    assert model.optimizer == sg.Adam(lr=0.01)  # unchanged by a refused assignment


def test_train_with_a_new_learning_rate_does_not_recompile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["train", XOR_SPEC, "--data", "xor", "--epochs", "3", "--no-progress", "--seed", "1"]
    assert main([*args, "--lr", "0.5"]) == 0
    first = capsys.readouterr().out
    generated: list[object] = []
    real = generate_module.generate
    monkeypatch.setattr(
        generate_module, "generate", lambda *a, **k: generated.append(a) or real(*a, **k)
    )
    assert main([*args, "--lr", "0.2"]) == 0
    second = capsys.readouterr().out
    assert generated == []  # the module of the first run, found by its kind
    assert "lr=0.2" in second and "lr=0.5" in first
    assert first.splitlines()[-3:] != second.splitlines()[-3:]  # and it trained with 0.2


def test_adamw_is_one_registry_entry_from_python_toml_and_the_cli(tmp_path: Path) -> None:
    """AdamW (decoupled weight decay) is one dataclass in net/optim.py: the spec files and the
    command line read it from the registry, and with no decay it is Adam to the last bit.
    (tests/test_torch_parity.py follows torch.optim.AdamW step for step.)"""
    net = xor_net()
    spec = tmp_path / "adamw.toml"
    spec.write_text(
        '[network]\nsizes = [2, 2, 1]\nhidden = "tanh"\noutput = "sigmoid"\n'
        '[optimizer]\nname = "adamw"\nlr = 0.02\nweight_decay = 0.2\n'
    )
    assert sg.load_spec(spec).optimizer.build() == sg.AdamW(lr=0.02, weight_decay=0.2)
    plain, decoupled = (
        sg.compile(net, opt, shape="blas").init(seed=4)
        for opt in (sg.Adam(lr=0.05), sg.AdamW(lr=0.05, weight_decay=0.0))
    )
    for model in (plain, decoupled):
        model.fit(XOR_X, XOR_Y, epochs=20, batch_size=2, shuffle=False, progress=False)
    for p in net.param_names:
        np.testing.assert_array_equal(plain.params[p], decoupled.params[p])
    assert main(["train", str(spec), "--data", "xor", "--epochs", "2", "--no-progress"]) == 0
