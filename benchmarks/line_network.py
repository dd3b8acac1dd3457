"""Benchmark 4: a network of 64 lossy RLC lines, the compiled leapfrog against ngspice LTRA and an exact reference.

Topology: a 32-segment lossy bus (Z0 50 ohm, 0.1 ns per segment, R' 20 ohm/m over 2 cm each) driven
through 25 ohm by a raised-cosine step (0.5 ns rise; ngspice gets it as a B source, so it adds no
breakpoints, and the reference its exact Laplace transform); at every bus node a lossy stub line (Z0
75 ohm, 0.15 ns, R' 30 ohm/m over 3 cm) ends in a resistor (100 to 400 ohm); the bus ends in 50 ohm.

Reference: the exact RLGC solution in the Laplace domain (:mod:`substrate.distributed.frequency`:
each line's exact two-port, Kirchhoff's law at the nodes, the PWL's exact transform), inverted by the
Fourier-series method and evaluated by direct summation at each simulator's own output times (no
interpolation). Its own error is estimated by comparing two bandwidths.

Error of a run: the largest deviation from the reference over the bus end and every fourth stub load,
relative to that probe's peak. Speed: ``benchmarks.timing.interleaved_ratio`` of ngspice's wall time
(process start included, the probes' waveforms read back) and the leapfrog's (warm kernel, the same
probes' waveforms read from its lazy result), each simulator at the fastest of its settings that
reaches the accuracy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import numpy as np

from benchmarks.timing import interleaved_ratio, median_time
from substrate.lines import Line, LineNetwork, Resistor, Thevenin, Waveform, simulate
from substrate.distributed.frequency import transient

SEGMENTS = 32
T_END = 12e-9
RISE = 0.5e-9
BUS = dict(z0=50.0, delay=0.1e-9, length=0.02, resistance=20.0)
STUB = dict(z0=75.0, delay=0.15e-9, length=0.03, resistance=30.0)
REFERENCE_BANDWIDTH = 200e9  # Hz; 300 GHz changes the reference by 2e-6 of peak (measured, reported in the run)
ACCURACIES = (0.01, 0.001)


def _line(spec) -> Line:
    return Line.from_impedance(spec["z0"], spec["delay"], length=spec["length"], resistance=spec["resistance"])


@dataclass(frozen=True)
class RaisedCosineStep(Waveform):
    """``amplitude (1 - cos(pi t/rise))/2`` for ``0 <= t <= rise``, ``amplitude`` after (V, s)."""

    amplitude: float = 1.0
    rise: float = RISE

    def __call__(self, t):
        return self.amplitude * (0.5 - 0.5 * np.cos(np.pi * np.clip(np.asarray(t, dtype=float) / self.rise, 0.0, 1.0)))

    def laplace(self, s):
        """``A (1 + exp(-s T))/2 (1/s - s/(s^2 + (pi/T)^2))`` (V s) at ``s`` in rad/s."""
        a = np.pi / self.rise
        return self.amplitude * 0.5 * (1 + np.exp(-s * self.rise)) * (1 / s - s / (s**2 + a**2))

    def spice_expression(self) -> str:
        return f"{self.amplitude!r}*(0.5-0.5*cos({np.pi!r}*min(time,{self.rise!r})/{self.rise!r}))"


def source_waveform() -> RaisedCosineStep:
    return RaisedCosineStep(1.0, RISE)


def stub_load(i: int) -> float:
    return 100.0 + 300.0 * (i % 4) / 3.0


def network() -> LineNetwork:
    lines, terminations = {}, {"n0": Thevenin(source_waveform(), 25.0), f"n{SEGMENTS}": Resistor(50.0)}
    for i in range(SEGMENTS):
        lines[f"bus{i}"] = (_line(BUS), f"n{i}", f"n{i + 1}")
        lines[f"stub{i}"] = (_line(STUB), f"n{i + 1}", f"s{i + 1}")
        terminations[f"s{i + 1}"] = Resistor(stub_load(i))
    return LineNetwork(lines, terminations)


def netlist(step: float, options: tuple = ()):
    """The same circuit for ngspice (LTRA lines), ``.tran step T_END`` with ``.options`` entries."""
    from circuits import LTRA, BSource, Netlist, Resistor as R, Tran

    elements = [BSource("B1", "src", "0", "V", source_waveform().spice_expression()),
                R("Rs", "src", "n0", 25.0), R("Rend", f"n{SEGMENTS}", "0", 50.0)]
    for i in range(SEGMENTS):
        for name, a, b, spec in ((f"bus{i}", f"n{i}", f"n{i + 1}", BUS), (f"stub{i}", f"n{i + 1}", f"s{i + 1}", STUB)):
            line = _line(spec)
            elements.append(LTRA(f"O{name}", a, "0", b, "0", line.resistance, line.inductance, 0.0,
                                 line.capacitance, line.length))
        elements.append(R(f"Rs{i + 1}", f"s{i + 1}", "0", stub_load(i)))
    return Netlist("64 lossy lines", elements, Tran(step=step, stop=T_END), options=options)


def probes() -> list[str]:
    return [f"n{SEGMENTS}"] + [f"s{i + 1}" for i in range(0, SEGMENTS, 4)]


def error(t, voltage, net, bandwidth=REFERENCE_BANDWIDTH) -> float:
    """Largest deviation from the exact reference at the times ``t`` (s), relative to each probe's peak."""
    reference = transient(net, np.asarray(t), bandwidth, period=2 * T_END)
    return max(float(np.max(np.abs(voltage(node) - reference[node])) / np.max(np.abs(reference[node])))
               for node in probes())


