"""Sweeps and Monte Carlo over device tolerances, on local processes or dask.distributed.

:func:`sweep` runs a sweep file (a ``substrate train`` config plus a ``[sweep]`` table, see
:mod:`substrate.sweeps.spec`) on an executor (:mod:`substrate.sweeps.executors`) and writes a sweep
directory (:mod:`substrate.sweeps.driver`). :func:`verify_many` runs ``substrate verify`` on many
netlists through the same executors. See ``docs/sweeps.md``.
"""

from .driver import FILES, read_results, sweep
from .executors import EXECUTORS, Dask, ExecutorKind, Local, Serial, executor_kind
from .runners import METRICS, STATUSES, Runner, TLineBatchRunner, TrainRunner
from .spec import DISTRIBUTIONS, SweepSpec, Task, load_sweep
from .verify import verify_many

__all__ = [
    "sweep", "load_sweep", "SweepSpec", "Task", "read_results", "FILES", "DISTRIBUTIONS",
    "ExecutorKind", "Serial", "Local", "Dask", "EXECUTORS", "executor_kind",
    "Runner", "TrainRunner", "TLineBatchRunner", "METRICS", "STATUSES", "verify_many",
]
