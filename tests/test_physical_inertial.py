"""Inertial ports on the tline substrate (issue 10): an inductor in series with each port resistor, momentum."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from circuits.physical import Circuit, TLineSession, inertial_port, inertial_rates
from substrate import MLP, backprop
from substrate.errors import ConfigurationError
from substrate.learning import train
from substrate.learning.substrates import TLine
from substrate.ports import Inertial
from test_physical import LOSS, _digits_minibatches, _flat, _trained_window


def _rk4_decay(z):
    """RK4's amplification of ``dv/dt = -gamma v`` over one step, ``z = gamma h``."""
    return 1.0 - z + z * z / 2.0 - z ** 3 / 6.0 + z ** 4 / 24.0


def test_inertial_mapping_round_trip_and_refusals():
    circuit = Circuit(td=2e-9, port_capacitance=3e-12, gate_delays=2)
    for schedule in ("separated", "pipelined"):
        R, M = inertial_port(0.05, 0.8, circuit, schedule, 3)
        lr, momentum = inertial_rates(R, M, circuit, schedule, 3)
        assert lr == pytest.approx(0.05, rel=1e-12) and momentum == pytest.approx(0.8, rel=1e-12)
    # separated: the flow decays by rho = exp(-R td / M) per delay and mu = rho^P, P = 2L + 2G = 10 delays
    R, M = inertial_port(0.05, 0.8, circuit, "separated", 3)
    assert np.exp(-R / M * 2e-9) ** 10 == pytest.approx(0.8, rel=1e-12)
    with pytest.raises(ConfigurationError, match=r"momentum = 0.0 is outside the valid range \(0.0, 1.0\)"):
        inertial_port(0.05, 0.0, circuit, "pipelined", 3)
    with pytest.raises(ConfigurationError, match="momentum 0.0, outside the valid range"):
        TLine().check("separated", Inertial.from_momentum(0.05, 0.0))


def test_separated_sample_and_hold_inertial_ports_are_heavy_ball_momentum():
    """Sample-and-hold with the flow bypassing the capacitor while the minibatch settles and the held
    effort kicks it, then drifting into it (circuits.physical.inertial_port): with ``rho`` the flow's
    decay per delay, ``Delta_{n+1} = rho^P Delta_n - (1 - rho^G)^2 / (gamma R C) g_n`` exactly, ``g_n``
    backprop's gradient at the held parameters.

    The engine integrates by RK4, whose ``rho_k = 1 - z + z^2/2 - z^3/6 + z^4/24`` (``z = gamma td``) also
    enters both coefficients in the same form (a geometric sum of RK4 steps of a linear ODE), so the
    circuit is heavy-ball at ``(lr_k, mu_k)`` to rounding. The circuit's ``rho = exp(-z)`` differs by
    ``|rho_k - rho| <= z^5/120`` (the alternating Taylor remainder, ``0 < z < 1``), hence
    ``|mu_k - mu| <= P z^5/120`` and ``|lr_k - lr| <= 2 G z^5 / (120 gamma R C)``."""
    x, target = _digits_minibatches(50)
    circuit = Circuit(gate_delays=2)
    lr, mu, P, G = 0.05, 0.8, 2 * 2 + 2 * 2, 2
    net = MLP([64, 32, 10], "tanh", "identity", seed=3)
    session = TLineSession(net, "cross_entropy", circuit, "separated", lr, 16, momentum=mu)
    recorded = session.run(x, target, record_every=1)
    assert session.physical_time == pytest.approx(50 * P * circuit.td, rel=1e-12)
    R, M, C = session.resistance, session.inductance, circuit.port_capacitance
    gamma = R / M
    z = gamma * circuit.td
    rho_k = _rk4_decay(z)
    mu_k, lr_k = rho_k ** P, (1.0 - rho_k ** G) ** 2 / (gamma * R * C)
    assert abs(mu_k - mu) <= P * z ** 5 / 120 and abs(mu_k - mu) > 0
    assert abs(lr_k - lr) <= 2 * G * z ** 5 / (120 * gamma * R * C)

    def heavy_ball(rate, momentum):
        reference = MLP([64, 32, 10], "tanh", "identity", seed=3)
        step, out = [np.zeros_like(p) for p in reference.params], []
        for xb, tb in zip(x, target):
            gradient = backprop(reference, xb, tb, LOSS)
            step = [momentum * s - rate * g for s, g in zip(step, gradient)]
            reference.params = [p + s for p, s in zip(reference.params, step)]
            out.append(_flat(reference.params))
        return np.array(out)

    moved = np.max(np.abs(recorded[-1] - _flat(net.params)))
    assert moved > 0.1
    # the held effort is backprop's gradient to rounding and the port's RK4 map is the heavy-ball recursion
    # (measured 1.1e-15)
    assert np.max(np.abs(recorded - heavy_ball(lr_k, mu_k))) <= 1e-12
    # the nominal (lr, mu) of the circuit: within the RK4 coefficients' bounds above (measured 2.1e-9)
    assert np.max(np.abs(recorded - heavy_ball(lr, mu))) <= 1e-7 * moved


