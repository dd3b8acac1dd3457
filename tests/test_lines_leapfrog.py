"""The compiled staggered leapfrog (``simulate(..., integrator="leapfrog")``) against exact solutions.

Oracles: the exact RLGC solution in the Laplace domain inverted numerically
(:func:`substrate.distributed.frequency.transient`, an independent frequency-domain computation), the
characteristic integrator (exact shift for lossless lines), and the method-of-lines integrators.
"""

import pickle
from fractions import Fraction

import numpy as np
import pytest

from substrate.errors import ConfigurationError
from substrate.distributed.frequency import transient
from substrate.lines import (
    PWL, Capacitor, Line, LineNetwork, Open, Pulse, ReflectingLoad, Resistor, Short, Step, Thevenin, simulate,
)

Z0, DELAY = 50.0, 1e-9


def raised_cosine_pulse(rise=0.4e-9, width=0.6e-9, points=201):
    """A pulse with raised-cosine edges as a PWL of many points (corners 2 ps apart)."""
    edge = np.linspace(0.0, rise, points)
    shape = 0.5 - 0.5 * np.cos(np.pi * edge / rise)
    times = np.concatenate([edge, rise + width + edge])
    return PWL(times, np.concatenate([shape, 1.0 - shape]))


def gaussian_pwl(center=0.75e-9, width=0.12e-9, spacing=2e-12):
    """A Gaussian pulse (1 V peak) as a PWL with corners ``spacing`` apart, over +-6.25 widths.

    Smooth data: a raised cosine is only C1, and its 1/f^3 spectrum makes any dispersive scheme
    converge below its formal order (measured 1.4 for the leapfrog at Courant 0.8); the Gaussian's
    spectrum decays fast, so the scheme's own order shows. The exact reference transforms the PWL
    exactly; its corners sit at 500 GHz, above the 200 GHz reference bandwidth.
    """
    t = np.arange(0.0, 2 * center + spacing / 2, spacing)
    return PWL(t, np.exp(-0.5 * ((t - center) / width) ** 2))


def lossy_network(load_b=None, waveform=None):
    """Three lossy lines (R' and G' nonzero) at a junction with a resistor to ground."""
    return LineNetwork(
        {"feed": (Line.from_impedance(Z0, DELAY, length=0.2, resistance=20.0, conductance=0.002), "in", "j"),
         "a": (Line.from_impedance(75.0, 1.5 * DELAY, length=0.3, resistance=40.0), "j", "A"),
         "b": (Line.from_impedance(Z0, 0.5 * DELAY, length=0.1, conductance=0.004), "j", "B")},
        {"in": Thevenin(waveform or gaussian_pwl(), 30.0), "A": Resistor(200.0), "B": load_b or Resistor(25.0),
         "j": Resistor(500.0)},
    )


def max_error(solution, network, bandwidth=200e9):
    """max |V - exact| over all network nodes at the leapfrog's own times, relative to the peak."""
    exact = transient(network, solution.t, bandwidth)
    peak = max(np.max(np.abs(v)) for v in exact.values())
    return max(np.max(np.abs(solution.node_voltage[node] - exact[node])) for node in network.nodes) / peak


def test_second_order_in_the_cell_size_against_the_exact_solution():
    net = lossy_network()
    errors = []
    for m in (2, 4, 8):
        # unequal Courant numbers: 1 on line b (the finest cells in time), 0.83 on feed and a
        cells = {"feed": 10 * m, "a": 15 * m, "b": 6 * m}
        sol = simulate(net, t_end=6 * DELAY, cells=cells, integrator="leapfrog")
        assert sol.dt == pytest.approx(0.5 * DELAY / (6 * m))
        np.testing.assert_allclose(sol.t[1:3], [0.5 * sol.dt, 1.5 * sol.dt])  # reported at the half steps
        errors.append(max_error(sol, net))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # measured 0.066, 0.015, 0.0037 of the peak (orders 2.13, 2.01; 0.21 at m = 1 is pre-asymptotic); the
    # reference moves by 3e-12 between 200 and 300 GHz, so the observed order is the scheme's
    assert errors[-1] < 6e-3, errors
    assert orders.min() > 1.9, (errors, orders)


