"""``substrate train``: train a network on the substrate from a config file or a built-in task."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import ConfigurationError
from ..io import read_text
from .overrides import add_argument as add_overrides


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a network on the substrate (config.toml, config.json or a built-in task name)",
        description="Train on the substrate and write a run directory: config.json (resolved config), "
        "checkpoint.npz, metrics.json, params.npz and figures. Ctrl-C writes a checkpoint; "
        "--resume RUN_DIR continues it. Built-in tasks: xor, moons, circles, teacher, digits.",
    )
    parser.add_argument("config", nargs="?", help="a .toml/.json config file or a built-in task name")
    parser.add_argument("--out", default=None, help="run directory (default runs/<task>)")
    parser.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue an interrupted run")
    parser.add_argument("--force", action="store_true", help="reuse a run directory that holds results")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--data", default=None, metavar="FILE",
                        help="train on your own data: .npz with x, y (optional x_test, y_test) or .csv with a "
                        "'label' column; network.sizes takes the file's input and output widths")
    add_overrides(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..learning import TrainingInterrupted
    from ..learning.config import load_config, resolve
    from ..learning.run import RUN_FILE
    from ..learning.run import run as run_config

    if args.resume:
        run_dir = Path(args.resume)
        if args.config or args.data or args.overrides:
            raise ConfigurationError("--resume RUN_DIR continues a run as it was configured: give no config, --data or --set")
        if not (run_dir / "config.json").is_file():
            raise ConfigurationError(f"--resume {run_dir}: no config.json there (not a run directory)")
        try:
            config = resolve(json.loads(read_text(run_dir / "config.json", "config file")))
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"{run_dir / 'config.json'} is not valid JSON: {error}") from None
    else:
        if not args.config and not args.data:
            raise ConfigurationError("name a config file or a built-in task (xor, moons, circles, teacher, digits), or --data FILE")
        config = load_config(args.config or "file")
        if args.data:
            from ..datafile import config_with_data

            config = resolve(config_with_data(config, args.data))
        if args.overrides:
            from .overrides import apply_overrides

            config = resolve(apply_overrides(config, args.overrides))
        run_dir = Path(args.out or Path("runs") / config["data"]["name"])
        if any((run_dir / name).exists() for name in ("metrics.json", "checkpoint.npz", RUN_FILE)):
            if not args.force:
                raise ConfigurationError(
                    f"--out {run_dir} already holds a run; pass --force to overwrite or --resume {run_dir} to continue"
                )
    try:
        summary = run_config(config, run_dir, resume=bool(args.resume), progress=not args.no_progress)
    except TrainingInterrupted as interrupted:
        print(f"substrate train: {interrupted}", file=sys.stderr)
        return exit_status(interrupted)
    print(report(summary))
    return 0


def exit_status(interrupted) -> int:
    """128 + the signal number: 130 after Ctrl-C (SIGINT), 143 after SIGTERM."""
    return 143 if getattr(interrupted, "signal", "SIGINT") == "SIGTERM" else 130


def report(summary: dict) -> str:
    """A few lines saying what a run did and where its results are."""
    accuracy = summary["test_accuracy"]
    lines = [
        f"trained {summary['task']} ({summary['n_train']} train / {summary['n_test']} test samples) on the "
        f"{summary['substrate']} substrate, network {summary['sizes']}, {summary['schedule']} schedule, "
        f"port {summary['port']['kind']}",
        f"  {summary['steps']} port updates in {summary['epochs']} epochs ("
        f"{summary['wave_steps']} {'wave steps' if summary['substrate'] == 'worldsheet' else 'RC time constants'}), "
        f"{summary['seconds']:.1f} s (all segments)",
        f"  final train loss {summary['train_loss']:.4g}, "
        + (f"test loss {summary['test_loss']:.4g}" if summary["test_loss"] is not None else "no test set")
        + (f", test accuracy {100 * accuracy:.1f} %" if accuracy is not None else ""),
    ]
    if summary["gradient_error"] is not None:
        lines.append(f"  gradient error at the last update: {summary['gradient_error']:.2e} (relative, port efforts "
                     "against backprop of the same minibatch)")
    lines += [f"results in {summary['run_dir']}/ (run {summary['run_id']}):"]
    lines += [f"  {Path(name).name}" for name in summary["files"]]
    return "\n".join(lines)
