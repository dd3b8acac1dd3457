"""Pointwise activation functions with their slopes.

Each activation maps pre-activations ``z`` to ``f(z)`` and ``f'(z)`` in one call, because every
junction of the substrate needs both: the value is transmitted forward, the slope scales the
backward wave (the diagonal of the transposed Jacobian).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ConfigurationError

__all__ = ["Activation", "get_activation", "ACTIVATIONS"]


@dataclass(frozen=True)
class Activation:
    """A pointwise nonlinearity ``f`` with its derivative.

    Attributes
    ----------
    name : str
        Registry name.
    value_and_slope : callable
        ``z -> (f(z), f'(z))`` for an array ``z`` of any shape.
    """

    name: str
    value_and_slope: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.value_and_slope(z)[0]

    def slope(self, z: np.ndarray) -> np.ndarray:
        """Return ``f'(z)``."""
        return self.value_and_slope(z)[1]


def _identity(z):
    return z, np.ones_like(z)


def _tanh(z):
    value = np.tanh(z)
    return value, 1.0 - value * value


def _sigmoid(z):
    value = 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic function
    return value, value * (1.0 - value)


def _relu(z):
    positive = z > 0
    return np.where(positive, z, 0.0), positive.astype(z.dtype)


def _softplus(z):
    return np.logaddexp(0.0, z), 0.5 * (1.0 + np.tanh(0.5 * z))


ACTIVATIONS: dict[str, Activation] = {
    name: Activation(name, function)
    for name, function in {
        "identity": _identity,
        "tanh": _tanh,
        "sigmoid": _sigmoid,
        "relu": _relu,
        "softplus": _softplus,
    }.items()
}


def get_activation(activation: str | Activation) -> Activation:
    """Return the :class:`Activation` for a registry name (or pass one through)."""
    if isinstance(activation, Activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ConfigurationError(
            f"activation = {activation!r} is unknown; valid names: {sorted(ACTIVATIONS)}"
        ) from None
