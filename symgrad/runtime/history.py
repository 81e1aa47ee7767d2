"""What :meth:`~symgrad.runtime.model.Model.fit` measured: the :class:`History` of a run."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SpecError

Array = np.ndarray[Any, Any]

KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "data_loss", "lr", "time")
"""The per-epoch figures of a History, in the order :meth:`History.to_dict` gives them."""


class History:
    """What :meth:`Model.fit` measured, one entry per epoch.

    Attributes:
        loss: mean training cost of each epoch (each example at the weights before its batch's step).
        val_loss: mean cost on the validation data after each epoch (empty without validation).
        accuracy: with ``metrics=["accuracy"]``, the fraction of the training rows whose class the
            model picks after each epoch (one compiled pass over them, at the epoch's end weights;
            Keras reports the running mean over the epoch's batches instead).
        val_accuracy: the same on the validation data.
        data_loss: with a penalty on the weights, the mean data cost ``C_0`` of each epoch, the
            loss other frameworks report (``loss`` is ``C = C_0 + penalty``); empty without one.
        lr: the learning rate of each epoch (a schedule's, else the optimiser's).
        time: seconds from the start of ``fit`` to the end of each epoch (epochs run in one
            compiled call share its time evenly).
        best_epoch: with early stopping, the index (into these lists) of the best epoch of the
            monitored figure; None without early stopping.
        stopped_early: True when early stopping or a callback ended the run before ``epochs``.
        stop_reason: why the run ended early, in words ("" when it ran every epoch).

    ``fit`` keeps the training costs as the arrays the compiled code filled; ``loss`` makes
    them a list of floats when first read (a run of many short epochs does not pay for it).
    """

    def __init__(self) -> None:
        self.val_loss: list[float] = []
        self.accuracy: list[float] = []
        self.val_accuracy: list[float] = []
        self.best_epoch: int | None = None
        self.stopped_early = False
        self.stop_reason = ""
        self._chunks: list[tuple[Array, Array, Array]] = []  # (losses, lr, time) of some epochs
        self._loss: list[float] = []
        self._data_loss: list[float] = []
        self._lr: list[float] = []
        self._time: list[float] = []

    def _extend(self, losses: Array, lr: Array, seconds: Array) -> None:
        """Append some epochs: their costs (an array that is not changed afterwards; one per
        epoch, or with a penalty two columns, the regularised cost and the data cost), their
        learning rates and their end times."""
        self._chunks.append((losses, lr, seconds))

    def _flush(self) -> None:
        if self._chunks:
            both = np.concatenate([chunk[0] for chunk in self._chunks])
            self._lr += np.concatenate([chunk[1] for chunk in self._chunks]).tolist()
            self._time += np.concatenate([chunk[2] for chunk in self._chunks]).tolist()
            self._chunks.clear()
            if both.ndim == 2:
                self._loss += both[:, 0].tolist()
                self._data_loss += both[:, 1].tolist()
            else:
                self._loss += both.tolist()

    @property
    def loss(self) -> list[float]:
        self._flush()
        return self._loss

    @property
    def data_loss(self) -> list[float]:
        self._flush()
        return self._data_loss

    @property
    def lr(self) -> list[float]:
        self._flush()
        return self._lr

    @property
    def time(self) -> list[float]:
        self._flush()
        return self._time

    @property
    def epochs(self) -> int:
        return len(self._loss) + sum(int(chunk[0].shape[0]) for chunk in self._chunks)

    def __len__(self) -> int:
        return self.epochs

    def __getitem__(self, key: str) -> list[float]:
        """``hist["val_loss"]``: a per-epoch figure by its name (:data:`KEYS`)."""
        if key not in KEYS:
            raise SpecError(f"a History has no {key!r}; its figures are {', '.join(KEYS)}")
        values: list[float] = getattr(self, key)
        return values

    def last(self) -> dict[str, float]:
        """The last epoch's figures by name (what a callback gets as ``logs``)."""
        self._flush()  # once: the properties read below then find nothing to flush
        return {key: values[-1] for key in KEYS if (values := getattr(self, key))}

    def to_dict(self) -> dict[str, list[float]]:
        """Every figure that was recorded, by name (Keras's ``history.history``)."""
        return {key: list(self[key]) for key in KEYS if self[key]}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        skip = ("time",)  # the clock differs from run to run
        return all(self[k] == other[k] for k in KEYS if k not in skip) and (
            self.best_epoch,
            self.stopped_early,
        ) == (other.best_epoch, other.stopped_early)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{key}={self[key]!r}" for key in KEYS if key not in ("lr", "time") and self[key]
        )
        extra = f", best_epoch={self.best_epoch}" if self.best_epoch is not None else ""
        extra += ", stopped_early=True" if self.stopped_early else ""
        return f"History({shown or 'loss=[]'}{extra})"


__all__ = ["KEYS", "History"]
