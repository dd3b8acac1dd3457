"""Training in the lumped RC trainer circuit in physical time (issue 10): the rc substrate."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.linalg import expm

from circuits.junctions import LOSS_CODES, Layout, field_scratch, junction_field
from circuits.rc_session import RCCircuit, RCSession, rc_frozen_efforts
from substrate import MLP, backprop
from substrate.errors import ConfigurationError, ShapeError
from substrate.learning import train
from substrate.learning.config import resolve
from substrate.learning.substrates import RC, TLine, get_substrate
from substrate.ports import Resistive
from test_physical import LOSS, _digits_minibatches, _flat, _gradient_descent  # the tline tests' oracles


# --- the mapping (tau, R, C, settle) <-> lr ----------------------------------------------------------
def test_mapping_round_trip_and_session_rates():
    circuit = RCCircuit(tau=2e-6, port_capacitance=3e-10, gate_taus=4)
    R = circuit.port_resistance(0.05)
    assert R == pytest.approx(4 * 2e-6 / (0.05 * 3e-10), rel=1e-15)
    assert circuit.learning_rate(R) == pytest.approx(0.05, rel=1e-15)
    assert circuit.node_resistance == pytest.approx(2e-6 / 1e-9, rel=1e-15)
    session = RCSession(MLP([3, 4, 2], seed=0), "cross_entropy", circuit, 0.05, 2)
    assert np.allclose(session.rate, 1.0 / (R * 3e-10), rtol=1e-14, atol=0)  # the port law dtheta/dt = -e / (R C)
    assert session.resistance == pytest.approx(R, rel=1e-15)
    # the graded grid: every update lasts exactly (settle + gate) tau, and the gate opens on a grid point
    steps, opens = circuit.grid(40)
    assert steps.sum() == pytest.approx(44 * 2e-6, rel=1e-14)
    assert steps[:np.argmax(opens)].sum() == pytest.approx(40 * 2e-6, rel=1e-14)


def test_separated_sample_and_hold_equals_gradient_descent_after_50_updates():
    x, target = _digits_minibatches(50)
    circuit = RCCircuit(tau=1e-6, port_capacitance=2e-10, gate_taus=2)
    lr = circuit.learning_rate(2e-6 / (0.1 * 2e-10))  # the port resistance realising lr 0.1 with this gate
    net = MLP([64, 32, 10], "tanh", "identity", seed=3)
    session = RCSession(net, "cross_entropy", circuit, lr, 16)
    recorded = session.run(x, target, record_every=1)
    expected = _gradient_descent(MLP([64, 32, 10], "tanh", "identity", seed=3), x, target, lr)
    # the held effort is backprop's gradient up to the relaxation's residual after the default settle of
    # 20 L = 40 tau (measured 1e-14 of the gradient), and RK4 integrates a constant current exactly
    # (measured deviation 2.8e-14); the acceptance asks 1e-9
    assert np.max(np.abs(recorded - expected)) <= 1e-9
    assert session.physical_time == pytest.approx(50 * (40 + 2) * 1e-6, rel=1e-12)
    assert session.gradient_latency == pytest.approx(40e-6, rel=1e-15)


def test_sampled_effort_converges_to_backprop_as_the_settle_grows():
    """The residual decays like ``exp(-T/tau)`` times a polynomial (module docstring of circuits.rc_session)."""
    x, target = _digits_minibatches(1, batch=8)
    net = MLP([64, 32, 10], "tanh", "identity", seed=1)
    exact = _flat(backprop(net, x[0], target[0], LOSS))
    errors = [np.max(np.abs(_flat(rc_frozen_efforts(net, "cross_entropy", RCCircuit(settle_taus=s), x[0], target[0]))
                            - exact)) / np.max(np.abs(exact)) for s in (10, 20, 30, 40)]
    assert errors[-1] <= 1e-12  # the default settle (40 tau at L = 2): measured 1e-14
    # every 10 tau shrink the residual by e^10 / (polynomial growth): measured factors 2.8e3, 6.6e3, 8.6e3
    assert all(later < earlier / 1e3 for earlier, later in zip(errors[:2], errors[1:3]))


def test_continuously_integrating_ports_deviate_at_second_order_within_the_quasi_static_bound():
    """Live ports over the gate (after the settle) deviate from one gradient-descent step at second order in lr.

    The quasi-static bound (docs/physical.md, as for the tline substrate): if the nodes followed the
    parameters instantly, ``|dtheta_live - (-lr g)| <= lr^2 K G / 2`` with ``K`` the max norm of the batch loss
    Hessian and ``G = |g|_max``. The nodes lag the moving parameters by about tau, which delays the change of
    the effort: a gate of 1 tau deviates less (measured 0.17 lr^2 G) than one of 4 tau (0.46 lr^2 G), and the
    quasi-static bound ``K / 2 = 8.8`` (in units of lr^2 G) holds for both with a factor 19.
    """
    x, target = _digits_minibatches(1, batch=8)
    net = MLP([64, 32, 10], "tanh", "identity", seed=1)
    g, theta0 = _flat(backprop(net, x[0], target[0], LOSS)), _flat(net.params)
    shapes = [p.shape for p in net.params]

    def gradient(theta):
        probe = MLP([64, 32, 10], "tanh", "identity", seed=1)
        probe.params = [part.reshape(shape) for part, shape in
                        zip(np.split(theta, np.cumsum([int(np.prod(s)) for s in shapes])[:-1]), shapes)]
        return _flat(backprop(probe, x[0], target[0], LOSS))

    eps = 1e-5  # central differences: truncation ~eps^2 * third derivative, rounding ~1e-16 / eps
    hessian = np.array([(gradient(theta0 + eps * e) - gradient(theta0 - eps * e)) / (2 * eps)
                        for e in np.eye(len(theta0))])
    K, G = float(np.max(np.sum(np.abs(hessian), axis=1))), float(np.max(np.abs(g)))
    deviations = {}
    for gate in (1, 4):
        for lr in (0.1, 0.05):
            session = RCSession(net, "cross_entropy", RCCircuit(gate_taus=gate, sample_and_hold=False), lr, 8)
            deviations[gate, lr] = float(np.max(np.abs(session.run(x, target)[0] - (theta0 - lr * g))))
            assert deviations[gate, lr] <= lr ** 2 * K * G / 2
        # second order in lr: halving lr quarters the deviation (measured ratios 4.03 and 3.99)
        assert 3.6 <= deviations[gate, 0.1] / deviations[gate, 0.05] <= 4.4
    assert deviations[1, 0.1] < deviations[4, 0.1]  # the lag of the nodes delays the effort's change


def _linear_node_map(net, x, target, loss):
    """The RC trainer's node sources as a matrix for a linear network: ``u(v) = u0 + J v`` (v: (2, N, B) flat)."""
    layout = Layout(net)
    B, N = len(x), layout.n_nodes
    theta = np.ascontiguousarray(np.repeat(layout.pack([net]), B, axis=1))
    xs, ts = np.ascontiguousarray(x.T), np.ascontiguousarray(target.T, dtype=float)
    scratch = field_scratch(layout.table, B)

    def sources(v):
        w = v.reshape(2, N, B)
        emit_f, emit_b, effort = np.empty((N, B)), np.empty((N, B)), np.empty((layout.n_params, B))
        junction_field(layout.table, layout.activations, LOSS_CODES[loss], np.ones(B), theta, xs, ts,
                       np.ascontiguousarray(w[0]), np.ascontiguousarray(w[1]), emit_f, emit_b, effort, False, scratch)
        return np.concatenate([emit_f.ravel(), emit_b.ravel()])

    u0 = sources(np.zeros(2 * N * B))
    J = np.array([sources(e) - u0 for e in np.eye(2 * N * B)]).T
    return u0, J


