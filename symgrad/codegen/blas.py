"""Template data of the "blas" shape: the bodies of forward, cost_sum and backward, as code IR.

Whole mini-batches go through BLAS ``?gemm`` (``z = a W^T``, ``delta W``, ``delta^T a``), and the
element-wise work of each layer is one fused loop over the rows and units, whose formulas the
printer made (:func:`~symgrad.codegen.generate._layer_data`). Each step is headed by the
network's equation (BP1-BP4, :mod:`symgrad.codegen.comments`), then by what the code does.
``templates/blas.py.jinja`` places these bodies in the functions and in ``train_epochs``, which
writes them out rather than calling them (Numba then compiles each body once).
"""

from __future__ import annotations

from typing import Any

from .ir import Node, Statement, block, comment, render

Data = dict[str, Any]


def blas_data(layers: list[Data], out: Data, opt: Data, one: str, zero: str) -> dict[str, Any]:
    """The bodies, printed: ``forward`` (``forward_flat`` for ``train_epochs``, whose softmax
    takes its exp in one flat loop), ``cost``, ``backward`` and, when the optimiser's whole step
    is ``w <- w - k g`` (plain SGD), ``backward_sgd``, which takes the step in the GEMMs."""
    sgd = opt["gemm_step"] is not None
    dropout = any(layer["dropout"] for layer in layers)
    return {
        "forward": _text(_forward(layers, one, zero, flat_softmax=False)),
        "cost": _text(_cost(layers, out)),
        "backward": _text(_backward(layers, out, opt, zero, sgd_step=False)),
        # while training (train_epochs; dropout_gradients): dropout's masks in force
        "forward_flat": _text(_forward(layers, one, zero, flat_softmax=True, train=True)),
        "forward_train": _text(_forward(layers, one, zero, False, True)) if dropout else None,
        "backward_train": _text(_backward(layers, out, opt, zero, False, True))
        if dropout
        else None,
        "backward_sgd": _text(_backward(layers, out, opt, zero, sgd_step=True, train=True))
        if sgd
        else None,
        "draw_masks": _text(_draw_masks(layers, zero)) if dropout else None,
    }


def _draw_masks(layers: list[Data], zero: str) -> list[Node]:
    """Each unit of a dropout layer kept with probability 1 - p: mask{l} is 1/(1 - p) or 0."""
    nodes: list[Node] = []
    for layer in layers:
        if layer["dropout"]:
            l, n = layer["l"], layer["n_out"]
            nodes += comment(
                f"dropout's mask of layer {l}: each unit kept with probability 1 - {layer['drop_p']}, "
                f"then scaled by 1/(1 - p)"
            )
            draw = Statement(
                f"mask{l}[s, j] = {layer['inv_keep']} if np.random.random() >= {layer['drop_p']} "
                f"else {zero}"
            )
            nodes.append(block("for s in range(x.shape[0]):", block(f"for j in range({n}):", draw)))
    return nodes


def _text(nodes: list[Node]) -> str:
    return "\n".join(render(nodes))


