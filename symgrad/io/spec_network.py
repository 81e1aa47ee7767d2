"""Reading the ``[network]``, ``[activations]`` and ``[costs]`` sections of a spec.

:class:`NetworkReader` turns those tables into a :class:`~symgrad.net.network.Network`, naming the
file, the section and the field in every error (``FILE: [network] hidden: unknown activation
'swishy' (did you mean 'swish'?)``); :mod:`symgrad.io.specfile` reads the rest of a spec with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import SpecError
from ..net.network import MAX_LAYERS, MAX_PARAMETERS, Dense, Network
from ..net.ops import ACTIVATIONS, COSTS, Activation, Cost
from ..net.regularization import REGULARIZERS, Regularization
from .spec_words import example_formula, key_text, kind_name, show, suggest

LAYER_FIELDS = ("n_in", "n_out", "activation", "bias", "residual", "dropout")


class NetworkReader:
    """Reads a spec's network tables, naming the file, the section and the field in every error."""

    def __init__(self, source: str, default_name: str) -> None:
        self.source = source
        name = "".join(c if c.isalnum() or c == "_" else "_" for c in default_name).strip("_")
        self.default_name = name if name and name.isascii() else "network"

    def fail(self, section: str, key: str | None, what: str) -> SpecError:
        where = f"[{section}]" + (f" {key}" if key else "")
        return SpecError(f"{self.source}: {where}: {what}")

    # ---------------------------------------------------------------------------------------------
    def user_formulas(self, table: dict[str, Any], section: str) -> dict[str, Any]:
        builtin: Mapping[str, object] = ACTIVATIONS if section == "activations" else COSTS
        out: dict[str, Any] = {}
        for name, formula in table.items():
            key = key_text(name)
            if not name.isidentifier() or name.startswith("_") or not name.isascii():
                raise self.fail(
                    section, key, "a name must be a plain identifier such as 'swish'; rename it"
                )
            if name in builtin:
                raise self.fail(
                    section, key, f"{name!r} is built in; give your formula another name"
                )
            if not isinstance(formula, str):
                raise self.fail(
                    section,
                    key,
                    f"must be a formula string such as {example_formula(section == 'costs')}, "
                    f"not a {kind_name(formula)}",
                )
            out[name] = self.formula(section, key, name, formula, cost=section == "costs")
        return out

    def formula(
        self, section: str, key: str, name: str, formula: str, *, cost: bool
    ) -> Activation | Cost:
        make = Cost.from_formula if cost else Activation.from_formula
        variables = "a and y" if cost else "z"
        try:
            return make(name, formula)
        except SpecError as exc:
            raise self.fail(section, key, f"{exc}") from None
        except Exception:
            # (a complex-valued one such as z**0.5, a polynomial SymPy cannot factor, ...)
            raise self.fail(
                section,
                key,
                f"{formula!r} cannot be differentiated and evaluated as a real function of "
                f"{variables}; write a smooth real formula such as {example_formula(cost)}",
            ) from None

    # ---------------------------------------------------------------------------------------------
    def network(
        self, table: dict[str, Any], acts: dict[str, Any], costs: dict[str, Any]
    ) -> Network:
        sec = "network"
        name = table.get("name", self.default_name)
        if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
            raise self.fail(
                sec, "name", f"{show(name)} is not a plain identifier; use e.g. 'xor_net'"
            )
        cost = self.cost(table.get("cost", "quadratic"), costs)
        if "layers" in table:
            for key in ("sizes", "hidden", "output", "activations", "bias", "residual", "dropout"):
                if key in table:
                    raise self.fail(
                        sec,
                        key,
                        "give either [[network.layers]] tables or sizes, not both; remove one",
                    )
            layers = self.layer_tables(table["layers"], acts)
        else:
            layers = self.mlp_layers(table, acts)
        n_params = sum(layer.n_out * (layer.n_in + layer.bias) for layer in layers)
        if n_params > MAX_PARAMETERS:
            key = "layers" if "layers" in table else "sizes"
            raise self.fail(
                sec,
                key,
                f"the network would have {n_params:,} parameters ({n_params * 8 / 1e9:,.1f} GB in float64), "
                f"which would not fit in memory; use at most {MAX_PARAMETERS:,}: fewer or narrower layers",
            )
        for i, layer in enumerate(layers[:-1], start=1):
            if layer.act.is_softmax:
                key = (
                    "layers"
                    if "layers" in table
                    else ("activations" if "activations" in table else "hidden")
                )
                raise self.fail(
                    sec,
                    key,
                    f"layer {i} uses softmax, which only the output layer may use; pick e.g. 'tanh'",
                )
        reg = self.regularization(table.get("regularization"))
        try:
            return Network(layers, cost, name=name, regularization=reg)
        except SpecError as exc:
            key = "cost" if "cost" in str(exc) else ("layers" if "layers" in table else "sizes")
            raise self.fail(sec, key, str(exc)) from None

    def regularization(self, value: Any) -> Regularization | None:
        """``{ l2 = 0.01 }``, ``{ l1 = 0.001, biases = true }`` or nothing."""
        if value is None:
            return None
        sec, key = "network", "regularization"
        kinds = [k for k in REGULARIZERS if isinstance(value, dict) and k in value]
        example = "{ l2 = 0.01 } or { l1 = 0.001, biases = true }"
        if not isinstance(value, dict) or len(kinds) != 1:
            raise self.fail(sec, key, f"must be a table with one penalty, such as {example}")
        extra = sorted(str(k) for k in value if k not in (kinds[0], "biases"))
        if extra:
            raise self.fail(
                sec,
                key,
                f"unknown field {show(extra[0])}{suggest(extra[0], [*REGULARIZERS, 'biases'])}; "
                f"give one of {', '.join(REGULARIZERS)} and optionally biases, as in {example}",
            )
        try:
            return REGULARIZERS[kinds[0]](value[kinds[0]], value.get("biases", False))
        except SpecError as exc:
            raise self.fail(sec, key, str(exc)) from None

    def mlp_layers(self, table: dict[str, Any], acts: dict[str, Any]) -> list[Dense]:
        sec = "network"
        if "sizes" not in table:
            raise self.fail(
                sec, "sizes", "missing; list the layer sizes from input to output, e.g. [2, 3, 1]"
            )
        sizes = table["sizes"]
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise self.fail(
                sec,
                "sizes",
                f"must list at least the input and output sizes, e.g. [2, 3, 1]; got {show(sizes)}",
            )
        if len(sizes) > MAX_LAYERS + 1:
            raise self.fail(sec, "sizes", f"{len(sizes) - 1} layers; the limit is {MAX_LAYERS}")
        for i, n in enumerate(sizes):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise self.fail(
                    sec,
                    f"sizes[{i}]",
                    f"{show(n)} is not a layer size; sizes are whole numbers >= 1",
                )
        n_layers = len(sizes) - 1
        if "activations" in table:
            for key in ("hidden", "output"):
                if key in table:
                    raise self.fail(
                        sec, key, "give either activations = [...] or hidden/output, not both"
                    )
            names = table["activations"]
            if not isinstance(names, list) or len(names) != n_layers:
                raise self.fail(
                    sec,
                    "activations",
                    f"must list one activation per layer ({n_layers} for sizes {sizes}); got {show(names)}",
                )
            resolved = [
                self.activation(sec, f"activations[{i}]", v, acts) for i, v in enumerate(names)
            ]
        else:
            hidden = self.activation(sec, "hidden", table.get("hidden", "sigmoid"), acts)
            output = self.activation(sec, "output", table.get("output", "sigmoid"), acts)
            resolved = [hidden] * (n_layers - 1) + [output]
        bias = table.get("bias", True)
        if isinstance(bias, bool):
            biases = [bias] * n_layers
        elif (
            isinstance(bias, list)
            and len(bias) == n_layers
            and all(isinstance(b, bool) for b in bias)
        ):
            biases = list(bias)
        else:
            raise self.fail(
                sec, "bias", f"must be true, false or one per layer ({n_layers}); got {show(bias)}"
            )
        residual = self.residual_layers(table.get("residual", []), sizes)
        rates = self.dropout_rates(table.get("dropout", [0.0] * n_layers), n_layers)
        return [
            self.residual_layer(i, n_in, n_out, act, b, i in residual, p)
            for i, (n_in, n_out, act, b, p) in enumerate(
                zip(sizes[:-1], sizes[1:], resolved, biases, rates, strict=True), start=1
            )
        ]

    def dropout_rates(self, value: Any, n_layers: int) -> list[float]:
        """``dropout = [0.0, 0.2, 0.0]``: each layer's dropout probability, the output's 0."""
        if (
            not isinstance(value, list)
            or len(value) != n_layers
            or not all(type(p) in (int, float) and 0 <= p < 1 for p in value)
        ):
            raise self.fail(
                "network",
                "dropout",
                f"must list one probability in [0, 1) per layer ({n_layers}), e.g. "
                f"{[0.0] + [0.2] * (n_layers - 2) + [0.0] if n_layers > 1 else [0.0]}; "
                f"got {show(value)}",
            )
        if value[-1]:
            raise self.fail(
                "network",
                "dropout",
                f"layer {n_layers} is the output layer: dropout is for hidden layers; make its "
                "entry 0",
            )
        return [float(p) for p in value]

    def residual_layers(self, value: Any, sizes: list[int]) -> set[int]:
        """``residual = [2, 3]``: the layers (numbered from 1) with a skip connection."""
        n_layers = len(sizes) - 1
        if not isinstance(value, list) or not all(
            type(l) is int and 1 <= l <= n_layers for l in value
        ):
            raise self.fail(
                "network",
                "residual",
                f"must list layer numbers from 1 to {n_layers}, e.g. [2]; got {show(value)}",
            )
        for l in value:
            if sizes[l - 1] != sizes[l]:
                raise self.fail(
                    "network",
                    "residual",
                    f"layer {l} has {sizes[l - 1]} inputs and {sizes[l]} units, so it cannot add "
                    f"its input to its output; give it {sizes[l - 1]} units, or leave {l} out",
                )
            if l == n_layers:
                raise self.fail(
                    "network",
                    "residual",
                    f"layer {l} is the output layer; residual layers are hidden ones",
                )
        return set(value)

    def residual_layer(
        self,
        i: int,
        n_in: int,
        n_out: int,
        act: Activation,
        bias: bool,
        residual: bool,
        dropout: float,
    ) -> Dense:
        """Layer ``i`` of ``sizes``; what a skip connection or dropout cannot take names the
        layer."""
        try:
            return Dense(n_in, n_out, act, bias, residual, dropout)
        except SpecError as exc:  # a softmax layer made residual, or with dropout
            key = "residual" if residual else "dropout"
            raise self.fail("network", key, f"layer {i}: {exc}") from None

    def layer_tables(self, tables: Any, acts: dict[str, Any]) -> list[Dense]:
        sec = "network"
        if (
            not isinstance(tables, list)
            or not tables
            or not all(isinstance(t, dict) for t in tables)
        ):
            raise self.fail(
                sec, "layers", "must be [[network.layers]] tables with n_in, n_out and activation"
            )
        if len(tables) > MAX_LAYERS:
            raise self.fail(sec, "layers", f"{len(tables)} layers; the limit is {MAX_LAYERS}")
        layers: list[Dense] = []
        for i, t in enumerate(tables, start=1):
            key = f"layers[{i}]"
            for k in t:
                if k not in LAYER_FIELDS:
                    raise self.fail(
                        sec,
                        f"{key}.{key_text(k)}",
                        f"unknown field{suggest(k, LAYER_FIELDS)}; a layer has {', '.join(LAYER_FIELDS)}",
                    )
            for k in ("n_in", "n_out"):
                n = t.get(k)
                if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                    raise self.fail(
                        sec,
                        f"{key}.{k}",
                        f"{show(n)} is not a layer size; write a whole number >= 1",
                    )
            bias = t.get("bias", True)
            if not isinstance(bias, bool):
                raise self.fail(sec, f"{key}.bias", f"must be true or false, got {show(bias)}")
            residual = t.get("residual", False)
            if not isinstance(residual, bool):
                raise self.fail(
                    sec, f"{key}.residual", f"must be true or false, got {show(residual)}"
                )
            rate = t.get("dropout", 0.0)
            if type(rate) not in (int, float) or not 0 <= rate < 1:
                raise self.fail(
                    sec, f"{key}.dropout", f"must be a probability in [0, 1), got {show(rate)}"
                )
            act = self.activation(sec, f"{key}.activation", t.get("activation", "sigmoid"), acts)
            if layers and t["n_in"] != layers[-1].n_out:
                raise self.fail(
                    sec,
                    f"{key}.n_in",
                    f"layer {i} takes {t['n_in']} inputs but layer {i - 1} gives {layers[-1].n_out}; "
                    f"make them equal",
                )
            try:
                layers.append(Dense(t["n_in"], t["n_out"], act, bias, residual, float(rate)))
            except SpecError as exc:
                field = "residual" if residual else "dropout"
                raise self.fail(sec, f"{key}.{field}", str(exc)) from None
        return layers

    def activation(self, section: str, key: str, value: Any, acts: dict[str, Any]) -> Activation:
        if not isinstance(value, str):
            raise self.fail(
                section,
                key,
                f"must be an activation name or a formula in z, not a {kind_name(value)}",
            )
        if value in acts:
            return acts[value]  # type: ignore[no-any-return]
        if value in ACTIVATIONS:
            return ACTIVATIONS[value]
        if value.isidentifier():
            known = ", ".join(sorted(ACTIVATIONS))
            raise self.fail(
                section,
                key,
                f"unknown activation {value!r}{suggest(value, [*ACTIVATIONS, *acts])}; use one of {known}, "
                "or define it in [activations] as a formula in z",
            )
        # An inline formula such as "z*sigmoid(z)", named after the field that holds it.
        field_name = "".join(c if c.isalnum() else "_" for c in key.replace("activations", "layer"))
        result = self.formula(section, key, "custom_" + field_name.strip("_"), value, cost=False)
        assert isinstance(result, Activation)
        return result

    def cost(self, value: Any, costs: dict[str, Any]) -> Cost:
        if not isinstance(value, str):
            raise self.fail(
                "network",
                "cost",
                f"must be a cost name or a formula in a and y, not a {kind_name(value)}",
            )
        if value in costs:
            return costs[value]  # type: ignore[no-any-return]
        if value in COSTS:
            return COSTS[value]
        if value.isidentifier():
            raise self.fail(
                "network",
                "cost",
                f"unknown cost {value!r}{suggest(value, [*COSTS, *costs])}; use one of "
                f"{', '.join(sorted(COSTS))}, or define it in [costs] as a formula in a and y",
            )
        result = self.formula("network", "cost", "custom_cost", value, cost=True)
        assert isinstance(result, Cost)
        return result


__all__ = ["LAYER_FIELDS", "NetworkReader"]
