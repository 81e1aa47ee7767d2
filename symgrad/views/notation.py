"""The plain-text spelling of the notation, for every reader outside the views.

The generated code's comments and the command line's messages spell equations exactly as the
text rendering does: through these functions, which stay the same whatever the views do inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from .layout import TextNotation

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation


def text(expr: sp.Basic, d: Derivation | None = None) -> str:
    """``expr`` in the plain-text notation (``w^(2)_01``, ``sigmoid'(z^(1)_0)``, ``delta^(2)[j]``).

    ``d``: the derivation whose symbols ``expr`` is written in (for their metadata), if any.
    """
    return str(TextNotation().doprint(expr))


def equation_text(eq: sp.Eq, d: Derivation | None = None) -> str:
    """``lhs = rhs`` in the plain-text notation, as the text rendering prints an equation."""
    return f"{text(eq.lhs, d)} = {text(eq.rhs, d)}"


__all__ = ["equation_text", "text"]
