"""Compiled time stepper of the transmission-line trainer (:func:`circuits.realize.tline_trainer`).

The circuit is a delay-differential system: every wave arriving at time ``t`` is the wave emitted at
the other end of its lossless line at ``t - td``, the junctions are algebraic
(:func:`circuits.junctions.junction_field`), and the parameter capacitors obey ``dtheta/dt = -lr e -
leak theta`` (resistive ports) or ``dtheta/dt = v - leak theta``, ``dv/dt = -inertia e - friction v``
(inertial ports). With ``h = td / M`` the delay is exactly ``M`` steps, so each line is a ring buffer.

Scheme: classical RK4 on the grid ``t_m = m h``. Its stages need the arrivals at ``t_m`` (stage 1),
``t_m + h/2`` (stages 2, 3) and ``t_{m+1}`` (stage 4); all three are emissions ``td`` earlier, so the
ring keeps, per grid step, three emissions: the left limit at ``t_m``, the right limit at ``t_m`` and
the value at the midpoint ``t_m + h/2`` (computed after each step from RK4's continuous extension of
order 3, ``theta(t_m + h/2) = theta_m + h (5 k1 + 4 k2 + 4 k3 - k4) / 24``). During the first round trip the
waves jump at multiples of ``td`` (all sources switch on at ``t = 0``); those instants are grid points,
stage 1 reads the right limit and stage 4 the left limit, so no step straddles a discontinuity and the
scheme keeps its fourth order (Bellen and Zennaro: RK order 4 with a continuous extension of order 3
gives order 4 on a DDE whose breaking points are grid points). A left limit differs from its right
limit only where the arrivals it was computed from did; elsewhere it is not stored (a per-slot flag), so
after the first round trip no extra evaluation is made. The ring spans ``2M`` steps: the arrivals at
``t_m`` sit in slot ``(m - M) mod 2M`` while the field writes the emissions of ``t_m`` into slot ``m mod
2M``, in place (the two slots never coincide; no copies).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .junctions import costs_at, field_scratch, port_field

__all__ = ["run_tline"]

LEFT, RIGHT, MID = 0, 1, 2


@njit(cache=True, error_model="numpy")
def _derivative(state, effort, n_params, inertial, rate, leak, inertia, friction, out):
    """Port laws per instance: ``-rate e - leak theta``, or ``v - leak theta`` and ``-inertia e - friction v``."""
    _port_laws(state, effort, n_params, inertial, rate, leak, inertia, friction, out[np.newaxis], 0, True)


@njit(cache=True, error_model="numpy", inline="always")
def _port_laws(state, effort, n_params, inertial, rate, leak, inertia, friction, out, stage, leaky):
    """:func:`_derivative` into ``out[stage]`` (no views in the stepping loops). ``leaky`` False says every
    ``leak`` is zero: the resistive law is then ``-rate e`` alone (the same value, one stream less)."""
    instances = state.shape[1]
    for q in range(n_params):
        if inertial:
            for p in range(instances):
                out[stage, q, p] = state[n_params + q, p] - leak[q, p] * state[q, p]
                out[stage, n_params + q, p] = -inertia[q, p] * effort[q, p] - friction[q, p] * state[n_params + q, p]
        elif leaky:
            for p in range(instances):
                out[stage, q, p] = -rate[q, p] * effort[q, p] - leak[q, p] * state[q, p]
        else:
            for p in range(instances):
                out[stage, q, p] = -rate[q, p] * effort[q, p]


@njit(cache=True, error_model="numpy")
def _combine(base, h, weights, ks, out):
    """``out = base + h sum_j weights[j] ks[j]`` on flat arrays (``ks`` is (4, size)); zero weights are skipped."""
    _combine_row(base, h, weights[np.newaxis], 0, ks, out)


@njit(cache=True, error_model="numpy", inline="always")
def _combine_row(base, h, tableau, row, ks, out):
    """:func:`_combine` with the weights ``tableau[row]``, in one pass over the arrays: ``base + s_0 k_0 + ... +
    s_3 k_3`` summed in that order (a zero weight adds an exact zero to a finite sum)."""
    used, slope = 0, 0
    for j in range(4):
        if tableau[row, j] != 0.0:
            used, slope = used + 1, j
    if used <= 1:  # the RK4 stages read one slope each: one stream, not four
        step = h * tableau[row, slope]
        for r in range(base.size):
            out[r] = base[r] + step * ks[slope, r]
    else:
        s0, s1, s2, s3 = h * tableau[row, 0], h * tableau[row, 1], h * tableau[row, 2], h * tableau[row, 3]
        for r in range(base.size):
            out[r] = (((base[r] + s0 * ks[0, r]) + s1 * ks[1, r]) + s2 * ks[2, r]) + s3 * ks[3, r]


@njit(cache=True, error_model="numpy")
def _differs(left, right):
    """Whether two C-contiguous arrays of one shape differ anywhere."""
    flat_l, flat_r = left.reshape(left.size), right.reshape(right.size)
    for r in range(flat_l.size):
        if flat_l[r] != flat_r[r]:
            return True
    return False


@njit(cache=True, error_model="numpy")
def _copy(source, target):
    """``target[...] = source`` for C-contiguous arrays of one shape (a loop: no broadcasting machinery)."""
    flat_s, flat_t = source.reshape(source.size), target.reshape(target.size)
    for r in range(flat_s.size):
        flat_t[r] = flat_s[r]


@njit(cache=True, error_model="numpy", inline="always")
def _jumps(ring, slot):
    """Whether the left and right limits stored at ``ring[slot]`` differ anywhere."""
    for r in range(ring.shape[2]):
        for c in range(ring.shape[3]):
            if ring[slot, LEFT, r, c] != ring[slot, RIGHT, r, c]:
                return True
    return False


@njit(cache=True, error_model="numpy", _nrt=False)  # allocates nothing: no reference counts on each call
def _record(loss_code, state, ring_f, ring_b, slot, last, n_last, target, batch, r, start, record_params, record_loss,
            record_peak, record_a, record_s, record_waves):
    """Record ``r``: the block's parameters, their largest magnitude per instance, batch-mean costs and
    (``record_waves``) arriving right limits at instance offset ``start`` (a call, not inlined: it runs once
    per step, and the stepping loop stays compact)."""
    instances = state.shape[1]
    # unsigned record columns: no negative-index wrap-around, so the loops are contiguous vector copies (a signed
    # start + p compiled to a scatter)
    for p in range(instances):
        record_peak[r, np.uint64(start + p)] = 0.0
    for q in range(record_params.shape[1]):
        for p in range(instances):
            column = np.uint64(start + p)
            record_params[r, q, column] = state[q, p]
            record_peak[r, column] = max(record_peak[r, column], abs(state[q, p]))
    costs_at(loss_code, ring_f, slot, RIGHT, last, n_last, target, batch, record_loss, r, start)
    if record_waves:
        for row in range(ring_f.shape[2]):
            for n in range(batch):
                for p in range(instances):
                    record_a[r, row, n, np.uint64(start + p)] = ring_f[slot, RIGHT, row, n * instances + p]
                    record_s[r, row, n, np.uint64(start + p)] = ring_b[slot, RIGHT, row, n * instances + p]


# rows of trial = state + h * sum_j _TABLEAU[row, j] k_j: the RK4 stages at t_m, t_m + h/2, t_m + h/2, t_m + h,
# the continuous extension at t_m + h/2, and the step itself
_TABLEAU = np.array([[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0],
                     [5.0 / 24.0, 1.0 / 6.0, 1.0 / 6.0, -1.0 / 24.0], [1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0]])
_MIDPOINT, _STEP = 4, 5


@njit(cache=True, error_model="numpy")
def run_tline(table, activations, loss_code, beta_p, x_s, target_s, state_i, n_params, inertial, moving, rate_i, leak_i,
              inertia_i, friction_i, h, steps_per_td, steps, record_every, record_params, record_loss, record_peak,
              record_a, record_s, record_waves, block):
    """Advance the trainer ``steps`` RK4 steps of ``h`` seconds from rest; returns the first failing step or -1.

    Instances run in blocks of ``block`` (a block's lanes stay in cache), one after another in this one
    call (one function: a wrapper calling a per-block kernel doubled the compile time, LLVM optimising
    the inlined body twice). ``beta_p`` (I,) is each instance's loss-port gain, ``x_s`` (n_0, B) and
    ``target_s`` (n_L, B) the samples as columns; each block lays them out on its lanes
    (:mod:`circuits.junctions`, ``c = n I_b + p``). ``state_i`` (S, I) is advanced in place (S = P, or
    2P with the inertial flows after the parameters); ``rate_i``, ``leak_i``, ``inertia_i``,
    ``friction_i`` are (P, I); the lines start at rest. Records are taken at grid points ``m`` with ``m
    % record_every == 0`` into ``record_params`` (R, P, I), ``record_loss`` (R, I), ``record_peak`` (R, I;
    each instance's largest parameter magnitude, for the divergence check) and, when
    ``record_waves``, the arriving waves ``record_a``/``record_s`` (R, N, B, I). All arrays
    C-contiguous. The stepping loop indexes every array in place: no array views (each costs a
    reference count) and no per-step allocation; the per-step copies and checks run over flat rows.
    A block whose state turns non-finite stops there; the others run on.
    """
    failed = -1
    for start in range(0, state_i.shape[1], block):
        stop = min(start + block, state_i.shape[1])
        instances, batch = stop - start, x_s.shape[1]
        code = -1
        lanes, size = batch * instances, state_i.shape[0]
        nodes = table[table.shape[0] - 1, 3] + table[table.shape[0] - 1, 1]
        # the block's own contiguous copies: per-instance rows, and per-lane gains and samples
        state = np.empty((size, instances))
        rate, leak = np.empty((n_params, instances)), np.empty((n_params, instances))
        inertia, friction = np.empty((n_params, instances)), np.empty((n_params, instances))
        for p in range(instances):
            for q in range(size):
                state[q, p] = state_i[q, start + p]
            for q in range(n_params):
                rate[q, p], leak[q, p] = rate_i[q, start + p], leak_i[q, start + p]
                inertia[q, p], friction[q, p] = inertia_i[q, start + p], friction_i[q, start + p]
        beta = np.empty(lanes)
        x = np.empty((x_s.shape[0], lanes))
        target = np.empty((target_s.shape[0], lanes))
        for n in range(batch):
            for p in range(instances):
                beta[n * instances + p] = beta_p[start + p]
                for j in range(x_s.shape[0]):
                    x[j, n * instances + p] = x_s[j, n]
                for j in range(target_s.shape[0]):
                    target[j, n * instances + p] = target_s[j, n]
        leaky = False
        for q in range(n_params):
            for p in range(instances):
                leaky |= leak[q, p] != 0.0
        # the ring holds 2M delays of emissions: the arrivals at t_j are the emissions of t_{j-M}, kept in slot
        # (j - M) mod 2M, while step j writes its own emissions into slot j mod 2M, so the field reads arrivals
        # and writes emissions in place (no copies; the two never share a slot). Slot 2M is scratch for the
        # emissions of evaluations that keep none (the generic field writes them regardless)
        ring_f = np.zeros((2 * steps_per_td + 1, 3, nodes, lanes))
        ring_b = np.zeros_like(ring_f)
        scratch = field_scratch(table, lanes)
        effort = np.empty((n_params, lanes))
        port_effort = np.empty((n_params, instances))
        ks = np.zeros((4, size, instances))
        trial = np.empty((size, instances))
        theta = np.empty((n_params, lanes))
        # flat views, made once
        flat_state, flat_trial = state.reshape(state.size), trial.reshape(trial.size)
        flat_ks = ks.reshape((4, state.size))
        last, n_last = table[table.shape[0] - 1, 3], table[table.shape[0] - 1, 1]
        left_done = True  # t = 0: the left limit (lines at rest, sources off) stays zero
        # has_left[s]: ring slot s holds a left limit of its own (else the left limit is its right limit, not
        # copied); the lines start at rest, so every slot's zero left limit is exact
        has_left = np.ones(2 * steps_per_td + 1, dtype=np.bool_)
        # the last arrivals that can jump: sources switch on at t = 0, the fronts reach the loss port after
        # L delays and junction 1 after 2L; later every emission is continuous (the scan would find nothing)
        horizon = (2 * table.shape[0] + 2) * steps_per_td
        discard = 2 * steps_per_td
        for m in range(steps + 1):
            # arrivals at t_m and t_{m+1}; the emissions of t_m and t_{m+1}
            slot, following = (m + steps_per_td) % discard, (m + 1 + steps_per_td) % discard
            emitting, emitting_next = m % discard, (m + 1) % discard
            # one call site of the field (compact code): stages 0-3 of RK4, the midpoint emission (4) and,
            # where the arrivals jump, the left limit at t_{m+1} (5)
            for stage in range(6):
                if stage == _STEP:
                    _combine_row(flat_state, h, _TABLEAU, _STEP, flat_ks, flat_trial)
                    finite = True
                    for r in range(flat_state.size):  # one pass: the copy and the check
                        flat_state[r] = flat_trial[r]
                        finite &= np.isfinite(flat_trial[r])
                    if not finite:
                        code = m + 1
                        break
                    left_done = m + 1 <= horizon and has_left[following] and (_jumps(ring_f, following)
                                                                              or _jumps(ring_b, following))
                    if not left_done:
                        break
                elif stage > 0:  # stage 1 evaluates at the state itself
                    _combine_row(flat_state, h, _TABLEAU, stage, flat_ks, flat_trial)
                point = state if stage == 0 else trial
                # arrivals: right limits at t_m - td (stage 0), midpoints (1, 2, 4), left limits at t_{m+1} - td (3, 5)
                source = slot if stage in (0, 1, 2, _MIDPOINT) else following
                kind = RIGHT if stage == 0 else (MID if stage in (1, 2, _MIDPOINT) else (LEFT if has_left[following]
                                                                                          else RIGHT))
                with_effort = moving and stage < 4
                # the emissions of stages 1-3 are not kept: those evaluations need only the efforts
                with_emission = stage == 0 or not with_effort
                # the emissions kept: right limit at t_m (0), midpoint (4), left limit at t_{m+1} (5)
                target_slot = emitting if stage in (0, _MIDPOINT) else (emitting_next if stage == _STEP else discard)
                target_kind = RIGHT if stage == 0 else (MID if stage == _MIDPOINT else LEFT)
                port_field(table, activations, loss_code, beta, point, x, target, ring_f, ring_b, source, kind, ring_f,
                           ring_b, target_slot, target_kind, port_effort, with_effort, with_emission, theta, effort,
                           scratch)
                if stage == 0:
                    if m % record_every == 0:
                        _record(loss_code, state, ring_f, ring_b, slot, last, n_last, target, batch, m // record_every,
                                start, record_params, record_loss, record_peak, record_a, record_s, record_waves)
                    has_left[emitting] = left_done  # else no jump at t_m: the left limit is the right limit
                    if m == steps or not moving:
                        break
                if with_effort:
                    _port_laws(point, port_effort, n_params, inertial, rate, leak, inertia, friction, ks, stage, leaky)
            if code >= 0:
                break
        for q in range(size):
            for p in range(instances):
                state_i[q, start + p] = state[q, p]
        if code >= 0 and (failed < 0 or code < failed):
            failed = code
    return failed
