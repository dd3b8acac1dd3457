"""Benchmark 3: the transmission-line XOR trainer, native simulation against ngspice.

The circuit of ``circuits.realize.tline_trainer`` (2-3-1 tanh, four sample copies, resistive
capacitor ports, learning rate 0.2 per line delay, 120 line delays) is run by ngspice and by the
project's own simulation of the same circuit (``circuits.native.simulate_tline_trainer``) over the
same simulated time. Both must reach the same final loss; the figure is the speed ratio.
"""

from __future__ import annotations

import shutil
import time

import numpy as np

from substrate import MLP

XOR_X = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])
TD, CAPACITANCE, RATE, DELAYS = 1e-9, 1e-12, 0.2e9, 120
TARGET = 100.0


def run(quick: bool = False) -> dict:
    from circuits import ngspice, realize
    from circuits.native import simulate_tline_trainer

    if shutil.which("ngspice") is None:
        return {"name": "T-line XOR trainer: native vs ngspice", "skipped": "ngspice not installed", "meets_target": False}
    repeats = 2 if quick else 3
    net = MLP([2, 3, 1], "tanh", seed=3)
    rows = []
    for steps_per_td in (10, 20):
        circuit = realize.tline_trainer(net, XOR_X, XOR_Y, td=TD, t_stop=DELAYS * TD, steps_per_td=steps_per_td,
                                        port_resistance=1.0 / (RATE * CAPACITANCE), capacitance=CAPACITANCE)
        outputs = [str(node) for node in np.ravel(circuit.nodes["a"][-1])]
        spice_times, native_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            result = ngspice.run(circuit.netlist, save=outputs)
            spice_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            native = simulate_tline_trainer(net, XOR_X, XOR_Y, td=TD, t_stop=DELAYS * TD, steps_per_td=steps_per_td,
                                            learning_rate=circuit.info["learning_rate"],
                                            leak_rate=circuit.info["leak_rate"])
            native_times.append(time.perf_counter() - start)
        spice_output = np.stack([result.v(node) for node in outputs], axis=-1)
        spice_loss = float(np.mean(0.5 * (spice_output[-1] - XOR_Y) ** 2))
        spice_seconds, native_seconds = float(np.median(spice_times)), float(np.median(native_times))
        rows.append({"steps_per_td": steps_per_td, "ngspice_seconds": spice_seconds, "native_seconds": native_seconds,
                     "speedup": spice_seconds / native_seconds, "ngspice_final_loss": spice_loss,
                     "native_final_loss": float(native.loss[-1]), "meets_target": spice_seconds / native_seconds >= TARGET})
    return {"name": "T-line XOR trainer: native vs ngspice", "rows": rows, "target": f"native >= {TARGET:.0f}x faster",
            "meets_target": all(r["meets_target"] for r in rows)}
