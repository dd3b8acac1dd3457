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


def test_spread_is_the_median_and_quartiles_of_the_per_round_ratios():
    from benchmarks.timing import spread

    # numpy's linear-interpolation percentiles of 1..5: 2, 3, 4 (an independent hand computation)
    assert spread([5.0, 1.0, 3.0, 2.0, 4.0]) == {"ratio": 3.0, "q25": 2.0, "q75": 4.0, "min": 1.0, "max": 5.0,
                                                 "rounds": 5}


def test_readme_block_is_rewritten_from_a_results_file_between_the_markers_only(tmp_path):
    from benchmarks import readme

    results = tmp_path / "results.json"
    results.write_text(json.dumps({
        "machine": {"date": "2030-01-02", "cores": 2, "processor": "x86_64", "platform": "Linux", "python": "3.11",
                    "numpy": "2.4"},
        "total_seconds": 12.0,
        "results": {
            "fast": {"name": "fast case", "target": "ratio <= 1.2", "meets_target": True, "summary": "0.91 [0.9, 0.95]"},
            "slow": {"name": "slow case", "target": "ratio <= 1.5", "meets_target": False, "summary": "2.2",
                     "explanation": "twice the updates."},
            "bare": {"name": "bare case", "target": "faster", "meets_target": False,
                     "rows": [{"setting": "a", "speedup": 0.5}]},
        }}))
    page = tmp_path / "README.md"
    page.write_text("# title\n\nbefore\n\n<!-- benchmarks:begin -->\nold table\n<!-- benchmarks:end -->\n\nafter\n")
    assert readme.main([str(results), "--readme", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# title\n\nbefore\n\n<!-- benchmarks:begin -->\nMeasured on 2030-01-02 on 2 cores")
    assert text.endswith("<!-- benchmarks:end -->\n\nafter\n") and "old table" not in text
    assert "| fast case | 0.91 [0.9, 0.95] | ratio <= 1.2: met |" in text
    assert "| slow case | 2.2 | ratio <= 1.5: **missed** |" in text and "- **slow case.** twice the updates." in text
    assert "| bare case | setting a: speedup 0.5 | faster: **missed** |" in text
    assert json.loads((tmp_path / "docs" / "benchmark_results.json").read_text())["total_seconds"] == 12.0
    assert readme.main([str(tmp_path / "missing.json"), "--readme", str(page)]) == 2


def test_the_readme_has_one_generated_block_and_results_are_untracked():
    text = (ROOT / "README.md").read_text()
    assert text.count("<!-- benchmarks:begin -->") == 1 and text.count("<!-- benchmarks:end -->") == 1
    # python -m benchmarks writes to benchmarks/results/ by default: ignored, so never a tracked file
    assert "benchmarks/results/" in (ROOT / ".gitignore").read_text().splitlines()
    from benchmarks.__main__ import RESULTS

    assert RESULTS == ROOT / "benchmarks" / "results"