def leapfrog_probes(net: LineNetwork, dt: float):
    """One timed leapfrog run: simulate, and read the probes' waveforms (what the ngspice call returns;
    the result computes waveforms on first access and keeps them)."""
    result = simulate(net, t_end=T_END, integrator="leapfrog", dt=dt)
    for node in probes():
        result.node_voltage[node]  # computed now and cached in the result
    return result


def run(quick: bool = False) -> dict:
    """The leapfrog and ngspice LTRA at several settings, scored against the exact reference; speed
    ratios at the fastest setting of each that is within 1 % and within 0.1 %."""
    from circuits import ngspice

    if shutil.which("ngspice") is None:
        return {"name": "64 lossy lines vs ngspice", "skipped": "ngspice not installed", "meets_target": False}
    net = network()
    rows, calls = [], {}
    # leapfrog: dt = bus delay / m (bus at Courant number 1 for integer m, stubs floor(1.5 m) cells, Courant <= 1)
    for m in (1, 1.5, 2, 3, 4):
        dt = BUS["delay"] / m
        call = (lambda dt=dt: leapfrog_probes(net, dt))
        result = call()
        rows.append({"simulator": "substrate.lines leapfrog", "setting": f"dt {dt * 1e12:.2f} ps",
                     "steps": len(result.t) - 1, "seconds": median_time(call, repeats=5, warmup=0),
                     "error_rel_peak": error(result.t, result.node_voltage.get, net)})
        calls[len(rows) - 1] = call
    for step, options in ((200e-12, ()), (100e-12, ()), (70e-12, ()), (50e-12, ()), (20e-12, ()),
                          (100e-12, (("reltol", 1e-2),)), (50e-12, (("reltol", 1e-2),))):
        circuit = netlist(step, options)
        call = (lambda circuit=circuit: ngspice.run(circuit, save=probes()))
        result = call()
        setting = f"tstep {step * 1e12:g} ps" + "".join(f", {name} {value:g}" for name, value in options)
        rows.append({"simulator": "ngspice LTRA", "setting": setting, "steps": len(result.time) - 1,
                     "seconds": median_time(call, repeats=1, warmup=0), "error_rel_peak": error(result.time, result.v, net)})
        calls[len(rows) - 1] = call
    rows.append({"simulator": "substrate.lines fd RK45 (context)", "setting": "4 cells/line, rtol 1e-4",
                 "error_rel_peak": None})
    solved = simulate(net, t_end=T_END, cells=4, method="fd", integrator="RK45", rtol=1e-4, atol=1e-6)
    rows[-1]["error_rel_peak"] = error(solved.t, solved.node_voltage.get, net)
    # the reference's own error: two bandwidths at the coarsest leapfrog's times
    coarse = simulate(net, t_end=T_END, integrator="leapfrog", dt=BUS["delay"] / 2).t
    a, b = (transient(net, coarse, f, period=2 * T_END) for f in (REFERENCE_BANDWIDTH, 1.5 * REFERENCE_BANDWIDTH))
    reference_error = max(float(np.max(np.abs(a[n] - b[n])) / np.max(np.abs(b[n]))) for n in probes())
    ratios, best = {}, {}
    repeats = 3 if quick else 5
    for accuracy in ACCURACIES:
        pick = {}
        for k, row in enumerate(rows):
            if k in calls and row["error_rel_peak"] <= accuracy:
                name = row["simulator"]
                if name not in pick or row["seconds"] < rows[pick[name]]["seconds"]:
                    pick[name] = k
        key = f"{accuracy:g}"
        best[key] = {name: rows[k]["setting"] for name, k in pick.items()}
        if len(pick) == 2:
            ratio, t_spice, t_ours = interleaved_ratio(calls[pick["ngspice LTRA"]], calls[pick["substrate.lines leapfrog"]],
                                                       repeats=repeats)
            ratios[key] = {"ngspice_over_leapfrog": ratio, "ngspice_s": t_spice, "leapfrog_s": t_ours,
                           "ngspice_error": rows[pick["ngspice LTRA"]]["error_rel_peak"],
                           "leapfrog_error": rows[pick["substrate.lines leapfrog"]]["error_rel_peak"]}
    targets = {"0.01": 50.0, "0.001": 100.0}
    summary = "; ".join(
        f"within {float(key):.1%}: ngspice / leapfrog {value['ngspice_over_leapfrog']:.0f} (leapfrog "
        f"{best[key]['substrate.lines leapfrog']}, error {value['leapfrog_error']:.2g}; ngspice "
        f"{best[key]['ngspice LTRA']}, error {value['ngspice_error']:.2g})" for key, value in ratios.items())
    return {"name": "64 lossy lines: leapfrog vs ngspice LTRA, scored against the exact RLGC solution",
            "summary": summary or "no setting of both simulators reached the accuracies",
            "lines": 2 * SEGMENTS, "rows": rows, "reference_error_rel_peak": reference_error,
            "fastest_setting_within": best, "speedup_vs_ngspice": ratios,
            "target": "ngspice/leapfrog >= 50 within 1 % and >= 100 within 0.1 % of the exact solution",
            "meets_target": all(key in ratios and ratios[key]["ngspice_over_leapfrog"] >= target
                                for key, target in targets.items())}
