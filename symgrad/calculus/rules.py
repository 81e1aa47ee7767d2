"""A derivative of one variable taken rule by rule, each rule a step: the lesson's calculus.

:func:`derive_steps` walks a SymPy expression's tree and differentiates it as one does by hand:
the constant, power, sum, constant-multiple, product, quotient and chain rules, and the
derivative of each named function (``exp``, ``log``, ``tanh``, ``sigmoid``, ``abs``, ``max``, a
``Piecewise`` branch by branch...). Every rule it applies is a :class:`LocalStep` (what was
differentiated, the rule, the result, the steps of its parts), so a view can show the whole tree.
``sympy.diff`` is never called here: the tests use it as the judge. :mod:`symgrad.calculus.local`
builds on this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sympy as sp

from ..net.named import sigmoid
from .steps import Formula, Prose, prose

RULES: dict[str, Formula] = {
    "power": Formula("d/dx x**n = n*x**(n - 1)", r"\frac{d}{dx} x^{n} = n x^{n-1}"),
    "sum": Formula("(f + g)' = f' + g'", r"(f + g)' = f' + g'"),
    "constant multiple": Formula("(c*f)' = c*f'", r"(c f)' = c f'"),
    "product": Formula("(f*g)' = f'*g + f*g'", r"(f g)' = f' g + f g'"),
    "quotient": Formula("(f/g)' = (f'*g - f*g')/g**2", r"(f/g)' = \frac{f' g - f g'}{g^{2}}"),
    "chain": Formula("d/dx f(u(x)) = f'(u) * du/dx", r"\frac{d}{dx} f(u(x)) = f'(u) \frac{du}{dx}"),
}
"""The structural rules, each with its generic formula (the named functions' steps say theirs)."""

REWRITES = ("simplify", "named", "output")
"""The rules of the steps that rewrite a derivative rather than take one."""


def _named_rules() -> dict[str, Callable[[sp.Expr], sp.Expr]]:
    """``f'(u)`` of each named function of one argument, by its SymPy class name."""
    return {
        "exp": sp.exp,
        "log": lambda u: 1 / u,
        "sqrt": lambda u: 1 / (2 * sp.sqrt(u)),
        "sin": sp.cos,
        "cos": lambda u: -sp.sin(u),
        "tan": lambda u: 1 + sp.tan(u) ** 2,
        "sinh": sp.cosh,
        "cosh": sp.sinh,
        "tanh": lambda u: 1 - sp.tanh(u) ** 2,
        "asin": lambda u: 1 / sp.sqrt(1 - u**2),
        "acos": lambda u: -1 / sp.sqrt(1 - u**2),
        "atan": lambda u: 1 / (1 + u**2),
        "asinh": lambda u: 1 / sp.sqrt(u**2 + 1),
        "atanh": lambda u: 1 / (1 - u**2),
        "erf": lambda u: 2 * sp.exp(-(u**2)) / sp.sqrt(sp.pi),
        "erfc": lambda u: -2 * sp.exp(-(u**2)) / sp.sqrt(sp.pi),
        "sigmoid": lambda u: sigmoid(u) * (1 - sigmoid(u)),
        "softplus": sigmoid,
        "Abs": sp.sign,
        "sign": lambda u: sp.Integer(0),
        "Heaviside": lambda u: sp.Integer(0),
    }


_JUMPS = ("sign", "Heaviside")
"""Functions whose derivative is 0 except at the jump, where it is not defined."""


@dataclass(frozen=True, slots=True)
class LocalStep:
    """One rule applied: ``d/d(var) expr = result`` (or, for a rewrite, ``expr = result``).

    Attributes:
        rule: the rule's name: ``"constant"``, ``"power"``, ``"sum"``, ``"constant multiple"``,
            ``"product"``, ``"quotient"``, ``"chain"``, ``"piecewise"``, ``"max"``, ``"min"``,
            a named function's (``"exp"``, ``"log"``, ``"tanh"``, ``"sigmoid"``, ``"abs"``...),
            or a rewrite's (:data:`REWRITES`).
        expr: what is differentiated (for a rewrite: the form before it).
        var: the variable (``u`` for the outer function of a chain).
        result: the derivative (for a rewrite: the form after it).
        parts: the steps this one uses: the terms of a sum, the factors of a product, the
            numerator and denominator of a quotient, the outer then the inner function of a chain.
        why: the rule in words and symbols, with its parts named.
        given: for a rewrite, what it assumes: ``((a, f(z)),)`` when it writes in the output ``a``.
    """

    rule: str
    expr: sp.Expr
    var: sp.Symbol
    result: sp.Expr
    parts: tuple[LocalStep, ...] = ()
    why: Prose = ()
    given: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()

    @property
    def rewrite(self) -> bool:
        """This step rewrites a derivative (``expr = result``) rather than takes one."""
        return self.rule in REWRITES

    def walk(self, number: tuple[int, ...] = (1,)) -> Iterator[tuple[tuple[int, ...], LocalStep]]:
        """This step and every step under it, in reading order, each with its outline number
        (``(1, 2)`` is the second part of step 1)."""
        yield number, self
        for n, part in enumerate(self.parts, start=1):
            yield from part.walk((*number, n))


class NoRule(Exception):
    """An expression holds a function no rule differentiates (its class name is the message)."""


class _Differentiator:
    """Differentiates rule by rule; ``names`` are the letters a chain's inner part is called."""

    def __init__(self, taken: set[str]) -> None:
        self.names = [n for n in ("u", "v", "w", "s", "t", "p", "q") if n not in taken]
        self.depth = 0  # how many chains the current step is inside
        self.named = _named_rules()

    def letter(self) -> sp.Symbol:
        name = self.names[self.depth] if self.depth < len(self.names) else f"u_{self.depth}"
        return sp.Symbol(name, real=True)

    def d(self, expr: sp.Expr, x: sp.Symbol) -> LocalStep:
        if not expr.has(x):
            return LocalStep(
                "constant", expr, x, sp.Integer(0), (), prose("constant: no ", x, " in it")
            )
        if expr == x:
            return LocalStep(
                "power", expr, x, sp.Integer(1), (), prose("power rule: the variable itself")
            )
        if isinstance(expr, sp.Add):
            return self.sum(expr, x)
        if isinstance(expr, sp.Mul) or (_denominator(expr) != 1):
            return self.product(expr, x)
        if isinstance(expr, sp.Pow):
            return self.power(expr, x)
        if isinstance(expr, sp.Piecewise):
            parts = tuple(self.d(value, x) for value, _ in expr.args)
            result = sp.Piecewise(
                *[(p.result, c) for p, (_, c) in zip(parts, expr.args, strict=True)]
            )
            why = prose("piecewise: each branch differentiated on its own (away from the joins)")
            return LocalStep("piecewise", expr, x, result, parts, why)
        if isinstance(expr, sp.Max | sp.Min):
            return self.extreme(expr, x)
        name = type(expr).__name__
        if isinstance(expr, sp.Function) and name in self.named:
            arg = expr.args[0]
            if arg != x:
                return self.chain(expr, arg, type(expr), x)
            return self.function(expr, name, x)
        raise NoRule(name)

    def function(self, expr: sp.Expr, name: str, x: sp.Symbol) -> LocalStep:
        """A named function of the variable itself: its derivative, from the table."""
        rule = name.lower()
        result = self.named[name](x)
        why = prose(f"derivative of {rule}")
        if name in _JUMPS:
            why = prose(*why, ": 0 except at ", x, " = 0, where it jumps")
        elif name == "Abs":
            why = prose(*why, ": the sign of ", x, " (except at 0)")
        return LocalStep(rule, expr, x, result, (), why)

    def sum(self, expr: sp.Add, x: sp.Symbol) -> LocalStep:
        parts = tuple(self.d(t, x) for t in expr.as_ordered_terms())
        result = sp.Add(*[p.result for p in parts])
        return LocalStep("sum", expr, x, result, parts, prose("sum rule ", RULES["sum"]))

    def product(self, expr: sp.Expr, x: sp.Symbol) -> LocalStep:
        coeff, rest = expr.as_independent(x, as_Add=False)
        if coeff != 1:
            part = self.d(rest, x)
            why = prose("constant multiple rule ", RULES["constant multiple"], ", with c = ", coeff)
            return LocalStep("constant multiple", expr, x, coeff * part.result, (part,), why)
        den = _denominator(expr)
        if den != 1:
            num = expr * den  # the powers of den cancel: SymPy adds their exponents
            f, g = self.d(num, x), self.d(den, x)
            result = (f.result * den - num * g.result) / den**2
            why = prose("quotient rule ", RULES["quotient"], ", with f = ", num, ", g = ", den)
            return LocalStep("quotient", expr, x, result, (f, g), why)
        factors = expr.as_ordered_factors()
        parts = tuple(self.d(f, x) for f in factors)
        terms = [
            sp.Mul(*[p.result if j == i else f for j, f in enumerate(factors)])
            for i, p in enumerate(parts)
        ]
        why = prose("product rule ", RULES["product"])
        return LocalStep("product", expr, x, sp.Add(*terms), parts, why)

    def power(self, expr: sp.Pow, x: sp.Symbol) -> LocalStep:
        base, exp = expr.args
        if not exp.has(x):
            if base != x:
                return self.chain(expr, base, lambda u: u**exp, x)
            if exp == sp.Rational(1, 2):
                return self.function(expr, "sqrt", x)
            why = prose("power rule ", RULES["power"], ", with n = ", exp)
            return LocalStep("power", expr, x, exp * x ** (exp - 1), (), why)
        if not base.has(x):  # c**u = exp(u log c)
            if exp != x:
                return self.chain(expr, exp, lambda u: base**u, x)
            why = prose(
                "exponential: ",
                Formula("d/dx c**x = c**x*log(c)", r"\frac{d}{dx} c^{x} = c^{x} \log c"),
            )
            return LocalStep("exp", expr, x, expr * sp.log(base), (), why)
        # a variable base and exponent: u**v = exp(v*log(u))
        inner = sp.exp(exp * sp.log(base))
        part = self.d(inner, x)
        why = prose("power rule with a variable exponent: ", expr, " = ", inner)
        return LocalStep("power", expr, x, part.result.xreplace({inner: expr}), (part,), why)

    def extreme(self, expr: sp.Max | sp.Min, x: sp.Symbol) -> LocalStep:
        """max(p, q): the derivative of the larger one where they differ (min: the smaller)."""
        kind = "max" if isinstance(expr, sp.Max) else "min"
        p, *others = expr.args
        q = type(expr)(*others)
        parts = (self.d(p, x), self.d(q, x))
        cond = p > q if kind == "max" else p < q
        result = sp.Piecewise((parts[0].result, cond), (parts[1].result, True))
        why = prose(f"{kind}: the derivative of the {'larger' if kind == 'max' else 'smaller'} "
                    "argument, where the two differ")  # fmt: skip
        return LocalStep(kind, expr, x, result, parts, why)

    def chain(
        self, expr: sp.Expr, inner: sp.Expr, outer: Callable[[sp.Expr], sp.Expr], x: sp.Symbol
    ) -> LocalStep:
        """``f(g(x))``: the outer function's derivative at the inner one, times the inner's."""
        u = self.letter()
        self.depth += 1
        try:
            f = self.d(outer(u), u)
            g = self.d(inner, x)
        finally:
            self.depth -= 1
        result = f.result.xreplace({u: inner}) * g.result
        why = prose(
            "chain rule ", RULES["chain"], ", outer ", outer(u), ", inner ", u, " = ", inner
        )
        return LocalStep("chain", expr, x, result, (f, g), why)


def _denominator(expr: sp.Expr) -> sp.Expr:
    """The product of the factors of ``expr`` with a negative number as exponent, inverted."""
    factors = expr.args if isinstance(expr, sp.Mul) else (expr,)
    den = [
        f.base ** (-f.exp)
        for f in factors
        if isinstance(f, sp.Pow) and f.exp.is_Number and f.exp < 0 and not f.base.is_Number
    ]
    return sp.Mul(*den)


def derive_steps(expr: sp.Expr, x: sp.Symbol) -> LocalStep:
    """``d/dx expr`` as the tree of the rules that take it.

    Raises :class:`NoRule` naming a function no rule differentiates.
    """
    taken = {str(s) for s in expr.free_symbols}
    return _Differentiator(taken).d(expr, x)


__all__ = ["REWRITES", "RULES", "LocalStep", "NoRule", "derive_steps"]
