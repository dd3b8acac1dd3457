"""``substrate sweep``: run a sweep file (grid x Monte Carlo over training configs) on an executor."""

from __future__ import annotations

import argparse
import sys

from .overrides import add_argument as add_overrides


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a sweep or Monte Carlo over training configs (serial, local processes or dask)",
        description="Run every task of SWEEP.toml (a substrate train config plus a [sweep] table: samples, seed, "
        "grid, random, time_limit, ...) and write DIR/results.csv, DIR/sweep.json, DIR/accuracy.png and "
        "DIR/yield.png. The results do not depend on the executor or the number of workers. See docs/sweeps.md.",
    )
    parser.add_argument("sweep_file", metavar="SWEEP.toml")
    parser.add_argument("--executor", choices=["serial", "local", "dask"], default="local",
                        help="where tasks run (default local: a process pool, one worker per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="dask scheduler address (tcp://host:8786); default: a LocalCluster")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--out", required=True, metavar="DIR", help="sweep directory")
    parser.add_argument("--resume", action="store_true", help="run only the tasks missing from DIR/results.csv")
    parser.add_argument("--force", action="store_true", help="overwrite a sweep directory that holds results")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_overrides(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..sweeps import sweep

    source = args.sweep_file
    if args.overrides:  # --set sweep.samples=10, --set train.epochs=5: the file's tables, then the overrides
        from ..sweeps.spec import read_sweep_table
        from .overrides import apply_overrides

        source = apply_overrides(read_sweep_table(source), args.overrides)
    try:
        summary = sweep(source, args.out, executor=args.executor, workers=args.workers,
                        scheduler=args.scheduler, resume=args.resume, force=args.force,
                        progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"substrate sweep: interrupted; finished rows are in {args.out}/results.csv; continue with: "
              f"substrate sweep {args.sweep_file} --out {args.out} --resume", file=sys.stderr)
        return 130
    counts = ", ".join(f"{count} {status}" for status, count in sorted(summary["status"].items()))
    rate = summary["tasks_per_second"]
    print(f"swept {summary['tasks']} tasks ({counts}); ran {len(summary['ran'])} now in {summary['seconds']:.1f} s"
          + (f" ({rate:.2f} tasks/s, {summary['executor']['executor']}, {summary['executor']['workers']} workers)"
             if rate else ""))
    print(f"results in {summary['out']}/:")
    for name in summary["files"]:
        print(f"  {name.rsplit('/', 1)[-1]}")
    if summary["lost"]:
        print(f"substrate sweep: {len(summary['lost'])} tasks have no row because a worker process died and broke "
              f"the pool; run them with: substrate sweep {args.sweep_file} --out {args.out} --resume", file=sys.stderr)
        return 1
    return 0
