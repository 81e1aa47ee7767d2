"""Every example in examples/ runs top to bottom, in a fresh folder, and writes what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

# example -> (files it writes into the current folder, modules it needs beyond the core)
EXPECTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "chain_rule.py": (("chain.tex",), ()),
    "gradient_descent.py": (
        ("descent_lr_0.3.png", "descent_lr_0.02.png", "descent_lr_1.05.png"),
        ("matplotlib",),
    ),
    "linear_regression.py": (("linreg.gif",), ("matplotlib", "PIL")),
    "pytorch_parity.py": ((), ("torch",)),
    "xor.py": ((), ()),
    "digits.py": (("digits_loss.png",), ("matplotlib",)),
    "custom_activation.py": ((), ()),
    "regularization.py": ((), ()),
    "exercise.py": (("sheet.html",), ()),
    "lesson.py": (("lesson.html",), ()),
    "practitioner.py": (("iris.h", "iris.onnx", "iris.py", "iris_ckpt.npz"), ("onnx",)),
    "sweep.py": (("sweep.csv",), ("distributed",)),
}


def test_every_example_is_listed_and_short() -> None:
    assert sorted(p.name for p in EXAMPLES) == sorted(EXPECTED)
    for path in EXAMPLES:
        lines = path.read_text().splitlines()
        assert len(lines) <= 60, f"{path.name} has {len(lines)} lines"
        assert lines[0].startswith('"""'), (
            f"{path.name} starts with a docstring saying what it shows"
        )


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path, tmp_path: Path) -> None:
    outputs, needs = EXPECTED[path.name]
    for module in needs:
        pytest.importorskip(module)
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{path.name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    assert "Traceback" not in result.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(outputs), f"{path.name} wrote {written}"
    for name in outputs:
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("path", [p for p in EXAMPLES if EXPECTED[p.name][1]], ids=lambda p: p.name)
def test_example_without_its_extra_says_what_to_install(path: Path, tmp_path: Path) -> None:
    # what the first command of the README installs: no matplotlib, no torch
    needs = EXPECTED[path.name][1]
    blocker = f"import sys\nfor m in {needs!r}: sys.modules[m] = None\n"
    code = blocker + f"import runpy\nrunpy.run_path({str(path)!r}, run_name='__main__')\n"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "pip install" in result.stderr
    head = path.read_text().split('"""')[1]
    assert "pip install" in head, f"{path.name} says at its top what it needs"
    assert list(tmp_path.iterdir()) == []
