"""Reference backpropagation, written directly in numpy: the oracle every substrate is checked against."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .losses import Loss, get_loss
from .network import Network
from .scattering import WaveState, port_efforts

__all__ = ["backprop", "loss_value", "reference_waves", "gradient_error"]


def reference_waves(net: Network, x, target: np.ndarray, loss: Loss, beta: float = 1.0) -> WaveState:
    """The fixed point of the scattering chain: the forward pass and ``s_k = beta dc/da_k`` per sample.

    Parameters
    ----------
    net : Network
    x : ndarray, shape (batch, n_0)
    target : ndarray
        Targets in the loss's internal form (``loss.target(y, n_L)``).
    loss : Loss
    beta : float
        Scale of the backward waves.

    Returns
    -------
    WaveState
        Forward waves ``a_0..a_L``, backward waves ``s_0..s_L`` and ``gradients`` (backprop's).
    """
    forward = [net.check_input(x)]
    slopes = []
    for layer in net.layers:
        a, slope = layer.transmit(forward[-1])
        forward.append(a)
        slopes.append(slope)
    backward = [beta * loss.output_gradient(forward[-1], target)]
    for layer, slope in zip(reversed(net.layers), reversed(slopes)):
        backward.insert(0, layer.reflect_back(slope, backward[0]))
    state = WaveState(forward, backward, float("inf"))
    state.gradients = port_efforts(net, beta, forward, backward, slopes)
    return state


def backprop(net: Network, x, y, loss: str | Loss) -> list[np.ndarray]:
    """Gradients of the batch-mean loss with respect to ``net.params`` (reverse mode, numpy).

    Parameters
    ----------
    net : Network
    x : ndarray, shape (batch, n_0)
    y : ndarray
        Targets: ``(batch, n_L)`` (or ``(batch,)`` when ``n_L = 1``) for ``mse``; integer labels
        ``(batch,)`` or one-hot rows for ``cross_entropy``.
    loss : {"mse", "cross_entropy"} or Loss

    Returns
    -------
    list of ndarray
        ``[dC/dW1, dC/db1, ..., dC/dWL, dC/dbL]``, aligned with ``net.params``.
    """
    loss = get_loss(loss)
    return reference_waves(net, x, loss.target(y, net.sizes[-1]), loss).gradients


def loss_value(net: Network, x, y, loss: str | Loss) -> float:
    """Batch-mean loss ``C`` of ``net`` on ``(x, y)``."""
    loss = get_loss(loss)
    return loss(net.forward(x), loss.target(y, net.sizes[-1]))


def gradient_error(gradients: list[np.ndarray], reference: list[np.ndarray]) -> float:
    """Largest relative error over parameter arrays: ``max_i ||g_i - r_i|| / ||r_i||`` (Frobenius).

    Arrays whose reference is exactly zero contribute their absolute error.

    Raises
    ------
    ShapeError
        When the two lists differ in length, are empty, or pair arrays of different shapes (no
        broadcasting: a ``(n, 1)`` gradient against an ``(n,)`` reference is an error, not a number).
    """
    gradients, reference = list(gradients), list(reference)
    if len(gradients) != len(reference) or not reference:
        raise ShapeError(
            f"gradient_error needs two equally long, non-empty lists of arrays, got {len(gradients)} gradients "
            f"and {len(reference)} reference arrays"
        )
    worst = 0.0
    for i, (g, r) in enumerate(zip(gradients, reference)):
        g, r = np.asarray(g, dtype=float), np.asarray(r, dtype=float)
        if g.shape != r.shape:
            raise ShapeError(f"gradient_error: array {i} has shape {g.shape}, its reference {r.shape}")
        scale = np.linalg.norm(r)
        error = np.linalg.norm(g - r)
        worst = max(worst, error / scale if scale > 0 else error)
    return float(worst)
