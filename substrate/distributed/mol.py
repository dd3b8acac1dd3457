"""The method of lines for RLGC line networks: staggered FD / P1-P0 FEM in space, solve_ivp in time.

Space: on each line, voltages ``V`` live on ``N + 1`` nodes and currents ``I`` on the ``N`` cells
between them (a staggered pair that has no spurious odd-even mode). Both methods give

.. math::

    C_n \\dot V = D^T I - G_n V + i_{term}, \\qquad L_c \\dot I = -D V - R_c I,

with ``D`` the cell-node difference matrix (``(DV)_c = V_{right} - V_{left}``), lumped node
capacitances ``C_n`` and conductances ``G_n`` (``C' dx`` inside, half that at line ends) and cell
inductances ``L_c = L' dx``, resistances ``R_c = R' dx``. ``method="fd"`` writes these directly;
``method="fem"`` assembles them with scikit-fem (V in P1 with lumped mass, I in P0); on the uniform
meshes used here the two are the same matrices, which the tests check. Line ends that meet at a
node share one voltage unknown, so Kirchhoff's current law at junctions is built in.

Energy: ``W = 1/2 V^T C_n V + 1/2 I^T L_c I`` (plus terminating capacitors) obeys exactly
``dW/dt = -V^T G_n V - I^T R_c I + V^T i_term``; the state is augmented with the time integrals of
each line's dissipation, each port's dissipation and each source's injected power, so the balance
holds to the solver tolerance.

Time: any :func:`scipy.integrate.solve_ivp` method (implicit ones get the analytic sparse Jacobian),
``"leapfrog"`` (the compiled fixed-step staggered leapfrog of :mod:`substrate.distributed.leapfrog`),
or ``"characteristic"``: the exact fixed-step shift of forward and backward waves for lossless
(and distortionless) lines at Courant number 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from ..errors import ConfigurationError, NumericalError, check_positive, check_range
from .lines import (
    Capacitor, Line, LineNetwork, Open, ReflectingLoad, Resistor, Short, Termination, Thevenin,
    check_termination,
)

__all__ = ["simulate", "LineSolution", "Discretisation", "discretise", "terminals", "Terminals", "SOLVE_IVP_METHODS",
           "INTEGRATORS", "METHODS"]

SOLVE_IVP_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
IMPLICIT = ("Radau", "BDF", "LSODA")
INTEGRATORS = SOLVE_IVP_METHODS + ("leapfrog", "characteristic")
METHODS = ("fd", "fem")


# --------------------------------------------------------------------------------------------
# spatial operators of one line
# --------------------------------------------------------------------------------------------
def line_operators_fd(line: Line, cells: int):
    """Staggered finite differences: ``(cap, shunt, ind, res, D)`` of one line (SI units per node/cell)."""
    dx = line.length / cells
    weight = np.full(cells + 1, dx)
    weight[[0, -1]] = dx / 2
    rows = np.repeat(np.arange(cells), 2)
    cols = np.stack([np.arange(cells), np.arange(1, cells + 1)], axis=1).ravel()
    vals = np.tile([-1.0, 1.0], cells)
    D = sp.csr_matrix((vals, (rows, cols)), shape=(cells, cells + 1))
    return (line.capacitance * weight, line.conductance * weight, np.full(cells, line.inductance * dx),
            np.full(cells, line.resistance * dx), D)


def line_operators_fem(line: Line, cells: int):
    """scikit-fem assembly: V in P1 (lumped mass), I in P0; returns ``(cap, shunt, ind, res, D)``."""
    from skfem import Basis, BilinearForm, ElementLineP0, ElementLineP1, MeshLine, asm

    mesh = MeshLine(np.linspace(0.0, line.length, cells + 1))
    p1, p0 = Basis(mesh, ElementLineP1()), Basis(mesh, ElementLineP0())

    @BilinearForm
    def mass(u, v, _):
        return u * v

    @BilinearForm
    def gradient(u, v, _):  # trial V in P1, test psi in P0: int dV/ds psi
        return u.grad[0] * v

    lumped = np.asarray(asm(mass, p1).sum(axis=1)).ravel()
    cell_mass = asm(mass, p0).diagonal()
    # P1 dofs are the mesh vertices; sort them by position so that node j sits at s_j
    order = np.argsort(mesh.p[0])
    D = asm(gradient, p1, p0).tocsc()[:, order].tocsr()
    cell_order = np.argsort(mesh.p[0, mesh.t].mean(axis=0))
    D = D[cell_order]
    return (line.capacitance * lumped[order], line.conductance * lumped[order], line.inductance * cell_mass[cell_order],
            line.resistance * cell_mass[cell_order], D)


# --------------------------------------------------------------------------------------------
# the discretised network
# --------------------------------------------------------------------------------------------
@dataclass
class Discretisation:
    """The assembled semi-discrete system of a :class:`LineNetwork` (see module docstring).

    Global voltage unknowns: the network nodes first (in ``network.nodes`` order), then each line's
    interior nodes. Cell ``c`` (a current unknown) runs from node ``left[c]`` to node ``right[c]``
    (towards increasing s), so ``D`` has ``-1`` at ``(c, left[c])`` and ``+1`` at ``(c, right[c])``;
    ``cell_line[c]`` is the index (in ``network.lines`` order) of the line that owns it, and line k owns
    cells ``first_cell[k]`` to ``first_cell[k + 1] - 1``. ``node_entries = (line, node, shunt)`` lists
    every line's ``N + 1`` nodes with its share of ``G_n`` (the data of ``line_nodes`` and ``line_shunt``).
    ``line_nodes[name]`` are the global voltage indices of a line's ``N + 1`` nodes from s = 0 to
    s = length, ``line_cells[name]`` its slice of cell currents and ``line_shunt[name]`` its share of
    the node conductances ``G_n`` (S). ``cap`` (F), ``shunt`` (S) per node; ``ind`` (H), ``res``
    (ohm) per cell. This is the one telegrapher discretisation of the package: the solve_ivp
    integrators and the compiled leapfrog both advance it.
    """

    network: LineNetwork
    method: str
    cells: dict
    node_index: dict
    line_nodes: dict
    line_cells: dict
    line_shunt: dict
    cap: np.ndarray
    shunt: np.ndarray
    ind: np.ndarray
    res: np.ndarray
    D: sp.csr_matrix
    left: np.ndarray
    right: np.ndarray
    cell_line: np.ndarray
    first_cell: np.ndarray
    node_entries: tuple

    @property
    def n_nodes(self) -> int:
        return len(self.cap)

    @property
    def n_cells(self) -> int:
        return len(self.ind)

    @property
    def line_shunt_matrix(self) -> sp.csr_matrix:
        """``(n_lines, n_nodes)`` matrix whose row k holds line k's share of ``G_n`` at its nodes (S)."""
        line, node, shunt = self.node_entries
        return sp.csr_matrix((shunt, (line, node)), shape=(len(self.network.lines), self.n_nodes))

    @property
    def line_resistance_matrix(self) -> sp.csr_matrix:
        """``(n_lines, n_cells)`` matrix whose row k holds line k's cell resistances ``R_c`` (ohm)."""
        return sp.csr_matrix((self.res, (self.cell_line, np.arange(self.n_cells))),
                             shape=(len(self.network.lines), self.n_cells))


