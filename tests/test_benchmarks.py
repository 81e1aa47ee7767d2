"""The benchmark harness still works: quick mode on tiny sizes, frameworks agree, nothing timed.

Runs ``benchmarks/run.py --quick`` in-process on one small case with every installed
framework (PyTorch and JAX rows are simply absent when they are not installed), and checks
the harness's own pieces: the exact GEMM FLOP count, the reference matrix-multiply rate, and the
report writer, which carries the recorded findings (benchmarks/FINDINGS.md) into every report.
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
        "symgrad,symgrad-unrolled,numpy,torch,jax",
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
    assert {"symgrad", "symgrad-unrolled", "numpy"} <= ran, recs
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
    assert "## Findings behind the generated code" in text
    assert data["machine"]["cores"] >= 1


def test_gemm_flops_counted_exactly() -> None:
    w = workloads.WORKLOADS["wide"]
    fwd = 784 * 512 + 512 * 256 + 256 * 10
    # forward + weight gradients for all layers, back-propagated deltas for layers 2 and 3
    per_row = 2 * (2 * fwd + 512 * 256 + 256 * 10)
    assert w.gemm_flops() == per_row * 8192 * 2
    assert sum(2 * m * n * k for m, n, k in w.gemm_shapes()) * w.steps == w.gemm_flops()


def test_same_start_for_every_framework() -> None:
    w = workloads.WORKLOADS["digits"]
    a, b = workloads.make_case(w, "float32"), workloads.make_case(w, "float64")
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-6)
    assert a.X.shape == (1797, 64) and float(a.X.max()) == 1.0
    assert a.batches()[-1] == (1792, 1797)  # the last batch is short


def test_matmul_rate_is_a_rate() -> None:
    from baselines import matmul_rate

    assert matmul_rate(64, 64, 64, min_time=0.01) > 0.01  # GFLOP/s


def test_report_carries_the_findings() -> None:
    import run

    lines = run.findings_section()
    assert lines and lines[0].startswith("## Findings behind the generated code")
    assert "choose_shape" in lines[0] and "5b07367" in lines[0]


def test_write_section_replaces_only_its_own_block(tmp_path: Path) -> None:
    import run

    out = tmp_path / "RESULTS.md"
    out.write_text("# Report\n\n<!-- a:start -->\nold a\n<!-- a:end -->\n\ntail\n")
    run.write_section(out, "b", "<!-- b:start -->\nnew b\n<!-- b:end -->\n")
    run.write_section(out, "a", "<!-- a:start -->\nnew a\n<!-- a:end -->\n")
    text = out.read_text()
    assert "old a" not in text and text.count("new a") == 1 and text.count("new b") == 1
    assert text.index("new a") < text.index("tail") < text.index("new b")
    assert run.kept_sections(out).count(":start -->") == 2


def test_hand_written_trainers_are_python() -> None:
    """The compile probe's hand-written Numba trainers (benchmarks/first_step.py's references)
    are valid Python for every workload, without running Numba."""
    import ast

    import probes

    for name in ("chain", "xor", "tiny-241", "digits", "wide", "linreg"):
        w = workloads.WORKLOADS[name]
        for make in (probes.loops_source, probes.expressions_source):
            tree = ast.parse(make(w, "float32"))
            assert any(isinstance(n, ast.FunctionDef) for n in tree.body), name


def test_shapes_report_marks_missed_targets() -> None:
    import shapes

    def rec(median: float, vs: float | None = None) -> dict:
        return {"median_s": median, "times": [median] * 3, "vs_symgrad": vs, "flops": 2 * 1024**3}

    row = {
        "width": 128, "batch": 32, "act": "relu", "dtype": "float32", "agrees": True,
        "gemm_flops": 1024**3, "gemm_s": 0.009, "gemm_1t_s": 0.012, "gemm_jax_s": 0.008,
        "recs": {"symgrad": rec(0.01), "jax": rec(0.0105, 1.05), "torch": rec(0.03, 3.0),
                 "matmul-1024": rec(0.01)},
    }  # fmt: skip
    s = shapes.summary(row)
    assert s["rate"] == pytest.approx(0.5) and s["gemm_share"] == pytest.approx(0.9)
    text = shapes.render([row], "python benchmarks/shapes.py", 1.0)
    line = next(l for l in text.splitlines() if l.startswith("| 128 |"))
    assert "1.05x **" in line and "3.00x |" in line and "0.50 **" in line  # jax and rate missed
    assert text.startswith("<!-- shapes:start -->") and text.rstrip().endswith(
        "<!-- shapes:end -->"
    )
