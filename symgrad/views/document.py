"""The document model of a derivation's rendering: format-neutral sections of paragraphs and
equations, built once and written by every format (:mod:`symgrad.views.formats`).

A rendering reads like 3Blue1Brown's lesson: the forward pass and the cost, then for each
selected partial derivative its chain-rule steps (the product of local derivatives, each local
derivative evaluated, a hidden ``dC/da`` as a sum over paths, the closed form, and on request the
form expanded in inputs and parameters), then the network's BP1-BP4.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import sympy as sp

from ..calculus.steps import Form, Formula, Prose, Step, prose
from ..calculus.symbols import Meta
from ..errors import DerivationError, SpecError
from ..net.ops import a as A_SYM
from ..net.ops import y as Y_SYM
from .layout import (
    Chunk,
    Equation,
    Math,
    Paragraph,
    Section,
    latex_escape,
    lhs_indent,
)

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation, Partial

MAX_PARTIALS = 50
"""Default number of partial derivatives rendered before the rest are left out."""

EXPLICIT_COST_UNITS = 4
"""Output layers up to this width have their cost written out unit by unit."""


@dataclass(frozen=True)
class _Selection:
    partials: tuple[Partial, ...]
    total: int
    hint: str


def select_partials(
    d: Derivation,
    param: str | None,
    layer: int | None,
    index: int | Sequence[int] | None,
    max_partials: int,
    advice: str = "python",
) -> _Selection:
    """The partials the options ask for, derived lazily: at most ``max_partials`` are built.

    ``advice`` words the hint on what was left out: for the Python API (``param='W1'``) or for
    the command line (``--param W1``).
    """
    if advice not in ("python", "cli"):
        raise SpecError(f"advice must be 'python' or 'cli', got {advice!r}")
    net = d.net
    if isinstance(max_partials, bool) or not isinstance(max_partials, int) or max_partials < 0:
        raise SpecError(f"max_partials must be a whole number >= 0, got {max_partials!r}")
    if layer is not None and (
        isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= net.L
    ):
        raise SpecError(f"layer={layer!r} does not exist; this network has layers 1..{net.L}")
    if param is not None:
        l = net.layer_of(param)
        if layer is not None and layer != l:
            raise SpecError(f"param={param!r} is in layer {l}, not layer={layer}; give one of them")
        names = [param]
    else:
        names = [n for n in net.param_names if layer is None or net.layer_of(n) == layer]
    if index is not None:
        if param is None:
            raise SpecError(
                "index= selects one entry of a parameter; give param= too, "
                "e.g. param='W2', index=(0, 1)"
            )
        idx = (index,) if isinstance(index, int) else tuple(index)
        p = d.partial(param, *idx)
        return _Selection((p,) if max_partials else (), 1, "")

    def indices(name: str) -> Iterator[tuple[int, ...]]:
        shape = net.param_shape(name)
        if len(shape) == 2:
            return ((j, k) for j in range(shape[0]) for k in range(shape[1]))
        return ((j,) for j in range(shape[0]))

    total = sum(math.prod(net.param_shape(n)) for n in names)
    chosen: list[Partial] = []
    for name in names:
        for idx in indices(name):
            if len(chosen) >= max_partials:
                break
            chosen.append(d.partial(name, *idx))
    hint = ""
    if total > len(chosen):
        example, l = names[0], net.layer_of(names[0])
        if advice == "cli":
            entry = "0,0" if example[0] == "W" else "0"
            ways = (
                f"--param {example} (one array), --param {example} --index {entry} (one entry) "
                f"or --layer {l}, or raise --max-partials (now {max_partials})"
            )
        else:
            entry = "(0, 0)" if example[0] == "W" else "0"
            ways = (
                f"param='{example}' (one array), param='{example}', index={entry} (one entry) "
                f"or layer={l}, or raise max_partials (now {max_partials})"
            )
        hint = f"{total - len(chosen)} more partial derivatives are left out. Select fewer with {ways}."
    return _Selection(tuple(chosen), total, hint)


class DocumentBuilder:
    """Builds the format-neutral sections of a derivation's rendering."""

    def __init__(self, d: Derivation, width: int) -> None:
        self.d = d
        self.width = width
        self.extra: dict[sp.Basic, str] = {}
        self.meta: dict[sp.Basic, Meta] = {}
        self.m = Math(d, self.extra, self.meta)

    def sym(self, name: str, latex: str, meta: Meta) -> sp.Symbol:
        """A display symbol of this rendering only (``a2_j``), with its LaTeX and what it is."""
        s = sp.Symbol(name, real=True)
        self.extra[s], self.meta[s] = latex, meta
        return s

    def eq(self, lhs: sp.Basic, *rhss: Form | sp.Basic, rule: Prose | str = "") -> Equation:
        head = self.m.both(lhs)
        # the room a right-hand side has: the line, less the margin, the lhs and a continuation
        room = self.width - 2 - lhs_indent(head) - 2
        forms = []
        for rhs in rhss:
            form = rhs if isinstance(rhs, tuple) else ((cast("sp.Expr", rhs),),)
            forms.append(tuple(self.m.form(form, room)))
        return Equation(head, tuple(forms), self.m.prose(rule))

    def raw(self, lhs: tuple[str, str], *rhss: tuple[str, str], rule: Prose | str = "") -> Equation:
        return Equation(Chunk(*lhs), tuple((Chunk(*r),) for r in rhss), self.m.prose(rule))

    # -- sections -------------------------------------------------------------------------------
    def forward(self) -> Section:
        net = self.d.net
        items: list[Paragraph | Equation] = []
        for l, layer in enumerate(net.layers, start=1):
            j = "0" if layer.n_out == 1 else "j"
            prev_t = "x" if l == 1 else f"a^({l - 1})"
            prev_l = "x" if l == 1 else f"a^{{({l - 1})}}"
            if layer.n_in == 1:
                sum_t, sum_l = f"w^({l})_{j}0 {prev_t}_0", f"w^{{({l})}}_{{{j}0}} {prev_l}_{{0}}"
            else:
                k_hi = layer.n_in - 1
                sum_t = f"sum_(k=0..{k_hi}) w^({l})_{j}k {prev_t}_k"
                sum_l = f"\\sum_{{k=0}}^{{{k_hi}}} w^{{({l})}}_{{{j}k}} {prev_l}_{{k}}"
            if layer.bias:
                sum_t += f" + b^({l})_{j}"
                sum_l += f" + b^{{({l})}}_{{{j}}}"
            z_t, z_l = f"z^({l})_{j}", f"z^{{({l})}}_{{{j}}}"
            a_t, a_l = f"a^({l})_{j}", f"a^{{({l})}}_{{{j}}}"
            units = f"layer {l}, {layer.n_out} unit{'s' if layer.n_out > 1 else ''}"
            if layer.n_out > 1:
                units += f": j = 0..{layer.n_out - 1}"
            if layer.act.is_softmax:
                act_t = f"exp({z_t}) / sum_(i=0..{layer.n_out - 1}) exp(z^({l})_i)"
                sum_exp = f"\\sum_{{i=0}}^{{{layer.n_out - 1}}} e^{{z^{{({l})}}_{{i}}}}"
                act_l = f"\\frac{{e^{{{z_l}}}}}{{{sum_exp}}}"
            else:
                act_t = f"{layer.act.name}({z_t})"
                act_l = f"{layer.act.latex}\\left({z_l}\\right)"
            if layer.dropout:  # while training
                units += f", dropout p^({l}) = {layer.dropout:g}: m^({l})_{j} is 1 (kept) or 0"
                act_t = f"m^({l})_{j} {act_t} / (1 - p^({l}))"
                act_l = f"m^{{({l})}}_{{{j}}}\\,{act_l} / (1 - p^{{({l})}})"
            if layer.residual:  # the skip connection adds the layer's input
                units += ", residual: its input is added to its output"
                act_t = f"{prev_t}_{j} + {act_t}"
                act_l = f"{prev_l}_{{{j}}} + {act_l}"
            items.append(units)
            items.append(self.raw((z_t, z_l), (sum_t, sum_l)))
            items.append(self.raw((a_t, a_l), (act_t, act_l)))
        seen: set[str] = set()
        for layer in net.layers:
            act = layer.act
            if act.name in seen:
                continue
            seen.add(act.name)
            items += self.activation(act)
        return Section(Chunk("Forward pass", "Forward pass"), 1, tuple(items))

    def definitions(self, local_steps: bool = False) -> list[Section]:
        """The forward pass and the cost, each followed on request (``local_steps``) by its
        local derivatives derived rule by rule (:mod:`symgrad.views.local`)."""
        if not local_steps:
            return [self.forward(), self.cost()]
        from ..calculus.local import differentiate
        from .local import local_section

        acts = list({id(layer.act): layer.act for layer in self.d.net.layers}.values())
        local = [local_section(self.m, differentiate(act), self.width) for act in acts]
        cost = local_section(self.m, differentiate(self.d.net.cost), self.width)
        return [self.forward(), *local, self.cost(), cost]

    def activation(self, act: Any) -> list[Paragraph | Equation]:
        """``f(z) = ...`` and ``f'(z) = ...`` for one activation."""
        f_t, f_l = f"{act.name}(z)", f"{act.latex}\\left(z\\right)"
        df_t, df_l = f"{act.name}'(z)", f"{act.latex}'\\left(z\\right)"
        if act.is_softmax:
            couples = Formula(
                "da_i/dz_j = a_i (delta_ij - a_j)",
                r"\partial a_{i}/\partial z_{j} = a_{i} (\delta_{ij} - a_{j})",
            )
            return [self.m.prose(prose("softmax couples the units of its layer: ", couples))]
        uses_a = act.derivative.has(A_SYM)
        rule: Prose | str = f"{act.name} and its derivative"
        if uses_a:
            rule = prose(rule, ", written with its output ", Formula("a = f(z)", "a = f(z)"))
        out: list[Paragraph | Equation] = []
        if self.m.text(act.expr) != f_t:  # tanh(z) = tanh(z) says nothing
            out.append(
                self.raw((f_t, f_l), (self.m.text(act.expr), self.m.latex(act.expr)), rule=rule)
            )
            rule = ""
        out.append(
            self.raw(
                (df_t, df_l), (self.m.text(act.derivative), self.m.latex(act.derivative)), rule=rule
            )
        )
        return out

    def cost(self) -> Section:
        d, net = self.d, self.d.net
        L, n = net.L, net.sizes[-1]
        C = d.sym.C
        if n <= EXPLICIT_COST_UNITS:
            rhs = d.cost()
        else:
            j = sp.Symbol("j", integer=True)
            aj = self.sym(f"a{L}_j", f"a^{{({L})}}_{{j}}", Meta("a", L, (j,)))
            yj = self.sym("y_j", "y_{j}", Meta("y", None, (j,)))
            rhs = d.scale * sp.Sum(net.cost.expr.xreplace({A_SYM: aj, Y_SYM: yj}), (j, 0, n - 1))
        rule = prose(
            f"the {net.cost.name} cost of one example ",
            Formula("x", "x"),
            " with target ",
            Formula("y", "y"),
            "; the cost of a batch is the mean over its examples",
        )
        items: list[Paragraph | Equation] = [self.eq(C, rhs, rule=rule)]
        reg = net.regularization
        if reg is not None:
            text, latex = reg.shown
            over = "weight and bias" if reg.biases else "weight"
            items.append(
                self.raw(
                    ("C", "C"),
                    (f"C_0 + {text}", f"C_0 + {latex}"),
                    rule=f"the data cost plus the {reg.what}, summed over every {over}; "
                    f"lambda = {reg.lam:g}",
                )
            )
        return Section(Chunk("Cost", "Cost"), 1, tuple(items))

    def partial(self, p: Partial, expand: bool, position: int = 0) -> Section:
        steps: list[Step] = list(p.steps)
        if expand:
            steps.append(p.expanded_step())
        items: list[Paragraph | Equation] = []
        for step in steps:
            items.append(self.eq(step.lhs, *step.forms, rule=step.rule))
        title = self.m.both(p.steps[-1].lhs)  # dC/dw: with a penalty, the chain's is dC_0/dw
        return Section(title, 2, tuple(items), f"Partial {position}" if position else "")

    def equations(self, form: str) -> Section:
        items: list[Paragraph | Equation] = []
        for label, layer, equation in self.d.labelled_equations(form):
            items.append(self.eq(equation.lhs, equation.rhs, rule=f"{label} (layer {layer})"))
        title = "The four equations of backpropagation (BP1-BP4)"
        return Section(Chunk(title, latex_escape(title)), 1, tuple(items))


