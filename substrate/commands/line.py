"""``substrate line``: simulate a line network described by a TOML file; write waveforms and figures."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..distributed.config import load_config
    from ..distributed.mol import simulate
    from ..distributed.output import write_line_outputs
    from ..io import check_output_folder, read_text
    from ..resources import check_memory, line_memory

    config = Path(args.config)
    read_text(config, "config file")  # a missing, unreadable or non-UTF-8 file: one clear line
    network, options = load_config(config)  # validates everything before any work
    out = Path(args.out) if args.out else config.parent / f"{config.stem}_out"
    check_output_folder(out)
    check_memory(line_memory(network, options))
    solution = simulate(network, **options)
    result = write_line_outputs(solution, out, title=f"{config.name}: {len(network.lines)} line(s)")
    summary = result["summary"]
    print(f"simulated {len(network.lines)} line(s), {len(network.ports)} port(s) to t = {summary['t_end_s']:.4g} s")
    for port, v in summary["final_port_voltage_V"].items():
        print(f"  port {port:>10}: final V = {v: .6f} V, peak |V| = {summary['peak_port_voltage_V'][port]:.6f} V")
    print(f"energy: injected {summary['injected_J']:.4e} J, stored {summary['stored_J']:.4e} J, "
          f"dissipated {summary['dissipated_J']:.4e} J, balance error {summary['energy_balance_error']:.2e}")
    for name, path in result["paths"].items():
        print(f"{name}: {path}")
    return 0
