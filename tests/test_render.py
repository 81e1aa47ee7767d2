"""Rendering of derivations: golden text, Markdown and LaTeX, options, and a pdflatex build."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import symgrad as sg
from symgrad.calculus.steps import prose
from symgrad.views.layout import Math, latex_escape, rule_latex, rule_text
from symgrad.views.notation import TextNotation


@pytest.fixture(scope="module")
def chain() -> sg.Derivation:
    """3Blue1Brown's chain of single neurons: 1-1-1-1, sigmoid, quadratic cost."""
    net = sg.Network.mlp([1, 1, 1, 1], hidden="sigmoid", output="sigmoid", cost="quadratic")
    return sg.derive(net)


@pytest.fixture(scope="module")
def tiny() -> sg.Derivation:
    """A 2-2-1 net with a tanh hidden layer and a sigmoid output."""
    net = sg.Network.mlp([2, 2, 1], hidden="tanh", output="sigmoid", cost="quadratic")
    return sg.derive(net)


# -- golden files (pytest --update-golden rewrites them, on purpose only) --------------------------
def test_golden_chain_text(chain: sg.Derivation, golden) -> None:
    golden("derivation_chain.txt", chain.to_text())


def test_golden_chain_markdown(chain: sg.Derivation, golden) -> None:
    golden("derivation_chain.md", chain.to_markdown())


def test_golden_chain_latex(chain: sg.Derivation, golden) -> None:
    golden("derivation_chain.tex", chain.to_latex())


def test_golden_tiny_selected(tiny: sg.Derivation, golden) -> None:
    options = {"param": "W1", "index": (0, 1), "expand": True}
    golden("derivation_tiny_w1_01.txt", tiny.to_text(**options))
    golden("derivation_tiny_w1_01.md", tiny.to_markdown(**options))
    golden("derivation_tiny_w1_01.tex", tiny.to_latex(**options))


# -- the content a learner needs ------------------------------------------------------------------
def test_text_reads_like_the_lesson(chain: sg.Derivation) -> None:
    text = chain.to_text(param="W1")
    # the chain rule as a product of local derivatives, in 3Blue1Brown's order
    assert "dC/dw^(1)_00 = dz^(1)_0/dw^(1)_00 * da^(1)_0/dz^(1)_0 * dC/da^(1)_0" in text
    # each local derivative evaluated
    assert "dz^(1)_0/dw^(1)_00 = x_0" in text
    assert "da^(1)_0/dz^(1)_0 = sigmoid'(z^(1)_0) = a^(1)_0*(1 - a^(1)_0)" in text
    assert "dC/da^(3)_0 = 2*(a^(3)_0 - y_0)" in text
    # the hidden dC/da as a sum over paths into the next layer
    assert "dC/da^(1)_0 = dz^(2)_0/da^(1)_0 * da^(2)_0/dz^(2)_0 * dC/da^(2)_0" in text
    # the forward equations, the cost and BP1-BP4
    assert "z^(2)_0 = w^(2)_00 a^(1)_0 + b^(2)_0" in text
    assert "C = (a^(3)_0 - y_0)**2" in text
    for label in ("BP1", "BP2", "BP3", "BP4"):
        assert label in text
    assert "rule: w1_0_0" not in text  # code names are translated in the rules too


def test_hidden_layer_sums_over_paths(tiny: sg.Derivation) -> None:
    net = sg.Network.mlp([1, 2, 2], hidden="sigmoid", output="sigmoid", cost="quadratic")
    text = sg.derive(net).to_text(param="W1", index=(0, 0), equations=False)
    assert re.search(
        r"dC/da\^\(1\)_0 = dz\^\(2\)_0/da\^\(1\)_0 \* .* \+ dz\^\(2\)_1/da\^\(1\)_0", text
    )


def test_text_fits_a_terminal(tiny: sg.Derivation) -> None:
    text = tiny.to_text(expand=True)
    widths = [len(line) for line in text.splitlines()]
    assert max(widths) <= 100, max(widths)


def test_latex_uses_the_notation(tiny: sg.Derivation) -> None:
    tex = tiny.to_latex(param="W2", index=(0, 1))
    assert r"\frac{\partial C}{\partial w^{(2)}_{01}}" in tex
    assert r"a^{(1)}_{1}" in tex
    # layer indices are parenthesised superscripts, never powers
    assert "a^{2}_" not in tex and "w^{2}" not in tex
    assert r"\begin{align*}" in tex and r"\documentclass" not in tex