def _cells_per_line(network: LineNetwork, cells) -> dict:
    if isinstance(cells, dict):
        unknown = set(cells) - set(network.lines)
        if unknown:
            raise ConfigurationError(f"cells given for unknown lines {sorted(unknown)}; lines are {list(network.lines)}")
        missing = set(network.lines) - set(cells)
        if missing:
            raise ConfigurationError(f"cells missing for lines {sorted(missing)}")
        result = dict(cells)
    else:
        result = {name: cells for name in network.lines}
    for name, n in result.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigurationError(f"cells for line {name!r} = {n!r} must be an integer >= 1")
    return {name: int(n) for name, n in result.items()}


def _line_arrays(network: LineNetwork) -> dict:
    """Per-line parameters as arrays in ``network.lines`` order (m, ohm/m, H/m, S/m, F/m)."""
    lines = [line for line, _, _ in network.lines.values()]
    return {key: np.array([getattr(line, key) for line in lines])
            for key in ("length", "resistance", "inductance", "conductance", "capacitance")}


def discretise(network: LineNetwork, cells=100, method: str = "fd") -> Discretisation:
    """Assemble the semi-discrete system of ``network`` with ``cells`` per line (int or dict by line).

    Vectorised over lines and cells for ``method="fd"``; ``"fem"`` assembles each line with
    scikit-fem and joins them the same way.
    """
    if method not in METHODS:
        raise ConfigurationError(f"method = {method!r} is not one of {list(METHODS)}")
    cells = _cells_per_line(network, cells)
    names = list(network.lines)
    node_index = {node: i for i, node in enumerate(network.nodes)}
    N = np.array([cells[name] for name in names])
    start = np.array([node_index[s] for _, s, _ in network.lines.values()])
    end = np.array([node_index[e] for _, _, e in network.lines.values()])
    n_net, n_lines = len(node_index), len(names)
    first_cell = np.concatenate([[0], np.cumsum(N)])
    first_node = np.concatenate([[0], np.cumsum(N + 1)])  # offsets into the per-line node lists
    first_interior = n_net + np.concatenate([[0], np.cumsum(N - 1)])
    n_nodes, n_cells = int(first_interior[-1]), int(first_cell[-1])

    def global_node(owner, m):
        """Global voltage index of local node ``m`` (0..N) of line ``owner``."""
        return np.where(m == 0, start[owner], np.where(m == N[owner], end[owner], first_interior[owner] + m - 1))

    cell_line = np.repeat(np.arange(n_lines), N)
    local = np.arange(n_cells) - first_cell[cell_line]
    left, right = global_node(cell_line, local), global_node(cell_line, local + 1)
    node_line = np.repeat(np.arange(n_lines), N + 1)
    node_local = np.arange(int(first_node[-1])) - first_node[node_line]
    nodes = global_node(node_line, node_local)
    if method == "fd":
        p = _line_arrays(network)
        dx = p["length"] / N
        weight = dx[node_line] * np.where((node_local == 0) | (node_local == N[node_line]), 0.5, 1.0)
        c_entries, g_entries = p["capacitance"][node_line] * weight, p["conductance"][node_line] * weight
        ind, res = (p["inductance"] * dx)[cell_line], (p["resistance"] * dx)[cell_line]
    else:
        parts = [line_operators_fem(line, cells[name]) for name, (line, _, _) in network.lines.items()]
        c_entries, g_entries, ind, res = (np.concatenate([part[k] for part in parts]) for k in range(4))
    cap = np.bincount(nodes, c_entries, minlength=n_nodes)
    shunt = np.bincount(nodes, g_entries, minlength=n_nodes)
    D = sp.csr_matrix((np.tile([-1.0, 1.0], n_cells), np.stack([left, right], axis=1).ravel(),
                       np.arange(0, 2 * n_cells + 1, 2)), shape=(n_cells, n_nodes))
    D.sort_indices()
    line_nodes = {name: nodes[first_node[k]:first_node[k + 1]] for k, name in enumerate(names)}
    line_cells = {name: slice(int(first_cell[k]), int(first_cell[k + 1])) for k, name in enumerate(names)}
    line_shunt = {name: g_entries[first_node[k]:first_node[k + 1]] for k, name in enumerate(names)}
    return Discretisation(network, method, cells, node_index, line_nodes, line_cells, line_shunt, cap, shunt, ind,
                          res, D, left, right, cell_line, first_cell, (node_line, nodes, g_entries))