@pytest.mark.parametrize("load", [Resistor(150.0), Open(), Short(), Capacitor(2e-12)], ids=lambda t: type(t).__name__)
def test_terminations_match_the_exact_solution(load):
    net = lossy_network(load)
    sol = simulate(net, t_end=6 * DELAY, cells={"feed": 80, "a": 120, "b": 48}, integrator="leapfrog")
    # the finest grid of the convergence test: measured 2.9e-3 (open) to 4.0e-3 (short) of the peak
    assert max_error(sol, net) < 6e-3


def test_energy_balance_holds_to_rounding_with_every_termination():
    net = LineNetwork(
        {"feed": (Line.from_impedance(Z0, DELAY, resistance=20.0, conductance=0.003), "in", "j"),
         "a": (Line.from_impedance(75.0, 1.5 * DELAY, resistance=10.0), "j", "A"),
         "b": (Line.from_impedance(Z0, 0.5 * DELAY, conductance=0.002), "j", "B"),
         "c": (Line.from_impedance(60.0, 0.7 * DELAY), "j", "C"),
         "d": (Line.from_impedance(40.0, 0.3 * DELAY), "B", "D")},
        {"in": Thevenin(PWL([0, 0.2e-9, 1e-9, 1.3e-9], [0, 1.0, 1.0, -0.5]), 20.0), "A": Capacitor(3e-12),
         "C": ReflectingLoad(lambda a: 0.8 * np.tanh(2 * a) - a), "D": Short(), "j": Resistor(300.0), "B": Open()},
    )
    sol = simulate(net, t_end=8 * DELAY, cells=40, integrator="leapfrog")
    assert sol.total_injected[-1] > 0 and sol.total_dissipated[-1] > 0.1 * sol.total_injected[-1]
    # the discrete energy E^n = 1/2 V C V + 1/2 I^{n+1/2} L I^{n-1/2} balances exactly: rounding only
    assert sol.energy_error < 1e-12


def test_lossless_line_at_courant_one_is_the_exact_shift():
    line = Line.from_impedance(Z0, DELAY)
    for source, load in ((Thevenin(Step(1.0, rise=0.2e-9), 20.0), Resistor(150.0)),
                         (Thevenin(Step(1.0), Z0), Resistor(Z0)),  # an ideal step: no odd-even ringing at t_{n+1/2}
                         (Thevenin(raised_cosine_pulse(0.3e-9, 0.5e-9), Z0), ReflectingLoad(lambda a: 0.8 * np.tanh(2 * a) - a))):
        leap = simulate(line, t_end=6 * DELAY, cells=50, integrator="leapfrog", source=source, load=load)
        # the characteristic integrator at half the step is exact for lossless lines, and its grid holds the
        # leapfrog's output times t_{n+1/2}; at Courant number 1 the leapfrog read there is the exact shift too
        shift = simulate(line, t_end=6 * DELAY, cells=100, integrator="characteristic", source=source, load=load)
        np.testing.assert_allclose(leap.t[1:], shift.t[1::2][:len(leap.t) - 1], rtol=1e-12)
        for port in ("source", "load"):
            np.testing.assert_allclose(leap.voltage[port][1:], shift.voltage[port][1::2][:len(leap.t) - 1], atol=1e-12)
    assert leap.voltage["load"].max() > 0.5


