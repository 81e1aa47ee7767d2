"""The ``torch.nn`` modules of an exported network that torch has no class for: a residual
layer, and an activation given by a formula (folded from :mod:`symgrad.export.lowering` with
torch's functions). This module imports torch; :mod:`symgrad.export.torch_module` imports it
only when asked for a torch network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .lowering import Node, fold


class Residual(nn.Module):  # type: ignore[misc]
    """``a = a_prev + f(W a_prev + b)``: the layer's input added to its output."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.body(x)
        return out


class Formula(nn.Module):  # type: ignore[misc]
    """An element-wise activation ``f(z)`` given by a formula, evaluated with torch's functions.

    ``softplus_threshold``: as :class:`torch.nn.Softplus`, ``softplus(u) = u`` beyond it.
    """

    def __init__(self, name: str, text: str, tree: Node, softplus_threshold: float) -> None:
        super().__init__()
        self.name, self.text, self.tree = name, text, tree
        self.softplus_threshold = softplus_threshold

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = fold(self.tree, z, _ops(z.dtype, self.softplus_threshold))
        return out

    def extra_repr(self) -> str:
        return f"{self.name}(z) = {self.text}"


def _ops(dtype: torch.dtype, threshold: float) -> dict[str, Callable[..., Any]]:
    """The lowering's operations as torch functions, constants as 0-d tensors of ``dtype``."""
    return {
        "const": lambda value: torch.tensor(value, dtype=dtype),
        "neg": torch.neg, "exp": torch.exp, "expm1": torch.expm1, "log": torch.log,
        "log1p": torch.log1p, "sqrt": torch.sqrt, "sin": torch.sin, "cos": torch.cos,
        "tan": torch.tan, "sinh": torch.sinh, "cosh": torch.cosh, "tanh": torch.tanh,
        "asin": torch.asin, "acos": torch.acos, "atan": torch.atan, "asinh": torch.asinh,
        "acosh": torch.acosh, "atanh": torch.atanh, "erf": torch.special.erf, "abs": torch.abs,
        "sigmoid": torch.sigmoid, "softplus": lambda u: F.softplus(u, threshold=threshold),
        "not": torch.logical_not, "add": torch.add, "sub": torch.sub, "mul": torch.mul,
        "div": torch.div, "pow": torch.pow, "max": torch.maximum, "min": torch.minimum,
        "gt": torch.gt, "ge": torch.ge, "lt": torch.lt, "le": torch.le, "eq": torch.eq,
        "and": torch.logical_and, "or": torch.logical_or, "where": torch.where,
    }  # fmt: skip


__all__ = ["Formula", "Residual"]
