"""The circuit model, the ngspice-dialect writer and parser, and the ngspice runner."""

from __future__ import annotations

import math
import re
import os
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuits import ngspice as runner
from circuits import spice
from circuits.netlist import (
    AC, DC, DCSweep, LTRA, PWL, BSource, Capacitor, CurrentSource, Inductor, Instance, Netlist, Op, Param, Pulse, Resistor,
    Sin, Subckt, TLine, Tran, VCCS, VCVS, VoltageSource, sanitize_name,
)
from substrate.errors import ConfigurationError


# --- random valid netlists -------------------------------------------------------------------------
def _values(wide):
    """Floats SPICE can hold: any finite double of magnitude in [1e-30, 1e30] (wide), or a physical range."""
    if wide:
        return st.floats(1e-30, 1e30, allow_nan=False, allow_infinity=False)
    return st.floats(1.0, 100.0, allow_nan=False, allow_infinity=False)


def _signed(wide):
    return st.tuples(_values(wide), st.booleans()).map(lambda p: -p[0] if p[1] else p[0])


@st.composite
def netlists(draw, wide=True):
    """A random valid netlist. Every network node has a resistor to ground; sources, lines, controlled
    sources and inductors drive dedicated nodes (so ngspice sees no loops of voltage-defining elements)."""
    value, signed = _values(wide), _signed(wide)
    # physical scales for ngspice runs (farad, henry, second, hertz); the round-trip test uses any double
    farad, henry, second, hertz = (1.0, 1.0, 1.0, 1.0) if wide else (1e-12, 1e-8, 1e-9, 1e6)
    cap = value.map(lambda v: v * farad)
    ind = value.map(lambda v: v * henry)
    dur = value.map(lambda v: v * second)
    freq = value.map(lambda v: v * hertz)
    n_nodes = draw(st.integers(1, 4))
    nodes = [f"n{i}" for i in range(n_nodes)]
    elements = [Resistor(f"R_g{i}", node, "0", draw(value)) for i, node in enumerate(nodes)]
    elements += [CurrentSource(f"I_g{i}", "0", node, DC(draw(signed))) for i, node in enumerate(nodes)]
    subckts = ()
    kinds = draw(st.lists(st.sampled_from("RCLTOVIBEGX"), max_size=8))
    for index, kind in enumerate(kinds):
        a = draw(st.sampled_from(nodes))
        b = draw(st.sampled_from([node for node in nodes + ["0"] if node != a]))
        fresh = f"m{index}"
        if kind == "R":
            elements.append(Resistor(f"R{index}", a, b, draw(value)))
        elif kind == "C":
            ic = draw(st.one_of(st.none(), signed))
            elements.append(Capacitor(f"C{index}", a, b, draw(cap), ic))
        elif kind == "L":  # in series with a resistor
            elements += [Inductor(f"L{index}", a, fresh, draw(ind), draw(st.one_of(st.none(), signed))),
                         Resistor(f"R_l{index}", fresh, b, draw(value))]
        elif kind == "T":
            elements += [TLine(f"T{index}", a, "0", fresh, "0", draw(value), draw(dur)),
                         Resistor(f"R_t{index}", fresh, "0", draw(value))]
        elif kind == "O":
            r, l, c = draw(value), draw(ind), draw(cap)
            case = draw(st.sampled_from(["RLC", "RC", "LC", "RG"]))
            g = 0.0
            if case == "RG":
                l, c, g = 0.0, 0.0, draw(value) * (1.0 if wide else 1e-3)
            r, l = (r, l) if case in ("RLC", "RG") else (r, 0.0) if case == "RC" else (0.0, l)
            elements += [LTRA(f"O{index}", a, "0", fresh, "0", r, l, g, c, draw(value) * (1.0 if wide else 1e-2)),
                         Resistor(f"R_o{index}", fresh, "0", draw(value))]
        elif kind in "VI":
            wave = draw(st.sampled_from(["dc", "pulse", "pwl", "sin"]))
            if wave == "dc":
                w = DC(draw(signed))
            elif wave == "pulse":
                w = Pulse(draw(signed), draw(signed), draw(dur), draw(dur), draw(dur), draw(dur), draw(dur))
            elif wave == "pwl":
                times = sorted(set(draw(st.lists(dur, min_size=1, max_size=4))))
                w = PWL(tuple((t, draw(signed)) for t in times))
            else:
                w = Sin(draw(signed), draw(signed), draw(freq), draw(dur), draw(signed) * (1.0 if wide else 1e5))
            if kind == "V":
                elements += [VoltageSource(f"V{index}", fresh, "0", w), Resistor(f"R_v{index}", fresh, a, draw(value))]
            else:
                elements.append(CurrentSource(f"I{index}", a, b, w))
        elif kind == "B":
            expression = f"{spice.format_number(draw(signed))}*v({a})+tanh(v({b}))"
            if draw(st.booleans()):
                elements += [BSource(f"B{index}", fresh, "0", "V", expression), Resistor(f"R_b{index}", fresh, "0", draw(value))]
            else:
                elements.append(BSource(f"B{index}", a, b, "I", expression))
        elif kind == "E":
            elements += [VCVS(f"E{index}", fresh, "0", a, b, draw(signed)), Resistor(f"R_e{index}", fresh, "0", draw(value))]
        elif kind == "G":
            elements.append(VCCS(f"G{index}", a, b, a, "0", draw(signed)))
        elif kind == "X":
            if not subckts:
                subckts = (Subckt("divider", ("top", "mid"), (
                    Resistor("R_top", "top", "mid", Param("rt")), Resistor("R_bottom", "mid", "0", Param("rb")),
                    Capacitor("C_mid", "mid", "0", Param("cm"))), (("rt", draw(value)), ("rb", draw(value)), ("cm", draw(cap)))),)
            params = tuple((name, draw(cap if name == "cm" else value)) for name in draw(st.sets(st.sampled_from(["rt", "rb", "cm"]))))
            elements.append(Instance(f"X{index}", (a, fresh), "divider", params))
    analyses = [Op(), Tran(1e-9, 1e-7, None, False), Tran(1e-9, 1e-7, 1e-9, True)]
    if wide:  # the round trip also covers .dc, .ac, a .tran start and .param expressions (the physical
        # netlists that ngspice runs keep their original draws: random feedback can make them unstable)
        analyses += [(Op(), DCSweep("I_g0", -1.0, 1.0, 0.25)), AC("dec", 3, 1e3, 1e6), Tran(1e-9, 1e-7, 1e-9, False, 2e-8)]
    analysis = draw(st.sampled_from(analyses))
    params = ()
    if wide and draw(st.booleans()):  # a .param and a resistor whose value is an expression of it
        params = (("pa", draw(value)),)
        elements.append(Resistor("R_param", nodes[0], "0", Param(draw(st.sampled_from(["pa", "2*pa", "pa+1"])))))
    return Netlist("random netlist", tuple(elements), analysis, subckts, (("reltol", 1e-6),), params)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(netlists())
