"""No user text reaches ngspice as a command: titles, names, expressions, save lists, parameters and
measurements are neutralised or refused (checked by running ngspice), corrupt raw files and hostile
sidecars get clear errors."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuits import export as exporting
from circuits import ngspice as runner
from circuits import spice
from circuits.netlist import BSource, DC, Measure, Netlist, Param, Resistor, Tran, VoltageSource
from substrate import MLP, save_network
from substrate.errors import ConfigurationError

# a folder holding a file that, if ngspice ever reads it, runs a shell command writing a sentinel
TRAP = Path(tempfile.mkdtemp(prefix="substrate-trap-"))
atexit.register(shutil.rmtree, TRAP, ignore_errors=True)
SENTINEL = TRAP / "executed"
(TRAP / "evil.inc").write_text(f"* trap\n.control\nshell touch {SENTINEL}\n.endc\n")
(TRAP / "evil.lib").write_text(f"* trap\n.lib sect\n.control\nshell touch {SENTINEL}\n.endc\n.endl sect\n")
PAYLOADS = [
    f".include {TRAP / 'evil.inc'}", f".INCLUDE {TRAP / 'evil.inc'}", f".inc {TRAP / 'evil.inc'}",
    f".lib {TRAP / 'evil.lib'} sect", f".control\nshell touch {SENTINEL}\n.endc", f"shell touch {SENTINEL}",
    f"\n.include {TRAP / 'evil.inc'}", f"\r.include {TRAP / 'evil.inc'}", f"; .include {TRAP / 'evil.inc'}",
    f"$ .include {TRAP / 'evil.inc'}", f"\n+.include {TRAP / 'evil.inc'}", f"*\n.control\nshell touch {SENTINEL}\n.endc",
    f"{{1}}\n.include {TRAP / 'evil.inc'}", f"x' .include {TRAP / 'evil.inc'}",
]
# hostile text: a payload, possibly wrapped in random text; random text; and plain words, which pass
# validation, so that every property also runs ngspice on netlists carrying the drawn text
hostile = st.one_of(st.sampled_from(PAYLOADS),
                    st.builds(lambda a, p, b: a + p + b, st.text(max_size=6), st.sampled_from(PAYLOADS), st.text(max_size=6)),
                    st.text(max_size=30),
                    st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True))


#: netlists the property tests handed to ngspice (a property test whose every draw was refused
#: before ngspice would check nothing by running it: each test asserts its own count grew)
REACHED = [0]


def _reaching_ngspice(check) -> None:
    """Run a hypothesis test ``check`` and assert that some of its draws were run by ngspice."""
    before = REACHED[0]
    check()
    assert REACHED[0] > before, "no draw reached ngspice: the property was never run"


def _harmless(build) -> None:
    """``build()`` either raises ConfigurationError, or gives a netlist ngspice runs without reading the trap."""
    SENTINEL.unlink(missing_ok=True)
    try:
        netlist, save = build()
    except ConfigurationError:
        return
    text = spice.write(netlist)
    assert not any(line.lstrip().lower().startswith((".include", ".inc", ".lib", ".control", "shell"))
                   for line in text.splitlines())
    REACHED[0] += 1
    try:
        runner.run(netlist, save=save, timeout=20)
    except (runner.NgspiceError, ConfigurationError):
        pass  # a value ngspice rejects is fine; executing the trap is not
    assert not SENTINEL.exists(), text


def _base(**fields):
    elements = [VoltageSource("V1", "a", "0", DC(1.0)), Resistor("R1", "a", "b", 1.0), Resistor("R2", "b", "0", 1.0)]
    return elements


FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def test_the_title_injection_of_issue_12_is_neutralised(ngspice):
    """The reproduction: a title '.include FILE' made ngspice run the file's .control block."""
    SENTINEL.unlink(missing_ok=True)
    netlist = Netlist(f".include {TRAP / 'evil.inc'}", _base())
    assert spice.write(netlist).splitlines()[0] == f"* .include {TRAP / 'evil.inc'}"
    assert runner.run(netlist).v("b")[0] == pytest.approx(0.5)
    assert not SENTINEL.exists()


def test_no_title_executes_anything(ngspice):
    @FAST
    @given(title=hostile)
    def check(title):
        _harmless(lambda: (Netlist(title, _base()), None))

    _reaching_ngspice(check)


