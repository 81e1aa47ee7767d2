"""Code generation: a Network and an optimiser in, a readable Numba training module out.

The printer (:mod:`symgrad.codegen.printer`) turns each element-wise formula into a line of Python
(the activation, its derivative in forward terms, ``dC/da``, the optimiser's rules); the comments
spell the derivation's equations as the text rendering does (:mod:`symgrad.codegen.comments`);
the bodies of the functions are code IR (:mod:`symgrad.codegen.ir`), built for each of two
shapes: "blas" (whole mini-batches through BLAS ``?gemm``, :mod:`symgrad.codegen.blas`) and
"unrolled" (one example at a time, every unit and parameter a scalar line,
:mod:`symgrad.codegen.unrolled`). The Jinja templates in ``templates/`` place them, with the
fixed plumbing, in the module skeleton. :func:`~symgrad.codegen.recipe.choose_shape` picks the
shape by sizes (the measurements behind it are in benchmarks/FINDINGS.md).
:meth:`GeneratedModule.compile` writes the source into the cache of generated modules
(:mod:`symgrad.codegen.cache`), imports it by path and wraps it in a
:class:`~symgrad.runtime.model.Model`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import jinja2
import sympy as sp

from ..calculus.backprop import (
    BELOW,
    ELEMENTWISE,
    FUSED,
    JACOBIAN,
    backprop,
    cost_scale,
    output_kind,
)
from ..errors import CodegenError
from ..net.network import Network
from ..net.ops import a as A_SYM
from ..net.ops import y as Y_SYM
from ..net.ops import z as Z_SYM
from ..net.optim import Optimizer, element_symbols
from .blas import blas_data
from .cache import (
    atomic_write_text,
    cache_path,
    import_cached,
)
from .comments import bp_comments, rule_text, text
from .mathlib import exp_data, tanh_data
from .penalty import canonical, penalty_data
from .printer import (
    as_factor,
    hyper_locals,
    numba_code,
    number,
    numbers_for,
    recording_helpers,
    unpack_lines,
)
from .recipe import checked_recipe, hyper_names, recipe_key
from .recipe import template_dir as own_templates
from .unrolled import unrolled_data

# an optimiser's element-wise quantities: weight, gradient, state, step count
_E = element_symbols()
w, g, m, v, t = _E["w"], _E["g"], _E["m"], _E["v"], _E["t"]


if TYPE_CHECKING:
    from ..runtime.model import Model

MAX_LINE = 100
"""Longest line before the generated module declares ``# ruff: noqa: E501``."""
SHAPE_NOTES = {
    "blas": "BLAS ?gemm on whole mini-batches, element-wise work in fused loops",
    "unrolled": "fully unrolled scalar code, one example at a time",
}


