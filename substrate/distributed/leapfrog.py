"""The staggered (Yee) leapfrog on the telegrapher discretisation, compiled with numba.

Voltages ``V^n`` live on the nodes at ``t_n = n dt``, currents ``I^{n+1/2}`` on the cells at
``t_{n+1/2}``; with the operators of :func:`~substrate.distributed.mol.discretise`

.. math::

    L_c \\frac{I^{n+1/2} - I^{n-1/2}}{\\Delta t} = -D V^n - R_c \\frac{I^{n+1/2} + I^{n-1/2}}{2},
    \\qquad
    C_n \\frac{V^{n+1} - V^n}{\\Delta t} = D^T I^{n+1/2} - G \\frac{V^{n+1} + V^n}{2} + J^{n+1/2},

where ``G`` holds the line shunt and the terminations' conductances (resistors, Thevenin source
resistances, ``1/Z0`` of reflecting loads), ``J`` their Norton currents (``v_s(t_{n+1/2})/R_s``,
``2 b/Z0`` with ``b`` the reflected wave), ``C_n`` includes terminating capacitors, and shorted
nodes stay at 0 V. Every update is explicit (``G`` and ``R_c`` are diagonal), the scheme is second
order in ``dt`` and ``dx``, stable for Courant number ``c dt/dx <= 1`` on every line, and the exact
shift on a uniform lossless line at Courant number 1. Results are read at the half steps, where
``(V^n + V^{n+1})/2`` and ``I^{n+1/2}`` are both second order and the undamped odd-even (period 2 dt)
mode that sources, terminations and junctions excite at Courant number 1 cancels.

Energy: ``E^n = 1/2 V^n C_n V^n + 1/2 I^{n+1/2} L_c I^{n-1/2}`` obeys exactly
``E^{n+1} - E^n = dt [Vbar (J - G Vbar) - 1/2 I^{n+1/2} R_c (Ibar^{n+1} + Ibar^n)]`` with
``Vbar = (V^{n+1} + V^n)/2`` and ``Ibar^n = (I^{n+1/2} + I^{n-1/2})/2``, so stored + dissipated =
injected holds to rounding.

A reflecting load ``b = reflect(a)`` is the one-port ``V = a + b``, ``i = (a - b)/Z0`` (``i`` into
the load): each step solves the node equation with ``Vbar = a + reflect(a)`` for the arriving wave
``a`` by Newton's method (a scalar, strictly monotone equation for a passive load, ``|reflect'| <= 1``),
so the load absorbs ``(a^2 - b^2)/Z0 >= 0``; ``reflect`` is compiled with numba for scalars.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numba
import numpy as np
from numba import types

from ..errors import ConfigurationError, NumericalError, check_positive
from .lines import Capacitor, Line, LineNetwork, Open, ReflectingLoad, Resistor, Short, Thevenin
from .mol import LineSolution, _cells_per_line, discretise, terminals

__all__ = ["leapfrog", "leapfrog_cells", "leapfrog_kernel", "update_coefficients", "compile_reflection", "MAX_HISTORY"]

MAX_HISTORY = 200_000_000  # recorded floats (time steps x unknowns): 1.6 GB
_REFLECT_SIGNATURE = types.float64(types.float64)


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def leapfrog_kernel(dt, left, right, alpha_i, beta_i, alpha_v, beta_v, src_node, src_current, refl_node, refl_z0,
                    refl_k, refl_c, reflect, cap, ind, res, first_cell, shunt_node, shunt_line, shunt,
                    V, I, load, stored, line_energy):
    """Advance the leapfrog from rest, recording every step (see module docstring).

    One pass over the cells per step updates the currents and gathers their energy, their series
    loss and their inflow into the nodes; one pass over the nodes updates the voltages and gathers
    their energy.

    Parameters
    ----------
    dt : float
        Time step in s.
    left, right : int64 arrays (n_cells,)
        Nodes at the two ends of each cell.
    alpha_i, beta_i : float arrays (n_cells,)
        Current update ``I <- alpha_i I - beta_i (V[right] - V[left])``: ``(L/dt - R/2)/(L/dt + R/2)``
        and ``1/(L/dt + R/2)`` (1/ohm).
    alpha_v, beta_v : float arrays (n_nodes,)
        Voltage update ``V <- alpha_v V + beta_v inflow``: ``(C/dt - G/2)/(C/dt + G/2)`` and
        ``1/(C/dt + G/2)`` (ohm), both 0 at shorted nodes.
    src_node : int64 array (n_sources,); src_current : float array (steps, n_sources)
        Norton currents (A) of the sources at the half steps.
    refl_node : int64 array (n_reflecting,); refl_z0, refl_k, refl_c : float arrays
        Reflecting loads: node, Z0 (ohm), ``2 C/dt + G`` and ``2 C/dt`` of the node (S).
    reflect : tuple of ``n_reflecting`` compiled ``float64(float64)`` functions, or None without
        reflecting loads (numba then compiles the kernel without first-class functions, whose typing
        at every call costs more than the rest of the dispatch)
    cap, ind, res : float arrays
        Node capacitance with terminating capacitors (F), cell inductance (H) and resistance (ohm).
    first_cell : int64 array (n_lines + 1,)
        Line k owns cells ``first_cell[k]`` to ``first_cell[k + 1] - 1``.
    shunt_node, shunt_line : int64 arrays; shunt : float array
        Each line's nonzero share of the node shunt conductance: node, line, value (S).
    V : float array (steps + 1, n_nodes)
        Receives ``V^n`` (V; row 0 the rest state, 0).
    I : float array (steps + 1, n_cells)
        Receives ``I^{n+1/2}`` (A).
    load : float array (steps, n_reflecting)
        Receives each reflecting load's current ``i^{n+1/2}`` (A, into the load).
    stored : float array (steps + 1,)
        Receives the discrete energy ``E^n`` (J).
    line_energy : float array (steps + 1, n_lines)
        Row n > 0 receives each line's dissipated energy in ``[t_{n-1}, t_n]`` (J); row 0 is 0.
    """
    steps = V.shape[0] - 1
    n_lines, n_nodes = first_cell.shape[0] - 1, V.shape[1]
    inflow = np.empty(n_nodes)
    nothing = np.zeros(I.shape[1])
    V[0] = 0.0
    line_energy[:] = 0.0
    node_energy = 0.0  # 1/2 V^n C_n V^n, times 2
    for n in range(steps + 1):
        v = V[n]  # V^n
        previous = I[n - 1] if n >= 1 else nothing  # I^{n-1/2}
        older = I[n - 2] if n >= 2 else nothing  # I^{n-3/2}
        current = I[n]  # I^{n+1/2}
        inflow[:] = 0.0
        energy = node_energy
        for k in range(n_lines):
            loss = 0.0
            for c in range(first_cell[k], first_cell[k + 1]):
                i = alpha_i[c] * previous[c] - beta_i[c] * (v[right[c]] - v[left[c]])
                current[c] = i
                energy += ind[c] * i * previous[c]
                # series loss over [t_{n-1}, t_n]: 1/2 I^{n-1/2} R (Ibar^{n-1} + Ibar^n) dt (zero at n = 0)
                loss += res[c] * previous[c] * (older[c] + 2.0 * previous[c] + i)
                inflow[left[c]] -= i
                inflow[right[c]] += i
            line_energy[n, k] += 0.25 * dt * loss
        stored[n] = 0.5 * energy
        if n == steps:
            break
        for s in range(src_node.shape[0]):
            inflow[src_node[s]] += src_current[n, s]
        if reflect is not None:  # numba prunes this branch when there are no reflecting loads
            for r in range(refl_node.shape[0]):
                # k (a + f(a)) + (a - f(a))/z = inflow + 2 C V/dt, i.e. k Vbar + i = ..., solved for a by Newton
                j, z, k, f = refl_node[r], refl_z0[r], refl_k[r], reflect[r]
                rhs = inflow[j] + refl_c[r] * v[j]
                a = 0.5 * v[j]
                for _ in range(50):
                    h = 1e-6 * (1.0 + abs(a))
                    slope = (f(a + h) - f(a - h)) / (2.0 * h)
                    fa = f(a)
                    step = (k * (a + fa) + (a - fa) / z - rhs) / (k * (1.0 + slope) + (1.0 - slope) / z)
                    a -= step
                    if abs(step) <= 1e-15 * (1.0 + abs(a)):
                        break
                fa = f(a)
                load[n, r] = (a - fa) / z
                inflow[j] -= load[n, r]
        following = V[n + 1]
        node_energy = 0.0
        for j in range(n_nodes):
            w = alpha_v[j] * v[j] + beta_v[j] * inflow[j]
            following[j] = w
            node_energy += cap[j] * w * w
        for e in range(shunt.shape[0]):  # shunt loss over [t_n, t_{n+1}]: G Vbar^2 dt
            mean = 0.5 * (v[shunt_node[e]] + following[shunt_node[e]])
            line_energy[n + 1, shunt_line[e]] += dt * shunt[e] * mean * mean


_compiled: dict = {}


def compile_reflection(reflect, node: str = "?"):
    """``reflect`` compiled by numba as a ``float64(float64)`` function (cached per function object)."""
    key = id(reflect)
    if key in _compiled and _compiled[key][0] is reflect:
        return _compiled[key][1]
    try:
        compiled = numba.njit(_REFLECT_SIGNATURE, cache=False)(reflect)
    except Exception as error:  # numba raises several error types for code it cannot compile
        raise ConfigurationError(
            f"integrator='leapfrog' compiles the ReflectingLoad at node {node!r} with numba for scalar arguments, "
            f"and that failed ({type(error).__name__}); write reflect with numpy/math scalar operations, or use a "
            f"solve_ivp integrator"
        ) from None
    _compiled[key] = (reflect, compiled)
    return compiled


def leapfrog_cells(network: LineNetwork, cells, dt) -> tuple[dict, float]:
    """Cells per line and the step in s so that every line runs at Courant number <= 1.

    With ``dt`` (s) each line gets ``floor(delay/dt)`` cells (Courant number as close to 1 as an
    integer cell count allows), unless ``cells`` is given, which is then checked. Without ``dt``,
    ``cells`` (default 100 per line) fixes ``dt = min(delay/cells)`` (Courant number 1 on the
    finest line).
    """
    delays = {name: line.delay for name, (line, _, _) in network.lines.items()}
    if dt is None:
        cells = _cells_per_line(network, 100 if cells is None else cells)
        return cells, min(delays[name] / cells[name] for name in delays)
    dt = check_positive("dt (s)", dt)
    if cells is None:
        for name, delay in delays.items():
            if delay < dt * (1 - 1e-9):
                raise ConfigurationError(
                    f"dt = {dt:g} s is longer than the delay {delay:g} s of line {name!r}: the leapfrog needs at least "
                    f"one cell per line at Courant number <= 1 (dt <= {min(delays.values()):g} s)"
                )
        return {name: max(1, int(math.floor(delay / dt * (1 + 1e-9)))) for name, delay in delays.items()}, dt
    cells = _cells_per_line(network, cells)
    for name, delay in delays.items():
        courant = dt * cells[name] / delay
        if courant > 1 + 1e-9:
            raise ConfigurationError(
                f"dt = {dt:g} s breaks the Courant limit on line {name!r}: Courant number c dt/dx = {courant:g} > 1 "
                f"with {cells[name]} cells (dt <= {delay / cells[name]:g} s)"
            )
    return cells, dt


@dataclass(frozen=True)
class _Plan:
    """Everything about a leapfrog run that depends on the network, cells, ``dt`` and method but not on
    ``t_end``: the discretisation, the kernel's coefficient arrays and the result's recipe."""

    disc: object
    ends: object
    dt: float
    reflect: tuple
    coefficients: tuple  # the kernel's arguments from left to shunt, but for dt and src_current
    src_node: np.ndarray
    src_g: np.ndarray
    n_net: int
    ports: dict  # port node -> (kind, network node index, group index, extra)
    resistor_nodes: np.ndarray
    resistor_ohms: np.ndarray
    source_nodes: np.ndarray
    source_ohms: np.ndarray
    positions: dict
    delays: dict


_PLANS = "_leapfrog_plans"  # the attribute of a LineNetwork that caches its plans (dropped when pickled)
_MAX_PLANS = 8  # plans kept per network (least recently made dropped first)


def _signature(network: LineNetwork) -> tuple:
    """What a plan depends on: the network's lines (name, Line, nodes) and terminations (frozen), and
    the count of changes to any Line's data (``Line._changes``; a change to one line remakes every
    network's plan, a rare and safe event)."""
    return Line._changes, tuple(network.lines.items()), tuple(network.terminations.items())


