"""The constants of a generated module's own ``exp`` and ``tanh``, by dtype.

The blas shape's ``exp`` is a polynomial in arithmetic alone, so that the element-wise loops
around it vectorise (templates/_exp.py.jinja); every shape's ``tanh`` is Cephes' rational fit near
0 and ``exp`` beyond (templates/module.py.jinja). Both are checked against NumPy, specials
included, by tests/test_codegen.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .printer import number

_TAYLOR_DEGREE = 13  # 0.3466^14 / 14! < 2^-57: the series' remainder on |r| <= ln2/2, float64
_CEPHES_EXPF = ("1.9875691500e-4", "1.3981999507e-3", "8.3334519073e-3", "4.1665795894e-2",
                "1.6666665459e-1", "5.0000001201e-1")  # fmt: skip
"""Cephes' minimax fit of (exp(r) - 1 - r) / r^2 for float32 on |r| <= ln2/2 (near 1/7! ... 1/2!)."""


def exp_data(dtype: str) -> dict[str, Any]:
    """The constants of the blas shape's vectorisable exp (templates/_exp.py.jinja), by dtype.

    Checked against np.exp to within one ulp, specials included, by tests/test_codegen.py.
    """
    if dtype == "float64":
        shift = 1.5 * 2.0**52  # EXP_ROUND: adding it rounds to a whole number
        coefficients = [
            (repr(1.0 / math.factorial(k)), f"1/{k}!") for k in range(_TAYLOR_DEGREE, -1, -1)
        ]
        return {
            "low": "-746.0", "high": "710.0", "log2e": repr(1 / math.log(2)),
            "ln2_hi": "0.6931471803691238", "ln2_lo": "1.9082149292705877e-10",
            "round": repr(shift), "bits": int(np.float64(shift).view(np.int64)) - 1023,
            "mantissa": 52, "int": "np.int64", "half": "0.5",
            "poly_note": f"its Taylor series to r^{_TAYLOR_DEGREE}/{_TAYLOR_DEGREE}!",
            "coefficients": coefficients,
        }  # fmt: skip
    shift = 1.5 * 2.0**23
    degree = len(_CEPHES_EXPF) + 1
    fitted = [(number(c), f"~1/{degree - i}!") for i, c in enumerate(_CEPHES_EXPF)]
    coefficients = [*fitted, (number("1.0"), "1/1!"), (number("1.0"), "1/0!")]
    return {
        "low": number("-104.0"), "high": number("89.0"), "log2e": number(repr(1 / math.log(2))),
        "ln2_hi": number("0.693359375"), "ln2_lo": number("-2.12194440e-4"),
        "round": number(repr(shift)), "bits": int(np.float32(shift).view(np.int32)) - 127,
        "mantissa": 23, "int": "np.int32", "half": number("0.5"),
        "poly_note": f"Cephes' minimax polynomial of degree {degree} (float32)",
        "coefficients": coefficients,
    }  # fmt: skip


_CEPHES_TANH = {
    # tanh(u) = u + u z P(z) / Q(z), z = u^2, |u| < 0.625 (Cephes' tanh.c; Q's leading 1 implied)
    "float64": (("-9.64399179425052238628E-1", "-9.92877231001918586564E1",
                 "-1.61468768441708447952E3"),
                ("1.12811678491632931402E2", "2.23548839060100448583E3",
                 "4.84406305325125486048E3")),
    # tanh(u) = u + u z P(z) (Cephes' tanhf.c)
    "float32": (("-5.70498872745E-3", "2.06390887954E-2", "-5.37397155531E-2",
                 "1.33314422036E-1", "-3.33332819422E-1"), ()),
}  # fmt: skip


def tanh_data(dtype: str) -> dict[str, Any]:
    """The constants of the module's tanh (templates/module.py.jinja), by dtype.

    Checked against tanh in long double (float32: float64) by tests/test_codegen.py.
    """
    numerator, denominator = _CEPHES_TANH[dtype]

    def terms(coefficients: tuple[str, ...]) -> list[tuple[str, str]]:  # ("+" | "-", |c|)
        return [("-", number(c[1:])) if c[0] == "-" else ("+", number(c)) for c in coefficients]

    return {
        "small": number("0.625"),
        "numerator": [number(numerator[0]), *terms(numerator[1:])],
        "denominator": terms(denominator),
        "two": number("2.0"),
    }


__all__ = ["exp_data", "tanh_data"]