def test_relaxation_residual_is_within_the_stated_bound_and_follows_the_exact_solution():
    """Linear network, mse: the node errors obey ``tau dd/dt = (J - 1) d`` exactly; the oracle is the matrix
    exponential (scipy), and ``|d(T)| <= |d(0)| exp(-T) sum_{k < 2L} (|J| T)^k / k!`` with ``J^{2L} = 0``."""
    rng = np.random.default_rng(2)
    net = MLP([3, 4, 2], "identity", "identity", seed=5)
    x, target = rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    u0, J = _linear_node_map(net, x, target, "mse")
    depth = 2
    assert np.max(np.abs(np.linalg.matrix_power(J, 2 * depth))) <= 1e-12  # nilpotent: 2L stages in a chain
    fixed = np.linalg.solve(np.eye(len(u0)) - J, u0)
    norm_J = np.linalg.norm(J, 2)
    for settle in (4, 8, 16, 24):
        circuit = RCCircuit(tau=1.0, settle_taus=settle)
        session = RCSession(net, "mse", circuit, 0.0, 3)
        session.run(x[None], target[None])
        T = settle + circuit.gate_taus  # the nodes keep relaxing over the (frozen) gate
        exact = fixed + expm((J - np.eye(len(u0))) * T) @ (-fixed)  # from rest
        # RK4 at 16 steps per tau after the switch, coarsened as the transient decays: measured 3.8e-8 at
        # settle 4 (the largest transient), 2e-11 at 24; fourth order, so 1e-7 leaves a factor 2.6
        assert np.max(np.abs(session.waves.ravel() - exact)) <= 1e-7
        residual = np.linalg.norm(session.waves.ravel() - fixed)
        bound = RCCircuit.residual_bound(depth, T, norm_J) * np.linalg.norm(fixed)
        # the bound of the exact solution; the simulated residual carries the RK4 error (1e-7) on top
        assert residual <= bound + 1e-7
        # and the bound is tight: measured bound / residual 3.2, 3.6, 3.8, 3.9
        assert residual >= bound / 10


