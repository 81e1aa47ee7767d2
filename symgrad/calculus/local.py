"""``differentiate``: the derivative of one activation, cost or formula, derived rule by rule.

:func:`differentiate` takes a formula (text for the whitelist parser, a SymPy expression, an
:class:`~symgrad.net.ops.Activation` in ``z`` or a :class:`~symgrad.net.ops.Cost` in ``a`` with
the target ``y`` a constant) and returns a :class:`LocalDerivation`: the tree of rules that
takes the derivative (:mod:`symgrad.calculus.rules`), then the rewrites that tidy it:
simplified, written with ``sigmoid`` where ``exp`` cancels, and written in the function's
output ``a`` where it can be (an activation's forward form is its own, found once by
:mod:`symgrad.net.analysis`). The views show it (:mod:`symgrad.views.local`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..errors import SpecError
from ..limits import WorkLimitExceeded, work_limit
from ..net.activations import Activation
from ..net.analysis import bounded, forward_form
from ..net.costs import Cost
from ..net.formula import CONSTANTS, FUNCTIONS, parse_formula
from ..net.named import expand_named, sigmoid
from ..net.variables import a as A_SYM
from .rules import LocalStep, NoRule, derive_steps
from .steps import Formula, prose

REWRITE_SECONDS = 3.0
"""Time allowed to each tidying rewrite (simplify, forward form); past it, the step is left out."""

SOFTMAX_REST = sp.Symbol("S", positive=True)
"""For softmax, the sum of ``exp(z_i)`` over the layer's other units: a constant for ``z_j``."""


