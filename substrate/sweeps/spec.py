"""Sweep files: a base training config plus a ``[sweep]`` table, validated and expanded into tasks.

A sweep file holds the tables of ``substrate train`` (``[data]``, ``[network]``, ``[port]``,
``[train]``) as the base config and a ``[sweep]`` table::

    [sweep]
    samples = 200                  # Monte Carlo draws (tasks) per grid point, >= 1
    seed = 0                       # root of every task seed
    seed_keys = ["train.seed", "port.seed"]   # config keys that receive a task's own seeds
    time_limit = 600.0             # s per task (cooperative: checked after every port update)
    chunk = 1                      # tasks per submitted job (never across grid points)
    threshold = 0.95               # yield: fraction of tasks with test accuracy >= threshold
    yield_axis = "port.resistance_tolerance"  # x axis of the yield curve (default: first grid axis)
    [sweep.grid]                   # full-factorial axes: dotted config key -> list of values
    "port.resistance_tolerance" = [0.0, 0.1]
    [sweep.random]                 # Monte Carlo: dotted config key -> distribution
    "port.resistance" = { distribution = "normal", mean = 4.0, std = 0.2 }

Tasks are numbered grid point by grid point (the grid in file order, last axis fastest), ``samples``
tasks per point. Task ``k`` gets the ``k``-th child of ``numpy.random.SeedSequence(seed).spawn(n)``;
its recorded seed (``task_seed``, < 2**63) determines everything random about the task: the
``[sweep.random]`` draws and the values written into ``seed_keys``. So a task's results depend only
on the sweep file and its index, never on which worker ran it or when.
"""

from __future__ import annotations

import copy
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigurationError, check_range, check_type
from ..learning.config import build, resolve

__all__ = ["SweepSpec", "Task", "load_sweep", "read_sweep_table", "DISTRIBUTIONS", "Normal", "Uniform", "LogNormal"]

_TABLES = ("data", "network", "port", "train")


# --- distributions of [sweep.random] ------------------------------------------------------------------
class Distribution:
    """A law for one swept value; subclasses name their parameters and draw from a Generator."""

    name = ""
    parameters: tuple[str, ...] = ()

    def __init__(self, key: str, table: dict):
        self.key = key
        unknown = sorted(set(table) - set(self.parameters) - {"distribution"})
        if unknown:
            raise ConfigurationError(f"sweep.random.{key!r}.{unknown[0]} is not a parameter of the {self.name} "
                                     f"distribution; valid: {list(self.parameters)}")
        for name in self.parameters:
            if name not in table:
                raise ConfigurationError(f"sweep.random.{key!r}.{name} is required for the {self.name} distribution")
            check_type(f"sweep.random.{key!r}.{name}", table[name], (int, float))
            check_range(f"sweep.random.{key!r}.{name}", table[name])  # finite
        self.values = {name: float(table[name]) for name in self.parameters}
        self._check()

    def _check(self) -> None:  # pragma: no cover - overridden
        pass

    def draw(self, rng: np.random.Generator) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"distribution": self.name, **self.values}


class Normal(Distribution):
    """``mean + std * N(0, 1)``; ``std >= 0``."""

    name = "normal"
    parameters = ("mean", "std")

    def _check(self):
        check_range(f"sweep.random.{self.key!r}.std", self.values["std"], 0.0, None)

    def draw(self, rng):
        return float(self.values["mean"] + self.values["std"] * rng.standard_normal())


class Uniform(Distribution):
    """Uniform on ``[low, high]``; ``low <= high``."""

    name = "uniform"
    parameters = ("low", "high")

    def _check(self):
        check_range(f"sweep.random.{self.key!r}.high", self.values["high"], self.values["low"], None)

    def draw(self, rng):
        return float(rng.uniform(self.values["low"], self.values["high"]))


class LogNormal(Distribution):
    """``median * exp(sigma * N(0, 1))``: a positive value with relative spread ``sigma``; ``median > 0``, ``sigma >= 0``."""

    name = "lognormal"
    parameters = ("median", "sigma")

    def _check(self):
        check_range(f"sweep.random.{self.key!r}.median", self.values["median"], 0.0, None, low_inclusive=False)
        check_range(f"sweep.random.{self.key!r}.sigma", self.values["sigma"], 0.0, None)

    def draw(self, rng):
        return float(self.values["median"] * np.exp(self.values["sigma"] * rng.standard_normal()))


DISTRIBUTIONS = {cls.name: cls for cls in (Normal, Uniform, LogNormal)}