def _forward(
    layers: list[Data], one: str, zero: str, flat_softmax: bool, train: bool = False
) -> list[Node]:
    """z^(l) = a^(l-1) W^(l)^T for all rows by one GEMM, then the bias and the activation in one
    loop; a softmax layer shifted by its row's largest z. With ``flat_softmax`` the softmax
    layer's ``a`` is a view of the flat work array ``a{l}_flat_work``, and its exp one flat loop."""
    nodes: list[Node] = []
    for layer in layers:
        l, n, prev = layer["l"], layer["n_out"], layer["prev"]
        bias = f" + b^({l})" if layer["bias"] else ""
        nodes += comment(
            f"z^({l}) = W^({l}) a^({l - 1}){bias}, all rows at once: z{l} = {prev} W{l}^T"
        )
        nodes.append(Statement(f"gemm(NO_TRANS, TRANS, ones, {prev}, W{l}, zeros, z{l})"))
        add_bias = Statement(f"z{l}[s, j] += b{l}[j]")
        if not layer["softmax"]:
            units: list[Node] = [add_bias] if layer["bias"] else []
            if layer["residual"]:
                units += comment(
                    f"a^({l}) = a^({l - 1}) + {layer['act']}(z^({l})), "
                    f"{layer['act']}(z) = {layer['act_formula']} (residual: the input is added)"
                )
            else:
                units += comment(f"a^({l}) = {layer['act']}(z^({l})) = {layer['act_formula']}")
            if train and layer["dropout"]:  # f(z) kept for f', the unit dropped or scaled
                below = f"{prev}[s, j] + " if layer["residual"] else ""
                skip = f"a^({l - 1}) + " if layer["residual"] else ""
                units += comment(f"dropout while training: a^({l}) = {skip}m f(z) / (1 - p)")
                units.append(Statement(f"f{l}[s, j] = {layer['f_code']}"))
                units.append(Statement(f"a{l}[s, j] = {below}f{l}[s, j] * mask{l}[s, j]"))
            else:
                units.append(Statement(f"a{l}[s, j] = {layer['act_code']}"))
            nodes.append(
                block("for s in range(x.shape[0]):", block(f"for j in range({n}):", units))
            )
            continue
        row: list[Node] = [block(f"for j in range({n}):", add_bias)] if layer["bias"] else []
        row += comment(
            f"a^({l}) = softmax(z^({l})), shifted by max_j z_j so that exp cannot overflow"
        )
        row.append(Statement(f"z_max = z{l}[s, 0]"))
        row.append(block(f"for j in range(1, {n}):", Statement(f"z_max = max(z_max, z{l}[s, j])")))
        normalise: list[Node] = [
            Statement(f"exp_sum = {zero}"),
            block(f"for j in range({n}):", Statement(f"exp_sum += a{l}[s, j]")),
            Statement(f"inv_sum = {one} / exp_sum"),
            block(f"for j in range({n}):", Statement(f"a{l}[s, j] *= inv_sum")),
        ]
        if flat_softmax:
            row.append(
                block(f"for j in range({n}):", Statement(f"a{l}[s, j] = z{l}[s, j] - z_max"))
            )
            nodes.append(block("for s in range(x.shape[0]):", row))
            nodes += comment(
                "exp of the whole batch in one flat loop, which vectorises: "
                f"a row of {n} leaves a scalar remainder"
            )
            nodes.append(Statement(f"_exp_all(a{l}_flat_work, x.shape[0] * {n})"))
            nodes.append(block("for s in range(x.shape[0]):", normalise))
        else:
            exp = Statement(f"a{l}[s, j] = _exp(z{l}[s, j] - z_max)")
            row.append(
                block(
                    f"for j in range({n}):  # apart from the sum, so that this loop vectorises", exp
                )
            )
            nodes.append(block("for s in range(x.shape[0]):", row + normalise))
    return nodes


def _cost(layers: list[Data], out: Data) -> list[Node]:
    """The batch's summed cost into ``cost``: log-sum-exp read off the softmax already taken,
    softplus for binary cross-entropy of a sigmoid, else the cost's own formula."""
    L, n = layers[-1]["l"], out["n"]
    if out["loss"] == "lse":
        argmax = block(f"if z{L}[s, j] > z{L}[s, k]:", Statement("k = j"))
        row: list[Node] = [
            *comment(
                "C_x = -sum_j y_j log a_j = -sum_j y_j (z_j - lse), lse = log sum_i exp(z_i), "
                "read off the\nsoftmax already taken: at the largest z_k, "
                "a_k = exp(0) / sum_i exp(z_i - z_k) >= 1/n"
            ),
            Statement("k = 0"),
            block(f"for j in range(1, {n}):", argmax),
            Statement(f"lse = z{L}[s, k] - math.log(a{L}[s, k])"),
            block(f"for j in range({n}):", Statement(f"cost -= y[s, j] * (z{L}[s, j] - lse)")),
        ]
    elif out["loss"] == "softplus":
        unit: list[Node] = [
            *comment("-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] = softplus(z) - y z"),
            Statement(f"cost += _softplus(z{L}[s, j]) - y[s, j] * z{L}[s, j]"),
        ]
        row = [block(f"for j in range({n}):", unit)]
    else:
        scale = "" if out["scale_one"] else f"{out['scale_code']} * "
        unit = [
            *comment(f"C_x = {scale}sum_j {out['cost_formula']}"),
            Statement(f"cost += {out['cost_code']}"),
        ]
        row = [block(f"for j in range({n}):", unit)]
    return [block("for s in range(y.shape[0]):", row)]


