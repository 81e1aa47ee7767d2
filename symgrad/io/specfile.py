"""Spec files: a network, its optimiser and its training settings, declared in TOML.

A spec is read with :mod:`tomllib` and checked field by field at this edge, so every mistake
becomes one :class:`~symgrad.errors.SpecError` of the form
``FILE: [section] field: what is wrong; how to fix it``. Formulas go through the whitelist
parser (:mod:`symgrad.net.formula`); nothing in a spec is ever evaluated as code::

    [network]
    sizes = [2, 4, 1]
    hidden = "swish"            # or activations = ["swish", "sigmoid"], one per layer
    output = "sigmoid"
    cost = "quadratic"

    [activations]               # user formulas in z, usable by name above
    swish = "z*sigmoid(z)"

    [costs]                     # per output unit, in a and y
    logcosh = "log(cosh(a - y))"

    [optimizer]
    name = "sgd"                # sgd (lr) | momentum (lr, beta) | adam (lr, beta1, beta2, eps)
                                # | rmsprop (lr, alpha, eps): symgrad.net.optim.OPTIMIZERS
    lr = 0.5

    [train]
    epochs = 200
    batch_size = 4
    dtype = "float64"           # or "float32"
    seed = 0
    shuffle = true
    data = "xor"                # optional: a built-in data set, or a CSV/NPZ path relative to the spec
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..files import read_input
from ..net.network import MAX_LAYERS, MAX_PARAMETERS, Dense, Network
from ..net.ops import ACTIVATIONS, COSTS, Activation, Cost
from ..net.optim import OPTIMIZERS, Optimizer

MAX_SPEC_BYTES = 1_000_000
MAX_EPOCHS = 10_000_000

SECTIONS: dict[str, tuple[str, ...]] = {
    "network": ("name", "sizes", "layers", "hidden", "output", "activations", "cost", "bias"),
    "activations": (),
    "costs": (),
    # the optimisers' settings, from their registry
    "optimizer": ("name", *dict.fromkeys(k for cls in OPTIMIZERS.values() for k in cls.defaults())),
    "train": ("epochs", "batch_size", "dtype", "seed", "shuffle", "data", "targets"),
}
LAYER_FIELDS = ("n_in", "n_out", "activation", "bias")
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class OptimizerSettings:
    """The ``[optimizer]`` table: a name and its settings (defaults filled in)."""

    name: str = "sgd"
    settings: Mapping[str, float] = field(default_factory=lambda: OPTIMIZERS["sgd"].defaults())

    def build(self) -> Optimizer:
        """The optimiser object, from the registry (:data:`symgrad.net.optim.OPTIMIZERS`)."""
        return OPTIMIZERS[self.name](**self.settings)

    def describe(self) -> str:
        """``sgd(lr=0.5)``."""
        return f"{self.name}({', '.join(f'{k}={v:g}' for k, v in self.settings.items())})"


@dataclass(frozen=True)
class TrainSettings:
    """The ``[train]`` table."""

    epochs: int = 100
    batch_size: int = 32
    dtype: str = "float64"
    seed: int = 0
    shuffle: bool = True
    data: str | None = None
    targets: str | None = None


@dataclass(frozen=True)
class SpecFile:
    """A loaded spec: the network, the optimiser and the training settings.

    Attributes:
        source: the file it came from (or a label such as ``"<spec>"``), used in messages.
        network: the declared :class:`~symgrad.net.network.Network`.
        optimizer: the ``[optimizer]`` settings; :meth:`OptimizerSettings.build` makes the object.
        train: the ``[train]`` settings.
        folder: the spec's folder, against which a relative ``[train] data`` path is resolved.
    """

    source: str
    network: Network
    optimizer: OptimizerSettings
    train: TrainSettings
    folder: Path | None = None

    def data_source(self) -> str | None:
        """``[train] data`` as given: a built-in name, or a path made relative to the spec's folder."""
        data = self.train.data
        if data is None or self.folder is None:
            return data
        from .data import BUILTIN

        if data in BUILTIN:
            return data
        path = Path(data)
        return str(path if path.is_absolute() else self.folder / path)


