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
* elements (see the README for the full list of parameters)::

      R<name> <n+> <n-> [<value>] [tc1= tc2= temp= dtemp= m=]  (none or 0: 1 mOhm)
      C<name> <n+> <n-> ...                  (open at DC)
      L<name> <n+> <n-> ...                  (short at DC, a 0 V branch)
      K<name> <L1> <L2> <k>                  (no DC effect)
      V<name> <n+> <n-> [[DC] <v>] [AC ...] [PULSE|SIN|EXP|PWL|SFFM(...)]
      I<name> <n+> <n-> (as V)
      G<name> / E<name> <n+> <n-> <nc+> <nc-> <gain>
      F<name> / H<name> <n+> <n-> <vsource> <gain>
      D<name> <anode> <cathode> <model> [area= temp= dtemp=]
      M<name> <d> <g> <s> <b> <model> [l= w= ad= as= nrd= nrs= m=]   (level 1)
      B<name> <n+> <n-> I=<expression> | V=<expression> [m= tc1= tc2= temp= dtemp=]
      S<name> <n+> <n-> <nc+> <nc-> <model> [on|off]   (W: <vsource> for the controls)
      X<name> <node>... <subckt> [params:] [<name>=<value>...]

* directives: ``.param``, ``.func``, ``.global``, ``.subckt``/``.ends`` (nested
  definitions and instances; ``params:`` defaults; a pin named ``0``/``gnd`` is
  the global ground), ``.include``, ``.lib <file> <section>`` (and ``.lib
  <section>`` ... ``.endl``), ``.if``/``.elseif``/``.else``/``.endif``
  (:mod:`.conditionals`), ``.model`` (D, NMOS/PMOS level 1; other types are
  kept and refused when used), ``.options``, ``.temp``, ``.nodeset``, ``.ic``,
  ``.op``, ``.dc``, ``.title``, ``.end`` (cards after it are read, as
  ngspice-39 reads them, with a note).  Output directives and
  other analyses (``.tran``, ``.ac``, ``.meas``, ...) are skipped; when the first
  analysis is a ``.tran`` (and no ``.op``/``.dc`` runs), the circuit is the one of
  ngspice's operating point before it: sources at their time-0 values, ``.ic`` nodes
  held (else ``.ic`` is ignored, as ngspice ignores it).  A ``.control ... .endc``
  block's ``op``, ``dc`` and ``run`` commands are the analyses, in script order, when
  it has any (``ngspice -b`` then runs the dot cards' analyses only at ``run``);
  output commands are skipped, and commands that change the
  circuit before ngspice's analyses (``alter``, ``altermod``, loops, ``option
  temp=``...) are refused at their line.  What was skipped or defaulted is in
  ``Circuit.notes``.

Flattened names
---------------
Subcircuit instances are flattened.  A node ``m`` inside instance ``x1`` is
named ``x1.m`` (nested: ``x1.x2.m``), exactly as ngspice names it.  An
element ``r1`` inside ``x1`` is named ``x1.r1`` (nested: ``x1.x2.r1``);
ngspice calls the same element ``r.x1.r1`` -- :func:`ngspice_name` converts.

Modules
-------
:mod:`~xbar.spice.netlist.lexer` (files, ``.include``, cards, tokens),
:mod:`~xbar.spice.netlist.scopes` (subcircuit definitions, scopes, parameters and
values), :mod:`~xbar.spice.netlist.elements` (element cards, flattening),
:mod:`~xbar.spice.netlist.directives` (dot cards) and
:mod:`~xbar.spice.netlist.builder` (named accumulators -> :class:`Circuit`).

Errors
------
Every problem raises one :class:`~xbar.errors.NetlistError` whose location
is ``file:line:column`` of the offending token (also on ``+`` continuation
lines), with the source line, a caret and a hint giving the expected form of
the card.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from functools import partial
from pathlib import Path

from ...checks import read_limited, special_file
from ...errors import InputTypeError, Location, NetlistError
from ..circuit import Circuit, DCSweep, spice_name
from ..expr import RANDOM_FUNCTIONS
from .builder import Builder
from .conditionals import has_conditionals
from .lexer import EXPECTED, Reader, decode
from .scopes import Context, ModelDef, Scope

