"""Realisations of networks as circuits, checked in ngspice against numpy and the native simulators."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from circuits import export as exporting
from circuits import ngspice as runner
from circuits import realize, spice
from circuits.native import simulate_tline_trainer
from conftest import load_example, random_problem
from substrate import MLP, Dyadic, backprop, save_network
from substrate.cli import main
from substrate.errors import ConfigurationError
from substrate.network import get_loss, reference_waves

XOR_X = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def train(net, x, y, loss, steps, rate):
    """Plain full-batch gradient descent on reference backprop."""
    for _ in range(steps):
        net.params = [p - rate * g for p, g in zip(net.params, backprop(net, x, y, loss))]
    return net


@pytest.fixture(scope="module")
def moons():
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=300, noise=0.15, random_state=0)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    net = train(MLP([2, 12, 2], "tanh", seed=0), x[:250], y[:250], "cross_entropy", 400, 0.5)
    accuracy = np.mean(net.forward(x[250:]).argmax(axis=1) == y[250:])
    assert accuracy > 0.9, accuracy
    return net, x[250:]


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = data.data / 16.0, data.target
    net = train(MLP([64, 16, 10], "tanh", seed=0), x[:1500], y[:1500], "cross_entropy", 200, 1.0)
    accuracy = np.mean(net.forward(x[1500:]).argmax(axis=1) == y[1500:])
    assert accuracy > 0.85, accuracy
    return net, x[1500:1550]


# --- acceptance 1: inference netlists ---------------------------------------------------------------
@pytest.mark.parametrize("which", ["moons", "digits"])
def test_inference_netlists_reproduce_the_forward_pass(ngspice, which, request):
    net, x = request.getfixturevalue(which)
    x = x[:50]
    assert len(x) == 50
    expected = net.forward(x)
    model = realize.crossbar_forward(net, x)  # the crossbar's exact finite-gain output
    behavioural, crossbar = [], []
    for sample in x:
        for style, store in (("behavioural", behavioural), ("crossbar", crossbar)):
            circuit = realize.inference(net, sample, style=style)
            result = runner.run(circuit.netlist, save=circuit.nodes["outputs"])
            assert result.warnings == []
            store.append(circuit.read(result, "outputs")[0])
    behavioural, crossbar = np.array(behavioural), np.array(crossbar)
    scale = np.maximum(1.0, np.abs(expected))
    # behavioural: exact arithmetic up to ngspice's Newton tolerance (reltol 1e-9 in the netlist)
    assert np.max(np.abs(behavioural - expected) / scale) <= 1e-6
    # crossbar: ngspice matches the finite-gain model (the same circuit solved in numpy) ...
    assert np.max(np.abs(crossbar - model) / scale) <= 1e-8
    # ... so it deviates from the ideal forward pass by the stated finite-gain error, which is below 1e-3
    stated = np.max(np.abs(model - expected) / scale)
    measured = np.max(np.abs(crossbar - expected) / scale)
    assert measured <= 1.01 * stated + 1e-9
    assert stated <= 1e-3 and stated > 0
    # first-order check of the stated column gain error: eps = (1 + R_unit G_sum) / A
    eps = realize.crossbar_gain_error(net)
    assert eps == realize.inference(net, x[0], style="crossbar").info["gain_error"]
    assert 0 < eps < 1e-4


def test_lower_gain_crossbar_error_grows_as_stated(ngspice, moons):
    net, x = moons
    circuit = realize.inference(net, x[0], style="crossbar", gain=1e4)
    result = runner.run(circuit.netlist)
    out = circuit.read(result, "outputs")[0]
    model = realize.crossbar_forward(net, x[:1], gain=1e4)[0]
    np.testing.assert_allclose(out, model, rtol=1e-8, atol=1e-10)
    assert np.max(np.abs(out - net.forward(x[:1])[0])) > 1e-4  # a 1e4 op-amp is visibly imperfect


def test_crossbar_device_table(tmp_path, moons):
    net, _ = moons
    path = realize.write_device_table(net, tmp_path, r_unit=1e4, fmt="csv")
    with open(path) as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 2 * sum(layer.n_out * (layer.n_in + 1) for layer in net.layers)
    with np.load(realize.write_device_table(net, tmp_path, r_unit=1e4)) as stored:  # the compact npz
        assert float(stored["r_unit_ohm"]) == 1e4
        np.testing.assert_array_equal(stored["conductance_S"], [float(r["conductance_S"]) for r in table])
        np.testing.assert_array_equal(stored["sign"], [1 if r["sign"] == "+" else -1 for r in table])
    for k, layer in enumerate(net.layers, start=1):
        g = {(int(r["row"]), int(r["column"]), r["sign"]): float(r["conductance_S"]) for r in table if int(r["layer"]) == k}
        w = np.array([[g[i, j, "+"] - g[i, j, "-"] for j in range(layer.n_in + 1)] for i in range(layer.n_out)]) * 1e4
        np.testing.assert_allclose(w, np.column_stack([layer.weight, layer.bias]), rtol=0, atol=1e-12)
        assert min(g.values()) > 0  # every device a real conductance (baseline g_min)


def test_inference_rejects_bad_input_before_building():
    net = MLP([2, 3, 1], seed=0)
    with pytest.raises(ConfigurationError, match="x must be one sample of shape"):
        realize.inference(net, np.zeros(3))
    with pytest.raises(ConfigurationError, match="style = 'analog'"):
        realize.inference(net, np.zeros(2), style="analog")
    with pytest.raises(ConfigurationError, match="gain = 1.0 is outside"):
        realize.inference(net, np.zeros(2), style="crossbar", gain=1.0)


# --- acceptance 2: the frozen transmission-line trainer returns backprop after 2L td ---------------
@pytest.mark.parametrize("activation, loss", [("tanh", "mse"), ("sigmoid", "cross_entropy")])
def test_tline_trainer_waves_equal_backprop_after_the_round_trip(ngspice, activation, loss):
    net, x, y = random_problem([3, 4, 3, 2], activation=activation, loss=loss, batch=3, seed=4)
    depth, td = net.depth, 1e-9
    circuit = realize.tline_trainer(net, x, y, loss=loss, td=td, t_stop=(2 * depth + 3) * td, steps_per_td=10)
    result = runner.run(circuit.netlist)
    assert result.warnings == []
    loss_object = get_loss(loss)
    reference = reference_waves(net, x, loss_object.target(y, 2), loss_object)
    a, s, delta = circuit.read(result, "a"), circuit.read(result, "s"), circuit.read(result, "delta")
    t = result.time / td
    after = t >= 2 * depth + 1e-6
    worst = 0.0
    for k in range(depth):
        scale_s = max(1.0, np.max(np.abs(reference.backward[k + 1])))
        worst = max(worst, np.max(np.abs(s[k][after] - reference.backward[k + 1])) / scale_s,
                    np.max(np.abs(a[k][after] - reference.forward[k + 1])))
    assert worst <= 1e-6
    # the parameter-port efforts built from the circuit's waves are backprop's gradients
    gradients = backprop(net, x, y, loss)
    for k in range(depth):
        a_prev = x[None] if k == 0 else a[k - 1]
        e_w = np.einsum("tni,tnj->tij", delta[k], np.broadcast_to(a_prev, (len(t),) + a_prev.shape[1:])) / len(x)
        error = np.max(np.abs(e_w[after] - gradients[2 * k])) / np.max(np.abs(gradients[2 * k]))
        assert error <= 1e-6
    # 2L is tight: just before the round trip the first junction's sensitivity is not yet backprop's
    before = (t > 2 * depth - 0.9) & (t < 2 * depth - 0.1)
    assert np.min(np.max(np.abs(s[0][before] - reference.backward[1]), axis=(1, 2))) > 1e-3


def test_native_simulation_of_the_frozen_trainer_is_exact_from_2L(problem):
    net, x, y = problem([3, 4, 3, 2], batch=3, seed=5)
    trajectory = simulate_tline_trainer(net, x, y, td=1.0, t_stop=8.0, steps_per_td=4)
    reference = reference_waves(net, x, get_loss("mse").target(y, 2), get_loss("mse"))
    after = trajectory.t >= 6.0
    for k in range(3):
        np.testing.assert_allclose(trajectory.s[k][after], np.broadcast_to(reference.backward[k + 1], trajectory.s[k][after].shape),
                                   rtol=0, atol=1e-14)
    # s_k reaches junction k at (2L + 1 - k) td: s_1 wrong at t = 5.75, s_2 right at t = 5
    assert np.max(np.abs(trajectory.s[0][trajectory.t == 5.75] - reference.backward[1])) > 1e-3
    assert np.max(np.abs(trajectory.s[1][trajectory.t == 5.0] - reference.backward[2])) < 1e-14


# --- acceptance 3: the transmission-line trainer trains XOR inside ngspice ----------------------------
def xor_trainer(steps_per_td=20):
    net = MLP([2, 3, 1], "tanh", seed=3)
    td, capacitance, rate = 1e-9, 1e-12, 0.2e9  # learning rate 1/(RC) = 0.2 per line delay
    circuit = realize.tline_trainer(net, XOR_X, XOR_Y, td=td, t_stop=120 * td, steps_per_td=steps_per_td,
                                    port_resistance=1.0 / (rate * capacitance), capacitance=capacitance)
    return net, circuit


def test_tline_trainer_trains_xor_in_ngspice_like_the_native_simulation(ngspice):
    net, circuit = xor_trainer()
    assert circuit.info["learning_rate"] == pytest.approx(0.2e9)
    save = [str(n) for grid in circuit.nodes["params"] for n in np.ravel(grid)] + list(map(str, np.ravel(circuit.nodes["a"][-1])))
    result = runner.run(circuit.netlist, save=save)
    assert result.warnings == []
    outputs = np.stack([result.v(node) for node in circuit.nodes["a"][-1][:, 0]], axis=-1)
    loss = np.mean(0.5 * (outputs - XOR_Y) ** 2, axis=1)
    assert loss[np.searchsorted(result.time, 5e-9)] > 0.1  # it starts untrained
    assert loss[-1] < 0.01
    assert np.all(np.abs(outputs[-1] - XOR_Y) < 0.1)
    # the native engine at its default (RK4, one step per delay: 2e-5 of each range from its converged
    # limit) against ngspice at the exported settings (20 steps per delay, reltol 1e-9), over the whole run:
    # measured 5.4e-5 of each parameter's range, ngspice's own error (1.1e-4 at 10 steps per delay,
    # 2.7e-5 at 40: first order in its step); acceptance 5 of issue 9 is 1e-4
    native = simulate_tline_trainer(net, XOR_X, XOR_Y, td=1e-9, t_stop=120e-9,
                                    learning_rate=circuit.info["learning_rate"], leak_rate=circuit.info["leak_rate"])
    assert exporting.trajectory_error(circuit, result, native) <= 1e-4
    assert abs(native.loss[-1] - loss[-1]) < 1e-5


# --- acceptance 4: the RC trainer relaxes along Dyadic.integrate ---------------------------------------
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_rc_trainer_relaxes_along_the_dyadic_curve(ngspice, problem, loss):
    net, x, y = problem([3, 4, 2], loss=loss, batch=3, seed=6)
    circuit = realize.rc_trainer(net, x, y, loss=loss, resistance=1e3, capacitance=1e-9, t_stop=16e-6, step=1e-7)
    result = runner.run(circuit.netlist)
    assert result.warnings == []
    t = result.time[result.time > 0]
    solution = Dyadic(net, loss, tau=circuit.info["tau"]).integrate(x, y, float(t[-1]), t_eval=t)
    worst = 0.0
    for key, attribute in (("a", "forward"), ("s", "backward")):
        for k, grid in enumerate(circuit.read(result, key)):
            native = np.array([getattr(state, attribute)[k + 1] for state in solution.states])
            worst = max(worst, np.max(np.abs(grid[-len(t):] - native)))
    assert worst <= 1e-3  # measured about 2e-6 V with steps of tau/10 (ngspice trapezoidal, reltol 1e-9)
    # and at 16 tau the relaxation has reached backprop (the Erlang tail is about 16^3 e^-16 / 6 = 8e-5)
    final = np.max(np.abs(solution.state.gradients[0] - backprop(net, x, y, loss)[0]))
    assert final < 1e-3


def test_rc_trainer_with_resistive_ports_descends_the_loss(ngspice, problem):
    net, x, y = problem([2, 3, 1], batch=4, seed=7)
    circuit = realize.rc_trainer(net, x, y, t_stop=40e-6, step=2e-7, port_resistance=1e4, port_capacitance=2e-10)
    assert circuit.info["learning_rate"] == pytest.approx(5e5)
    result = runner.run(circuit.netlist)
    outputs = circuit.read(result, "a")[-1][..., 0]
    loss = np.mean(0.5 * (outputs - y[:, 0]) ** 2, axis=1)
    start = np.mean(0.5 * (net.forward(x)[:, 0] - y[:, 0]) ** 2)
    assert loss[-1] < 0.5 * start


# --- the command line -----------------------------------------------------------------------------------
def test_cli_export_and_verify_every_format(ngspice, tmp_path, capsys):
    net = MLP([2, 3, 1], "tanh", seed=3)
    save_network(net, tmp_path / "params.npz")
    np.savez(tmp_path / "xor.npz", x=XOR_X, y=XOR_Y)
    for fmt, extra in [("spice", ["--input", "0.5,-1"]), ("crossbar", ["--input", "0.5,-1", "--gain", "1e6"]),
                       ("tline-trainer", ["--data", str(tmp_path / "xor.npz"), "--learning-rate", "2e8", "--t-stop", "4e-8"]),
                       ("rc-trainer", ["--data", str(tmp_path / "xor.npz"), "--t-stop", "5e-6"])]:
        out = tmp_path / f"{fmt}.cir"
        assert main(["export", str(tmp_path), "--format", fmt, "--out", str(out)] + extra) == 0
        assert spice.parse(out.read_text()).elements
        assert main(["verify", str(out)]) == 0
        assert capsys.readouterr().out.rstrip().endswith("PASS")
    assert (tmp_path / "devices.npz").exists()
    # a netlist that no longer matches its network is refused
    text = (tmp_path / "spice.cir").read_text()
    (tmp_path / "spice.cir").write_text(text.replace("DC 0.5", "DC 0.6"))
    assert main(["verify", str(tmp_path / "spice.cir")]) == 2
    assert "re-export it" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--format", "spice", "--td", "1e-9"], "--td do not apply to --format spice"),
        (["--format", "tline-trainer"], "needs the training batch x and targets y"),
        (["--format", "spice", "--input", "1,x"], "--input = '1,x'"),
        (["--format", "spice", "--input", "1,2,3"], "x must be one sample of shape (2,)"),
        (["--format", "crossbar", "--r-unit", "-5"], "r_unit = -5.0 is outside"),
    ],
)
def test_cli_export_rejects_bad_input_before_writing(tmp_path, capsys, argv, message):
    save_network(MLP([2, 3, 1], seed=0), tmp_path / "params.npz")
    out = tmp_path / "never.cir"
    assert main(["export", str(tmp_path), "--out", str(out)] + argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "never.json").exists() and not (tmp_path / "devices.csv").exists()


def test_cli_export_without_params_is_an_error(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "spice"]) == 2
    assert "no params.npz" in capsys.readouterr().err


# --- the example ------------------------------------------------------------------------------------
def test_example_export_and_verify(ngspice, tmp_path):
    result = load_example("export_and_verify").main(out_dir=str(tmp_path))
    assert result["moons_accuracy"] > 0.9
    assert result["behavioural_error"] <= 1e-6
    assert result["crossbar_error"] <= 1e-3
    assert result["xor_final_loss_ngspice"] < 0.01
    assert result["trajectory_error"] <= 0.02
    assert result["rc_error"] <= 1e-3
    assert (tmp_path / "native_vs_ngspice.png").stat().st_size > 20_000


def test_tline_trainer_with_inertial_ports_trains_xor_like_the_native_simulation(ngspice):
    net = MLP([2, 3, 1], "tanh", seed=3)
    td = 1e-9
    # R C = 5 td (the resistive lr 0.2 per td) and M / R = 5 td: heavy-ball momentum
    circuit = realize.tline_trainer(net, XOR_X, XOR_Y, td=td, t_stop=120 * td, steps_per_td=10, port_resistance=5e3,
                                    capacitance=1e-12, inductance=2.5e-5)
    assert circuit.info["inertia_rate"] == pytest.approx(4e16) and circuit.info["friction_rate"] == pytest.approx(2e8)
    save = [str(n) for grid in circuit.nodes["params"] for n in np.ravel(grid)] + list(map(str, np.ravel(circuit.nodes["a"][-1])))
    result = runner.run(circuit.netlist, save=save)
    assert result.warnings == []
    outputs = np.stack([result.v(node) for node in circuit.nodes["a"][-1][:, 0]], axis=-1)
    loss = np.mean(0.5 * (outputs - XOR_Y) ** 2, axis=1)
    assert loss[-1] < 0.01  # measured 1.4e-3
    native = simulate_tline_trainer(net, XOR_X, XOR_Y, td=td, t_stop=120 * td,
                                    leak_rate=circuit.info["leak_rate"], inertia_rate=circuit.info["inertia_rate"],
                                    friction_rate=circuit.info["friction_rate"])
    # measured 8.1e-5 of each range (ngspice at 10 steps per delay is 4.0e-5 from the converged native engine,
    # the native default 4e-5 more); the former Heun step measured 0.24 %
    assert exporting.trajectory_error(circuit, result, native) <= 2e-4
    with pytest.raises(ConfigurationError, match="inductance .* needs port_resistance"):
        realize.tline_trainer(net, XOR_X, XOR_Y, inductance=1e-6)