def load_spec(path: str | Path) -> SpecFile:
    """Read and check a TOML spec file; every problem is a :class:`SpecError` naming the field."""
    if not isinstance(path, str | os.PathLike):
        raise SpecError(f"a spec is a path to a .toml file, got {type(path).__name__}")
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise SpecError(f"{where}: is a folder, not a spec file; give the path of a .toml file")
    # a regular file of at most MAX_SPEC_BYTES, checked before reading (a spec is never that
    # large; /dev/zero never ends and a FIFO may never answer)
    raw = read_input(path, limit=MAX_SPEC_BYTES, what="a spec")
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark, as some editors write, is not TOML
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            f"{where}: line {line} is not UTF-8 text; "
            "save the spec as UTF-8 (a TOML file is UTF-8 text)"
        ) from None
    return parse_spec(text, source=where, folder=path.resolve().parent, default_name=path.stem)


def parse_spec(
    text: str, *, source: str = "<spec>", folder: Path | None = None, default_name: str = "network"
) -> SpecFile:
    """Check a spec given as TOML text; ``source`` names it in error messages."""
    if not isinstance(text, str):
        raise SpecError(f"{source}: a spec must be TOML text, got {type(text).__name__}")
    if not text.strip():
        raise SpecError(
            f"{source}: the file is empty; declare at least [network] sizes = [2, 3, 1]"
        )
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(
            f"{source}: TOML syntax error: {exc}; fix that line (see https://toml.io)"
        ) from None
    except (RecursionError, MemoryError):
        raise SpecError(f"{source}: the TOML is nested too deeply; flatten it") from None
    return _Reader(source, default_name).read(doc, folder)