def test_write_then_parse_keeps_every_value(netlist):
    text = spice.write(netlist)
    assert spice.parse(text) == netlist  # dataclass equality: every float identical, not just close
    assert text.endswith(".end\n") and text.count("\n") == len(text.splitlines())
    # numbers only in their shortest round-trip form (repr), never with a scale suffix (1k, 1m, 1meg)
    for literal in re.findall(r"(?<![\w.])[-+]?\d[\d.]*(?:e[-+]?\d+)?[A-Za-z]*", re.sub(r"\{[^}]*\}|^\.ac \w+ \d+", "", text, flags=re.M)):  # not expressions, not the integer .ac points
        assert literal == "0" or repr(float(literal)) == literal, literal


@pytest.mark.parametrize("value, text", [(1e-12, "1e-12"), (1e-3, "0.001"), (1e6, "1000000.0"), (1.0 / 3.0, "0.3333333333333333"),
                                         (-2.5e-17, "-2.5e-17"), (6.02214076e23, "6.02214076e+23"), (2000, "2000.0")])
def test_numbers_are_written_in_the_shortest_form_that_round_trips(value, text):
    assert spice.format_number(value) == text and float(text) == value


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(netlist=netlists(wide=False))
def test_ngspice_accepts_every_generated_netlist_without_warnings(ngspice, netlist):
    result = runner.run(netlist, timeout=20)
    assert result.warnings == []
    for name, vector in result.vectors.items():
        assert np.all(np.isfinite(vector)), name


