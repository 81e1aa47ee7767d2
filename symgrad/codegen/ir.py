"""The code IR of generated modules: lines that carry what they compute and what they read.

A :class:`Line` is an assignment (``target op code``) with the set of names its right-hand side
reads, or a comment: the step the lines under it implement. A :class:`Statement` is a call, a
:class:`Block` a loop or a condition over nodes; :func:`render` indents them. Formulas are printed once, by the
printer, when their line is made (:func:`assign`, which reads the formula's own symbols);
plumbing is written with the names it reads (:func:`code`). Passes run over lines, never over
printed text: :func:`live` drops the assignments nothing reads. Templates place the printed lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from .printer import numba_code


@dataclass(frozen=True, slots=True)
class Line:
    """``target op code``, reading ``reads``; a comment when ``target`` is empty (``code`` is
    then its text)."""

    target: str
    op: str
    code: str
    reads: frozenset[str] = frozenset()

    @property
    def is_comment(self) -> bool:
        return not self.target

    def __str__(self) -> str:
        return f"# {self.code}" if self.is_comment else f"{self.target} {self.op} {self.code}"


@dataclass(frozen=True, slots=True)
class Statement:
    """A line that is no assignment of a name: a call (``gemm(...)``), or a write into an array
    slice. It is always kept."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Block:
    """``header`` (``for s in range(n):``, ``if c:``) and the nodes it governs, indented."""

    header: str
    body: tuple[Node, ...]


Node = Line | Statement | Block
"""What a generated function's body is made of."""


def block(header: str, *body: Node | Sequence[Node]) -> Block:
    """A :class:`Block` of nodes, lists of nodes flattened."""
    nodes: list[Node] = []
    for part in body:
        nodes += [part] if isinstance(part, Line | Statement | Block) else list(part)
    return Block(header, tuple(nodes))


def render(nodes: Iterable[Node], depth: int = 0) -> list[str]:
    """The nodes as lines of Python, four spaces a level."""
    pad = "    " * depth
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Block):
            out.append(pad + node.header)
            out += render(node.body, depth + 1)
        else:
            out.append(pad + str(node))
    return out


def comment(text: str) -> list[Line]:
    """Comment lines (one per line of ``text``)."""
    return [Line("", "", part) for part in text.split("\n")]


def code(target: str, op: str, text: str, reads: Iterable[str]) -> Line:
    """A line of plumbing written out (``x_0 = X[r, 0]``) with the names it reads; an augmented
    assignment (``a /= s``) reads its target too."""
    read = frozenset(reads) | ({target} if op != "=" else frozenset())
    return Line(target, op, text, read)


def assign(
    target: str, expr: sp.Basic, op: str = "=", names: Mapping[sp.Basic, str] | None = None
) -> Line:
    """``target op expr``, the formula printed for Numba with its symbols renamed by ``names``
    (``z -> "z2_0"``); the line reads the formula's symbols, by those names."""
    expr = sp.sympify(expr)
    names = names or {}
    reads = {names.get(s, str(s)) for s in expr.free_symbols}
    return code(target, op, numba_code(expr, dict(names)), reads)


def live(lines: Sequence[Line], result: Callable[[str], bool]) -> list[Line]:
    """The lines of a straight-line block that matter: an assignment to a name that no later
    line reads is dropped, unless ``result(target)`` (what the block leaves behind: gradient
    sums, a running total, array entries); a comment left with nothing under it goes too."""
    chunks: list[tuple[list[Line], list[Line]]] = []  # (comments, the code under them)
    for line in lines:
        if line.is_comment and (not chunks or chunks[-1][1]):
            chunks.append(([line], []))
        elif line.is_comment:
            chunks[-1][0].append(line)
        elif chunks:
            chunks[-1][1].append(line)
        else:
            chunks.append(([], [line]))
    kept: list[Line] = []
    needed: set[str] = set()
    for comments, block in reversed(chunks):
        alive: list[Line] = []
        for line in reversed(block):
            if not result(line.target):
                if line.target not in needed:
                    continue
                needed.discard(line.target)
            needed |= line.reads
            alive.insert(0, line)
        if alive:
            kept[:0] = comments + alive
    return kept


def printed(lines: Iterable[Line]) -> list[str]:
    """The lines as the template places them."""
    return [str(line) for line in lines]


__all__ = [
    "Block",
    "Line",
    "Node",
    "Statement",
    "assign",
    "block",
    "code",
    "comment",
    "live",
    "printed",
    "render",
]
