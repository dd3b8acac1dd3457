"""Every script in examples/ runs, and its numbers are checked."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_has_a_test():
    tested = {name[len("test_example_"):] for name in globals() if name.startswith("test_example_")}
    assert {path.stem for path in EXAMPLES.glob("*.py")} <= tested


def test_example_light_cone(tmp_path):
    result = load("light_cone").main(out=str(tmp_path / "light_cone.png"))
    assert result["error_at_2L"] <= 1e-12
    assert result["error_at_2L_minus_1"] > 1e-3
    assert result["rc_error_at_2L_tau"] > 1e-2
    assert result["rc_error_at_12L_tau"] < 1e-8
    assert (tmp_path / "light_cone.png").stat().st_size > 10_000
