"""The benchmark harness still works: quick mode on tiny sizes, frameworks agree, nothing timed.

Runs ``benchmarks/run.py --quick`` in-process on one small case with every installed
framework (PyTorch and JAX rows are simply absent when they are not installed), and checks
the harness's own pieces: the exact GEMM FLOP count, the unrolled prototype's source, and the
report writer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import workloads  # noqa: E402


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, str]:
    import run

    out = tmp_path_factory.mktemp("bench")
    argv = [
        "--quick",
        "--keep-cache",
        "--workloads",
        "xor",
        "--dtypes",
        "float64",
        "--frameworks",
        "symgrad,numpy,torch,jax,numba-unrolled",
        "--out",
        str(out / "RESULTS.md"),
        "--json",
        str(out / "results.json"),
    ]
    rc = run.main(argv)
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return rc, data, (out / "RESULTS.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_quick_mode_frameworks_agree(quick_run: tuple[int, dict, str]) -> None:
    rc, data, _ = quick_run
    recs = data["results"]
    ran = {r["framework"] for r in recs if "loss" in r}
    assert {"symgrad", "numpy", "numba-unrolled"} <= ran, recs
    errors = [r for r in recs if "error" in r]
    assert not errors, errors
    losses = [r["loss"] for r in recs]
    assert all(r["agrees"] for r in recs), losses
    assert rc == 0
    # training moved the weights: the loss is not the initial one
    case = workloads.make_case(workloads.quick(workloads.WORKLOADS["xor"]), "float64")
    assert abs(losses[0] - workloads.final_loss(case, case.params)) > 1e-4
    # quick mode times nothing
    assert all(not r.get("times") for r in recs)


@pytest.mark.slow
def test_quick_report_names_command_and_machine(quick_run: tuple[int, dict, str]) -> None:
    _, data, text = quick_run
    assert "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py --quick" in text
    assert "| CPU |" in text and "BLAS" in text
    assert "### xor, float64" in text
    assert data["machine"]["cores"] >= 1


def test_gemm_flops_counted_exactly() -> None:
    w = workloads.WORKLOADS["wide"]
    fwd = 784 * 512 + 512 * 256 + 256 * 10
    # forward + weight gradients for all layers, back-propagated deltas for layers 2 and 3
    per_row = 2 * (2 * fwd + 512 * 256 + 256 * 10)
    assert w.gemm_flops() == per_row * 8192 * 2
    assert sum(2 * m * n * k for m, n, k in w.gemm_shapes()) * w.steps == w.gemm_flops()


def test_unrolled_source_is_scalar_code() -> None:
    from prototypes import unrolled_source

    src = unrolled_source(workloads.WORKLOADS["xor"], "float64")
    compile(src, "unrolled_xor.py", "exec")
    assert "z2_0 = w2_0_0 * a1_0 + w2_0_1 * a1_1 + w2_0_2 * a1_2 + w2_0_3 * a1_3 + b2_0" in src
    assert "np.dot" not in src


def test_same_start_for_every_framework() -> None:
    w = workloads.WORKLOADS["digits"]
    a, b = workloads.make_case(w, "float32"), workloads.make_case(w, "float64")
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-6)
    assert a.X.shape == (1797, 64) and float(a.X.max()) == 1.0
    assert a.batches()[-1] == (1792, 1797)  # the last batch is short


def test_exp_share_makes_the_modules_exp_arithmetic(tmp_path: Path) -> None:
    import exp_share

    import symgrad as sg
    from symgrad.codegen.generate import import_path

    net = sg.Network.mlp([4, 3, 2], "sigmoid", "softmax", cost="cross_entropy")
    source = sg.generate(net, sg.SGD(0.5), "float32", shape="blas").source
    cheap = exp_share.without_exp(source)
    (tmp_path / "cheap.py").write_text(cheap)
    module = import_path(tmp_path / "cheap.py", "cheap_exp_module")
    assert module._exp.py_func(np.float32(-2.0)) == np.float32(0.001)
    assert "math.exp" not in source and "EXP_ROUND" in cheap  # exps go through _exp alone
    assert cheap.count("\ndef ") == source.count("\ndef ")
    with pytest.raises(ValueError, match="no _exp"):
        exp_share.without_exp("import numba\n")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["xor", "digits"])
def test_minimal_source_trains_as_numpy(name: str, tmp_path: Path) -> None:
    """The compile probe's hand-written trainer is a real one: NumPy's loss, every layer kind."""
    from baselines import NumpyRunner
    from prototypes import _import_file, minimal_source

    w = workloads.quick(workloads.WORKLOADS[name])
    case = workloads.make_case(w, "float64")
    path = tmp_path / f"minimal_{name}.py"
    path.write_text(minimal_source(w, "float64"), encoding="utf-8")
    params = case.fresh_params()
    _import_file(path).train(case.X, case.Y, *params.values(), w.lr, w.batch, w.epochs)
    numpy_run = NumpyRunner(case)
    expected = workloads.final_loss(case, numpy_run.final(numpy_run.run()))
    assert workloads.final_loss(case, params) == pytest.approx(expected, rel=1e-9)
    assert expected != pytest.approx(workloads.final_loss(case, case.params), rel=1e-3)


def test_compile_parts_takes_out_one_part_each() -> None:
    import compile_parts

    import symgrad as sg

    net = sg.Network.mlp([4, 3, 2], "sigmoid", "softmax", cost="cross_entropy")
    source = sg.generate(net, sg.SGD(0.5), "float32", shape="blas").source
    out = compile_parts.variants(source)
    assert out["generated"] == source
    for name, text in out.items():
        compile(text, f"{name}.py", "exec")  # still Python
    assert "_copy(saved_" not in out["without_guard"]
    assert "_all_finite(W1" not in out["without_guard"]
    assert "x_work[s, k] = X[r, k]" not in out["without_gather"]
    assert "C.itemsize" not in out["unchecked_gemm"]
    for name in ("without_guard", "without_gather", "unchecked_gemm"):  # the rest as generated
        assert len(out[name].splitlines()) > len(source.splitlines()) - 25, name
    with pytest.raises(ValueError, match="the module has no"):
        compile_parts.variants("import numba\n")