def _plan(network: LineNetwork, cells, dt, method: str) -> _Plan:
    """The cached :class:`_Plan` of ``network`` (made, and its inputs validated, on first use; remade
    when the network's lines or terminations change)."""
    try:
        key = (tuple(cells.items()) if isinstance(cells, dict) else cells, dt, method)
        hash(key)
    except TypeError:  # unhashable input: no caching, the checks below name the bad value
        key = None
    signature = _signature(network)
    plans = network.__dict__.setdefault(_PLANS, {})
    if key is not None and key in plans and plans[key][0] == signature:
        return plans[key][1]
    plan = _make_plan(network, cells, dt, method)
    if key is not None:
        plans.pop(key, None)
        plans[key] = (signature, plan)
        while len(plans) > _MAX_PLANS:
            plans.pop(next(iter(plans)))
    return plan


def update_coefficients(disc, ends, dt: float) -> tuple:
    """The leapfrog's update coefficients of a discretisation and its terminals at step ``dt`` (s).

    Returns ``(alpha_i, beta_i, alpha_v, beta_v)`` as :func:`leapfrog_kernel` takes them: per cell
    ``(L/dt - R/2)/(L/dt + R/2)`` and ``1/(L/dt + R/2)`` (1/ohm), per node ``(C/dt - G/2)/(C/dt + G/2)``
    and ``1/(C/dt + G/2)`` (ohm), with ``G`` the line shunt plus the terminations' conductances
    (both node coefficients 0 at shorted nodes).
    """
    g = disc.shunt + ends.conductance
    denominator_v = ends.cap / dt + 0.5 * g
    alpha_v = ends.mask * (ends.cap / dt - 0.5 * g) / denominator_v
    beta_v = ends.mask / denominator_v
    denominator_i = disc.ind / dt + 0.5 * disc.res
    alpha_i = (disc.ind / dt - 0.5 * disc.res) / denominator_i
    beta_i = 1.0 / denominator_i
    return alpha_i, beta_i, alpha_v, beta_v


