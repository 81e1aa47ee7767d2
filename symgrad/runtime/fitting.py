"""The training loop of :meth:`Model.fit <symgrad.runtime.model.Model.fit>`, and the checks of
its controls: validation, metrics, early stopping, schedules, checkpoints and callbacks.

Two paths, one loop:

- **Fast**: with none of validation, metrics, a schedule, early stopping or callbacks, many
  epochs run in one call of the compiled ``train_epochs`` (calls that grow to a fraction of a
  second, :mod:`symgrad.runtime.chunks`), and Python is entered a few times a second. A
  checkpoint only cuts the calls at its epochs.
- **Per epoch**: with any of them, each epoch is one compiled call; between calls Python measures
  the validation figures, steps the schedule (its learning rate is the next call's ``hyper``
  entry: nothing is compiled), asks early stopping and the callbacks, and writes checkpoints.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import validate
from ..codegen.cache import record_first_compile
from ..errors import DivergenceError, SpecError
from ..net.schedules import Schedule, ScheduleRun, schedule_from_dict
from ..net.stopping import EarlyStopping, check_metrics, early_stopping_from_dict, improves, worst
from .chunks import IN_ORDER, epochs_per_call, progress_bar
from .history import History

if TYPE_CHECKING:
    from .model import Model

Array = np.ndarray[Any, Any]
Callback = Callable[[int, dict[str, float]], Any]


# ------------------------------------------------------------------------------------------------
# Checks of the controls (all made before the first epoch)
# ------------------------------------------------------------------------------------------------
def split_rows(rows: int, fraction: Any, seed: int) -> tuple[Array, Array]:
    """The training rows and the validation rows of ``validation_split=fraction``: a seeded
    random choice of ``rows - int(rows * (1 - fraction))`` rows held out (as many as Keras
    holds out, but drawn at random rather than the last ones), both in their original order."""
    value = validate.real(fraction, "validation_split")
    if not 0 < value < 1:
        raise SpecError(
            f"validation_split must lie strictly between 0 and 1 (the fraction held out), "
            f"got {value:g}; try 0.2"
        )
    n_train = int(rows * (1 - value))
    if n_train < 1 or n_train == rows:
        what = "no training row" if n_train < 1 else "no validation row"
        raise SpecError(
            f"validation_split={value:g} of {rows} rows leaves {what}; give a split between "
            f"{1 / rows:.3g} and {1 - 1 / rows:.3g}, or more rows"
        )
    order = np.random.default_rng([seed, 2]).permutation(rows)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def class_targets(y: Array, what: str) -> None:
    """Refuse targets that are no classes (for ``accuracy``): one-hot rows, or 0 and 1 for a
    single output."""
    ones = (y == 0) | (y == 1)
    if ones.all() and (y.shape[1] == 1 or bool((y.sum(axis=1) == 1).all())):
        return
    if not ones.all():
        bad = f"holds {float(y[~ones].flat[0]):g}, which is no class"
    else:
        bad = "has a row that is not one-hot (one 1, the rest 0)"
    shape = "one-hot rows or integer class labels" if y.shape[1] > 1 else "0 and 1"
    raise SpecError(
        f'metrics=["accuracy"] needs class targets, but {what} {bad}: give {shape}, or leave '
        "accuracy out for a regression"
    )


def checkpoint_path(path: Any) -> Path:
    """A checkpoint's path, checked before training: an ``.npz`` file in a folder that exists."""
    if not isinstance(path, str | os.PathLike):
        raise SpecError(f"checkpoint must be a path such as 'ckpt.npz', got {path!r}")
    target = Path(path)
    if target.suffix.lower() != ".npz":
        raise SpecError(f"checkpoint {str(target)!r} must end in .npz (weights are .npz files)")
    folder = target.parent
    if not folder.is_dir():
        raise SpecError(
            f"checkpoint {str(target)!r}: the folder {str(folder)!r} does not exist; create it "
            "or give a path in a folder that does"
        )
    if not os.access(folder, os.W_OK):
        raise SpecError(f"checkpoint {str(target)!r}: the folder {str(folder)!r} is not writable")
    from ..files import output_problem

    problem = output_problem(target)
    if problem is not None:
        raise SpecError(f"checkpoint {str(target)!r} {problem}")
    return target


def needs(key: str, what: str, has_validation: bool, metrics: Sequence[str]) -> None:
    """Refuse a monitored key that the run will not measure."""
    if key.startswith("val_") and not has_validation:
        raise SpecError(
            f"{what} watches {key!r}, which needs validation data: give validation=(X_val, "
            f"Y_val) or validation_split=0.2, or monitor={key[4:]!r}"
        )
    if key.endswith("accuracy") and "accuracy" not in metrics:
        raise SpecError(f'{what} watches {key!r}: add metrics=["accuracy"] to fit')


