"""The benchmark harness runs and writes its JSON (no timing is asserted here: targets are measured
by ``python -m benchmarks``, as ratios in one run, never by unit tests)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_harness_writes_results(tmp_path):
    out = tmp_path / "latest.json"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "wave_step", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    rows = report["results"]["wave_step"]["rows"]
    assert [row["sizes"] for row in rows][-1] == [784, 512, 512, 10]
    assert all(row["ratio"] > 0 and row["wave_step_s"] > 0 for row in rows)
    assert report["machine"]["cores"] >= 1
