"""Timing helpers: medians of repeated runs, ratios from interleaved repeats, with their spread.

The machine is shared and noisy, so every figure is a ratio of two timings taken alternately in the
same process: each round times both, the ratio of that round is kept, and the reported ratio is the
median over rounds, with the spread of the per-round ratios (25th to 75th percentile) beside it.
"""

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


def spread(ratios) -> dict:
    """Median and spread of per-round ratios: ``{"ratio", "q25", "q75", "min", "max", "rounds"}``."""
    values = np.asarray(ratios, dtype=float)
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return {"ratio": float(median), "q25": float(q25), "q75": float(q75), "min": float(values.min()),
            "max": float(values.max()), "rounds": len(values)}


def interleaved(numerator, denominator, repeats: int = 9, min_time: float = 0.02) -> dict:
    """Ratio ``t(numerator) / t(denominator)`` from interleaved rounds, with its spread.

    Returns :func:`spread` of the per-round ratios plus ``t_numerator`` and ``t_denominator``
    (median seconds per call).
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
    return {**spread(ratios), "t_numerator": float(np.median(top)), "t_denominator": float(np.median(bottom))}


def interleaved_ratio(numerator, denominator, repeats: int = 9, min_time: float = 0.02) -> tuple[float, float, float]:
    """Median of per-round ratios ``t(numerator) / t(denominator)``, the two timed alternately.

    Alternating the two inside each round cancels slow drifts of a noisy machine. Returns
    ``(ratio, t_numerator, t_denominator)`` with times in s (medians); :func:`interleaved` adds the
    spread.
    """
    result = interleaved(numerator, denominator, repeats, min_time)
    return result["ratio"], result["t_numerator"], result["t_denominator"]


def blas_threads(count: int | None):
    """A context limiting numpy's BLAS to ``count`` threads (``None`` or no threadpoolctl: unchanged)."""
    import contextlib

    if count is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")
