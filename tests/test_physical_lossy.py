"""Lossy RLC lines by the method of lines, junction mismatch and delay spread in the tline trainer (issue 10)."""

from __future__ import annotations

import numpy as np
import pytest

from circuits.lossy_engine import Ladders, line_factors, needs_ladders
from circuits.physical import Circuit, TLineSession
from circuits.schedule_engine import OPEN
from substrate import MLP
from substrate.distributed.frequency import transient
from substrate.distributed.lines import PWL, Line, LineNetwork, Resistor, Thevenin
from substrate.errors import ConfigurationError
from substrate.learning import train
from substrate.network import get_loss
from substrate.ports import Resistive

LOSS = get_loss("cross_entropy")


def _xor_minibatches(n_batches, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_batches, batch, 2))
    y = (x[..., 0] * x[..., 1] > 0).astype(int)
    return x, np.stack([LOSS.target(row, 2) for row in y])


def _ladder_session(circuit, schedule="pipelined", net=None, lr=0.1, batch=2):
    """A session on the method-of-lines kernel even where the ring kernel would be chosen."""
    net = MLP([2, 3, 2], "tanh", "identity", seed=0) if net is None else net
    session = TLineSession(net, "cross_entropy", circuit, schedule, lr, batch)
    session.ladders = Ladders(session.layout, batch, circuit, session.delays if session.stubs else None)
    session.energy_start = session.stored_energy()
    return session


def test_the_session_picks_the_kernel_by_the_lines():
    net = MLP([2, 3, 2], seed=0)
    assert TLineSession(net, "mse", Circuit(), "pipelined", 0.1, 2).ladders is None
    assert TLineSession(net, "mse", Circuit(line_attenuation_db=1.0), "pipelined", 0.1, 2).ladders is None
    # mismatch alone keeps the exact ring kernel (its ends reflect on the grid)
    assert TLineSession(net, "mse", Circuit(source_resistance=60.0), "pipelined", 0.1, 2).ladders is None
    for options in ({"line_resistance": 1.0}, {"delay_spread": 0.05}, {"line_resistance": 1.0, "source_resistance": 60.0}):
        assert needs_ladders(Circuit(**options))
        assert TLineSession(net, "mse", Circuit(**options), "pipelined", 0.1, 2).ladders is not None


def test_lossless_ladders_converge_to_the_ring_kernel_at_second_order():
    """With ``line_resistance = 0`` the ladders approach the exact ring kernel's trajectories as cells grow.

    Measured (12 pipelined updates with stubs of a 2-3-2 tanh classifier, lr 0.1, Courant number 1):
    the largest deviation relative to each parameter's range is 1.8e-2, 4.5e-3, 1.1e-3, 2.8e-4, 7.1e-5
    at 2, 4, 8, 16, 32 cells per delay, a ratio of 4.00 per doubling: second order.
    """
    x, target = _xor_minibatches(12)
    net = MLP([2, 3, 2], "tanh", "identity", seed=0)
    ring = TLineSession(net, "cross_entropy", Circuit(), "pipelined", 0.1, 2).run(x, target, record_every=1)
    span = np.ptp(ring, axis=0)
    errors = []
    for cells in (4, 8, 16):
        session = _ladder_session(Circuit(line_cells=cells), "pipelined", net)
        errors.append(np.max(np.abs(session.run(x, target, record_every=1) - ring) / span))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    # second order: 4 per doubling (measured 3.996, 3.998); the band allows the next order's share
    assert np.all((ratios > 3.5) & (ratios < 4.5)), (errors, ratios)
    assert errors[-1] < 1e-3


