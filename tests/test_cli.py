"""The ``substrate`` command line."""

import subprocess
import sys

import pytest

from substrate.cli import main


def test_relax_prints_the_error_per_step_and_writes_the_worldsheet(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["relax", "--sizes", "4,8,8,2", "--steps", "8", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.strip()[:1].isdigit()]
    errors = {int(step): float(error) for step, error in rows}
    assert sorted(errors) == list(range(9))
    assert errors[5] > 1e-3 and errors[6] <= 1e-12 and errors[8] <= 1e-12  # L = 3: exact from 2L = 6
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["relax", "--courant", "2.5"], "courant = 2.5 is outside the valid range (0.0, 2.0)"),
        (["relax", "--sizes", "4,x"], "--sizes = '4,x'"),
        (["relax", "--batch", "0"], "--batch = 0"),
    ],
)
def test_relax_rejects_bad_input_before_writing(tmp_path, capsys, argv, message):
    out = tmp_path / "never.png"
    assert main(argv + ["--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_console_script_module_runs():
    result = subprocess.run([sys.executable, "-m", "substrate.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "relax" in result.stdout
