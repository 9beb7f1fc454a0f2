"""Reading and lexing: netlist files -> logical cards, tokens with offsets.

A :class:`Card` is one logical line (``+`` continuations joined, comments
removed) that knows where every character came from, so errors point at
``file:line:column``.  :class:`Reader` reads files into cards and expands
``.include``; :func:`split_tokens` cuts a card into tokens.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...checks import special_file
from ...errors import Location, NetlistError

__all__ = ["EXPECTED", "Card", "Locations", "Reader", "decode", "err", "split_tokens"]

#: The expected form of each card, used as the hint of errors.
EXPECTED = {
    "r": "R<name> <n+> <n-> <value> [tc1=<1/K>] [tc2=<1/K^2>] [temp=<C>] [dtemp=<K>] [m=<n>]",
    "c": "C<name> <n+> <n-> <value> (open at DC)",
    "l": "L<name> <n+> <n-> <value> (short at DC)",
    "k": "K<name> <L1> <L2> <coupling> (no effect at DC)",
    "v": "V<name> <n+> <n-> [[DC] <value>] [AC <mag>] [PULSE|SIN|EXP|PWL|SFFM(<args>)]",
    "i": "I<name> <n+> <n-> [[DC] <value>] [AC <mag>] [PULSE|SIN|EXP|PWL|SFFM(<args>)]",
    "g": "G<name> <n+> <n-> <nc+> <nc-> <transconductance>",
    "e": "E<name> <n+> <n-> <nc+> <nc-> <gain>",
    "d": "D<name> <anode> <cathode> <model> [area=<area>]",
    "b": "B<name> <n+> <n-> I=<expression> (or V=<expression>)",
    "f": "F<name> <n+> <n-> <vsource> <gain>",
    "h": "H<name> <n+> <n-> <vsource> <transresistance>",
    "m": "M<name> <d> <g> <s> <b> <model> [L=<m>] [W=<m>] [AD=<m^2>] [AS=<m^2>] [M=<n>]",
    "x": "X<name> <node>... <subckt> [<param>=<value>...]",
    ".param": ".param <name>=<value> [<name>=<value>...]",
    ".subckt": ".subckt <name> <pin>... [params: <name>=<value>...]",
    ".ends": ".ends [<name>]",
    ".model": ".model <name> D(IS=<A> N=<1> RS=<ohm> BV=<V> IBV=<A>)",
    ".options": ".options <name>=<value>... (reltol abstol vntol gmin itl1 itl2 temp tnom)",
    ".dc": ".dc <source> <start> <stop> <step> [<source2> <start2> <stop2> <step2>] (V I R temp)",
    ".op": ".op",
    ".temp": ".temp <temperature in degC>",
    ".include": ".include <file>",
    ".lib": ".lib <file> <section> (and in the library: .lib <section> ... .endl)",
    ".func": ".func <name>(<arg>, ...) {<expression>}",
    ".nodeset": ".nodeset V(<node>)=<value> ...",
    ".ic": ".ic V(<node>)=<value> ... (held in the operating point before a .tran)",
    ".global": ".global <node> ...",
    ".title": ".title <text>",
}

_DOLLAR = re.compile(r"(?:^|[ \t])\$(?:[ \t]|$)")
#: ngspice's C++-style comment: ``//`` anywhere on a line (ngspice-39 reads ``2k//x`` and
#: ``is// = 2e-14`` up to the slashes)
_SLASHES = re.compile(r"//")
_PATH_CARD = re.compile(r"\.(include|inc|lib)\b", re.IGNORECASE)


# --------------------------------------------------------------------------- cards


class Card:
    """One logical line: text with comments removed, where it came from."""

    __slots__ = ("text", "file", "line", "source", "segs", "pieces", "length")

    def __init__(self, text: str, file: str, line: int, source: str):
        self.text = text
        self.file = file
        self.line = line
        self.source = source
        self.segs = None  # [(start offset in text, line, column0, source)] when continued
        self.pieces: list[str] | None = None  # text parts while '+' lines are read
        self.length = 0  # length of the joined pieces

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


class Locations(dict):
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
        return self.copy() == (other.copy() if isinstance(other, Locations) else other)

    __hash__ = None


def err(card: Card, off: int | None, message: str, hint: str = "") -> NetlistError:
    return NetlistError(message, location=card.loc(off), hint=hint)


def check_parens(card: Card, hint: str = "") -> None:
    """Raise at the first ``(`` that is never closed, or a ``)`` that closes nothing
    (outside ``{...}`` and ``'...'`` expressions, which the expression reader checks)."""
    s = card.text
    if "(" not in s and ")" not in s:
        return
    opened: list[int] = []
    quoted = braces = 0
    for i, c in enumerate(s):
        if c == "'" and not braces:
            quoted ^= 1
        elif quoted:
            continue
        elif c == "{":
            braces += 1
        elif c == "}":
            braces = max(braces - 1, 0)
        elif braces:
            continue
        elif c == "(":
            opened.append(i)
        elif c == ")":
            if not opened:
                raise err(card, i, "unbalanced parentheses: ')' closes nothing", hint)
            opened.pop()
    if opened:
        raise err(card, opened[-1], "unbalanced parentheses: '(' is never closed", hint)


def split_tokens(card: Card, text: str | None = None) -> list[tuple[str, int]]:
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
                raise err(card, i, "unbalanced braces: '{' is never closed", "write {expression}")
            out.append((s[i : j + 1], i))
            i = j + 1
            continue
        if c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise err(card, i, 'unbalanced quotes: "\'" is never closed', "write 'expression'")
            out.append((s[i : j + 1], i))
            i = j + 1
            continue
        if c == "}":
            raise err(card, i, "unbalanced braces: unexpected '}'")
        j = i
        while j < n and s[j] not in " \t,=\r\f\v{'":
            j += 1
        out.append((s[i:j], i))
        i = j
    return out


def _lib_section(text: str, section: str) -> str | None:
    """``text`` with every line outside ``.lib SECTION`` ... ``.endl`` blanked (line
    numbers kept), or None when the section is missing."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out = [""] * len(lines)
    inside, found = False, False
    for i, line in enumerate(lines):
        toks = line.split()
        word = toks[0].lower() if toks else ""
        if not inside and word == ".lib" and len(toks) == 2 and toks[1].lower() == section:
            inside = found = True
            continue
        if inside and word == ".endl":
            inside = False
            continue
        if inside:
            out[i] = line
    # the first line of an included text is not a title: keep it a card (or blank)
    return "\n".join(out) if found else None


