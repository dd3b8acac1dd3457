"""Standard hand-written SPICE in: suffixes, comments, continuation lines, .param, analysis cards."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from circuits import ngspice as runner
from circuits import spice
from circuits.netlist import AC, DCSweep, Measure, Netlist, Param, Resistor, Tran, VoltageSource

HAND_WRITTEN = """\
RC low-pass, divider and an LC tank (written by hand)
* comments start with '*', or follow ';' or ' $'
.PARAM rload=2k ctank=10n
.param lval={4*rload/1meg*1m}   ; expressions in braces
vin in 0 dc 5 ac 1              ; no DC keyword case needed
R1 in mid 1K                    $ kilo-ohm
R2 mid 0 {rload}
c1 mid 0
+ 10u
VP drive 0 PULSE(0 1 1N 0.1n 0.1n 5n 20n)
Rd drive tank 50
L1 tank 0 {lval}
C2 tank 0 {ctank}
Rbig tank 0 1MEG
Rmil mid 0 40Mil                ; 40 mil = 1.016 mm ... as a resistance in ohm: 1.016e-3
+ $ a comment on a continuation line
B1 out 0 V = v(mid)*2 + tanh(v(tank))
Rout out 0 1e3
T1 in 0 far 0 Z0=50 TD=1ns
Rfar far 0 50
.options RELTOL=1e-6 noacct
.op
.DC vin 0 5 0.5
.tran 0.1n 100n 0 0.1n
.ac DEC 5 1k 1MEG
.meas tran vmid_avg AVG v(mid) FROM=50n TO=100n
.end
"""


@pytest.mark.parametrize("token, value", [
    ("2k", 2000.0), ("2K", 2000.0), ("1meg", 1e6), ("1MEG", 1e6), ("10u", 1e-5), ("5mil", 5 * 25.4e-6),
    ("1.5pF", 1.5e-12), ("3F", 3e-15), ("1m", 1e-3), ("1M", 1e-3), ("2.2e-3", 0.0022), ("100Hz", 100.0),
    ("1kohm", 1000.0), (".5n", 5e-10), ("-4.7u", -4.7e-6), ("1e3k", 1e6), ("7T", 7e12), ("3g", 3e9), ("10", 10.0),
])
def test_engineering_suffixes(token, value):
    # the decimal value correctly rounded: equal to Python's float of the same decimal number
    assert spice.parse_number(token) == value


@pytest.mark.parametrize("token", ["k1", "1..2", "", "e3", "--1", "1e-"])
def test_bad_numbers_are_named(token):
    with pytest.raises(spice.SpiceSyntaxError, match="expected a number"):
        spice.parse_number(token)


def test_hand_written_netlist_parses_into_the_model():
    n = spice.parse(HAND_WRITTEN)
    assert n.title == "RC low-pass, divider and an LC tank (written by hand)"
    assert n.params == (("rload", 2000.0), ("ctank", 1e-8), ("lval", Param("4*rload/1meg*1m")))
    by_name = {e.name: e for e in n.elements}
    assert by_name["c1"].value == 1e-5 and by_name["R2"].value == Param("rload")
    assert by_name["vin"] == VoltageSource("vin", "in", "0", by_name["vin"].waveform, 1.0)
    assert by_name["Rmil"].value == pytest.approx(40 * 25.4e-6, rel=1e-15)
    assert by_name["T1"].z0 == 50.0 and by_name["T1"].td == 1e-9
    assert n.analyses == (n.analyses[0], DCSweep("vin", 0.0, 5.0, 0.5), Tran(1e-10, 1e-7, 1e-10, False, 0.0),
                          AC("dec", 5, 1e3, 1e6))
    assert n.options == (("RELTOL", 1e-6), ("noacct", None))
    assert n.measures == (Measure("tran", "vmid_avg", "AVG v(mid) FROM=50n TO=100n"),)


def test_hand_written_netlist_round_trips_through_write():
    n = spice.parse(HAND_WRITTEN)
    text = spice.write(n)
    assert spice.parse(text) == n
    assert spice.write(spice.parse(text)) == text


def _ngspice_plots(text, folder):
    (folder / "c.cir").write_text(text)
    subprocess.run(["ngspice", "-b", "-r", "out.raw", "c.cir"], cwd=folder, capture_output=True, check=True,
                   env={**os.environ, "SPICE_ASCIIRAWFILE": "0"})
    return runner.read_raw_plots(folder / "out.raw")


def test_hand_written_netlist_runs_in_ngspice_with_the_same_result(ngspice, tmp_path):
    """Acceptance 2: ngspice on the original text and on write(parse(text)) gives the same vectors."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    without_meas = HAND_WRITTEN.replace(".meas tran vmid_avg AVG v(mid) FROM=50n TO=100n\n", "")
    original = _ngspice_plots(without_meas, tmp_path / "a")
    rewritten = _ngspice_plots(spice.write(spice.parse(without_meas)), tmp_path / "b")
    assert [name for name, _ in original] == [name for name, _ in rewritten] and len(original) == 4
    for (name, mine), (_, theirs) in zip(original, rewritten):
        assert sorted(mine) == sorted(theirs), name
        for vector in mine:
            # the same circuit: the only differences are ngspice's own decimal-to-double conversion of
            # '10u' and the like against ours (an ulp), far inside reltol 1e-6; 1e-9 relative catches any
            # misread value (a wrong suffix is a factor of 1e3 or more)
            np.testing.assert_allclose(theirs[vector], mine[vector], rtol=1e-9, atol=1e-15, err_msg=f"{name} {vector}")
    # the runner reads every plot, the complex AC one too, and the .meas value
    result = runner.run(HAND_WRITTEN)
    assert len(result.plots) == 4 and np.iscomplexobj(result.analysis("ac")["v(mid)"])
    np.testing.assert_allclose(result.analysis("ac")["frequency"][[0, -1]], [1e3, 1e6], rtol=1e-12)  # ngspice's log steps
    assert result.analysis("op")["v(mid)"][0] == pytest.approx(5 * (2000 * 1.016e-3 / (2000 + 1.016e-3)) / (1000 + 2000 * 1.016e-3 / (2000 + 1.016e-3)),
                                               rel=1e-9)  # the divider with the 40 mil resistor in parallel
    assert result.measures["vmid_avg"] == pytest.approx(result.analysis("op")["v(mid)"][0], rel=1e-6)  # settled (tau = 10 ns)