def test_markdown_has_headings_and_display_math(tiny: sg.Derivation) -> None:
    md = tiny.to_markdown(param="b2")
    assert md.startswith("# Backpropagation in 2 -> 2 tanh -> 1 sigmoid, cost quadratic\n")
    assert (
        "## Partial derivatives" in md
        and "### Partial 1: $\\frac{\\partial C}{\\partial b^{(2)}_{0}}$" in md
    )
    assert md.count("$$") % 2 == 0 and "\\begin{aligned}" in md
    assert "*derivative of the quadratic cost*" in md


def test_repr_latex_is_math_jupyter_shows(tiny: sg.Derivation) -> None:
    out = tiny._repr_latex_()
    assert out.startswith("$$") and out.endswith("$$")
    assert "\\section" not in out and "\\intertext" not in out and "\\documentclass" not in out
    assert "\\begin{aligned}" in out
    assert tiny._repr_markdown_().startswith("# Backpropagation")


# -- options ---------------------------------------------------------------------------------------
def _headings(text: str) -> list[str]:
    """The partials' headings, in order, after checking that they are numbered 1, 2, ..."""
    found = re.findall(r"^\* Partial (\d+): (dC/d\S+)$", text, flags=re.MULTILINE)
    assert [int(n) for n, _ in found] == list(range(1, len(found) + 1))
    return [heading for _, heading in found]


def test_option_param(tiny: sg.Derivation) -> None:
    assert _headings(tiny.to_text(param="W2", equations=False)) == ["dC/dw^(2)_00", "dC/dw^(2)_01"]


def test_option_layer(tiny: sg.Derivation) -> None:
    assert _headings(tiny.to_text(layer=2, equations=False)) == [
        "dC/dw^(2)_00",
        "dC/dw^(2)_01",
        "dC/db^(2)_0",
    ]
    assert len(_headings(tiny.to_text(equations=False))) == 9


def test_option_index(tiny: sg.Derivation) -> None:
    assert _headings(tiny.to_text(param="W1", index=(1, 0))) == ["dC/dw^(1)_10"]
    assert _headings(tiny.to_text(param="b1", index=1)) == ["dC/db^(1)_1"]


def test_option_equations_and_expand(chain: sg.Derivation) -> None:
    plain = chain.to_text(param="b3")
    assert "BP1" in plain and "down to the inputs" not in plain
    assert "BP1" not in chain.to_text(param="b3", equations=False)
    expanded = chain.to_text(param="b3", expand=True)
    assert "down to the inputs" in expanded and "exp(-b^(3)_0" in expanded


def test_max_partials_leaves_out_and_says_how_to_select() -> None:
    net = sg.Network.mlp([30, 40, 10], hidden="sigmoid", output="softmax", cost="cross_entropy")
    d = sg.derive(net)
    text = d.to_text(max_partials=3, equations=False)
    assert len(_headings(text)) == 3
    flat = " ".join(text.split())
    assert "1650 partial derivatives selected, 3 shown" in flat  # 30*40 + 40 + 40*10 + 10
    assert "1647 more partial derivatives are left out" in flat
    assert "param='W1', index=(0, 0)" in flat and "layer=1" in flat and "max_partials" in flat
    # the default caps what a learner is handed
    assert len(_headings(d.to_text(equations=False))) == 50
    assert len(_headings(d.to_text(max_partials=0, equations=False))) == 0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"param": "W9"}, r"unknown parameter 'W9'; this network has W1, b1, W2, b2"),
        ({"param": "W1", "layer": 2}, r"param='W1' is in layer 1, not layer=2"),
        ({"layer": 3}, r"layer=3 does not exist; this network has layers 1\.\.2"),
        ({"index": (0, 0)}, r"give param= too"),
        ({"param": "W1", "index": (2, 0)}, r"layer 1 has units 0\.\.1; unit 2 does not exist"),
        ({"max_partials": -1}, r"max_partials must be a whole number >= 0"),
        ({"equations": "vector"}, r"equations must be True, False, 'index' or 'matrix'"),
    ],
)
def test_bad_options_raise_spec_error(tiny: sg.Derivation, options: dict, match: str) -> None:
    with pytest.raises(sg.SpecError, match=match):
        tiny.to_text(**options)


def test_unknown_option_is_a_type_error(tiny: sg.Derivation) -> None:
    with pytest.raises(TypeError):
        tiny.to_text(parameter="W1")


