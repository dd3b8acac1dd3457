"""``substrate line``: simulate a line network described by a TOML file; write waveforms and figures."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .overrides import add_argument as add_overrides


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "line",
        help="simulate a transmission-line network from a TOML config; write CSV, bounce diagram, V(s,t) map",
        description="Simulate the lines and terminations of a TOML config (format: docs/lines.md) by the method "
        "of lines and write ports.csv, bounce.png, field.png and summary.json into the output folder.",
    )
    parser.add_argument("config", help="TOML configuration file")
    parser.add_argument("--out", default=None,
                        help="output folder (default: <config folder>/<config name>_out)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_overrides(parser)
    parser.add_argument("--touchstone", action="store_true",
                        help="also write the exact S-parameters of the lines (ports = the terminated nodes) as "
                        "<config name>.sNp through scikit-rf")
    parser.add_argument("--frequency", nargs=3, type=float, default=(1e6, 10e9, 1000), metavar=("START", "STOP", "POINTS"),
                        help="linear frequency sweep of --touchstone in Hz (default 1e6 10e9 1000)")
    parser.add_argument("--z0", type=float, default=50.0, help="reference impedance of --touchstone in ohm (default 50)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..distributed.config import load_config
    from ..progress import Phases
    from ..distributed.mol import simulate
    from ..distributed.output import write_line_outputs, write_touchstone
    from ..errors import ConfigurationError, check_positive
    from ..io import check_output_folder
    from ..resources import check_memory, line_memory

    config = Path(args.config)
    network, options = load_config(config, args.overrides)  # reads (UTF-8 checked) and validates before any work
    if args.touchstone:
        start, stop, points = args.frequency
        if not (0 < start < stop) or points != int(points) or points < 2:
            raise ConfigurationError(f"--frequency START STOP POINTS = {start:g} {stop:g} {points:g} needs "
                                     f"0 < START < STOP (Hz) and an integer POINTS >= 2")
        check_positive("--z0 (ohm)", args.z0)
    out = Path(args.out) if args.out else config.parent / f"{config.stem}_out"
    check_output_folder(out)
    check_memory(line_memory(network, options))
    with Phases(["simulate", "write outputs"], not args.no_progress, label="line") as bar:
        solution = simulate(network, **options)
        bar.next()
        result = write_line_outputs(solution, out, title=f"{config.name}: {len(network.lines)} line(s)")
    summary = result["summary"]
    print(f"simulated {len(network.lines)} line(s), {len(network.ports)} port(s) to t = {summary['t_end_s']:.4g} s")
    for port, v in summary["final_port_voltage_V"].items():
        print(f"  port {port:>10}: final V = {v: .6f} V, peak |V| = {summary['peak_port_voltage_V'][port]:.6f} V")
    print(f"energy: injected {summary['injected_J']:.4e} J, stored {summary['stored_J']:.4e} J, "
          f"dissipated {summary['dissipated_J']:.4e} J, balance error {summary['energy_balance_error']:.2e}")
    paths = dict(result["paths"])
    if args.touchstone:
        from ..distributed.frequency import scattering

        s_parameters = scattering(network, np.linspace(start, stop, int(points)), z0=args.z0)
        paths["touchstone"] = write_touchstone(s_parameters, out, config.stem)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
