"""Regenerate the README's performance table from a results file, on purpose.

Usage (from the repository root)::

    python -m benchmarks                                        # writes benchmarks/results/latest.json
    python -m benchmarks.readme benchmarks/results/latest.json  # rewrites the README block

The block between ``<!-- benchmarks:begin -->`` and ``<!-- benchmarks:end -->`` in ``README.md`` is
replaced by the date, the machine, the command and one table row per case of the results file; the
results file is copied to ``docs/benchmark_results.json`` so that the numbers' source is tracked
beside them. Nothing outside the markers changes.

A case's row uses its ``summary`` (the headline numbers) and, when it misses its target, its
``explanation``; a case without them is summarised from its rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from substrate.io import atomic_path, write_text

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"
TRACKED_COPY = Path("docs") / "benchmark_results.json"


def _number(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _summary(result: dict) -> str:
    if result.get("skipped"):
        return f"not run: {result['skipped']}"
    if result.get("summary"):
        return result["summary"]
    # a case without a summary: its headline figures (dict-valued fields, e.g. speedups), else its rows
    parts = [f"{key.replace('_', ' ')}: " + ", ".join(f"{k} {_number(v)}" for k, v in value.items())
             for key, value in result.items() if isinstance(value, dict) and value]
    if not parts:
        for row in result.get("rows", []):
            label = ", ".join(f"{k} {_number(v)}" for k, v in row.items()
                              if isinstance(v, str) or k in ("setting", "steps_per_td", "depth"))
            figures = ", ".join(f"{k} {_number(v)}" for k, v in row.items()
                                if isinstance(v, float) and any(w in k for w in ("ratio", "speedup", "error")))
            parts.append(f"{label}: {figures}" if label else figures)
    return "; ".join(part for part in parts if part) or "-"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def block(report: dict, source: str) -> str:
    """The markdown between the markers for a results ``report`` (as written by ``python -m benchmarks``)."""
    machine = report["machine"]
    lines = [
        BEGIN,
        f"Measured on {machine['date']} on {machine.get('cores', '?')} cores ({machine.get('processor', '?')}, "
        f"{machine.get('platform', '?')}), Python {machine.get('python', '?')}, numpy {machine.get('numpy', '?')}"
        + (f", PyTorch {machine['torch']}" if machine.get("torch") else "")
        + (f", numpy BLAS threads {machine['blas_threads']}" if machine.get("blas_threads") else "")
        + f"; {report.get('total_seconds', 0):.0f} s in all. Source: `{source}` (regenerate this table with "
        f"`python -m benchmarks.readme RESULTS.json`).",
        "",
        "| benchmark | result (ratio [25th, 75th percentile of per-round ratios]) | target |",
        "|---|---|---|",
    ]
    from .__main__ import CASES

    misses = []
    results = report["results"]
    for name in sorted(results, key=lambda case: (CASES.index(case) if case in CASES else len(CASES), case)):
        result = results[name]
        met = result.get("meets_target")
        status = "met" if met else "**missed**"
        lines.append(f"| {_cell(result.get('name', name))} | {_cell(_summary(result))} | "
                     f"{_cell(result.get('target', '-'))}: {status} |")
        if not met and result.get("explanation"):
            misses.append(f"- **{_cell(result.get('name', name))}.** {result['explanation']}")
    if misses:
        lines += ["", "Measured reasons for the misses above:"] + misses
    lines.append(END)
    return "\n".join(lines)


def rewrite(readme: Path, results: Path, copy_to: Path | None) -> None:
    """Replace the marked block of ``readme`` with the table of ``results`` (and copy the results)."""
    report = json.loads(Path(results).read_text())
    text = readme.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"error: {readme} needs exactly one {BEGIN} ... {END} block")
    source = str(copy_to.relative_to(readme.parent)) if copy_to else str(results)
    new = text[:text.index(BEGIN)] + block(report, source) + text[text.index(END) + len(END):]
    if copy_to is not None and Path(results).resolve() != copy_to.resolve():
        copy_to.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(copy_to) as temporary:
            shutil.copyfile(results, temporary)
    write_text(readme, new)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme", description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a results file written by python -m benchmarks")
    parser.add_argument("--readme", default=str(ROOT / "README.md"), help="the README to rewrite")
    parser.add_argument("--no-copy", action="store_true", help=f"do not copy the results to {TRACKED_COPY}")
    args = parser.parse_args(argv)
    readme = Path(args.readme)
    if not Path(args.results).is_file():
        print(f"error: results file {args.results} does not exist", file=sys.stderr)
        return 2
    rewrite(readme, Path(args.results), None if args.no_copy else readme.parent / TRACKED_COPY)
    print(f"rewrote the benchmark block of {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
