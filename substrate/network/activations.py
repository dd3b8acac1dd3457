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
    value : callable, optional
        ``z -> f(z)`` alone (what a forward pass needs); default: the first half of ``value_and_slope``.
    """

    name: str
    value_and_slope: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    value: Callable[[np.ndarray], np.ndarray] | None = None

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.value_and_slope(z)[0] if self.value is None else self.value(z)

    def slope(self, z: np.ndarray) -> np.ndarray:
        """Return ``f'(z)``."""
        return self.value_and_slope(z)[1]


class _WithSlope:
    """``z -> (f(z), f'(z))`` from ``f`` and ``(z, f(z)) -> f'(z)``: one definition serves both forms
    (a module-level class, so activations pickle)."""

    def __init__(self, value: Callable, slope: Callable):
        self.value, self.slope = value, slope

    def __call__(self, z):
        v = self.value(z)
        return v, self.slope(z, v)


def _identity(z):
    return z


def _identity_slope(z, v):
    return np.ones_like(z)


def _tanh_slope(z, v):
    return 1.0 - v * v


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic function


def _sigmoid_slope(z, v):
    return v * (1.0 - v)


def _relu(z):
    return np.where(z > 0, z, 0.0)


def _relu_slope(z, v):
    return (z > 0).astype(z.dtype)


def _softplus(z):
    return np.logaddexp(0.0, z)


def _softplus_slope(z, v):
    return _sigmoid(z)


# each activation as f and its slope from (z, f(z))
_DEFINITIONS = {
    "identity": (_identity, _identity_slope),
    "tanh": (np.tanh, _tanh_slope),
    "sigmoid": (_sigmoid, _sigmoid_slope),
    "relu": (_relu, _relu_slope),
    "softplus": (_softplus, _softplus_slope),
}

ACTIVATIONS: dict[str, Activation] = {
    name: Activation(name, _WithSlope(value, slope), value) for name, (value, slope) in _DEFINITIONS.items()
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
