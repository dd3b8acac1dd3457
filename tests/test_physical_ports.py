"""Band-limited junction amplifiers and bounded / quantised parameter voltages of the tline trainer (issue 10)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from circuits.physical import Circuit, TLineSession, frozen_efforts
from substrate import MLP, backprop
from substrate.datasets import load
from substrate.errors import ConfigurationError
from substrate.learning import train
from substrate.network import get_loss, gradient_error
from substrate.ports import Resistive

CE = get_loss("cross_entropy")


def _flat(params):
    return np.concatenate([p.ravel() for p in params])


def _digits_minibatches(n_batches, batch=16, seed=0):
    data = load("digits", test_fraction=0.3, seed=0)
    order = np.random.default_rng(seed).permutation(len(data.x_train))[:n_batches * batch].reshape(n_batches, batch)
    return data.x_train[order], np.stack([CE.target(data.y_train[rows], 10) for rows in order])


def _net(seed):
    """A 64-32-10 tanh network whose biases are drawn (``N(0, 0.05)``), none at zero, a quantiser's tie."""
    net = MLP([64, 32, 10], "tanh", "identity", seed=seed)
    rng = np.random.default_rng(seed)
    net.params = [p if p.ndim == 2 else rng.normal(0.0, 0.05, p.shape) for p in net.params]
    return net


# --- amplifier bandwidth ---------------------------------------------------------------------------
@pytest.mark.parametrize("settle", [2, 3, 4])
def test_band_limited_efforts_follow_two_cascaded_poles_at_fourth_order(settle, monkeypatch):
    """One linear layer, mse, one sample, from rest: the junction emits ``A = W x + b`` through its pole from
    ``t = 0`` (``A phi1(t)``, ``phi1(r) = 1 - e^(-r/tau)``); it reaches the loss port at ``td``, whose pole
    then emits ``k beta (a - y)``, i.e. ``k beta (A phi2(t - td) - y phi1(t))`` with the two-pole step
    ``phi2(r) = 1 - (1 + r/tau) e^(-r/tau)``, which arrives back at ``td`` later. The effort sampled at
    ``T = settle td`` is the ideal one times ``(A phi2(T - 2 td) - y phi1(T - td)) / (A - y)``."""
    td = 1e-9
    tau = td / 2.0
    circuit = Circuit(td=td, amplifier_bandwidth=1.0 / (2 * math.pi * tau), settle_delays=settle)
    assert circuit.line_steps == 8  # h = tau / 4
    net = MLP([2, 1], "identity", "identity", seed=1)
    x, y = np.array([[0.7, -0.4]]), np.array([[1.3]])
    A = float((net.forward(x))[0, 0])

    def phi1(r):
        return 0.0 if r <= 0 else 1.0 - math.exp(-r / tau)

    def phi2(r):
        return 0.0 if r <= 0 else 1.0 - (1.0 + r / tau) * math.exp(-r / tau)

    T = settle * td
    factor = (A * phi2(T - 2 * td) - y[0, 0] * phi1(T - td)) / (A - y[0, 0])
    ideal = backprop(net, x, y, get_loss("mse"))

    def error():
        measured = frozen_efforts(net, "mse", circuit, x, y)
        return max(np.max(np.abs(m - factor * g)) / np.max(np.abs(g)) for m, g in zip(measured, ideal))

    coarse = error()
    monkeypatch.setattr(Circuit, "line_steps", property(lambda self: 16))
    fine = error()
    # measured at 8 steps per delay: 1.0e-5, 2.8e-6, 8.4e-7 (settle 2, 3, 4) of the effort, and 17-18 times
    # less at 16 steps: RK4's fourth order (16) through the ring's samples of the forward pole
    assert coarse <= 2e-5
    assert coarse / fine >= 12
    # and the band limit is visible: the factor is far from 1 at these sampling instants
    assert abs(factor - 1.0) > 6e-3


def test_band_limited_circuit_settles_to_the_ideal_efforts():
    """The pole changes no steady state: sampled ``2 td`` after the round trip (``2 td = 38 tau`` at
    ``f_p = 3 / td``), the efforts of the digits network are backprop's to rounding."""
    x, target = _digits_minibatches(1)
    net = MLP([64, 32, 10], "tanh", "identity", seed=0)
    circuit = Circuit(amplifier_bandwidth=3e9, settle_delays=6)
    assert circuit.line_steps == math.ceil(4 * 2 * math.pi * 3)  # 76 steps per delay
    measured = frozen_efforts(net, "cross_entropy", circuit, x[0], target[0])
    # the last transient has decayed by e^-38 ~ 3e-17; rounding of 456 RK4 steps ~1e-13
    assert gradient_error(measured, backprop(net, x[0], target[0], CE)) <= 1e-10


