"""Compiled time stepper of the lumped dyadic RC trainer (:func:`circuits.realize.rc_trainer`).

Every neuron of every sample copy is an activation node ``a+`` and a sensitivity node ``a-``, each a
capacitor charged through ``R`` from the junction's source: ``tau da+/dt = f(W a+_prev + b) - a+`` and
``tau da-/dt = W^T (f' * a-_next) - a-`` (or the loss port ``beta dc/da+_L``), with ``tau = RC`` and the
sources of :func:`circuits.junctions.junction_field` read at the node voltages. The parameter
capacitors obey the same port laws as the T-line trainer's. The system is an ODE, smooth for ``t > 0``
(all sources switch on at ``t = 0``, the nodes start at rest), integrated by classical RK4 with a fixed
step: fourth order.

:func:`run_rc` holds its sources constant (:func:`circuits.native.simulate_rc_trainer`);
:func:`run_rc_schedule` switches the input and target sources from minibatch to minibatch, gates the
parameter ports (open, live, sample-and-hold, as :mod:`circuits.schedule_engine`) and keeps the energy
ledger: training in physical time (:mod:`circuits.rc_session`). Both step the same node field
(:func:`_relax`) and port laws.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .junctions import batch_cost, field_scratch, junction_field, mean_efforts, replicate
from .schedule_engine import _RK4_WEIGHTS, LIVE, OPEN, SAMPLE, _port_power
from .tline_engine import _STEP, _TABLEAU, _combine, _copy, _derivative

__all__ = ["run_rc", "run_rc_schedule"]

@njit(cache=True, error_model="numpy", inline="always")
def _relax(table, activations, loss_code, beta, tau, x, target, waves, theta, with_effort, emit, effort, scratch,
           d_waves):
    """The node field: sources ``emit`` (2, N, C) at the node voltages ``waves`` and ``dv/dt = (emit - v) / tau``;
    each lane's port efforts into ``effort`` when ``with_effort``."""
    junction_field(table, activations, loss_code, beta, theta, x, target, waves[0], waves[1], emit[0], emit[1],
                   effort, with_effort, scratch)
    for side in range(2):
        for r in range(waves.shape[1]):
            for c in range(waves.shape[2]):
                d_waves[side, r, c] = (emit[side, r, c] - waves[side, r, c]) / tau[c]


@njit(cache=True, error_model="numpy")
def _rc_field(table, activations, loss_code, beta, tau, x, target, waves, state, n_params, batch, inertial, rate, leak,
              inertia, friction, emit, theta, effort, port_effort, scratch, d_waves, d_state):
    replicate(state, n_params, batch, theta)
    _relax(table, activations, loss_code, beta, tau, x, target, waves, theta, n_params > 0, emit, effort, scratch,
           d_waves)
    mean_efforts(effort, n_params, batch, port_effort)
    _derivative(state, port_effort, n_params, inertial, rate, leak, inertia, friction, d_state)


