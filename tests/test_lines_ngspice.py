"""Level 2 against level 3: the telegrapher engine against ngspice's T and LTRA lines.

Sources are raised-cosine edges sampled on 21 points and given to both simulators as the same
PWL, so neither side sees a kink sharper than its grid; the method-of-lines side (staggered FD)
then converges at second order towards ngspice.
"""

import numpy as np

from ngspice_helpers import run_transient
from substrate.lines import PWL, Line, LineNetwork, Resistor, Thevenin, simulate


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


def spice_pwl(waveform):
    return "PWL(" + " ".join(f"{t:.9g} {v:.9g}" for t, v in zip(waveform.times, waveform.values)) + ")"


def peak_relative_error(ours_t, ours_v, spice_t, spice_v):
    """max |ours - ngspice| at ngspice's time points, relative to the waveform's peak."""
    return np.max(np.abs(np.interp(spice_t, ours_t, ours_v) - spice_v)) / np.max(np.abs(spice_v))


def test_lossless_t_line_matches_ngspice(ngspice):
    source = smooth_pwl([(0.0, 0.5e-9, 0.0, 1.0), (2e-9, 0.5e-9, 1.0, 0.2)])
    spice = run_transient(ngspice, f"""
        V1 src 0 {spice_pwl(source)}
        Rs src a 20
        T1 a 0 b 0 Z0=50 TD=1n
        RL b 0 150
    """, ["v(a)", "v(b)"], 5e-12, 8e-9)
    line = Line.from_impedance(50.0, 1e-9)
    for integrator in ("characteristic", "RK45"):
        ours = simulate(line, t_end=8e-9, cells=100, integrator=integrator, samples=1601,
                        source=Thevenin(source, 20.0), load=Resistor(150.0))
        for port, vector in (("source", "v(a)"), ("load", "v(b)")):
            error = peak_relative_error(ours.t, ours.voltage[port], spice["time"], spice[vector])
            assert error < 0.01, (integrator, port, error)


def test_lossy_rlc_line_matches_ngspice_ltra(ngspice):
    r, l, c = 10.0, 250e-9, 100e-12  # Z0 = 50 ohm, delay 5 ns over 1 m, R' = 10 ohm/m
    source = smooth_pwl([(0.0, 1e-9, 0.0, 1.0)])
    spice = run_transient(ngspice, f"""
        V1 src 0 {spice_pwl(source)}
        Rs src a 50
        O1 a 0 b 0 lossy
        RL b 0 200
        .model lossy LTRA R={r} L={l} G=0 C={c} LEN=1
    """, ["v(a)", "v(b)"], 10e-12, 40e-9)
    line = Line(1.0, r, inductance=l, capacitance=c)
    ours = simulate(line, t_end=40e-9, cells=200, samples=4001, source=Thevenin(source, 50.0), load=Resistor(200.0))
    for port, vector in (("source", "v(a)"), ("load", "v(b)")):
        error = peak_relative_error(ours.t, ours.voltage[port], spice["time"], spice[vector])
        # measured 0.3 % (source) and 0.5 % (load) at 200 cells, halving per doubling
        assert error < 0.01, (port, error)


def test_three_line_junction_matches_ngspice(ngspice):
    source = smooth_pwl([(0.0, 0.5e-9, 0.0, 1.0), (1.5e-9, 0.5e-9, 1.0, 0.0)])
    spice = run_transient(ngspice, f"""
        V1 src 0 {spice_pwl(source)}
        Rs src in 30
        T1 in 0 j 0 Z0=50 TD=1n
        T2 j 0 a 0 Z0=75 TD=1.5n
        T3 j 0 b 0 Z0=50 TD=0.5n
        RA a 0 200
        RB b 0 25
        RJ j 0 500
    """, ["v(in)", "v(j)", "v(a)", "v(b)"], 5e-12, 10e-9)
    net = LineNetwork(
        {"feed": (Line.from_impedance(50.0, 1e-9), "in", "j"),
         "a": (Line.from_impedance(75.0, 1.5e-9), "j", "a"),
         "b": (Line.from_impedance(50.0, 0.5e-9), "j", "b")},
        {"in": Thevenin(source, 30.0), "a": Resistor(200.0), "b": Resistor(25.0), "j": Resistor(500.0)},
    )
    cells = {"feed": 100, "a": 150, "b": 50}
    for integrator in ("characteristic", "RK45"):
        ours = simulate(net, t_end=10e-9, cells=cells, integrator=integrator, samples=2001)
        for node in ("in", "j", "a", "b"):
            error = peak_relative_error(ours.t, ours.node_voltage[node], spice["time"], spice[f"v({node})"])
            assert error < 0.01, (integrator, node, error)
