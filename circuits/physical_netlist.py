"""The scheduled transmission-line trainer as a netlist: source waveforms, delay stubs, gated loss port.

:func:`pipelined_trainer` exports what :class:`circuits.physical.TLineSession` simulates in the
pipelined schedule, so ngspice runs the same trainer: the input and target sources are piecewise
linear waveforms switching every line delay (edges of ``ramp`` s), the loss port is switched on when
the first sample reaches it (``L td``), and junction ``k`` pairs each arriving sensitivity with its
input and emitted waves stored on matched delay-stub lines of ``2(L - k + 1) td``. Junctions, lines
and parameter ports are those of :func:`circuits.realize.tline_trainer`.
"""

from __future__ import annotations

import numpy as np

from substrate.errors import ConfigurationError, check_range
from substrate.network import get_loss

from . import expressions as ex
from .junctions import Layout
from .lossy_engine import Ladders, needs_ladders
from .netlist import LTRA, PWL, BSource, Capacitor, Netlist, Resistor, TLine, Tran, VoltageSource
from .physical import Circuit, inertial_port, port_resistance
from .realize import _PRECISE, Circuit as Realised, _dense, _inertial_port, _junction_unit
from .spice import format_number as num

__all__ = ["pipelined_trainer"]


def _slope_of_value(name: str, v: str) -> str:
    """``f'(z)`` written with the emitted value ``v = f(z)`` (what a stub stores)."""
    forms = {"identity": "1", "tanh": f"(1-({v})*({v}))", "sigmoid": f"(({v})*(1-({v})))"}
    if name not in forms:
        raise ConfigurationError(f"activation {name!r}: the stub pairing is exported for {sorted(forms)}")
    return forms[name]


def _steps(values: np.ndarray, td: float, ramp: float) -> PWL:
    """A source holding ``values[m]`` on ``[m td, (m + 1) td)``, with edges of ``ramp`` s after each switch."""
    points = [(0.0, float(values[0]))]
    for m in range(1, len(values)):
        points += [(m * td, float(values[m - 1])), (m * td + ramp, float(values[m]))]
    points.append((len(values) * td, float(values[-1])))
    return PWL(tuple(points))


def _read(node: str, circuit: Circuit) -> str:
    """What a junction reads of parameter node ``node``: ``v(node)``, clamped to the rails and quantised as
    :meth:`Circuit.read_parameters` (ngspice's ``floor``) when the circuit bounds or quantises it."""
    if circuit.parameter_limit is None:
        return f"v({node})"
    rail = num(circuit.rail)
    clamped = f"min(max(v({node}),-{rail}),{rail})"
    if not circuit.levels:
        return clamped
    spacing = num(2.0 * circuit.rail / (circuit.levels - 1))
    return f"(-{rail}+{spacing}*floor(({clamped}+{rail})/{spacing}+0.5))"


#: time constant of the rail clamps as a fraction of ``td``: the clamp conductance is ``C / (td * this)``, so a
#: port current ``i = lr C e / td`` holds the capacitor ``i td * this / C = 1e-6 lr |e|`` volts past its rail
_CLAMP = 1e-6