@cache
def jinja_env(folder: Path | None = None) -> jinja2.Environment:
    """The Jinja environment for one template folder (strict: an unknown name is an error)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder or own_templates())),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


# --------------------------------------------------------------------------------------------
# Template data: every formula printed here, templates only place the strings
# --------------------------------------------------------------------------------------------
def _layer_data(net: Network, l: int, bp: dict[tuple[str, int], str]) -> dict[str, Any]:
    layer = net.layers[l - 1]
    act = layer.act
    prev = "x" if l == 1 else f"a{l - 1}"
    at = {Z_SYM: f"z{l}[s, j]", A_SYM: f"a{l}[s, j]", BELOW: f"{prev}[s, j]"}
    # f' in forward terms, as the backprop representation writes it (a residual layer's reads
    # f(z) = a - below); with no unit dropped: dropout's own lines are below
    rep = backprop(net)
    bp_layer = rep.layer(l)
    fprime = rep.fprime_at(l, A_SYM, Z_SYM, BELOW if layer.residual else None)
    value = act.expr + BELOW if layer.residual else act.expr  # a = below + f(z)
    return {
        "l": l,
        "n_in": layer.n_in,
        "n_out": layer.n_out,
        "bias": layer.bias,
        "act": act.name,
        "softmax": act.is_softmax,
        "residual": layer.residual,
        "prev": prev,
        "act_code": None if act.is_softmax else numba_code(value, at),
        "act_formula": text(act.expr),
        "fprime_code": numba_code(fprime, at),
        "fprime_formula": text(fprime),
        "fprime_one": fprime == 1,
        "fprime_factor": as_factor(numba_code(fprime, at)),
        # dropout while training: f{l} holds f(z) (a unit's a may be 0), mask{l} m/(1 - p)
        "dropout": layer.dropout,
        "drop_p": number(repr(layer.dropout)),
        "inv_keep": number(repr(1.0 / (1.0 - layer.dropout))),
        "f_code": None if act.is_softmax else numba_code(act.expr, at),
        "fprime_f_code": as_factor(numba_code(bp_layer.fprime, {**at, A_SYM: f"f{l}[s, j]"})),
        "fprime_f_formula": text(bp_layer.fprime),
        # BP2 gives this layer's delta (below the last), BP3 and BP4 its parameters' gradients
        "bp2": bp.get(("BP2", l)),
        "skip": bp.get(("skip", l)),  # dC/da^(l), brought down by the skip around layer l
        "bp3": bp.get(("BP3", l)),
        "bp4": bp[("BP4", l)],
    }


def _output_data(net: Network, bp: dict[tuple[str, int], str]) -> dict[str, Any]:
    L = net.L
    out, cost = net.layers[-1].act, net.cost
    kind = output_kind(net)
    scale = cost_scale(net)
    at = {A_SYM: f"a{L}[s, j]", Y_SYM: "y[s, j]", Z_SYM: f"z{L}[s, j]"}
    if kind == FUSED and out.is_softmax:
        loss = "lse"  # -sum_j y_j log softmax(z)_j = -sum_j y_j (z_j - logsumexp(z))
    elif kind == FUSED:
        loss = "softplus"  # BCE of sigmoid(z): softplus(z) - y z, no log(0)
    else:
        loss = "generic"
    dcda = scale * cost.dC_da
    return {
        "kind": {FUSED: "fused", JACOBIAN: "softmax", ELEMENTWISE: "elementwise"}[kind],
        "loss": loss,
        "n": net.sizes[-1],
        "scale_code": numba_code(scale),
        "scale_one": scale == 1,
        "dcda_code": numba_code(dcda, at),
        "dcda_factor": as_factor(numba_code(dcda, at)),
        "dcda_formula": text(dcda),
        "cost_code": numba_code(cost.expr, at),
        "cost_formula": text(cost.expr),
        "cost": cost.name,
        "bp1": bp[("BP1", L)],
    }


def _optimizer_data(
    opt: Optimizer, params: list[str], net: Network, dtype: str = "float64"
) -> dict[str, Any]:
    """The optimiser's rules as code. Hyperparameters are locals read from the run-time array
    ``hyper`` (:func:`~symgrad.codegen.printer.unpack_lines`), never constants: nothing here
    depends on their values, which are in :func:`_values_data`. With a penalty on the weights,
    the rules read ``gi``, the gradient with the penalty's derivative (:func:`.penalty.penalty_data`)."""
    reg = penalty_data(net, opt)
    names: dict[sp.Symbol, str] = hyper_locals(opt)
    names.update({w: "w[i]", g: "gi" if reg else "g[i]", m: "m[i]", v: "v[i]", t: "t"})
    scalars = opt.scalars()
    names.update({sym: sym.name for sym, _ in scalars})
    rules = [
        {
            "target": names[rule.target],
            "op": "-=" if rule.decrement else "=",
            "code": numba_code(rule.expr, names),
            "formula": rule_text(rule),
        }
        for rule in opt.rules()
    ]
    k = opt.plain_step()
    if reg is not None and (reg["name"] != "l2" or dtype != "float64"):
        # the GEMM's beta takes L2's decay, 1 - lr lam, and no other penalty's; in float64
        # only: float32 rounds 1 - lr lam to a multiple of 2**-24, and lr lam = 5e-6 to 0.6%
        k = None
    return {
        "name": opt.name,
        "kind": type(opt).__name__,
        "reg": reg,
        "hyper_names": repr(hyper_names(net, opt)),
        "gemm_step": None if k is None else as_factor(numba_code(k, names)),
        "unpack_gemm": [] if k is None else unpack_lines(opt, [k]),
        "unpack_step": unpack_lines(opt, [rule.expr for rule in opt.rules()]),
        "unpack_scalars": unpack_lines(opt, [expr for _, expr in scalars]),
        "scalars": [
            (sym.name, numba_code(expr, names), f"{sym} = {text(expr)}") for sym, expr in scalars
        ],
        "rules": rules,
        "state_names": list(opt.state),
        "state": [f"{s}_{p}" for s in opt.state for p in params],
    }


