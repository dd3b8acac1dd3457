"""The ngspice dialect: :func:`write` a :class:`~circuits.netlist.Netlist` to text and :func:`parse` it back.

Numbers are written in exponent form with 17 significant digits (``1.0000000000000000e-03``), which
round-trips every double exactly and never uses a SPICE scale suffix (``1m`` would be milli, ``1M``
too: SPICE is case-insensitive). T lines are written with ``Z0`` and ``TD`` only. The title is reduced
to one line of printable ASCII; every other name was validated by the netlist, so no user text can
start a line, a dot command or a ``.control`` block. :func:`parse` reads exactly the subset
:func:`write` emits.
"""

from __future__ import annotations

import re

from substrate.errors import ConfigurationError

from .netlist import (
    DC, LTRA, PWL, BSource, Capacitor, CurrentSource, Inductor, Instance, Netlist, Op, Param, Pulse,
    Resistor, Sin, Subckt, TLine, Tran, VCCS, VCVS, VoltageSource,
)

__all__ = ["write", "parse", "format_number", "SpiceSyntaxError"]


class SpiceSyntaxError(ConfigurationError):
    """Text that is not in the subset of the ngspice dialect that :func:`write` emits."""


def format_number(value) -> str:
    """A float in full-precision exponent form (``-1.2500000000000000e+03``), or ``{name}`` for a Param."""
    if isinstance(value, Param):
        return "{" + value.name + "}"
    return f"{float(value):.16e}"


def _title(text: str) -> str:
    line = "".join(ch if " " <= ch <= "~" else " " for ch in text).strip()
    return line or "untitled"


def _waveform(wave) -> str:
    f = format_number
    if isinstance(wave, DC):
        return f"DC {f(wave.value)}"
    if isinstance(wave, Pulse):
        return "PULSE(" + " ".join(f(getattr(wave, k)) for k in ("v1", "v2", "td", "tr", "tf", "pw", "per")) + ")"
    if isinstance(wave, PWL):
        return "PWL(" + " ".join(f"{f(t)} {f(v)}" for t, v in wave.points) + ")"
    return "SIN(" + " ".join(f(getattr(wave, k)) for k in ("vo", "va", "freq", "td", "theta")) + ")"


def _element_lines(e) -> list[str]:
    f = format_number
    if isinstance(e, (Resistor, Capacitor, Inductor)):
        ic = f" ic={f(e.ic)}" if getattr(e, "ic", None) is not None else ""
        return [f"{e.name} {e.n1} {e.n2} {f(e.value)}{ic}"]
    if isinstance(e, TLine):
        return [f"{e.name} {e.p1} {e.n1} {e.p2} {e.n2} z0={f(e.z0)} td={f(e.td)}"]
    if isinstance(e, LTRA):
        model = f"m_{e.name}"
        return [f"{e.name} {e.p1} {e.n1} {e.p2} {e.n2} {model}",
                f".model {model} ltra(r={f(e.r)} l={f(e.l)} g={f(e.g)} c={f(e.c)} len={f(e.length)})"]
    if isinstance(e, (VoltageSource, CurrentSource)):
        return [f"{e.name} {e.p} {e.n} {_waveform(e.waveform)}"]
    if isinstance(e, BSource):
        return [f"{e.name} {e.p} {e.n} {e.kind} = {e.expression}"]
    if isinstance(e, (VCVS, VCCS)):
        return [f"{e.name} {e.p} {e.n} {e.cp} {e.cn} {f(e.gain)}"]
    if isinstance(e, Instance):
        params = "".join(f" {name}={f(value)}" for name, value in e.params)
        return [f"{e.name} {' '.join(e.nodes)} {e.subckt}{params}"]
    raise ConfigurationError(f"cannot write {e!r}")


