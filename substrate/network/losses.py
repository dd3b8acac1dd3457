"""Per-sample costs and the batch-mean loss.

The loss port of every substrate reflects each sample's arriving forward wave ``a_L`` into
``s_L = beta * dc/da_L`` with ``c`` the per-sample cost; the batch-mean ``C = mean_n c_n`` is what
parameter ports descend (physics.md, section 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ConfigurationError, ShapeError

__all__ = ["Loss", "get_loss", "LOSSES"]


@dataclass(frozen=True)
class Loss:
    """A per-sample cost ``c(a_L, y)`` and its gradient with respect to the output wave.

    Attributes
    ----------
    name : str
        Registry name.
    per_sample : callable
        ``(a_L, target) -> c`` of shape ``(batch,)``.
    output_gradient : callable
        ``(a_L, target) -> dc/da_L`` of shape ``(batch, n_L)``, per sample (not divided by the batch).
    """

    name: str
    per_sample: Callable[[np.ndarray, np.ndarray], np.ndarray]
    output_gradient: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def target(self, y, n_outputs: int) -> np.ndarray:
        """Return the target array in the form the cost uses (one-hot for cross-entropy)."""
        y = np.asarray(y)
        if self.name == "cross_entropy":
            return one_hot(y, n_outputs)
        y = np.asarray(y, dtype=float)
        if y.ndim == 1 and n_outputs == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise ShapeError(f"mse targets must have shape (batch, {n_outputs}), got {y.shape}")
        return y

    def __call__(self, a_L: np.ndarray, target: np.ndarray) -> float:
        """Batch-mean cost ``C`` (``target`` as returned by :meth:`target`)."""
        return float(np.mean(self.per_sample(a_L, target)))


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Return one-hot rows for integer labels, or validate already one-hot rows."""
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[1] != n_classes:
            raise ShapeError(f"one-hot targets must have {n_classes} columns, got shape {y.shape}")
        return y.astype(float)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ShapeError(
            f"cross-entropy labels must be integers of shape (batch,) or one-hot rows, "
            f"got dtype {y.dtype} and shape {y.shape}"
        )
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ConfigurationError(
            f"labels must lie in [0, {n_classes - 1}], got values in [{y.min()}, {y.max()}]"
        )
    return np.eye(n_classes)[y]


def _mse(a, y):
    return 0.5 * np.sum((a - y) ** 2, axis=1)


def _mse_gradient(a, y):
    return a - y


def _log_softmax(a):
    # the ufuncs' reductions directly: what a.max and np.sum run, without their Python-level wrappers
    shifted = a - np.maximum.reduce(a, axis=1, keepdims=True)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=1, keepdims=True))


def _cross_entropy(a, y):
    return -np.sum(y * _log_softmax(a), axis=1)


def _cross_entropy_gradient(a, y):
    return np.exp(_log_softmax(a)) - y


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", _mse, _mse_gradient),
    "cross_entropy": Loss("cross_entropy", _cross_entropy, _cross_entropy_gradient),
}


def get_loss(loss: str | Loss) -> Loss:
    """Return the :class:`Loss` for a registry name (``"mse"``, ``"cross_entropy"``)."""
    if isinstance(loss, Loss):
        return loss
    try:
        return LOSSES[loss]
    except (KeyError, TypeError):
        raise ConfigurationError(f"loss = {loss!r} is unknown; valid names: {sorted(LOSSES)}") from None