@dataclass
class Controls:
    """What one run of ``fit`` does besides its steps, checked."""

    metrics: tuple[str, ...] = ()
    early_stopping: EarlyStopping | None = None
    schedule: Schedule | None = None
    checkpoint: Path | None = None
    checkpoint_every: int = 1
    callbacks: list[Callback] = field(default_factory=list)

    @classmethod
    def checked(
        cls,
        metrics: Any,
        early_stopping: Any,
        schedule: Any,
        checkpoint: Any,
        checkpoint_every: Any,
        callbacks: Any,
        has_validation: bool,
    ) -> Controls:
        if metrics is early_stopping is schedule is checkpoint is callbacks is None and (
            type(checkpoint_every) is int and checkpoint_every == 1
        ):
            return cls()  # fit without controls: nothing to check
        out = cls(metrics=check_metrics(metrics))
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping | dict):
                raise SpecError(
                    "early_stopping must be sg.EarlyStopping(patience=5, ...), got "
                    f"{early_stopping!r}"
                )
            out.early_stopping = early_stopping_from_dict(early_stopping)
            needs(out.early_stopping.monitor, "early_stopping", has_validation, out.metrics)
        if schedule is not None:
            if not isinstance(schedule, Schedule | dict):
                raise SpecError(
                    "schedule must be sg.StepLR(...), sg.ExponentialLR(...), sg.CosineLR(...) or "
                    f"sg.ReduceLROnPlateau(...), got {schedule!r}"
                )
            out.schedule = schedule_from_dict(schedule)
            monitor = getattr(out.schedule, "monitor", None)
            if monitor is not None:
                needs(monitor, type(out.schedule).__name__, has_validation, out.metrics)
        if checkpoint is not None:
            out.checkpoint = checkpoint_path(checkpoint)
        out.checkpoint_every = validate.whole(checkpoint_every, "checkpoint_every", 1)
        if callbacks is not None:
            if callable(callbacks) or not isinstance(callbacks, list | tuple):
                raise SpecError("callbacks must be a list of functions fn(epoch, logs)")
            for fn in callbacks:
                if not callable(fn):
                    raise SpecError(f"each callback must be a function fn(epoch, logs), got {fn!r}")
            out.callbacks = list(callbacks)
        return out

    @property
    def per_epoch(self) -> bool:
        """Each epoch its own compiled call: something runs between epochs."""
        return bool(self.metrics or self.early_stopping or self.schedule or self.callbacks)


# ------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------
class _Best:
    """Early stopping's state: the best value so far, its epoch, and (with ``restore_best``)
    copies of the parameters, optimiser state and step count after it."""

    def __init__(self, rule: EarlyStopping) -> None:
        self.rule = rule
        self.value = worst(rule.monitor)
        self.epoch: int | None = None
        self.wait = 0
        self.saved: tuple[dict[str, Array], dict[str, Array], int] | None = None

    def update(self, model: Model, epoch: int, value: float) -> bool:
        """Record an epoch's value; True when the run should stop."""
        rule = self.rule
        if improves(rule.monitor, value, self.value, rule.min_delta):
            self.value, self.epoch, self.wait = value, epoch, 0
            if rule.restore_best:
                self.saved = (
                    {k: v.copy() for k, v in model._params.items()},
                    {k: v.copy() for k, v in model._state.items()},
                    model.step,
                )
            return False
        self.wait += 1
        return self.wait >= rule.patience

    def restore(self, model: Model) -> None:
        if self.saved is None:
            return
        params, state, step = self.saved
        for name, arr in params.items():
            model._params[name][...] = arr
        for name, arr in state.items():
            model._state[name][...] = arr
        model.step = step


