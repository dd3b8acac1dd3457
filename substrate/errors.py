"""One exception hierarchy for the whole package.

Every error the package raises on purpose derives from :class:`SubstrateError`. Errors about
user input also derive from :class:`ValueError` so that ordinary ``except ValueError`` code works.
Messages name the offending value and the valid range.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

__all__ = [
    "SubstrateError",
    "ConfigurationError",
    "ShapeError",
    "NumericalError",
    "ResourceError",
    "PathError",
    "SubstrateWarning",
    "check_range",
    "check_positive",
    "check_type",
    "warn",
]


class SubstrateError(Exception):
    """Base class of every error raised on purpose by ``substrate`` and ``circuits``."""


class ConfigurationError(SubstrateError, ValueError):
    """A parameter or configuration value is invalid (wrong type, out of range, unknown name)."""


class ShapeError(SubstrateError, ValueError):
    """An array has the wrong shape for the network or substrate it is given to."""


class NumericalError(SubstrateError, FloatingPointError):
    """A simulation produced NaN or inf; the message names where (step, layer, quantity)."""


class ResourceError(ConfigurationError):
    """A setting asks for more memory than the machine has available (the message names the setting)."""


class PathError(SubstrateError, OSError):
    """A file or folder cannot be used: not writable, a file where a folder is asked, or the reverse."""


class SubstrateWarning(UserWarning):
    """A setting is valid but outside the regime where the physics is well behaved."""


def warn(message: str) -> None:
    """Emit a :class:`SubstrateWarning` attributed to the caller of the public function."""
    warnings.warn(message, SubstrateWarning, stacklevel=3)


def check_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float after checking it is finite and inside the given interval.

    Raises
    ------
    ConfigurationError
        Naming ``name``, the value and the valid interval.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a real number, got {value!r}") from None
    left = "[" if low_inclusive else "("
    right = "]" if high_inclusive else ")"
    interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
    bad = not math.isfinite(number)
    if low is not None:
        bad |= number < low if low_inclusive else number <= low
    if high is not None:
        bad |= number > high if high_inclusive else number >= high
    if bad:
        raise ConfigurationError(f"{name} = {value!r} is outside the valid range {interval}")
    return number


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float after checking it is finite and strictly positive."""
    return check_range(name, value, 0.0, None, low_inclusive=False)


_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}


def check_type(name: str, value: Any, types: type | tuple[type, ...]) -> Any:
    """Return ``value`` after checking ``isinstance(value, types)`` (a bool is never taken as a number).

    Raises
    ------
    ConfigurationError
        Naming ``name``, the value and the expected type (as in a configuration file).
    """
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        expected = "number" if set(types) == {int, float} else " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        raise ConfigurationError(f"{name} = {value!r} has the wrong type: expected {expected}")
    return value