def test_energy_ledger_closes_with_band_limited_amplifiers():
    x, target = _digits_minibatches(6, batch=4)
    session = TLineSession(MLP([64, 32, 10], "tanh", "identity", seed=0), "cross_entropy",
                           Circuit(amplifier_bandwidth=1e9), "pipelined", 0.05, 4)
    session.run(x[:2], target[:2])
    session.run(x[2:], target[2:])
    ledger = session.energy()
    # the lines carry what the filtered sources emit; Simpson on each of the 26 steps per delay and RK4
    # on the ports close the balance far below the 1e-6
    assert ledger["energy_balance_error"] <= 1e-6
    assert session.physical_time == pytest.approx(6e-9, rel=1e-12)


# --- bounded and quantised parameters --------------------------------------------------------------
def _nearest_level(values, limit, bits):
    """Independent quantiser: the nearest of the ``2^bits`` levels ``linspace(-limit, limit)``. Zero lies halfway
    between two levels, where rounding decides: the networks below (:func:`_net`) start with nonzero biases."""
    levels = np.linspace(-limit, limit, 2 ** bits)
    clipped = np.clip(values, -limit, limit)
    return levels[np.argmin(np.abs(clipped[..., None] - levels), axis=-1)]


@pytest.mark.parametrize("bits", [None, 6])
def test_separated_bounded_updates_are_projected_gradient_descent(bits):
    """Sample-and-hold separated schedule: each update is ``theta <- clip(theta - lr grad c(read(theta)))``,
    the gradient at the read (clamped, quantised) parameters and the capacitor clamped to its rails."""
    limit, lr = 0.25, 0.5
    x, target = _digits_minibatches(20)
    circuit = Circuit(parameter_limit=limit, parameter_bits=bits)
    net = _net(3)
    session = TLineSession(net, "cross_entropy", circuit, "separated", lr, 16)
    recorded = session.run(x, target, record_every=1)
    theta = [np.clip(p, -limit, limit) for p in net.params]
    expected = []
    oracle = _net(3)
    for xb, tb in zip(x, target):
        oracle.params = [p if bits is None else _nearest_level(p, limit, bits) for p in theta]
        theta = [np.clip(p - lr * g, -limit, limit) for p, g in zip(theta, backprop(oracle, xb, tb, CE))]
        expected.append(_flat(theta))
    expected = np.array(expected)
    pinned = np.mean(np.abs(expected[-1]) == limit)
    assert pinned > 0.01  # the rails matter here
    # a held effort is integrated exactly and a monotone ramp clamped at the step's end is the projection:
    # rounding only (measured ~1e-15)
    assert np.max(np.abs(recorded - expected)) <= 1e-9
    assert np.max(np.abs(recorded)) <= limit


def test_quantised_reads_bias_the_efforts_and_the_capacitors_integrate_continuously():
    """Frozen, the efforts are backprop of the network at the quantised parameters (not at the capacitors')."""
    x, target = _digits_minibatches(1)
    net = _net(0)
    circuit = Circuit(parameter_limit=1.0, parameter_bits=4)
    read = _net(0)
    read.params = [_nearest_level(p, 1.0, 4) for p in net.params]
    measured = frozen_efforts(net, "cross_entropy", circuit, x[0], target[0])
    assert gradient_error(measured, backprop(read, x[0], target[0], CE)) <= 1e-12
    assert gradient_error(measured, backprop(net, x[0], target[0], CE)) > 1e-2
    # steps smaller than a level (2/15 V) still move the capacitors (the first exact sensitivities reach the
    # ports after the round trip, so 6 minibatches)
    xs, targets = _digits_minibatches(6)
    session = TLineSession(net, "cross_entropy", circuit, "pipelined", 1e-3, 16)
    after = session.run(xs, targets)[0]
    assert 0 < np.max(np.abs(after - _flat(net.params))) < 2.0 / 15.0


def test_rail_clamps_close_the_energy_ledger():
    x, target = _digits_minibatches(8, batch=4)
    net = MLP([64, 32, 10], "tanh", "identity", seed=0)
    session = TLineSession(net, "cross_entropy", Circuit(parameter_limit=0.2, parameter_bits=8), "pipelined", 0.5, 4)
    session.run(x, target)
    ledger = session.energy()
    assert ledger["rail_clamps_j"] > 0
    assert np.max(np.abs(session.state[:session.layout.n_params])) <= 0.2
    # the clamp takes C (v^2 - limit^2) / 2 from each capacitor it stops: the balance still closes
    assert ledger["energy_balance_error"] <= 1e-6


