"""Train, export, verify in ngspice, and plot native against ngspice waveforms.

1. Train a 2-12-2 tanh network on two moons (full-batch gradient descent on reference backprop),
   save it, export it with ``substrate export`` as a behavioural and as a crossbar netlist, and check
   ngspice's outputs against the numpy forward pass.
2. Export an untrained 2-3-1 network as the transmission-line trainer with resistive parameter ports
   and let ngspice TRAIN it on XOR; compare the weight trajectories with the native delay-line
   simulation of the same circuit.
3. Run the lumped dyadic RC trainer in ngspice and compare it with ``Dyadic.integrate``.

Run: ``python3 examples/export_and_verify.py`` (needs ngspice); writes ``native_vs_ngspice.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from circuits import ngspice, realize  # noqa: E402
from circuits.export import trajectory_error  # noqa: E402
from circuits.native import simulate_tline_trainer  # noqa: E402
from substrate import MLP, Dyadic, backprop, save_network  # noqa: E402
from substrate.cli import main as cli  # noqa: E402


def two_moons(n, seed):
    """Two interleaved half circles with Gaussian noise 0.15, standardised; labels 0/1."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0.0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label[:, None] == 0, np.column_stack([np.cos(angle), np.sin(angle)]),
                 np.column_stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)]))
    x = x + 0.15 * rng.standard_normal((n, 2))
    return (x - x.mean(axis=0)) / x.std(axis=0), label


def main(out_dir: str = "export_example", n_test: int = 20):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # 1. train and export the moons classifier
    x, y = two_moons(400, seed=0)
    net = MLP([2, 12, 2], "tanh", seed=0)
    for _ in range(400):
        net.params = [p - 0.5 * g for p, g in zip(net.params, backprop(net, x[:300], y[:300], "cross_entropy"))]
    accuracy = float(np.mean(net.forward(x[300:]).argmax(axis=1) == y[300:]))
    save_network(net, out / "params.npz")
    assert cli(["export", str(out), "--format", "spice", "--input", ",".join(repr(float(v)) for v in x[300])]) == 0
    assert cli(["verify", str(out / "spice.cir")]) == 0
    behavioural_error = crossbar_error = 0.0
    for sample in x[300:300 + n_test]:
        expected = net.forward(sample[None])[0]
        for style in ("behavioural", "crossbar"):
            circuit = realize.inference(net, sample, style=style)
            got = circuit.read(ngspice.run(circuit.netlist, save=circuit.nodes["outputs"]), "outputs")[0]
            error = float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected))))
            if style == "behavioural":
                behavioural_error = max(behavioural_error, error)
            else:
                crossbar_error = max(crossbar_error, error)
    # 2. the transmission-line trainer learns XOR inside ngspice
    xor_x = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    xor_y = np.array([0.0, 1.0, 1.0, 0.0])
    xor_net = MLP([2, 3, 1], "tanh", seed=3)
    td, capacitance, rate = 1e-9, 1e-12, 0.2e9
    trainer = realize.tline_trainer(xor_net, xor_x, xor_y, td=td, t_stop=120 * td, steps_per_td=10,
                                    port_resistance=1.0 / (rate * capacitance), capacitance=capacitance)
    save = [str(n) for grid in trainer.nodes["params"] for n in np.ravel(grid)] + list(map(str, np.ravel(trainer.nodes["a"][-1])))
    result = ngspice.run(trainer.netlist, save=save)
    outputs = np.stack([result.v(node) for node in trainer.nodes["a"][-1][:, 0]], axis=-1)
    spice_loss = np.mean(0.5 * (outputs - xor_y) ** 2, axis=1)
    native = simulate_tline_trainer(xor_net, xor_x, xor_y, td=td, t_stop=120 * td, steps_per_td=20,
                                    learning_rate=trainer.info["learning_rate"], leak_rate=trainer.info["leak_rate"])
    error = trajectory_error(trainer, result, native)
    # 3. the dyadic RC trainer relaxes like Dyadic.integrate
    rc = realize.rc_trainer(xor_net, xor_x, xor_y, resistance=1e3, capacitance=1e-9, t_stop=1e-5, step=1e-7)
    rc_result = ngspice.run(rc.netlist)
    t_rc = rc_result.time[rc_result.time > 0]
    solution = Dyadic(xor_net, "mse", tau=rc.info["tau"]).integrate(xor_x, xor_y, float(t_rc[-1]), t_eval=t_rc)
    rc_a = rc.read(rc_result, "a")
    rc_s = rc.read(rc_result, "s")
    native_a = [np.array([state.forward[k + 1] for state in solution.states]) for k in range(2)]
    native_s = [np.array([state.backward[k + 1] for state in solution.states]) for k in range(2)]
    rc_error = max(float(np.max(np.abs(g[-len(t_rc):] - n))) for g, n in zip(rc_a + rc_s, native_a + native_s))
    figure_path = plot(out / "native_vs_ngspice.png", result, trainer, native, spice_loss, t_rc, rc, rc_a, rc_s,
                       native_a, native_s)
    return {
        "moons_accuracy": accuracy,
        "behavioural_error": behavioural_error,
        "crossbar_error": crossbar_error,
        "crossbar_gain_error": realize.crossbar_gain_error(net),
        "xor_final_loss_ngspice": float(spice_loss[-1]),
        "xor_final_loss_native": float(native.loss[-1]),
        "trajectory_error": error,
        "rc_error": rc_error,
        "figure": str(figure_path),
    }


