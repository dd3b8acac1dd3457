"""Checkpoints, resume, NaN detection and config validation (acceptance 5 and the issue's error rules)."""

import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import substrate
from substrate import datasets, ports
from substrate.cli import main as cli
from substrate.errors import ConfigurationError, NumericalError
from substrate.learning import TrainingInterrupted
from substrate.learning.config import load_config, resolve

ROOT = Path(__file__).resolve().parents[1]


def _interrupt_at(step):
    def callback(info):
        if info.step == step:
            raise KeyboardInterrupt

    return callback


@pytest.mark.parametrize(
    "schedule, port",
    [
        ("separated", ports.Inertial(40.0, 4.0)),
        ("pipelined", ports.Inertial(40.0, 4.0, bounds=(-3.0, 3.0), levels=16)),
        ("naive", ports.Resistive(5.0) + ports.Leak(1e-3)),
    ],
)
def test_resume_after_interrupt_equals_uninterrupted_run(tmp_path, schedule, port):
    data = datasets.moons(n_samples=200, seed=2)
    options = dict(port=port, schedule=schedule, epochs=4, batch_size=16, seed=7)
    whole = substrate.MLP([2, 8, 8, 2], seed=0)
    reference = substrate.train(whole, data, **options)

    interrupted = substrate.MLP([2, 8, 8, 2], seed=0)
    with pytest.raises(TrainingInterrupted, match="--resume") as caught:
        substrate.train(interrupted, data, callbacks=[_interrupt_at(23)], run_dir=tmp_path, **options)
    assert caught.value.step == 23 and (tmp_path / "checkpoint.npz").exists()

    resumed = substrate.MLP([2, 8, 8, 2], seed=99)  # a different start: the checkpoint decides
    history = substrate.train(resumed, data, run_dir=tmp_path, resume=True, **options)
    for got, want in zip(resumed.params, whole.params):
        np.testing.assert_array_equal(got, want)  # exact, bit for bit
    assert history.train_loss == reference.train_loss
    assert history.step == reference.step


def test_nan_names_step_layer_and_quantity_and_keeps_the_last_good_checkpoint(tmp_path):
    data = datasets.moons(n_samples=200, seed=2)
    net = substrate.MLP([2, 8, 8, 2], seed=0)

    def poison(info):  # a device fault during epoch 4 (140 // 16 = 8 updates per epoch)
        if info.step == 30:
            info.net.layers[1].weight[0, 0] = np.nan

    with pytest.raises(NumericalError, match=r"step 31: non-finite .*\(layer [123]") as caught:
        substrate.train(net, data, port=ports.Resistive(5.0), epochs=5, batch_size=16, callbacks=[poison],
                        run_dir=tmp_path)
    print(caught.value)
    with np.load(tmp_path / "checkpoint.npz") as saved:
        meta = json.loads(str(saved["meta"]))
        assert meta["step"] == 24 and meta["epoch"] == 3
        assert all(np.all(np.isfinite(saved[key])) for key in saved.files if key != "meta")


def test_divergence_is_reported_with_the_quantity():
    data = datasets.teacher(n_samples=100, seed=0)
    net = substrate.MLP([4, 16, 2], activation="identity", seed=0)
    with pytest.raises(NumericalError, match=r"step \d+: diverging: parameter W1 \(layer 1\) left the plausible range"):
        substrate.train(net, data, port=ports.Resistive(0.02), epochs=50, batch_size=10)
    # without the range limit the same run overflows: the NaN/inf is named too, with no numpy warnings
    net = substrate.MLP([4, 16, 2], activation="identity", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NumericalError, match=r"step \d+: non-finite .*layer \d"):
            substrate.train(net, data, port=ports.Resistive(0.02), epochs=50, batch_size=10,
                            parameter_limit=math.inf)


@pytest.mark.parametrize(
    "table, key, value, message",
    [
        ("train", "epohcs", 3, "train.epohcs is not a valid key"),
        ("train", "epochs", "ten", "train.epochs = 'ten' has the wrong type"),
        ("train", "epochs", 0, r"train.epochs = 0 is outside the valid range"),
        ("train", "courant", 2.5, "train.courant = 2.5 is outside"),
        ("train", "schedule", "locked", "train.schedule = 'locked' is unknown"),
        ("port", "resistance", -1.0, r"port.resistance = -1.0 is outside the valid range \(0.0, inf\]"),
        ("port", "levels", 16, "port.levels = 16 needs bounds"),
        ("port", "mass", "heavy", "port.mass = 'heavy' has the wrong type"),
        ("network", "sizes", [2, 0, 2], "network.sizes"),
        ("network", "activation", "swish", "network.activation = 'swish'"),
        ("data", "noise", 7.0, r"data.noise = 7.0 is outside the valid range \[0.0, 1.0\]"),
        ("data", "colour", 1, "data.colour is not an option"),
    ],
)
def test_bad_config_fails_before_any_work(tmp_path, capsys, table, key, value, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"data": {"name": "moons"}, table: {key: value} if table != "data" else
                                {"name": "moons", key: value}}))
    out = tmp_path / "run"
    assert cli(["train", str(path), "--out", str(out), "--no-progress"]) == 2
    assert message.split(" ")[0].split(".")[-1] in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ConfigurationError, match=message):
        from substrate.learning.config import build

        build(load_config(path))


def test_toml_config_and_built_in_names(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[data]\nname = "circles"\nn_samples = 300\n\n[train]\nepochs = 2\nschedule = "pipelined"\n'
                    '\n[port]\nkind = "resistive"\nresistance = 5.0\n')
    config = load_config(path)
    assert config["data"]["n_samples"] == 300 and config["port"] == {"kind": "resistive", "resistance": 5.0}
    assert config["train"]["epochs"] == 2 and config["network"]["sizes"] == [2, 16, 16, 2]
    assert load_config("digits")["network"]["sizes"] == [64, 64, 10]
    with pytest.raises(ConfigurationError, match="neither a built-in task"):
        load_config("mooons")
    assert resolve(json.loads(json.dumps(config))) == config


def test_cli_ctrl_c_then_resume_matches_an_uninterrupted_run(tmp_path):
    # a real SIGINT to a real process, after its first checkpoint; then --resume; then an
    # uninterrupted run with the same config: params.npz must agree bit for bit
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    config = tmp_path / "moons.toml"
    config.write_text('[data]\nname = "moons"\n\n[train]\nepochs = 40\ngradient_check = false\n')
    command = [sys.executable, "-m", "substrate.cli", "train", str(config), "--no-progress"]
    first = tmp_path / "interrupted"
    process = subprocess.Popen(command + ["--out", str(first)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (first / "checkpoint.npz").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"--resume {first}" in err
    with np.load(first / "checkpoint.npz") as saved:
        stopped_at = json.loads(str(saved["meta"]))["step"]
    assert 0 < stopped_at < 40 * (700 // 16)
    resumed = subprocess.run([sys.executable, "-m", "substrate.cli", "train", "--resume", str(first), "--no-progress"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    second = tmp_path / "whole"
    whole = subprocess.run(command + ["--out", str(second)], env=env, capture_output=True, text=True, timeout=120)
    assert whole.returncode == 0, whole.stderr
    a, b = substrate.load_network(first / "params.npz"), substrate.load_network(second / "params.npz")
    for x, y in zip(a.params, b.params):
        np.testing.assert_array_equal(x, y)
    assert json.loads((first / "config.json").read_text()) == json.loads((second / "config.json").read_text())
