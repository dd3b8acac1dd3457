"""The lumped RC trainer in physical time: its ``[circuit]`` table, the mapping to gradient descent, sessions.

An :class:`RCCircuit` is the physical realisation (SI units) of the dyadic RC trainer of
:func:`circuits.realize.rc_trainer`: every activation node ``a+`` and sensitivity node ``a-`` is a
capacitor ``node_capacitance`` charged through ``R = tau / C`` from its junction source, so
``tau dv/dt = source - v``; every parameter is the voltage of a capacitor ``port_capacitance`` charged
by a resistive port. A minibatch is applied as sources (inputs at junction 1, targets at the loss
port) and held for ``settle_taus + gate_taus`` time constants: the ports are open (no current) while
the network relaxes for ``settle_taus`` tau, then the gate opens for ``gate_taus`` tau.

Mapping (tested in ``tests/test_physical_rc.py``). A sample-and-hold port samples the effort ``e`` when
the gate opens and drives ``i = -e / R_p`` into its capacitor ``C_p`` for ``T = gate_taus tau``:
``dtheta = -(T / (R_p C_p)) e``, gradient descent at ``lr = T / (R_p C_p)``, so
``R_p = gate_taus tau / (lr C_p)`` (:meth:`RCCircuit.port_resistance`). The sampled effort is backprop's
gradient up to the relaxation's residual after ``T_s = settle_taus tau``: the node errors ``d`` (node
voltages minus the fixed point, the forward and backward pass) obey ``tau dd/dt = (J - 1) d`` with ``J``
strictly lower block-triangular in the stage order ``a+_1 .. a+_L, a-_L .. a-_1`` (each stage is driven
by earlier ones only), so ``J^{2L} = 0`` and

    ``|d(T_s)| <= |d(0)| exp(-T_s / tau) sum_{k < 2L} (K T_s / tau)^k / k!``,

``K`` bounding ``|J|`` (exact for a linear network, to first order otherwise). Unlike the discrete
dyadic iteration (exact after ``2L`` unit steps) the continuous relaxation is never exact: the default
settle ``20 L`` tau puts the residual below 1e-12 of the gradient on the digits network.

Pipelined minibatches have no meaning here: the lumped nodes have no delay, so no stub can pair a
sample's input with its own sensitivity; the rc substrate runs the separated schedule only. With
``sample_and_hold = False`` the ports integrate the live effort over the gate; with ``settle_taus = 0``
as well they integrate from the moment the minibatch is applied: the continuously integrating trainer
that :func:`circuits.realize.rc_trainer` exports (compared with ngspice in the tests).

:class:`RCSession` drives :func:`circuits.rc_engine.run_rc_schedule` minibatch after minibatch,
keeping the node and port capacitors between calls, and keeps the energy ledger.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from substrate.errors import ConfigurationError, NumericalError, ShapeError, check_range
from substrate.network import get_loss

from .junctions import LOSS_CODES, Layout
from .physical import check_table
from .rc_engine import run_rc_schedule
from .schedule_engine import HOLD, LIVE, OPEN, SAMPLE

__all__ = ["RCCircuit", "RCSession", "RC_CIRCUIT_KEYS", "rc_frozen_efforts"]

# key -> (types, low, high, low_inclusive, high_inclusive, unit), as circuits.physical's _SCHEMA
_RC_SCHEMA = {
    "tau": ((int, float), 0.0, None, False, True, "s"),
    "node_capacitance": ((int, float), 0.0, None, False, True, "F"),
    "port_capacitance": ((int, float), 0.0, None, False, True, "F"),
    # at most 10^4 time constants: the residual is e^-T times a polynomial, long below rounding by then,
    # and the simulation takes at least one step per tau
    "settle_taus": (int, 0, 10_000, True, True, "time constants"),
    "gate_taus": (int, 1, 10_000, True, True, "time constants"),
    "sample_and_hold": (bool, None, None, True, True, ""),
    "steps_per_tau": (int, 1, 4096, True, True, "RK4 steps per time constant after a switch"),
}
#: the keys of an rc ``[circuit]`` table
RC_CIRCUIT_KEYS = tuple(_RC_SCHEMA)
#: time constants after which the simulation grid halves its steps per tau (:meth:`RCCircuit.grid`)
COARSEN_TAUS = 8


@dataclass(frozen=True)
class RCCircuit:
    """Physical parameters of the lumped RC trainer (SI units; the defaults are an ideal circuit).

    Parameters
    ----------
    tau : float
        Node time constant ``R C`` in s (> 0); the node resistance is ``tau / node_capacitance``.
    node_capacitance : float
        Capacitance of every ``a+`` and ``a-`` node in F (> 0).
    port_capacitance : float
        Capacitance of each parameter port in F (> 0); the parameter is its voltage (1 V per unit).
    settle_taus : int, optional
        Time constants each minibatch relaxes before the gate opens (default ``20 L``; ``[2L, 10^4]`` with
        sample-and-hold ports, ``[0, 10^4]`` with live ports).
    gate_taus : int
        Time constants the ports integrate per update (``[1, 10^4]``).
    sample_and_hold : bool
        The port samples the effort when the gate opens and integrates the held value (gradient descent);
        False integrates the live effort over the gate.
    steps_per_tau : int
        Simulation grid: RK4 steps per time constant after each switch (a new minibatch, the gate
        opening), halved every :data:`COARSEN_TAUS` time constants down to one step per tau as the
        transient decays (>= 1). The settled effort does not depend on it; the transients and the
        energy ledger converge at fourth order (default 16: ledger balance about 4e-7).
    """

    tau: float = 1e-6
    node_capacitance: float = 1e-9
    port_capacitance: float = 1e-9
    settle_taus: int | None = None
    gate_taus: int = 1
    sample_and_hold: bool = True
    steps_per_tau: int = 16

    @classmethod
    def from_config(cls, table: dict | None) -> "RCCircuit":
        """Validate an rc ``[circuit]`` table (unknown keys, types, ranges) and build the circuit.

        Raises
        ------
        ConfigurationError
            Naming ``circuit.<key>``, the value and the valid range (or the valid keys).
        """
        return cls(**check_table(table, _RC_SCHEMA, "circuit key of the rc substrate"))

    def to_config(self) -> dict:
        """The ``[circuit]`` table (keys with a value)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @property
    def node_resistance(self) -> float:
        """Node resistance ``R = tau / C`` in ohm."""
        return self.tau / self.node_capacitance

    @property
    def window(self) -> float:
        """Port integration time per update in s: ``gate_taus tau``."""
        return self.gate_taus * self.tau

    def port_resistance(self, lr: float) -> float:
        """Port resistance in ohm realising learning rate ``lr``: ``R_p = gate_taus tau / (lr C_p)``."""
        return self.window / (lr * self.port_capacitance)

    def learning_rate(self, resistance: float) -> float:
        """Learning rate of a port resistance in ohm: ``lr = gate_taus tau / (R_p C_p)``."""
        return self.window / (resistance * self.port_capacitance)

    def settle(self, depth: int) -> int:
        """Settling time constants for ``depth`` layers (default ``20 L``; checked >= 2L with sample-and-hold)."""
        settle = 20 * depth if self.settle_taus is None else self.settle_taus
        if self.sample_and_hold and settle < 2 * depth:
            raise ConfigurationError(f"circuit.settle_taus = {settle} is outside the valid range [{2 * depth}, 10000] "
                                     f"for sample-and-hold ports (2L time constants of a depth-{depth} network)")
        return settle

    def grid(self, settle: int) -> tuple[np.ndarray, np.ndarray]:
        """The steps of one update: lengths in s and whether each starts the gate, for ``settle`` tau of settling.

        Each phase (settle, gate) starts at ``steps_per_tau`` steps per tau and halves the steps per tau
        every :data:`COARSEN_TAUS` tau (a transient has decayed by ``e^-8`` times a polynomial by then),
        never below one step per tau; every phase boundary is a grid point.
        """
        def phase(taus):
            per_tau = np.maximum(self.steps_per_tau >> (np.arange(taus) // COARSEN_TAUS), 1)
            return np.repeat(self.tau / per_tau, per_tau)

        settle_steps, gate_steps = phase(settle), phase(self.gate_taus)
        opens = np.zeros(len(settle_steps) + len(gate_steps), dtype=bool)
        opens[len(settle_steps)] = True
        return np.concatenate([settle_steps, gate_steps]), opens

    @staticmethod
    def residual_bound(depth: int, settle_taus: float, coupling: float) -> float:
        """The relaxation's residual factor after ``settle_taus`` tau: ``exp(-T) sum_{k < 2L} (K T)^k / k!``.

        Multiplies the initial node error ``|d(0)|`` (module docstring); ``coupling`` is ``K``, a bound of
        the stage couplings ``|J|`` (dimensionless).
        """
        T = float(settle_taus)
        terms = np.cumprod(np.concatenate([[1.0], np.full(2 * depth - 1, coupling * T) / np.arange(1, 2 * depth)]))
        return float(np.exp(-T) * terms.sum())


class RCSession:
    """The RC trainer circuit running in physical time, minibatch after minibatch (separated schedule).

    Parameters
    ----------
    net : Network
        Initial parameters (read, not modified; :meth:`params` gives the present ones).
    loss : str
        ``"mse"`` or ``"cross_entropy"``.
    circuit : RCCircuit
    lr : float
        Learning rate of the resistive ports (>= 0; 0: frozen), mapped to ``R_p = gate_taus tau / (lr C_p)``.
    batch_size : int
    beta : float
        Loss-port gain.
    """

    def __init__(self, net, loss, circuit: RCCircuit, lr: float, batch_size: int, beta: float = 1.0):
        self.layout = Layout(net)
        self.loss = get_loss(loss)
        self.circuit, self.batch = circuit, int(batch_size)
        self.depth = len(self.layout.table)
        self.settle = circuit.settle(self.depth)
        self.lr = check_range("lr", lr, 0.0, None)
        P, N, B = self.layout.n_params, self.layout.n_nodes, self.batch
        self.hs, self.opens = circuit.grid(self.settle)
        self.state = np.ascontiguousarray(self.layout.pack([net]))
        self.held = np.zeros((P, 1))
        self.cap = np.full((P, 1), float(circuit.port_capacitance))
        # dtheta/dt = -e / (R_p C_p) = -(lr / T) e
        self.rate = np.full((P, 1), self.lr / circuit.window)
        self.beta = np.full(B, float(beta))
        self.tau = np.full(B, float(circuit.tau))
        self.waves = np.zeros((2, N, B))  # the node capacitors start at rest, as in the exported netlist
        self.ledger = np.zeros(7)
        self.heat = np.zeros(P)
        self.time = 0.0  # simulated time so far in s
        self.updates = 0
        self.energy_start = self.stored_energy()

    @property
    def resistance(self) -> float:
        """Port resistance in ohm (inf when frozen)."""
        return self.circuit.port_resistance(self.lr) if self.lr > 0 else float("inf")

    # --- the circuit's state ---------------------------------------------------------------------
    def params(self) -> list[np.ndarray]:
        """Present parameter voltages aligned with ``net.params``."""
        return [p[..., 0] for p in self.layout.unpack(self.state)]

    def nodes(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Present node voltages ``a+_k`` and ``a-_k``, each ``(batch, n_k)`` for ``k = 1..L``."""
        return tuple([w[0] for w in self.layout.links(self.waves[side][..., None])] for side in range(2))

    def stored_energy(self) -> float:
        """Energy stored now in J: ``C v^2 / 2`` over the node and port capacitors."""
        nodes = 0.5 * self.circuit.node_capacitance * float(np.sum(self.waves ** 2))
        return nodes + 0.5 * float(np.sum(self.cap[:, 0] * self.state[:, 0] ** 2))

    def port_heat(self) -> np.ndarray:
        """Energy dissipated so far in J in the port resistors of each parameter array (aligned with ``net.params``)."""
        return np.array([p.sum() for p in self.layout.unpack(self.heat[:, None])])

    def energy(self) -> dict:
        """The energy ledger since the start, in J, and its relative balance error."""
        injected = self.ledger[0] + self.ledger[3]
        stored = self.stored_energy() - self.energy_start
        dissipated = self.ledger[1] + self.ledger[4]
        scale = max(abs(injected), abs(stored), abs(dissipated), 1e-300)
        return {"injected_j": float(injected), "stored_j": float(stored), "dissipated_j": float(dissipated),
                "node_sources_j": float(self.ledger[0]), "node_resistors_j": float(self.ledger[1]),
                "port_sources_j": float(self.ledger[3]), "port_resistors_j": float(self.ledger[4]),
                "energy_balance_error": float(abs(injected - stored - dissipated) / scale)}

    @property
    def physical_time(self) -> float:
        """Simulated time so far in s."""
        return self.time

    @property
    def gradient_latency(self) -> float:
        """Time from a minibatch being applied to its sampled gradient: ``settle_taus tau`` in s."""
        return self.settle * self.circuit.tau

    # --- running --------------------------------------------------------------------------------
    def run(self, x: np.ndarray, target: np.ndarray, record_every: int | None = None) -> np.ndarray:
        """Train on minibatches ``x`` (n_b, B, n_0) with targets (n_b, B, n_L); return recorded parameters.

        Each minibatch is held ``settle_taus + gate_taus`` time constants, the ports open while it settles.
        Returns the flat parameters after every ``record_every`` updates (default: after the last), (R, P).
        """
        x, target = np.asarray(x, dtype=float), np.asarray(target, dtype=float)
        sizes = self.layout.sizes
        for name, array, width in (("x", x, sizes[0]), ("target", target, sizes[-1])):
            if array.ndim != 3 or array.shape[1:] != (self.batch, width) or len(array) != len(x):
                raise ShapeError(f"{name} has shape {array.shape}; expected ({len(x)}, {self.batch}, {width}) "
                                 "(minibatches, batch_size, units)")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(target))):
            raise ConfigurationError("x and target must be finite")
        n_b = len(x)
        xs = np.ascontiguousarray(np.swapaxes(x, 1, 2), dtype=float)
        ts = np.ascontiguousarray(np.swapaxes(target, 1, 2), dtype=float)
        gating = np.cumsum(self.opens) > 0  # the steps of the gate
        if self.circuit.sample_and_hold:
            gate = np.where(self.opens, SAMPLE, np.where(gating, HOLD, OPEN))
        else:
            gate = np.where(gating, LIVE, OPEN)
        record_every = n_b if record_every is None else int(record_every)
        records = np.empty((n_b // record_every, self.layout.n_params))
        code = run_rc_schedule(self.layout.table, self.layout.activations, LOSS_CODES[self.loss.name], self.beta,
                               self.tau, xs, ts, gate.astype(np.int64), self.hs, self.waves, self.state, self.held,
                               self.rate, self.cap, float(self.circuit.node_capacitance), record_every, records,
                               self.ledger, self.heat)
        period = float(self.hs.sum())
        if code >= 0:
            raise NumericalError(f"parameters became non-finite at t = {self.time + code * period!r} s "
                                 f"(update {self.updates + code})")
        self.time += n_b * period
        self.updates += n_b
        return records


def rc_frozen_efforts(net, loss, circuit: RCCircuit, x: np.ndarray, target: np.ndarray, beta: float = 1.0) -> list:
    """Port efforts of the RC circuit at frozen parameters on one minibatch, sampled after the settle.

    The nodes start at rest; the residual against backprop's gradient is bounded in the module docstring.
    Returns arrays aligned with ``net.params``.
    """
    session = RCSession(net, loss, RCCircuit(**{**asdict(circuit), "sample_and_hold": True}), 0.0, len(x), beta)
    session.run(np.asarray(x, float)[None], np.asarray(target, float)[None])
    return [p[..., 0] for p in session.layout.unpack(session.held)]