def test_no_element_or_node_name_executes_anything(ngspice):
    @FAST
    @given(name=hostile, node=hostile)
    def check(name, node):
        _harmless(lambda: (Netlist("t", _base() + [Resistor("R" + name, "b", node, 1.0), Resistor("R9", node, "0", 1.0)]), None))

    _reaching_ngspice(check)


def test_no_expression_executes_anything(ngspice):
    @FAST
    @given(expression=hostile)
    def check(expression):
        _harmless(lambda: (Netlist("t", _base() + [BSource("B1", "c", "0", "V", expression), Resistor("R3", "c", "0", 1.0)]), None))

    _reaching_ngspice(check)


def test_no_save_list_executes_anything(ngspice):
    @FAST
    @given(node=hostile)
    def check(node):
        _harmless(lambda: (Netlist("t", _base()), [node]))

    _reaching_ngspice(check)


def test_no_parameter_executes_anything(ngspice):
    @FAST
    @given(name=hostile, value=hostile)
    def check(name, value):
        _harmless(lambda: (Netlist("t", _base()[:2] + [Resistor("R2", "b", "0", Param(value))],
                                   params=((name, 1.0), (value, 2.0))), None))

    _reaching_ngspice(check)


def test_no_measurement_executes_anything(ngspice):
    @FAST
    @given(name=hostile, spec=hostile)
    def check(name, spec):
        _harmless(lambda: (Netlist("t", _base(), Tran(1e-3, 1e-2), measures=(Measure("tran", name, spec),)), None))

    _reaching_ngspice(check)


def test_no_option_executes_anything(ngspice):
    @FAST
    @given(option=hostile)
    def check(option):
        _harmless(lambda: (Netlist("t", _base(), options=((option, 1.0),)), None))

    _reaching_ngspice(check)


@pytest.mark.parametrize("first", [".include evil.inc", ".INCLUDE evil.inc", "  .lib x.lib", ".control", ".param a=1"])
def test_parse_refuses_a_dot_command_on_the_title_line(first):
    text = f"{first}\nR1 a 0 1k\nR2 a 0 1k\n.op\n.end\n"
    with pytest.raises(spice.SpiceSyntaxError, match=r"line 1 .* is a dot command"):
        spice.parse(text)


@pytest.mark.parametrize("line, reason", [
    (".include evil.inc", ".include reads another file"), (".inc evil.inc", ".include reads another file"),
    (".LIB evil.lib sect", ".lib reads another file"), (".control", "a .control block runs ngspice commands"),
    ("shell touch x", "it runs a shell command"), (".endc", "a .control block"),
])
def test_parse_refuses_what_could_execute_with_line_number_and_reason(line, reason):
    text = f"title\nR1 a 0 1k\n* comment\n{line}\nR2 a 0 1k\n.op\n.end\n"
    with pytest.raises(spice.SpiceSyntaxError, match=rf"line 4 .* is refused: {reason}"):
        spice.parse(text)


# --- the raw-file reader ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw_file(tmp_path_factory):
    import subprocess

    if shutil.which("ngspice") is None:
        pytest.skip("ngspice is not installed")
    folder = tmp_path_factory.mktemp("raw")
    (folder / "c.cir").write_text("rc\nV1 a 0 PULSE(0 1 1n 1n 1n 5n 20n)\nR1 a b 1k\nC1 b 0 1p\n.tran 1n 20n\n.end\n")
    subprocess.run(["ngspice", "-b", "-r", "out.raw", "c.cir"], cwd=folder, capture_output=True, check=True,
                   env={**os.environ, "SPICE_ASCIIRAWFILE": "0"})
    return (folder / "out.raw").read_bytes()


def test_truncated_raw_files_raise_ngspice_error_naming_the_file(raw_file, tmp_path):
    good = runner.read_raw(_write(tmp_path / "ok.raw", raw_file))
    assert set(good) == {"time", "v(a)", "v(b)", "i(v1)"}
    header = raw_file.index(b"Binary:\n") + len(b"Binary:\n")
    for cut in sorted({0, 5, 40, header - 3, header, header + 7, len(raw_file) - 1}):
        path = _write(tmp_path / f"cut{cut}.raw", raw_file[:cut])
        with pytest.raises(runner.NgspiceError, match=rf"raw file {path}: .*\(truncated or not an ngspice raw file\)"):
            runner.read_raw(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_raw_files_give_arrays_or_ngspice_error(raw_file, data):
    """Random truncations, byte flips, insertions and deletions: never a bare ValueError or IndexError."""
    blob = bytearray(raw_file)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        at = data.draw(st.integers(0, max(0, len(blob) - 1)))
        if kind == "cut":
            del blob[at:]
        elif kind == "flip" and blob:
            blob[at] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif blob:
            del blob[at:at + data.draw(st.integers(1, 16))]
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder) / "fuzz.raw", bytes(blob))
        try:
            plots = runner.read_raw_plots(path)
        except runner.NgspiceError as error:
            assert str(path) in str(error)
        else:
            for _, vectors in plots:
                lengths = {len(v) for v in vectors.values()}
                assert len(lengths) <= 1  # every vector of a plot has one length


