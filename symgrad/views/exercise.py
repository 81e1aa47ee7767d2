"""Exercise sheets: a worked example of one partial derivative with blanks, and a grader.

:func:`exercise` draws small numbers from a seed (one decimal each, so that a student can work by
hand), picks a parameter entry, and explains its partial derivative at that example
(:func:`~symgrad.views.teach.explain`). Some of the local derivatives that the chain rule
multiplies, and the partial itself, become blanks. Each blank knows its value and the values of
the slips students make most: ``z`` written for ``a``, a sign, the factor 2 of the quadratic
cost, a path of the sum left out. :meth:`Exercise.grade` names the slip that an answer matches,
or else the step to look at. The sheets themselves are written by :mod:`symgrad.views.sheet`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from .. import validate
from ..errors import SpecError
from ..net.network import Network
from .layout import Math, rule_text
from .notation import text as spelled
from .numbers import Evaluator
from .teach import Explanation, PartialNumbers, explain, number

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation

BLANK_KINDS = ("local", "paths", "cost")
"""The steps whose value a student works out: a local derivative, a sum over paths, the cost's."""
REL_TOL, ABS_TOL = 1e-2, 1e-6
"""An answer is right within 1% of the value (hand-rounded work to 3 significant digits), or
within 1e-6 of a value of 0."""


@dataclass(frozen=True)
class Blank:
    """One value the student fills in.

    Attributes:
        id: ``"b1"``, ``"b2"``, ... in the order the sheet shows them; the last is the partial.
        step: the index of its step in the partial's steps (the first, the chain rule, for the
            partial itself).
        lhs: the quantity, e.g. the symbol ``da1_0/dz1_0``.
        value: its value at the example.
        slips: the likely mistakes, ``(what, value)``.
        hints: what to look at, one hint after another (words).
    """

    id: str
    step: int
    lhs: sp.Expr
    value: float
    slips: tuple[tuple[str, float], ...]
    hints: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    """The grade of one blank: ``given`` (None: no answer), right or not, and a hint."""

    id: str
    given: float | None
    expected: float
    correct: bool
    hint: str


@dataclass(frozen=True)
class GradeReport:
    """One :class:`Verdict` per blank, in the sheet's order."""

    verdicts: tuple[Verdict, ...]

    @property
    def all_correct(self) -> bool:
        return all(v.correct for v in self.verdicts)

    @property
    def score(self) -> tuple[int, int]:
        """(right answers, blanks)."""
        return sum(v.correct for v in self.verdicts), len(self.verdicts)

    def to_text(self) -> str:
        right, total = self.score
        lines = [f"{right} of {total} right"]
        for v in self.verdicts:
            given = "no answer" if v.given is None else number(v.given)
            mark = "right" if v.correct else "wrong"
            lines.append(f"{v.id}: {given}: {mark}" + (f"; {v.hint}" if v.hint else ""))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()