def write(netlist: Netlist) -> str:
    """Return the netlist as ngspice input text (title line first, ``.end`` and a newline last)."""
    if not isinstance(netlist, Netlist):  # a Netlist is immutable and was validated when it was made
        raise ConfigurationError(f"write needs a Netlist, got {type(netlist).__name__}")
    lines = [_title(netlist.title)]
    if netlist.options:
        lines.append(".options " + " ".join(f"{name}={format_number(value)}" for name, value in netlist.options))
    for sub in netlist.subckts:
        params = (" params: " + " ".join(f"{n}={format_number(v)}" for n, v in sub.params)) if sub.params else ""
        lines.append(f".subckt {sub.name} {' '.join(sub.ports)}{params}")
        for element in sub.elements:
            lines.extend(_element_lines(element))
        lines.append(f".ends {sub.name}")
    for element in netlist.elements:
        lines.extend(_element_lines(element))
    a = netlist.analysis
    if isinstance(a, Tran):
        tmax = f" {format_number(a.tmax)}" if a.tmax is not None else ""
        start = " 0.0000000000000000e+00" if a.tmax is not None else ""
        lines.append(f".tran {format_number(a.step)} {format_number(a.stop)}{start}{tmax}{' uic' if a.uic else ''}")
    else:
        lines.append(".op")
    lines.append(".end")
    return "\n".join(lines) + "\n"


# --- parsing ---------------------------------------------------------------------------------------
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z")


def _number(token: str, line: str):
    if token.startswith("{") and token.endswith("}"):
        return Param(token[1:-1])
    if not _NUMBER.match(token):
        raise SpiceSyntaxError(f"expected a number in exponent form, got {token!r} in line {line!r}")
    return float(token)


def _keyword(token: str, key: str, line: str):
    name, _, value = token.partition("=")
    if name.lower() != key or not value:
        raise SpiceSyntaxError(f"expected {key}=<number>, got {token!r} in line {line!r}")
    return _number(value, line)


def _parse_waveform(text: str, line: str):
    text = text.strip()
    upper = text.upper()
    if upper.startswith("DC "):
        return DC(_number(text[3:].strip(), line))
    match = re.match(r"(PULSE|PWL|SIN)\((.*)\)\Z", text, re.IGNORECASE)
    if not match:
        raise SpiceSyntaxError(f"unknown source waveform {text!r} in line {line!r}")
    values = [_number(t, line) for t in match.group(2).split()]
    kind = match.group(1).upper()
    if kind == "PULSE":
        if len(values) != 7:
            raise SpiceSyntaxError(f"PULSE needs 7 values in line {line!r}")
        return Pulse(*values)
    if kind == "SIN":
        if len(values) != 5:
            raise SpiceSyntaxError(f"SIN needs 5 values in line {line!r}")
        return Sin(*values)
    if len(values) % 2:
        raise SpiceSyntaxError(f"PWL needs (time, value) pairs in line {line!r}")
    return PWL(tuple(zip(values[0::2], values[1::2])))