def _utf16_without_bom(data: bytes) -> bool:
    """UTF-16 text of ASCII characters without a byte-order mark (LTspice, PowerShell's
    ``>``): every other byte of its start is NUL, the others are not."""
    head = data[:64]
    if len(head) < 8 or len(head) % 2:
        head = head[: len(head) - len(head) % 2]
    for zeros, chars in ((head[1::2], head[0::2]), (head[0::2], head[1::2])):
        if zeros and not zeros.strip(b"\x00") and b"\x00" not in chars:
            return True
    return False


def decode(data: bytes, file: str, notes: list[str] | None = None) -> str:
    """The text of a netlist file.  UTF-8; a file that is not UTF-8 (a Latin-1 or
    Windows 'ANSI' comment such as 'R\xe9sistance 1k\xb5') is read as Latin-1, as ngspice
    reads its bytes, with a note in ``notes``.  UTF-16 and binary files are refused."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or _utf16_without_bom(data):
        raise NetlistError(
            f"{file} is UTF-16 text (what Windows editors save as 'Unicode')",
            location=Location(file, 1, 1),
            hint="save it as UTF-8 (or ANSI/ASCII): ngspice reads neither UTF-16",
        )
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise NetlistError(
            f"{file} looks like a binary file (NUL byte on line {line})",
            location=Location(file, line, 1),
            hint="a netlist is a text file",
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is no card
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        if notes is not None:
            notes.append(
                f"{file}:{line}: not UTF-8 (byte {exc.start}): the file is read as "
                "Latin-1 (Windows 'ANSI'), as ngspice reads its bytes"
            )
        return data.decode("latin-1")


def _card_text(raw: str) -> tuple[str, str] | None:
    """A physical line's text without comments, and its first non-blank character;
    None for a blank or comment line."""
    line = raw.rstrip()
    if not line:
        return None
    c = line[0]
    if c == "*":
        return None
    if c == " " or c == "\t":
        if not line.strip() or line.lstrip()[0] == "*":
            return None
        c = line.lstrip()[0]
    if "//" in line and not (c == "." and _PATH_CARD.match(line.lstrip())):
        m = _SLASHES.search(line)  # (.include //server/share/models.lib keeps its path)
        if m is not None:
            line = line[: m.start()].rstrip()
            if not line.strip():
                return None
    if ";" in line:
        line = line[: line.index(";")].rstrip()
        if not line.strip():
            return None
    if "$" in line:
        m = _DOLLAR.search(line)
        if m is not None:
            line = line[: m.start()].rstrip()
            if not line.strip():
                return None
    return line, c


def _continue_card(
    last: Card | None, line: str, raw: str, file: str, lineno: int, continued: list[Card]
) -> None:
    """Append a ``+`` continuation line to card ``last``, recording where it came from.

    The parts are joined once the file is read (:func:`_join_continued`): joining per
    line made a card of 200,000 ``+`` lines (a long PWL) take 9 s instead of 0.1 s."""
    if last is None:
        raise NetlistError(
            "continuation line '+' with no card to continue",
            location=Location(file, lineno, line.index("+") + 1, raw),
            hint="'+' in column 1 continues the previous card",
        )
    plus = line.index("+")
    if last.segs is None:
        last.segs = []
    if last.pieces is None:
        last.pieces, last.length = [last.text], len(last.text)
        continued.append(last)
    start = last.length + 1
    last.segs.append((start, lineno, plus + 1, raw))
    piece = line[plus + 1 :]
    last.pieces.append(piece)
    last.length = start + len(piece)


def _join_continued(continued: list[Card]) -> None:
    for card in continued:
        card.text = " ".join(card.pieces)
        card.pieces = None


class Reader:
    """Reads files into cards, expanding ``.include``."""

    def __init__(self):
        self.cards: list[Card] = []
        self.title = ""
        self.title_card: Card | None = None
        self.stack: list[Path] = []
        self.end: Card | None = None  # the first .end card (ngspice reads on past it)
        self.noted_after_end = False
        self.notes: list[str] = []
        self.control: Card | None = None  # the open .control card while reading a block
        #: the .control cards and, for each, the command lines of its block
        self.control_blocks: list[tuple[Card, list[Card]]] = []
        self.lib_skip: Card | None = None  # the .lib <section> card while skipping its body
        self.noted_ascii = False

    def read_text(self, text: str, file: str, base: Path, top: bool) -> None:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        cards = self.cards
        first = 0
        if top:
            title = lines[0].rstrip("\r")
            self.title = title.strip()
            self.title_card = Card(title, file, 1, title)
            first = 0 if self.first_line_is_a_card(title, file) else 1
        last: Card | None = None
        continued: list[Card] = []
        for i in range(first, len(lines)):
            raw = lines[i]
            cleaned = _card_text(raw)
            if cleaned is None:
                continue
            line, c = cleaned
            if c == "+":
                if top and last is None and not cards:  # ngspice: continues the title
                    self.notes.append(f"{file}:{i + 1}: '+' line continues the title line")
                elif self.control is None and self.lib_skip is None:  # else: skipped too
                    _continue_card(last, line, raw, file, i + 1, continued)
                continue
            if not line.isascii() and not _PATH_CARD.match(line.lstrip()):
                line = self.ascii_names(line, file, i + 1)
            card = Card(line, file, i + 1, raw)
            if self.lib_skip is not None:  # inside .lib <section> ... .endl of this file
                if c == "." and line.split(None, 1)[0].lower() == ".endl":
                    self.lib_skip = None
                continue
            if self.control is not None:  # inside .control ... .endc: an ngspice script
                if c == "." and line.split(None, 1)[0].lower() == ".endc":
                    self.control = None
                else:  # its commands are read by Builder.control_script
                    self.control_blocks[-1][1].append(card)
                last = None
                continue
            if c == ".":
                word = line.split(None, 1)[0].lower()
                if word == ".control":
                    self.control = card
                    self.control_blocks.append((card, []))
                    last = None
                    continue
                if word == ".end":  # ngspice-39 reads past it (inpcom.c comments it out)
                    self.end = self.end or card
                    last = None
                    continue
                if word in (".include", ".inc"):
                    self.include(card, base)
                    last = None
                    continue
                if word == ".lib":
                    toks = line.split()
                    if len(toks) == 2:  # a section definition: read only when included
                        self.lib_skip = card
                    else:
                        self.include(card, base, section=True)
                    last = None
                    continue
                if word == ".endl":
                    last = None
                    continue
            if self.end is not None and not self.noted_after_end:
                self.noted_after_end = True
                self.notes.append(
                    f"{file}:{i + 1}: cards after .end ({self.end.file}:{self.end.line}) "
                    "are read, as ngspice does (it reads the whole file); delete them to "
                    "leave them out"
                )
            cards.append(card)
            last = card
        _join_continued(continued)

    def first_line_is_a_card(self, title: str, file: str) -> bool:
        """ngspice-39 reads a first line ``.include f`` or ``.lib f sec`` (from column 1) as
        that card, its title becoming ``*include f``; a first line ``.param`` stops it
        ('title line is missing!').  Any other first line is the title."""
        words = title.split()
        word = words[0].lower() if words and title[0] == "." else ""
        if word in (".param", ".params", ".parameters"):
            raise NetlistError(
                f"the first line is the title, but it is a {word} card: ngspice-39 stops here "
                "('title line is missing!')",
                location=Location(file, 1, 1, title),
                hint="add a title line above it",
            )
        if word in (".include", ".inc") or (word == ".lib" and len(words) > 2):
            self.title = "*" + title.strip()[1:]
            self.notes.append(
                f"{file}:1: the first line {word} is read as a card, as ngspice-39 reads it "
                f"(the title is '{self.title}')"
            )
            return True
        return False

    def ascii_names(self, line: str, file: str, lineno: int) -> str:
        """``line`` with each non-ASCII character replaced by one ``_`` per UTF-8 byte, as
        ngspice-39 reads them (node ``α`` is node ``__``, and so is ``é``); noted once.  In
        a file that is not UTF-8 such a character is an error, as in ngspice."""
        if any(n.startswith(f"{file}:") and "read as Latin-1" in n for n in self.notes):
            col = next(k for k, ch in enumerate(line) if not ch.isascii()) + 1
            raise NetlistError(
                f"a byte that is not UTF-8 ({line[col - 1]!r} read as Latin-1) outside a "
                "comment: ngspice-39 stops here ('UTF-8 syntax error')",
                location=Location(file, lineno, col, line),
                hint="save the file as UTF-8, or keep such characters in comments",
            )
        out = "".join(ch if ch.isascii() else "_" * len(ch.encode("utf-8")) for ch in line)
        if not self.noted_ascii:
            self.noted_ascii = True
            self.notes.append(
                f"{file}:{lineno}: non-ASCII characters are read as '_' for each UTF-8 byte, "
                "as ngspice-39 reads them (node 'α' is node '__', the same node as 'é')"
            )
        return out

    def include(self, card: Card, base: Path, section: bool = False) -> None:
        """``.include FILE``, or with ``section``, ``.lib FILE SECTION`` (only the lines
        between ``.lib SECTION`` and ``.endl`` of FILE)."""
        toks = card.text.split(None, 1)
        if len(toks) < 2:
            raise err(card, None, "missing file name", "expected: " + EXPECTED[".include"])
        name = toks[1].strip()
        sec = None
        if section:
            parts = name.split()
            if len(parts) != 2:
                raise err(
                    card, None, "expected .lib <file> <section>", "expected: " + EXPECTED[".lib"]
                )
            name, sec = parts[0], parts[1].lower()
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
        if sec is not None:
            resolved = Path(f"{resolved}#{sec}")
        if resolved in self.stack:
            chain = " -> ".join(str(p) for p in [*self.stack, resolved])
            raise err(
                card,
                off,
                f"include cycle: {chain}",
                "a file must not include itself, directly or indirectly",
            )
        kind = special_file(path)
        if kind:
            raise err(card, off, f"include file {str(path)!r} is {kind}, not a file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise err(
                card,
                off,
                f"cannot read include file {str(path)!r}: {exc.strerror or exc}",
                "the path is relative to the including file",
            ) from None
        try:
            text = decode(data, str(path), self.notes)
        except NetlistError as exc:
            exc.add_context(f"{path.name} (included at {card.file}:{card.line})")
            raise
        if sec is not None:
            text = _lib_section(text, sec)
            if text is None:
                raise err(
                    card,
                    card.text.lower().rindex(sec),
                    f"library {str(path)!r} has no section {sec!r}",
                    "expected: " + EXPECTED[".lib"],
                )
        self.stack.append(resolved)
        self.read_text(text, str(path), path.parent, top=False)
        self.stack.pop()
