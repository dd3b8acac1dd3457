"""``substrate verify`` on many netlists: each in its own process, through the sweep executors.

Each netlist is verified by :func:`circuits.export.verify` in a child Python process of the worker
(``python -c`` running :func:`_main` on the netlist) started in its own process group, so a per-netlist
timeout kills it together with its ngspice. A netlist that fails, errs or times out is a row of the
summary table, not the end of the run.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import ConfigurationError, check_positive
from .executors import executor_kind

__all__ = ["netlists", "verify_many", "summary_table", "run_many"]

_CHILD = "import sys; from substrate.sweeps.verify import _main; sys.exit(_main(sys.argv[1:]))"


def netlists(paths) -> list[Path]:
    """The netlists named by ``paths``: ``.cir`` files as given, folders searched recursively (sorted);
    a netlist named twice (directly or through a folder) is verified once, at its first place."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(path.rglob("*.cir"))
            if not inside:
                raise ConfigurationError(f"{path} holds no .cir netlist")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigurationError(f"{path} is neither a netlist file nor a folder")
    unique = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def verify_one(path: str, tolerance: float | None, timeout: float) -> dict:
    """Verify one netlist in a child process killed (with its ngspice) after ``timeout`` s."""
    import substrate

    env = dict(os.environ)
    root = str(Path(substrate.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    command = [sys.executable, "-c", _CHILD, str(path)] + ([] if tolerance is None else [repr(tolerance)])
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {"netlist": str(path), "status": "timeout", "seconds": time.perf_counter() - started,
                "message": f"did not finish within {timeout:g} s"}
    seconds = time.perf_counter() - started
    lines = stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"netlist": str(path), "status": "error", "seconds": seconds, "message": tail}
    report["seconds"] = seconds
    return report


def verify_many(paths, *, tolerance: float | None = None, executor="local", workers: int | None = None,
                scheduler: str | None = None, timeout: float = 600.0, progress: bool = False) -> list[dict]:
    """Verify every netlist under ``paths`` on an executor; one summary row per netlist, in path order.

    Parameters
    ----------
    paths : sequence of path
        Netlist files and folders (searched recursively for ``*.cir``).
    tolerance : float, optional
        Passed to :func:`circuits.export.verify` (default: per format).
    executor, workers, scheduler
        As for :func:`substrate.sweep`.
    timeout : float
        Seconds per netlist (> 0); a netlist still running is killed and gets status ``timeout``.

    Returns
    -------
    list of dict
        ``netlist``, ``status`` (``pass``, ``fail``, ``error``, ``timeout``), ``format``,
        ``difference``, ``tolerance``, ``warnings`` (count), ``seconds`` and ``message``.
    """
    found = netlists(paths)
    timeout = check_positive("timeout", timeout)
    kind = executor_kind(executor, scheduler)
    from ..progress import counter

    bar = counter(len(found), unit="netlist", label="verify", enabled=progress)
    results: dict[int, dict] = {}
    try:
        with kind.open(workers) as pool:
            futures = {pool.submit(verify_one, str(path), tolerance, timeout): k for k, path in enumerate(found)}
            for future in concurrent.futures.as_completed(futures):
                k = futures[future]
                try:
                    results[k] = future.result()
                except Exception as error:  # the worker died
                    results[k] = {"netlist": str(found[k]), "status": "error", "message": f"{type(error).__name__}: {error}"}
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [results[k] for k in range(len(found))]


def summary_table(rows: list[dict]) -> str:
    """A plain-text table: one line per netlist and a count per status."""
    lines = [f"{'status':8} {'format':14} {'difference':>11} {'tolerance':>10} {'warn':>4} {'s':>6}  netlist"]
    for row in rows:
        difference = row.get("difference")
        tolerance = row.get("tolerance")
        lines.append(f"{row['status']:8} {row.get('format') or '-':14} "
                     f"{'-' if difference is None else format(difference, '.3e'):>11} "
                     f"{'-' if tolerance is None else format(tolerance, '.2e'):>10} {row.get('warnings', '-')!s:>4} "
                     f"{row.get('seconds', float('nan')):6.1f}  {row['netlist']}"
                     + (f"  ({row['message']})" if row.get("message") else ""))
    counts = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    lines.append(f"{len(rows)} netlists: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return "\n".join(lines)


def run_many(args) -> int:
    """The ``substrate verify`` path for several netlists: exit 0 when every one passed, else 1."""
    rows = verify_many(args.path, tolerance=args.tolerance, executor=args.executor, workers=args.workers,
                       scheduler=args.scheduler, timeout=args.timeout, progress=True)
    print(summary_table(rows))
    return 0 if all(row["status"] == "pass" for row in rows) else 1


def _main(argv: list[str]) -> int:
    """Child process: verify one netlist, print one JSON line."""
    from circuits.export import verify

    tolerance = float(argv[1]) if len(argv) > 1 else None
    try:
        report = verify(argv[0], tolerance)
    except Exception as error:  # reported as a row by the parent
        print(json.dumps({"netlist": argv[0], "status": "error", "message": f"{type(error).__name__}: {error}"}))
        return 0
    print(json.dumps({"netlist": report["netlist"], "status": "pass" if report["passed"] else "fail",
                      "format": report["format"], "difference": report["error"], "tolerance": report["tolerance"],
                      "warnings": len(report["warnings"]), "message": "; ".join(report["warnings"])[:200]}))
    return 0
