"""Where tasks run: one object per executor kind, each opening a ``concurrent.futures.Executor``.

The sweep driver only calls ``executor.submit(fn, *args)`` and waits on the returned
``concurrent.futures.Future`` objects, the protocol every kind below provides:

- :class:`Serial`: in this process, one task after another (debugging, tiny sweeps);
- :class:`Local`: a process pool on this machine (the default), one worker per core, BLAS pinned
  to one thread per worker;
- :class:`Dask`: dask.distributed (extra ``wave-substrate[dask]``), a ``LocalCluster`` of
  single-threaded worker processes when no scheduler address is given, else
  ``Client(address).get_executor()`` on an existing cluster.

:func:`executor_kind` maps the CLI's ``--executor`` names to these objects.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os

from ..errors import ConfigurationError

__all__ = ["ExecutorKind", "Serial", "Local", "Dask", "SerialExecutor", "executor_kind", "EXECUTORS", "cores"]

_BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                   "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _check_workers(workers) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigurationError(f"workers = {workers!r} is outside the valid range: an integer >= 1")
    return workers


def pin_blas_threads() -> None:
    """Process initializer: one BLAS/OpenMP thread in this process (environment and loaded libraries)."""
    for name in _BLAS_VARIABLES:
        os.environ[name] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


class SerialExecutor(concurrent.futures.Executor):
    """A ``concurrent.futures.Executor`` that runs each call at ``submit``, in the calling process."""

    def submit(self, fn, /, *args, **kwargs):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - delivered through the future, as a pool would
            if isinstance(error, KeyboardInterrupt):
                raise
            future.set_exception(error)
        return future


class ExecutorKind:
    """An executor kind: :meth:`open` yields a ready ``concurrent.futures.Executor`` and cleans up after."""

    name = ""

    def open(self, workers: int | None = None):  # pragma: no cover - interface
        """Context manager yielding an executor with ``workers`` workers (``None``: the kind's default)."""
        raise NotImplementedError

    def check(self, workers: int | None) -> int | None:
        """Validate ``workers`` for this kind (before any work); return it."""
        return _check_workers(workers)

    def describe(self, workers: int | None) -> dict:
        """Provenance: what ran the tasks."""
        return {"executor": self.name, "workers": workers}


class Serial(ExecutorKind):
    """Tasks run in this process, in order."""

    name = "serial"

    def check(self, workers):
        if _check_workers(workers) not in (None, 1):
            raise ConfigurationError(f"workers = {workers} is outside the valid range: the serial executor has 1 worker")
        return workers

    @contextlib.contextmanager
    def open(self, workers=None):
        self.check(workers)
        yield SerialExecutor()

    def describe(self, workers):
        return {"executor": self.name, "workers": 1}


class Local(ExecutorKind):
    """A ``ProcessPoolExecutor`` (forkserver processes) with one worker per core by default."""

    name = "local"

    @contextlib.contextmanager
    def open(self, workers=None):
        workers = self.check(workers) or cores()
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                                                      initializer=pin_blas_threads)
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def describe(self, workers):
        return {"executor": self.name, "workers": workers or cores()}


class Dask(ExecutorKind):
    """dask.distributed: a ``LocalCluster`` (no ``scheduler``) or the cluster at ``scheduler``.

    Parameters
    ----------
    scheduler : str, optional
        Scheduler address such as ``"tcp://10.0.0.5:8786"``. Without it a ``LocalCluster`` of
        ``workers`` single-threaded worker processes (default one per core) is started and closed.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None):
        self.scheduler = scheduler

    def check(self, workers):
        workers = _check_workers(workers)
        if self.scheduler is not None and workers is not None:
            raise ConfigurationError("--workers applies to a LocalCluster; with --scheduler the cluster has its workers")
        return workers

    @contextlib.contextmanager
    def open(self, workers=None):
        workers = self.check(workers)
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigurationError("the dask executor needs dask.distributed: pip install 'wave-substrate[dask]'") from None
        import logging

        with contextlib.ExitStack() as stack:
            if self.scheduler is None:
                cluster = stack.enter_context(LocalCluster(n_workers=workers or cores(), threads_per_worker=1,
                                                           processes=True, dashboard_address=None,
                                                           silence_logs=logging.CRITICAL))  # shutdown races log benign errors
                client = stack.enter_context(Client(cluster))
            else:
                client = stack.enter_context(Client(self.scheduler))
                # dask raises when its required packages differ between client, scheduler and workers,
                # and warns for the others (numpy, ...); substrate's version is compared too
                client.get_versions(check=True, packages=["substrate"])
            client.run(pin_blas_threads)  # nanny workers start with one BLAS thread; pin in any case
            yield client.get_executor()

    def describe(self, workers):
        return {"executor": self.name, "workers": workers or (None if self.scheduler else cores()),
                "scheduler": self.scheduler}


#: the ``--executor`` names
EXECUTORS = {"serial": Serial, "local": Local, "dask": Dask}


def executor_kind(name: str | ExecutorKind = "local", scheduler: str | None = None) -> ExecutorKind:
    """The executor kind called ``name`` (``scheduler`` only for ``"dask"``); an ExecutorKind passes through."""
    if isinstance(name, ExecutorKind):
        return name
    if name not in EXECUTORS:
        raise ConfigurationError(f"executor = {name!r} is unknown; valid: {sorted(EXECUTORS)}")
    if scheduler is not None and name != "dask":
        raise ConfigurationError(f"a scheduler address is for the dask executor, not {name!r}")
    return Dask(scheduler) if name == "dask" else EXECUTORS[name]()
