"""Subcommands of the ``substrate`` command line, one module each with ``register(subparsers)``."""
