"""Lossy RLC lines in the trainer: the method of lines on the package's one telegrapher discretisation.

:mod:`circuits.schedule_engine` keeps each line as a ring buffer of its emissions, which is exact for
a lossless (or distortionless) line and cannot hold a dispersive one. Here every line of the trainer
(each link line per neuron and sample, each delay stub) is an RLC line of impedance ``z0``, delay
``d`` and series resistance ``R d / td`` (``L' = z0 d / len``, ``C' = d / (z0 len)``, ``R' = R d /
(td len)``), discretised by :func:`substrate.distributed.mol.discretise` (staggered finite
differences: ``N`` cells, half-cell capacitances at the ends) and advanced by the staggered leapfrog
of :mod:`substrate.distributed.leapfrog` with its coefficients (:func:`update_coefficients`), at
one common step ``dt = td / S`` (``S`` an integer, so every source switches on a step) at Courant
number 1 on every cell (checked by :func:`leapfrog_cells`); the part of a line's delay beyond whole
steps (delay spread) is a fractional delay at its far end (:class:`Ladders`).

The junctions are algebraic at the line ends, as in the exported netlist: link ``k``'s near end is
driven by ``E_f = 2 f(z)`` behind the junction source resistance ``R_s``, its far end by the backward
source ``E_b`` behind ``R_s``, and each end reads the arriving wave as ``v(end) - E/2``. At the half
step ``t_{n+1/2}`` the scheme's end voltage is ``Vbar = P + Q E`` (``Q = beta_v / (2 R_s)``), so the
arriving wave ``P + (2Q - 1) E/2`` depends on the emission itself unless ``2Q = 1`` (matched ends at
Courant number 1: one evaluation). Otherwise the junction field (:func:`schedule_engine._evaluate`,
i.e. :func:`circuits.junctions.junction_field` with the loss-port switch, stub pairing, gain and
noise) is iterated to a fixed point (relative change <= 1e-13). Delay stubs are matched lines: a
source ``2 v`` behind ``z0`` at the near end, ``z0`` at the far end, whose voltage is read.

Ports: ``dtheta/dt = -rate e - leak theta`` with the effort ``e`` at the half step, evaluated at the
predicted midpoint (``theta^n + dt/2`` times the last slope for live ports, the held or zero effort's
slope otherwise) and the leak trapezoidal; second order. A sample-and-hold port samples at the first
half step after the gate opens, with the parameters of the gate's start.
Energy: the leapfrog's discrete energy ``1/2 V C V + 1/2 I^{n+1/2} L I^{n-1/2}`` changes by exactly
the source, termination and series-resistor terms booked here, and the port terms are booked at the
mean ``(theta^n + theta^{n+1})/2``, so the ledger closes to rounding.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from substrate.distributed.leapfrog import leapfrog_cells, update_coefficients
from substrate.distributed.lines import Line, LineNetwork, Resistor, Step, Thevenin
from substrate.distributed.mol import discretise, terminals

from .junctions import LOSS_CODES, field_scratch, mean_efforts, replicate
from .schedule_engine import LIVE, OPEN, SAMPLE, _evaluate, _port_power

__all__ = ["Ladders", "run_ladders", "line_factors", "needs_ladders", "MAX_ITERATIONS"]

MAX_ITERATIONS = 200  # junction fixed-point iterations per half step before giving up
_TOLERANCE = 1e-13  # relative change of the emissions that ends the fixed point


def needs_ladders(circuit) -> bool:
    """Whether a circuit's lines need the method-of-lines kernel (series resistance or delay spread; the
    ring kernel holds lossless and distortionless lines, mismatched ends included)."""
    return circuit.line_resistance > 0 or circuit.delay_spread > 0


def line_factors(circuit, layout, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each line's delay over its nominal one, ``1 + s u``, ``u`` uniform in [-1, 1] (``s = delay_spread``).

    Drawn from ``numpy.random.default_rng([seed, 2])`` (a stream apart from the capacitors' and the
    noise's) in the order: link lines ``(N, B)``, stub lines of the stored inputs ``(n_0 + N, B)``,
    stub lines of the emitted waves ``(N, B)`` (rows as the kernels' waves, lanes the samples).
    """
    n0, N = layout.sizes[0], layout.n_nodes
    u = np.random.default_rng([circuit.seed, 2]).uniform(-1.0, 1.0, (2 * N + n0 + N) * batch)
    factors = 1.0 + circuit.delay_spread * u
    return (factors[:N * batch].reshape(N, batch), factors[N * batch:(2 * N + n0) * batch].reshape(n0 + N, batch),
            factors[(2 * N + n0) * batch:].reshape(N, batch))