def test_complex_plot_keeps_the_scale_real_whatever_its_undefined_imaginary_half_holds(tmp_path):
    """ngspice leaves the imaginary half of an AC plot's frequency undefined; it once held inf, which a
    complex product (1j * inf = nan + inf j) had turned into a nan frequency."""
    header = ("Title: t\nDate: x\nPlotname: AC Analysis\nFlags: complex\nNo. Variables: 2\nNo. Points: 2\n"
              "Variables:\n\t0\tfrequency\tfrequency\tgrid=3\n\t1\tv(a)\tvoltage\nBinary:\n").encode()
    values = np.array([[1e3, np.inf, 0.5, -0.25], [1e6, np.nan, 0.125, 2.0]])  # per point: (re, im) per vector
    plots = runner.read_raw_plots(_write(tmp_path / "ac.raw", header + values.astype("<f8").tobytes()))
    vectors = plots[0][1]
    np.testing.assert_array_equal(vectors["frequency"], [1e3, 1e6])
    np.testing.assert_array_equal(vectors["v(a)"], [0.5 - 0.25j, 0.125 + 2.0j])


def _write(path, data):
    Path(path).write_bytes(data)
    return path


# --- verify's sidecar --------------------------------------------------------------------------------
@pytest.fixture
def exported(tmp_path):
    save_network(MLP([2, 3, 1], "tanh", seed=3), tmp_path / "params.npz")
    written = exporting.export(tmp_path, "spice", x=np.array([0.5, -1.0]))
    return Path(written["netlist"]), Path(written["metadata"])


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"format": "spice"}', "lacks"),
    ("PICKLE", "is not valid JSON"),
])
def test_corrupt_sidecars_get_a_clear_error(ngspice, exported, content, message):
    netlist, sidecar = exported
    if content == "PICKLE":
        import pickle

        sidecar.write_bytes(pickle.dumps({"format": "spice"}))
    else:
        sidecar.write_text(content)
    with pytest.raises(ConfigurationError, match=rf"{sidecar.name}.*{message}"):
        exporting.verify(netlist)


@pytest.mark.parametrize("network, message", [
    ("/etc/passwd", "must be a relative path to an .npz file"),
    ("../../../../etc/passwd", "must be a relative path to an .npz file"),
    ("elsewhere.npz", "does not exist"),
    ("pickled.npz", "sha256"),
])
def test_hostile_sidecar_network_paths_are_refused(ngspice, exported, network, message):
    netlist, sidecar = exported
    if network == "pickled.npz":  # a pickle with an .npz name: refused by its hash before any load
        import pickle

        (netlist.parent / network).write_bytes(pickle.dumps(object()))
    meta = json.loads(sidecar.read_text())
    meta["network"] = network
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ConfigurationError, match=message):
        exporting.verify(netlist)


def test_a_sidecar_with_an_unknown_format_or_bad_settings_is_refused(ngspice, exported):
    netlist, sidecar = exported
    meta = json.loads(sidecar.read_text())
    for key, value, message in [("format", "shell", "format = 'shell'"), ("settings", {"evil": 1}, "evil"),
                                ("x", "abc", "'x' must be")]:
        broken = dict(meta, **{key: value})
        sidecar.write_text(json.dumps(broken))
        with pytest.raises(ConfigurationError, match=message):
            exporting.verify(netlist)


def test_verify_refuses_a_plain_netlist_starting_with_a_dot_command(ngspice, tmp_path):
    SENTINEL.unlink(missing_ok=True)
    path = tmp_path / "plain.cir"
    path.write_text(f".include {TRAP / 'evil.inc'}\nR1 a 0 1k\nR2 a 0 1k\n.op\n.end\n")
    with pytest.raises(spice.SpiceSyntaxError, match="line 1"):
        exporting.verify(path)
    assert not SENTINEL.exists()
