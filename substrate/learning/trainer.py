"""Training on the substrate: the loop that interleaves wave steps and port updates.

:func:`train` is the entry point. Its whole mutable state (port state, waves and pipeline buffers,
the random generator, the epoch's sample order, counters, history) lives in one :class:`_State`
that each update replaces as a whole, so an interrupt always sees a consistent state, which
:func:`train` writes atomically to ``run_dir/checkpoint.npz`` before stopping. ``resume=True``
continues from it; the result equals an uninterrupted run with the same seed, bit for bit.
"""

from __future__ import annotations

import copy
import json
import math
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
from ..ports import GaussNewton, Port, Resistive, gauss_newton_matrix
from .history import History
from .substrates import get_substrate

__all__ = ["train", "TrainingInterrupted", "StepInfo", "CHECKPOINT"]

#: file name of the checkpoint inside a run directory
CHECKPOINT = "checkpoint.npz"


class TrainingInterrupted(SubstrateError):
    """Training stopped on Ctrl-C; ``checkpoint`` names the checkpoint file written (or ``None``)."""

    def __init__(self, message: str, checkpoint: Path | None = None, step: int = 0):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.step = step


@dataclass
class StepInfo:
    """What a callback sees after each port update.

    Attributes
    ----------
    step : int
        Port updates done so far (1 after the first).
    epoch : int
        Completed epochs.
    end_of_epoch : bool
        True when this update finished an epoch (the history then has a new row).
    net : Network
        The network, already holding the updated parameters.
    efforts : list of ndarray
        The efforts the ports absorbed at this update (aligned with ``net.params``).
    paired : list
        Per layer, the training-set indices of the minibatch whose gradient the layer's effort is
        (``None`` while a pipeline is filling).
    absorbed, reflected : ndarray
        Port powers of this update, one entry per parameter array.
    history : History
    """

    step: int
    epoch: int
    end_of_epoch: bool
    net: Network
    efforts: list
    paired: list
    absorbed: np.ndarray
    reflected: np.ndarray
    history: History


