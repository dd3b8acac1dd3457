"""The sweep driver: validate, submit chunks to an executor, collect rows, write the sweep directory.

A sweep directory holds:

- ``results.csv``: one row per task, sorted by task id: ``task, point, sample, seed``, every swept
  key, ``status, error``, the metrics of :data:`~substrate.sweeps.runners.METRICS` and ``wall_time``
  (s, last column). Floats are written as Python's shortest round-trip repr, so a sweep run on
  any executor with any number of workers gives the same bytes except in ``wall_time``.
- ``sweep.json``: the resolved sweep, the original file's tables, and provenance (package, Python
  and numpy versions, git commit when available, host, command) with one entry per invocation
  (executor, workers, tasks run, seconds, tasks/s).
- ``accuracy.png`` (test accuracy distribution per grid point) and ``yield.png`` (fraction of tasks
  reaching ``threshold`` against ``yield_axis``; only with a grid).
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import math
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import ConfigurationError
from ..io import write_json, write_text
from .executors import executor_kind
from .runners import METRICS, RUNNERS, run_chunk
from .spec import load_sweep

__all__ = ["sweep", "read_results", "FILES"]

FILES = ("results.csv", "sweep.json", "accuracy.png", "yield.png")
_WRITE_EVERY = 2.0  # s between rewrites of results.csv while a sweep runs


def _columns(spec) -> list[str]:
    return ["task", "point", "sample", "seed", *spec.columns, "status", "error", *METRICS, "wall_time"]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _render(columns: list[str], rows: dict[int, dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for index in sorted(rows):
        writer.writerow([rows[index].get(column, "") for column in columns])
    return buffer.getvalue()


def read_results(path) -> tuple[list[str], dict[int, dict]]:
    """``results.csv`` as ``(columns, {task id: row of strings})``."""
    from ..io import read_text

    reader = csv.DictReader(io.StringIO(read_text(path, "results table"), newline=""))
    try:
        rows = {int(row["task"]): row for row in reader}
    except (KeyError, TypeError, ValueError, csv.Error) as error:
        raise ConfigurationError(f"{path} is not a sweep results table (a 'task' column of integers): {error}") from None
    return list(reader.fieldnames or []), rows


def _provenance() -> dict:
    from ..provenance import provenance

    return {**provenance(), "host": socket.gethostname()}


class _Progress:
    """tqdm bar over tasks (done, rate, ETA) when tqdm is installed, else a line per 10 %."""

    def __init__(self, total: int, done: int, enabled: bool):
        from ..progress import counter

        self.total, self.done, self.enabled = total, done, enabled
        self.bar = counter(total, done=done, unit="task", label="sweep", enabled=enabled, mininterval=0.5)

    def update(self, n: int, failed: int) -> None:
        before, self.done = self.done, self.done + n
        if self.bar is not None:
            self.bar.update(n)
            if failed:
                self.bar.set_postfix({"not ok": failed}, refresh=False)
        elif self.enabled and self.done * 10 // self.total > before * 10 // self.total:
            print(f"sweep: {self.done}/{self.total} tasks ({failed} not ok)", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _chunks(tasks, size: int):
    """Consecutive tasks of one grid point, at most ``size`` per chunk."""
    chunk = []
    for task in tasks:
        if chunk and (len(chunk) == size or chunk[-1].point != task.point):
            yield chunk
            chunk = []
        chunk.append(task)
    if chunk:
        yield chunk


def sweep(source, out, *, executor="local", workers: int | None = None, scheduler: str | None = None,
          resume: bool = False, force: bool = False, progress: bool = True, runner=None) -> dict:
    """Run every task of a sweep and write the sweep directory ``out``.

    Parameters
    ----------
    source : path, dict or SweepSpec
        A sweep file (``.toml``/``.json``), its parsed table, or a :class:`SweepSpec`.
    out : path
        The sweep directory (created).
    executor : {"local", "serial", "dask"} or ExecutorKind
        Where tasks run (see :mod:`substrate.sweeps.executors`).
    workers : int, optional
        Worker processes (default: one per core; ``serial`` has 1; not with ``scheduler``).
    scheduler : str, optional
        dask scheduler address (``executor="dask"``); default: a ``LocalCluster``.
    resume : bool
        Keep the rows already in ``out/results.csv`` and run only the missing tasks (the sweep must
        be the one recorded in ``out/sweep.json``).
    force : bool
        Overwrite a sweep directory that holds results.
    progress : bool
        Progress bar with tasks done, rate and ETA (tqdm) on stderr.
    runner : Runner, optional
        What runs a chunk (default: the one ``[sweep] runner`` names, :class:`~substrate.sweeps.runners.TrainRunner` unless set).

    Returns
    -------
    dict
        ``out``, ``tasks``, ``ran`` (task ids run now), ``lost`` (task ids left without a row because
        the worker pool broke; ``resume=True`` runs them), ``status`` (counts over all rows),
        ``seconds`` and ``tasks_per_second`` of this invocation, ``files``.

    Raises
    ------
    ConfigurationError
        A bad sweep, executor setting or sweep directory, before any task starts.
    KeyboardInterrupt
        After writing the rows finished so far (continue with ``resume=True``).
    """
    spec = load_sweep(source)
    kind = executor_kind(executor, scheduler)
    kind.check(workers)
    from ..io import check_output_folder

    out = check_output_folder(out)
    columns = _columns(spec)
    resolved = json.loads(json.dumps(spec.to_dict()))
    rows: dict[int, dict] = {}
    runs = []
    if resume:
        if not (out / "sweep.json").exists():
            raise ConfigurationError(f"cannot resume: {out / 'sweep.json'} does not exist")
        from ..io import read_text

        try:
            recorded = json.loads(read_text(out / "sweep.json", "sweep record"))
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"cannot resume: {out / 'sweep.json'} is not valid JSON ({error})") from None
        if not isinstance(recorded, dict) or recorded.get("sweep") != resolved:
            raise ConfigurationError(f"cannot resume: the sweep differs from the one recorded in {out / 'sweep.json'}")
        runs = recorded.get("runs", [])
        if (out / "results.csv").exists():
            found, rows = read_results(out / "results.csv")
            if found != columns:
                raise ConfigurationError(f"cannot resume: {out / 'results.csv'} has columns {found}, expected {columns}")
    elif (out / "results.csv").exists() and not force:
        raise ConfigurationError(f"--out {out} already holds a sweep; pass --resume to continue it or --force to overwrite")
    else:  # a new sweep (or --force): no file of an earlier sweep stays beside the new results
        for name in FILES:
            (out / name).unlink(missing_ok=True)
    todo = [task for task in spec.tasks if task.index not in rows]
    runner = RUNNERS[spec.runner]() if runner is None else runner
    provenance = _provenance()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def save_json(ran: list[int], seconds: float, workers_used):
        entry = {**kind.describe(workers_used), "started": started_at, "ran": len(ran), "seconds": seconds,
                 "tasks_per_second": len(ran) / seconds if seconds > 0 else None}
        write_json(out / "sweep.json", {"sweep": resolved, "file": spec.source, "provenance": provenance,
                                        "runs": runs + [entry]})

    save_json([], 0.0, workers)  # records the sweep before any task, so an interrupted sweep can resume
    write_text(out / "results.csv", _render(columns, rows))
    bar = _Progress(len(spec.tasks), len(spec.tasks) - len(todo), progress)
    ran: list[int] = []
    lost: list[int] = []
    failed = sum(row["status"] != "ok" for row in rows.values())
    started = time.perf_counter()
    last_write = started
    try:
        if todo:
            with kind.open(workers) as pool:
                futures = {pool.submit(run_chunk, runner, chunk, spec.time_limit): chunk
                           for chunk in _chunks(todo, spec.chunk)}
                for future in concurrent.futures.as_completed(futures):
                    try:
                        results = future.result()
                    except concurrent.futures.BrokenExecutor:
                        # a worker process died and took the pool with it: no result for these tasks,
                        # which stay missing (--resume runs them), whichever task was to blame
                        lost += [task.index for task in futures[future]]
                        continue
                    except Exception as error:  # the executor gave up on this chunk (dask: KilledWorker, ...)
                        results = [{"task": task.index, "status": "failed", "error": f"{type(error).__name__}: {error}"}
                                   for task in futures[future]]
                    for result in results:
                        task = spec.tasks[result["task"]]
                        rows[task.index] = _row(task, result)
                        ran.append(task.index)
                        failed += result["status"] != "ok"
                    bar.update(len(results), failed)
                    if time.perf_counter() - last_write > _WRITE_EVERY:
                        write_text(out / "results.csv", _render(columns, rows))
                        last_write = time.perf_counter()
    finally:
        bar.close()
        seconds = time.perf_counter() - started
        write_text(out / "results.csv", _render(columns, rows))
        save_json(ran, seconds, workers)
    from .figures import plot_accuracy, plot_yield

    files = [out / "results.csv", out / "sweep.json", plot_accuracy(spec, rows, out / "accuracy.png")]
    if spec.yield_axis is not None:
        files.append(plot_yield(spec, rows, out / "yield.png"))
    status = {}
    for row in rows.values():
        status[row["status"]] = status.get(row["status"], 0) + 1
    return {"out": str(out), "tasks": len(spec.tasks), "ran": sorted(ran), "lost": sorted(lost), "status": status,
            "seconds": seconds,
            "tasks_per_second": len(ran) / seconds if ran and seconds > 0 else None,
            "executor": kind.describe(workers), "files": [str(path) for path in files]}


def _row(task, result: dict) -> dict:
    row = {"task": task.index, "point": task.point, "sample": task.sample, "seed": task.seed, **task.values, **result}
    return {key: _cell(value) for key, value in row.items()}


def column(rows: dict[int, dict], name: str) -> np.ndarray:
    """One numeric column of result rows (strings) in task order; empty cells are NaN."""
    return np.array([float(rows[i][name]) if rows[i].get(name) not in ("", None) else math.nan for i in sorted(rows)])