def _ports(net, efforts, beta, batch, resistance, circuit, inductance=None):
    """Parameter capacitors ``C_i`` (:meth:`Circuit.capacitances`) charged by ``-e/R`` (or, with ``inductance``
    M in H, by an inertial port: :func:`circuits.realize._inertial_port`), with leak resistors if any, and rail
    clamps (a stiff conductance beyond ``+-parameter_limit``) if bounded."""
    n_params = sum(p.size for p in net.params)
    capacitances = circuit.capacitances(n_params)
    factors = circuit.resistor_factors(n_params)  # the drawn port resistors R_i = R factors[q]
    elements, names, q = [], [], 0
    for k, layer in enumerate(net.layers, start=1):
        w_names = np.array([[f"w{k}_{i}_{j}" for j in range(layer.n_in)] for i in range(layer.n_out)])
        b_names = np.array([f"b{k}_{i}" for i in range(layer.n_out)])
        names += [w_names, b_names]
        values = np.column_stack([layer.weight, layer.bias])
        order = [(i, j) for i in range(layer.n_out) for j in range(layer.n_in)] + [(i, layer.n_in)
                                                                                 for i in range(layer.n_out)]
        for i, j in order:  # the packing order of circuits.junctions.Layout: weights row by row, then biases
            node = w_names[i, j] if j < layer.n_in else b_names[i]
            initial = float(np.clip(values[i, j], -circuit.rail, circuit.rail))  # the rails hold the capacitors
            elements.append(Capacitor(f"C_{node}", node, "0", float(capacitances[q]), ic=initial))
            # an ideal port has no leak; ngspice needs a DC path: 1e30 ohm (a leak rate 1e-18 of 1/(R C))
            leak = 1e30 if circuit.leak_resistance is None else circuit.leak_resistance
            elements.append(Resistor(f"R_leak_{node}", node, "0", leak))
            if inductance is not None:
                elements += _inertial_port(node, f"{num(-1.0 / (beta * batch))}*({efforts[k - 1][i][j]})",
                                           resistance * factors[q], inductance)
            else:  # current out of the node through the source +e/R: the port charges the capacitor with -e/R
                scale = 1.0 / (beta * batch * resistance * factors[q])
                elements.append(BSource(f"B_port_{node}", node, "0", "I", f"{num(scale)}*({efforts[k - 1][i][j]})"))
            if circuit.parameter_limit is not None:  # the rails: no current inside, a stiff conductance beyond
                rail, conductance = num(circuit.rail), num(float(capacitances[q]) / (_CLAMP * circuit.td))
                elements.append(BSource(f"B_rail_{node}", node, "0", "I",
                                        f"{conductance}*(uramp(v({node})-{rail})-uramp(-v({node})-{rail}))"))
            q += 1
    return elements, names


def _lossy_lines(elements: list, net, batch: int, circuit: Circuit) -> list:
    """The trainer's elements with every line at its own delay and series resistance, as the native kernel
    has them (:class:`circuits.lossy_engine.Ladders`: ``specs``), and the junction source resistors ``R_f``,
    ``R_g`` at ``source_resistance``. A lossy line is ngspice's exact RLC line (LTRA: ``R' = R``, ``L' = z0 d``,
    ``C' = d / z0`` over 1 m), the limit the kernel's ladders converge to at second order in their cells; a
    lumped RLC ladder is not exported, because its end capacitors make the junctions' reading
    ``v(end) - E/2`` an algebraic loop through their own emissions that ngspice cannot integrate (measured:
    "timestep too small" on a 2-3-2 trainer at 8 cells).
    """
    layout = Layout(net)
    depth = len(layout.table)
    ladders = Ladders(layout, batch, circuit, np.array([2 * (depth - k) for k in range(depth)]))
    n0, offsets = layout.sizes[0], [0] + [int(row[3] + row[1]) for row in layout.table]
    out = []
    for element in elements:
        if isinstance(element, Resistor) and element.name.startswith(("R_f", "R_g")):
            element = Resistor(element.name, element.n1, element.n2, circuit.junction_resistance)
        if not isinstance(element, TLine):
            out.append(element)
            continue
        # the kernel's name of this line: T<k>_<i>_s<n> links, T_si<k>_<j>_s<n> / T_so<k>_<i>_s<n> stubs
        kind, rest = ("l", element.name[1:]) if not element.name.startswith("T_s") else (element.name[3], element.name[4:])
        k, index, lane = (int(part) for part in rest.replace("_s", "_").split("_"))
        row = n0 + offsets[k - 2] + index if kind == "i" and k > 1 else (index if kind == "i" else offsets[k - 1] + index)
        delay, resistance, _ = ladders.specs[f"{kind}{row}_{lane}"]
        z0 = float(element.z0)
        if resistance > 0:
            # LTRA's slope breakpoints off (rel = abs = 1e6): with their defaults the junctions re-emit every
            # breakpoint and they multiply (time points per delay 110 ... 5414 over 8 minibatches), which
            # parts ngspice from the kernel; without them it agrees at its own step error (tested)
            out.append(LTRA(f"O{element.name[1:]}", element.p1, element.n1, element.p2, element.n2, resistance,
                            z0 * delay, 0.0, delay / z0, 1.0, breakpoint_rel=1e6, breakpoint_abs=1e6))
        else:
            out.append(TLine(element.name, element.p1, element.n1, element.p2, element.n2, z0, delay))
    return out