__all__ = ["read_netlist", "ngspice_name", "EXPECTED"]


def ngspice_name(name: str) -> str:
    """ngspice's name of a flattened element: ``x1.x2.r1`` -> ``r.x1.x2.r1``.

    Top-level names are unchanged (also ``va.b``); an element whose own name has a
    period inside a subcircuit needs :meth:`Circuit.spice_name`.

    Examples
    --------
    >>> ngspice_name("x1.v9")
    'v.x1.v9'
    >>> ngspice_name("r1")
    'r1'
    """
    return spice_name(name)


_RANDOM_CALL = re.compile(r"\b(" + "|".join(RANDOM_FUNCTIONS) + r")\s*\(", re.IGNORECASE)


def _note_random_functions(cards, notes: list[str]) -> None:
    """One note for ngspice's Monte Carlo functions (``agauss(...)``...): ngspice draws
    a random value on every run, xbar uses the nominal value."""
    hits = [(card, m) for card in cards if (m := _RANDOM_CALL.search(card.text))]
    if hits:
        card, m = hits[0]
        more = f" (and on {len(hits) - 1} more cards)" if len(hits) > 1 else ""
        notes.append(
            f"{card.file}:{card.line}: {m.group(1).lower()}(...){more}: ngspice draws a "
            "random value on every run (Monte Carlo); xbar uses the nominal value, the "
            "first argument"
        )


def _circuit_temperature(cards) -> float:
    """ngspice's ``TEMPER`` in expressions: the circuit temperature [degC] that a
    top-level ``.temp`` or ``.options temp=`` card sets (the last one wins), else 27."""
    from ..units import try_parse_value

    temp = 27.0
    for card in cards:
        words = card.text.lower().replace("=", " = ").split()
        if not words or words[0] not in (".temp", ".options", ".option", ".opt"):
            continue
        if words[0] == ".temp" and len(words) > 1:
            value = try_parse_value(words[1])[0]
        elif "temp" in words[:-2] and words[words.index("temp") + 1] == "=":
            value = try_parse_value(words[words.index("temp") + 2])[0]
        else:
            continue
        if value is not None:
            temp = value
    return temp


#: where a shell's anonymous pipes appear (standard input, process substitution)
_SHELL_PIPES = ("/dev/stdin", "/dev/fd/", "/proc/self/fd/")


def _top_model(builder: Builder, card, params: dict) -> ModelDef:
    """A top-level ``.model`` parsed now; one that xbar cannot take (another MOSFET level,
    an unsupported parameter) is parsed again, and its error raised, only where an element
    uses it: ngspice-39 reads a model only for its instances, so a library of models
    with some unused ones runs there."""
    return ModelDef(builder.parse_model(card, params, lazy=True)[1], card)


def _geometry_scale(cards) -> float:
    """``.options scale=<number>`` of the top-level cards (the last one), read before the
    elements so that a resistor above the card is scaled too; 1 without one."""
    from ..units import try_parse_value

    scale = 1.0
    for card in cards:
        words = card.text.lower().replace("=", " = ").split()
        if words and words[0] in (".options", ".option", ".opt") and "scale" in words[:-2]:
            k = words.index("scale")
            value = try_parse_value(words[k + 2])[0] if words[k + 1] == "=" else None
            scale = value if value is not None and value > 0 else scale
    return scale


