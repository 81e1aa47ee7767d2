"""symgrad: see backpropagation step by step, and generate fast training code from it.

Declare a network (:class:`Network`, :class:`Dense`), derive every partial derivative of its
cost with the chain-rule steps (:func:`derive`), and generate a readable Numba module that
trains it (:func:`generate`, :func:`compile`, :class:`Model`).
"""

from __future__ import annotations

from .derive import Derivation, Partial, derive
from .errors import CodegenError, DerivationError, DivergenceError, SpecError, SymgradError
from .ops import ACTIVATIONS, COSTS, Activation, Cost
from .spec import Dense, Network
from .steps import Step

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "Activation",
    "CodegenError",
    "Cost",
    "Dense",
    "Derivation",
    "DerivationError",
    "DivergenceError",
    "Network",
    "Partial",
    "SpecError",
    "Step",
    "SymgradError",
    "__version__",
    "derive",
]
