"""Layer maps with their transposed Jacobians: the junctions of every substrate.

A layer is a map ``a_k = phi_k(a_{k-1}; theta_k)``. A junction of the substrate needs three things
from it, all local to the junction:

- ``transmit(a_prev)``: the forward transmission ``phi_k(a_prev)`` and the slopes ``f'(z_k)``
  (``output(a_prev)``: the transmission alone);
- ``reflect_back(slope, s)``: the backward transmission ``(d phi_k / d a_prev)^T s``;
- ``efforts(a_prev, slope, s)``: the parameter-port efforts ``(d phi_k / d theta_k)^T s`` averaged
  over the batch (``backward`` gives both of the last two from one product ``f' * s``).

Dense layers and residual layers are provided; the network abstraction of levels 0 and 1 is a chain of
such maps (physics.md, sections 3, 4 and 6).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, check_positive
from .activations import Activation, get_activation

__all__ = ["Dense", "Residual", "Layer"]


class Dense:
    """Dense layer ``a = f(W a_prev + b)``.

    Parameters
    ----------
    weight : ndarray, shape (n_out, n_in)
        Weight matrix ``W`` (dimensionless).
    bias : ndarray, shape (n_out,)
        Bias vector ``b``.
    activation : str or Activation
        Pointwise nonlinearity ``f``.
    """

    kind = "dense"

    def __init__(self, weight, bias, activation: str | Activation = "tanh"):
        weight = np.array(weight, dtype=float)
        bias = np.array(bias, dtype=float)
        if weight.ndim != 2 or bias.shape != (weight.shape[0],):
            raise ShapeError(
                f"Dense needs weight (n_out, n_in) and bias (n_out,), got {weight.shape} and {bias.shape}"
            )
        self.weight = weight
        self.bias = bias
        self.activation = get_activation(activation)

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    @property
    def params(self) -> list[np.ndarray]:
        return [self.weight, self.bias]

    def transmit(self, a_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(f(z), f'(z))`` with ``z = a_prev W^T + b``; rows are samples."""
        return self.activation.value_and_slope(self._z(a_prev))

    def output(self, a_prev: np.ndarray) -> np.ndarray:
        """``f(z)`` alone, the first half of :meth:`transmit` (a forward pass needs no slopes)."""
        return self.activation(self._z(a_prev))

    def _z(self, a_prev):
        z = a_prev @ self.weight.T
        z += self.bias  # in place: the same bits as the sum, one array fewer
        return z

    def reflect_back(self, slope: np.ndarray | None, s: np.ndarray) -> np.ndarray:
        """Backward transmission ``W^T (f'(z) * s)`` for each sample (row).

        ``slope=None`` is a unit slope (a linear activation): ``f' * s`` is ``s`` itself (the same
        bits as multiplying by ones), here and in :meth:`efforts` and :meth:`backward`.
        """
        return self._reflect(s if slope is None else slope * s, s)

    def efforts(self, a_prev: np.ndarray, slope: np.ndarray | None, s: np.ndarray, out=None) -> list[np.ndarray]:
        """Batch-mean port efforts ``[mean (f'*s) a_prev^T, mean f'*s]``.

        ``out``: optional ``[weight-shaped, bias-shaped]`` arrays to write them into (returned).
        """
        return self._efforts(a_prev, s if slope is None else slope * s, out)

    def backward(self, a_prev: np.ndarray, slope: np.ndarray | None, s: np.ndarray,
                 out=None) -> tuple[np.ndarray, list]:
        """``(reflect_back(slope, s), efforts(a_prev, slope, s, out))`` from one product ``f' * s``."""
        delta = s if slope is None else slope * s
        return self._reflect(delta, s), self._efforts(a_prev, delta, out)

    def _reflect(self, delta, s):
        return delta @ self.weight

    def _efforts(self, a_prev, delta, out):
        weight_out, bias_out = (None, None) if out is None else out
        weight_effort = np.matmul(delta.T, a_prev, out=weight_out)
        weight_effort /= len(a_prev)  # in place: no second array of the weight's size
        bias_effort = np.add.reduce(delta, axis=0, out=bias_out)
        bias_effort /= len(delta)  # delta.mean(axis=0) bit for bit, without its Python-level overhead
        return [weight_effort, bias_effort]


class Residual(Dense):
    """Residual layer ``a = a_prev + step * f(W a_prev + b)`` with a square ``W``.

    One cell of the continuum worldsheet (an Euler step of the neural ODE ``da/ds = f(W a + b)``).

    Parameters
    ----------
    weight : ndarray, shape (n, n)
    bias : ndarray, shape (n,)
    activation : str or Activation
    step : float
        Depth step ``ds`` of the residual branch (dimensionless, > 0).
    """

    kind = "residual"

    def __init__(self, weight, bias, activation: str | Activation = "tanh", step: float = 1.0):
        super().__init__(weight, bias, activation)
        if self.n_in != self.n_out:
            raise ShapeError(f"Residual needs a square weight, got shape {self.weight.shape}")
        self.step = check_positive("step", step)

    def transmit(self, a_prev):
        value, slope = super().transmit(a_prev)
        return a_prev + self.step * value, slope

    def output(self, a_prev):
        return a_prev + self.step * super().output(a_prev)

    def _reflect(self, delta, s):
        return s + self.step * super()._reflect(delta, s)

    def _efforts(self, a_prev, delta, out):
        efforts = super()._efforts(a_prev, delta, out)
        for e in efforts:
            e *= self.step  # in place, the same bits as step * e
        return efforts


Layer = Dense  # every layer kind shares Dense's interface