def test_ngspice_fixture_runs_a_divider_exactly(ngspice):
    n = Netlist("divider", [VoltageSource("V1", "a", "0", DC(3.0)), Resistor("R1", "a", "b", 2e3),
                            Resistor("R2", "b", "0", 1e3)], options=(("reltol", 1e-9),))
    result = runner.run(n)
    assert result.v("b")[0] == pytest.approx(1.0, rel=1e-12)
    assert result.warnings == []


# --- hostile names and text ------------------------------------------------------------------------
HOSTILE = ["R 1", "R1\n.control", "R1.x", ".control", "R1;", "R1*", "Rü", "R1\r", "", "R1$", "1R", "R{x}"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_element_names_are_rejected(name):
    with pytest.raises(ConfigurationError, match="name"):
        Netlist("t", [Resistor(name, "a", "0", 1.0), Resistor("R_ok", "a", "0", 1.0)])


@pytest.mark.parametrize("node", ["a b", "a\n.control", "a.b", ".end", "ü", "", "a;b", "v(a)"])
def test_hostile_node_names_are_rejected(node):
    with pytest.raises(ConfigurationError, match="node name"):
        Netlist("t", [Resistor("R1", node, "0", 1.0), Resistor("R2", node, "0", 1.0)])


@pytest.mark.parametrize("expression", ["v(a)\n.control", "v(a); shell rm", "v(a) $ x", "{v(a)}", "'v(a)'", "v(a))"])
def test_hostile_expressions_are_rejected(expression):
    with pytest.raises(ConfigurationError, match="B1"):
        Netlist("t", [Resistor("R1", "a", "0", 1.0), BSource("B1", "b", "0", "V", expression)])


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=40))
def test_any_title_is_written_as_one_printable_line(title):
    text = spice.write(Netlist(title, [Resistor("R1", "a", "0", 1.0), Resistor("R2", "a", "0", 2.0)]))
    lines = text.splitlines()
    assert lines[1:] == ["R1 a 0 1.0", "R2 a 0 2.0", ".op", ".end"]
    assert lines[0].startswith("* ") and all(" " <= ch <= "~" for ch in lines[0])


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_sanitised_names_are_accepted_and_safe(element, node):
    r_name, node_name = sanitize_name(element, "R"), sanitize_name(node)
    text = spice.write(Netlist("t", [Resistor(r_name, node_name if node_name != "0" else "n0", "0", 1.0),
                                     Resistor(sanitize_name(element + "x", "R") + "_2", node_name if node_name != "0" else "n0", "0", 1.0)]))
    assert len(text.splitlines()) == 5
    assert [line for line in text.splitlines() if line.startswith(".")] == [".op", ".end"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), st.text(max_size=20))
def test_random_element_and_node_names_are_rejected_or_harmless(suffix, node):
    try:
        netlist = Netlist("t", [Resistor("R" + suffix, node, "0", 1.0), Resistor("R_other", node, "0", 2.0)])
    except ConfigurationError:
        return
    lines = spice.write(netlist).splitlines()
    assert len(lines) == 5 and [line for line in lines if line.startswith(".")] == [".op", ".end"]
    assert all(" " <= ch <= "~" for line in lines for ch in line)


def test_a_title_cannot_open_a_control_block(ngspice):
    n = Netlist("x\n.control\nshell touch pwned\n.endc", [Resistor("R1", "a", "0", 1.0), Resistor("R2", "a", "0", 1.0)])
    text = spice.write(n)
    assert text.splitlines()[0] == "* x .control shell touch pwned .endc" and text.count("\n") == 5
    assert runner.run(n).warnings == []


