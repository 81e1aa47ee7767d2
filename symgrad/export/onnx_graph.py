"""The ONNX graph of a trained network's forward pass (opset 17): ``Gemm`` per layer, then the
activation's ops.

The input ``x`` has shape ``[N, n_in]`` (a dynamic batch) and the output ``y`` ``[N, n_out]``, in
the model's dtype. A built-in activation is its native op where ONNX has one (``Sigmoid``,
``Tanh``, ``Relu``, ``LeakyRelu``, ``Elu``, ``Softplus``, ``Softmax`` on the last axis; identity
adds nothing); silu and user formulas are folded from :mod:`symgrad.export.lowering` into
element-wise ops. onnxruntime's CPU provider has no float64 ``Softplus`` nor ``Elu``, so a
float64 graph writes them with ``Exp``, ``Log`` and ``Where`` (``log1p`` as Kahan's
``log(w) u / (w - 1)``, ``w = 1 + u``). It has no float64 ``Tan``, ``Sinh``, ``Cosh``, ``Atan``,
``Asinh``, ``Erf`` either; a float64 formula with one of them is a valid graph that onnxruntime
does not run. A residual layer adds its input (``Add``); dropout is nothing at prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import SpecError
from ..net.network import Network
from .lowering import elementwise, fold, native

OPSET = 17
IR_VERSION = 8  # the IR of opset 17: what onnxruntime 1.17 and later read
INSTALL = "pip install 'symgrad[export]'"

_NATIVE = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}
_UNARY = {
    "neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "sin": "Sin", "cos": "Cos",
    "tan": "Tan", "sinh": "Sinh", "cosh": "Cosh", "tanh": "Tanh", "asin": "Asin", "acos": "Acos",
    "atan": "Atan", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh", "erf": "Erf",
    "abs": "Abs", "sigmoid": "Sigmoid", "not": "Not",
}  # fmt: skip
_BINARY = {
    "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "max": "Max",
    "min": "Min", "gt": "Greater", "ge": "GreaterOrEqual", "lt": "Less", "le": "LessOrEqual",
    "eq": "Equal", "and": "And", "or": "Or",
}  # fmt: skip


def need_onnx() -> Any:
    """The ``onnx`` module, or a SpecError saying which extra to install."""
    try:
        import onnx
    except ImportError:
        raise SpecError(f"exporting to ONNX needs the onnx package: {INSTALL}") from None
    return onnx


class _Graph:
    """The nodes and initializers of a graph under construction; every value is a tensor name."""

    def __init__(self, onnx: Any, dtype: np.dtype[Any]) -> None:
        self.helper, self.numpy_helper = onnx.helper, onnx.numpy_helper
        self.dtype = dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._consts: dict[float, str] = {}
        self.prefix = ""

    def node(self, op: str, *inputs: str, **attrs: Any) -> str:
        out = f"{self.prefix}{op.lower()}{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def const(self, value: float) -> str:
        key = float(value)
        if key not in self._consts:  # NaN is never found: each gets its own (rare: no branch)
            name = f"c{len(self._consts)}"
            self._consts[key] = name
            self.initializers.append(
                self.numpy_helper.from_array(np.array(value, dtype=self.dtype), name)
            )
        return self._consts[key]

    def array(self, name: str, values: np.ndarray[Any, Any]) -> str:
        self.initializers.append(
            self.numpy_helper.from_array(np.ascontiguousarray(values, dtype=self.dtype), name)
        )
        return name

    def rename(self, value: str, name: str) -> str:
        """Call ``value`` ``name``: the last node's output when it made it, else an Identity."""
        last = self.nodes[-1] if self.nodes else None
        if last is not None and list(last.output) == [value]:
            last.output[0] = name
            return name
        self.nodes.append(self.helper.make_node("Identity", [value], [name], name=name))
        return name

    def ops(self) -> dict[str, Callable[..., str]]:
        """The lowering's operations as ONNX nodes (see :mod:`symgrad.export.lowering`)."""
        table: dict[str, Callable[..., str]] = {"const": self.const}
        for name, op in _UNARY.items():
            table[name] = lambda u, op=op: self.node(op, u)
        for name, op in _BINARY.items():
            table[name] = lambda u, v, op=op: self.node(op, u, v)
        table["where"] = lambda c, u, v: self.node("Where", c, u, v)
        table["log1p"] = self.log1p
        table["expm1"] = lambda u: self.node("Sub", self.node("Exp", u), self.const(1.0))
        table["softplus"] = self.softplus
        return table

    def log1p(self, u: str) -> str:
        """log(1 + u) to a few ulps (Kahan): ``log(w) u / (w - 1)`` with ``w = 1 + u``, and u
        itself where w rounds to 1."""
        w = self.node("Add", self.const(1.0), u)
        ratio = self.node(
            "Div", self.node("Mul", self.node("Log", w), u), self.node("Sub", w, self.const(1.0))
        )
        return self.node("Where", self.node("Equal", w, self.const(1.0)), u, ratio)

    def softplus(self, u: str) -> str:
        """``Softplus``; in float64, ``max(u, 0) + log1p(exp(-|u|))`` (no float64 kernel in
        onnxruntime), which never overflows."""
        if self.dtype == np.float32:
            return self.node("Softplus", u)
        tail = self.log1p(self.node("Exp", self.node("Neg", self.node("Abs", u))))
        return self.node("Add", self.node("Max", u, self.const(0.0)), tail)