# -- every kind of network renders -----------------------------------------------------------------
@pytest.mark.parametrize(
    "net",
    [
        sg.Network.mlp([2, 3, 3], hidden="leaky_relu", output="softmax", cost="cross_entropy"),
        sg.Network.mlp([2, 3], output="softmax", cost="mse"),
        sg.Network.mlp(
            [3, 20, 20, 20, 2], hidden="relu", output="sigmoid", cost="binary_cross_entropy"
        ),
        sg.Network(
            [
                sg.Dense(2, 2, sg.Activation.from_formula("my_swish", "z*sigmoid(z)")),
                sg.Dense(2, 1, "identity", bias=False),
            ],
            cost=sg.Cost.from_formula("log_cosh", "log(cosh(a - y))"),
        ),
    ],
    ids=["softmax-ce", "softmax-mse", "wide-relu", "user-formulas"],
)
def test_every_network_renders_in_every_format(net: sg.Network) -> None:
    d = sg.derive(net)
    for render in (d.to_text, d.to_markdown, d.to_latex):
        out = render(max_partials=2, equations="matrix")
        assert "Backpropagation in" in out
        assert "Traceback" not in out


def test_rule_notation() -> None:
    """Symbols are spelled from their metadata (never parsed back from their names), and a rule
    is words and maths side by side (Prose), each spelled for its format."""
    d = sg.derive(sg.Network.mlp([2, 4, 11], hidden="sigmoid", output="identity", cost="mse"))
    s, shown = d.sym, TextNotation(d.sym.meta)
    assert (
        shown.doprint(s.w(2, 0, 1)) == "w^(2)_01" and shown.doprint(s.w(2, 10, 3)) == "w^(2)_(10,3)"
    )
    assert (
        shown.doprint(s.d(s.C, s.w(2, 0, 1))) == "dC/dw^(2)_01" and shown.doprint(s.x(0)) == "x_0"
    )
    assert shown.doprint(s.fprime(1, 0)) == "sigmoid'(z^(1)_0)"
    assert TextNotation().doprint(s.w(2, 0, 1)) == "w2_0_1"  # no table: the code name
    m = Math(d, {})
    rule = m.prose(
        prose("chain rule: ", s.w(1, 0, 0), " changes ", s.C, " only through ", s.z(1, 0))
        + prose(", then ", s.a(1, 0))
    )
    assert rule_text(rule) == "chain rule: w^(1)_00 changes C only through z^(1)_0, then a^(1)_0"
    assert rule_latex(rule) == (
        "chain rule: $w^{(1)}_{00}$ changes $C$ only through $z^{(1)}_{0}$, then $a^{(1)}_{0}$"
    )
    assert rule_latex("derivative of leaky_relu") == r"derivative of leaky\_relu"
    assert rule_text("w1_0_0 in words") == "w1_0_0 in words"  # words are never searched
    assert latex_escape("2 -> 1 & 50%") == r"2 $\to$ 1 \& 50\%"


# -- the standalone document compiles ---------------------------------------------------------------
@pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex is not installed (CI installs texlive-latex-base to run this test)",
)
def test_standalone_latex_compiles_with_pdflatex(tiny: sg.Derivation, tmp_path) -> None:
    softmax = sg.derive(
        sg.Network.mlp([2, 3, 3], hidden="relu", output="softmax", cost="cross_entropy")
    )
    jupyter = (
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n%s\n\\end{document}\n"
    )
    for name, tex in {
        "tiny": tiny.to_latex(document=True, param="W1", expand=True),
        "softmax": softmax.to_latex(document=True, max_partials=4),
        "jupyter": jupyter % tiny.to_latex(jupyter=True, param="b1"),
    }.items():
        assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
        (tmp_path / f"{name}.tex").write_text(tex, encoding="utf-8")
        result = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        errors = [line for line in result.stdout.splitlines() if line.startswith("!")]
        assert result.returncode == 0, errors or result.stdout[-2000:]
        assert (tmp_path / f"{name}.pdf").stat().st_size > 1000


@pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
    reason="pdflatex and pdftotext are not installed (CI installs texlive-latex-base, poppler-utils)",
)
@pytest.mark.parametrize("spec", ["xor", "chain"])
def test_no_partial_heading_is_left_at_the_foot_of_a_page(spec: str, tmp_path) -> None:
    # the compiled XOR document once left "dC/dw^(1)_01" alone at the foot of a page
    net = sg.load_spec(Path(__file__).parent.parent / "examples" / f"{spec}.toml").network
    (tmp_path / "d.tex").write_text(sg.derive(net).to_latex(document=True), encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
    text = subprocess.run(
        ["pdftotext", "-layout", "d.pdf", "-"], cwd=tmp_path, capture_output=True, text=True
    ).stdout
    headings = []
    for page in text.split("\f"):
        lines = [line for line in page.splitlines() if line.strip()]
        for k, line in enumerate(lines):
            found = re.search(r"Partial (\d+):", line)
            if found:
                headings.append((int(found[1]), len(lines) - k - 1))
    assert [n for n, _ in headings] == list(range(1, len(headings) + 1)) and headings
    # each heading has its first steps under it on its page (a display is several text lines)
    assert all(after >= 12 for _, after in headings), headings
