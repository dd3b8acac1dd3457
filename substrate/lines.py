"""Public face of the telegrapher engine: lossy lines and line networks by the method of lines.

See :mod:`substrate.distributed` and ``docs/lines.md``.
"""

from .distributed import (
    PWL, Capacitor, Discretisation, Gaussian, Line, LineNetwork, LineSolution, Open, Pulse, ReflectingLoad,
    Resistor, Short, Sine, Step, Termination, Thevenin, Waveform, discretise, simulate,
)

__all__ = [
    "Line", "LineNetwork", "Waveform", "Step", "Pulse", "PWL", "Sine", "Gaussian",
    "Termination", "Thevenin", "Resistor", "Open", "Short", "Capacitor", "ReflectingLoad",
    "simulate", "LineSolution", "Discretisation", "discretise",
]