def _make_plan(network: LineNetwork, cells, dt, method: str) -> _Plan:
    cells, dt = leapfrog_cells(network, cells, dt)
    disc = discretise(network, cells, method)
    ends = terminals(disc)
    ports = network.ports
    reflect = tuple(compile_reflection(r[5], ports[r[0]]) for r in ends.reflecting)
    g = disc.shunt + ends.conductance
    alpha_i, beta_i, alpha_v, beta_v = update_coefficients(disc, ends, dt)
    refl_node = np.array([r[1] for r in ends.reflecting], dtype=np.int64)
    refl_z0 = np.array([r[4] for r in ends.reflecting])
    shunt_line, shunt_node, shunt = disc.node_entries
    lossy = shunt != 0
    first_cell = disc.first_cell
    coefficients = (disc.left, disc.right, alpha_i, beta_i, alpha_v, beta_v)
    src_node = np.array([j for _, j, _ in ends.sources], dtype=np.int64)
    terms = (refl_node, refl_z0, 2 * ends.cap[refl_node] / dt + g[refl_node], 2 * ends.cap[refl_node] / dt,
             reflect or None, ends.cap, disc.ind, disc.res, first_cell, shunt_node[lossy], shunt_line[lossy],
             shunt[lossy])
    # the result's recipe: per port its kind, network node, index in its group, and the data it needs
    recipe = {}
    reflect_index = {r[0]: k for k, r in enumerate(ends.reflecting)}
    group_index = {p: k for group in (ends.resistors, ends.sources) for k, (p, _, _) in enumerate(group)}
    for p, (node, term) in enumerate(network.terminations.items()):
        j = disc.node_index[node]
        if isinstance(term, (Resistor, Thevenin)):
            recipe[node] = ("source" if isinstance(term, Thevenin) else "resistor", j, group_index[p], None)
        elif isinstance(term, Open):
            recipe[node] = ("open", j, 0, None)
        elif isinstance(term, Capacitor):
            recipe[node] = ("capacitor", j, 0, term.farads)
        elif isinstance(term, Short):  # the lines' current into the node
            cells_at = np.concatenate([np.flatnonzero(disc.right == j), np.flatnonzero(disc.left == j)])
            recipe[node] = ("short", j, 0, (cells_at, np.where(disc.right[cells_at] == j, 1.0, -1.0)))
        elif isinstance(term, ReflectingLoad):
            recipe[node] = ("reflecting", j, reflect_index[p], None)
    positions = {}
    for name, (line, _, _) in network.lines.items():
        x_v = np.linspace(0.0, line.length, disc.cells[name] + 1)
        x_i = 0.5 * (x_v[1:] + x_v[:-1])
        x_v.flags.writeable = x_i.flags.writeable = False  # shared by every result of this plan
        positions[name] = (x_v, x_i)
    return _Plan(disc, ends, dt, reflect, coefficients + (src_node,) + terms, src_node,
                 np.array([1.0 / term.resistance for _, _, term in ends.sources]), len(disc.node_index), recipe,
                 np.array([j for _, j, _ in ends.resistors], dtype=np.int64),
                 np.array([term.ohms for _, _, term in ends.resistors]), src_node,
                 np.array([term.resistance for _, _, term in ends.sources]), positions,
                 {name: line.delay for name, (line, _, _) in network.lines.items()})


