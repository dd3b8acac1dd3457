"""Level 1: the lumped dyadic relaxation, an RC network whose saddle point is backpropagation.

Each neuron is doubled into an activation node ``a+`` and a sensitivity node ``a-``. With
``F_k(a) = -a_k + phi_k(a_{k-1})`` and the per-sample energy (physics.md, section 4)::

    phi_n(a+, a-; theta) = sum_k a-_k . F_k(a+) + beta c_n(a+_L)

each sample relaxes along saddle dynamics with time constant ``tau = RC``::

    tau da+/dt = d phi_n / d a-  = F(a+)                               (inference)
    tau da-/dt = d phi_n / d a+  = J(a+)^T a- + beta dc_n/da+           (credit assignment)

``Phi`` (:meth:`Dyadic.energy`) is the batch mean of ``phi_n``; at the saddle point the parameter
gradient is local, ``dC/dtheta = (1/beta) dPhi/dtheta``. Forward Euler with ``h = dt/tau`` is the
level-0 worldsheet with Courant number ``h``; in continuous time the error decays only like an
Erlang tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ..discrete.worldsheet import check_courant, initial_state, relax_toward
from ..errors import ConfigurationError, check_positive, check_range
from ..network import Loss, Network, WaveState, emitted_waves, get_loss, port_efforts

__all__ = ["Dyadic", "DyadicSolution"]


@dataclass
class DyadicSolution:
    """Result of :meth:`Dyadic.integrate`.

    Attributes
    ----------
    t : ndarray
        Output times in s.
    states : list of WaveState
        Waves at each output time, each with ``gradients`` set.
    nfev : int
        Number of vector-field evaluations by the solver.
    """

    t: np.ndarray
    states: list[WaveState]
    nfev: int

    @property
    def state(self) -> WaveState:
        """The state at the last output time."""
        return self.states[-1]

    @property
    def gradients(self) -> list[np.ndarray]:
        """``(1/beta) dPhi/dtheta`` at the last output time."""
        return self.states[-1].gradients


class Dyadic:
    """The lumped dyadic RC relaxation of a network (level 1).

    Parameters
    ----------
    net : Network
    loss : {"mse", "cross_entropy"} or Loss
    beta : float
        Loss-port gain (> 0): sensitivities settle at ``beta dc/da``.
    tau : float
        Node time constant ``RC`` in s (> 0).
    """

    def __init__(self, net: Network, loss: str | Loss = "mse", beta: float = 1.0, tau: float = 1.0):
        self.net = net
        self.loss = get_loss(loss)
        self.beta = check_positive("beta", beta)
        self.tau = check_positive("tau", tau)

    # --- the energy and its gradients -------------------------------------------------------
    def energy(self, state: WaveState, x=None, y=None) -> float:
        """The batch-mean saddle energy ``Phi`` (dimensionless).

        ``x`` defaults to the state's input wave; ``y`` is required.
        """
        if y is None:
            raise ConfigurationError("energy needs the targets y")
        plus = state.forward
        x = plus[0] if x is None else self.net.check_input(x)
        target = self.loss.target(y, self.net.sizes[-1])
        total = self.beta * self.loss.per_sample(plus[-1], target)
        a_prev = x
        for layer, a_plus, a_minus in zip(self.net.layers, plus[1:], state.backward[1:]):
            total = total + np.sum(a_minus * (layer.transmit(a_prev)[0] - a_plus), axis=1)
            a_prev = a_plus
        return float(np.mean(total))

    def vector_field(self, state: WaveState, target: np.ndarray) -> tuple[list, list, list]:
        """Per-sample saddle field ``(d phi/d a-, d phi/d a+)`` for links ``1..L``, and the input readout.

        Returns ``(d_plus, d_minus, input_sensitivity)`` where ``tau da+/dt = d_plus`` and
        ``tau da-/dt = d_minus``.
        """
        emitted_forward, emitted_backward, _ = emitted_waves(
            self.net, self.loss, self.beta, state.forward, state.backward, target
        )
        d_plus = [e - a for e, a in zip(emitted_forward, state.forward[1:])]
        d_minus = [e - s for e, s in zip(emitted_backward[1:], state.backward[1:])]
        return d_plus, d_minus, emitted_backward[0]

    def gradients(self, state: WaveState) -> list[np.ndarray]:
        """``(1/beta) dPhi/dtheta`` at ``state``, aligned with ``net.params``."""
        return port_efforts(self.net, self.beta, state.forward, state.backward)

    # --- time stepping -------------------------------------------------------------------------
    def _start(self, x, y, state, init, rng):
        x = self.net.check_input(x)
        target = self.loss.target(y, self.net.sizes[-1])
        if state is None:
            state = initial_state(self.net, x, init, rng)
        else:
            state = WaveState([x] + [a.copy() for a in state.forward[1:]], [s.copy() for s in state.backward], state.time)
        return x, target, state

    def euler(self, x, y, steps: int, h: float = 1.0, state: WaveState | None = None, init: str = "zeros",
              rng=None) -> WaveState:
        """Forward Euler with step ``h = dt/tau`` (h in (0, 2); (1, 2) warns); exact in 2L unit steps.

        Returns the final state (``time`` in s) with ``gradients`` set.
        """
        h = check_courant("h", h, self.net.depth)
        steps = int(check_range("steps", steps, 0, None))
        x, target, state = self._start(x, y, state, init, rng)
        for _ in range(steps):
            # a + h F(a) written as (1 - h) a + h (F(a) + a): at h = 1 each node takes its emitted value exactly
            emitted_forward, emitted_backward, _ = emitted_waves(
                self.net, self.loss, self.beta, state.forward, state.backward, target
            )
            state = WaveState(
                [x] + [relax_toward(a, e, h) for a, e in zip(state.forward[1:], emitted_forward)],
                [emitted_backward[0]] + [relax_toward(s, e, h) for s, e in zip(state.backward[1:], emitted_backward[1:])],
                state.time + h * self.tau,
            )
        state.backward[0] = self.vector_field(state, target)[2]
        state.gradients = self.gradients(state)
        return state

    def integrate(self, x, y, t_end: float, method: str = "RK45", rtol: float = 1e-10, atol: float = 1e-12,
                  t_eval=None, state: WaveState | None = None, init: str = "zeros", rng=None) -> DyadicSolution:
        """Integrate the continuous-time relaxation with :func:`scipy.integrate.solve_ivp`.

        Parameters
        ----------
        x, y : ndarray
            Inputs ``(batch, n_0)`` and targets.
        t_end : float
            End time in s (> 0), counted from the state's time.
        method : str
            Any ``solve_ivp`` method (``"RK45"``, ``"DOP853"``, ``"Radau"``, ...).
        rtol, atol : float
            Solver tolerances.
        t_eval : array_like, optional
            Output times in s (within ``[0, t_end]``); default: only ``t_end``.
        state : WaveState, optional
            Initial waves (default: ``init``, at rest).

        Returns
        -------
        DyadicSolution
        """
        t_end = check_positive("t_end", t_end)
        x, target, state = self._start(x, y, state, init, rng)
        t_eval = np.array([t_end] if t_eval is None else t_eval, dtype=float)
        if t_eval.ndim != 1 or t_eval.min() < 0 or t_eval.max() > t_end:
            raise ConfigurationError(f"t_eval must be times in [0, {t_end}] s")
        shapes = [a.shape for a in state.forward[1:]]
        sizes = [int(np.prod(s)) for s in shapes]
        split = np.cumsum(sizes)[:-1]

        def unpack(vector):
            half = len(vector) // 2
            plus = [v.reshape(s) for v, s in zip(np.split(vector[:half], split), shapes)]
            minus = [v.reshape(s) for v, s in zip(np.split(vector[half:], split), shapes)]
            return WaveState([x] + plus, [None] + minus)

        def rhs(_, vector):
            d_plus, d_minus, _ = self.vector_field(unpack(vector), target)
            return np.concatenate([d.ravel() for d in d_plus + d_minus]) / self.tau

        y0 = np.concatenate([a.ravel() for a in state.forward[1:] + state.backward[1:]])
        solution = solve_ivp(rhs, (0.0, t_end), y0, method=method, rtol=rtol, atol=atol, t_eval=t_eval)
        if not solution.success:
            raise ConfigurationError(f"solve_ivp failed: {solution.message}")
        states = []
        for t, column in zip(solution.t, solution.y.T):
            s = unpack(column)
            s.backward[0] = self.vector_field(s, target)[2]
            s.time = state.time + t
            s.gradients = self.gradients(s)
            states.append(s)
        return DyadicSolution(solution.t + state.time, states, solution.nfev)
