"""circuits: level 3 of the substrate, element netlists and their SPICE export.

This package holds the circuit layer of the project (physics.md, section 7): a netlist data model,
the ngspice-dialect writer and parser, a runner for ngspice in batch mode, and realisations of
trained networks as circuits (inference crossbars, transmission-line and RC trainers).
"""