def leapfrog(network: LineNetwork, t_end: float, cells=None, dt: float | None = None,
             method: str = "fd") -> LineSolution:
    """Simulate ``network`` from rest to ``t_end`` (s) by the compiled leapfrog; see :func:`~substrate.lines.simulate`.

    Reports t = 0 and every half step ``t_{n+1/2} = (n + 1/2) dt`` (``n < ceil(t_end/dt)``): node
    voltages ``(V^n + V^{n+1})/2``, port currents, field snapshots (``I^{n+1/2}``) and the exact
    discrete energy balance (see ``_solution``). The discretisation and the kernel's coefficients
    are made once per network, cells, ``dt`` and method and cached on the network (remade when its
    lines or terminations change); the result's waveforms are computed on first access.
    """
    t_end = check_positive("t_end (s)", t_end)
    plan = _plan(network, cells, dt, method)
    disc, dt = plan.disc, plan.dt
    steps = int(math.ceil(t_end / dt - 1e-9))
    if (steps + 1) * (disc.n_nodes + disc.n_cells) > MAX_HISTORY:
        raise ConfigurationError(
            f"the leapfrog would record {steps + 1} steps x {disc.n_nodes + disc.n_cells} unknowns, more than "
            f"{MAX_HISTORY} values; shorten t_end = {t_end:g} s or use fewer cells (dt = {dt:g} s)"
        )
    t = dt * np.arange(steps + 1)
    t_half = t[:-1] + 0.5 * dt
    sources = plan.ends.sources
    source_v = np.empty((steps, len(sources)))
    for k, (_, _, term) in enumerate(sources):
        source_v[:, k] = _sampled(term.waveform, t_half)
    V, Ih = np.empty((steps + 1, disc.n_nodes)), np.empty((steps + 1, disc.n_cells))
    load = np.empty((steps, len(plan.reflect)))
    stored, line_energy = np.empty(steps + 1), np.empty((steps + 1, len(network.lines)))
    left, right, alpha_i, beta_i, alpha_v, beta_v, src_node, *terms = plan.coefficients
    arguments = (dt, left, right, alpha_i, beta_i, alpha_v, beta_v, src_node, source_v * plan.src_g, *terms,
                 V, Ih, load, stored, line_energy)
    if plan.reflect:  # first-class functions: numba warns that they are experimental
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", numba.NumbaExperimentalFeatureWarning)
            leapfrog_kernel(*arguments)
    else:
        leapfrog_kernel(*arguments)
    if not (np.all(np.isfinite(V[-1])) and np.all(np.isfinite(Ih[-1]))):
        raise NumericalError("the leapfrog produced NaN or inf (a ReflectingLoad's reflect returned a non-finite value?)")
    return _solution(plan, t, V, Ih, load, source_v, stored, line_energy)