@pytest.mark.parametrize("text, message", [
    ("t\nR1 a 0 1k\nR2 a 0 1k\n.op\n", "missing .end"),
    ("t\nR1 a 0\nR2 a 0 1k\n.op\n.end\n", "line 2 .*resistor reads"),
    ("t\nR1 a 0 1k\n\n* c\nQ1 a b c model\n.op\n.end\n", "line 5 .*element type 'Q' is not supported"),
    ("t\n+ R1 a 0 1k\n.end\n", "line 2: a '\\+' continuation line with nothing to continue"),
    ("t\nR1 a 0 1k\nR2 a 0 1k\n.save v(a)\n.op\n.end\n", "line 4 .*unsupported dot command"),
    ("t\nR1 a 0 1k\nR2 a 0 1k\n.tran 1n\n.end\n", "line 4 .*\\.tran reads"),
    ("t\nV1 a 0 PULSE(0 1 1n)\nR2 a 0 1k\n.op\n.end\n", "line 2 .*PULSE needs all 7 values"),
    ("t\nT1 a 0 b 0 Z0=50 F=1g NL=0.25\nR1 a 0 1\nR2 b 0 1\n.op\n.end\n", "line 2 .*F=/NL= form is not supported"),
    ("t\nR1 a 0 {nothing}\nR2 a 0 1k\n.op\n.end\n", "line 2: element 'R1': value refers to parameter 'nothing'"),
    ("t\nR1 a 0 1k\n* c\nR2 a b -5\nR3 b 0 1\n.op\n.end\n", "line 4: element 'R2': value = -5.0 is outside the valid range"),
    ("", "empty text"),
])
def test_parse_errors_name_the_line_and_the_reason(text, message):
    with pytest.raises(spice.SpiceSyntaxError, match=message):
        spice.parse(text)


def test_param_expressions_are_validated():
    with pytest.raises(ValueError, match="refers to parameter 'b'"):
        Netlist("t", [Resistor("R1", "a", "0", Param("2*a+b")), Resistor("R2", "a", "0", 1.0)], params=(("a", 1.0),))
    n = Netlist("t", [Resistor("R1", "a", "0", Param("2*a+sqrt(a)")), Resistor("R2", "a", "0", 1.0)], params=(("a", 1.0),))
    assert "R1 a 0 {2*a+sqrt(a)}" in spice.write(n)
    # names with digits and numbers with suffixes are told apart: x1 is a name, 1k a number
    Netlist("t", [Resistor("R1", "a", "0", Param("2*x1+1k*x1+.5meg")), Resistor("R2", "a", "0", 1.0)], params=(("x1", 1.0),))
