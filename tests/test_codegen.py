"""Generated modules: printer output, templates, golden source, ruff, Numba vs Python, caching."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.codegen import cache as cache_module
from symgrad.codegen.cache import cache_dir
from symgrad.codegen.printer import numba_code, sigmoid, softplus, stabilise
from symgrad.codegen.recipe import UNROLL_MAX_PARAMS, choose_shape, n_params
from symgrad.errors import CodegenError
from symgrad.net.ops import a, y, z
from symgrad.verify import numeric

ROOT = Path(__file__).resolve().parent.parent
RUFF_RULES = "E,F,W,I,B,UP,SIM,RUF"
SHAPES = ("blas", "unrolled")


def xor_net() -> sg.Network:
    return sg.Network.mlp([2, 2, 1], hidden="tanh", output="sigmoid", cost="mse", name="xor")


# ---------------------------------------------------------------------------------------------
# Corpus: every built-in activation (hidden and output), every cost, softmax with each cost
# ---------------------------------------------------------------------------------------------
def _corpus() -> dict[str, sg.Network]:
    nets: dict[str, sg.Network] = {}
    costs = ["quadratic", "half_quadratic", "mse"]
    for i, act in enumerate(
        ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "silu", "elu"]
    ):
        cost = costs[i % 3]
        nets[f"{act}-{cost}"] = sg.Network.mlp([3, 4, 2], hidden=act, output=act, cost=cost)
    nets["sigmoid-binary_cross_entropy"] = sg.Network.mlp(
        [3, 4, 2], hidden="tanh", output="sigmoid", cost="binary_cross_entropy"
    )
    # -sum y log a under sigmoid outputs: not a built-in pair (refused), but a formula may ask
    nll = sg.Cost.from_formula("nll", "-y*log(a)")
    nets["sigmoid-nll"] = sg.Network.mlp([3, 4, 2], hidden="elu", output="sigmoid", cost=nll)
    for cost in ["cross_entropy", "quadratic", "half_quadratic", "mse", "binary_cross_entropy"]:
        nets[f"softmax-{cost}"] = sg.Network.mlp(
            [3, 4, 3], hidden="sigmoid", output="softmax", cost=cost
        )
    swish = sg.Activation.from_formula("myswish", "z*sigmoid(z)")
    logcosh = sg.Cost.from_formula("logcosh", "log(cosh(a - y))")
    nets["user-swish-logcosh"] = sg.Network(
        [sg.Dense(3, 4, swish), sg.Dense(4, 3, "softplus", bias=False), sg.Dense(3, 2, "identity")],
        logcosh,
    )
    return nets


CORPUS = _corpus()
_MODELS: dict[tuple[str, str], sg.Model] = {}


def compiled(name: str, shape: str) -> sg.Model:
    """Each corpus network compiled once per test run and shape."""
    if (name, shape) not in _MODELS:
        _MODELS[name, shape] = sg.compile(CORPUS[name], shape=shape)
    return _MODELS[name, shape]


def batch(
    net: sg.Network, rng: np.random.Generator, rows: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0.0, 1.0, (rows, net.sizes[0])), numeric.random_targets(net, rows, rng)


# ---------------------------------------------------------------------------------------------
# Printer
# ---------------------------------------------------------------------------------------------
def test_printer_piecewise_is_a_conditional_expression() -> None:
    leaky = sg.ACTIVATIONS["leaky_relu"].expr
    assert (
        numba_code(leaky, {z: "z1[s, j]"}) == "(z1[s, j] if (z1[s, j] > 0) else (1/100)*z1[s, j])"
    )
    assert (
        numba_code(sp.Piecewise((z, z > 0), (2 * z, z < -1)))
        == "(z if (z > 0) else (2*z if (z < -1) else math.nan))"
    )


def test_float32_formulas_stay_float32() -> None:
    """Numba widens float32 to float64 when a Python number joins in: float32 modules print
    every number in the module's dtype, and every built-in formula then types as float32."""
    import math

    import numba

    from symgrad.codegen.printer import numbers_for

    with numbers_for("float32"):
        assert numba_code(1 - a**2) == "DTYPE(1) - a**2"
        assert (
            numba_code(a - 3) == "a - DTYPE(3)" and numba_code(-sp.Rational(1, 3)) == "-DTYPE(1/3)"
        )
        codes = [numba_code(act.expr) for act in sg.ACTIVATIONS.values() if not act.is_softmax]
        codes += [numba_code(act.derivative) for act in sg.ACTIVATIONS.values()]
        codes += [numba_code(c.expr) for c in sg.COSTS.values()]
        codes += [numba_code(c.dC_da) for c in sg.COSTS.values()]
    assert numba_code(1 - a**2) == "1 - a**2"  # float64 modules: plain numbers
    scope = {"DTYPE": np.float32, "math": math}  # what the printed code calls
    scope["_exp"] = numba.njit(lambda u: math.exp(u))
    scope["_sigmoid"] = numba.njit(lambda u: np.float32(1) / (np.float32(1) + math.exp(-u)))
    scope["_softplus"] = numba.njit(lambda u: max(u, np.float32(0)) + math.log1p(math.exp(-abs(u))))
    scope["_tanh"] = numba.njit(lambda u: math.tanh(u))
    one = np.float32(0.25)
    for code in codes:
        exec(f"def f(z, a, y):\n    return {code}", scope)
        f = numba.njit(scope["f"])
        f(one, one, one)
        assert f.nopython_signatures[0].return_type == numba.float32, code


def test_printer_emits_safe_sigmoid_and_softplus() -> None:
    assert stabilise(1 / (1 + sp.exp(-z))) == sigmoid(z)
    assert stabilise(sp.log(1 + sp.exp(z))) == softplus(z)
    assert numba_code(sg.ACTIVATIONS["sigmoid"].expr) == "_sigmoid(z)"
    assert numba_code(sg.ACTIVATIONS["softplus"].expr) == "_softplus(z)"
    assert numba_code(sg.ACTIVATIONS["silu"].expr) == "z*_sigmoid(z)"
    assert numba_code(sg.ACTIVATIONS["elu"].expr) == "(z if (z > 0) else _exp(z) - 1)"
    assert numba_code(sg.ACTIVATIONS["tanh"].expr) == "_tanh(z)"
    assert numba_code(sg.ACTIVATIONS["tanh"].derivative, {a: "a1[s, j]"}) == "1 - a1[s, j]**2"
    assert numba_code(sg.COSTS["half_quadratic"].dC_da, {a: "a", y: "y"}) == "a - y"


