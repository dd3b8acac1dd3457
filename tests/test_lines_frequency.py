"""Lines in the frequency domain: ``substrate.lines.scattering`` against the analytic ABCD conversion,
scikit-rf's ``DistributedCircuit``, Touchstone round trips and the time-domain engine's own pulse response."""

import numpy as np
import pytest
import skrf

from substrate.errors import ConfigurationError
from substrate.distributed.frequency import laplace_transform, line_abcd, transient
from substrate.lines import (
    PWL, Gaussian, Line, LineNetwork, Open, Pulse, Resistor, Short, Step, Thevenin, scattering, simulate,
)

# a lossy RLGC line, R' and G' both nonzero (and not distortionless): 60 cm of ~50 ohm line
LOSSY = Line(0.6, 8.0, inductance=300e-9, conductance=0.003, capacitance=110e-12)
FREQUENCY = np.linspace(1e6, 5e9, 401)


def analytic_s(line, f, z0):
    """The textbook ABCD -> S conversion with gamma and Zc from Line's own methods."""
    gl = line.propagation_constant(f) * line.length
    zc = line.impedance(f)
    A = D = np.cosh(gl)
    B, C = zc * np.sinh(gl), np.sinh(gl) / zc
    delta = A + B / z0 + C * z0 + D
    return np.stack([np.stack([(A + B / z0 - C * z0 - D) / delta, 2 * (A * D - B * C) / delta], -1),
                     np.stack([2 / delta, (-A + B / z0 - C * z0 + D) / delta], -1)], -2)


@pytest.mark.parametrize("z0", [50.0, 75.0])
def test_lossy_line_matches_the_analytic_abcd_conversion(z0):
    assert not LOSSY.distortionless and LOSSY.resistance > 0 and LOSSY.conductance > 0
    network = scattering(LOSSY, FREQUENCY, z0=z0)
    assert isinstance(network, skrf.Network) and network.s.shape == (len(FREQUENCY), 2, 2)
    np.testing.assert_allclose(network.f, FREQUENCY)
    np.testing.assert_allclose(network.z0, z0)
    # two different routes through the same exact solution (nodal admittance with exp(-2 gamma l) against
    # cosh/sinh): rounding only, ~1e-15 measured
    np.testing.assert_allclose(network.s, analytic_s(LOSSY, FREQUENCY, z0), rtol=0, atol=1e-10)
    assert np.max(np.abs(network.s[:, 1, 0])) < 1 and np.ptp(np.abs(network.s[:, 0, 0])) > 0.01  # lossy, mismatched


def test_lossy_line_matches_scikit_rf_distributed_circuit():
    frequency = skrf.Frequency.from_f(FREQUENCY, unit="hz")
    media = skrf.media.DistributedCircuit(frequency, z0_port=50.0, R=LOSSY.resistance, L=LOSSY.inductance,
                                          G=LOSSY.conductance, C=LOSSY.capacitance)
    reference = media.line(LOSSY.length, unit="m")
    ours = scattering(LOSSY, FREQUENCY, z0=50.0)
    # scikit-rf builds the line from its own gamma and Z0 and renormalises to the port impedance: 1e-8
    np.testing.assert_allclose(ours.s, reference.s, rtol=0, atol=1e-8)


def test_network_ports_are_its_terminations_and_junctions_reduce_out():
    # two lines in cascade through an unterminated junction = the cascade of their two-ports
    first = Line(0.2, 5.0, inductance=250e-9, conductance=0.002, capacitance=100e-12)
    second = Line(0.3, 12.0, inductance=350e-9, conductance=0.001, capacitance=80e-12)
    net = LineNetwork({"a": (first, "p1", "mid"), "b": (second, "mid", "p2")}, {"p1": Open(), "p2": Short()})
    ours = scattering(net, FREQUENCY)
    assert ours.port_names == ["p1", "p2"]
    cascade = scattering(first, FREQUENCY) ** scattering(second, FREQUENCY)  # scikit-rf's cascade
    np.testing.assert_allclose(ours.s, cascade.s, rtol=0, atol=1e-10)
    # a terminated junction is a third port
    tee = LineNetwork({"a": (first, "p1", "mid"), "b": (second, "mid", "p2")},
                      {"p1": Open(), "mid": Resistor(1.0), "p2": Short()})
    three = scattering(tee, FREQUENCY)
    assert three.s.shape == (len(FREQUENCY), 3, 3) and three.port_names == ["p1", "mid", "p2"]
    np.testing.assert_allclose(three.s, np.swapaxes(three.s, 1, 2), atol=1e-12)  # reciprocal
    # passive: the scattering matrix is a contraction (singular values <= 1)
    assert np.linalg.svd(three.s, compute_uv=False).max() <= 1 + 1e-12


def test_touchstone_round_trip_is_identical(tmp_path):
    network = scattering(LOSSY, FREQUENCY)
    network.write_touchstone(str(tmp_path / "lossy"))
    back = skrf.Network(str(tmp_path / "lossy.s2p"))
    np.testing.assert_array_equal(back.f, network.f)
    np.testing.assert_array_equal(back.s, network.s)  # full-precision floats: bit-identical
    np.testing.assert_array_equal(back.z0, network.z0)


