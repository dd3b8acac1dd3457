"""Level 2: distributed lines (telegrapher equations by the method of lines) and the continuum worldsheet."""

from .lines import (
    PWL, Capacitor, Gaussian, Line, LineNetwork, Open, Pulse, ReflectingLoad, Resistor, Short, Sine, Step,
    Termination, Thevenin, Waveform,
)
from .continuum import ContinuumSolution, ContinuumWorldsheet
from .mol import Discretisation, LineSolution, discretise, simulate

__all__ = [
    "Line", "LineNetwork", "Waveform", "Step", "Pulse", "PWL", "Sine", "Gaussian",
    "Termination", "Thevenin", "Resistor", "Open", "Short", "Capacitor", "ReflectingLoad",
    "simulate", "LineSolution", "Discretisation", "discretise", "ContinuumWorldsheet", "ContinuumSolution",
]
