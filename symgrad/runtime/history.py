"""What :meth:`~symgrad.runtime.model.Model.fit` measured: the :class:`History` of a run."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


class History:
    """What :meth:`Model.fit` measured, one entry per epoch.

    Attributes:
        loss: mean training cost of each epoch (each example at the weights before its batch's step).
        val_loss: mean cost on the validation data after each epoch (empty without validation).
        data_loss: with a penalty on the weights, the mean data cost ``C_0`` of each epoch, the
            loss other frameworks report (``loss`` is ``C = C_0 + penalty``); empty without one.

    ``fit`` keeps the training costs as the arrays the compiled code filled; ``loss`` makes
    them a list of floats when first read (a run of many short epochs does not pay for it).
    """

    def __init__(self) -> None:
        self.val_loss: list[float] = []
        self._chunks: list[Array] = []
        self._loss: list[float] = []
        self._data_loss: list[float] = []

    def _extend(self, losses: Array) -> None:
        """Append the costs of some epochs (an array that is not changed afterwards): one per
        epoch, or with a penalty two columns, the regularised cost and the data cost."""
        self._chunks.append(losses)

    def _flush(self) -> None:
        if self._chunks:
            both = np.concatenate(self._chunks)
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
    def epochs(self) -> int:
        return len(self._loss) + sum(int(chunk.shape[0]) for chunk in self._chunks)

    def __len__(self) -> int:
        return self.epochs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return (
            self.loss == other.loss
            and self.val_loss == other.val_loss
            and self.data_loss == other.data_loss
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        data = f", data_loss={self.data_loss!r}" if self.data_loss else ""
        return f"History(loss={self.loss!r}, val_loss={self.val_loss!r}{data})"


__all__ = ["History"]
