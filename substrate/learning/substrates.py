"""Training substrates: what the waves of :func:`~substrate.learning.train` run on, behind one small interface.

Every substrate is a :class:`Substrate` with a ``name``, the ``schedules`` it runs, a :meth:`~Substrate.check`
of the options (called before any work) and one of two ways to train:

- wave substrates (``integrates_ports = False``: :class:`Worldsheet`, :class:`DyadicRC`) give a
  schedule object (:meth:`~Substrate.schedule`) whose efforts the trainer's parameter ports integrate;
- circuit substrates (``integrates_ports = True``: :class:`TLine`) are a whole trainer circuit whose
  capacitors are the parameters, simulated in physical time (:meth:`~Substrate.train`), so they
  return the :class:`~substrate.learning.History` themselves.

:func:`get_substrate` resolves a name (and a ``[circuit]`` table) into one.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import ConfigurationError
from ..network import backprop, gradient_error
from ..ports import Inertial, Resistive
from .history import History
from .schedules import Pipelined, Separated

__all__ = ["Substrate", "Worldsheet", "DyadicRC", "TLine", "SUBSTRATES", "get_substrate", "PHYSICAL_FIELDS"]

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

    def check(self, schedule: str, port) -> None:
        """Refuse a schedule or port this substrate cannot run (:class:`ConfigurationError`), before any work."""
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
        return Pipelined(net, loss, naive=schedule == "naive", beta=beta)


class DyadicRC(Substrate):
    """The level-1 RC relaxation (:class:`substrate.lumped.Dyadic`), separated schedule only."""

    name = "dyadic"
    schedules = ("separated",)

    def schedule(self, net, loss, schedule, courant, wave_steps, beta):
        return Separated(net, loss, "dyadic", courant, wave_steps, beta)


class TLine(Substrate):
    """The transmission-line trainer circuit in physical time (:mod:`circuits.physical`).

    Parameters
    ----------
    circuit : circuits.physical.Circuit or dict, optional
        The physical realisation (a ``[circuit]`` table is validated); default an ideal circuit.

    Notes
    -----
    The ports are resistive or inertial: ``port`` must be a :class:`~substrate.ports.Resistive` port
    without device limits, whose learning rate ``lr`` maps to the port resistance ``R = T / (lr C)``
    (:func:`circuits.physical.port_resistance`), or an :class:`~substrate.ports.Inertial` one (an
    inductor in series with the port resistor), whose ``(lr, momentum)`` map to ``(R, M)`` by
    :func:`circuits.physical.inertial_port`: heavy-ball momentum per update. Callbacks see one
    :class:`StepInfo` per epoch. The history's port powers are physical: ``port_absorbed`` is the mean
    power in W dissipated in each parameter array's port resistors over the epoch, ``port_reflected`` is
    0 (matched resistive ports; not split into waves for inertial ones).
    """

    name = "tline"
    schedules = ("separated", "pipelined")
    integrates_ports = True

    def __init__(self, circuit=None):
        from circuits.physical import Circuit

        self.circuit = circuit if isinstance(circuit, Circuit) else Circuit.from_config(circuit)

    def __repr__(self) -> str:
        return f"TLine({self.circuit!r})"

    def check(self, schedule, port) -> None:
        super().check(schedule, port)
        if (type(port) not in (Resistive, Inertial) or port.bounds is not None or port.leak
                or port.resistance_tolerance):
            raise ConfigurationError(f"port = {port!r}: the tline substrate realises resistive ports and inertial "
                                     "ports without bounds, levels, leak or tolerance (a capacitor charged through R, "
                                     "or through R and an inductor; its non-idealities are [circuit] keys); use "
                                     "Resistive(R) or Inertial(M, R)")
        if type(port) is Inertial and not 0.0 < port.momentum < 1.0:
            raise ConfigurationError(f"port = {port!r} has momentum {port.momentum!r}, outside the valid range (0, 1) "
                                     "of the tline substrate's inertial ports (momentum 0 is Resistive)")

    def train(self, net, dataset, loss, *, port, schedule, epochs, batch_size, seed, callbacks, beta,
              gradient_check) -> History:
        from circuits.physical import TLineSession, frozen_efforts

        from .trainer import StepInfo

        started = time.perf_counter()
        session = TLineSession(net, loss.name, self.circuit, schedule, port.learning_rate, batch_size, beta,
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
                measured = frozen_efforts(net, loss.name, self.circuit, dataset.x_train[last], targets[last], beta)
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


class _Unpaired:
    """The pairing a circuit reports to callbacks: per epoch, not per minibatch (``None`` per layer)."""

    def __init__(self, depth: int):
        self.depth = depth

    def paired(self, waves, batch) -> list:
        return [None] * self.depth


#: the substrates by name
SUBSTRATES = {cls.name: cls for cls in (Worldsheet, DyadicRC, TLine)}


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