class Ladders:
    """All lines of a trainer session as leapfrog ladders: discretisation, coefficients and state.

    Parameters
    ----------
    layout : circuits.junctions.Layout
    batch : int
        Sample lanes (one line per neuron and sample).
    circuit : circuits.physical.Circuit
        ``td`` (s), ``z0`` (ohm), ``line_resistance`` (ohm per delay ``td``), ``delay_spread``,
        ``junction_resistance`` (ohm), ``line_cells`` (leapfrog steps per delay ``td``).
    stub_delays : int array or None
        Stub delay of each junction in line delays (``None``: no stubs).

    The step is ``dt = td / S`` with ``S = max(line_cells, ceil(1 / (1 - s)))``. A line of delay ``d``
    has ``floor(d / dt)`` cells at Courant number 1 (the leapfrog's exact shift when lossless, and
    ends that read their arriving waves exactly when matched) and the rest of its delay, a fraction
    ``phi < 1`` of a step, as a fractional delay at its far end: the wave leaving the ladder and
    the backward emission entering it are interpolated linearly between half steps (second order,
    passive: ``|gain| <= 1`` at every frequency). Not per-line ``L', C'`` at Courant number < 1: the
    leapfrog then has a cut-off band below its Nyquist frequency, where the line ends reflect
    totally, and the junctions' instantaneous readings of their ends close loops through it that grow
    without bound (measured: 64-32-10 digits trainer at 1 % spread, waves of 66 V after 20 pipelined
    updates, non-finite parameters in the separated schedule; also with Courant-1 end cells around a
    Courant < 1 middle at 20 % spread).

    ``specs`` maps each line (``l<row>_<lane>`` links, ``i<row>_<lane>``, ``o<row>_<lane>`` stubs) to
    its delay (s), series resistance (ohm) and cells.
    """

    def __init__(self, layout, batch: int, circuit, stub_delays=None):
        circuit.checked()  # the combinations the ladders do not realise (attenuator pads, rails, ...) are refused
        td, z0, rs = circuit.td, circuit.z0, circuit.junction_resistance
        n0, N, B = layout.sizes[0], layout.n_nodes, batch
        link, stub_in, stub_out = line_factors(circuit, layout, B)
        lines, terms, cells = {}, {}, {}
        zero = Step(0.0)  # the sources' values come from the kernel; the discretisation needs a termination

        spread = circuit.delay_spread
        self.steps = max(circuit.line_cells, math.ceil(1.0 / (1.0 - spread) - 1e-9))
        dt = td / self.steps
        self.specs = {}  #: name -> (delay in s, series resistance in ohm, cells) of every line
        fractions = {}

        def add(name, factor, delays, source_ohms, far):
            delay = td * delays * factor
            count = int(math.floor(delay / dt * (1 + 1e-12)))  # whole cells at Courant number 1
            fractions[name] = max(delay / dt - count, 0.0)  # the rest: a fractional delay at the far end
            lines[name] = (Line.from_impedance(z0, count * dt, 1.0, circuit.line_resistance * delays * factor),
                           name + "<", name + ">")
            cells[name] = count
            terms[name + "<"] = Thevenin(zero, source_ohms)
            terms[name + ">"] = far
            self.specs[name] = (delay, circuit.line_resistance * delays * factor, count)

        for r in range(N):
            for c in range(B):
                add(f"l{r}_{c}", link[r, c], 1, rs, Thevenin(zero, rs))
        stubbed_in, stubbed_out = [], []
        if stub_delays is not None:
            for k, row in enumerate(layout.table):
                start = 0 if k == 0 else n0 + layout.table[k - 1, 3]
                for j in range(row[0]):
                    stubbed_in.append(start + j)
                    for c in range(B):
                        add(f"i{start + j}_{c}", stub_in[start + j, c], int(stub_delays[k]), rs, Resistor(z0))
                for i in range(row[1]):
                    stubbed_out.append(row[3] + i)
                    for c in range(B):
                        add(f"o{row[3] + i}_{c}", stub_out[row[3] + i, c], int(stub_delays[k]), rs, Resistor(z0))
        network = LineNetwork(lines, terms)
        self.cells, self.dt = leapfrog_cells(network, cells, dt)  # checks Courant <= 1 on every line
        disc = discretise(network, self.cells)
        ends = terminals(disc)
        self.alpha_i, self.beta_i, self.alpha_v, self.beta_v = update_coefficients(disc, ends, self.dt)
        self.left, self.right = disc.left.astype(np.int64), disc.right.astype(np.int64)
        self.ind, self.res, self.cap = disc.ind, disc.res, ends.cap
        self.source_g = np.zeros(disc.n_nodes)
        for _, j, term in ends.sources:
            self.source_g[j] = 1.0 / term.resistance
        self.load_g = np.zeros(disc.n_nodes)
        for _, j, term in ends.resistors:
            self.load_g[j] = 1.0 / term.ohms
        index = disc.node_index

        def nodes(prefix, rows, side):
            """Node index of each ``prefix`` line's end ``side`` (its far-end fraction for ``side=None``) by
            (row, lane); (0, B) without such lines."""
            out = np.full(((n0 + N if prefix == "i" else N) if len(rows) else 0, B), -1 if side else 0.0)
            for r in rows:
                for c in range(B):
                    out[r, c] = index[f"{prefix}{r}_{c}{side}"] if side else fractions[f"{prefix}{r}_{c}"]
            return out.astype(np.int64) if side else out

        self.link_near, self.link_far = nodes("l", range(N), "<"), nodes("l", range(N), ">")
        self.in_near, self.in_far = nodes("i", stubbed_in, "<"), nodes("i", stubbed_in, ">")
        self.out_near, self.out_far = nodes("o", stubbed_out, "<"), nodes("o", stubbed_out, ">")
        self.link_frac, self.in_frac, self.out_frac = (nodes("l", range(N), None), nodes("i", stubbed_in, None),
                                                       nodes("o", stubbed_out, None))
        # 2Q - 1 at the link ends: the arriving wave's dependence on the end's own emission (0: matched, Courant 1)
        ends_2q = self.beta_v * self.source_g - 1.0
        self.loopless = bool(np.max(np.abs(ends_2q[np.concatenate([self.link_near.ravel(),
                                                                   self.link_far.ravel()])])) <= 1e-12)
        self.n_lines = len(lines)
        self.V = np.zeros(disc.n_nodes)
        self.I = np.zeros(disc.n_cells)  # I^{n+1/2}
        self.I_before = np.zeros(disc.n_cells)  # I^{n-1/2}
        self.emit_f = np.zeros((N, B))
        self.emit_b = np.zeros((N, B))
        # the fractional delays' memories: the last half step's raw arrivals and backward emissions
        self.last_f = np.zeros((N, B))
        self.last_b = np.zeros((N, B))
        self.last_in = np.zeros((n0 + N, B))
        self.last_out = np.zeros((N, B))
        self.status = np.zeros(2, dtype=np.int64)
        self.slope = np.zeros((layout.n_params, 1))  # the ports' last dtheta/dt (the midpoint predictor)

    def stored(self) -> float:
        """Energy stored in all lines now in J: the leapfrog's ``1/2 V C V + 1/2 I^{n+1/2} L I^{n-1/2}``."""
        return float(0.5 * np.dot(self.cap, self.V ** 2) + 0.5 * np.dot(self.ind, self.I * self.I_before))

    def run(self, session, xs, ts, source, target, gate, noise, record_every, records, probe=None) -> int:
        """Advance ``session``'s trainer over the schedule (see :meth:`circuits.physical.TLineSession.run`)."""
        layout = session.layout
        N, B = layout.n_nodes, session.batch
        probe = np.zeros((0, N, B)) if probe is None else probe
        return run_ladders(layout.table, layout.activations, LOSS_CODES[session.loss.name], session.beta, xs, ts,
                           source, target, gate, session.stubs, session.state, session.held, session.rate,
                           session.leak, session.cap, self.steps, self.dt, self.left, self.right, self.alpha_i,
                           self.beta_i, self.alpha_v, self.beta_v, self.source_g, self.load_g, self.res,
                           self.link_near, self.link_far, self.in_near, self.in_far, self.out_near, self.out_far,
                           self.loopless, self.V, self.I, self.I_before, self.emit_f, self.emit_b, self.link_frac,
                           self.in_frac, self.out_frac, self.last_f, self.last_b, self.last_in, self.last_out,
                           self.slope, record_every, records, session.ledger, session.heat,
                           session.circuit.closed_loop_gain, noise[0], noise[1], probe, self.status)


