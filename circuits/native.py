"""The project's own simulation of the transmission-line trainer (:func:`circuits.realize.tline_trainer`).

The exported circuit is a network of ideal delay lines between memoryless matched junctions, plus
parameter capacitors. So its exact dynamics are a delay-differential system: with ``h = td / M``,
every wave arriving at time ``t`` is the wave emitted at the other end at ``t - td`` (a ring buffer of
``M`` steps per line), the junctions are algebraic in the arriving waves and the parameter voltages,
and the parameter voltages obey ``C dtheta/dt = -e/R - theta/R_leak``. The parameters are integrated
with Heun's method (explicit trapezoid), whose delayed arguments fall exactly on the grid, so the
scheme is second order in ``h`` away from the wave fronts of the first round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from substrate.errors import ConfigurationError, NumericalError, check_positive, check_range
from substrate.network import get_loss
from substrate.network.network import Network

__all__ = ["TLineTrajectory", "simulate_tline_trainer"]


@dataclass
class TLineTrajectory:
    """Recorded trajectory of the native transmission-line trainer.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times in s.
    params : list of ndarray
        Parameter trajectories aligned with ``net.params``, each of shape ``(T,) + shape``.
    loss : ndarray, shape (T,)
        Batch-mean cost of the waves arriving at the loss port.
    a, s : list of ndarray
        Arriving forward waves at the far end of link k and backward waves at junction k,
        each ``(T, batch, n_k)`` for ``k = 1..L``.
    """

    t: np.ndarray
    params: list
    loss: np.ndarray
    a: list
    s: list


def simulate_tline_trainer(net: Network, x, y, loss: str = "mse", beta: float = 1.0, td: float = 1e-9,
                           t_stop: float | None = None, steps_per_td: int = 20, learning_rate: float = 0.0,
                           leak_rate: float = 0.0, record_every: int = 1, inertia_rate: float = 0.0,
                           friction_rate: float = 0.0) -> TLineTrajectory:
    """Simulate the circuit of :func:`~circuits.realize.tline_trainer` on a fixed grid ``h = td / steps_per_td``.

    Parameters
    ----------
    net : Network
        Initial parameters (not modified).
    x, y : ndarray
        Batch (one wave network per sample) and targets.
    loss : {"mse", "cross_entropy"}
    beta : float
        Loss-port gain (> 0).
    td : float
        Line delay in s.
    t_stop : float, optional
        End time in s (default ``(2L + 2) td``).
    steps_per_td : int
        Grid steps per line delay (>= 1).
    learning_rate : float
        ``1/(R C)`` of the resistive parameter ports in 1/s (0: frozen parameters).
    leak_rate : float
        ``1/(R_leak C)`` in 1/s.
    record_every : int
        Keep every ``record_every``-th grid point.
    inertia_rate, friction_rate : float
        Inertial ports (``tline_trainer(..., inductance=M)``): ``1/(M C)`` in 1/s^2 and ``R/M`` in 1/s. When
        ``inertia_rate > 0`` the flow ``v`` obeys ``dv/dt = -inertia_rate e - friction_rate v`` and
        ``dtheta/dt = v - leak_rate theta`` (``learning_rate`` is then unused).

    Returns
    -------
    TLineTrajectory
    """
    loss = get_loss(loss)
    x = net.check_input(x)
    target = loss.target(y, net.sizes[-1])
    beta = check_positive("beta", beta)
    td = check_positive("td", td)
    M = int(check_range("steps_per_td", steps_per_td, 1, 100_000))
    lr = check_range("learning_rate", learning_rate, 0.0, None)
    leak = check_range("leak_rate", leak_rate, 0.0, None)
    record_every = int(check_range("record_every", record_every, 1, None))
    inertia = check_range("inertia_rate", inertia_rate, 0.0, None)
    friction = check_range("friction_rate", friction_rate, 0.0, None)
    layers = net.layers
    if any(layer.kind != "dense" for layer in layers):
        raise ConfigurationError("the transmission-line trainer realises dense layers only")
    depth = len(layers)
    t_stop = (2 * depth + 2) * td if t_stop is None else check_positive("t_stop", t_stop)
    steps = int(round(t_stop / td * M))
    h = td / M
    batch = len(x)
    # the state: parameters, then (inertial ports) their flows, as one flat list of arrays
    state = [p.copy() for layer in layers for p in (layer.weight, layer.bias)]
    if inertia > 0:
        state += [np.zeros_like(p) for p in state]
    n_params = 2 * depth
    # ring buffers of emitted waves: forward at the near end of link k, backward at its far end
    emit_f = [np.zeros((M, batch, layer.n_out)) for layer in layers]
    emit_b = [np.zeros((M, batch, layer.n_out)) for layer in layers]

    def field(slot, state, store):
        """Arrivals at this grid slot, emissions (stored if asked) and the state derivatives."""
        a = [buffer[slot] for buffer in emit_f]
        s = [buffer[slot] for buffer in emit_b]
        efforts, emitted_f, emitted_b = [], [], [None] * depth
        previous = x
        for k, layer in enumerate(layers):
            weight, bias = state[2 * k], state[2 * k + 1]
            value, slope = layer.activation.value_and_slope(previous @ weight.T + bias)
            delta = slope * s[k]
            emitted_f.append(value)
            if k > 0:
                emitted_b[k - 1] = delta @ weight
            efforts += [delta.T @ previous / (beta * batch), delta.mean(axis=0) / beta]
            previous = a[k]
        emitted_b[depth - 1] = beta * loss.output_gradient(a[-1], target)
        if store:
            for k in range(depth):
                emit_f[k][slot] = emitted_f[k]
                emit_b[k][slot] = emitted_b[k]
        theta = state[:n_params]
        if inertia > 0:
            flows = state[n_params:]
            derivatives = [v - leak * p for p, v in zip(theta, flows)]
            derivatives += [-inertia * e - friction * v for e, v in zip(efforts, flows)]
        else:
            derivatives = [-lr * e - leak * p for p, e in zip(theta, efforts)]
        return derivatives, a, s

    moving = lr > 0 or leak > 0 or inertia > 0
    record_t, record_p, record_loss, record_a, record_s = [], [], [], [], []
    for m in range(steps + 1):
        slot = m % M
        # arrivals at t_m are the emissions at t_m - td, which sit in this slot until overwritten below
        d0, a, s = field(slot, state, store=False)
        if m % record_every == 0:
            record_t.append(m * h)
            record_p.append([p.copy() for p in state[:n_params]])
            record_loss.append(loss(a[-1], target))
            record_a.append([w.copy() for w in a])
            record_s.append([w.copy() for w in s])
        field(slot, state, store=True)
        if m == steps or not moving:
            continue
        predicted = [p + h * d for p, d in zip(state, d0)]
        d1, _, _ = field((m + 1) % M, predicted, store=False)
        state = [p + 0.5 * h * (u + w) for p, u, w in zip(state, d0, d1)]
        if not all(np.all(np.isfinite(p)) for p in state):
            raise NumericalError(f"parameters became non-finite at t = {(m + 1) * h} s (step {m + 1})")
    params = [np.array([r[i] for r in record_p]) for i in range(2 * depth)]
    a = [np.array([r[k] for r in record_a]) for k in range(depth)]
    s = [np.array([r[k] for r in record_s]) for k in range(depth)]
    return TLineTrajectory(np.array(record_t), params, np.array(record_loss), a, s)