# ---------------------------------------------------------------------------------------------
# The blas shape's exp: a polynomial in arithmetic alone, so that the element-wise loops vectorise
# ---------------------------------------------------------------------------------------------
def _blas_module(dtype: str, name: str = "expnet") -> Any:
    net = sg.Network.mlp([3, 32, 10], "sigmoid", "softmax", cost="cross_entropy", name=name)
    return sg.compile(net, sg.SGD(0.1), dtype, shape="blas").module


def _exp_inputs(dtype: str, rng: np.random.Generator) -> np.ndarray:
    """Every range of exp: random over the whole domain, close to 0, both thresholds (overflow,
    subnormal results, underflow to 0), the halfway points of the rounding to n, and specials."""
    info = np.finfo(dtype)
    high, low = float(np.log(info.max)), float(np.log(info.smallest_subnormal))
    tiny = float(np.log(info.smallest_normal))
    halves = (np.arange(-300, 300) + 0.5) * np.log(2.0)
    points = [
        rng.uniform(low - 5, high + 5, 20_000),
        rng.normal(0.0, 3.0, 5_000),
        np.linspace(low - 1, tiny + 1, 2_000),  # subnormal results
        np.linspace(high - 1, high + 1, 1_000),
        halves[(halves > low) & (halves < high)],
        [0.0, -0.0, 1e-300, -1e-300, 1e-8, -1e-8, np.inf, -np.inf, np.nan, high, low],
    ]
    with np.errstate(over="ignore"):
        return np.concatenate([np.asarray(p, np.float64) for p in points]).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blas_exp_is_within_one_ulp(dtype: str, rng: np.random.Generator) -> None:
    """Against exp in long double (float32: float64), rounded to the dtype: at most one ulp off,
    and inf, 0, subnormals and NaN where np.exp gives them."""
    import numba

    exp = _blas_module(dtype)._exp
    x = _exp_inputs(dtype, rng)
    got = np.array([exp(v) for v in x], dtype)
    (signature,) = exp.nopython_signatures
    assert signature.return_type == numba.from_dtype(np.dtype(dtype))  # no widening
    wide = np.longdouble if dtype == "float64" else np.float64
    with np.errstate(over="ignore", under="ignore"):
        exact = np.exp(x.astype(wide))
        want = exact.astype(dtype)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(got[~np.isfinite(want)], want[~np.isfinite(want)])
        np.testing.assert_array_equal(got[want == 0], 0.0)
        finite = np.isfinite(want) & (want > 0)
        ulps = np.abs(got[finite] - exact[finite]) / np.spacing(want[finite]).astype(wide)
    assert float(ulps.max()) <= 1.0, x[finite][np.argmax(ulps)]
    assert float(ulps.mean()) < 0.3


