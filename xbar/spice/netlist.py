"""Read SPICE netlists (an ngspice-compatible subset for DC analysis).

:func:`read_netlist` turns a netlist file (or its text) into a flat
:class:`~xbar.spice.circuit.Circuit`.  The accepted language:

* the first line is the title (always, whatever it contains);
* ``*`` starts a comment line; ``;`` and ``$`` (followed by a blank) start
  an inline comment; ``+`` in column 1 continues the previous card;
* names are case-insensitive and stored in lower case; nodes ``0`` and
  ``gnd`` are ground (also inside subcircuits);
* numbers take SPICE scale factors and unit letters (:mod:`xbar.spice.units`);
  wherever a value goes (elements, ``.model``, ``.dc``, ``.options``,
  ``.temp``), ``{expr}`` or ``'expr'`` evaluates an expression of
  parameters (:mod:`xbar.spice.expr`);
* ``.param`` cards work as in ngspice: all of a scope's ``.param`` cards are
  evaluated before its elements, a value may use parameters defined on later
  cards, the last definition of a name wins, and a circular definition is an
  error; ``.model`` cards inside a subcircuit use the instance's parameters;
* elements::

      R<name> <n+> <n-> <value>          (or r=<value>; negative is allowed, 0 is not)
      V<name> <n+> <n-> [DC] <value>
      I<name> <n+> <n-> [DC] <value>
      G<name> <n+> <n-> <nc+> <nc-> <transconductance>
      E<name> <n+> <n-> <nc+> <nc-> <gain>
      D<name> <anode> <cathode> <model> [area=<area>]
      B<name> <n+> <n-> I=<expression of V(a,b), V(a), parameters>
      X<name> <node>... <subckt> [params:] [<name>=<value>...]

* directives: ``.param``, ``.subckt``/``.ends`` (nested definitions and
  instances; ``params:`` defaults), ``.include`` (relative to the including
  file), ``.model <name> D(IS= N= RS= BV= IBV=)``, ``.options`` (reltol
  abstol vntol gmin itl1 itl2 temp tnom), ``.temp`` (the circuit temperature
  in degC, the same as ``.options temp=``), ``.op``, ``.dc``, ``.title``,
  ``.end``.  The output directives ``.print``, ``.plot``, ``.save``,
  ``.probe`` and ``.width`` do not change a DC solution and are skipped.
  Anything else (``.tran``, ``.ac``, ``.control``, capacitors,
  transistors, ...) is an error that names the card.

Flattened names
---------------
Subcircuit instances are flattened.  A node ``m`` inside instance ``x1`` is
named ``x1.m`` (nested: ``x1.x2.m``), exactly as ngspice names it.  An
element ``r1`` inside ``x1`` is named ``x1.r1`` (nested: ``x1.x2.r1``);
ngspice calls the same element ``r.x1.r1`` -- :func:`ngspice_name` converts.

Errors
------
Every problem raises one :class:`~xbar.errors.NetlistError` whose location
is ``file:line:column`` of the offending token (also on ``+`` continuation
lines), with the source line, a caret and a hint giving the expected form of
the card.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from .circuit import (
    BSource,
    Circuit,
    Controlled,
    DCSweep,
    DiodeModel,
    Diodes,
    Op,
    Options,
    TwoTerminal,
)
from ..errors import Location, NetlistError
from .expr import ExprSyntaxError, compile_expression, constant_value
from .units import try_parse_value

__all__ = ["read_netlist", "ngspice_name", "EXPECTED"]

logger = logging.getLogger(__name__)

#: The expected form of each card, used as the hint of errors.
EXPECTED = {
    "r": "R<name> <n+> <n-> <value>",
    "v": "V<name> <n+> <n-> [DC] <value>",
    "i": "I<name> <n+> <n-> [DC] <value>",
    "g": "G<name> <n+> <n-> <nc+> <nc-> <transconductance>",
    "e": "E<name> <n+> <n-> <nc+> <nc-> <gain>",
    "d": "D<name> <anode> <cathode> <model> [area=<area>]",
    "b": "B<name> <n+> <n-> I=<expression>",
    "x": "X<name> <node>... <subckt> [<param>=<value>...]",
    ".param": ".param <name>=<value> [<name>=<value>...]",
    ".subckt": ".subckt <name> <pin>... [params: <name>=<value>...]",
    ".ends": ".ends [<name>]",
    ".model": ".model <name> D(IS=<A> N=<1> RS=<ohm> BV=<V> IBV=<A>)",
    ".options": ".options <name>=<value>... (reltol abstol vntol gmin itl1 itl2 temp tnom)",
    ".dc": ".dc <source> <start> <stop> <step> [<source2> <start2> <stop2> <step2>]",
    ".op": ".op",
    ".temp": ".temp <temperature in degC>",
    ".include": ".include <file>",
    ".title": ".title <text>",
}

_ELEMENT_NAMES = {
    "c": "capacitor", "l": "inductor", "k": "coupled inductor", "m": "MOSFET",
    "q": "bipolar transistor", "j": "JFET", "z": "MESFET", "t": "transmission line",
    "o": "lossy transmission line", "u": "uniform RC line", "w": "current-controlled switch",
    "s": "voltage-controlled switch", "f": "current-controlled current source",
    "h": "current-controlled voltage source", "a": "XSPICE code model", "y": "TXL line",
    "p": "coupled multiconductor line", "n": "OSDI/Verilog-A device",
}

_OUTPUT_ONLY = {".print", ".plot", ".save", ".probe", ".width"}
_ANALYSES = {".tran", ".ac", ".noise", ".tf", ".pz", ".disto", ".sens", ".four", ".fourier",
             ".pss", ".sp", ".meas", ".measure"}
_OPTION_FIELDS = {"reltol": float, "abstol": float, "vntol": float, "gmin": float,
                  "itl1": int, "itl2": int, "temp": float, "tnom": float}
_DIODE_PARAMS = {"is": "is_", "n": "n", "rs": "rs", "bv": "bv", "ibv": "ibv"}
# parameters with no effect on a DC solution at the nominal temperature
_DIODE_IGNORED = {"cjo", "cj0", "cj", "vj", "pb", "m", "mj", "tt", "fc", "kf", "af", "eg",
                  "xti", "level"}
_SOURCE_NON_DC = {"ac", "pulse", "sin", "exp", "pwl", "sffm", "am", "trnoise", "trrandom",
                  "distof1", "distof2"}
_GROUND = ("0", "gnd")
_DOLLAR = re.compile(r"(?:^|[ \t])\$(?:[ \t]|$)")
_VCALL = re.compile(r"\b[vV]\s*\(([^()]*)\)")
_THIRD = re.compile(r"\s*\S+\s+(\S+)\s+")
_FOURTH = re.compile(r"\s*\S+\s+\S+\s+\S+\s+")
_PARAM_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")


def ngspice_name(name: str) -> str:
    """ngspice's name of a flattened element: ``x1.x2.r1`` -> ``r.x1.x2.r1``.

    Top-level names are unchanged.

    Examples
    --------
    >>> ngspice_name("x1.v9")
    'v.x1.v9'
    >>> ngspice_name("r1")
    'r1'
    """
    if "." not in name:
        return name
    last = name.rsplit(".", 1)[1]
    return f"{last[0]}.{name}"


# --------------------------------------------------------------------------- cards

class _Card:
    """One logical line: text with comments removed, where it came from."""

    __slots__ = ("text", "file", "line", "source", "segs")

    def __init__(self, text: str, file: str, line: int, source: str):
        self.text = text
        self.file = file
        self.line = line
        self.source = source
        self.segs = None  # [(start offset in text, line, column0, source)] when continued

    def loc(self, off: int | None = None) -> Location:
        """Location of character offset ``off`` of ``text`` (default: first token)."""
        if off is None:
            off = len(self.text) - len(self.text.lstrip())
        if self.segs is None:
            return Location(self.file, self.line, off + 1, self.source)
        start, line, col0, source = self.line_seg(off)
        return Location(self.file, line, off - start + col0 + 1, source)

    def line_seg(self, off: int):
        best = (0, self.line, 0, self.source)
        for seg in self.segs:
            if seg[0] <= off:
                best = seg
        return best


class _Locations(dict):
    """Element name -> :class:`Location`, made on first access (keeps reading fast).

    Behaves as a read-only ``dict`` of locations for ``[]``, ``get``, ``items``
    and ``values``.
    """

    def __getitem__(self, key):
        v = dict.__getitem__(self, key)
        if not isinstance(v, Location):
            v = v.loc()
            dict.__setitem__(self, key, v)
        return v

    def get(self, key, default=None):
        return self[key] if key in self else default

    def values(self):
        return [self[k] for k in self]

    def items(self):
        return [(k, self[k]) for k in self]

    def copy(self):
        return {k: self[k] for k in self}

    def __repr__(self):
        return repr(self.copy())

    def __eq__(self, other):
        return self.copy() == (other.copy() if isinstance(other, _Locations) else other)

    __hash__ = None


def _err(card: _Card, off: int | None, message: str, hint: str = "") -> NetlistError:
    return NetlistError(message, location=card.loc(off), hint=hint)


def _split(card: _Card, text: str | None = None) -> list[tuple[str, int]]:
    """Tokens of a card with their offsets: blanks and commas separate; ``=`` is a
    token of its own; ``{...}`` and ``'...'`` are single tokens."""
    s = card.text if text is None else text
    out = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in " \t,\r\f\v":
            i += 1
            continue
        if c == "=":
            out.append(("=", i))
            i += 1
            continue
        if c == "{":
            depth, j = 0, i
            while j < n:
                if s[j] == "{":
                    depth += 1
                elif s[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= n:
                raise _err(card, i, "unbalanced braces: '{' is never closed",
                           "write {expression}")
            out.append((s[i:j + 1], i))
            i = j + 1
            continue
        if c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise _err(card, i, "unbalanced quotes: \"'\" is never closed",
                           "write 'expression'")
            out.append((s[i:j + 1], i))
            i = j + 1
            continue
        if c == "}":
            raise _err(card, i, "unbalanced braces: unexpected '}'")
        j = i
        while j < n and s[j] not in " \t,=\r\f\v{'":
            j += 1
        out.append((s[i:j], i))
        i = j
    return out


def _decode(data: bytes, file: str) -> str:
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise NetlistError(f"{file} looks like a binary file (NUL byte on line {line})",
                           location=Location(file, line, 1),
                           hint="a netlist is a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NetlistError(
            f"{file} is not valid UTF-8 text (byte {exc.start}, line {line})",
            location=Location(file, line, 1), hint="a netlist is a text file",
        ) from None


class _Reader:
    """Reads files into cards, expanding ``.include``."""

    def __init__(self):
        self.cards: list[_Card] = []
        self.title = ""
        self.title_card: _Card | None = None
        self.stack: list[Path] = []
        self.stopped = False

    def read_text(self, text: str, file: str, base: Path, top: bool) -> None:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        cards = self.cards
        first = 0
        if top:
            title = lines[0].rstrip("\r")
            self.title = title.strip()
            self.title_card = _Card(title, file, 1, title)
            first = 1
        last: _Card | None = None
        for i in range(first, len(lines)):
            raw = lines[i]
            line = raw.rstrip()
            if not line:
                continue
            c = line[0]
            if c == "*":
                continue
            if c == " " or c == "\t":
                if not line.strip() or line.lstrip()[0] == "*":
                    continue
                c = line.lstrip()[0]
            if ";" in line:
                line = line[: line.index(";")].rstrip()
                if not line.strip():
                    continue
            if "$" in line:
                m = _DOLLAR.search(line)
                if m is not None:
                    line = line[: m.start()].rstrip()
                    if not line.strip():
                        continue
            if c == "+":
                if last is None:
                    raise NetlistError(
                        "continuation line '+' with no card to continue",
                        location=Location(file, i + 1, line.index("+") + 1, raw),
                        hint="'+' in column 1 continues the previous card",
                    )
                plus = line.index("+")
                if last.segs is None:
                    last.segs = []
                start = len(last.text) + 1
                last.segs.append((start, i + 1, plus + 1, raw))
                last.text = last.text + " " + line[plus + 1:]
                continue
            card = _Card(line, file, i + 1, raw)
            if c == ".":
                word = line.split(None, 1)[0].lower()
                if word == ".end":
                    self.stopped = True
                    return
                if word in (".include", ".inc"):
                    self.include(card, base)
                    if self.stopped:
                        return
                    last = None
                    continue
            cards.append(card)
            last = card

    def include(self, card: _Card, base: Path) -> None:
        toks = card.text.split(None, 1)
        if len(toks) < 2:
            raise _err(card, None, "missing file name", "expected: " + EXPECTED[".include"])
        name = toks[1].strip()
        off = card.text.index(name)
        if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1]
        path = Path(name)
        if not path.is_absolute():
            path = base / path
        try:
            resolved = path.resolve()
        except OSError:
            resolved = path
        if resolved in self.stack:
            chain = " -> ".join(str(p) for p in [*self.stack, resolved])
            raise _err(card, off, f"include cycle: {chain}",
                       "a file must not include itself, directly or indirectly")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _err(card, off, f"cannot read include file {str(path)!r}: "
                       f"{exc.strerror or exc}", "the path is relative to the including file"
                       ) from None
        text = _decode(data, str(path))
        self.stack.append(resolved)
        self.read_text(text, str(path), path.parent, top=False)
        self.stack.pop()
        self.stopped = False  # .end inside an include ends only that file


# --------------------------------------------------------------------------- definitions

class _Subckt:
    __slots__ = ("name", "pins", "defaults", "body", "card", "subckts", "models")

    def __init__(self, name, pins, defaults, card):
        self.name = name
        self.pins = pins
        self.defaults = defaults  # [(name, value token, offset)]
        self.body: list[_Card] = []
        self.card = card
        self.subckts: dict[str, _Subckt] = {}
        self.models: dict[str, tuple] = {}


class _Scope:
    """Definitions visible at one level: subcircuits and models, with a parent."""

    __slots__ = ("subckts", "models", "parent")

    def __init__(self, subckts, models, parent):
        self.subckts = subckts
        self.models = models
        self.parent = parent

    def subckt(self, name):
        s = self
        while s is not None:
            if name in s.subckts:
                return s.subckts[name]
            s = s.parent
        return None

    def model(self, name):
        s = self
        while s is not None:
            if name in s.models:
                return s.models[name]
            s = s.parent
        return None


class _Ctx:
    """One level of flattening: name prefix, pin map, parameters, definitions."""

    __slots__ = ("prefix", "pins", "params", "scope", "stack", "_pkey")

    def __init__(self, prefix, pins, params, scope, stack):
        self.prefix = prefix
        self.pins = pins
        self.params = params
        self.scope = scope
        self.stack = stack
        self._pkey = None

    @property
    def pkey(self):
        """Hashable key of the parameter values (for the expression cache)."""
        if self._pkey is None:
            self._pkey = tuple(sorted(self.params.items()))
        return self._pkey


# --------------------------------------------------------------------------- builder

class _Builder:
    def __init__(self, reader: _Reader, source_file: str):
        self.reader = reader
        self.source_file = source_file
        self.node_index: dict[str, int] = {"0": 0, "gnd": 0}  # lookup only
        self.node_names: list[str] = ["0"]
        self.names: dict[str, _Card] = {}
        self.instances: set[str] = set()
        self.r = ([], [], [], [])
        self.v = ([], [], [], [])
        self.i = ([], [], [], [])
        self.g = ([], [], [], [], [], [])
        self.e = ([], [], [], [], [], [])
        self.d = ([], [], [], [], [])
        self.b: list[BSource] = []
        self.options = Options()
        self.analyses: list = []
        self.dc_cards: list[tuple[DCSweep, _Card, list]] = []
        self.title = reader.title
        self.expr_cache: dict[tuple, object] = {}
        self.model_cache: dict[tuple, DiodeModel] = {}

    # ---------------------------------------------------------------- structure pass
    def collect(self, cards: list[_Card]):
        """Split the top level into definitions, directives and element cards."""
        top_subckts: dict[str, _Subckt] = {}
        top_models: dict[str, tuple] = {}
        elements: list[_Card] = []
        params_cards: list[_Card] = []
        stack: list[_Subckt] = []
        for card in cards:
            text = card.text
            first = text.lstrip()[0]
            if first != ".":
                if stack:
                    stack[-1].body.append(card)
                else:
                    elements.append(card)
                continue
            word = text.split(None, 1)[0].lower()
            if word == ".subckt":
                sub = self.parse_subckt_header(card)
                stack.append(sub)
                continue
            if word == ".ends":
                if not stack:
                    raise _err(card, None, ".ends without a matching .subckt",
                               "expected: " + EXPECTED[".subckt"])
                sub = stack.pop()
                toks = text.split()
                if len(toks) > 1 and toks[1].lower() != sub.name:
                    raise _err(card, text.index(toks[1]),
                               f".ends {toks[1].lower()} closes .subckt {sub.name}",
                               "expected: .ends " + sub.name)
                target = stack[-1].subckts if stack else top_subckts
                if sub.name in target:
                    raise _err(sub.card, None, f"subcircuit {sub.name!r} is defined twice",
                               "first defined at " + str(target[sub.name].card.loc()))
                target[sub.name] = sub
                continue
            if stack:
                if word in (".op", ".dc", ".options", ".option", ".opt", ".title", ".temp"):
                    raise _err(card, None, f"{word} is not allowed inside a subcircuit",
                               "put analysis and option cards at the top level")
                if word == ".model":
                    # values may use the instance's parameters: evaluated per instance
                    name, _ = self.parse_model(card, None)
                    stack[-1].models[name] = (None, card)
                else:
                    stack[-1].body.append(card)
                continue
            if word == ".param":
                params_cards.append(card)
            elif word == ".model":
                name, _ = self.parse_model(card, None)  # values: after the .param cards
                if name in top_models:
                    raise _err(card, None, f"model {name!r} is defined twice",
                               "first defined at " + str(top_models[name][1].loc()))
                top_models[name] = (None, card)
            else:
                elements.append(card)  # other directives are handled in order
        if stack:
            sub = stack[-1]
            raise _err(sub.card, None, f"unterminated .subckt {sub.name}: no .ends before the "
                       "end of the netlist", "add .ends " + sub.name)
        return top_subckts, top_models, params_cards, elements

    def parse_subckt_header(self, card: _Card) -> _Subckt:
        toks = _split(card, card.text.lower())
        if len(toks) < 2:
            raise _err(card, None, "missing subcircuit name", "expected: " + EXPECTED[".subckt"])
        name = toks[1][0]
        pins: list[str] = []
        defaults = []
        k = 2
        while k < len(toks):
            tok, off = toks[k]
            if tok == "params:":
                k += 1
                continue
            if k + 1 < len(toks) and toks[k + 1][0] == "=":
                if k + 2 >= len(toks):
                    raise _err(card, toks[k + 1][1], f"missing value for parameter {tok!r}",
                               "expected: " + EXPECTED[".subckt"])
                defaults.append((tok, toks[k + 2][0], toks[k + 2][1]))
                k += 3
                continue
            if defaults:
                raise _err(card, off, f"unexpected {tok!r} after the parameters",
                           "expected: " + EXPECTED[".subckt"])
            if tok in _GROUND:
                raise _err(card, off, "the ground node cannot be a subcircuit pin",
                           "ground is global; do not list it as a pin")
            if tok in pins:
                raise _err(card, off, f"pin {tok!r} is listed twice")
            pins.append(tok)
            k += 1
        return _Subckt(name, pins, defaults, card)

    def parse_model(self, card: _Card, params: dict[str, float] | None
                    ) -> tuple[str, DiodeModel | None]:
        """Parse a ``.model`` card with parameter values ``params``.

        With ``params=None`` only the form is checked (values that are
        expressions are not evaluated) and the model is ``None``.
        """
        low = card.text.lower().replace("(", " ").replace(")", " ")
        toks = _split(card, low)
        hint = "expected: " + EXPECTED[".model"]
        if len(toks) < 3:
            raise _err(card, None, "incomplete .model card", hint)
        name = toks[1][0]
        mtype, moff = toks[2]
        if mtype != "d":
            raise _err(card, moff, f"model type {mtype!r} is not supported (only D diodes)", hint)
        values: dict[str, float] = {}
        k = 3
        while k < len(toks):
            key, off = toks[k]
            if k + 2 > len(toks) - 1 or toks[k + 1][0] != "=":
                raise _err(card, off, f"expected <name>=<value>, found {key!r}", hint)
            if key in _DIODE_PARAMS:
                if params is not None:
                    values[_DIODE_PARAMS[key]] = self.value(card, toks[k + 2], params)
                elif toks[k + 2][0][0] not in "{'":
                    self.value(card, toks[k + 2], {})
            elif key not in _DIODE_IGNORED:
                raise _err(card, off, f"diode model parameter {key!r} is not supported",
                           "supported: IS N RS BV IBV (capacitance and noise parameters are "
                           "accepted and have no effect on DC)")
            k += 3
        if params is None:
            return name, None
        model = DiodeModel(name=name, **values)
        for field_name in ("is_", "n", "ibv"):
            if getattr(model, field_name) <= 0:
                raise _err(card, None, f"diode model {name}: {field_name.rstrip('_').upper()} "
                           "must be positive", hint)
        if model.rs < 0 or model.bv <= 0:
            raise _err(card, None, f"diode model {name}: RS must be >= 0 and BV > 0", hint)
        return name, model

    # ---------------------------------------------------------------- values
    def value(self, card: _Card, tok: tuple[str, int], params: dict[str, float],
              bare: bool = False) -> float:
        """A number, ``{expr}`` or ``'expr'``; with ``bare``, also an unbraced
        expression (subcircuit parameters, as ngspice allows)."""
        text, off = tok
        c = text[0]
        if bare and (c.isalpha() or c in "(_") or bare and try_parse_value(text)[0] is None \
                and c not in "{'":
            c = "{"
            text = "{" + text + "}"
            off -= 1
        if c == "{" or c == "'":
            inner = text[1:-1]
            try:
                return constant_value(inner, params)
            except ExprSyntaxError as exc:
                raise _err(card, off + 1 + exc.offset, exc.message, exc.hint) from None
        v, reason = try_parse_value(text)
        if v is None:
            if text in params:
                raise _err(card, off, f"value {text!r} is a parameter name, not a number",
                           f"write {{{text}}} to use the parameter")
            raise _err(card, off, f"invalid value: {reason}",
                       "expected a number such as 1.5, 2e-3, 10k or {expression}")
        return v

    def param_assignments(self, text: str, card: _Card, base: int):
        """The ``name=value`` assignments in ``text`` (offset ``base`` in the card).

        Returns ``[(name, value text, offset of the value)]`` in order.
        """
        matches = list(_PARAM_ASSIGN.finditer(text))
        # keep only assignments at depth 0 (outside braces, quotes and parentheses)
        good = []
        depth, quote = 0, False
        mi = 0
        for pos, ch in enumerate(text):
            while mi < len(matches) and matches[mi].start() == pos:
                if depth == 0 and not quote:
                    good.append(matches[mi])
                mi += 1
            if ch == "'":
                quote = not quote
            elif ch in "{(":
                depth += 1
            elif ch in "})":
                depth -= 1
        if not good or text[: good[0].start()].strip():
            off = base + len(text) - len(text.lstrip())
            raise _err(card, off, "expected <name>=<value>", "expected: " + EXPECTED[".param"])
        out = []
        for n, m in enumerate(good):
            end = good[n + 1].start() if n + 1 < len(good) else len(text)
            raw = text[m.end():end]
            vtext = raw.strip()
            voff = base + m.end() + (len(raw) - len(raw.lstrip()))
            if not vtext:
                raise _err(card, base + m.start(), f"missing value for parameter "
                           f"{m.group(1).lower()!r}", "expected: " + EXPECTED[".param"])
            if vtext[0] in "{'" and vtext[-1] == ("}" if vtext[0] == "{" else "'"):
                vtext = vtext[1:-1]
                voff += 1
            out.append((m.group(1).lower(), vtext, voff))
        return out

    def resolve_params(self, cards: list[_Card], params: dict[str, float]) -> None:
        """Evaluate the ``.param`` cards of one scope into ``params`` (in place).

        As in ngspice, the last definition of a name wins and a value may use
        parameters defined on later cards; a circular definition is an error.
        ``params`` holds the values inherited from the enclosing scope.
        """
        pending: dict[str, tuple[str, _Card, int]] = {}
        for card in cards:
            text = card.text
            start = text.lower().index(".param") + 6
            for name, vtext, voff in self.param_assignments(text[start:], card, start):
                pending.pop(name, None)  # keep definition order = order of last definition
                pending[name] = (vtext, card, voff)
        if not pending:
            return
        outer = dict(params)
        done: dict[str, float] = {}
        active: list[str] = []

        class _Lazy(dict):
            """Parameter lookup that evaluates pending definitions on first use."""

            def __contains__(self, key):
                return key in pending or key in outer

            def __getitem__(self, key):
                if key in pending:
                    return evaluate(key)
                return outer[key]

        lazy = _Lazy()

        def evaluate(name: str) -> float:
            if name in done:
                return done[name]
            vtext, card, voff = pending[name]
            if name in active:
                chain = " -> ".join([*active[active.index(name):], name])
                raise _err(card, voff, f"circular parameter definition: {chain}",
                           "a parameter must not depend on itself")
            active.append(name)
            try:
                value = constant_value(vtext, lazy)
            except ExprSyntaxError as exc:
                raise _err(card, voff + exc.offset, exc.message, exc.hint) from None
            active.pop()
            done[name] = value
            return value

        for name in pending:  # in order: backward references need no recursion
            try:
                params[name] = evaluate(name)
            except RecursionError:
                vtext, card, voff = pending[name]
                raise _err(card, voff, f"parameter {name!r}: forward references nested too "
                           "deeply", "define parameters before the ones that use them") from None

    # ---------------------------------------------------------------- nodes and names
    def node(self, name: str, ctx: _Ctx) -> int:
        if ctx.pins is not None:
            idx = ctx.pins.get(name)
            if idx is not None:
                return idx
            if name in _GROUND:
                return 0
            name = ctx.prefix + name
        elif name in _GROUND:
            return 0
        idx = self.node_index.get(name)
        if idx is None:
            idx = len(self.node_names)
            self.node_index[name] = idx
            self.node_names.append(name)
        return idx

    def register(self, name: str, card: _Card) -> None:
        prev = self.names.get(name)
        if prev is not None:
            raise _err(card, None, f"duplicate element name {name!r}",
                       f"first defined at {prev.loc()}")
        self.names[name] = card

    # ---------------------------------------------------------------- flattening
    def expand(self, cards: list[_Card], ctx: _Ctx) -> None:
        names = self.names
        node = self.node
        top = ctx.pins is None
        node_index = self.node_index
        r_name, r_pos, r_neg, r_val = self.r
        prefix = ctx.prefix
        for card in cards:
            text = card.text
            low = text.lower()
            if len(low) != len(text):  # rare characters whose lower case is longer
                low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
            first = low[0]
            if first == " " or first == "\t":
                first = low.lstrip()[0]
            if first == "r" and not ("{" in low or "'" in low or "=" in low or "," in low):
                # fast path for plain "R<name> <n+> <n-> <value>" cards
                parts = low.split()
                if len(parts) == 4:
                    tok = parts[3]
                    value = None
                    if tok[-1].isdigit() and "_" not in tok and tok.isascii():
                        try:
                            value = float(tok)
                            if not -1.8e308 < value < 1.8e308:
                                value = None
                        except ValueError:
                            value = None
                    if value is None:
                        value = try_parse_value(tok)[0]
                    full = prefix + parts[0]
                    if value and full not in names:
                        names[full] = card
                        r_name.append(full)
                        if top:
                            a = node_index.get(parts[1])
                            if a is None:
                                a = node(parts[1], ctx)
                            b = node_index.get(parts[2])
                            if b is None:
                                b = node(parts[2], ctx)
                        else:
                            a = node(parts[1], ctx)
                            b = node(parts[2], ctx)
                        r_pos.append(a)
                        r_neg.append(b)
                        r_val.append(value)
                        continue
                self.resistor(card, low, ctx)
            elif first == ".":
                self.directive(card, low, ctx)
            elif first == "r":
                self.resistor(card, low, ctx)
            elif first == "v" or first == "i":
                self.source(card, low, ctx, first)
            elif first == "g" or first == "e":
                self.controlled(card, low, ctx, first)
            elif first == "d":
                self.diode(card, low, ctx)
            elif first == "b":
                self.bsource(card, low, ctx)
            elif first == "x":
                self.instance(card, low, ctx)
            else:
                what = _ELEMENT_NAMES.get(first)
                word = low.split()[0]
                if what:
                    raise _err(card, None, f"element {word!r}: {what}s ({first.upper()}) are not "
                               "supported; xbar does DC analysis of R, V, I, G, E, D, B and X "
                               "elements")
                raise _err(card, None, f"unknown element type {word[0]!r} in {word!r}",
                           "element names start with R, V, I, G, E, D, B or X")

    def tokens(self, card: _Card, low: str) -> list[tuple[str, int]]:
        return _split(card, low)

    def fast_tokens(self, card: _Card, low: str, n: int):
        """Plain whitespace split when the card has no special characters."""
        if "{" in low or "'" in low or "=" in low or "," in low:
            return self.tokens(card, low)
        parts = low.split()
        if len(parts) == n:
            return parts
        return self.tokens(card, low)

    def resistor(self, card: _Card, low: str, ctx: _Ctx) -> None:
        toks = self.fast_tokens(card, low, 4)
        hint = "expected: " + EXPECTED["r"]
        if isinstance(toks[0], str):  # fast path: 4 plain tokens
            name, a, b, val = toks
            value, _ = try_parse_value(val)
            if value is None:
                toks = self.tokens(card, low)
                value = self.value(card, toks[3], ctx.params)
        else:
            if len(toks) < 3:
                raise self.missing(card, toks, "node", hint)
            if len(toks) < 4:
                raise self.missing(card, toks, "value", hint)
            name, a, b = toks[0][0], toks[1][0], toks[2][0]
            rest = toks[3:]
            value = None
            if rest and (len(rest) == 1 or rest[1][0] != "="):
                value = self.value(card, rest[0], ctx.params)
                rest = rest[1:]
            while rest:
                key, off = rest[0]
                if len(rest) < 3 or rest[1][0] != "=":
                    raise _err(card, off, f"unexpected {key!r}", hint)
                if key in ("r", "resistance"):
                    value = self.value(card, rest[2], ctx.params)
                else:
                    raise _err(card, off, f"resistor parameter {key!r} is not supported", hint)
                rest = rest[3:]
            if value is None:
                raise self.missing(card, toks, "value", hint)
            for t in (toks[1], toks[2]):
                if t[0] == "=" or t[0][0] in "{'":
                    raise _err(card, t[1], f"expected a node name, found {t[0]!r}", hint)
        if value == 0.0:
            raise _err(card, self.offset(card, low, 3), f"resistor {name} has zero resistance",
                       "use a V source of 0 V to short two nodes")
        full = ctx.prefix + name
        self.register(full, card)
        r = self.r
        r[0].append(full)
        r[1].append(self.node(a, ctx))
        r[2].append(self.node(b, ctx))
        r[3].append(value)

    def offset(self, card: _Card, low: str, k: int) -> int | None:
        toks = self.tokens(card, low)
        return toks[k][1] if k < len(toks) else None

    def missing(self, card: _Card, toks, what: str, hint: str) -> NetlistError:
        end = len(card.text.rstrip())
        return _err(card, end, f"missing {what} on {toks[0][0]!r}", hint)

    def source(self, card: _Card, low: str, ctx: _Ctx, kind: str) -> None:
        hint = "expected: " + EXPECTED[kind]
        toks = self.fast_tokens(card, low, 4)
        if isinstance(toks[0], str):
            name, a, b, val = toks
            value, _ = try_parse_value(val)
            if value is None:
                toks = self.tokens(card, low)
                if val == "dc":
                    raise self.missing(card, toks, "value", hint)
                if toks[3][0] in _SOURCE_NON_DC or toks[3][0].split("(")[0] in _SOURCE_NON_DC:
                    raise self.non_dc(card, toks[3], kind)
                value = self.value(card, toks[3], ctx.params)
        else:
            if len(toks) < 3:
                raise self.missing(card, toks, "node", hint)
            name, a, b = toks[0][0], toks[1][0], toks[2][0]
            rest = toks[3:]
            if rest and rest[0][0] == "dc":
                rest = rest[1:]
                if rest and rest[0][0] == "=":
                    rest = rest[1:]
            if not rest:
                raise self.missing(card, toks, "value", hint)
            head = rest[0][0].split("(")[0]
            if head in _SOURCE_NON_DC:
                raise self.non_dc(card, rest[0], kind)
            value = self.value(card, rest[0], ctx.params)
            if len(rest) > 1:
                tok = rest[1]
                if tok[0].split("(")[0] in _SOURCE_NON_DC:
                    raise self.non_dc(card, tok, kind)
                raise _err(card, tok[1], f"unexpected {tok[0]!r} after the value", hint)
            for t in (toks[1], toks[2]):
                if t[0] == "=" or t[0][0] in "{'":
                    raise _err(card, t[1], f"expected a node name, found {t[0]!r}", hint)
        full = ctx.prefix + name
        self.register(full, card)
        tab = self.v if kind == "v" else self.i
        tab[0].append(full)
        tab[1].append(self.node(a, ctx))
        tab[2].append(self.node(b, ctx))
        tab[3].append(value)

    def non_dc(self, card, tok, kind) -> NetlistError:
        word = tok[0].split("(")[0]
        return _err(card, tok[1], f"xbar supports DC analysis only: {word.upper()} "
                    "specifications of sources are not supported",
                    "expected: " + EXPECTED[kind])

    def controlled(self, card: _Card, low: str, ctx: _Ctx, kind: str) -> None:
        hint = "expected: " + EXPECTED[kind]
        toks = self.tokens(card, low)
        for k, t in enumerate(toks[1:6], start=1):
            if t[0] in ("poly", "value", "vol", "cur", "table") or t[0].startswith("poly("):
                raise _err(card, t[1], f"{t[0].upper()} forms of {kind.upper()} sources are not "
                           "supported", hint + " (or a B source for nonlinear dependence)")
            if k < 5 and (t[0] == "=" or t[0][0] in "{'"):
                raise _err(card, t[1], f"expected a node name, found {t[0]!r}", hint)
        if len(toks) < 5:
            raise self.missing(card, toks, "node", hint)
        if len(toks) < 6:
            raise self.missing(card, toks, "gain" if kind == "e" else "transconductance", hint)
        if len(toks) > 6:
            raise _err(card, toks[6][1], f"unexpected {toks[6][0]!r}", hint)
        gain = self.value(card, toks[5], ctx.params)
        full = ctx.prefix + toks[0][0]
        self.register(full, card)
        tab = self.g if kind == "g" else self.e
        tab[0].append(full)
        for col, t in zip(tab[1:5], toks[1:5], strict=True):
            col.append(self.node(t[0], ctx))
        tab[5].append(gain)

    def diode(self, card: _Card, low: str, ctx: _Ctx) -> None:
        hint = "expected: " + EXPECTED["d"]
        toks = self.tokens(card, low)
        if len(toks) < 3:
            raise self.missing(card, toks, "node", hint)
        if len(toks) < 4:
            raise self.missing(card, toks, "model name", hint)
        mname, moff = toks[3]
        area = 1.0
        rest = toks[4:]
        if rest and (len(rest) == 1 or rest[1][0] != "=") and (
                rest[0][0][0] in "{'" or try_parse_value(rest[0][0])[0] is not None):
            # ngspice-39 rejects a positional area ("could not find a valid modelname"),
            # so the same file would not run there
            raise _err(card, rest[0][1], f"diode {toks[0][0]}: a positional area "
                       f"({rest[0][0]!r}) is not accepted (ngspice rejects it too)",
                       f"write area={rest[0][0]}; expected: " + EXPECTED["d"])
        while rest:
            key, off = rest[0]
            if len(rest) >= 3 and rest[1][0] == "=" and key == "area":
                area = self.value(card, rest[2], ctx.params)
                rest = rest[3:]
                continue
            raise _err(card, off, f"unexpected {key!r} (diode instance parameters other than "
                       "area are not supported)", hint)
        if area <= 0:
            raise _err(card, toks[4][1] if len(toks) > 4 else None, "diode area must be positive",
                       hint)
        found = ctx.scope.model(mname)
        if found is None:
            raise _err(card, moff, f"undefined model {mname!r}",
                       f"define it with .model {mname} D(IS=... N=...)")
        if found[0] is None:  # a model inside a subcircuit: values with this instance's params
            key = (id(found[1]), ctx.pkey)
            model = self.model_cache.get(key)
            if model is None:
                model = self.parse_model(found[1], ctx.params)[1]
                self.model_cache[key] = model
            found = (model, found[1])
        full = ctx.prefix + toks[0][0]
        self.register(full, card)
        d = self.d
        d[0].append(full)
        d[1].append(self.node(toks[1][0], ctx))
        d[2].append(self.node(toks[2][0], ctx))
        d[3].append(found[0])
        d[4].append(area)

    def bsource(self, card: _Card, low: str, ctx: _Ctx) -> None:
        parts = low.split(None, 3)
        if (len(parts) == 4 and parts[3][:2] == "i=" and "=" not in parts[1]
                and "=" not in parts[2] and parts[3][2:3] not in ("", "{", "'", " ", "\t")):
            # fast path: "B<name> <n+> <n-> I=<expr>" with an unquoted expression; the
            # card text is right-stripped, so the expression is its suffix
            name, a, b, rest = parts
            etext = rest[2:]
            start = len(low) - len(etext)
            expr = self.expression(card, card.text[start:], start, ctx, etext)
            full = ctx.prefix + name
            self.register(full, card)
            node = self.node
            controls = [(node(p, ctx), node(q, ctx)) for p, q in expr.controls]
            self.b.append(BSource(full, node(a, ctx), node(b, ctx), expr, controls))
            return
        hint = "expected: " + EXPECTED["b"]
        parts = low.split(None, 3)
        if len(parts) < 3:
            raise _err(card, len(card.text.rstrip()), f"missing node on {parts[0]!r}", hint)
        name, a, b = parts[0], parts[1], parts[2]
        if "=" in a or "=" in b:
            off = _THIRD.match(low).end() if "=" in b else _THIRD.match(low).start(1)
            raise _err(card, off, "missing node before the expression", hint)
        if len(parts) < 4:
            raise _err(card, len(card.text.rstrip()), f"missing I=<expression> on {name!r}",
                       hint)
        rest = parts[3]
        roff = _FOURTH.match(low).end()
        m = re.match(r"([a-z]+)\s*=\s*", rest)
        if m is None:
            raise _err(card, roff, f"expected I=<expression>, found {rest.split()[0]!r}", hint)
        key = m.group(1)
        if key == "v":
            raise _err(card, roff, "B sources with V=<expression> are not supported, use I=",
                       "behavioural voltage sources are not supported; " + hint)
        if key != "i":
            raise _err(card, roff, f"unknown B source parameter {key!r}", hint)
        expr_text = card.text[roff + m.end():].rstrip()
        eoff = roff + m.end()
        if not expr_text:
            raise _err(card, eoff, "missing expression after I=", hint)
        if expr_text[0] in "{'" and expr_text[-1] == ("}" if expr_text[0] == "{" else "'"):
            expr_text = expr_text[1:-1]
            eoff += 1
        expr = self.expression(card, expr_text, eoff, ctx)
        controls = [(self.node(p, ctx), self.node(q, ctx)) for p, q in expr.controls]
        full = ctx.prefix + name
        self.register(full, card)
        self.b.append(BSource(full, self.node(a, ctx), self.node(b, ctx), expr, controls))

    def expression(self, card: _Card, text: str, off: int, ctx: _Ctx, low: str | None = None):
        """Parse a B expression, sharing compiled code between equal templates.

        The ``V(...)`` arguments are replaced by placeholders ``v(_k)``; the
        compiled template is cached per parameter set, and each source gets its
        own control nodes.
        """
        pieces = _VCALL.split(text.lower() if low is None else low)
        controls: list[tuple[str, str]] = []
        if len(pieces) > 1:
            seen: dict[str, int] = {}
            for j in range(1, len(pieces), 2):
                inner = pieces[j]
                if " " in inner or "\t" in inner:
                    inner = "".join(inner.split())
                parts = inner.split(",")
                if len(parts) > 2 or not all(parts):
                    pieces[j] = "v(" + pieces[j] + ")"  # malformed: the parser reports it
                    continue
                k = seen.get(inner)
                if k is None:
                    k = len(seen)
                    seen[inner] = k
                    controls.append((parts[0], parts[1] if len(parts) > 1 else "0"))
                pieces[j] = f"v(_{k})"
        template = "".join(pieces)
        key = (template, ctx.pkey)
        cached = self.expr_cache.get(key)
        if cached is None:
            try:
                cached = compile_expression(template, ctx.params)
                if cached.controls != tuple((f"_{k}", "0") for k in range(len(controls))):
                    raise ExprSyntaxError("malformed control", 0)
            except ExprSyntaxError:
                # parse the original text for exact error offsets
                try:
                    compile_expression(text, ctx.params)
                except ExprSyntaxError as exc:
                    raise _err(card, off + exc.offset, exc.message, exc.hint) from None
                raise _err(card, off, "malformed expression", "expected: " + EXPECTED["b"]
                           ) from None
            self.expr_cache[key] = cached
        # template controls are v(_0), v(_1), ... in order of first appearance, as are the
        # parser's controls, so this card's node pairs map one to one
        return cached.with_controls(text, tuple(controls))

    def instance(self, card: _Card, low: str, ctx: _Ctx) -> None:
        hint = "expected: " + EXPECTED["x"]
        toks = self.tokens(card, low)
        # the subcircuit name is the last token before the first parameter
        end = len(toks)
        for k in range(1, len(toks)):
            if toks[k][0] == "params:" or (k + 1 < len(toks) and toks[k + 1][0] == "="):
                end = k
                break
        if end < 2:
            raise _err(card, None, f"missing subcircuit name on {toks[0][0]!r}", hint)
        sname, soff = toks[end - 1]
        nodes = toks[1:end - 1]
        sub = ctx.scope.subckt(sname)
        if sub is None:
            raise _err(card, soff, f"undefined subcircuit {sname!r}",
                       "define it with .subckt " + sname + " <pins>... / .ends")
        if len(nodes) != len(sub.pins):
            raise _err(card, soff,
                       f"subcircuit {sname} has {len(sub.pins)} pin"
                       f"{'s' if len(sub.pins) != 1 else ''} ({' '.join(sub.pins)}), "
                       f"{toks[0][0]} connects {len(nodes)}",
                       f"X{toks[0][0][1:]} " + " ".join(sub.pins) + f" {sname} [params]")
        if sub.name in ctx.stack:
            raise _err(card, soff, f"recursive subcircuit: {' -> '.join([*ctx.stack, sname])}")
        # instance parameters, evaluated in the caller's scope
        overrides: dict[str, float] = {}
        k = end
        while k < len(toks):
            tok, off = toks[k]
            if tok == "params:":
                k += 1
                continue
            if k + 1 >= len(toks) or toks[k + 1][0] != "=":
                raise _err(card, off, f"unexpected {tok!r} (expected <param>=<value>)", hint)
            if k + 2 >= len(toks):
                raise _err(card, toks[k + 1][1], f"missing value for parameter {tok!r}", hint)
            if tok not in {d[0] for d in sub.defaults}:
                raise _err(card, off, f"subcircuit {sname} has no parameter {tok!r}",
                           "its parameters: " + (" ".join(d[0] for d in sub.defaults)
                                                 or "none"))
            overrides[tok] = self.value(card, toks[k + 2], ctx.params, bare=True)
            k += 3
        params = dict(ctx.params)
        for pname, vtok, voff in sub.defaults:
            if pname in overrides:
                params[pname] = overrides[pname]
            else:
                params[pname] = self.value(sub.card, (vtok, voff), params, bare=True)
        pins = {p: self.node(t[0], ctx) for p, t in zip(sub.pins, nodes, strict=True)}
        iname = ctx.prefix + toks[0][0]
        self.register(iname, card)
        self.instances.add(iname)  # instances are not elements of the flat circuit
        scope = _Scope(sub.subckts, sub.models, ctx.scope)
        child = _Ctx(iname + ".", pins, params, scope, [*ctx.stack, sub.name])
        # body .param cards first (all of them, as at the top level)
        body, pcards = [], []
        for c in sub.body:
            t = c.text.lstrip()
            if t[:6].lower() == ".param" and (len(t) == 6 or t[6] in " \t"):
                pcards.append(c)
            else:
                body.append(c)
        self.resolve_params(pcards, child.params)
        self.expand(body, child)


    # ---------------------------------------------------------------- directives
    def directive(self, card: _Card, low: str, ctx: _Ctx) -> None:
        word = low.split(None, 1)[0]
        top = ctx.pins is None
        if word == ".param":  # not reached: .param cards are resolved before expanding
            self.resolve_params([card], ctx.params)
            return
        if word in (".options", ".option", ".opt") and top:
            self.parse_options(card, low, ctx.params)
            return
        if word == ".op" and top:
            if len(low.split()) > 1:
                raise _err(card, low.index(low.split()[1]), "unexpected text after .op",
                           "expected: .op")
            self.analyses.append(Op())
            return
        if word == ".dc" and top:
            self.parse_dc(card, low, ctx.params)
            return
        if word == ".temp" and top:
            self.parse_temp(card, low, ctx.params)
            return
        if word == ".title" and top:
            self.title = card.text.strip()[6:].strip()
            return
        if word in _OUTPUT_ONLY:
            logger.info("%s: skipping output directive %s", card.loc(), word)
            return
        if word in (".options", ".option", ".opt", ".op", ".dc", ".title", ".temp"):
            raise _err(card, None, f"{word} is not allowed inside a subcircuit",
                       "put analysis and option cards at the top level")
        if word in _ANALYSES:
            raise _err(card, None, f"xbar supports DC analysis only: {word} is not supported",
                       "use .op or .dc")
        if word in (".control", ".endc"):
            raise _err(card, None, f"{word} blocks (ngspice scripts) are not supported",
                       "xbar reads circuits only; use .op or .dc")
        if word in (".nodeset", ".ic", ".lib", ".endl", ".global", ".func", ".csparam",
                    ".if", ".else", ".elseif", ".endif", ".model", ".subckt", ".ends"):
            raise _err(card, None, f"{word} is not supported by xbar")
        raise _err(card, None, f"unknown card {word!r}",
                   "known cards: .param .subckt .ends .include .model .options .temp .op .dc "
                   ".end")

    def parse_options(self, card: _Card, low: str, params: dict[str, float]) -> None:
        toks = self.tokens(card, low)[1:]
        hint = "expected: " + EXPECTED[".options"]
        values = {}
        k = 0
        while k < len(toks):
            key, off = toks[k]
            if key not in _OPTION_FIELDS:
                raise _err(card, off, f"unknown option {key!r}", hint)
            if k + 2 >= len(toks) or toks[k + 1][0] != "=":
                raise _err(card, off, f"option {key!r} needs a value ({key}=<value>)", hint)
            value = self.value(card, toks[k + 2], params)
            typ = _OPTION_FIELDS[key]
            if typ is int:
                if value != int(value) or value < 1:
                    raise _err(card, toks[k + 2][1], f"option {key} must be a positive integer",
                               hint)
                value = int(value)
            elif key in ("reltol", "abstol", "vntol") and value <= 0:
                raise _err(card, toks[k + 2][1], f"option {key} must be positive", hint)
            elif key == "gmin" and value < 0:
                raise _err(card, toks[k + 2][1], "option gmin must not be negative", hint)
            values[key] = value
            k += 3
        self.options = replace(self.options, **values)

    def parse_temp(self, card: _Card, low: str, params: dict[str, float]) -> None:
        """``.temp <degC>``: the circuit temperature, as ``.options temp=`` sets it."""
        toks = self.tokens(card, low)[1:]
        hint = "expected: " + EXPECTED[".temp"]
        if not toks:
            raise _err(card, len(card.text.rstrip()), "missing temperature after .temp", hint)
        if len(toks) > 1:
            raise _err(card, toks[1][1], f"unexpected {toks[1][0]!r} (.temp takes one "
                       "temperature)", hint)
        value = self.value(card, toks[0], params)
        if value <= -273.15:
            raise _err(card, toks[0][1], f".temp {value:g} is not above absolute zero "
                       "(-273.15 degC)", hint)
        self.options = replace(self.options, temp=value)

    def parse_dc(self, card: _Card, low: str, params: dict[str, float]) -> None:
        toks = self.tokens(card, low)[1:]
        hint = "expected: " + EXPECTED[".dc"]
        if len(toks) > 8:
            raise _err(card, toks[8][1], f"unexpected {toks[8][0]!r}", hint)
        if len(toks) not in (4, 8):
            raise _err(card, len(card.text.rstrip()),
                       f".dc needs 4 or 8 fields after .dc, found {len(toks)}", hint)
        sweeps = []
        for g in range(len(toks) // 4):
            src, start, stop, step = toks[4 * g: 4 * g + 4]
            if src[0][0] not in "vi" or src[0] == "temp":
                raise _err(card, src[1], f".dc sweeps an independent V or I source, found "
                           f"{src[0]!r}", hint)
            a, b, s = (self.value(card, t, params) for t in (start, stop, step))
            if s == 0 and a != b:
                raise _err(card, step[1], ".dc step must not be zero", hint)
            if s != 0 and (b - a) / s < 0:
                raise _err(card, step[1], f".dc step {s:g} goes away from the stop value {b:g}",
                           "use a negative step to sweep downwards")
            if s != 0 and abs((b - a) / s) > 1e7:
                raise _err(card, step[1], ".dc sweep has more than 1e7 points", hint)
            sweeps.append((src[0], a, b, s))
        outer = None
        if len(sweeps) == 2:
            outer = DCSweep(*sweeps[1])
        sweep = DCSweep(*sweeps[0], outer=outer)
        self.analyses.append(sweep)
        self.dc_cards.append((sweep, card, [toks[0], *(toks[4:5])]))

    # ---------------------------------------------------------------- result
    def circuit(self) -> Circuit:
        def two(t):
            return TwoTerminal(list(t[0]), np.array(t[1], dtype=np.int64),
                               np.array(t[2], dtype=np.int64), np.array(t[3], dtype=float))

        def ctl(t):
            return Controlled(list(t[0]), *(np.array(c, dtype=np.int64) for c in t[1:5]),
                              np.array(t[5], dtype=float))

        d = self.d
        diodes = Diodes(list(d[0]), np.array(d[1], dtype=np.int64),
                        np.array(d[2], dtype=np.int64), list(d[3]), np.array(d[4], dtype=float))
        return Circuit(
            title=self.title, node_names=self.node_names, resistors=two(self.r),
            vsources=two(self.v), isources=two(self.i), vccs=ctl(self.g), vcvs=ctl(self.e),
            diodes=diodes, bsources=self.b, options=self.options, analyses=self.analyses,
            locations=_Locations((k, v) for k, v in self.names.items()
                                 if k not in self.instances),
            source_file=self.source_file,
        )

    def check_sweeps(self) -> None:
        sources = set(self.v[0]) | set(self.i[0])
        for sweep, card, srcs in self.dc_cards:
            for name, off in srcs:
                if name not in sources:
                    raise _err(card, off, f".dc source {name!r} is not an independent V or I "
                               "source of the circuit", "expected: " + EXPECTED[".dc"])
            if sweep.outer is not None and sweep.outer.source == sweep.source:
                raise _err(card, srcs[1][1], f".dc sweeps {sweep.source!r} twice",
                           "the second source must differ from the first")


def read_netlist(source: str | Path, *, name: str | None = None) -> Circuit:
    """Read a SPICE netlist into a flat :class:`~xbar.spice.circuit.Circuit`.

    Parameters
    ----------
    source : str or Path
        A path to a netlist file, or the netlist text itself (a ``str`` that
        contains a newline is taken as text).
    name : str, optional
        The file name shown in error locations and stored as
        ``source_file`` (default: the path, or ``"<string>"`` for text).

    Returns
    -------
    Circuit
        Nodes (``"0"`` first, then in order of appearance) and element
        tables; values in SI units (ohm, volt, ampere, siemens).

    Raises
    ------
    NetlistError
        For anything that is not a valid netlist, with ``file:line:column``,
        the source line and the expected form of the card.

    Examples
    --------
    >>> c = read_netlist('''divider
    ... V1 in 0 DC 1
    ... R1 in out 1k
    ... R2 out 0 {2*500}
    ... .op
    ... ''')
    >>> c.node_names
    ['0', 'in', 'out']
    >>> c.resistors.value.tolist()
    [1000.0, 1000.0]
    """
    if isinstance(source, Path) or "\n" not in source:
        path = Path(source)
        file = name or str(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise NetlistError(f"cannot read netlist {str(source)!r}: {exc.strerror or exc}",
                               hint="pass a path to a netlist file, or the netlist text "
                               "itself (text must contain a newline)") from None
        text = _decode(data, file)
        base = path.parent
        try:
            stack = [path.resolve()]
        except OSError:
            stack = [path]
    else:
        text = source
        file = name or "<string>"
        base = Path.cwd()
        stack = []
    if "\x00" in text:
        raise NetlistError(f"{file} contains a NUL character (binary data?)",
                           hint="a netlist is a text file")
    if not text.strip():
        raise NetlistError(f"{file} is empty", location=Location(file, 1, 1),
                           hint="a netlist starts with a title line, then element cards")
    reader = _Reader()
    reader.stack = stack
    reader.read_text(text, file, base, top=True)
    builder = _Builder(reader, file)
    subckts, models, params_cards, elements = builder.collect(reader.cards)
    params: dict[str, float] = {}
    builder.resolve_params(params_cards, params)
    models = {name: (builder.parse_model(card, params)[1], card)
              for name, (_, card) in models.items()}
    ctx = _Ctx("", None, params, _Scope(subckts, models, None), [])
    builder.expand(elements, ctx)
    n_elements = (len(builder.r[0]) + len(builder.v[0]) + len(builder.i[0]) + len(builder.g[0])
                  + len(builder.e[0]) + len(builder.d[0]) + len(builder.b))
    if n_elements == 0:
        raise NetlistError(f"{file} has no circuit elements",
                           location=Location(file, 1, 1, reader.title),
                           hint="add element cards such as R1 in out 1k after the title line")
    builder.check_sweeps()
    return builder.circuit()
