"""Lines, waveforms, terminations and line networks: the data of the distributed level.

A :class:`Line` is a uniform RLGC transmission line; a :class:`LineNetwork` joins lines at named
nodes (Kirchhoff's current law at every node, any number of line ends per node) and terminates
nodes with lumped elements. Everything here is pure data with validation; the solvers live in
:mod:`substrate.distributed.mol`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..errors import ConfigurationError, check_positive, check_range

__all__ = [
    "Line", "Waveform", "Step", "Pulse", "PWL", "Sine", "Gaussian",
    "Termination", "Thevenin", "Resistor", "Open", "Short", "Capacitor", "ReflectingLoad",
    "LineNetwork",
]


# --------------------------------------------------------------------------------------------
# the line
# --------------------------------------------------------------------------------------------
class Line:
    """A uniform RLGC transmission line.

    Parameters
    ----------
    length : float
        Length in m (> 0).
    resistance : float
        Series resistance R' in ohm/m (>= 0).
    inductance : float
        Series inductance L' in H/m (> 0).
    conductance : float
        Shunt conductance G' in S/m (>= 0).
    capacitance : float
        Shunt capacitance C' in F/m (> 0).
    """

    _changes = 0  # changes to existing lines' data, all lines together (solvers' caches compare it)

    def __init__(self, length: float, resistance: float = 0.0, *, inductance: float, conductance: float = 0.0,
                 capacitance: float):
        self.length = check_positive("length (m)", length)
        self.resistance = check_range("resistance R' (ohm/m)", resistance, 0.0, None)
        self.inductance = check_positive("inductance L' (H/m)", inductance)
        self.conductance = check_range("conductance G' (S/m)", conductance, 0.0, None)
        self.capacitance = check_positive("capacitance C' (F/m)", capacitance)

    def __setattr__(self, name, value):
        if name in self.__dict__:  # a change, not the first assignment in __init__
            Line._changes += 1
        object.__setattr__(self, name, value)

    @classmethod
    def from_impedance(cls, z0: float, delay: float, length: float = 1.0, resistance: float = 0.0,
                       conductance: float = 0.0) -> "Line":
        """A line of lossless characteristic impedance ``z0`` (ohm) and one-way ``delay`` (s).

        ``L' = z0 delay / length`` and ``C' = delay / (z0 length)``; losses in ohm/m and S/m.
        """
        z0 = check_positive("z0 (ohm)", z0)
        delay = check_positive("delay (s)", delay)
        length = check_positive("length (m)", length)
        return cls(length, resistance, inductance=z0 * delay / length, conductance=conductance,
                   capacitance=delay / (z0 * length))

    @property
    def characteristic_impedance(self) -> float:
        """Lossless characteristic impedance ``sqrt(L'/C')`` in ohm (exact for distortionless lines)."""
        return math.sqrt(self.inductance / self.capacitance)

    @property
    def speed(self) -> float:
        """Wave speed ``1/sqrt(L'C')`` in m/s."""
        return 1.0 / math.sqrt(self.inductance * self.capacitance)

    @property
    def delay(self) -> float:
        """One-way delay ``length sqrt(L'C')`` in s."""
        return self.length / self.speed

    @property
    def distortionless(self) -> bool:
        """True when ``R'/L' = G'/C'`` (Heaviside's condition; lossless lines included)."""
        return math.isclose(self.resistance * self.capacitance, self.conductance * self.inductance,
                            rel_tol=1e-9, abs_tol=1e-300)

    @property
    def attenuation(self) -> float:
        """Attenuation constant ``alpha = sqrt(R'G')`` in 1/m (Np/m) of a distortionless line.

        Raises :class:`ConfigurationError` for a line that is not distortionless, where the
        attenuation depends on frequency (use :meth:`propagation_constant`).
        """
        if not self.distortionless:
            raise ConfigurationError(
                f"attenuation is frequency independent only for a distortionless line (R'/L' = G'/C'); got "
                f"R'/L' = {self.resistance / self.inductance:g} 1/s and G'/C' = {self.conductance / self.capacitance:g} 1/s"
            )
        return math.sqrt(self.resistance * self.conductance)

    def propagation_constant(self, frequency) -> np.ndarray:
        """``gamma = sqrt((R' + j w L')(G' + j w C'))`` in 1/m at ``frequency`` in Hz."""
        w = 2 * np.pi * np.asarray(frequency, dtype=float)
        return np.sqrt((self.resistance + 1j * w * self.inductance) * (self.conductance + 1j * w * self.capacitance))

    def impedance(self, frequency) -> np.ndarray:
        """Complex characteristic impedance ``sqrt((R' + j w L')/(G' + j w C'))`` in ohm at ``frequency`` in Hz."""
        w = 2 * np.pi * np.asarray(frequency, dtype=float)
        return np.sqrt((self.resistance + 1j * w * self.inductance) / (self.conductance + 1j * w * self.capacitance))

    def __repr__(self) -> str:
        return (f"Line(length={self.length:g} m, R'={self.resistance:g} ohm/m, L'={self.inductance:g} H/m, "
                f"G'={self.conductance:g} S/m, C'={self.capacitance:g} F/m)")


# --------------------------------------------------------------------------------------------
# waveforms: callables of time in s returning volts, vectorised
# --------------------------------------------------------------------------------------------
class Waveform:
    """A source waveform ``v(t)`` in V for ``t`` in s (array in, array out)."""

    def __call__(self, t):  # pragma: no cover - abstract
        raise NotImplementedError


def _ramp(t, start, duration):
    """0 before ``start``, 1 after ``start + duration``, linear in between (a step for duration 0)."""
    t = np.asarray(t, dtype=float)
    if duration == 0:
        return (t >= start).astype(float)
    return np.clip((t - start) / duration, 0.0, 1.0)


@dataclass(frozen=True)
class Step(Waveform):
    """Step of ``amplitude`` V at ``delay`` s with a linear ``rise`` time in s (0: ideal step)."""

    amplitude: float = 1.0
    delay: float = 0.0
    rise: float = 0.0

    def __post_init__(self):
        check_range("Step amplitude (V)", self.amplitude)
        check_range("Step delay (s)", self.delay, 0.0, None)
        check_range("Step rise (s)", self.rise, 0.0, None)

    def __call__(self, t):
        return self.amplitude * _ramp(t, self.delay, self.rise)


@dataclass(frozen=True)
class Pulse(Waveform):
    """Trapezoidal pulse: ``amplitude`` V from ``delay`` s, linear ``rise``, flat ``width``, linear ``fall`` (s)."""

    amplitude: float = 1.0
    delay: float = 0.0
    rise: float = 0.0
    width: float = 1e-9
    fall: float = 0.0

    def __post_init__(self):
        check_range("Pulse amplitude (V)", self.amplitude)
        check_range("Pulse delay (s)", self.delay, 0.0, None)
        check_range("Pulse rise (s)", self.rise, 0.0, None)
        check_positive("Pulse width (s)", self.width)
        check_range("Pulse fall (s)", self.fall, 0.0, None)

    def __call__(self, t):
        up = _ramp(t, self.delay, self.rise)
        down = _ramp(t, self.delay + self.rise + self.width, self.fall)
        return self.amplitude * (up - down)


@dataclass(frozen=True)
class PWL(Waveform):
    """Piecewise-linear waveform through ``(times[i], values[i])`` (s, V); constant outside."""

    times: tuple
    values: tuple

    def __post_init__(self):
        times, values = np.asarray(self.times, dtype=float), np.asarray(self.values, dtype=float)
        if times.ndim != 1 or times.shape != values.shape or len(times) < 1:
            raise ConfigurationError(f"PWL needs equally long 1-d times and values, got shapes {times.shape} and {values.shape}")
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(values))) or np.any(np.diff(times) <= 0):
            raise ConfigurationError(f"PWL times must be finite and strictly increasing, got {list(times)}")
        object.__setattr__(self, "times", tuple(times))
        object.__setattr__(self, "values", tuple(values))

    def __call__(self, t):
        return np.interp(np.asarray(t, dtype=float), self.times, self.values)


