"""Training substrates: what the waves of :func:`~substrate.learning.train` run on, behind one small interface.

Every substrate is a :class:`Substrate` with a ``name``, the ``schedules`` it runs, a :meth:`~Substrate.check`
of the options (called before any work) and one of two ways to train:

- wave substrates (``integrates_ports = False``: :class:`Worldsheet`, :class:`DyadicRC`) give a
  schedule object (:meth:`~Substrate.schedule`) whose efforts the trainer's parameter ports integrate;
- circuit substrates (:class:`CircuitSubstrate`, ``integrates_ports = True``: :class:`TLine`,
  :class:`RC`) are a whole trainer circuit whose capacitors are the parameters, simulated in physical
  time (:meth:`~Substrate.train`), so they return the :class:`~substrate.learning.History`
  themselves. Each reads its own ``[circuit]`` table (:meth:`CircuitSubstrate.read_circuit`).

:func:`get_substrate` resolves a name (and a ``[circuit]`` table) into one.
"""

from __future__ import annotations

import time
from dataclasses import fields

import numpy as np

from ..errors import ConfigurationError
from ..network import backprop, gradient_error
from ..ports import Inertial, Resistive
from .history import History
from .schedules import Pipelined, Separated

__all__ = ["Substrate", "CircuitSubstrate", "Worldsheet", "DyadicRC", "TLine", "RC", "SUBSTRATES", "get_substrate",
           "PHYSICAL_FIELDS"]

#: History fields only a circuit substrate fills (None for the iterations)
PHYSICAL_FIELDS = ("physical_time_s", "gradient_latency_s", "energy_per_update_j", "energy_injected_j",
                   "energy_stored_j", "energy_dissipated_j", "energy_balance_error")


