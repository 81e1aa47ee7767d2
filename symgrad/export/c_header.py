"""A dependency-free C99 header: the weights as ``static const`` arrays and
``int symgrad_predict(const T *x, size_t n_rows, T *y)``, ``T`` the model's ``double`` or ``float``.

Rows are C-contiguous: ``x`` holds ``n_rows * n_in`` values, ``y`` receives ``n_rows * n_out``.
The functions are ``static inline`` (a file that includes the header without calling them gets
no warning), behind an include guard. Activations come from :mod:`symgrad.export.lowering`,
printed with ``<math.h>`` (``expf`` and ``1.5f`` for float); sigmoid and softplus are helpers
that never overflow, softmax subtracts the row's maximum.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..net.network import Network
from .code_text import Infix, c_number, c_spelling
from .lowering import elementwise
from .numpy_module import WIDTH, wrapped


def _helpers(t: str, single: bool) -> dict[str, str]:
    f = "f" if single else ""
    one, zero = c_number(1.0, single), c_number(0.0, single)
    return {
        "sigmoid": f"""
/* 1 / (1 + exp(-z)) without overflow: exp(-|z|) only, as e / (1 + e) for z < 0 */
static inline {t} symgrad_sigmoid({t} z)
{{
    {t} e;
    if (z >= {zero}) {{
        return {one} / ({one} + exp{f}(-z));
    }}
    e = exp{f}(z);
    return e / ({one} + e);
}}
""",
        "softplus": f"""
/* log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)) */
static inline {t} symgrad_softplus({t} z)
{{
    return fmax{f}(z, {zero}) + log1p{f}(exp{f}(-fabs{f}(z)));
}}
""",
    }


def _comment(text: str) -> str:
    """Text safe inside a C comment."""
    return text.replace("*/", "* /")


def guard_name(stem: str) -> str:
    """``SYMGRAD_<STEM>_H`` from a file's stem, in letters, digits and underscores."""
    return "SYMGRAD_" + re.sub(r"[^A-Za-z0-9]", "_", stem).upper() + "_H"


def _array(name: str, t: str, values: np.ndarray[Any, Any], single: bool) -> list[str]:
    if values.ndim == 1:
        body = wrapped([c_number(v, single) for v in values], "    ")
        head = f"static const {t} {name}[{values.shape[0]}] = {{"
        if len(body) == 1 and len(head) + len(body[0]) + 2 <= WIDTH:
            return [f"{head}{body[0].strip()}}};"]
        return [head, *body, "};"]
    rows, cols = values.shape
    lines = [f"static const {t} {name}[{rows}][{cols}] = {{"]
    for i, row in enumerate(values):
        body = wrapped([c_number(v, single) for v in row], "        ")
        end = "," if i < rows - 1 else ""
        lines += (
            ["    {", *body, "    }" + end]
            if len(body) > 1
            else [f"    {{{body[0].strip()}}}{end}"]
        )
    return [*lines, "};"]