# --------------------------------------------------------------------------------------------
# the solution
# --------------------------------------------------------------------------------------------
@dataclass
class LineSolution:
    """Result of :func:`simulate`.

    Attributes
    ----------
    t : ndarray, shape (n_t,)
        Sample times in s.
    voltage : dict port -> ndarray
        Port (terminated node) voltages in V.
    current : dict port -> ndarray
        Current flowing from the termination INTO the lines at each port, in A.
    node_voltage : dict node -> ndarray
        Voltage of every network node (junctions included) in V.
    positions : dict line -> (x_v, x_i)
        Positions in m of the voltage samples and of the current samples of each line.
    V, I : dict line -> ndarray, shapes (n_t, len(x_v)) and (n_t, len(x_i))
        Field snapshots ``V(s, t)`` in V and ``I(s, t)`` in A (current toward increasing s).
    stored : ndarray
        Stored energy in J: ``1/2 C' V^2 + 1/2 L' I^2`` integrated over every line with the scheme's
        quadrature, plus ``1/2 C V^2`` of terminating capacitors.
    dissipated : dict port -> ndarray
        Energy in J absorbed by each termination (source resistance of a Thevenin port; a
        ReflectingLoad's absorbed energy; 0 for open, short and capacitor).
    line_dissipated : dict line -> ndarray
        Energy in J dissipated in R' and G' of each line.
    injected : dict port -> ndarray
        Energy in J delivered by each Thevenin source's ideal voltage source.
    dt : float or None
        The fixed step in s of the characteristic integrator.
    nfev : int
        Right-hand-side evaluations (steps for the characteristic integrator).

    The leapfrog gives read-only mappings in place of the dicts, whose arrays are computed on first
    access (and then kept).
    """

    t: np.ndarray
    voltage: dict
    current: dict
    node_voltage: dict
    positions: dict
    V: dict
    I: dict
    stored: np.ndarray
    dissipated: dict
    line_dissipated: dict
    injected: dict
    dt: float | None = None
    nfev: int = 0
    delays: dict = field(default_factory=dict)

    @property
    def total_dissipated(self) -> np.ndarray:
        """All dissipated energy (terminations and lines) in J against time."""
        return sum(self.dissipated.values()) + sum(self.line_dissipated.values())

    @property
    def total_injected(self) -> np.ndarray:
        """All injected energy in J against time."""
        return sum(self.injected.values()) + np.zeros_like(self.t)

    @property
    def energy_error(self) -> float:
        """``max_t |stored + dissipated - injected| / max_t injected`` (dimensionless)."""
        scale = max(float(np.max(np.abs(self.total_injected))), 1e-300)
        return float(np.max(np.abs(self.stored + self.total_dissipated - self.total_injected)) / scale)


