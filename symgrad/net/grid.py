"""A sweep's grid: every combination of a few values of the hyperparameters and the network's shape.

``{"lr": [0.01, 0.1], "seed": [0, 1]}`` is four configurations. The keys are the optimiser's
values (``lr``, ``beta``, ``beta1``, ...: those of the optimiser swept), the training run's
``batch_size`` and ``seed``, the penalty's strength ``lam``, and the network's shape: ``sizes``
(whole lists, input and output as declared), ``width`` (every hidden layer) and ``hidden`` (the
activation of every hidden layer). Everything is checked here, before any work starts, and
each mistake is one SpecError naming the key and the fix.

A configuration changes the network only where its shape keys say; its learning rate, betas and
``lam`` are run-time values of the compiled code, so one compiled module serves every value of
them (:func:`recipe_of` names what must be compiled).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from ..validate import MAX_SEED, did_you_mean
from .network import Network
from .optim import OPTIMIZERS, Optimizer, finite_real, value_problem

RUN_KEYS = ("batch_size", "seed")
"""Grid keys that are arguments of the training run (``init(seed)`` and ``fit(seed, batch_size)``)."""
NETWORK_KEYS = ("sizes", "width", "hidden", "lam")
"""Grid keys that change the network: its sizes, hidden widths and activation, the penalty."""
OPTIMIZER_KEYS = tuple(dict.fromkeys(k for cls in OPTIMIZERS.values() for k in cls.defaults()))
"""Every optimiser value some optimiser takes (``lr``, ``beta``, ``beta1``, ...)."""
MAX_CONFIGS = 100_000


@dataclass(frozen=True)
class Config:
    """One point of the grid, applied: what to compile, and how to train it."""

    values: dict[str, Any]
    """The grid's values at this point, by key, in the grid's order."""
    network: Network
    optimizer: Optimizer
    batch_size: int
    seed: int

    def label(self) -> str:
        """``lr=0.1, seed=2``."""
        return ", ".join(f"{k}={show_value(v)}" for k, v in self.values.items())


def show_value(value: Any) -> str:
    """A grid value as a CSV cell and a label: ``0.1``, ``64-32-10``, ``tanh``."""
    if isinstance(value, list | tuple):
        return "-".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def keys_for(optimizer: Optimizer) -> tuple[str, ...]:
    """The grid keys that apply with ``optimizer``: its values, the run's and the network's."""
    return (*optimizer.settings(), *RUN_KEYS, *NETWORK_KEYS)


def check_grid(grid: Any, network: Network, optimizer: Optimizer) -> dict[str, list[Any]]:
    """The grid as ``{key: [values]}``, every key and value checked for ``network`` trained
    with ``optimizer``; a single value stands for a list of one."""
    if not isinstance(grid, Mapping):
        raise SpecError(
            f"the grid must be a dict of lists such as {{'lr': [0.01, 0.1]}}, got "
            f"{type(grid).__name__}"
        )
    if not grid:
        raise SpecError(
            "the grid is empty: give at least one key with its values, e.g. {'lr': [0.01, 0.1]} "
            "(on the command line: --grid lr=0.01,0.1)"
        )
    known = keys_for(optimizer)
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if not isinstance(key, str) or key not in known:
            other = [
                cls.__name__
                for cls in OPTIMIZERS.values()
                if isinstance(key, str) and key in cls.defaults()
            ]
            why = (
                f"{key!r} is a value of {' and '.join(other)}, not of {type(optimizer).__name__}"
                if other
                else f"unknown grid key {key!r}{did_you_mean(key, known)}"
            )
            raise SpecError(f"{why}; the grid's keys here are {', '.join(known)}")
        items = list(values) if isinstance(values, list | tuple) else [values]
        if key == "sizes" and items and not isinstance(items[0], list | tuple):
            items = [items]  # sizes = [4, 8, 3]: one list of sizes
        if not items:
            raise SpecError(f"grid key {key!r} has no values; give at least one, or leave it out")
        out[key] = [_checked_value(key, v, network, optimizer) for v in items]
    count = math.prod(len(v) for v in out.values())
    if count > MAX_CONFIGS:
        raise SpecError(
            f"the grid has {count:,} configurations, more than {MAX_CONFIGS:,}; sweep fewer values"
        )
    if "sizes" in out and "width" in out:
        raise SpecError("the grid sweeps both sizes and width; give one of them")
    return out


def configs(
    grid: dict[str, list[Any]], network: Network, optimizer: Optimizer, batch_size: int, seed: int
) -> list[Config]:
    """Every combination of a checked grid (the last key varying fastest), applied."""
    keys = list(grid)
    return [
        apply(dict(zip(keys, combo, strict=True)), network, optimizer, batch_size, seed)
        for combo in itertools.product(*(grid[k] for k in keys))
    ]


def apply(
    values: dict[str, Any], network: Network, optimizer: Optimizer, batch_size: int, seed: int
) -> Config:
    """The network, optimiser, batch size and seed at one point of the grid."""
    settings = {k: v for k, v in values.items() if k in optimizer.settings()}
    if settings:
        optimizer = type(optimizer)(**{**optimizer.settings(), **settings})
    net = network
    if any(k in values for k in NETWORK_KEYS):
        net = _network(network, values)
    return Config(
        values, net, optimizer, values.get("batch_size", batch_size), values.get("seed", seed)
    )


def _network(network: Network, values: dict[str, Any]) -> Network:
    data = network.to_dict()
    where = ", ".join(f"{k}={show_value(v)}" for k, v in values.items() if k in NETWORK_KEYS)
    n_layers = len(data["sizes"]) - 1
    if "sizes" in values:
        sizes = list(values["sizes"])
        if len(sizes) - 1 != n_layers:
            data = _new_depth(data, len(sizes) - 1, where)
        data["sizes"] = sizes
    if "width" in values:
        data["sizes"] = [data["sizes"][0], *[values["width"]] * (n_layers - 1), data["sizes"][-1]]
    if "hidden" in values:
        hidden = [values["hidden"]] * (len(data["sizes"]) - 2)
        data["activations"] = [*hidden, data["activations"][-1]]  # user formulas stay declared
    if "lam" in values:
        data["regularization"] = {**data["regularization"], "lam": values["lam"]}
    try:
        return Network.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"grid point {where}: {exc}") from None


def _new_depth(data: dict[str, Any], n_layers: int, where: str) -> dict[str, Any]:
    """The declaration with ``n_layers`` layers: possible when its hidden layers are alike."""
    hidden = data["activations"][:-1]
    alike = (
        len(set(hidden)) <= 1
        and len(set(data["bias"])) == 1
        and not any(data.get("residual", []))
        and len(set(data.get("dropout", [0.0])[:-1] or [0.0])) == 1
    )
    if not alike or not hidden:
        raise SpecError(
            f"grid point {where}: sizes changes the number of layers, which needs hidden layers "
            "that are alike (one activation, no residual layers); keep the number of layers, or "
            "sweep width"
        )
    act = hidden[0]
    out = {
        **data,
        "activations": [act] * (n_layers - 1) + [data["activations"][-1]],
        "bias": [data["bias"][0]] * n_layers,
    }
    out.pop("residual", None)
    if "dropout" in data:
        out["dropout"] = [data["dropout"][0]] * (n_layers - 1) + [data["dropout"][-1]]
    return out


def network_user_activations(network: Network) -> list[Any]:
    """The user activations of ``network`` (those declared by a formula)."""
    return [layer.act for layer in network.layers if layer.act.formula is not None]


def _checked_value(key: str, value: Any, network: Network, optimizer: Optimizer) -> Any:
    """One grid value, checked for its key; a SpecError says what the key takes."""
    if key in optimizer.settings():
        number = finite_real(value)
        check = type(optimizer).checks()[key]
        problem = "must be a number" if number is None else value_problem(check, number)
        if problem is not None:
            raise SpecError(f"grid {key}: {problem}, got {value!r}; e.g. {key}=[0.01, 0.1]")
        return number
    if key in ("batch_size", "seed", "width"):
        low, high = (0, MAX_SEED) if key == "seed" else (1, 2**31 - 1)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            example = "[0, 1, 2]" if key == "seed" else "[16, 32]"
            raise SpecError(
                f"grid {key}: must be whole numbers, got {value!r}; e.g. {key}={example}"
            )
        if not low <= int(value) <= high:
            raise SpecError(f"grid {key}: must lie in {low}..{high:,}, got {value!r}")
        return int(value)
    if key == "lam":
        if network.regularization is None:
            raise SpecError(
                "grid lam: the network has no penalty to set the strength of; declare one "
                "(regularization=sg.L2(1e-4), or [network] regularization = { l2 = 1e-4 })"
            )
        number = finite_real(value)
        if number is None or number < 0:
            raise SpecError(f"grid lam: must be a number >= 0, got {value!r}; e.g. lam=[0, 1e-4]")
        return number
    if key == "hidden":
        from .ops import ACTIVATIONS

        names = {*ACTIVATIONS, *(a.name for a in network_user_activations(network))}
        names.discard("softmax")  # an output layer's
        if not isinstance(value, str) or value not in names:
            raise SpecError(
                f"grid hidden: unknown activation {value!r}{did_you_mean(value, names)}; use "
                f"one of {', '.join(sorted(names))}"
            )
        if network.L < 2:
            raise SpecError("grid hidden: the network has no hidden layer to set")
        return value
    return _checked_sizes(value, network) if key == "sizes" else value


def _checked_sizes(value: Any, network: Network) -> tuple[int, ...]:
    ends = (network.sizes[0], network.sizes[-1])
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) < 2
        or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in value)
        or not all(1 <= int(n) <= 2**31 - 1 for n in value)
    ):
        raise SpecError(
            f"grid sizes: each value is a list of layer sizes such as {list(network.sizes)}, "
            f"got {value!r}"
        )
    sizes = tuple(int(n) for n in value)
    if (sizes[0], sizes[-1]) != ends:
        raise SpecError(
            f"grid sizes: {list(sizes)} must keep the network's {ends[0]} inputs and {ends[1]} "
            f"outputs (the data's); vary the hidden sizes only, e.g. {[ends[0], 32, ends[1]]}"
        )
    return sizes


def grid_option(text: str) -> tuple[str, list[Any]]:
    """``--grid lr=0.01,0.1`` as ``("lr", [0.01, 0.1])``; ``sizes=64-32-10,64-64-10`` as lists."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise SpecError(f"--grid {text!r}: write KEY=V1,V2,..., e.g. --grid lr=0.01,0.1")
    items = [item.strip() for item in rest.split(",")]
    if any(not item for item in items):
        raise SpecError(f"--grid {text!r}: an empty value between commas")
    if key == "sizes":
        return key, [[_number(n, key) for n in item.split("-")] for item in items]
    return key, [_number(item, key) for item in items]


def _number(text: str, key: str) -> Any:
    """A value as written: a whole number, a number, or a word (an activation's name)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if key == "sizes":
        raise SpecError(f"--grid sizes: {text!r} is not a whole number; e.g. sizes=64-32-10")
    return text


__all__ = [
    "MAX_CONFIGS",
    "NETWORK_KEYS",
    "OPTIMIZER_KEYS",
    "RUN_KEYS",
    "Config",
    "apply",
    "check_grid",
    "configs",
    "grid_option",
    "keys_for",
    "show_value",
]
