"""circuits: level 3 of the substrate, element netlists and their SPICE export.

This package holds the circuit layer of the project (physics.md, section 7): a netlist data model,
the ngspice-dialect writer and parser, a runner for ngspice in batch mode, and realisations of
trained networks as circuits (inference crossbars, transmission-line and RC trainers).
"""

from . import ngspice, realize, spice
from .netlist import (
    AC, DC, LTRA, PWL, BSource, Capacitor, CurrentSource, DCSweep, Inductor, Instance, Measure, Netlist, Op, Param,
    Pulse, Resistor, Sin, Subckt, TLine, Tran, VCCS, VCVS, VoltageSource, sanitize_name,
)

__all__ = [
    "Netlist", "Resistor", "Capacitor", "Inductor", "TLine", "LTRA", "VoltageSource", "CurrentSource", "BSource",
    "VCVS", "VCCS", "Instance", "Subckt", "Param", "DC", "Pulse", "PWL", "Sin", "Op", "Tran", "DCSweep", "AC", "Measure",
    "sanitize_name",
    "spice", "ngspice", "realize",
]
