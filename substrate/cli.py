"""The ``substrate`` command line: one subcommand per module in :mod:`substrate.commands`."""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from .errors import SubstrateError

#: subcommand modules in ``substrate.commands``; each defines ``register(subparsers)``
COMMANDS = ["relax", "train", "demo", "line", "export", "verify", "sweep"]


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


def join_negative_values(argv: list[str]) -> list[str]:
    """``["--input", "-0.5,1"]`` -> ``["--input=-0.5,1"]``: argparse takes a value starting with ``-`` for an option."""
    joined: list[str] = []
    for token in argv:
        if re.match(r"-\.?\d", token) and joined and joined[-1].startswith("--") and "=" not in joined[-1]:
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``substrate`` console script; returns the exit status.

    Errors raised on purpose (:class:`~substrate.errors.SubstrateError`) and operating-system errors
    (read-only folder, full disk, a folder where a file is asked) print one line naming the value or
    the path and return 2.
    """
    args = build_parser().parse_args(join_negative_values(sys.argv[1:] if argv is None else list(argv)))
    try:
        return int(args.run(args) or 0)
    except (SubstrateError, OSError) as error:
        text = f"{error.filename}: {error.strerror}" if isinstance(error, OSError) and error.filename else str(error)
        print(f"substrate {args.command}: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
