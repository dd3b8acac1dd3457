"""What a worker runs: a chunk of tasks through a runner, each task ending as one result row.

A *chunk* is the unit submitted to an executor: consecutive tasks of one grid point (so they share
everything but their Monte Carlo draws). A runner turns a chunk into rows with one call,
:meth:`Runner.run`. :class:`TrainRunner` trains the tasks one after another with
:func:`substrate.train`; an engine that can batch instances (a circuit simulator with an instance
axis) implements :meth:`Runner.run` as one vectorised call over the chunk, which is why chunks
exist. Rows never depend on the chunking: each task is seeded by its own task seed.

Every task runs with BLAS pinned to one thread (``threadpoolctl``), on every executor, so that the
numbers do not depend on where a task ran.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np

from ..errors import SubstrateError
from ..learning.config import build
from ..learning.trainer import train

__all__ = ["Runner", "TrainRunner", "TLineBatchRunner", "RUNNERS", "TaskTimeout", "run_chunk", "METRICS", "STATUSES"]

#: result columns every runner fills (``None`` where a substrate does not report the quantity)
METRICS = ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "gradient_error", "energy", "steps")
#: row statuses: finished, raised an error, exceeded ``sweep.time_limit``
STATUSES = ("ok", "failed", "timeout")


class TaskTimeout(SubstrateError):
    """A task ran longer than its time limit (raised inside the task, between port updates)."""


class Runner:
    """Turns a chunk of tasks into result rows (one dict of :data:`METRICS` and ``status`` per task)."""

    def run(self, tasks, time_limit: float) -> list[dict]:  # pragma: no cover - interface
        """Run ``tasks`` (a list of :class:`~substrate.sweeps.spec.Task`); ``time_limit`` in s per task."""
        raise NotImplementedError


class TrainRunner(Runner):
    """Trains each task's config with :func:`substrate.train` (no run directory, no figures).

    The time limit is cooperative: a callback checks the elapsed time after every port update and
    stops the task with status ``timeout``. Any other exception gives status ``failed`` with the
    exception's type and message. ``energy`` is the energy absorbed by the parameter ports over the
    run, ``sum_n dtau e.v = sum_n e.(theta_before - theta_after)`` summed over every port update
    (dimensionless, like the port powers of the history; the history itself samples the powers
    only at epoch ends), accumulated by a callback.
    """

    def run(self, tasks, time_limit: float) -> list[dict]:
        rows = []
        for task in tasks:
            started = time.perf_counter()
            row = self._one(task, time_limit, started)
            row["wall_time"] = time.perf_counter() - started
            rows.append(row)
        return rows

    @staticmethod
    def _one(task, time_limit: float, started: float) -> dict:

        def watchdog(info):
            if time.perf_counter() - started > time_limit:
                raise TaskTimeout(f"exceeded the time limit of {time_limit:g} s after {info.step} port updates")

        absorbed = [0.0]

        def ledger(info):
            # dtau e.v with v = -(theta_after - theta_before) / dtau: the energy each update absorbs
            absorbed[0] += sum(float(np.vdot(e, b - a)) for e, b, a in zip(info.efforts, before, info.net.params))
            for b, a in zip(before, info.net.params):
                b[...] = a

        try:
            net, dataset, port, options = build(task.config)
            before = [np.array(p, dtype=float) for p in net.params]
            with np.errstate(over="ignore", invalid="ignore"):  # a diverging run ends as NumericalError, quietly
                history = train(net, dataset, port=port, callbacks=[watchdog, ledger], **options)
        except TaskTimeout as error:
            return {"status": "timeout", "error": str(error)}
        except Exception as error:  # a failed task is a row, not the end of the sweep
            return {"status": "failed", "error": f"{type(error).__name__}: {error}".replace("\n", " ")}
        final = history.final
        row = {"status": "ok", "error": "", "steps": int(final["step"]), "energy": absorbed[0]}
        for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "gradient_error"):
            value = final[key]
            row[key] = None if value is None or (isinstance(value, float) and math.isnan(value)) else value
        return row


class TLineBatchRunner(Runner):
    """A chunk of tasks as instances of the transmission-line trainer circuit, in one compiled call.

    Each task is one instance of :func:`circuits.realize.tline_trainer` simulated by
    :func:`circuits.native.simulate_tline_batch`: the whole training set enters at once (one wave
    network per sample) and the resistive parameter ports integrate continuously, i.e. full-batch
    gradient flow in physical time. One line delay ``td`` is one worldsheet step, so a port whose
    resistor is ``R_i`` (dimensionless, the worldsheet's ``lr = dtau / R_i``) charges at
    ``(dtau / R_i) / td`` per second; the resistors are the port's own draws
    (:meth:`substrate.ports.Port.draw_resistances`, ``[port] resistance_tolerance`` and ``seed``),
    so a task's instance has exactly the components its worldsheet run would. The run lasts
    ``epochs * (n_train // batch_size)`` line delays (as many as the worldsheet's updates).

    Rows: ``train_loss``/``test_loss`` and accuracies of the final parameters (``net.forward``),
    ``steps`` (line delays); no ``energy`` or ``gradient_error``. The tasks of a chunk must share their
    architecture and data (a chunk is one grid point; a random data seed would break this and is
    refused). The time limit is not applied inside the compiled call.

    Parameters
    ----------
    td : float
        Line delay in s (> 0); results in units of delays do not depend on it.
    """

    def __init__(self, td: float = 1e-9):
        from ..errors import check_positive

        self.td = check_positive("td", td)

    def run(self, tasks, time_limit: float) -> list[dict]:
        from circuits.junctions import Layout
        from circuits.native import simulate_tline_batch

        from ..errors import ConfigurationError
        from ..network import get_loss
        from ..ports import Resistive

        built = [build(task.config) for task in tasks]
        net, dataset, port, options = built[0]
        for _, other, other_port, _ in built[1:]:
            if not np.array_equal(other.x_train, dataset.x_train) or not np.array_equal(other.y_train, dataset.y_train):
                raise ConfigurationError("the tasks of a chunk must share their training data (TLineBatchRunner)")
        if any(type(p) is not Resistive or p.bounds is not None or p.leak for _, _, p, _ in built):
            raise ConfigurationError("TLineBatchRunner needs plain resistive ports (no bounds, levels or leak)")
        loss = get_loss(options.get("loss") or dataset.loss)
        n_train = len(dataset.x_train)
        batch_size = options.get("batch_size") or n_train
        delays = int(options.get("epochs", 1)) * (n_train // batch_size)
        layout = Layout(net)
        rates = []
        for task_net, _, task_port, _ in built:
            per_parameter = [task_port.dtau / r / self.td for r in task_port.draw_resistances(task_net.params)]
            rate_net = copy.deepcopy(task_net)
            for p, r in zip(rate_net.params, per_parameter):
                p[...] = r
            rates.append(rate_net)
        result = simulate_tline_batch([b[0] for b in built], dataset.x_train, dataset.y_train, loss=loss.name,
                                      td=self.td, t_stop=delays * self.td, learning_rate=layout.pack(rates),
                                      record_every=delays, record_waves=False)
        rows = []
        for i, (task_net, data, _, _) in enumerate(built):
            for p, trajectory in zip(task_net.params, result.params):
                p[...] = trajectory[-1, i]
            row = {"status": "ok", "error": "", "steps": delays, "energy": None, "gradient_error": None}
            for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
                if len(x) == 0:
                    row[f"{split}_loss"] = row[f"{split}_accuracy"] = None
                    continue
                output = task_net.forward(x)
                row[f"{split}_loss"] = float(loss(output, loss.target(y, task_net.sizes[-1])))
                row[f"{split}_accuracy"] = (float(np.mean(np.argmax(output, axis=1) == y))
                                            if loss.name == "cross_entropy" and y.ndim == 1 else None)
            rows.append(row)
        return rows


#: the runners a sweep file can name (``[sweep] runner``)
RUNNERS = {"train": TrainRunner, "tline-batch": TLineBatchRunner}


def run_chunk(runner: Runner, tasks, time_limit: float) -> list[dict]:
    """Run one chunk with BLAS pinned to 1 thread; return its rows (``task`` id and ``wall_time`` added).

    This is the function submitted to the executor. ``wall_time`` (s) is the chunk's wall time
    shared equally among its tasks when the runner batches them.
    """
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    with threadpool_limits(limits=1):
        try:
            rows = runner.run(tasks, time_limit)
            if len(rows) != len(tasks):
                raise RuntimeError(f"the runner returned {len(rows)} rows for a chunk of {len(tasks)} tasks")
        except Exception as error:  # a runner that fails as a whole fails each of its tasks
            rows = [{"status": "failed", "error": f"{type(error).__name__}: {error}"} for _ in tasks]
    seconds = (time.perf_counter() - started) / max(len(tasks), 1)
    for task, row in zip(tasks, rows):
        row["task"] = task.index
        row.setdefault("wall_time", seconds)
    return rows
