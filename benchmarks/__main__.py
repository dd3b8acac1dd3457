"""Run every benchmark, print a table, write ``benchmarks/results/latest.json`` and the scaling plot.

Usage (from the repository root, after installing the package)::

    python -m benchmarks            # the full set, 2 to 4 minutes on 2 cores
    python -m benchmarks --quick    # fewer repetitions
    python -m benchmarks --only wave_step scaling
    python -m benchmarks.readme benchmarks/results/latest.json   # then, on purpose: the README table

``benchmarks/results/`` is not tracked (.gitignore): a run never rewrites tracked files. Every
figure is a ratio of two timings taken alternately in the same run (the machine is noisy), the
median of per-round ratios with their spread; absolute times are printed for context only.

A case is a module ``benchmarks/<name>.py`` listed in :data:`CASES` with ``run(quick) -> dict``
holding at least ``name``, ``target`` and ``meets_target``; optional ``summary`` (headline numbers)
and ``explanation`` (why a target is missed) go into the README table.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from substrate.io import write_json

from .timing import blas_threads

CASES = ["wave_step", "pipeline", "digits", "tline_xor", "line_network", "scaling", "nonideal"]
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    info = {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cores": os.cpu_count(),
    }
    try:
        import torch
    except ImportError:
        pass
    else:
        info["torch"] = torch.__version__
    return info


def plot_scaling(result: dict, path: Path) -> None:
    from substrate.plotting import save_figure, subplots

    figure, axes = subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for axis, key, x_key, label in ((axes[0], "by_params", "params", "parameter count"),
                                    (axes[1], "by_depth", "depth", "depth L (layers of width 32)")):
        rows = result[key]
        x = [row[x_key] for row in rows]
        axis.loglog(x, [row["wave_step_s"] for row in rows], "o-", label="worldsheet wave step (with efforts)")
        axis.loglog(x, [row["backprop_s"] for row in rows], "s--", label="numpy backprop pass")
        axis.set_xlabel(label)
        axis.set_ylabel("time per step (s)")
        axis.legend()
        axis.grid(True, which="both", alpha=0.3)
    axes[1].set_xscale("log", base=2)
    axes[1].set_xticks([row["depth"] for row in result["by_depth"]], [str(row["depth"]) for row in result["by_depth"]])
    axes[1].minorticks_off()
    axes[0].set_title("batch 16, two square layers")
    axes[1].set_title("batch 16")
    save_figure(figure, path)


def table(results: dict) -> str:
    lines = []
    for name, result in results.items():
        status = "meets target" if result.get("meets_target") else "MISSES target"
        lines.append(f"== {result['name']} ({name}): target {result.get('target', '-')}: {status}")
        for key in ("summary", "explanation"):
            if result.get(key):
                lines.append(f"   {key}: {result[key]}")
        for row in result.get("rows", []):
            lines.append("   " + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()))
        for key in ("by_params", "by_depth"):
            for row in result.get(key, []):
                lines.append(f"   {key}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()))
        for key, value in result.items():
            if key not in ("name", "rows", "by_params", "by_depth", "target", "meets_target", "summary",
                           "explanation"):
                lines.append(f"   {key} = {_fmt(value)}")
    return "\n".join(lines)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        text = "-".join(map(str, value))
        return text if len(value) <= 6 else f"{value[0]}-...-{value[-1]} (L={len(value) - 1})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", nargs="+", choices=CASES, help="run only these cases")
    parser.add_argument("--out", default=str(RESULTS / "latest.json"), help="JSON results file")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="numpy's BLAS threads for every case (default 1: both sides of a ratio use the same "
                             "BLAS, and one thread keeps a shared machine's thread contention out of the ratios; "
                             "0 leaves BLAS alone)")
    args = parser.parse_args(argv)
    results, started = {}, time.perf_counter()
    with blas_threads(args.blas_threads or None):
        for name in args.only or CASES:
            case_start = time.perf_counter()
            print(f"running {name} ...", flush=True)
            results[name] = importlib.import_module(f"benchmarks.{name}").run(quick=args.quick)
            results[name]["seconds"] = time.perf_counter() - case_start
    report = {"machine": {**machine(), "blas_threads": args.blas_threads or "default"},
              "total_seconds": time.perf_counter() - started, "results": results}
    write_json(args.out, report)
    if "scaling" in results:
        plot_scaling(results["scaling"], Path(args.out).with_name("scaling.png"))
    print(table(results))
    print(f"total {report['total_seconds']:.0f} s; results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
