"""Realisations of a network as circuits (physics.md, section 7).

- :func:`inference`: one sample's forward pass as an ``.op`` netlist, either with behavioural sources
  (``style="behavioural"``) or as a resistive crossbar (``style="crossbar"``): each weight a
  differential pair of conductances ``G+ - G- = w / R_unit``, each column summed by a transimpedance
  amplifier of gain ``-R_unit`` (V/A) built from a finite-gain op-amp, then an activation source.
- :func:`tline_trainer`: the transmission-line trainer: one T line per neuron per link, matched
  junction sources, the reflecting loss port, and parameters as capacitor voltages charged by
  resistive ports; one copy of the wave network per sample, all copies sharing the parameters.
- :func:`rc_trainer`: the lumped dyadic trainer: each neuron an activation node and a sensitivity node,
  each an RC node driven through R by a behavioural source.

Every function returns a :class:`Circuit`: the validated :class:`~circuits.netlist.Netlist` plus the
names of the nodes that carry the network's quantities, so ngspice results can be read back as arrays.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from substrate.errors import ConfigurationError, check_positive, check_range
from substrate.network import get_loss
from substrate.network.network import Network

from . import expressions as ex
from .netlist import (
    DC, BSource, Capacitor, Inductor, Instance, Netlist, Op, Param, Resistor, Subckt, TLine, Tran, VCVS, VoltageSource,
)
from .spice import format_number as num

__all__ = ["Circuit", "inference", "subcircuit", "testbench", "tline_trainer", "rc_trainer", "crossbar_forward", "crossbar_devices",
           "device_table", "write_device_table"]

_PRECISE = (("reltol", 1e-9), ("abstol", 1e-15), ("vntol", 1e-12))


@dataclass
class Circuit:
    """A realised netlist and the node names of the network's quantities.

    Attributes
    ----------
    netlist : Netlist
    nodes : dict of str -> ndarray of str
        Node-name grids, for example ``"outputs"`` (shape ``(n_L,)``) for inference, or ``"a"``, ``"s"``
        (lists over links of ``(batch, n_k)`` grids) and ``"params"`` (list aligned with ``net.params``)
        for the trainers.
    info : dict
        Physical constants of the realisation (time constants in s, gains, resistances in ohm).
    """

    netlist: Netlist
    nodes: dict
    info: dict = field(default_factory=dict)

    def read(self, result, key: str) -> list[np.ndarray] | np.ndarray:
        """Voltages (V) of node grid ``key`` from an :class:`~circuits.ngspice.NgspiceResult`.

        A grid of shape ``S`` gives an array of shape ``(time points,) + S``; a list of grids a list.
        """
        grids = self.nodes[key]

        def one(grid):
            grid = np.asarray(grid)
            flat = [result.v(name) for name in grid.ravel()]
            return np.stack(flat, axis=-1).reshape((-1,) + grid.shape)

        return [one(g) for g in grids] if isinstance(grids, list) else one(grids)


def _dense(net: Network):
    if not isinstance(net, Network):
        raise ConfigurationError(f"net must be a substrate Network, got {type(net).__name__}")
    for k, layer in enumerate(net.layers, start=1):
        if layer.kind != "dense":
            raise ConfigurationError(f"layer {k} is {layer.kind!r}: circuits realise dense layers only")
        ex.activation(layer.activation.name, "0")  # raises for activations without a circuit form
        for p in layer.params:
            if not np.all(np.isfinite(p)):
                raise ConfigurationError(f"layer {k} has non-finite parameters")
    return net.layers


def _sample(net: Network, x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.shape != (net.sizes[0],):
        raise ConfigurationError(f"x must be one sample of shape ({net.sizes[0]},), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ConfigurationError("x must be finite")
    return x


# --- inference -------------------------------------------------------------------------------------
def inference(net: Network, x, style: str = "behavioural", r_unit: float = 1e4, gain: float = 1e7,
              g_min: float | None = None) -> Circuit:
    """One sample's forward pass as an ``.op`` netlist: inputs on ``in0, in1, ...``, outputs on ``out0, ...``.

    Parameters
    ----------
    net : Network
        Dense layers with activations identity, tanh, sigmoid, relu or softplus.
    x : ndarray, shape (n_0,)
        The sample (volts on the input nodes).
    style : {"behavioural", "crossbar"}
        ``"behavioural"``: one B source per pre-activation and per activation (exact up to ngspice's
        arithmetic). ``"crossbar"``: differential conductance pairs, transimpedance amplifiers
        (subcircuit ``tia``: feedback resistor ``r_unit`` and an op-amp of open-loop gain ``gain``) and
        behavioural activation sources; see :func:`crossbar_forward` for its exact finite-gain output.
    r_unit : float
        Unit resistance in ohm (> 0): a weight ``w`` is ``G+ - G- = w / r_unit``; the transimpedance gain
        is ``-r_unit`` V/A.
    gain : float
        Open-loop voltage gain of each op-amp (dimensionless, >= 10).
    g_min : float, optional
        Baseline conductance of every device in S (default ``0.01 / r_unit``): ``G+ = g_min + max(w, 0)/r_unit``,
        ``G- = g_min + max(-w, 0)/r_unit``.

    Returns
    -------
    Circuit
        ``nodes["inputs"]``, ``nodes["outputs"]``; for the crossbar ``info`` holds ``r_unit``, ``gain``,
        ``g_min`` and ``gain_error`` (the largest relative column gain error ``(1 + r_unit G_sum)/gain``).
    """
    layers = _dense(net)
    x = _sample(net, x)
    if style not in ("behavioural", "crossbar"):
        raise ConfigurationError(f"style = {style!r} must be 'behavioural' or 'crossbar'")
    r_unit = check_positive("r_unit", r_unit)
    gain = check_range("gain", gain, 10.0, None)
    g_min = 0.01 / r_unit if g_min is None else check_range("g_min", g_min, 0.0, None)
    inputs = [f"in{j}" for j in range(len(x))]
    elements = [VoltageSource(f"V_in{j}", node, "0", DC(float(v))) for j, (node, v) in enumerate(zip(inputs, x))]
    body, subckts, previous = _forward(layers, inputs, style, r_unit, gain, g_min)
    info = {}
    if style == "crossbar":
        info = {"r_unit": r_unit, "gain": gain, "g_min": g_min, "transimpedance_gain": -r_unit,
                "gain_error": crossbar_gain_error(net, r_unit, gain, g_min)}
    netlist = Netlist(f"{style} inference of a {'-'.join(map(str, net.sizes))} network", tuple(elements + body), Op(),
                      subckts, _PRECISE)
    return Circuit(netlist, {"inputs": np.array(inputs), "outputs": np.array(previous)}, info)


def _forward(layers, inputs, style, r_unit, gain, g_min):
    """Elements of the forward pass from nodes ``inputs`` to ``out0, out1, ...``: ``(elements, subckts, outputs)``."""
    elements, subckts, previous = [], (), inputs
    for k, layer in enumerate(layers, start=1):
        last = k == len(layers)
        outputs = [f"out{i}" if last else f"h{k}_{i}" for i in range(layer.n_out)]
        name = layer.activation.name
        if style == "behavioural":
            for i in range(layer.n_out):
                z = ex.linear(layer.weight[i], [f"v({p})" for p in previous], layer.bias[i])
                elements.append(BSource(f"B_z{k}_{i}", f"z{k}_{i}", "0", "V", z))
                elements.append(BSource(f"B_a{k}_{i}", outputs[i], "0", "V", ex.activation(name, f"v(z{k}_{i})")))
        else:
            if k == 1:
                elements.append(VoltageSource("V_bias", "rail_bias", "0", DC(1.0)))
                subckts = (Subckt("tia", ("sum", "out"), (
                    Resistor("R_f", "sum", "out", Param("rf")),
                    VCVS("E_amp", "out", "0", "0", "sum", Param("gain")),
                ), (("rf", r_unit), ("gain", gain))),)
            g_plus, g_minus = crossbar_devices(layer, r_unit, g_min)
            rails = previous + ["rail_bias"]
            for i in range(layer.n_out):
                for sign, table in (("p", g_plus), ("n", g_minus)):
                    for j, rail in enumerate(rails):
                        elements.append(Resistor(f"R_{sign}{k}_{i}_{j}", rail, f"sum{sign}{k}_{i}", 1.0 / table[i, j]))
                    elements.append(Instance(f"X_{sign}{k}_{i}", (f"sum{sign}{k}_{i}", f"y{sign}{k}_{i}"), "tia",
                                             (("rf", r_unit), ("gain", gain))))
                elements.append(BSource(f"B_a{k}_{i}", outputs[i], "0", "V",
                                        ex.activation(name, f"v(yn{k}_{i})-v(yp{k}_{i})")))
        previous = outputs
    return elements, subckts, previous


def subcircuit(net: Network, name: str = "network") -> Subckt:
    """The network's behavioural forward pass as a reusable ``.subckt``.

    Pins, in order: ``in0 .. in{n_0 - 1}`` (inputs, V) then ``out0 .. out{n_L - 1}`` (outputs, V, driven by
    ideal voltage sources). Internal nodes ``z{k}_{i}`` (pre-activations) and ``h{k}_{i}`` (hidden
    activations) are local to each instance.
    """
    layers = _dense(net)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ConfigurationError(f"subcircuit name {name!r} must be letters, digits and '_', starting with a letter")
    inputs = [f"in{j}" for j in range(net.sizes[0])]
    body, _, outputs = _forward(layers, inputs, "behavioural", 1.0, 10.0, 0.0)
    return Subckt(name, tuple(inputs + outputs), tuple(body))


def testbench(net: Network, x, labels, hold: float = 1e-6, sweep_points: int = 50) -> Circuit:
    """A test bench for :func:`subcircuit`: ngspice reports the network's accuracy on ``(x, labels)``.

    Instance ``X_net`` of subcircuit ``network`` is driven by one PWL source per input that steps
    through the samples, each held for ``hold`` seconds (edges ``hold * 1e-6`` long). A B source
    ``ok`` is 1 V while the largest output is the one of the sample's label (``V_label`` steps through
    the labels alongside) and 0 V otherwise, and ``.meas tran accuracy AVG v(ok)`` over all samples is
    the test accuracy (exact to ``1e-6`` per sample, the edge fraction). A ``.dc`` sweep of input 0
    over the test set's range (``sweep_points`` points, the other inputs at sample 0) comes first.

    Parameters
    ----------
    net : Network
    x : ndarray, shape (samples, n_0)
    labels : ndarray of int, shape (samples,)
        Class indices in ``[0, n_L)``.
    hold : float
        Time per sample in s.
    sweep_points : int
        Points of the ``.dc`` sweep.

    Returns
    -------
    Circuit
        ``nodes``: ``"inputs"``, ``"outputs"``, ``"ok"``; ``info``: ``hold`` (s), ``samples``, ``t_stop`` (s).
    """
    from .netlist import DCSweep, Measure, PWL

    _dense(net)
    x = net.check_input(x)
    if not np.all(np.isfinite(x)):
        raise ConfigurationError("x must be finite")
    labels = np.asarray(labels)
    classes = net.sizes[-1]
    if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= classes:
        raise ConfigurationError(f"labels must be {len(x)} integer class indices in [0, {classes}), got {labels!r}")
    if classes < 2:
        raise ConfigurationError("a test bench needs at least 2 outputs (it measures the argmax accuracy)")
    hold = check_positive("hold", hold)
    sweep_points = int(check_range("sweep_points", sweep_points, 2, 100_000))
    samples, edge = len(x), hold * 1e-6
    times = np.arange(samples) * hold

    def steps(values):
        points = [(0.0, float(values[0]))]
        for t, previous, value in zip(times[1:], values[:-1], values[1:]):
            points += [(float(t), float(previous)), (float(t + edge), float(value))]
        return PWL(tuple(points))

    inputs = [f"in{j}" for j in range(net.sizes[0])]
    outputs = [f"out{i}" for i in range(classes)]
    elements = [VoltageSource(f"V_in{j}", node, "0", steps(x[:, j])) for j, node in enumerate(inputs)]
    elements.append(Instance("X_net", tuple(inputs + outputs), "network"))
    elements.append(VoltageSource("V_label", "label", "0", steps(labels.astype(float))))
    terms = []
    for c in range(classes):
        wins = "*".join(f"u(v(out{c})-v(out{j}))" for j in range(classes) if j != c)
        terms.append(f"u(0.5-abs(v(label)-{c}))*{wins}")
    elements.append(BSource("B_ok", "ok", "0", "V", "+".join(terms)))
    elements.append(Resistor("R_ok", "ok", "0", 1e6))
    t_stop = samples * hold
    low, high = float(x[:, 0].min()), float(x[:, 0].max())
    if high == low:
        low, high = low - 1.0, high + 1.0
    sweep = DCSweep("V_in0", low, high, (high - low) / (sweep_points - 1))
    tran = Tran(hold / 10, t_stop, hold / 10)
    measure = Measure("tran", "accuracy", f"AVG v(ok) FROM=0 TO={num(t_stop)}")
    netlist = Netlist(f"test bench: accuracy of a {'-'.join(map(str, net.sizes))} network on {samples} samples",
                      tuple(elements), (sweep, tran), (subcircuit(net),), _PRECISE, measures=(measure,))
    return Circuit(netlist, {"inputs": np.array(inputs), "outputs": np.array(outputs), "ok": np.array("ok")},
                   {"hold": hold, "samples": samples, "t_stop": t_stop})


def crossbar_devices(layer, r_unit: float, g_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Conductances ``(G+, G-)`` in S of one layer, shape ``(n_out, n_in + 1)`` (last column: the bias rail at 1 V)."""
    w = np.column_stack([layer.weight, layer.bias])
    return g_min + np.maximum(w, 0.0) / r_unit, g_min + np.maximum(-w, 0.0) / r_unit


