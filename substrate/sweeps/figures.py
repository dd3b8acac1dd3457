"""Sweep figures: the test-accuracy distribution per grid point, and the yield curve."""

from __future__ import annotations

import math

import numpy as np

from .driver import column

__all__ = ["plot_accuracy", "plot_yield", "yield_table", "wilson_interval"]


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial fraction (default 95 %); ``(nan, nan)`` without trials."""
    if trials == 0:
        return math.nan, math.nan
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return centre - half, centre + half


def _label(point: dict) -> str:
    return "\n".join(f"{key} = {value}" for key, value in point.items()) or "base config"


def _metric(rows):
    accuracy = column(rows, "test_accuracy")
    if np.all(np.isnan(accuracy)):  # regression tasks: no accuracy, show the test loss
        return column(rows, "test_loss"), "final test loss (dimensionless)", 1.0
    return accuracy * 100, "final test accuracy (%)", 100.0


def plot_accuracy(spec, rows: dict[int, dict], path):
    """Distribution of the final test accuracy over the Monte Carlo samples of each grid point."""
    from ..plotting import save_figure, subplots

    values, ylabel, _ = _metric(rows)
    points_of = np.array([int(rows[i]["point"]) for i in sorted(rows)], dtype=int)
    ok = np.array([rows[i]["status"] == "ok" for i in sorted(rows)], dtype=bool)
    points = spec.points
    figure, axis = subplots(figsize=(max(6.0, 1.6 * len(points) + 2), 4.8), layout="constrained")
    jitter = np.random.default_rng(0)  # horizontal jitter of the dots only
    for p in range(len(points)):
        data = values[(points_of == p) & ok & ~np.isnan(values)]
        if len(data):
            axis.boxplot([data], positions=[p], widths=0.5, showfliers=False)
            axis.plot(p + jitter.uniform(-0.18, 0.18, len(data)), data, ".", alpha=0.45, ms=4, color="C0")
    axis.set_xticks(range(len(points)))
    axis.set_xticklabels([f"{_label(point)}\n{int(np.sum((points_of == p) & ok))}/{spec.samples} ok"
                          for p, point in enumerate(points)], fontsize=8)
    axis.set_xlim(-0.6, len(points) - 0.4)
    axis.set_xlabel("grid point (swept values; tasks finished ok out of samples)")
    axis.set_ylabel(ylabel)
    axis.set_title(f"{spec.samples} Monte Carlo samples per grid point")
    axis.grid(alpha=0.3, axis="y")
    return save_figure(figure, path)


def yield_table(spec, rows: dict[int, dict]) -> list[dict]:
    """Per grid point: its values, tasks, tasks reaching ``threshold`` test accuracy, yield and 95 % interval.

    A task that failed or timed out counts as not reaching the threshold; missing tasks (not run
    yet) are left out of ``trials``.
    """
    accuracy = column(rows, "test_accuracy")
    ids = sorted(rows)
    table = []
    for p, point in enumerate(spec.points):
        mine = [k for k, i in enumerate(ids) if int(rows[i]["point"]) == p]
        good = int(sum(rows[ids[k]]["status"] == "ok" and accuracy[k] >= spec.threshold for k in mine))
        low, high = wilson_interval(good, len(mine))
        table.append({**point, "trials": len(mine), "reached": int(good),
                      "yield": good / len(mine) if mine else math.nan, "low": low, "high": high})
    return table


def plot_yield(spec, rows: dict[int, dict], path):
    """Fraction of tasks reaching the test-accuracy threshold against the yield axis (95 % Wilson intervals).

    One curve per combination of the other grid axes.
    """
    from ..plotting import save_figure, subplots

    axis_key = spec.yield_axis
    table = yield_table(spec, rows)
    xs = spec.grid[axis_key]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    others = [key for key in spec.grid if key != axis_key]
    figure, axis = subplots(figsize=(6.4, 4.4), layout="constrained")
    groups: dict[tuple, list[dict]] = {}
    for entry in table:
        groups.setdefault(tuple(json_key(entry[key]) for key in others), []).append(entry)
    for group, entries in groups.items():
        x = np.array([entry[axis_key] if numeric else xs.index(entry[axis_key]) for entry in entries], dtype=float)
        y = np.array([entry["yield"] for entry in entries])
        # a yield of 0 or 1 sits on its Wilson bound: rounding can leave the distance at -1e-17
        errors = np.maximum(np.array([[entry["yield"] - entry["low"], entry["high"] - entry["yield"]]
                                      for entry in entries]).T, 0.0)
        label = ", ".join(f"{key} = {value}" for key, value in zip(others, group)) or None
        axis.errorbar(x, 100 * y, yerr=100 * errors, fmt="o-", capsize=3, label=label)
    if not numeric:
        axis.set_xticks(range(len(xs)))
        axis.set_xticklabels([str(x) for x in xs])
    axis.set_xlabel(f"{axis_key} (as in the config)")
    axis.set_ylabel(f"yield: tasks with test accuracy >= {100 * spec.threshold:g} % (%)")
    axis.set_ylim(-3, 103)
    axis.set_title(f"yield over {spec.samples} Monte Carlo samples per point (95 % Wilson intervals)")
    axis.grid(alpha=0.3)
    if others:
        axis.legend(fontsize=8)
    return save_figure(figure, path)


def json_key(value):
    """A hashable stand-in for a grid value (lists become tuples)."""
    return tuple(value) if isinstance(value, list) else value