@njit(cache=True, error_model="numpy")
def run_rc(table, activations, loss_code, beta, tau, x, target, waves, state, n_params, batch, inertial, rate, leak,
           inertia, friction, h, steps, record_every, record_params, record_loss, record_waves):
    """Advance the RC trainer ``steps`` RK4 steps of ``h`` seconds in place; returns the failing step or -1.

    Lane layout of :mod:`circuits.junctions` (``C = batch * I`` lanes, C-contiguous arrays). ``waves``
    (2, N, C) holds the ``a+`` and ``a-`` node voltages (zero at rest), ``state`` (S, I) the parameter
    voltages (and inertial flows); port rates are (P, I), ``beta`` and ``tau`` per lane (C,). Records at
    grid points ``m % record_every == 0``: parameters (R, P, I), batch-mean cost at the output nodes
    (R, I), node voltages (R, 2, N, C).
    """
    instances = state.shape[1]
    lanes = batch * instances
    scratch = field_scratch(table, lanes)
    emit = np.empty_like(waves)
    theta = np.empty((n_params, lanes))
    effort = np.empty((n_params, lanes))
    port_effort = np.empty((n_params, instances))
    kw = np.zeros((4,) + waves.shape)
    ks = np.zeros((4,) + state.shape)
    trial_w, trial_s = np.empty_like(waves), np.empty_like(state)
    flat_w, flat_tw, flat_kw = waves.reshape(waves.size), trial_w.reshape(waves.size), kw.reshape((4, waves.size))
    flat_s, flat_ts, flat_ks = state.reshape(state.size), trial_s.reshape(state.size), ks.reshape((4, state.size))
    last, n_last = table[table.shape[0] - 1, 3], table[table.shape[0] - 1, 1]
    for m in range(steps + 1):
        if m % record_every == 0:
            r = m // record_every
            for q in range(n_params):
                for p in range(instances):
                    record_params[r, q, p] = state[q, p]
            batch_cost(loss_code, waves[0, last:last + n_last], target, batch, record_loss[r])
            _copy(waves, record_waves[r])
        if m == steps:
            break
        for stage in range(4):
            _combine(flat_w, h, _TABLEAU[stage], flat_kw, flat_tw)
            _combine(flat_s, h, _TABLEAU[stage], flat_ks, flat_ts)
            _rc_field(table, activations, loss_code, beta, tau, x, target, trial_w, trial_s, n_params, batch,
                      inertial, rate, leak, inertia, friction, emit, theta, effort, port_effort, scratch, kw[stage],
                      ks[stage])
        _combine(flat_w, h, _TABLEAU[_STEP], flat_kw, flat_tw)
        _combine(flat_s, h, _TABLEAU[_STEP], flat_ks, flat_ts)
        _copy(trial_w, waves)
        _copy(trial_s, state)
        for q in range(state.shape[0]):
            for p in range(instances):
                if not np.isfinite(state[q, p]):
                    return m + 1
    return -1


@njit(cache=True, error_model="numpy")
def _node_power(emit, waves, tau, node_cap, weight, ledger):
    """Add ``weight`` times the node powers: sources ``u i`` into ``ledger[0]``, resistors ``(u - v) i`` into
    ``ledger[1]``, with ``i = C (u - v) / tau`` the current through each node resistor ``R = tau / C``."""
    source, resistor = 0.0, 0.0
    for side in range(2):
        for r in range(waves.shape[1]):
            for c in range(waves.shape[2]):
                u = emit[side, r, c]
                drop = u - waves[side, r, c]
                current = node_cap * drop / tau[c]
                source += u * current
                resistor += drop * current
    ledger[0] += weight * source
    ledger[1] += weight * resistor


