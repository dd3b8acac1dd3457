"""The circuit data model: elements, subcircuits, analyses and a validated :class:`Netlist`.

Every element is a small frozen dataclass. Values are SI numbers (ohm, farad, henry, volt, ampere,
second) or, inside a :class:`Subckt`, a :class:`Param` reference to one of its parameters.
:meth:`Netlist.validate` (called by the constructor) checks names, nodes and values and raises a
:class:`~substrate.errors.ConfigurationError` that names the offending element, so a netlist that
exists is one that ngspice can read.

Names and node names are restricted to ``[A-Za-z0-9_]`` (element names start with their SPICE type
letter), so no user text can start a new line, a dot command or a control block in the written file;
:func:`sanitize_name` maps arbitrary text onto that alphabet. SPICE is case-insensitive, so duplicates
are detected case-insensitively.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Union

from substrate.errors import ConfigurationError

__all__ = [
    "Param", "Resistor", "Capacitor", "Inductor", "TLine", "LTRA", "VoltageSource", "CurrentSource",
    "DC", "Pulse", "PWL", "Sin", "BSource", "VCVS", "VCCS", "Instance", "Subckt", "Op", "Tran", "DCSweep", "AC",
    "Measure", "Netlist", "sanitize_name", "GROUND",
]

GROUND = "0"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_NODE = re.compile(r"[A-Za-z0-9_]+\Z")
# characters allowed in a behavioural expression: no newline, no quote, no ';', no '$', no '{}'
_EXPRESSION = re.compile(r"[A-Za-z0-9_ .+\-*/(),^<>=!&|?:]+\Z")
_NODE_REFERENCE = re.compile(r"\bv\(\s*([A-Za-z0-9_]+)\s*(?:,\s*([A-Za-z0-9_]+)\s*)?\)", re.IGNORECASE)
_CURRENT_REFERENCE = re.compile(r"\bi\(\s*([A-Za-z0-9_]+)\s*\)", re.IGNORECASE)
_RESERVED = {"v", "i", "time", "temper", "hertz", "pi", "e", "params", "end", "ends", "model", "subckt"}


def sanitize_name(text: str, prefix: str = "") -> str:
    """Map arbitrary text onto a safe SPICE name: ``[A-Za-z0-9_]``, starting with ``prefix``.

    Every other character (spaces, newlines, dots, ``*``, ``;``, unicode) becomes ``_``; an empty
    result becomes ``_``. ``prefix`` (for example the element letter ``"R"``) is prepended unless the
    text already starts with it (case-insensitively).
    """
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", str(text).encode("ascii", "replace").decode("ascii")) or "_"
    if prefix and not cleaned.lower().startswith(prefix.lower()):
        cleaned = prefix + cleaned
    return cleaned


@dataclass(frozen=True)
class Param:
    """A parameter value written ``{name}``: the name of a parameter of the enclosing :class:`Subckt`
    or of the netlist's ``.param`` list, or an expression of such names (``Param("2*rload")``), in the
    characters a behavioural expression may use."""

    name: str


Value = Union[float, Param]


# --- source waveforms ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DC:
    """A constant value (V or A)."""

    value: Value


@dataclass(frozen=True)
class Pulse:
    """``PULSE(v1 v2 td tr tf pw per)``: levels in V or A, times in s (tr, tf, pw, per > 0)."""

    v1: Value
    v2: Value
    td: Value
    tr: Value
    tf: Value
    pw: Value
    per: Value


@dataclass(frozen=True)
class PWL:
    """Piecewise-linear waveform: ``points`` is a tuple of ``(time in s, value)`` with increasing times."""

    points: tuple


@dataclass(frozen=True)
class Sin:
    """``SIN(vo va freq td theta)``: offset and amplitude in V or A, freq in Hz, td in s, theta in 1/s."""

    vo: Value
    va: Value
    freq: Value
    td: Value = 0.0
    theta: Value = 0.0


Waveform = Union[DC, Pulse, PWL, Sin]


# --- elements ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resistor:
    """Resistor ``R`` between ``n1`` and ``n2``; ``value`` in ohm (> 0)."""

    name: str
    n1: str
    n2: str
    value: Value
    letter = "R"


@dataclass(frozen=True)
class Capacitor:
    """Capacitor ``C``; ``value`` in F (> 0); ``ic`` the initial voltage in V (used with ``uic``)."""

    name: str
    n1: str
    n2: str
    value: Value
    ic: float | None = None
    letter = "C"


@dataclass(frozen=True)
class Inductor:
    """Inductor ``L``; ``value`` in H (> 0); ``ic`` the initial current in A (used with ``uic``)."""

    name: str
    n1: str
    n2: str
    value: Value
    ic: float | None = None
    letter = "L"


@dataclass(frozen=True)
class TLine:
    """Lossless transmission line ``T``: ports ``(p1, n1)`` and ``(p2, n2)``; ``z0`` in ohm, ``td`` in s."""

    name: str
    p1: str
    n1: str
    p2: str
    n2: str
    z0: Value
    td: Value
    letter = "T"


@dataclass(frozen=True)
class LTRA:
    """Lossy transmission line ``O`` (ngspice LTRA model), per-unit-length ``r`` (ohm/m), ``l`` (H/m),
    ``g`` (S/m), ``c`` (F/m) and length ``length`` (m).

    Only the combinations ngspice implements correctly are accepted: RLC (``g = 0``, ``c > 0``,
    ``l > 0``), RC (``l = g = 0``), LC (``r = g = 0``) and RG (``l = c = 0``, ``r, g > 0``).
    ``breakpoint_rel`` and ``breakpoint_abs`` are the model's ``rel`` and ``abs`` (ngspice default 1 each):
    how large a change of slope at an end makes LTRA set a time-step breakpoint one delay later. In
    circuits that re-emit what arrives (the trainer's junctions) those breakpoints multiply; large values
    (1e6) turn them off.
    """

    name: str
    p1: str
    n1: str
    p2: str
    n2: str
    r: float
    l: float
    g: float
    c: float
    length: float
    breakpoint_rel: float | None = None
    breakpoint_abs: float | None = None
    letter = "O"


@dataclass(frozen=True)
class VoltageSource:
    """Independent voltage source ``V`` from ``p`` (+) to ``n`` (-); ``waveform`` in V; ``ac`` the
    small-signal amplitude in V of an ``.ac`` analysis (None: no AC drive)."""

    name: str
    p: str
    n: str
    waveform: Waveform
    ac: float | None = None
    letter = "V"


@dataclass(frozen=True)
class CurrentSource:
    """Independent current source ``I``: ``waveform`` in A flowing from ``p`` through the source to ``n``;
    ``ac`` the small-signal amplitude in A of an ``.ac`` analysis (None: no AC drive)."""

    name: str
    p: str
    n: str
    waveform: Waveform
    ac: float | None = None
    letter = "I"


@dataclass(frozen=True)
class BSource:
    """Behavioural source ``B``: ``kind`` ``"V"`` (voltage, V) or ``"I"`` (current, A, from ``p`` to ``n``
    through the source), ``expression`` in the ngspice B-source language (``v(node)``, ``tanh``, ...)."""

    name: str
    p: str
    n: str
    kind: str
    expression: str
    letter = "B"


@dataclass(frozen=True)
class VCVS:
    """Voltage-controlled voltage source ``E``: ``V(p, n) = gain V(cp, cn)`` (gain dimensionless)."""

    name: str
    p: str
    n: str
    cp: str
    cn: str
    gain: Value
    letter = "E"


@dataclass(frozen=True)
class VCCS:
    """Voltage-controlled current source ``G``: ``I = gain V(cp, cn)`` (gain in S) from ``p`` to ``n``."""

    name: str
    p: str
    n: str
    cp: str
    cn: str
    gain: Value
    letter = "G"


@dataclass(frozen=True)
class Instance:
    """Subcircuit instance ``X``: ``nodes`` connect to the ports of subcircuit ``subckt``; ``params`` are
    ``(name, value)`` pairs overriding its defaults."""

    name: str
    nodes: tuple
    subckt: str
    params: tuple = ()
    letter = "X"


Element = Union[Resistor, Capacitor, Inductor, TLine, LTRA, VoltageSource, CurrentSource, BSource, VCVS, VCCS, Instance]
ELEMENT_TYPES = {cls.letter: cls for cls in (Resistor, Capacitor, Inductor, TLine, LTRA, VoltageSource,
                                             CurrentSource, BSource, VCVS, VCCS, Instance)}


@dataclass(frozen=True)
class Subckt:
    """Subcircuit definition: ``ports`` (node names), ``elements`` and parameter defaults ``params``
    (``(name, value)`` pairs). Internal nodes are local to each instance."""

    name: str
    ports: tuple
    elements: tuple
    params: tuple = ()


# --- analyses ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """DC operating point ``.op``."""


@dataclass(frozen=True)
class Tran:
    """Transient ``.tran step stop start tmax [uic]``: times in s; ``uic`` starts from the initial
    conditions (capacitor ``ic`` values, zero elsewhere) instead of an operating point; output is
    saved from ``start`` on."""

    step: float
    stop: float
    tmax: float | None = None
    uic: bool = False
    start: float = 0.0


@dataclass(frozen=True)
class DCSweep:
    """DC sweep ``.dc source start stop step``: the value (V or A) of independent source ``source``
    swept from ``start`` to ``stop`` in increments ``step``."""

    source: str
    start: float
    stop: float
    step: float


@dataclass(frozen=True)
class AC:
    """Small-signal sweep ``.ac variation points start stop``: ``variation`` ``"dec"``, ``"oct"`` or
    ``"lin"``, ``points`` per decade, per octave or in total, frequencies in Hz."""

    variation: str
    points: int
    start: float
    stop: float


@dataclass(frozen=True)
class Measure:
    """A ``.meas`` statement: ``analysis`` (``"tran"``, ``"dc"`` or ``"ac"``), the result's ``name`` and
    the rest of the statement ``spec`` in ngspice's syntax (``"AVG v(ok) FROM=1e-09 TO=2e-09"``),
    restricted to the characters a behavioural expression may use. ngspice prints ``name = value``;
    :class:`~circuits.ngspice.NgspiceResult` reads it into ``measures``."""

    analysis: str
    name: str
    spec: str


Analysis = Union[Op, Tran, DCSweep, AC]
ANALYSES = (Op, Tran, DCSweep, AC)
MEASURE_ANALYSES = ("tran", "dc", "ac")


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\s*\()?")
_FUNCTIONS_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*\(\Z")


def check_parameter_expression(text, known, where: str) -> None:
    """Check a ``{...}`` parameter expression: safe characters, balanced parentheses, and every name
    that is not a function call one of ``known`` (lower-case names)."""
    if not isinstance(text, str) or not text.strip() or not _EXPRESSION.match(text):
        raise ConfigurationError(
            f"{where}: parameter expression {text!r} must be non-empty letters, digits, spaces and "
            "+ - * / ( ) , . ^ < > = ! & | ? :")
    if text.count("(") != text.count(")"):
        raise ConfigurationError(f"{where}: parameter expression {text!r} has unbalanced parentheses")
    for match in _IDENTIFIER.finditer(re.sub(r"(?<![A-Za-z0-9_.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[A-Za-z]*", " ", text)):
        token = match.group(0)
        if not _FUNCTIONS_OK.match(token) and token.lower() not in known and token.lower() != "pi":
            raise ConfigurationError(
                f"{where} refers to parameter {token!r}, which is not a parameter of its scope (known: {sorted(known)})")


def _time(label: str, value, positive=True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
            (value <= 0 if positive else value < 0):
        raise ConfigurationError(f"{label} = {value!r} must be a finite number {'> 0' if positive else '>= 0'}")


def _check_analysis(a, sources) -> None:
    if isinstance(a, Op):
        return
    if isinstance(a, Tran):
        _time(".tran step", a.step)
        _time(".tran stop", a.stop)
        _time(".tran start", a.start, positive=False)
        if a.tmax is not None:
            _time(".tran tmax", a.tmax)
        if a.start >= a.stop:
            raise ConfigurationError(f".tran start = {a.start!r} must be below stop = {a.stop!r}")
    elif isinstance(a, DCSweep):
        if not isinstance(a.source, str) or a.source.lower() not in sources:
            raise ConfigurationError(f".dc source {a.source!r} must name an independent V or I source (known: {sorted(sources)})")
        for label in ("start", "stop", "step"):
            value = getattr(a, label)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigurationError(f".dc {label} = {value!r} must be a finite number")
        if a.step == 0 or (a.stop - a.start) / a.step < 0 or abs((a.stop - a.start) / a.step) > 1e7:
            raise ConfigurationError(
                f".dc step = {a.step!r} must be nonzero, point from start = {a.start!r} toward stop = {a.stop!r}, "
                "and give at most 1e7 points")
    elif isinstance(a, AC):
        if a.variation not in ("dec", "oct", "lin"):
            raise ConfigurationError(f".ac variation = {a.variation!r} must be 'dec', 'oct' or 'lin'")
        if isinstance(a.points, bool) or not isinstance(a.points, int) or not 1 <= a.points <= 10**6:
            raise ConfigurationError(f".ac points = {a.points!r} must be an integer in [1, 1000000]")
        _time(".ac start frequency", a.start)
        _time(".ac stop frequency", a.stop)
        if a.stop < a.start:
            raise ConfigurationError(f".ac stop = {a.stop!r} Hz must be >= start = {a.start!r} Hz")
    else:
        raise ConfigurationError(f"analysis {a!r} must be Op(), Tran(...), DCSweep(...) or AC(...)")


def _nodes(element) -> tuple:
    if isinstance(element, (TLine, LTRA)):
        return (element.p1, element.n1, element.p2, element.n2)
    if isinstance(element, Instance):
        return tuple(element.nodes)
    if isinstance(element, (VCVS, VCCS)):
        return (element.p, element.n, element.cp, element.cn)
    if isinstance(element, (Resistor, Capacitor, Inductor)):
        return (element.n1, element.n2)
    return (element.p, element.n)


def _controls(element) -> set:
    """Nodes an element reads (without connecting to them)."""
    if isinstance(element, (VCVS, VCCS)):
        return {element.cp.lower(), element.cn.lower()}
    if isinstance(element, BSource):
        found = set()
        for a, b in _NODE_REFERENCE.findall(element.expression):
            found.add(a.lower())
            if b:
                found.add(b.lower())
        return found
    return set()


def _dc_edges(element) -> list:
    """Terminal pairs joined by a DC path through ``element`` (for the floating-node check)."""
    if isinstance(element, (Resistor, Inductor, VoltageSource)):
        return [(element.n1, element.n2)] if hasattr(element, "n1") else [(element.p, element.n)]
    if isinstance(element, VCVS) or (isinstance(element, BSource) and element.kind.upper() == "V"):
        return [(element.p, element.n)]
    if isinstance(element, Instance):  # opaque here: its body was checked with its ports counted as grounded
        return [(node, GROUND) for node in element.nodes]
    if isinstance(element, TLine):
        return [(element.p1, element.n1), (element.p2, element.n2), (element.p1, element.p2)]
    if isinstance(element, LTRA):
        return [(element.p1, element.n1), (element.p2, element.n2)] + (
            [(element.p1, element.p2)] if element.r > 0 or element.l > 0 else [])
    return []


class _Checker:
    """Validation of one scope (the top level or one subcircuit body)."""

    def __init__(self, scope: str, params: dict, subckts: dict):
        self.scope = scope
        self.params = params
        self.subckts = subckts

    def where(self, element) -> str:
        return f"element {element.name!r}" + (f" in subcircuit {self.scope!r}" if self.scope else "")

    def value(self, element, label, value, low=None, positive=False, allow_zero=True):
        if isinstance(value, Param):
            check_parameter_expression(value.name, self.params, f"{self.where(element)}: {label}")
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(f"{self.where(element)}: {label} = {value!r} must be a real number")
        if not math.isfinite(value):
            raise ConfigurationError(f"{self.where(element)}: {label} = {value!r} must be finite")
        if positive and not value > 0:
            raise ConfigurationError(f"{self.where(element)}: {label} = {value!r} is outside the valid range (0, inf)")
        if low is not None and value < low:
            raise ConfigurationError(f"{self.where(element)}: {label} = {value!r} is outside the valid range [{low}, inf)")
        if abs(value) > 1e30 or (value != 0 and abs(value) < 1e-30):
            raise ConfigurationError(
                f"{self.where(element)}: {label} = {value!r} is outside the representable range "
                f"0 or 1e-30 <= |value| <= 1e30")

    def waveform(self, element, wave):
        if isinstance(wave, DC):
            self.value(element, "DC value", wave.value)
        elif isinstance(wave, Pulse):
            for label in ("v1", "v2"):
                self.value(element, f"PULSE {label}", getattr(wave, label))
            self.value(element, "PULSE td", wave.td, low=0.0)
            for label in ("tr", "tf", "pw", "per"):
                self.value(element, f"PULSE {label}", getattr(wave, label), positive=True)
        elif isinstance(wave, PWL):
            if len(wave.points) < 1:
                raise ConfigurationError(f"{self.where(element)}: PWL needs at least one (time, value) point")
            previous = -math.inf
            for t, v in wave.points:
                self.value(element, "PWL time", t, low=0.0)
                self.value(element, "PWL value", v)
                if not isinstance(t, Param):
                    if not t > previous:
                        raise ConfigurationError(
                            f"{self.where(element)}: PWL times must increase strictly, got {t!r} after {previous!r}")
                    previous = t
        elif isinstance(wave, Sin):
            for label in ("vo", "va", "freq", "theta"):
                self.value(element, f"SIN {label}", getattr(wave, label))
            self.value(element, "SIN freq", wave.freq, low=0.0)
            self.value(element, "SIN td", wave.td, low=0.0)
        else:
            raise ConfigurationError(f"{self.where(element)}: waveform {wave!r} is not DC, Pulse, PWL or Sin")

    def element(self, element):
        letter = getattr(element, "letter", None)
        if letter is None or type(element) not in ELEMENT_TYPES.values():
            raise ConfigurationError(f"{element!r} is not a circuit element")
        if not isinstance(element.name, str) or not _NAME.match(element.name) or element.name[0].upper() != letter:
            raise ConfigurationError(
                f"element name {element.name!r} must start with {letter!r} and contain only letters, digits and '_'")
        for node in _nodes(element):
            if not isinstance(node, str) or not _NODE.match(node):
                raise ConfigurationError(
                    f"{self.where(element)}: node name {node!r} must be non-empty letters, digits and '_'")
        pair = _nodes(element)[:2]
        if not isinstance(element, Instance) and pair[0].lower() == pair[1].lower():
            raise ConfigurationError(f"{self.where(element)}: both terminals are on node {pair[0]!r} (a shorted element)")
        if isinstance(element, (TLine, LTRA)) and element.p2.lower() == element.n2.lower():
            raise ConfigurationError(f"{self.where(element)}: both terminals of port 2 are on node {element.p2!r}")
        if isinstance(element, (Resistor, Capacitor, Inductor)):
            self.value(element, "value", element.value, positive=True)
            if getattr(element, "ic", None) is not None:
                self.value(element, "ic", element.ic)
        elif isinstance(element, TLine):
            self.value(element, "z0", element.z0, positive=True)
            self.value(element, "td", element.td, positive=True)
        elif isinstance(element, LTRA):
            for label in ("r", "l", "g", "c"):
                self.value(element, label, getattr(element, label), low=0.0)
            self.value(element, "length", element.length, positive=True)
            r, l, g, c = element.r, element.l, element.g, element.c
            kind = ("RLC" if g == 0 and l > 0 and c > 0 and r > 0 else "RC" if l == 0 and g == 0 and r > 0 and c > 0
                    else "LC" if r == 0 and g == 0 and l > 0 and c > 0 else "RG" if l == 0 and c == 0 and r > 0 and g > 0
                    else None)
            if kind is None:
                raise ConfigurationError(
                    f"{self.where(element)}: (r, l, g, c) = ({r}, {l}, {g}, {c}) is not one of the LTRA cases ngspice "
                    "implements correctly: RLC (g = 0), RC (l = g = 0), LC (r = g = 0), RG (l = c = 0)")
        elif isinstance(element, (VoltageSource, CurrentSource)):
            self.waveform(element, element.waveform)
            if element.ac is not None:
                self.value(element, "AC amplitude", element.ac)
        elif isinstance(element, BSource):
            if element.kind not in ("V", "I"):
                raise ConfigurationError(f"{self.where(element)}: kind = {element.kind!r} must be 'V' or 'I'")
            if not isinstance(element.expression, str) or not _EXPRESSION.match(element.expression):
                raise ConfigurationError(
                    f"{self.where(element)}: expression {element.expression!r} contains characters outside "
                    "letters, digits, spaces and + - * / ( ) , . ^ < > = ! & | ? :")
            if element.expression.count("(") != element.expression.count(")"):
                raise ConfigurationError(f"{self.where(element)}: expression {element.expression!r} has unbalanced parentheses")
        elif isinstance(element, (VCVS, VCCS)):
            self.value(element, "gain", element.gain)
        elif isinstance(element, Instance):
            sub = self.subckts.get(element.subckt.lower()) if isinstance(element.subckt, str) else None
            if sub is None:
                raise ConfigurationError(
                    f"{self.where(element)}: subcircuit {element.subckt!r} is not defined (known: {sorted(self.subckts)})")
            if len(element.nodes) != len(sub.ports):
                raise ConfigurationError(
                    f"{self.where(element)}: subcircuit {sub.name!r} has {len(sub.ports)} ports, got {len(element.nodes)} nodes")
            known = {name.lower() for name, _ in sub.params}
            for name, value in element.params:
                if not isinstance(name, str) or name.lower() not in known:
                    raise ConfigurationError(
                        f"{self.where(element)}: parameter {name!r} is not a parameter of {sub.name!r} (known: {sorted(known)})")
                self.value(element, f"parameter {name}", value)


def _check_scope(elements, scope, params, subckts, ports=()):
    checker = _Checker(scope, params, subckts)
    seen = {}
    degree = {}
    terminals = {id(e): _nodes(e)[: (2 if isinstance(e, (VCVS, VCCS)) else None)] for e in elements}
    for element in elements:
        checker.element(element)
        key = element.name.lower()
        if key in seen:
            raise ConfigurationError(
                f"{checker.where(element)}: duplicate name (SPICE names are case-insensitive; "
                f"{seen[key]!r} already exists)")
        seen[key] = element.name
        for node in terminals[id(element)]:
            degree[node.lower()] = degree.get(node.lower(), 0) + 1
    connected = set(degree) | {p.lower() for p in ports} | {GROUND}
    # every node read by an expression or a controlled source must exist
    read = set()
    for element in elements:
        for node in _controls(element):
            if node not in connected:
                raise ConfigurationError(f"{checker.where(element)}: reads node {node!r}, which no element connects")
            read.add(node)
        if isinstance(element, BSource):
            for name in _CURRENT_REFERENCE.findall(element.expression):
                if name.lower() not in seen or not name.lower().startswith("v"):
                    raise ConfigurationError(
                        f"{checker.where(element)}: i({name}) must name a voltage source of the same scope")
    # dangling: a node touched by a single terminal and read by nothing
    port_set = {p.lower() for p in ports}
    driven = set()  # nodes whose voltage a source defines (a V, B-V or E output) are never dangling
    for element in elements:
        if isinstance(element, (VoltageSource, VCVS)) or (isinstance(element, BSource) and element.kind == "V"):
            driven.update({element.p.lower(), element.n.lower()})
        elif isinstance(element, Instance):  # the subcircuit body connects its ports (checked there)
            driven.update(node.lower() for node in element.nodes)
    for element in elements:
        for node in terminals[id(element)]:
            n = node.lower()
            if n != GROUND and n not in port_set and degree[n] < 2 and n not in read and n not in driven:
                raise ConfigurationError(f"{checker.where(element)}: node {node!r} is floating (connected to nothing else)")
    # DC path to ground (SPICE needs one for every node); subcircuit ports count as grounded
    parent = {}

    def find(n):
        parent.setdefault(n, n)
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for element in elements:
        for a, b in _dc_edges(element):
            parent[find(a.lower())] = find(b.lower())
    grounded = {find(GROUND)} | {find(p) for p in port_set}
    for element in elements:
        for node in terminals[id(element)]:
            if find(node.lower()) not in grounded:
                raise ConfigurationError(
                    f"{checker.where(element)}: node {node!r} has no DC path to ground (add a resistor to ground)")


@dataclass(frozen=True)
class Netlist:
    """A validated circuit: ``elements``, ``subckts`` (definitions), analyses, options, parameters and
    measurements.

    Parameters
    ----------
    title : str
        Free text for the title line (sanitised when written: one printable ASCII line behind ``*``).
    elements : tuple
        Element instances; node ``"0"`` is ground.
    analysis : Op, Tran, DCSweep or AC, or a tuple of them
        The analyses, run in order (ngspice writes one plot per analysis).
    subckts : tuple of Subckt
    options : tuple of (name, float or None)
        ``.options`` entries (e.g. ``("reltol", 1e-9)``; ``None``: a flag such as ``noacct``).
    params : tuple of (name, float or Param)
        ``.param`` entries, usable as ``Param("name")`` (or expressions of them) anywhere.
    measures : tuple of Measure
        ``.meas`` statements.
    """

    title: str
    elements: tuple
    analysis: Analysis | tuple = field(default_factory=Op)
    subckts: tuple = ()
    options: tuple = ()
    params: tuple = ()
    measures: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "elements", tuple(self.elements))
        object.__setattr__(self, "subckts", tuple(self.subckts))
        object.__setattr__(self, "options", tuple(tuple(o) for o in self.options))
        object.__setattr__(self, "params", tuple(tuple(p) for p in self.params))
        object.__setattr__(self, "measures", tuple(self.measures))
        if isinstance(self.analysis, list):
            object.__setattr__(self, "analysis", tuple(self.analysis))
        self.validate()

    @property
    def analyses(self) -> tuple:
        """The analyses as a tuple (one entry for a single analysis)."""
        return self.analysis if isinstance(self.analysis, tuple) else (self.analysis,)

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first invalid element, value or node."""
        if not isinstance(self.title, str):
            raise ConfigurationError(f"title must be a string, got {self.title!r}")
        known = {}
        for entry in self.params:
            if len(entry) != 2 or not isinstance(entry[0], str) or not _NAME.match(entry[0]) or entry[0].lower() in _RESERVED:
                raise ConfigurationError(f".param entry {entry!r} must be a (name, value) pair with a plain, unreserved name")
            name, value = entry
            if name.lower() in known:
                raise ConfigurationError(f".param {name!r} is defined twice")
            _Checker("", known, {}).value(Resistor("R_param", "a", "b", 1.0), f".param {name}", value)
            known[name.lower()] = value
        subckts = {}
        for sub in self.subckts:
            if not isinstance(sub, Subckt) or not isinstance(sub.name, str) or not _NAME.match(sub.name):
                raise ConfigurationError(f"subcircuit name {getattr(sub, 'name', sub)!r} must be letters, digits and '_'")
            if sub.name.lower() in subckts:
                raise ConfigurationError(f"subcircuit {sub.name!r} is defined twice")
            for port in sub.ports:
                if not isinstance(port, str) or not _NODE.match(port) or port == GROUND:
                    raise ConfigurationError(f"subcircuit {sub.name!r}: port {port!r} must be a non-ground node name")
            params = dict(known)
            for name, value in sub.params:
                if not isinstance(name, str) or not _NAME.match(name) or name.lower() in _RESERVED:
                    raise ConfigurationError(f"subcircuit {sub.name!r}: parameter name {name!r} is not allowed")
                _Checker(sub.name, known, {}).value(Resistor("R_param", "a", "b", 1.0), f"parameter {name}", value)
                params[name.lower()] = value
            _check_scope(sub.elements, sub.name, params, {}, sub.ports)
            subckts[sub.name.lower()] = sub
        if not self.elements:
            raise ConfigurationError("a netlist needs at least one element, got none")
        _check_scope(self.elements, "", known, subckts)
        analyses = self.analyses
        if not analyses:
            raise ConfigurationError("a netlist needs at least one analysis, got none")
        sources = {e.name.lower() for e in self.elements if isinstance(e, (VoltageSource, CurrentSource))}
        for a in analyses:
            _check_analysis(a, sources)
        for entry in self.options:
            if len(entry) != 2 or not isinstance(entry[0], str) or not _NAME.match(entry[0]):
                raise ConfigurationError(f"option {entry!r} must be a (name, number) pair with a plain name")
            if entry[1] is not None and (isinstance(entry[1], bool) or not isinstance(entry[1], (int, float))
                                         or not math.isfinite(entry[1])):
                raise ConfigurationError(f"option {entry[0]!r} = {entry[1]!r} must be a finite number (or None: a flag)")
        names = set()
        kinds = {type(a).__name__.lower().replace("dcsweep", "dc") for a in analyses}
        for m in self.measures:
            if not isinstance(m, Measure):
                raise ConfigurationError(f"measure {m!r} must be a Measure")
            if m.analysis not in MEASURE_ANALYSES or m.analysis not in kinds:
                raise ConfigurationError(
                    f".meas {m.name!r}: analysis {m.analysis!r} must be one of the netlist's analyses "
                    f"among {MEASURE_ANALYSES} (has: {sorted(kinds)})")
            if not isinstance(m.name, str) or not _NAME.match(m.name) or m.name.lower() in names:
                raise ConfigurationError(f".meas name {m.name!r} must be a new plain name (letters, digits, '_')")
            names.add(m.name.lower())
            if not isinstance(m.spec, str) or not m.spec.strip() or not _EXPRESSION.match(m.spec):
                raise ConfigurationError(
                    f".meas {m.name!r}: {m.spec!r} must be non-empty letters, digits, spaces and + - * / ( ) , . ^ < > = ! & | ? :")

    @property
    def nodes(self) -> list[str]:
        """Top-level node names (without ground), in order of first appearance."""
        seen = {}
        for element in self.elements:
            for node in _nodes(element):
                if node != GROUND:
                    seen.setdefault(node.lower(), node)
        return list(seen.values())
