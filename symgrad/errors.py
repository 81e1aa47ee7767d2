"""Exceptions raised by symgrad. Every one derives from :class:`SymgradError`."""

from __future__ import annotations


class SymgradError(Exception):
    """Base class of every error symgrad raises on purpose."""


class SpecError(SymgradError, ValueError):
    """A declaration, a formula, a spec file or input data is wrong; the message says what to change."""


class DerivationError(SymgradError):
    """A derivation could not be built or checked."""


class CodegenError(SymgradError, RuntimeError):
    """Code generation or compilation failed."""


class DivergenceError(SymgradError, ArithmeticError):
    """Training met a non-finite loss; the weights of the last finite epoch were put back."""

    def __init__(self, message: str, epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch
