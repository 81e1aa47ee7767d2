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
    regularization = { l2 = 0.01 }  # optional: or { l1 = 0.001 }; biases = true includes them
    residual = [2]              # optional: layers with a skip connection, a = a_prev + f(z)
    dropout = [0.2, 0.2, 0.0]   # optional: each layer's dropout probability while training

    [activations]               # user formulas in z, usable by name above
    swish = "z*sigmoid(z)"

    [costs]                     # per output unit, in a and y
    logcosh = "log(cosh(a - y))"

    [optimizer]
    name = "sgd"                # sgd (lr) | momentum (lr, beta) | adam (lr, beta1, beta2, eps)
                                # | rmsprop (lr, alpha, eps) | adamw (lr, beta1, beta2, eps,
                                # weight_decay): symgrad.net.optim.OPTIMIZERS
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

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..files import read_input
from ..net.network import Network
from ..net.optim import OPTIMIZERS, Optimizer, value_problem
from ..net.schedules import Schedule, schedule_from_dict
from ..net.stopping import EarlyStopping, check_metrics, early_stopping_from_dict
from .spec_network import NetworkReader
from .spec_sweep import SweepSettings, read_sweep
from .spec_words import key_text, kind_name, show, suggest

MAX_SPEC_BYTES = 1_000_000
MAX_EPOCHS = 10_000_000

SECTIONS: dict[str, tuple[str, ...]] = {
    "network": (
        "name",
        "sizes",
        "layers",
        "hidden",
        "output",
        "activations",
        "cost",
        "bias",
        "regularization",
        "residual",
        "dropout",
    ),
    "activations": (),
    "costs": (),
    # the optimisers' settings, from their registry
    "optimizer": ("name", *dict.fromkeys(k for cls in OPTIMIZERS.values() for k in cls.defaults())),
    "train": (
        "epochs",
        "batch_size",
        "dtype",
        "seed",
        "shuffle",
        "data",
        "targets",
        "validation_split",
        "metrics",
        "early_stopping",
        "schedule",
        "checkpoint",
        "checkpoint_every",
    ),
    "sweep": (),  # the grid's keys: checked by symgrad.io.spec_sweep
}
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
    validation_split: float | None = None
    metrics: tuple[str, ...] = ()
    early_stopping: EarlyStopping | None = None
    schedule: Schedule | None = None
    checkpoint: str | None = None
    checkpoint_every: int = 1


@dataclass(frozen=True)
class SpecFile:
    """A loaded spec: the network, the optimiser and the training settings.

    Attributes:
        source: the file it came from (or a label such as ``"<spec>"``), used in messages.
        network: the declared :class:`~symgrad.net.network.Network`.
        optimizer: the ``[optimizer]`` settings; :meth:`OptimizerSettings.build` makes the object.
        train: the ``[train]`` settings.
        sweep: the ``[sweep]`` grid and options (:mod:`symgrad.io.spec_sweep`).
        folder: the spec's folder, against which a relative ``[train] data`` path is resolved.
    """

    source: str
    network: Network
    optimizer: OptimizerSettings
    train: TrainSettings
    folder: Path | None = None
    sweep: SweepSettings = field(default_factory=SweepSettings)

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


