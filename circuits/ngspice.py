"""Run ngspice in batch mode and read its results as numpy arrays.

:func:`run` writes the netlist into a fresh temporary directory, calls ``ngspice -b -r out.raw
circuit.cir`` with an argument list (never a shell string), and reads every plot of the binary raw
file with :func:`read_raw_plots` (tested against spicelib's ``RawRead``, :func:`spicelib_reader`).
``.meas`` results are read from ngspice's output. A missing ngspice, a failed run or a corrupt raw
file raises :class:`NgspiceError` quoting ngspice's own messages or naming what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from substrate.errors import ConfigurationError, SubstrateError

from . import spice
from .netlist import AC, DCSweep, Netlist, Tran

__all__ = ["run", "NgspiceError", "NgspiceResult", "read_raw", "read_raw_plots", "spicelib_reader", "find_ngspice"]

_NODE = re.compile(r"[A-Za-z0-9_]+\Z")
# the one line ngspice 39 prints for every run when no compatibility mode is configured
_BENIGN = ("note: no compatibility mode selected", "note: compatibility modes selected")


class NgspiceError(SubstrateError):
    """ngspice is missing, failed, or reported an error; the message quotes ngspice's output."""


@dataclass
class NgspiceResult:
    """Vectors of an ngspice run (every analysis) and its ``.meas`` values.

    Attributes
    ----------
    vectors : dict of str -> ndarray
        The first plot (the only one for a single analysis): lower-case names as ngspice writes them
        (``"time"``, ``"v(out0)"``, ``"i(v1)"``); voltages in V, currents in A, time in s, frequency in
        Hz (``.ac`` vectors are complex). An ``.op`` gives arrays of length 1.
    warnings : list of str
        Lines of ngspice's output that are warnings or notes (the compatibility-mode banner excluded).
    output : str
        ngspice's full stdout and stderr.
    netlist_text : str
        The text that was simulated.
    plots : list of dict
        Every analysis's vectors in the order of ngspice's raw file (``plots[0]`` is ``vectors``); that
        is not the netlist's order (for ``.op .dc .tran .ac`` ngspice writes AC, DC, OP, TRAN): use
        :meth:`analysis`.
    plot_names : list of str
        ngspice's name of each plot (``"Transient Analysis"``, ``"AC Analysis"``, ...).
    measures : dict of str -> float
        The value of each ``.meas`` statement (lower-case name), as ngspice printed it.
    """

    vectors: dict
    warnings: list = field(default_factory=list)
    output: str = ""
    netlist_text: str = ""
    plots: list = field(default_factory=list)
    measures: dict = field(default_factory=dict)
    plot_names: list = field(default_factory=list)

    def analysis(self, kind: str) -> dict:
        """The vectors of the analysis ``kind``: ``"op"``, ``"dc"``, ``"ac"`` or ``"tran"``."""
        prefixes = {"op": "operating point", "dc": "dc transfer", "ac": "ac analysis", "tran": "transient"}
        if kind not in prefixes:
            raise ConfigurationError(f"kind = {kind!r} must be one of {sorted(prefixes)}")
        for name, vectors in zip(self.plot_names, self.plots):
            if name.lower().startswith(prefixes[kind]):
                return vectors
        raise ConfigurationError(f"no {kind!r} analysis among the plots {self.plot_names}")

    def v(self, node: str) -> np.ndarray:
        """The voltage of ``node`` in V (all time points)."""
        key = f"v({node.lower()})"
        if key not in self.vectors:
            raise ConfigurationError(f"node {node!r} is not in the results (saved: {sorted(self.vectors)[:20]} ...)")
        return self.vectors[key]

    @property
    def time(self) -> np.ndarray:
        """Time points in s (transient analyses)."""
        return self.vectors["time"]


def find_ngspice(executable: str | None = None) -> str:
    """Return the path of the ngspice executable or raise :class:`NgspiceError`."""
    path = shutil.which(executable or os.environ.get("NGSPICE", "ngspice"))
    if path is None:
        raise NgspiceError(
            f"ngspice executable {executable or 'ngspice'!r} not found on PATH; install it "
            "(Debian/Ubuntu: apt-get install ngspice) or set NGSPICE to its path")
    return path


def _corrupt(path, reason: str):
    return NgspiceError(f"raw file {path}: {reason} (truncated or not an ngspice raw file)")


