"""Training on the substrate: the loop that interleaves wave steps and port updates.

:func:`train` is the entry point. Its whole mutable state (port state, waves and pipeline buffers,
the random generator, the epoch's sample order, counters, history) lives in one :class:`_State`.
An update works **in place** (the pipeline's ring buffers, the port state and the network's
parameters are overwritten, nothing of the parameters' size is allocated; the port state, the device
values and the efforts are views of one flat buffer each, so a port update is a few whole-buffer
operations), so Ctrl-C (SIGINT, and SIGTERM when Python handles it) is held while an update runs and
acted on between updates: the state is never half-updated. :func:`train` then writes it atomically to ``run_dir/checkpoint.npz``
(the checkpoint copies the buffers) before stopping. ``resume=True`` continues from it; the result
equals an uninterrupted run with the same seed, bit for bit.

Numerical failures are looked for every :data:`CHECK_EVERY` updates and at every recorded epoch,
not at every update (the check would cost as much as the port update on a small network). A failing
check re-runs the updates since the last good one from a snapshot kept at that check, checking each,
so the error still names the exact update, the layer and the quantity.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..datasets import Dataset, load
from ..discrete.worldsheet import check_courant
from ..errors import ConfigurationError, NumericalError, ShapeError, SubstrateError, check_range
from ..io import atomic_path
from ..network import Network, backprop, get_loss, gradient_error
from ..ports import GaussNewton, Port, PortPower, Resistive, gauss_newton_matrix
from .history import History
from .substrates import get_substrate

__all__ = ["train", "TrainingInterrupted", "StepInfo", "CHECKPOINT", "CHECK_EVERY"]

#: file name of the checkpoint inside a run directory
CHECKPOINT = "checkpoint.npz"
#: port updates between two finiteness and divergence checks (there is one at every recorded epoch too)
CHECK_EVERY = 16


class TrainingInterrupted(SubstrateError):
    """Training stopped on Ctrl-C; ``checkpoint`` names the checkpoint file written (or ``None``)."""

    def __init__(self, message: str, checkpoint: Path | None = None, step: int = 0):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.step = step


class StepInfo:
    """What a callback sees after each port update (one object, updated in place between calls).

    Attributes
    ----------
    step : int
        Port updates done so far (1 after the first).
    epoch : int
        Completed epochs.
    end_of_epoch : bool
        True when this update finished an epoch (the history then has a new row, at every
        ``record_every``-th epoch and the last).
    net : Network
        The network, already holding the updated parameters (its arrays are updated in place).
    efforts : list of ndarray
        The efforts the ports absorbed at this update (aligned with ``net.params``): buffers the
        next update overwrites, so copy them to keep them.
    paired : list
        Per layer, the training-set indices of the minibatch whose gradient the layer's effort is
        (``None`` while a pipeline is filling). Computed when read, valid during the callback.
    absorbed, reflected : ndarray or None
        Port powers of this update, one entry per parameter array: computed only at the updates
        that end an epoch (the recorded ones), ``None`` at the others.
    history : History
    """

    def __init__(self, net: Network, history: History, schedule, waves: dict):
        self.net, self.history, self._schedule, self._waves = net, history, schedule, waves
        self.step = self.epoch = 0
        self.end_of_epoch = False
        self.efforts, self.absorbed, self.reflected, self._batch = [], None, None, None

    @property
    def paired(self) -> list:
        return self._schedule.paired(self._waves, self._batch)


@dataclass
class _State:
    port: dict
    waves: dict
    rng: dict
    order: np.ndarray
    step: int = 0
    epoch: int = 0
    position: int = 0
    gradient_error: float = float("nan")
    history: dict = field(default_factory=dict)


class _HeldSignals:
    """Holds SIGINT (and SIGTERM when a Python handler has it) while an update runs.

    The signals' own handlers run at :meth:`deliver`, between updates, so a KeyboardInterrupt never
    leaves the in-place state half-updated. Outside the main thread nothing is held (signals are
    delivered to the main thread only).
    """

    def __init__(self):
        self.pending: list = []
        self.saved: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
                handler = None if number is None else signal.getsignal(number)
                if callable(handler):
                    self.saved[number] = handler
                    signal.signal(number, self._hold)
        return self

    def _hold(self, number, frame):
        self.pending.append((number, frame))

    def deliver(self) -> None:
        """Run the held signals' handlers (SIGINT's default raises KeyboardInterrupt)."""
        while self.pending:
            number, frame = self.pending.pop(0)
            self.saved[number](number, frame)

    def __exit__(self, *exc):
        for number, handler in self.saved.items():
            signal.signal(number, handler)
        return False


def _as_dataset(data, loss, n_outputs: int) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, str):
        return load(data)
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        x_train, y_train = np.asarray(data[0], float), np.asarray(data[1])
        # no test set: empty test arrays, so the history reports no test metrics (None)
        x_test, y_test = (np.asarray(data[2], float), np.asarray(data[3])) if len(data) == 4 else (x_train[:0], y_train[:0])
        if loss is None and y_train.ndim == 1 and np.issubdtype(y_train.dtype, np.integer) and n_outputs > 1:
            raise ConfigurationError(
                f"y_train holds integer labels of shape {y_train.shape} for a network with {n_outputs} outputs: "
                "pass loss='cross_entropy' to classify, or float targets of shape (n, n_outputs) for loss='mse'"
            )
        loss = get_loss(loss or "mse")
        n_out = int(y_train.max()) + 1 if loss.name == "cross_entropy" and y_train.ndim == 1 else (
            y_train.shape[1] if y_train.ndim == 2 else 1)
        return Dataset("arrays", x_train, y_train, x_test, y_test, loss.name, n_out)
    raise ConfigurationError(
        "data must be a Dataset, a built-in name or a tuple (x_train, y_train[, x_test, y_test])"
    )


def _int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigurationError(f"{name} = {value!r} must be an integer")
    check_range(name, value, low, high)
    return int(value)


def train(
    net: Network,
    data,
    *,
    substrate: str = "worldsheet",
    port: Port | None = None,
    schedule: str = "separated",
    epochs: int = 10,
    batch_size: int | None = None,
    courant: float = 1.0,
    seed: int = 0,
    callbacks: Sequence[Callable[[StepInfo], None]] = (),
    loss: str | None = None,
    beta: float = 1.0,
    wave_steps: int | None = None,
    gradient_check: bool = False,
    run_dir=None,
    resume: bool = False,
    loss_growth: float = 1e3,
    parameter_limit: float = 1e6,
    circuit: dict | None = None,
    record_every: int = 1,
) -> History:
    """Train ``net`` in place on the substrate; return the :class:`History`.

    Parameters
    ----------
    net : Network
        Trained in place: on return it holds the final (device) parameters. During training its
        parameter arrays are the ports' arrays, overwritten at every update.
    data : Dataset, str or tuple
        A :class:`~substrate.datasets.Dataset`, a built-in name (``"moons"``...) or arrays
        ``(x_train, y_train[, x_test, y_test])`` (without test arrays the history's test metrics are None).
    substrate : {"worldsheet", "dyadic", "tline", "rc"} or Substrate
        Level-0 waves, the level-1 RC relaxation (``separated`` only), or a trainer circuit in physical
        time: the transmission-line trainer or the lumped RC trainer (``separated`` only)
        (:mod:`substrate.learning.substrates`).
    port : Port
        Termination of every parameter port (default ``Resistive(10)``: gradient descent, lr 0.1).
    schedule : {"separated", "pipelined", "naive"}
        See :mod:`substrate.learning.schedules`.
    epochs : int
        Passes over the training set (>= 1). An epoch is ``n_train // batch_size`` port updates on
        minibatches of a fresh seeded permutation (the remainder is left out of that epoch).
    batch_size : int, optional
        Samples per minibatch (default: the whole training set).
    courant : float
        Courant number of the worldsheet, in (0, 2); ``pipelined`` needs 1.
    seed : int
        Seeds the minibatch order.
    callbacks : sequence of callable
        Called with a :class:`StepInfo` after every port update. When a numerical check fails, the
        updates since the previous check are re-run to name the failing one, and the callbacks
        see those updates again.
    loss : str, optional
        Overrides the dataset's loss.
    beta : float
        Backward-wave scale (efforts do not depend on it).
    wave_steps : int, optional
        ``separated`` only: wave steps per update (default ``2L`` at courant 1, else
        :func:`~substrate.discrete.worldsheet.relaxation_steps`; ``12L`` time constants for dyadic).
    gradient_check : bool
        At the last update of each epoch, record the relative error of the efforts against
        ``backprop`` of the minibatch each layer is paired with, at the current weights.
    run_dir : path, optional
        Where a checkpoint is written at the end of each epoch and on Ctrl-C.
    resume : bool
        Continue from ``run_dir/checkpoint.npz`` (same arguments as the interrupted call).
    loss_growth : float
        Divergence: a recorded training loss above ``loss_growth`` times ``max(initial loss, 1)``
        stops training (> 1; ``inf`` disables).
    parameter_limit : float
        Divergence: a parameter of magnitude above this stops training (> 0, dimensionless like
        the parameters; ``inf`` disables). Device bounds beyond it raise it to the bound.
    circuit : dict, optional
        The ``[circuit]`` table of a circuit substrate, SI units (:class:`circuits.physical.Circuit` for
        tline, :class:`circuits.rc_session.RCCircuit` for rc).
    record_every : int
        Epochs between history rows (>= 1): a row (loss and accuracy of the whole training and test
        sets, the port powers of the epoch's last update) after every ``record_every``-th epoch and
        after the last one; row 0 (before the first update) always. The training-loss divergence
        check (``loss_growth``) runs at the rows; the parameter and wave checks, the checkpoints and
        the callbacks do not depend on it, nor do the parameters. Wave substrates only (circuit
        substrates record every epoch).

    Returns
    -------
    History

    Raises
    ------
    ConfigurationError
        Bad arguments (before any work).
    NumericalError
        NaN or inf in waves, efforts or parameters, or divergence (the limits above): names the
        update, the layer and the quantity. numpy's overflow warnings are silenced meanwhile.
    TrainingInterrupted
        On KeyboardInterrupt, after writing the checkpoint (when ``run_dir`` is given).
    """
    # --- validate everything before any work -----------------------------------------------------
    dataset = _as_dataset(data, loss, net.sizes[-1])
    loss_fn = get_loss(loss or dataset.loss)
    if schedule not in ("separated", "pipelined", "naive"):
        raise ConfigurationError(f"schedule = {schedule!r} is unknown; valid: 'separated', 'pipelined', 'naive'")
    medium = get_substrate(substrate, circuit)
    port = Resistive(10.0) if port is None else port
    if not isinstance(port, Port):
        raise ConfigurationError(f"port = {port!r} must be a substrate.ports port (Resistive, Inertial, ...)")
    medium.check(schedule, port, net.depth)
    if isinstance(port, GaussNewton) and schedule != "separated":
        raise ConfigurationError("a GaussNewton port needs its batch's curvature: only the 'separated' schedule")
    epochs = _int("epochs", epochs, 1)
    record_every = _int("record_every", record_every, 1)
    if record_every != 1 and medium.integrates_ports:
        raise ConfigurationError(f"record_every = {record_every}: substrate {medium.name!r} records every epoch "
                                 "(valid: 1); fewer records are for the wave substrates")
    n_train = len(dataset.x_train)
    batch_size = n_train if batch_size is None else _int("batch_size", batch_size, 1, n_train)
    courant = check_courant("courant", courant, net.depth)
    if schedule != "separated" and courant != 1.0:
        raise ConfigurationError(f"courant = {courant} : the {schedule} schedule runs at courant 1")
    if wave_steps is not None:
        wave_steps = _int("wave_steps", wave_steps, 1)
    loss_growth = _limit("loss_growth", loss_growth, 1.0)
    parameter_limit = _limit("parameter_limit", parameter_limit, 0.0)
    if port.bounds is not None:
        parameter_limit = max(parameter_limit, *map(abs, port.bounds))
    if dataset.n_inputs != net.sizes[0] or dataset.n_outputs != net.sizes[-1]:
        raise ShapeError(
            f"network {net.sizes} does not fit dataset {dataset.name!r} "
            f"({dataset.n_inputs} inputs, {dataset.n_outputs} outputs)"
        )
    if resume and run_dir is None:
        raise ConfigurationError("resume=True needs run_dir")
    run_dir = None if run_dir is None else Path(run_dir)
    if resume and not (run_dir / CHECKPOINT).exists():
        raise ConfigurationError(f"cannot resume: {run_dir / CHECKPOINT} does not exist")

    if medium.integrates_ports:  # a circuit: its capacitors are the parameters
        if resume:
            raise ConfigurationError(f"substrate = {medium.name!r} cannot resume a run (no checkpoint of the circuit)")
        return medium.train(net, dataset, loss_fn, port=port, schedule=schedule, epochs=epochs, batch_size=batch_size,
                            seed=seed, callbacks=callbacks, beta=beta, gradient_check=gradient_check)
    sched = medium.schedule(net, loss_fn, schedule, courant, wave_steps, beta)
    targets = loss_fn.target(dataset.y_train, net.sizes[-1])
    steps_per_epoch = n_train // batch_size
    classification = loss_fn.name == "cross_entropy"
    gauss_newton = isinstance(port, GaussNewton)

    test_targets = loss_fn.target(dataset.y_test, net.sizes[-1]) if len(dataset.x_test) else None

    def evaluate(x, y, target):
        output = net.forward(x)
        value = loss_fn(output, target)
        accuracy = float(np.mean(np.argmax(output, axis=1) == y)) if classification and y.ndim == 1 else None
        return value, accuracy

    def record(st: _State, wall: float, power: PortPower | None) -> None:
        train_loss, train_acc = evaluate(dataset.x_train, dataset.y_train, targets)
        test_loss, test_acc = evaluate(dataset.x_test, dataset.y_test, test_targets) if len(dataset.x_test) else (None, None)
        absorbed = np.zeros(len(net.params)) if power is None else power.absorbed
        reflected = np.zeros(len(net.params)) if power is None else power.reflected
        row = {
            "epoch": st.epoch, "step": st.step, "train_loss": train_loss, "train_accuracy": train_acc,
            "test_loss": test_loss, "test_accuracy": test_acc,
            "absorbed_power": float(absorbed.sum()), "reflected_power": float(reflected.sum()),
            "port_absorbed": absorbed.tolist(), "port_reflected": reflected.tolist(),
            "gradient_error": None if math.isnan(st.gradient_error) else st.gradient_error,
            "wall_time": wall,
        }
        first = st.history["train_loss"][0] if st.history["train_loss"] else train_loss
        for key, value in row.items():
            st.history.setdefault(key, []).append(value)
        if not math.isfinite(train_loss):
            raise NumericalError(f"step {st.step}: the training loss is {train_loss} (quantity: loss, layer {net.depth})")
        if train_loss > loss_growth * max(first, 1.0):
            raise NumericalError(
                f"step {st.step}: diverging: the training loss {train_loss:.4g} exceeds {loss_growth:g} x "
                f"max(initial loss {first:.4g}, 1) (quantity: loss, layer {net.depth}); lower the learning rate "
                f"(a stronger port), or raise loss_growth")

    # --- the initial or resumed state --------------------------------------------------------------
    started = time.perf_counter()
    if resume:
        st, wall_before = _load_checkpoint(run_dir / CHECKPOINT, net, port, sched, batch_size)
    else:
        rng = np.random.default_rng(seed)
        order = rng.permutation(n_train)
        st = _State(port.initial_state(net.params), sched.initial(batch_size), rng.bit_generator.state, order,
                    history={key: [] for key in History.fields()})
        wall_before = 0.0
    # every per-parameter array of the port state, the device values and the efforts are views of
    # one flat buffer each, so that a port update runs a handful of whole-buffer operations instead
    # of that many per parameter array (the same elementwise arithmetic: the same bits)
    flat = {name: [_flatten(arrays)] for name, arrays in st.port.items()}
    params = port.parameters(st.port)  # without bounds: the analog values themselves
    flat_params = flat["latent"] if port.bounds is None else [_flatten(params)]
    # the efforts: one flat buffer and its views per parameter array, allocated when an update needs
    # them and let go before an epoch's evaluation when no callback reads them (peak memory)
    effort_buffer: list = []

    def effort_arrays() -> list:
        if not effort_buffer:
            buffer = np.empty(sum(p.size for p in params))
            effort_buffer.extend([buffer, _views(buffer, params)])
        return effort_buffer

    whole = type(port).update is Port.update  # a port updating all arrays at once (GaussNewton) gets the views
    # the network computes with the ports' device arrays themselves: each update overwrites them
    for k, layer in enumerate(net.layers):
        layer.weight, layer.bias = params[2 * k], params[2 * k + 1]

    def wall() -> float:
        return wall_before + time.perf_counter() - started

    history = History(st.history)
    info = StepInfo(net, history, sched, st.waves)

    def update():
        """One update in place: the schedule's waves, then the ports (powers when recorded)."""
        batch = st.order[st.position * batch_size:(st.position + 1) * batch_size]
        x, target = dataset.x_train[batch], targets[batch]
        flat_efforts, efforts_out = effort_arrays()
        efforts = sched.advance(st.waves, x, target, batch, out=efforts_out)
        end = st.position + 1 == steps_per_epoch
        if end and gradient_check:  # against backprop at the weights the efforts were computed at
            st.gradient_error = _gradient_error(net, dataset.x_train, targets, loss_fn, efforts,
                                                sched.paired(st.waves, batch))
        if whole and not end:  # the powers (per array) only at the recorded updates
            power = port.update(flat, [flat_efforts], None, flat_params)
        else:
            curvature = (lambda: gauss_newton_matrix(net, x, target, loss_fn)) if gauss_newton else None
            power = port.update(st.port, efforts, curvature, params, power=end)
        st.step += 1
        st.position += 1
        return batch, efforts, power, end

    def notify(batch, efforts, power, end) -> None:
        info.step, info.epoch, info.end_of_epoch, info.efforts, info._batch = st.step, st.epoch, end, efforts, batch
        info.absorbed, info.reflected = (None, None) if power is None else (power.absorbed, power.reflected)
        for callback in callbacks:
            callback(info)

    class Snapshot:
        """The state at the last good check: port state and device values copied into buffers
        allocated once (so refreshing it allocates nothing of the parameters' size), the waves as
        the schedule's own snapshot."""

        def __init__(self):
            # the flat buffers behind the port state and the device values: one copy each
            self.live = [buffers[0] for buffers in flat.values()] + ([] if port.bounds is None else flat_params)
            self.saved = [buffer.copy() for buffer in self.live]
            self.take()

        def take(self):
            for saved, live in zip(self.saved, self.live):
                np.copyto(saved, live)
            self.step, self.position = st.step, st.position
            self.waves = None  # the previous stub slots go before the next are copied
            self.waves = sched.snapshot(st.waves, CHECK_EVERY)
            return self

        def restore(self):
            for live, saved in zip(self.live, self.saved):
                np.copyto(live, saved)
            sched.restore(st.waves, self.waves)
            st.step, st.position = self.step, self.position

    def check(efforts, last_good) -> None:
        """Raise NumericalError naming the first failing update since the last good check."""
        found = _find_problem(st.step, params, efforts, st.waves, parameter_limit)
        if found is None:
            return
        failed_at, step = st.step, last_good.step
        last_good.restore()
        while st.step < failed_at:  # re-run, checking every update
            batch, efforts, power, end = update()
            again = _find_problem(st.step, params, efforts, st.waves, parameter_limit)
            if again is not None:
                raise NumericalError(again)
            if st.step < failed_at:
                notify(batch, efforts, power, end)
        raise NumericalError(f"{found} (re-running the updates since step {step} did not reproduce it: "
                             "something outside the trainer changed the state)")

    if not resume:
        with np.errstate(all="ignore"):
            record(st, 0.0, None)
    last_good = Snapshot()
    checked = st.step
    held = _HeldSignals()
    try:
        with held, np.errstate(all="ignore"):
            while st.epoch < epochs:
                if held.pending:
                    held.deliver()
                batch, efforts, power, end = update()
                due = end or st.step - checked >= CHECK_EVERY
                if due:
                    check(efforts, last_good)
                if not callbacks:  # nothing reads them any more: free them before the epoch's evaluation
                    efforts = None
                if end:
                    if not callbacks:
                        effort_buffer.clear()
                    rng = np.random.default_rng()
                    rng.bit_generator.state = st.rng
                    st.order = rng.permutation(n_train)
                    st.rng = rng.bit_generator.state
                    st.epoch, st.position = st.epoch + 1, 0
                    if st.epoch % record_every == 0 or st.epoch == epochs:
                        record(st, wall(), power)
                    if run_dir is not None:
                        _save_checkpoint(run_dir / CHECKPOINT, st, wall())
                notify(batch, efforts, power, end)
                # let this update's efforts go before the next update makes new ones
                info.efforts = efforts = power = None
                if due:  # after the callbacks: the state the next update starts from
                    last_good.take()
                    checked = st.step
            held.deliver()
    except KeyboardInterrupt:
        if st.step != checked:  # never save a state no check has seen
            with np.errstate(all="ignore"):
                check(None, last_good)
        if run_dir is None:
            raise TrainingInterrupted(f"interrupted after step {st.step}; no run directory, nothing saved",
                                      None, st.step) from None
        path = _save_checkpoint(run_dir / CHECKPOINT, st, wall())
        raise TrainingInterrupted(
            f"interrupted after step {st.step} (epoch {st.epoch}); checkpoint written to {path}; "
            f"continue with: substrate train --resume {run_dir}", path, st.step
        ) from None
    return history


def _views(buffer: np.ndarray, like: list) -> list:
    """Consecutive views of a flat ``buffer``, shaped like the arrays ``like``."""
    views, start = [], 0
    for array in like:
        views.append(buffer[start:start + array.size].reshape(array.shape))
        start += array.size
    return views


def _flatten(arrays: list) -> np.ndarray:
    """Move ``arrays`` (float) into one contiguous buffer: each entry becomes a view of it. Returns the buffer."""
    buffer = np.empty(sum(a.size for a in arrays))
    for i, view in enumerate(_views(buffer, arrays)):
        view[...] = arrays[i]
        arrays[i] = view  # the separate array goes as soon as it is copied
    return buffer


def _limit(name: str, value, low: float) -> float:
    """A divergence limit: a number > ``low``, or ``inf`` (no limit)."""
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) and value == math.inf:
        return math.inf
    return check_range(name, value, low, None, low_inclusive=False)


def _find_problem(step: int, params, efforts, waves: dict, limit: float) -> str | None:
    """The first non-finite or out-of-range quantity, as an error message (``None``: all sound).

    Fast path: one dot product per array. ``p.p <= limit^2`` proves every ``|p| <= limit`` (and
    finiteness); a NaN or inf anywhere makes the dot non-finite. Only a failing array is searched.
    """
    bound = limit * limit
    for i, p in enumerate(params):
        flat = p.reshape(-1)
        square = np.dot(flat, flat)
        if square <= bound and square < math.inf:
            continue
        name, layer = f"{'Wb'[i % 2]}{i // 2 + 1}", i // 2 + 1
        if not np.all(np.isfinite(flat)):
            return f"step {step}: non-finite parameter {name} (layer {layer})"
        largest = float(np.max(np.abs(flat)))
        if largest > limit:
            return (f"step {step}: diverging: parameter {name} (layer {layer}) left the plausible range, "
                    f"max |{name}| = {largest:.4g} > parameter_limit {limit:g}; lower the learning rate "
                    f"(a stronger port), or raise parameter_limit")
    for i, e in enumerate(efforts or ()):
        flat = e.reshape(-1)
        if not math.isfinite(np.dot(flat, flat)) and not np.all(np.isfinite(flat)):
            return f"step {step}: non-finite effort on {'Wb'[i % 2]}{i // 2 + 1} (layer {i // 2 + 1})"
    for key, array in waves.items():
        if not key.startswith(("forward_", "backward_")):
            continue
        flat = array.reshape(-1)
        if not math.isfinite(np.dot(flat, flat)) and not np.all(np.isfinite(flat)):
            kind, k = key.split("_")
            symbol = "a" if kind == "forward" else "s"
            return f"step {step}: non-finite {kind} wave {symbol}_{k} (layer {k}, link {k})"
    return None


def _gradient_error(net, x_table, target_table, loss, efforts, paired) -> float:
    worst = 0.0
    for k, indices in enumerate(paired):
        if indices is None:
            return float("nan")
        reference = backprop(net, x_table[indices], target_table[indices], loss)[2 * k:2 * k + 2]
        worst = max(worst, gradient_error(efforts[2 * k:2 * k + 2], reference))
    return worst


# --- checkpoints --------------------------------------------------------------------------------------
def _save_checkpoint(path: Path, st: _State, wall: float) -> Path:
    arrays = {"order": st.order}
    for name, values in st.port.items():
        for i, value in enumerate(values):
            arrays[f"port/{name}/{i}"] = value
    for name, value in st.waves.items():
        arrays[f"waves/{name}"] = value
    meta = {
        "rng": st.rng, "step": st.step, "epoch": st.epoch, "position": st.position,
        "gradient_error": None if math.isnan(st.gradient_error) else st.gradient_error,
        "history": st.history, "wall_time": wall, "port_state": sorted(st.port), "n_params": len(st.port["latent"]),
    }
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
    return path


def _load_checkpoint(path: Path, net: Network, port: Port, sched, batch_size: int):
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        port_state = {name: [data[f"port/{name}/{i}"] for i in range(meta["n_params"])] for name in meta["port_state"]}
        waves = {key[len("waves/"):]: data[key] for key in data.files if key.startswith("waves/")}
        order = data["order"]
    expected = port.initial_state(net.params)
    expected_waves = sched.initial(batch_size)
    if sorted(port_state) != sorted(expected) or sorted(waves) != sorted(expected_waves) or any(
        waves[key].shape != value.shape for key, value in expected_waves.items()
    ) or any(p.shape != q.shape for p, q in zip(port_state["latent"], expected["latent"])):
        raise ConfigurationError(f"{path} does not match this network, port and schedule; cannot resume")
    error = meta["gradient_error"]
    st = _State(port_state, waves, meta["rng"], order, meta["step"], meta["epoch"], meta["position"],
                float("nan") if error is None else error, meta["history"])
    return st, meta["wall_time"]