EXPAND_TOTAL = 60_000
"""Most nodes that the expanded forms of one rendering may hold together (about 150 kB of text)."""


def _check_expansion(d: Derivation, partials: Sequence[Partial], advice: str) -> None:
    """Refuse a rendering whose expanded forms would run to megabytes (and minutes)."""
    d.check_expandable()
    total = sum(d.expanded_size(p.expr) for p in partials)
    if total > EXPAND_TOTAL:
        fewer = "--param and --index" if advice == "cli" else "param= and index="
        raise DerivationError(
            f"the {len(partials)} selected partials, written in inputs and parameters, would hold "
            f"about {total:,} terms (the limit is {EXPAND_TOTAL:,}); select fewer with {fewer}, "
            "or leave out the expansion"
        )


@dataclass(frozen=True)
class RenderOptions:
    """What a rendering of a derivation shows; every format takes the same options.

    Attributes:
        param: show only the partials of this array, e.g. ``"W2"``.
        layer: show only the partials of this layer's weights and biases.
        index: with ``param``, one entry, e.g. ``(0, 1)`` for ``W2[0, 1]`` or ``0`` for ``b2[0]``.
        expand: also write each partial in inputs and parameters only (small networks).
        equations: add BP1-BP4 (``True`` or ``"index"``; ``"matrix"`` for the vector form).
        max_partials: show at most this many partials and say how many were left out.
        advice: how the hint on what was left out is worded: ``"python"`` (``param='W1'``) or
            ``"cli"`` (``--param W1``).
        local_steps: under the activations' and the cost's definitions, each local derivative
            derived rule by rule (:func:`symgrad.calculus.local.differentiate`).
    """

    param: str | None = None
    layer: int | None = None
    index: int | Sequence[int] | None = None
    expand: bool = False
    equations: bool | str = True
    max_partials: int = MAX_PARTIALS
    advice: str = "python"
    local_steps: bool = False

    def __post_init__(self) -> None:
        if self.equations not in (True, False, "index", "matrix"):
            raise SpecError(
                f"equations must be True, False, 'index' or 'matrix', got {self.equations!r}"
            )


