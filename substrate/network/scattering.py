"""The junction scattering rules shared by every fidelity of the substrate.

For a wave state (forward waves ``a_0..a_L`` and backward waves ``s_0..s_L`` on the links) each
junction ``k`` absorbs what arrives and emits (physics.md, section 2):

- forward: ``phi_k(a_{k-1})`` toward link ``k``;
- backward: ``(d phi_k/d a_{k-1})^T s_k`` toward link ``k-1`` (the transposed Jacobian);
- the loss port emits ``beta * dc/da_L(a_L, y)`` on link ``L``.

The *residuals* are emitted minus present waves. Level 0 steps ``wave += nu * residual``; level 1
integrates ``tau d(wave)/dt = residual``; the fixed point (zero residual) is backpropagation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .losses import Loss
from .network import Network

__all__ = ["WaveState", "emitted_waves", "port_efforts"]


@dataclass
class WaveState:
    """Waves on the links of a substrate at one instant.

    Attributes
    ----------
    forward : list of ndarray
        Forward waves ``a_0..a_L``, each of shape ``(batch, n_k)``; ``a_0`` is the input.
    backward : list of ndarray
        Backward waves ``s_0..s_L``; ``s_0`` is the input sensitivity absorbed by the input port.
    time : float
        Steps taken (level 0) or time in units of ``tau`` (level 1).
    gradients : list of ndarray or None
        Parameter-port efforts ``(1/beta) dPhi/dtheta`` at this instant, aligned with ``params``.
    history : object or None
        Recorded history of the relaxation that produced this state, if asked for.
    """

    forward: list[np.ndarray]
    backward: list[np.ndarray]
    time: float = 0.0
    gradients: list[np.ndarray] | None = None
    history: object | None = field(default=None, repr=False)

    def copy(self) -> "WaveState":
        return WaveState([a.copy() for a in self.forward], [s.copy() for s in self.backward], self.time)


def emitted_waves(
    net: Network, loss: Loss, beta: float, forward: list[np.ndarray], backward: list[np.ndarray], target: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """What every junction emits, given the present waves.

    Returns
    -------
    emitted_forward : list of ndarray
        ``phi_k(a_{k-1})`` for ``k = 1..L``.
    emitted_backward : list of ndarray
        ``(dphi_k/da_{k-1})^T s_k`` for ``k = 1..L`` (toward links ``0..L-1``), then the loss
        port's reflection ``beta dc/da_L`` (toward link ``L``).
    slopes : list of ndarray
        ``f'_k(z_k)`` at the present operating point, ``k = 1..L``.
    """
    emitted_forward, slopes = [], []
    for layer, a_prev in zip(net.layers, forward[:-1]):
        value, slope = layer.transmit(a_prev)
        emitted_forward.append(value)
        slopes.append(slope)
    emitted_backward = [layer.reflect_back(slope, s) for layer, slope, s in zip(net.layers, slopes, backward[1:])]
    emitted_backward.append(beta * loss.output_gradient(forward[-1], target))
    return emitted_forward, emitted_backward, slopes


def port_efforts(
    net: Network, beta: float, forward: list[np.ndarray], backward: list[np.ndarray], slopes=None
) -> list[np.ndarray]:
    """Parameter-port efforts ``(1/beta) mean_n (dphi_k/dtheta_k)^T s_k``, aligned with ``params``."""
    if slopes is None:
        slopes = [layer.transmit(a_prev)[1] for layer, a_prev in zip(net.layers, forward[:-1])]
    efforts = []
    for layer, a_prev, slope, s in zip(net.layers, forward[:-1], slopes, backward[1:]):
        efforts.extend(e / beta for e in layer.efforts(a_prev, slope, s))
    return efforts


