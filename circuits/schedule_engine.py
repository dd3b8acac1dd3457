"""Compiled kernel of the transmission-line trainer driven by source waveforms: training in physical time.

:mod:`circuits.tline_engine` holds its sources constant; here the input and target sources switch
from minibatch to minibatch, the parameter ports are gated, and the junctions may pair their
sensitivities with delay stubs. One grid step is one line delay ``h = td`` (every source switches
at a multiple of ``td``, so every breaking point of the delay system is a grid point and RK4 keeps
the fourth order of :mod:`circuits.tline_engine`, whose three-samples-per-step ring it reuses).

Band-limited junction amplifiers (a first-order pole, ``pole_tau > 0``) make every emission a state
``tau dv/dt = u - v`` integrated by the same RK4 stages as the parameters; the emissions are then
continuous, so the ring's three samples per step still describe them, and their derivatives jump
only where the sources switch (grid points): the order is kept. A pole of time constant ``tau`` needs
``h <= tau`` (RK4 is stable for ``h / tau < 2.78``), so the grid then has ``M = ring_f.shape[0]``
steps per line delay, ``h = td / M``, and each line is a ring of ``M`` steps; the schedule arrays and
the stub delays are given per grid step. Bounded parameters are clamped to their rails after every
step and read clamped (and quantised) wherever the junctions replicate them.

Per grid interval ``m`` (``[m h, (m + 1) h)``) the schedule arrays say

- ``source[m]``: which minibatch drives the input source (row of ``xs``);
- ``target[m]``: which minibatch's target drives the loss port (``-1``: the loss port is off and emits
  nothing: before the first sample reaches it);
- ``gate[m]``: the port switch: 0 open (no port current), 1 integrating the live effort, 2 holding
  the sampled effort, 3 sampling the effort at ``m td`` and holding it (sample-and-hold port); plus
  ``BYPASS`` (4): an inertial port's flow is routed around its capacitor (the parameter holds while the
  inductor current keeps flowing through the port resistor).

Delay stubs (``stubs``): junction ``k`` stores its input wave and its emitted wave on a stub line of
delay ``2(L - k + 1) td``, the round trip from junction ``k`` to the loss port and back, and pairs
each arriving sensitivity ``s_k`` with the stored pair of the same sample: ``f'_k`` is recovered
from the emitted value (every compiled activation's slope is a function of its value). The stubs
keep the same three samples per grid step as the lines.

Mismatched junctions (``reflection != 0``): every line end is driven by its junction's source ``2u``
behind a source resistance ``Rs != z0`` and reads ``v(end) - u`` as if it were matched. With the
reflection coefficient ``G = (Rs - z0)/(Rs + z0)`` each end emits ``(1 - G) u + G a`` into its line
(``a`` the arriving wave) and reads ``(1 + G) a - G u`` (:func:`junction_ends`): the read at an end
depends on that end's own source, an algebraic loop through all junctions, solved per evaluation by
fixed-point iteration. Every wave still travels one ``td``, so the reflections stay on the grid.
The iteration is what the junctions do given one equal, vanishing parasitic delay each: where it
diverges (a loop gain ``rho`` of 1 or more, e.g. ``|G| sigma_max(W_k)`` through a linear layer) that circuit
is unstable. It stops at ``LOOP_ITERATIONS``, so it reaches rounding for ``rho^500 < 1e-14``
(``rho < 0.94``); beyond, :class:`circuits.physical.TLineSession` raises
:class:`substrate.errors.NumericalError`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .junctions import field_scratch, junction_field, mean_efforts, replicate
from .tline_engine import _MIDPOINT, _STEP, _TABLEAU, _combine, _copy, _derivative

__all__ = ["run_schedule", "junction_ends", "OPEN", "LIVE", "HOLD", "SAMPLE", "BYPASS", "LOOP_TOLERANCE",
           "LOOP_ITERATIONS"]

OPEN, LIVE, HOLD, SAMPLE = 0, 1, 2, 3
BYPASS = 4  # added to a gate code: an inertial port's flow bypasses its capacitor
LEFT, RIGHT, MID = 0, 1, 2
#: the junction loop of mismatched ends has converged when no source moves by more than this times (1 + max |u|)
LOOP_TOLERANCE = 1e-14
#: iterations of the junction loop before :func:`run_schedule` reports that it does not converge
LOOP_ITERATIONS = 500


@njit(cache=True, error_model="numpy")
def junction_ends(own, arriving, reflection, emitted, read):
    r"""The line end of a junction whose source ``2 u`` sits behind ``Rs`` on a line of impedance ``z0``.

    With the line's incident wave ``a`` (V) and ``G = (Rs - z0)/(Rs + z0)``, Kirchhoff at the end
    (``2u = v + Rs i``, ``v = e + a``, ``z0 i = e - a``) gives the wave ``e`` launched into the line and
    the junction's matched read-out ``v - u``:

    .. math:: e = (1 - G) u + G a, \qquad v - u = (1 + G) a - G u.

    Parameters
    ----------
    own : ndarray, shape (N, C)
        Half the junction's source voltage ``u`` at each end, in V (its emission when matched).
    arriving : ndarray, shape (N, C)
        The wave arriving at each end, in V.
    reflection : float
        ``G`` (0: matched, ``e = u`` and the read is ``a``).
    emitted, read : ndarray, shape (N, C)
        Written: ``e`` and ``v - u`` in V.
    """
    for r in range(own.shape[0]):
        for c in range(own.shape[1]):
            emitted[r, c] = (1.0 - reflection) * own[r, c] + reflection * arriving[r, c]
            read[r, c] = (1.0 + reflection) * arriving[r, c] - reflection * own[r, c]


@njit(cache=True, error_model="numpy")
def _slope_of(code, v):
    """``f'(z)`` from ``v = f(z)`` for the codes of :data:`circuits.junctions.ACTIVATION_CODES`."""
    if code == 0:
        return 1.0
    if code == 1:
        return 1.0 - v * v
    if code == 2:
        return v * (1.0 - v)
    if code == 3:
        return 1.0 if v > 0.0 else 0.0
    return -np.expm1(-v)  # softplus: e^f = 1 + e^z, so sigmoid(z) = 1 - e^-f


