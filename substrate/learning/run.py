"""Run directories: train from a resolved config and write what a run produced.

A run directory holds:

- ``config.json``: the resolved configuration (every key, after the preset and the file merged);
- ``checkpoint.npz``: the last consistent state (end of each epoch, and on Ctrl-C);
- ``metrics.json``: the history (one row per recorded epoch) and a summary;
- ``params.npz``: the trained network, written by :func:`substrate.save_network`
  (``substrate.load_network(run_dir / "params.npz")`` reads it back);
- ``curves.png`` (loss and accuracy), ``worldsheet.png`` (a recorded relaxation of the trained
  network on test samples), ``port_power.png`` (absorbed and reflected port power);
- ``run.json``: the run id and provenance (package version, git commit, time, command line,
  platform) and one entry per segment (the first run and each ``--resume``: start, seconds, how it
  ended).

A run directory holds one run. Every setting is validated (:func:`~substrate.learning.config.build`)
and the folder checked writable before anything is written; a new run then removes what an earlier
run left there (:data:`STALE`) before writing its ``config.json``. ``params.npz`` and ``metrics.json``
carry the run id of ``run.json``, which :func:`check_run_dir` (used by ``substrate export``) compares.
SIGTERM stops a run as Ctrl-C does: the checkpoint is written and ``--resume`` continues it.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..discrete.worldsheet import relaxation_steps
from ..errors import ConfigurationError
from ..io import check_output_folder, read_text, write_json
from ..network import network_run_id, save_network
from ..provenance import new_run_id, provenance
from .config import build
from .substrates import PHYSICAL_FIELDS
from .trainer import CHECKPOINT, StepInfo, TrainingInterrupted, train

__all__ = ["run", "check_run_dir", "FILES", "RUN_FILE", "STALE"]

FILES = ("config.json", "metrics.json", "params.npz", "curves.png", "worldsheet.png", "port_power.png")

#: the run id and provenance of a run directory
RUN_FILE = "run.json"

#: what an earlier run can have left in a run directory (its files, and ``substrate export``'s default
#: outputs, which are made from its network); a new run removes them before writing anything
STALE = FILES + (CHECKPOINT, RUN_FILE) + tuple(
    f"{fmt}.{suffix}" for fmt in ("spice", "crossbar", "tline-trainer", "rc-trainer") for suffix in ("cir", "json")
) + ("devices.csv", "devices.json")


class _Progress:
    """A tqdm bar with loss and accuracy when tqdm is installed, else one plain line per epoch."""

    def __init__(self, total: int, done: int, epochs: int, stream=None):
        from ..progress import counter

        self.epochs = epochs
        self.stream = stream or sys.stderr
        self.bar = counter(total, done=done, unit="update", stream=self.stream)

    def __call__(self, info: StepInfo) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if info.end_of_epoch and info.history.epoch[-1] == info.epoch:  # a recorded epoch
            row = info.history.final
            accuracy = row["test_accuracy"]
            text = {"loss": f"{row['train_loss']:.4f}"}
            if accuracy is not None:
                text["test acc"] = f"{100 * accuracy:.1f}%"
            if self.bar is not None:
                self.bar.set_postfix(text, refresh=False)
            else:
                extra = ", ".join(f"{k} {v}" for k, v in text.items())
                print(f"epoch {info.epoch}/{self.epochs}: {extra}", file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run(config: dict, run_dir, *, resume: bool = False, progress: bool = True, callbacks=(),
        command: list[str] | None = None) -> dict:
    """Train what ``config`` (resolved, see :func:`~substrate.learning.config.resolve`) describes.

    Parameters
    ----------
    config : dict
        A resolved configuration.
    run_dir : path
        The run directory (created). Without ``resume`` an earlier run's files there (:data:`STALE`)
        are removed first; with ``resume`` it must hold ``checkpoint.npz``.
    resume : bool
        Continue an interrupted run (``config`` should be the run's ``config.json``).
    progress : bool
        Show a progress bar (tqdm) or, without tqdm, a line per epoch on stderr.
    callbacks : sequence of callable
        Passed on to :func:`~substrate.learning.train`.
    command : list of str, optional
        The command line recorded in ``run.json`` (default ``sys.argv``).

    Returns
    -------
    dict
        The summary written into ``metrics.json`` (final accuracies, steps, total seconds over all
        segments, run id, files).

    Raises
    ------
    ConfigurationError
        Invalid config or resources, before anything is written.
    PathError
        ``run_dir`` is a file or not writable, before anything is written.
    TrainingInterrupted
        Ctrl-C or SIGTERM, after writing the checkpoint; ``interrupted.signal`` is ``"SIGINT"`` or ``"SIGTERM"``.
    """
    run_dir = Path(run_dir)
    net, dataset, port, options = build(config)  # validates everything before any file is written
    check_output_folder(run_dir)
    if resume:
        if not (run_dir / CHECKPOINT).exists():
            raise ConfigurationError(f"cannot resume: {run_dir / CHECKPOINT} does not exist")
        with np.load(run_dir / CHECKPOINT, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
        done, wall_before = meta["step"], meta["wall_time"]
        record = _read_record(run_dir) or {"run_id": new_run_id(), **provenance(command), "segments": []}
    else:
        for name in STALE:
            (run_dir / name).unlink(missing_ok=True)
        record = {"run_id": new_run_id(), **provenance(command), "segments": []}
        write_json(run_dir / "config.json", config)
        done, wall_before = 0, 0.0
    segment = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "command": list(sys.argv if command is None else command), "resumed_at_step": done,
               "status": "running"}
    record["segments"].append(segment)
    write_json(run_dir / RUN_FILE, record)
    steps_per_epoch = len(dataset.x_train) // options.get("batch_size", len(dataset.x_train))
    total = options["epochs"] * steps_per_epoch
    bar = _Progress(total, done, options["epochs"]) if progress else None
    started = time.perf_counter()

    def close(status: str) -> None:
        segment.update(status=status, seconds=time.perf_counter() - started)
        write_json(run_dir / RUN_FILE, record)

    try:
        with _sigterm_as_interrupt() as received:
            history = train(net, dataset, port=port, run_dir=run_dir, resume=resume,
                            callbacks=([bar] if bar else []) + list(callbacks), **options)
    except TrainingInterrupted as interrupted:
        interrupted.signal = "SIGTERM" if received else "SIGINT"
        close(f"interrupted by {interrupted.signal} after step {interrupted.step}")
        raise
    except BaseException as error:
        close(f"failed: {type(error).__name__}: {error}")
        raise
    finally:
        if bar:
            bar.close()
    seconds = wall_before + time.perf_counter() - started
    final = history.final
    summary = {
        "run_id": record["run_id"],
        "task": dataset.name, "sizes": net.sizes, "schedule": options["schedule"], "substrate": options["substrate"],
        "port": port.to_config(), "epochs": final["epoch"], "steps": final["step"],
        "train_loss": final["train_loss"], "test_loss": final["test_loss"],
        "train_accuracy": final["train_accuracy"], "test_accuracy": final["test_accuracy"],
        "gradient_error": final["gradient_error"], "seconds": seconds,
        "wave_steps": final["step"] * _wave_steps(options, net.depth), "n_train": len(dataset.x_train),
        "n_test": len(dataset.x_test),
    }
    if options.get("circuit") is not None:  # a circuit substrate: physical time, latency and the energy ledger
        summary.update({key: final[key] for key in PHYSICAL_FIELDS}, circuit=options["circuit"])
    save_network(net, run_dir / "params.npz", run_id=record["run_id"])
    write_json(run_dir / "metrics.json", {"summary": summary, "history": history.to_dict()})
    plot_curves(history, run_dir / "curves.png", title=f"{dataset.name}: {options['schedule']} schedule, {port!r}")
    plot_snapshot(net, dataset, config, run_dir / "worldsheet.png")
    plot_port_power(history, net, run_dir / "port_power.png")
    close("finished")
    summary["run_dir"] = str(run_dir)
    summary["files"] = [str(run_dir / name) for name in FILES + (RUN_FILE,)]
    return summary


def _wave_steps(options: dict, depth: int) -> int:
    """Wave steps (or, dyadic, time constants) per port update of a schedule."""
    if options["schedule"] != "separated":
        return 1
    if options.get("wave_steps"):
        return options["wave_steps"]
    return relaxation_steps(depth, options["courant"]) if options["substrate"] == "worldsheet" else 12 * depth


@contextmanager
def _sigterm_as_interrupt():
    """While active (main thread only), SIGTERM raises KeyboardInterrupt, so training checkpoints and stops.

    Yields a list that holds the signal number once SIGTERM was received.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def _read_record(run_dir: Path) -> dict | None:
    path = run_dir / RUN_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(read_text(path, "run record"))
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{path} is not valid JSON ({error}); it records the run id and provenance") from None
    if not isinstance(record, dict) or not isinstance(record.get("run_id"), str) or not isinstance(
            record.get("segments"), list):
        raise ConfigurationError(f"{path} does not hold a run record (a table with run_id and segments)")
    return record


def check_run_dir(path) -> None:
    """Refuse a run directory whose ``params.npz`` was not written by the run its ``run.json`` records.

    ``path`` is a run directory or its ``params.npz``; a folder without ``run.json`` (or a network
    file elsewhere) is not checked.

    Raises
    ------
    ConfigurationError
        The run was interrupted before it wrote ``params.npz``, or ``params.npz`` carries another
        (or no) run id: a stale artifact of an earlier run.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not (path.is_dir() or path.name == "params.npz") or (record := _read_record(folder)) is None:
        return
    network = folder / "params.npz"
    if not network.exists():
        if (folder / CHECKPOINT).exists():
            raise ConfigurationError(f"{folder}: run {record['run_id']} has not finished (no params.npz); "
                                     f"continue it with: substrate train --resume {folder}")
        return
    stamp = network_run_id(network)
    if stamp != record["run_id"]:
        raise ConfigurationError(
            f"{network} belongs to run {stamp or '(no run id)'}, but {folder / RUN_FILE} records run "
            f"{record['run_id']}: a stale file from an earlier run; retrain (or resume) the run in {folder}"
        )


def plot_curves(history, path, title: str = ""):
    """Loss (train, test) and accuracy (or gradient error) against epochs."""
    from ..plotting import save_figure, subplots

    epochs = history.array("epoch")
    figure, axes = subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    axes[0].semilogy(epochs, history.array("train_loss"), "o-", ms=3, label="train")
    axes[0].semilogy(epochs, history.array("test_loss"), "s-", ms=3, label="test")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("mean loss C (dimensionless)")
    axes[0].set_title("loss")
    axes[0].legend()
    if not np.all(np.isnan(history.array("test_accuracy"))):
        axes[1].plot(epochs, 100 * history.array("train_accuracy"), "o-", ms=3, label="train")
        axes[1].plot(epochs, 100 * history.array("test_accuracy"), "s-", ms=3, label="test")
        axes[1].set_ylabel("accuracy (%)")
        axes[1].set_title(f"accuracy (final test {100 * history.test_accuracy[-1]:.1f} %)")
        axes[1].set_ylim(min(40.0, np.nanmin(100 * history.array("test_accuracy"))) - 2, 101)
        axes[1].legend(loc="lower right")
    else:
        axes[1].semilogy(epochs, np.maximum(history.array("gradient_error"), 1e-17), "o-", ms=3)
        axes[1].set_ylabel("relative gradient error (dimensionless)")
        axes[1].set_title("port efforts against backprop of the paired minibatch\n(values at 1e-17 are exactly 0)")
    axes[1].set_xlabel("epoch")
    axes[1].grid(alpha=0.3)
    axes[0].grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def plot_snapshot(net, dataset, config, path):
    """A recorded worldsheet relaxation of the trained network on (up to) 64 test samples (training samples without a test set)."""
    from ..discrete import Worldsheet
    from ..plotting import plot_worldsheet

    which = "test" if len(dataset.x_test) else "training"
    x, y = (dataset.x_test[:64], dataset.y_test[:64]) if which == "test" else (dataset.x_train[:64], dataset.y_train[:64])
    sheet = Worldsheet(net, dataset.loss, courant=1.0, beta=config["train"].get("beta", 1.0))
    state = sheet.relax(x, y, 2 * net.depth + 2, init="random", rng=0, record=True)
    return plot_worldsheet(state.history, path, title=f"worldsheet of the trained network {net.sizes} "
                           f"on {len(x)} {which} samples (from random waves, courant 1)")


def plot_port_power(history, net, path):
    """Absorbed and reflected power per port (parameter array) against epochs."""
    from ..plotting import save_figure, subplots

    epochs = history.array("epoch")[1:]
    absorbed = np.array(history.port_absorbed[1:])
    reflected = np.array(history.port_reflected[1:])
    names = [f"{p}{k}" for k in range(1, net.depth + 1) for p in ("W", "b")]
    floor = 1e-30
    figure, axes = subplots(1, 2, figsize=(11, 4.2), layout="constrained", sharex=True)
    for i, name in enumerate(names):
        axes[0].plot(epochs, absorbed[:, i], "-", label=name)
        axes[1].semilogy(epochs, np.maximum(reflected[:, i], floor), "-", label=name)
    # absorbed power can be negative (a mass gives back stored energy): symmetric log scale
    threshold = max(float(np.min(np.abs(absorbed[absorbed != 0]), initial=1.0)), 1e-12)
    axes[0].set_yscale("symlog", linthresh=threshold)
    axes[0].set_title("absorbed power e.v per port (last update of each epoch; symmetric log)")
    axes[1].set_title(f"reflected power b.b per port (last update of each epoch; floor {floor:g} = zero)")
    for axis in axes:
        axis.set_xlabel("epoch")
        axis.set_ylabel("power (dimensionless, per unit optimization time)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, ncol=2)
    return save_figure(figure, path)