def onnx_model(net: Network, params: dict[str, Any], dtype: np.dtype[Any]) -> Any:
    """The checked ``onnx.ModelProto`` of the forward pass."""
    onnx = need_onnx()
    from .. import __version__

    helper = onnx.helper
    elem = onnx.TensorProto.FLOAT if dtype == np.float32 else onnx.TensorProto.DOUBLE
    g = _Graph(onnx, dtype)
    ops = g.ops()
    a = "x"
    for l, layer in enumerate(net.layers, start=1):
        g.prefix = f"l{l}_"
        gemm_inputs = [a, g.array(f"W{l}", params[f"W{l}"])]
        if layer.bias:
            gemm_inputs.append(g.array(f"b{l}", params[f"b{l}"]))
        # z = a_prev W^T + b
        z = g.rename(g.node("Gemm", *gemm_inputs, transB=1), f"z{l}")
        f = _activation(g, ops, layer.act, z, dtype)
        out = g.node("Add", a, f) if layer.residual else f  # a = a_prev + f(z)
        a = g.rename(out, "y" if l == net.L else f"a{l}")
    inputs = [helper.make_tensor_value_info("x", elem, ["N", net.sizes[0]])]
    outputs = [helper.make_tensor_value_info("y", elem, ["N", net.sizes[-1]])]
    graph = helper.make_graph(
        g.nodes, net.name, inputs, outputs, initializer=g.initializers,
        doc_string=f"{net.name}: {net.describe_layers()}",
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
        producer_name="symgrad", producer_version=__version__,
        doc_string=f"Prediction of the network {net.name} ({net.describe()}), exported by symgrad",
    )  # fmt: skip
    onnx.checker.check_model(model, full_check=True)
    return model


def _activation(
    g: _Graph, ops: dict[str, Callable[..., str]], act: Any, z: str, dtype: np.dtype[Any]
) -> str:
    """The activation's output: its native op where ONNX has one, else its lowered form."""
    name = native(act)
    if name == "identity":
        return z
    if name in _NATIVE:
        return g.node(_NATIVE[name], z)
    if name == "leaky_relu":
        from .lowering import LEAKY_SLOPE

        return g.node("LeakyRelu", z, alpha=LEAKY_SLOPE)
    if name == "softmax":
        return g.node("Softmax", z, axis=-1)
    if name in ("softplus", "elu") and dtype == np.float32:  # no float64 kernel in onnxruntime
        return g.node("Softplus", z) if name == "softplus" else g.node("Elu", z, alpha=1.0)
    tree = elementwise(act)
    assert tree is not None
    return fold(tree, z, ops)


def onnx_bytes(net: Network, params: dict[str, Any], dtype: np.dtype[Any]) -> bytes:
    """The serialised ONNX model."""
    data: bytes = onnx_model(net, params, dtype).SerializeToString()
    return data


__all__ = ["OPSET", "need_onnx", "onnx_bytes", "onnx_model"]
