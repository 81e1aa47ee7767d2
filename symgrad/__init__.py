"""symgrad: see backpropagation step by step, and generate fast training code from it.

Declare a network (:class:`Network`, :class:`Dense`), derive every partial derivative of its
cost with the chain-rule steps (:func:`derive`), and generate a readable Numba module that
trains it (:func:`generate`, :func:`compile`, :class:`Model`).
"""

from __future__ import annotations

from .codegen import GeneratedModule, compile, generate
from .data import Dataset, load_data
from .derive import Derivation, Partial, derive
from .descent import descend, nudge
from .errors import CodegenError, DerivationError, DivergenceError, SpecError, SymgradError
from .ops import ACTIVATIONS, COSTS, Activation, Cost
from .optim import SGD, Adam, Momentum
from .runtime import History, Model
from .spec import Dense, Network
from .specfile import SpecFile, load_spec
from .steps import Step

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "SGD",
    "Activation",
    "Adam",
    "CodegenError",
    "Cost",
    "Dataset",
    "Dense",
    "Derivation",
    "DerivationError",
    "DivergenceError",
    "GeneratedModule",
    "History",
    "Model",
    "Momentum",
    "Network",
    "Partial",
    "SpecError",
    "SpecFile",
    "Step",
    "SymgradError",
    "__version__",
    "compile",
    "derive",
    "descend",
    "generate",
    "load_data",
    "load_spec",
    "nudge",
]