@pytest.mark.parametrize("shape", ["unrolled", "blas"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tanh_is_within_two_ulps(dtype: str, shape: str, rng: np.random.Generator) -> None:
    """The module's tanh (from its _exp) against tanh in long double (float32: float64): at most
    two ulps off (libm's own tanh is off by up to 2 here), odd, and +-1, +-0 and NaN kept."""
    net = sg.Network.mlp([2, 2, 1], hidden="tanh", output="identity", cost="mse", name="tanhnet")
    tanh = sg.compile(net, sg.SGD(0.1), dtype, shape=shape).module._tanh
    small = np.logspace(np.log10(np.finfo(dtype).smallest_subnormal), 0, 2_000)
    points = [
        rng.uniform(-25, 25, 20_000),
        rng.normal(0.0, 1.0, 5_000),
        small,
        -small,
        np.linspace(0.6, 0.65, 2_001),  # both sides of the switch at 0.625
        [0.0, 0.625, 1e30, np.inf, np.nan],
    ]
    x = np.concatenate([np.asarray(p, np.float64) for p in points]).astype(dtype)
    x = np.concatenate([x, -x])
    got = np.array([tanh(v) for v in x], dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(x))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(x))  # -0.0 stays -0.0
    assert got[np.abs(x) > 25].tolist() == np.sign(x[np.abs(x) > 25]).tolist()
    wide = np.longdouble if dtype == "float64" else np.float64
    finite = np.isfinite(x) & (x != 0)
    exact = np.tanh(x[finite].astype(wide))
    ulps = np.abs(got[finite] - exact) / np.spacing(np.abs(exact).astype(dtype)).astype(wide)
    assert float(ulps.max()) <= 2.0, x[finite][np.argmax(ulps)]
    assert float(ulps.mean()) < 0.3


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blas_elementwise_loops_vectorise(
    dtype: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The sigmoid, tanh and softmax loops of forward and train_epochs compile to vector
    instructions, with no call to libm's exp or tanh, or to the module's helpers, left (a fresh
    cache: Numba shows no IR for code it loads from its cache)."""
    import re

    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    layers = [sg.Dense(3, 32, "sigmoid"), sg.Dense(32, 32, "tanh"), sg.Dense(32, 10, "softmax")]
    net = sg.Network(layers, cost="cross_entropy", name="vectorised")
    module = sg.compile(net, sg.SGD(0.1), dtype, shape="blas").module
    params = {p: np.full(shape, 0.1, dtype) for p, shape in (("W1", (32, 3)), ("b1", (32,)),
              ("W2", (32, 32)), ("b2", (32,)), ("W3", (10, 32)), ("b3", (10,)))}  # fmt: skip
    buffers = [np.empty((4, n), dtype) for n in (32, 32, 32, 32, 10, 10)]
    module.forward(np.ones((4, 3), dtype), *params.values(), *buffers)
    a1 = 1 / (1 + np.exp(-0.4))
    np.testing.assert_allclose(buffers[1], a1, rtol=1e-6)
    np.testing.assert_allclose(buffers[3], np.tanh(3.2 * a1 + 0.1), rtol=1e-6)
    (ir,) = module.forward.inspect_llvm().values()
    element = "double" if dtype == "float64" else "float"  # any width: SSE, AVX2 or AVX-512
    vector_divisions = re.findall(rf"fdiv[^\n]*<\d+ x {element}>", ir)
    assert len(vector_divisions) >= 2, "the sigmoid and tanh loops are not both vectorised"
    assert not re.search(r"call [^\n]*@(llvm\.)?(exp|tanh)", ir)
    # and train_epochs, where the same loops are written out, on nets of the benchmark's digits
    # size. LLVM does not inline a call it judges cold (below 2% of the function's entry, by its
    # own estimate), and a loop left calling _exp stays scalar: the softmax's exp was, after a
    # tanh layer, until it got a function of its own (_exp_all)
    for hidden in ("sigmoid", "tanh"):
        layers = [sg.Dense(64, 32, hidden), sg.Dense(32, 10, "softmax")]
        model = sg.compile(sg.Network(layers, "cross_entropy"), sg.SGD(0.1), dtype, shape="blas")
        X, Y = np.ones((40, 64), dtype), np.full((40, 10), 0.1, dtype)
        model.fit(X, Y, epochs=1, batch_size=8, shuffle=False, progress=False)
        (ir,) = model.module.train_epochs.inspect_llvm().values()
        assert re.search(rf"fdiv[^\n]*<\d+ x {element}>", ir), f"the {hidden} loop is scalar"
        assert not re.search(r"call [^\n]*@(llvm\.)?(exp|tanh)", ir)
        assert not re.search(r"call [^\n]*@\w*\d(_exp|_sigmoid|_tanh)B\d", ir), "a helper call"
        (ir,) = model.module._exp_all.inspect_llvm().values()
        assert re.search(rf"<\d+ x {element}>", ir)
        assert not re.search(r"call [^\n]*@\w*\d_expB\d", ir)


def test_printer_refuses_what_numba_cannot_run() -> None:
    with pytest.raises(CodegenError, match="cannot emit"):
        numba_code(sp.Function("mystery")(z))


# ---------------------------------------------------------------------------------------------
# Source: header, names, comments, imports, determinism, ruff, golden
# ---------------------------------------------------------------------------------------------
def test_generate_defaults_and_header() -> None:
    code = sg.generate(xor_net())
    assert isinstance(code, sg.GeneratedModule)
    assert code.optimizer == sg.SGD(lr=0.1) and code.dtype == "float64"
    assert code.shape == "unrolled"  # 9 parameters: see choose_shape
    for shape in SHAPES:
        code = sg.generate(xor_net(), shape=shape)
        head = code.source.splitlines()[:12]
        assert any("Network: xor (2 -> 2 tanh -> 1 sigmoid), cost: mse" in line for line in head)
        assert any(f"Shape: {shape}" in line for line in head)
        assert any("Regenerate" in line for line in head)
        for name in ("z2", "a2", "delta2", "dW2", "db1", "def train_epochs("):
            assert name in code.source
        comments = [line for line in code.source.splitlines() if line.strip().startswith("#")]
        for label in ("BP1", "BP2", "BP3", "BP4"):
            assert any(label in line for line in comments), (shape, label)


def test_unrolled_source_reads_like_the_derivation() -> None:
    source = sg.generate(xor_net(), shape="unrolled").source
    for line in (
        "z2_0 = w2_0_0*a1_0 + w2_0_1*a1_1 + b2_0",
        "a1_1 = _tanh(z1_1)",
        "delta2_0 = 2*a2_0*(1 - a2_0)*(a2_0 - y_0)",
        "delta1_1 = (1 - a1_1**2)*w2_0_1*delta2_0",
        "dC_dw1_1_0 += delta1_1*x_0",
        "lr = hyper[0]",
        "step = lr*inv_b",
        "w2_0_1 -= step*dC_dw2_0_1",
        "# delta1_0 = dC/dz1_0 = da1_0/dz1_0 * sum_i dz2_i/da1_0 * dC/dz2_i",
        "# BP2: delta^(1)[j] = (1 - a^(1)[j]**2)*sum_(i=0..0) (delta^(2)[i]*w^(2)[i, j])",
    ):
        assert line in source, line
    # softmax without its fused cost: the sum over the outputs is one shared term (CSE)
    soft = sg.generate(CORPUS["softmax-mse"], shape="unrolled").source
    assert "# shared terms (common subexpressions)" in soft and "_tmp0 = " in soft
    assert "z_max = max(z2_0, z2_1, z2_2)" in soft
    assert (
        "lse = z_max + math.log(sum_exp)"
        in sg.generate(CORPUS["softmax-cross_entropy"], shape="unrolled").source
    )


def test_generated_module_imports_only_numpy_numba_and_stdlib() -> None:
    """numpy, numba and llvmlite (Numba's own, which links NumPy's BLAS) and the standard library."""
    for name, shape in (
        ("xor", "blas"),
        ("softmax-quadratic", "unrolled"),
        ("user-swish-logcosh", "blas"),
    ):
        net = xor_net() if name == "xor" else CORPUS[name]
        tree = ast.parse(sg.generate(net, sg.Adam(), shape=shape).source)
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert imported <= {"ctypes", "math", "llvmlite", "numba", "numpy"}, imported


def test_generation_is_deterministic_and_content_addressed() -> None:
    one, two = sg.generate(xor_net()), sg.generate(xor_net())
    assert one.source == two.source and one.key == two.key
    others = {
        sg.generate(xor_net(), dtype="float32").key,
        sg.generate(xor_net(), sg.Momentum(0.1, 0.9)).key,
        sg.generate(sg.Network.mlp([2, 2, 1], "tanh", "sigmoid", "quadratic", name="xor")).key,
        sg.generate(xor_net(), shape="blas").key,
    }
    assert one.key not in others and len(others) == 4
    assert sg.generate(xor_net(), sg.SGD(lr=0.2)).key == one.key  # the kind, not the values


def test_bad_arguments_are_spec_errors() -> None:
    with pytest.raises(sg.SpecError, match="dtype"):
        sg.generate(xor_net(), dtype="float16")
    with pytest.raises(sg.SpecError, match="shape"):
        sg.generate(xor_net(), shape="gpu")
    with pytest.raises(sg.SpecError, match="optimizer"):
        sg.generate(xor_net(), optimizer="sgd")  # type: ignore[arg-type]
    with pytest.raises(sg.SpecError, match="lr"):
        sg.SGD(lr=-1.0)
    with pytest.raises(sg.SpecError, match="beta"):
        sg.Momentum(lr=0.1, beta=1.0)


def test_auto_shape_by_parameter_count() -> None:
    assert n_params(xor_net()) == 9 and choose_shape(xor_net()) == "unrolled"
    assert sg.generate(xor_net(), shape="auto").shape == "unrolled"
    edge = sg.Network.mlp([1, 10, 4], hidden="tanh", output="identity", cost="mse")
    assert n_params(edge) == UNROLL_MAX_PARAMS and choose_shape(edge, sg.SGD()) == "unrolled"
    # the optimiser's state counts too: Momentum up to 48 parameters, Adam up to 32
    assert choose_shape(edge, sg.Momentum()) == "blas" == choose_shape(edge, sg.Adam())
    adam_edge = sg.Network.mlp([3, 5, 2], hidden="tanh", output="identity", cost="mse")
    assert n_params(adam_edge) == 32 and sg.generate(adam_edge, sg.Adam()).shape == "unrolled"
    assert (
        choose_shape(sg.Network.mlp([3, 5, 3], output="softmax", cost="cross_entropy"), sg.Adam())
        == "blas"
    )
    wider = sg.Network.mlp([3, 7, 5, 2], hidden="tanh", output="identity", cost="mse")
    assert n_params(wider) == 80 and choose_shape(wider) == "blas"
    digits = sg.Network.mlp([64, 32, 10], output="softmax", cost="cross_entropy")
    assert sg.generate(digits).shape == "blas"


def test_golden_module(golden) -> None:
    golden("xor_module.py", sg.generate(xor_net(), sg.SGD(lr=0.5), shape="blas").source)


def test_golden_unrolled_module(golden) -> None:
    golden(
        "xor_unrolled_module.py", sg.generate(xor_net(), sg.SGD(lr=0.5), shape="unrolled").source
    )


def test_golden_classifier_adam_float32_module(golden) -> None:
    """relu / softmax / cross-entropy, Adam, float32, blas: the fused output delta, a
    piecewise derivative, an optimiser with state and scalars, float32 numbers."""
    net = sg.Network.mlp([4, 8, 3], "relu", "softmax", "cross_entropy", name="clf")
    code = sg.generate(net, sg.Adam(lr=0.01), "float32", shape="blas")
    golden("clf_adam_float32_module.py", code.source)


def test_golden_bce_momentum_unrolled_module(golden) -> None:
    """sigmoid / binary cross-entropy (fused, the stable softplus loss), Momentum, unrolled."""
    net = sg.Network.mlp([2, 3, 1], "tanh", "sigmoid", "binary_cross_entropy", name="bce")
    code = sg.generate(net, sg.Momentum(lr=0.1, beta=0.9), shape="unrolled")
    golden("bce_momentum_unrolled_module.py", code.source)


def test_generated_sources_pass_ruff(tmp_path: Path) -> None:
    ruff = shutil.which("ruff")
    cmd = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    if ruff is None and subprocess.run([*cmd, "--version"], capture_output=True).returncode != 0:
        pytest.skip("ruff is not installed")
    paths = []
    for i, net in enumerate([xor_net(), *CORPUS.values()]):
        opt = [sg.SGD(), sg.Momentum(), sg.Adam()][i % 3]
        dtype = "float32" if i % 2 else "float64"
        for shape in SHAPES:
            code = sg.generate(net, opt, dtype, shape=shape)
            paths.append(code.write(tmp_path / f"module_{i}_{shape}.py"))
    result = subprocess.run(
        [
            *cmd,
            "check",
            "--isolated",
            "--select",
            RUFF_RULES,
            "--line-length",
            "100",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_write_is_atomic_and_standalone(tmp_path: Path) -> None:
    target = sg.generate(xor_net()).write(tmp_path / "my_model.py")
    assert target.read_text() == sg.generate(xor_net()).source
    assert [p.name for p in tmp_path.iterdir()] == ["my_model.py"]  # no temp file left behind
    compile(target.read_text(), str(target), "exec")


# ---------------------------------------------------------------------------------------------
# Compiled numbers: gradients vs finite differences, Numba vs Python
# ---------------------------------------------------------------------------------------------
# The unrolled shape on every activation and every kind of output layer (generic cost, fused
# softplus, fused log-sum-exp, softmax through its Jacobian, user formulas); the other softmax
# and cross-entropy pairs take the same code paths.
UNROLLED_FD = sorted(
    set(CORPUS)
    - {
        "sigmoid-nll",
        "softmax-quadratic",
        "softmax-half_quadratic",
        "softmax-binary_cross_entropy",
    }
)
FD_CASES = [(name, "blas") for name in sorted(CORPUS)] + [(n, "unrolled") for n in UNROLLED_FD]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "shape"), FD_CASES)
def test_gradients_match_finite_differences(
    name: str, shape: str, rng: np.random.Generator
) -> None:
    model = compiled(name, shape)
    net = CORPUS[name]
    model.set_params(numeric.init_params(net, seed=3))
    X, Y = batch(net, rng)
    grads = model.gradients(X, Y)
    fd = numeric.finite_differences(net, model.params, X, Y, eps=1e-6)
    reference = numeric.gradients(net, model.params, X, Y)
    assert model.loss(X, Y) == pytest.approx(
        numeric.cost(net, model.params, X, Y), rel=1e-12, abs=1e-14
    )
    for p in net.param_names:
        np.testing.assert_allclose(grads[p], fd[p], rtol=1e-6, atol=1e-8, err_msg=f"{name}: {p}")
        np.testing.assert_allclose(
            grads[p], reference[p], rtol=1e-10, atol=1e-13, err_msg=f"{name}: {p}"
        )


def _output_pairs() -> list[tuple[str, str]]:
    """Every output activation with every cost it supports (BP1 is where the two meet)."""
    pairs = []
    for act, activation in sg.ACTIVATIONS.items():
        if act in ("swish", "linear"):  # the same objects as silu and identity
            continue
        for cost, c in sg.COSTS.items():
            if cost == "cross_entropy" and act != "softmax":  # refused: not BCE
                continue
            if not c.needs_probability or activation.probability:
                pairs.append((act, cost))
    return pairs


@pytest.mark.slow
@pytest.mark.parametrize(("act", "cost"), _output_pairs(), ids=lambda v: str(v))
def test_every_output_activation_with_every_cost(act: str, cost: str) -> None:
    """One-layer nets, so each pair compiles in a moment: gradients equal finite differences."""
    net = sg.Network.mlp([2, 3], hidden=act, output=act, cost=cost)
    model = sg.compile(net)
    rng = np.random.default_rng(7)
    model.set_params(numeric.init_params(net, seed=5))
    X, Y = batch(net, rng, rows=4)
    grads = model.gradients(X, Y)
    fd = numeric.finite_differences(net, model.params, X, Y, eps=1e-6)
    assert model.loss(X, Y) == pytest.approx(numeric.cost(net, model.params, X, Y), rel=1e-12)
    for p in net.param_names:
        np.testing.assert_allclose(grads[p], fd[p], rtol=1e-6, atol=1e-8, err_msg=f"{p}")


PY_FUNC_CASES = {
    "softmax-mse-adam": ("softmax-mse", sg.Adam(0.01)),
    "user-swish-logcosh-momentum": ("user-swish-logcosh", sg.Momentum(0.1, 0.9)),
    "sigmoid-bce-sgd": ("sigmoid-binary_cross_entropy", sg.SGD(0.1)),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(PY_FUNC_CASES))
def test_numba_functions_equal_their_python(case: str, rng: np.random.Generator) -> None:
    name, opt = PY_FUNC_CASES[case]
    net = CORPUS[name]
    model = sg.compile(net, opt, shape="blas")
    mod, names = model.module, net.param_names
    model.set_params(numeric.init_params(net, seed=5))
    X, Y = batch(net, rng, rows=6)
    params = [model.params[p] for p in names]
    bufs = [np.empty((6, n)) for n in net.sizes[1:] for _ in range(2)]
    py_bufs = [b.copy() for b in bufs]
    np.testing.assert_array_equal(
        mod.forward(X, *params, *bufs), mod.forward.py_func(X, *params, *py_bufs)
    )
    assert mod.cost_sum(Y, *bufs[-2:]) == pytest.approx(
        mod.cost_sum.py_func(Y, *py_bufs[-2:]), rel=1e-14
    )
    for fn in (mod.gradients, mod.loss, mod.predict):
        args = (X, Y, *params) if fn is not mod.predict else (X, *params)
        for got, want in zip(_listed(fn(*args)), _listed(fn.py_func(*args)), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    deltas = [np.empty((6, n)) for n in net.sizes[1:]]
    grads = [np.empty_like(p) for p in params]
    py_grads = [np.empty_like(p) for p in params]
    mod.backward(X, Y, *params, *bufs, *deltas, *grads)
    mod.backward.py_func(X, Y, *params, *bufs, *[d.copy() for d in deltas], *py_grads)
    for got, want in zip(grads, py_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    # update and train_epoch change their arguments in place: run each on fresh copies
    state = [np.full_like(p, 0.1) for _ in opt.state for p in params]
    runs = []
    for fn in (mod.update, mod.update.py_func, mod.train_epoch, mod.train_epoch.py_func):
        ps, st = [p.copy() for p in params], [s.copy() for s in state]
        if fn in (mod.update, mod.update.py_func):
            out = fn(*ps, *grads, *st, 3, model._hyper)
        else:
            out = fn(X, Y, np.arange(6)[::-1].copy(), 4, *ps, *st, 2, model._hyper)
        runs.append((out, ps, st))
    for fn in (mod.train_epochs, mod.train_epochs.py_func):  # two epochs, shuffled
        ps, st, losses = [p.copy() for p in params], [s.copy() for s in state], np.empty(2)
        orders = np.array([[5, 3, 1, 0, 2, 4], [0, 1, 2, 3, 4, 5]])
        out = fn(X, Y, orders, 2, 4, *ps, *st, 2, model._hyper, losses)
        runs.append(((losses[0], out[1]), ps, st))
    for (out1, ps1, st1), (out2, ps2, st2) in (runs[:2], runs[2:4], runs[4:]):
        assert (out1 is None) == (out2 is None)
        if out1 is not None:
            assert out1[0] == pytest.approx(out2[0], rel=1e-13) and out1[1] == out2[1]
        for got, want in zip(ps1 + st1, ps2 + st2, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        ("xor", "float64"),
        ("xor", "float32"),
        ("softmax-cross_entropy", "float64"),
        ("first-layer-without-bias", "float64"),
    ],
)
def test_unrolled_train_epochs_one_takes_the_steps_of_train_epochs(
    name: str, dtype: str, rng: np.random.Generator
) -> None:
    """train_epochs_one (batches of one, plain SGD) takes the next example's z1 ahead, from the
    weights before the step plus the step's effect: the same weights, costs and step count as
    train_epochs with batches of one, to rounding, shuffled and in order, over epochs; and fit
    takes it for batches of one. Other optimisers have no such function."""
    nets = {
        "xor": xor_net(),
        "softmax-cross_entropy": CORPUS["softmax-cross_entropy"],
        "first-layer-without-bias": sg.Network(
            [sg.Dense(2, 3, "tanh", bias=False), sg.Dense(3, 2, "sigmoid")], "quadratic"
        ),
    }
    net = nets[name]
    model = sg.compile(net, sg.SGD(lr=0.7), dtype, shape="unrolled")
    mod = model.module
    X, Y = (a.astype(dtype) for a in batch(net, rng, rows=7))
    params = list(model.params.values())
    rtol = 1e-12 if dtype == "float64" else 1e-5  # a few roundings apart per step
    for orders in (np.array([rng.permutation(7) for _ in range(3)]), np.empty((0, 0), np.int64)):
        runs = []
        for fn in (mod.train_epochs, mod.train_epochs_one, mod.train_epochs_one.py_func):
            ps, losses = [p.copy() for p in params], np.empty(3)
            runs.append((fn(X, Y, orders, 3, 1, *ps, 5, model._hyper, losses), ps, losses))
        (want, want_ps, want_losses) = runs[0]
        assert want == (3, 5 + 3 * 7)
        for got, ps, losses in runs[1:]:
            assert got == want
            np.testing.assert_allclose(losses, want_losses, rtol=rtol)
            for p, w in zip(ps, want_ps, strict=True):
                np.testing.assert_allclose(p, w, rtol=rtol, atol=rtol / 100)
    calls: list[str] = []
    one = mod.train_epochs_one
    try:
        mod.train_epochs_one = lambda *args: (calls.append("one"), one(*args))[1]
        model.fit(X, Y, epochs=2, batch_size=1)
        model.fit(X, Y, epochs=2, batch_size=2)
    finally:
        mod.train_epochs_one = one
    assert calls == ["one"] * len(calls) and 1 <= len(calls) <= 2
    momentum = sg.generate(net, sg.Momentum(lr=0.1, beta=0.9), shape="unrolled")
    assert "def train_epochs_one(" not in momentum.source


@pytest.mark.slow
def test_blas_sgd_step_inside_the_gemm_equals_backward_then_update(
    rng: np.random.Generator,
) -> None:
    """With plain SGD, train_epochs takes the step in the GEMM that forms dC/dW (beta = 1): the
    same weights as forward, backward and update called in turn, batch by batch."""
    net = CORPUS["user-swish-logcosh"]  # three layers, one of them without bias
    model = sg.compile(net, sg.SGD(0.1), shape="blas")
    mod, names = model.module, net.param_names
    assert "minus_lr" in Path(str(mod.__file__)).read_text(encoding="utf-8")
    hyper = model._hyper
    start = numeric.init_params(net, seed=5)
    X, Y = batch(net, rng, rows=10)
    fused = [start[p].copy() for p in names]
    losses = np.empty(1)
    in_order = np.empty((0, 0), np.int64)
    assert mod.train_epochs(X, Y, in_order, 1, 4, *fused, 0, hyper, losses) == (1, 3)
    params = [start[p].copy() for p in names]
    for s in range(0, 10, 4):  # batches of 4, 4 and 2 rows
        x, y = X[s : s + 4], Y[s : s + 4]
        bufs = [np.empty((len(x), n)) for n in net.sizes[1:] for _ in range(2)]
        deltas = [np.empty((len(x), n)) for n in net.sizes[1:]]
        grads = [np.empty_like(p) for p in params]
        mod.forward(x, *params, *bufs)
        mod.backward(x, y, *params, *bufs, *deltas, *grads)
        mod.update(*params, *grads, s // 4 + 1, hyper)
    for name, got, want in zip(names, fused, params, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15, err_msg=name)


@pytest.mark.slow
def test_unrolled_functions_equal_their_python(rng: np.random.Generator) -> None:
    # three layers, one without bias, a user activation and cost, an optimiser with state
    net, opt = CORPUS["user-swish-logcosh"], sg.Momentum(0.1, 0.9)
    model = sg.compile(net, opt, shape="unrolled")
    mod, names = model.module, net.param_names
    model.set_params(numeric.init_params(net, seed=5))
    X, Y = batch(net, rng, rows=6)
    params = [model.params[p] for p in names]
    out, py_out = np.empty((6, net.sizes[-1])), np.empty((6, net.sizes[-1]))
    np.testing.assert_array_equal(
        mod.forward(X, *params, out), mod.forward.py_func(X, *params, py_out)
    )
    for fn in (mod.gradients, mod.loss, mod.predict):
        args = (X, Y, *params) if fn is not mod.predict else (X, *params)
        for got, want in zip(_listed(fn(*args)), _listed(fn.py_func(*args)), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    grads = [np.empty_like(p) for p in params]
    py_grads = [np.empty_like(p) for p in params]
    mod.backward(X, Y, *params, *grads)
    mod.backward.py_func(X, Y, *params, *py_grads)
    for got, want in zip(grads, py_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    state = [np.full_like(p, 0.1) for _ in opt.state for p in params]
    orders = np.array([[5, 3, 1, 0, 2, 4], [0, 1, 2, 3, 4, 5]])
    runs = []
    for fn in (mod.update, mod.update.py_func, mod.train_epochs, mod.train_epochs.py_func):
        ps, st, losses = [p.copy() for p in params], [s.copy() for s in state], np.empty(2)
        if fn in (mod.update, mod.update.py_func):
            fn(*ps, *grads, *st, 3, model._hyper)
            runs.append(((0.0, 0), ps, st))
        else:
            done, t = fn(X, Y, orders, 2, 4, *ps, *st, 2, model._hyper, losses)
            runs.append(((losses[1], (done, t)), ps, st))
    for fn in (mod.train_epoch, mod.train_epoch.py_func):
        ps, st = [p.copy() for p in params], [s.copy() for s in state]
        runs.append((fn(X, Y, orders[0].copy(), 4, *ps, *st, 2, model._hyper), ps, st))
    assert runs[2][0][1] == (2, 6)  # two epochs of batches 4 + 2, steps 3..6
    for (out1, ps1, st1), (out2, ps2, st2) in (runs[:2], runs[2:4], runs[4:]):
        assert out1[0] == pytest.approx(out2[0], rel=1e-13) and out1[1] == out2[1]
        for got, want in zip(ps1 + st1, ps2 + st2, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_train_epochs_allocates_nothing_per_batch_or_epoch(shape: str) -> None:
    from numba.core.runtime import _nrt_python, rtsys

    net = CORPUS["softmax-cross_entropy"]
    model = compiled("softmax-cross_entropy", shape)
    mod = model.module
    rng = np.random.default_rng(0)
    X, Y = batch(net, rng, rows=40)
    args = model._args()
    losses, in_order = np.empty(8), np.empty((0, 40), np.int64)
    orders = np.stack([rng.permutation(40) for _ in range(8)])
    was_on = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    try:
        counts = []
        for order, epochs, batch_size in ((in_order, 1, 40), (in_order, 8, 1), (orders, 8, 3)):
            mod.train_epochs(
                X, Y, order, epochs, batch_size, *args, 0, model._hyper, losses
            )  # compiled
            before = rtsys.get_allocation_stats()
            mod.train_epochs(X, Y, order, epochs, batch_size, *args, 0, model._hyper, losses)
            after = rtsys.get_allocation_stats()
            counts.append((after.alloc - before.alloc, after.free - before.free))
    finally:
        if not was_on:
            _nrt_python.memsys_disable_stats()
    # 1 batch x 1 epoch, 40 batches x 8 epochs, 14 batches x 8 epochs: the same allocations
    assert counts[0] == counts[1] == counts[2], counts
    assert counts[0][0] == counts[0][1]  # and all freed


def _listed(out: object) -> list[object]:
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_float32_module_agrees_with_float64(shape: str, rng: np.random.Generator) -> None:
    net = CORPUS["softmax-cross_entropy"]
    m64 = compiled("softmax-cross_entropy", shape)
    m32 = sg.compile(net, dtype="float32", shape=shape)
    params = numeric.init_params(net, seed=1)
    m64.set_params(params)
    m32.set_params(params)
    X, Y = batch(net, rng, rows=8)
    g32, g64 = m32.gradients(X, Y), m64.gradients(X, Y)
    assert all(g32[p].dtype == np.float32 for p in g32)
    for p in net.param_names:
        np.testing.assert_allclose(g32[p], g64[p], rtol=1e-4, atol=1e-6)
    assert m32.predict(X).dtype == np.float32


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------
def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here"
    monkeypatch.delenv("SYMGRAD_CACHE_DIR")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache_dir() == tmp_path / "xdg" / "symgrad"


@pytest.mark.slow
def test_compile_writes_one_file_per_hash_and_reuses_it() -> None:
    code = sg.generate(xor_net(), sg.SGD(lr=0.5))
    first, second = code.compile(), sg.compile(xor_net(), sg.SGD(lr=0.5))
    assert first.module is second.module
    path = code.cache_path()
    assert path.parent == cache_dir() and path.read_text() == code.cached_source
    assert code.key[:20] in path.name
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_a_cached_module_is_imported_without_generating(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from symgrad.codegen import cache
    from symgrad.codegen import generate as codegen

    first = sg.compile(xor_net(), sg.SGD(lr=0.5))
    monkeypatch.setattr(cache, "_LOADED", {})  # as in a new process: only the file is left

    def no_generation(*args: object, **kwargs: object) -> None:
        raise AssertionError("generate() was called for a cached module")

    monkeypatch.setattr(codegen, "generate", no_generation)
    again = sg.compile(xor_net(), sg.SGD(lr=0.5))
    assert again.module.__file__ == first.module.__file__
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_array_equal(again.predict(X), first.predict(X))


def test_the_key_follows_the_templates(tmp_path: Path) -> None:
    from symgrad.codegen.recipe import template_dir

    shutil.copytree(template_dir(), tmp_path / "t")
    same = sg.generate(xor_net(), template_dir=tmp_path / "t")
    assert same.key == sg.generate(xor_net()).key
    module = tmp_path / "t" / "module.py.jinja"
    module.write_text(module.read_text() + "# a local change\n")
    changed = sg.generate(xor_net(), template_dir=tmp_path / "t")
    assert changed.key != same.key and changed.source.endswith("# a local change\n")


_COMPILE_SNIPPET = """
import numpy as np, symgrad as sg
net = sg.Network.mlp([3, 5, 2], hidden="tanh", output="softmax", cost="cross_entropy", name="race")
m = sg.compile(net, sg.Adam(0.01))
X = np.arange(12.0).reshape(4, 3) / 10
print(m.fit(X, np.array([0, 1, 1, 0]), epochs=2, batch_size=2, shuffle=False).loss[-1])
"""


@pytest.mark.slow
def test_two_processes_compiling_at_once_share_one_cache_entry() -> None:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _COMPILE_SNIPPET],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
    assert outs[0][0] == outs[1][0]
    net = sg.Network.mlp(
        [3, 5, 2], hidden="tanh", output="softmax", cost="cross_entropy", name="race"
    )
    code = sg.generate(net, sg.Adam(0.01))
    entries = sorted(p for p in cache_dir().iterdir() if p.name.startswith("race_"))
    manifest = code.cache_path().with_suffix(".json")  # the module's sha256, and Numba's files'
    assert entries == [manifest, code.cache_path()]
    assert entries[1].read_text() == code.cached_source


_FIT_AND_WAIT = """
import sys, numpy as np, symgrad as sg
net = sg.Network.mlp([3, 4, 2], hidden="tanh", output="softmax", cost="cross_entropy", name="early")
m = sg.compile(net, sg.SGD(0.1))
m.fit(np.zeros((4, 3)), np.array([0, 1, 0, 1]), epochs=1, progress=False)
print("fitted", flush=True)
sys.stdin.read()  # alive until the test closes stdin
"""


@pytest.mark.slow
def test_a_first_fit_records_its_numba_files_for_processes_that_import_it_meanwhile() -> None:
    """Recorded after the first training call, not only at exit: a process that imports the
    module while this one runs keeps the files (it deletes those no manifest vouches for)."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", _FIT_AND_WAIT], env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "fitted"
        net = sg.Network.mlp(
            [3, 4, 2], hidden="tanh", output="softmax", cost="cross_entropy", name="early"
        )
        manifest = json.loads(
            sg.generate(net, sg.SGD(0.1)).cache_path().with_suffix(".json").read_text()
        )
        assert any(name.endswith(".nbc") for name in manifest["numba"])  # while it still runs
    finally:
        proc.communicate(input="", timeout=120)
    assert proc.returncode == 0


def test_a_cache_folder_that_is_not_writable_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # a read-only folder (root may write anywhere, so its answer is made up here)
    monkeypatch.setattr(
        cache_module.os,
        "access",
        lambda p, mode: False if Path(p) == locked else real_access(p, mode),
    )
    for folder in (tmp_path / "file", tmp_path / "file" / "below", locked):
        monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(folder))
        for make in (lambda: sg.compile(xor_net()), lambda: sg.generate(xor_net()).cache_path()):
            with pytest.raises(sg.SpecError) as info:
                make()
            assert str(info.value) == (
                f"SYMGRAD_CACHE_DIR={folder}: is not a writable folder; "
                "set it to a writable folder or unset it"
            )
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "new" / "cache"))
    assert sg.generate(xor_net()).cache_path().parent == tmp_path / "new" / "cache"
    assert (tmp_path / "new" / "cache").is_dir()  # made when first needed