@dataclass
class _State:
    port: dict
    waves: dict
    rng: dict
    order: np.ndarray
    step: int = 0
    epoch: int = 0
    position: int = 0
    absorbed_sum: np.ndarray = None
    reflected_sum: np.ndarray = None
    gradient_error: float = float("nan")
    history: dict = field(default_factory=dict)


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
    circuit: dict | None = None,
) -> History:
    """Train ``net`` in place on the substrate; return the :class:`History`.

    Parameters
    ----------
    net : Network
        Trained in place: on return it holds the final (device) parameters.
    data : Dataset, str or tuple
        A :class:`~substrate.datasets.Dataset`, a built-in name (``"moons"``...) or arrays
        ``(x_train, y_train[, x_test, y_test])`` (without test arrays the history's test metrics are None).
    substrate : {"worldsheet", "dyadic", "tline"} or Substrate
        Level-0 waves, the level-1 RC relaxation (``separated`` only), or the transmission-line
        trainer circuit in physical time (:mod:`substrate.learning.substrates`).
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
        Called with a :class:`StepInfo` after every port update.
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
    circuit : dict, optional
        The ``[circuit]`` table of a circuit substrate (:class:`circuits.physical.Circuit`, SI units).

    Returns
    -------
    History

    Raises
    ------
    ConfigurationError
        Bad arguments (before any work).
    NumericalError
        NaN or inf in waves, efforts or parameters: names the step, layer and quantity.
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
    medium.check(schedule, port)
    if isinstance(port, GaussNewton) and schedule != "separated":
        raise ConfigurationError("a GaussNewton port needs its batch's curvature: only the 'separated' schedule")
    epochs = _int("epochs", epochs, 1)
    n_train = len(dataset.x_train)
    batch_size = n_train if batch_size is None else _int("batch_size", batch_size, 1, n_train)
    courant = check_courant("courant", courant, net.depth)
    if schedule != "separated" and courant != 1.0:
        raise ConfigurationError(f"courant = {courant} : the {schedule} schedule runs at courant 1")
    if wave_steps is not None:
        wave_steps = _int("wave_steps", wave_steps, 1)
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
    n_ports = len(net.params)
    classification = loss_fn.name == "cross_entropy"

    def evaluate(x, y):
        output = net.forward(x)
        value = loss_fn(output, loss_fn.target(y, net.sizes[-1]))
        accuracy = float(np.mean(np.argmax(output, axis=1) == y)) if classification and y.ndim == 1 else None
        return value, accuracy

    def record(st: _State, wall: float) -> None:
        train_loss, train_acc = evaluate(dataset.x_train, dataset.y_train)
        test_loss, test_acc = evaluate(dataset.x_test, dataset.y_test) if len(dataset.x_test) else (None, None)
        updates = max(st.step - (st.history["step"][-1] if st.history["step"] else 0), 1)
        row = {
            "epoch": st.epoch, "step": st.step, "train_loss": train_loss, "train_accuracy": train_acc,
            "test_loss": test_loss, "test_accuracy": test_acc,
            "absorbed_power": float(st.absorbed_sum.sum() / updates) if st.step else 0.0,
            "reflected_power": float(st.reflected_sum.sum() / updates) if st.step else 0.0,
            "port_absorbed": (st.absorbed_sum / updates).tolist(),
            "port_reflected": (st.reflected_sum / updates).tolist(),
            "gradient_error": None if math.isnan(st.gradient_error) else st.gradient_error,
            "wall_time": wall,
        }
        for key, value in row.items():
            st.history.setdefault(key, []).append(value)
        if not math.isfinite(train_loss):
            raise NumericalError(f"step {st.step}: the training loss is {train_loss} (quantity: loss, layer {net.depth})")

    # --- the initial or resumed state --------------------------------------------------------------
    started = time.perf_counter()
    if resume:
        st, wall_before = _load_checkpoint(run_dir / CHECKPOINT, net, port, sched, batch_size)
    else:
        rng = np.random.default_rng(seed)
        order = rng.permutation(n_train)
        st = _State(port.initial_state(net.params), sched.initial(batch_size), rng.bit_generator.state, order,
                    absorbed_sum=np.zeros(n_ports), reflected_sum=np.zeros(n_ports),
                    history={key: [] for key in History.fields()})
        net.params = port.parameters(st.port)
        wall_before = 0.0
        record(st, 0.0)

    def wall() -> float:
        return wall_before + time.perf_counter() - started

    history = History(st.history)
    try:
        while st.epoch < epochs:
            batch = st.order[st.position * batch_size:(st.position + 1) * batch_size]
            x, target = dataset.x_train[batch], targets[batch]
            waves, efforts, paired = sched.advance(st.waves, x, target, batch)
            curvature = (lambda: gauss_newton_matrix(net, x, target, loss_fn)) if isinstance(port, GaussNewton) else None
            port_state, power = port.step(st.port, efforts, curvature)
            params = port.parameters(port_state)
            _check_finite(st.step + 1, net, params, efforts, waves)
            new = _State(port_state, waves, st.rng, st.order, st.step + 1, st.epoch, st.position + 1,
                         st.absorbed_sum + power.absorbed, st.reflected_sum + power.reflected,
                         st.gradient_error, st.history)
            end_of_epoch = new.position == steps_per_epoch
            if end_of_epoch:
                if gradient_check:
                    new.gradient_error = _gradient_error(net, dataset.x_train, targets, loss_fn, efforts, paired)
                rng = np.random.default_rng()
                rng.bit_generator.state = st.rng
                new.order = rng.permutation(n_train)
                new.rng = rng.bit_generator.state
                new.epoch, new.position = st.epoch + 1, 0
            # commit: one assignment, then the network takes the device values
            new.history = copy.deepcopy(st.history) if end_of_epoch else st.history
            net.params = params
            if end_of_epoch:
                record(new, wall())
                new.absorbed_sum, new.reflected_sum = np.zeros(n_ports), np.zeros(n_ports)
            st = new
            history = History(st.history)
            if end_of_epoch and run_dir is not None:
                _save_checkpoint(run_dir / CHECKPOINT, st, wall())
            info = StepInfo(st.step, st.epoch, end_of_epoch, net, efforts, paired, power.absorbed, power.reflected,
                            history)
            for callback in callbacks:
                callback(info)
    except KeyboardInterrupt:
        net.params = port.parameters(st.port)
        if run_dir is None:
            raise TrainingInterrupted(f"interrupted after step {st.step}; no run directory, nothing saved",
                                      None, st.step) from None
        path = _save_checkpoint(run_dir / CHECKPOINT, st, wall())
        raise TrainingInterrupted(
            f"interrupted after step {st.step} (epoch {st.epoch}); checkpoint written to {path}; "
            f"continue with: substrate train --resume {run_dir}", path, st.step
        ) from None
    return history


def _check_finite(step: int, net: Network, params, efforts, waves) -> None:
    # fast path: one reduction per array; a NaN or inf anywhere makes the total non-finite (an
    # overflowing sum of finite values only sends us to the exact search below, which finds nothing)
    arrays = list(params) + list(efforts) + [a for key, a in waves.items() if key.startswith(("forward_", "backward_"))]
    if np.isfinite(sum(float(np.add.reduce(a, axis=None)) for a in arrays)):
        return
    for k in range(net.depth):
        for name, array in ((f"W{k + 1}", params[2 * k]), (f"b{k + 1}", params[2 * k + 1])):
            if not np.all(np.isfinite(array)):
                raise NumericalError(f"step {step}: non-finite parameter {name} (layer {k + 1})")
        for name, array in ((f"effort on W{k + 1}", efforts[2 * k]), (f"effort on b{k + 1}", efforts[2 * k + 1])):
            if not np.all(np.isfinite(array)):
                raise NumericalError(f"step {step}: non-finite {name} (layer {k + 1})")
    for key, array in waves.items():
        if key.startswith(("forward_", "backward_")) and not np.all(np.isfinite(array)):
            kind, k = key.split("_")
            symbol = "a" if kind == "forward" else "s"
            raise NumericalError(f"step {step}: non-finite {kind} wave {symbol}_{k} (layer {k}, link {k})")


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
    arrays = {"order": st.order, "absorbed_sum": st.absorbed_sum, "reflected_sum": st.reflected_sum}
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
        order, absorbed, reflected = data["order"], data["absorbed_sum"], data["reflected_sum"]
    expected = port.initial_state(net.params)
    expected_waves = sched.initial(batch_size)
    if sorted(port_state) != sorted(expected) or sorted(waves) != sorted(expected_waves) or any(
        waves[key].shape != value.shape for key, value in expected_waves.items()
    ) or any(p.shape != q.shape for p, q in zip(port_state["latent"], expected["latent"])):
        raise ConfigurationError(f"{path} does not match this network, port and schedule; cannot resume")
    error = meta["gradient_error"]
    st = _State(port_state, waves, meta["rng"], order, meta["step"], meta["epoch"], meta["position"], absorbed,
                reflected, float("nan") if error is None else error, meta["history"])
    net.params = port.parameters(port_state)
    return st, meta["wall_time"]
