"""The variables of the formulas: ``z`` of an activation, ``a`` and ``y`` of a cost (real).

A formula is written in these; everything that substitutes a unit's own quantities into one
(the derivation, the NumPy judge, the code generator) substitutes for these symbols.
"""

from __future__ import annotations

import sympy as sp

z = sp.Symbol("z", real=True)
a = sp.Symbol("a", real=True)
y = sp.Symbol("y", real=True)

__all__ = ["a", "y", "z"]
