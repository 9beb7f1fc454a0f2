"""Output selection: which node voltages and source currents a solve reports.

ngspice users pick outputs with ``.print dc v(out) i(v1)`` or ``.save v(a) i(v1)``
(and ``.probe``); :func:`requested` reads those cards from a circuit (kept by the
netlist reader in ``Circuit.outputs``), :func:`parse_items` reads the same item
syntax from a command line (``xbar solve --nodes out,i(v1)``), and
:func:`columns` turns a selection into named columns of a solution.

Items: ``v(node)``, ``v(node1, node2)`` (the difference), ``i(vsource)``, a plain
node name (``.save out`` means ``v(out)``), ``all`` (everything).  Precedence, as
ngspice: ``.print`` cards of the DC analyses (type ``dc``, ``op`` or none) select
what is printed; without them ``.save`` (and ``.probe``) cards do; without any,
everything is reported.

>>> from xbar.spice.netlist import read_netlist
>>> from xbar.spice.dc import solve_dc
>>> c = read_netlist("t\\nv1 a 0 2\\nr1 a b 1k\\nr2 b 0 1k\\n.print dc v(b) i(v1)\\n.op\\n.end\\n")
>>> [(label, float(v)) for label, v in columns(solve_dc(c), requested(c)[0])]
[('v(b)', 1.0), ('i(v1)', -0.001)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import Location, NetlistError, XbarError

__all__ = ["Item", "requested", "parse_items", "columns"]

#: analysis types of a .print card; those other than DC ones make the card not apply
_TYPES = {"dc", "op", "tran", "ac", "noise", "disto", "tf", "pz", "sens", "sp"}
_DC_TYPES = {"dc", "op"}
#: AC-only vector functions (magnitude, phase, dB, real, imaginary)
_AC_FUNCS = {"vm", "vp", "vdb", "vr", "vi", "im", "ip", "idb", "ir", "ii", "vg", "ig"}
#: ``func(args)`` (commas inside kept), else a word; commas and spaces separate items
_TOKEN = re.compile(r"([a-z_][\w.#]*)\s*\(([^()]*)\)|([^\s,]+)")


@dataclass(frozen=True)
class Item:
    """One requested output: ``kind`` ``"v"`` (nodes: one or two names), ``"i"``
    (names: one V/E source) or ``"all"``; ``label`` as printed (``v(out)``)."""

    kind: str
    names: tuple[str, ...]
    label: str
    location: Location | None = None


def parse_items(text: str, location: Location | None = None) -> tuple[list[Item], list[str]]:
    """Output items of ``text`` (``v(out) i(v1) v(a,b) out all``, spaces or commas).

    Returns ``(items, notes)``: notes name the items that have no DC meaning (AC
    functions such as ``vdb()``, device parameters ``@m1[id]``) and were skipped.
    A malformed item is a NetlistError at ``location``.
    """
    items: list[Item] = []
    notes: list[str] = []
    for m in _TOKEN.finditer(text.lower()):
        func, args, word = m.group(1), m.group(2), m.group(3)
        if word is not None:
            if word == "all":
                items.append(Item("all", (), "all", location))
            elif word.startswith("@") or "(" in word or ")" in word:
                notes.append(f"output {word!r} skipped (not a node voltage or source current)")
            else:
                items.append(Item("v", (word,), f"v({word})", location))
            continue
        names = tuple(a.strip() for a in args.split(",") if a.strip())
        if func in _AC_FUNCS:
            notes.append(f"output {m.group(0)!r} skipped (an AC quantity)")
        elif func == "v" and len(names) in (1, 2):
            items.append(Item("v", names, f"v({','.join(names)})", location))
        elif func == "i" and len(names) == 1:
            items.append(Item("i", names, f"i({names[0]})", location))
        else:
            raise NetlistError(
                f"cannot read the output {m.group(0)!r}",
                location=location,
                hint="outputs are v(node), v(node1,node2), i(vsource), a node name or all",
            )
    return items, notes


def requested(circuit) -> tuple[list[Item] | None, list[str]]:
    """The outputs a circuit's ``.print`` / ``.save`` / ``.probe`` cards select
    (None: no card selects, report everything) and notes on what was skipped."""
    prints: list[Item] = []
    saves: list[Item] = []
    notes: list[str] = []
    any_print = False
    for word, text, loc in getattr(circuit, "outputs", []):
        rest = text.strip().split(None, 1)[1] if len(text.split()) > 1 else ""
        first = rest.split(None, 1)[0].lower() if rest else ""
        kind = None
        if first in _TYPES:
            kind, rest = first, rest[len(first) :]
        if word == ".print":
            if kind is not None and kind not in _DC_TYPES:
                continue  # a .print of another analysis (tran, ac, ...)
            any_print = True
        items, skipped = parse_items(rest, loc)
        notes += [f"{loc}: {n}" for n in skipped]
        (prints if word == ".print" else saves).extend(items)
    chosen = prints if any_print else saves
    if not chosen or any(it.kind == "all" for it in chosen):
        return None, notes
    return chosen, notes


def columns(result, items: list[Item] | None) -> list[tuple[str, np.ndarray]]:
    """Named columns of ``result`` (an OperatingPoint or SweepResult): every node
    voltage and source current when ``items`` is None, else the items in order
    (duplicates once).  An unknown node or source is an XbarError naming the item
    and, for a netlist card, its location."""
    if items is None or any(it.kind == "all" for it in items):
        return [(f"v({n})", v) for n, v in result.voltages.items()] + [
            (f"i({n})", v) for n, v in result.currents.items()
        ]
    out: dict[str, np.ndarray] = {}
    for it in items:
        if it.label in out:
            continue
        try:
            if it.kind == "i":
                value = result.current(it.names[0])
            else:
                value = result.voltage(it.names[0])
                if len(it.names) == 2:
                    value = value - result.voltage(it.names[1])
        except XbarError as exc:
            raise XbarError(
                f"output {it.label}: {exc.message}", location=it.location, hint=exc.hint
            ) from None
        out[it.label] = value
    return list(out.items())
