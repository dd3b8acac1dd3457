"""The leapfrog's results are unchanged (to rounding) by the work on its fixed cost (issue 9, acceptance 3).

``tests/data/leapfrog_reference.npz`` holds every output of ``simulate(..., integrator="leapfrog")`` (port
and node waveforms, fields, energies) for the cases below, recorded with the leapfrog as it was before
its per-call cost was cut (main at 2580020: a 29-argument kernel, per-call discretisation, eager
result). ``python tests/test_lines_leapfrog_reference.py`` rewrites the file; run it only with a
leapfrog you trust. The comparison allows rounding only: the kernel's arithmetic is compiled with
``fastmath={"reassoc", "contract"}``, so a change in the order of its sums or in vectorisation may
move results by a few ulps of the largest value, nothing more.
"""

from pathlib import Path

import numpy as np
import pytest

from substrate.lines import (
    PWL, Capacitor, Line, LineNetwork, Open, ReflectingLoad, Resistor, Short, Thevenin, simulate,
)

REFERENCE = Path(__file__).resolve().parent / "data" / "leapfrog_reference.npz"
DELAY = 1e-9


def _reflect(a):
    return 0.8 * np.tanh(2 * a) - a


def _every_termination():
    return LineNetwork(
        {"feed": (Line.from_impedance(50.0, DELAY, resistance=20.0, conductance=0.003), "in", "j"),
         "a": (Line.from_impedance(75.0, 1.5 * DELAY, resistance=10.0), "j", "A"),
         "b": (Line.from_impedance(50.0, 0.5 * DELAY, conductance=0.002), "j", "B"),
         "c": (Line.from_impedance(60.0, 0.7 * DELAY), "j", "C"),
         "d": (Line.from_impedance(40.0, 0.3 * DELAY), "B", "D")},
        {"in": Thevenin(PWL([0, 0.2e-9, 1e-9, 1.3e-9], [0, 1.0, 1.0, -0.5]), 20.0), "A": Capacitor(3e-12),
         "C": ReflectingLoad(_reflect), "D": Short(), "j": Resistor(300.0), "B": Open()},
    )


def _cases():
    from benchmarks import line_network as bench

    return {
        "every_termination": lambda: simulate(_every_termination(), t_end=5 * DELAY, cells=8, integrator="leapfrog"),
        "every_termination_dt": lambda: simulate(_every_termination(), t_end=3 * DELAY, integrator="leapfrog",
                                                 dt=0.071e-9),
        "every_termination_fem": lambda: simulate(_every_termination(), t_end=3 * DELAY, method="fem",
                                                  cells={"feed": 6, "a": 9, "b": 3, "c": 5, "d": 2},
                                                  integrator="leapfrog"),
        "benchmark_64_lines": lambda: simulate(bench.network(), t_end=bench.T_END, integrator="leapfrog",
                                               dt=bench.BUS["delay"] / 2),
    }


def _flatten(solution, probes=None) -> dict:
    """Every output of a solution as named arrays (only ``probes`` nodes and no fields when given)."""
    out = {"t": solution.t, "stored": solution.stored, "dt": np.array(solution.dt), "nfev": np.array(solution.nfev)}
    for group in ("voltage", "current", "node_voltage", "dissipated", "injected", "line_dissipated", "V", "I"):
        mapping = getattr(solution, group)
        for key in mapping:
            if probes is not None and (group in ("V", "I") or (group != "line_dissipated" and key not in probes)
                                       or (group == "line_dissipated" and not key.endswith("0"))):
                continue
            out[f"{group}/{key}"] = mapping[key]
    if probes is None:
        for name in solution.positions:
            out[f"x_v/{name}"], out[f"x_i/{name}"] = solution.positions[name]
    return out


def _record(name) -> dict:
    from benchmarks import line_network as bench

    solution = _cases()[name]()
    return _flatten(solution, ["n0"] + bench.probes() if name.startswith("benchmark") else None)


@pytest.mark.parametrize("name", ["every_termination", "every_termination_dt", "every_termination_fem",
                                  "benchmark_64_lines"])
def test_leapfrog_outputs_equal_the_recorded_trajectory(name):
    with np.load(REFERENCE) as data:
        expected = {key.split(":", 1)[1]: data[key] for key in data.files if key.startswith(name + ":")}
    got = _record(name)
    assert expected and set(got) == set(expected), sorted(set(got) ^ set(expected))
    for key, value in expected.items():
        # rounding only (see the module docstring): 1e-12 of each array's largest magnitude
        scale = max(float(np.max(np.abs(value))), 1e-300) if value.size else 1.0
        np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-12 * scale, err_msg=key)


if __name__ == "__main__":  # rewrite the reference (only with a leapfrog you trust)
    arrays = {f"{name}:{key}": value for name in _cases() for key, value in _record(name).items()}
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, **arrays)
    print(f"wrote {REFERENCE} ({len(arrays)} arrays)")
