"""Every script in examples/ runs as a test somewhere in tests/ (through ``load_example``)."""

import re
from pathlib import Path

from conftest import EXAMPLES, load_example


def test_every_example_is_run_by_a_test():
    tests = "\n".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    loaded = set(re.findall(r'load_example\("(\w+)"\)', tests))
    missing = {path.stem for path in EXAMPLES.glob("*.py")} - loaded
    assert not missing, f"examples without a test: {sorted(missing)}"


def test_example_light_cone(tmp_path):
    result = load_example("light_cone").main(out=str(tmp_path / "light_cone.png"))
    assert result["error_at_2L"] <= 1e-12
    assert result["error_at_2L_minus_1"] > 1e-3
    assert result["rc_error_at_2L_tau"] > 1e-2
    assert result["rc_error_at_12L_tau"] < 1e-8
    assert (tmp_path / "light_cone.png").stat().st_size > 10_000