def _bp2(layers: list[Data], layer: Data, train: bool = False) -> list[Node]:
    """delta^(l-1) from delta^(l) and W^(l) (before W^(l)'s step); nothing below layer 1."""
    l = layer["l"]
    if l == 1:
        return []
    below = layers[l - 2]
    n = below["n_out"]
    nodes: list[Node] = [*comment(below["bp2"])]
    if layer["residual"]:  # the skip around layer l brings dC/da^(l), kept in g{l}
        nodes += comment(
            f"all rows at once: delta{l - 1} = delta{l} W{l} + g{l} (the skip path, beta = 1), "
            f"then times f'(z^({l - 1}))"
        )
        copy = Statement(f"delta{l - 1}[s, j] = g{l}[s, j]")
        nodes.append(block("for s in range(x.shape[0]):", block(f"for j in range({n}):", copy)))
        nodes.append(
            Statement(f"gemm(NO_TRANS, NO_TRANS, ones, delta{l}, W{l}, ones, delta{l - 1})")
        )
    else:
        nodes += comment(
            f"all rows at once: delta{l - 1} = delta{l} W{l}, then times f'(z^({l - 1}))"
        )
        nodes.append(
            Statement(f"gemm(NO_TRANS, NO_TRANS, ones, delta{l}, W{l}, zeros, delta{l - 1})")
        )
    unit: list[Node] = []
    if below["skip"]:  # dC/da^(l-1), before f': what the skip around layer l-1 brings down
        unit += comment(below["skip"])
        unit.append(Statement(f"g{l - 1}[s, j] = delta{l - 1}[s, j]"))
    if train and below["dropout"]:  # da/dz = m f'(z) / (1 - p), f' written in f(z)
        unit += comment(
            f"dropout: da/dz = m f'(z)/(1 - p), f'(z) = {below['fprime_f_formula']} "
            f"({below['act']}) with a = f(z), kept in f{l - 1}"
        )
        factor = "" if below["fprime_one"] else f"{below['fprime_f_code']} * "
        unit.append(Statement(f"delta{l - 1}[s, j] *= {factor}mask{l - 1}[s, j]"))
    elif not below["fprime_one"]:
        unit += comment(f"f'(z^({l - 1})) = {below['fprime_formula']} ({below['act']})")
        unit.append(Statement(f"delta{l - 1}[s, j] *= {below['fprime_code']}"))
    if unit:
        nodes.append(block("for s in range(x.shape[0]):", block(f"for j in range({n}):", unit)))
    return nodes


def _bias_sum(l: int, n: int) -> list[Node]:
    """db^(l) = delta^(l) summed over the batch."""
    return [
        Statement(f"db{l}[:] = 0.0"),
        block(
            "for s in range(x.shape[0]):",
            block(f"for j in range({n}):", Statement(f"db{l}[j] += delta{l}[s, j]")),
        ),
    ]


