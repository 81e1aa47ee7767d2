"""Declaring a network: :class:`Dense` layers chained into a :class:`Network` with a cost.

Declarations are frozen and validated here, at the edge, so that everything downstream
(derivation, code generation, the runtime) may assume a well-formed network. A network
serialises to plain JSON-able data (:meth:`Network.to_dict`), user formulas included.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from .names import check_identifier, digits, short
from .ops import ACTIVATIONS, COSTS, Activation, Cost, get_activation, get_cost
from .optim import finite_real
from .regularization import Regularization, regularization_from_dict

MAX_PARAMETERS = 500_000_000  # 4 GB of float64 weights; more would not fit beside the data


@dataclass(frozen=True)
class Dense:
    """A fully connected layer: ``z = W a_prev + b``, ``a = f(z)``; ``W`` has shape ``(n_out, n_in)``.

    With ``residual=True``, ``a = a_prev + f(z)``: a skip connection around the layer, whose
    widths must then match (``n_in == n_out``), on a hidden layer. With ``dropout=p`` (a hidden
    layer, ``0 <= p < 1``), training drops each unit with probability ``p``: inverted dropout,
    ``a = m f(z) / (1 - p)`` with a Bernoulli mask ``m`` (``a_prev +`` that, when residual).
    """

    n_in: int
    n_out: int
    activation: str | Activation = "sigmoid"
    bias: bool = True
    residual: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for what in ("n_in", "n_out"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"Dense {what} must be a positive whole number, got {value!r}")
        if not isinstance(self.bias, bool):
            raise SpecError(f"Dense bias must be True or False, got {self.bias!r}")
        if not isinstance(self.residual, bool):
            raise SpecError(f"Dense residual must be True or False, got {short(self.residual)}")
        object.__setattr__(self, "activation", get_activation(self.activation))
        if self.residual and self.n_in != self.n_out:
            raise SpecError(
                f"a residual layer adds its input to its output, so it needs as many inputs as "
                f"units: this one has {self.n_in} inputs and {self.n_out} units; make them equal "
                "or leave out residual=True"
            )
        if self.residual and self.act.is_softmax:
            raise SpecError("a softmax layer cannot be residual: its outputs must sum to 1")
        p = finite_real(self.dropout)
        if p is None or not 0 <= p < 1:
            raise SpecError(
                f"Dense dropout must be a probability in [0, 1) (0: none), got {short(self.dropout)}"
            )
        object.__setattr__(self, "dropout", p)
        if p and self.act.is_softmax:
            raise SpecError("a softmax layer cannot have dropout: its outputs must sum to 1")

    @property
    def act(self) -> Activation:
        assert isinstance(self.activation, Activation)
        return self.activation


@dataclass(frozen=True)
class Network:
    """A chain of dense layers and a cost, numbered 1..L (the input is layer 0).

    ``regularization`` (:class:`~symgrad.net.regularization.L2` or ``L1``) adds a penalty on
    the weights to the cost: ``C = C_0 + lam/2 sum w^2``, with ``C_0`` the data cost.
    """

    layers: tuple[Dense, ...]
    cost: Cost = field(default=COSTS["quadratic"])
    name: str = "network"
    regularization: Regularization | None = None

    def __init__(
        self,
        layers: Sequence[Dense],
        cost: str | Cost = "quadratic",
        *,
        name: str = "network",
        regularization: Regularization | None = None,
    ) -> None:
        if isinstance(layers, Dense) or not isinstance(layers, Sequence):
            raise SpecError(f"layers must be a list of Dense layers, got {type(layers).__name__}")
        layers = tuple(layers)
        if not layers:
            raise SpecError("a network needs at least one layer, e.g. [Dense(2, 1, 'sigmoid')]")
        for i, layer in enumerate(layers, start=1):
            if not isinstance(layer, Dense):
                raise SpecError(f"layer {i} must be a Dense layer, got {type(layer).__name__}")
        for i in range(1, len(layers)):
            prev, cur = layers[i - 1], layers[i]
            if cur.n_in != prev.n_out:
                raise SpecError(
                    f"layer {i + 1} expects {cur.n_in} inputs, layer {i} gives {prev.n_out}: "
                    f"make them equal"
                )
        if layers[-1].dropout:
            raise SpecError(
                f"layer {len(layers)} is the output layer: dropout is for hidden layers, whose "
                "units the next layer learns to do without"
            )
        if layers[-1].residual:
            raise SpecError(
                f"layer {len(layers)} is the output layer: residual=True is for hidden layers, "
                "whose a = a_prev + f(z) feeds the next layer"
            )
        for i, layer in enumerate(layers[:-1], start=1):
            if layer.act.is_softmax:
                raise SpecError(
                    f"layer {i} uses softmax, which is only supported in the output layer"
                )
        resolved = get_cost(cost)
        out = layers[-1].act
        if resolved.needs_probability and not out.probability:
            raise SpecError(
                f"cost {resolved.name!r} takes the log of the output, so the output layer must give "
                f"probabilities in (0, 1); use output 'softmax' or 'sigmoid' instead of {out.name!r}"
            )
        if resolved is COSTS["cross_entropy"] and not out.is_softmax:
            raise SpecError(
                f"cost 'cross_entropy' (-sum_j y_j log a_j) goes with a softmax output; with "
                f"{out.name!r} it is not the binary cross-entropy of BCELoss: use "
                "cost='binary_cross_entropy' (with sigmoid), output='softmax', or to mean "
                "-sum y log a, a cost formula: Cost.from_formula('nll', '-y*log(a)')"
            )
        if out.is_softmax and layers[-1].n_out < 2:
            raise SpecError("a softmax output needs at least 2 units; use 'sigmoid' for one unit")
        n_params = sum(layer.n_out * (layer.n_in + layer.bias) for layer in layers)
        if n_params > MAX_PARAMETERS:
            raise SpecError(
                f"the network has {n_params:,} parameters ({n_params * 8 / 1e9:.1f} GB in float64); "
                f"the limit is {MAX_PARAMETERS:,}: use fewer or narrower layers"
            )
        check_identifier(name, "network name", "e.g. 'xor_net'")
        if regularization is not None and not isinstance(regularization, Regularization):
            raise SpecError(
                "regularization must be sg.L2(lam) or sg.L1(lam) (or None), "
                f"got {short(regularization)}"
            )
        object.__setattr__(self, "regularization", regularization)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "cost", resolved)
        object.__setattr__(self, "name", name)

    @classmethod
    def mlp(
        cls,
        sizes: Sequence[int],
        hidden: str | Activation = "sigmoid",
        output: str | Activation = "sigmoid",
        cost: str | Cost = "quadratic",
        *,
        bias: bool = True,
        name: str = "network",
        regularization: Regularization | None = None,
        residual: Sequence[int] = (),
        dropout: float | Sequence[float] = 0.0,
    ) -> Network:
        """A multilayer perceptron with layer sizes ``[n_0, n_1, ..., n_L]``; ``residual`` lists
        the layers (numbered from 1) with a skip connection, ``a = a_prev + f(z)``; ``dropout``
        is each layer's dropout probability, or one for every hidden layer."""
        if isinstance(sizes, str) or not isinstance(sizes, Sequence):
            raise SpecError(f"sizes must be a list of layer sizes such as [2, 3, 1], got {sizes!r}")
        sizes = list(sizes)
        if len(sizes) < 2:
            raise SpecError(
                f"sizes must list at least the input and output sizes, e.g. [2, 3, 1]; got {sizes}"
            )
        n_layers = len(sizes) - 1
        if (
            isinstance(residual, str)
            or not isinstance(residual, Sequence)
            or not all(type(l) is int and 1 <= l <= n_layers for l in residual)
        ):
            raise SpecError(
                f"residual must list layer numbers from 1 to {n_layers}, got {short(residual)}"
            )
        if isinstance(dropout, Sequence) and not isinstance(dropout, str):
            if len(dropout) != n_layers:
                raise SpecError(
                    f"dropout must give one probability per layer ({n_layers}), or one number "
                    f"for every hidden layer; got {short(dropout)}"
                )
            rates = list(dropout)
        else:
            rates = [dropout] * (n_layers - 1) + [0.0]
        layers = [
            Dense(
                n_in, n_out, output if i == n_layers - 1 else hidden, bias, i + 1 in residual,
                rates[i],
            )
            for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
        ]  # fmt: skip
        return cls(layers, cost, name=name, regularization=regularization)

    @property
    def unit_targets(self) -> bool:
        """Targets must lie in [0, 1]: the cost takes the log of the output (cross-entropy),
        and a target of -1 or 2 would train towards a cost that has no minimum."""
        return self.cost.needs_probability

    @property
    def L(self) -> int:
        """Number of layers (the output layer's index)."""
        return len(self.layers)

    @property
    def sizes(self) -> tuple[int, ...]:
        """``(n_0, n_1, ..., n_L)``."""
        return (self.layers[0].n_in, *(layer.n_out for layer in self.layers))

    @property
    def param_names(self) -> tuple[str, ...]:
        """``("W1", "b1", ..., "WL", "bL")``, without the biases of bias-free layers."""
        names: list[str] = []
        for l, layer in enumerate(self.layers, start=1):
            names.append(f"W{l}")
            if layer.bias:
                names.append(f"b{l}")
        return tuple(names)

    def param_shape(self, name: str) -> tuple[int, ...]:
        """Array shape of parameter ``name``: ``W{l}`` is ``(n_l, n_{l-1})``, ``b{l}`` is ``(n_l,)``."""
        l = self.layer_of(name)
        layer = self.layers[l - 1]
        return (layer.n_out, layer.n_in) if name[0] == "W" else (layer.n_out,)

    def layer_of(self, name: str) -> int:
        """The layer number of parameter ``name`` (``"W2"`` -> 2); SpecError if there is none."""
        if isinstance(name, str) and len(name) > 1 and name[0] in "Wb" and digits(name[1:]):
            l = int(name[1:])
            if 1 <= l <= self.L and (name[0] == "W" or self.layers[l - 1].bias):
                return l
        raise SpecError(
            f"unknown parameter {name!r}; this network has {', '.join(self.param_names)}"
        )

    def describe(self) -> str:
        """One line: ``2 -> 3 sigmoid -> 1 sigmoid, cost quadratic`` (``+ L2(0.01)``)."""
        reg = self.regularization
        return f"{self.describe_layers()}, cost {self.cost.name}" + (
            f" + {reg.describe()}" if reg is not None else ""
        )

    def describe_layers(self) -> str:
        """The layers in one line: ``2 -> 3 sigmoid -> 1 sigmoid``."""
        parts = [str(self.sizes[0])] + [
            f"{layer.n_out} {layer.act.name}"
            + (" (residual)" if layer.residual else "")
            + (f" (dropout {layer.dropout:g})" if layer.dropout else "")
            for layer in self.layers
        ]
        return " -> ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able) that :meth:`from_dict` reads back, user formulas included."""
        acts: dict[str, str] = {}
        for layer in self.layers:
            if layer.act.formula is not None:
                acts[layer.act.name] = layer.act.formula
        costs = {self.cost.name: self.cost.formula} if self.cost.formula is not None else {}
        extra: dict[str, Any] = {}
        if any(layer.residual for layer in self.layers):
            extra["residual"] = [layer.residual for layer in self.layers]
        if any(layer.dropout for layer in self.layers):
            extra["dropout"] = [layer.dropout for layer in self.layers]
        if self.regularization is not None:
            extra["regularization"] = self.regularization.to_dict()
        return {
            "name": self.name,
            "sizes": list(self.sizes),
            "activations": [layer.act.name for layer in self.layers],
            "bias": [layer.bias for layer in self.layers],
            "cost": self.cost.name,
            "user_activations": acts,
            "user_costs": costs,
            **extra,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Network:
        """Inverse of :meth:`to_dict`, as strict as a TOML spec: the data may come from a weights
        file, which is untrusted. Every field is checked for its type and limits before anything
        is built; anything malformed is a SpecError naming the field."""
        if not isinstance(data, dict):
            raise SpecError("network declaration must be a mapping")
        known = {
            "name",
            "sizes",
            "activations",
            "bias",
            "cost",
            "user_activations",
            "user_costs",
            "regularization",
            "residual",
            "dropout",
        }
        unknown = sorted(str(k) for k in set(data) - known)
        if unknown:
            raise SpecError(f"network declaration has unknown field {short(unknown[0])}")
        for key in ("sizes", "activations", "cost"):
            if key not in data:
                raise SpecError(f"network declaration lacks {key!r}")
        sizes, acts, cost = data["sizes"], data["activations"], data["cost"]
        if (
            not isinstance(sizes, list)
            or not 2 <= len(sizes) <= MAX_LAYERS + 1
            or not all(type(n) is int and 1 <= n <= MAX_PARAMETERS for n in sizes)
        ):
            raise SpecError(
                f"network declaration: sizes must be 2 to {MAX_LAYERS + 1} whole numbers >= 1, "
                f"got {short(sizes)}"
            )
        n_layers = len(sizes) - 1
        bias = data.get("bias", [True] * n_layers)
        if not isinstance(acts, list) or len(acts) != n_layers:
            raise SpecError(f"network declaration: activations must list {n_layers} names")
        if not isinstance(bias, list) or len(bias) != n_layers:
            raise SpecError(f"network declaration: bias must list {n_layers} true/false values")
        if not all(type(b) is bool for b in bias):
            raise SpecError(f"network declaration: bias must hold true or false, got {short(bias)}")
        residual = data.get("residual", [False] * n_layers)
        if (
            not isinstance(residual, list)
            or len(residual) != n_layers
            or not all(type(r) is bool for r in residual)
        ):
            raise SpecError(
                f"network declaration: residual must list {n_layers} true/false values, "
                f"got {short(residual)}"
            )
        for i, act in enumerate(acts):
            check_identifier(act, f"network declaration: activations[{i}]", "e.g. 'tanh'")
        check_identifier(cost, "network declaration: cost", "e.g. 'mse'")
        name = data.get("name", "network")
        check_identifier(name, "network declaration: name", "e.g. 'xor_net'")
        user_acts = {
            n: Activation.from_formula(n, f)
            for n, f in _formulas(data.get("user_activations", {}), "user_activations").items()
        }
        user_costs = {
            n: Cost.from_formula(n, f)
            for n, f in _formulas(data.get("user_costs", {}), "user_costs").items()
        }
        dropout = data.get("dropout", [0.0] * n_layers)
        if not isinstance(dropout, list) or len(dropout) != n_layers:
            raise SpecError(
                f"network declaration: dropout must list {n_layers} probabilities, "
                f"got {short(dropout)}"
            )
        layers = [
            Dense(n_in, n_out, get_activation(act, user=user_acts), b, r, p)
            for n_in, n_out, act, b, r, p in zip(
                sizes[:-1], sizes[1:], acts, bias, residual, dropout, strict=True
            )
        ]
        reg = regularization_from_dict(
            data.get("regularization"), "network declaration: regularization"
        )
        return cls(layers, get_cost(cost, user=user_costs), name=name, regularization=reg)


MAX_LAYERS = 1000
MAX_FORMULAS = 100


def _formulas(table: Any, key: str) -> dict[str, str]:
    """A declaration's table of user formulas, name -> text, checked for its types."""
    if not isinstance(table, dict) or len(table) > MAX_FORMULAS:
        raise SpecError(
            f"network declaration: {key} must map at most {MAX_FORMULAS} names to formulas"
        )
    for name, formula in table.items():
        check_identifier(name, f"network declaration: {key} name", "e.g. 'swish'")
        if not isinstance(formula, str):
            raise SpecError(f"network declaration: {key}[{name!r}] must be a formula string")
    return table


__all__ = ["ACTIVATIONS", "COSTS", "Dense", "Network"]
