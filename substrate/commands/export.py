"""``substrate export``: write a saved network as a SPICE netlist (inference or trainer)."""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import ConfigurationError


def _vector(text: str, name: str) -> np.ndarray:
    try:
        return np.array([float(part) for part in text.split(",")])
    except ValueError:
        raise ConfigurationError(f"{name} = {text!r} must be comma-separated numbers such as 0.5,-1") from None


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a saved network (RUN_DIR/params.npz) as an ngspice netlist",
        description="Write RUN_DIR's network as a circuit: 'spice' (behavioural inference), 'crossbar' "
        "(conductance pairs, transimpedance amplifiers; also devices.csv/json), 'tline-trainer' "
        "(transmission lines and parameter capacitors that train in ngspice), 'rc-trainer' (lumped "
        "dyadic relaxation) or, with --testbench, the network as a .subckt plus a test bench whose .meas "
        "reports the accuracy on --data. A .json sidecar records how, for 'substrate verify'.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="folder holding params.npz (or the .npz file)")
    parser.add_argument("--format", default=None, choices=["spice", "crossbar", "tline-trainer", "rc-trainer", "testbench"])
    parser.add_argument("--testbench", action="store_true",
                        help="the network as .subckt 'network' (pins in0.., out0..) and a test bench: a .dc sweep of "
                        "input 0 and a .tran through the samples of --data (x, integer labels y) whose .meas prints "
                        "the accuracy (same as --format testbench)")
    parser.add_argument("--out", default=None, help="netlist path (default RUN_DIR/<format>.cir)")
    parser.add_argument("--input", default=None, help="inference input sample, comma-separated (default zeros)")
    parser.add_argument("--data", default=None,
                        help="trainers: .npz file with arrays x (batch, n0) and y; test bench: x and integer labels y")
    parser.add_argument("--device-table", default="npz", choices=["npz", "csv"],
                        help="crossbar device table format (default npz: compact)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--loss", default="mse", choices=["mse", "cross_entropy"])
    parser.add_argument("--r-unit", type=float, default=None, help="crossbar unit resistance in ohm (default 1e4)")
    parser.add_argument("--gain", type=float, default=None, help="crossbar op-amp open-loop gain (default 1e7)")
    parser.add_argument("--td", type=float, default=None, help="tline-trainer line delay in s (default 1e-9)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="tline-trainer port learning rate 1/(RC) in 1/s (default: frozen parameters)")
    parser.add_argument("--t-stop", type=float, default=None, help="trainers: simulated time in s")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from circuits.export import export

    if args.testbench:
        if args.format not in (None, "testbench"):
            raise ConfigurationError(f"--testbench exports a test bench; it does not combine with --format {args.format}")
        args.format = "testbench"
    if args.format is None:
        raise ConfigurationError("name a --format (spice, crossbar, tline-trainer, rc-trainer, testbench) or --testbench")

    from ..learning.run import check_run_dir

    check_run_dir(args.run_dir)  # refuse a params.npz left over from an earlier run in the same folder
    x = y = None
    if args.input is not None:
        x = _vector(args.input, "--input")
    if args.data is not None:
        try:
            with np.load(args.data, allow_pickle=False) as data:
                x, y = data["x"], data["y"]
        except (OSError, KeyError, ValueError) as error:
            raise ConfigurationError(f"--data = {args.data!r}: needs an .npz with arrays 'x' and 'y' ({error})") from None
    options = {"spice": {}, "crossbar": {"r_unit": args.r_unit, "gain": args.gain},
               "tline-trainer": {"td": args.td, "learning_rate": args.learning_rate, "t_stop": args.t_stop},
               "rc-trainer": {"t_stop": args.t_stop}, "testbench": {}}[args.format]
    given = {"--r-unit": args.r_unit, "--gain": args.gain, "--td": args.td, "--learning-rate": args.learning_rate,
             "--t-stop": args.t_stop}
    allowed = {"spice": set(), "crossbar": {"--r-unit", "--gain"}, "tline-trainer": {"--td", "--learning-rate", "--t-stop"},
               "rc-trainer": {"--t-stop"}, "testbench": set()}[args.format]
    stray = sorted(flag for flag, value in given.items() if value is not None and flag not in allowed)
    if stray:
        raise ConfigurationError(f"{', '.join(stray)} do not apply to --format {args.format}")
    written = export(args.run_dir, args.format, out=args.out, x=x, y=y, loss=args.loss, progress=not args.no_progress,
                     device_table=args.device_table, **options)
    for label, path in written.items():
        print(f"{label}: {path}")
    return 0
