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
from .schedule_engine import HOLD, LIVE, OPEN, SAMPLE, run_schedule

__all__ = ["Circuit", "TLineSession", "port_resistance", "learning_rate", "integration_window", "CIRCUIT_KEYS"]

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
    "amplifier_gain": ((int, float), 1.0, None, True, True, "V/V open loop"),
    "noise_rms": ((int, float), 0.0, None, True, True, "V"),
    "line_attenuation_db": ((int, float), 0.0, None, True, True, "dB per line delay"),
    "source_resistance": ((int, float), 0.0, None, False, True, "ohm"),
    "line_resistance": ((int, float), 0.0, None, True, False, "ohm per line delay"),
    "delay_spread": ((int, float), 0.0, 1.0, True, False, "fraction"),
    "line_cells": (int, 1, 1000, True, True, "leapfrog steps (cells) per line delay"),
    "seed": (int, 0, None, True, True, ""),
}
#: the keys of a ``[circuit]`` table
CIRCUIT_KEYS = tuple(_SCHEMA)


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
    source_resistance : float, optional
        Non-ideality: the junction source resistors (both line ends, the loss port) in ohm (> 0;
        default ``z0``, matched); the junctions still read the arriving wave as ``v(end) - E/2``.
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

    @classmethod
    def from_config(cls, table: dict | None) -> "Circuit":
        """Validate a ``[circuit]`` table (unknown keys, types, ranges) and build the circuit.

        Raises
        ------
        ConfigurationError
            Naming ``circuit.<key>``, the value and the valid range (or the valid keys).
        """
        table = {} if table is None else table
        if not isinstance(table, dict):
            raise ConfigurationError(f"circuit must be a table, got {table!r}")
        for key, value in table.items():
            if key not in _SCHEMA:
                raise ConfigurationError(f"circuit.{key} = {value!r} is not a circuit key; valid: {sorted(_SCHEMA)}")
            types, low, high, low_in, high_in, unit = _SCHEMA[key]
            check_type(f"circuit.{key}", value, types)
            if low is not None or high is not None:
                try:
                    check_range(f"circuit.{key}", value, low, high, low_inclusive=low_in, high_inclusive=high_in)
                except ConfigurationError as error:
                    raise ConfigurationError(f"{error}{f' ({unit})' if unit else ''}") from None
        return cls(**table)

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
    """

    def __init__(self, net, loss, circuit: Circuit, schedule: str, lr: float, batch_size: int, beta: float = 1.0):
        if schedule not in ("separated", "pipelined"):
            raise ConfigurationError(f"schedule = {schedule!r} is unknown for the tline substrate; "
                                     "valid: 'separated', 'pipelined'")
        self.layout = Layout(net)
        self.loss = get_loss(loss)
        self.circuit, self.schedule, self.batch = circuit, schedule, int(batch_size)
        self.depth = len(self.layout.table)
        self.settle = circuit.settle(self.depth) if schedule == "separated" else 0
        self.lr = check_range("lr", lr, 0.0, None, low_inclusive=False)
        self.window = integration_window(circuit, schedule)
        self.resistance = port_resistance(lr, circuit, schedule)
        P, N, B, n0 = self.layout.n_params, self.layout.n_nodes, self.batch, self.layout.sizes[0]
        self.state = np.ascontiguousarray(self.layout.pack([net]))
        self.held = np.zeros((P, 1))
        self.cap = circuit.capacitances(P)[:, None]
        # dtheta/dt = -e / (R C_i): R realises lr on the nominal C
        self.rate = 1.0 / (self.resistance * self.cap)
        self.leak = np.zeros((P, 1)) if circuit.leak_resistance is None else 1.0 / (circuit.leak_resistance * self.cap)
        self.beta = np.full(B, float(beta))
        self.ring_f = np.zeros((3, N, B))
        self.ring_b = np.zeros((3, N, B))
        self.delays = np.array([2 * (self.depth - k) for k in range(self.depth)], dtype=np.int64)
        self.stubs = schedule == "pipelined"
        slots = int(self.delays[0]) if self.stubs else 1
        self.stub_in = np.zeros((slots, 3, n0 + N, B))
        self.stub_out = np.zeros((slots, 3, N, B))
        self.ledger = np.zeros(8)
        # the kernel: the exact ring buffers for lossless lines, the method-of-lines ladders otherwise
        self.ladders = Ladders(self.layout, B, circuit, self.delays if self.stubs else None) \
            if needs_ladders(circuit) else None
        # the noise stream: seeded apart from the capacitor draws (a second child of the same seed)
        self.noise_rng = np.random.default_rng([circuit.seed, 1])
        self.last_noise = None
        self.heat = np.zeros(P)
        self.intervals = 0  # grid intervals run so far
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
        h, z0 = self.circuit.td, self.circuit.z0
        lines = self.ladders.stored() if self.ladders is not None else sum(h / 6.0 / z0 * (np.sum(ring[..., 1, :, :] ** 2) + 4 * np.sum(ring[..., 2, :, :] ** 2)
                                    + np.sum(ring[..., 0, :, :] ** 2))
                    for ring in (self.ring_f, self.ring_b, self.stub_in, self.stub_out))
        return float(lines + 0.5 * np.sum(self.cap[:, 0] * self.state[:self.layout.n_params, 0] ** 2))

    def port_heat(self) -> np.ndarray:
        """Energy dissipated so far in the port resistors of each parameter array (aligned with ``net.params``), in J."""
        return np.array([p.sum() for p in self.layout.unpack(self.heat[:, None])])

    def energy(self) -> dict:
        """The energy ledger since the start, in J, and its relative balance error."""
        injected = self.ledger[0] + self.ledger[3]
        stored = self.stored_energy() - self.energy_start
        dissipated = self.ledger[1] + self.ledger[2] + self.ledger[4] + self.ledger[5] + self.ledger[6] + self.ledger[7]
        scale = max(abs(injected), abs(stored), abs(dissipated), 1e-300)
        return {"injected_j": float(injected), "stored_j": float(stored), "dissipated_j": float(dissipated),
                "source_resistors_j": float(self.ledger[1]), "terminations_j": float(self.ledger[2]),
                "port_resistors_j": float(self.ledger[4]), "leak_resistors_j": float(self.ledger[5]),
                "line_attenuators_j": float(self.ledger[6]), "line_resistors_j": float(self.ledger[7]),
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
            per_update = self.settle + G
            source = np.repeat(np.arange(n_b), per_update)
            target_index = source.copy()
            phase = np.tile(np.arange(per_update), n_b)
            if self.circuit.sample_and_hold:
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
        schedule = (source.astype(np.int64), target_index.astype(np.int64), gate.astype(np.int64))
        if self.ladders is not None:
            code = self.ladders.run(self, xs, ts, *schedule, noise, record_every * per_update, records)
            if self.ladders.status[1]:
                raise NumericalError(f"the junctions' fixed point did not converge in {self.ladders.status[0]} "
                                     f"evaluations at t = {(self.intervals + code) * self.circuit.td!r} s (mismatch "
                                     f"source_resistance = {self.circuit.junction_resistance!r} ohm too strong)")
        else:
            code = run_schedule(self.layout.table, self.layout.activations, LOSS_CODES[self.loss.name], self.beta, xs, ts,
                                source.astype(np.int64), target_index.astype(np.int64), gate.astype(np.int64), self.stubs,
                                self.delays, self.state, self.held, self.rate, self.leak, self.rate * 0, self.rate * 0,
                                False, self.cap, float(self.circuit.z0), float(self.circuit.td), self.ring_f, self.ring_b,
                                self.stub_in, self.stub_out, self.intervals, record_every * per_update, records,
                                self.ledger, self.heat, self.circuit.closed_loop_gain, noise[0], noise[1],
                                self.circuit.line_gain, self.circuit.line_gain ** self.delays.astype(float))
        if code >= 0:
            raise NumericalError(f"parameters became non-finite at t = {(self.intervals + code) * self.circuit.td!r} s "
                                 f"(interval {self.intervals + code})")
        self.intervals += len(source)
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
