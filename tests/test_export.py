"""Export: ONNX (run by onnxruntime), the NumPy module (run where symgrad, SymPy and Numba cannot
be imported), the C99 header (compiled with cc) and to_torch, each against ``model.predict``;
the lowering of activations; the ``symgrad export`` command and its refusals."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.cli import main
from symgrad.errors import SpecError
from symgrad.export import export, lowering
from symgrad.export.code_text import Infix, c_spelling, numpy_spelling
from symgrad.net.ops import ACTIVATIONS
from symgrad.net.variables import z

ROOT = Path(__file__).resolve().parent.parent
XOR = str(ROOT / "examples" / "xor.toml")
CHAIN = str(ROOT / "examples" / "chain.toml")

# every built-in but softmax, once (swish and linear are other names of silu and identity)
BUILTIN_HIDDEN = [n for n, act in ACTIVATIONS.items() if act.name == n and not act.is_softmax]
FORMULAS = {
    "mish": "z*tanh(softplus(z))",
    "kinks": "max(z, 0.1*z) + min(z, 0)/2 - abs(z)/4",
    "mixed": "z*sigmoid(z) + exp(-z**2) + sqrt(1 + z**2) + log(1 + z**2) + sin(z) - cos(z) + 2**z/8",
}
# onnxruntime's CPU provider runs these in float32 only: the float32 net alone has them
FLOAT32_ONLY = {"hyper": "sinh(z/3) + cosh(z/5) + atan(z) + asinh(z) + erf(z) + tan(atan(z)/3)"}
CASES = ["builtins-float64", "builtins-float32", "formulas-float64", "formulas-float32"]
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def builtin_net() -> sg.Network:
    """One hidden layer per built-in, a softmax output; a residual layer (tanh), one without a
    bias (relu) and one with dropout (elu)."""
    layers = [sg.Dense(4, 6, BUILTIN_HIDDEN[0])]
    for name in BUILTIN_HIDDEN[1:]:
        layers.append(
            sg.Dense(
                6,
                6,
                name,
                residual=name == "tanh",
                bias=name != "relu",
                dropout=0.2 if name == "elu" else 0.0,
            )
        )
    layers.append(sg.Dense(6, 3, "softmax"))
    return sg.Network(layers, cost="cross_entropy", name="builtins")


def formula_net(dtype: str) -> sg.Network:
    formulas = FORMULAS | (FLOAT32_ONLY if dtype == "float32" else {})
    acts = [sg.Activation.from_formula(name, text) for name, text in formulas.items()]
    layers = [sg.Dense(3, 5, acts[0])]
    layers += [sg.Dense(5, 5, act, residual=act.name == "kinks") for act in acts[1:]]
    layers.append(sg.Dense(5, 2, "identity", bias=False))
    return sg.Network(layers, cost="quadratic", name="formulas")


@cache
def trained(case: str) -> sg.Model:
    """A compiled model holding random weights and biases, far from the init (zero biases).

    Not fitted: Numba's compile of train_epochs for these deep nets takes some 20 s each, and
    random weights stand for trained ones here; the command's test exports a trained model.
    """
    kind, dtype = case.split("-")
    net = builtin_net() if kind == "builtins" else formula_net(dtype)
    model = sg.compile(net, sg.Adam(lr=0.01), dtype=dtype)
    rng = np.random.default_rng(1)
    model.set_params({name: rng.normal(0.0, 0.6, arr.shape) for name, arr in model.params.items()})
    return model


def inputs(model: sg.Model, extreme: bool = True) -> np.ndarray:
    """Rows to predict: normal ones, and for the built-ins rows large enough that a naive
    sigmoid, softplus or softmax would overflow."""
    rng = np.random.default_rng(3)
    X = rng.normal(0.0, 2.0, (40, model.net.sizes[0]))
    if extreme and model.net.name == "builtins":
        X = np.vstack([X, 800.0 * rng.choice([-1.0, 1.0], (4, model.net.sizes[0]))])
    return X.astype(model.dtype)


def assert_close(got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    """Relative agreement, the scale of the outputs standing in for values near zero."""
    assert got.shape == want.shape
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, np.abs(want).max()))


# ----------------------------------------------------------------------------------------------
# The lowering
# ----------------------------------------------------------------------------------------------
NUMPY_OPS: dict[str, Any] = {
    "const": lambda v: v, "neg": np.negative, "exp": np.exp, "expm1": np.expm1, "log": np.log,
    "log1p": np.log1p, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "erf": np.vectorize(math.erf), "abs": np.abs, "sigmoid": lambda u: 1 / (1 + np.exp(-u)),
    "softplus": lambda u: np.logaddexp(0, u), "not": np.logical_not, "add": np.add,
    "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "max": np.maximum, "min": np.minimum, "gt": np.greater, "ge": np.greater_equal,
    "lt": np.less, "le": np.less_equal, "eq": np.equal, "and": np.logical_and,
    "or": np.logical_or, "where": np.where,
}  # fmt: skip


@pytest.mark.parametrize("name", BUILTIN_HIDDEN)
def test_each_builtin_lowering_is_its_sympy_formula(name: str) -> None:
    act = ACTIVATIONS[name]
    tree = lowering.elementwise(act)
    assert tree is not None
    u = np.linspace(-6.0, 6.0, 241)
    want = np.broadcast_to(sp.lambdify(z, act.expr, "numpy")(u), u.shape)
    np.testing.assert_allclose(lowering.fold(tree, u, NUMPY_OPS), want, rtol=1e-13, atol=1e-15)


def test_every_target_has_every_operation() -> None:
    from symgrad.export.onnx_graph import _Graph

    onnx = pytest.importorskip("onnx")
    everything = {"const", *lowering.OPS}
    assert set(NUMPY_OPS) == everything
    assert set(_Graph(onnx, np.dtype("float64")).ops()) == everything
    for spelling in (numpy_spelling(), c_spelling(True), c_spelling(False)):
        assert set(Infix(spelling)._table()) == everything
    if _has_torch():
        from symgrad.export.torch_nn import _ops

        assert set(_ops(__import__("torch").float64, 20.0)) == everything


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("name,text", [*FORMULAS.items(), *FLOAT32_ONLY.items()])
def test_user_formulas_lower_to_what_they_compute(name: str, text: str) -> None:
    act = sg.Activation.from_formula(name, text)
    tree = lowering.elementwise(act)
    assert tree is not None
    u = np.linspace(-3.0, 3.0, 121)
    want = sp.lambdify(z, act.expr, ["numpy", {"erf": np.vectorize(math.erf)}])(u)
    np.testing.assert_allclose(lowering.fold(tree, u, NUMPY_OPS), want, rtol=1e-13, atol=1e-14)


def test_printed_code_keeps_the_trees_order() -> None:
    """Parentheses where the tree needs them, none where it does not; -(-u), never --u."""
    py = Infix(numpy_spelling())
    c = Infix(c_spelling(single=True))
    tree = ("sub", ("z",), ("sub", ("const", 1.0), ("neg", ("neg", ("z",)))))
    assert py.code(tree, "z") == "z - (1.0 - -(-z))"
    assert c.code(tree, "z") == "z - (1.0f - -(-z))"
    power = ("pow", ("neg", ("z",)), ("const", 2.0))
    assert py.code(power, "z") == "(-z) ** 2.0"
    assert c.code(power, "z") == "powf(-z, 2.0f)"
    Z = lowering.Z
    logic = ("where", ("or", ("gt", Z, ("const", 0.0)), ("and", Z, Z)), Z, Z)
    assert c.code(logic, "z") == "((z > 0.0f) || (z && z) ? z : z)"


def test_a_function_with_no_onnx_op_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every function of the formula whitelist lowers (the tests above), so the refusal is shown
    with one the whitelist does not take: Bessel's J0, as if a formula held it."""
    with pytest.raises(SpecError, match=r"activation 'j0': besselj has no ONNX op") as err:
        lowering.lower(sp.besselj(0, z) + z, "j0")
    assert "\n" not in str(err.value)
    act = sg.Activation.from_formula("j0", "z*sigmoid(z)")
    net = sg.Network([sg.Dense(2, 1, act)], cost="quadratic")
    model = SimpleNamespace(
        net=net, params={"W1": np.ones((1, 2)), "b1": np.zeros(1)}, dtype="float64"
    )
    monkeypatch.setattr(lowering, "formula_expr", lambda act: sp.besselj(0, z))
    for suffix in (".onnx", ".py", ".h"):
        with pytest.raises(SpecError, match="besselj has no ONNX op"):
            export(model, tmp_path / f"m{suffix}")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# ONNX
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_onnx_matches_predict_in_onnxruntime(case: str, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = trained(case)
    path = model.export(tmp_path / "model.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    (x,), (y,) = proto.graph.input, proto.graph.output
    assert x.name == "x" and y.name == "y"
    dims = x.type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == model.net.sizes[0]  # a dynamic batch
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Gemm") == model.net.L
    if case.startswith("builtins"):
        assert {"Sigmoid", "Tanh", "Relu", "LeakyRelu", "Softmax"} <= set(ops)
        if model.dtype == np.float32:  # float64: no kernel in onnxruntime, written out
            assert {"Softplus", "Elu"} <= set(ops)
        leaky = next(n for n in proto.graph.node if n.op_type == "LeakyRelu")
        assert onnx.helper.get_attribute_value(leaky.attribute[0]) == pytest.approx(0.01)
        assert ops.count("Add") >= 1  # the residual layer
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    X = inputs(model)
    (got,) = session.run(["y"], {"x": X})
    assert got.dtype == model.dtype
    # onnxruntime's own float64 sigmoid is good to about 1e-11
    rtol = 1e-10 if model.dtype == np.float64 else 1e-5
    assert_close(got, model.predict(X), rtol)


# ----------------------------------------------------------------------------------------------
# The NumPy module
# ----------------------------------------------------------------------------------------------
RUN_MODULE = """
import sys
sys.modules['symgrad'] = sys.modules['sympy'] = sys.modules['numba'] = None
import importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location('exported', sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
np.save(sys.argv[3], module.predict(np.load(sys.argv[2])))
print(sorted(m for m in ('symgrad', 'sympy', 'numba') if sys.modules.get(m) is not None))
"""


@pytest.mark.parametrize("case", CASES)
def test_numpy_module_runs_alone_and_matches_predict(case: str, tmp_path: Path) -> None:
    model = trained(case)
    path = model.export(tmp_path / "predict_model.py")
    source = path.read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert set(imports) <= {"import numpy as np", "import math"}
    assert f"network {model.net.name}" in source and "def predict(x):" in source
    X = inputs(model)
    np.save(tmp_path / "x.npy", X)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", RUN_MODULE, str(path), "x.npy", "y.npy"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # -W error: no overflow warning either
    assert result.stdout.strip() == "[]"
    got = np.load(tmp_path / "y.npy")
    assert got.dtype == model.dtype
    assert_close(got, model.predict(X), TOLERANCE[model.dtype.name])


# ----------------------------------------------------------------------------------------------
# The C header
# ----------------------------------------------------------------------------------------------
CALLER = """
#include <stdio.h>
#include <stdlib.h>
#include "{header}"

int main(int argc, char **argv)
{{
    size_t n_rows;
    {t} *x, *y;
    FILE *in, *out;
    if (argc != 4) {{
        return 9;
    }}
    n_rows = (size_t)strtoul(argv[3], NULL, 10);
    x = malloc(n_rows * SYMGRAD_N_IN * sizeof *x);
    y = malloc(n_rows * SYMGRAD_N_OUT * sizeof *y);
    in = fopen(argv[1], "rb");
    if (!x || !y || !in || fread(x, sizeof *x, n_rows * SYMGRAD_N_IN, in) != n_rows * SYMGRAD_N_IN) {{
        return 8;
    }}
    fclose(in);
    if (symgrad_predict(NULL, n_rows, y) != 1 || symgrad_predict(x, 0, NULL) != 0) {{
        return 7;
    }}
    if (symgrad_predict(x, n_rows, y) != 0) {{
        return 6;
    }}
    out = fopen(argv[2], "wb");
    if (!out || fwrite(y, sizeof *y, n_rows * SYMGRAD_N_OUT, out) != n_rows * SYMGRAD_N_OUT) {{
        return 5;
    }}
    fclose(out);
    free(x);
    free(y);
    return 0;
}}
"""
# a second file that includes the header and calls nothing: no warning, no duplicate symbol
OTHER = '#include "{header}"\n#include "{header}"\nint other(void);\nint other(void) {{ return SYMGRAD_N_IN; }}\n'


@pytest.mark.parametrize("case", CASES)
def test_c_header_compiles_and_matches_predict(case: str, tmp_path: Path) -> None:
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) on this machine")
    model = trained(case)
    header = model.export(tmp_path / "net.h")
    t = "float" if model.dtype == np.float32 else "double"
    assert f"int symgrad_predict(const {t} *x, size_t n_rows, {t} *y)" in header.read_text()
    (tmp_path / "main.c").write_text(CALLER.format(header=header.name, t=t))
    (tmp_path / "other.c").write_text(OTHER.format(header=header.name))
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
    build = subprocess.run(
        [cc, *flags, "main.c", "other.c", "-o", "predict", "-lm"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    X = inputs(model)
    X.tofile(tmp_path / "x.bin")
    ran = subprocess.run(
        [str(tmp_path / "predict"), "x.bin", "y.bin", str(len(X))],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    got = np.fromfile(tmp_path / "y.bin", dtype=model.dtype).reshape(len(X), -1)
    assert_close(got, model.predict(X), TOLERANCE[model.dtype.name])


# ----------------------------------------------------------------------------------------------
# torch
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_to_torch_matches_predict(case: str) -> None:
    torch = pytest.importorskip("torch")
    model = trained(case)
    net = model.to_torch()
    assert isinstance(net, torch.nn.Sequential)
    assert all(p.dtype == (torch.float32 if model.dtype == np.float32 else torch.float64)
               for p in net.parameters())  # fmt: skip
    kinds = {type(m).__name__ for m in net.modules()}
    assert "Residual" in kinds
    if case.startswith("builtins"):
        assert {
            "Sigmoid",
            "Tanh",
            "ReLU",
            "LeakyReLU",
            "Softplus",
            "SiLU",
            "ELU",
            "Softmax",
        } <= kinds
    else:
        assert "Formula" in kinds
    X = inputs(model)
    with torch.no_grad():
        got = net(torch.from_numpy(X)).numpy()
    assert got.dtype == model.dtype
    assert_close(got, model.predict(X), TOLERANCE[model.dtype.name])


# ----------------------------------------------------------------------------------------------
# Refusals of the API
# ----------------------------------------------------------------------------------------------
def test_export_refuses_an_unknown_suffix_and_a_missing_folder(tmp_path: Path) -> None:
    model = trained("builtins-float64")
    with pytest.raises(SpecError, match=r"cannot export to '\.txt'; use \.onnx .*\.py .*\.h"):
        model.export(tmp_path / "m.txt")
    with pytest.raises(SpecError, match="does not exist; create it first"):
        model.export(tmp_path / "missing" / "m.py")
    assert list(tmp_path.iterdir()) == []


def test_missing_extras_say_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = trained("builtins-float64")
    monkeypatch.setitem(sys.modules, "onnx", None)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(SpecError, match=r"pip install 'symgrad\[export\]'"):
        model.export(tmp_path / "m.onnx")
    with pytest.raises(SpecError, match=r"pip install 'symgrad\[torch\]'"):
        model.to_torch()
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def xor_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    weights = tmp_path_factory.mktemp("xor") / "xor.npz"
    argv = ["train", XOR, "--epochs", "2", "--save", str(weights), "--no-progress"]
    assert main(argv) == 0
    return weights


def test_export_command_writes_each_format(
    xor_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ort = pytest.importorskip("onnxruntime")
    for name in ("xor.onnx", "xor_predict.py", "xor.h"):
        assert main(["export", XOR, "--weights", str(xor_weights), "-o", str(tmp_path / name)]) == 0
        assert f"wrote {tmp_path / name}" in capsys.readouterr().out
    model = sg.Model.load(xor_weights)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    session = ort.InferenceSession(str(tmp_path / "xor.onnx"), providers=["CPUExecutionProvider"])
    assert_close(session.run(["y"], {"x": X})[0], model.predict(X), 1e-10)
    status, out, _ = _run(capsys, "export", "--help")
    assert status == 0 and "example:" in out and "symgrad export" in out


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    "output,spec,says",
    [
        ("m.txt", XOR, "-o needs a file ending in .onnx, .py, .h"),
        ("missing/m.onnx", XOR, "does not exist; create it first"),
        ("m.onnx", CHAIN, "these weights are for another network than"),
    ],
    ids=["unknown-suffix", "missing-folder", "weights-of-another-network"],
)
def test_export_command_refusals_are_one_line(
    output: str, spec: str, says: str, xor_weights: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    status, out, err = _run(
        capsys, "export", spec, "--weights", str(xor_weights), "-o", str(tmp_path / output)
    )
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("symgrad: error: ") and says in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_export_command_without_onnx_says_what_to_install(
    xor_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setitem(sys.modules, "onnx", None)
    status, _, err = _run(
        capsys, "export", XOR, "--weights", str(xor_weights), "-o", str(tmp_path / "m.onnx")
    )
    assert status == 2 and "pip install 'symgrad[export]'" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_the_header_is_readable_c(tmp_path: Path) -> None:
    """What a reader of the header sees: the weights as static const arrays, a guard."""
    text = trained("builtins-float32").export(tmp_path / "my-net.h").read_text()
    assert "#ifndef SYMGRAD_MY_NET_H" in text and text.rstrip().endswith(
        "#endif /* SYMGRAD_MY_NET_H */"
    )
    assert "static const float symgrad_W1[6][4] = {" in text
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # comments out
    assert "expf(" in code and not re.search(r"\b(exp|log1p|fmax|tanh)\(", code)
    assert textwrap.dedent(text) == text