# --- the energy and latency ledger -------------------------------------------------------------------
def test_port_energy_of_gradient_descent_is_c_lr_g_squared_and_the_ledger_closes():
    """Sample-and-hold: each update drives ``i = -C e / T`` through ``R_p`` for ``T``, dissipating
    ``C lr |g|^2``: an oracle from backprop's gradients alone. The node capacitors store ``C v*^2 / 2`` once
    settled (``v*`` the forward activations and the backward sensitivities)."""
    x, target = _digits_minibatches(5, batch=4)
    lr, C = 0.2, 2e-10
    net = MLP([64, 32, 10], "tanh", "identity", seed=4)
    circuit = RCCircuit(port_capacitance=C, node_capacitance=3e-10, gate_taus=3)
    session = RCSession(net, "cross_entropy", circuit, lr, 4)
    session.run(x, target)
    oracle, reference = 0.0, MLP([64, 32, 10], "tanh", "identity", seed=4)
    for xb, tb in zip(x, target):
        gradients = backprop(reference, xb, tb, LOSS)
        oracle += C * lr * sum(float(np.sum(g * g)) for g in gradients)
        reference.params = [p - lr * g for p, g in zip(reference.params, gradients)]
    ledger = session.energy()
    assert ledger["port_resistors_j"] == pytest.approx(oracle, rel=1e-9)  # settle residual 1e-14, RK4 weights exact
    # the node part integrates the RK4 stage powers: fourth order in the step, measured 4e-7 at 16 steps per tau
    assert ledger["energy_balance_error"] <= 1e-6
    assert ledger["node_resistors_j"] > 0 and ledger["port_resistors_j"] > 0


def test_node_energies_equal_the_integrated_powers_of_the_exact_relaxation():
    """Linear network, mse, frozen ports: the ledger's node source and resistor energies against the powers
    ``u i`` and ``(u - v) i`` (``i = C (u - v) / tau``) of the exact solution (a matrix exponential per
    step of tau/200, Simpson's rule: quadrature error ~1e-12)."""
    rng = np.random.default_rng(7)
    net = MLP([3, 4, 2], "identity", "identity", seed=8)
    x, target = rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    u0, J = _linear_node_map(net, x, target, "mse")
    C, T, n = 2e-9, 25, 25 * 200
    session = RCSession(net, "mse", RCCircuit(tau=1.0, node_capacitance=C, settle_taus=24), 0.0, 3)
    session.run(x[None], target[None])
    step = expm((J - np.eye(len(u0))) * (T / n))
    fixed = np.linalg.solve(np.eye(len(u0)) - J, u0)
    v = np.empty((n + 1, len(u0)))
    v[0] = 0.0
    for m in range(n):
        v[m + 1] = fixed + step @ (v[m] - fixed)
    u = u0 + v @ J.T
    current = C * (u - v)  # tau = 1 s
    weights = np.full(n + 1, 2.0)
    weights[1::2], weights[[0, -1]] = 4.0, 1.0
    simpson = lambda power: float(weights @ power.sum(axis=1)) * (T / n) / 3  # noqa: E731
    ledger = session.energy()
    # RK4 at 16 steps per tau after the switch, coarsened: fourth order in the step, measured 1.2e-7 (sources)
    # and 6.3e-7 (resistors) relative; the stored energy is exact in the state (measured 4e-12)
    assert ledger["node_sources_j"] == pytest.approx(simpson(u * current), rel=1e-6)
    assert ledger["node_resistors_j"] == pytest.approx(simpson((u - v) * current), rel=1e-6)
    assert ledger["stored_j"] == pytest.approx(0.5 * C * float(v[-1] @ v[-1]), rel=1e-9)