class Substrate:
    """The interface every training substrate implements.

    Attributes
    ----------
    name : str
    schedules : tuple of str
        Schedules it runs.
    integrates_ports : bool
        True when the substrate integrates its own parameter ports (a circuit): :meth:`train`;
        else the trainer's ports integrate the efforts of :meth:`schedule`.
    """

    name = ""
    schedules: tuple[str, ...] = ()
    integrates_ports = False

    def check(self, schedule: str, port, depth: int | None = None) -> None:
        """Refuse a schedule, port or (given the network's ``depth``) realisation this substrate cannot run
        (:class:`ConfigurationError`), before any work."""
        if schedule not in self.schedules:
            raise ConfigurationError(f"substrate = {self.name!r} runs only the schedules {list(self.schedules)}, "
                                     f"got schedule = {schedule!r}")

    def schedule(self, net, loss, schedule: str, courant: float, wave_steps: int | None, beta: float):
        """The schedule object of a wave substrate (:mod:`substrate.learning.schedules`)."""
        raise NotImplementedError(f"substrate {self.name!r} integrates its own ports: use train()")

    def train(self, net, dataset, loss, *, port, schedule, epochs, batch_size, seed, callbacks, beta,
              gradient_check) -> History:
        """Train ``net`` in place (circuit substrates)."""
        raise NotImplementedError(f"substrate {self.name!r} is trained by the trainer's ports: use schedule()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Worldsheet(Substrate):
    """The level-0 discrete worldsheet (:mod:`substrate.discrete.worldsheet`)."""

    name = "worldsheet"
    schedules = ("separated", "pipelined", "naive")

    def schedule(self, net, loss, schedule, courant, wave_steps, beta):
        if schedule == "separated":
            return Separated(net, loss, "worldsheet", courant, wave_steps, beta)
        # train() reads no wave of the input port: s_0 is not computed
        return Pipelined(net, loss, naive=schedule == "naive", beta=beta, reflect_input=False)


class DyadicRC(Substrate):
    """The level-1 RC relaxation (:class:`substrate.lumped.Dyadic`), separated schedule only."""

    name = "dyadic"
    schedules = ("separated",)

    def schedule(self, net, loss, schedule, courant, wave_steps, beta):
        return Separated(net, loss, "dyadic", courant, wave_steps, beta)


class CircuitSubstrate(Substrate):
    """A trainer circuit in physical time whose capacitors are the parameters (``integrates_ports``).

    Parameters
    ----------
    circuit : realisation object or dict, optional
        The physical realisation (an instance of :meth:`realisation`, or a ``[circuit]`` table, validated by
        :meth:`read_circuit`); default an ideal circuit.

    Notes
    -----
    A subclass names its realisation class (:meth:`realisation`, with ``from_config`` and ``to_config``)
    and its session (:meth:`session`: ``run``, ``params``, ``port_heat``, ``energy``, ``updates``,
    ``physical_time``, ``gradient_latency``) and frozen efforts (:meth:`frozen_efforts`); the training
    loop and the history are shared. The ports are the kinds in ``port_kinds`` without device limits:
    a :class:`~substrate.ports.Resistive` port's learning rate ``lr`` maps to a port resistance; an
    :class:`~substrate.ports.Inertial` one (where supported: an inductor in series with the port
    resistor) maps ``(lr, momentum)`` to ``(R, M)``. Callbacks see one :class:`StepInfo` per epoch. The
    history's port powers are physical: ``port_absorbed`` is the mean power in W dissipated in each
    parameter array's port resistors over the epoch, ``port_reflected`` is 0 (matched resistive ports;
    not split into waves for inertial ones).
    """

    integrates_ports = True
    #: the port kinds this circuit realises
    port_kinds: tuple = (Resistive,)

    def __init__(self, circuit=None):
        self.circuit = circuit if isinstance(circuit, self.realisation()) else self.read_circuit(circuit)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.circuit!r})"

    @classmethod
    def realisation(cls) -> type:
        """The class of this substrate's ``[circuit]`` table."""
        raise NotImplementedError

    @classmethod
    def read_circuit(cls, table: dict | None):
        """Validate a ``[circuit]`` table for this substrate (a key of another circuit substrate is refused, named)."""
        own = {field.name for field in fields(cls.realisation())}
        for key, value in (table.items() if isinstance(table, dict) else ()):
            owners = [name for name, kind in SUBSTRATES.items() if kind.integrates_ports and kind is not cls
                      and key in {field.name for field in fields(kind.realisation())}]
            if key not in own and owners:
                raise ConfigurationError(f"circuit.{key} = {value!r} is a key of substrate = {owners[0]!r}, not of "
                                         f"substrate = {cls.name!r}; valid: {sorted(own)}")
        return cls.realisation().from_config(table)

    def check(self, schedule, port, depth=None) -> None:
        super().check(schedule, port, depth)
        if depth is not None:
            self.check_depth(schedule, depth)
        if (type(port) not in self.port_kinds or port.bounds is not None or port.leak
                or port.resistance_tolerance):
            kinds = " or ".join(kind.__name__.lower() for kind in self.port_kinds)
            raise ConfigurationError(f"port = {port!r}: the {self.name} substrate realises {kinds} ports without "
                                     "bounds, levels, leak or tolerance (a capacitor charged through R, or through R "
                                     "and an inductor; its non-idealities are [circuit] keys)")
        if type(port) is Inertial and not 0.0 < port.momentum < 1.0:
            raise ConfigurationError(f"port = {port!r} has momentum {port.momentum!r}, outside the valid range (0, 1) "
                                     f"of the {self.name} substrate's inertial ports (momentum 0 is Resistive)")

    def check_depth(self, schedule: str, depth: int) -> None:
        """Refuse a realisation that cannot run a depth-``depth`` network on ``schedule`` (e.g. a short settle)."""

    def session(self, net, loss: str, schedule: str, lr: float, batch_size: int, beta: float,
                momentum: float | None = None):
        """A circuit session training ``net`` (read, not modified) in physical time (``momentum``: inertial ports)."""
        raise NotImplementedError

    def frozen_efforts(self, net, loss: str, x, target, beta: float) -> list:
        """The circuit's port efforts at frozen parameters on one minibatch (aligned with ``net.params``)."""
        raise NotImplementedError

    def train(self, net, dataset, loss, *, port, schedule, epochs, batch_size, seed, callbacks, beta,
              gradient_check) -> History:
        from .trainer import StepInfo

        started = time.perf_counter()
        session = self.session(net, loss.name, schedule, port.learning_rate, batch_size, beta,
                               port.momentum if type(port) is Inertial else None)
        n_train = len(dataset.x_train)
        steps = n_train // batch_size
        targets = loss.target(dataset.y_train, net.sizes[-1])
        rng = np.random.default_rng(seed)
        order = rng.permutation(n_train)
        history = {key: [] for key in History.fields()}
        classification = loss.name == "cross_entropy"

        def evaluate(x, y):
            if not len(x):
                return None, None
            output = net.forward(x)
            value = float(loss(output, loss.target(y, net.sizes[-1])))
            accuracy = float(np.mean(np.argmax(output, axis=1) == y)) if classification and y.ndim == 1 else None
            return value, accuracy

        heat_before, time_before = np.zeros(len(net.params)), 0.0

        def record(epoch, error):
            nonlocal heat_before, time_before
            heat, elapsed = session.port_heat(), session.physical_time - time_before
            port_power = (heat - heat_before) / elapsed if elapsed > 0 else np.zeros_like(heat)
            heat_before, time_before = heat, session.physical_time
            train_loss, train_acc = evaluate(dataset.x_train, dataset.y_train)
            test_loss, test_acc = evaluate(dataset.x_test, dataset.y_test)
            ledger = session.energy()
            row = {"epoch": epoch, "step": session.updates, "train_loss": train_loss, "train_accuracy": train_acc,
                   "test_loss": test_loss, "test_accuracy": test_acc, "absorbed_power": float(port_power.sum()),
                   "reflected_power": 0.0, "port_absorbed": port_power.tolist(),
                   "port_reflected": [0.0] * len(port_power), "gradient_error": error,
                   "wall_time": time.perf_counter() - started, "physical_time_s": session.physical_time,
                   "gradient_latency_s": session.gradient_latency,
                   "energy_per_update_j": ledger["injected_j"] / session.updates if session.updates else None,
                   "energy_injected_j": ledger["injected_j"], "energy_stored_j": ledger["stored_j"],
                   "energy_dissipated_j": ledger["dissipated_j"],
                   "energy_balance_error": ledger["energy_balance_error"]}
            for key, value in row.items():
                history[key].append(value)

        record(0, None)
        for epoch in range(1, epochs + 1):
            batches = order[:steps * batch_size].reshape(steps, batch_size)
            session.run(dataset.x_train[batches], targets[batches])
            net.params = session.params()
            error = None
            if gradient_check:
                last = batches[-1]
                measured = self.frozen_efforts(net, loss.name, dataset.x_train[last], targets[last], beta)
                error = gradient_error(measured, backprop(net, dataset.x_train[last], targets[last], loss))
            record(epoch, error)
            order = rng.permutation(n_train)
            result = History(history)
            info = StepInfo(net, result, _Unpaired(net.depth), {})
            info.step, info.epoch, info.end_of_epoch = session.updates, epoch, True
            info.absorbed, info.reflected = np.array(history["port_absorbed"][-1]), np.zeros(len(net.params))
            for callback in callbacks:
                callback(info)
        return History(history)