def _netlist_text(
    source: str | Path, name: str | None, notes: list[str]
) -> tuple[str, str, Path, list[Path]]:
    """``(text, file name, base directory for .include, include stack)`` of a
    netlist given as a path or as text; errors for unreadable, binary or empty input
    (a note in ``notes`` for a file read as Latin-1)."""
    if isinstance(source, os.PathLike):
        source = Path(source)
    if not isinstance(source, str | Path):
        raise InputTypeError(
            f"read_netlist needs a file path or the netlist text (str), got "
            f"{type(source).__name__}",
            hint="bytes: decode them first (data.decode('utf-8')); a file: pass its path",
        )
    if isinstance(source, Path) or "\n" not in source:
        path = Path(source)
        file = name or str(source)
        kind = special_file(path)
        # a shell's pipe (cmd | xbar solve /dev/stdin, or <(cmd)) has its writer and ends;
        # a named FIFO may have none (open would wait forever) and a device never ends
        shell_pipe = kind == "a pipe" and str(source).startswith(_SHELL_PIPES)
        if kind and not shell_pipe:
            raise NetlistError(f"netlist {str(source)!r} is {kind}, not a file")
        try:
            data = read_limited(path, "netlist")  # an endless pipe stops at the limit
        except OSError as exc:
            raise NetlistError(
                f"cannot read netlist {str(source)!r}: {exc.strerror or exc}",
                hint="standard input is /dev/stdin"
                if str(source) == "-"
                else "pass a path to a netlist file, or the netlist text "
                "itself (text must contain a newline)",
            ) from None
        text = decode(data, file, notes)
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
        raise NetlistError(
            f"{file} contains a NUL character (binary data?)", hint="a netlist is a text file"
        )
    if not text.strip():
        raise NetlistError(
            f"{file} is empty",
            location=Location(file, 1, 1),
            hint="a netlist starts with a title line, then element cards",
        )
    return text, file, base, stack


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
    notes: list[str] = []
    text, file, base, stack = _netlist_text(source, name, notes)
    return _read(text, file, base, stack, notes)


def _read(text, file, base, stack, notes, temperature: float | None = None) -> Circuit:
    """read_netlist's work on the text; ``temperature`` [degC] overrides the netlist's
    (a point of a ``.dc temp`` sweep: ngspice re-evaluates the circuit at each)."""
    circuit = _build(text, file, base, list(stack), list(notes), temperature)
    if any(_sweeps_temperature(a) for a in circuit.analyses):
        circuit.at_temperature = partial(_read, text, file, base, list(stack), list(notes))
    return circuit


def _sweeps_temperature(analysis) -> bool:
    return isinstance(analysis, DCSweep) and (
        analysis.source == "temp"
        or (analysis.outer is not None and analysis.outer.source == "temp")
    )


def _build(text, file, base, stack, notes, temperature: float | None) -> Circuit:
    reader = Reader()
    reader.notes.extend(notes)
    reader.stack = stack
    reader.read_text(text, file, base, top=True)
    for open_card, closer in ((reader.control, ".endc"), (reader.lib_skip, ".endl")):
        if open_card is not None:
            word = open_card.text.split()[0].lower()
            raise NetlistError(
                f"unterminated {word} block (opened at {open_card.file}:"
                f"{open_card.line}): {closer} is missing",
                location=open_card.loc(),
                hint=f"add {closer}",
            )
    builder = Builder(reader, file)
    cards = reader.cards
    if has_conditionals(cards):  # top-level .if blocks, decided before anything is read
        temp = _circuit_temperature(cards) if temperature is None else temperature
        cards = builder.conditional_cards(cards, {"time": 0.0, "temper": temp, "hertz": 0.0})
    subckts, models, params_cards, elements = builder.collect(cards)
    # TIME is 0 in a DC analysis (B sources written for transients: V=sin(2*pi*1k*time)),
    # HERTZ 0 (the frequency of an AC analysis)
    temper = _circuit_temperature(elements) if temperature is None else temperature
    builder.b_reserved = {"time": 0.0, "temper": temper, "hertz": 0.0}
    params: dict[str, float] = dict(builder.b_reserved)
    _note_random_functions(reader.cards, builder.notes)
    builder.resolve_params(params_cards, params)
    models = {name: _top_model(builder, d.card, params) for name, d in models.items()}
    ctx = Context("", None, params, Scope(subckts, models, None), [])
    builder.geometry_scale = _geometry_scale(elements)
    builder.expand(elements, ctx)
    for block, commands in reader.control_blocks:
        builder.control_script(block, commands, params)
    n_elements = (
        sum(
            len(rows.name)
            for rows in (builder.r, builder.v, builder.i, builder.g, builder.e, builder.d)
        )
        + len(builder.b)
        + len(builder.mos_rows)
    )
    if n_elements == 0:
        raise NetlistError(
            f"{file} has no circuit elements",
            location=Location(file, 1, 1, reader.title),
            hint="add element cards such as R1 in out 1k after the title line",
        )
    builder.check_sweeps()
    if temperature is not None:
        builder.options = replace(builder.options, temp=temperature)
    return builder.circuit()