class _Reader(NetworkReader):
    """Walks a parsed TOML document section by section, naming the field in every error."""

    # ---------------------------------------------------------------------------------------------
    def read(self, doc: dict[str, Any], folder: Path | None) -> SpecFile:
        for name, body in doc.items():
            if name not in SECTIONS:
                raise SpecError(
                    f"{self.source}: unknown section [{key_text(name)}]{suggest(name, SECTIONS)}; "
                    f"the sections are {', '.join(f'[{s}]' for s in SECTIONS)}"
                )
            if not isinstance(body, dict):
                raise SpecError(
                    f"{self.source}: {key_text(name)} must be a table [{name}], not a "
                    f"{kind_name(body)}; write it as a [{name}] section"
                )
            known = SECTIONS[name]
            if known:
                for key in body:
                    if key not in known:
                        raise self.fail(
                            name,
                            key_text(key),
                            f"unknown field{suggest(key, known)}; the fields of [{name}] are "
                            + ", ".join(known),
                        )
        if "network" not in doc:
            raise SpecError(
                f"{self.source}: no [network] section; add one, e.g. [network] sizes = [2, 3, 1]"
            )
        acts = self.user_formulas(doc.get("activations", {}), "activations")
        costs = self.user_formulas(doc.get("costs", {}), "costs")
        network = self.network(doc["network"], acts, costs)
        optimizer = self.optimizer(doc.get("optimizer", {}))
        sweep = read_sweep(doc.get("sweep", {}), network, optimizer.build(), self.fail)
        return SpecFile(
            self.source, network, optimizer, self.train(doc.get("train", {})), folder, sweep
        )

    # ---------------------------------------------------------------------------------------------
    def optimizer(self, table: dict[str, Any]) -> OptimizerSettings:
        sec = "optimizer"
        name = table.get("name", "sgd")
        if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
            raise self.fail(
                sec, "name", f"unknown optimizer {show(name)}; use one of {', '.join(OPTIMIZERS)}"
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
                    f"{name} has no setting {key!r}; its settings are {', '.join(defaults)}"
                    + (
                        '; for weight decay use name = "adamw", or [network] regularization '
                        "= { l2 = ... }"
                        if key == "weight_decay"
                        else ""
                    ),
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise self.fail(sec, key, f"must be a number, got {show(value)}")
            value = float(value)
            problem = value_problem(checks[key], value)
            if problem is not None:
                raise self.fail(sec, key, f"{problem}, got {value:g}; try e.g. {defaults[key]:g}")
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
                        sec, key, f"must be a whole number from {lo} to {hi:,}, got {show(v)}"
                    )
                kw[key] = v
        if "dtype" in table:
            if table["dtype"] not in DTYPES:
                raise self.fail(
                    sec, "dtype", f"must be {' or '.join(DTYPES)}, got {show(table['dtype'])}"
                )
            kw["dtype"] = table["dtype"]
        if "shuffle" in table:
            if not isinstance(table["shuffle"], bool):
                raise self.fail(
                    sec, "shuffle", f"must be true or false, got {show(table['shuffle'])}"
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
        kw.update(self.controls(table))
        return TrainSettings(**kw)

    def controls(self, table: dict[str, Any]) -> dict[str, Any]:
        """``[train]``'s validation, metrics, early stopping, schedule and checkpoints."""
        sec = "train"
        kw: dict[str, Any] = {}
        if "validation_split" in table:
            v = table["validation_split"]
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
                raise self.fail(
                    sec, "validation_split",
                    f"must be a fraction strictly between 0 and 1, e.g. 0.2, got {show(v)}",
                )  # fmt: skip
            kw["validation_split"] = float(v)
        for key, read in (
            ("metrics", check_metrics),
            ("early_stopping", early_stopping_from_dict),
            ("schedule", schedule_from_dict),
        ):
            if key in table:
                try:
                    kw[key] = read(table[key], key)
                except SpecError as exc:
                    raise self.fail(sec, None, str(exc)) from None
        if "checkpoint" in table:
            c = table["checkpoint"]
            if not isinstance(c, str) or not c.strip().lower().endswith(".npz"):
                raise self.fail(
                    sec, "checkpoint", f"must be the path of a .npz file, got {show(c)}"
                )
            kw["checkpoint"] = c
        if "checkpoint_every" in table:
            n = table["checkpoint_every"]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise self.fail(
                    sec, "checkpoint_every", f"must be a whole number >= 1, got {show(n)}"
                )
            kw["checkpoint_every"] = n
        return kw


__all__ = ["OptimizerSettings", "SpecFile", "TrainSettings", "load_spec", "parse_spec"]