def test_nonlinear_reflecting_load_converges_on_a_distortionless_line():
    # R'/L' = G'/C': the characteristic integrator stays exact (a uniform attenuation per cell), while the
    # leapfrog's trapezoidal losses are second order
    line = Line.from_impedance(Z0, DELAY, length=1.0, resistance=10.0, conductance=10.0 / Z0**2)
    source = Thevenin(raised_cosine_pulse(0.3e-9, 0.5e-9), Z0)
    load = ReflectingLoad(lambda a: 0.8 * np.tanh(2 * a) - a)
    errors = []
    for cells in (25, 50, 100):
        leap = simulate(line, t_end=5 * DELAY, cells=cells, integrator="leapfrog", source=source, load=load)
        exact = simulate(line, t_end=5 * DELAY, cells=2 * cells, integrator="characteristic", source=source, load=load)
        errors.append(np.max(np.abs(leap.voltage["load"][1:] - exact.voltage["load"][1::2][:len(leap.t) - 1])))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # measured 4.7e-5, 1.2e-5, 2.8e-6 V (orders 2.01, 2.07) on a 0.54 V peak
    assert errors[-1] < 1e-5 and orders.min() > 1.8, (errors, orders)
    linear = simulate(line, t_end=5 * DELAY, cells=50, integrator="leapfrog", source=source,
                      load=ReflectingLoad(lambda a: 0.5 * a))
    resistor = simulate(line, t_end=5 * DELAY, cells=50, integrator="leapfrog", source=source, load=Resistor(3 * Z0))
    np.testing.assert_allclose(linear.voltage["load"], resistor.voltage["load"], atol=1e-12)  # the same one-port
    np.testing.assert_allclose(linear.current["load"], resistor.current["load"], atol=1e-14)


def test_matched_junction_reflects_nothing_and_obeys_kirchhoff():
    net = LineNetwork(
        {"feed": (Line.from_impedance(50.0, DELAY), "in", "j"),
         "a": (Line.from_impedance(100.0, DELAY), "j", "A"), "b": (Line.from_impedance(100.0, 2 * DELAY), "j", "B")},
        {"in": Thevenin(Step(2.0, rise=0.2e-9), 50.0), "A": Resistor(100.0), "B": Resistor(100.0)},
    )
    sol = simulate(net, t_end=5 * DELAY, integrator="leapfrog", dt=DELAY / 50)
    assert sol.dt == DELAY / 50
    late = sol.t > 4.5 * DELAY
    np.testing.assert_allclose(sol.voltage["in"][late], 1.0, atol=1e-12)  # lossless, Courant 1: exact plateau
    np.testing.assert_allclose(sol.current["in"][late], 0.02, atol=1e-12)
    np.testing.assert_allclose(-sol.current["A"][late] - sol.current["B"][late], 0.02, atol=1e-12)


def test_fem_operators_give_the_same_leapfrog():
    net = lossy_network()
    fd = simulate(net, t_end=3 * DELAY, cells=10, integrator="leapfrog", method="fd")
    fem = simulate(net, t_end=3 * DELAY, cells=10, integrator="leapfrog", method="fem")
    np.testing.assert_allclose(fem.voltage["A"], fd.voltage["A"], atol=1e-12)


def test_fields_and_energies_have_the_documented_shapes():
    sol = simulate(lossy_network(), t_end=2 * DELAY, cells={"feed": 12, "a": 18, "b": 6}, integrator="leapfrog")
    n = len(sol.t)
    assert sol.V["feed"].shape == (n, 13) and sol.I["a"].shape == (n, 18)
    assert sol.positions["b"][0].shape == (7,) and sol.positions["b"][1].shape == (6,)
    np.testing.assert_allclose(sol.V["feed"][:, -1], sol.node_voltage["j"])
    assert sol.stored.shape == (n,) and sol.line_dissipated["a"].shape == (n,)
    assert np.all(np.diff(sol.line_dissipated["a"]) >= 0)


