"""Yield of the XOR trainer under port-resistor tolerance: a 1000-run Monte Carlo sweep.

Runs ``examples/xor_tolerance.toml`` (5 tolerances x 200 trainers; each trainer draws its own
resistors ``R_i = R (1 + t u_i)``, ``u_i`` uniform in [-1, 1]) on local worker processes, and prints
the yield (fraction of trainers reaching 95 % test accuracy) per tolerance with its 95 % interval.

Run: ``python3 examples/sweep_tolerance.py [OUT_DIR]`` (about a minute on 2 cores); writes
``OUT_DIR/results.csv``, ``sweep.json``, ``accuracy.png`` and ``yield.png``.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import substrate  # noqa: E402
from substrate.sweeps import load_sweep, read_results  # noqa: E402
from substrate.sweeps.figures import yield_table  # noqa: E402

SWEEP = Path(__file__).with_name("xor_tolerance.toml")


def main(out: str = "runs/xor_tolerance", samples: int | None = None, executor: str = "local",
         workers: int | None = None, progress: bool = True) -> dict:
    table = tomllib.loads(SWEEP.read_text(encoding="utf-8"))
    if samples is not None:
        table["sweep"]["samples"] = samples
    summary = substrate.sweep(table, out, executor=executor, workers=workers, progress=progress, force=True)
    rows = read_results(Path(out) / "results.csv")[1]
    summary["yield"] = yield_table(load_sweep(table), rows)
    return summary


if __name__ == "__main__":
    result = main(*sys.argv[1:2])
    print(f"{result['tasks']} trainers in {result['seconds']:.1f} s ({result['tasks_per_second']:.1f} tasks/s)")
    for entry in result["yield"]:
        print(f"tolerance {entry['port.resistance_tolerance']:.1f}: yield {100 * entry['yield']:5.1f} % "
              f"({entry['reached']}/{entry['trials']}, 95 % interval {100 * entry['low']:.1f}-{100 * entry['high']:.1f} %)")
