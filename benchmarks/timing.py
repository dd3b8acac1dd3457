"""Timing helpers: medians of repeated runs, ratios in the same process."""

from __future__ import annotations

import time

import numpy as np


def median_time(function, repeats: int = 7, warmup: int = 1, min_time: float = 0.02) -> float:
    """Median wall time of one call in s, each sample averaging enough calls to last ``min_time``."""
    for _ in range(warmup):
        function()
    start = time.perf_counter()
    function()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(min_time / once))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        samples.append((time.perf_counter() - start) / calls)
    return float(np.median(samples))


def interleaved_ratio(numerator, denominator, repeats: int = 9, min_time: float = 0.02) -> tuple[float, float, float]:
    """Median of per-round ratios ``t(numerator) / t(denominator)``, the two timed alternately.

    Alternating the two inside each round cancels slow drifts of a noisy machine. Returns
    ``(ratio, t_numerator, t_denominator)`` with times in s (medians).
    """
    for function in (numerator, denominator):
        function()
    ratios, top, bottom = [], [], []
    for _ in range(repeats):
        a = median_time(numerator, repeats=1, warmup=0, min_time=min_time)
        b = median_time(denominator, repeats=1, warmup=0, min_time=min_time)
        ratios.append(a / b)
        top.append(a)
        bottom.append(b)
    return float(np.median(ratios)), float(np.median(top)), float(np.median(bottom))