@njit(cache=True, error_model="numpy")
def _paired(table, activations, beta, theta, pin, pout, arrive_b, emit_b, effort, with_effort, scratch):
    """Backward emissions and efforts of every junction from the stub pairs ``pin`` (inputs) and ``pout``.

    ``pin`` rows: the input ``x`` (``n_0`` rows) then the arriving forward waves of all links; ``pout``:
    the emitted forward waves. Overwrites ``emit_b`` on links ``1..L-1`` (the loss port's rows are kept).
    """
    lanes = theta.shape[1]
    n0 = table[0, 0]
    delta = scratch[3]
    for k in range(table.shape[0]):
        n_in, n_out, node = table[k, 0], table[k, 1], table[k, 3]
        start = 0 if k == 0 else n0 + table[k - 1, 3]
        code = activations[k]
        for i in range(n_out):
            for c in range(lanes):
                delta[i, c] = _slope_of(code, pout[node + i, c]) * arrive_b[node + i, c]
        w0 = table[k, 2]
        b0 = w0 + n_out * n_in
        if with_effort:
            for i in range(n_out):
                for c in range(lanes):
                    effort[b0 + i, c] = delta[i, c] / beta[c]
                for j in range(n_in):
                    for c in range(lanes):
                        effort[w0 + i * n_in + j, c] = effort[b0 + i, c] * pin[start + j, c]
        if k > 0:  # W_k^T delta, the backward transmission of junctions.field_at with the stub's slope
            back = table[k - 1, 3]
            for j in range(n_in):
                for c in range(lanes):
                    emit_b[back + j, c] = 0.0
                for i in range(n_out):
                    for c in range(lanes):
                        emit_b[back + j, c] += theta[w0 + i * n_in + j, c] * delta[i, c]