def _sampled(waveform, t: np.ndarray) -> np.ndarray:
    """``waveform(t)`` in V as a float array of the shape of ``t`` (a constant broadcasts)."""
    return np.broadcast_to(np.asarray(waveform(t), dtype=float), t.shape)


def _at_half_steps(increments: np.ndarray) -> np.ndarray:
    """Running sums of per-step increments, read at t = 0 and at the half steps: ``[0, C^n + inc_n/2]``."""
    running = np.cumsum(increments, axis=0)
    return np.concatenate([np.zeros((1,) + increments.shape[1:]), running - 0.5 * increments])


def _with_rest(values: np.ndarray) -> np.ndarray:
    """Prepend the rest state (zeros) at t = 0 to values at the half steps."""
    return np.concatenate([np.zeros((1,) + values.shape[1:]), values])


class _Lazy(Mapping):
    """A read-only mapping over ``keys`` whose values ``make(key)`` are computed on first access."""

    def __init__(self, keys, make):
        self._keys = keys if isinstance(keys, Mapping) else dict.fromkeys(keys)  # ordered, O(1) membership
        self._make, self._cache = make, {}

    def __getitem__(self, key):
        if key not in self._cache:
            if key not in self._keys:
                raise KeyError(key)
            self._cache[key] = self._make(key)
        return self._cache[key]

    def __iter__(self):
        return iter(self._keys)

    def __len__(self):
        return len(self._keys)