def test_bad_input_raises_before_any_work():
    line = Line.from_impedance(Z0, DELAY)
    source, load = Thevenin(Step(1.0), Z0), Open()
    with pytest.raises(ConfigurationError, match="dt"):
        simulate(line, t_end=DELAY, integrator="leapfrog", dt=0.0, source=source, load=load)
    with pytest.raises(ConfigurationError, match="dt"):
        simulate(line, t_end=DELAY, integrator="leapfrog", dt=-1e-12, source=source, load=load)
    with pytest.raises(ConfigurationError, match="longer than the delay"):
        simulate(line, t_end=DELAY, integrator="leapfrog", dt=2 * DELAY, source=source, load=load)
    with pytest.raises(ConfigurationError, match="Courant limit"):
        simulate(line, t_end=DELAY, integrator="leapfrog", dt=DELAY / 10, cells=20, source=source, load=load)
    with pytest.raises(ConfigurationError, match="cells for line 'line' = 0"):
        simulate(line, t_end=DELAY, integrator="leapfrog", cells=0, source=source, load=load)
    with pytest.raises(ConfigurationError, match="cells for line 'line' = 2.5"):
        simulate(line, t_end=DELAY, integrator="leapfrog", cells=2.5, source=source, load=load)
    with pytest.raises(ConfigurationError, match="t_end"):
        simulate(line, t_end=0.0, integrator="leapfrog", source=source, load=load)
    with pytest.raises(ConfigurationError, match="delay"):
        Line.from_impedance(Z0, 0.0)
    with pytest.raises(ConfigurationError, match="more than"):
        simulate(line, t_end=1.0, integrator="leapfrog", cells=1000, source=source, load=load)
    with pytest.raises(ConfigurationError, match="compiles the ReflectingLoad at node 'load'"):
        simulate(line, t_end=DELAY, integrator="leapfrog", source=source,
                 load=ReflectingLoad(lambda a: float(Fraction(a)) * 0.5))  # numba cannot compile Fraction


def test_the_benchmark_network_is_within_0_1_percent_at_courant_number_one():
    """The 64-line benchmark (benchmarks/line_network.py) at its 50 ps setting, scored like the benchmark."""
    from benchmarks import line_network as bench

    net = bench.network()
    sol = simulate(net, t_end=bench.T_END, integrator="leapfrog", dt=bench.BUS["delay"] / 2)
    # measured 3.1e-5 of the peak (every line at Courant number 1; the reference is within 1e-5 at 100 GHz)
    assert bench.error(sol.t, sol.node_voltage.get, net, bandwidth=100e9) < 1e-4


def test_cached_plan_follows_changes_to_the_network():
    """The discretisation cached on the network is remade when a line or a termination changes."""
    net = lossy_network()
    first = simulate(net, t_end=4 * DELAY, cells=6, integrator="leapfrog")
    again = simulate(net, t_end=5 * DELAY, cells=6, integrator="leapfrog")  # same plan, longer run
    np.testing.assert_array_equal(again.voltage["A"][:len(first.t)], first.voltage["A"])
    net.lines["a"][0].resistance = 80.0  # in place: the plan must notice
    net.terminations["B"] = Open()
    changed = simulate(net, t_end=4 * DELAY, cells=6, integrator="leapfrog")
    fresh_net = lossy_network(Open())
    fresh_net.lines["a"][0].resistance = 80.0
    fresh = simulate(fresh_net, t_end=4 * DELAY, cells=6, integrator="leapfrog")
    assert np.max(np.abs(changed.voltage["A"] - first.voltage["A"])) > 1e-3  # the change matters
    for port in fresh.voltage:  # and is the same computation as on a network built that way
        np.testing.assert_array_equal(changed.voltage[port], fresh.voltage[port])
        np.testing.assert_array_equal(changed.current[port], fresh.current[port])
    copied = pickle.loads(pickle.dumps(net))  # the cache is not pickled; the copy makes its own plan
    assert not any(key.startswith("_") for key in vars(copied))
    np.testing.assert_array_equal(simulate(copied, t_end=4 * DELAY, cells=6, integrator="leapfrog").voltage["A"],
                                  changed.voltage["A"])