def test_lossless_ladders_with_sample_and_hold_ports_are_gradient_descent():
    """At Courant number 1 the leapfrog shifts a lossless line exactly and matched ends read their waves
    exactly, so the separated schedule's sampled efforts are backprop's and the ladders reproduce the ring
    kernel (gradient descent) to rounding at any cell count (measured 4e-16)."""
    x, target = _xor_minibatches(6)
    net = MLP([2, 3, 2], "tanh", "identity", seed=0)
    ring = TLineSession(net, "cross_entropy", Circuit(), "separated", 0.1, 2).run(x, target, record_every=1)
    for cells in (1, 3):
        session = _ladder_session(Circuit(line_cells=cells), "separated", net)
        assert np.max(np.abs(session.run(x, target, record_every=1) - ring)) < 1e-13


def _single_line(cells, resistance, source_resistance, delays):
    """A 1-1 identity trainer: junction 1 drives one lossy link line with ``2 x`` behind ``source_resistance``;
    the loss port at its far end (mse, ``beta`` 1e-12) is a resistor ``source_resistance`` to 1e-12. Returns the
    forward wave arriving at the far end, averaged over each line delay (the kernel's half-step samples)."""
    net = MLP([1, 1], "identity", "identity", seed=0)
    net.params = [np.ones((1, 1)), np.zeros(1)]
    circuit = Circuit(line_resistance=resistance, source_resistance=source_resistance, line_cells=cells)
    session = TLineSession(net, "mse", circuit, "separated", 1.0, 1, beta=1e-12)
    session.rate[:] = 0.0
    ladders = session.ladders
    probe = np.zeros((delays * ladders.steps, 1, 1))
    zeros = np.zeros(delays, dtype=np.int64)
    code = ladders.run(session, np.ones((1, 1, 1)), np.zeros((1, 1, 1)), zeros, zeros, np.full(delays, OPEN),
                       np.zeros((2, 0, 1, 1)), delays, np.empty((1, 2)), probe)
    assert code == -1
    return probe[:, 0, 0].reshape(delays, ladders.steps).mean(axis=1)


def test_a_single_lossy_line_matches_the_exact_frequency_domain_solution():
    """A 1 V step into one RLC line (R = 10 ohm over its 1 ns, z0 = 50 ohm, both ends 60 ohm: mismatched).

    The oracle is :func:`substrate.distributed.frequency.transient` (exact ABCD solution inverted
    numerically). The kernel's samples average the far-end wave over each delay, so the oracle is
    the response to a ramp source (its derivative is the step response) differenced at the delays:
    no Gibbs ringing, error 1/max_frequency (2.3e-6 at 2e4 / td, read off the first delay where the
    exact value is 0). Measured deviations: 7.5e-5, 2.0e-5 at 4, 8 cells per delay (ratio 3.7, second
    order to the oracle's floor).
    """
    td, z0, R, Rs, delays = 1e-9, 50.0, 10.0, 60.0, 6
    ramp = Thevenin(PWL((0.0, 2 * delays * td), (0.0, 4.0 * delays)), Rs)  # 2 V/td: the integral of a 2 V step
    network = LineNetwork.single(Line.from_impedance(z0, td, 1.0, R), ramp, Resistor(Rs))
    integral = transient(network, np.arange(delays + 1) * td, max_frequency=2e4 / td, period=4 * delays * td)["load"]
    exact = np.diff(integral)
    assert abs(exact[0]) < 5e-6  # the oracle's own error: nothing has arrived in the first delay
    assert 0.85 < exact[1] < 0.95  # the lossy, mismatched line passes ~0.9 of the wave (not a trivial answer)
    errors = [np.max(np.abs(_single_line(cells, R, Rs, delays) - exact)) for cells in (4, 8)]
    # second order: 4 per doubling; 3 leaves room for the oracle's 2.3e-6
    assert errors[0] < 1e-4 and errors[1] < 3e-5 and errors[0] / errors[1] > 3.0, errors


