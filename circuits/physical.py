"""The transmission-line trainer in physical time: the ``[circuit]`` table, the mapping to the iterations, sessions.

A :class:`Circuit` is the physical realisation (SI units) of a trainer: line delay ``td`` (s),
impedance ``z0`` (ohm), port capacitance ``port_capacitance`` (F), the separated schedule's gate
(``gate_delays`` line delays of port integration after ``settle_delays`` of settling, sampled and
held or integrating live). Its defaults are an ideal circuit.

Mapping to the iterations (tested in ``tests/test_physical.py``). One line delay is one wave step
of the worldsheet at Courant number 1 (``courant = 1``; a lossless line delays exactly, it has no
other step). A resistive port ``R`` on a capacitor ``C`` integrates ``dtheta/dt = -e/(R C)`` over its
integration window ``T`` per update, so its learning rate is ``lr = T / (R C)``: ``T = td`` pipelined
(a new minibatch every delay), ``T = gate_delays td`` separated. Hence ``R = T / (lr C)``
(:func:`port_resistance`) and ``lr = T / (R C)`` (:func:`learning_rate`).

:class:`TLineSession` drives :func:`circuits.schedule_engine.run_schedule` minibatch after minibatch,
keeping the lines, stubs and capacitors between calls, and keeps the energy ledger.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from substrate.errors import ConfigurationError, NumericalError, check_range, check_type
from substrate.network import get_loss

from .junctions import LOSS_CODES, Layout
from .lossy_engine import Ladders, needs_ladders
from .schedule_engine import BYPASS, HOLD, LIVE, LOOP_ITERATIONS, OPEN, SAMPLE, run_schedule

__all__ = ["Circuit", "TLineSession", "port_resistance", "learning_rate", "integration_window", "CIRCUIT_KEYS",
           "inertial_port", "inertial_rates", "update_delays"]

# key -> (types, low, high, low_inclusive, high_inclusive, unit)
_SCHEMA = {
    "td": ((int, float), 0.0, None, False, True, "s"),
    "z0": ((int, float), 0.0, None, False, True, "ohm"),
    "port_capacitance": ((int, float), 0.0, None, False, True, "F"),
    "gate_delays": (int, 1, None, True, True, "line delays"),
    "settle_delays": (int, 1, None, True, True, "line delays"),
    "sample_and_hold": (bool, None, None, True, True, ""),
    "leak_resistance": ((int, float), 0.0, None, False, True, "ohm"),
    "capacitor_tolerance": ((int, float), 0.0, 1.0, True, False, "fraction"),
    "resistor_tolerance": ((int, float), 0.0, 1.0, True, False, "fraction"),
    "amplifier_gain": ((int, float), 1.0, None, True, True, "V/V open loop"),
    "noise_rms": ((int, float), 0.0, None, True, True, "V"),
    "line_attenuation_db": ((int, float), 0.0, None, True, True, "dB per line delay"),
    "amplifier_bandwidth": ((int, float), 0.0, None, False, True, "Hz"),
    "parameter_limit": ((int, float), 0.0, None, False, True, "V"),
    "source_resistance": ((int, float), 0.0, None, False, True, "ohm"),
    "parameter_bits": (int, 1, 52, True, True, "bits"),
    "line_resistance": ((int, float), 0.0, None, True, False, "ohm per line delay"),
    "delay_spread": ((int, float), 0.0, 1.0, True, False, "fraction"),
    "line_cells": (int, 1, 1000, True, True, "leapfrog steps (cells) per line delay"),
    "seed": (int, 0, None, True, True, ""),
}
#: RK4 steps per time constant of the amplifiers' pole (:attr:`Circuit.line_steps`)
_STEPS_PER_TAU = 4
#: RK4 steps per line delay at least when the parameters are bounded (:attr:`Circuit.line_steps`)
_STEPS_BOUNDED = 4
#: the keys of a ``[circuit]`` table
CIRCUIT_KEYS = tuple(_SCHEMA)


def check_table(table: dict | None, schema: dict, what: str = "circuit key") -> dict:
    """Validate a ``[circuit]`` table against ``schema`` (key -> (types, low, high, low_inclusive,
    high_inclusive, unit)): unknown keys (``what`` names the kind of key), types and ranges.

    Returns the table (``{}`` for None). Raises :class:`ConfigurationError` naming ``circuit.<key>``,
    the value and the valid range (or the valid keys).
    """
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise ConfigurationError(f"circuit must be a table, got {table!r}")
    for key, value in table.items():
        if key not in schema:
            raise ConfigurationError(f"circuit.{key} = {value!r} is not a {what}; valid: {sorted(schema)}")
        types, low, high, low_in, high_in, unit = schema[key]
        check_type(f"circuit.{key}", value, types)
        if low is not None or high is not None:
            try:
                check_range(f"circuit.{key}", value, low, high, low_inclusive=low_in, high_inclusive=high_in)
            except ConfigurationError as error:
                raise ConfigurationError(f"{error}{f' ({unit})' if unit else ''}") from None
    return table


@dataclass(frozen=True)
class Circuit:
    """Physical parameters of a trainer circuit (SI units; the defaults are an ideal circuit).

    Parameters
    ----------
    td : float
        Delay of every line in s (> 0).
    z0 : float
        Line impedance and matched junction source resistance in ohm (> 0).
    port_capacitance : float
        Capacitance of each parameter port in F (> 0); the parameter is its voltage (1 V per unit).
    gate_delays : int
        Separated schedule: line delays the ports integrate per update (>= 1).
    settle_delays : int, optional
        Separated schedule: line delays each minibatch settles before the gate opens (>= 2L, default 2L).
    sample_and_hold : bool
        Separated schedule: the port samples the effort when the gate opens and integrates the held
        value (exact gradient descent); False integrates the live effort over the gate.
    leak_resistance : float, optional
        Non-ideality: a leak resistor across every port capacitor, in ohm (> 0; default none). The
        parameters then decay at ``1/(R_leak C)`` (1/s) while the ports integrate: weight decay.
    capacitor_tolerance : float
        Non-ideality: each port capacitor is ``C_i = C (1 + t u_i)``, ``u_i`` uniform in ``[-1, 1]`` from
        ``numpy.random.default_rng(seed)`` in parameter order (``0 <= t < 1``): per-parameter learning
        rates ``lr C / C_i``.
    resistor_tolerance : float
        Non-ideality: each port resistor is ``R_i = R (1 + t u_i)``, ``u_i`` uniform in ``[-1, 1]`` from
        ``numpy.random.default_rng([seed, 3])`` in parameter order (``0 <= t < 1``): per-parameter learning
        rates ``lr R / R_i`` (and, for inertial ports, frictions ``R_i / M``).
    amplifier_gain : float, optional
        Non-ideality: open-loop gain ``A`` of the junction amplifiers (>= 1; default ideal). Each
        junction (and the loss port) is a follower of closed-loop gain ``A / (1 + A)`` on every emission.
    noise_rms : float
        Non-ideality: rms noise voltage in V added to every emitted wave (each junction source and the
        loss port): white noise band-limited to the lines' sample rate, one independent Gaussian sample
        per wave and per line delay, held over the delay (>= 0; default 0). The thermal noise of a
        matched ``z0`` source over ``1/(2 td)`` is ``sqrt(k T z0 / (2 td))``: 1.0e-5 V at 300 K, 50 ohm, 1 ns.
    line_attenuation_db : float
        Non-ideality: distortionless line loss in dB per line delay (>= 0; default 0). Every line (links
        and delay stubs) passes its waves attenuated by ``A = 10^(-dB/20)`` per delay, both ways and
        without distortion; it is realised (here and in the netlist) as a lossless line with a matched
        attenuator pad at its far end, which has the same terminal waves as a distortionless line.
    amplifier_bandwidth : float, optional
        Non-ideality: the junction amplifiers' pole ``f_p`` in Hz (> 0; default infinite). Every emission
        (forward, backward, loss port; after the closed-loop gain, noise included) passes a first-order
        low-pass ``tau dv/dt = u - v``, ``tau = 1 / (2 pi f_p)``. The engine then takes
        :attr:`line_steps` RK4 steps per line delay (``h <= tau``).
    parameter_limit : float, optional
        Non-ideality: rails in V (> 0; default none). Each parameter capacitor is clamped to
        ``[-limit, limit]`` (an ideal clamp to the rails; a run starts with the parameters clamped).
    parameter_bits : int, optional
        Non-ideality (needs ``parameter_limit``): the junctions read each parameter quantised to
        ``2^bits`` levels evenly spaced over ``[-limit, limit]`` (nearest level, ties upward, ends included; a weight
        read through an ADC/DAC), while the capacitor itself integrates continuously, so updates smaller
        than a level accumulate (1 <= bits <= 52).
    source_resistance : float, optional
        Non-ideality: junction impedance mismatch. Every junction source resistor (both ends of every
        link, the loss port, the delay stubs' sources) is ``source_resistance`` ohm (> 0; default ``z0``:
        matched) while the lines stay ``z0`` and the junctions still read ``v(end) - v(source)/2``. Each
        end then reflects ``G = (Rs - z0)/(Rs + z0)`` (:attr:`reflection`) of the arriving wave and its
        read-out carries ``-G`` times its own source: an algebraic loop through the junctions
        (:func:`circuits.schedule_engine.junction_ends`).
    line_resistance : float
        Non-ideality: total series resistance in ohm of a line of delay ``td`` (>= 0; default 0). Every
        line (links and stubs) is then a lossy RLC line, ``R' = R / td`` per second of delay, simulated
        by the method of lines (:mod:`circuits.lossy_engine`).
    delay_spread : float
        Non-ideality: line ``i``'s delay is its nominal one times ``1 + s u_i``, ``u_i`` uniform in
        [-1, 1] from the seed (:func:`circuits.lossy_engine.line_factors`), ``0 <= s < 1``; links and
        stubs alike (default 0).
    line_cells : int
        Method-of-lines leapfrog steps per line delay ``td``, the cells of a line of delay ``td`` at
        Courant number 1 (default 4; only used with lossy ladders, :class:`circuits.lossy_engine.Ladders`).
    seed : int
        Seeds the drawn tolerances, the noise and the delay spread.
    """

    td: float = 1e-9
    z0: float = 50.0
    port_capacitance: float = 1e-12
    gate_delays: int = 1
    settle_delays: int | None = None
    sample_and_hold: bool = True
    leak_resistance: float | None = None
    capacitor_tolerance: float = 0.0
    amplifier_gain: float | None = None
    noise_rms: float = 0.0
    line_attenuation_db: float = 0.0
    source_resistance: float | None = None
    line_resistance: float = 0.0
    delay_spread: float = 0.0
    line_cells: int = 4
    seed: int = 0
    amplifier_bandwidth: float | None = None
    parameter_limit: float | None = None
    parameter_bits: int | None = None
    resistor_tolerance: float = 0.0

    @classmethod
    def from_config(cls, table: dict | None) -> "Circuit":
        """Validate a ``[circuit]`` table (unknown keys, types, ranges) and build the circuit.

        Raises
        ------
        ConfigurationError
            Naming ``circuit.<key>``, the value and the valid range (or the valid keys).
        """
        return cls(**check_table(table, _SCHEMA)).checked()

    def checked(self) -> "Circuit":
        """Itself, after the checks between keys.

        Raises
        ------
        ConfigurationError
            ``parameter_bits`` without ``parameter_limit``; ``amplifier_bandwidth`` with ``source_resistance``
            (a band-limited source behind a mismatched end is not realised); ``line_resistance`` or
            ``delay_spread`` with ``amplifier_bandwidth``, ``parameter_limit`` or ``line_attenuation_db``.
        """
        self.levels  # bits need a limit
        if self.amplifier_bandwidth is not None and self.source_resistance is not None:
            raise ConfigurationError(f"circuit.amplifier_bandwidth = {self.amplifier_bandwidth!r} with "
                                     f"circuit.source_resistance = {self.source_resistance!r}: band-limited "
                                     "amplifiers are realised with matched junction ends only (leave one out)")
        lossy = {key: value for key, value in (("line_resistance", self.line_resistance),
                                               ("delay_spread", self.delay_spread)) if value}
        stepped = {key: value for key, value in (("amplifier_bandwidth", self.amplifier_bandwidth),
                                                 ("parameter_limit", self.parameter_limit),
                                                 ("line_attenuation_db", self.line_attenuation_db)) if value}
        if lossy and stepped:
            named = ", ".join(f"circuit.{key} = {value!r}" for key, value in {**lossy, **stepped}.items())
            raise ConfigurationError(f"{named}: the method-of-lines kernel of lossy or spread lines does not realise "
                                     "amplifier bandwidth, rails, quantised reads or attenuator pads (leave one out)")
        return self

    @property
    def closed_loop_gain(self) -> float:
        """``A / (1 + A)`` of the junction amplifiers (1 when ideal)."""
        return 1.0 if self.amplifier_gain is None else self.amplifier_gain / (1.0 + self.amplifier_gain)

    @property
    def junction_resistance(self) -> float:
        """The junction source resistance in ohm (``z0`` unless ``source_resistance`` is given)."""
        return self.z0 if self.source_resistance is None else self.source_resistance

    @property
    def line_gain(self) -> float:
        """Amplitude factor of one line delay, ``10^(-line_attenuation_db / 20)``."""
        return 10.0 ** (-self.line_attenuation_db / 20.0)

    @property
    def pole_tau(self) -> float:
        """Time constant ``1 / (2 pi f_p)`` of the amplifiers' pole in s (0 when the bandwidth is infinite)."""
        return 0.0 if self.amplifier_bandwidth is None else 1.0 / (2.0 * math.pi * self.amplifier_bandwidth)

    @property
    def line_steps(self) -> int:
        """RK4 steps per line delay: 1, or ``ceil(4 td / tau)`` with a pole (``h <= tau / 4``).

        The step must resolve the transients of width ``tau`` every switching source starts, not only
        keep RK4 stable (``h / tau < 2.78``): on the pipelined window of the tests the parameters' error
        against a 56-step reference is 9e-3 of their range at ``h = 0.9 tau``, 3.5e-4 at ``0.45 tau``,
        1.6e-5 at ``0.22 tau`` (fourth order). Bounded parameters take at least 4 steps per delay: the
        clamp after each step is exact only when a parameter stays on the rail for the rest of its step,
        so a step that reaches the rail (or a read that crosses a level) is of low order; there the error
        of the window is 3.0e-4 at 1 step per delay, 6.2e-5 at 2, 1.1e-5 at 4.
        """
        pole = 1 if self.pole_tau == 0.0 else math.ceil(_STEPS_PER_TAU * self.td / self.pole_tau - 1e-9)
        return max(1, pole, _STEPS_BOUNDED if self.parameter_limit is not None else 1)

    @property
    def rail(self) -> float:
        """The parameter rail in V (``inf`` when unbounded)."""
        return math.inf if self.parameter_limit is None else float(self.parameter_limit)

    @property
    def levels(self) -> int:
        """Number of levels the junctions read a parameter at: ``2^bits`` (0: continuous).

        Raises
        ------
        ConfigurationError
            ``parameter_bits`` without ``parameter_limit``.
        """
        if self.parameter_bits is None:
            return 0
        if self.parameter_limit is None:
            raise ConfigurationError(f"circuit.parameter_bits = {self.parameter_bits!r} needs circuit.parameter_limit "
                                     "(V, > 0): the levels span [-parameter_limit, parameter_limit]")
        return 2 ** int(self.parameter_bits)

    def read_parameters(self, values: np.ndarray) -> np.ndarray:
        """What the junctions read of parameter voltages ``values`` (V): clamped to the rails, then quantised."""
        values = np.clip(np.asarray(values, float), -self.rail, self.rail)
        if self.levels:
            spacing = 2.0 * self.rail / (self.levels - 1)
            values = -self.rail + spacing * np.floor((values + self.rail) / spacing + 0.5)
        return values

    @property
    def reflection(self) -> float:
        """Reflection coefficient ``(Rs - z0)/(Rs + z0)`` of every junction end (0 when matched)."""
        if self.source_resistance is None:
            return 0.0
        return (self.source_resistance - self.z0) / (self.source_resistance + self.z0)

    @property
    def junction_resistance(self) -> float:
        """Source resistance of every junction end in ohm (``z0`` when matched)."""
        return self.z0 if self.source_resistance is None else float(self.source_resistance)

    def resistor_factors(self, n_params: int) -> np.ndarray:
        """Each port resistor over its nominal value, ``1 + t u_i`` drawn with ``resistor_tolerance`` (parameter order)."""
        u = np.random.default_rng([self.seed, 3]).uniform(-1.0, 1.0, n_params)
        return 1.0 + self.resistor_tolerance * u

    def capacitances(self, n_params: int) -> np.ndarray:
        """Each port's capacitance in F, drawn with ``capacitor_tolerance`` (parameter order)."""
        u = np.random.default_rng(self.seed).uniform(-1.0, 1.0, n_params)
        return self.port_capacitance * (1.0 + self.capacitor_tolerance * u)

    def to_config(self) -> dict:
        """The ``[circuit]`` table (keys with a value)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def settle(self, depth: int) -> int:
        """Settling delays of the separated schedule for ``depth`` layers (checked >= 2L)."""
        settle = 2 * depth if self.settle_delays is None else self.settle_delays
        if settle < 2 * depth:
            raise ConfigurationError(f"circuit.settle_delays = {settle} is outside the valid range [{2 * depth}, inf) "
                                     f"(the round trip 2L of a depth-{depth} network)")
        return settle


def integration_window(circuit: Circuit, schedule: str) -> float:
    """Port integration time per update in s: ``td`` pipelined, ``gate_delays td`` separated."""
    return circuit.td if schedule == "pipelined" else circuit.gate_delays * circuit.td


def port_resistance(lr: float, circuit: Circuit, schedule: str) -> float:
    """Port resistance in ohm realising learning rate ``lr``: ``R = T / (lr C)``."""
    return integration_window(circuit, schedule) / (lr * circuit.port_capacitance)


def learning_rate(resistance: float, circuit: Circuit, schedule: str) -> float:
    """Learning rate of a port resistance ``R`` in ohm: ``lr = T / (R C)``."""
    return integration_window(circuit, schedule) / (resistance * circuit.port_capacitance)


def update_delays(circuit: Circuit, schedule: str, depth: int, inertial: bool = False) -> int:
    """Line delays per update: 1 pipelined; separated ``settle + gate`` (resistive) or ``settle + 2 gate``
    (inertial: the kick, then the drift of the parameters)."""
    if schedule == "pipelined":
        return 1
    return circuit.settle(depth) + (2 if inertial else 1) * circuit.gate_delays


def inertial_port(lr: float, momentum: float, circuit: Circuit, schedule: str, depth: int) -> tuple[float, float]:
    """Port resistance ``R`` (ohm) and inductance ``M`` (H) realising heavy-ball ``(lr, momentum)`` per update.

    An inertial port is ``M`` in series with ``R`` charging the capacitor ``C``: the flow ``v = dtheta/dt``
    obeys ``M C dv/dt = -e - R C v`` and decays by ``rho = exp(-R td / M)`` per line delay.

    - separated (sample-and-hold, ``P = settle + 2 G`` delays per update, ``G = gate_delays``): the flow
      bypasses the capacitor while the minibatch settles (the parameters hold: the sampled effort is
      exact) and while the held effort kicks it for ``G`` delays; then the effort is switched off and the
      flow drifts into the capacitor for ``G`` delays. With ``w_n`` the flow after kick ``n``,
      ``Delta theta_n = w_n (1 - rho^G)/gamma`` and ``w_{n+1} = rho^P w_n - (1 - rho^G) e_{n+1} / (gamma M C)``
      (``gamma = R/M``): heavy-ball ``Delta_{n+1} = mu Delta_n - lr e_{n+1}`` exactly, with
      ``mu = rho^P`` and ``lr = (1 - rho^G)^2 / (gamma R C)``;
    - pipelined (a new minibatch every delay, the port live): ``mu = rho`` and ``lr = (1 - mu) td / (R C)``,
      the step whose terminal velocity ``lr / (1 - mu)`` per unit effort is the port's ``td / (R C)``.

    Raises
    ------
    ConfigurationError
        ``momentum`` outside (0, 1) (0 is a resistive port) or ``lr`` not positive.
    """
    check_range("lr", lr, 0.0, None, low_inclusive=False)
    check_range("momentum", momentum, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    td, C = circuit.td, circuit.port_capacitance
    periods = update_delays(circuit, schedule, depth, inertial=True)
    rho = momentum ** (1.0 / periods)
    gamma = -math.log(rho) / td
    if schedule == "pipelined":
        R = (1.0 - momentum) * td / (lr * C)
    else:
        R = (1.0 - rho ** circuit.gate_delays) ** 2 / (gamma * lr * C)
    return R, R / gamma


def inertial_rates(resistance: float, inductance: float, circuit: Circuit, schedule: str,
                   depth: int) -> tuple[float, float]:
    """``(lr, momentum)`` of an inertial port ``R`` (ohm), ``M`` (H): the inverse of :func:`inertial_port`."""
    td, C = circuit.td, circuit.port_capacitance
    gamma = resistance / inductance
    rho = math.exp(-gamma * td)
    momentum = rho ** update_delays(circuit, schedule, depth, inertial=True)
    if schedule == "pipelined":
        return (1.0 - momentum) * td / (resistance * C), momentum
    return (1.0 - rho ** circuit.gate_delays) ** 2 / (gamma * resistance * C), momentum


class TLineSession:
    """A transmission-line trainer circuit running in physical time, minibatch after minibatch.

    Parameters
    ----------
    net : Network
        Initial parameters (read, not modified; :meth:`params` gives the present ones).
    loss : str
        ``"mse"`` or ``"cross_entropy"``.
    circuit : Circuit
    schedule : {"separated", "pipelined"}
    lr : float
        Learning rate of the resistive ports (> 0), mapped to ``R = T / (lr C)``.
    batch_size : int
    beta : float
        Loss-port gain.
    momentum : float, optional
        Inertial ports (0 < momentum < 1): an inductor in series with each port resistor, ``(R, M)``
        from :func:`inertial_port`, heavy-ball momentum per update. Default resistive ports.
    """

    def __init__(self, net, loss, circuit: Circuit, schedule: str, lr: float, batch_size: int, beta: float = 1.0,
                 momentum: float | None = None):
        if schedule not in ("separated", "pipelined"):
            raise ConfigurationError(f"schedule = {schedule!r} is unknown for the tline substrate; "
                                     "valid: 'separated', 'pipelined'")
        circuit.checked()
        self.layout = Layout(net)
        self.loss = get_loss(loss)
        self.circuit, self.schedule, self.batch = circuit, schedule, int(batch_size)
        self.depth = len(self.layout.table)
        self.settle = circuit.settle(self.depth) if schedule == "separated" else 0
        self.lr = check_range("lr", lr, 0.0, None, low_inclusive=False)
        self.window = integration_window(circuit, schedule)
        self.inertial = momentum is not None
        P, N, B, n0 = self.layout.n_params, self.layout.n_nodes, self.batch, self.layout.sizes[0]
        self.state = np.ascontiguousarray(self.layout.pack([net]))
        self.state[:P] = np.clip(self.state[:P], -circuit.rail, circuit.rail)  # the rails hold the capacitors
        self.levels = circuit.levels
        self.line_steps = M = circuit.line_steps
        self.h = circuit.td / M
        self.held = np.zeros((P, 1))
        self.cap = circuit.capacitances(P)[:, None]
        if self.inertial:
            self.resistance, self.inductance = inertial_port(lr, momentum, circuit, schedule, self.depth)
            self.momentum = float(momentum)
            self.state = np.concatenate([self.state, np.zeros((P, 1))])  # the flows v = dtheta/dt, from rest
            self.inertia = 1.0 / (self.inductance * self.cap)  # M C dv/dt = -e - R C v
            self.friction = self.resistance * circuit.resistor_factors(P)[:, None] / self.inductance
        else:
            self.resistance, self.inductance, self.momentum = port_resistance(lr, circuit, schedule), None, None
            self.inertia = self.friction = np.zeros((P, 1))
        # dtheta/dt = -e / (R_i C_i): R realises lr on the nominal R and C
        self.rate = 1.0 / (self.resistance * circuit.resistor_factors(P)[:, None] * self.cap)
        self.leak = np.zeros((P, 1)) if circuit.leak_resistance is None else 1.0 / (circuit.leak_resistance * self.cap)
        self.beta = np.full(B, float(beta))
        self.ring_f = np.zeros((M, 3, N, B))
        self.ring_b = np.zeros((M, 3, N, B))
        self.amp = np.zeros((2, N, B))  # the band-limited emissions
        self.delays = np.array([2 * (self.depth - k) for k in range(self.depth)], dtype=np.int64)
        self.stubs = schedule == "pipelined"
        slots = int(self.delays[0]) * M if self.stubs else 1
        self.stub_in = np.zeros((slots, 3, n0 + N, B))
        self.stub_out = np.zeros((slots, 3, N, B))
        self.ledger = np.zeros(9)
        # the kernel: the exact ring buffers for lossless lines, the method-of-lines ladders otherwise
        lossy = needs_ladders(circuit)
        if lossy and self.inertial:
            raise ConfigurationError(f"inertial ports (momentum {momentum!r}) with circuit.line_resistance = "
                                     f"{circuit.line_resistance!r} or circuit.delay_spread = {circuit.delay_spread!r}: "
                                     "the method-of-lines kernel realises resistive ports only")
        self.ladders = Ladders(self.layout, B, circuit, self.delays if self.stubs else None) if lossy else None
        # the noise stream: seeded apart from the capacitor draws (a second child of the same seed)
        self.noise_rng = np.random.default_rng([circuit.seed, 1])
        self.last_noise = None
        self.heat = np.zeros(P)
        self.intervals = 0  # line delays run so far
        self.updates = 0
        self.energy_start = self.stored_energy()
        # pipelined: the targets of the last L minibatches, still travelling to the loss port
        self.in_flight = np.zeros((0, self.layout.sizes[-1], B))

    # --- the circuit's state ---------------------------------------------------------------------
    def params(self) -> list[np.ndarray]:
        """Present parameter voltages aligned with ``net.params``."""
        return [p[..., 0] for p in self.layout.unpack(self.state[:self.layout.n_params])]

    def stored_energy(self) -> float:
        """Energy stored now in J: the lines and stubs (each delay of emissions, Simpson) and the port capacitors."""
        h, z0 = self.h, self.circuit.z0
        lines = self.ladders.stored() if self.ladders is not None else sum(
            h / 6.0 / z0 * (np.sum(ring[..., 1, :, :] ** 2) + 4 * np.sum(ring[..., 2, :, :] ** 2)
                                    + np.sum(ring[..., 0, :, :] ** 2))
                    for ring in (self.ring_f, self.ring_b, self.stub_in, self.stub_out))
        P = self.layout.n_params
        inductors = 0.0
        if self.inertial:  # M i^2 / 2 with i = C v and M = 1 / (inertia C)
            inductors = 0.5 * np.sum(self.cap[:, 0] * self.state[P:, 0] ** 2 / self.inertia[:, 0])
        return float(lines + 0.5 * np.sum(self.cap[:, 0] * self.state[:P, 0] ** 2) + inductors)

    def port_heat(self) -> np.ndarray:
        """Energy dissipated so far in the port resistors of each parameter array (aligned with ``net.params``), in J."""
        return np.array([p.sum() for p in self.layout.unpack(self.heat[:, None])])

    def energy(self) -> dict:
        """The energy ledger since the start, in J, and its relative balance error."""
        injected = self.ledger[0] + self.ledger[3]
        stored = self.stored_energy() - self.energy_start
        dissipated = (self.ledger[1] + self.ledger[2] + self.ledger[4] + self.ledger[5] + self.ledger[6]
                      + self.ledger[7] + self.ledger[8])
        scale = max(abs(injected), abs(stored), abs(dissipated), 1e-300)
        return {"injected_j": float(injected), "stored_j": float(stored), "dissipated_j": float(dissipated),
                "source_resistors_j": float(self.ledger[1]), "terminations_j": float(self.ledger[2]),
                "port_resistors_j": float(self.ledger[4]), "leak_resistors_j": float(self.ledger[5]),
                "line_attenuators_j": float(self.ledger[6]), "rail_clamps_j": float(self.ledger[7]),
                "line_resistors_j": float(self.ledger[8]),
                "energy_balance_error": float(abs(injected - stored - dissipated) / scale)}

    @property
    def physical_time(self) -> float:
        """Simulated time so far in s."""
        return self.intervals * self.circuit.td

    @property
    def gradient_latency(self) -> float:
        """Time from a minibatch entering to its exact gradient at every port: ``2L td`` in s."""
        return 2 * self.depth * self.circuit.td

    # --- running --------------------------------------------------------------------------------
    def _lanes(self, rows: np.ndarray) -> np.ndarray:
        """Minibatches ``(n_b, B, n)`` as source lanes ``(n_b, n, B)``."""
        return np.ascontiguousarray(np.swapaxes(rows, 1, 2), dtype=float)

    def run(self, x: np.ndarray, target: np.ndarray, record_every: int | None = None) -> np.ndarray:
        """Train on minibatches ``x`` (n_b, B, n_0) with targets (n_b, B, n_L); return recorded parameters.

        Pipelined: one minibatch per line delay, ports integrating live, stubs pairing the samples.
        Separated: each minibatch held ``settle + gate`` delays, ports open while it settles.
        Returns the flat parameters after every ``record_every`` updates (default: after the last), (R, P).
        The noise voltages drawn for the run (``noise_rms > 0``) are kept in ``last_noise``, shape
        ``(2, intervals, N, B)`` (forward, backward emissions; rows as the kernel's waves).
        """
        n_b = len(x)
        xs, ts = self._lanes(x), self._lanes(target)
        L = self.depth
        if self.schedule == "pipelined":
            ts = np.concatenate([self.in_flight, ts])
            flight = len(self.in_flight)
            m = np.arange(n_b)
            source = m
            target_index = m + flight - L
            target_index[target_index < 0] = -1
            gate = np.full(n_b, LIVE)
            self.in_flight = ts[-L:] if len(ts) >= L else ts
            per_update = 1
        else:
            G = self.circuit.gate_delays
            per_update = update_delays(self.circuit, "separated", L, self.inertial)
            source = np.repeat(np.arange(n_b), per_update)
            target_index = source.copy()
            phase = np.tile(np.arange(per_update), n_b)
            if self.inertial:  # settle and kick with the flow around the capacitor, then drift into it
                kick = np.where(phase == self.settle, SAMPLE, HOLD) if self.circuit.sample_and_hold else LIVE
                gate = np.where(phase < self.settle, OPEN + BYPASS,
                                np.where(phase < self.settle + G, kick + BYPASS, OPEN))
            elif self.circuit.sample_and_hold:
                gate = np.where(phase < self.settle, OPEN, np.where(phase == self.settle, SAMPLE, HOLD))
            else:
                gate = np.where(phase < self.settle, OPEN, LIVE)
        record_every = n_b if record_every is None else int(record_every)
        N, B = self.layout.n_nodes, self.batch
        if self.circuit.noise_rms > 0:
            noise = self.circuit.noise_rms * self.noise_rng.standard_normal((2, len(source), N, B))
        else:
            noise = np.zeros((2, 0, N, B))
        self.last_noise = noise
        records = np.empty((n_b // record_every, self.layout.n_params))
        M = self.line_steps
        if M > 1:  # M grid steps per delay: each delay's schedule entry (a sample only on its first step) and noise
            gate = np.repeat(gate, M).reshape(-1, M)
            later = gate[:, 1:]
            later[later % BYPASS == SAMPLE] += HOLD - SAMPLE  # (keeping an inertial port's bypass flag)
            gate = gate.ravel()
            source, target_index = np.repeat(source, M), np.repeat(target_index, M)
        grid_noise = np.repeat(noise, M, axis=1) if M > 1 and noise.shape[1] else noise
        if self.ladders is not None:  # (M = 1: the ladders' combinations with sub-stepping keys are refused)
            schedule = (source.astype(np.int64), target_index.astype(np.int64), gate.astype(np.int64))
            code = self.ladders.run(self, xs, ts, *schedule, noise, record_every * per_update, records)
            if self.ladders.status[1]:
                raise NumericalError(f"the junctions' fixed point did not converge in {self.ladders.status[0]} "
                                     f"evaluations at t = {(self.intervals + code) * self.circuit.td!r} s (mismatch "
                                     f"source_resistance = {self.circuit.junction_resistance!r} ohm too strong)")
        else:
            code = run_schedule(self.layout.table, self.layout.activations, LOSS_CODES[self.loss.name], self.beta, xs, ts,
                                source.astype(np.int64), target_index.astype(np.int64), gate.astype(np.int64), self.stubs,
                                self.delays * M, self.state, self.held, self.rate, self.leak, self.inertia, self.friction,
                                self.inertial, self.cap, float(self.circuit.z0), self.h, self.ring_f, self.ring_b,
                                self.stub_in, self.stub_out, self.intervals * M, record_every * per_update * M, records,
                                self.ledger, self.heat, self.circuit.closed_loop_gain, grid_noise[0], grid_noise[1],
                                self.circuit.line_gain, self.circuit.line_gain ** self.delays.astype(float),
                                self.circuit.reflection, self.circuit.pole_tau, self.amp, self.circuit.rail,
                                self.levels)
        if code < -1:
            step = self.intervals * M - code - 2
            raise NumericalError(f"the junction loop of mismatched ends (circuit.source_resistance = "
                                 f"{self.circuit.source_resistance!r} ohm, reflection {self.circuit.reflection:.3g}) did "
                                 f"not converge at t = {step * self.h!r} s (interval {step}"
                                 f"{f' of td / {M}' if M > 1 else ''}) in "
                                 f"{LOOP_ITERATIONS} iterations: its loop gain is near or above 1 (e.g. |reflection| "
                                 "times the largest singular value of a linear layer's weights); above 1 the circuit "
                                 "with any small equal delay in its junctions is unstable")
        if code >= 0:
            step = self.intervals * M + code
            raise NumericalError(f"parameters became non-finite at t = {step * self.h!r} s "
                                 f"(interval {step}{f' of td / {M}' if M > 1 else ''})")
        self.intervals += len(source) // M
        self.updates += n_b
        return records


def frozen_efforts(net, loss, circuit: Circuit, x: np.ndarray, target: np.ndarray, beta: float = 1.0) -> list:
    """Port efforts of the circuit at frozen parameters on one minibatch (sampled when the gate opens).

    The separated schedule with the port currents off (``R`` infinite): the sample-and-hold ports read
    the effort after ``settle`` delays. On the ideal circuit it is backprop's gradient (to rounding).
    Returns arrays aligned with ``net.params``.
    """
    session = TLineSession(net, loss, Circuit(**{**asdict(circuit), "sample_and_hold": True}), "separated", 1.0,
                           len(x), beta)
    session.rate[:] = 0.0
    session.run(np.asarray(x, float)[None], np.asarray(target, float)[None])
    return [p[..., 0] for p in session.layout.unpack(session.held)]