class TLine(CircuitSubstrate):
    """The transmission-line trainer circuit in physical time (:mod:`circuits.physical`).

    Parameters
    ----------
    circuit : circuits.physical.Circuit or dict, optional
        The physical realisation (a ``[circuit]`` table is validated); default an ideal circuit.

    Notes
    -----
    The port's learning rate ``lr`` maps to the port resistance ``R = T / (lr C)``
    (:func:`circuits.physical.port_resistance`). See :class:`CircuitSubstrate`.
    """

    name = "tline"
    schedules = ("separated", "pipelined")
    port_kinds = (Resistive, Inertial)

    @classmethod
    def realisation(cls) -> type:
        from circuits.physical import Circuit

        return Circuit

    def check_depth(self, schedule, depth):
        if schedule == "separated":
            self.circuit.settle(depth)

    def session(self, net, loss, schedule, lr, batch_size, beta, momentum=None):
        from circuits.physical import TLineSession

        return TLineSession(net, loss, self.circuit, schedule, lr, batch_size, beta, momentum)

    def frozen_efforts(self, net, loss, x, target, beta):
        from circuits.physical import frozen_efforts

        return frozen_efforts(net, loss, self.circuit, x, target, beta)


class RC(CircuitSubstrate):
    """The lumped RC trainer circuit in physical time (:mod:`circuits.rc_session`), separated schedule only.

    Parameters
    ----------
    circuit : circuits.rc_session.RCCircuit or dict, optional
        The physical realisation (a ``[circuit]`` table is validated); default an ideal circuit.

    Notes
    -----
    Each minibatch relaxes ``settle_taus`` time constants with the ports open, then the ports integrate
    for ``gate_taus``; the port's learning rate ``lr`` maps to ``R_p = gate_taus tau / (lr C_p)``
    (:meth:`circuits.rc_session.RCCircuit.port_resistance`). Pipelined minibatches have no meaning on
    lumped nodes (no delay to pair a sample's input with its sensitivity). See :class:`CircuitSubstrate`.
    """

    name = "rc"
    schedules = ("separated",)

    def check(self, schedule, port, depth=None) -> None:
        if schedule not in self.schedules:
            raise ConfigurationError(f"substrate = 'rc' runs only the schedules {list(self.schedules)}, got schedule "
                                     f"= {schedule!r}: lumped RC nodes have no delay, so no stub can pair a sample's "
                                     "input with its own sensitivity and pipelined minibatches would blend")
        super().check(schedule, port, depth)

    @classmethod
    def realisation(cls) -> type:
        from circuits.rc_session import RCCircuit

        return RCCircuit

    def check_depth(self, schedule, depth):
        self.circuit.settle(depth)

    def session(self, net, loss, schedule, lr, batch_size, beta, momentum=None):
        from circuits.rc_session import RCSession

        return RCSession(net, loss, self.circuit, lr, batch_size, beta)

    def frozen_efforts(self, net, loss, x, target, beta):
        from circuits.rc_session import rc_frozen_efforts

        return rc_frozen_efforts(net, loss, self.circuit, x, target, beta)


