"""A small private ngspice runner for the line tests (to be replaced by ``circuits.ngspice`` later).

Runs a netlist in batch mode in a temporary directory (subprocess with an argument list, never a
shell string) and reads vectors written by ``wrdata``.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np


def run_transient(executable: str, netlist: str, vectors: list[str], step: float, stop: float) -> dict:
    """Run ``.tran step stop`` on ``netlist`` (elements only) and return ``{"time": ..., vector: ...}``."""
    control = "\n".join([
        f".tran {step:.6g} {stop:.6g}",
        ".control",
        "set wr_singlescale",
        "set wr_vecnames",
        "option numdgt=12",
        "run",
        "wrdata out.txt " + " ".join(vectors),
        "quit",
        ".endc",
        ".end",
    ])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "circuit.cir"
        path.write_text("* substrate line test\n" + netlist.strip() + "\n" + control + "\n")
        result = subprocess.run([executable, "-b", path.name], cwd=folder, capture_output=True, text=True, timeout=120)
        output = Path(folder) / "out.txt"
        if result.returncode != 0 or not output.exists():
            raise RuntimeError(f"ngspice failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        data = np.loadtxt(output, skiprows=1)
    columns = {"time": data[:, 0]}
    for k, name in enumerate(vectors):
        columns[name] = data[:, k + 1]
    return columns
