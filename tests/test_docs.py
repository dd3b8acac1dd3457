"""The Python snippets of docs/*.md run (each file's blocks in order, in one namespace), and the
README's quick start runs its command.

A block fenced ```` ```python ```` runs; a block that needs what a test machine cannot have (a batch
cluster) is fenced ```` ```python  (needs ...) ```` with the reason, and is not run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted(path for path in (ROOT / "docs").glob("*.md") if "```python" in path.read_text())


@pytest.mark.parametrize("doc", DOCS, ids=[path.name for path in DOCS])
def test_docs_python_blocks_run(ngspice, doc, tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{doc.stem}"}
    for block in blocks:
        exec(compile(block, str(doc), "exec"), namespace)


def test_readme_quick_start_runs(tmp_path):
    """The quick start installs the package (what tests/run.sh does for this suite) and runs
    `substrate demo`; here the demo runs from this checkout, as `python -m substrate demo`."""
    text = (ROOT / "README.md").read_text()
    start = text.index("## Quick start")
    command = re.search(r"```bash\n(.*?)```", text[start:], flags=re.S).group(1).strip()
    assert command.endswith("substrate demo") and "pip install ." in command
    result = subprocess.run([sys.executable, "-m", "substrate", "demo", "--no-progress"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "demo" / "metrics.json").exists() and (tmp_path / "runs" / "demo" / "spice.cir").exists()
