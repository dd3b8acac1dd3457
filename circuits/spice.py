"""The ngspice dialect: :func:`write` a :class:`~circuits.netlist.Netlist` to text and :func:`parse` it back.

Numbers are written in the shortest form that round-trips (``repr(float)``: ``1e-12``, ``0.001``,
``2000.0``), never with a SPICE scale suffix (``1m`` would be milli, ``1M`` too: SPICE is
case-insensitive). T lines are written with ``Z0`` and ``TD`` only. The title is reduced to one line
of printable ASCII written behind ``* `` (ngspice still takes line 1 as the title, but executes a
``.include`` there: a comment executes nothing); every other name and expression was validated by
the netlist, so no user text can start a line, a dot command or a ``.control`` block.

:func:`parse` reads what :func:`write` emits and the standard SPICE a person writes: engineering
suffixes (``2k``, ``1meg``, ``10u``, ``5mil``; trailing unit letters are ignored), case-insensitive
keywords, comments (``*`` lines, ``;`` and `` $`` to the end of a line), ``+`` continuation lines,
``.param`` with ``{expr}`` values, ``.options``, ``.op``, ``.dc``, ``.ac``, ``.tran`` and ``.meas``.
What can execute anything is refused with its line number and the reason: a dot command on the title
line, ``.control``/``.endc``, ``.include``, ``.lib`` and shell commands.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from substrate.errors import ConfigurationError

from .netlist import (
    AC, DC, LTRA, PWL, BSource, Capacitor, CurrentSource, DCSweep, Inductor, Instance, Measure, Netlist, Op, Param,
    Pulse, Resistor, Sin, Subckt, TLine, Tran, VCCS, VCVS, VoltageSource,
)

__all__ = ["write", "parse", "format_number", "parse_number", "SpiceSyntaxError"]


class SpiceSyntaxError(ConfigurationError):
    """Text that :func:`parse` cannot read or refuses; the message names the line."""


def format_number(value) -> str:
    """A float in the shortest form that round-trips (``repr``: ``1e-12``), or ``{expr}`` for a Param."""
    if isinstance(value, Param):
        return "{" + value.name + "}"
    return repr(float(value))


def _comment_line(text: str) -> str:
    """``* `` and ``text`` reduced to one line of printable ASCII."""
    return ("* " + "".join(ch if " " <= ch <= "~" else " " for ch in str(text))).rstrip()


def _title(text: str) -> str:
    """The title as line 1: one line of printable ASCII behind ``* ``.

    ngspice executes a ``.include`` (and so any ``.control`` block in the included file) even on the
    title line; a line that starts with ``*`` is a comment to every SPICE reader and still ngspice's title.
    """
    line = "".join(ch if " " <= ch <= "~" else " " for ch in text).strip()
    return "* " + (line or "untitled")


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
                f".model {model} ltra(r={f(e.r)} l={f(e.l)} g={f(e.g)} c={f(e.c)} len={f(e.length)}"
                + (f" rel={f(e.breakpoint_rel)}" if e.breakpoint_rel is not None else "")
                + (f" abs={f(e.breakpoint_abs)}" if e.breakpoint_abs is not None else "") + ")"]
    if isinstance(e, (VoltageSource, CurrentSource)):
        ac = f" AC {f(e.ac)}" if e.ac is not None else ""
        return [f"{e.name} {e.p} {e.n} {_waveform(e.waveform)}{ac}"]
    if isinstance(e, BSource):
        return [f"{e.name} {e.p} {e.n} {e.kind} = {e.expression}"]
    if isinstance(e, (VCVS, VCCS)):
        return [f"{e.name} {e.p} {e.n} {e.cp} {e.cn} {f(e.gain)}"]
    if isinstance(e, Instance):
        params = "".join(f" {name}={f(value)}" for name, value in e.params)
        return [f"{e.name} {' '.join(e.nodes)} {e.subckt}{params}"]
    raise ConfigurationError(f"cannot write {e!r}")


def _analysis_line(a) -> str:
    f = format_number
    if isinstance(a, Tran):
        start = f" {f(a.start)}" if a.tmax is not None or a.start else ""
        tmax = f" {f(a.tmax)}" if a.tmax is not None else ""
        return f".tran {f(a.step)} {f(a.stop)}{start}{tmax}{' uic' if a.uic else ''}"
    if isinstance(a, DCSweep):
        return f".dc {a.source} {f(a.start)} {f(a.stop)} {f(a.step)}"
    if isinstance(a, AC):
        return f".ac {a.variation} {a.points} {f(a.start)} {f(a.stop)}"
    return ".op"


def write(netlist: Netlist, header=()) -> str:
    """Return the netlist as ngspice input text (title line first, ``.end`` and a newline last).

    Parameters
    ----------
    netlist : Netlist
    header : sequence of str
        Comment lines written after the title (each reduced to printable ASCII behind ``* ``);
        :func:`parse` ignores them.
    """
    if not isinstance(netlist, Netlist):  # a Netlist is immutable and was validated when it was made
        raise ConfigurationError(f"write needs a Netlist, got {type(netlist).__name__}")
    if isinstance(header, str):
        header = header.splitlines()
    lines = [_title(netlist.title)] + [_comment_line(line) for line in header]
    for name, value in netlist.params:
        lines.append(f".param {name}={format_number(value)}")
    if netlist.options:
        lines.append(".options " + " ".join(name if value is None else f"{name}={format_number(value)}"
                                             for name, value in netlist.options))
    for sub in netlist.subckts:
        params = (" params: " + " ".join(f"{n}={format_number(v)}" for n, v in sub.params)) if sub.params else ""
        lines.append(f".subckt {sub.name} {' '.join(sub.ports)}{params}")
        for element in sub.elements:
            lines.extend(_element_lines(element))
        lines.append(f".ends {sub.name}")
    for element in netlist.elements:
        lines.extend(_element_lines(element))
    lines += [_analysis_line(a) for a in netlist.analyses]
    lines += [f".meas {m.analysis} {m.name} {m.spec}" for m in netlist.measures]
    lines.append(".end")
    return "\n".join(lines) + "\n"


# --- parsing ---------------------------------------------------------------------------------------
_NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)([A-Za-z]*)\Z")
_SCALE = {"t": 12, "g": 9, "k": 3, "m": -3, "u": -6, "n": -9, "p": -12, "f": -15}
_REFUSED = {
    ".control": "a .control block runs ngspice commands (shell, file writes)",
    ".endc": "a .control block runs ngspice commands (shell, file writes)",
    ".include": ".include reads another file (paste its content instead)",
    ".inc": ".include reads another file (paste its content instead)",
    ".lib": ".lib reads another file (paste its content instead)",
    ".endl": ".lib reads another file (paste its content instead)",
    "shell": "it runs a shell command",
}


def parse_number(token: str, where: str = "") -> float:
    """A SPICE number: ``2k`` = 2000, ``1meg`` = 1e6, ``10u`` = 1e-5, ``5mil`` = 1.27e-4 (inch/1000 in m),
    ``1.5e-3``; letters after the scale (units such as ``ohm``, ``F``, ``Hz``) are ignored, as in SPICE.
    The result is the correctly rounded double of the decimal value."""
    match = _NUMBER.match(token)
    if not match:
        raise SpiceSyntaxError(f"{where}expected a number (such as 2k, 1meg, 10u, 1.5e-3), got {token!r}")
    mantissa, letters = match.group(1), match.group(2).lower()
    try:
        value = Decimal(mantissa)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimal numbers
        raise SpiceSyntaxError(f"{where}expected a number, got {token!r}") from None
    if letters.startswith("meg"):
        value *= Decimal(10) ** 6
    elif letters.startswith("mil"):
        value *= Decimal("25.4e-6")
    elif letters[:1] in _SCALE:
        value = value.scaleb(_SCALE[letters[0]])
    return float(value)


class _Reader:
    """Parses one logical line at a time; ``where`` prefixes every message with the line number."""

    def __init__(self, number: int, line: str):
        self.number, self.line = number, line
        self.where = f"line {number} ({line[:60]!r}): "

    def fail(self, message: str):
        raise SpiceSyntaxError(self.where + message)

    def number_or_param(self, token: str):
        if token.startswith("{") and token.endswith("}"):
            return Param(token[1:-1].strip())
        return parse_number(token, self.where)

    def keyword(self, token: str, key: str):
        name, _, value = token.partition("=")
        if name.lower() != key or not value:
            self.fail(f"expected {key}=<number>, got {token!r}")
        return self.number_or_param(value)

    def waveform(self, text: str):
        text = re.sub(r"\s*\(\s*", "(", text.strip().replace(",", " "))
        upper = text.upper()
        ac = None
        match = re.search(r"\bAC\s+(\S+)\s*\Z", text, re.IGNORECASE)
        if match:
            ac = self.number_or_param(match.group(1))
            text = text[:match.start()].strip()
            upper = text.upper()
        if not text:
            return DC(0.0), ac
        if upper.startswith("DC"):
            rest = text[2:].strip().lstrip("=").strip()
            return DC(self.number_or_param(rest)), ac
        if _NUMBER.match(text) or (text.startswith("{") and text.endswith("}")):
            return DC(self.number_or_param(text)), ac
        match = re.match(r"(PULSE|PWL|SIN)\((.*)\)\Z", text, re.IGNORECASE)
        if not match:
            self.fail(f"unknown source waveform {text!r} (DC, PULSE, PWL, SIN; AC <amplitude>)")
        values = [self.number_or_param(t) for t in match.group(2).split()]
        kind = match.group(1).upper()
        if kind == "PULSE":
            if len(values) != 7:
                self.fail(f"PULSE needs all 7 values (v1 v2 td tr tf pw per), got {len(values)}")
            return Pulse(*values), ac
        if kind == "SIN":
            if not 3 <= len(values) <= 5:
                self.fail(f"SIN needs 3 to 5 values (vo va freq [td [theta]]), got {len(values)}")
            return Sin(*values), ac
        if len(values) % 2 or not values:
            self.fail("PWL needs (time, value) pairs")
        return PWL(tuple(zip(values[0::2], values[1::2]))), ac

    def element(self, models: dict):
        line = self.line
        letter = line[0].upper()
        if letter == "B":
            match = re.match(r"(\S+)\s+(\S+)\s+(\S+)\s+([VI])\s*=\s*(.*)\Z", line, re.IGNORECASE)
            if not match:
                self.fail("a B source reads 'Bname p n V = expression' (or I = expression)")
            expression = match.group(5).strip()
            if expression.startswith("{") and expression.endswith("}"):
                expression = expression[1:-1].strip()
            return BSource(match.group(1), match.group(2), match.group(3), match.group(4).upper(), expression)
        if letter in "VI":
            tokens = line.split(None, 3)
            if len(tokens) < 3:
                self.fail("a source needs a name and two nodes")
            wave, ac = self.waveform(tokens[3] if len(tokens) == 4 else "")
            cls = VoltageSource if letter == "V" else CurrentSource
            return cls(tokens[0], tokens[1], tokens[2], wave, ac)
        tokens = re.sub(r"\s*=\s*", "=", line).split()
        name = tokens[0]
        try:
            if letter in "RCL":
                cls = {"R": Resistor, "C": Capacitor, "L": Inductor}[letter]
                extra = {}
                if len(tokens) == 5 and letter != "R":
                    extra["ic"] = self.keyword(tokens[4], "ic")
                elif len(tokens) != 4:
                    self.fail(f"{cls.__name__.lower()} reads '{letter}name n1 n2 value'"
                              + ("" if letter == "R" else " [ic=value]"))
                return cls(name, tokens[1], tokens[2], self.number_or_param(tokens[3]), **extra)
            if letter == "T":
                keys = dict(t.lower().split("=", 1) for t in tokens[5:] if "=" in t)
                if len(tokens) != 7 or set(keys) != {"z0", "td"}:
                    self.fail("a T line reads 'Tname p1 n1 p2 n2 z0=<ohm> td=<s>' (the F=/NL= form is not supported)")
                return TLine(name, *tokens[1:5], self.number_or_param(keys["z0"]), self.number_or_param(keys["td"]))
            if letter == "O":
                model = models.get(tokens[5].lower())
                if model is None:
                    self.fail(f"LTRA model {tokens[5]!r} is not defined by a .model card")
                return LTRA(name, *tokens[1:5], *model)
            if letter in "EG":
                if len(tokens) != 6:
                    self.fail("a controlled source reads 'Ename p n cp cn gain'")
                return (VCVS if letter == "E" else VCCS)(name, *tokens[1:5], self.number_or_param(tokens[5]))
            if letter == "X":
                body = [t for t in tokens[1:] if t.lower() != "params:"]
                positional = [t for t in body if "=" not in t]
                params = tuple((t.split("=", 1)[0], self.number_or_param(t.split("=", 1)[1])) for t in body if "=" in t)
                if len(positional) < 2:
                    self.fail("an instance reads 'Xname nodes... subckt [name=value ...]'")
                return Instance(name, tuple(positional[:-1]), positional[-1], params)
        except IndexError:
            self.fail("too few fields")
        self.fail(f"element type {letter!r} is not supported (R C L T O V I B E G X)")


def _logical_lines(text: str):
    """``(line number, text)`` of every line after the title, comments removed, ``+`` lines joined."""
    lines = []
    for number, raw in enumerate(text.splitlines()[1:], start=2):
        line = raw.split(";", 1)[0]
        line = re.split(r"\s\$", " " + line, maxsplit=1)[0][1:]  # '$' after whitespace starts a comment
        line = line.strip()
        if not line or line.startswith("*"):
            continue
        if line.startswith("+"):
            if not lines:
                raise SpiceSyntaxError(f"line {number}: a '+' continuation line with nothing to continue")
            lines[-1] = (lines[-1][0], lines[-1][1] + " " + line[1:].strip())
        else:
            lines.append((number, line))
    return lines


def _title_of(first: str) -> str:
    stripped = first.strip()
    if stripped.startswith("."):
        raise SpiceSyntaxError(
            f"line 1 ({stripped[:60]!r}) is a dot command, but line 1 of a SPICE file is its title: ngspice "
            "would still execute it (.include runs the included file's .control blocks); start the file with a title line")
    return stripped[1:].strip() if stripped.startswith("*") else stripped


def parse(text: str) -> Netlist:
    """Parse SPICE netlist text (what :func:`write` emits, or standard hand-written SPICE) into a
    validated :class:`Netlist`.

    Raises
    ------
    SpiceSyntaxError
        Naming the line number and the reason; also for everything that could execute a command
        (``.control``, ``.include``, ``.lib``, shell, a dot command on the title line).
    """
    if not isinstance(text, str) or not text.strip():
        raise SpiceSyntaxError("a netlist needs a title line and at least one element, got empty text")
    title = _title_of(text.splitlines()[0])
    body = _logical_lines(text)
    for number, line in body:
        command = line.split()[0].lower()
        if command in _REFUSED:
            raise SpiceSyntaxError(f"line {number} ({line[:60]!r}) is refused: {_REFUSED[command]}")
    models = {}
    for number, line in body:
        if line.lower().startswith(".model"):
            reader = _Reader(number, line)
            match = re.match(r"\.model\s+(\S+)\s+ltra\s*\((.*)\)\Z", re.sub(r"\s*=\s*", "=", line), re.IGNORECASE)
            if not match:
                reader.fail("only LTRA models are supported: '.model NAME ltra(r= l= g= c= len=)'")
            values = {k.lower(): v for k, v in (t.split("=", 1) for t in match.group(2).replace(",", " ").split())}
            missing = {"r", "l", "g", "c", "len"} - set(values)
            if missing:
                reader.fail(f"LTRA model needs r, l, g, c and len (missing {sorted(missing)})")
            unknown = set(values) - {"r", "l", "g", "c", "len", "rel", "abs"}
            if unknown:
                reader.fail(f"LTRA model keys are r, l, g, c, len, rel and abs (unknown {sorted(unknown)})")
            models[match.group(1).lower()] = tuple(reader.number_or_param(values[k]) if k in values else None
                                                   for k in ("r", "l", "g", "c", "len", "rel", "abs"))
    elements, subckts, options, params, analyses, measures = [], [], [], [], [], []
    ended, scope = False, None  # scope: (name, ports, params, elements) inside .subckt
    defined = {}  # element name -> the line that defines it, for the model's validation errors
    for number, line in body:
        reader = _Reader(number, line)
        if ended:
            reader.fail("text after .end")
        tokens = re.sub(r"\s*=\s*", "=", line).split()
        command = tokens[0].lower()
        if command == ".model":
            continue
        if command in (".options", ".option", ".opt"):
            options.extend((t.split("=", 1)[0], reader.number_or_param(t.split("=", 1)[1])) if "=" in t else (t, None)
                           for t in tokens[1:])
        elif command == ".param":
            for t in tokens[1:]:
                if "=" not in t:
                    reader.fail(f".param entries read name=value, got {t!r}")
                name, value = t.split("=", 1)
                params.append((name, reader.number_or_param(value)))
        elif command == ".subckt":
            if scope is not None:
                reader.fail(f".subckt inside subcircuit {scope[0]!r} (nested definitions are not supported)")
            head = [t for t in tokens[1:] if "=" not in t and t.lower() != "params:"]
            pairs = tuple((t.split("=", 1)[0], reader.number_or_param(t.split("=", 1)[1])) for t in tokens[1:] if "=" in t)
            if not head:
                reader.fail(".subckt needs a name and its ports")
            scope = (head[0], tuple(head[1:]), pairs, [])
        elif command == ".ends":
            if scope is None:
                reader.fail(".ends without .subckt")
            subckts.append(Subckt(scope[0], scope[1], tuple(scope[3]), scope[2]))
            scope = None
        elif command == ".op":
            analyses.append(Op())
        elif command == ".tran":
            uic = tokens[-1].lower() == "uic"
            values = [parse_number(t, reader.where) for t in tokens[1:len(tokens) - uic]]
            if not 2 <= len(values) <= 4:
                reader.fail(".tran reads 'step stop [start [tmax]] [uic]'")
            analyses.append(Tran(values[0], values[1], values[3] if len(values) == 4 else None, uic,
                                 values[2] if len(values) >= 3 else 0.0))
        elif command == ".dc":
            if len(tokens) != 5:
                reader.fail(".dc reads 'source start stop step' (one sweep)")
            analyses.append(DCSweep(tokens[1], *(parse_number(t, reader.where) for t in tokens[2:])))
        elif command == ".ac":
            if len(tokens) != 5 or not tokens[2].isdigit():
                reader.fail(".ac reads 'dec|oct|lin points fstart fstop'")
            analyses.append(AC(tokens[1].lower(), int(tokens[2]), parse_number(tokens[3], reader.where),
                               parse_number(tokens[4], reader.where)))
        elif command in (".meas", ".measure"):
            parts = line.split(None, 3)
            if len(parts) != 4:
                reader.fail(".meas reads '.meas tran|dc|ac name ...'")
            measures.append(Measure(parts[1].lower(), parts[2], parts[3]))
        elif command == ".end":
            if scope is not None:
                reader.fail(f"subcircuit {scope[0]!r} has no .ends")
            ended = True
        elif command.startswith("."):
            reader.fail(f"unsupported dot command {tokens[0]!r} (supported: .param .options .subckt .ends .model "
                        ".op .dc .ac .tran .meas .end)")
        else:
            element = reader.element(models)
            defined.setdefault(element.name.lower(), number)
            (scope[3] if scope is not None else elements).append(element)
    if not ended:
        raise SpiceSyntaxError("missing .end")
    analysis = analyses[0] if len(analyses) == 1 else tuple(analyses) if analyses else Op()
    try:
        return Netlist(title, tuple(elements), analysis, tuple(subckts), tuple(options), tuple(params), tuple(measures))
    except SpiceSyntaxError:
        raise
    except ConfigurationError as error:  # the model's validation: name the line of the element it names
        found = re.search(r"element '([^']+)'", str(error))
        if found and found.group(1).lower() in defined:
            raise SpiceSyntaxError(f"line {defined[found.group(1).lower()]}: {error}") from None
        raise