# A new process that trains a cached model: what a damaged cache file did to every later run
_HEAL_CHILD = """
import json
import numpy as np
import symgrad as sg
net = sg.Network.mlp([2, 3, 1], hidden="tanh", output="sigmoid", name="heal")
model = sg.compile(net, sg.Momentum(lr=0.5, beta=0.5), shape="unrolled")
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
history = model.fit(X, np.array([0.0, 1.0, 1.0, 0.0]), epochs=20, batch_size=2, shuffle=False)
print(json.dumps(history.loss))
"""


def _train_in_a_new_process(cache: Path, numba_cache: Path | None) -> list[float]:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    env["SYMGRAD_CACHE_DIR"] = str(cache)
    env.pop("NUMBA_CACHE_DIR", None)
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    out = subprocess.run(
        [sys.executable, "-c", _HEAL_CHILD], env=env, capture_output=True, text=True, timeout=600
    )
    # a bus error would be a negative return code here, not the end of pytest
    assert out.returncode == 0, (out.returncode, out.stderr[-3000:])
    loss: list[float] = json.loads(out.stdout.strip().splitlines()[-1])
    return loss


def _stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.slow
@pytest.mark.parametrize("numba_dir", ["NUMBA_CACHE_DIR", "__pycache__"])
def test_a_damaged_cache_heals(tmp_path: Path, numba_dir: str) -> None:
    """A truncated generated module, Numba index or Numba data file: the next process finds it
    out (by the hashes in the module's manifest), makes it again, and trains to the same loss."""
    cache = tmp_path / "symgrad"
    numba_cache = tmp_path / "numba" if numba_dir == "NUMBA_CACHE_DIR" else None
    loss = _train_in_a_new_process(cache, numba_cache)  # generates, compiles, records
    (module,) = cache.glob("heal_*.py")
    manifest = json.loads(module.with_suffix(".json").read_text())
    numba_root = numba_cache if numba_cache is not None else cache / "__pycache__"
    numba_files = sorted(numba_root.rglob(f"{module.stem}.*.nb[ic]"))
    assert {p.name for p in numba_files} == set(manifest["numba"]) and len(numba_files) >= 4
    assert manifest["module"] == hashlib.sha256(module.read_bytes()).hexdigest()
    before = _stamps(tmp_path)
    assert _train_in_a_new_process(cache, numba_cache) == loss
    assert _stamps(tmp_path) == before  # a sound cache: nothing made again, nothing deleted
    damaged = {
        "module": module,
        "index": next(p for p in numba_files if ".train_epochs-" in p.name and p.suffix == ".nbi"),
        "data": next(p for p in numba_files if ".train_epochs-" in p.name and p.suffix == ".nbc"),
        "helper": next(p for p in numba_files if "._tanh-" in p.name and p.suffix == ".nbc"),
    }
    for what, path in damaged.items():
        good = path.read_bytes()
        path.write_bytes(good[: len(good) // 2])
        assert _train_in_a_new_process(cache, numba_cache) == loss, what
        # made again, or gone; what is there now is what the manifest vouches for
        manifest = json.loads(module.with_suffix(".json").read_text())
        if path.exists():
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            assert sha in (manifest["module"], manifest["numba"].get(path.name)), what
            assert len(path.read_bytes()) > len(good) // 2, what
    before = _stamps(tmp_path)
    assert _train_in_a_new_process(cache, numba_cache) == loss
    assert _stamps(tmp_path) == before  # healed: nothing is made again any more
    module.with_suffix(".json").unlink()  # a module nothing vouches for is made again
    module.write_text(module.read_text() + "raise SystemExit('not this one')\n")
    assert _train_in_a_new_process(cache, numba_cache) == loss
    assert "not this one" not in module.read_text()


# ---------------------------------------------------------------------------------------------
# Packaging
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_wheel_ships_the_templates(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("symgrad-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").glob("*.jinja"):
        assert f"symgrad/templates/{template.name}" in names


def test_the_key_follows_only_what_shapes_the_module(tmp_path: Path) -> None:
    """The generator's fingerprint covers the declaration, the calculus, the generator, the
    notation of its comments and the templates; the command line, the files, the runtime and
    the other views recompile nothing."""
    from symgrad.codegen.cache import generator_fingerprint
    from symgrad.codegen.recipe import template_dir

    package = tmp_path / "symgrad"
    shutil.copytree(
        Path(sg.__file__).resolve().parent, package, ignore=shutil.ignore_patterns("__pycache__")
    )
    before = generator_fingerprint(template_dir(), package)
    assert before == generator_fingerprint(template_dir(), package)
    for untouched in ("cli/train.py", "io/data.py", "runtime/model.py", "views/render.py"):
        path = package / untouched
        path.write_text(path.read_text() + "# edited\n")
    assert generator_fingerprint(template_dir(), package) == before
    for shaping in ("codegen/printer.py", "net/optim.py", "calculus/chain.py", "views/notation.py"):
        path = package / shaping
        path.write_text(path.read_text() + "# edited\n")
        after = generator_fingerprint(template_dir(), package)
        assert after != before, shaping
        before = after