def test_delay_spread_moves_each_wave_front_to_its_drawn_delay():
    """Line ``i`` of a spread circuit delays by ``td (1 + s u_i)``: the front of a step reaches the far end then."""
    circuit = Circuit(delay_spread=0.2, line_cells=16, seed=5)
    net = MLP([1, 3], "identity", "identity", seed=0)
    net.params = [np.ones((3, 1)), np.zeros(3)]
    session = TLineSession(net, "mse", circuit, "separated", 1.0, 2, beta=1e-12)
    session.rate[:] = 0.0
    ladders = session.ladders
    delays = 3
    probe = np.zeros((delays * ladders.steps, 3, 2))
    zeros = np.zeros(delays, dtype=np.int64)
    ladders.run(session, np.ones((1, 1, 2)), np.zeros((1, 3, 2)), zeros, zeros, np.full(delays, OPEN),
                np.zeros((2, 0, 3, 2)), delays, np.empty((1, 6)), probe)
    factors = line_factors(circuit, session.layout, 2)[0]
    assert np.ptp(factors) > 0.1  # the draw spreads the lines
    half_steps = (np.arange(len(probe)) + 0.5) * ladders.dt
    for r in range(3):
        for c in range(2):
            arrival = half_steps[np.argmax(probe[:, r, c] > 0.5)]
            # the leapfrog below Courant 1 smears a front over a few cells: within 2 cells of the drawn delay
            assert abs(arrival - circuit.td * factors[r, c]) <= 2 * circuit.td / 16 * 1.2