# --- validation names the element --------------------------------------------------------------------
@pytest.mark.parametrize(
    "elements, message",
    [
        ([Resistor("R1", "a", "0", -1.0), Resistor("R2", "a", "0", 1.0)], r"'R1': value = -1.0 is outside the valid range \(0, inf\)"),
        ([Resistor("R1", "a", "0", math.inf), Resistor("R2", "a", "0", 1.0)], "'R1': value = inf must be finite"),
        ([Resistor("R1", "a", "0", math.nan), Resistor("R2", "a", "0", 1.0)], "'R1': value = nan must be finite"),
        ([Resistor("R1", "a", "0", 1.0), Resistor("r1", "a", "0", 1.0)], "'r1': duplicate name"),
        ([Resistor("R1", "a", "b", 1.0), Resistor("R2", "a", "0", 1.0)], "'R1': node 'b' is floating"),
        ([Capacitor("C1", "a", "0", 1.0), Capacitor("C2", "a", "0", 1.0)], "'C1': node 'a' has no DC path to ground"),
        ([Resistor("R1", "a", "0", 1.0), BSource("B1", "b", "0", "V", "v(zz)")], "'B1': reads node 'zz'"),
        ([Resistor("R1", "a", "0", 1.0), VCVS("E1", "b", "0", "q", "0", 2.0)], "'E1': reads node 'q'"),
        ([Resistor("R1", "a", "0", 1.0), TLine("T1", "a", "0", "b", "0", 50.0, 0.0), Resistor("R2", "b", "0", 1.0)], "'T1': td = 0.0"),
        ([LTRA("O1", "a", "0", "b", "0", 1.0, 1.0, 1.0, 1.0, 1.0), Resistor("R1", "a", "0", 1.0), Resistor("R2", "b", "0", 1.0)],
         "'O1'.*not one of the LTRA cases"),
        ([VoltageSource("V1", "a", "0", PWL(((1.0, 0.0), (0.5, 1.0)))), Resistor("R1", "a", "0", 1.0)], "'V1': PWL times must increase"),
        ([VoltageSource("V1", "a", "0", Pulse(0, 1, 0, 0, 1, 1, 1)), Resistor("R1", "a", "0", 1.0)], "'V1': PULSE tr"),
        ([Resistor("R1", "a", "0", 1e40), Resistor("R2", "a", "0", 1.0)], "'R1'.*representable range"),
        ([Resistor("R1", "a", "0", Param("r")), Resistor("R2", "a", "0", 1.0)], "'R1'.*parameter 'r'"),
        ([Instance("X1", ("a",), "nothing"), Resistor("R1", "a", "0", 1.0)], "'X1': subcircuit 'nothing' is not defined"),
        ([Resistor("C1", "a", "0", 1.0), Resistor("R2", "a", "0", 1.0)], "name 'C1' must start with 'R'"),
        ([Resistor("R1", "a", "A", 1.0), Resistor("R2", "a", "0", 1.0)], "'R1': both terminals are on node 'a'"),
    ],
)
def test_invalid_netlists_raise_errors_naming_the_element(elements, message):
    with pytest.raises(ConfigurationError, match=message):
        Netlist("t", elements)


def test_subcircuit_instances_check_ports_and_parameters():
    sub = Subckt("half", ("top", "mid"), (Resistor("R_a", "top", "mid", Param("r")), Resistor("R_b", "mid", "0", 1.0)), (("r", 1.0),))
    base = [VoltageSource("V1", "a", "0", DC(1.0))]
    with pytest.raises(ConfigurationError, match="'X1': subcircuit 'half' has 2 ports, got 1"):
        Netlist("t", base + [Instance("X1", ("a",), "half")], subckts=(sub,))
    with pytest.raises(ConfigurationError, match="'X1': parameter 'q' is not a parameter of 'half'"):
        Netlist("t", base + [Instance("X1", ("a", "b"), "half", (("q", 1.0),))], subckts=(sub,))