def crossbar_gain_error(net: Network, r_unit: float = 1e4, gain: float = 1e7, g_min: float | None = None) -> float:
    """Largest relative column gain error ``(1 + r_unit * sum_j G_j) / gain`` of the crossbar (dimensionless).

    An inverting summing amplifier with open-loop gain ``A`` outputs ``-r_unit sum_j G_j a_j / (1 + eps)``
    with ``eps = (1 + r_unit sum_j G_j) / A``: every column's output is low by the factor ``1/(1 + eps)``.
    """
    g_min = 0.01 / r_unit if g_min is None else g_min
    worst = 0.0
    for layer in _dense(net):
        for table in crossbar_devices(layer, r_unit, g_min):
            worst = max(worst, float(np.max((1.0 + r_unit * table.sum(axis=1)) / gain)))
    return worst


def crossbar_forward(net: Network, x, r_unit: float = 1e4, gain: float = 1e7, g_min: float | None = None) -> np.ndarray:
    """The exact output of the crossbar circuit (finite op-amp gain) for inputs ``x`` of shape ``(batch, n_0)``."""
    g_min = 0.01 / r_unit if g_min is None else g_min
    a = net.check_input(x)
    for layer in _dense(net):
        rails = np.column_stack([a, np.ones(len(a))])
        outs = []
        for table in crossbar_devices(layer, r_unit, g_min):
            eps = (1.0 + r_unit * table.sum(axis=1)) / gain
            outs.append(-r_unit * rails @ table.T / (1.0 + eps))
        a = layer.activation(outs[1] - outs[0])
    return a


