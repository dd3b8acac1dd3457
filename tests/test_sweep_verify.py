"""``substrate verify`` on many netlists through the sweep executors (issue 11), against ngspice."""

import numpy as np

from substrate import MLP, save_network
from substrate.cli import main as cli
from substrate.sweeps import verify_many


def test_many_netlists_give_a_summary_row_each_with_timeout_and_error(tmp_path, ngspice, capsys):
    for seed in (0, 1):  # two exported networks: ngspice's forward pass against numpy's
        run = tmp_path / "netlists" / f"net{seed}"
        run.mkdir(parents=True)
        save_network(MLP([2, 3, 2], "tanh", seed=seed), run / "params.npz")
        assert cli(["export", str(run), "--format", "spice", "--input", "0.3,-0.7"]) == 0
    # a plain netlist whose transient needs ~1e9 steps: killed at the timeout, with its ngspice
    (tmp_path / "netlists" / "slow.cir").write_text(
        "slow\nV1 1 0 SIN(0e0 1e0 1e6 0e0 0e0)\nR1 1 2 1e3\nC1 2 0 1e-9\n.tran 1e-12 1e-3\n.end\n")
    (tmp_path / "netlists" / "broken.cir").write_text("broken\nR1 1 0\n.op\n.end\n")  # a resistor without value
    rows = verify_many([tmp_path / "netlists"], executor="local", workers=2, timeout=8.0)
    by_name = {row["netlist"].rsplit("/", 1)[-1]: row for row in rows}
    assert [row["netlist"] for row in rows] == sorted(row["netlist"] for row in rows)  # path order
    exported = [row for row in rows if row["netlist"].endswith("spice.cir")]
    assert len(exported) == 2 and all(row["status"] == "pass" for row in exported)
    # verify's own bound: 1e-6 relative to max(1, |output|)
    assert all(row["difference"] <= row["tolerance"] <= 1e-6 * 2 for row in exported)
    assert by_name["slow.cir"]["status"] == "timeout" and by_name["slow.cir"]["seconds"] < 30
    assert by_name["broken.cir"]["status"] in ("fail", "error")
    # the CLI: several paths -> the summary table, exit 1 because not every netlist passed
    code = cli(["verify", str(tmp_path / "netlists" / "net0" / "spice.cir"), str(tmp_path / "netlists" / "broken.cir"),
                "--executor", "serial", "--timeout", "30"])
    out = capsys.readouterr().out
    assert code == 1 and "2 netlists:" in out and "1 pass" in out
    # one netlist keeps the single report
    assert cli(["verify", str(tmp_path / "netlists" / "net1")]) == 0
    assert "PASS" in capsys.readouterr().out


def test_a_netlist_named_twice_is_verified_once(tmp_path):
    from substrate.sweeps.verify import netlists

    for name in ("a.cir", "b.cir"):
        (tmp_path / name).write_text("* t\nR1 a 0 1\n.end\n")
    assert netlists([tmp_path / "a.cir", tmp_path, str(tmp_path / "a.cir")]) == [tmp_path / "a.cir", tmp_path / "b.cir"]