def test_settled_nodes_are_the_forward_and_backward_pass_and_store_their_energy():
    """Frozen parameters: after the settle the ``a+`` nodes hold the layer outputs and the ``a-`` nodes the
    per-sample sensitivities (``softmax(a_L) - y`` at the loss port, ``W^T (f' * a-)`` below), and the
    ledger's stored energy is ``C v^2 / 2`` of those values (oracles written out here, from rest)."""
    x, target = _digits_minibatches(1, batch=4)
    net = MLP([64, 32, 10], "tanh", "identity", seed=6)
    session = RCSession(net, "cross_entropy", RCCircuit(node_capacitance=5e-10), 0.0, 4)
    session.run(x, target)
    (w1, b1), (w2, b2) = [(layer.weight, layer.bias) for layer in net.layers]
    hidden = np.tanh(x[0] @ w1.T + b1)
    output = hidden @ w2.T + b2
    probabilities = np.exp(output - output.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    sensitivity_out = probabilities - target[0]
    sensitivity_hidden = sensitivity_out @ w2  # identity output: slope 1
    a, s = session.nodes()
    # the residual after 40 tau (1e-14 of the values) and rounding
    for got, expected in ((a[0], hidden), (a[1], output), (s[1], sensitivity_out), (s[0], sensitivity_hidden)):
        assert np.max(np.abs(got - expected)) <= 1e-12
    stored = 0.5 * 5e-10 * sum(float(np.sum(v ** 2)) for v in (hidden, output, sensitivity_out, sensitivity_hidden))
    ledger = session.energy()
    assert ledger["stored_j"] == pytest.approx(stored, rel=1e-12)
    assert ledger["port_sources_j"] == 0.0 and ledger["port_resistors_j"] == 0.0  # frozen: no port current
    assert ledger["energy_balance_error"] <= 1e-6  # the RK4 quadrature of the node powers: measured 4e-7


def test_session_refuses_minibatches_of_the_wrong_shape_before_running():
    session = RCSession(MLP([3, 4, 2], seed=0), "mse", RCCircuit(), 0.1, 2)
    before = session.state.copy()
    with pytest.raises(ShapeError, match=r"x has shape \(1, 3, 3\); expected \(1, 2, 3\)"):
        session.run(np.zeros((1, 3, 3)), np.zeros((1, 3, 2)))
    with pytest.raises(ShapeError, match=r"target has shape \(1, 2, 3\); expected \(1, 2, 2\)"):
        session.run(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)))
    with pytest.raises(ConfigurationError, match="must be finite"):
        session.run(np.full((1, 2, 3), np.nan), np.zeros((1, 2, 2)))
    assert np.array_equal(session.state, before) and session.physical_time == 0.0


# --- the substrate: digits, the interface and bad [circuit] tables ---------------------------------------
def test_digits_on_the_rc_substrate_reaches_95_percent():
    """64-32-10 tanh, cross-entropy, batch 32, lr 0.5 (Resistive(2)), 10 epochs: gradient descent in the circuit
    (measured 0.963, the same accuracies epoch by epoch as plain gradient descent; 37-60 s of wall time)."""
    net = MLP([64, 32, 10], "tanh", "identity", seed=0)
    history = train(net, "digits", substrate="rc", schedule="separated", port=Resistive(2.0), epochs=10,
                    batch_size=32, gradient_check=True)
    final = history.final
    assert final["test_accuracy"] >= 0.95
    tau = RCCircuit().tau
    assert final["gradient_latency_s"] == pytest.approx(40 * tau, rel=1e-15)  # the default settle 20 L tau
    assert final["physical_time_s"] == pytest.approx(final["step"] * 41 * tau, rel=1e-12)  # settle + gate
    assert final["energy_balance_error"] <= 1e-6  # measured 6.3e-7
    assert final["energy_per_update_j"] == pytest.approx(final["energy_injected_j"] / final["step"], rel=1e-15)
    assert final["gradient_error"] <= 1e-12  # the frozen circuit's sampled efforts against backprop (1.4e-13)


