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

    ``fit`` keeps the training costs as the arrays the compiled code filled; ``loss`` makes
    them a list of floats when first read (a run of many short epochs does not pay for it).
    """

    def __init__(self) -> None:
        self.val_loss: list[float] = []
        self._chunks: list[Array] = []
        self._loss: list[float] = []

    def _extend(self, losses: Array) -> None:
        """Append the costs of some epochs (an array that is not changed afterwards)."""
        self._chunks.append(losses)

    @property
    def loss(self) -> list[float]:
        if self._chunks:
            self._loss += np.concatenate(self._chunks).tolist()
            self._chunks.clear()
        return self._loss

    @property
    def epochs(self) -> int:
        return len(self._loss) + sum(chunk.size for chunk in self._chunks)

    def __len__(self) -> int:
        return self.epochs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return self.loss == other.loss and self.val_loss == other.val_loss

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        return f"History(loss={self.loss!r}, val_loss={self.val_loss!r})"


__all__ = ["History"]