@dataclass(frozen=True)
class LocalDerivation:
    """The derivative of a function of one variable, rule by rule.

    Attributes:
        name: the activation's or the cost's name, or ``"f"`` for a formula.
        kind: ``"activation"``, ``"cost"`` or ``"formula"``.
        latex_name: how the name reads in LaTeX (``\\sigma`` for the sigmoid).
        var: the variable (``z``; ``a`` for a cost).
        function: what is differentiated, as written (``sigmoid`` and ``softplus`` by name).
        steps: the rule that takes the derivative (its parts under it), then each rewrite.
        output: the symbol of the function's output (``a``) when the result is written in it.
        note: what the reader needs to know of the function (softmax's ``S``, mse's ``1/n``).
    """

    name: str
    kind: str
    latex_name: str
    var: sp.Symbol
    function: sp.Expr
    steps: tuple[LocalStep, ...]
    output: sp.Symbol | None = None
    note: str = ""

    @property
    def derivative(self) -> sp.Expr:
        """The derivative in the variable alone, as the rules gave it."""
        return self.steps[0].result

    @property
    def result(self) -> sp.Expr:
        """The derivative in its last form (in the output ``a`` when :attr:`output` is set)."""
        return self.steps[-1].result

    def to_text(self, **options: Any) -> str:
        """Plain text; see :func:`symgrad.views.local.render_local`."""
        from ..views.local import render_local

        return render_local(self, "text", **options)

    def to_markdown(self) -> str:
        """Markdown with ``$$`` math."""
        from ..views.local import render_local

        return render_local(self, "markdown")

    def to_latex(self, *, document: bool = False) -> str:
        """LaTeX: a fragment, or with ``document=True`` a standalone article."""
        from ..views.local import render_local

        return render_local(self, "latex-document" if document else "latex")

    def to_html(self) -> str:
        """An HTML fragment: the steps in a ``<details>`` block, equations as MathML."""
        from ..views.local import local_html

        return local_html(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        from ..views.local import render_local

        return render_local(self, "jupyter")

    def __str__(self) -> str:
        return self.to_text()


def differentiate(formula: Any, var: str | sp.Symbol | None = None) -> LocalDerivation:
    """The derivative of ``formula``, rule by rule: ``differentiate("z*tanh(softplus(z))")``.

    Args:
        formula: text in ``var`` (parsed by the whitelist, never evaluated), a SymPy
            expression, an :class:`~symgrad.net.ops.Activation` (in ``z``) or a
            :class:`~symgrad.net.ops.Cost` (one output unit's ``c(a, y)``, in ``a``).
        var: the variable: ``z`` unless said (``a`` for a cost). With ``var="a"``, a formula
            may use the target ``y`` as a constant, as a cost does.

    Raises:
        SpecError: naming the formula and what to change, when it cannot be parsed, has a
            function no rule differentiates, or another variable.
    """
    if isinstance(formula, Activation):
        return _activation(formula, var)
    if isinstance(formula, Cost):
        return _cost(formula, var)
    x = _variable(var, "z")
    given = {x.name} | ({"y"} if x.name == "a" else set())
    if isinstance(formula, str):
        with bounded("formula", formula):
            expr = parse_formula(formula, given, what="formula", named=True)
        shown = formula
    elif isinstance(formula, sp.Basic):
        shown = _short(str(formula))
        expr = _expression(formula, shown, x, given)
    else:
        raise SpecError(
            f"differentiate() takes a formula (text such as 'z*tanh(z)', a SymPy expression, an "
            f"Activation or a Cost), got {type(formula).__name__}"
        )
    output = A_SYM if x.name == "z" else None
    return _derivation("f", "formula", "f", x, expr, shown, output=output)


def _variable(var: str | sp.Symbol | None, default: str) -> sp.Symbol:
    name = default if var is None else var.name if isinstance(var, sp.Symbol) else var
    if (
        not isinstance(name, str)
        or not name.isidentifier()
        or name in FUNCTIONS
        or name in CONSTANTS
        or name.startswith("_")
    ):
        raise SpecError(f"var must be a variable's name such as 'z' or 'a', got {var!r}")
    return sp.Symbol(name, real=True)


def _short(text: str, most: int = 80) -> str:
    """``text`` for a message: at most ``most`` characters."""
    return text if len(text) <= most else text[: most - 3] + "..."


def _expression(expr: sp.Basic, shown: str, x: sp.Symbol, given: set[str]) -> sp.Expr:
    """A SymPy expression of one variable, its symbols made real as the parser makes them."""
    if not isinstance(expr, sp.Expr):
        raise SpecError(f"formula {shown!r} is not an expression; give a function such as tanh(z)")
    others = sorted(s.name for s in expr.free_symbols if s.name not in given)
    if others:
        raise SpecError(
            f"formula {shown!r} has more than one variable ({', '.join([x.name, *others])}); "
            f"differentiate() takes a function of {x.name} alone: write the others as numbers, "
            f"or choose the variable with var="
        )
    real = {s: sp.Symbol(s.name, real=True) for s in expr.free_symbols}
    return expr.xreplace(real)


def _activation(act: Activation, var: str | sp.Symbol | None) -> LocalDerivation:
    z = _variable(var, "z")
    if z.name != "z":
        raise SpecError(f"activation {act.name!r} is a function of z; leave out var= (got {var!r})")
    if act.is_softmax:
        expr = sp.exp(z) / (sp.exp(z) + SOFTMAX_REST)
        note = (
            "Softmax couples the units of its layer: a_j = exp(z_j) / sum_i exp(z_i). For its own "
            "z_j, a_j = exp(z)/(exp(z) + S), S = sum of exp(z_i) over the other units, a constant "
            "(and da_i/dz_j = -a_i a_j for i != j)."
        )
        return _derivation(act.name, "activation", act.latex, z, expr, "softmax", act, note=note)
    if act.formula is not None:
        what = f"activation {act.name!r}"
        with bounded(what, act.formula):
            expr = parse_formula(act.formula, {"z"}, what=what, named=True)
        shown = act.formula
    else:
        expr, shown = act.expr, act.name
    return _derivation(act.name, "activation", act.latex, z, expr, shown, act)


def _cost(cost: Cost, var: str | sp.Symbol | None) -> LocalDerivation:
    x = _variable(var, "a")
    if x.name != "a":
        raise SpecError(f"cost {cost.name!r} is a function of a (y is its target); leave out var=")
    if cost.formula is not None:
        what = f"cost {cost.name!r}"
        with bounded(what, cost.formula):
            expr = parse_formula(cost.formula, {"a", "y"}, what=what, named=True)
        shown = cost.formula
    else:
        expr, shown = cost.expr, cost.name
    note = "It is the cost of one output unit, with its target y a constant"
    if cost.mean_over_units:
        note += "; mse then takes the mean over the n output units, so dC/da_j = (1/n) dc/da"
    return _derivation(cost.name, "cost", cost.name, x, expr, shown, note=note + ".")


def _derivation(
    name: str,
    kind: str,
    latex_name: str,
    x: sp.Symbol,
    expr: sp.Expr,
    shown: str,
    act: Activation | None = None,
    *,
    output: sp.Symbol | None = None,
    note: str = "",
) -> LocalDerivation:
    """The rules' tree for ``d/dx expr``, then the rewrites that apply."""
    if not expr.has(x):
        raise SpecError(
            f"formula {shown!r} does not depend on {x.name}; write a function of {x.name}, "
            "such as tanh(z)"
        )
    try:
        with bounded("formula", shown):
            root = derive_steps(expr, x)
    except NoRule as exc:
        raise SpecError(
            f"formula {shown!r}: no rule differentiates {exc}(); write it with the functions of "
            f"a formula: {', '.join(sorted(FUNCTIONS))}"
        ) from None
    steps = [root]
    current = root.result
    tidy = _rewrite(lambda: _simplified(current))
    if tidy is not None:
        steps.append(LocalStep("simplify", current, x, tidy, why=prose("simplified")))
        current = tidy
    named = _rewrite(lambda: _sigmoids(current))
    if named is not None and named != current and named.has(sigmoid) and not named.has(sp.exp):
        why = prose(
            "written with ",
            Formula("sigmoid(u) = 1/(1 + exp(-u))", r"\sigma(u) = \frac{1}{1 + e^{-u}}"),
        )
        steps.append(LocalStep("named", current, x, named, why=why))
        current = named
    if act is not None:  # the activation's own forward form, found once by net.analysis
        forward: sp.Expr | None = act.derivative if act.derivative.has(A_SYM) else None
        output = A_SYM
    elif output is not None:
        forward = _rewrite(lambda: _forward(expr, current, x))
    else:
        forward = None
    if forward is not None and output is not None and forward != current:
        given = ((output, expand_named(expr)),)
        why = prose("in the output ", output, " = ", expr, ", as backpropagation reuses it")
        steps.append(LocalStep("output", current, x, forward, why=why, given=given))
    else:
        output = None
    return LocalDerivation(name, kind, latex_name, x, expr, tuple(steps), output, note)


def _rewrite(make: Any) -> sp.Expr | None:
    """A tidying rewrite, or None when it finds nothing or runs past :data:`REWRITE_SECONDS`."""
    try:
        with work_limit(REWRITE_SECONDS, "rewrite"):
            out: sp.Expr | None = make()
        return out
    except (WorkLimitExceeded, RecursionError, TypeError, ValueError, ZeroDivisionError):
        return None
    except sp.PolynomialError:
        return None


def _simplified(expr: sp.Expr) -> sp.Expr | None:
    """``sympy.simplify(expr)`` when it is plainer and uses no function that ``expr`` does not
    (``sinh/cosh`` may become ``tanh``): ``sigmoid'`` is not ``1/(4 cosh(z/2)**2)`` to a reader."""
    tidy = expr
    for jump in expr.atoms(sp.sign):  # u sign(u) = |u|, which simplify does not see
        tidy = tidy.subs(jump.args[0] * jump, sp.Abs(jump.args[0]))
    tidy = sp.simplify(tidy)
    allowed = {type(f) for f in expr.atoms(sp.Function)}
    if {sp.sinh, sp.cosh} <= allowed:
        allowed.add(sp.tanh)
    if any(type(f) not in allowed for f in tidy.atoms(sp.Function)):
        return None
    # shorter, and no more minus signs: z (1 - s) s + s is plainer than (1 - z (s - 1)) s
    shorter = sp.count_ops(tidy) < sp.count_ops(expr)
    return tidy if shorter and str(tidy).count("-") <= str(expr).count("-") else None


def _forward(f: sp.Expr, df: sp.Expr, x: sp.Symbol) -> sp.Expr | None:
    """``df`` in the output ``a = f``: by substitution, else :func:`forward_form`'s search."""
    direct = df.subs(f, A_SYM)
    if not direct.has(x):
        return direct  # type: ignore[no-any-return]
    if x.name != "z" or f.has(sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.sign):
        return None
    found = forward_form(expand_named(f), expand_named(df))
    return found if found.has(A_SYM) and not found.has(x) else None


def _sigmoids(expr: sp.Expr) -> sp.Expr:
    """``expr`` with ``1/(1 + exp(-t))`` written ``sigmoid(t)`` and ``exp(t) sigmoid(-t)`` as
    ``sigmoid(t)``, bottom up."""
    if not expr.args or isinstance(expr, sp.Symbol):
        return expr
    e = expr.func(*[_sigmoids(arg) for arg in expr.args])
    if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp < 0:
        t = _one_plus_exp(e.base)
        if t is not None:
            return sigmoid(-t) ** (-e.exp)
    if isinstance(e, sp.Mul):
        factors = list(e.args)
        for i, f in enumerate(factors):
            if not isinstance(f, sp.exp):
                continue
            t = f.args[0]
            for k, g in enumerate(factors):
                base, n = g.as_base_exp()
                if base == sigmoid(-t) and n.is_Integer and n >= 1:
                    factors[i], factors[k] = sp.Integer(1), sigmoid(t) * sigmoid(-t) ** (n - 1)
                    return _sigmoids(sp.Mul(*factors))
    return e  # type: ignore[no-any-return]


def _one_plus_exp(expr: sp.Expr) -> sp.Expr | None:
    """``t`` when ``expr`` is ``1 + exp(t)``."""
    if isinstance(expr, sp.Add) and len(expr.args) == 2 and sp.Integer(1) in expr.args:
        (other,) = [arg for arg in expr.args if arg != 1]
        if isinstance(other, sp.exp):
            return other.args[0]  # type: ignore[no-any-return]
    return None


__all__ = ["SOFTMAX_REST", "LocalDerivation", "differentiate"]
