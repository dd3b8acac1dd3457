"""Public face of the telegrapher engine: lossy lines and line networks in time (method of lines, compiled
leapfrog, characteristic shift) and in frequency (exact S-parameters).

See :mod:`substrate.distributed` and ``docs/lines.md``.
"""

from .distributed import (
    PWL, Capacitor, Discretisation, Gaussian, Line, LineNetwork, LineSolution, Open, Pulse, ReflectingLoad,
    Resistor, Short, Sine, Step, Termination, Thevenin, Waveform, discretise, simulate,
)
from .distributed.config import load_config, parse_config
from .distributed.frequency import scattering
from .distributed.output import plot_bounce_diagram, plot_field, write_line_outputs, write_ports_csv

__all__ = [
    "Line", "LineNetwork", "Waveform", "Step", "Pulse", "PWL", "Sine", "Gaussian",
    "Termination", "Thevenin", "Resistor", "Open", "Short", "Capacitor", "ReflectingLoad",
    "simulate", "LineSolution", "Discretisation", "discretise", "scattering",
    "load_config", "parse_config", "write_line_outputs", "write_ports_csv", "plot_bounce_diagram", "plot_field",
]