@njit(cache=True, error_model="numpy")
def run_rc_schedule(table, activations, loss_code, beta, tau, xs, targets, gate, hs, waves, state, held, rate, cap,
                    node_cap, record_every, record_params, ledger, heat):
    """Train the RC trainer on the minibatches ``xs`` one after another, each held for one period of RK4 steps.

    Parameters
    ----------
    table, activations, loss_code : as :func:`circuits.junctions.junction_field`
    beta, tau : ndarray, shape (C,)
        Loss-port gain and node time constant ``R C`` in s per lane (``C`` = batch lanes, one instance).
    xs, targets : ndarray, shape (n_batches, n_0, C) and (n_batches, n_L, C)
        Source values of each minibatch, applied in turn (one update each).
    gate : int64 array, shape (S,)
        The port switch in each step of an update's period (:data:`~circuits.schedule_engine.OPEN` no port
        current, ``LIVE`` integrating the live effort, ``HOLD`` integrating the held effort, ``SAMPLE``
        sampling the effort at the step's start, then holding). Sources and gates switch only between
        steps, so RK4 keeps its fourth order.
    hs : ndarray, shape (S,)
        Length of each step of the period in s (a graded grid: fine after each switch, coarse once the
        transient has decayed).
    waves : ndarray, shape (2, N, C)
        Node voltages ``a+`` and ``a-`` in V; advanced in place (carried over between calls).
    state : ndarray, shape (P, 1)
        Parameter voltages in V; advanced in place.
    held : ndarray, shape (P, 1)
        The sample-and-hold value of each port (in place).
    rate, cap : ndarray, shape (P, 1)
        ``1/(R_port C_port)`` (1/s) and port capacitance (F).
    node_cap : float
        Node capacitance in F (energy ledger only).
    record_every : int
        Record the parameters after every ``record_every``-th update into ``record_params`` (R, P).
    ledger : ndarray, shape (7,)
        Energies added in J, indexed as :func:`~circuits.schedule_engine.run_schedule`'s: ``[0]`` node
        sources, ``[1]`` node resistors, ``[3]`` port sources, ``[4]`` port resistors (``[2]``, ``[5]``, ``[6]``:
        lines and leaks, none here). Powers are integrated with RK4's stage weights.
    heat : ndarray, shape (P,)
        Energy dissipated in each port resistor, added in J.

    Returns
    -------
    int
        The failing update (non-finite parameters after it, counted from 1) or -1.
    """
    n_params = held.shape[0]
    lanes = waves.shape[2]
    scratch = field_scratch(table, lanes)
    emit = np.empty_like(waves)
    theta = np.empty((n_params, lanes))
    effort = np.empty((n_params, lanes))
    port_effort = np.zeros((n_params, 1))
    no_rate = np.zeros((n_params, 1))  # no leak, no inertia: an open port holds its capacitor's voltage exactly
    kw = np.zeros((4,) + waves.shape)
    ks = np.zeros((4,) + state.shape)
    trial_w, trial_s = np.empty_like(waves), np.empty_like(state)
    flat_w, flat_tw, flat_kw = waves.reshape(waves.size), trial_w.reshape(waves.size), kw.reshape((4, waves.size))
    flat_s, flat_ts, flat_ks = state.reshape(state.size), trial_s.reshape(state.size), ks.reshape((4, state.size))
    replicated = False  # theta holds the present parameters (they stay put while the ports are open)
    for m in range(xs.shape[0] * gate.shape[0]):
        update, j = divmod(m, gate.shape[0])
        x, target, mode, h = xs[update], targets[update], gate[j], hs[j]
        live = mode == LIVE
        for stage in range(4):
            _combine(flat_w, h, _TABLEAU[stage], flat_kw, flat_tw)
            _combine(flat_s, h, _TABLEAU[stage], flat_ks, flat_ts)
            if not (replicated and mode == OPEN):
                replicate(trial_s, n_params, lanes, theta)
            replicated = mode == OPEN
            with_effort = live or (stage == 0 and mode == SAMPLE)
            _relax(table, activations, loss_code, beta, tau, x, target, trial_w, theta, with_effort, emit, effort,
                   scratch, kw[stage])
            if with_effort:
                mean_efforts(effort, n_params, lanes, held if mode == SAMPLE else port_effort)
            if mode == OPEN:
                port_effort[:] = 0.0
            elif not live:
                _copy(held, port_effort)
            _derivative(trial_s, port_effort, n_params, False, rate, no_rate, no_rate, no_rate, ks[stage])
            weight = h * _RK4_WEIGHTS[stage]
            _port_power(trial_s, port_effort, n_params, rate, no_rate, cap, weight, ledger, heat, False, rate, rate, False)
            _node_power(emit, trial_w, tau, node_cap, weight, ledger)
        _combine(flat_w, h, _TABLEAU[_STEP], flat_kw, flat_tw)
        _combine(flat_s, h, _TABLEAU[_STEP], flat_ks, flat_ts)
        _copy(trial_w, waves)
        _copy(trial_s, state)
        if j == gate.shape[0] - 1:
            for q in range(n_params):
                if not np.isfinite(state[q, 0]):
                    return update + 1
            if (update + 1) % record_every == 0:
                r = (update + 1) // record_every - 1
                for q in range(n_params):
                    record_params[r, q] = state[q, 0]
    return -1
