"""The continuum worldsheet: a continuous-depth network as a pair of telegrapher-type PDEs.

For a neural ODE ``da/ds = F(a, theta(s))`` on ``s in [0, S]`` with ``F = f(W(s) a + b(s))`` and
``theta(s)`` piecewise constant over the layers of a residual network (physics.md, section 6)::

    d_tau a + c d_s a = c F(a, theta(s))          a(0, tau) = x                  (input port)
    d_tau s - c d_s s = c (dF/da)^T s             s(S, tau) = beta dc/da(a(S))   (loss port)

Method of lines: each layer (depth ``step``) is cut into ``cells_per_layer`` cells of depth ``ds``;
the upwind characteristic form with the source integrated along the characteristic over one cell is

    d_tau a_j     = (c/ds) (Phi_j(a_{j-1}) - a_j)
    d_tau s_{j-1} = (c/ds) ((dPhi_j/da)^T s_j - s_{j-1})

with the cell map ``Phi_j``: ``scheme="euler"`` uses ``Phi_j(a) = a + ds F(a, theta_j)`` (the spec's
form: one cell per layer is exactly :class:`substrate.Dyadic` on the residual network with
``tau = ds/c``), ``scheme="rk4"`` one classical Runge-Kutta step of the ODE over the cell (its
exact reverse-mode adjoint for the backward wave), so that the rest state approximates the neural
ODE and its adjoint to O(ds^4). At Courant number 1 the fixed-step update is the exact
characteristic shift (:meth:`ContinuumWorldsheet.characteristic`); from rest it reaches the rest
state in exactly ``2 N`` steps for ``N`` cells.

Parameter-port efforts: ``(1/beta)`` times the batch mean of ``(dPhi_j/dtheta)^T s_j`` summed over
a layer's cells; at rest they approximate ``int lambda^T dF/dtheta ds`` of the neural ODE adjoint.
With a line impedance ``Z`` the waves are voltages and currents ``V = a + s``, ``I = (a - s)/Z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ..errors import ConfigurationError, NumericalError, ShapeError, check_positive
from ..network import Loss, Network, get_loss

__all__ = ["ContinuumWorldsheet", "ContinuumSolution", "SCHEMES"]

SCHEMES = ("euler", "rk4")


@dataclass
class ContinuumSolution:
    """Waves on the (s, tau) sheet.

    Attributes
    ----------
    tau : ndarray, shape (n_t,)
        Optimisation times in s (for ``characteristic``: step count times ``ds/c``).
    s : ndarray, shape (N + 1,)
        Depth of the links (cell boundaries), dimensionless depth units.
    forward, backward : ndarray, shape (n_t, N + 1, batch, width)
        Forward waves ``a(s, tau)`` and backward waves ``s(s, tau)``; ``forward[:, 0]`` is the input,
        ``backward[:, 0]`` the input sensitivity read at the input port.
    efforts : list of list of ndarray
        Parameter-port efforts at each time, aligned with ``net.params``.
    impedance : float
        Line impedance ``Z`` in ohm used for :attr:`voltage` and :attr:`current`.
    nfev : int
    """

    tau: np.ndarray
    s: np.ndarray
    forward: np.ndarray
    backward: np.ndarray
    efforts: list
    impedance: float = 1.0
    nfev: int = 0

    @property
    def gradients(self) -> list[np.ndarray]:
        """Efforts at the last time."""
        return self.efforts[-1]

    @property
    def voltage(self) -> np.ndarray:
        """``V = a + s`` on the sheet (V)."""
        return self.forward + self.backward

    @property
    def current(self) -> np.ndarray:
        """``I = (a - s)/Z`` on the sheet (A)."""
        return (self.forward - self.backward) / self.impedance


class ContinuumWorldsheet:
    """The level-2 continuum worldsheet of a residual network.

    Parameters
    ----------
    net : Network
        A chain of :class:`~substrate.network.Residual` layers of one width and one activation;
        layer ``k`` spans depth ``step_k`` with ``theta(s) = (W_k, b_k)`` there.
    loss : {"mse", "cross_entropy"} or Loss
        The loss port's reflection ``beta dc/da``.
    beta : float
        Backward-wave scale (> 0).
    speed : float
        Wave speed ``c`` in depth units per s (> 0).
    cells_per_layer : int
        Cells per layer (>= 1).
    scheme : {"euler", "rk4"}
        Cell map (see module docstring).
    impedance : float
        Line impedance ``Z`` in ohm, only for reading the waves as ``V`` and ``I``.
    """

    def __init__(self, net: Network, loss: str | Loss = "mse", beta: float = 1.0, speed: float = 1.0,
                 cells_per_layer: int = 1, scheme: str = "euler", impedance: float = 1.0):
        if not isinstance(net, Network):
            raise ConfigurationError(f"ContinuumWorldsheet needs a Network of Residual layers, got {type(net).__name__}")
        kinds = {layer.kind for layer in net.layers}
        if kinds != {"residual"}:
            raise ConfigurationError(f"the continuum worldsheet needs residual layers only, got kinds {sorted(kinds)}")
        activations = {layer.activation.name for layer in net.layers}
        if len(activations) != 1:
            raise ConfigurationError(f"the continuum worldsheet needs one activation for all layers, got {sorted(activations)}")
        if isinstance(cells_per_layer, bool) or not isinstance(cells_per_layer, (int, np.integer)) or cells_per_layer < 1:
            raise ConfigurationError(f"cells_per_layer = {cells_per_layer!r} must be an integer >= 1")
        if scheme not in SCHEMES:
            raise ConfigurationError(f"scheme = {scheme!r} is not one of {list(SCHEMES)}")
        self.net = net
        self.loss = get_loss(loss)
        self.beta = check_positive("beta", beta)
        self.speed = check_positive("speed", speed)
        self.impedance = check_positive("impedance (ohm)", impedance)
        self.cells_per_layer = int(cells_per_layer)
        self.scheme = scheme
        self.activation = net.layers[0].activation

    # --- geometry ------------------------------------------------------------------------------
    @property
    def n_cells(self) -> int:
        return self.net.depth * self.cells_per_layer

    @property
    def ds(self) -> np.ndarray:
        """Depth of each cell."""
        return np.repeat([layer.step for layer in self.net.layers], self.cells_per_layer) / self.cells_per_layer

    @property
    def depth_grid(self) -> np.ndarray:
        """Depth ``s`` of the ``N + 1`` links."""
        return np.concatenate([[0.0], np.cumsum(self.ds)])

    def _stacks(self):
        m = self.cells_per_layer
        W = np.repeat(np.stack([layer.weight for layer in self.net.layers]), m, axis=0)
        b = np.repeat(np.stack([layer.bias for layer in self.net.layers]), m, axis=0)
        return W, b

    # --- one cell, vectorised over all cells ----------------------------------------------------
    def cell_maps(self, a_prev: np.ndarray, s_next: np.ndarray):
        """For every cell j: ``Phi_j(a_{j-1})``, ``(dPhi_j/da)^T s_j`` and ``(dPhi_j/dtheta)^T s_j``.

        Parameters
        ----------
        a_prev, s_next : ndarray, shape (N, batch, width)
            Forward wave entering each cell and backward wave entering it from the deep side.

        Returns
        -------
        emitted_forward, emitted_backward : ndarray, shape (N, batch, width)
        effort_W : ndarray, shape (N, width, width)
        effort_b : ndarray, shape (N, width)
            Batch means, not yet divided by ``beta``.
        """
        W, bias = self._stacks()
        h = self.ds[:, None, None]
        batch = a_prev.shape[1]

        def field(u):
            return self.activation.value_and_slope(np.einsum("jbn,jmn->jbm", u, W) + bias[:, None, :])

        def pullback(slope, g):
            return np.einsum("jbm,jmn->jbn", slope * g, W)

        if self.scheme == "euler":
            k1, d1 = field(a_prev)
            stages, weights = [(a_prev, d1)], [h]
            phi = a_prev + h * k1
            q1 = d1 * h * s_next
            abar = s_next + pullback(np.ones_like(q1), q1)
            qs = [q1]
        else:
            u1 = a_prev
            k1, d1 = field(u1)
            u2 = a_prev + 0.5 * h * k1
            k2, d2 = field(u2)
            u3 = a_prev + 0.5 * h * k2
            k3, d3 = field(u3)
            u4 = a_prev + h * k3
            k4, d4 = field(u4)
            phi = a_prev + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            g1, g2, g3, g4 = h / 6 * s_next, h / 3 * s_next, h / 3 * s_next, h / 6 * s_next
            abar = s_next.copy()
            q4 = d4 * g4
            ubar = pullback(np.ones_like(q4), q4)
            abar += ubar
            g3 = g3 + h * ubar
            q3 = d3 * g3
            ubar = pullback(np.ones_like(q3), q3)
            abar += ubar
            g2 = g2 + 0.5 * h * ubar
            q2 = d2 * g2
            ubar = pullback(np.ones_like(q2), q2)
            abar += ubar
            g1 = g1 + 0.5 * h * ubar
            q1 = d1 * g1
            abar += pullback(np.ones_like(q1), q1)
            stages = [(u1, None), (u2, None), (u3, None), (u4, None)]
            qs = [q1, q2, q3, q4]
        effort_W = sum(np.einsum("jbm,jbn->jmn", q, u) for q, (u, _) in zip(qs, stages)) / batch
        effort_b = sum(q.mean(axis=1) for q in qs)
        return phi, abar, effort_W, effort_b

    def layer_efforts(self, effort_W: np.ndarray, effort_b: np.ndarray) -> list[np.ndarray]:
        """Sum cell efforts over each layer's cells and divide by beta; aligned with ``net.params``."""
        m, L = self.cells_per_layer, self.net.depth
        n = effort_W.shape[-1]
        eW = effort_W.reshape(L, m, n, n).sum(axis=1) / self.beta
        eb = effort_b.reshape(L, m, n).sum(axis=1) / self.beta
        return [e for k in range(L) for e in (eW[k], eb[k])]

    # --- the semi-discrete field -------------------------------------------------------------
    def _prepare(self, x, y):
        x = self.net.check_input(x)
        target = self.loss.target(y, self.net.sizes[-1])
        return x, target

    def _emitted(self, x, target, a, s):
        """a, s: (N, B, n) waves on links 1..N. Returns emitted forward/backward on links 1..N, s_0, efforts."""
        a_prev = np.concatenate([x[None], a[:-1]], axis=0)
        phi, abar, eW, eb = self.cell_maps(a_prev, s)
        # abar[j] is emitted by cell j+1 toward link j (j = 0..N-1); the loss port emits on link N
        loss_wave = self.beta * self.loss.output_gradient(a[-1], target)
        emitted_backward = np.concatenate([abar[1:], loss_wave[None]], axis=0)
        return phi, emitted_backward, abar[0], eW, eb

    def _rates(self):
        rate = self.speed / self.ds  # emitter of a_j is cell j; of s_{j-1} is cell j; loss port uses cell N
        rate_backward = np.concatenate([rate[1:], rate[-1:]])
        return rate[:, None, None], rate_backward[:, None, None]

    def _solution(self, x, target, times, A, S, nfev):
        forward, backward, efforts = [], [], []
        for a, s in zip(A, S):
            _, _, s0, eW, eb = self._emitted(x, target, a, s)
            forward.append(np.concatenate([x[None], a]))
            backward.append(np.concatenate([s0[None], s]))
            efforts.append(self.layer_efforts(eW, eb))
        forward, backward = np.array(forward), np.array(backward)
        if not (np.all(np.isfinite(forward)) and np.all(np.isfinite(backward))):
            raise NumericalError("the continuum worldsheet produced NaN or inf")
        return ContinuumSolution(np.asarray(times, float), self.depth_grid, forward, backward, efforts,
                                 self.impedance, nfev)

    def integrate(self, x, y, t_end: float, t_eval=None, method: str = "RK45", rtol: float = 1e-10,
                  atol: float = 1e-12) -> ContinuumSolution:
        """Integrate the method-of-lines ODE in tau with :func:`scipy.integrate.solve_ivp` from rest.

        Parameters
        ----------
        x, y : ndarray
            Inputs ``(batch, width)`` and targets.
        t_end : float
            End time in s (> 0).
        t_eval : array_like, optional
            Output times in ``[0, t_end]`` s (default: ``t_end`` only).
        method, rtol, atol
            Passed to ``solve_ivp``.
        """
        x, target = self._prepare(x, y)
        t_end = check_positive("t_end", t_end)
        t_eval = np.array([t_end] if t_eval is None else t_eval, dtype=float)
        if t_eval.ndim != 1 or t_eval.min() < 0 or t_eval.max() > t_end:
            raise ConfigurationError(f"t_eval must be times in [0, {t_end}] s")
        N, (B, n) = self.n_cells, x.shape
        shape = (N, B, n)
        rate_forward, rate_backward = self._rates()

        def rhs(_, vector):
            a, s = vector[: N * B * n].reshape(shape), vector[N * B * n:].reshape(shape)
            phi, back, _, _, _ = self._emitted(x, target, a, s)
            return np.concatenate([(rate_forward * (phi - a)).ravel(), (rate_backward * (back - s)).ravel()])

        solution = solve_ivp(rhs, (0.0, t_end), np.zeros(2 * N * B * n), method=method, t_eval=t_eval,
                             rtol=rtol, atol=atol)
        if not solution.success:
            raise NumericalError(f"solve_ivp ({method}) failed: {solution.message}")
        A = solution.y[: N * B * n].T.reshape(-1, *shape)
        S = solution.y[N * B * n:].T.reshape(-1, *shape)
        return self._solution(x, target, solution.t, A, S, solution.nfev)

    def characteristic(self, x, y, steps: int | None = None, record: bool = False) -> ContinuumSolution:
        """The exact characteristic shift at Courant number 1, from rest: every wave jumps one cell per step.

        ``steps`` defaults to ``2 N`` (N cells), where the waves are exactly at rest. Needs equal cell
        depths. Returns every step if ``record``, else only the last.
        """
        x, target = self._prepare(x, y)
        ds = self.ds
        if not np.allclose(ds, ds[0], rtol=1e-12):
            raise ConfigurationError("the characteristic shift needs equal cell depths (equal layer steps)")
        N = self.n_cells
        steps = 2 * N if steps is None else int(steps)
        if steps < 0:
            raise ConfigurationError(f"steps = {steps} must be >= 0")
        a = np.zeros((N,) + x.shape)
        s = np.zeros_like(a)
        A, S = [a], [s]
        for _ in range(steps):
            a, s = self._emitted(x, target, a, s)[:2]
            if record:
                A.append(a)
                S.append(s)
        if not record:
            A, S = [a], [s]
        times = ds[0] / self.speed * (np.arange(steps + 1) if record else np.array([steps]))
        return self._solution(x, target, times, A, S, steps)

    def rest(self, x, y) -> ContinuumSolution:
        """The rest state (fixed point), reached exactly by ``2 N`` characteristic steps."""
        return self.characteristic(x, y)
