"""Line-network configurations as TOML (read with :mod:`tomllib`): parsed and validated before any work.

Format (see ``docs/lines.md`` and ``examples/line_config.toml``)::

    [simulation]            # t_end (s, required), cells, method, integrator, samples, rtol, atol, dt
    [lines.<name>]          # from, to, and either (impedance, delay[, length]) or (length, inductance,
                            # capacitance); optional resistance (ohm/m), conductance (S/m); cells
    [terminations.<node>]   # type = thevenin | resistor | open | short | capacitor, with its values
    [terminations.<node>.waveform]   # type = step | pulse | pwl | sine | gaussian, with its values

Unknown keys, wrong types and out-of-range values raise :class:`ConfigurationError` naming the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import ConfigurationError, check_type
from .lines import PWL, Capacitor, Gaussian, Line, LineNetwork, Open, Pulse, Resistor, Short, Sine, Step, Thevenin
from .mol import INTEGRATORS, METHODS

__all__ = ["load_config", "parse_config"]

_NUMBER = (int, float)

SIMULATION_KEYS = {"t_end": _NUMBER, "cells": int, "method": str, "integrator": str, "samples": int,
                   "rtol": _NUMBER, "atol": _NUMBER, "dt": _NUMBER}
LINE_KEYS = {"from": str, "to": str, "impedance": _NUMBER, "delay": _NUMBER, "length": _NUMBER,
             "inductance": _NUMBER, "capacitance": _NUMBER, "resistance": _NUMBER, "conductance": _NUMBER,
             "cells": int}
TERMINATIONS = {
    "thevenin": {"type": str, "resistance": _NUMBER, "waveform": dict},
    "resistor": {"type": str, "ohms": _NUMBER},
    "open": {"type": str},
    "short": {"type": str},
    "capacitor": {"type": str, "farads": _NUMBER},
}
WAVEFORMS = {
    "step": (Step, {"amplitude": _NUMBER, "delay": _NUMBER, "rise": _NUMBER}),
    "pulse": (Pulse, {"amplitude": _NUMBER, "delay": _NUMBER, "rise": _NUMBER, "width": _NUMBER, "fall": _NUMBER}),
    "pwl": (PWL, {"times": list, "values": list}),
    "sine": (Sine, {"amplitude": _NUMBER, "frequency": _NUMBER, "phase": _NUMBER, "offset": _NUMBER, "delay": _NUMBER}),
    "gaussian": (Gaussian, {"amplitude": _NUMBER, "center": _NUMBER, "width": _NUMBER}),
}


def _check_table(where: str, table, schema: dict, required=()) -> dict:
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(schema))
    if unknown:
        raise ConfigurationError(f"unknown key {where}.{unknown[0]}; valid keys: {sorted(schema)}")
    for key in required:
        if key not in table:
            raise ConfigurationError(f"missing key {where}.{key}")
    for key, value in table.items():
        check_type(f"{where}.{key}", value, schema[key])
    return table


def _build(where: str, factory, **kwargs):
    try:
        return factory(**kwargs)
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {error}") from None


def _waveform(where: str, table):
    if not isinstance(table, dict) or "type" not in table:
        raise ConfigurationError(f"{where} needs a table with type = one of {sorted(WAVEFORMS)}")
    kind = table["type"]
    if kind not in WAVEFORMS:
        raise ConfigurationError(f"{where}.type = {kind!r} is not one of {sorted(WAVEFORMS)}")
    factory, schema = WAVEFORMS[kind]
    _check_table(where, table, {"type": str, **schema}, required=("times", "values") if kind == "pwl" else ())
    values = {k: v for k, v in table.items() if k != "type"}
    return _build(where, factory, **values)


def parse_config(data: dict) -> tuple[LineNetwork, dict]:
    """Return ``(network, simulate_keywords)`` from a parsed TOML mapping."""
    _check_table("config", data, {"simulation": dict, "lines": dict, "terminations": dict},
                 required=("simulation", "lines", "terminations"))
    sim = dict(_check_table("simulation", data["simulation"], SIMULATION_KEYS, required=("t_end",)))
    if "method" in sim and sim["method"] not in METHODS:
        raise ConfigurationError(f"simulation.method = {sim['method']!r} is not one of {list(METHODS)}")
    integrators = list(INTEGRATORS)
    if "integrator" in sim and sim["integrator"] not in integrators:
        raise ConfigurationError(f"simulation.integrator = {sim['integrator']!r} is not one of {integrators}")
    for key, low in (("t_end", 0.0), ("rtol", 0.0), ("atol", 0.0), ("dt", 0.0)):
        if key in sim and not sim[key] > low:
            raise ConfigurationError(f"simulation.{key} = {sim[key]!r} must be > {low}")
    for key, low in (("cells", 1), ("samples", 2)):
        if key in sim and sim[key] < low:
            raise ConfigurationError(f"simulation.{key} = {sim[key]!r} must be >= {low}")
    if not data["lines"]:
        raise ConfigurationError("[lines] needs at least one [lines.<name>] table")
    lines, cells = {}, {}
    for name, table in data["lines"].items():
        where = f"lines.{name}"
        table = _check_table(where, table, LINE_KEYS, required=("from", "to"))
        losses = {k: table[k] for k in ("resistance", "conductance") if k in table}
        if "impedance" in table or "delay" in table:
            extra = sorted({"inductance", "capacitance"} & set(table))
            if extra:
                raise ConfigurationError(f"{where}: give impedance and delay, or inductance and capacitance, not both ({extra[0]})")
            for key in ("impedance", "delay"):
                if key not in table:
                    raise ConfigurationError(f"missing key {where}.{key}")
            line = _build(where, Line.from_impedance, z0=table["impedance"], delay=table["delay"],
                          length=table.get("length", 1.0), **losses)
        else:
            for key in ("length", "inductance", "capacitance"):
                if key not in table:
                    raise ConfigurationError(f"missing key {where}.{key} (or give impedance and delay)")
            line = _build(where, Line, length=table["length"], inductance=table["inductance"],
                          capacitance=table["capacitance"], **losses)
        if "cells" in table and table["cells"] < 1:
            raise ConfigurationError(f"{where}.cells = {table['cells']!r} must be >= 1")
        cells[name] = table.get("cells", sim.get("cells", 100))
        lines[name] = (line, table["from"], table["to"])
    terminations = {}
    for node, table in data["terminations"].items():
        where = f"terminations.{node}"
        if not isinstance(table, dict) or table.get("type") not in TERMINATIONS:
            kind = table.get("type") if isinstance(table, dict) else table
            raise ConfigurationError(f"{where}.type = {kind!r} is not one of {sorted(TERMINATIONS)}")
        kind = table["type"]
        _check_table(where, table, TERMINATIONS[kind], required=tuple(k for k in TERMINATIONS[kind] if k != "type"))
        if kind == "thevenin":
            terminations[node] = _build(where, Thevenin, waveform=_waveform(f"{where}.waveform", table["waveform"]),
                                        resistance=table["resistance"])
        elif kind == "resistor":
            terminations[node] = _build(where, Resistor, ohms=table["ohms"])
        elif kind == "capacitor":
            terminations[node] = _build(where, Capacitor, farads=table["farads"])
        else:
            terminations[node] = Open() if kind == "open" else Short()
    network = _build("lines/terminations", LineNetwork, lines=lines, terminations=terminations)
    sim.pop("cells", None)
    sim["cells"] = cells
    return network, sim


def load_config(path, overrides=()) -> tuple[LineNetwork, dict]:
    """Read and validate a TOML line configuration; return ``(network, simulate_keywords)``.

    ``overrides``: ``"key=value"`` strings (``--set``, see :mod:`substrate.commands.overrides`) applied
    to the file's tables before validation."""
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"config file {str(path)!r} does not exist")
    try:
        from ..io import read_text

        data = tomllib.loads(read_text(path, "config file"))  # not UTF-8: an error naming the path
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path}: invalid TOML: {error}") from None
    if overrides:
        from ..commands.overrides import apply_overrides

        data = apply_overrides(data, overrides)
    return parse_config(data)