def test_rc_is_a_circuit_substrate_with_its_own_circuit_table():
    medium = get_substrate("rc", {"tau": 2e-6, "settle_taus": 30})
    assert isinstance(medium, RC) and medium.integrates_ports and medium.circuit == RCCircuit(tau=2e-6, settle_taus=30)
    assert get_substrate("rc").circuit == RCCircuit()
    with pytest.raises(ConfigurationError, match="pipelined minibatches would blend"):
        medium.check("pipelined", Resistive(10.0))
    with pytest.raises(ConfigurationError, match="the rc substrate realises resistive ports"):
        medium.check("separated", Resistive(10.0, bounds=(-1.0, 1.0)))
    # a key of the other circuit substrate is refused naming it
    with pytest.raises(ConfigurationError, match=r"circuit.td = 1e-09 is a key of substrate = 'tline', not of "
                                                 r"substrate = 'rc'; valid: \['gate_taus'"):
        get_substrate("rc", {"td": 1e-9})
    with pytest.raises(ConfigurationError, match=r"circuit.tau = 1e-06 is a key of substrate = 'rc', not of "
                                                 r"substrate = 'tline'"):
        TLine({"tau": 1e-6})


def test_substrate_train_cli_with_an_rc_circuit_table_writes_the_ledger(tmp_path):
    """``substrate train`` with ``substrate = "rc"`` and its own ``[circuit]`` keys (1 epoch on digits)."""
    import json

    from substrate.cli import main

    config = tmp_path / "digits.toml"
    config.write_text('[data]\nname = "digits"\n[network]\nsizes = [64, 32, 10]\n[port]\nkind = "resistive"\n'
                      'resistance = 2.0\n[train]\nsubstrate = "rc"\nschedule = "separated"\nepochs = 1\n'
                      'batch_size = 32\n'
                      '[circuit]\ntau = 2e-6\nsettle_taus = 30\ngate_taus = 2\n', encoding="utf-8")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    summary, history = metrics["summary"], metrics["history"]
    assert summary["substrate"] == "rc" and summary["circuit"]["tau"] == 2e-6
    assert summary["physical_time_s"] == pytest.approx(summary["steps"] * 32 * 2e-6, rel=1e-12)  # (30 + 2) tau
    assert summary["gradient_latency_s"] == pytest.approx(30 * 2e-6, rel=1e-15)
    assert summary["energy_balance_error"] <= 1e-6
    assert summary["test_accuracy"] > 0.85  # gradient descent at lr 0.5, one epoch: measured 0.92
    assert len(history["energy_per_update_j"]) == 2 and history["energy_per_update_j"][0] is None
    assert json.loads((tmp_path / "run" / "config.json").read_text())["circuit"]["settle_taus"] == 30


