"""Run ngspice in batch mode and read its results as numpy arrays.

:func:`run` writes the netlist into a fresh temporary directory, calls ``ngspice -b -r out.raw
circuit.cir`` with an argument list (never a shell string), and reads the binary raw file, with
spicelib's ``RawRead`` when it is installed and with the small parser :func:`read_raw` otherwise (both
are tested against each other). A missing ngspice or a failed run raises :class:`NgspiceError` quoting
ngspice's own messages.
"""

from __future__ import annotations

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
from .netlist import Netlist

__all__ = ["run", "NgspiceError", "NgspiceResult", "read_raw", "find_ngspice"]

_NODE = re.compile(r"[A-Za-z0-9_]+\Z")
# the one line ngspice 39 prints for every run when no compatibility mode is configured
_BENIGN = ("note: no compatibility mode selected", "note: compatibility modes selected")


class NgspiceError(SubstrateError):
    """ngspice is missing, failed, or reported an error; the message quotes ngspice's output."""


@dataclass
class NgspiceResult:
    """Vectors of one ngspice analysis.

    Attributes
    ----------
    vectors : dict of str -> ndarray
        Lower-case names as ngspice writes them (``"time"``, ``"v(out0)"``, ``"i(v1)"``); voltages in V,
        currents in A, time in s. An ``.op`` gives arrays of length 1.
    warnings : list of str
        Lines of ngspice's output that are warnings or notes (the compatibility-mode banner excluded).
    output : str
        ngspice's full stdout and stderr.
    netlist_text : str
        The text that was simulated.
    """

    vectors: dict
    warnings: list = field(default_factory=list)
    output: str = ""
    netlist_text: str = ""

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


def read_raw(path: str | os.PathLike) -> dict:
    """Parse the first plot of an ngspice raw file (binary or ASCII, real data) into ``{name: array}``."""
    data = Path(path).read_bytes()
    names, n_points, n_vars, flags, position = [], None, None, "", 0
    while True:
        end = data.index(b"\n", position)
        line = data[position:end].decode("latin-1")
        position = end + 1
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "flags":
            flags = value.strip().lower()
        elif key == "no. variables":
            n_vars = int(value)
        elif key == "no. points":
            n_points = int(value)
        elif key == "variables":
            for _ in range(n_vars):
                end = data.index(b"\n", position)
                names.append(data[position:end].decode("latin-1").split()[1].lower())
                position = end + 1
        elif key in ("binary", "values"):
            break
    if "complex" in flags:
        raise NgspiceError(f"{path}: complex raw data is not supported (flags: {flags})")
    if key == "binary":
        values = np.frombuffer(data, dtype="<f8", count=n_points * n_vars, offset=position)
    else:
        numbers = [float(t) for t in data[position:].decode("latin-1").split()]
        values = np.array([v for i, v in enumerate(numbers) if i % (n_vars + 1)])  # drop the point index
    table = values.reshape(n_points, n_vars)
    return {name: table[:, i].copy() for i, name in enumerate(names)}


def _read(path) -> dict:
    try:
        from spicelib import RawRead
    except ImportError:
        return read_raw(path)
    raw = RawRead(str(path), dialect="ngspice", verbose=False)
    return {name.lower(): np.real(np.asarray(raw.get_trace(name).get_wave(0), dtype=float))
            for name in raw.get_trace_names()}


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
        ``path -> {name: array}`` raw-file reader (default spicelib if installed, else :func:`read_raw`).

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
        try:
            process = subprocess.run([program, "-b", "-r", "out.raw", "circuit.cir"], cwd=folder,
                                     capture_output=True, text=True, timeout=timeout,
                                     env={**os.environ, "SPICE_ASCIIRAWFILE": "0"})
        except subprocess.TimeoutExpired:
            raise NgspiceError(f"ngspice did not finish within {timeout} s") from None
        output = process.stdout + process.stderr
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        errors = [line for line in lines if re.search(r"\berror\b", line, re.IGNORECASE)
                  or "singular matrix" in line.lower() or "timestep too small" in line.lower()]
        raw = folder / "out.raw"
        if process.returncode != 0 or errors or not raw.exists() or raw.stat().st_size == 0:
            quoted = "\n".join(errors or lines[-15:])
            raise NgspiceError(f"ngspice failed (exit status {process.returncode}):\n{quoted}")
        warnings = [line for line in lines if (re.search(r"warning", line, re.IGNORECASE) or line.lower().startswith("note"))
                    and not line.lower().startswith(_BENIGN)]
        vectors = (reader or _read)(raw)
    return NgspiceResult(vectors, warnings, output, text)
