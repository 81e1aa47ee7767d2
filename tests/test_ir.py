"""The code IR: lines carry what they read, and the dead-line pass reads that, not the text."""

from __future__ import annotations

import sympy as sp

from symgrad.codegen.ir import Line, assign, code, comment, live, printed
from symgrad.net.ops import z


def result(target: str) -> bool:
    return target == "total" or not target.isidentifier()


def test_assign_prints_the_formula_and_reads_its_symbols_by_their_new_names() -> None:
    line = assign("a2_0", sp.tanh(z), names={z: "z2_0"})
    assert str(line) == "a2_0 = _tanh(z2_0)" and line.reads == {"z2_0"}
    assert code("s", "/=", "n", ["n"]).reads == {"s", "n"}  # an augmented line reads its target
    assert [str(c) for c in comment("one\ntwo")] == ["# one", "# two"]


def test_live_drops_what_nothing_reads_and_keeps_the_results() -> None:
    lines: list[Line] = [
        *comment("inputs"),
        code("x_0", "=", "X[r, 0]", ["X", "r"]),
        code("unused", "=", "x_0*2", ["x_0"]),
        *comment("a step nobody needs"),
        code("dead", "=", "unused + 1", ["unused"]),
        *comment("the cost"),
        code("u", "=", "x_0 + 1", ["x_0"]),
        code("u", "*=", "u", ["u"]),
        code("total", "+=", "u", ["u"]),
        code("out[r, 0]", "=", "x_0", ["out", "r", "x_0"]),
    ]
    assert printed(live(lines, result)) == [
        "# inputs",
        "x_0 = X[r, 0]",
        "# the cost",
        "u = x_0 + 1",
        "u *= u",
        "total += u",
        "out[r, 0] = x_0",
    ]


def test_blocks_render_indented() -> None:
    from symgrad.codegen.ir import Statement, block, render

    nodes = [
        *comment("the bias"),
        block(
            "for s in range(n):",
            block("for j in range(3):", Statement("z[s, j] += b[j]")),
            Statement("t += 1"),
        ),
    ]
    assert render(nodes, 1) == [
        "    # the bias",
        "    for s in range(n):",
        "        for j in range(3):",
        "            z[s, j] += b[j]",
        "        t += 1",
    ]