def device_table(net: Network, r_unit: float = 1e4, g_min: float | None = None) -> dict:
    """Every conductance of the crossbar as columns: ``layer`` (1..L), ``row`` (output neuron), ``column``
    (input index; ``n_in`` is the bias rail at 1 V), ``sign`` (+1 for G+, -1 for G-), ``conductance_S``
    (siemens); sorted by layer, row, column, then G+ before G-."""
    r_unit = check_positive("r_unit", r_unit)
    g_min = 0.01 / r_unit if g_min is None else check_range("g_min", g_min, 0.0, None)
    parts = []
    for k, layer in enumerate(_dense(net), start=1):
        g_plus, g_minus = crossbar_devices(layer, r_unit, g_min)
        rows, columns = np.indices(g_plus.shape)
        count = g_plus.size
        parts.append({"layer": np.full(2 * count, k), "row": np.repeat(rows.ravel(), 2),
                      "column": np.repeat(columns.ravel(), 2), "sign": np.tile([1, -1], count),
                      "conductance_S": np.column_stack([g_plus.ravel(), g_minus.ravel()]).ravel()})
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def write_device_table(net: Network, folder: str | os.PathLike, r_unit: float = 1e4, g_min: float | None = None,
                       fmt: str = "npz") -> str:
    """Write the crossbar's :func:`device_table` into ``folder`` as ``devices.npz`` (compact, default) or
    ``devices.csv`` (``layer,row,column,sign,conductance_S``, sign ``+``/``-``, shortest round-trip
    numbers); return the path. The ``.npz`` also holds ``r_unit_ohm`` and ``g_min_S``."""
    from substrate.io import atomic_path

    if fmt not in ("npz", "csv"):
        raise ConfigurationError(f"fmt = {fmt!r} must be 'npz' or 'csv'")
    table = device_table(net, r_unit, g_min)
    g_min = 0.01 / r_unit if g_min is None else g_min
    path = os.path.join(folder, f"devices.{fmt}")
    with atomic_path(path) as temporary:
        if fmt == "npz":
            with open(temporary, "wb") as stream:
                np.savez_compressed(stream, r_unit_ohm=r_unit, g_min_S=g_min, **table)
        else:
            rows = zip(table["layer"].tolist(), table["row"].tolist(), table["column"].tolist(), table["sign"].tolist(),
                       table["conductance_S"].tolist())
            with open(temporary, "w", encoding="ascii") as stream:
                stream.write("layer,row,column,sign,conductance_S\n")
                stream.writelines(f"{k},{i},{j},{'+' if sign > 0 else '-'},{g!r}\n" for k, i, j, sign, g in rows)
    return path


