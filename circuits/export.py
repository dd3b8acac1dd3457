"""Export a saved network as a circuit and verify an exported circuit against the native simulators.

An export writes ``NAME.cir`` (the netlist) and ``NAME.json`` (how it was made: format, settings,
inputs and targets, the network file), so :func:`verify` can rebuild the same circuit, check that the
file is what the network gives, run ngspice on it and compare with the project's own simulation of
the same circuit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from substrate.errors import ConfigurationError, check_positive
from substrate.io import write_json, write_text
from substrate.network import get_loss, load_network

from . import ngspice, realize, spice

__all__ = ["FORMATS", "export", "verify", "build"]

FORMATS = ("spice", "crossbar", "tline-trainer", "rc-trainer")
DEFAULTS = {
    "spice": {},
    "crossbar": {"r_unit": 1e4, "gain": 1e7},
    "tline-trainer": {"td": 1e-9, "t_stop": None, "steps_per_td": 20, "learning_rate": None, "capacitance": 1e-12,
                      "beta": 1.0},
    "rc-trainer": {"resistance": 1e3, "capacitance": 1e-9, "t_stop": None, "step": None, "beta": 1.0},
}


def _network_file(run_dir) -> Path:
    path = Path(run_dir)
    path = path / "params.npz" if path.is_dir() else path
    if not path.is_file():
        raise ConfigurationError(f"{run_dir}: no params.npz (write one with substrate.save_network)")
    return path


def build(net, meta: dict):
    """Rebuild the :class:`~circuits.realize.Circuit` described by export metadata ``meta``."""
    fmt, settings = meta["format"], meta["settings"]
    x = np.array(meta["x"], dtype=float)
    if fmt in ("spice", "crossbar"):
        style = "behavioural" if fmt == "spice" else "crossbar"
        return realize.inference(net, x[0], style=style, **settings)
    y = np.array(meta["y"])
    if fmt == "tline-trainer":
        options = dict(settings)
        rate = options.pop("learning_rate")
        capacitance = options["capacitance"]
        return realize.tline_trainer(net, x, y, meta["loss"], port_resistance=None if rate is None else 1.0 / (rate * capacitance),
                                     **options)
    return realize.rc_trainer(net, x, y, meta["loss"], **settings)


def export(run_dir, fmt: str, out=None, x=None, y=None, loss: str = "mse", **settings) -> dict:
    """Write the circuit of the network in ``run_dir`` (a folder with ``params.npz`` or the file itself).

    Parameters
    ----------
    fmt : {"spice", "crossbar", "tline-trainer", "rc-trainer"}
    out : path, optional
        Netlist path (default ``RUN_DIR/<fmt>.cir``); the metadata goes next to it as ``.json``, the
        crossbar's device table as ``devices.csv`` and ``devices.json`` in the same folder.
    x : ndarray
        One input sample (inference formats; default zeros) or the batch (trainers, required).
    y : ndarray
        Targets (trainers).
    loss : {"mse", "cross_entropy"}
    settings
        Format options (see ``DEFAULTS``); SI units.

    Returns
    -------
    dict
        ``netlist``, ``metadata`` (paths) and ``devices`` (crossbar only).
    """
    if fmt not in FORMATS:
        raise ConfigurationError(f"format = {fmt!r} must be one of {FORMATS}")
    unknown = set(settings) - set(DEFAULTS[fmt])
    if unknown:
        raise ConfigurationError(f"options {sorted(unknown)} do not apply to format {fmt!r} (valid: {sorted(DEFAULTS[fmt])})")
    network_file = _network_file(run_dir)
    net = load_network(network_file)
    get_loss(loss)
    if fmt in ("spice", "crossbar"):
        x = np.zeros((1, net.sizes[0])) if x is None else np.asarray(x, dtype=float).reshape(1, -1)
        y = None
    elif x is None or y is None:
        raise ConfigurationError(f"format {fmt!r} needs the training batch x and targets y")
    else:
        x = net.check_input(x)
        y = np.asarray(y)
    merged = {**DEFAULTS[fmt], **{k: v for k, v in settings.items() if v is not None}}
    if fmt == "tline-trainer" and merged["learning_rate"] is not None:
        check_positive("learning_rate", merged["learning_rate"])
    out = Path(out) if out is not None else network_file.parent / f"{fmt}.cir"
    meta = {"format": fmt, "network": os.path.relpath(network_file.resolve(), out.parent.resolve()), "loss": loss,
            "x": x.tolist(), "y": None if y is None else y.tolist(), "settings": merged}
    circuit = build(net, meta)  # validates everything before any file is written
    text = spice.write(circuit.netlist)
    result = {"netlist": str(out), "metadata": str(out.with_suffix(".json"))}
    if fmt == "crossbar":
        realize.write_device_table(net, out.parent, merged["r_unit"])
        result["devices"] = str(out.parent / "devices.csv")
        meta["crossbar"] = circuit.info
    write_text(out, text)
    write_json(out.with_suffix(".json"), meta)
    return result


def verify(path, tolerance: float | None = None) -> dict:
    """Run ngspice on an exported netlist and compare it with the native simulation of the same circuit.

    ``path`` is a ``.cir`` file or a folder holding exactly one exported ``.cir``. Without a ``.json``
    sidecar the netlist is only run (ngspice must accept it without warnings).

    Returns
    -------
    dict
        ``format``, ``error`` (largest absolute difference, V), ``tolerance``, ``passed``, ``warnings``,
        ``points`` (ngspice time points or 1) and ``netlist``.
    """
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*.cir"))
        if len(candidates) != 1:
            raise ConfigurationError(f"{path} holds {len(candidates)} .cir files; name the netlist to verify")
        path = candidates[0]
    if not path.is_file():
        raise ConfigurationError(f"{path} is not a netlist file or a folder")
    text = path.read_text(encoding="utf-8")
    sidecar = path.with_suffix(".json")
    if not sidecar.exists():
        result = ngspice.run(spice.parse(text))
        return {"format": None, "error": None, "tolerance": None, "passed": not result.warnings,
                "warnings": result.warnings, "points": len(next(iter(result.vectors.values()))), "netlist": str(path)}
    meta = json.loads(sidecar.read_text())
    net = load_network(path.parent / meta["network"])
    circuit = build(net, meta)
    if spice.write(circuit.netlist) != text:
        raise ConfigurationError(f"{path} differs from the circuit its network and {sidecar.name} give: re-export it")
    fmt = meta["format"]
    x = np.array(meta["x"], dtype=float)
    if fmt in ("spice", "crossbar"):
        result = ngspice.run(circuit.netlist)
        measured = circuit.read(result, "outputs")[0]
        if fmt == "spice":
            expected, default = net.forward(x)[0], 1e-6 * max(1.0, float(np.max(np.abs(net.forward(x)))))
        else:
            expected = net.forward(x)[0]
            model = realize.crossbar_forward(net, x, meta["settings"]["r_unit"], meta["settings"]["gain"])[0]
            default = max(1e-9, 1.01 * float(np.max(np.abs(model - expected))))  # the stated finite-gain error
        error = float(np.max(np.abs(measured - expected)))
        points = 1
    elif fmt == "tline-trainer":
        from .native import simulate_tline_trainer

        s = meta["settings"]
        save = [str(n) for g in circuit.nodes["params"] for n in np.ravel(g)] + [str(n) for n in np.ravel(circuit.nodes["a"][-1])]
        result = ngspice.run(circuit.netlist, save=save)
        native = simulate_tline_trainer(net, x, np.array(meta["y"]), meta["loss"], s["beta"], s["td"],
                                        circuit.info["t_stop"], s["steps_per_td"], circuit.info["learning_rate"] or 0.0,
                                        circuit.info["leak_rate"] or 0.0)
        error, default = trajectory_error(circuit, result, native), 0.02
        points = len(result.time)
    else:
        from substrate import Dyadic

        result = ngspice.run(circuit.netlist)
        t_eval = result.time[result.time > 0]
        solution = Dyadic(net, meta["loss"], circuit.info["beta"], circuit.info["tau"]).integrate(
            x, np.array(meta["y"]), float(t_eval[-1]), t_eval=t_eval)
        error = 0.0
        for key, attribute in (("a", "forward"), ("s", "backward")):
            for k, grid in enumerate(circuit.read(result, key)):
                native = np.array([getattr(state, attribute)[k + 1] for state in solution.states])
                error = max(error, float(np.max(np.abs(grid[-len(t_eval):] - native))))
        default, points = 1e-3, len(result.time)
    tolerance = default if tolerance is None else check_positive("tolerance", tolerance)
    return {"format": fmt, "error": error, "tolerance": tolerance, "passed": error <= tolerance and not result.warnings,
            "warnings": result.warnings, "points": points, "netlist": str(path)}


def trajectory_error(circuit, result, native) -> float:
    """Largest difference between ngspice's and the native parameter trajectories, relative to each range.

    ngspice's trajectories are linearly interpolated onto the native grid; each scalar parameter's
    error is divided by the range its native trajectory spans.
    """
    worst = 0.0
    for grid, trajectory in zip(circuit.read(result, "params"), native.params):
        spice_flat = grid.reshape(len(result.time), -1)
        native_flat = trajectory.reshape(len(native.t), -1)
        for q in range(native_flat.shape[1]):
            on_grid = np.interp(native.t, result.time, spice_flat[:, q])
            span = np.ptp(native_flat[:, q])
            if span > 0:
                worst = max(worst, float(np.max(np.abs(on_grid - native_flat[:, q])) / span))
    return worst
