"""Run directories: train from a resolved config and write what a run produced.

A run directory holds:

- ``config.json``: the resolved configuration (every key, after the preset and the file merged);
- ``checkpoint.npz``: the last consistent state (end of each epoch, and on Ctrl-C);
- ``metrics.json``: the history (one row per epoch) and a summary;
- ``params.npz``: the trained network, written by :func:`substrate.save_network`
  (``substrate.load_network(run_dir / "params.npz")`` reads it back);
- ``curves.png`` (loss and accuracy), ``worldsheet.png`` (a recorded relaxation of the trained
  network on test samples), ``port_power.png`` (absorbed and reflected port power).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigurationError
from ..io import write_json
from ..network import save_network
from .config import build
from .trainer import CHECKPOINT, StepInfo, train

__all__ = ["run", "FILES"]

FILES = ("config.json", "metrics.json", "params.npz", "curves.png", "worldsheet.png", "port_power.png")


class _Progress:
    """A tqdm bar with loss and accuracy when tqdm is installed, else one plain line per epoch."""

    def __init__(self, total: int, done: int, epochs: int, stream=None):
        self.epochs = epochs
        self.stream = stream or sys.stderr
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, initial=done, unit="update", file=self.stream, dynamic_ncols=True,
                            mininterval=0.25)

    def __call__(self, info: StepInfo) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if info.end_of_epoch:
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


def run(config: dict, run_dir, *, resume: bool = False, progress: bool = True, callbacks=()) -> dict:
    """Train what ``config`` (resolved, see :func:`~substrate.learning.config.resolve`) describes.

    Parameters
    ----------
    config : dict
        A resolved configuration.
    run_dir : path
        The run directory (created). With ``resume`` it must hold ``checkpoint.npz``.
    resume : bool
        Continue an interrupted run (``config`` should be the run's ``config.json``).
    progress : bool
        Show a progress bar (tqdm) or, without tqdm, a line per epoch on stderr.
    callbacks : sequence of callable
        Passed on to :func:`~substrate.learning.train`.

    Returns
    -------
    dict
        The summary written into ``metrics.json`` (final accuracies, steps, seconds, files).
    """
    run_dir = Path(run_dir)
    net, dataset, port, options = build(config)  # validates everything before any file is written
    if resume and not (run_dir / CHECKPOINT).exists():
        raise ConfigurationError(f"cannot resume: {run_dir / CHECKPOINT} does not exist")
    if not resume:
        write_json(run_dir / "config.json", config)
        (run_dir / CHECKPOINT).unlink(missing_ok=True)
    steps_per_epoch = len(dataset.x_train) // options.get("batch_size", len(dataset.x_train))
    total = options["epochs"] * steps_per_epoch
    done = 0
    if resume:
        with np.load(run_dir / CHECKPOINT, allow_pickle=False) as data:
            done = json.loads(str(data["meta"]))["step"]
    bar = _Progress(total, done, options["epochs"]) if progress else None
    started = time.perf_counter()
    try:
        history = train(net, dataset, port=port, run_dir=run_dir, resume=resume,
                        callbacks=([bar] if bar else []) + list(callbacks), **options)
    finally:
        if bar:
            bar.close()
    seconds = time.perf_counter() - started
    final = history.final
    summary = {
        "task": dataset.name, "sizes": net.sizes, "schedule": options["schedule"], "substrate": options["substrate"],
        "port": port.to_config(), "epochs": final["epoch"], "steps": final["step"],
        "train_loss": final["train_loss"], "test_loss": final["test_loss"],
        "train_accuracy": final["train_accuracy"], "test_accuracy": final["test_accuracy"],
        "gradient_error": final["gradient_error"], "seconds": seconds,
        "wave_steps": final["step"] * (1 if options["schedule"] != "separated" else
                                       options.get("wave_steps") or
                                       (2 if options["substrate"] == "worldsheet" else 12) * net.depth), "n_train": len(dataset.x_train),
        "n_test": len(dataset.x_test),
    }
    save_network(net, run_dir / "params.npz")
    write_json(run_dir / "metrics.json", {"summary": summary, "history": history.to_dict()})
    plot_curves(history, run_dir / "curves.png", title=f"{dataset.name}: {options['schedule']} schedule, {port!r}")
    plot_snapshot(net, dataset, config, run_dir / "worldsheet.png")
    plot_port_power(history, net, run_dir / "port_power.png")
    summary["run_dir"] = str(run_dir)
    summary["files"] = [str(run_dir / name) for name in FILES]
    return summary


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
    """A recorded worldsheet relaxation of the trained network on (up to) 64 test samples."""
    from ..discrete import Worldsheet
    from ..plotting import plot_worldsheet

    x, y = dataset.x_test[:64], dataset.y_test[:64]
    sheet = Worldsheet(net, dataset.loss, courant=1.0, beta=config["train"].get("beta", 1.0))
    state = sheet.relax(x, y, 2 * net.depth + 2, init="random", rng=0, record=True)
    return plot_worldsheet(state.history, path, title=f"worldsheet of the trained network {net.sizes} "
                           f"on {len(x)} test samples (from random waves, courant 1)")


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
    axes[0].set_title("absorbed power e.v per port (epoch mean; symmetric log)")
    axes[1].set_title(f"reflected power b.b per port (epoch mean; floor {floor:g} = zero)")
    for axis in axes:
        axis.set_xlabel("epoch")
        axis.set_ylabel("power (dimensionless, per unit optimization time)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, ncol=2)
    return save_figure(figure, path)
