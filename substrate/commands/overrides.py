"""``--set key=value``: override configuration keys from the command line (``train``, ``line``, ``sweep``).

A key is a dotted path into the configuration's tables (``train.epochs``, ``lines.feed.impedance``);
a value is read as a TOML value (``5``, ``1e-9``, ``true``, ``[2, 16, 2]``, ``"text"``), and a bare
word that is not one (``tanh``) as a string. The command validates the result like a config file,
so an unknown key or a wrong type is an error naming the key.
"""

from __future__ import annotations

import copy
import re
import tomllib

from ..errors import ConfigurationError

__all__ = ["add_argument", "parse_override", "apply_overrides"]

_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")


def add_argument(parser) -> None:
    """Register ``--set KEY=VALUE`` (repeatable) on an argparse parser."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=5 (repeatable; values are TOML: "
                        "5, 1e-9, true, [2, 16, 2], \"text\")")


def parse_override(text: str) -> tuple[list[str], object]:
    """``"train.epochs=5"`` -> ``(["train", "epochs"], 5)``."""
    key, sep, value = str(text).partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key):
        raise ConfigurationError(f"--set {text!r} must read KEY=VALUE with a dotted key, such as train.epochs=5")
    value = value.strip()
    if not value:
        raise ConfigurationError(f"--set {text!r} has no value after '='")
    try:
        parsed = tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.+-]*", value):
            raise ConfigurationError(
                f"--set {text!r}: {value!r} is not a TOML value (quote text: {key}='\"...\"')") from None
        parsed = value  # a bare word: a string
    return key.split("."), parsed


def apply_overrides(config: dict, overrides) -> dict:
    """A copy of ``config`` with each ``KEY=VALUE`` of ``overrides`` set (tables made as needed)."""
    result = copy.deepcopy(config)
    for text in overrides:
        path, value = parse_override(text)
        table = result
        for depth, part in enumerate(path[:-1]):
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigurationError(f"--set {text!r}: {'.'.join(path[:depth + 1])} is a value, not a table")
            table = child
        table[path[-1]] = value
    return result
