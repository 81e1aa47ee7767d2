"""The comments of generated code, spelled as the text rendering spells the derivation.

Every line of a generated module that implements one of BP1-BP4 carries the network's equation
as :meth:`Derivation.labelled_equations` gives it and :func:`symgrad.views.notation.equation_text`
prints it, and every formula in a comment is printed by :func:`symgrad.views.notation.text`:
one spelling for the derivation, its documents and the code, and never SymPy's own
(``Piecewise((1, z > 0), (0, True))`` reads ``(1 if z > 0 else 0)``).
"""

from __future__ import annotations

from functools import cache

from ..calculus.derivation import derive
from ..net.network import Network
from ..net.optim import Rule
from ..views.notation import equation_text, text

__all__ = ["bp_comments", "rule_text", "text"]


@cache
def bp_comments(net: Network) -> dict[tuple[str, int], str]:
    """``(label, layer) -> "BP2: delta^(1)[j] = ..."``: the comment of each line that implements
    one of BP1-BP4 (BP1 at layer L, BP2 at the layers below it, BP3 and BP4 at every layer)."""
    d = derive(net)
    return {
        (label, l): f"{label}: {equation_text(eq, d)}" for label, l, eq in d.labelled_equations()
    }


def rule_text(rule: Rule) -> str:
    """``w <- w - g*lr``: an optimiser's update rule in the text notation."""
    if rule.decrement:
        return f"{rule.target} <- {rule.target} - {text(rule.expr)}"
    return f"{rule.target} <- {text(rule.expr)}"