def pipelined_trainer(net, x, target, loss: str, circuit: Circuit, lr: float, beta: float = 1.0,
                      steps_per_td: int = 40, ramp: float | None = None, noise=None,
                      momentum: float | None = None) -> Realised:
    """The pipelined trainer with delay stubs, fed minibatch ``m`` on ``[m td, (m + 1) td)``.

    Parameters
    ----------
    net : Network
        Initial parameters (capacitor initial voltages).
    x, target : ndarray, shape (n_b, B, n_0) and (n_b, B, n_L)
        The minibatches, in the loss's internal target form (one-hot for cross-entropy).
    loss : {"mse", "cross_entropy"}
    circuit : Circuit
        ``td`` (s), ``z0`` (ohm), ``port_capacitance`` (F) and the non-idealities ``leak_resistance``
        (ohm), ``capacitor_tolerance`` (drawn capacitors), ``resistor_tolerance`` (drawn port resistors), ``amplifier_gain`` (every junction source and
        the loss port times ``A / (1 + A)``), ``line_attenuation_db`` (a matched T attenuator at the far
        end of every line and stub: series arms ``z0 (1 - A)/(1 + A)``, shunt ``2 z0 A / (1 - A^2)``),
        ``amplifier_bandwidth`` (each junction source and the loss port drives its line through an RC
        low-pass of ``R C = 1 / (2 pi f_p)`` and a unity buffer), ``parameter_limit`` (rail clamps on the
        capacitors, junctions reading them clamped) and ``parameter_bits`` (the junctions read
        ``floor``-quantised parameter voltages), ``source_resistance`` (every junction source resistor ``R_f``, ``R_g`` and the stubs' ``R_..._i``;
        the lines, pads and stub terminations stay ``z0``).
        With ``line_resistance`` or ``delay_spread`` (the method-of-lines kernel of
        :mod:`circuits.lossy_engine`) every line and stub has the kernel's own delay and series
        resistance (ngspice's LTRA when lossy) and the junction source resistors are ``source_resistance``.
    lr : float
        Port learning rate, realised as ``R = td / (lr C)``.
    beta : float
        Loss-port gain.
    steps_per_td : int
        ngspice's output step and largest time step ``td / steps_per_td``.
    ramp : float, optional
        Edge time of the source waveforms in s (default ``td * 1e-5``).
    noise : ndarray, shape (2, n_b, N, B), optional
        Noise voltages in V added to the forward and backward emissions, held over each delay
        (:attr:`circuits.physical.TLineSession.last_noise` of a native run of the same minibatches):
        piecewise-linear sources, so ngspice sees the native run's noise sample for sample.
    momentum : float, optional
        Inertial ports: an inductor ``M`` in series with each port resistor ``R``, ``(R, M)`` from
        :func:`circuits.physical.inertial_port` (pipelined) as in
        :class:`circuits.physical.TLineSession` with ``momentum``.

    Returns
    -------
    circuits.realize.Circuit
        ``nodes["params"]`` aligned with ``net.params``; ``info`` with ``td``, ``learning_rate`` (1/s).
    """
    layers = _dense(net)
    loss = get_loss(loss)
    gain = circuit.closed_loop_gain
    x, target = np.asarray(x, float), np.asarray(target, float)
    if x.ndim != 3 or target.ndim != 3 or len(x) != len(target) or x.shape[1] != target.shape[1]:
        raise ConfigurationError(f"x {x.shape} and target {target.shape} must be (n_batches, batch, n) with equal "
                                 "n_batches and batch")
    td, z0, C = circuit.td, circuit.z0, circuit.port_capacitance
    rs = circuit.junction_resistance  # every junction source resistor: the link ends, the loss port, the stubs
    steps_per_td = int(check_range("steps_per_td", steps_per_td, 1, 10_000))
    ramp = td * 1e-5 if ramp is None else check_range("ramp", ramp, 0.0, td / 10, low_inclusive=False)
    n_b, batch = x.shape[:2]
    depth = len(layers)
    elements = []
    for n in range(batch):
        for j in range(net.sizes[0]):
            elements.append(VoltageSource(f"V_x{j}_s{n}", f"x{j}_s{n}", "0", _steps(x[:, n, j], td, ramp)))
        delayed = np.concatenate([np.zeros((depth,) + target.shape[1:]), target])[:n_b]  # the target travels L td
        for i in range(net.sizes[-1]):
            elements.append(VoltageSource(f"V_y{i}_s{n}", f"y{i}_s{n}", "0", _steps(delayed[:, n, i], td, ramp)))
    offsets = np.cumsum([0] + [layer.n_out for layer in layers])
    if noise is not None:
        noise = np.asarray(noise, float)
        if noise.shape != (2, n_b, offsets[-1], batch):
            raise ConfigurationError(f"noise has shape {noise.shape}; expected {(2, n_b, offsets[-1], batch)}")

    def hum(side, k, i, n):
        """``+2 v(noise)`` of link ``k``'s wave ``i`` of sample ``n`` (``side`` 0 forward, 1 backward), or ''."""
        if noise is None:
            return ""
        name = f"n{'fb'[side]}{k}_{i}_s{n}"
        elements.append(VoltageSource(f"V_{name}", name, "0", _steps(noise[side, :, offsets[k - 1] + i, n], td, ramp)))
        return f"+2*v({name})"

    def amplifier(name, source):
        """``source`` (twice an emitted wave) through the amplifiers' pole: a B source, ``R``, ``C`` to ground and a
        buffer reading ``C``; without a pole ``source`` itself."""
        if circuit.amplifier_bandwidth is None:
            return source
        resistance = 1e3
        elements.extend([BSource(f"B_{name}_u", f"{name}_u", "0", "V", source),
                         Resistor(f"R_{name}_p", f"{name}_u", f"{name}_p", resistance),
                         Capacitor(f"C_{name}_p", f"{name}_p", "0", circuit.pole_tau / resistance, ic=0.0)])
        return f"v({name}_p)"

    gate = np.where(np.arange(n_b) < depth, 0.0, 1.0)
    elements.append(VoltageSource("V_loss_gate", "loss_gate", "0", _steps(gate, td, ramp)))

    def pad(name, node, amplitude):
        """A matched T attenuator of amplitude ``amplitude`` after ``node`` (ohm arms of ``z0``); its output node."""
        if amplitude == 1.0:
            return node
        series = z0 * (1.0 - amplitude) / (1.0 + amplitude)
        shunt = 2.0 * z0 * amplitude / (1.0 - amplitude ** 2)
        elements.extend([Resistor(f"R_{name}_pa", node, f"{name}_pm", series),
                         Resistor(f"R_{name}_ps", f"{name}_pm", "0", shunt),
                         Resistor(f"R_{name}_pb", f"{name}_pm", f"{name}_po", series)])
        return f"{name}_po"

    def stub(name, value, delay, amplitude):
        """A matched line of ``delay`` s carrying ``value`` (attenuated by ``amplitude``); the far-end expression."""
        elements.extend([BSource(f"B_{name}", f"{name}_i", "0", "V", f"2*({value})"),
                         Resistor(f"R_{name}_i", f"{name}_i", f"{name}_l", rs),
                         TLine(f"T_{name}", f"{name}_l", "0", f"{name}_o", "0", z0, delay)])
        end = pad(name, f"{name}_o", amplitude)
        elements.append(Resistor(f"R_{name}_o", end, "0", z0))
        return f"v({end})"

    efforts = [[[[] for _ in range(layer.n_in + 1)] for _ in range(layer.n_out)] for layer in layers]
    for k, layer in enumerate(layers, start=1):
        f = layer.activation.name
        delay = 2 * (depth - k + 1) * td
        stub_amplitude = circuit.line_gain ** (2 * (depth - k + 1))
        for n in range(batch):
            arriving = [f"v(x{j}_s{n})" if k == 1 else f"v(a{k - 1}_{j}_s{n})" for j in range(layer.n_in)]
            stored = [stub(f"si{k}_{j}_s{n}", arriving[j], delay, stub_amplitude) for j in range(layer.n_in)]
            for i in range(layer.n_out):
                tag = f"{k}_{i}_s{n}"
                z = ex.linear([_read(f"w{k}_{i}_{j}", circuit) for j in range(layer.n_in)], arriving,
                              _read(f"b{k}_{i}", circuit))
                forward_noise = hum(0, k, i, n)
                emitted = stub(f"so{tag}", f"0.5*v(f{tag})", delay, stub_amplitude)  # the emitted wave, noise included
                port = pad(f"t{tag}", f"r{tag}", circuit.line_gain)  # the line's loss, at its far end
                forward = amplifier(f"amf{tag}", f"{num(2 * gain)}*{ex.activation(f, f'v(z{tag})')}{forward_noise}")
                elements += _junction_unit(tag, z, forward, port, _slope_of_value(f, emitted), z0, td, rs)
                for j in range(layer.n_in):
                    efforts[k - 1][i][j].append(f"v(d{tag})*{stored[j]}")
                efforts[k - 1][i][layer.n_in].append(f"v(d{tag})")
            if k > 1:
                for j in range(layer.n_in):
                    back = ex.linear([_read(f"w{k}_{i}_{j}", circuit) for i in range(layer.n_out)],
                                     [f"v(d{k}_{i}_s{n})" for i in range(layer.n_out)])
                    elements.append(BSource(f"B_g{k - 1}_{j}_s{n}", f"g{k - 1}_{j}_s{n}", "0", "V",
                                            amplifier(f"amb{k - 1}_{j}_s{n}",
                                                      f"{num(2 * gain)}*({back}){hum(1, k - 1, j, n)}")))
    for n in range(batch):
        outputs = [f"v(a{depth}_{i}_s{n})" for i in range(net.sizes[-1])]
        targets = [f"v(y{i}_s{n})" for i in range(net.sizes[-1])]
        for i in range(net.sizes[-1]):
            gradient = ex.loss_gradient(loss.name, outputs, targets, i)
            elements.append(BSource(f"B_g{depth}_{i}_s{n}", f"g{depth}_{i}_s{n}", "0", "V",
                                    amplifier(f"amb{depth}_{i}_s{n}", f"{num(2 * beta * gain)}*v(loss_gate)*{gradient}"
                                                                     f"{hum(1, depth, i, n)}")))
    joined = [[["+".join(terms) for terms in row] for row in layer] for layer in efforts]
    if momentum is None:
        R, M = port_resistance(lr, circuit, "pipelined"), None
    else:
        R, M = inertial_port(lr, momentum, circuit, "pipelined", depth)
    params, names = _ports(net, joined, beta, batch, R, circuit, M)
    if needs_ladders(circuit):
        elements = _lossy_lines(elements, net, batch, circuit)
    step = td / steps_per_td
    netlist = Netlist(f"pipelined transmission-line trainer with delay stubs, {'-'.join(map(str, net.sizes))}, "
                      f"batch {batch}, {n_b} minibatches", tuple(params + elements),
                      Tran(step, n_b * td, step, uic=True), (), _PRECISE)
    return Realised(netlist, {"params": names}, {"td": td, "z0": z0, "learning_rate": 1.0 / (R * C),
                                                 "beta": beta})
