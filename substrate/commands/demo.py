"""``substrate demo``: the main job. Unlocked (pipelined) training of a built-in task on the worldsheet."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train the two-moons task on the worldsheet with unlocked (pipelined) backprop; write a run directory",
        description="Train a 2-16-16-2 tanh network on two moons on the level-0 worldsheet with the unlocked "
        "(pipelined) schedule: one wave step per port update, a new minibatch every step, inertial (momentum) "
        "ports. Writes a run directory with the resolved config, metrics, parameters and figures.",
    )
    parser.add_argument("--out", default="runs/demo", help="run directory (default runs/demo; overwritten)")
    parser.add_argument("--task", default="moons", choices=["xor", "moons", "circles", "teacher", "digits"],
                        help="built-in task (default moons)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..learning import TrainingInterrupted
    from ..learning.config import load_config
    from ..learning.run import run as run_config
    from .train import exit_status, report

    started = time.perf_counter()
    config = load_config(args.task)
    print(f"substrate demo: training {args.task} on the worldsheet ({config['train']['schedule']} schedule, "
          f"{config['port']['kind']} ports, network {config['network']['sizes']}, {config['train']['epochs']} epochs)",
          flush=True)
    try:
        summary = run_config(config, Path(args.out), progress=not args.no_progress)
    except TrainingInterrupted as interrupted:
        print(f"substrate demo: {interrupted}", file=sys.stderr)
        return exit_status(interrupted)
    print(report(summary))
    depth = len(summary["sizes"]) - 1
    if summary["schedule"] == "pipelined":
        print(f"  unlocked: one wave step per port update, a new minibatch every step; the timescale-separated "
              f"schedule would need 2L = {2 * depth} wave steps per update ({2 * depth * summary['steps']} in all)")
    netlist = export_netlist(Path(args.out))
    print(f"  {Path(netlist).name} (SPICE netlist of the trained network, from circuits.export)")
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0


def export_netlist(run_dir: Path) -> str:
    """Write the trained network's SPICE netlist with :func:`circuits.export.export`; return its path."""
    from circuits.export import export  # the circuit layer is imported only when it is used

    return export(run_dir, "spice")["netlist"]