# --------------------------------------------------------------------------------------------
# validation shared by the integrators
# --------------------------------------------------------------------------------------------
def _network(target, source, load) -> LineNetwork:
    if isinstance(target, Line):
        if source is None or load is None:
            raise ConfigurationError("simulating a single Line needs source= and load= terminations")
        check_termination("source", source)
        check_termination("load", load)
        return LineNetwork.single(target, source, load)
    if isinstance(target, LineNetwork):
        if source is not None or load is not None:
            raise ConfigurationError("source= and load= are only for a single Line; a LineNetwork carries its terminations")
        return target
    raise ConfigurationError(f"simulate needs a Line or a LineNetwork, got {type(target).__name__}")


def simulate(target, *, t_end: float, cells=None, method: str = "fd", integrator: str = "RK45",
             source: Termination | None = None, load: Termination | None = None, samples: int = 501,
             rtol: float = 1e-6, atol: float = 1e-9, max_step: float | None = None, dt: float | None = None,
             ) -> LineSolution:
    """Simulate a line or a line network from rest.

    Parameters
    ----------
    target : Line or LineNetwork
        A single line (then give ``source`` at s = 0 and ``load`` at s = length; ports are named
        ``"source"`` and ``"load"``) or a network with its own terminations.
    t_end : float
        End time in s (> 0).
    cells : int or dict, optional
        Cells per line (or per line name); default 100. For ``"characteristic"`` the cells follow
        from ``dt`` when ``dt`` is given; for ``"leapfrog"`` with ``dt`` and no ``cells`` each line
        gets ``floor(delay/dt)`` cells (Courant number <= 1, as close to 1 as possible).
    method : {"fd", "fem"}
        Spatial discretisation (staggered finite differences or scikit-fem P1/P0 lumped).
    integrator : str
        Any :func:`~scipy.integrate.solve_ivp` method; ``"leapfrog"``: the compiled staggered
        (Yee) leapfrog at a fixed step, second order, Courant number <= 1 on every line, any
        lines and terminations (:mod:`substrate.distributed.leapfrog`); or ``"characteristic"``
        (exact shift at Courant number 1; lossless or distortionless lines only).
    source, load : Termination
        Terminations of a single line.
    samples : int
        Output samples, uniformly spaced over ``[0, t_end]`` (solve_ivp integrators; the characteristic
        integrator reports every step ``n dt``, the leapfrog t = 0 and every half step ``(n + 1/2) dt``).
    rtol, atol : float
        Solver tolerances; ``atol`` in V for node voltages (``atol / Z`` in A for currents, with the
        smallest line impedance ``Z``; the energy integrals are held to ``rtol`` alone). The energy
        balance holds to about ``rtol``.
    max_step : float, optional
        Largest solver step in s; default one cell transit time (so no source edge is stepped over).
    dt : float, optional
        Fixed step in s of the leapfrog (Courant number ``dt cells / delay <= 1`` on every line;
        default ``min(delay/cells)``) or of the characteristic integrator (Courant number exactly 1).

    Returns
    -------
    LineSolution
    """
    network = _network(target, source, load)
    t_end = check_positive("t_end (s)", t_end)
    if method not in METHODS:
        raise ConfigurationError(f"method = {method!r} is not one of {list(METHODS)}")
    if integrator == "characteristic":  # the exact shift needs no spatial operator: method is irrelevant
        return _characteristic(network, t_end, 100 if cells is None else cells, dt)
    if integrator == "leapfrog":
        from .leapfrog import leapfrog

        return leapfrog(network, t_end, cells, dt, method)
    if integrator not in SOLVE_IVP_METHODS:
        raise ConfigurationError(f"integrator = {integrator!r} is not one of {list(INTEGRATORS)}")
    if dt is not None:
        raise ConfigurationError(f"dt = {dt!r} is a fixed step for integrator='leapfrog' or 'characteristic' only; "
                                 f"{integrator} chooses its own steps (use max_step)")
    cells = 100 if cells is None else cells
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ConfigurationError(f"samples = {samples!r} must be an integer >= 2")
    rtol = check_range("rtol", rtol, 0.0, 1.0, low_inclusive=False)
    atol = check_range("atol", atol, 0.0, None, low_inclusive=False)
    disc = discretise(network, cells, method)
    transit = min(line.delay / disc.cells[name] for name, (line, _, _) in network.lines.items())
    if max_step is None:
        max_step = transit
    elif not (isinstance(max_step, (int, float)) and max_step > 0):  # inf allowed
        raise ConfigurationError(f"max_step = {max_step!r} must be a positive number of seconds (inf allowed)")
    return _method_of_lines(disc, t_end, integrator, samples, rtol, atol, max_step)


