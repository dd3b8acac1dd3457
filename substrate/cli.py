"""The ``substrate`` command line: one subcommand per module in :mod:`substrate.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import SubstrateError

#: subcommand modules in ``substrate.commands``; each defines ``register(subparsers)``
COMMANDS = ["relax", "train", "demo", "line", "export", "verify"]


def _version() -> str:
    from . import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="substrate", description="Simulate physical substrates in which backpropagation is physics."
    )
    parser.add_argument("--version", action="version", version=f"substrate (wave-substrate) {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"substrate.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``substrate`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SubstrateError as error:
        print(f"substrate {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
