"""Directive cards: ``.model``, ``.options``, ``.temp``, ``.op``, ``.dc``, ...

:class:`DirectiveCards` handles the dot cards met while flattening (the
structure pass has already taken ``.subckt``/``.ends``, ``.param`` and
top-level ``.model``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import NamedTuple

from ...errors import Location, NetlistError
from ..circuit import DCSweep, DiodeModel, MosModel, Op, OtherModel
from .lexer import EXPECTED, Card, check_parens, err, split_tokens
from .model_params import CSWITCH, RESISTOR, SWITCH, DeviceParams, device_of
from .scopes import GROUND, Context

__all__ = ["DCCard", "DirectiveCards"]

logger = logging.getLogger("xbar.spice.netlist")

_OUTPUT_ONLY = {".print", ".plot", ".save", ".probe", ".width"}
_ANALYSES = {
    ".tran",
    ".ac",
    ".noise",
    ".tf",
    ".pz",
    ".disto",
    ".sens",
    ".four",
    ".fourier",
    ".pss",
    ".sp",
    ".meas",
    ".measure",
}
#: analyses other than .op and .dc; ngspice computes an operating point before each (the
#: one before .tran with its sources at time 0 and its .ic nodes held)
OTHER_ANALYSES = ("tran", "ac", "noise", "tf", "pz", "disto", "sens", "pss", "sp")


class AnalysisEntry(NamedTuple):
    """One analysis as read: its word (``op``, ``dc``, ``tran``, ...; ``run`` for the
    ``.control`` command that runs the dot cards' analyses), its card, its index in
    ``analyses`` (op and dc; else None) and whether a ``.control`` block asked for it."""

    word: str
    card: Card
    index: int | None = None
    control: bool = False


#: cards of other simulators (or newer ngspice) that ngspice-39 refuses too, named in the error
_FOREIGN_CARDS = {
    ".step": "a parameter sweep of LTspice and PSpice; in ngspice, loop over alter in .control",
    ".alter": "HSPICE's rerun with changed elements",
    ".data": "an HSPICE/PSpice data table for sweeps",
    ".loop": "the loop-gain analysis of ngspice 42 and later",
    ".protect": "HSPICE's listing protection",
    ".unprotect": "HSPICE's listing protection",
    ".connect": "an HSPICE node alias",
}
#: .control commands that change the circuit or rerun analyses (ngspice's later analyses see
#: the change): xbar cannot follow them, so a block that has them is refused by name
_CONTROL_CHANGES = {
    "alter": "changes an element's value",
    "altermod": "changes a model's parameters",
    "alterparam": "changes a .param value",
    "reset": "re-reads the circuit",
    "source": "reads another netlist",
    "mc_source": "re-reads the circuit (Monte Carlo)",
    "circbyline": "adds circuit lines",
    "remcirc": "removes the circuit",
    "foreach": "reruns analyses in a loop",
    "repeat": "reruns analyses in a loop",
    "while": "reruns analyses in a loop",
    "dowhile": "reruns analyses in a loop",
    "if": "runs commands conditionally",
    "goto": "jumps in the script",
}
#: .control commands with no effect on the circuit or its DC answer: output, plotting,
#: vector arithmetic, other analyses (xbar skips them; print and save select outputs)
_CONTROL_HARMLESS = {
    "run", "quit", "exit", "bye", "echo", "let", "unlet", "compose", "write", "wrdata",
    "wrs2p", "plot", "gnuplot", "asciiplot", "iplot", "hardcopy", "setplot", "display",
    "show", "showmod", "listing", "destroy", "rusage", "version", "status", "meas",
    "measure", "fourier", "spec", "linearize", "settype", "define", "undefine", "unset",
    "shell", "cd", "pwd", "remzerovec", "edisplay", "esave", "alias", "unalias", "history",
    "inventory", "where", "trace", "stop", "load", "sysinfo", "strcmp", "snsave", "setcirc",
    "tran", "ac", "noise", "tf", "pz", "sens", "disto", "sp", "pss", "print", "save",
}  # fmt: skip
#: one output of a .control print/save: v(...), i(...), or a plain vector name
_CONTROL_OUTPUT = re.compile(r"[vi]\s*\([^()]*\)|[\w.#<>\[\]:@$]+", re.IGNORECASE)
#: .control commands that set simulator options, and the options among them that change
#: a DC solution (``option temp=100`` and ``set temp=100`` both heat the circuit)
_CONTROL_SETS = {"option", "options", "opt", "set"}
_CONTROL_OPTION = re.compile(
    r"\b(temp|tnom|gmin|rshunt|rseries|defl|defw|defad|defas|scale)\s*=", re.IGNORECASE
)
#: ngspice options that would change a DC solution and that xbar does not implement
_OPTIONS_CHANGING_DC = {"rshunt", "rseries"}
_OPTION_FIELDS = {
    "reltol": float,
    "abstol": float,
    "vntol": float,
    "gmin": float,
    "itl1": int,
    "itl2": int,
    "temp": float,
    "tnom": float,
}
#: diode model parameters xbar honours (ngspice name -> DiodeModel field; AREA is the
#: instance default, see :mod:`.model_params`)
_DIODE_FIELDS = {
    "is": "is_",
    "js": "is_",
    "n": "n",
    "rs": "rs",
    "bv": "bv",
    "ibv": "ibv",
    "ib": "ibv",
    "nbv": "nbv",
    "eg": "eg",
    "xti": "xti",
    "tnom": "tnom",
    "tref": "tnom",
    "tcv": "tcv",
    "trs": "trs1",
    "trs1": "trs1",
    "trs2": "trs2",
}
#: level-1 MOSFET model parameters xbar honours (ngspice name -> MosModel field)
_MOS_FIELDS = {
    "vto": "vto",
    "vt0": "vto",
    "kp": "kp",
    "gamma": "gamma",
    "phi": "phi",
    "lambda": "lam",
    "rd": "rd",
    "rs": "rs",
    "rsh": "rsh",
    "is": "is_",
    "js": "js",
    "ld": "ld",
    "tnom": "tnom",
}
_MOS_SUPPORTED = "VTO KP GAMMA PHI LAMBDA RD RS RSH IS JS LD TOX UO TNOM"
MOS_TYPES = ("nmos", "pmos")
_DIODE_SUPPORTED = "IS N RS BV IBV NBV EG XTI TNOM TCV TRS1 TRS2 AREA"


#: ngspice's MOSFET model levels, named in the message that refuses them
_MOS_LEVELS = {
    2.0: "MOS2, Grove-Frohman",
    3.0: "MOS3, semi-empirical",
    4.0: "BSIM1",
    5.0: "BSIM2",
    6.0: "MOS6",
    8.0: "BSIM3",
    49.0: "BSIM3",
    9.0: "MOS9",
    10.0: "B4SOI",
    58.0: "B4SOI",
    14.0: "BSIM4",
    54.0: "BSIM4",
    44.0: "EKV",
    45.0: "PSP",
    69.0: "PSP",
    62.0: "STAG (SOI3)",
    68.0: "HiSIM_HV",
    73.0: "HiSIM2",
}


def _dot_card(cmd: Card, col: int) -> Card:
    """The ``.control`` command ``cmd`` (indented by ``col``) as a dot card whose offsets
    still point at the command's columns."""
    text = cmd.text.strip()
    if col:
        return Card(cmd.text[: col - 1] + "." + cmd.text[col:], cmd.file, cmd.line, cmd.source)
    card = Card("." + text, cmd.file, cmd.line, cmd.source)
    card.segs = [(1, cmd.line, 0, cmd.source)]
    return card


class DCCard(NamedTuple):
    """A ``.dc`` analysis with its card and swept-source tokens (checked at the end)."""

    sweep: DCSweep
    card: Card
    sources: list[tuple[str, int]]


class DirectiveCards:
    """Builder part: dot cards (a mixin of :class:`~xbar.spice.netlist.builder.Builder`)."""

    def parse_model(self, card: Card, params: dict[str, float] | None, lazy: bool = False):
        """Parse a ``.model`` card with parameter values ``params``.

        With ``params=None`` only the form is checked (values that are
        expressions are not evaluated) and the model is ``None``.  Returns
        ``(name, model)``: a :class:`DiodeModel`, a MOSFET model, or an
        :class:`OtherModel` for types xbar does not simulate.  With ``lazy``, a model
        xbar cannot simulate (another level, an unsupported parameter) is ``None`` instead
        of an error (ngspice reads a model only where an element uses it); a value that
        cannot be evaluated is an error either way.
        """
        hint = "expected: " + EXPECTED[".model"]
        check_parens(card, hint)
        low = card.text.lower().replace("(", " ").replace(")", " ")
        toks = split_tokens(card, low)
        if len(toks) < 3:
            raise err(card, None, "incomplete .model card", hint)
        name = toks[1][0]
        mtype, moff = toks[2]
        pairs = []
        k = 3
        while k < len(toks):
            key, off = toks[k]
            if k + 2 > len(toks) - 1 or toks[k + 1][0] != "=":
                raise err(card, off, f"expected <name>=<value>, found {key!r}", hint)
            if key != "version":  # a model version string such as 4.3.0 (BSIM), not a number
                pairs.append((key, off, toks[k + 2]))
            k += 3
        dev = device_of(mtype)
        if params is None:
            if dev is not None and dev not in (RESISTOR, SWITCH, CSWITCH):
                for _, _, t in pairs:
                    if t[0][0] not in "{'":
                        self.value(card, t, {})
            return name, None
        values = {key: (self.value(card, t, params), off) for key, off, t in pairs}
        if dev is None:
            plain = {key: v for key, (v, _) in values.items()}
            return name, OtherModel(name, mtype, plain.get("level", 1.0), plain)
        n_notes = len(self.notes)
        try:
            return name, self.device_model(card, name, mtype, dev, values)
        except NetlistError:
            if not lazy:
                raise
            del self.notes[n_notes:]  # noted again where an element uses the model
            return name, None

    def device_model(self, card: Card, name: str, mtype: str, dev: DeviceParams, values: dict):
        """The model of a device xbar simulates from ``{param: (value, offset)}``: a
        :class:`DiodeModel`, a :class:`MosModel`, or an :class:`OtherModel` (R, SW, CSW)
        whose ``params`` the element reads; instance parameters become its ``defaults``."""
        if mtype in MOS_TYPES:
            self.mos_level(card, name, values)  # before the names: other levels, other tables
        values, defaults = self.split_model_params(card, name, dev, values)
        self.check_model_params(card, name, dev, {**values, **defaults})
        if dev in (RESISTOR, SWITCH, CSWITCH):
            plain = {key: v for key, (v, _) in values.items()}
            inst = {key: v for key, (v, _) in defaults.items()}
            return OtherModel(name, mtype, plain.get("level", 1.0), plain, inst)
        if mtype in MOS_TYPES:
            model = self.mos_model(card, name, mtype, values)
        else:
            model = self.diode_model(card, name, values)
            if "area" in values:  # the model's AREA: the instances' default
                defaults = {"area": values["area"]} | defaults
        return replace(model, defaults=tuple((k, v) for k, (v, _) in defaults.items()))

    def split_model_params(self, card: Card, name: str, dev: DeviceParams, values: dict):
        """``(model parameters, instance defaults)`` of a ``.model`` card's
        ``{param: (value, offset)}``, sorted as ngspice-39 sorts them (see
        :mod:`.model_params`): ``m`` (no multiplier from a model) and names ngspice does not
        know are dropped with a note; output-only names are errors, as in ngspice."""
        model: dict = {}
        defaults: dict = {}
        for key, (value, off) in values.items():
            if key in dev.model or key == "level":
                model[key] = (value, off)
            elif key in dev.model_out or key in dev.instance_out:
                raise err(
                    card,
                    off,
                    f"model {name}: {key!r} is an output of ngspice's {dev.device} device, "
                    "not a parameter (ngspice-39 stops: 'no such parameter on this device')",
                    "remove it",
                )
            elif key == "m":
                self.note(
                    card,
                    f"model {name}: m={value:g} ignored (ngspice-39 takes no multiplier from "
                    "a .model card; give m= on the instances)",
                )
            elif key in dev.instance:
                defaults[key] = (value, off)
            else:
                self.note(
                    card,
                    f"model {name}: unrecognized parameter ({key}) - ignored (as ngspice-39)",
                )
        return model, defaults

    def check_model_params(self, card: Card, name: str, dev: DeviceParams, values: dict) -> None:
        """Refuse, at its column, a parameter of ``values`` ({param: (value, offset)}, names
        ngspice knows) that changes the DC solution in a way xbar does not model."""
        for key, (value, off) in values.items():
            if key in dev.default_only:
                pass
            elif key in dev.honoured or key in dev.no_dc or key in ("m", "level"):
                continue  # (a diode's m is MJ; a MOSFET's level is checked before)
            if key in dev.default_only:
                if value == dev.default_only[key]:
                    continue
                what = (
                    f"{key.upper()}={value:g} changes the DC solution in a way xbar does not model"
                )
            else:
                what = f"parameter {key.upper()} of ngspice's {dev.device} is not supported by xbar"
            raise err(
                card,
                off,
                f"model {name}: {what}",
                "supported: "
                + " ".join(sorted(k.upper() for k in dev.honoured if k in dev.model and k != "m"))
                + " (and parameters without effect on DC)",
            )

    def diode_model(self, card: Card, name: str, values: dict) -> DiodeModel:
        """A :class:`DiodeModel` from ``{param: (value, offset)}`` (ngspice's model-table
        names, already checked by :meth:`check_model_params`)."""
        hint = "expected: " + EXPECTED[".model"]
        fields = {_DIODE_FIELDS[k]: v for k, (v, _) in values.items() if k in _DIODE_FIELDS}
        model = DiodeModel(name=name, **fields)
        for field_name in ("is_", "n", "ibv"):
            if getattr(model, field_name) <= 0:
                raise err(
                    card,
                    None,
                    f"diode model {name}: {field_name.rstrip('_').upper()} must be positive",
                    hint,
                )
        if model.rs < 0 or model.bv <= 0 or (model.nbv is not None and model.nbv <= 0):
            raise err(card, None, f"diode model {name}: RS must be >= 0, BV and NBV > 0", hint)
        return model

    def mos_model(self, card: Card, name: str, mtype: str, values: dict) -> MosModel:
        """A level-1 :class:`MosModel` from ngspice's model-table names (checked by
        :meth:`check_model_params`); NSUB/TPG/NSS with TOX derive VTO, GAMMA, PHI."""
        fields: dict[str, float] = {"sign": 1 if mtype == "nmos" else -1}
        for key, (value, _) in values.items():
            if key in _MOS_FIELDS:
                fields[_MOS_FIELDS[key]] = value
            elif key in MOS_TYPES:  # ngspice's flags: ".model m nmos pmos=1" is a PMOS
                fields["sign"] = 1 if key == "nmos" else -1
        tox = values.get("tox", (0.0, 0))[0]
        if tox != 0:  # ngspice: KP = UO * eps_ox / TOX (UO in cm^2/Vs)
            fields["cox"] = 3.9 * 8.854214871e-12 / tox
            if "kp" not in fields:
                uo = values.get("uo", values.get("u0", (600.0, 0)))[0]
                fields["kp"] = uo * 1e-4 * fields["cox"]
        self.mos_process(card, name, values, fields)
        return MosModel(name=name, **fields)

    def mos_process(self, card: Card, name: str, values: dict, fields: dict) -> None:
        """NSUB, NSS, TPG of a level-1 card into ``fields``: with TOX given, ngspice
        derives the VTO, GAMMA and PHI not given from them (``mos1temp.c``, at TNOM:
        :func:`xbar.spice.mosfet.process_model`); without TOX it ignores them."""
        if "nsub" not in values:
            return
        nsub, off = values["nsub"]
        if not fields.get("cox"):
            self.note(card, f"model {name}: NSUB without TOX has no effect (as in ngspice)")
            return
        if not nsub * 1e6 > 1.45e16:
            raise err(
                card,
                off,
                f"MOSFET model {name}: NSUB={nsub:g} is below the intrinsic density "
                "1.45e10 /cm^3 (ngspice stops: Nsub < Ni)",
                "NSUB is the substrate doping in 1/cm^3 (e.g. 1e17)",
            )
        fields["nsub"] = nsub
        fields["nss"] = values.get("nss", (0.0, 0))[0]
        if "tpg" in values:
            fields["tpg"] = values["tpg"][0]
        given = {"vto": "vto" in values or "vt0" in values, "gamma": "gamma" in values}
        given["phi"] = "phi" in values
        fields["derive"] = frozenset(k for k, g in given.items() if not g)

    def mos_level(self, card: Card, name: str, values: dict) -> None:
        """Refuse a MOSFET LEVEL other than 1, naming ngspice's model of that level."""
        level = values.get("level", (1.0, 0))
        if level[0] != 1.0:
            raise err(
                card,
                level[1],
                f"MOSFET model {name}: LEVEL={level[0]:g} "
                + (f"({_MOS_LEVELS[level[0]]} in ngspice) " if level[0] in _MOS_LEVELS else "")
                + "is not supported (xbar simulates level 1, Shichman-Hodges)",
                "expected: .model <name> NMOS|PMOS(LEVEL=1 VTO= KP= GAMMA= PHI= LAMBDA= ...)",
            )

    # ---------------------------------------------------------------- directives
    def directive(self, card: Card, low: str, ctx: Context) -> None:
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
                raise err(
                    card, low.index(low.split()[1]), "unexpected text after .op", "expected: .op"
                )
            self.analyses.append(Op())
            self.analysis_order.append(AnalysisEntry("op", card, len(self.analyses) - 1))
            return
        if word == ".dc" and top:
            self.parse_dc(card, low, ctx.params)
            self.analysis_order.append(AnalysisEntry("dc", card, len(self.analyses) - 1))
            return
        if word == ".temp" and top:
            self.parse_temp(card, low, ctx.params)
            return
        if word == ".title" and top:
            self.title = card.text.strip()[6:].strip()
            return
        if word in _OUTPUT_ONLY or word in (".func", ".global"):  # (.func/.global: read before)
            if top and word in (".print", ".save", ".probe"):  # for xbar.spice.outputs
                self.output_cards.append((word, card.text, card.loc()))
            logger.info("%s: skipping output directive %s", card.loc(), word)
            return
        if word in (".options", ".option", ".opt", ".op", ".dc", ".title", ".temp"):
            raise err(
                card,
                None,
                f"{word} is not allowed inside a subcircuit",
                "put analysis and option cards at the top level",
            )
        if word in _ANALYSES:
            self.skipped.setdefault(word, card)
            if top and word[1:] in OTHER_ANALYSES:
                self.analysis_order.append(AnalysisEntry(word[1:], card))
            return
        if word == ".ic":  # held by the operating point before a .tran (builder)
            self.parse_ic(card, low, ctx)
            return
        if word == ".nodeset" and top:
            self.parse_nodeset(card, low, ctx)
            return
        raise self.unknown_directive(card, word)

    def unknown_directive(self, card: Card, word: str) -> NetlistError:
        """The error for a dot card xbar does not read (here, or not at this level)."""
        if word == ".endc":
            return err(card, None, ".endc without a .control card", "expected: .control ... .endc")
        if word in (
            ".csparam",
            ".if",
            ".else",
            ".elseif",
            ".endif",
            ".nodeset",
            ".model",
            ".subckt",
            ".ends",
        ):
            return err(
                card,
                None,
                f"{word} is not supported by xbar"
                + (" inside a subcircuit" if word in (".nodeset",) else ""),
            )
        foreign = _FOREIGN_CARDS.get(word)
        return err(
            card,
            None,
            f"unknown card {word!r}"
            + (
                f" ({foreign}; ngspice-39 also stops here: unimplemented control card)"
                if foreign
                else ""
            ),
            "known cards: .param .func .global .subckt .ends .include .lib .model .options "
            ".temp .op .dc .nodeset .ic .end (other analyses are skipped)",
        )

    def control_script(self, block: Card, commands: list[Card], params: dict) -> None:
        """Read a ``.control ... .endc`` block (opened by ``block``) as ngspice runs it.

        Its ``op``, ``dc ...`` and ``run`` commands are the analyses, in script order
        (``ngspice -b`` then runs the dot cards' analyses only at ``run``; a block with
        no analysis command leaves them to run as usual: :meth:`order_analyses`); output
        commands (``print``, ``plot``, ``wrdata``,
        ``let``, ``echo``...) are skipped with one note, as are other analyses; ``print`` and
        ``save`` select outputs (:meth:`control_outputs`); an unknown command is an error.
        Commands that change the circuit or rerun analyses (``alter``, ``altermod``,
        ``foreach``...) are a NetlistError at the command: ngspice's answer depends on
        them, and a silently unchanged circuit would be a wrong answer.
        """
        taken, other = [], set()
        lets: set[str] = set()
        for cmd in commands:
            text = cmd.text.strip()
            word = text.split(None, 1)[0].lower()
            col = len(cmd.text) - len(cmd.text.lstrip())
            if word == "let" or word == "compose":
                name = re.match(r"\s*(\w+)", text[len(word) :])
                if name:
                    lets.add(name.group(1).lower())
            if word in ("print", "save"):
                self.control_outputs(cmd, word, col, lets)
            elif word not in _CONTROL_HARMLESS and word not in {
                *_CONTROL_CHANGES,
                *_CONTROL_SETS,
                "op",
                "dc",
            }:
                raise err(
                    cmd,
                    col,
                    f"unknown .control command {word!r}",
                    "xbar runs a .control block's op and dc commands, takes print and save "
                    "as output selections and skips output commands (echo, let, plot, "
                    "wrdata, ...); delete this command or move the block to ngspice",
                )
            if word in _CONTROL_CHANGES:
                raise err(
                    cmd,
                    col,
                    f".control command {word!r} {_CONTROL_CHANGES[word]}; ngspice runs the "
                    "analyses on the changed circuit, which xbar cannot follow",
                    "write the changed values into the netlist itself and delete the "
                    "command (xbar runs the op and dc commands of a .control block)",
                )
            changed = _CONTROL_OPTION.search(text) if word in _CONTROL_SETS else None
            if changed:
                raise err(
                    cmd,
                    col + changed.start(1),
                    f".control command {word!r} sets {changed.group(1).lower()}, which "
                    "changes the DC solution of the analyses after it; xbar reads no "
                    ".control settings",
                    f"put it on a card outside the block: .options {changed.group(0)}...",
                )
            if word in ("op", "dc", "run", *OTHER_ANALYSES):
                self.control_analysis(cmd, word, col, params)
                (taken.append if word in ("op", "dc", "run") else other.add)(word)
            elif word not in ("print", "save"):  # output commands
                other.add(word)
        what = (
            f"its {' and '.join(dict.fromkeys(taken))} command(s) read as analyses"
            if taken
            else "no op or dc command in it"
        )
        self.notes.append(
            f"{block.file}:{block.line}: .control block: {what}"
            + (f"; skipped {', '.join(sorted(other))}" if other else "")
            + " (xbar is a DC solver)"
        )

    def control_analysis(self, cmd: Card, word: str, col: int, params: dict) -> None:
        """An analysis command of a ``.control`` block (``op``, ``dc ...``, ``tran ...``,
        or ``run``, which runs the dot cards' analyses there), in script order."""
        pseudo = _dot_card(cmd, col)
        low = pseudo.text.lower()
        index = None
        if word == "op":
            if len(low.split()) > 1:
                raise err(pseudo, low.index(low.split()[1]), "unexpected text after op")
            self.analyses.append(Op())
            index = len(self.analyses) - 1
        elif word == "dc":
            self.parse_dc(pseudo, low, params)
            index = len(self.analyses) - 1
        self.analysis_order.append(AnalysisEntry(word, pseudo, index, True))

    def control_outputs(self, cmd: Card, word: str, col: int, lets: set[str]) -> None:
        """A ``.control`` ``print``/``save`` command as the ``.print``/``.save`` card it
        stands for (``print v(out) i(v1)``, ``print all``, ``print v1#branch``).  A
        vector made by ``let`` is skipped with a note; an expression is a NetlistError."""
        text = cmd.text
        pos = col + len(word)
        items: list[str] = []
        for m in re.finditer(r"(?:[^\s(]|\([^()]*\))+", text[pos:]):
            tok, at = m.group(0), pos + m.start()
            low = tok.lower()
            if word == "print" and not items and low in ("col", "line"):
                continue
            if low.startswith(">"):  # "print v(out) > file": ngspice's output redirection
                break
            if _CONTROL_OUTPUT.fullmatch(tok) is None:
                raise err(
                    cmd,
                    at,
                    f".control {word} of an expression ({tok!r}) is not supported",
                    f"{word} node voltages and source currents: v(out), v(a,b), i(v1), "
                    "v1#branch, all",
                )
            if low in lets:
                self.note(cmd, f".control {word} {tok}: a let vector, not evaluated by xbar")
                continue
            if low.endswith("#branch"):
                low = f"i({low[: -len('#branch')]})"
            items.append(low)
        if items:
            directive = ".print" if word == "print" else ".save"
            loc = Location(cmd.file, cmd.line, col + 1, cmd.source)
            self.output_cards.append((directive, f"{directive} dc {' '.join(items)}", loc))

    def parse_nodeset(self, card: Card, low: str, ctx: Context, into: list | None = None) -> None:
        """``.nodeset V(node)=value ...``: Newton's starting voltages (resolved at the end);
        ``.ic`` cards, which have the same form, go to ``into``."""
        toks = self.tokens(card, low)[1:]
        hint = "expected: " + EXPECTED[".nodeset" if into is None else ".ic"]
        target = self.nodeset_cards if into is None else into
        k = 0
        while k < len(toks):
            tok, off = toks[k]
            node = tok[2:-1].strip() if tok[:2] == "v(" and tok[-1] == ")" else None
            if not node or k + 2 >= len(toks) or toks[k + 1][0] != "=":
                raise err(card, off, f"expected V(<node>)=<value>, found {tok!r}", hint)
            target.append((node, self.value(card, toks[k + 2], ctx.params), card, off))
            k += 3

    def parse_ic(self, card: Card, low: str, ctx: Context) -> None:
        """``.ic V(node)=value ...``; in a subcircuit, its nodes are the instance's (a pin's
        node, else ``<instance>.<node>``), as ngspice expands them."""
        start = len(self.ic_cards)
        self.parse_nodeset(card, low, ctx, self.ic_cards)
        if ctx.pins is None:
            return
        for k in range(start, len(self.ic_cards)):
            name, value, c, off = self.ic_cards[k]
            if name in ctx.pins:
                name = self.node_names[ctx.pins[name]]
            elif name not in GROUND and name not in self.globals:
                name = ctx.prefix + name
            self.ic_cards[k] = (name, value, c, off)

    def parse_options(self, card: Card, low: str, params: dict[str, float]) -> None:
        toks = self.tokens(card, low)[1:]
        hint = "expected: " + EXPECTED[".options"]
        values = {}
        k = 0
        while k < len(toks):
            key, off = toks[k]
            has_value = k + 2 < len(toks) and toks[k + 1][0] == "="
            if key in _OPTIONS_CHANGING_DC:
                raise err(
                    card,
                    off,
                    f"option {key!r} changes the DC solution and is not supported by xbar",
                    hint,
                )
            if key in ("defl", "defw", "defad", "defas") and has_value:
                self.mos_defaults[key] = self.value(card, toks[k + 2], params)
                k += 3
                continue
            if key == "scale" and has_value:  # geometry scale of instance L, W, AD, AS
                scale = self.value(card, toks[k + 2], params)
                if not scale > 0:
                    raise err(card, toks[k + 2][1], "option scale must be positive", hint)
                self.mos_defaults["scale"] = self.geometry_scale = scale
                k += 3
                continue
            if key not in _OPTION_FIELDS:
                self.note(card, f"option {key!r} ignored (no effect on xbar's DC solution)")
                k += 3 if has_value else 1
                continue
            if not has_value:
                raise err(card, off, f"option {key!r} needs a value ({key}=<value>)", hint)
            value = self.value(card, toks[k + 2], params)
            typ = _OPTION_FIELDS[key]
            if typ is int:
                if value != int(value) or value < 1:
                    raise err(
                        card, toks[k + 2][1], f"option {key} must be a positive integer", hint
                    )
                value = int(value)
            elif key in ("reltol", "abstol", "vntol") and value <= 0:
                raise err(card, toks[k + 2][1], f"option {key} must be positive", hint)
            elif key == "gmin" and value < 0:
                raise err(card, toks[k + 2][1], "option gmin must not be negative", hint)
            values[key] = value
            k += 3
        self.options = replace(self.options, **values)

    def parse_temp(self, card: Card, low: str, params: dict[str, float]) -> None:
        """``.temp <degC>``: the circuit temperature, as ``.options temp=`` sets it."""
        toks = self.tokens(card, low)[1:]
        hint = "expected: " + EXPECTED[".temp"]
        if not toks:
            raise err(card, len(card.text.rstrip()), "missing temperature after .temp", hint)
        if len(toks) > 1:
            raise err(
                card, toks[1][1], f"unexpected {toks[1][0]!r} (.temp takes one temperature)", hint
            )
        value = self.value(card, toks[0], params)
        if value <= -273.15:
            raise err(
                card, toks[0][1], f".temp {value:g} is not above absolute zero (-273.15 degC)", hint
            )
        self.options = replace(self.options, temp=value)

    def parse_dc(self, card: Card, low: str, params: dict[str, float]) -> None:
        toks = self.tokens(card, low)[1:]
        hint = "expected: " + EXPECTED[".dc"]
        form = next((t for t in toks if t[0] in ("lin", "dec", "oct", "list")), None)
        if form is not None:
            raise err(
                card,
                form[1],
                f".dc {form[0].upper()} sweeps are HSPICE/PSpice syntax: ngspice-39 reads "
                f"{form[0]!r} as a source name and stops",
                "write a linear sweep: " + EXPECTED[".dc"],
            )
        if len(toks) > 8:
            raise err(card, toks[8][1], f"unexpected {toks[8][0]!r}", hint)
        if len(toks) not in (4, 8):
            raise err(
                card,
                len(card.text.rstrip()),
                f".dc needs 4 or 8 fields after .dc, found {len(toks)}",
                hint,
            )
        sweeps = []
        for g in range(len(toks) // 4):
            src, start, stop, step = toks[4 * g : 4 * g + 4]
            if src[0][0] not in "vir" and src[0] != "temp":
                raise err(
                    card,
                    src[1],
                    f".dc sweeps an independent V or I source or a resistor, found {src[0]!r}",
                    hint,
                )
            a, b, s = (self.value(card, t, params) for t in (start, stop, step))
            if s == 0 and a != b:
                raise err(card, step[1], ".dc step must not be zero", hint)
            if s != 0 and (b - a) / s < 0:
                raise err(
                    card,
                    step[1],
                    f".dc step {s:g} goes away from the stop value {b:g}",
                    "use a negative step to sweep downwards",
                )
            if src[0] == "temp" and min(a, b) <= -273.15:
                raise err(card, start[1], ".dc temp goes below absolute zero (-273.15 degC)", hint)
            if s != 0 and abs((b - a) / s) > 1e7:
                raise err(card, step[1], ".dc sweep has more than 1e7 points", hint)
            sweeps.append((src[0], a, b, s))
        outer = None
        if len(sweeps) == 2:
            outer = DCSweep(*sweeps[1])
        sweep = DCSweep(*sweeps[0], outer=outer)
        self.analyses.append(sweep)
        self.dc_cards.append(DCCard(sweep, card, [toks[0], *(toks[4:5])]))