@njit(cache=True, error_model="numpy")
def _evaluate(table, activations, loss_code, beta, theta, x, target, loss_on, arrive_f, arrive_b, emit_f, emit_b,
              effort, with_effort, stubs, pin, pout, scratch, gain, noise_f, noise_b):
    """The junction field (:func:`circuits.junctions.junction_field`), the loss port's switch, the stub pairing,
    the junction amplifiers' closed-loop gain ``gain`` and the noise voltages (``noise_f``, ``noise_b``,
    shaped as the emissions, or empty) on every emission."""
    junction_field(table, activations, loss_code, beta, theta, x, target, arrive_f, arrive_b, emit_f, emit_b, effort,
                   with_effort and not stubs, scratch)
    if not loss_on:
        last, n_last = table[table.shape[0] - 1, 3], table[table.shape[0] - 1, 1]
        for i in range(n_last):
            for c in range(emit_b.shape[1]):
                emit_b[last + i, c] = 0.0
    if stubs:
        _paired(table, activations, beta, theta, pin, pout, arrive_b, emit_b, effort, with_effort, scratch)
    if gain != 1.0:
        for r in range(emit_f.shape[0]):
            for c in range(emit_f.shape[1]):
                emit_f[r, c] *= gain
                emit_b[r, c] *= gain
    if noise_f.shape[0] > 0:
        for r in range(emit_f.shape[0]):
            for c in range(emit_f.shape[1]):
                emit_f[r, c] += noise_f[r, c]
                emit_b[r, c] += noise_b[r, c]


@njit(cache=True, error_model="numpy")
def _solve_ends(table, activations, loss_code, beta, theta, x, target, loss_on, arrive_f, arrive_b, emit_f, emit_b,
                effort, with_effort, stubs, pin, pout, scratch, gain, noise_f, noise_b, reflection, read_f, read_b,
                wave_f, wave_b, prev_f, prev_b):
    """The junction field with mismatched line ends: the fixed point of ``u = field(read(u))``.

    ``emit_f``/``emit_b`` hold the sources' halves ``u`` (the starting guess on entry: the last
    evaluation's), ``read_f``/``read_b`` the junctions' reads and ``wave_f``/``wave_b`` the waves launched
    into the lines (:func:`junction_ends`), all consistent with the returned ``u``. Iterates until no
    ``u`` moves by more than ``LOOP_TOLERANCE (1 + max |u|)``; returns False if that takes more than
    ``LOOP_ITERATIONS``.
    """
    converged = False
    for iteration in range(LOOP_ITERATIONS + 1):
        _copy(emit_f, prev_f)
        _copy(emit_b, prev_b)
        junction_ends(prev_f, arrive_b, reflection, wave_f, read_b)  # junction k's own end of link k
        junction_ends(prev_b, arrive_f, reflection, wave_b, read_f)  # the far end, junction k + 1's (or the loss port)
        # the efforts once, from the converged reads: one evaluation more, within the tolerance of the last
        _evaluate(table, activations, loss_code, beta, theta, x, target, loss_on, read_f, read_b, emit_f, emit_b,
                  effort, with_effort and converged, stubs, pin, pout, scratch, gain, noise_f, noise_b)
        if converged:
            break
        if iteration == LOOP_ITERATIONS:
            return False
        change, scale = 0.0, 0.0
        for r in range(emit_f.shape[0]):
            for c in range(emit_f.shape[1]):
                change = max(change, abs(emit_f[r, c] - prev_f[r, c]), abs(emit_b[r, c] - prev_b[r, c]))
                scale = max(scale, abs(emit_f[r, c]), abs(emit_b[r, c]))
        if change != change:  # nan: no fixed point to find
            return False
        converged = change <= LOOP_TOLERANCE * (1.0 + scale)
        if converged and not with_effort:
            break
    junction_ends(emit_f, arrive_b, reflection, wave_f, read_b)
    junction_ends(emit_b, arrive_f, reflection, wave_b, read_f)
    return True


@njit(cache=True, error_model="numpy")
def _stub_io(table, delays, g, kind, x, arrive_f, emit_f, stub_in, stub_out, pin, pout, write, stub_gain, launch):
    """Read (``write`` False) each junction's stub pair at slot ``g mod D_k`` into ``pin``/``pout``, attenuated
    by ``stub_gain[k]``, or store the present one as the wave its source launches, ``launch`` times the value
    (``1 - G`` behind a mismatched source resistance). Returns ``sum v^2`` of what was stored or, reading, of
    the stored values before the attenuation (what entered the stub's attenuator)."""
    n0 = table[0, 0]
    lanes = x.shape[1]
    power = 0.0
    for k in range(table.shape[0]):
        slot = g % delays[k]
        n_in, n_out, node = table[k, 0], table[k, 1], table[k, 3]
        start = 0 if k == 0 else n0 + table[k - 1, 3]
        factor = stub_gain[k]
        for j in range(n_in):
            for c in range(lanes):
                if write:
                    value = launch * (x[j, c] if k == 0 else arrive_f[table[k - 1, 3] + j, c])
                    stub_in[slot, kind, start + j, c] = value
                else:
                    value = stub_in[slot, kind, start + j, c]
                    pin[start + j, c] = factor * value
                power += value * value
        for i in range(n_out):
            for c in range(lanes):
                if write:
                    value = launch * emit_f[node + i, c]
                    stub_out[slot, kind, node + i, c] = value
                else:
                    value = stub_out[slot, kind, node + i, c]
                    pout[node + i, c] = factor * value
                power += value * value
    return power