# --------------------------------------------------------------------------------------------
# method of lines with solve_ivp
# --------------------------------------------------------------------------------------------
def _slope(function, a):
    """Central-difference derivative of a user's scalar map, elementwise."""
    h = 1e-6 * (1.0 + np.abs(a))
    return (np.asarray(function(a + h), dtype=float) - np.asarray(function(a - h), dtype=float)) / (2 * h)


@dataclass
class Terminals:
    """The terminations of a discretised network as node data (shared by the time integrators).

    ``cap`` is the node capacitance with terminating capacitors added (F), ``conductance`` the
    terminations' conductance to ground per node (resistors and Thevenin source resistances, S),
    ``mask`` 0 at shorted nodes and 1 elsewhere; ``sources`` and ``resistors`` hold
    ``(port, node, termination)``, ``reflecting`` holds ``(port, node, cell, sign, z0, reflect)``
    with the line-end cell, the sign of its current towards the load and the line's impedance.
    """

    cap: np.ndarray
    conductance: np.ndarray
    mask: np.ndarray
    sources: list
    resistors: list
    reflecting: list


def terminals(disc: Discretisation) -> Terminals:
    """Collect the terminations of ``disc.network`` onto the discretisation's voltage nodes."""
    network = disc.network
    cap, conductance, mask = disc.cap.copy(), np.zeros(disc.n_nodes), np.ones(disc.n_nodes)
    sources, resistors, reflecting = [], [], []
    for p, (node, term) in enumerate(network.terminations.items()):
        j = disc.node_index[node]
        if isinstance(term, Thevenin):
            conductance[j] += 1.0 / term.resistance
            sources.append((p, j, term))
        elif isinstance(term, Resistor):
            conductance[j] += 1.0 / term.ohms
            resistors.append((p, j, term))
        elif isinstance(term, Capacitor):
            cap[j] += term.farads
        elif isinstance(term, Short):
            mask[j] = 0.0
        elif isinstance(term, ReflectingLoad):
            name, (line, start, end) = next((n, s) for n, s in network.lines.items() if node in s[1:])
            cell = disc.line_cells[name].stop - 1 if node == end else disc.line_cells[name].start
            sign = 1.0 if node == end else -1.0
            reflecting.append((p, j, cell, sign, line.characteristic_impedance, term.reflect))
    return Terminals(cap, conductance, mask, sources, resistors, reflecting)