def _values_data(opt: Optimizer, net: Network) -> dict[str, Any]:
    """What a module says of its run-time values: the defaults of its ``HYPER`` array (what a
    standalone caller passes: the optimiser's values, then the penalty's ``lam``), of its
    header and of its ``NETWORK``. The compiled code does not depend on them."""
    values = list(opt.settings().values())
    if net.regularization is not None:
        values.append(net.regularization.lam)
    return {
        "describe": opt.describe(),
        "optimizer_literal": py_literal(opt.to_dict()),
        "network_literal": py_literal(net.to_dict()),
        "hyper": ", ".join(repr(value) for value in values),
    }


def _module_data(net: Network, opt: Optimizer, dtype: str, shape: str) -> dict[str, Any]:
    params = list(net.param_names)
    bp = bp_comments(net)
    layers = [_layer_data(net, l, bp) for l in range(1, net.L + 1)]
    output = _output_data(net, bp)
    optim = _optimizer_data(opt, params, net, dtype)
    reg = net.regularization
    return {
        "net": net,
        "title": f"{net.name} ({net.describe_layers()}), cost: {net.cost.name}"
        + (f" + {reg.what}" if reg is not None else ""),
        "values": _values_data(opt, net),
        "sizes": list(net.sizes),
        "sizes_literal": repr(tuple(net.sizes)),
        "params_literal": repr(tuple(params)),
        "state_literal": repr(tuple(optim["state_names"])),
        "L": net.L,
        "dtype": dtype,
        "shape": shape,
        "shape_note": SHAPE_NOTES[shape],
        "params": params,
        "grads": [f"d{p}" for p in params],
        "bias_grads": [f"d{p}" for p in params if p.startswith("b")],
        "layers": layers,
        "out": output,
        "opt": optim,
        "exp": exp_data(dtype) if shape == "blas" else None,
        "blas": blas_data(layers, output, optim, number("1.0"), number("0.0"))
        if shape == "blas"
        else None,
        "tanh": tanh_data(dtype),
        "buffers": [name for l in range(1, net.L + 1) for name in (f"z{l}", f"a{l}")],
        "one": number("1.0"),  # in the module's dtype (see printer.numbers_for)
        "zero": number("0.0"),
        "deltas": [f"delta{l}" for l in range(1, net.L + 1)],
        "has_dropout": any(layer.dropout for layer in net.layers),
    }


def _helpers(printed: set[str], data: dict[str, Any]) -> list[str]:
    """The helpers a module defines: those its printed formulas call, the ones its templates call
    (the stable BCE loss, the softmax), and ``_exp``, on which the others are built."""
    helpers = set(printed)
    if data["out"]["loss"] == "softplus":
        helpers.add("_softplus")
    if helpers & {"_sigmoid", "_softplus", "_tanh"} or any(x["softmax"] for x in data["layers"]):
        helpers.add("_exp")
    return sorted(helpers)


def py_literal(value: Any, indent: int = 0) -> str:
    """A Python literal of JSON-like data, one dict entry per line, keys sorted (deterministic)."""
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{key!r}: {py_literal(value[key], indent + 4)}," for key in sorted(value)]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(py_literal(item, indent) for item in value) + "]"
    if isinstance(value, bool | int | float | str) or value is None:
        return repr(value)
    raise CodegenError(f"cannot write {value!r} as a literal")


