"""The record of a training run: one row per recorded epoch (row 0 is before the first update)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["History"]

_FIELDS = (
    "epoch", "step", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "absorbed_power",
    "reflected_power", "port_absorbed", "port_reflected", "gradient_error", "wall_time",
    # circuit substrates only (None or absent for the iterations): simulated time, latency and energy ledger
    "physical_time_s", "gradient_latency_s", "energy_per_update_j", "energy_injected_j", "energy_stored_j",
    "energy_dissipated_j", "energy_balance_error",
)


@dataclass
class History:
    """Per-epoch metrics of a run, as lists (JSON-ready through :meth:`to_dict`).

    Attributes (lists, one entry per row)
    -------------------------------------
    epoch, step : int
        Completed epochs and port updates.
    train_loss, test_loss : float
        Batch-mean loss on the whole training / test set (dimensionless).
    train_accuracy, test_accuracy : float or None
        Fraction classified right (classification only).
    absorbed_power, reflected_power : float
        Total port power (all ports; effort times flow, and reflected-wave power; dimensionless per
        unit optimization time) of the update that ended the epoch: powers are computed only at
        the recorded updates (0 in row 0).
    port_absorbed, port_reflected : list of float
        The same per port (per parameter array ``W1, b1, ...``).
    gradient_error : float or None
        Relative error of the efforts against backprop of the paired minibatch at the last update of
        the epoch (when asked for).
    wall_time : float
        Seconds since the start of training.
    physical_time_s, gradient_latency_s : float or None
        Circuit substrates: simulated time in s, and ``2L td`` from a minibatch entering to its
        exact gradient at every port.
    energy_per_update_j, energy_injected_j, energy_stored_j, energy_dissipated_j : float or None
        Circuit substrates: the energy ledger in J since the start (per port update for the first).
    energy_balance_error : float or None
        ``|injected - stored - dissipated|`` relative to the largest of the three.
    """

    data: dict

    @staticmethod
    def fields() -> tuple[str, ...]:
        return _FIELDS

    def __getattr__(self, name):
        if name in _FIELDS:
            return self._column(name)
        raise AttributeError(name)

    def __len__(self) -> int:
        return len(self.data["epoch"])

    def to_dict(self) -> dict:
        return {key: list(self._column(key)) for key in _FIELDS}

    def _column(self, name: str) -> list:
        """A column; a field the run did not fill (physical fields of the iterations) is all None."""
        if self.data.get(name):
            return self.data[name]
        return [None] * max((len(column) for column in self.data.values()), default=0)

    def array(self, name: str) -> np.ndarray:
        """A column as a float array (``None`` becomes NaN)."""
        return np.array([np.nan if v is None else v for v in self._column(name)], dtype=float)

    @property
    def final(self) -> dict:
        """The last row."""
        return {key: self._column(key)[-1] for key in _FIELDS}