@dataclass(frozen=True)
class Sine(Waveform):
    """``offset + amplitude sin(2 pi frequency (t - delay) + phase)`` for ``t >= delay``, ``offset`` before.

    amplitude and offset in V, frequency in Hz, delay in s, phase in rad.
    """

    amplitude: float = 1.0
    frequency: float = 1e9
    phase: float = 0.0
    offset: float = 0.0
    delay: float = 0.0

    def __post_init__(self):
        check_range("Sine amplitude (V)", self.amplitude)
        check_positive("Sine frequency (Hz)", self.frequency)
        check_range("Sine phase (rad)", self.phase)
        check_range("Sine offset (V)", self.offset)
        check_range("Sine delay (s)", self.delay, 0.0, None)

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        wave = self.amplitude * np.sin(2 * np.pi * self.frequency * (t - self.delay) + self.phase)
        return self.offset + np.where(t >= self.delay, wave, 0.0)


@dataclass(frozen=True)
class Gaussian(Waveform):
    """Smooth pulse ``amplitude exp(-((t - center)/width)^2 / 2)`` (V; center and width in s)."""

    amplitude: float = 1.0
    center: float = 1e-9
    width: float = 1e-10

    def __post_init__(self):
        check_range("Gaussian amplitude (V)", self.amplitude)
        check_range("Gaussian center (s)", self.center)
        check_positive("Gaussian width (s)", self.width)

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        return self.amplitude * np.exp(-0.5 * ((t - self.center) / self.width) ** 2)


