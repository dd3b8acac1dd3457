"""Export a saved network as a circuit and verify an exported circuit against the native simulators.

An export writes ``NAME.cir`` (the netlist, behind a comment block: generator, provenance, the
network, a legend of the node names, the constants and how to run it) and ``NAME.json`` (how it was
made: format, settings, inputs and targets, the network file and its sha256), so :func:`verify` can
rebuild the same circuit, check that the file is what the network gives, run ngspice on it and
compare with the project's own simulation of the same circuit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

from substrate.errors import ConfigurationError, check_positive
from substrate.io import write_json, write_text
from substrate.network import get_loss, load_network

from . import ngspice, realize, spice

__all__ = ["FORMATS", "export", "verify", "build", "header"]

FORMATS = ("spice", "crossbar", "tline-trainer", "rc-trainer", "testbench")
DEFAULTS = {
    "spice": {},
    "crossbar": {"r_unit": 1e4, "gain": 1e7},
    "tline-trainer": {"td": 1e-9, "t_stop": None, "steps_per_td": 20, "learning_rate": None, "capacitance": 1e-12,
                      "beta": 1.0},
    "rc-trainer": {"resistance": 1e3, "capacitance": 1e-9, "t_stop": None, "step": None, "beta": 1.0},
    "testbench": {"hold": 1e-6, "sweep_points": 50},
}
#: what each node-name family of a format means (the legend in the netlist header)
LEGEND = {
    "spice": ["in{j}: input j (V)", "z{k}_{i}: pre-activation of neuron i in layer k (V)",
              "h{k}_{i}: activation of hidden neuron i in layer k (V)", "out{i}: output i (V)"],
    "crossbar": ["in{j}: input j (V); rail_bias: the 1 V bias rail",
                 "R_p{k}_{i}_{j} / R_n{k}_{i}_{j}: conductances G+ / G- of weight (k, i, j); j = n_in is the bias",
                 "sump{k}_{i} / sumn{k}_{i}: virtual grounds of the transimpedance amplifiers (subckt tia)",
                 "yp{k}_{i} / yn{k}_{i}: amplifier outputs (V); h{k}_{i}, out{i}: activations (V)"],
    "tline-trainer": ["x{j}_s{n}: input j of sample copy n (V)",
                      "l{k}_{i}_s{n} / r{k}_{i}_s{n}: near / far end of the T line of neuron (k, i), copy n",
                      "a{k}_{i}_s{n}: forward wave arriving at the far end; s{k}_{i}_s{n}: backward wave at junction k (V)",
                      "d{k}_{i}_s{n}: f'(z) * s (V); z{k}_{i}_s{n}: pre-activation (V)",
                      "w{k}_{i}_{j}, b{k}_{i}: parameters as node voltages (V)"],
    "rc-trainer": ["x{j}_s{n}: input j of sample copy n (V)",
                   "p{k}_{i}_s{n}: activation node a+ (V); m{k}_{i}_s{n}: sensitivity node a- (V)",
                   "w{k}_{i}_{j}, b{k}_{i}: parameters as node voltages (V)"],
    "testbench": ["in{j}: input j, stepping through the test samples (V); label: the sample's class (V)",
                  "X_net: the network as subcircuit 'network' (pins in0.., out0..); out{i}: output i (V)",
                  "ok: 1 V while the largest output is the label's, else 0 V; .meas accuracy = AVG v(ok)"],
}
_KEYS = ("format", "network", "network_sha256", "loss", "x", "y", "settings")


def _network_file(run_dir) -> Path:
    path = Path(run_dir)
    path = path / "params.npz" if path.is_dir() else path
    if not path.is_file():
        raise ConfigurationError(f"{run_dir}: no params.npz (write one with substrate.save_network)")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(net, meta: dict):
    """Rebuild the :class:`~circuits.realize.Circuit` described by export metadata ``meta``."""
    fmt, settings = meta["format"], meta["settings"]
    x = np.array(meta["x"], dtype=float)
    if fmt in ("spice", "crossbar"):
        style = "behavioural" if fmt == "spice" else "crossbar"
        return realize.inference(net, x[0], style=style, **settings)
    y = np.array(meta["y"])
    if fmt == "testbench":
        return realize.testbench(net, x, y, **settings)
    if fmt == "tline-trainer":
        options = dict(settings)
        rate = options.pop("learning_rate")
        capacitance = options["capacitance"]
        return realize.tline_trainer(net, x, y, meta["loss"], port_resistance=None if rate is None else 1.0 / (rate * capacitance),
                                     **options)
    return realize.rc_trainer(net, x, y, meta["loss"], **settings)


def header(net, meta: dict, circuit, name: str) -> list[str]:
    """The comment block of an exported netlist: generator, provenance, the network, a legend of the
    node names, the physical constants and how to run it."""
    from substrate.provenance import provenance

    origin = provenance()
    layers = ", ".join(f"{layer.n_in}->{layer.n_out} {layer.activation.name}" for layer in net.layers)
    lines = [
        f"generated by {origin['package']} {origin['version']} (substrate export, format {meta['format']})",
        f"git commit: {origin['git_commit'] or 'unknown (not a git checkout)'}",
        f"date: {origin['time']}",
        f"command: {' '.join(origin['command'])}",
        f"platform: {origin['platform']}, Python {origin['python']}",
        f"network: sizes {'-'.join(map(str, net.sizes))}; layers {layers}; loss {meta['loss']}",
        f"network file: {meta['network']} (sha256 {meta['network_sha256'][:16]}...)",
        "node names:",
    ]
    lines += [f"  {entry}" for entry in LEGEND[meta["format"]]]
    constants = {k: v for k, v in {**meta["settings"], **circuit.info}.items() if isinstance(v, (int, float, str))}
    if constants:
        lines.append("constants (SI units: s, ohm, F, V, 1/s): " + ", ".join(f"{k}={v!r}" for k, v in sorted(constants.items())))
    lines += [f"run: ngspice -b {name}     check: substrate verify {name}"]
    if meta["format"] == "testbench":
        lines.append("ngspice prints 'accuracy = ...' (the fraction of test samples classified correctly)")
    return lines


def export(run_dir, fmt: str, out=None, x=None, y=None, loss: str = "mse", progress: bool = False,
           device_table: str = "npz", **settings) -> dict:
    """Write the circuit of the network in ``run_dir`` (a folder with ``params.npz`` or the file itself).

    Parameters
    ----------
    fmt : {"spice", "crossbar", "tline-trainer", "rc-trainer", "testbench"}
        ``"testbench"``: the network as a ``.subckt`` plus a test bench whose ``.meas`` reports the
        accuracy on ``(x, y)`` (see :func:`circuits.realize.testbench`).
    out : path, optional
        Netlist path (default ``RUN_DIR/<fmt>.cir``); the metadata goes next to it as ``.json``, the
        crossbar's device table as ``devices.npz`` (or ``devices.csv``) in the same folder.
    x : ndarray
        One input sample (inference formats; default zeros) or the batch (trainers, test bench: required).
    y : ndarray
        Targets (trainers) or class labels (test bench).
    loss : {"mse", "cross_entropy"}
    progress : bool
        Show a progress bar over the phases on stderr.
    device_table : {"npz", "csv"}
        Format of the crossbar's device table.
    settings
        Format options (see ``DEFAULTS``); SI units.

    Returns
    -------
    dict
        ``netlist``, ``metadata`` (paths) and ``devices`` (crossbar only).
    """
    from substrate.progress import Phases

    if fmt not in FORMATS:
        raise ConfigurationError(f"format = {fmt!r} must be one of {FORMATS}")
    if device_table not in ("npz", "csv"):
        raise ConfigurationError(f"device_table = {device_table!r} must be 'npz' or 'csv'")
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
        raise ConfigurationError(f"format {fmt!r} needs " + ("the test samples x and labels y" if fmt == "testbench"
                                                              else "the training batch x and targets y"))
    else:
        x = net.check_input(x)
        y = np.asarray(y)
    merged = {**DEFAULTS[fmt], **{k: v for k, v in settings.items() if v is not None}}
    if fmt == "tline-trainer" and merged["learning_rate"] is not None:
        check_positive("learning_rate", merged["learning_rate"])
    out = Path(out) if out is not None else network_file.parent / f"{fmt}.cir"
    meta = {"format": fmt, "network": os.path.relpath(network_file.resolve(), out.parent.resolve()),
            "network_sha256": _sha256(network_file), "loss": loss,
            "x": x.tolist(), "y": None if y is None else y.tolist(), "settings": merged}
    phases = ["build and validate the circuit", "write the netlist"] + (["write the device table"] if fmt == "crossbar" else [])
    with Phases(phases, progress, label=f"export {fmt}") as bar:
        circuit = build(net, meta)  # validates everything before any file is written
        bar.next(f"{len(circuit.netlist.elements)} elements")
        text = spice.write(circuit.netlist, header(net, meta, circuit, out.name))
        result = {"netlist": str(out), "metadata": str(out.with_suffix(".json"))}
        write_text(out, text)
        if fmt == "crossbar":
            meta["crossbar"] = circuit.info
        write_json(out.with_suffix(".json"), meta)
        if fmt == "crossbar":
            bar.next()
            result["devices"] = str(realize.write_device_table(net, out.parent, merged["r_unit"], fmt=device_table))
    return result


def _read_sidecar(sidecar: Path) -> dict:
    """The export metadata, checked: JSON (never a pickle), the expected keys and types, a relative
    ``.npz`` network path."""
    try:
        meta = json.loads(sidecar.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ConfigurationError(f"{sidecar} is not valid JSON ({error}); re-export the netlist") from None
    if not isinstance(meta, dict):
        raise ConfigurationError(f"{sidecar} must hold a JSON object, got {type(meta).__name__}; re-export the netlist")
    missing = [key for key in _KEYS if key not in meta]
    if missing:
        raise ConfigurationError(f"{sidecar} lacks {missing}: not written by this version's export; re-export the netlist")
    fmt = meta["format"]
    if fmt not in FORMATS:
        raise ConfigurationError(f"{sidecar}: format = {fmt!r} must be one of {FORMATS}")
    settings = meta["settings"]
    if not isinstance(settings, dict) or set(settings) - set(DEFAULTS[fmt]) or not all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)) for v in settings.values()):
        raise ConfigurationError(f"{sidecar}: settings {settings!r} must map {sorted(DEFAULTS[fmt])} to finite numbers")
    if meta["loss"] not in ("mse", "cross_entropy"):
        raise ConfigurationError(f"{sidecar}: loss = {meta['loss']!r} must be 'mse' or 'cross_entropy'")
    for key in ("x", "y"):
        if key == "y" and meta[key] is None:
            continue
        try:
            array = np.array(meta[key], dtype=float)
        except (TypeError, ValueError):
            array = None
        if array is None or array.ndim not in (1, 2) or not np.all(np.isfinite(array)):
            raise ConfigurationError(f"{sidecar}: '{key}' must be a finite array of numbers, got {str(meta[key])[:60]!r}")
    network = meta["network"]
    if not isinstance(network, str) or os.path.isabs(network) or not network.endswith(".npz") or "\0" in network:
        raise ConfigurationError(f"{sidecar}: network = {network!r} must be a relative path to an .npz file")
    if not isinstance(meta["network_sha256"], str):
        raise ConfigurationError(f"{sidecar}: network_sha256 must be a string")
    return meta


def verify(path, tolerance: float | None = None, progress: bool = False) -> dict:
    """Run ngspice on an exported netlist and compare it with the native simulation of the same circuit.

    ``path`` is a ``.cir`` file or a folder holding exactly one exported ``.cir``. Without a ``.json``
    sidecar the netlist is only parsed (what could execute a command is refused) and run (ngspice
    must accept it without warnings). The sidecar is read as JSON only (never unpickled); its
    network file must be the one exported (same sha256).

    Returns
    -------
    dict
        ``format``, ``error`` (largest difference, see the tolerance of each format), ``tolerance``,
        ``passed``, ``warnings``, ``points`` (ngspice time points or 1), ``netlist`` and, for a test
        bench, ``accuracy`` (ngspice's ``.meas``) and ``expected_accuracy`` (``net.forward``).
    """
    from substrate.progress import Phases

    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*.cir"))
        if len(candidates) != 1:
            raise ConfigurationError(f"{path} holds {len(candidates)} .cir files; name the netlist to verify")
        path = candidates[0]
    if not path.is_file():
        raise ConfigurationError(f"{path} is not a netlist file or a folder")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as error:
        raise ConfigurationError(f"{path} cannot be read as UTF-8 text ({error})") from None
    if tolerance is not None:
        tolerance = check_positive("tolerance", tolerance)
    sidecar = path.with_suffix(".json")
    if not sidecar.exists():
        with Phases(["parse the netlist", "run ngspice"], progress, label="verify") as bar:
            parsed = spice.parse(text)  # refuses a dot command on the title line, .control, .include, .lib, shell
            bar.next(f"{len(parsed.elements)} elements")
            result = ngspice.run(parsed)
        return {"format": None, "error": None, "tolerance": None, "passed": not result.warnings,
                "warnings": result.warnings, "points": len(next(iter(result.vectors.values()))), "netlist": str(path)}
    meta = _read_sidecar(sidecar)
    network_file = path.parent / meta["network"]
    if not network_file.is_file():
        raise ConfigurationError(f"{sidecar}: network file {network_file} does not exist")
    if _sha256(network_file) != meta["network_sha256"]:
        raise ConfigurationError(f"{sidecar}: {network_file} is not the network that was exported (its sha256 "
                                 "differs); re-export the netlist")
    net = load_network(network_file)
    fmt = meta["format"]
    phases = ["parse the netlist", "rebuild the circuit", "run ngspice", "compare"]
    with Phases(phases, progress, label=f"verify {fmt}") as bar:
        parsed = spice.parse(text)  # refuses a dot command on the title line, .control, .include, .lib, shell
        bar.next(f"{len(parsed.elements)} elements")
        circuit = build(net, meta)
        if parsed != circuit.netlist:
            raise ConfigurationError(f"{path} differs from the circuit its network and {sidecar.name} give: re-export it")
        bar.next()
        report = _compare(net, meta, circuit, bar)
    default = report.pop("default")
    tolerance = default if tolerance is None else tolerance
    report.update(format=fmt, tolerance=tolerance, netlist=str(path),
                  passed=report["error"] <= tolerance and not report["warnings"])
    return report


def _compare(net, meta, circuit, bar) -> dict:
    """Run ngspice on ``circuit`` and measure its difference from the native simulation."""
    fmt = meta["format"]
    x = np.array(meta["x"], dtype=float)
    if fmt in ("spice", "crossbar"):
        result = ngspice.run(circuit.netlist)
        bar.next()
        measured = circuit.read(result, "outputs")[0]
        expected = net.forward(x)[0]
        if fmt == "spice":
            default = 1e-6 * max(1.0, float(np.max(np.abs(expected))))
        else:
            model = realize.crossbar_forward(net, x, meta["settings"]["r_unit"], meta["settings"]["gain"])[0]
            default = max(1e-9, 1.01 * float(np.max(np.abs(model - expected))))  # the stated finite-gain error
        return {"error": float(np.max(np.abs(measured - expected))), "default": default, "points": 1,
                "warnings": result.warnings}
    if fmt == "testbench":
        result = ngspice.run(circuit.netlist)
        bar.next()
        labels = np.array(meta["y"])
        expected = float(np.mean(net.forward(x).argmax(axis=1) == labels))
        accuracy = result.measures["accuracy"]
        # the edges between samples (1e-6 of each hold) and ngspice's 7 printed digits: far below 1/(2 N)
        return {"error": abs(accuracy - expected), "default": 0.5 / len(x), "points": len(result.analysis("tran")["time"]),
                "warnings": result.warnings, "accuracy": accuracy, "expected_accuracy": expected}
    if fmt == "tline-trainer":
        from .native import simulate_tline_trainer

        s = meta["settings"]
        waves = [str(n) for key in ("a", "s") for grid in circuit.nodes[key] for n in np.ravel(grid)]
        save = [str(n) for g in circuit.nodes["params"] for n in np.ravel(g)] + waves
        result = ngspice.run(circuit.netlist, save=save)
        bar.next()
        native = simulate_tline_trainer(net, x, np.array(meta["y"]), meta["loss"], s["beta"], s["td"],
                                        circuit.info["t_stop"], s["steps_per_td"], circuit.info["learning_rate"] or 0.0,
                                        circuit.info["leak_rate"] or 0.0)
        waves = wave_error(circuit, result, native)
        if circuit.info["learning_rate"] is None:
            # frozen parameters: after the round trip 2L td every wave is exact; both simulations agree to
            # ngspice's reltol (1e-9), so 1e-6 of each wave's scale leaves room and catches any wrong wave
            error, default = waves, 1e-6
        else:
            error, default = max(trajectory_error(circuit, result, native), waves), 0.02
        return {"error": error, "default": default, "points": len(result.time), "warnings": result.warnings}
    from substrate import Dyadic

    result = ngspice.run(circuit.netlist)
    bar.next()
    t_eval = result.time[result.time > 0]
    solution = Dyadic(net, meta["loss"], circuit.info["beta"], circuit.info["tau"]).integrate(
        x, np.array(meta["y"]), float(t_eval[-1]), t_eval=t_eval)
    error = 0.0
    for key, attribute in (("a", "forward"), ("s", "backward")):
        for k, grid in enumerate(circuit.read(result, key)):
            native = np.array([getattr(state, attribute)[k + 1] for state in solution.states])
            error = max(error, float(np.max(np.abs(grid[-len(t_eval):] - native))))
    return {"error": error, "default": 1e-3, "points": len(result.time), "warnings": result.warnings}


def wave_error(circuit, result, native) -> float:
    """Largest difference between ngspice's and the native arriving waves ``a_k``, ``s_k`` at the final
    time, relative to ``max(1, |native wave|)`` (dimensionless).

    Both simulations hold every wave constant after the round trip when the parameters are frozen,
    and the final time is at least ``(2L + 2) td``, past it.
    """
    worst = 0.0
    for key in ("a", "s"):
        for grid, trajectory in zip(circuit.read(result, key), getattr(native, key)):
            spice_final, native_final = grid[-1], trajectory[-1]
            scale = np.maximum(1.0, np.abs(native_final))
            worst = max(worst, float(np.max(np.abs(spice_final - native_final) / scale)))
    return worst


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