def _solution(plan: _Plan, t, V, Ih, load, source_v, stored, line_energy) -> LineSolution:
    """The result at t = 0 and at the half steps t_{n+1/2}, from the recorded histories.

    At ``t_{n+1/2}`` the scheme's own quantities are both second order: the voltage
    ``(V^n + V^{n+1})/2`` (what its trapezoidal terms use) and the current ``I^{n+1/2}``. Reading the
    voltage there also cancels the leapfrog's undamped odd-even mode (period 2 dt), which sources,
    terminations and junctions excite at Courant number 1 and which dominates ``V^n`` itself (at the
    benchmark's 64 junctions, 90 % of the error of ``V^n``). Energies are the means of their values at
    ``t_n`` and ``t_{n+1}``, so the balance stays exact.

    Every waveform is computed on first access (the mappings are :class:`_Lazy`): a caller that
    reads a few probes pays for those only.
    """
    disc, dt = plan.disc, plan.dt
    network = disc.network
    half = _with_rest(t[:-1] + 0.5 * dt)

    def mean_voltage(nodes):  # V at t_{n+1/2}: the mean of V^n and V^{n+1}, n = 0 .. steps - 1
        return 0.5 * (V[1:, nodes] + V[:-1, nodes])

    @functools.cache
    def net_voltage():  # network nodes come first
        return _with_rest(mean_voltage(slice(0, plan.n_net)))

    @functools.cache
    def group(is_source):
        """Port currents, dissipated and injected energies of all resistors or all sources at once."""
        nodes, ohms = (plan.source_nodes, plan.source_ohms) if is_source else (plan.resistor_nodes, plan.resistor_ohms)
        vs = source_v if is_source else 0.0
        drop = vs - mean_voltage(nodes)
        gain = _at_half_steps(dt * vs * drop / ohms) if is_source else None
        return _with_rest(drop / ohms), _at_half_steps(dt * drop**2 / ohms), gain

    zero = np.zeros_like(half)
    zero.flags.writeable = False  # shared by every port that carries no current or loss

    def port_current(node):
        kind, j, k, extra = plan.ports[node]
        if kind in ("resistor", "source"):
            return group(kind == "source")[0][:, k]
        if kind == "capacitor":  # the scheme's own C dV/dt over [t_n, t_{n+1}]
            return _with_rest(-extra * np.diff(V[:, j]) / dt)
        if kind == "short":  # the lines' current into the node, V = 0
            cells, signs = extra
            return _with_rest(-(Ih[:-1, cells] @ signs))
        if kind == "reflecting":  # the load's current at t_{n+1/2}, as the kernel used it
            return _with_rest(-load[:, k])
        return zero

    def port_dissipated(node):
        kind, j, k, _ = plan.ports[node]
        if kind in ("resistor", "source"):
            return group(kind == "source")[1][:, k]
        if kind == "reflecting":
            return _at_half_steps(dt * mean_voltage(j) * load[:, k])
        return zero

    @functools.cache
    def line_half():  # line_energy holds per-step increments; the running sums at t_n, read at the half steps
        running = np.cumsum(line_energy, axis=0)
        return _with_rest(0.5 * (running[1:] + running[:-1]))

    names = list(network.lines)
    line_index = {name: k for k, name in enumerate(names)}
    ports = network.ports
    return LineSolution(
        t=half, voltage=_Lazy(ports, lambda node: net_voltage()[:, plan.ports[node][1]]),
        current=_Lazy(ports, port_current),
        node_voltage=_Lazy(disc.node_index, lambda node: net_voltage()[:, disc.node_index[node]]),
        positions=MappingProxyType(plan.positions),
        V=_Lazy(names, lambda name: _with_rest(mean_voltage(disc.line_nodes[name]))),
        I=_Lazy(names, lambda name: _with_rest(Ih[:-1, disc.line_cells[name]])),
        stored=_with_rest(0.5 * (stored[1:] + stored[:-1])), dissipated=_Lazy(ports, port_dissipated),
        line_dissipated=_Lazy(names, lambda name: line_half()[:, line_index[name]]),
        injected=_Lazy([node for node in ports if plan.ports[node][0] == "source"],
                       lambda node: group(True)[2][:, plan.ports[node][2]]),
        dt=dt, nfev=len(t) - 1, delays=plan.delays,
    )