@dataclass(frozen=True)
class Exercise:
    """A worked example with blanks (:func:`exercise`): render it with ``to_html``,
    ``to_latex`` (the answer key on its own page), ``to_markdown`` or ``to_text``; check a
    student's answers with :meth:`grade`."""

    explanation: Explanation
    partial: PartialNumbers
    blanks: tuple[Blank, ...]
    seed: int
    tolerance: float = REL_TOL

    @property
    def net(self) -> Network:
        return self.explanation.derivation.net

    @property
    def answers(self) -> dict[str, float]:
        """Each blank's id and its value."""
        return {b.id: b.value for b in self.blanks}

    @property
    def recipe(self) -> dict[str, Any]:
        """What rebuilds this exercise (written into each sheet, read back by the grader)."""
        p = self.partial.partial
        return {
            "network": self.net.to_dict(),
            "seed": self.seed,
            "blanks": len(self.blanks),
            "param": p.name,
            "index": list(p.index),
            "tolerance": self.tolerance,
        }

    def grade(self, answers: Any) -> GradeReport:
        """One verdict per blank: right within the tolerance (relative, or 1e-6 of a 0), or a
        hint that names the slip the answer matches, else the step to look at."""
        if not isinstance(answers, dict):
            raise SpecError("answers must map blank ids to numbers, e.g. {'b1': 0.25}")
        ids = [b.id for b in self.blanks]
        for key, value in answers.items():
            if key not in ids:
                raise SpecError(f"no blank {key!r} on this sheet; its blanks are {', '.join(ids)}")
            validate.real(value, f"the answer to {key}")
        verdicts = []
        for b in self.blanks:
            given = answers.get(b.id)
            if given is None:
                verdicts.append(Verdict(b.id, None, b.value, False, b.hints[0]))
                continue
            given = float(given)
            if self._close(given, b.value):
                verdicts.append(Verdict(b.id, given, b.value, True, ""))
                continue
            slip = next((what for what, v in b.slips if self._close(given, v)), None)
            hint = f"it looks like {slip}" if slip else b.hints[0]
            verdicts.append(Verdict(b.id, given, b.value, False, hint))
        return GradeReport(tuple(verdicts))

    def _close(self, given: float, value: float) -> bool:
        return math.isclose(given, value, rel_tol=self.tolerance, abs_tol=ABS_TOL)

    def to_text(self) -> str:
        from .sheet import render

        return render(self, "text")

    def to_markdown(self) -> str:
        from .sheet import render

        return render(self, "markdown")

    def to_latex(self) -> str:
        """A standalone LaTeX document; the answer key on a page of its own."""
        from .sheet import render

        return render(self, "latex")

    def to_html(self) -> str:
        """A self-contained page; each blank's hints and answer folded in ``<details>``."""
        from .sheet import to_html

        return to_html(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_text()


def exercise(
    net: Network,
    seed: int = 0,
    blanks: int = 4,
    *,
    param: str | None = None,
    index: int | tuple[int, ...] | list[int] | None = None,
    tolerance: float = REL_TOL,
) -> Exercise:
    """A worked example of one partial derivative of ``net`` with ``blanks`` blanks.

    Args:
        net: the network.
        seed: the numbers (input, target, parameters: one decimal each) and, unless given, the
            parameter entry and the blanks come from it; the same seed gives the same sheet.
        blanks: how many values to leave blank: the partial itself, and local derivatives of its
            chain (at most as many as it has).
        param: the parameter array, e.g. ``"W1"`` (default: drawn from the seed).
        index: its entry, e.g. ``(0, 1)`` (default: drawn from the seed).
        tolerance: relative tolerance of a right answer.
    """
    from ..calculus.derivation import derive

    if not isinstance(net, Network):
        raise SpecError(f"exercise needs a Network, got {type(net).__name__}")
    seed = validate.seed(seed)
    count = validate.whole(blanks, "blanks", 1)
    tolerance = validate.real(tolerance, "tolerance", positive=True)
    # three streams, so that naming the entry drawn from a seed gives the same sheet
    x, y, params = _numbers(net, np.random.default_rng([seed, 7]))
    rng = np.random.default_rng([seed, 8])
    if param is None:
        param = str(rng.choice(list(net.param_names)))
    elif param not in net.param_names:
        raise SpecError(f"no parameter {param!r}; the parameters are {', '.join(net.param_names)}")
    shape = net.param_shape(param)
    if index is None:
        index = tuple(int(rng.integers(0, n)) for n in shape)
    d = derive(net)
    ex = explain(d, x, y, params, param=param, index=index, max_partials=1)
    pn = ex.partials[0]
    chosen = _choose(pn, count, np.random.default_rng([seed, 9]))
    ev = Evaluator(d, ex.x, ex.y, ex.params)
    ev.define(pn.partial.steps)
    made = [_blank(f"b{n}", d, ev, pn, step, {}) for n, step in enumerate(chosen, start=1)]
    slips = {b.lhs: b.slips for b in made}
    made.append(_blank(f"b{len(made) + 1}", d, ev, pn, 0, slips))
    return Exercise(ex, pn, tuple(made), seed, tolerance)


def from_recipe(data: Any, where: str = "the sheet") -> Exercise:
    """The exercise a sheet was written from (its :attr:`Exercise.recipe`)."""
    if not isinstance(data, dict) or not {"network", "seed", "blanks"} <= set(data):
        raise SpecError(f"{where}: its exercise record is damaged; write the sheet again")
    net = Network.from_dict(data["network"])
    index = data.get("index")
    return exercise(
        net, data["seed"], data["blanks"], param=data.get("param"),
        index=tuple(index) if isinstance(index, list) else None,
        tolerance=data.get("tolerance", REL_TOL),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# The numbers, the blanks and their slips
# ------------------------------------------------------------------------------------------------
def _tenths(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Numbers of one decimal in [-1, 1], none 0 (a 0 hides a path): easy to work by hand."""
    magnitude = rng.integers(1, 11, shape) / 10
    return np.where(rng.random(shape) < 0.5, -magnitude, magnitude)


def _numbers(net: Network, rng: np.random.Generator) -> tuple[Any, Any, dict[str, np.ndarray]]:
    x = _tenths(rng, (net.sizes[0],))
    out = net.layers[-1]
    if out.act.is_softmax:
        y: Any = int(rng.integers(0, out.n_out))  # a class label
    elif net.unit_targets:  # a cost that takes the log of the output: targets in [0, 1]
        y = rng.integers(0, 2, out.n_out).astype(float)
    elif out.act.name == "sigmoid":  # targets the output can reach
        y = rng.integers(0, 11, out.n_out) / 10
    else:
        y = _tenths(rng, (out.n_out,))
    params = {name: _tenths(rng, net.param_shape(name)) for name in net.param_names}
    return x, y, params


def _choose(pn: PartialNumbers, count: int, rng: np.random.Generator) -> list[int]:
    """Which steps become blanks (besides the partial): ``count - 1`` of those a student works
    out, drawn from the seed, in the order of the steps."""
    candidates = [  # a constant (dz/db = 1) is no exercise
        i
        for i, sn in enumerate(pn.steps)
        if sn.step.kind in BLANK_KINDS and not sn.step.expr.is_number
    ]
    k = min(count - 1, len(candidates))
    return sorted(int(i) for i in rng.choice(candidates, size=k, replace=False)) if k else []


def _blank(
    id: str,
    d: Derivation,
    ev: Evaluator,
    pn: PartialNumbers,
    step: int,
    factor_slips: dict[sp.Expr, tuple[tuple[str, float], ...]],
) -> Blank:
    """The blank of step ``step`` (0: the partial itself, from the chain rule's factors)."""
    sn = pn.steps[step]
    st = sn.step
    m_rule = rule_text(Math(d, {}).prose(st.rule))
    if step == 0:
        value = pn.value
        factors = st.forms[0][0]
        slips: list[tuple[str, float]] = []
        for i, f in enumerate(factors):  # one factor's slip carried into the product
            for what, v in factor_slips.get(f, ()):
                if what.startswith("a sign"):  # the same as the partial's own sign slip
                    continue
                others = math.prod(pn.factors[:i] + pn.factors[i + 1 :])
                slips.append((f"{what}, in {spelled(f, d)}", others * v))
        slips.append(("a sign slipped: the partial has the opposite sign", -value))
        hints = (
            "multiply the chain rule's factors: " + " * ".join(spelled(f, d) for f in factors),
            f"their values are {', '.join(number(v, 4) for v in pn.factors)}",
        )
        return Blank(id, 0, st.lhs, value, _distinct(slips, value), hints)
    value = float(sn.value) if sn.value is not None else math.nan
    last = st.forms[-1]
    expr = sp.Add(*[sp.Mul(*term) for term in last])
    slips = []
    swapped = _z_for_a(d, expr)
    if swapped is not None:
        z_value = ev.of(swapped)
        if z_value is not None:
            slips.append(("z was used where the formula has a", z_value))
    coeff = expr.as_coeff_Mul()[0] if isinstance(expr, sp.Mul) else 1
    if st.kind == "cost" and abs(coeff) == 2:
        slips.append(("the factor 2 of the quadratic cost was left out", value / 2))
    if st.kind == "paths" and len(sn.values[-1]) > 1:
        for n, term in enumerate(sn.values[-1]):
            if all(v is not None for v in term):
                left = math.prod(float(v) for v in term if v is not None)
                slips.append((f"path {n + 1} of the sum was left out", value - left))
    slips.append(("a sign slipped", -value))
    hints = (f"look at the rule: {m_rule}", f"{spelled(st.lhs, d)} = {spelled(expr, d)}")
    return Blank(id, step, st.lhs, value, _distinct(slips, value), hints)


def _z_for_a(d: Derivation, expr: sp.Expr) -> sp.Expr | None:
    """``expr`` with each ``a^(l)_j`` (l >= 1) written as ``z^(l)_j``; None when it has none."""
    swap = {}
    for sym in expr.free_symbols:
        meta = d.sym.meta.get(sym)
        if meta is not None and meta.kind == "a" and meta.layer:
            swap[sym] = d.sym.z(meta.layer, *meta.index)
    return expr.xreplace(swap) if swap else None


def _distinct(slips: list[tuple[str, float]], value: float) -> tuple[tuple[str, float], ...]:
    """The slips whose values are finite and differ from the right one (a slip that gives the
    right value is no slip)."""
    out = []
    for what, v in slips:
        if math.isfinite(v) and not math.isclose(v, value, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            out.append((what, v))
    return tuple(out)


__all__ = ["Blank", "Exercise", "GradeReport", "Verdict", "exercise", "from_recipe"]