# --- shared pieces of the trainers -----------------------------------------------------------------
def _batch(net, x, y, loss):
    x = net.check_input(x)
    if not np.all(np.isfinite(x)):
        raise ConfigurationError("x must be finite")
    target = loss.target(y, net.sizes[-1])
    if len(target) != len(x):
        raise ConfigurationError(f"x has {len(x)} samples but y has {len(target)}")
    return x, target


def _parameters(net, efforts, beta, batch, port_resistance, capacitance, leak_resistance, inductance=None):
    """Parameter nodes ``w{k}_{i}_{j}``, ``b{k}_{i}``: DC sources (frozen) or capacitors charged by ports.

    ``efforts[k][i][j]`` is the sum over samples of ``delta * a_prev`` as an expression (``j = n_in``: the bias);
    ``e = (1/beta) mean_n delta a_prev``. Resistive port: a B current source charges the capacitor with
    ``-e/R``. Inertial port (``inductance`` M in H): a loop of a B voltage source ``-e``, ``R`` and ``M`` closed
    by a 0 V sense source carries the flow current ``i`` (``M di/dt = -e - R i``), which a B current source
    copies into the capacitor (``C dtheta/dt = i``).
    """
    elements, names = [], []
    for k, layer in enumerate(net.layers, start=1):
        w_names = np.array([[f"w{k}_{i}_{j}" for j in range(layer.n_in)] for i in range(layer.n_out)])
        b_names = np.array([f"b{k}_{i}" for i in range(layer.n_out)])
        names += [w_names, b_names]
        values = np.column_stack([layer.weight, layer.bias])
        for i in range(layer.n_out):
            for j in range(layer.n_in + 1):
                node = w_names[i, j] if j < layer.n_in else b_names[i]
                if port_resistance is None:
                    elements.append(VoltageSource(f"V_{node}", node, "0", DC(float(values[i, j]))))
                    continue
                elements.append(Capacitor(f"C_{node}", node, "0", capacitance, ic=float(values[i, j])))
                elements.append(Resistor(f"R_leak_{node}", node, "0", leak_resistance))
                if inductance is None:
                    scale = 1.0 / (beta * batch * port_resistance)
                    # current out of the node through the source: +e/R, i.e. the port charges the capacitor with -e/R
                    elements.append(BSource(f"B_port_{node}", node, "0", "I", f"{num(scale)}*({efforts[k - 1][i][j]})"))
                else:
                    scale = -1.0 / (beta * batch)
                    elements += [
                        BSource(f"B_effort_{node}", f"pe_{node}", "0", "V", f"{num(scale)}*({efforts[k - 1][i][j]})"),
                        Resistor(f"R_port_{node}", f"pe_{node}", f"pm_{node}", port_resistance),
                        Inductor(f"L_port_{node}", f"pm_{node}", f"pz_{node}", inductance, ic=0.0),
                        VoltageSource(f"V_flow_{node}", f"pz_{node}", "0", DC(0.0)),
                        BSource(f"B_port_{node}", node, "0", "I", f"-i(V_flow_{node})"),
                    ]
    return elements, names