# --- tasks --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One training run of a sweep: a resolved config and what the sweep set in it.

    Attributes
    ----------
    index : int
        Task id (row of ``results.csv``), in task order.
    point : int
        Grid point index.
    sample : int
        Monte Carlo sample index within the grid point.
    seed : int
        The task seed (``< 2**63``), from ``SeedSequence(sweep.seed).spawn(n)[index]``.
    values : dict
        Dotted key -> value for every swept key (grid, random, seed keys), in column order.
    config : dict
        The resolved training config of this task.
    """

    index: int
    point: int
    sample: int
    seed: int
    values: dict
    config: dict = field(repr=False)


def _set(config: dict, key: str, value) -> None:
    table, name = key.split(".", 1)
    config.setdefault(table, {})[name] = value


def _check_key(where: str, key) -> str:
    check_type(where, key, str)
    table, _, name = key.partition(".")
    if table not in _TABLES or not name or "." in name:
        raise ConfigurationError(f"{where} = {key!r} is not a dotted config key 'table.key' with table in {list(_TABLES)}")
    return key


_SWEEP_KEYS = ("samples", "seed", "seed_keys", "time_limit", "chunk", "threshold", "yield_axis", "grid", "random",
               "runner")


class SweepSpec:
    """A validated sweep: base config, grid axes, random laws and run settings.

    Build it with :func:`load_sweep`. Everything is checked here, before any task starts: unknown
    keys, empty grid axes, ``samples < 1``, negative spreads, and every task's config (resolved as
    ``substrate train`` would, naming the offending key and task).

    Attributes
    ----------
    base : dict
        The resolved base config (no sweep values applied).
    grid : dict
        Dotted key -> list of values (full factorial, file order).
    random : dict
        Dotted key -> :class:`Distribution`.
    samples, seed, chunk : int
    runner : str
        What runs a chunk: ``"train"`` (:class:`~substrate.sweeps.runners.TrainRunner`, default) or
        ``"tline-batch"`` (:class:`~substrate.sweeps.runners.TLineBatchRunner`).
    seed_keys : list of str
    time_limit : float
        Seconds per task.
    threshold : float
        Test-accuracy threshold of the yield curve, in [0, 1].
    yield_axis : str or None
    tasks : list of Task
    """

    def __init__(self, table: dict):
        if not isinstance(table, dict):
            raise ConfigurationError(f"a sweep must be a table, got {type(table).__name__}")
        table = copy.deepcopy(table)
        if "sweep" not in table:
            raise ConfigurationError("a sweep file needs a [sweep] table (samples, seed, grid, random, ...)")
        sweep = check_type("sweep", table.pop("sweep"), dict)
        unknown = sorted(set(sweep) - set(_SWEEP_KEYS))
        if unknown:
            raise ConfigurationError(f"sweep.{unknown[0]} is not a valid key; valid: {sorted(_SWEEP_KEYS)}")
        base = table
        self.base = resolve(base)  # the base config alone is valid (names the key otherwise)
        self.samples = _integer("sweep.samples", sweep.get("samples", 1), 1)
        self.seed = _integer("sweep.seed", sweep.get("seed", 0), 0)
        self.chunk = _integer("sweep.chunk", sweep.get("chunk", 1), 1)
        from .runners import RUNNERS

        self.runner = check_type("sweep.runner", sweep.get("runner", "train"), str)
        if self.runner not in RUNNERS:
            raise ConfigurationError(f"sweep.runner = {self.runner!r} is unknown; valid: {sorted(RUNNERS)}")
        self.time_limit = check_range("sweep.time_limit", check_type("sweep.time_limit", sweep.get("time_limit", 600.0),
                                                                     (int, float)), 0.0, None, low_inclusive=False)
        self.threshold = check_range("sweep.threshold", check_type("sweep.threshold", sweep.get("threshold", 0.95),
                                                                   (int, float)), 0.0, 1.0)
        grid = check_type("sweep.grid", sweep.get("grid", {}), dict)
        self.grid = {}
        for key, values in grid.items():
            _check_key("sweep.grid key", key)
            check_type(f"sweep.grid.{key!r}", values, list)
            if not values:
                raise ConfigurationError(f"sweep.grid.{key!r} is empty; give a list of at least 1 value")
            self.grid[key] = list(values)
        random = check_type("sweep.random", sweep.get("random", {}), dict)
        self.random = {}
        for key, law in random.items():
            _check_key("sweep.random key", key)
            check_type(f"sweep.random.{key!r}", law, dict)
            name = law.get("distribution")
            if name not in DISTRIBUTIONS:
                raise ConfigurationError(f"sweep.random.{key!r}.distribution = {name!r} is unknown; "
                                         f"valid: {sorted(DISTRIBUTIONS)}")
            self.random[key] = DISTRIBUTIONS[name](key, law)
        default_seeds = ["train.seed"] + (["port.seed"] if self.base["port"]["kind"] in ("resistive", "inertial") else [])
        self.seed_keys = list(check_type("sweep.seed_keys", sweep.get("seed_keys", default_seeds), list))
        for key in self.seed_keys:
            _check_key("sweep.seed_keys entry", key)
        swept = list(self.grid) + list(self.random) + self.seed_keys
        for key in swept:
            if swept.count(key) > 1:
                raise ConfigurationError(f"{key!r} is swept twice (grid, random and seed_keys must not share keys)")
        self.yield_axis = sweep.get("yield_axis", next(iter(self.grid), None))
        if self.yield_axis is not None and self.yield_axis not in self.grid:
            raise ConfigurationError(f"sweep.yield_axis = {self.yield_axis!r} is not a grid axis; valid: {list(self.grid)}")
        self.source = {**base, "sweep": sweep}  # the tables as given
        self.tasks = self._expand(base)

    # --- expansion ---------------------------------------------------------------------------------
    @property
    def points(self) -> list[dict]:
        """The grid points, in task order: dotted key -> value."""
        return [dict(zip(self.grid, combination)) for combination in itertools.product(*self.grid.values())]

    @property
    def columns(self) -> list[str]:
        """The swept keys, in ``results.csv`` column order (grid, random, seed keys)."""
        return list(self.grid) + list(self.random) + self.seed_keys

    def _expand(self, base: dict) -> list[Task]:
        points = self.points
        children = np.random.SeedSequence(self.seed).spawn(len(points) * self.samples)
        tasks = []
        for index, child in enumerate(children):
            point, sample = divmod(index, self.samples)
            task_seed = int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))
            values = dict(points[point])
            streams = np.random.SeedSequence(task_seed).spawn(1 + len(self.seed_keys))
            rng = np.random.default_rng(streams[0])
            for key, law in self.random.items():
                values[key] = law.draw(rng)
            for key, stream in zip(self.seed_keys, streams[1:]):
                values[key] = int(stream.generate_state(1, np.uint32)[0])
            config = copy.deepcopy(base)
            for key, value in values.items():
                _set(config, key, value)
            try:
                resolved = resolve(config)
            except ConfigurationError as error:
                raise ConfigurationError(f"task {index} ({_describe(values)}): {error}") from None
            tasks.append(Task(index, point, sample, task_seed, values, resolved))
        for point in range(len(points)):  # what resolve cannot see (batch size against the data set)
            task = tasks[point * self.samples]
            try:
                build(task.config)
            except ConfigurationError as error:
                raise ConfigurationError(f"task {task.index} ({_describe(task.values)}): {error}") from None
        return tasks

    def to_dict(self) -> dict:
        """The resolved sweep (JSON-ready): base config and every setting with its default filled in."""
        return {
            "base": self.base, "samples": self.samples, "seed": self.seed, "chunk": self.chunk, "runner": self.runner,
            "time_limit": self.time_limit, "threshold": self.threshold, "yield_axis": self.yield_axis,
            "seed_keys": self.seed_keys, "grid": self.grid,
            "random": {key: law.to_dict() for key, law in self.random.items()},
            "tasks": len(self.tasks), "grid_points": len(self.points),
        }


def _describe(values: dict) -> str:
    return ", ".join(f"{key} = {value!r}" for key, value in values.items())


def _integer(name: str, value, low: int) -> int:
    check_type(name, value, int)
    check_range(name, value, low, None)
    return int(value)


def load_sweep(source) -> SweepSpec:
    """Read and validate a sweep: a ``.toml``/``.json`` file path or an already parsed table.

    Raises
    ------
    ConfigurationError
        Naming the key, value and valid range of the first problem found (before any task runs).
    """
    if isinstance(source, SweepSpec):
        return source
    return SweepSpec(source if isinstance(source, dict) else read_sweep_table(source))


def read_sweep_table(path) -> dict:
    """The parsed tables of a ``.toml`` (or ``.json``) sweep file, not yet validated."""
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"sweep file {str(path)!r} does not exist")
    from ..io import read_text

    text = read_text(path, "sweep file")
    try:
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {error}") from None
