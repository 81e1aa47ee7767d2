"""The computation graph: its nodes and edges, the local derivatives it reads from the backprop
representation, the numbers of one example, the sum over paths, and its SVG, DOT and TikZ."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.cli import main
from symgrad.verify import numeric
from symgrad.views.graph_build import Node

ROOT = Path(__file__).resolve().parent.parent
XOR = str(ROOT / "examples" / "xor.toml")
X, Y = np.array([0.5, -1.0]), np.array([1.0])


def net231(**kwargs: object) -> sg.Network:
    return sg.Network.mlp([2, 3, 1], hidden="sigmoid", output="sigmoid", cost="quadratic", **kwargs)


NETS = {
    "sigmoid-quadratic": (net231, Y),
    "tanh-bce": (
        lambda: sg.Network.mlp(
            [2, 3, 1], hidden="tanh", output="sigmoid", cost="binary_cross_entropy"
        ),
        np.array([0.3]),
    ),
    "relu-softmax-ce": (
        lambda: sg.Network.mlp([2, 3, 2], hidden="relu", output="softmax", cost="cross_entropy"),
        np.array([0.0, 1.0]),
    ),
    "softmax-quadratic": (
        lambda: sg.Network.mlp([2, 2, 3], hidden="tanh", output="softmax", cost="quadratic"),
        np.array([0.2, 0.5, 0.3]),
    ),
    "silu-mse-l2": (
        lambda: sg.Network.mlp(
            [2, 2, 2], hidden="silu", output="identity", cost="mse", regularization=sg.L2(0.1)
        ),
        np.array([0.4, -0.2]),
    ),
    "residual": (
        lambda: sg.Network(
            [
                sg.Dense(2, 2, "tanh"),
                sg.Dense(2, 2, "tanh", residual=True),
                sg.Dense(2, 1, "sigmoid"),
            ],
            cost="quadratic",
        ),
        Y,
    ),
}


def test_a_2_3_1_net_has_its_nodes_and_edges() -> None:
    g = sg.graph(net231())
    kinds = Counter(n.kind for n in g.nodes)
    assert kinds == {"x": 2, "w": 9, "b": 4, "z": 4, "a": 4, "y": 1, "C": 1}
    # x->z and w->z per weight, b->z per bias, z->a per unit, a->C and y->C per output
    assert len(g.edges) == 2 * 9 + 4 + 4 + 1 + 1 == 28
    assert not g.collapsed and not g.numbers and g.paths == ()
    assert all(n.value is None and n.grad is None for n in g.nodes)
    assert "25 nodes, 28 edges" in repr(g)


@pytest.mark.parametrize("case", list(NETS))
def test_every_edge_carries_the_representations_local_derivative(case: str) -> None:
    g = sg.graph(NETS[case][0]())
    d, s = g.derivation, g.derivation.sym
    for e in g.edges:
        src, dst = g.node(e.src), g.node(e.dst)
        if src.kind == "y":
            assert e.local is None and e.partial is None  # C is not differentiated by y
            continue
        assert e.partial == s.d(dst.symbol, src.symbol)
        l = dst.layer
        if dst.kind == "z":
            if src.kind == "w":
                expected = s.a(l - 1, src.index[1])  # dz/dw = a
            elif src.kind == "b":
                expected = sp.Integer(1)
            else:
                expected = s.w(l, dst.index[0], src.index[0])  # dz/da = w
        elif dst.kind == "a" and src.kind == "a":  # the skip connection
            expected = sp.Integer(1)
        elif dst.kind == "a" and d.net.layers[l - 1].act.is_softmax:
            (i,), (j,) = dst.index, src.index
            expected = s.a(l, i) * (int(i == j) - s.a(l, j))
        elif dst.kind == "a":
            expected = d.fprime(l, dst.index[0])
        elif src.kind in "wb":  # the penalty's direct edge
            expected = d.penalty_derivative(src.symbol)
        else:
            expected = d.dcost(src.index[0])  # dC/da^(L)_j
        assert e.local == expected, (e.src, e.dst)


def test_the_activations_derivative_is_in_forward_terms() -> None:
    g = sg.graph(net231())
    e = next(e for e in g.edges if e.src == "z2_0" and e.dst == "a2_0")
    a = g.derivation.sym.a(2, 0)
    assert e.local == a * (1 - a) and not e.local.has(sp.exp)


@pytest.mark.parametrize("case", list(NETS))
def test_numbers_and_the_sum_over_paths_equal_the_gradient(case: str) -> None:
    make, y = NETS[case]
    net = make()
    x = X
    params = numeric.init_params(net, 3)
    zs, acts = numeric.forward(net, params, x[None, :])
    grads = numeric.gradients(net, params, x[None, :], y[None, :])
    for name in net.param_names:
        g = sg.graph(net, param=name, sample=(x, y), params=params)
        assert g.numbers
        for n in g.nodes:
            if n.kind == "x":
                assert n.value == x[n.index[0]]
            elif n.kind in "za":
                arrays = zs[n.layer - 1] if n.kind == "z" else acts[n.layer]
                assert n.value == pytest.approx(arrays[0, n.index[0]], rel=1e-13, abs=1e-15)
            elif n.kind == "C":
                assert n.value == pytest.approx(numeric.cost(net, params, x, y[None, :]), 1e-13)
            elif n.kind in "wb":
                assert n.grad == pytest.approx(grads[_array(n)][n.index], abs=1e-13)
        lit = {i for i, e in enumerate(g.edges) if e.highlighted}
        assert lit == {i for p in g.paths for i in p.edges}
        for index in np.ndindex(net.param_shape(name)):
            total = g.path_sum(name, *index)
            assert isinstance(total, float)
            assert abs(total - grads[name][index]) <= 1e-12 * max(1.0, abs(grads[name][index]))


@pytest.mark.parametrize("case", list(NETS))
def test_collapsed_paths_sum_to_the_gradient_arrays(case: str) -> None:
    make, y = NETS[case]
    net = make()
    params = numeric.init_params(net, 5)
    grads = numeric.gradients(net, params, X[None, :], y[None, :])
    for name in net.param_names:
        g = sg.graph(net, param=name, sample=(X, y), params=params, collapse=True)
        np.testing.assert_allclose(g.path_sum(name), grads[name], rtol=1e-12, atol=1e-14)
        assert g.node(name).highlighted and g.node("C").highlighted


def _array(n: Node) -> str:
    return f"{'b' if n.kind == 'b' else 'W'}{n.layer}"


def test_one_entry_highlights_its_paths_and_their_products() -> None:
    net = net231()
    params = numeric.init_params(net, 0)
    g = sg.graph(net, param=("W1", 1, 0), sample=(X, Y), params=params)
    assert len(g.paths) == 1  # w^(1)_10 -> z^(1)_1 -> a^(1)_1 -> z^(2)_0 -> a^(2)_0 -> C
    (p,) = g.paths
    assert [g.edges[i].dst for i in p.edges] == ["z1_1", "a1_1", "z2_0", "a2_0", "C"]
    assert p.product == g.derivation.partial("W1", 1, 0).expr
    lit = {n.id for n in g.nodes if n.highlighted}
    assert lit == {"w1_1_0", "z1_1", "a1_1", "z2_0", "a2_0", "C"}
    # a hidden unit's bias in a 2-3-2 net: one path through each output
    g = sg.graph(sg.Network.mlp([2, 3, 2]), param=("b1", 0), sample=(X, [0.0, 1.0]))
    assert len(g.paths) == 2 and g.path_sum("b1", 0) == pytest.approx(
        numeric.gradients(g.derivation.net, numeric.init_params(g.derivation.net, 0),
                          X[None, :], np.array([[0.0, 1.0]]))["b1"][0], abs=1e-12)  # fmt: skip


def test_random_parameters_from_a_seed_as_explain_takes_them() -> None:
    net = net231()
    g = sg.graph(net, sample=(X, Y), seed=4)
    assert g.node("w1_0_0").value == numeric.init_params(net, 4)["W1"][0, 0]


def test_a_wide_net_collapses_into_layers() -> None:
    net = sg.Network.mlp([64, 32, 10], hidden="relu", output="softmax", cost="cross_entropy")
    rng = np.random.default_rng(0)
    x, label = rng.normal(size=64), 3
    params = numeric.init_params(net, 1, scale=0.2)
    g = sg.graph(net, param="W1", sample=(x, label), params=params)
    assert g.collapsed
    assert sorted(n.id for n in g.nodes) == sorted(
        ["x", "W1", "b1", "z1", "a1", "W2", "b2", "z2", "a2", "y", "C"]
    )
    forms = {(e.src, e.dst): e.form for e in g.edges}
    assert forms[("a1", "z2")] == "" and forms[("z1", "a1")] == "diag"
    assert forms[("z2", "a2")] == "softmax" and forms[("W1", "z1")] == "T"
    a1_to_z2 = next(e for e in g.edges if (e.src, e.dst) == ("a1", "z2"))
    assert a1_to_z2.local == g.derivation.sym.indexed("W", 2).label  # dz/da = W
    grads = numeric.gradients(net, params, x[None, :], np.eye(10)[[label]])
    np.testing.assert_allclose(g.path_sum("W1"), grads["W1"], rtol=1e-10, atol=1e-14)
    one = sg.graph(net, param=("W1", 2, 5), sample=(x, label), params=params)
    assert one.path_sum("W1", 2, 5) == pytest.approx(grads["W1"][2, 5], abs=1e-12)
    svg = g.to_svg()
    assert "W⁽²⁾" in svg and "diag(" in svg
    assert not sg.graph(net, collapse=True).numbers
    with pytest.raises(sg.SpecError, match="pass collapse=True"):
        sg.graph(sg.Network.mlp([64, 32, 10]), collapse=False)
    small = sg.graph(net231(), collapse=True)
    assert small.collapsed and len(small.nodes) == 3 + 2 * 4


def test_a_net_too_large_even_collapsed_is_refused() -> None:
    deep = sg.Network.mlp([2] * 20 + [1])
    with pytest.raises(sg.SpecError, match=r"too large to draw.*fewer layers"):
        sg.graph(deep)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"param": "W9"}, "unknown parameter 'W9'"),
        ({"param": ("W1", 7, 0)}, "unit 7 does not exist"),
        ({"param": 3}, "param must be a name"),
        ({"sample": ([1.0, 2.0, 3.0], [1.0])}, "sample x needs 2 numbers"),
        ({"sample": ([1.0, 2.0], [1.0, 0.0])}, "sample y needs 1 numbers"),
        ({"sample": [1.0]}, "sample must be a pair"),
        ({"params": {}}, "only with an example"),
        ({"collapse": "yes"}, "collapse must be"),
    ],
)
def test_bad_input_is_one_spec_error(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(sg.SpecError, match=says):
        sg.graph(net231(), **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Writers
# ------------------------------------------------------------------------------------------------
def test_svg_is_self_contained_xml_with_the_labels() -> None:
    g = sg.graph(net231(), param="W2", sample=(X, Y))
    svg = g.to_svg()
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    for el in root.iter():
        assert not any("href" in key for key in el.attrib), el.attrib
    lower = svg.lower()
    assert "<script" not in lower and "url(" not in lower and "<image" not in lower
    assert lower.count("http") == 1  # the SVG namespace, nothing fetched
    assert "∂z⁽²⁾₀/∂a⁽¹⁾₁ = w⁽²⁾₀₁" in svg  # every edge's label, as its tooltip
    assert "∂a⁽¹⁾₀/∂z⁽¹⁾₀ = a⁽¹⁾₀·(1 - a⁽¹⁾₀)" in svg
    assert "∂C/∂w⁽²⁾₀₁ = a⁽¹⁾₁ · a⁽²⁾₀·(1 - a⁽²⁾₀) · 2·(a⁽²⁾₀ - y₀) = " in svg
    assert g._repr_svg_() == svg


def test_dot_names_every_node_and_edge() -> None:
    g = sg.graph(net231(), param=("b1", 0))
    dot = g.to_dot()
    assert dot.startswith("digraph computation {") and dot.rstrip().endswith("}")
    for n in g.nodes:
        assert f'"{n.id}" [label=' in dot
    assert len(re.findall(r'^  "[^"]+" -> "[^"]+" \[', dot, flags=re.M)) == len(g.edges)
    assert 'label="∂z⁽²⁾₀/∂a⁽¹⁾₁ = w⁽²⁾₀₁"' in dot
    assert dot.count('color="#cc0000", fontcolor') == sum(e.highlighted for e in g.edges)


def _tikz_available() -> bool:
    if shutil.which("pdflatex") is None or shutil.which("kpsewhich") is None:
        return False
    found = subprocess.run(["kpsewhich", "tikz.sty"], capture_output=True, text=True)
    return bool(found.stdout.strip())


def test_tikz_picture() -> None:
    g = sg.graph(net231(), param="W1", sample=(X, Y))
    tikz = g.to_tikz()
    assert tikz.startswith(r"\begin{tikzpicture}") and tikz.rstrip().endswith(r"\end{tikzpicture}")
    assert tikz.count(r"\node[draw") == len(g.nodes)
    assert tikz.count(r"\draw[") == len(g.edges)
    assert r"\frac{\partial C}{\partial w^{(1)}_{00}}" in tikz
    assert "⁽" not in tikz and "∂" not in tikz  # LaTeX, not Unicode: pdflatex reads it
    doc = g.to_tikz(document=True)
    assert doc.startswith(r"\documentclass") and r"\usepackage{tikz}" in doc


@pytest.mark.skipif(not _tikz_available(), reason="pdflatex with TikZ (pgf) is not installed")
@pytest.mark.parametrize("collapse", [False, True])
def test_tikz_compiles_with_pdflatex(collapse: bool, tmp_path: Path) -> None:
    g = sg.graph(net231(), param="W1", sample=(X, Y), collapse=collapse)
    minimal = "\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage{tikz}\n"
    for name, text in (
        ("minimal.tex", f"{minimal}\\begin{{document}}\n{g.to_tikz()}\\end{{document}}\n"),
        ("document.tex", g.to_tikz(document=True)),
    ):
        (tmp_path / name).write_text(text, encoding="utf-8")
        run = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:]
        assert (tmp_path / name.replace(".tex", ".pdf")).exists()


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------
def test_cli_writes_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, head in (("g.svg", "<svg"), ("g.dot", "digraph"), ("g.tex", "\\documentclass")):
        out = tmp_path / name
        argv = ["derive", XOR, "--graph", "--param", "W1", "--sample", "0,1;1", "-o", str(out)]
        assert main(argv) == 0
        assert out.read_text(encoding="utf-8").startswith(head)
        assert f"wrote {out}" in capsys.readouterr().out
    assert main(["derive", XOR, "--graph", "--param", "W2", "--index", "0,1", "-o",
                 str(tmp_path / "one.svg")]) == 0  # fmt: skip
    assert "1 path)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--param", "W9"], "--param: unknown parameter 'W9'"),
        (["--sample", "1,2,3;1"], "--sample: 3 inputs given, the network takes 2"),
        (["--sample", "1,2;1,0"], "--sample: 2 targets given"),
        (["--index", "0,1"], "give --param too"),
        (["--explain"], "--explain is not for --graph"),
        (["DEEP"], "too large to draw"),
    ],
)
def test_cli_refuses_bad_input(
    extra: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = XOR
    if extra == ["DEEP"]:
        spec, extra = str(tmp_path / "deep.toml"), []
        Path(spec).write_text("[network]\nsizes = [" + ", ".join(["2"] * 20) + ", 1]\n")
    out = tmp_path / "g.svg"
    status = main(["derive", spec, "--graph", *extra, "-o", str(out)])
    _, err = capsys.readouterr()
    assert status == 2 and err.count("\n") == 1 and says in err, err
    assert "Traceback" not in err and not out.exists()
    assert main(["derive", XOR, "--graph", "-o", str(tmp_path / "g.png")]) == 2
    assert main(["derive", XOR, "--graph"]) == 2
    capsys.readouterr()
