"""``substrate line <config.toml>`` and the transmission-line example."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLES, load_example
from substrate.cli import main
from substrate.distributed.config import load_config, parse_config
from substrate.lines import simulate

CONFIG = EXAMPLES / "line_config.toml"
PNG = b"\x89PNG\r\n\x1a\n"


def test_line_command_writes_waveforms_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["line", str(CONFIG), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "balance error" in printed
    for name in ("bounce.png", "field.png"):
        assert (out / name).read_bytes()[:8] == PNG
    header = (out / "ports.csv").read_text().splitlines()[0].split(",")
    assert header == ["time_s", "V_in_V", "I_in_A", "V_out_V", "I_out_A", "V_stub_end_V", "I_stub_end_A"]
    data = np.loadtxt(out / "ports.csv", delimiter=",", skiprows=1)
    # the CSV holds what simulate() computes for the same configuration
    network, options = load_config(CONFIG)
    direct = simulate(network, **options)
    np.testing.assert_allclose(data[:, 0], direct.t, rtol=1e-9)
    np.testing.assert_allclose(data[:, 3], direct.voltage["out"], rtol=1e-8, atol=1e-12)
    # 2 V pulse, 50-ohm source: 1 V launched; the junction (75 || 50 = 30 ohm) passes 0.75 V, the 150-ohm
    # load doubles (1 + 1/3) of the 75-ohm branch's wave: the first plateau is 0.75 * 4/3 = 1.0 V
    t = data[:, 0]
    plateau = np.interp(3.0e-9, t, data[:, 3])
    assert plateau == pytest.approx(0.75 * 4 / 3 * np.exp(-2.0 * 0.2 / (2 * 50)), abs=0.02)
    summary = (out / "summary.json").read_text()
    assert "energy_balance_error" in summary


def test_line_command_default_output_folder_is_next_to_the_config(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text(CONFIG.read_text().replace("t_end = 12e-9", "t_end = 2e-9"))
    assert main(["line", str(config)]) == 0
    assert (tmp_path / "mine_out" / "ports.csv").exists()


@pytest.mark.parametrize("edit, message", [
    (("t_end = 12e-9", "t_end = 12e-9\nspeed = 3"), "unknown key simulation.speed"),
    (("cells = 60 ", "cells = 'many' "), "simulation.cells = 'many' has the wrong type: expected integer"),
    (("impedance = 75.0", "impedance = -75.0"), "lines.branch: z0 (ohm) = -75.0 is outside the valid range"),
    (('type = "open"', 'type = "diode"'), "terminations.stub_end.type = 'diode'"),
    (("ohms = 150.0", "ohms = 0.0"), "terminations.out: Resistor ohms (ohm) = 0.0"),
    (('integrator = "RK45"', 'integrator = "Euler"'), "simulation.integrator = 'Euler'"),
    (("amplitude = 2.0", "amplitude = true"), "terminations.in.waveform.amplitude = True has the wrong type: expected number"),
])
def test_bad_config_fails_before_any_work(tmp_path, capsys, edit, message):
    config = tmp_path / "bad.toml"
    text = CONFIG.read_text()
    assert edit[0] in text
    config.write_text(text.replace(edit[0], edit[1], 1))
    out = tmp_path / "never"
    assert main(["line", str(config), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_parse_config_reads_both_line_forms():
    data = tomllib.loads(CONFIG.read_text())
    data["lines"]["branch"] = {"from": "j", "to": "out", "length": 0.3, "inductance": 75 * 5e-9,
                               "capacitance": 5e-9 / 75}
    network, options = parse_config(data)
    assert network.lines["branch"][0].characteristic_impedance == pytest.approx(75.0)
    assert network.lines["branch"][0].delay == pytest.approx(1.5e-9)
    assert options["cells"] == {"feed": 60, "branch": 60, "stub": 30}


def test_transmission_line_example(tmp_path):
    result = load_example("transmission_line").main(tmp_path / "example", cells_per_ns=60)
    assert result["step_plateau"] == pytest.approx(0.75, abs=1e-12)  # 1/2 (1 + 1/2), exact shift
    assert result["junction_first_wave"] == pytest.approx(0.75, abs=1e-12)  # 2 V/2 (1 - 1/4)
    assert result["energy_error"] < 1e-6
    for path in result["paths"].values():
        assert Path(path).stat().st_size > 0


def test_line_command_writes_touchstone_through_scikit_rf(tmp_path, capsys):
    import skrf

    from substrate.lines import scattering

    out = tmp_path / "rf"
    assert main(["line", str(CONFIG), "--out", str(out), "--touchstone", "--frequency", "1e8", "5e9", "50",
                 "--z0", "75"]) == 0
    assert "touchstone:" in capsys.readouterr().out
    network, _ = load_config(CONFIG)
    written = skrf.Network(str(out / "line_config.s3p"))  # three terminated nodes: in, out, stub_end
    expected = scattering(network, np.linspace(1e8, 5e9, 50), z0=75.0)
    np.testing.assert_array_equal(written.f, expected.f)
    np.testing.assert_array_equal(written.s, expected.s)  # full-precision Touchstone: identical
    np.testing.assert_array_equal(written.z0, 75.0)


@pytest.mark.parametrize("arguments, message", [
    (["--frequency", "5e9", "1e8", "50"], "0 < START < STOP"),
    (["--frequency", "0", "1e8", "50"], "0 < START < STOP"),
    (["--frequency", "1e8", "5e9", "2.5"], "integer POINTS >= 2"),
    (["--z0", "-50"], "--z0 (ohm) = -50.0"),
])
def test_bad_touchstone_options_fail_before_any_work(tmp_path, capsys, arguments, message):
    out = tmp_path / "never"
    assert main(["line", str(CONFIG), "--out", str(out), "--touchstone", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_line_config_runs_the_leapfrog(tmp_path):
    config = tmp_path / "leap.toml"
    config.write_text(CONFIG.read_text().replace('integrator = "RK45"', 'integrator = "leapfrog"'))
    network, options = load_config(config)
    assert options["integrator"] == "leapfrog"
    assert main(["line", str(config), "--out", str(tmp_path / "out")]) == 0
    data = np.loadtxt(tmp_path / "out" / "ports.csv", delimiter=",", skiprows=1)
    direct = simulate(network, **options)  # the CSV holds what the leapfrog computes for this config
    np.testing.assert_allclose(data[:, 0], direct.t, rtol=1e-9)
    np.testing.assert_allclose(data[:, 3], direct.voltage["out"], rtol=1e-8, atol=1e-12)
    assert direct.dt == pytest.approx(0.5e-9 / 30)  # Courant number 1 on the finest line (stub: 0.5 ns, 30 cells)