def _backward(
    layers: list[Data], out: Data, opt: Data, zero: str, sgd_step: bool, train: bool = False
) -> list[Node]:
    """BP1 at the output (fused, through the softmax's Jacobian, or element-wise; the batch
    mean's 1/B taken once, here), then BP4, BP3 and BP2 layer by layer from the last. With
    ``sgd_step`` each layer's step is taken in its weight-gradient GEMM (beta = 1), and W^(l)
    only after delta^(l-1)."""
    last = layers[-1]
    L, n = last["l"], out["n"]
    reg = opt["reg"]
    scale = "" if out["scale_one"] else f"{out['scale_code']} * "
    if out["kind"] == "fused":
        unit: list[Node] = [
            *comment(out["bp1"]),
            *comment(
                f"({last['act']} with {out['cost']}: "
                "the output's derivative cancels against the cost's)"
            ),
            Statement(f"delta{L}[s, j] = {scale}(a{L}[s, j] - y[s, j]) * inv_b"),
        ]
        row: list[Node] = [block(f"for j in range({n}):", unit)]
    elif out["kind"] == "softmax":
        jacobian: list[Node] = [
            *comment(out["bp1"]),
            *comment("through the softmax's Jacobian: a_j (dC/da_j - sum_i a_i dC/da_i)"),
            Statement(f"delta{L}[s, j] = a{L}[s, j] * (delta{L}[s, j] - weighted) * inv_b"),
        ]
        row = [
            *comment(f"dC/da^({L})_j = {out['dcda_formula']}, and its sum weighted by a^({L})"),
            Statement(f"weighted = {zero}"),
            block(
                f"for j in range({n}):",
                Statement(f"delta{L}[s, j] = {out['dcda_code']}"),
                Statement(f"weighted += a{L}[s, j] * delta{L}[s, j]"),
            ),
            block(f"for j in range({n}):", jacobian),
        ]
    else:
        unit = [
            *comment(out["bp1"]),
            *comment(
                f"dC/da^({L})_j * f'(z^({L})_j) = ({out['dcda_formula']}) * "
                f"({last['fprime_formula']})"
            ),
            Statement(f"delta{L}[s, j] = {out['dcda_factor']} * {last['fprime_factor']} * inv_b"),
        ]
        row = [block(f"for j in range({n}):", unit)]
    nodes: list[Node] = [
        Statement("inv_b = DTYPE(1.0 / x.shape[0])"),
        block("for s in range(x.shape[0]):", row),
    ]
    for layer in reversed(layers):
        l, prev, n_out = layer["l"], layer["prev"], layer["n_out"]
        if sgd_step:
            nodes += _bp2(layers, layer, train)
            nodes += comment(layer["bp4"])
            if reg is None:
                nodes += comment(
                    f"summed over the batch, with the step at once: W{l} <- W{l} - lr delta{l}^T "
                    f"{prev}, one GEMM adding into W{l} (beta = 1)"
                )
            else:
                nodes += comment(
                    f"summed over the batch, with the step at once: W{l} <- (1 - lr lam) W{l} - "
                    f"lr delta{l}^T {prev},\none GEMM (beta = 1 - lr lam: the {reg['what']}'s "
                    "decay, dC/dw = dC_0/dw + lam w)"
                )
            beta = "ones" if reg is None else "keep"
            nodes.append(
                Statement(f"gemm(TRANS, NO_TRANS, minus_lr, delta{l}, {prev}, {beta}, W{l})")
            )
            if layer["bias"]:
                nodes += comment(layer["bp3"])
                lr = opt["gemm_step"]
                if reg is not None and reg["biases"]:
                    nodes += comment(
                        f"summed over the batch, then the step: b{l} <- b{l} - lr (db{l} + lam b{l})"
                    )
                    step = Statement(f"b{l}[j] -= {lr} * (db{l}[j] + lam * b{l}[j])")
                else:
                    nodes += comment(
                        f"summed over the batch, then the step: b{l} <- b{l} - lr db{l}"
                    )
                    step = Statement(f"b{l}[j] -= {lr} * db{l}[j]")
                nodes += _bias_sum(l, n_out)
                nodes.append(block(f"for j in range({n_out}):", step))
            continue
        nodes += comment(layer["bp4"])
        nodes += comment(f"summed over the batch, all rows at once: dW{l} = delta{l}^T {prev}")
        nodes.append(Statement(f"gemm(TRANS, NO_TRANS, ones, delta{l}, {prev}, zeros, dW{l})"))
        if layer["bias"]:
            nodes += comment(layer["bp3"])
            nodes += comment("summed over the batch")
            nodes += _bias_sum(l, n_out)
        nodes += _bp2(layers, layer, train)
    return nodes


__all__ = ["blas_data"]