def run(
    model: Model,
    x: Array,
    y: Array,
    epochs: int,
    batch_size: int,
    shuffle: bool,
    seed: int,
    progress: bool | None,
    val: tuple[Array, Array] | None,
    controls: Controls,
) -> History:
    """Train ``model`` on the checked arrays (see :meth:`Model.fit`)."""
    rows = x.shape[0]
    batch = min(batch_size, rows)
    rng = np.random.default_rng(seed) if shuffle else None
    net = model.net
    regularized = net.regularization is not None
    # dropout's masks: one seed per epoch, drawn in order whatever the calls' sizes
    dropout = any(layer.dropout for layer in net.layers)
    mask_rng = np.random.default_rng([seed, 1]) if dropout else None
    history = History()
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = progress_bar(epochs, show, net.name)
    fns = model._fns
    # a module may have a version of train_epochs for batches of one (the unrolled shape)
    train = fns.train_epochs
    if batch == 1:
        train = getattr(fns, "train_epochs_one", train)
    per_epoch = controls.per_epoch or val is not None
    hyper = model._hyper
    lr = float(model.optimizer.lr)  # every optimiser has one
    lr_at = 0
    scheduled: ScheduleRun | None = None
    if controls.schedule is not None:
        hyper = hyper.copy()  # the model's own values stay as they were
        lr_at = list(model.optimizer.settings()).index("lr")
        scheduled = controls.schedule.start(lr)
    best = _Best(controls.early_stopping) if controls.early_stopping is not None else None
    every, ckpt = controls.checkpoint_every, controls.checkpoint
    per_row = model._seconds_per_row.get(batch) if epochs > 1 else None
    chunk = 1 if per_row is None else epochs_per_call(per_row * rows, rows)
    started = last = time.perf_counter()
    done = 0
    try:
        while done < epochs:
            k = 1 if per_epoch else min(chunk, epochs - done)
            if ckpt is not None:
                k = min(k, every - done % every)  # a checkpoint at the end of the call
            if scheduled is not None:
                lr = scheduled.lr
                hyper[lr_at] = lr
            # a permutation per epoch: the same numbers as k calls of rng.permutation(rows)
            if rng is not None:
                orders = np.tile(np.arange(rows, dtype=np.int64), (k, 1))
                rng.permuted(orders, axis=1, out=orders)
            else:
                orders = IN_ORDER
            # History keeps it: a new one per call (C, then C_0, with a penalty)
            losses = np.empty((k, 2) if regularized else k)
            seeds = (mask_rng.integers(0, 2**31 - 1, k),) if mask_rng is not None else ()
            call_started = time.perf_counter()
            completed, step = train(
                x, y, orders, k, batch, *model._args(), *model._state_args(), model.step,
                hyper, losses, *seeds,
            )  # fmt: skip
            now = time.perf_counter()
            completed, model.step = int(completed), int(step)
            if done == 0 and not model.aot:  # the first call compiled: keep it for others
                record_first_compile(getattr(model.module, "__file__", None))
            # the epochs of one call share its time evenly
            ends = (last - started) + (now - last) / k * np.arange(1, completed + 1)
            history._extend(losses[:completed], np.full(completed, lr), ends)
            last = now
            if completed < k:
                epoch = done + completed + 1
                mean = float(losses[completed].flat[0])
                exc = DivergenceError(
                    f"training diverged in epoch {epoch}: the loss became {mean}; the weights from "
                    f"before epoch {epoch} were put back. Try a smaller learning rate.",
                    epoch,
                )
                exc.history = history  # type: ignore[attr-defined]
                raise exc
            done += k
            model._seconds_per_row[batch] = (now - call_started) / (k * rows)
            if done < epochs:  # another call follows: size it
                chunk = epochs_per_call((now - call_started) / k, rows)
            stop = ""
            if per_epoch:
                stop = _between_epochs(model, history, done - 1, x, y, val, controls, best)
                if scheduled is not None:
                    monitor = getattr(controls.schedule, "monitor", None)
                    scheduled.step(history[monitor][-1] if monitor is not None else None)
            if ckpt is not None and done % every == 0:
                model.save(ckpt)
            if bar is not None:
                bar.update(k)
                bar.set_postfix(_postfix(history), refresh=False)
            if stop:
                history.stopped_early, history.stop_reason = True, stop
                break
    finally:
        if bar is not None:
            bar.close()
    if best is not None:
        history.best_epoch = best.epoch
        best.restore(model)
    if ckpt is not None and (done % every != 0 or best is not None):
        model.save(ckpt)  # the run's end, or the best epoch's weights it ends with
    return history


def _between_epochs(
    model: Model,
    history: History,
    epoch: int,
    x: Array,
    y: Array,
    val: tuple[Array, Array] | None,
    controls: Controls,
    best: _Best | None,
) -> str:
    """The per-epoch figures, early stopping and the callbacks after epoch ``epoch`` (from 0):
    why the run stops now, or ""."""
    fns, args = model._fns, model._args()
    accuracy = "accuracy" in controls.metrics
    if accuracy:
        history.accuracy.append(float(fns.accuracy(x, y, *args)))
    if val is not None:
        history.val_loss.append(float(fns.loss(val[0], val[1], *args)) + model.penalty())
        if accuracy:
            history.val_accuracy.append(float(fns.accuracy(val[0], val[1], *args)))
    stop = ""
    if best is not None and best.update(model, epoch, history[best.rule.monitor][-1]):
        rule = best.rule
        stop = (
            f"early stopping: {rule.monitor} did not improve for {rule.patience} epochs "
            f"(the best was epoch {best.epoch + 1 if best.epoch is not None else '-'}, counting from 1)"
        )
    if controls.callbacks:
        logs = history.last()
        for fn in controls.callbacks:
            if fn(epoch, logs) is False and not stop:
                stop = f"a callback ({getattr(fn, '__name__', 'callback')}) returned False"
    return stop


def _postfix(history: History) -> dict[str, str]:
    """The progress bar's figures: the last epoch's loss, and its validation figures."""
    shown = {"loss": f"{history.loss[-1]:.4g}"}
    if history.val_loss:
        shown["val_loss"] = f"{history.val_loss[-1]:.4g}"
    if history.val_accuracy:
        shown["val_acc"] = f"{history.val_accuracy[-1]:.1%}"
    elif history.accuracy:
        shown["acc"] = f"{history.accuracy[-1]:.1%}"
    return shown


__all__ = ["Controls", "checkpoint_path", "class_targets", "run", "split_rows"]
