"""Compiled time stepper of the lumped dyadic RC trainer (:func:`circuits.realize.rc_trainer`).

Every neuron of every sample copy is an activation node ``a+`` and a sensitivity node ``a-``, each a
capacitor charged through ``R`` from the junction's source: ``tau da+/dt = f(W a+_prev + b) - a+`` and
``tau da-/dt = W^T (f' * a-_next) - a-`` (or the loss port ``beta dc/da+_L``), with ``tau = RC`` and the
sources of :func:`circuits.junctions.junction_field` read at the node voltages. The parameter
capacitors obey the same port laws as the T-line trainer's. The system is an ODE, smooth for ``t > 0``
(all sources switch on at ``t = 0``, the nodes start at rest), integrated by classical RK4 with a fixed
step: fourth order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .junctions import batch_cost, field_scratch, junction_field, mean_efforts, replicate
from .tline_engine import _STEP, _TABLEAU, _combine, _copy, _derivative

__all__ = ["run_rc"]


@njit(cache=True, error_model="numpy")
def _rc_field(table, activations, loss_code, beta, tau, x, target, waves, state, n_params, batch, inertial, rate, leak,
              inertia, friction, emit, theta, effort, port_effort, scratch, d_waves, d_state):
    replicate(state, n_params, batch, theta)
    junction_field(table, activations, loss_code, beta, theta, x, target, waves[0], waves[1], emit[0], emit[1],
                   effort, n_params > 0, scratch)
    mean_efforts(effort, n_params, batch, port_effort)
    for side in range(2):
        for r in range(waves.shape[1]):
            for c in range(waves.shape[2]):
                d_waves[side, r, c] = (emit[side, r, c] - waves[side, r, c]) / tau[c]
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
