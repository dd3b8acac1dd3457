"""Transmission lines from Python: a step into a mismatched line, a lossy line, and a junction.

Builds the same three-line network as ``examples/line_config.toml`` in Python, simulates it with the
method of lines (staggered FD) and with the exact characteristic shift, writes the port waveforms
(CSV), the bounce diagram and the V(s, t) heat map, and returns the numbers the test checks.

Run: ``python3 examples/transmission_line.py [output folder]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from substrate.lines import Line, LineNetwork, Open, Pulse, Resistor, Step, Thevenin, simulate
from substrate.distributed.output import write_line_outputs


def network(loss: float = 2.0) -> LineNetwork:
    """50-ohm feed (R' = ``loss`` ohm/m) into a junction with a 75-ohm branch and an open 50-ohm stub."""
    return LineNetwork(
        {"feed": (Line.from_impedance(50.0, 1e-9, length=0.2, resistance=loss), "in", "j"),
         "branch": (Line.from_impedance(75.0, 1.5e-9, length=0.3), "j", "out"),
         "stub": (Line.from_impedance(50.0, 0.5e-9, length=0.1), "j", "stub_end")},
        {"in": Thevenin(Pulse(2.0, rise=0.1e-9, width=2e-9, fall=0.1e-9), 50.0), "out": Resistor(150.0),
         "stub_end": Open()},
    )


def main(out: str | Path = "transmission_line_out", cells_per_ns: int = 100) -> dict:
    """Simulate, write outputs into ``out`` and return the measured numbers.

    Returns
    -------
    dict with
        ``step_plateau``: load voltage (V) of a 1 V step through 50 ohm into a 50-ohm line loaded with
        150 ohm after the first arrival (analytic 0.75 V), from the characteristic shift;
        ``junction_first_wave``: voltage (V) at the junction when the pulse first arrives on a lossless
        feed (analytic: 2 V * 1/2 * (1 + Gamma_j), Gamma_j = (Z_par - 50)/(Z_par + 50), Z_par = 75 || 50);
        ``energy_error``: relative energy-balance error of the FD run (dimensionless);
        ``paths``: the written files.
    """
    out = Path(out)
    line = Line.from_impedance(50.0, 1e-9)
    step = simulate(line, t_end=3e-9, cells=100, integrator="characteristic",
                    source=Thevenin(Step(1.0), 50.0), load=Resistor(150.0))
    step_plateau = float(np.interp(1.5e-9, step.t, step.voltage["load"]))

    lossless = simulate(network(loss=0.0), t_end=1.5e-9, integrator="characteristic",
                        cells={"feed": cells_per_ns, "branch": 3 * cells_per_ns // 2, "stub": cells_per_ns // 2})
    junction_first_wave = float(np.interp(1.5e-9, lossless.t, lossless.node_voltage["j"]))

    solution = simulate(network(), t_end=12e-9, samples=1201,
                        cells={"feed": cells_per_ns, "branch": 3 * cells_per_ns // 2, "stub": cells_per_ns // 2})
    written = write_line_outputs(solution, out, title="examples/transmission_line.py: feed, branch, open stub")
    return {"step_plateau": step_plateau, "junction_first_wave": junction_first_wave,
            "energy_error": solution.energy_error, "paths": written["paths"]}


if __name__ == "__main__":
    result = main(sys.argv[1] if len(sys.argv) > 1 else "transmission_line_out")
    for key, value in result.items():
        print(f"{key}: {value}")