class _Unpaired:
    """The pairing a circuit reports to callbacks: per epoch, not per minibatch (``None`` per layer)."""

    def __init__(self, depth: int):
        self.depth = depth

    def paired(self, waves, batch) -> list:
        return [None] * self.depth


#: the substrates by name
SUBSTRATES = {cls.name: cls for cls in (Worldsheet, DyadicRC, TLine, RC)}


def get_substrate(substrate, circuit=None) -> Substrate:
    """A :class:`Substrate` from a name in :data:`SUBSTRATES` (``circuit``: the ``[circuit]`` table) or itself."""
    if isinstance(substrate, Substrate):
        if circuit is not None:
            raise ConfigurationError("circuit is given with a Substrate object: put it in the object")
        return substrate
    if substrate not in SUBSTRATES:
        raise ConfigurationError(f"substrate = {substrate!r} is unknown; valid: {list(SUBSTRATES)}")
    cls = SUBSTRATES[substrate]
    if cls.integrates_ports:
        return cls(circuit)
    if circuit:
        raise ConfigurationError(f"a [circuit] table ({sorted(circuit)}) is given but substrate = {substrate!r} is "
                                 f"not a circuit; circuit substrates: "
                                 f"{[name for name, c in SUBSTRATES.items() if c.integrates_ports]}")
    return cls()