def _ports(port_resistance, capacitance, leak_resistance):
    if port_resistance is None:
        return None, capacitance, leak_resistance
    port_resistance = check_positive("port_resistance", port_resistance)
    capacitance = check_positive("capacitance", capacitance)
    leak_resistance = 1e9 * port_resistance if leak_resistance is None else check_positive("leak_resistance", leak_resistance)
    return port_resistance, capacitance, leak_resistance


def _weight(k, i, j):
    return f"v(w{k}_{i}_{j})"


# --- transmission-line trainer ---------------------------------------------------------------------
def _junction_unit(tag: str, z: str, forward: str, far: str, slope: str, z0: float, td: float,
                   source_resistance: float | None = None) -> list:
    """The elements of one unit of a T-line trainer junction (layer, unit and sample in ``tag``).

    ``z`` is the pre-activation expression, ``forward`` the source driving the line through its matched
    ``z0`` (twice the emitted forward wave), ``far`` the node where the line's far end meets the
    backward source (the line's own end, or an attenuator pad behind it), ``slope`` the expression
    multiplying the arriving sensitivity ``v(s<tag>)`` into the backward wave ``d<tag>``.
    ``source_resistance`` (ohm, default ``z0``) replaces both source resistors (a mismatched junction).
    """
    rs = z0 if source_resistance is None else source_resistance
    return [
        BSource(f"B_z{tag}", f"z{tag}", "0", "V", z),
        BSource(f"B_f{tag}", f"f{tag}", "0", "V", forward),
        Resistor(f"R_f{tag}", f"f{tag}", f"l{tag}", rs),
        TLine(f"T{tag}", f"l{tag}", "0", f"r{tag}", "0", z0, td),
        Resistor(f"R_g{tag}", f"g{tag}", far, rs),
        BSource(f"B_a{tag}", f"a{tag}", "0", "V", f"v({far})-0.5*v(g{tag})"),
        BSource(f"B_s{tag}", f"s{tag}", "0", "V", f"v(l{tag})-0.5*v(f{tag})"),
        BSource(f"B_d{tag}", f"d{tag}", "0", "V", f"{slope}*v(s{tag})"),
    ]


