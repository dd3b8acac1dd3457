"""Benchmark 5: time per wave step against parameter count and depth; peak memory over 1000 steps."""

from __future__ import annotations

import tracemalloc

import numpy as np

from substrate import MLP, Worldsheet, backprop

from .timing import interleaved

PARAMETER_COUNTS = [1e3, 1e4, 1e5, 1e6, 1e7]
DEPTHS = [2, 4, 8, 16, 32, 64]
BATCH = 16


def _problem(sizes, seed=0):
    rng = np.random.default_rng(seed)
    net = MLP(sizes, activation="tanh", seed=rng)
    x = rng.standard_normal((BATCH, sizes[0]))
    y = rng.standard_normal((BATCH, sizes[-1]))
    return net, x, y


def _time_step(sizes, repeats):
    net, x, y = _problem(sizes)
    sheet = Worldsheet(net, "mse")
    target = sheet.loss.target(y, sizes[-1])
    state = sheet.relax(x, y, 1)
    timed = interleaved(lambda: sheet.step(state, target, with_efforts=True), lambda: backprop(net, x, y, "mse"),
                        repeats=repeats)
    return {"sizes": sizes, "params": net.n_params, "depth": net.depth, "wave_step_s": timed["t_numerator"],
            "backprop_s": timed["t_denominator"], "ratio_to_backprop": timed["ratio"],
            "spread": [timed["q25"], timed["q75"]]}


def peak_memory(steps: int, sizes=(64, 256, 256, 10)) -> int:
    """Peak traced memory in bytes while relaxing ``steps`` wave steps (numpy allocations included)."""
    net, x, y = _problem(list(sizes))
    sheet = Worldsheet(net, "mse")
    tracemalloc.start()
    tracemalloc.reset_peak()
    sheet.relax(x, y, steps)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def run(quick: bool = False) -> dict:
    repeats = 3 if quick else 5
    by_params = []
    for count in PARAMETER_COUNTS:
        width = int(round(np.sqrt(count / 2)))  # two square layers: 2 w^2 + 2 w parameters
        by_params.append(_time_step([width, width, width], repeats))
    by_depth = [_time_step([32] * (depth + 1), repeats) for depth in DEPTHS]
    peak_100, peak_1000 = peak_memory(100), peak_memory(1000)
    return {
        "name": "scaling",
        "by_params": by_params,
        "by_depth": by_depth,
        "peak_memory_100_steps_bytes": peak_100,
        "peak_memory_1000_steps_bytes": peak_1000,
        "memory_ratio_1000_to_100": peak_1000 / peak_100,
        "summary": "wave step / backprop {:.2f} to {:.2f}; peak memory over 1000 steps / over 100: {:.2f}".format(
            min(row["ratio_to_backprop"] for row in by_params + by_depth),
            max(row["ratio_to_backprop"] for row in by_params + by_depth), peak_1000 / peak_100),
        "target": "peak memory flat over 1000 steps (ratio <= 1.05)",
        "meets_target": peak_1000 / peak_100 <= 1.05,
    }
