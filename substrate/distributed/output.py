"""Outputs of a line simulation: port waveforms (CSV), a bounce diagram and V(s, t) heat maps."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io import atomic_path, write_json, write_text
from .mol import LineSolution

__all__ = ["write_ports_csv", "plot_bounce_diagram", "plot_field", "write_line_outputs", "write_touchstone"]

_UNITS = [(1e-12, "ps"), (1e-9, "ns"), (1e-6, "us"), (1e-3, "ms"), (1.0, "s")]


def _time_unit(t_end: float) -> tuple[float, str]:
    for scale, name in _UNITS:
        if t_end < 2000 * scale:
            return scale, name
    return 1.0, "s"


def write_ports_csv(solution: LineSolution, path: str | os.PathLike) -> Path:
    """CSV with ``time_s`` and, per port, ``V_<port>_V`` and ``I_<port>_A`` (current into the lines)."""
    columns = [solution.t]
    header = ["time_s"]
    for port in solution.voltage:
        columns += [solution.voltage[port], solution.current[port]]
        header += [f"V_{port}_V", f"I_{port}_A"]
    with atomic_path(path) as temporary:
        np.savetxt(temporary, np.column_stack(columns), delimiter=",", header=",".join(header), comments="",
                   fmt="%.10e")
    return Path(path)


def plot_bounce_diagram(solution: LineSolution, path: str | os.PathLike | None = None, line: str | None = None,
                        title: str = ""):
    """Port voltages against time, and the lattice (bounce) diagram of one line.

    The lattice panel draws the wavefront zig-zag of ``line`` (default: the first line) with the
    line's end voltages read from the solution in the middle of each plateau. Returns the
    :class:`matplotlib.figure.Figure` (also saved to ``path`` when given).
    """
    from ..plotting import save_figure, subplots

    name = line or next(iter(solution.V))
    delay = solution.delays[name]
    scale, unit = _time_unit(solution.t[-1])
    t = solution.t / scale
    figure, (left, right) = subplots(1, 2, figsize=(13, 5), layout="constrained",
                                         gridspec_kw={"width_ratios": [3, 2]})
    for port, v in solution.voltage.items():
        left.plot(t, v, label=f"V({port})")
    for k in range(1, int(solution.t[-1] / delay) + 1):
        left.axvline(k * delay / scale, color="0.85", lw=0.8, zorder=0)
    left.set_xlabel(f"time t ({unit})")
    left.set_ylabel("port voltage (V)")
    left.set_title(f"port voltages (grey: multiples of the delay of line '{name}')")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    x_v = solution.positions[name][0]
    length = x_v[-1]
    bounces = int(solution.t[-1] / delay)
    for k in range(bounces):
        x0, x1 = (0.0, length) if k % 2 == 0 else (length, 0.0)
        right.annotate("", xy=(x1, (k + 1) * delay / scale), xytext=(x0, k * delay / scale),
                       arrowprops=dict(arrowstyle="->", color="C3", lw=1.2))
    V = solution.V[name]
    for k in range(bounces + 1):
        mid = min((k + 0.5) * delay, solution.t[-1])
        row = np.argmin(np.abs(solution.t - mid))
        for end, where, align in ((0, 0.0, "right"), (-1, length, "left")):
            right.text(where, mid / scale, f" {V[row, end]:.3f} V ", ha=align, va="center", fontsize=8)
    right.set_xlim(-0.35 * length, 1.35 * length)
    right.set_ylim(solution.t[-1] / scale, 0)
    right.axvline(0, color="k", lw=1)
    right.axvline(length, color="k", lw=1)
    right.set_xlabel(f"position s along line '{name}' (m)")
    right.set_ylabel(f"time t ({unit}), increasing downward")
    right.set_title("bounce diagram: wavefronts and end voltages")
    if title:
        figure.suptitle(title)
    if path is not None:
        save_figure(figure, path)
    return figure


def plot_field(solution: LineSolution, path: str | os.PathLike | None = None, title: str = ""):
    """Heat maps of ``V(s, t)`` (one panel per line): position against time. Returns the Figure (also
    saved to ``path`` when given)."""
    from ..plotting import save_figure, subplots

    names = list(solution.V)
    scale, unit = _time_unit(solution.t[-1])
    vmax = max(np.max(np.abs(v)) for v in solution.V.values()) or 1.0
    figure, axes = subplots(1, len(names), figsize=(4.5 * len(names) + 1.5, 5), layout="constrained",
                                squeeze=False)
    for axis, name in zip(axes[0], names):
        image = axis.pcolormesh(solution.positions[name][0], solution.t / scale, solution.V[name], shading="nearest",
                                cmap="RdBu_r", vmin=-vmax, vmax=vmax, rasterized=True)
        axis.set_xlabel(f"position s along line '{name}' (m)")
        axis.set_ylabel(f"time t ({unit})")
        axis.set_title(f"V(s, t) on line '{name}'")
    figure.colorbar(image, ax=axes[0].tolist(), label="voltage V (V)")
    if title:
        figure.suptitle(title)
    if path is not None:
        save_figure(figure, path)
    return figure


def write_line_outputs(solution: LineSolution, folder: str | os.PathLike, title: str = "") -> dict:
    """Write ``ports.csv``, ``bounce.png``, ``field.png`` and ``summary.json`` into ``folder``.

    Returns the paths by name and the summary (final port voltages in V, energies in J).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "t_end_s": float(solution.t[-1]),
        "final_port_voltage_V": {p: float(v[-1]) for p, v in solution.voltage.items()},
        "peak_port_voltage_V": {p: float(np.max(np.abs(v))) for p, v in solution.voltage.items()},
        "injected_J": float(solution.total_injected[-1]),
        "stored_J": float(solution.stored[-1]),
        "dissipated_J": float(solution.total_dissipated[-1]),
        "energy_balance_error": solution.energy_error,
    }
    plot_bounce_diagram(solution, folder / "bounce.png", title=title)
    plot_field(solution, folder / "field.png", title=title)
    paths = {
        "ports": write_ports_csv(solution, folder / "ports.csv"),
        "bounce": folder / "bounce.png",
        "field": folder / "field.png",
        "summary": write_json(folder / "summary.json", summary),
    }
    return {"paths": paths, "summary": summary}


def write_touchstone(network, folder: str | os.PathLike, name: str) -> Path:
    """Write a scikit-rf ``Network`` as ``<folder>/<name>.sNp`` (Touchstone 1.0, real/imaginary, full precision).

    The text comes from scikit-rf (``write_touchstone(return_string=True)``) and is written atomically.
    """
    text = network.write_touchstone(return_string=True, form="ri")
    return write_text(Path(folder) / f"{name}.s{network.nports}p", text)