@njit(cache=True, error_model="numpy")
def _power(waves):
    """``sum v^2`` over a wave array (divide by ``z0`` for watts)."""
    total = 0.0
    flat = waves.reshape(waves.size)
    for r in range(flat.size):
        total += flat[r] * flat[r]
    return total


@njit(cache=True, error_model="numpy")
def _port_power(state, port_effort, n_params, rate, leak, cap, weight, ledger, heat, inertial, inertia, friction,
                bypass):
    """Add ``weight`` times the port powers: source ``(theta - e) i``, resistor ``C rate e^2`` (also per port
    into ``heat``), leak ``C leak theta^2``. Inertial ports: the flow current ``i = C v`` through the source
    ``theta - e`` (``-e`` when ``bypass`` routes it around the capacitor) and the resistor ``R = friction M``,
    ``M = 1/(inertia C)``."""
    for q in range(n_params):
        theta, e = state[q, 0], port_effort[q, 0]
        if inertial:
            flow = state[n_params + q, 0]
            current = cap[q, 0] * flow
            ledger[3] += weight * ((0.0 if bypass else theta) - e) * current
            resistor = weight * friction[q, 0] * cap[q, 0] * flow * flow / inertia[q, 0]
        else:
            current = -cap[q, 0] * rate[q, 0] * e
            ledger[3] += weight * (theta - e) * current
            resistor = weight * cap[q, 0] * rate[q, 0] * e * e
        ledger[4] += resistor
        heat[q] += resistor
        ledger[5] += weight * cap[q, 0] * leak[q, 0] * theta * theta


@njit(cache=True, error_model="numpy")
def _clamp(state, n_params, limit, cap, ledger):
    """Clamp the parameter voltages to the rails ``[-limit, limit]``; the energy ``C (v^2 - limit^2) / 2`` the
    clamp takes from each capacitor is added to ``ledger[7]``."""
    for q in range(n_params):
        v = state[q, 0]
        if v > limit or v < -limit:
            ledger[7] += 0.5 * cap[q, 0] * (v * v - limit * limit)
            state[q, 0] = limit if v > 0.0 else -limit


@njit(cache=True, error_model="numpy")
def _read(theta, n_params, limit, spacing):
    """What the junctions read of each parameter: clamped to ``[-limit, limit]`` and, if ``spacing > 0``, rounded
    to the nearest level ``-limit + k spacing`` (``floor(. + 1/2)``, as the netlist writes it)."""
    for q in range(n_params):
        for c in range(theta.shape[1]):
            v = min(max(theta[q, c], -limit), limit)
            if spacing > 0.0:
                v = -limit + spacing * np.floor((v + limit) / spacing + 0.5)
            theta[q, c] = v


@njit(cache=True, error_model="numpy")
def _pole(u_f, u_b, amp, tau, out):
    """``out = (u - v) / tau`` for the forward and backward emissions ``v = amp`` (flat ``out``)."""
    n = u_f.size
    flat_f, flat_b, flat_v = u_f.reshape(n), u_b.reshape(n), amp.reshape(amp.size)
    for r in range(n):
        out[r] = (flat_f[r] - flat_v[r]) / tau
        out[n + r] = (flat_b[r] - flat_v[n + r]) / tau


_RK4_WEIGHTS = np.array([1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0])


