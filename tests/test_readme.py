"""The README's Python blocks run, in order, in one namespace (so the tour stays true)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(ngspice, tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # the numbers the tour quotes
    assert namespace["substrate"].gradient_error(namespace["state"].gradients, namespace["reference"]) <= 1e-12
    assert namespace["history"].test_accuracy[-1] == 1.0
    assert abs(namespace["sol"].energy_error) < 1e-5
    rc, x, y = (namespace[k] for k in ("rc", "x", "y"))
    late = rc.integrate(x, y, t_end=12 * rc.net.depth).gradients  # the README quotes ~6e-11 (Erlang tail, L = 3)
    assert namespace["substrate"].gradient_error(late, namespace["reference"]) < 1e-10