# --------------------------------------------------------------------------------------------
# The generated module
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratedModule:
    """The source of one generated training module and what it was made from.

    Attributes:
        net: the network it trains.
        optimizer: the optimiser whose rules ``update`` applies.
        dtype: ``"float64"`` or ``"float32"``.
        shape: the emitted shape (``"blas"`` or ``"unrolled"``).
        source: the module's Python source.
        key: content hash naming the module in the cache (see :func:`compile`).
        cached_source: what the cache holds under ``key``: the same code, with the default
            values of the optimiser's kind in ``HYPER`` (one module serves every value).
    """

    net: Network
    optimizer: Optimizer
    dtype: str
    shape: str
    source: str
    key: str
    cached_source: str = field(repr=False, default="")

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the source to ``path`` atomically (a standalone module: NumPy, Numba and its SciPy BLAS)."""
        target = Path(path)
        atomic_write_text(target, self.source)
        return target

    def cache_path(self) -> Path:
        """Where :meth:`compile` keeps this module: ``<cache dir>/<name>_<hash>.py``."""
        return cache_path(self.net, self.key)

    def load(self) -> ModuleType:
        """Write into the cache (once) and import by path; later calls reuse the import.

        The cache's copy holds the default values of the optimiser's kind in ``HYPER``; a
        :class:`~symgrad.runtime.model.Model` passes its own values to every call."""
        module = import_cached(self.cache_path(), self.key, self.cached_source or self.source)
        assert module is not None  # the source was written
        return module

    def compile(self, aot: bool = False) -> Model:
        """Write, import and wrap the module in a :class:`~symgrad.runtime.model.Model`; with
        ``aot``, also build its extension ahead of time (see :func:`symgrad.compile`). A hook
        into the runtime, which owns models."""
        from ..runtime.build import model_of

        return model_of(
            self.net, self.optimizer, self.dtype, self.shape, self.cache_path(), self.load, aot
        )

    def __repr__(self) -> str:
        return f"<GeneratedModule {self.net.describe()}, {self.optimizer.describe()}, {self.dtype}, {self.shape}>"


def generate(
    net: Network,
    optimizer: Optimizer | None = None,
    dtype: str = "float64",
    *,
    shape: str = "auto",
    template_dir: str | os.PathLike[str] | None = None,
) -> GeneratedModule:
    """Generate the training module of ``net``.

    Args:
        net: the network.
        optimizer: ``SGD``, ``Momentum`` or ``Adam`` (default ``SGD(lr=0.1)``).
        dtype: ``"float64"`` or ``"float32"``.
        shape: ``"auto"`` (:func:`choose_shape`: unrolled for tiny nets), ``"blas"`` or
            ``"unrolled"``.
        template_dir: another folder of templates to render instead of symgrad's own.
    """
    optimizer, shape = checked_recipe(net, optimizer, dtype, shape)
    folder = Path(template_dir).resolve() if template_dir is not None else own_templates()
    env = jinja_env(folder)
    with numbers_for(dtype), recording_helpers() as printed:  # float32: arithmetic in float32
        data = _module_data(net, optimizer, dtype, shape)
        data["u"] = unrolled_data(net, optimizer) if shape == "unrolled" else None
    data["helpers"] = _helpers(printed, data)
    try:
        template = env.get_template("module.py.jinja")
        source = template.render(**data, long_lines=False)
        # lines the formatter cannot break (long formulas): said once at the top for the linter
        data["long_lines"] = any(len(line) > MAX_LINE for line in source.splitlines())
        if data["long_lines"]:
            source = template.render(**data)
        # the cache keeps one module per optimiser kind, whatever the values: its own (same
        # code, the kind's default values in HYPER, lam 0) is what the cache file holds
        defaults, cached_net = type(optimizer)(), canonical(net)
        cached = (
            source
            if defaults == optimizer and cached_net == net
            else template.render(**{**data, "values": _values_data(defaults, cached_net)})
        )
    except jinja2.TemplateError as exc:
        raise CodegenError(f"rendering the module template failed: {exc}") from exc
    key = recipe_key(net, optimizer, dtype, shape, folder)
    return GeneratedModule(net, optimizer, dtype, shape, source, key, cached)


__all__ = ["GeneratedModule", "generate", "jinja_env", "py_literal"]