def tline_trainer(net: Network, x, y, loss: str = "mse", beta: float = 1.0, z0: float = 50.0, td: float = 1e-9,
                  t_stop: float | None = None, steps_per_td: int = 20, port_resistance: float | None = None,
                  capacitance: float = 1e-9, leak_resistance: float | None = None,
                  inductance: float | None = None) -> Circuit:
    """The transmission-line trainer of physics.md section 7 as a transient netlist.

    Link ``k = 1..L`` holds one lossless T line per neuron and per sample (impedance ``z0``, delay
    ``td``). Junction ``k`` is matched on both sides: a B source ``Vs`` behind a resistor ``z0`` emits
    ``Vs/2`` into the line whatever arrives, and reads the arriving wave as ``V_port - Vs/2``. It sets
    ``Vs = 2 f(W a + b)`` toward link ``k`` and ``Vs = 2 W^T (f' * s)`` toward link ``k - 1``; the input is
    applied directly to junction 1 (``x{j}_s{n}``); the loss port at the far end of link ``L`` emits
    ``2 beta dc/da`` of the arriving wave. From rest, ``s_k`` at junction ``k`` is exact from ``(2L + 1 - k) td``:
    every sensitivity (and every port effort) is exact after the round trip ``2L td``.

    Parameters are the voltages of nodes ``w{k}_{i}_{j}`` and ``b{k}_{i}``: DC sources when
    ``port_resistance`` is None (frozen), else capacitors ``capacitance`` (F, initial voltage the
    parameter) with a resistive port: a B current source charging it with ``-e/R``, ``e`` the batch-mean
    effort ``(1/beta) mean_n (f' * s) a_prev`` (learning rate ``1/(R C)`` in 1/s), and a leak resistor
    ``leak_resistance`` (ohm, default ``1e9 R``: weight decay at rate ``1/(R_leak C)``). With
    ``inductance`` M (H) the port is inertial (physics.md section 5): the flow ``v = dtheta/dt`` obeys
    ``(M C) dv/dt = -e - (R C) v``, heavy-ball momentum; ``info`` then holds ``inertia_rate = 1/(M C)``
    (1/s^2) and ``friction_rate = R/M`` (1/s).

    Parameters
    ----------
    net : Network
    x : ndarray, shape (batch, n_0)
    y : ndarray
        Targets (see :func:`substrate.backprop`).
    loss : {"mse", "cross_entropy"}
    beta : float
        Loss-port gain (> 0).
    z0 : float
        Line impedance in ohm.
    td : float
        Line delay in s.
    t_stop : float, optional
        Simulated time in s (default ``(2L + 2) td``).
    steps_per_td : int
        Output step and largest time step ``td / steps_per_td``.
    port_resistance, capacitance, leak_resistance : float
        Parameter ports in ohm, F, ohm.

    Returns
    -------
    Circuit
        ``nodes``: ``"a"`` (arriving forward waves at the far end of link k), ``"s"`` (arriving backward
        waves at junction k), ``"delta"`` (``f' * s``), lists over ``k = 1..L`` of ``(batch, n_k)`` grids;
        ``"params"`` aligned with ``net.params``. ``info``: ``td``, ``z0``, ``learning_rate`` (1/s),
        ``leak_rate`` (1/s), ``beta``, ``loss``.
    """
    layers = _dense(net)
    loss = get_loss(loss)
    x, target = _batch(net, x, y, loss)
    beta = check_positive("beta", beta)
    z0 = check_positive("z0", z0)
    td = check_positive("td", td)
    steps_per_td = int(check_range("steps_per_td", steps_per_td, 1, 10_000))
    depth = len(layers)
    t_stop = (2 * depth + 2) * td if t_stop is None else check_positive("t_stop", t_stop)
    port_resistance, capacitance, leak_resistance = _ports(port_resistance, capacitance, leak_resistance)
    if inductance is not None:
        if port_resistance is None:
            raise ConfigurationError("inductance (an inertial port) needs port_resistance too")
        inductance = check_positive("inductance", inductance)
    batch = len(x)
    elements = []
    a_names, s_names, d_names = [], [], []
    efforts = [[[[] for _ in range(layer.n_in + 1)] for _ in range(layer.n_out)] for layer in layers]
    for n in range(batch):
        for j in range(net.sizes[0]):
            elements.append(VoltageSource(f"V_x{j}_s{n}", f"x{j}_s{n}", "0", DC(float(x[n, j]))))
    for k, layer in enumerate(layers, start=1):
        grid = lambda p: np.array([[f"{p}{k}_{i}_s{n}" for i in range(layer.n_out)] for n in range(batch)])
        a_names.append(grid("a"))
        s_names.append(grid("s"))
        d_names.append(grid("d"))
        f = layer.activation.name
        for n in range(batch):
            arriving = [f"v(x{j}_s{n})" if k == 1 else f"v(a{k - 1}_{j}_s{n})" for j in range(layer.n_in)]
            for i in range(layer.n_out):
                tag = f"{k}_{i}_s{n}"
                z = ex.linear([_weight(k, i, j) for j in range(layer.n_in)], arriving, f"v(b{k}_{i})")
                elements += _junction_unit(tag, z, f"2*{ex.activation(f, f'v(z{tag})')}", f"r{tag}",
                                           ex.slope(f, f"v(z{tag})"), z0, td)
                for j in range(layer.n_in):
                    efforts[k - 1][i][j].append(f"v(d{tag})*{arriving[j]}")
                efforts[k - 1][i][layer.n_in].append(f"v(d{tag})")
            # junction k's backward source on link k - 1 (junction 1 has no link 0: the input is applied directly)
            if k > 1:
                for j in range(layer.n_in):
                    back = ex.linear([_weight(k, i, j) for i in range(layer.n_out)],
                                     [f"v(d{k}_{i}_s{n})" for i in range(layer.n_out)])
                    elements.append(BSource(f"B_g{k - 1}_{j}_s{n}", f"g{k - 1}_{j}_s{n}", "0", "V", f"2*({back})"))
    # the loss port at the far end of link L
    outputs = [[f"v(a{depth}_{i}_s{n})" for i in range(net.sizes[-1])] for n in range(batch)]
    for n in range(batch):
        for i in range(net.sizes[-1]):
            gradient = ex.loss_gradient(loss.name, outputs[n], target[n], i)
            elements.append(BSource(f"B_g{depth}_{i}_s{n}", f"g{depth}_{i}_s{n}", "0", "V", f"{num(2 * beta)}*{gradient}"))
    joined = [[["+".join(terms) for terms in row] for row in layer] for layer in efforts]
    params, param_names = _parameters(net, joined, beta, batch, port_resistance, capacitance, leak_resistance,
                                      inductance)
    step = td / steps_per_td
    netlist = Netlist(f"transmission-line trainer of a {'-'.join(map(str, net.sizes))} network, batch {batch}",
                      tuple(params + elements), Tran(step, t_stop, step, uic=True), (), _PRECISE)
    info = {"td": td, "z0": z0, "beta": beta, "loss": loss.name, "batch": batch, "t_stop": t_stop,
            "learning_rate": None if port_resistance is None else 1.0 / (port_resistance * capacitance),
            "leak_rate": None if port_resistance is None else 1.0 / (leak_resistance * capacitance),
            "inertia_rate": None if inductance is None else 1.0 / (inductance * capacitance),
            "friction_rate": None if inductance is None else port_resistance / inductance}
    return Circuit(netlist, {"a": a_names, "s": s_names, "delta": d_names, "params": param_names}, info)


