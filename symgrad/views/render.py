"""Rendering a :class:`~symgrad.calculus.derivation.Derivation` as plain text, Markdown or LaTeX.

Each function builds the document once (:mod:`symgrad.views.document`, with its
:class:`RenderOptions`) and hands it to one emitter of :data:`~symgrad.views.formats.FORMATS`.
Math is printed by SymPy printers: :class:`LatexNotation` (a ``LatexPrinter`` whose
``symbol_names`` is the derivation's LaTeX table, so ``w2_0_1`` prints ``w^{(2)}_{01}``) and
:class:`TextNotation` (a ``StrPrinter``); the notation is described in
:mod:`symgrad.views.formats`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from .document import RenderOptions, build_document
from .formats import FORMATS
from .layout import TEXT_WIDTH
from .notation import LatexNotation, TextNotation

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation


def render(d: Derivation, fmt: str, width: int | None = None, **options: Any) -> str:
    """``d`` in the format ``fmt`` of :data:`~symgrad.views.formats.FORMATS`; ``options`` are
    the fields of :class:`~symgrad.views.document.RenderOptions`."""
    if fmt not in FORMATS:
        raise SpecError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    chosen = RenderOptions(**options)  # a TypeError for an option no format takes
    spec = FORMATS[fmt]
    doc = build_document(d, spec.width if width is None else width, chosen)
    return spec.emit(doc)


def to_text(d: Derivation, *, width: int = TEXT_WIDTH, **options: Any) -> str:
    """Plain text for a terminal (``width`` columns).

    Options (:class:`~symgrad.views.document.RenderOptions`): ``param`` (only the partials of
    this array, e.g. ``"W2"``), ``layer`` (only this layer's), ``index`` (with ``param``, one
    entry, e.g. ``(0, 1)``), ``expand`` (also in inputs and parameters only), ``equations``
    (BP1-BP4: ``True``/``"index"``, ``"matrix"`` or ``False``), ``max_partials`` (at most this
    many, saying how many were left out), ``local_steps`` (each activation's and the cost's
    derivative derived rule by rule, under their definitions).
    """
    return render(d, "text", width, **options)


def to_markdown(d: Derivation, **options: Any) -> str:
    """Markdown: headings, the rules as text and the equations as ``$$`` display math.

    The options are those of :func:`to_text`.
    """
    return render(d, "markdown", **options)


def to_latex(
    d: Derivation, *, document: bool = False, jupyter: bool = False, **options: Any
) -> str:
    """LaTeX: a fragment for a document's body, or with ``document=True`` a standalone article.

    The standalone document needs only ``amsmath`` and ``geometry`` (both in TeX Live's
    ``latex-base``) and compiles with ``pdflatex``. ``jupyter=True`` gives one ``$$...$$``
    block of ``aligned`` rows, the form Jupyter's MathJax shows. The other options are those of
    :func:`to_text`.
    """
    if document and jupyter:
        raise SpecError("to_latex() takes document=True or jupyter=True, not both")
    fmt = "jupyter" if jupyter else "latex-document" if document else "latex"
    return render(d, fmt, **options)


__all__ = [
    "LatexNotation",
    "TextNotation",
    "render",
    "to_latex",
    "to_markdown",
    "to_text",
]