@pytest.mark.parametrize("table, message", [
    ({"tau": -1e-6}, r"circuit.tau = -1e-06 is outside the valid range \(0.0, inf\] \(s\)"),
    ({"node_capacitance": 0.0}, r"circuit.node_capacitance = 0.0 is outside the valid range \(0.0, inf\] \(F\)"),
    ({"port_capacitance": float("inf")}, r"circuit.port_capacitance = inf is outside the valid range"),
    ({"gate_taus": 0}, r"circuit.gate_taus = 0 is outside the valid range \[1, 10000\] \(time constants\)"),
    ({"settle_taus": 10**6}, r"circuit.settle_taus = 1000000 is outside the valid range \[0, 10000\]"),
    ({"settle_taus": 2.5}, r"circuit.settle_taus = 2.5 has the wrong type"),
    ({"steps_per_tau": 0}, r"circuit.steps_per_tau = 0 is outside the valid range \[1, 4096\]"),
    ({"sample_and_hold": 1}, r"circuit.sample_and_hold = 1 has the wrong type"),
    ({"tauu": 1e-6}, r"circuit.tauu = 1e-06 is not a circuit key of the rc substrate; valid: \['gate_taus'"),
    ({"z0": 50.0}, r"circuit.z0 = 50.0 is a key of substrate = 'tline', not of substrate = 'rc'"),
])
def test_bad_rc_circuit_values_are_refused_before_any_work(tmp_path, table, message):
    with pytest.raises(ConfigurationError, match=message):
        resolve({"data": {"name": "xor"}, "port": {"kind": "resistive", "resistance": 10.0},
                 "train": {"substrate": "rc"}, "circuit": table})
    with pytest.raises(ConfigurationError, match=message):
        train(MLP([2, 8, 2], seed=0), "xor", substrate="rc", port=Resistive(10.0), circuit=table,
              run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_settle_shorter_than_2l_is_refused_for_sample_and_hold_ports(tmp_path):
    with pytest.raises(ConfigurationError, match=r"circuit.settle_taus = 3 is outside the valid range \[4, 10000\]"):
        train(MLP([2, 8, 2], seed=0), "xor", substrate="rc", port=Resistive(10.0), circuit={"settle_taus": 3},
              run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigurationError, match="pipelined minibatches would blend"):
        train(MLP([2, 8, 2], seed=0), "xor", substrate="rc", schedule="pipelined", port=Resistive(10.0),
              run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("substrate, table, message", [
    ("rc", 'settle_taus = 3', r"circuit.settle_taus = 3 is outside the valid range \[4, 10000\]"),
    ("tline", 'settle_delays = 3', r"circuit.settle_delays = 3 is outside the valid range \[4, inf\)"),
])
def test_cli_refuses_a_settle_shorter_than_2l_before_writing_the_run_directory(tmp_path, capsys, substrate, table,
                                                                               message):
    from substrate.cli import main

    config = tmp_path / "xor.toml"
    config.write_text(f'[data]\nname = "xor"\n[port]\nkind = "resistive"\nresistance = 10.0\n[train]\n'
                      f'substrate = "{substrate}"\nschedule = "separated"\n[circuit]\n{table}\n', encoding="utf-8")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


# --- ngspice: the exported RC trainer with continuously integrating ports ---------------------------------
def test_exported_rc_trainer_with_ports_matches_the_native_session_in_ngspice(ngspice):
    """``settle_taus = 0`` with live ports is the circuit :func:`circuits.realize.rc_trainer` exports: the
    ports integrate from the moment the minibatch is applied. A 2-3-2 classifier, batch 2, over 8 tau."""
    from circuits import ngspice as runner
    from circuits.realize import rc_trainer

    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 2))
    target = LOSS.target(np.array([0, 1]), 2)
    net = MLP([2, 3, 2], "tanh", "identity", seed=2)
    circuit = RCCircuit(tau=1e-6, node_capacitance=1e-9, port_capacitance=1e-9, settle_taus=0, gate_taus=1,
                        sample_and_hold=False)
    lr = 0.5  # per tau
    window = 8
    session = RCSession(net, "cross_entropy", circuit, lr, 2)
    # the same minibatch applied for 8 gates of one tau: a constant source, recorded every tau
    trajectory = np.vstack([_flat(net.params), session.run(np.repeat(x[None], window, 0),
                                                           np.repeat(target[None], window, 0), record_every=1)])
    exported = rc_trainer(net, x, target, "cross_entropy", resistance=circuit.node_resistance, capacitance=1e-9,
                          t_stop=window * 1e-6, step=1e-8, port_resistance=circuit.port_resistance(lr),
                          port_capacitance=1e-9)
    result = runner.run(exported.netlist, save=[str(n) for grid in exported.nodes["params"] for n in np.ravel(grid)])
    assert result.warnings == []
    spice = np.concatenate([g.reshape(len(result.time), -1) for g in exported.read(result, "params")], axis=1)
    on_grid = np.array([np.interp(np.arange(window + 1) * 1e-6, result.time, column) for column in spice.T]).T
    span = np.ptp(trajectory, axis=0)
    assert np.all(span > 0)
    # ngspice's trapezoidal steps of tau/100 against the native RK4 (16 steps per tau after each switch);
    # the netlist's leak resistor (1e9 R_p) moves the parameters by 1e-9 of the rate; measured 1.7e-6
    assert np.max(np.abs(on_grid - trajectory) / span) <= 1e-4