def _method_of_lines(disc: Discretisation, t_end, integrator, samples, rtol, atol, max_step) -> LineSolution:
    network = disc.network
    nV, nI = disc.n_nodes, disc.n_cells
    ports = network.ports
    lines = list(network.lines)
    ends = terminals(disc)
    cap, conductance, mask = ends.cap, ends.conductance, ends.mask
    sources, resistors, reflecting = ends.sources, ends.resistors, ends.reflecting
    scale = mask / cap
    n_lines, n_ports = len(lines), len(ports)
    nE = n_lines + 2 * n_ports  # line dissipation, port dissipation, port injection
    n = nV + nI + nE
    D, DT = disc.D, disc.D.T.tocsr()
    total_shunt = disc.shunt + conductance
    src_nodes = np.array([j for _, j, _ in sources], dtype=int)
    src_g = np.array([1.0 / term.resistance for _, _, term in sources])
    src_ports = np.array([p for p, _, _ in sources], dtype=int)
    res_ports = np.array([p for p, _, _ in resistors], dtype=int)
    res_nodes = np.array([j for _, j, _ in resistors], dtype=int)
    res_g = np.array([1.0 / term.ohms for _, _, term in resistors])

    line_shunt_matrix, line_res_matrix = disc.line_shunt_matrix, disc.line_resistance_matrix

    def source_values(t):
        return np.array([float(term.waveform(t)) for _, _, term in sources])

    def reflecting_currents(V, I):
        """Current INTO the node, and the load's absorbed power, per reflecting load."""
        out = []
        for _, j, c, sign, z0, reflect in reflecting:
            a = 0.5 * (V[j] + z0 * sign * I[c])
            b = float(np.asarray(reflect(np.asarray(a)), dtype=float))
            i_load = (V[j] - 2.0 * b) / z0
            out.append((j, c, sign, z0, reflect, a, i_load))
        return out

    def rhs(t, y):
        V, I = y[:nV], y[nV:nV + nI]
        inflow = DT @ I - total_shunt * V
        vs = source_values(t)
        if len(sources):
            np.add.at(inflow, src_nodes, vs * src_g)
        refl = reflecting_currents(V, I)
        for j, _, _, _, _, _, i_load in refl:
            inflow[j] -= i_load
        dy = np.empty(n)
        dy[:nV] = scale * inflow
        dy[nV:nV + nI] = -(D @ V + disc.res * I) / disc.ind
        e = dy[nV + nI:]
        e[:n_lines] = line_shunt_matrix @ V**2 + line_res_matrix @ I**2
        e[n_lines:] = 0.0
        if len(sources):
            i = (vs - V[src_nodes]) * src_g
            e[n_lines + src_ports] = i * i / src_g
            e[n_lines + n_ports + src_ports] = vs * i
        if len(resistors):
            e[n_lines + res_ports] = V[res_nodes] ** 2 * res_g
        for (p, *_), (j, _, _, _, _, _, i_load) in zip(reflecting, refl):
            e[n_lines + p] = V[j] * i_load
        return dy

    # constant part of the Jacobian
    Sv = sp.diags(scale)
    base = sp.bmat([
        [-Sv @ sp.diags(total_shunt), Sv @ DT, None],
        [-sp.diags(1 / disc.ind) @ D, -sp.diags(disc.res / disc.ind), None],
        [None, None, sp.csr_matrix((nE, nE))],
    ], format="csr")

    def jac(t, y):
        V, I = y[:nV], y[nV:nV + nI]
        rows, cols, vals = [], [], []

        def add(r, c, v):
            rows.append(np.atleast_1d(r)), cols.append(np.atleast_1d(c)), vals.append(np.atleast_1d(v).astype(float))

        dV = (line_shunt_matrix @ sp.diags(2 * V)).tocoo()
        add(nV + nI + dV.row, dV.col, dV.data)
        dI = (line_res_matrix @ sp.diags(2 * I)).tocoo()
        add(nV + nI + dI.row, nV + dI.col, dI.data)
        vs = source_values(t)
        for (p, j, term), v in zip(sources, vs):
            add(nV + nI + n_lines + p, j, -2 * (v - V[j]) / term.resistance)
            add(nV + nI + n_lines + n_ports + p, j, -v / term.resistance)
        for p, j, term in resistors:
            add(nV + nI + n_lines + p, j, 2 * V[j] / term.ohms)
        for (p, *_), (j, c, sign, z0, reflect, a, i_load) in zip(reflecting, reflecting_currents(V, I)):
            g1 = float(_slope(reflect, np.asarray(a)))
            di_dV, di_dI = (1.0 - g1) / z0, -g1 * sign
            add([j, j], [j, nV + c], [-scale[j] * di_dV, -scale[j] * di_dI])
            add([nV + nI + n_lines + p] * 2, [j, nV + c], [i_load + V[j] * di_dV, V[j] * di_dI])
        if not rows:
            return base
        extra = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        return (base + extra).tocsc()

    t_eval = np.linspace(0.0, t_end, samples)
    z_min = min(line.characteristic_impedance for line, _, _ in network.lines.values())
    atol_vector = np.concatenate([np.full(nV, atol), np.full(nI, atol / z_min), np.full(nE, 1e-20)])
    options = dict(method=integrator, t_eval=t_eval, rtol=rtol, atol=atol_vector, max_step=max_step)
    if integrator in IMPLICIT:
        options["jac"] = jac
    solution = solve_ivp(rhs, (0.0, t_end), np.zeros(n), **options)
    if not solution.success:
        raise NumericalError(f"solve_ivp ({integrator}) failed: {solution.message}")
    Y = solution.y
    if not np.all(np.isfinite(Y)):
        raise NumericalError("the line simulation produced NaN or inf")
    V, I, E = Y[:nV], Y[nV:nV + nI], Y[nV + nI:]
    # port currents INTO the lines
    inflow = DT @ I - disc.shunt[:, None] * V
    current = {}
    for p, (node, term) in enumerate(network.terminations.items()):
        j = disc.node_index[node]
        if isinstance(term, Thevenin):
            current[node] = (term.waveform(solution.t) - V[j]) / term.resistance
        elif isinstance(term, Resistor):
            current[node] = -V[j] / term.ohms
        elif isinstance(term, Open):
            current[node] = np.zeros_like(solution.t)
        elif isinstance(term, Short):
            current[node] = -inflow[j]
        elif isinstance(term, Capacitor):
            # C dV/dt from the node's own balance, with the node's total capacitance
            current[node] = -term.farads * (inflow[j] - conductance[j] * V[j]) / cap[j]
        elif isinstance(term, ReflectingLoad):
            _, _, c, sign, z0, reflect = next(r for r in reflecting if r[0] == p)
            a = 0.5 * (V[j] + z0 * sign * I[c])
            current[node] = -(V[j] - 2.0 * np.asarray(reflect(a), dtype=float)) / z0
    stored = 0.5 * (cap @ V**2) + 0.5 * (disc.ind @ I**2)
    positions, fields_V, fields_I = {}, {}, {}
    for name, (line, _, _) in network.lines.items():
        N = disc.cells[name]
        x_v = np.linspace(0.0, line.length, N + 1)
        positions[name] = (x_v, 0.5 * (x_v[1:] + x_v[:-1]))
        fields_V[name] = V[disc.line_nodes[name]].T
        fields_I[name] = I[disc.line_cells[name]].T
    return LineSolution(
        t=solution.t,
        voltage={node: V[disc.node_index[node]] for node in ports},
        current=current,
        node_voltage={node: V[j] for node, j in disc.node_index.items()},
        positions=positions, V=fields_V, I=fields_I, stored=stored,
        dissipated={node: E[n_lines + p] for p, node in enumerate(ports)},
        line_dissipated={name: E[k] for k, name in enumerate(lines)},
        injected={node: E[n_lines + n_ports + p] for p, node in enumerate(ports)
                  if isinstance(network.terminations[node], Thevenin)},
        nfev=solution.nfev,
        delays={name: line.delay for name, (line, _, _) in network.lines.items()},
    )