def test_parse_rejects_text_outside_the_written_subset():
    good = spice.write(Netlist("t", [Resistor("R1", "a", "0", 1.0), Resistor("R2", "a", "0", 1.0)]))
    with pytest.raises(ConfigurationError, match=r"line 2 .*expected a number"):
        spice.parse(good.replace("1.0", "k1", 1))
    with pytest.raises(ConfigurationError, match=r"line 4 \('\.control'\) is refused: a \.control block"):
        spice.parse(good.replace(".op", ".control\nshell ls\n.endc\n.op"))
    with pytest.raises(ConfigurationError, match=r"line 4 \('\.save v\(a\)'\): unsupported dot command"):
        spice.parse(good.replace(".op", ".save v(a)\n.op"))
    with pytest.raises(ConfigurationError, match="missing .end"):
        spice.parse(good.replace(".end\n", ""))


# --- the runner -------------------------------------------------------------------------------------
def test_missing_ngspice_raises_a_clear_error():
    n = Netlist("t", [Resistor("R1", "a", "0", 1.0), Resistor("R2", "a", "0", 1.0)])
    with pytest.raises(runner.NgspiceError, match="'no-such-ngspice-here' not found"):
        runner.run(n, executable="no-such-ngspice-here")


def test_a_failed_run_quotes_ngspice(ngspice):
    n = Netlist("t", [VoltageSource("V1", "a", "0", DC(1.0)), BSource("B1", "b", "0", "V", "nofunction(v(a))"),
                      Resistor("R1", "b", "0", 1.0)])
    with pytest.raises(runner.NgspiceError, match="no such function 'nofunction'"):
        runner.run(n)
    clash = Netlist("t", [VoltageSource("V1", "a", "0", DC(1.0)), VoltageSource("V2", "a", "0", DC(2.0))])
    with pytest.raises(runner.NgspiceError, match="singular matrix"):
        runner.run(clash)


def test_raw_readers_agree_binary_and_ascii(ngspice, tmp_path):
    n = Netlist("rc", [VoltageSource("V1", "a", "0", Pulse(0.0, 1.0, 1e-9, 1e-10, 1e-10, 5e-9, 1e-8)),
                       Resistor("R1", "a", "b", 1e3), Capacitor("C1", "b", "0", 1e-12)], Tran(1e-10, 2e-8))
    mine = runner.run(n)  # the built-in reader
    theirs = runner.run(n, reader=runner.spicelib_reader)  # an independent reader
    assert sorted(mine.vectors) == sorted(theirs.vectors)
    for name in mine.vectors:
        np.testing.assert_array_equal(mine.vectors[name], theirs.vectors[name])
    # the same run written as an ASCII raw file parses to the same numbers (to the 16 digits printed)
    (tmp_path / "c.cir").write_text(spice.write(n))
    subprocess.run([ngspice, "-b", "-r", "a.raw", "c.cir"], cwd=tmp_path, capture_output=True, check=True,
                   env={**os.environ, "SPICE_ASCIIRAWFILE": "1"})
    ascii_vectors = runner.read_raw(tmp_path / "a.raw")
    for name in mine.vectors:
        np.testing.assert_allclose(ascii_vectors[name], mine.vectors[name], rtol=1e-14, atol=1e-300)
    # the RC response to the 0.1 ns ramp then the top: 1 + (RC/tr)(exp(-(t - t0)/RC) - exp(-(t - t1)/RC)), RC = 1 ns
    t, vb = mine.time, mine.v("b")
    window = (t > 1.5e-9) & (t < 6e-9)
    exact = 1.0 + (np.exp(-(t[window] - 1.0e-9) / 1e-9) - np.exp(-(t[window] - 1.1e-9) / 1e-9)) * 1e-9 / 1e-10
    np.testing.assert_allclose(vb[window], exact, atol=5e-3)  # ngspice's default reltol 1e-3 and step control


def test_runner_works_without_spicelib(ngspice, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "spicelib", None)  # 'import spicelib' now raises ImportError
    n = Netlist("divider", [VoltageSource("V1", "a", "0", DC(3.0)), Resistor("R1", "a", "b", 2e3),
                            Resistor("R2", "b", "0", 1e3)], options=(("reltol", 1e-9),))
    assert runner.run(n).v("b")[0] == pytest.approx(1.0, rel=1e-12)