@pytest.mark.parametrize("schedule, order", [("separated", 3.0), ("pipelined", 1.0)])
def test_energy_ledger_closes_with_inertial_ports(schedule, order):
    """Port sources ``(theta - e) i`` (``-e i`` while the flow bypasses the capacitor), resistor heat
    ``R i^2`` and the stored ``C theta^2/2 + M i^2/2`` (``M di/dt = -e - R i`` makes the balance exact):
    the ledger weights the port powers at RK4's stages against exact stored energies, so the port part
    closes to an integration error that falls with the flow's decay ``z = R td / M`` per delay: measured
    1.0e-5, 2.4e-7, 5.6e-9 separated (third order) and 3.0e-3, 3.0e-4, 7.6e-5 pipelined (between first
    and second order) at momentum 0.7, 0.9, 0.97; the whole balance (lines included) closes to 1e-6."""
    x, target = _digits_minibatches(6, batch=4)
    errors, decays = [], []
    for momentum in (0.7, 0.9, 0.97):
        session = TLineSession(MLP([64, 32, 10], "tanh", "identity", seed=5), "cross_entropy", Circuit(), schedule,
                               0.05, 4, momentum=momentum)
        P = session.layout.n_params

        def port_energy():
            flows = session.state[P:, 0]
            return 0.5 * np.sum(session.cap[:, 0] * (session.state[:P, 0] ** 2 + flows ** 2 / session.inertia[:, 0]))

        before = port_energy()
        session.run(x, target)
        stored = port_energy() - before
        port_source, port_heat = session.ledger[3], session.ledger[4]
        assert port_heat > 0 and stored != 0
        errors.append(abs(port_source - stored - port_heat) / max(abs(port_source), port_heat))
        decays.append(session.resistance / session.inductance * session.circuit.td)
        assert session.energy()["energy_balance_error"] <= 1e-6
    for k in range(2):  # the error falls at least at the stated order in z
        assert errors[k] / errors[k + 1] >= 0.9 * (decays[k] / decays[k + 1]) ** order
    assert errors[1] <= (1e-6 if schedule == "separated" else 1e-3)


def test_substrate_train_with_inertial_ports():
    net = MLP([64, 32, 10], "tanh", "identity", seed=0)
    history = train(net, "digits", substrate="tline", schedule="pipelined", port=Inertial.from_momentum(0.05, 0.5),
                    epochs=3, batch_size=16)
    # momentum 0.5 at lr 0.05 moves like lr 0.1 (the ideal resistive run: 0.961 after 20 epochs)
    assert history.final["test_accuracy"] > 0.9
    assert history.final["energy_balance_error"] <= 1e-6