@njit(cache=True, error_model="numpy")
def run_ladders(table, activations, loss_code, beta, xs, targets, source, target, gate, stubs, state, held, rate, leak,
                cap, S, dt, left, right, alpha_i, beta_i, alpha_v, beta_v, source_g, load_g, res, link_near, link_far,
                in_near, in_far, out_near, out_far, loopless, V, I, I_before, emit_f, emit_b, link_frac, in_frac,
                out_frac, last_f, last_b, last_in, last_out, slope, record_every,
                record_params, ledger, heat, gain, noise_f, noise_b, probe, status):
    """Advance the trainer with ladder lines over ``len(source)`` line delays of ``S`` steps ``dt``; -1 or the failing delay.

    Parameters
    ----------
    table, activations, loss_code, beta, xs, targets, source, target, gate, stubs, state, held, rate, leak, cap
        As :func:`circuits.schedule_engine.run_schedule` (``state`` (P, 1) resistive ports only).
    S : int
        Leapfrog steps per line delay; ``dt`` the step in s.
    left, right, alpha_i, beta_i, res : per cell
        The discretisation's cell ends and the leapfrog's current coefficients; series resistance (ohm).
    alpha_v, beta_v, source_g, load_g : per node
        The leapfrog's voltage coefficients; conductance (S) of the source resistor and of the load
        resistor at each line end (0 elsewhere).
    link_near, link_far : int64 (N, B)
        Nodes of each link line's near end (forward source) and far end (backward source).
    in_near, in_far, out_near, out_far : int64 (n_0 + N, B) and (N, B), or empty
        Nodes of the stub lines of the stored inputs and emissions (-1: no stub).
    loopless : bool
        Every link end has ``2Q = 1``: the arriving waves do not depend on the ends' own emissions.
    V, I, I_before : float arrays
        ``V^n`` (V), ``I^{n+1/2}``, ``I^{n-1/2}`` (A); advanced in place.
    emit_f, emit_b : (N, B)
        The last emissions (the fixed point's start); advanced in place.
    link_frac, in_frac, out_frac : float (N, B), (n_0 + N, B), (N, B)
        Each line's delay beyond its whole cells, in steps (in [0, 1)): a fractional delay at its far end,
        by linear interpolation between half steps of the wave leaving the ladder (and, on links, of the
        backward emission entering it).
    last_f, last_b, last_in, last_out : float arrays as the fractions
        The previous half step's raw far-end arrivals and backward emissions; advanced in place.
    slope : (P, 1)
        The ports' last ``dtheta/dt`` (the midpoint predictor); advanced in place.
    record_every, record_params, ledger, heat, gain, noise_f, noise_b
        As :func:`run_schedule`; ``ledger`` has a 9th entry ``[8]``: the lines' series resistors (J).
    probe : (steps S, N, B) or empty
        Receives the forward waves arriving at the far end of every link line at each half step.
    status : int64 (2,)
        ``[0]``: most fixed-point evaluations in one half step; ``[1]``: 1 if a fixed point failed.
    """
    nodes, lanes = emit_f.shape[0], emit_f.shape[1]
    n_params = held.shape[0]
    batch = lanes
    n_in0 = xs.shape[1]
    n_nodes, n_cells = V.shape[0], I.shape[0]
    scratch = field_scratch(table, lanes)
    effort = np.empty((n_params, lanes))
    port_effort = np.zeros((n_params, 1))
    measured = np.zeros((n_params, 1))
    theta = np.empty((n_params, lanes))
    mid = np.empty((n_params, 1))
    pin = np.zeros((n_in0 + nodes, lanes))
    pout = np.zeros((nodes, lanes))
    arrive_f = np.empty((nodes, lanes))
    arrive_b = np.empty((nodes, lanes))
    old_f = np.empty((nodes, lanes))
    old_b = np.empty((nodes, lanes))
    raw_f = np.empty((nodes, lanes))
    inflow = np.empty(n_nodes)
    P = np.empty(n_nodes)
    E = np.zeros(n_nodes)
    steps = source.shape[0]
    noisy = noise_f.shape[0] > 0
    probing = probe.shape[0] > 0
    quiet = np.zeros((0, lanes))
    for m in range(steps):
        x, tsrc, mode = xs[source[m]], targets[max(target[m], 0)], gate[m]
        loss_on = target[m] >= 0
        hum_f = noise_f[m] if noisy else quiet
        hum_b = noise_b[m] if noisy else quiet
        live = mode == LIVE
        for sub in range(S):
            # the lines' inflow D^T I^{n+1/2} and each node's half-step voltage without its source: P
            for j in range(n_nodes):
                inflow[j] = 0.0
            for c in range(n_cells):
                inflow[left[c]] -= I[c]
                inflow[right[c]] += I[c]
            for j in range(n_nodes):
                P[j] = 0.5 * ((1.0 + alpha_v[j]) * V[j] + beta_v[j] * inflow[j])
            # the parameters at the half step: predicted from the last slope while integrating live, from the
            # held effort while holding, frozen (but for the leak) while open and when sampling at m td
            frozen = mode == OPEN or (mode == SAMPLE and sub == 0)
            for q in range(n_params):
                if live:
                    rise = slope[q, 0]
                elif frozen:
                    rise = -leak[q, 0] * state[q, 0]
                else:
                    rise = -rate[q, 0] * held[q, 0] - leak[q, 0] * state[q, 0]
                mid[q, 0] = state[q, 0] + 0.5 * dt * rise
            replicate(mid, n_params, batch, theta)
            if stubs:  # the stubs' far ends (matched loads: their voltage is the stored wave), fractionally delayed
                for r in range(in_far.shape[0]):
                    for c in range(lanes):
                        raw = P[in_far[r, c]] if in_far[r, c] >= 0 else 0.0
                        pin[r, c] = (1.0 - in_frac[r, c]) * raw + in_frac[r, c] * last_in[r, c]
                        last_in[r, c] = raw
                for r in range(nodes):
                    for c in range(lanes):
                        raw = P[out_far[r, c]]
                        pout[r, c] = (1.0 - out_frac[r, c]) * raw + out_frac[r, c] * last_out[r, c]
                        last_out[r, c] = raw
            want = live or (sub == 0 and mode == SAMPLE)
            converged = False
            for iteration in range(MAX_ITERATIONS):
                for r in range(nodes):
                    for c in range(lanes):
                        near, far, phi = link_near[r, c], link_far[r, c], link_frac[r, c]
                        # v(end) - E/2 with Vbar = P + Q E and E = 2 emission; the far end's emission enters
                        # and its arrival leaves through the fractional delay phi
                        applied = (1.0 - phi) * emit_b[r, c] + phi * last_b[r, c]
                        raw_f[r, c] = P[far] + (beta_v[far] * source_g[far] - 1.0) * applied
                        arrive_f[r, c] = (1.0 - phi) * raw_f[r, c] + phi * last_f[r, c]
                        arrive_b[r, c] = P[near] + (beta_v[near] * source_g[near] - 1.0) * emit_f[r, c]
                        old_f[r, c] = emit_f[r, c]
                        old_b[r, c] = emit_b[r, c]
                _evaluate(table, activations, loss_code, beta, theta, x, tsrc, loss_on, arrive_f, arrive_b, emit_f,
                          emit_b, effort, want, stubs, pin, pout, scratch, gain, hum_f, hum_b)
                status[0] = max(status[0], iteration + 1)
                if loopless:
                    converged = True
                    break
                change, size = 0.0, 1.0
                for r in range(nodes):
                    for c in range(lanes):
                        change = max(change, abs(emit_f[r, c] - old_f[r, c]), abs(emit_b[r, c] - old_b[r, c]))
                        size = max(size, abs(emit_f[r, c]), abs(emit_b[r, c]))
                if change <= _TOLERANCE * size:
                    converged = True
                    break
            if not converged:
                status[1] = 1
                return m + 1
            if want:
                mean_efforts(effort, n_params, batch, measured)
                if sub == 0 and mode == SAMPLE:  # sampled just after m td (the last wave front arrives at m td)
                    for q in range(n_params):
                        held[q, 0] = measured[q, 0]
            for q in range(n_params):
                if mode == OPEN:
                    port_effort[q, 0] = 0.0
                elif live:
                    port_effort[q, 0] = measured[q, 0]
                else:
                    port_effort[q, 0] = held[q, 0]
            # the sources: junction emissions behind R_s, stub sources behind z0 (Thevenin voltage 2 v)
            for r in range(nodes):
                for c in range(lanes):
                    far, phi = link_far[r, c], link_frac[r, c]
                    applied = (1.0 - phi) * emit_b[r, c] + phi * last_b[r, c]
                    last_f[r, c] = raw_f[r, c]  # this half step's raw arrival and emission, for the next
                    last_b[r, c] = emit_b[r, c]
                    E[link_near[r, c]] = 2.0 * emit_f[r, c]
                    E[far] = 2.0 * applied
            if stubs:
                for r in range(in_near.shape[0]):
                    for c in range(lanes):
                        if in_near[r, c] >= 0:
                            E[in_near[r, c]] = 2.0 * (x[r, c] if r < n_in0 else arrive_f[r - n_in0, c])
                for r in range(nodes):
                    for c in range(lanes):
                        E[out_near[r, c]] = 2.0 * emit_f[r, c]
            injected, resistors, loads = 0.0, 0.0, 0.0
            for j in range(n_nodes):
                following = alpha_v[j] * V[j] + beta_v[j] * (inflow[j] + E[j] * source_g[j])
                mean = 0.5 * (V[j] + following)
                if source_g[j] > 0.0:
                    current = (E[j] - mean) * source_g[j]
                    injected += E[j] * current
                    resistors += (E[j] - mean) * current
                if load_g[j] > 0.0:
                    loads += mean * mean * load_g[j]
                V[j] = following
            if probing:
                for r in range(nodes):
                    for c in range(lanes):
                        probe[m * S + sub, r, c] = arrive_f[r, c]
            # I^{n+3/2} from V^{n+1}; the series loss over [t_n, t_{n+1}] (the leapfrog's exact discrete form)
            loss = 0.0
            for c in range(n_cells):
                following = alpha_i[c] * I[c] - beta_i[c] * (V[right[c]] - V[left[c]])
                loss += res[c] * I[c] * (following + 2.0 * I[c] + I_before[c])
                I_before[c] = I[c]
                I[c] = following
            ledger[0] += dt * injected
            ledger[1] += dt * resistors
            ledger[2] += dt * loads
            ledger[8] += 0.25 * dt * loss
            # the ports: the effort at the half step, the leak trapezoidal
            for q in range(n_params):
                damping = 0.5 * dt * leak[q, 0]
                following = (state[q, 0] * (1.0 - damping) - dt * rate[q, 0] * port_effort[q, 0]) / (1.0 + damping)
                mid[q, 0] = 0.5 * (state[q, 0] + following)
                slope[q, 0] = (following - state[q, 0]) / dt
                state[q, 0] = following
                if not np.isfinite(following):
                    return m + 1
            _port_power(mid, port_effort, n_params, rate, leak, cap, dt, ledger, heat, False, rate, rate, False)
        if (m + 1) % record_every == 0:
            r = (m + 1) // record_every - 1
            for q in range(n_params):
                record_params[r, q] = state[q, 0]
    return -1