def test_line_factors_are_seeded_and_apart_from_the_capacitor_draws():
    circuit = Circuit(delay_spread=0.1, capacitor_tolerance=0.1, seed=3)
    layout = TLineSession(MLP([2, 3, 2], seed=0), "mse", circuit, "pipelined", 0.1, 2).layout
    first, again = line_factors(circuit, layout, 2), line_factors(circuit, layout, 2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    links = first[0]
    assert links.shape == (5, 2) and np.all(np.abs(links - 1) <= 0.1)
    assert not np.allclose(links.ravel()[:5], 1 + 0.1 * (circuit.capacitances(5) / 1e-12 - 1) / 0.1)


@pytest.mark.parametrize("options", [{"line_resistance": 5.0}, {"line_resistance": 2.0, "source_resistance": 65.0},
                                     {"delay_spread": 0.1, "leak_resistance": 1e5, "line_cells": 3},
                                     {"line_resistance": 1.0, "noise_rms": 0.01, "amplifier_gain": 50.0}])
@pytest.mark.parametrize("schedule", ["pipelined", "separated"])
def test_energy_ledger_closes_with_lossy_lines(options, schedule):
    """The leapfrog's discrete energy changes by exactly the booked source, termination and series terms, and
    the ports are booked at the mean parameter of each step: the balance closes to rounding (measured < 1e-15)."""
    x, target = _xor_minibatches(8)
    session = TLineSession(MLP([2, 3, 2], "tanh", "identity", seed=0), "cross_entropy", Circuit(**options),
                           schedule, 0.2, 2)
    session.run(x, target)
    energy = session.energy()
    assert energy["energy_balance_error"] < 1e-12
    assert (energy["line_resistors_j"] > 0) == (options.get("line_resistance", 0) > 0)
    assert energy["injected_j"] > 0 and energy["port_resistors_j"] > 0


def test_line_resistance_attenuates_the_efforts_toward_the_scaled_gradient():
    """Frozen efforts on a lossy line: a series ``R`` attenuates every hop by about ``exp(-R / (2 z0))``
    (the low-loss attenuation of an RLC line), so the efforts shrink toward the gradient times that
    factor per hop, and the relative bias grows with ``R`` (monotone, measured 0.02, 0.08, 0.35)."""
    from circuits.physical import frozen_efforts
    from substrate import backprop

    x, target = _xor_minibatches(1, batch=4)
    net = MLP([2, 3, 2], "tanh", "identity", seed=1)
    exact = np.concatenate([g.ravel() for g in backprop(net, x[0], target[0], LOSS)])
    biases = []
    for R in (0.5, 2.0, 10.0):
        effort = np.concatenate([e.ravel() for e in frozen_efforts(net, "cross_entropy",
                                                                    Circuit(line_resistance=R), x[0], target[0])])
        biases.append(np.max(np.abs(effort - exact)) / np.max(np.abs(exact)))
    assert biases[0] < biases[1] < biases[2]
    # a hop passes exp(-R/(2 z0)); two hops (loss port and back) lose about R/z0 at least
    assert biases[0] == pytest.approx(0.5 / 50, rel=1.0)


@pytest.mark.parametrize("table, message", [
    ({"line_resistance": -1.0}, r"circuit.line_resistance = -1.0 is outside the valid range \[0"),
    ({"delay_spread": 1.0}, r"circuit.delay_spread = 1.0 is outside the valid range \[0"),
    ({"source_resistance": 0.0}, r"circuit.source_resistance = 0.0 is outside the valid range \(0"),
    ({"line_cells": 0}, r"circuit.line_cells = 0 is outside the valid range \[1"),
])
def test_bad_lossy_line_values_are_refused_before_any_work(table, message):
    with pytest.raises(ConfigurationError, match=message):
        train(MLP([2, 8, 2], seed=0), "xor", substrate="tline", port=Resistive(10.0), circuit=table)


def test_line_attenuation_with_lossy_ladders_is_refused():
    with pytest.raises(ConfigurationError, match=r"circuit.line_resistance = 1.0, circuit.line_attenuation_db = 1.0: "
                                                 "the method-of-lines kernel"):
        TLineSession(MLP([2, 3, 2], seed=0), "mse", Circuit(line_attenuation_db=1.0, line_resistance=1.0),
                     "pipelined", 0.1, 2)


@pytest.mark.parametrize("table, message", [
    ({"delay_spread": 0.1, "amplifier_bandwidth": 1e9}, r"circuit.delay_spread = 0.1, circuit.amplifier_bandwidth"),
    ({"line_resistance": 2.0, "parameter_limit": 1.0}, r"circuit.line_resistance = 2.0, circuit.parameter_limit"),
])
def test_ladders_with_sub_stepping_keys_are_refused_before_any_work(table, message):
    with pytest.raises(ConfigurationError, match=message):
        train(MLP([2, 8, 2], seed=0), "xor", substrate="tline", port=Resistive(10.0), circuit=table)


def test_inertial_ports_on_ladders_are_refused():
    with pytest.raises(ConfigurationError, match=r"inertial ports \(momentum 0.9\) with circuit.line_resistance = 1.0"):
        TLineSession(MLP([2, 3, 2], seed=0), "mse", Circuit(line_resistance=1.0), "pipelined", 0.1, 2, momentum=0.9)


def test_spread_lines_settled_past_the_slowest_round_trip_give_backprop_efforts():
    """Lossless matched lines of any delays pass their waves unchanged once the fronts have passed (whole
    cells at Courant number 1, a fractional delay interpolated over one step), so with the gate opening
    after the slowest round trip (``2L (1 + s) td < settle td``) the frozen efforts are backprop's gradient
    to rounding (measured 2e-16); at the default settle ``2L td`` the slow lines' fronts are still missing."""
    from circuits.physical import frozen_efforts
    from substrate import backprop

    x, target = _xor_minibatches(1, batch=4)
    net = MLP([2, 3, 2], "tanh", "identity", seed=1)
    exact = np.concatenate([g.ravel() for g in backprop(net, x[0], target[0], LOSS)])

    def error(settle):
        circuit = Circuit(delay_spread=0.2, settle_delays=settle, seed=2)
        effort = np.concatenate([e.ravel() for e in frozen_efforts(net, "cross_entropy", circuit, x[0], target[0])])
        return np.max(np.abs(effort - exact)) / np.max(np.abs(exact))

    assert error(5) < 1e-12
    assert error(4) > 1e-3


# --- the exported trainer in ngspice: junction mismatch, lossy lines ----------------------------------
def _trained_window(n_window=6, batch=2):
    """A 2-3-2 classifier trained natively on the ideal circuit (1000 pipelined updates), then a window."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = ((x[:, 0] * x[:, 1]) > 0).astype(int)
    xb = x.reshape(-1, batch, 2)
    tb = np.stack([LOSS.target(row, 2) for row in y.reshape(-1, batch)])
    net = MLP([2, 3, 2], "tanh", "identity", seed=0)
    session = TLineSession(net, "cross_entropy", Circuit(), "pipelined", 0.1, batch)
    for _ in range(5):
        session.run(xb, tb)
    net.params = session.params()
    return net, xb[:n_window], tb[:n_window]


def _native_and_ngspice(circuit, steps_per_td, n_window=6):
    from circuits.physical_netlist import pipelined_trainer
    from test_physical import spice_window_errors

    net, x, target = _trained_window(n_window)
    native = _ladder_session(circuit, net=net)  # the ladder kernel even for mismatch alone
    trajectory = np.vstack([np.concatenate([p.ravel() for p in net.params]), native.run(x, target, record_every=1)])
    exported = pipelined_trainer(net, x, target, "cross_entropy", circuit, 0.1, steps_per_td=steps_per_td)
    return spice_window_errors(exported, trajectory, circuit.td)


def test_exported_mismatched_trainer_matches_the_ladder_kernel_in_ngspice(ngspice):
    """Junction source resistors of 60 ohm on 50-ohm lines (reflections at every junction), pipelined with
    stubs, 6 minibatches: ngspice (lossless T lines, source resistors R_f, R_g = 60 ohm) against the ladder
    kernel at 64 cells per delay. Measured 2.5e-5 of each parameter's range at 1000 ngspice steps per
    delay (1.0e-4 at 400: ngspice's first-order step error; the kernel's own is 2e-5 at 64 cells, from
    its second-order convergence 3.5e-3, 8.9e-4, 2.2e-4 at 8, 16, 32). Acceptance 1e-4."""
    errors = _native_and_ngspice(Circuit(source_resistance=60.0, line_cells=64), 1000)
    assert np.max(errors) <= 1e-4, errors


def test_exported_lossy_mismatched_trainer_matches_the_kernel_over_a_window_where_every_port_integrates(ngspice):
    """Acceptance 3's non-ideal window with dispersive lossy lines: series resistance 0.5 ohm per delay (the
    method-of-lines kernel; ngspice's LTRA) and 60-ohm junction sources, 8 minibatches (every port integrating
    from the fifth). The exporter turns LTRA's slope breakpoints off (model ``rel = abs = 1e6``): with the
    defaults (1) LTRA sets a breakpoint one delay after every change of slope at its ends, the junctions
    re-emit them and they multiply (ngspice's time points per delay 110, 123, 137, 187, 306, 864, 2242, 5414
    over minibatches 1-8, smallest step 1e-21 s), and the parameters parted from the kernel (1.5e-1 of range
    at the eighth). Without them, against the kernel at 128 cells (its own error about 2e-5: 64 and 128
    cells differ by 6.7e-5), ngspice's error falls at first order in its step to a best setting and then
    rises again as LTRA's own error grows at tiny steps: 1.0e-4, 6.8e-5, 4.9e-5, 3.9e-5, 2.1e-4, 3.9e-4 of
    each range at 300, 400, 500, 700, 1000, 2000 steps per delay (measured after the merge that puts the
    stubs' sources at ``source_resistance``). ngspice at its best setting, 700; tolerance 1e-4: the
    acceptance. ngspice runs ~20 s."""
    from circuits.netlist import LTRA
    from circuits.physical_netlist import pipelined_trainer

    circuit = Circuit(source_resistance=60.0, line_resistance=0.5, line_cells=128)
    net, x, target = MLP([2, 3, 2], seed=0), *_xor_minibatches(1)
    lines = [e for e in pipelined_trainer(net, x, target, "cross_entropy", circuit, 0.1).netlist.elements
             if isinstance(e, LTRA)]
    assert lines and all(e.breakpoint_rel == e.breakpoint_abs == 1e6 for e in lines)
    errors = _native_and_ngspice(circuit, 700, 8)
    assert np.max(errors) <= 1e-4, errors


def test_exported_lines_carry_the_kernels_delays_resistances_and_source_resistors():
    """The netlist of a spread, lossy, mismatched trainer: every line at the delay and resistance the kernel
    drew for it (LTRA ``l = z0 d``, ``c = d / z0``, ``r = R d / td``), the junction sources at 60 ohm."""
    from circuits.netlist import LTRA, Resistor as SpiceResistor, TLine
    from circuits.physical_netlist import pipelined_trainer

    circuit = Circuit(delay_spread=0.2, line_resistance=2.0, source_resistance=60.0, seed=4)
    net, x, target = MLP([2, 3, 2], "tanh", "identity", seed=0), *_xor_minibatches(3)
    exported = pipelined_trainer(net, x, target, "cross_entropy", circuit, 0.1)
    elements = exported.netlist.elements
    assert not any(isinstance(e, TLine) for e in elements)
    lines = {e.name: e for e in elements if isinstance(e, LTRA)}
    session = TLineSession(net, "cross_entropy", circuit, "pipelined", 0.1, 2)
    specs = session.ladders.specs
    assert len(lines) == len(specs) == 5 * 2 + (5 + 5) * 2  # links; stubs of 2 + 3 and 3 + 2 rows per lane
    # link line of junction 2, unit 1, sample 0 is the kernel's row 3 + 1 (link 2 starts at node 3), lane 0
    delay, ohms, _ = specs["l4_0"]
    line = lines["O2_1_s0"]
    assert line.l == pytest.approx(50.0 * delay, rel=1e-15) and line.c == pytest.approx(delay / 50.0, rel=1e-15)
    assert line.r == pytest.approx(ohms, rel=1e-15) and ohms == pytest.approx(2.0 * delay / 1e-9, rel=1e-12)
    assert len({round(e.l, 20) for e in lines.values()}) > 10  # the spread: delays differ line by line
    sources = [e for e in elements if isinstance(e, SpiceResistor) and e.name.startswith(("R_f", "R_g"))]
    assert len(sources) == 2 * 5 * 2 and all(e.value == 60.0 for e in sources)


def test_mismatched_ends_agree_between_the_ring_and_ladder_kernels():
    """Junction mismatch (60-ohm sources on 50-ohm lines) on both kernels: the ring kernel (exact delays,
    reflections on the grid, the junction loop by fixed point) and the ladder kernel (leapfrog cells)
    are separate implementations of the same circuit; over 12 pipelined updates of a 2-3-2 classifier
    their trajectories differ by the ladders' discretisation error, second order in the cells
    (measured 9.8e-4, 2.5e-4, 6.1e-5 of each parameter's range at 8, 16, 32 cells). Bounds: a ratio
    > 3.5 per doubling (second order: 4) and 1e-4 at 32 cells."""
    x, target = _xor_minibatches(12, batch=2)
    net = MLP([2, 3, 2], "tanh", "identity", seed=0)
    ring = TLineSession(net, "cross_entropy", Circuit(source_resistance=60.0), "pipelined", 0.1, 2)
    assert ring.ladders is None
    exact = ring.run(x, target, record_every=1)
    span = np.ptp(np.vstack([np.concatenate([p.ravel() for p in net.params]), exact]), axis=0)
    errors = []
    for cells in (8, 16, 32):
        ladders = _ladder_session(Circuit(source_resistance=60.0, line_cells=cells), net=net)
        errors.append(np.max(np.abs(ladders.run(x, target, record_every=1) - exact) / span))
    assert errors[0] / errors[1] > 3.5 and errors[1] / errors[2] > 3.5, errors
    assert errors[2] < 1e-4, errors
