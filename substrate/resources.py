"""Resource guards: estimate the memory a command needs and refuse, before any work, what cannot fit.

Estimates count the float64 arrays a command holds at once (the largest terms only: datasets, wave
and parameter arrays, Gauss-Newton matrices, recorded histories, stored line solutions), times a
small factor for the temporaries numpy makes; they are meant to catch settings that are off by
orders of magnitude (a width of 10^6, 10^9 samples), not to predict the peak to the byte.
"""

from __future__ import annotations

import os

from .errors import ResourceError

__all__ = ["available_memory", "check_memory", "format_bytes", "network_memory", "line_memory", "FLOAT"]

#: bytes per float64
FLOAT = 8


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable``), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(count: float) -> str:
    """``1.5e9`` -> ``"1.5 GB"`` (decimal units)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} B"


def check_memory(needs: dict[str, float], available: int | None = None) -> float:
    """Refuse when the estimated memory exceeds what is available; return the estimate in bytes.

    Parameters
    ----------
    needs : dict
        ``{description naming the setting: bytes}``, e.g. ``{"network.sizes = [2, 100000, 2] (parameters)": 1.6e6}``.
    available : int, optional
        Bytes available (default :func:`available_memory`; no check when that is unknown).

    Raises
    ------
    ResourceError
        Naming the largest term (its setting and size), the total and the memory available.
    """
    total = float(sum(needs.values()))
    available = available_memory() if available is None else available
    if available is not None and total > available:
        largest = max(needs, key=needs.get)
        raise ResourceError(
            f"{largest} needs about {format_bytes(needs[largest])} of memory ({format_bytes(total)} in all), more "
            f"than the {format_bytes(available)} available; reduce it"
        )
    return total


def network_memory(sizes, batch: int, steps: int = 0, name: str = "--sizes") -> dict[str, float]:
    """Estimated bytes to relax a network of widths ``sizes`` on ``batch`` samples, recording ``steps`` steps.

    Terms: parameters (``sum n_(k-1) n_k``), the waves of the batch and their temporaries, and the
    recorded history (four numbers per link and step, plus the gradient error).
    """
    sizes = [int(n) for n in sizes]
    depth = len(sizes) - 1
    n_params = sum(sizes[k] * sizes[k + 1] + sizes[k + 1] for k in range(depth))
    return {
        f"{name} = {','.join(map(str, sizes))} ({n_params} parameters)": FLOAT * 3 * n_params,
        f"--batch = {batch} with {name} = {','.join(map(str, sizes))} (waves)": FLOAT * 8 * batch * sum(sizes),
        f"--steps = {steps} (recorded history)": FLOAT * (4 * (depth + 1) + 1) * (steps + 1),
    }


def line_memory(network, options: dict) -> dict[str, float]:
    """Estimated bytes of a line simulation (:func:`substrate.distributed.mol.simulate` keywords ``options``).

    The solution is stored at every output time: ``samples`` (or, for the characteristic integrator,
    ``t_end / dt`` steps) times the state (a voltage per node and a current per cell of every line),
    about three times over (solution, port waveforms and the V(s, t) map).
    """
    cells = options.get("cells", 100)
    per_line = {name: int(cells[name] if isinstance(cells, dict) else cells) for name in network.lines}
    state = sum(2 * n + 1 for n in per_line.values())
    if options.get("integrator") == "characteristic":
        dt = options.get("dt") or min(line.delay / per_line[name] for name, (line, _, _) in network.lines.items())
        times = options["t_end"] / dt + 1
        label = f"t_end / dt = {times:.3g} time steps of the characteristic integrator"
    else:
        times = options.get("samples", 501)
        label = f"samples = {times}"
    return {f"cells = {per_line} with {label} (stored solution)": FLOAT * 3 * times * state}