def _parse_element(line: str, models: dict):
    tokens = line.split()
    name = tokens[0]
    letter = name[0].upper()
    try:
        if letter in "RCL":
            cls = {"R": Resistor, "C": Capacitor, "L": Inductor}[letter]
            extra = {}
            if len(tokens) == 5 and letter != "R":
                extra["ic"] = _keyword(tokens[4], "ic", line)
            elif len(tokens) != 4:
                raise SpiceSyntaxError(f"wrong number of fields in line {line!r}")
            return cls(name, tokens[1], tokens[2], _number(tokens[3], line), **extra)
        if letter == "T":
            if len(tokens) != 7:
                raise SpiceSyntaxError(f"T line needs 4 nodes, z0= and td= in line {line!r}")
            return TLine(name, *tokens[1:5], _keyword(tokens[5], "z0", line), _keyword(tokens[6], "td", line))
        if letter == "O":
            model = models.get(tokens[5].lower())
            if model is None:
                raise SpiceSyntaxError(f"LTRA model {tokens[5]!r} is not defined after line {line!r}")
            return LTRA(name, *tokens[1:5], *model)
        if letter in "VI":
            cls = VoltageSource if letter == "V" else CurrentSource
            rest = line.split(None, 3)[3]
            return cls(name, tokens[1], tokens[2], _parse_waveform(rest, line))
        if letter == "B":
            match = re.match(r"\S+\s+(\S+)\s+(\S+)\s+([VI])\s*=\s*(.*)\Z", line, re.IGNORECASE)
            if not match:
                raise SpiceSyntaxError(f"B source must read 'Bname p n V = expression' in line {line!r}")
            return BSource(name, match.group(1), match.group(2), match.group(3).upper(), match.group(4))
        if letter in "EG":
            if len(tokens) != 6:
                raise SpiceSyntaxError(f"controlled source needs 4 nodes and a gain in line {line!r}")
            return (VCVS if letter == "E" else VCCS)(name, *tokens[1:5], _number(tokens[5], line))
        if letter == "X":
            positional = [t for t in tokens[1:] if "=" not in t]
            params = tuple((t.split("=", 1)[0], _number(t.split("=", 1)[1], line)) for t in tokens[1:] if "=" in t)
            return Instance(name, tuple(positional[:-1]), positional[-1], params)
    except IndexError:
        raise SpiceSyntaxError(f"too few fields in line {line!r}") from None
    raise SpiceSyntaxError(f"unknown element type {letter!r} in line {line!r}")


def parse(text: str) -> Netlist:
    """Parse text written by :func:`write` back into a :class:`Netlist` (validated)."""
    raw = text.split("\n")
    if not raw or not text.endswith("\n"):
        raise SpiceSyntaxError("a netlist ends with a newline")
    title, body = raw[0], []
    for line in raw[1:]:
        if line.startswith("+") and body:
            body[-1] += " " + line[1:].strip()
        elif line.strip() and not line.startswith("*"):
            body.append(line.strip())
    # LTRA model cards follow their element: collect them first
    models = {}
    for line in body:
        match = re.match(r"\.model\s+(\S+)\s+ltra\((.*)\)\Z", line, re.IGNORECASE)
        if match:
            values = dict(t.split("=", 1) for t in match.group(2).split())
            models[match.group(1).lower()] = tuple(_number(values[k], line) for k in ("r", "l", "g", "c", "len"))
    elements, subckts, options, analysis, ended = [], [], [], None, False
    scope = None  # (name, ports, params, elements) while inside .subckt
    for line in body:
        if ended:
            raise SpiceSyntaxError(f"text after .end: {line!r}")
        lower = line.lower()
        if lower.startswith(".model"):
            continue
        if lower.startswith(".options"):
            options.extend((t.split("=", 1)[0], _number(t.split("=", 1)[1], line)) for t in line.split()[1:])
        elif lower.startswith(".subckt"):
            head, _, params = line.partition(" params: ")
            tokens = head.split()
            pairs = tuple((t.split("=", 1)[0], _number(t.split("=", 1)[1], line)) for t in params.split())
            scope = (tokens[1], tuple(tokens[2:]), pairs, [])
        elif lower.startswith(".ends"):
            if scope is None:
                raise SpiceSyntaxError(".ends without .subckt")
            subckts.append(Subckt(scope[0], scope[1], tuple(scope[3]), scope[2]))
            scope = None
        elif lower == ".op":
            analysis = Op()
        elif lower.startswith(".tran"):
            tokens = line.split()
            uic = tokens[-1].lower() == "uic"
            values = [_number(t, line) for t in tokens[1:len(tokens) - uic]]
            analysis = Tran(values[0], values[1], values[3] if len(values) == 4 else None, uic)
        elif lower == ".end":
            ended = True
        elif line.startswith("."):
            raise SpiceSyntaxError(f"unsupported dot command {line!r}")
        else:
            (scope[3] if scope is not None else elements).append(_parse_element(line, models))
    if not ended:
        raise SpiceSyntaxError("missing .end")
    return Netlist(title, tuple(elements), analysis or Op(), tuple(subckts), tuple(options))