def read_raw_plots(path: str | os.PathLike) -> list[tuple[str, dict]]:
    """Parse every plot of an ngspice raw file (binary or ASCII, real or complex data).

    Returns
    -------
    list of (str, dict)
        ``(plot name, {lower-case vector name: array})`` in the order of the analyses; complex plots
        (``.ac``) give complex arrays.

    Raises
    ------
    NgspiceError
        Naming the file and what is wrong (a missing or malformed header field, too few values).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise NgspiceError(f"raw file {path}: cannot be read ({error.strerror or error})") from None
    plots, position = [], 0
    while position < len(data):
        if not data[position:].strip():
            break
        names, n_points, n_vars, flags, plotname, key = [], None, None, "", "", None
        while True:
            end = data.find(b"\n", position)
            if end < 0:
                raise _corrupt(path, f"header of plot {len(plots) + 1} ends before its data")
            line = data[position:end].decode("latin-1")
            position = end + 1
            key, _, value = line.partition(":")
            key = key.strip().lower()
            try:
                if key == "plotname":
                    plotname = value.strip()
                elif key == "flags":
                    flags = value.strip().lower()
                elif key == "no. variables":
                    n_vars = int(value)
                elif key == "no. points":
                    n_points = int(value)
                elif key == "variables":
                    if n_vars is None or not 0 < n_vars <= 10**7:
                        raise _corrupt(path, f"'Variables:' without a valid 'No. Variables:' ({n_vars})")
                    for _ in range(n_vars):
                        end = data.find(b"\n", position)
                        fields = data[position:end].decode("latin-1").split() if end >= 0 else []
                        if len(fields) < 2:
                            raise _corrupt(path, f"variable list of plot {len(plots) + 1} has fewer than {n_vars} entries")
                        names.append(fields[1].lower())
                        position = end + 1
                elif key in ("binary", "values"):
                    break
            except ValueError:
                raise _corrupt(path, f"header line {line[:60]!r} does not hold an integer") from None
        if n_vars is None or n_points is None or len(names) != n_vars or n_points < 0:
            raise _corrupt(path, f"plot {len(plots) + 1} lacks 'No. Variables:', 'No. Points:' or 'Variables:'")
        width = 2 if "complex" in flags else 1
        count = n_points * n_vars * width
        if key == "binary":
            if len(data) - position < 8 * count:
                raise _corrupt(path, f"plot {len(plots) + 1} needs {8 * count} bytes of data, "
                                     f"holds {len(data) - position}")
            values = np.frombuffer(data, dtype="<f8", count=count, offset=position)
            position += 8 * count
        else:
            tokens = data[position:].decode("latin-1").split()
            per_point = 1 + n_vars  # the point index, then one value (or 're,im') per variable
            if len(tokens) < n_points * per_point:
                raise _corrupt(path, f"plot {len(plots) + 1} needs {n_points * per_point} values, holds {len(tokens)}")
            try:
                numbers = [float(part) for i, t in enumerate(tokens[: n_points * per_point]) if i % per_point
                           for part in t.split(",")[:width]]
            except ValueError as error:
                raise _corrupt(path, f"a value is not a number ({error})") from None
            if len(numbers) != count:
                raise _corrupt(path, f"plot {len(plots) + 1} has malformed values")
            values = np.array(numbers)
            position = len(data)  # the ASCII reader takes one plot
        table = values.reshape(n_points, n_vars, width)
        # complex values read as they are stored, (re, im) pairs: no arithmetic, so an undefined imaginary half
        # (inf or nan in the scale vector) cannot leak into the real half (1j * inf is nan + inf j)
        table = np.ascontiguousarray(table).view(np.complex128)[..., 0] if width == 2 else table[..., 0]
        vectors = {name: table[:, i].copy() for i, name in enumerate(names)}
        if width == 2:  # the scale (frequency) is real; ngspice leaves its imaginary half undefined
            vectors[names[0]] = vectors[names[0]].real.copy()
        plots.append((plotname, vectors))
    if not plots:
        raise _corrupt(path, "no plot found")
    return plots


def read_raw(path: str | os.PathLike) -> dict:
    """The first plot of an ngspice raw file as ``{name: array}`` (see :func:`read_raw_plots`)."""
    return read_raw_plots(path)[0][1]


def spicelib_reader(path) -> dict:
    """The first plot of a raw file read by spicelib's ``RawRead`` (an independent reader, used in tests)."""
    from spicelib import RawRead

    try:
        raw = RawRead(str(path), dialect="ngspice", verbose=False)
    except Exception as error:  # spicelib raises many kinds; name the file and its message
        raise _corrupt(path, f"spicelib cannot read it: {error}") from None
    return {name.lower(): np.real(np.asarray(raw.get_trace(name).get_wave(0), dtype=float))
            for name in raw.get_trace_names()}