def test_exported_inertial_pipelined_trainer_matches_the_native_engine_in_ngspice(ngspice):
    """The window of tests/test_physical.py with inertial ports (momentum 0.9): each port an inductor in
    series with its resistor (circuits.realize._inertial_port)."""
    from circuits import ngspice as runner
    from circuits.physical_netlist import pipelined_trainer

    circuit = Circuit()
    net, x, target = _trained_window(circuit)
    native = TLineSession(net, "cross_entropy", circuit, "pipelined", 0.1, 2, momentum=0.9)
    trajectory = np.vstack([_flat(net.params), native.run(x, target, record_every=1)])
    exported = pipelined_trainer(net, x, target, "cross_entropy", circuit, 0.1, steps_per_td=200, momentum=0.9)
    inductors = [e for e in exported.netlist.elements if type(e).__name__ == "Inductor"]
    assert len(inductors) == native.layout.n_params and inductors[0].value == native.inductance
    # reltol 1e-6 instead of the export's 1e-9: the same trajectories (measured 1.842e-4 and 1.849e-4 of the
    # range on a 7-minibatch window) in a fifteenth of the time (the inductors' truncation control)
    netlist = dataclasses.replace(exported.netlist, options=(("reltol", 1e-6),) + exported.netlist.options[1:])
    result = runner.run(netlist, save=[str(n) for grid in exported.nodes["params"] for n in np.ravel(grid)])
    assert result.warnings == []
    spice = np.concatenate([g.reshape(len(result.time), -1) for g in exported.read(result, "params")], axis=1)
    on_grid = np.array([np.interp(np.arange(len(x) + 1) * circuit.td, result.time, c) for c in spice.T]).T
    span = np.ptp(trajectory, axis=0)
    assert np.all(span > 0)
    # ngspice's error is first order in its step (2.9e-4 at 40 steps per delay, 8.8e-5 at 200); the
    # acceptance of the other windows is 1e-4 over >= 3 minibatches (here 10)
    assert np.max(np.abs(on_grid - trajectory) / span) <= 1e-4


def test_pipelined_inertial_ports_approach_the_worldsheet_with_a_held_effort_momentum():
    """Pipelined: the port's flow obeys ``M C dv/dt = -e - R C v`` under the live effort. The iteration
    it approaches holds the worldsheet's pipelined effort of update ``n`` over delay ``n`` and steps the
    same port law over it (RK4 at one step per delay, so the integration is shared and only the effort
    differs): the circuit's effort varies within a delay as its parameters move, by O(lr), so the
    relative deviation after a fixed number of updates is first order in ``lr`` at fixed momentum 0.9
    (measured 0.034, 0.012, 0.0059, 0.0031 at lr 0.025 to 0.003125: ratios 2.7, 2.1, 1.9 per halving,
    the first still with higher orders, as the step per delay is ``lr / (1 - mu)``), as for resistive ports."""
    from substrate.learning.schedules import Pipelined

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5, 4))
    target = np.stack([LOSS.target(rng.integers(0, 3, 5), 3) for _ in range(60)])
    relative = []
    for lr in (0.0125, 0.00625, 0.003125):
        net = MLP([4, 6, 5, 3], "tanh", "identity", seed=1)
        session = TLineSession(net, "cross_entropy", Circuit(), "pipelined", lr, 5, momentum=0.9)
        circuit = np.concatenate([session.run(x[:25], target[:25], 1), session.run(x[25:], target[25:], 1)])
        h, inertia, friction = session.circuit.td, session.inertia[0, 0], session.friction[0, 0]
        sheet_net = MLP([4, 6, 5, 3], "tanh", "identity", seed=1)
        schedule = Pipelined(sheet_net, LOSS)
        state, sheet = schedule.initial(5), []
        theta, flow = _flat(sheet_net.params), np.zeros(session.layout.n_params)
        for xb, tb in zip(x, target):
            effort = _flat(schedule.advance(state, xb, tb, np.arange(5)))
            slope = lambda v: -inertia * effort - friction * v  # noqa: E731 - the port law, effort held
            k1 = slope(flow)
            k2 = slope(flow + h / 2 * k1)
            k3 = slope(flow + h / 2 * k2)
            k4 = slope(flow + h * k3)
            theta = theta + h / 6 * (flow + 2 * (flow + h / 2 * k1) + 2 * (flow + h / 2 * k2) + flow + h * k3)
            flow = flow + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            sheet_net.params = [p.reshape(q.shape) for p, q in zip(np.split(theta, np.cumsum(
                [q.size for q in sheet_net.params])[:-1]), sheet_net.params)]
            sheet.append(theta.copy())
        sheet = np.array(sheet)
        relative.append(np.max(np.abs(circuit - sheet)) / np.max(np.abs(sheet - _flat(net.params))))
    assert relative[-1] < 0.02
    assert 1.8 <= relative[0] / relative[1] <= 2.4
    assert 1.8 <= relative[1] / relative[2] <= 2.4