# --- lumped dyadic RC trainer ----------------------------------------------------------------------
def rc_trainer(net: Network, x, y, loss: str = "mse", beta: float = 1.0, resistance: float = 1e3,
               capacitance: float = 1e-9, t_stop: float | None = None, step: float | None = None,
               port_resistance: float | None = None, port_capacitance: float = 1e-9,
               leak_resistance: float | None = None) -> Circuit:
    """The lumped dyadic trainer (physics.md sections 4 and 7) as a transient netlist.

    Per sample ``n`` and neuron ``(k, i)``: an activation node ``p{k}_{i}_s{n}`` and a sensitivity node
    ``m{k}_{i}_s{n}``, each a capacitor ``capacitance`` to ground charged through ``resistance`` from a
    behavioural source: ``f(W_k a+_{k-1} + b_k)`` for ``a+``, ``W_{k+1}^T (f'_{k+1} * a-_{k+1})`` (or the loss
    port ``beta dc/da+_L``) for ``a-``; so ``tau da/dt = source - a`` with ``tau = R C``, the ODE of
    :class:`substrate.Dyadic` from rest. Parameters as in :func:`tline_trainer` (frozen when
    ``port_resistance`` is None).

    Returns
    -------
    Circuit
        ``nodes``: ``"a"`` (``a+``), ``"s"`` (``a-``), lists over ``k`` of ``(batch, n_k)`` grids, and
        ``"params"``. ``info``: ``tau`` (s), ``learning_rate`` (1/s).
    """
    layers = _dense(net)
    loss = get_loss(loss)
    x, target = _batch(net, x, y, loss)
    beta = check_positive("beta", beta)
    resistance = check_positive("resistance", resistance)
    capacitance = check_positive("capacitance", capacitance)
    tau = resistance * capacitance
    t_stop = 4 * len(layers) * tau if t_stop is None else check_positive("t_stop", t_stop)
    step = tau / 20 if step is None else check_positive("step", step)
    port_resistance, port_capacitance, leak_resistance = _ports(port_resistance, port_capacitance, leak_resistance)
    batch = len(x)
    elements, a_names, s_names = [], [], []
    efforts = [[[[] for _ in range(layer.n_in + 1)] for _ in range(layer.n_out)] for layer in layers]
    for n in range(batch):
        for j in range(net.sizes[0]):
            elements.append(VoltageSource(f"V_x{j}_s{n}", f"x{j}_s{n}", "0", DC(float(x[n, j]))))
    depth = len(layers)
    for k, layer in enumerate(layers, start=1):
        a_names.append(np.array([[f"p{k}_{i}_s{n}" for i in range(layer.n_out)] for n in range(batch)]))
        s_names.append(np.array([[f"m{k}_{i}_s{n}" for i in range(layer.n_out)] for n in range(batch)]))
        f = layer.activation.name
        for n in range(batch):
            previous = [f"v(x{j}_s{n})" if k == 1 else f"v(p{k - 1}_{j}_s{n})" for j in range(layer.n_in)]
            for i in range(layer.n_out):
                tag = f"{k}_{i}_s{n}"
                z = ex.linear([_weight(k, i, j) for j in range(layer.n_in)], previous, f"v(b{k}_{i})")
                elements += [
                    BSource(f"B_z{tag}", f"z{tag}", "0", "V", z),
                    BSource(f"B_u{tag}", f"u{tag}", "0", "V", ex.activation(f, f"v(z{tag})")),
                    Resistor(f"R_p{tag}", f"u{tag}", f"p{tag}", resistance),
                    Capacitor(f"C_p{tag}", f"p{tag}", "0", capacitance),
                    BSource(f"B_d{tag}", f"d{tag}", "0", "V", f"{ex.slope(f, f'v(z{tag})')}*v(m{tag})"),
                    Resistor(f"R_m{tag}", f"q{tag}", f"m{tag}", resistance),
                    Capacitor(f"C_m{tag}", f"m{tag}", "0", capacitance),
                ]
                for j in range(layer.n_in):
                    efforts[k - 1][i][j].append(f"v(d{tag})*{previous[j]}")
                efforts[k - 1][i][layer.n_in].append(f"v(d{tag})")
                if k == depth:
                    outputs = [f"v(p{k}_{o}_s{n})" for o in range(layer.n_out)]
                    source = f"{num(beta)}*{ex.loss_gradient(loss.name, outputs, target[n], i)}"
                else:
                    following = layers[k]
                    source = ex.linear([_weight(k + 1, o, i) for o in range(following.n_out)],
                                        [f"v(d{k + 1}_{o}_s{n})" for o in range(following.n_out)])
                elements.append(BSource(f"B_q{tag}", f"q{tag}", "0", "V", source))
    joined = [[["+".join(terms) for terms in row] for row in layer] for layer in efforts]
    params, param_names = _parameters(net, joined, beta, batch, port_resistance, port_capacitance, leak_resistance)
    netlist = Netlist(f"dyadic RC trainer of a {'-'.join(map(str, net.sizes))} network, batch {batch}",
                      tuple(params + elements), Tran(step, t_stop, step, uic=True), (), _PRECISE)
    info = {"tau": tau, "beta": beta, "loss": loss.name, "batch": batch, "t_stop": t_stop,
            "learning_rate": None if port_resistance is None else 1.0 / (port_resistance * port_capacitance)}
    return Circuit(netlist, {"a": a_names, "s": s_names, "params": param_names}, info)
