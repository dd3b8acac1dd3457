"""Level 2 against level 3: the telegrapher engine against ngspice's T and LTRA lines.

Sources are raised-cosine edges sampled on 21 points and given to both simulators as the same
PWL, so neither side sees a kink sharper than its grid; the method-of-lines side (staggered FD)
then converges at second order towards ngspice.
"""

import numpy as np

import circuits
from circuits import ngspice as spice_runner
from substrate.lines import PWL, Line, LineNetwork, Resistor, Thevenin, simulate


def run_transient(elements, nodes, step, stop):
    """Run ``elements`` through ngspice (``.tran step stop``); return ``{"time": ..., "v(node)": ...}``."""
    result = spice_runner.run(circuits.Netlist("substrate line test", elements, circuits.Tran(step, stop)), save=nodes)
    return {"time": result.time, **{f"v({node})": result.v(node) for node in nodes}}


def smooth_pwl(edges):
    """PWL through raised-cosine edges: ``edges`` = [(start s, duration s, from V, to V), ...]."""
    times, values = [0.0], [edges[0][2]]
    for start, duration, low, high in edges:
        t = start + np.linspace(0, duration, 21)
        times += list(t)
        values += list(low + (high - low) * (0.5 - 0.5 * np.cos(np.pi * (t - start) / duration)))
    times, values = np.array(times), np.array(values)
    keep = np.concatenate([[True], np.diff(times) > 0])
    return PWL(times[keep], values[keep])


def source(waveform):
    """The same PWL as an ngspice voltage source ``V1 src 0``."""
    return circuits.VoltageSource("V1", "src", "0", circuits.PWL(tuple(zip(waveform.times, waveform.values))))


def peak_relative_error(ours_t, ours_v, spice_t, spice_v):
    """max |ours - ngspice| at ngspice's time points, relative to the waveform's peak."""
    return np.max(np.abs(np.interp(spice_t, ours_t, ours_v) - spice_v)) / np.max(np.abs(spice_v))


def test_lossless_t_line_matches_ngspice(ngspice):
    drive = smooth_pwl([(0.0, 0.5e-9, 0.0, 1.0), (2e-9, 0.5e-9, 1.0, 0.2)])
    spice = run_transient([source(drive), circuits.Resistor("Rs", "src", "a", 20.0),
                           circuits.TLine("T1", "a", "0", "b", "0", 50.0, 1e-9), circuits.Resistor("RL", "b", "0", 150.0)],
                          ["a", "b"], 5e-12, 8e-9)
    line = Line.from_impedance(50.0, 1e-9)
    for integrator in ("characteristic", "RK45"):
        ours = simulate(line, t_end=8e-9, cells=100, integrator=integrator, samples=1601,
                        source=Thevenin(drive, 20.0), load=Resistor(150.0))
        for port, vector in (("source", "v(a)"), ("load", "v(b)")):
            error = peak_relative_error(ours.t, ours.voltage[port], spice["time"], spice[vector])
            assert error < 0.01, (integrator, port, error)


def test_lossy_rlc_line_matches_ngspice_ltra(ngspice):
    r, l, c = 10.0, 250e-9, 100e-12  # Z0 = 50 ohm, delay 5 ns over 1 m, R' = 10 ohm/m
    drive = smooth_pwl([(0.0, 1e-9, 0.0, 1.0)])
    spice = run_transient([source(drive), circuits.Resistor("Rs", "src", "a", 50.0),
                           circuits.LTRA("O1", "a", "0", "b", "0", r, l, 0.0, c, 1.0), circuits.Resistor("RL", "b", "0", 200.0)],
                          ["a", "b"], 10e-12, 40e-9)
    line = Line(1.0, r, inductance=l, capacitance=c)
    ours = simulate(line, t_end=40e-9, cells=200, samples=4001, source=Thevenin(drive, 50.0), load=Resistor(200.0))
    for port, vector in (("source", "v(a)"), ("load", "v(b)")):
        error = peak_relative_error(ours.t, ours.voltage[port], spice["time"], spice[vector])
        # measured 0.3 % (source) and 0.5 % (load) at 200 cells, halving per doubling
        assert error < 0.01, (port, error)


def test_three_line_junction_matches_ngspice(ngspice):
    drive = smooth_pwl([(0.0, 0.5e-9, 0.0, 1.0), (1.5e-9, 0.5e-9, 1.0, 0.0)])
    spice = run_transient([source(drive), circuits.Resistor("Rs", "src", "in", 30.0),
                           circuits.TLine("T1", "in", "0", "j", "0", 50.0, 1e-9),
                           circuits.TLine("T2", "j", "0", "a", "0", 75.0, 1.5e-9),
                           circuits.TLine("T3", "j", "0", "b", "0", 50.0, 0.5e-9),
                           circuits.Resistor("RA", "a", "0", 200.0), circuits.Resistor("RB", "b", "0", 25.0),
                           circuits.Resistor("RJ", "j", "0", 500.0)],
                          ["in", "j", "a", "b"], 5e-12, 10e-9)
    net = LineNetwork(
        {"feed": (Line.from_impedance(50.0, 1e-9), "in", "j"),
         "a": (Line.from_impedance(75.0, 1.5e-9), "j", "a"),
         "b": (Line.from_impedance(50.0, 0.5e-9), "j", "b")},
        {"in": Thevenin(drive, 30.0), "a": Resistor(200.0), "b": Resistor(25.0), "j": Resistor(500.0)},
    )
    cells = {"feed": 100, "a": 150, "b": 50}
    for integrator in ("characteristic", "RK45"):
        ours = simulate(net, t_end=10e-9, cells=cells, integrator=integrator, samples=2001)
        for node in ("in", "j", "a", "b"):
            error = peak_relative_error(ours.t, ours.node_voltage[node], spice["time"], spice[f"v({node})"])
            assert error < 0.01, (integrator, node, error)