# --------------------------------------------------------------------------------------------
# terminations: lumped elements between a node and ground
# --------------------------------------------------------------------------------------------
class Termination:
    """A lumped one-port between a node and ground."""

    kind = "termination"


@dataclass(frozen=True)
class Thevenin(Termination):
    """Voltage source ``waveform`` (V) behind a series ``resistance`` in ohm (> 0)."""

    waveform: Waveform
    resistance: float
    kind = "thevenin"

    def __post_init__(self):
        if not callable(self.waveform):
            raise ConfigurationError(f"Thevenin waveform must be a Waveform (callable of time), got {self.waveform!r}")
        check_positive("Thevenin resistance (ohm)", self.resistance)


@dataclass(frozen=True)
class Resistor(Termination):
    """Resistor to ground, ``ohms`` in ohm (> 0; use :class:`Short` for 0 and :class:`Open` for infinity)."""

    ohms: float
    kind = "resistor"

    def __post_init__(self):
        check_positive("Resistor ohms (ohm)", self.ohms)


@dataclass(frozen=True)
class Open(Termination):
    """No connection (zero current)."""

    kind = "open"


@dataclass(frozen=True)
class Short(Termination):
    """Short to ground (zero voltage)."""

    kind = "short"


@dataclass(frozen=True)
class Capacitor(Termination):
    """Capacitor to ground, ``farads`` in F (> 0)."""

    farads: float
    kind = "capacitor"

    def __post_init__(self):
        check_positive("Capacitor farads (F)", self.farads)


@dataclass(frozen=True)
class ReflectingLoad(Termination):
    """A nonlinear reflecting load: it returns the wave ``reflect(arriving)`` (both in V).

    With the line's impedance ``Z0`` the arriving wave is ``a = (V + Z0 i)/2`` (``i`` the current
    into the load) and the load enforces ``V = a + reflect(a)``, realised as a matched source
    ``2 reflect(a)`` behind ``Z0``. A linear ``reflect(a) = Gamma a`` is the resistor
    ``Z0 (1 + Gamma)/(1 - Gamma)``. Only at a free end (one line end at the node).

    Parameters
    ----------
    reflect : callable
        Vectorised map from the arriving wave in V to the reflected wave in V.
    """

    reflect: Callable[[np.ndarray], np.ndarray]
    kind = "reflecting"

    def __post_init__(self):
        if not callable(self.reflect):
            raise ConfigurationError(f"ReflectingLoad needs a callable reflect(arriving_wave), got {self.reflect!r}")