@dataclass(frozen=True)
class Document:
    """A rendering, format-neutral: a title and sections of paragraphs and equations.

    ``title_parts`` is the title as its head and the network's layers, which a format may set
    apart (LaTeX in a math block puts an arrow between them).
    """

    title: str
    sections: tuple[Section, ...]
    title_parts: tuple[str, ...] = ()


def build_document(d: Derivation, width: int, options: RenderOptions) -> Document:
    """The document of ``d``: equations broken at ``width`` columns (of the plain spelling)."""
    o = options
    selection = select_partials(d, o.param, o.layer, o.index, o.max_partials, o.advice)
    if o.expand:
        _check_expansion(d, selection.partials, o.advice)
    b = DocumentBuilder(d, width)
    sections = b.definitions(o.local_steps)
    count = len(selection.partials)
    intro = f"{selection.total} partial derivative{'s' if selection.total != 1 else ''} selected"
    intro += "" if count == selection.total else f", {count} shown"
    intro += (
        ": each is the chain rule written out as a product of local derivatives, "
        "each local derivative evaluated, then multiplied out."
    )
    items: tuple[str, ...] = (intro,) if not selection.hint else (intro, selection.hint)
    sections.append(Section(Chunk("Partial derivatives", "Partial derivatives"), 1, items))
    sections += [b.partial(p, o.expand, n) for n, p in enumerate(selection.partials, start=1)]
    if selection.hint and selection.partials:
        sections.append(Section(Chunk("Left out", "Left out"), 2, (selection.hint,)))
    if o.equations:
        sections.append(b.equations("index" if o.equations is True else str(o.equations)))
    head = "Backpropagation in "
    parts = [f"{head}{d.net.sizes[0]}"]
    parts += [f"{layer.n_out} {layer.act.name}" for layer in d.net.layers]
    parts[-1] += f", cost {d.net.cost.name}"
    return Document(f"{head}{d.net.describe()}", tuple(sections), tuple(parts))


__all__ = [
    "MAX_PARTIALS",
    "Document",
    "DocumentBuilder",
    "RenderOptions",
    "build_document",
    "select_partials",
]
