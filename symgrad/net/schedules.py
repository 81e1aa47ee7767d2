"""Learning-rate schedules as data, stepped once per epoch as ``torch.optim.lr_scheduler`` steps.

One registry (:data:`SCHEDULES`): each schedule is a frozen dataclass of its settings, checked when
made, and :meth:`Schedule.start` gives the state of one run (:class:`ScheduleRun`), which holds the
current learning rate and moves it on after each epoch by the very arithmetic of its torch
counterpart (the recursive forms, not the closed ones, so that float64 runs agree to the last bit):

========================  =====================================================
``StepLR(step_size, g)``  ``torch.optim.lr_scheduler.StepLR(step_size, gamma=g)``
``ExponentialLR(g)``      ``torch.optim.lr_scheduler.ExponentialLR(gamma=g)``
``CosineLR(t_max, m)``    ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max, eta_min=m)``
``ReduceLROnPlateau()``   ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (mode from ``monitor``)
========================  =====================================================

The learning rate is a run-time value of the compiled code, so a schedule compiles nothing: ``fit``
passes each epoch's rate in.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

from .. import validate
from ..errors import SpecError
from .stopping import check_monitor, improves, worst


class ScheduleRun:
    """One run of a schedule: the learning rate of the coming epoch (``lr``), moved on by
    :meth:`step` after each epoch, as ``scheduler.step()`` moves a torch param group's."""

    def __init__(self, schedule: Schedule, lr: float) -> None:
        self.schedule = schedule
        self.base = float(lr)  # torch's base_lrs
        self.lr = float(lr)
        self.epoch = 0  # torch's last_epoch: epochs stepped so far
        self.best = worst(getattr(schedule, "monitor", "loss"))  # ReduceLROnPlateau's
        self.bad_epochs = 0
        self.cooldown = 0

    def step(self, metric: float | None = None) -> float:
        """Move on after an epoch (``metric``: the monitored value, for ReduceLROnPlateau);
        returns the learning rate of the next epoch."""
        self.epoch += 1
        self.lr = self.schedule.next_lr(self, metric)
        return self.lr


@dataclass(frozen=True, slots=True)
class Schedule:
    """Common interface of the registered schedules (:data:`SCHEDULES`)."""

    name: ClassVar[str]
    example: ClassVar[str] = ""
    """The schedule in a spec, e.g. ``{ name = 'cosine', t_max = 50 }`` (for messages)."""
    uses_metric: ClassVar[bool] = False
    """True when each step needs the monitored value (ReduceLROnPlateau)."""

    def start(self, lr: float) -> ScheduleRun:
        """The state of a run that starts at the learning rate ``lr``."""
        return ScheduleRun(self, lr)

    def next_lr(self, run: ScheduleRun, metric: float | None) -> float:
        """The rate after ``run.epoch`` epochs, from ``run.lr`` (torch's ``get_lr``)."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"name": "cosine", "t_max": 50, "eta_min": 0.0}``."""
        return {"name": self.name, **self.settings()}

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


def _positive_int(value: Any, owner: str, name: str, low: int = 1) -> int:
    return validate.whole(value, f"{owner} {name}", low)


def _number(value: Any, owner: str, name: str, *, positive: bool = False) -> float:
    number = validate.real(value, f"{owner} {name}", positive=positive)
    if number < 0:
        raise SpecError(f"{owner} {name} must be a number >= 0, got {number:g}")
    return number


def _set(obj: Any, **values: Any) -> None:
    for key, value in values.items():
        object.__setattr__(obj, key, value)


