"""Acceptance 6: ``substrate demo`` exits 0 well under a minute and writes a readable run directory."""

import builtins
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import substrate

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_quickly_and_writes_the_run_directory(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "demo"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "substrate.cli", "demo", "--out", str(out)], env=env,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    seconds = time.perf_counter() - started
    print(result.stdout, f"\ndemo took {seconds:.1f} s")
    assert result.returncode == 0, result.stderr
    assert seconds < 60
    assert "test accuracy" in result.stdout and str(out) in result.stdout
    for name in ("config.json", "metrics.json", "params.npz", "curves.png", "worldsheet.png", "port_power.png"):
        assert (out / name).exists(), name
    for name in ("curves.png", "worldsheet.png", "port_power.png"):
        assert (out / name).stat().st_size > 20_000  # a drawn figure, not an empty canvas
    assert (out / "spice.cir").read_text().rstrip().endswith(".end")  # the exported netlist
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"]["test_accuracy"] >= 0.97
    assert metrics["summary"]["schedule"] == "pipelined"
    # params.npz is a network file other tools can load: its test accuracy is the reported one
    net = substrate.load_network(out / "params.npz")
    data = substrate.datasets.moons(**{k: v for k, v in json.loads((out / "config.json").read_text())["data"].items()
                                        if k != "name"})
    accuracy = np.mean(net.forward(data.x_test).argmax(1) == data.y_test)
    assert accuracy == metrics["summary"]["test_accuracy"]


def test_progress_falls_back_to_plain_lines_without_tqdm(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name == "tqdm" or name.startswith("tqdm."):
            raise ImportError("no tqdm here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    from substrate.cli import main

    assert main(["train", "xor", "--out", str(tmp_path / "xor")]) == 0
    captured = capsys.readouterr()
    assert "epoch 20/20: loss" in captured.err
    assert "test accuracy 100.0 %" in captured.out
