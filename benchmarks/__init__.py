"""Benchmarks: speed and fidelity as ratios measured in one run (``python -m benchmarks``)."""