def test_the_time_domain_engine_converges_to_its_own_s21():
    """Matched source (50 ohm) and load (50 ohm): V_load(f) / (V_s(f)/2) = S21(f) with z0 = 50 ohm."""
    line = Line(0.2, 20.0, inductance=250e-9, conductance=0.005, capacitance=100e-12)  # 1 ns, lossy
    pulse = Gaussian(1.0, 0.3e-9, 0.05e-9)
    f = np.linspace(0.2e9, 4e9, 20)  # where the pulse spectrum is above 1e-3 of its peak
    s21 = scattering(line, f, z0=50.0).s[:, 1, 0]
    errors = []
    for cells in (40, 80, 160):
        sol = simulate(line, t_end=12e-9, cells=cells, integrator="leapfrog", source=Thevenin(pulse, 50.0),
                       load=Resistor(50.0))
        # the response has decayed to < 1e-8 V by 12 ns; the rectangle rule on the uniform step is spectrally
        # accurate for such smooth, decayed signals
        kernel = np.exp(-2j * np.pi * np.outer(f, sol.t))
        measured = (kernel @ sol.voltage["load"]) / (kernel @ (0.5 * pulse(sol.t)))
        errors.append(np.max(np.abs(measured - s21)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # the leapfrog's O(dx^2) phase and loss error, largest at 4 GHz (12 steps per period at 40 cells):
    # measured 0.048, 0.012, 0.0029 at 40, 80, 160 cells: it falls 4x per halving
    assert errors[-1] < 5e-3 and orders.min() > 1.8, (errors, orders)


def test_exact_transient_reproduces_the_lattice_diagram():
    # lossless line, Rs = 20, RL = 150: the characteristic integrator is exact on its grid
    line = Line.from_impedance(50.0, 1e-9)
    net = LineNetwork.single(line, Thevenin(Pulse(1.0, 0.1e-9, 0.3e-9, 1e-9, 0.3e-9), 20.0), Resistor(150.0))
    exact = simulate(net, t_end=6e-9, cells=50, integrator="characteristic")
    ours = transient(net, exact.t, 400e9)
    # the pulse's four corners make the spectrum fall as 1/f^2: truncation at 400 GHz leaves ~1e-3 V
    for node in net.nodes:
        np.testing.assert_allclose(ours[node], exact.node_voltage[node], atol=2e-3)


def test_laplace_transforms_of_the_piecewise_linear_waveforms():
    s = np.array([1e9 + 2e9j, 3e9 - 1e9j, 5e8 + 0j])
    # numerical quadrature of int v(t) exp(-s t) dt (all waveforms settle by 3 ns; the tail is analytic)
    t = np.linspace(0.0, 3e-9, 300_001)
    for waveform in (Step(2.0, 0.2e-9, 0.3e-9), Step(1.0, 0.5e-9), Pulse(1.5, 0.1e-9, 0.2e-9, 0.5e-9, 0.4e-9),
                     PWL([-1e-9, 0.5e-9, 1e-9, 2e-9], [0.2, 1.0, -0.5, 0.7])):
        values = waveform(t)
        integrand = values[None, :] * np.exp(-np.outer(s, t))
        numeric = np.trapezoid(integrand, t, axis=1) + values[-1] * np.exp(-s * t[-1]) / s
        # the trapezoid rule is O(h^2) on the ramps and O(h |jump|) at the ideal step's jump (h = 1e-14 s)
        np.testing.assert_allclose(laplace_transform(waveform, s), numeric, rtol=1e-7, atol=2 * (t[1] - t[0]))
    with pytest.raises(ConfigurationError, match="closed-form Laplace transform"):
        laplace_transform(Gaussian(), s)


def test_abcd_is_reciprocal_and_symmetric():
    abcd = line_abcd(LOSSY, 2j * np.pi * FREQUENCY)
    np.testing.assert_allclose(np.linalg.det(abcd), 1.0, atol=1e-12)  # AD - BC = 1
    np.testing.assert_allclose(abcd[:, 0, 0], abcd[:, 1, 1])


def test_bad_input_raises_before_any_work():
    with pytest.raises(ConfigurationError, match="frequency"):
        scattering(LOSSY, [0.0, 1e9])
    with pytest.raises(ConfigurationError, match="frequency"):
        scattering(LOSSY, [-1e9])
    with pytest.raises(ConfigurationError, match=r"increase strictly.*frequency\[1\] = 1000000000.0 Hz follows 2000000000.0"):
        scattering(LOSSY, [2e9, 1e9])
    with pytest.raises(ConfigurationError, match="increase strictly"):
        scattering(LOSSY, [1e9, 1e9])
    with pytest.raises(ConfigurationError, match="z0"):
        scattering(LOSSY, FREQUENCY, z0=0.0)
    with pytest.raises(ConfigurationError, match="Line or a LineNetwork"):
        scattering("line", FREQUENCY)
    with pytest.raises(ConfigurationError, match="max_frequency"):
        transient(LineNetwork.single(LOSSY, Thevenin(Step(), 50.0), Open()), [0.0, 1e-9], -1.0)
