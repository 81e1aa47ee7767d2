"""The ``symgrad`` command: each subcommand, and a table of bad inputs (one line, exit status 2)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli import common as cli_common
from symgrad.cli import main
from symgrad.cli.plot import loss_figure
from symgrad.runtime import build as build_module

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
XOR = str(EXAMPLES / "xor.toml")
CHAIN = str(EXAMPLES / "chain.toml")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    "command",
    ["demo", "derive", "generate", "train", "check", "export", "exercise", "grade", "lesson"],
)
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, command, "--help")
    assert status == 0
    assert "example:" in out and f"symgrad {command}" in out


def test_version_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"symgrad {sg.__version__}"
    status, out, err = run(capsys)  # a bare "symgrad" shows what there is to do
    assert status == 0 and out.startswith("usage: symgrad") and "demo" in out and err == ""


def test_version_imports_no_numerical_stack() -> None:
    code = (
        "import sys\nfrom symgrad.cli import main\nstatus = main(['--version'])\n"
        "print(status, sorted(m for m in ('numpy', 'sympy', 'numba', 'jinja2') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.splitlines()[-1] == "0 []", result.stdout + result.stderr


@pytest.mark.parametrize(
    "argv,says",
    [
        (["derive", XOR, "--layer", "0"], "argument --layer: '0' must be at least 1"),
        (["derive", XOR, "--index", "x"], "argument --index: 'x' is not an index"),
        (["derive", XOR, "--max-partials", "-3"], "argument --max-partials"),
        (["check", XOR, "--points", "1000000"], "argument --points"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["derive"], "the following arguments are required: SPEC"),
        (["train", XOR, "--epochs", "²"], "argument --epochs"),
    ],
)
def test_bad_options_are_one_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("symgrad: error: ") and says in err, err
    assert "usage:" not in err


# ------------------------------------------------------------------------------------------------
# derive, generate, check
# ------------------------------------------------------------------------------------------------
def test_derive_text_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "derive", CHAIN, "--no-equations")
    assert status == 0 and err == ""
    for param in ("w^(1)_00", "w^(2)_00", "w^(3)_00", "b^(1)_0", "b^(2)_0", "b^(3)_0"):
        assert f"dC/d{param} = " in out
    assert "BP1" not in out


def test_derive_one_entry_expanded(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "derive", XOR, "--param", "W2", "--index", "0,1", "--expand", "--no-equations"
    )
    assert status == 0
    assert "dC/dw^(2)_01" in out and "dC/dw^(1)" not in out and "tanh(b^(1)_1" in out


def test_derive_writes_markdown_and_latex_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md, tex, frag = tmp_path / "chain.md", tmp_path / "chain.tex", tmp_path / "frag.txt"
    assert run(capsys, "derive", CHAIN, "-o", str(md))[0] == 0
    assert run(capsys, "derive", CHAIN, "-o", str(tex), "--layer", "3")[0] == 0
    assert run(capsys, "derive", CHAIN, "-o", str(frag), "--format", "latex")[0] == 0
    assert md.read_text().startswith("# ") and "$$" in md.read_text()
    assert tex.read_text().startswith(r"\documentclass") and r"\end{document}" in tex.read_text()
    assert r"w^{(3)}" in tex.read_text() and r"\partial C}{\partial w^{(1)}" not in tex.read_text()
    assert not frag.read_text().startswith(r"\documentclass")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.md", "chain.tex", "frag.txt"]


def test_derive_explain_puts_numbers_in_the_steps(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "derive", CHAIN, "--explain", "--sample", "1.5;1", "--param", "W3")
    assert status == 0
    assert "Backpropagation with numbers" in out and "x_0 = 1.5" in out
    assert "dC/dw^(3)_00 = " in out


def test_derive_html_page_with_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "chain.html"
    status, out, _ = run(capsys, "derive", CHAIN, "--explain", "--sample", "1.5;1", "-o", str(page))
    assert status == 0 and "html" in out
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<math" in html and "<script" not in html
    assert oct(page.stat().st_mode & 0o777) != oct(0o600)  # readable like any other written file


def test_generate_to_stdout_and_to_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "generate", XOR)
    assert status == 0 and "def train_epoch(" in out and "Adam(lr=0.05" in out
    target = tmp_path / "xor_model.py"
    status, out, _ = run(
        capsys,
        "generate",
        XOR,
        "-o",
        str(target),
        "--optimizer",
        "sgd",
        "--lr",
        "0.3",
        "--dtype",
        "float32",
    )
    assert status == 0 and f"wrote {target}" in out
    source = target.read_text()
    compile(source, str(target), "exec")
    assert "SGD(lr=0.3)" in source and "float32" in source
    assert "import symgrad" not in source.replace("symgrad.generate", "")


def test_check_prints_a_table_and_passes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", XOR, "--points", "1")
    assert status == 0, out
    for judge in ("symbolic", "numeric", "backprop"):
        assert judge in out
    assert "all checks passed" in out
    if _has_torch():
        assert "pytorch" in out


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------------
# train and demo (compile with Numba)
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_writes_weights_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights, plot = tmp_path / "w.npz", tmp_path / "loss.png"
    status, out, err = run(
        capsys,
        "train",
        XOR,
        "--epochs",
        "300",
        "--save",
        str(weights),
        "--plot",
        str(plot),
        "--no-progress",
    )
    assert status == 0, err
    assert "accuracy 100.0%" in out and f"wrote {weights}" in out and f"wrote {plot}" in out
    assert plot.read_bytes().startswith(b"\x89PNG")
    model = sg.Model.load(weights)
    assert model.net.sizes == (2, 3, 1)
    X = sg.load_data("xor").X
    assert np.array_equal(model.predict(X)[:, 0] > 0.5, [False, True, True, False])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png", "w.npz"]


@pytest.mark.slow
def test_train_on_a_csv_file_with_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "xor.csv"
    data.write_text("label,x1,x2\n0,0,0\n1,0,1\n1,1,0\n0,1,1\n")
    status, out, err = run(
        capsys,
        "train",
        XOR,
        "--data",
        str(data),
        "--targets",
        "label",
        "--epochs",
        "5",
        "--no-progress",
    )
    assert status == 0, err
    assert "4 rows from xor.csv" in out and "5 epochs" in out


@pytest.mark.slow
def test_demo_runs_with_no_arguments_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "demo", "--epochs", "3", "--out", str(tmp_path / "gen"), "--no-progress"
    )
    assert status == 0, err
    assert (
        "Part 1" in out
        and "dC/dw^(1)_00 = dz^(1)_0/dw^(1)_00 * da^(1)_0/dz^(1)_0 * dC/da^(1)_0" in out
    )
    assert "accuracy" in out
    module = next((tmp_path / "gen").glob("*.py"))
    assert f"module     {module}" in out
    compile(module.read_text(), str(module), "exec")
    # the digits, bundled: no fall-back to XOR; one notation; one name per quantity
    assert "Part 2. A classifier of the built-in digits" in out and "trained    3 epochs" in out
    assert "dC/dw^(2)_00 = a^(1)_0*(a^(2)_0 - y_0)" in out
    assert not re.search(r"\b[wbza]\d+_\d+", out), "a code name in the notation's place"
    assert "loss" not in out and out.count("train set  cost") == 1
    assert re.search(r"done in \d+\.\d s", out)


def test_derive_advises_with_flags(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "derive", str(EXAMPLES / "digits.toml"), "--no-equations")
    assert status == 0
    flat = " ".join(out.split())  # the hint is wrapped
    assert "--param W1 (one array), --param W1 --index 0,0 (one entry) or --layer 1" in flat
    assert "--max-partials (now 50)" in out and "param='" not in out


def test_train_reports_the_time_it_measured(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "train", XOR, "--data", "xor", "--epochs", "2", "--no-progress")
    assert status == 0
    assert re.search(r"time       \d+\.\d s since the command started, \d+\.\d s of it", out)


def test_plot_without_matplotlib_fails_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    started = time.perf_counter()
    status, out, err = run(
        capsys, "train", XOR, "--data", "xor", "--plot", str(tmp_path / "l.png"), "--save",
        str(tmp_path / "w.npz"),
    )  # fmt: skip
    assert status == 2 and "pip install 'symgrad[plot]'" in err and out == ""
    assert time.perf_counter() - started < 1 and list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# Bad input: one line naming the file and the field, exit status 2, no output file
# ------------------------------------------------------------------------------------------------
GOOD = "[network]\nsizes = [2, 3, 1]\nhidden = 'tanh'\n"
FILES = {
    "good.toml": GOOD,
    "syntax.toml": "[network\nsizes = [2, 1]\n",
    "field.toml": GOOD + "colour = 'red'\n",
    "act.toml": "[network]\nsizes = [2, 3, 1]\nhidden = 'swishy'\n",
    "chain.toml": "[[network.layers]]\nn_in = 2\nn_out = 3\n[[network.layers]]\nn_in = 5\nn_out = 1\n",
    "name.toml": "[network]\nsizes = [2, 1]\noutput = 'z*sigmoid(q)'\n",
    "attr.toml": "[network]\nsizes = [2, 1]\noutput = 'z.conjugate()'\n",
    "dunder.toml": "[network]\nsizes = [2, 1]\noutput = '__import__(z)'\n",
    "call.toml": "[network]\nsizes = [2, 1]\noutput = 'open(z)'\n",
    "nest.toml": "[network]\nsizes = [2, 1]\noutput = '" + "(" * 500 + "z" + ")" * 500 + "'\n",
    "huge.toml": "[network]\nsizes = [50000, 50000, 50000]\n",
    "medium.toml": "[network]\nsizes = [1000, 1000, 1]\n",
    "latin1.toml": b"[network]\nsizes = [2, 1]\n# caf\xe9\n",
    "empty.toml": "",
    "cols.csv": "1,2,3,0\n",
    "nan.csv": "a,b,y\n1,2,0\n1,nan,1\n",
    "inf.csv": "a,b,y\n1,-inf,0\n",
    "empty.csv": "",
    "text.csv": "a,b,y\n1,two,0\n",
    "labels.csv": "0,0,5\n",
}
SOFTMAX = "softmax.toml"
FILES[SOFTMAX] = "[network]\nsizes = [2, 3, 3]\noutput = 'softmax'\ncost = 'cross_entropy'\n"

# (arguments, with {d} for the folder holding FILES; fragment of the error line)
BAD_INPUTS = [
    (
        ["derive", CHAIN, "--explain"],
        "--explain needs one example: add --sample",
    ),
    (
        ["derive", CHAIN, "--explain", "--sample", "1.5"],
        "--sample: write inputs, then targets, separated by ';'",
    ),
    (
        ["derive", CHAIN, "--explain", "--sample", "1.5,2;1"],
        "--sample: 2 inputs given, the network takes 1",
    ),
    (
        ["derive", CHAIN, "--explain", "--sample", "nan;1"],
        "--sample: the numbers must be finite",
    ),
    (
        ["derive", CHAIN, "--explain", "--sample", "a;1"],
        "is not a list of numbers",
    ),
    (["derive", "{d}/missing.toml"], "{d}/missing.toml: no such file; check the path"),
    (["check", "{d}"], "{d}: is a folder, not a spec file"),
    (
        ["derive", "{d}/syntax.toml"],
        "{d}/syntax.toml: TOML syntax error: Expected ']' at the end of a table declaration (at line 1",
    ),
    (["derive", "{d}/field.toml"], "{d}/field.toml: [network] colour: unknown field"),
    (
        ["generate", "{d}/act.toml"],
        "{d}/act.toml: [network] hidden: unknown activation 'swishy' (did you mean 'swish'?)",
    ),
    (
        ["derive", "{d}/chain.toml"],
        "{d}/chain.toml: [network] layers[2].n_in: layer 2 takes 5 inputs but layer 1 gives 3",
    ),
    (
        ["derive", "{d}/name.toml"],
        "{d}/name.toml: [network] output: activation 'custom_output' 'z*sigmoid(q)': unknown name 'q'",
    ),
    (
        ["derive", "{d}/attr.toml"],
        "[network] output: activation 'custom_output' 'z.conjugate()': attribute access '.conjugate'",
    ),
    (
        ["derive", "{d}/dunder.toml"],
        "[network] output: activation 'custom_output' '__import__(z)': function '__import__' is not allowed",
    ),
    (
        ["derive", "{d}/call.toml"],
        "[network] output: activation 'custom_output' 'open(z)': function 'open' is not allowed",
    ),
    (
        ["derive", "{d}/nest.toml"],
        "[network] output: activation 'custom_output' is 1001 characters long; the limit is 500",
    ),
    (
        ["train", "{d}/huge.toml", "--data", "xor"],
        "{d}/huge.toml: [network] sizes: the network would have 5,000,100,000 parameters",
    ),
    (
        ["derive", "{d}/latin1.toml"],
        "{d}/latin1.toml: line 3 is not UTF-8 text; save the spec as UTF-8",
    ),
    (["check", "{d}/empty.toml"], "{d}/empty.toml: the file is empty"),
    (["train", "{d}/good.toml"], "{d}/good.toml: no data; give --data FILE|NAME"),
    (
        ["train", "{d}/good.toml", "--data", "{d}/cols.csv"],
        "{d}/cols.csv: 4 columns, but the network takes 2 inputs and gives 1 outputs",
    ),
    (
        ["train", "{d}/good.toml", "--data", "{d}/nan.csv"],
        "{d}/nan.csv: line 3, column 1 ('b'): value is NaN",
    ),
    (
        ["train", "{d}/good.toml", "--data", "{d}/inf.csv"],
        "{d}/inf.csv: line 2, column 1 ('b'): value is infinite",
    ),
    (["train", "{d}/good.toml", "--data", "{d}/empty.csv"], "{d}/empty.csv: the file is empty"),
    (
        ["train", "{d}/good.toml", "--data", "{d}/text.csv"],
        "{d}/text.csv: line 2, column 1 ('b'): holds 'two', not a number",
    ),
    (
        ["train", "{d}/softmax.toml", "--data", "{d}/labels.csv"],
        "{d}/labels.csv: row 0: class label 5 is out of range for 3 outputs",
    ),
    (["train", "{d}/good.toml", "--data", "{d}/missing.csv"], "{d}/missing.csv: no such file"),
    (["train", "{d}/good.toml", "--data", "{d}"], "is a folder, not a data file"),
    (["train", "{d}/good.toml", "--data", "xorr"], "xorr: no such data set (did you mean 'xor'?)"),
    (
        ["train", "{d}/good.toml", "--data", "xor", "--targets", "last"],
        "xor: --targets applies to CSV files",
    ),
    (
        ["train", "{d}/good.toml", "--data", "xor", "--save", "{d}/out/w.npz"],
        "{d}/out/w.npz: --save: folder '{d}/out' does not exist",
    ),
    (
        ["train", "{d}/good.toml", "--data", "xor", "--save", "{d}/w.pkl"],
        "{d}/w.pkl: --save needs a file ending in .npz",
    ),
    (
        ["train", "{d}/good.toml", "--data", "xor", "--plot", "{d}/loss.gif"],
        "{d}/loss.gif: --plot needs a file ending in .png",
    ),
    (
        ["generate", "{d}/good.toml", "-o", "{d}/nowhere/m.py"],
        "{d}/nowhere/m.py: -o: folder '{d}/nowhere' does not exist",
    ),
    (["generate", "{d}/good.toml", "-o", "{d}"], "{d}: -o needs a file ending in .py"),
    (
        ["derive", "{d}/good.toml", "--param", "W7"],
        "{d}/good.toml: --param: unknown parameter 'W7'; this network has W1, b1, W2, b2",
    ),
    (["derive", "{d}/good.toml", "--layer", "3"], "{d}/good.toml: --layer: layer 3 does not exist"),
    (
        ["derive", "{d}/good.toml", "--param", "W2", "--index", "4,0"],
        "{d}/good.toml: --index: layer 2 has units 0..0",
    ),
    (
        ["derive", "{d}/good.toml", "--index", "0"],
        "{d}/good.toml: --index selects one entry of an array; give --param too",
    ),
    (
        ["derive", "{d}/medium.toml", "--expand"],
        "{d}/medium.toml: --expand: expanding a network of",
    ),
]


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name, content in FILES.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content)
    return folder


@pytest.mark.parametrize(
    ("args", "fragment"), BAD_INPUTS, ids=[f"{a[0]} {f[:30]}" for a, f in BAD_INPUTS]
)
def test_bad_input_is_one_line_and_status_2(
    args: list[str], fragment: str, bad_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(bad_dir.parent.rglob("*"))
    status, out, err = run(capsys, *[a.format(d=bad_dir) for a in args])
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("symgrad: error: "), err
    assert fragment.format(d=bad_dir) in lines[0], err
    assert "Traceback" not in out + err
    assert sorted(bad_dir.parent.rglob("*")) == before  # nothing written, not even a temporary file


def test_parameters_that_would_not_fit_in_memory(
    bad_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_common, "physical_memory", lambda: 10_000_000)  # a 10 MB machine
    status, _, err = run(capsys, "train", str(bad_dir / "medium.toml"), "--data", "xor")
    assert status == 2
    assert (
        "medium.toml: [network] sizes: 1,002,001 parameters need 16.0 MB for weights, gradients and "
        "optimizer state, but this machine has 10.0 MB; use fewer or narrower layers"
    ) in err
    assert len(err.splitlines()) == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_spec(bad_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = bad_dir / "good.toml"
    path.chmod(0)
    try:
        status, _, err = run(capsys, "derive", str(path))
    finally:
        path.chmod(0o644)
    assert status == 2 and f"{path}: cannot be read (permission denied)" in err


@pytest.mark.parametrize(
    "args",
    [
        ["derive"],
        ["train", XOR, "--epochs", "0"],
        ["generate", XOR, "--dtype", "float16"],
        ["bogus"],
        ["check", XOR, "--lr", "x"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, *args)
    assert status == 2 and "Traceback" not in err
    assert err.startswith("symgrad: error: ") and err.count("\n") == 1 and "--help'" in err


# ------------------------------------------------------------------------------------------------
# As a program: python -m symgrad and the console script
# ------------------------------------------------------------------------------------------------
def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def test_python_m_symgrad(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "symgrad", "derive", CHAIN, "--param", "W3"],
                        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=300)  # fmt: skip
    assert ok.returncode == 0 and "dC/dw^(3)_00" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "symgrad", "derive", "nope.toml"],
                         capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=300)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr == "symgrad: error: nope.toml: no such file; check the path\n"
    assert list(tmp_path.iterdir()) == []


def test_console_script(tmp_path: Path) -> None:
    exe = shutil.which("symgrad")
    if exe is None:
        pytest.skip("symgrad is not installed as a console script (pip install -e .)")
    bad = subprocess.run([exe, "train", str(tmp_path / "x.toml"), "--data", "xor"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


# ------------------------------------------------------------------------------------------------
# Outputs that would destroy an input, or replace what is not a regular file
# ------------------------------------------------------------------------------------------------
def _weights(path: Path, net: sg.Network, name: str = "good") -> Path:
    """A weights file for ``net`` as Model.save writes it (SGD: no optimiser state), uncompiled."""
    meta = {"format": 1, "network": {**net.to_dict(), "name": name}, "step": 0,
            "optimizer": {"name": "sgd", "lr": 0.1}, "dtype": "float64", "shape": "blas"}  # fmt: skip
    arrays = {p: np.full(net.param_shape(p), 0.25) for p in net.param_names}
    np.savez(path, **arrays, __symgrad__=np.array(json.dumps(meta)))
    return path


GOOD_NET = sg.Network.mlp([2, 3, 1], hidden="tanh", output="sigmoid", name="good")


@pytest.fixture
def no_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled for a run that is refused")

    monkeypatch.setattr(build_module, "compile", refuse)


def test_an_output_that_is_an_input_is_refused_before_any_work(
    bad_dir: Path, capsys: pytest.CaptureFixture[str], no_compile: None
) -> None:
    d = bad_dir
    np.savez(d / "d.npz", X=np.zeros((4, 2)), Y=np.zeros(4))
    (d / "d.csv").write_text("0,0,0\n0,1,1\n")
    os.link(d / "d.csv", d / "d.png")  # another name of the data file
    os.link(d / "good.toml", d / "hard.toml")
    (d / "spec.py").write_text(GOOD)  # a spec need not end in .toml
    (d / "own.toml").write_text(GOOD + "[train]\ndata = 'd.npz'\n")
    _weights(d / "w.npz", GOOD_NET)
    explain = ["--explain", "--sample", "0,1;1", "--weights", f"{d}/w.npz"]
    cases = [
        (["derive", f"{d}/good.toml", "-o", f"{d}/good.toml"], "-o", "the spec"),
        (["derive", f"{d}/good.toml", "-o", f"{d}/../in/good.toml"], "-o", "the spec"),
        (["derive", f"{d}/good.toml", "-o", f"{d}/hard.toml"], "-o", "the spec"),
        (["derive", f"{d}/good.toml", *explain, "-o", f"{d}/w.npz"], "-o", "the weights file"),
        (["generate", f"{d}/spec.py", "-o", f"{d}/spec.py"], "-o", "the spec"),
        (["train", f"{d}/good.toml", "--data", f"{d}/d.npz", "--save", f"{d}/d.npz"], "--save", "the data file"),
        (["train", f"{d}/good.toml", "--data", f"{d}/d.csv", "--plot", f"{d}/d.png"], "--plot", "the data file"),
        (["train", f"{d}/own.toml", "--save", f"{d}/d.npz"], "--save", "the data file"),
        (["train", f"{d}/spec.py", "--data", "xor", "--plot", f"{d}/spec.py"], "--plot", "needs a file ending"),
    ]  # fmt: skip
    for args, option, what in cases:
        before = {p: p.read_bytes() for p in d.iterdir() if p.is_file()}
        status, _, err = run(capsys, *args)
        assert status == 2, (args, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        if "ending" not in what:
            assert f"{option} would overwrite {what} of this run (" in err, err
            assert "give another output path" in err
        assert {p: p.read_bytes() for p in d.iterdir() if p.is_file()} == before, args


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_an_output_that_is_not_a_regular_file_is_refused_before_any_work(
    bad_dir: Path, capsys: pytest.CaptureFixture[str], no_compile: None
) -> None:
    d = bad_dir
    (d / "kept.md").write_text("keep")
    (d / "link.md").symlink_to(d / "kept.md")
    (d / "link.npz").symlink_to(d / "kept.md")
    os.mkfifo(d / "fifo.md")
    os.mkfifo(d / "fifo.png")
    outputs = {
        "link.md": "is a symbolic link; give the path of a regular file",
        "fifo.md": "is a FIFO (named pipe), not a regular file",
    }
    with contextlib.suppress(OSError):  # a device node of our own, where allowed (root)
        os.mknod(d / "null.md", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        outputs["null.md"] = "is a device, not a regular file"
    runs = [["derive", f"{d}/good.toml", "-o", f"{d}/{name}"] for name in outputs]
    runs += [
        ["train", f"{d}/good.toml", "--data", "xor", "--save", f"{d}/link.npz"],
        ["train", f"{d}/good.toml", "--data", "xor", "--plot", f"{d}/fifo.png"],
        ["demo", "--out", f"{d}/link.md"],
    ]
    for args in runs:
        kinds = {p.name: p.lstat().st_mode for p in d.iterdir()}
        status, _, err = run(capsys, *args)
        assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
        name = Path(args[-1]).name
        assert f"{d}/{name}: " in err, err
        assert "symbolic link" in err or "not a regular file" in err or "must be a folder" in err
        assert {p.name: p.lstat().st_mode for p in d.iterdir()} == kinds
    assert (d / "kept.md").read_text() == "keep"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_spec_that_is_not_a_regular_file_is_one_line(
    bad_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(bad_dir / "fifo.toml")
    (bad_dir / "zero.toml").symlink_to("/dev/zero")
    for name in ("fifo.toml", "zero.toml"):
        for command in ("derive", "check", "generate"):
            status, _, err = run(capsys, command, str(bad_dir / name))
            assert status == 2 and len(err.splitlines()) == 1, err
            assert f"{bad_dir / name}: is a " in err and "not a regular file" in err, err


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"hidden": "relu"}, "activations ['relu', 'sigmoid'] in the weights, ['tanh', 'sigmoid'] in the spec"),
        ({"cost": "mse"}, "cost 'mse' in the weights, 'quadratic' in the spec"),
        ({"bias": False}, "bias [False, False] in the weights, [True, True] in the spec"),
        ({"sizes": [2, 4, 1]}, "sizes [2, 4, 1] in the weights, [2, 3, 1] in the spec"),
        ({"output": "relu", "cost": "mse"}, "activations ['tanh', 'relu'] in the weights"),
    ],
)  # fmt: skip
def test_derive_refuses_weights_of_another_network(
    bad_dir: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], differs: str
) -> None:
    settings: dict[str, object] = {"sizes": [2, 3, 1], "hidden": "tanh", "output": "sigmoid",
                                   "cost": "quadratic", "bias": True, **change}  # fmt: skip
    sizes = settings.pop("sizes")
    other = sg.Network.mlp(sizes, **settings, name="good")  # type: ignore[arg-type]
    weights = _weights(bad_dir / "other.npz", other)
    args = ["derive", f"{bad_dir}/good.toml", "--explain", "--sample", "0,1;1"]
    status, _, err = run(capsys, *args, "--weights", str(weights))
    assert status == 2 and len(err.splitlines()) == 1, err
    assert f"{weights}: these weights are for another network than {bad_dir}/good.toml (" in err
    assert differs in err, err
    # the same declaration under another name is the same network
    same = _weights(bad_dir / "same.npz", GOOD_NET, name="renamed")
    status, out, err = run(capsys, *args, "--weights", str(same))
    assert status == 0, err
    assert "W^(1)" in out or "w^(1)" in out


def test_a_cache_folder_that_is_not_writable_is_named(
    bad_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (bad_dir / "a-file").write_text("not a folder")
    for cache in (bad_dir / "a-file", bad_dir / "a-file" / "below"):
        monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(cache))
        status, _, err = run(capsys, "train", f"{bad_dir}/good.toml", "--data", "xor")
        assert status == 2 and len(err.splitlines()) == 1, err
        assert err == (
            f"symgrad: error: SYMGRAD_CACHE_DIR={cache}: is not a writable folder; "
            "set it to a writable folder or unset it\n"
        )


def test_loss_plot_title_is_inside_the_figure() -> None:
    pytest.importorskip("matplotlib")
    net = sg.Network.mlp(
        [784, 512, 256, 128, 10], "leaky_relu", "softmax", "cross_entropy", name="mnist_classifier"
    )
    fig = loss_figure({"training cost": [1.0, 0.5]}, f"{net.name}: {net.describe()}")
    fig.canvas.draw()  # the Agg canvas: lays the text out
    title = fig._suptitle.get_window_extent()
    box = fig.bbox
    assert box.x0 <= title.x0 and title.x1 <= box.x1 and title.y1 <= box.y1