class _Reader:
    """Walks a parsed TOML document section by section, naming the field in every error."""

    def __init__(self, source: str, default_name: str) -> None:
        self.source = source
        name = "".join(c if c.isalnum() or c == "_" else "_" for c in default_name).strip("_")
        self.default_name = name if name and name.isascii() else "network"

    def fail(self, section: str, key: str | None, what: str) -> SpecError:
        where = f"[{section}]" + (f" {key}" if key else "")
        return SpecError(f"{self.source}: {where}: {what}")

    # ---------------------------------------------------------------------------------------------
    def read(self, doc: dict[str, Any], folder: Path | None) -> SpecFile:
        for name, body in doc.items():
            if name not in SECTIONS:
                raise SpecError(
                    f"{self.source}: unknown section [{_key(name)}]{_suggest(name, SECTIONS)}; "
                    f"the sections are {', '.join(f'[{s}]' for s in SECTIONS)}"
                )
            if not isinstance(body, dict):
                raise SpecError(
                    f"{self.source}: {_key(name)} must be a table [{name}], not a "
                    f"{_kind(body)}; write it as a [{name}] section"
                )
            known = SECTIONS[name]
            if known:
                for key in body:
                    if key not in known:
                        raise self.fail(
                            name,
                            _key(key),
                            f"unknown field{_suggest(key, known)}; the fields of [{name}] are "
                            + ", ".join(known),
                        )
        if "network" not in doc:
            raise SpecError(
                f"{self.source}: no [network] section; add one, e.g. [network] sizes = [2, 3, 1]"
            )
        acts = self.user_formulas(doc.get("activations", {}), "activations")
        costs = self.user_formulas(doc.get("costs", {}), "costs")
        network = self.network(doc["network"], acts, costs)
        return SpecFile(
            self.source,
            network,
            self.optimizer(doc.get("optimizer", {})),
            self.train(doc.get("train", {})),
            folder,
        )

    # ---------------------------------------------------------------------------------------------
    def user_formulas(self, table: dict[str, Any], section: str) -> dict[str, Any]:
        builtin: Mapping[str, object] = ACTIVATIONS if section == "activations" else COSTS
        out: dict[str, Any] = {}
        for name, formula in table.items():
            key = _key(name)
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
                    f"must be a formula string such as {_example(section == 'costs')}, not a {_kind(formula)}",
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
                f"{variables}; write a smooth real formula such as {_example(cost)}",
            ) from None

    # ---------------------------------------------------------------------------------------------
    def network(
        self, table: dict[str, Any], acts: dict[str, Any], costs: dict[str, Any]
    ) -> Network:
        sec = "network"
        name = table.get("name", self.default_name)
        if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
            raise self.fail(
                sec, "name", f"{_show(name)} is not a plain identifier; use e.g. 'xor_net'"
            )
        cost = self.cost(table.get("cost", "quadratic"), costs)
        if "layers" in table:
            for key in ("sizes", "hidden", "output", "activations", "bias"):
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
        try:
            return Network(layers, cost, name=name)
        except SpecError as exc:
            key = "cost" if "cost" in str(exc) else ("layers" if "layers" in table else "sizes")
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
                f"must list at least the input and output sizes, e.g. [2, 3, 1]; got {_show(sizes)}",
            )
        if len(sizes) > MAX_LAYERS + 1:
            raise self.fail(sec, "sizes", f"{len(sizes) - 1} layers; the limit is {MAX_LAYERS}")
        for i, n in enumerate(sizes):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise self.fail(
                    sec,
                    f"sizes[{i}]",
                    f"{_show(n)} is not a layer size; sizes are whole numbers >= 1",
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
                    f"must list one activation per layer ({n_layers} for sizes {sizes}); got {_show(names)}",
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
                sec, "bias", f"must be true, false or one per layer ({n_layers}); got {_show(bias)}"
            )
        return [
            Dense(n_in, n_out, act, b)
            for n_in, n_out, act, b in zip(sizes[:-1], sizes[1:], resolved, biases, strict=True)
        ]

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
                        f"{key}.{_key(k)}",
                        f"unknown field{_suggest(k, LAYER_FIELDS)}; a layer has {', '.join(LAYER_FIELDS)}",
                    )
            for k in ("n_in", "n_out"):
                n = t.get(k)
                if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                    raise self.fail(
                        sec,
                        f"{key}.{k}",
                        f"{_show(n)} is not a layer size; write a whole number >= 1",
                    )
            bias = t.get("bias", True)
            if not isinstance(bias, bool):
                raise self.fail(sec, f"{key}.bias", f"must be true or false, got {_show(bias)}")
            act = self.activation(sec, f"{key}.activation", t.get("activation", "sigmoid"), acts)
            if layers and t["n_in"] != layers[-1].n_out:
                raise self.fail(
                    sec,
                    f"{key}.n_in",
                    f"layer {i} takes {t['n_in']} inputs but layer {i - 1} gives {layers[-1].n_out}; "
                    f"make them equal",
                )
            layers.append(Dense(t["n_in"], t["n_out"], act, bias))
        return layers

    def activation(self, section: str, key: str, value: Any, acts: dict[str, Any]) -> Activation:
        if not isinstance(value, str):
            raise self.fail(
                section, key, f"must be an activation name or a formula in z, not a {_kind(value)}"
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
                f"unknown activation {value!r}{_suggest(value, [*ACTIVATIONS, *acts])}; use one of {known}, "
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
                f"must be a cost name or a formula in a and y, not a {_kind(value)}",
            )
        if value in costs:
            return costs[value]  # type: ignore[no-any-return]
        if value in COSTS:
            return COSTS[value]
        if value.isidentifier():
            raise self.fail(
                "network",
                "cost",
                f"unknown cost {value!r}{_suggest(value, [*COSTS, *costs])}; use one of "
                f"{', '.join(sorted(COSTS))}, or define it in [costs] as a formula in a and y",
            )
        result = self.formula("network", "cost", "custom_cost", value, cost=True)
        assert isinstance(result, Cost)
        return result

    # ---------------------------------------------------------------------------------------------
    def optimizer(self, table: dict[str, Any]) -> OptimizerSettings:
        sec = "optimizer"
        name = table.get("name", "sgd")
        if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
            raise self.fail(
                sec, "name", f"unknown optimizer {_show(name)}; use one of {', '.join(OPTIMIZERS)}"
            )
        name = name.lower()
        cls = OPTIMIZERS[name]
        defaults = cls.defaults()
        checks = cls.checks()
        settings = dict(defaults)
        for key, value in table.items():
            if key == "name":
                continue
            if key not in defaults:
                raise self.fail(
                    sec,
                    key,
                    f"{name} has no setting {key!r}; its settings are {', '.join(defaults)}",
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise self.fail(sec, key, f"must be a number, got {_show(value)}")
            value = float(value)
            if checks[key] == "positive" and value <= 0:
                raise self.fail(
                    sec, key, f"must be positive, got {value:g}; try e.g. {defaults[key]:g}"
                )
            if checks[key] == "unit" and not 0 <= value < 1:
                raise self.fail(
                    sec, key, f"must lie in [0, 1), got {value:g}; try e.g. {defaults[key]:g}"
                )
            settings[key] = value
        return OptimizerSettings(name, settings)

    def train(self, table: dict[str, Any]) -> TrainSettings:
        sec = "train"
        kw: dict[str, Any] = {}
        for key, lo, hi in (
            ("epochs", 1, MAX_EPOCHS),
            ("batch_size", 1, 2**31 - 1),
            ("seed", 0, 2**32 - 1),
        ):
            if key in table:
                v = table[key]
                if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                    raise self.fail(
                        sec, key, f"must be a whole number from {lo} to {hi:,}, got {_show(v)}"
                    )
                kw[key] = v
        if "dtype" in table:
            if table["dtype"] not in DTYPES:
                raise self.fail(
                    sec, "dtype", f"must be {' or '.join(DTYPES)}, got {_show(table['dtype'])}"
                )
            kw["dtype"] = table["dtype"]
        if "shuffle" in table:
            if not isinstance(table["shuffle"], bool):
                raise self.fail(
                    sec, "shuffle", f"must be true or false, got {_show(table['shuffle'])}"
                )
            kw["shuffle"] = table["shuffle"]
        if "data" in table:
            if not isinstance(table["data"], str) or not table["data"].strip():
                raise self.fail(sec, "data", "must be a built-in data set name or a CSV/NPZ path")
            kw["data"] = table["data"]
        if "targets" in table:
            t = table["targets"]
            if (
                isinstance(t, list)
                and t
                and all(isinstance(v, int | str) and not isinstance(v, bool) for v in t)
            ):
                t = ",".join(str(v) for v in t)
            if not isinstance(t, str) or not t.strip():
                raise self.fail(
                    sec, "targets", "must be 'last', 'last:N', or a list of columns such as [4, 5]"
                )
            kw["targets"] = t
        return TrainSettings(**kw)


def _show(value: Any) -> str:
    """A value for a message: short, and with no control characters."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text if text.isprintable() else ascii(value)[:60]


def _key(key: Any) -> str:
    """A TOML key for a message: bare when it reads plainly, else quoted."""
    if (
        isinstance(key, str)
        and key
        and len(key) <= 40
        and key.replace("_", "a").replace("-", "a").isalnum()
    ):
        return key
    return _show(key)


def _kind(value: Any) -> str:
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "list",
        dict: "table",
    }.get(type(value), type(value).__name__)


def _example(cost: bool) -> str:
    return "'log(cosh(a - y))'" if cost else "'z*sigmoid(z)'"


def _suggest(word: Any, choices: Any) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


__all__ = ["OptimizerSettings", "SpecFile", "TrainSettings", "load_spec", "parse_spec"]
