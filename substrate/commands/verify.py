"""``substrate verify``: run an exported netlist in ngspice and compare it with the native simulator."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="run an exported netlist in ngspice and compare with the native simulation",
        description="Run NETLIST (or the one .cir in RUN_DIR) with ngspice and compare it with the project's own "
        "simulation of the same circuit (forward pass, crossbar model, delay-line trainer or dyadic relaxation). "
        "Exit status 0 when the difference is within tolerance and ngspice printed no warnings, 1 otherwise.",
    )
    parser.add_argument("path", metavar="NETLIST_OR_RUN_DIR", nargs="+",
                        help="one netlist or run directory; several, or a folder of several .cir: a summary table "
                        "(substrate.sweeps.verify_many, options below)")
    many = parser.add_argument_group("many netlists (substrate.sweeps.verify_many)")
    many.add_argument("--executor", choices=["serial", "local", "dask"], default="local")
    many.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    many.add_argument("--scheduler", metavar="ADDRESS", default=None, help="dask scheduler address")
    many.add_argument("--timeout", type=float, default=600.0, help="seconds per netlist (default 600)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest accepted difference (default per format: 1e-6 relative for spice, the "
                        "finite-gain error for crossbar, 0.02 of each trajectory's range for tline-trainer, "
                        "1e-3 V for rc-trainer, half a sample of accuracy for a test bench)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from circuits.export import verify

    from ..sweeps.verify import netlists, run_many

    if len(args.path) > 1 or len(netlists(args.path)) > 1:
        return run_many(args)
    report = verify(args.path[0], args.tolerance, progress=not args.no_progress)
    print(f"netlist: {report['netlist']}")
    print(f"format: {report['format'] or 'plain netlist (no .json sidecar: ngspice run only)'}")
    print(f"ngspice points: {report['points']}")
    print(f"ngspice warnings: {len(report['warnings'])}")
    for line in report["warnings"]:
        print(f"  {line}")
    if "accuracy" in report:
        print(f"test accuracy: ngspice .meas {report['accuracy']:.6f}, net.forward {report['expected_accuracy']:.6f}")
    if report["error"] is not None:
        print(f"difference from native: {report['error']:.3e} (tolerance {report['tolerance']:.3e})")
    print("PASS" if report["passed"] else "FAIL")
    return 0 if report["passed"] else 1