@njit(cache=True, error_model="numpy")
def run_schedule(table, activations, loss_code, beta, xs, targets, source, target, gate, stubs, delays, state, held,
                 rate, leak, inertia, friction, inertial, cap, z0, h, ring_f, ring_b, stub_in, stub_out, start,
                 record_every, record_params, ledger, heat, gain, noise_f, noise_b, line_gain, stub_gain, reflection,
                 pole_tau, amp, limit, levels):
    """Advance the trainer over ``len(source)`` grid intervals of ``h`` seconds.

    Returns -1, or ``m + 1`` if the parameters became non-finite in interval ``m``, or ``-(m + 2)`` if the
    junction loop of mismatched ends did not converge in interval ``m``.

    Parameters
    ----------
    table, activations, loss_code : as :func:`circuits.junctions.junction_field`
    beta : ndarray, shape (C,)
        Loss-port gain per lane (``C`` = batch lanes, one circuit instance).
    xs, targets : ndarray, shape (n_batches, n_0, C) and (n_batches, n_L, C)
        Source values of each minibatch.
    source, target, gate : int64 arrays, shape (steps,)
        The schedule (module docstring).
    stubs : bool
    delays : int64 array, shape (L,)
        Stub delays ``2(L - k + 1)`` in grid steps.
    state : ndarray, shape (S, 1)
        Parameter voltages (and, inertial, flows) in V; advanced in place.
    held : ndarray, shape (P, 1)
        The sample-and-hold value of each port (in place).
    rate, leak, inertia, friction, cap : ndarray, shape (P, 1)
        ``1/(R C)`` (1/s), ``1/(R_leak C)`` (1/s), inertial rates ``1/(M C)`` (1/s^2) and ``R/M`` (1/s),
        port capacitance (F).
    inertial : bool
        Inertial ports (``state`` holds the flows ``v = dtheta/dt`` after the parameters).
    z0 : float
        Line impedance in ohm (energy ledger only).
    h : float
        Grid step in s: ``td / M`` with ``M = ring_f.shape[0]`` grid steps per line delay (``M = 1``
        unless the amplifiers are band-limited or the parameters bounded).
    ring_f, ring_b : ndarray, shape (M, 3, N, C)
        The lines' emissions of the last delay, per grid step (left limit, right limit, midpoint); carried
        over between calls.
    stub_in, stub_out : ndarray, shape (D_1, 3, n_0 + N, C) and (D_1, 3, N, C)
        The stubs' stored pairs; carried over between calls.
    start : int
        Global index of the first interval (stub slots).
    record_every : int
        Record the parameters after every ``record_every``-th interval into ``record_params`` (R, P).
    ledger : ndarray, shape (8,)
        Energies added in J: line and stub sources into the lines, their source resistors, line and stub
        terminations, port sources, port resistors, leak resistors, line and stub attenuators, the rail
        clamps of bounded parameters.
    heat : ndarray, shape (P,)
        Energy dissipated in each port resistor, added in J.
    gain : float
        Closed-loop gain of every junction amplifier (1: ideal), applied to all emissions.
    noise_f, noise_b : ndarray, shape (steps, N, C) or (0, N, C)
        Noise voltages added to the forward and backward emissions, held over each interval (empty: none).
    line_gain : float
        Amplitude reaching the far end of a link line (1: lossless; a matched attenuator at its end).
    stub_gain : ndarray, shape (L,)
        The same for each junction's stub lines.
    reflection : float
        Reflection coefficient ``(Rs - z0)/(Rs + z0)`` of every junction end (link ends, loss port, stub
        sources) with source resistance ``Rs`` (0: matched). The ledger then books each end's source as
        its line intake plus ``Rs i_s^2``, ``i_s`` the current of its own launch ``(1 - G) u`` (the exact split
        when matched), the heat ``Rs i_s^2`` to the source resistors and the arriving waves to the
        terminations; the balance is exact either way.
    pole_tau : float
        Time constant ``1/(2 pi f_p)`` in s of the junction amplifiers' pole (0: infinite bandwidth). Each
        emission is then a state ``tau dv/dt = u - v`` (``u``: the gained ideal emission plus its noise)
        integrated by the same RK4 stages as the parameters; ``h / tau`` must lie inside RK4's stability
        interval (the caller picks ``M``). Only with matched ends (``reflection = 0``).
    amp : ndarray, shape (2, N, C)
        The band-limited emissions (forward, backward) in V; advanced in place (unused when ``pole_tau = 0``).
    limit : float
        Parameter rail in V (``inf``: none): each parameter voltage is clamped to ``[-limit, limit]`` after
        every step (the clamp's energy into ``ledger[7]``) and read clamped by the junctions.
    levels : int
        The junctions read each parameter quantised to ``levels`` values evenly spaced over
        ``[-limit, limit]`` (nearest; 0: continuous); the capacitors integrate continuously.
    """
    nodes, lanes = ring_f.shape[2], ring_f.shape[3]
    n_params = held.shape[0]
    batch = lanes
    size = state.shape[0]
    n_in0 = xs.shape[1]
    scratch = field_scratch(table, lanes)
    emit_f = np.zeros((nodes, lanes))  # the junctions' sources (halves), the starting guess of the junction loop
    emit_b = np.zeros((nodes, lanes))
    matched = reflection == 0.0
    launch = 1.0 - reflection
    # source resistor heat per v^2 / z0 of a link source's half (``(Rs/z0) (1 - G)^2``) and of a stub's wave (``Rs/z0``)
    heat_stub = (1.0 + reflection) / (1.0 - reflection)
    heat_link = heat_stub * launch * launch
    loop_n = 0 if matched else nodes
    read_f, read_b = np.empty((loop_n, lanes)), np.empty((loop_n, lanes))
    wave_f, wave_b = np.empty((loop_n, lanes)), np.empty((loop_n, lanes))
    prev_f, prev_b = np.empty((loop_n, lanes)), np.empty((loop_n, lanes))
    effort = np.empty((n_params, lanes))
    port_effort = np.zeros((n_params, 1))
    ks = np.zeros((4, size, 1))
    trial = np.empty((size, 1))
    theta = np.empty((n_params, lanes))
    pin = np.zeros((n_in0 + nodes, lanes))
    arrive_f = np.empty((nodes, lanes))
    arrive_b = np.empty((nodes, lanes))
    pout = np.zeros((nodes, lanes))
    flat_state, flat_trial, flat_ks = state.reshape(state.size), trial.reshape(trial.size), ks.reshape((4, state.size))
    steps = source.shape[0]
    line_steps = ring_f.shape[0]
    banded = pole_tau > 0.0
    amp_trial = np.empty_like(amp)
    amp_ks = np.zeros((4, amp.size))
    flat_amp, flat_amp_trial = amp.reshape(amp.size), amp_trial.reshape(amp.size)
    sent = np.empty((2, nodes, lanes))  # what the junctions emit into the lines and stubs
    bounded = limit < np.inf
    spacing = 2.0 * limit / (levels - 1) if levels > 1 else 0.0
    noisy = noise_f.shape[0] > 0
    quiet = np.zeros((0, lanes))
    for m in range(steps):
        g = start + m
        slot = g % line_steps
        x, tsrc, mode = xs[source[m]], targets[max(target[m], 0)], gate[m] % BYPASS
        bypass = inertial and gate[m] >= BYPASS
        loss_on = target[m] >= 0
        hum_f = noise_f[m] if noisy else quiet
        hum_b = noise_b[m] if noisy else quiet
        live = mode == LIVE
        line_in = np.zeros(3)
        line_src = np.zeros(3)
        line_out = np.zeros(3)
        line_loss = np.zeros(3)
        for stage in range(6):
            if stage == _STEP:
                _combine(flat_state, h, _TABLEAU[_STEP], flat_ks, flat_trial)
                if bounded:
                    _clamp(trial, n_params, limit, cap, ledger)
                _copy(trial, state)
                for q in range(size):
                    if not np.isfinite(state[q, 0]):
                        return m + 1
            else:
                _combine(flat_state, h, _TABLEAU[stage], flat_ks, flat_trial)
            if banded:
                _combine(flat_amp, h, _TABLEAU[stage], amp_ks, flat_amp_trial)
                if stage == _STEP:
                    _copy(amp_trial, amp)
            kind = RIGHT if stage == 0 else (LEFT if stage in (3, _STEP) else MID)
            emits = stage in (0, _MIDPOINT, _STEP)
            evaluated = emits or live or banded
            if evaluated:
                for r in range(nodes):  # the waves reaching the junctions through the lines' attenuators
                    for c in range(lanes):
                        arrive_f[r, c] = line_gain * ring_f[slot, kind, r, c]
                        arrive_b[r, c] = line_gain * ring_b[slot, kind, r, c]
                stub_raw = 0.0
                if stubs:
                    stub_raw = _stub_io(table, delays, g, kind, x, arrive_f, emit_f, stub_in, stub_out, pin, pout,
                                        False, stub_gain, launch)
                replicate(trial, n_params, batch, theta)
                if bounded:
                    _read(theta, n_params, limit, spacing)
                with_effort = stage < 4 and (live or (stage == 0 and mode == SAMPLE))
                if matched:
                    _evaluate(table, activations, loss_code, beta, theta, x, tsrc, loss_on, arrive_f, arrive_b,
                              emit_f, emit_b, effort, with_effort, stubs, pin, pout, scratch, gain, hum_f, hum_b)
                elif not _solve_ends(table, activations, loss_code, beta, theta, x, tsrc, loss_on, arrive_f, arrive_b,
                                     emit_f, emit_b, effort, with_effort, stubs, pin, pout, scratch, gain, hum_f, hum_b,
                                     reflection, read_f, read_b, wave_f, wave_b, prev_f, prev_b):
                    return -(m + 2)
                if with_effort:
                    mean_efforts(effort, n_params, batch, held if mode == SAMPLE else port_effort)
                if banded and stage < 4:  # the amplifiers' pole: tau dv/dt = u - v
                    _pole(emit_f, emit_b, amp_trial, pole_tau, amp_ks[stage])
            if stage < 4:
                if mode == OPEN:
                    port_effort[:] = 0.0
                elif mode != LIVE:
                    _copy(held, port_effort)
                _derivative(trial, port_effort, n_params, inertial, rate, leak, inertia, friction, ks[stage])
                if bypass:  # the flow goes around the capacitor: only the leak moves the parameter
                    for q in range(n_params):
                        ks[stage, q, 0] = -leak[q, 0] * trial[q, 0]
                _port_power(trial, port_effort, n_params, rate, leak, cap, h * _RK4_WEIGHTS[stage], ledger, heat,
                            inertial, inertia, friction, bypass)
            if emits:
                if banded:
                    _copy(amp_trial, sent)
                else:
                    _copy(emit_f, sent[0])
                    _copy(emit_b, sent[1])
                out_f, out_b = sent[0], sent[1]  # the sources' halves (band-limited or not)
                column = 0 if stage == 0 else (1 if stage == _MIDPOINT else 2)
                raw = _power(ring_f[slot, kind]) + _power(ring_b[slot, kind])
                arrived = _power(arrive_f) + _power(arrive_b)
                sources = _power(out_f) + _power(out_b)
                if matched:
                    line_in[column] = sources
                    line_src[column] = sources
                else:
                    line_in[column] = _power(wave_f) + _power(wave_b)
                    line_src[column] = heat_link * sources
                if stubs:
                    stub_arrived = _power(pin) + _power(pout)
                    stored = _stub_io(table, delays, g, kind, x, arrive_f if matched else read_f, out_f, stub_in,
                                      stub_out, pin, pout, True, stub_gain, launch)
                    line_in[column] += stored
                    line_src[column] += stored if matched else heat_stub * stored
                    raw += stub_raw
                    arrived += stub_arrived
                line_out[column] = arrived
                line_loss[column] = raw - arrived
                _copy(out_f if matched else wave_f, ring_f[slot, kind])
                _copy(out_b if matched else wave_b, ring_b[slot, kind])
        # Simpson over the interval from the right limit, midpoint and left limit of the line powers
        simpson = h / 6.0 / z0
        emitted = simpson * (line_in[0] + 4.0 * line_in[1] + line_in[2])
        resistors = simpson * (line_src[0] + 4.0 * line_src[1] + line_src[2])
        ledger[0] += emitted + resistors
        ledger[1] += resistors
        ledger[2] += simpson * (line_out[0] + 4.0 * line_out[1] + line_out[2])
        ledger[6] += simpson * (line_loss[0] + 4.0 * line_loss[1] + line_loss[2])
        if (m + 1) % record_every == 0:
            r = (m + 1) // record_every - 1
            for q in range(n_params):
                record_params[r, q] = state[q, 0]
    return -1