@pytest.mark.parametrize("table, message", [
    ({"parameter_bits": 8}, r"circuit.parameter_bits = 8 needs circuit.parameter_limit \(V, > 0\)"),
    ({"parameter_bits": 0, "parameter_limit": 1.0}, r"circuit.parameter_bits = 0 is outside the valid range \[1, 52\]"),
    ({"parameter_bits": 4.0, "parameter_limit": 1.0}, r"circuit.parameter_bits = 4.0 has the wrong type"),
    ({"parameter_limit": 0.0}, r"circuit.parameter_limit = 0.0 is outside the valid range \(0.0, inf\] \(V\)"),
    ({"amplifier_bandwidth": -1e9}, r"circuit.amplifier_bandwidth = -1000000000.0 is outside the valid range "
                                    r"\(0.0, inf\] \(Hz\)"),
    ({"amplifier_bandwidth": 1e9, "source_resistance": 60.0},
     r"circuit.amplifier_bandwidth = 1000000000.0 with circuit.source_resistance = 60.0: band-limited"),
])
def test_bad_port_values_are_refused_before_any_work(tmp_path, table, message):
    with pytest.raises(ConfigurationError, match=message):
        train(MLP([2, 8, 2], seed=0), "xor", substrate="tline", port=Resistive(10.0), circuit=table,
              run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


# --- the exported netlist in ngspice ---------------------------------------------------------------
def _window_in_both(circuit, n_window=10):
    """A 2-4-2 classifier trained natively on ``circuit`` (pipelined, 1000 updates), then a window of
    ``n_window`` minibatches from rest natively and exported to ngspice (200 steps per delay): both
    parameter trajectories on the delay grid, (n_window + 1, P)."""
    from circuits import ngspice as runner
    from circuits.physical_netlist import pipelined_trainer

    rng = np.random.default_rng(0)
    xs = rng.normal(size=(400, 2))
    labels = ((xs[:, 0] * xs[:, 1]) > 0).astype(int)
    xb, tb = xs.reshape(-1, 2, 2), np.stack([CE.target(row, 2) for row in labels.reshape(-1, 2)])
    trained = TLineSession(MLP([2, 4, 2], "tanh", "identity", seed=0), "cross_entropy", circuit, "pipelined", 0.1, 2)
    for _ in range(5):
        trained.run(xb, tb)
    net = MLP([2, 4, 2], "tanh", "identity", seed=0)
    net.params = trained.params()
    x, target = xb[:n_window], tb[:n_window]
    native = TLineSession(net, "cross_entropy", circuit, "pipelined", 0.1, 2)
    trajectory = np.vstack([_flat(net.params), native.run(x, target, record_every=1)])
    exported = pipelined_trainer(net, x, target, "cross_entropy", circuit, 0.1, steps_per_td=200)
    result = runner.run(exported.netlist, save=[str(n) for grid in exported.nodes["params"] for n in np.ravel(grid)])
    assert result.warnings == []
    spice = np.concatenate([g.reshape(len(result.time), -1) for g in exported.read(result, "params")], axis=1)
    on_grid = np.array([np.interp(np.arange(n_window + 1) * circuit.td, result.time, c) for c in spice.T]).T
    return trajectory, on_grid


@pytest.mark.parametrize("options", [{"amplifier_bandwidth": 1e9}, {"parameter_limit": 1.0}])
def test_exported_band_limited_and_bounded_trainers_match_the_native_engine_in_ngspice(ngspice, options):
    circuit = Circuit(**options)
    trajectory, on_grid = _window_in_both(circuit)
    span = np.ptp(trajectory, axis=0)
    moving = span > 0
    if "parameter_limit" in options:  # capacitors leave and reach their rails within the window
        assert np.sum(np.abs(trajectory[0]) == 1.0) > 0 and np.sum(np.abs(trajectory[-1]) == 1.0) > 0
        # ngspice's clamp holds them there, past the rail by 1e-6 lr |e| (physical_netlist._CLAMP): 3e-8 V here
        assert np.max(np.abs(on_grid)) <= 1.0 + 1e-7
    # ngspice first order at td/200 (its ideal window: 6.1e-5); the native RK4 at its line_steps: measured
    # 4.1e-5 (bandwidth, 26 steps per delay) and 1.6e-5 (rails, 4 steps per delay) of each parameter's range
    assert np.max(np.abs(on_grid[:, moving] - trajectory[:, moving]) / span[moving]) <= 1e-4


def test_exported_quantised_reads_match_the_native_engine_in_ngspice(ngspice):
    """6 bits over 3 V rails (levels 0.095 V apart), a window of 6 minibatches (the issue asks >= 3; ngspice
    did not finish 10 of them within 40 s) in which reads cross levels."""
    circuit = Circuit(parameter_limit=3.0, parameter_bits=6)
    trajectory, on_grid = _window_in_both(circuit, n_window=6)
    reads = circuit.read_parameters(trajectory)
    assert np.any(reads != reads[0])  # some read changes level within the window
    span = np.ptp(trajectory, axis=0)
    assert np.all(span > 0)
    # ngspice at td/200 (5.4e-5 at td/400: partly the native's, whose level crossings fall between its
    # stages); measured 6.7e-5 of each parameter's range; unquantised reads would be 0.14 off
    assert np.max(np.abs(on_grid - trajectory) / span) <= 1e-4