def c_source(net: Network, params: dict[str, Any], dtype: np.dtype[Any], stem: str) -> str:
    """The header's text; ``stem`` names its include guard."""
    single = dtype == np.float32
    t = "float" if single else "double"
    f = "f" if single else ""
    printer = Infix(c_spelling(single))
    n_in, n_out, L = net.sizes[0], net.sizes[-1], net.L
    weights: list[str] = []
    body: list[str] = []
    for l, layer in enumerate(net.layers, start=1):
        act = layer.act
        out = f"a{l}"
        weights += [
            "",
            f"/* layer {l}: {layer.n_in} -> {layer.n_out} {act.name}; W{l}[j][k] joins input k to unit j */",
        ]
        weights += _array(f"symgrad_W{l}", t, np.asarray(params[f"W{l}"]), single)
        if layer.bias:
            weights += _array(f"symgrad_b{l}", t, np.asarray(params[f"b{l}"]), single)
        start = f"symgrad_b{l}[j]" if layer.bias else c_number(0.0, single)
        tree = elementwise(act)
        formula = f" = {_comment(act.formula)}" if act.formula is not None else ""
        body += [
            f"        /* layer {l}: z = W{l} a{l - 1} + b, a{l} = {act.name}(z){formula}"
            + (f", plus a{l - 1} (residual)" if layer.residual else "")
            + (f"; dropout {layer.dropout:g} is for training only" if layer.dropout else "")
            + " */",
            f"        for (j = 0; j < {layer.n_out}; ++j) {{",
            f"            {t} z = {start};",
            f"            for (k = 0; k < {layer.n_in}; ++k) {{",
            f"                z += symgrad_W{l}[j][k] * a{l - 1}[k];",
            "            }",
        ]
        if tree is None:  # softmax: z now, exp(z - max z) / sum after the loop
            body += [f"            {out}[j] = z;", "        }"]
            body += _softmax(out, layer.n_out, t, f, single)
        else:
            value = printer.code(tree, "z")
            value = f"a{l - 1}[j] + {value}" if layer.residual else value
            body += [f"            {out}[j] = {value};", "        }"]
    helpers = _helpers(t, single)
    used = [helpers[name] for name in ("sigmoid", "softplus") if name in printer.used]
    locals_ = [f"    {t} a{l}[{layer.n_out}];" for l, layer in enumerate(net.layers[:-1], start=1)]
    widest = max(n_in, n_out)
    overflow = (
        [f"    if (n_rows > SIZE_MAX / {widest}) {{", "        return 2;", "    }"]
        if widest > 1
        else []
    )
    guard = guard_name(stem)
    formulas = [
        f" *   {layer.act.name}(z) = {_comment(layer.act.formula)}"
        for layer in net.layers
        if layer.act.formula is not None
    ]
    lines = [
        f"/* Prediction with the network {net.name}:",
        " *",
        f" *     {net.describe_layers()}",
        " *",
        f" * Exported by symgrad from trained weights, in {t}. Dependency-free C99 (<math.h>: link",
        " * with -lm). symgrad_predict(x, n_rows, y): x holds n_rows rows of SYMGRAD_N_IN inputs,",
        " * row after row; y receives n_rows rows of SYMGRAD_N_OUT outputs. It returns 0 on",
        " * success, 1 when x or y is NULL, 2 when n_rows is too large for size_t.",
        *([" * User activations:", *formulas] if formulas else []),
        " */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <math.h>",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        f"#define SYMGRAD_N_IN {n_in}",
        f"#define SYMGRAD_N_OUT {n_out}",
        *weights,
        *[h.rstrip("\n") for h in used],
        "",
        f"static inline int symgrad_predict(const {t} *x, size_t n_rows, {t} *y)",
        "{",
        *locals_,
        "    size_t r, j, k;",
        "    if (n_rows == 0) {",
        "        return 0;",
        "    }",
        "    if (x == NULL || y == NULL) {",
        "        return 1;",
        "    }",
        *overflow,
        "    for (r = 0; r < n_rows; ++r) {",
        f"        const {t} *a0 = x + r * {n_in};",
        f"        {t} *a{L} = y + r * {n_out};",
        *body,
        "    }",
        "    return 0;",
        "}",
        "",
        f"#endif /* {guard} */",
    ]
    return "\n".join(lines) + "\n"


def _softmax(a: str, n: int, t: str, f: str, single: bool) -> list[str]:
    """exp(z - max z) / sum over the row, in place."""
    return [
        "        {  /* softmax: the row's largest z subtracted, so exp never overflows */",
        f"            {t} top = {a}[0], sum = {c_number(0.0, single)};",
        f"            for (j = 1; j < {n}; ++j) {{",
        f"                top = {a}[j] > top ? {a}[j] : top;",
        "            }",
        f"            for (j = 0; j < {n}; ++j) {{",
        f"                {a}[j] = exp{f}({a}[j] - top);",
        f"                sum += {a}[j];",
        "            }",
        f"            for (j = 0; j < {n}; ++j) {{",
        f"                {a}[j] /= sum;",
        "            }",
        "        }",
    ]


__all__ = ["c_source", "guard_name"]