# --------------------------------------------------------------------------------------------
# the characteristic (exact shift) integrator
# --------------------------------------------------------------------------------------------
def _characteristic(network: LineNetwork, t_end: float, cells, dt) -> LineSolution:
    for name, (line, _, _) in network.lines.items():
        if not line.distortionless:
            raise ConfigurationError(
                f"integrator='characteristic' is exact only for lossless or distortionless lines; line {name!r} has "
                f"R'/L' = {line.resistance / line.inductance:g} 1/s != G'/C' = {line.conductance / line.capacitance:g} 1/s"
            )
    if dt is None:
        cells = _cells_per_line(network, cells)
        dts = {name: line.delay / cells[name] for name, (line, _, _) in network.lines.items()}
        dt = min(dts.values())
        for name, (line, _, _) in network.lines.items():
            ratio = line.delay / dt
            if abs(ratio - round(ratio)) > 1e-9 * ratio:
                raise ConfigurationError(
                    f"integrator='characteristic' needs Courant number 1 on every line: line {name!r} (delay "
                    f"{line.delay:g} s) is not an integer number of steps dt = {dt:g} s; choose cells per line accordingly"
                )
            cells[name] = int(round(ratio))
    else:
        dt = check_positive("dt (s)", dt)
        given = None if isinstance(cells, dict) else cells
        cells = {}
        for name, (line, _, _) in network.lines.items():
            ratio = line.delay / dt
            if given is not None and not isinstance(given, bool) and isinstance(given, (int, np.integer)):
                courant = dt * given / line.delay
                if courant > 1 + 1e-9:
                    raise ConfigurationError(
                        f"dt = {dt:g} s breaks the Courant limit on line {name!r}: Courant number c dt/dx = {courant:g} > 1 "
                        f"(dx/c = {line.delay / given:g} s)"
                    )
            if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-9 * ratio:
                raise ConfigurationError(
                    f"dt = {dt:g} s: the characteristic shift needs Courant number exactly 1, i.e. delay/dt an integer, "
                    f"on line {name!r} (delay {line.delay:g} s, delay/dt = {ratio:g}); a larger dt breaks the Courant limit"
                )
            cells[name] = int(round(ratio))
    steps = int(math.ceil(t_end / dt - 1e-9))
    t = dt * np.arange(steps + 1)
    names = list(network.lines)
    Z = {name: network.lines[name][0].characteristic_impedance for name in names}
    kappa = {name: math.exp(-network.lines[name][0].attenuation * network.lines[name][0].length / cells[name])
             for name in names}
    a = {name: np.zeros(cells[name] + 1) for name in names}  # forward waves at nodes s_j, V
    b = {name: np.zeros(cells[name] + 1) for name in names}  # backward waves
    ends = {node: [] for node in network.nodes}  # (line, is_end)
    for name, (_, start, end) in network.lines.items():
        ends[start].append((name, False))
        ends[end].append((name, True))
    node_v = {node: np.zeros(steps + 1) for node in network.nodes}
    port_i = {node: np.zeros(steps + 1) for node in network.ports}
    cap_state = {node: [0.0, 0.0] for node, term in network.terminations.items() if isinstance(term, Capacitor)}
    fields_V = {name: np.zeros((steps + 1, cells[name] + 1)) for name in names}
    fields_I = {name: np.zeros((steps + 1, cells[name] + 1)) for name in names}
    line_power = {name: np.zeros(steps + 1) for name in names}
    stored = np.zeros(steps + 1)

    def solve_nodes(n):
        time = t[n]
        for node, attached in ends.items():
            arriving = [(a[name][-1] if is_end else b[name][0], Z[name]) for name, is_end in attached]
            term = network.terminations.get(node)
            G = sum(1.0 / z for _, z in arriving)
            J = sum(2.0 * w / z for w, z in arriving)
            if isinstance(term, Short):
                v = 0.0
            elif isinstance(term, ReflectingLoad):
                w = arriving[0][0]
                v = w + float(np.asarray(term.reflect(np.asarray(w)), dtype=float))
            else:
                if isinstance(term, Thevenin):
                    G += 1.0 / term.resistance
                    J += float(term.waveform(time)) / term.resistance
                elif isinstance(term, Resistor):
                    G += 1.0 / term.ohms
                elif isinstance(term, Capacitor) and n > 0:
                    v_old, i_old = cap_state[node]
                    G += 2 * term.farads / dt
                    J += 2 * term.farads / dt * v_old + i_old
                v = J / G
            for name, is_end in attached:
                if is_end:
                    b[name][-1] = v - a[name][-1]
                else:
                    a[name][0] = v - b[name][0]
            node_v[node][n] = v
            if term is not None:
                into_lines = sum((v - 2 * w) / z for w, z in arriving)  # = -(sum of currents lines deliver)
                port_i[node][n] = into_lines
                if isinstance(term, Capacitor):
                    v_old, i_old = cap_state[node]
                    i_cap = 2 * term.farads / dt * (v - v_old) - i_old if n > 0 else 0.0
                    cap_state[node] = [v, i_cap]

    for n in range(steps + 1):
        if n > 0:
            for name in names:
                a[name][1:] = kappa[name] * a[name][:-1]
                b[name][:-1] = kappa[name] * b[name][1:]
        solve_nodes(n)
        for name in names:
            line = network.lines[name][0]
            volt, curr = a[name] + b[name], (a[name] - b[name]) / Z[name]
            fields_V[name][n], fields_I[name][n] = volt, curr
            x = np.linspace(0, line.length, cells[name] + 1)
            stored[n] += np.trapezoid(line.capacitance * (a[name] ** 2 + b[name] ** 2), x)
            line_power[name][n] = np.trapezoid(line.resistance * curr**2 + line.conductance * volt**2, x)
    for node, term in network.terminations.items():
        if isinstance(term, Capacitor):
            stored += 0.5 * term.farads * node_v[node] ** 2

    def integral(power):
        return np.concatenate([[0.0], np.cumsum(0.5 * (power[1:] + power[:-1]) * dt)])

    dissipated, injected = {}, {}
    for node, term in network.terminations.items():
        v, i = node_v[node], port_i[node]
        if isinstance(term, Thevenin):
            vs = term.waveform(t)
            dissipated[node] = integral((vs - v) ** 2 / term.resistance)
            injected[node] = integral(vs * (vs - v) / term.resistance)
        elif isinstance(term, (Resistor, ReflectingLoad)):
            dissipated[node] = integral(-v * i)
        else:
            dissipated[node] = np.zeros_like(t)
    positions = {name: (np.linspace(0, network.lines[name][0].length, cells[name] + 1),) * 2 for name in names}
    return LineSolution(
        t=t, voltage={node: node_v[node] for node in network.ports}, current=port_i, node_voltage=node_v,
        positions=positions, V=fields_V, I=fields_I, stored=stored, dissipated=dissipated,
        line_dissipated={name: integral(line_power[name]) for name in names}, injected=injected, dt=dt,
        nfev=steps, delays={name: network.lines[name][0].delay for name in names},
    )