@dataclass(frozen=True, slots=True)
class StepLR(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs (``torch...StepLR``)."""

    step_size: int
    gamma: float = 0.1
    name: ClassVar[str] = "step"
    example: ClassVar[str] = "{ name = 'step', step_size = 10, gamma = 0.5 }"

    def __post_init__(self) -> None:
        _set(
            self,
            step_size=_positive_int(self.step_size, "StepLR", "step_size"),
            gamma=_number(self.gamma, "StepLR", "gamma", positive=True),
        )

    def next_lr(self, run: ScheduleRun, metric: float | None) -> float:
        return run.lr * self.gamma if run.epoch % self.step_size == 0 else run.lr


@dataclass(frozen=True, slots=True)
class ExponentialLR(Schedule):
    """Multiply the rate by ``gamma`` after every epoch (``torch...ExponentialLR``)."""

    gamma: float
    name: ClassVar[str] = "exponential"
    example: ClassVar[str] = "{ name = 'exponential', gamma = 0.95 }"

    def __post_init__(self) -> None:
        _set(self, gamma=_number(self.gamma, "ExponentialLR", "gamma", positive=True))

    def next_lr(self, run: ScheduleRun, metric: float | None) -> float:
        return run.lr * self.gamma


@dataclass(frozen=True, slots=True)
class CosineLR(Schedule):
    """Half a cosine from the starting rate down to ``eta_min`` over ``t_max`` epochs, then back
    up, and so on (``torch...CosineAnnealingLR``, in its recursive form)."""

    t_max: int
    eta_min: float = 0.0
    name: ClassVar[str] = "cosine"
    example: ClassVar[str] = "{ name = 'cosine', t_max = 50 }"

    def __post_init__(self) -> None:
        _set(
            self,
            t_max=_positive_int(self.t_max, "CosineLR", "t_max"),
            eta_min=_number(self.eta_min, "CosineLR", "eta_min"),
        )

    def next_lr(self, run: ScheduleRun, metric: float | None) -> float:
        e, t, low = run.epoch, self.t_max, self.eta_min
        if (e - 1 - t) % (2 * t) == 0:  # the bottom of a cycle: turn back up
            return run.lr + (run.base - low) * (1 - math.cos(math.pi / t)) / 2
        return (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t)) * (
            run.lr - low
        ) + low


@dataclass(frozen=True, slots=True)
class ReduceLROnPlateau(Schedule):
    """Multiply the rate by ``factor`` once ``monitor`` has not improved for more than
    ``patience`` epochs (``torch...ReduceLROnPlateau``; its mode is "max" for an accuracy,
    else "min"). Improving means beating the best so far by ``threshold``, relative
    (``threshold_mode="rel"``) or absolute ("abs")."""

    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8
    monitor: str = "val_loss"
    name: ClassVar[str] = "plateau"
    uses_metric: ClassVar[bool] = True

    def __post_init__(self) -> None:
        owner = "ReduceLROnPlateau"
        factor = validate.real(self.factor, f"{owner} factor")
        if not 0 < factor < 1:
            raise SpecError(f"{owner} factor must lie between 0 and 1, got {factor:g}; try 0.1")
        if self.threshold_mode not in ("rel", "abs"):
            raise SpecError(
                f"{owner} threshold_mode must be 'rel' or 'abs', got {self.threshold_mode!r}"
            )
        _set(
            self,
            factor=factor,
            patience=_positive_int(self.patience, owner, "patience", 0),
            threshold=_number(self.threshold, owner, "threshold"),
            cooldown=_positive_int(self.cooldown, owner, "cooldown", 0),
            min_lr=_number(self.min_lr, owner, "min_lr"),
            eps=_number(self.eps, owner, "eps"),
            monitor=check_monitor(self.monitor, f"{owner} monitor"),
        )

    def next_lr(self, run: ScheduleRun, metric: float | None) -> float:
        if metric is None:
            raise SpecError(f"ReduceLROnPlateau needs the value of {self.monitor!r} each epoch")
        if improves(self.monitor, metric, run.best, self.threshold, self.threshold_mode):
            run.best, run.bad_epochs = metric, 0
        else:
            run.bad_epochs += 1
        if run.cooldown > 0:
            run.cooldown -= 1
            run.bad_epochs = 0  # bad epochs in the cooldown do not count
        if run.bad_epochs > self.patience:
            run.cooldown, run.bad_epochs = self.cooldown, 0
            lower = max(run.lr * self.factor, self.min_lr)
            if run.lr - lower > self.eps:
                return lower
        return run.lr


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (StepLR, ExponentialLR, CosineLR, ReduceLROnPlateau)
}
"""Every schedule by its name in specs: ``"step"``, ``"exponential"``, ``"cosine"``, ``"plateau"``."""


def schedule_from_dict(data: Any, where: str = "schedule") -> Schedule:
    """A schedule from plain data, ``{"name": "cosine", "t_max": 50}``; a SpecError naming the
    field for anything else."""
    if isinstance(data, Schedule):
        return data
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise SpecError(
            f'{where} must be a table with a name, e.g. {{ name = "cosine", t_max = 50 }}; '
            f"the names are {', '.join(SCHEDULES)}"
        )
    name = data["name"].lower()
    cls = SCHEDULES.get(name)
    if cls is None:
        from difflib import get_close_matches

        close = get_close_matches(name, SCHEDULES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(
            f"{where}: unknown schedule {data['name']!r}{hint}; the schedules are "
            + ", ".join(SCHEDULES)
        )
    known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    settings = {k: v for k, v in data.items() if k != "name"}
    for key in settings:
        if key not in known:
            raise SpecError(
                f"{where}: {cls.__name__} has no setting {key!r}; it takes {', '.join(known)}"
            )
    required = [f.name for f in fields(cls) if f.name not in settings and f.default is MISSING]  # type: ignore[arg-type]
    if required:
        raise SpecError(f"{where}: {cls.__name__} needs {', '.join(required)}, e.g. {cls.example}")
    try:
        return cls(**settings)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None


__all__ = [
    "SCHEDULES",
    "CosineLR",
    "ExponentialLR",
    "ReduceLROnPlateau",
    "Schedule",
    "ScheduleRun",
    "StepLR",
    "schedule_from_dict",
]
