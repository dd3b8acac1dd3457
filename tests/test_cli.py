"""The ``substrate`` command line."""

import subprocess
import sys

import numpy as np
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


# --- a conventional CLI: --version, python -m substrate, --set, --data ---------------------------------
def test_version_and_python_dash_m_substrate():
    import tomllib
    from pathlib import Path

    import substrate

    result = subprocess.run([sys.executable, "-m", "substrate", "--version"], capture_output=True, text=True)
    declared = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["version"]
    assert result.returncode == 0 and result.stdout.strip() == f"substrate (wave-substrate) {substrate.__version__}"
    assert substrate.__version__ == declared
    listed = subprocess.run([sys.executable, "-m", "substrate", "--help"], capture_output=True, text=True)
    assert listed.returncode == 0 and all(name in listed.stdout for name in ("train", "line", "export", "verify"))


def _config(run_dir):
    import json

    return json.loads((run_dir / "config.json").read_text())


def test_train_set_overrides_config_keys(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "xor", "--out", str(out), "--no-progress", "--set", "train.epochs=1",
                 "--set", "network.sizes=[2, 4, 2]", "--set", "network.activation=sigmoid"]) == 0
    config = _config(out)
    assert config["train"]["epochs"] == 1 and config["network"]["sizes"] == [2, 4, 2]
    assert config["network"]["activation"] == "sigmoid"
    assert "1 epochs" in capsys.readouterr().out


@pytest.mark.parametrize("setting, message", [
    ("train.epochs", "must read KEY=VALUE"),
    ("train.epochs=", "has no value"),
    ("train.epochs=0", "train.epochs = 0"),
    ("train.epochz=3", "train.epochz is not a valid key"),
    ("train.epochs=[1", "is not a TOML value"),
    ("network.sizes=five", "network.sizes"),
    ("train.epochs.deep=1", "train.epochs is a value, not a table"),
])
def test_bad_set_overrides_are_named_before_any_work(tmp_path, capsys, setting, message):
    out = tmp_path / "run"
    assert main(["train", "xor", "--out", str(out), "--no-progress", "--set", setting]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_line_set_overrides_the_toml(tmp_path, capsys):
    from conftest import EXAMPLES

    out = tmp_path / "line"
    assert main(["line", str(EXAMPLES / "line_config.toml"), "--out", str(out), "--no-progress",
                 "--set", "simulation.t_end=2e-9", "--set", "simulation.samples=101"]) == 0
    assert "to t = 2e-09 s" in capsys.readouterr().out
    assert main(["line", str(EXAMPLES / "line_config.toml"), "--out", str(out), "--set", "simulation.t_end=-1"]) == 2
    assert "simulation.t_end = -1 must be > 0.0" in capsys.readouterr().err


def _xy(n=90, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def test_train_data_npz_with_test_set_and_csv(tmp_path, capsys):
    x, y = _xy()
    np.savez(tmp_path / "mine.npz", x=x[:60], y=y[:60], x_test=x[60:], y_test=y[60:])
    assert main(["train", "--data", str(tmp_path / "mine.npz"), "--out", str(tmp_path / "a"), "--no-progress",
                 "--set", "train.epochs=1"]) == 0
    printed = capsys.readouterr().out
    assert "(60 train / 30 test samples)" in printed and "network [3, 16, 16, 2]" in printed
    assert _config(tmp_path / "a")["data"] == {"name": "file", "path": str((tmp_path / "mine.npz").resolve()),
                                               "test_fraction": 0.3, "seed": 0}
    rows = "".join(f"{a},{b},{c},{label}\n" for (a, b, c), label in zip(x, y))
    (tmp_path / "mine.csv").write_text("f0,f1,f2,label\n" + rows)
    assert main(["train", "--data", str(tmp_path / "mine.csv"), "--out", str(tmp_path / "b"), "--no-progress",
                 "--set", "train.epochs=1"]) == 0
    assert "(63 train / 27 test samples)" in capsys.readouterr().out  # the seeded 30 % split of 90


@pytest.mark.parametrize("name, content, message", [
    ("data.txt", "1,2\n", "must be a .npz"),
    ("none.npz", None, "is not a file"),
    ("noy.npz", {"x": np.zeros((4, 2))}, "needs arrays 'x' and 'y' (missing ['y']"),
    ("half.npz", {"x": np.zeros((4, 2)), "y": np.array([0, 1, 0, 1]), "x_test": np.zeros((2, 2))}, "both 'x_test' and 'y_test'"),
    ("short.npz", {"x": np.zeros((4, 2)), "y": np.array([0, 1, 0])}, "y has 3 entries but x has 4 samples"),
    ("neg.npz", {"x": np.zeros((4, 2)), "y": np.array([0, -1, 0, 1])}, "holds the label -1"),
    ("nan.npz", {"x": np.array([[0, 1], [np.nan, 0], [1, 1], [0, 0]]), "y": np.array([0, 1, 0, 1])},
     "non-finite value at sample 1, input 0"),
    ("one.npz", {"x": np.zeros((4, 2)), "y": np.zeros(4, dtype=int)}, "a single class"),
    ("words.csv", "a,b,label\n1,x,0\n", "line 2, column 'b': 'x' is not a number"),
    ("nolabel.csv", "a,b\n1,2\n", "no column named 'label'"),
    ("ragged.csv", "a,b,label\n1,2\n", "line 2 has 2 fields, the header 3"),
])
def test_train_data_errors_name_the_file_and_the_problem(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if isinstance(content, dict):
        np.savez(path, **content)
    elif content is not None:
        path.write_text(content)
    out = tmp_path / "run"
    assert main(["train", "--data", str(path), "--out", str(out), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_relax_and_line_show_progress_on_stderr(tmp_path, capsys):
    from conftest import EXAMPLES

    assert main(["relax", "--sizes", "2,3,2", "--out", str(tmp_path / "s.png")]) == 0
    err = capsys.readouterr().err
    assert "relax: 100%" in err and "2/2" in err
    assert main(["line", str(EXAMPLES / "line_config.toml"), "--out", str(tmp_path / "l"), "--set", "simulation.t_end=1e-9"]) == 0
    err = capsys.readouterr().err
    assert "line: 100%" in err and "2/2" in err
    assert main(["relax", "--sizes", "2,3,2", "--out", str(tmp_path / "s.png"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