def _call(program, folder, extra, timeout) -> tuple[str, list]:
    """Run ``ngspice -b [extra] circuit.cir`` in ``folder``; return its output and non-empty lines."""
    try:
        process = subprocess.run([program, "-b", *extra, "circuit.cir"], cwd=folder, capture_output=True,
                                 text=True, timeout=timeout, env={**os.environ, "SPICE_ASCIIRAWFILE": "0"})
    except subprocess.TimeoutExpired:
        raise NgspiceError(f"ngspice did not finish within {timeout} s") from None
    output = process.stdout + process.stderr
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"\berror\b", line, re.IGNORECASE)
              or "singular matrix" in line.lower() or "timestep too small" in line.lower()
              or re.search(r"\bfailed!", line)]
    if process.returncode != 0 or errors:
        quoted = "\n".join(errors or lines[-15:])
        raise NgspiceError(f"ngspice failed (exit status {process.returncode}):\n{quoted}")
    return output, lines


def run(netlist: Netlist | str, save=None, timeout: float = 600.0, executable: str | None = None,
        reader=None) -> NgspiceResult:
    """Simulate ``netlist`` with ngspice in batch mode.

    Parameters
    ----------
    netlist : Netlist or str
        The circuit; a string is taken as netlist text and must be parseable by :func:`spice.parse`.
    save : sequence of str, optional
        Node names whose voltages to keep (``.save v(node)``); default: everything ngspice saves.
    timeout : float
        Wall-clock limit in s.
    executable : str, optional
        ngspice executable (default ``$NGSPICE`` or ``ngspice`` on PATH).
    reader : callable, optional
        ``path -> {name: array}`` reader of the first plot (default: :func:`read_raw_plots`, every plot).

    Returns
    -------
    NgspiceResult

    Raises
    ------
    NgspiceError
        ngspice missing, timed out, exited with an error, or printed an error message.
    """
    if isinstance(netlist, str):
        netlist = spice.parse(netlist)
    text = spice.write(netlist)
    if save is not None:
        save = list(save)
        for node in save:
            if not isinstance(node, str) or not _NODE.match(node):
                raise ConfigurationError(f"save: node name {node!r} must be letters, digits and '_'")
        if save:
            text = text[: -len(".end\n")] + "".join(f".save v({node})\n" for node in save) + ".end\n"
    timeout = float(timeout)
    if not timeout > 0:
        raise ConfigurationError(f"timeout = {timeout!r} must be > 0 s")
    program = find_ngspice(executable)
    with tempfile.TemporaryDirectory(prefix="substrate-ngspice-") as folder:
        folder = Path(folder)
        (folder / "circuit.cir").write_text(text, encoding="ascii")
        output, lines = _call(program, folder, ["-r", "out.raw"], timeout)
        raw = folder / "out.raw"
        if not raw.exists() or raw.stat().st_size == 0:
            raise NgspiceError("ngspice wrote no results:\n" + "\n".join(lines[-15:]))
        warnings = [line for line in lines if (re.search(r"warning", line, re.IGNORECASE) or line.lower().startswith("note"))
                    and not line.lower().startswith(_BENIGN)]
        named = [("", reader(raw))] if reader is not None else read_raw_plots(raw)
        measures = {}
        if netlist.measures:
            # ngspice evaluates .meas only without a raw file (-r), and without one it refuses to run an
            # analysis that no .meas reads: a second run of just the measured analyses prints them
            kinds = {m.analysis for m in netlist.measures}
            measured_only = dataclasses.replace(netlist, analysis=tuple(
                a for a in netlist.analyses if {Tran: "tran", DCSweep: "dc", AC: "ac"}.get(type(a)) in kinds))
            (folder / "circuit.cir").write_text(spice.write(measured_only), encoding="ascii")
            measured, measured_lines = _call(program, folder, [], timeout)
            output += measured
            for m in netlist.measures:
                found = re.search(rf"^\s*{m.name}\s*=\s*(\S+)", measured, re.IGNORECASE | re.MULTILINE)
                try:
                    measures[m.name.lower()] = float(found.group(1))
                except (AttributeError, ValueError):
                    raise NgspiceError(f".meas {m.name} gave no value; ngspice printed:\n"
                                       + "\n".join(measured_lines[-15:])) from None
    plots = [vectors for _, vectors in named]
    return NgspiceResult(plots[0], warnings, output, text, plots, measures, [name for name, _ in named])