def plot(path, result, trainer, native, spice_loss, t_rc, rc, rc_a, rc_s, native_a, native_s):
    import matplotlib

    from substrate.plotting import save_figure, subplots

    td = trainer.info["td"]
    figure, axes = subplots(1, 3, figsize=(17, 5), layout="constrained")
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    spice_params = trainer.read(result, "params")
    index = 0
    for grid, trajectory in zip(spice_params, native.params):
        flat_s = grid.reshape(len(result.time), -1)
        flat_n = trajectory.reshape(len(native.t), -1)
        for q in range(flat_n.shape[1]):
            color = colors[index % len(colors)]
            axes[0].plot(result.time / td, flat_s[:, q], color=color, lw=2.5, alpha=0.45)
            axes[0].plot(native.t / td, flat_n[:, q], color=color, lw=1, ls="--")
            index += 1
    axes[0].plot([], [], color="gray", lw=2.5, alpha=0.45, label="ngspice")
    axes[0].plot([], [], color="gray", lw=1, ls="--", label="native delay-line simulation")
    axes[0].set_xlabel("time t / TD (line delays)")
    axes[0].set_ylabel("parameter = capacitor voltage (V)")
    axes[0].set_title("T-line trainer on XOR: all 13 parameters")
    axes[0].legend(loc="lower left", fontsize=8)
    axes[1].semilogy(result.time / td, spice_loss, lw=2.5, alpha=0.5, label="ngspice")
    axes[1].semilogy(native.t / td, native.loss, "k--", lw=1, label="native")
    axes[1].axhline(0.01, color="gray", ls=":", label="0.01")
    axes[1].set_xlabel("time t / TD (line delays)")
    axes[1].set_ylabel("loss at the loss port (mean of (a - y)^2 / 2)")
    axes[1].set_title("XOR loss read at the loss port")
    axes[1].legend(fontsize=8)
    tau = rc.info["tau"]
    for k, (label, grids, natives) in enumerate((("a+", rc_a, native_a), ("a-", rc_s, native_s))):
        for layer in range(2):
            color = colors[2 * k + layer]
            axes[2].plot(t_rc / tau, grids[layer][-len(t_rc):, 0, 0], color=color, lw=2.5, alpha=0.45)
            axes[2].plot(t_rc / tau, natives[layer][:, 0, 0], color=color, lw=1, ls="--",
                         label=f"{label} layer {layer + 1}, sample 1")
    axes[2].set_xlabel("time t / tau (RC time constants)")
    axes[2].set_ylabel("node voltage (V)")
    axes[2].set_title("dyadic RC trainer: ngspice (thick) vs Dyadic.integrate (dashed)")
    axes[2].legend(fontsize=8)
    return save_figure(figure, path)


if __name__ == "__main__":
    for key, value in main(os.environ.get("OUT", "export_example")).items():
        print(f"{key}: {value}")