TERMINATION_TYPES = (Thevenin, Resistor, Open, Short, Capacitor, ReflectingLoad)


def check_termination(node: str, termination) -> Termination:
    if not isinstance(termination, TERMINATION_TYPES):
        names = ", ".join(t.__name__ for t in TERMINATION_TYPES)
        raise ConfigurationError(f"termination of node {node!r} is {termination!r}; valid terminations: {names}")
    return termination


# --------------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------------
@dataclass
class LineNetwork:
    """Lines joined at named nodes, with terminations to ground.

    Parameters
    ----------
    lines : mapping name -> (Line, start_node, end_node)
        Each line runs from ``start_node`` (s = 0) to ``end_node`` (s = length).
    terminations : mapping node -> Termination
        Every free end (a node with exactly one line end) needs one; junction nodes may have one.

    Examples
    --------
    >>> net = LineNetwork({"feed": (Line.from_impedance(50, 1e-9), "in", "j"),
    ...                    "a": (Line.from_impedance(50, 2e-9), "j", "out_a"),
    ...                    "b": (Line.from_impedance(50, 1e-9), "j", "out_b")},
    ...                   {"in": Thevenin(Step(1.0), 50), "out_a": Resistor(50), "out_b": Open()})
    """

    lines: Mapping[str, tuple]
    terminations: Mapping[str, Termination] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.lines, Mapping) or not self.lines:
            raise ConfigurationError("a LineNetwork needs a non-empty mapping name -> (Line, start_node, end_node)")
        lines = {}
        for name, spec in self.lines.items():
            if not (isinstance(spec, tuple) and len(spec) == 3 and isinstance(spec[0], Line)):
                raise ConfigurationError(f"line {name!r} must be (Line, start_node, end_node), got {spec!r}")
            line, start, end = spec
            if str(start) == str(end):
                raise ConfigurationError(f"line {name!r} starts and ends at the same node {start!r}")
            lines[str(name)] = (line, str(start), str(end))
        self.lines = lines
        counts: dict[str, int] = {}
        for _, start, end in lines.values():
            counts[start] = counts.get(start, 0) + 1
            counts[end] = counts.get(end, 0) + 1
        self.nodes = list(counts)
        terminations = {}
        for node, termination in dict(self.terminations).items():
            node = str(node)
            if node not in counts:
                raise ConfigurationError(f"termination at unknown node {node!r}; nodes are {self.nodes}")
            terminations[node] = check_termination(node, termination)
            if isinstance(termination, ReflectingLoad) and counts[node] != 1:
                raise ConfigurationError(f"ReflectingLoad at node {node!r} needs a free end, but {counts[node]} lines meet there")
        for node, count in counts.items():
            if count == 1 and node not in terminations:
                raise ConfigurationError(
                    f"free end {node!r} has no termination; give one of Thevenin, Resistor, Open, Short, Capacitor, ReflectingLoad"
                )
        self.terminations = terminations

    def __getstate__(self) -> dict:
        """Pickled and copied without the solvers' caches (private attributes)."""
        return {key: value for key, value in self.__dict__.items() if not key.startswith("_")}

    @classmethod
    def single(cls, line: Line, source: Termination, load: Termination) -> "LineNetwork":
        """One line from node ``"source"`` (s = 0) to node ``"load"`` (s = length)."""
        if not isinstance(line, Line):
            raise ConfigurationError(f"expected a Line, got {line!r}")
        return cls({"line": (line, "source", "load")}, {"source": source, "load": load})

    @property
    def ports(self) -> list[str]:
        """Terminated nodes, in the order of ``terminations``."""
        return list(self.terminations)
