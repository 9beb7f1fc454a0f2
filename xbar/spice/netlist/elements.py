"""Element cards: R, V, I, G, E, D, B and X (subcircuit instances).

:class:`ElementCards` flattens a list of cards in one :class:`Context`,
appending each element to the builder's accumulators.
"""

from __future__ import annotations

import re

from ...errors import NetlistError, ResourceError
from ..circuit import BSource, DiodeModel, MosModel
from ..devices import SwitchConductance
from ..expr import ExprSyntaxError, compile_expression
from ..units import try_parse_value
from .lexer import EXPECTED, Card, err, split_tokens
from .scopes import GROUND, Context, NodeTokenError, Scope
from .sources import parse_source_spec, time_zero_value

__all__ = ["MAX_SUBCKT_DEPTH", "ElementCards"]

#: the deepest nesting of subcircuit instances that is flattened (an instance inside an
#: instance ... this many levels); deeper netlists get a NetlistError naming the instance
MAX_SUBCKT_DEPTH = 200
#: measured: reading a flat netlist takes about 650 bytes per element; solving it more
BYTES_PER_ELEMENT = 1000
#: a POLY source's terms may hold at most this many factors in all (up to degree 140 in
#: one control): the expression tree grows with the sum of the degrees
MAX_POLY_FACTORS = 10000

_ELEMENT_NAMES = {
    "q": ("bipolar transistors", "its Gummel-Poon model (VBIC, HICUM at other levels)"),
    "j": ("JFETs", "the Shichman-Hodges JFET (Parker-Skellern at level 2)"),
    "z": ("MESFETs", "the Statz (level 1) and other GaAs MESFET models"),
    "t": ("transmission lines", "a lossless line; at DC a short between the ends of each side"),
    "o": ("lossy transmission lines", "an LTRA line whose DC resistance is R*length"),
    "u": ("uniform RC lines", "a distributed RC line: its series resistance at DC"),
    "a": ("XSPICE code models", "its XSPICE code model (analog, digital or mixed)"),
    "y": ("TXL lines", "a lossy line (TXL)"),
    "p": ("coupled multiconductor lines", "a coupled lossy line model (CPL)"),
    "n": ("OSDI/Verilog-A devices", "a compiled Verilog-A model loaded with pre_osdi"),
}

#: diode instance parameters (pj: perimeter, no effect without JSW; ic: transient only)
_DIODE_INSTANCE = {"area", "pj", "m", "temp", "dtemp", "ic", "w", "l", "lm", "lp", "wm", "wp"}
_DIODE_INSTANCE |= {"thermal", "sens_area"}
#: MOSFET instance parameters (ad/as: junction areas; pd/ps: no DC effect)
_MOS_INSTANCE = {"l", "w", "ad", "as", "pd", "ps", "nrd", "nrs", "m", "temp", "dtemp"}
_MOS_INSTANCE |= {"icvds", "icvgs", "icvbs", "sens_l", "sens_w"}
#: resistor instance parameters -> meaning (``ac``/``noisy``: no DC effect; ``scale``
#: multiplies the resistance, as ngspice does)
_RESISTOR_PARAMS = {
    "r": "r",
    "resistance": "r",
    "tc1": "tc1",
    "tc": "tc1",
    "tc2": "tc2",
    "tce": "tce",
    "temp": "temp",
    "dtemp": "dtemp",
    "m": "m",
    "ac": "ac",
    "noisy": "noisy",
    "noise": "noisy",
    "sens_resist": "noisy",
    "bv_max": "noisy",
    "l": "l",
    "w": "w",
    "scale": "scale",
}
_R_FLAGS = ("noiseless", "noisy")
#: aliases among ngspice's resistor model parameters, and their defaults [m] (lengths)
_R_MODEL_ALIASES = {"dw": "narrow", "dlr": "short", "tc1r": "tc1", "tc2r": "tc2", "w": "defw"}
_R_MODEL_ALIASES["res"] = "r"
_R_MODEL_DEFAULTS = {"l": 1e-5, "defw": 1e-5, "narrow": 0.0, "short": 0.0}


def _r_model(params: dict, key: str) -> float | None:
    """Resistor model parameter ``key`` from the card's ``params`` (an alias such as
    ``dw`` for ``narrow`` counts; the last given wins, as in ngspice), else ngspice's default
    (None for one without)."""
    found = _R_MODEL_DEFAULTS.get(key)
    for name, value in params.items():  # the last of a name and its aliases counts
        if name == key or _R_MODEL_ALIASES.get(name) == key:
            found = value
    return found


#: a resistor value that reads node voltages or currents (ngspice-39 makes such a resistor
#: a B source; TIME, TEMPER and HERTZ alone are constants in DC, read as such)
_RUNTIME = re.compile(r"[{'][^}']*\b[vi]\s*\(")
_CTRL_CALL = re.compile(r"(?<![A-Za-z0-9_.])([vi])\s*\(([^()]*)\)")
_THIRD = re.compile(r"\s*\S+\s+(\S+)\s+")
_FOURTH = re.compile(r"\s*\S+\s+\S+\s+\S+\s+")


def _unknown_element(card: Card, low: str, first: str) -> NetlistError:
    """The error for a card whose first letter is no element xbar reads."""
    what = _ELEMENT_NAMES.get(first)
    word = low.split()[0]
    if what:
        return err(
            card,
            None,
            f"element {word!r}: {what[0]} ({first.upper()}) are not supported "
            f"(ngspice simulates this one with {what[1]}); xbar does DC analysis of "
            "R, C, L, K, V, I, G, E, F, H, D, B, M, S, W and X elements",
        )
    return err(
        card,
        None,
        f"unknown element type {word[0]!r} in {word!r}",
        "element names start with R, C, L, K, V, I, G, E, F, H, D, B, M, S, W or X",
    )


class ElementCards:
    """Builder part: element cards and subcircuit instances (flattening).

    A mixin of :class:`~xbar.spice.netlist.builder.Builder` (uses its
    accumulators, ``node``, ``register``, ``value``, ``directive``).
    """

    # ---------------------------------------------------------------- flattening
    def expand(self, cards: list[Card], ctx: Context) -> None:
        """Add the elements of ``cards`` (one scope: the top level or an instance body).

        Plain ``R<name> <n+> <n-> <value>`` cards, most of a large netlist, take an
        inline fast path; every other card goes to the method of its element letter.
        """
        names = self.names
        node = self.node
        top = ctx.pins is None
        node_index = self.node_index
        rows = self.r
        r_name, r_pos, r_neg, r_val = rows.name, rows.npos, rows.nneg, rows.value
        prefix = ctx.prefix
        card = cards[0] if cards else None
        try:
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
                elif first == "m":
                    self.mosfet(card, low, ctx)
                elif first == "f" or first == "h":
                    self.current_controlled(card, low, ctx, first)
                elif first == "d":
                    self.diode(card, low, ctx)
                elif first == "b":
                    self.bsource(card, low, ctx)
                elif first == "x":
                    self.instance(card, low, ctx)
                elif first == "c" or first == "l":
                    self.reactive(card, low, ctx, first)
                elif first == "k":
                    self.coupling(card, low, ctx)
                elif first == "s" or first == "w":
                    self.switch(card, low, ctx, first)
                else:
                    raise _unknown_element(card, low, first)
        except NodeTokenError as bad:  # a node token ngspice would split in two
            raise _node_token_error(card, str(bad)) from None

    def reactive(self, card: Card, low: str, ctx: Context, kind: str) -> None:
        """``C``: open at DC (its nodes exist); ``L``: a short (a 0 V branch whose current
        ngspice reports as ``l<name>#branch``).  Values and parameters do not matter at DC."""
        toks = self.tokens(card, low)
        hint = "expected: " + EXPECTED[kind]
        if len(toks) < 3:
            raise self.missing(card, toks, "node", hint)
        for t in (toks[1], toks[2]):
            if t[0] == "=" or t[0][0] in "{'(":
                raise err(card, t[1], f"expected a node name, found {t[0]!r}", hint)
        full = ctx.prefix + toks[0][0]
        a, b = self.node(toks[1][0], ctx), self.node(toks[2][0], ctx)
        if kind == "c":
            self.register(full, card)
            self.instances.add(full)  # not an element of the DC circuit
            self.open_elements.append((full, a, b))
            return
        self.register(full, card, ctx.prefix)
        v = self.v
        v.name.append(full)
        v.npos.append(a)
        v.nneg.append(b)
        v.value.append(0.0)

    def mosfet(self, card: Card, low: str, ctx: Context) -> None:
        """``M<name> d g s b <model> [L= W= AD= AS= PD= PS= NRD= NRS= M= OFF IC= TEMP=
        DTEMP=]``: recorded now, turned into engine devices when the circuit is made."""
        hint = "expected: " + EXPECTED["m"]
        toks = self.tokens(card, low)
        if len(toks) < 6:
            raise self.missing(card, toks, "node or model name", hint)
        for t in toks[1:5]:
            if t[0] == "=" or t[0][0] in "{'(":
                raise err(card, t[1], f"expected a node name, found {t[0]!r}", hint)
        mname, moff = toks[5]
        found = self.defined_model(
            card, mname, moff, ctx, f"define it with .model {mname} NMOS(LEVEL=1 VTO=... KP=...)"
        )
        model = self.instance_model(found, ctx)
        if not isinstance(model, MosModel):
            kind = getattr(model, "type", "d").upper()
            level = getattr(model, "level", 1.0)
            raise err(
                card,
                moff,
                f"MOSFET {toks[0][0]} uses model {mname!r} of type {kind}"
                f"{f' (LEVEL={level:g})' if kind in ('NMOS', 'PMOS') else ''}, which "
                "xbar does not simulate",
                "xbar simulates NMOS/PMOS level 1",
            )
        inst = self.instance_params(
            card,
            toks[6:],
            ctx,
            _MOS_INSTANCE,
            "MOSFET instance parameters: l w ad as pd ps nrd nrs m off ic temp dtemp",
            hint,
            vector_ic=True,
        )
        inst = dict(model.defaults) | inst  # instance parameters on the model card
        full = ctx.prefix + toks[0][0]
        self.register(full, card)
        nodes = [self.node(t[0], ctx) for t in toks[1:5]]
        self.mos_rows.append((full, nodes, model, inst, card))

    def coupling(self, card: Card, low: str, ctx: Context) -> None:
        """``K<name> L1 L2 <k>``: mutual inductance, no effect at DC."""
        toks = self.tokens(card, low)
        if len(toks) < 4:
            raise self.missing(card, toks, "inductor or coupling", "expected: " + EXPECTED["k"])
        full = ctx.prefix + toks[0][0]
        self.register(full, card)
        self.instances.add(full)
        # the inductors may come later in the file: checked when the circuit is made
        self.couplings.append((ctx.prefix, toks[1], toks[2], card))

    def tokens(self, card: Card, low: str) -> list[tuple[str, int]]:
        return split_tokens(card, low)

    def fast_tokens(self, card: Card, low: str, n: int):
        """Plain whitespace split when the card has no special characters."""
        if "{" in low or "'" in low or "=" in low or "," in low:
            return self.tokens(card, low)
        parts = low.split()
        if len(parts) == n:
            return parts
        return self.tokens(card, low)

    def resistor(self, card: Card, low: str, ctx: Context) -> None:
        if ("{" in low or "'" in low) and _RUNTIME.search(low):
            self.behavioural_resistor(card, low, ctx)
            return
        toks = self.fast_tokens(card, low, 4)
        hint = "expected: " + EXPECTED["r"]
        thermal = None
        if isinstance(toks[0], str):  # fast path: 4 plain tokens
            name, a, b, val = toks
            value, _ = try_parse_value(val)
            if value is None:
                toks = self.tokens(card, low)
                if val[0] not in "{'" and ctx.scope.model(val) is not None:  # R1 a b rmodel
                    value, thermal = self.resistor_params(card, toks[3:], ctx, hint)
                else:
                    value = self.value(card, toks[3], ctx.params)
        else:
            if len(toks) < 3:
                raise self.missing(card, toks, "node", hint)
            name, a, b = toks[0][0], toks[1][0], toks[2][0]
            for t in (toks[1], toks[2]):
                if t[0] == "=" or t[0][0] in "{'":
                    raise err(card, t[1], f"expected a node name, found {t[0]!r}", hint)
            value, thermal = self.resistor_params(card, toks[3:], ctx, hint)
        full = ctx.prefix + name
        if value is None or value == 0.0:
            self.note(
                card,
                f"{full}: resistance {'0' if value == 0.0 else 'not given'}, set to "
                "1 mOhm (as ngspice)",
            )
            value = 1e-3
        self.register(full, card)
        r = self.r
        if thermal is not None:
            self.r_thermal.append((len(r.name), *thermal))
        r.name.append(full)
        r.npos.append(self.node(a, ctx))
        r.nneg.append(self.node(b, ctx))
        r.value.append(value)

    def behavioural_resistor(self, card: Card, low: str, ctx: Context) -> None:
        """``R<name> n+ n- {expr}`` or ``R=<expr>`` whose expression reads node voltages or
        currents: ngspice-39 makes it a B source ``I = v(n+, n-) /
        (expr)`` with the resistor's M (multiplying the current) and TC1/TC2 (dividing
        it: ``reciproctc``, from the circuit temperature; the card's TEMP and DTEMP are
        dropped there, noted here)."""
        hint = "expected: R<name> <n+> <n-> {<expression>} [m=] [tc1=] [tc2=]"
        toks = self.tokens(card, low)
        if len(toks) < 4:
            raise self.missing(card, toks, "node or value", hint)
        rest = toks[3:]
        if rest[0][0] in ("r", "resistance") and len(rest) > 2 and rest[1][0] == "=":
            rest = rest[2:]
        value, voff = rest[0]
        if value[0] not in "{'" or value[-1] != ("}" if value[0] == "{" else "'"):
            raise err(card, voff, f"expected a braced expression, found {value!r}", hint)
        params: dict[str, float] = {"reciproctc": 1.0}
        rest = rest[1:]
        while rest:
            key, off = rest[0]
            if len(rest) < 3 or rest[1][0] != "=":
                raise err(card, off, f"unexpected {key!r}", hint)
            if key in ("temp", "dtemp"):
                self.note(card, f"{key}= ignored on a resistor with an expression (as ngspice-39)")
            elif key in ("m", "tc1", "tc2"):
                params[key] = self.value(card, rest[2], ctx.params)
            else:
                raise err(card, off, f"{key!r} on a resistor with an expression", hint)
            rest = rest[3:]
        a, b = toks[1][0], toks[2][0]
        expr = self.expression(card, f"v({a},{b})/({value[1:-1]})", voff + 1, ctx)
        full = ctx.prefix + toks[0][0]
        self.register(full, card)
        self.add_bsource(card, full, self.node(a, ctx), self.node(b, ctx), expr, ctx)
        self.b[-1].conductive = True
        self.b_scales.append((self.b[-1], params))

    def resistor_params(self, card: Card, rest, ctx: Context, hint: str):
        """Value and ``(tc1, tc2, temp or None, dtemp, tnom or None, tce or None)`` (None
        without TC)
        of a resistor card's fields after its nodes (value, model, parameters)."""
        value, model = None, None
        while rest and (len(rest) == 1 or rest[1][0] != "=") and rest[0][0] not in _R_FLAGS:
            tok, off = rest[0]
            found = ctx.scope.model(tok) if tok[0] not in "{'" else None
            if found is not None and model is None:
                model = self.resistor_model(card, found, tok, off, ctx)
            elif value is None:
                value = self.value(card, rest[0], ctx.params)
            else:
                raise err(card, off, f"unexpected {tok!r}", hint)
            rest = rest[1:]
        got: dict[str, float] = {}
        while rest:
            key, off = rest[0]
            if key in _R_FLAGS and (len(rest) < 2 or rest[1][0] != "="):  # no DC effect
                rest = rest[1:]
                continue
            if len(rest) < 3 or rest[1][0] != "=":
                raise err(card, off, f"unexpected {key!r}", hint)
            if key not in _RESISTOR_PARAMS:
                raise err(
                    card,
                    off,
                    f"resistor parameter {key!r} is not supported",
                    "supported: r (resistance) tc1 tc2 (tc) temp dtemp m; ac and noisy "
                    "have no effect on DC",
                )
            got[_RESISTOR_PARAMS[key]] = self.value(card, rest[2], ctx.params)
            end = rest[2][1] + len(rest[2][0])
            rest = rest[3:]
            if (
                key == "tc"
                and rest
                and (len(rest) == 1 or rest[1][0] != "=")
                and "," in card.text[end : rest[0][1]]
            ):  # ngspice's "tc=<tc1>, <tc2>"
                got["tc2"] = self.value(card, rest[0], ctx.params)
                rest = rest[1:]
        mp = model.params if model is not None else {}
        if model is not None:  # instance parameters on the model card: instance defaults
            got = {_RESISTOR_PARAMS[k]: v for k, v in model.defaults.items()} | got
        value = got.get("r", value)
        if value is None and mp.get("rsh", 0.0):
            # ngspice: RSH (L - 2 SHORT) / (W - 2 NARROW), instance L and W times .options
            # scale, else the model's L and W (DEFW), both 10 um unless given
            s = self.geometry_scale
            length = got["l"] * s if "l" in got else _r_model(mp, "l")
            width = got["w"] * s if "w" in got else _r_model(mp, "defw")
            width -= 2 * _r_model(mp, "narrow")
            value = mp["rsh"] * (length - 2 * _r_model(mp, "short")) / width
        elif value is None and ("r" in mp or "res" in mp):
            value = _r_model(mp, "r")  # the model's default resistance
        keys = ("tc1", "tc2", "tnom", "tce")
        mp = {k: _r_model(mp, k) for k in keys if _r_model(mp, k) is not None}
        for key in ("tc1", "tc2", "tce"):
            if key not in got and (mp.get(key) or key == "tce" and key in mp):
                got[key] = mp[key]
        if "scale" in got and value is not None:  # ngspice: R = value * scale / m
            if got["scale"] <= 0:
                raise err(card, None, "resistor scale must be positive", hint)
            value = value * got["scale"]
        if "m" in got and value is not None:
            if got["m"] <= 0:
                raise err(card, None, "resistor multiplier m must be positive", hint)
            value = value / got["m"]
        if not (got.get("tc1") or got.get("tc2") or "tce" in got):
            return value, None
        return value, (
            got.get("tc1", 0.0),
            got.get("tc2", 0.0),
            got.get("temp"),
            got.get("dtemp", 0.0),
            mp.get("tnom"),
            got.get("tce"),
        )

    def resistor_model(self, card: Card, found, name: str, off: int, ctx: Context):
        """The ``.model <name> R(...)`` a resistor names (TC1 TC2 TNOM RSH DEFW NARROW SHORT)."""
        model = self.instance_model(found, ctx)
        if getattr(model, "type", None) not in ("r", "res"):
            raise err(card, off, f"resistor uses model {name!r}, which is not an R model")
        return model

    def offset(self, card: Card, low: str, k: int) -> int | None:
        toks = self.tokens(card, low)
        return toks[k][1] if k < len(toks) else None

    def missing(self, card: Card, toks, what: str, hint: str) -> NetlistError:
        end = len(card.text.rstrip())
        return err(card, end, f"missing {what} on {toks[0][0]!r}", hint)

    def source(self, card: Card, low: str, ctx: Context, kind: str) -> None:
        hint = "expected: " + EXPECTED[kind]
        toks = self.fast_tokens(card, low, 4)
        value = None
        if isinstance(toks[0], str):  # fast path: "V1 a b <number>"
            name, a, b, val = toks
            value, _ = try_parse_value(val)
            if value is None:
                toks = self.tokens(card, low)
        if value is None:
            if len(toks) < 3:
                raise self.missing(card, toks, "node", hint)
            name, a, b = toks[0][0], toks[1][0], toks[2][0]
            for t in (toks[1], toks[2]):
                if t[0] == "=" or t[0][0] in "{'(":
                    raise err(card, t[1], f"expected a node name, found {t[0]!r}", hint)
            mult = 1.0
            at = [j for j in range(3, len(toks) - 2) if toks[j][0] == "m" and toks[j + 1][0] == "="]
            if kind == "i" and at:  # ngspice's parallel multiplier, anywhere after the nodes
                j = at[0]
                mult = self.multiplier(card, toks[: j + 3], j, ctx)
                toks = toks[:j] + toks[j + 3 :]
            value, at_zero = self.source_value(card, toks, ctx, hint)
            value *= mult
            if at_zero is not None:  # the operating point before a .tran uses it (ngspice)
                tab = self.v if kind == "v" else self.i
                self.time_zero.append((kind, len(tab.name), at_zero * mult, card))
        full = ctx.prefix + name
        self.register(full, card, ctx.prefix)
        tab = self.v if kind == "v" else self.i
        tab.name.append(full)
        tab.npos.append(self.node(a, ctx))
        tab.nneg.append(self.node(b, ctx))
        tab.value.append(value)

    def source_value(self, card: Card, toks, ctx: Context, hint: str) -> tuple[float, float | None]:
        """DC value of a source card (its DC value, else its waveform at time zero, else
        0), and its waveform's value at time zero when it has both (else None): ngspice's
        operating point before a transient takes that one."""
        spec = parse_source_spec(card, toks[3:], hint)
        name = ctx.prefix + toks[0][0]
        if spec.waveform is not None:
            args = [self.value(card, t, ctx.params) for t in spec.args]
            at_zero = time_zero_value(spec.waveform, args)
            if spec.dc is not None:
                return self.value(card, spec.dc, ctx.params), at_zero
            self.note(
                card,
                f"{name}: no DC value, {spec.waveform.upper()} value at time 0 used (as ngspice)",
            )
            return at_zero, None
        if spec.dc is not None:
            return self.value(card, spec.dc, ctx.params), None
        self.note(card, f"{name}: no DC value, 0 assumed (as ngspice)")
        return 0.0, None

    def controlled(self, card: Card, low: str, ctx: Context, kind: str) -> None:
        hint = "expected: " + EXPECTED[kind]
        toks = self.tokens(card, low)
        if len(toks) > 3 and toks[3][0] in ("value", "vol", "cur"):
            self.behavioural_controlled(card, low, toks, ctx, kind)
            return
        if len(toks) > 3 and (toks[3][0] == "poly" or toks[3][0].startswith("poly(")):
            self.poly_controlled(card, toks, ctx, kind)
            return
        if len(toks) > 3 and toks[3][0] in ("table", "table{"):
            self.table_controlled(card, low, toks, ctx, kind)
            return
        toks = _unparen_controls(toks)
        for k, t in enumerate(toks[1:6], start=1):
            if t[0] in ("poly", "value", "vol", "cur", "table") or t[0].startswith("poly("):
                raise err(
                    card,
                    t[1],
                    f"{t[0].upper()} forms of {kind.upper()} sources are not supported",
                    hint + " (or a B source for nonlinear dependence)",
                )
            if k < 5 and (t[0] == "=" or t[0][0] in "{'"):
                raise err(card, t[1], f"expected a node name, found {t[0]!r}", hint)
        if len(toks) < 5:
            raise self.missing(card, toks, "node", hint)
        if len(toks) < 6:
            raise self.missing(card, toks, "gain" if kind == "e" else "transconductance", hint)
        mult = self.multiplier(card, toks, 6, ctx) if kind == "g" else 1.0
        if len(toks) > 6 and mult == 1.0 and not (len(toks) == 9 and toks[6][0] == "m"):
            raise err(card, toks[6][1], f"unexpected {toks[6][0]!r}", hint)
        gain = self.value(card, toks[5], ctx.params) * mult
        full = ctx.prefix + toks[0][0]
        self.register(full, card, ctx.prefix)
        tab = self.g if kind == "g" else self.e
        tab.name.append(full)
        for col, t in zip((tab.npos, tab.nneg, tab.cpos, tab.cneg), toks[1:5], strict=True):
            col.append(self.node(t[0], ctx))
        tab.gain.append(gain)

    def multiplier(self, card: Card, toks, k: int, ctx: Context) -> float:
        """The ``m=<value>`` that ends ``toks`` at index ``k`` (ngspice's parallel multiplier
        of I, G and F sources), or 1 without one."""
        if len(toks) != k + 3 or toks[k][0] != "m" or toks[k + 1][0] != "=":
            return 1.0
        m = self.value(card, toks[k + 2], ctx.params)
        if not m > 0:
            raise err(card, toks[k + 2][1], "multiplier m must be positive")
        return m

    def diode(self, card: Card, low: str, ctx: Context) -> None:
        hint = "expected: " + EXPECTED["d"]
        toks = self.tokens(card, low)
        if len(toks) < 3:
            raise self.missing(card, toks, "node", hint)
        if len(toks) < 4:
            raise self.missing(card, toks, "model name", hint)
        mname, moff = toks[3]
        rest = toks[4:]
        if (
            rest
            and (len(rest) == 1 or rest[1][0] != "=")
            and (rest[0][0][0] in "{'" or try_parse_value(rest[0][0])[0] is not None)
        ):
            # ngspice-39 rejects a positional area ("could not find a valid modelname"),
            # so the same file would not run there
            raise err(
                card,
                rest[0][1],
                f"diode {toks[0][0]}: a positional area "
                f"({rest[0][0]!r}) is not accepted (ngspice rejects it too)",
                f"write area={rest[0][0]}; expected: " + EXPECTED["d"],
            )
        inst = self.instance_params(
            card,
            rest,
            ctx,
            _DIODE_INSTANCE,
            "diode instance parameters: area, pj, m, temp, dtemp, off, ic, w, l",
            hint,
        )
        found = self.defined_model(
            card, mname, moff, ctx, f"define it with .model {mname} D(IS=... N=...)"
        )
        model = self.instance_model(found, ctx)
        full = ctx.prefix + toks[0][0]
        self.register(full, card)
        if not isinstance(model, DiodeModel):
            raise err(
                card,
                moff,
                f"diode {toks[0][0]} uses model {mname!r} of type "
                f"{getattr(model, 'type', '?').upper()}, not D",
                hint,
            )
        inst = dict(model.defaults) | inst  # instance parameters on the model card
        area = inst.get("area", 1.0)
        if inst.get("m", 1.0) <= 0:
            raise err(card, None, f"diode {toks[0][0]}: multiplier m must be positive", hint)
        area *= inst.get("m", 1.0)  # m parallel diodes: currents m times, RS / m, as area
        if area <= 0:
            raise err(
                card, toks[4][1] if len(toks) > 4 else None, "diode area must be positive", hint
            )
        d = self.d
        d.temp.append(inst.get("temp", float("nan")))
        d.dtemp.append(inst.get("dtemp", 0.0))
        d.name.append(full)
        d.npos.append(self.node(toks[1][0], ctx))
        d.nneg.append(self.node(toks[2][0], ctx))
        d.model.append(model)
        d.area.append(area)

    def defined_model(self, card: Card, mname: str, moff: int, ctx: Context, hint: str):
        """The ``.model`` named ``mname`` (at column ``moff`` of ``card``) visible in ``ctx``'s
        scope; an undefined one is an error there, with ``hint`` on how to define it."""
        found = ctx.scope.model(mname)
        if found is None:
            raise err(card, moff, f"undefined model {mname!r}", hint)
        return found

    def instance_model(self, found, ctx: Context):
        """The model of a ``.model`` card ``found`` for an instance in ``ctx``: as parsed, or,
        for a model inside a subcircuit, its values with this instance's parameters
        (parsed once per card and parameter set)."""
        if found.model is not None:
            return found.model
        key = (id(found.card), ctx.pkey)
        model = self.model_cache.get(key)
        if model is None:
            model = self.model_cache[key] = self.parse_model(found.card, ctx.params)[1]
        return model

    def switch_model(self, card: Card, kind: str, mname: str, moff: int, ctx: Context, hint: str):
        """``(threshold, hysteresis, ron, roff, on)`` of the SW (``kind`` s) or CSW (w) model
        ``mname`` a switch card names; ngspice's defaults ``ron`` 1, ``roff`` 1/GMIN; ``on``:
        the model card sets the instances' initial state to on (``on=1``)."""
        mtype = "sw" if kind == "s" else "csw"
        found = self.defined_model(
            card, mname, moff, ctx, f"define it with .model {mname} {mtype.upper()}(...)"
        )
        model = self.instance_model(found, ctx)
        if getattr(model, "type", None) != mtype:
            raise err(
                card,
                moff,
                f"{kind.upper()} switch uses model {mname!r}, which is not a {mtype.upper()} model",
                hint,
            )
        p = model.params
        t, h = (
            (p.get("vt", 0.0), p.get("vh", 0.0))
            if kind == "s"
            else (p.get("it", 0.0), p.get("ih", 0.0))
        )
        if h < 0:
            raise err(
                card,
                moff,
                f"switch model {mname}: a negative hysteresis (ngspice's smooth transition) "
                "is not supported",
                "supported: vt vh ron roff (it ih for CSW), vh >= 0",
            )
        ron = p.get("ron", 1.0)
        roff = p.get("roff", 1.0 / self.options.gmin if self.options.gmin > 0 else 1e12)
        if not (ron > 0 and roff > 0):
            raise err(card, moff, f"switch model {mname}: ron and roff must be positive", hint)
        return t, h, ron, roff, "on" in model.defaults and "off" not in model.defaults

    def switch(self, card: Card, low: str, ctx: Context, kind: str) -> None:
        """``S<name> n+ n- nc+ nc- <model> [on|off]`` (``.model <m> SW vt vh ron roff``) and
        ``W<name> n+ n- <vsource> <model> [on|off]`` (``CSW it ih ron roff``), as ngspice's
        swload.c runs them in DC: a conductance whose state Newton updates from the
        control value of each iterate (:class:`~xbar.spice.devices.SwitchConductance`):
        on above ``vt + vh``, off below ``vt - vh``, between them as it was (first the
        declared ``on``/``off``); with ``vh = 0`` on from ``vt`` up."""
        if re.match(r"simulator\s+lang\s*=", low.lstrip()):
            raise err(
                card,
                None,
                "'simulator lang=...' switches to Spectre's netlist language, which neither "
                "ngspice nor xbar reads",
                "write the netlist in SPICE syntax (ngspice stops here too)",
            )
        n_ctl = 2 if kind == "s" else 1
        hint = f"expected: {kind.upper()}<name> <n+> <n-> " + (
            "<nc+> <nc-> <model> [on|off]" if kind == "s" else "<vsource> <model> [on|off]"
        )
        toks = self.tokens(card, low)
        if len(toks) < 4 + n_ctl:
            raise self.missing(card, toks, "node, control or model", hint)
        mname, moff = toks[3 + n_ctl]
        extra = toks[4 + n_ctl :]
        if len(extra) > 1 or (extra and extra[0][0] not in ("on", "off")):
            raise err(card, extra[0][1], f"unexpected {extra[0][0]!r}", hint)
        t, h, ron, roff, model_on = self.switch_model(card, kind, mname, moff, ctx, hint)
        initially_on = extra[0][0] == "on" if extra else model_on
        ctl = (toks[3][0], toks[4][0]) if kind == "s" else ("#i", toks[3][0])
        expr = SwitchConductance(
            t, h, 1.0 / ron, 1.0 / roff, initially_on, [(toks[1][0], toks[2][0]), ctl]
        )
        full = ctx.prefix + toks[0][0]
        self.register(full, card)
        self.add_bsource(
            card, full, self.node(toks[1][0], ctx), self.node(toks[2][0], ctx), expr, ctx
        )
        self.b[-1].conductive = True

    def bsource(self, card: Card, low: str, ctx: Context) -> None:
        parts = low.split(None, 3)
        if (
            len(parts) == 4
            and parts[3][:2] == "i="
            and "=" not in parts[1]
            and "=" not in parts[2]
            and parts[3][2:3] not in ("", "{", "'", " ", "\t")
            and ("=" not in parts[3][2:] or _B_PARAM.search(parts[3]) is None)
        ):
            # fast path: "B<name> <n+> <n-> I=<expr>" with an unquoted expression; the
            # card text is right-stripped, so the expression is its suffix
            name, a, b, rest = parts
            etext = rest[2:]
            start = len(low) - len(etext)
            expr = self.expression(card, card.text[start:], start, ctx, etext)
            full = ctx.prefix + name
            self.register(full, card)
            self.add_bsource(card, full, self.node(a, ctx), self.node(b, ctx), expr, ctx)
            return
        hint = "expected: " + EXPECTED["b"]
        if len(parts) < 3:
            raise err(card, len(card.text.rstrip()), f"missing node on {parts[0]!r}", hint)
        name, a, b = parts[0], parts[1], parts[2]
        if "=" in a or "=" in b:
            off = _THIRD.match(low).end() if "=" in b else _THIRD.match(low).start(1)
            raise err(card, off, "missing node before the expression", hint)
        if len(parts) < 4:
            raise err(card, len(card.text.rstrip()), f"missing I=<expression> on {name!r}", hint)
        rest = parts[3]
        roff = _FOURTH.match(low).end()
        m = re.match(r"([a-z]+)\s*=\s*", rest)
        if m is None:
            raise err(card, roff, f"expected I=<expression>, found {rest.split()[0]!r}", hint)
        key = m.group(1)
        if key not in ("i", "v"):
            raise err(card, roff, f"unknown B source parameter {key!r}", hint)
        eoff = roff + m.end()
        expr_text, scale = self.b_instance_params(card, card.text[eoff:].rstrip(), eoff, ctx)
        if not expr_text:
            raise err(card, eoff, f"missing expression after {key.upper()}=", hint)
        if expr_text[0] in "{'" and expr_text[-1] == ("}" if expr_text[0] == "{" else "'"):
            expr_text = expr_text[1:-1]
            eoff += 1
        expr = self.expression(card, expr_text, eoff, ctx)
        full = ctx.prefix + name
        if key == "i":
            self.register(full, card)
            self.add_bsource(card, full, self.node(a, ctx), self.node(b, ctx), expr, ctx)
        else:
            self.voltage_branch(card, full, self.node(a, ctx), self.node(b, ctx), expr, ctx)
        if scale:
            self.b_scales.append((self.b[-1], scale))

    def b_instance_params(self, card: Card, text: str, off: int, ctx: Context):
        """Split ``<expression> [m=] [tc1=] [tc2=] [temp=] [dtemp=]`` (a B source's, or an
        E/G ``VALUE=`` source's) into the expression text and its parameters (a dict, empty
        when none).  ngspice multiplies the value, of a ``V=`` source too, by
        ``m * (1 + tc1 dT + tc2 dT^2)``, ``dT = (temp, else circuit + dtemp) - tnom``."""
        first = None
        depth = 0
        for mt in _B_PARAM.finditer(text):
            depth = sum(text.count(c, 0, mt.start()) for c in "({") - sum(
                text.count(c, 0, mt.start()) for c in ")}"
            )
            if depth == 0:
                first = mt
                break
        if first is None:
            return text, {}
        params: dict[str, float] = {}
        rest = text[first.start() :]
        base = off + first.start()
        pos = 0
        hint = "expected: <expression> [m=<n>] [tc1=<1/K>] [tc2=<1/K^2>] [temp=<C>] [dtemp=<K>]"
        while pos < len(rest):
            kv = _B_ASSIGN.match(rest, pos)
            if kv is None:
                raise err(card, base + pos, f"unexpected {rest[pos:].split()[0]!r}", hint)
            key = kv.group(1).lower()
            if key not in _B_PARAMS:
                raise err(card, base + kv.start(1), f"unknown B source parameter {key!r}", hint)
            params[key] = self.value(card, (kv.group(2), base + kv.start(2)), ctx.params)
            pos = kv.end()
        return text[: first.start()].rstrip(), params

    def behavioural_controlled(self, card: Card, low: str, toks, ctx: Context, kind: str) -> None:
        """``E<name> n+ n- VALUE={expr}`` / ``VOL=`` and ``G<name> n+ n- VALUE={expr}`` /
        ``CUR=``: what ngspice turns into ``B n+ n- V=expr`` / ``I=expr``."""
        key, koff = toks[3]
        hint = f"expected: {kind.upper()}<name> <n+> <n-> VALUE={{expression}}"
        if (kind, key) in (("e", "cur"), ("g", "vol")):
            right = "G" if key == "cur" else "E"
            raise err(card, koff, f"{key.upper()}= belongs to {right} sources", hint)
        m = re.compile(r"\s*=\s*").match(low, koff + len(key))
        if m is None:
            raise err(card, koff + len(key), f"expected {key.upper()}=<expression>", hint)
        eoff = m.end()
        text, scale = self.b_instance_params(card, card.text[eoff:].rstrip(), eoff, ctx)
        if not text:
            raise err(card, eoff, f"missing expression after {key.upper()}=", hint)
        if text[0] in "{'" and text[-1] == ("}" if text[0] == "{" else "'"):
            text, eoff = text[1:-1], eoff + 1
        expr = self.expression(card, text, eoff, ctx)
        self.controlled_output(card, toks, expr, ctx, current=kind == "g")
        if scale:
            self.b_scales.append((self.b[-1], scale))

    def table_controlled(self, card: Card, low: str, toks, ctx: Context, kind: str) -> None:
        """``E/G<name> n+ n- TABLE {expr} = (x0, y0) (x1, y1) ...``: as ngspice runs it, the
        XSPICE pwl model of the expression (flat beyond the table, corners rounded; see
        :func:`xbar.spice.expr._xspice_pwl`'s ``xspice_pwl``), then a gain of 1."""
        hint = (
            f"expected: {kind.upper()}<name> <n+> <n-> TABLE {{expression}} = (x0, y0) (x1, y1) ..."
        )
        start = toks[3][1] + len("table")
        m = re.compile(r"\s*\{").match(card.text, start)
        if m is None:
            raise err(card, start, "expected {expression} after TABLE", hint)
        depth, k = 0, m.end() - 1
        while k < len(card.text):
            depth += {"{": 1, "}": -1}.get(card.text[k], 0)
            if depth == 0:
                break
            k += 1
        if depth:
            raise err(card, m.end() - 1, "unbalanced braces in the TABLE expression", hint)
        eoff, inner = m.end(), card.text[m.end() : k]
        self.expression(card, inner, eoff, ctx)  # located errors in the expression itself
        rest = card.text[k + 1 :]
        nums = [
            (t.group(0), k + 1 + t.start())
            for t in re.finditer(r"\{[^}]*\}|'[^']*'|[^\s(),=]+", rest)
        ]
        if len(nums) < 4 or len(nums) % 2:
            at = nums[-1][1] if nums else k + 1
            raise err(
                card, at, f"TABLE needs two or more (x, y) pairs, found {len(nums)} values", hint
            )
        values = [self.value(card, t, ctx.params) for t in nums]
        xs = values[0::2]
        for j in range(1, len(xs)):
            if not xs[j] > xs[j - 1]:
                raise err(card, nums[2 * j][1], "TABLE x values must ascend", hint)
        text = f"xspice_pwl({inner}, {', '.join(repr(v) for v in values)})"
        expr = self.expression(card, text, eoff, ctx)
        self.controlled_output(card, toks, expr, ctx, current=kind == "g")

    def poly_controlled(self, card: Card, toks, ctx: Context, kind: str) -> None:
        """SPICE's polynomial sources, as the B sources ngspice makes of them:
        ``E/G<name> n+ n- POLY(nd) nc1+ nc1- ... p0 p1 ...`` (voltage controls, pairs may
        be written ``(nc1+,nc1-)``) and ``F/H<name> n+ n- POLY(nd) v1 ... p0 p1 ...``
        (currents of V sources).  Coefficients in SPICE2's order (:func:`poly_terms`); a
        single coefficient is the constant ``p0``, as ngspice-39 reads it (SPICE2 took it
        as the linear one)."""
        hint = (
            f"expected: {kind.upper()}<name> <n+> <n-> POLY(<n>) "
            + ("<nc+> <nc-> ..." if kind in "eg" else "<vsource> ...")
            + " <p0> <p1> ..."
        )
        head, hoff = toks[3]
        rest = toks[4:]
        if head == "poly" and len(rest) >= 3 and rest[0][0] == "(" and rest[2][0] == ")":
            head, rest = f"poly({rest[1][0]})", rest[3:]
        m = re.fullmatch(r"poly\((\d+)\)", head)
        if m is None or int(m.group(1)) < 1:
            raise err(card, hoff, "expected POLY(<number of controls>), e.g. POLY(2)", hint)
        nd = int(m.group(1))
        items = []
        for t, o in rest:
            name = t.strip("()")
            if name:
                items.append((name, o + len(t) - len(t.lstrip("("))))
        per = 2 if kind in "eg" else 1
        ctl, coef_toks = items[: per * nd], items[per * nd :]
        if len(ctl) < per * nd or not coef_toks:
            what = "coefficient" if len(ctl) == per * nd else "control node or source"
            raise err(card, len(card.text.rstrip()), f"POLY({nd}): missing {what}", hint)
        if sum(map(len, poly_terms(nd, len(coef_toks)))) > MAX_POLY_FACTORS:
            raise err(
                card,
                coef_toks[0][1],
                f"POLY({nd}) with {len(coef_toks)} coefficients has more than "
                f"{MAX_POLY_FACTORS} factors in its terms",
                "split it into several sources, or write a B source with a shorter formula",
            )
        coefs = [self.value(card, t, ctx.params) for t in coef_toks]
        if per == 2:
            controls = tuple((ctl[2 * k][0], ctl[2 * k + 1][0]) for k in range(nd))
        else:
            controls = tuple(("#i", name) for name, _ in ctl)
        expr = compile_expression(*poly_text(coefs, nd)).with_controls(card.text, controls)
        self.controlled_output(card, toks, expr, ctx, current=kind in "gf")

    def controlled_output(self, card: Card, toks, expr, ctx: Context, current: bool) -> None:
        """The output branch of a controlled source between its first two nodes: a current
        ``expr`` (G, F kinds: a B current source) or a voltage (E, H kinds)."""
        full = ctx.prefix + toks[0][0]
        a, b = self.node(toks[1][0], ctx), self.node(toks[2][0], ctx)
        if current:
            self.register(full, card)
            self.add_bsource(card, full, a, b, expr, ctx)
        else:
            self.voltage_branch(card, full, a, b, expr, ctx)

    def voltage_branch(self, card: Card, full: str, a: int, b: int, expr, ctx: Context) -> None:
        """A branch ``V(a) - V(b) = expr`` (``B ... V=``, ``H``): a 0 V source whose branch
        equation gets the expression (a behavioural source into the branch row)."""
        self.register(full, card, ctx.prefix)
        v = self.v
        j = len(v.name)
        v.name.append(full)
        v.npos.append(a)
        v.nneg.append(b)
        v.value.append(0.0)
        self.add_bsource(card, full, 0, -(j + 1), expr, ctx)

    def add_bsource(self, card: Card, full: str, a: int, b: int, expr, ctx: Context) -> None:
        """Append a behavioural source (:meth:`make_bsource`) to the circuit's."""
        self.b.append(self.make_bsource(card, full, a, b, expr, ctx))

    def make_bsource(self, card: Card, full: str, a: int, b: int, expr, ctx: Context) -> BSource:
        """A behavioural source; controls ``V(p,q)`` become node pairs and ``I(vx)`` a
        branch reference resolved once every source is known."""
        controls: list = []
        branch = False
        for p, q in expr.controls:
            if p == "#i":
                controls.append((("i", ctx.prefix + q, card), 0))
                branch = True
            else:
                controls.append((self.node(p, ctx), self.node(q, ctx)))
        src = BSource(full, a, b, expr, controls)
        if branch:
            self.branch_controls.append((src, card))
        return src

    def current_controlled(self, card: Card, low: str, ctx: Context, kind: str) -> None:
        """``F<name> n+ n- <vsource> <gain>`` (current) and ``H<name> n+ n- <vsource>
        <transresistance>`` (voltage), through behavioural sources of ``gain*I(vsource)``."""
        hint = "expected: " + EXPECTED[kind]
        toks = self.tokens(card, low)
        if len(toks) > 3 and (toks[3][0] == "poly" or toks[3][0].startswith("poly(")):
            self.poly_controlled(card, toks, ctx, kind)
            return
        for t in toks[1:5]:
            if t[0] in ("poly", "value", "table") or t[0].startswith("poly("):
                raise err(
                    card,
                    t[1],
                    f"{t[0].upper()} forms of {kind.upper()} sources are not supported",
                    hint + " (or a B source with I(<vsource>))",
                )
        if len(toks) < 4:
            raise self.missing(card, toks, "node or controlling source", hint)
        if len(toks) < 5:
            raise self.missing(card, toks, "gain", hint)
        mult = self.multiplier(card, toks, 5, ctx) if kind == "f" else 1.0
        if len(toks) > 5 and not (kind == "f" and len(toks) == 8 and toks[5][0] == "m"):
            raise err(card, toks[5][1], f"unexpected {toks[5][0]!r}", hint)
        gain = self.value(card, toks[4], ctx.params) * mult
        expr = compile_expression("g*v(_0)", {"g": gain}).with_controls(
            f"{gain!r}*i({toks[3][0]})", (("#i", toks[3][0]),)
        )
        self.controlled_output(card, toks, expr, ctx, current=kind == "f")

    def expression(self, card: Card, text: str, off: int, ctx: Context, low: str | None = None):
        """Parse a B expression, sharing compiled code between equal templates.

        ``.func`` calls are expanded; the ``V(...)`` and ``I(...)`` arguments are
        replaced by placeholders ``v(_k)``; the compiled template is cached per
        parameter set, and each source gets its own controls (node pairs, or
        ``("#i", source)`` for a branch current).
        """
        src = text.lower() if low is None else low
        if self.funcs:
            src = self.expand_text(src, card)
        pieces = _CTRL_CALL.split(src)
        controls: list[tuple[str, str]] = []
        out = [pieces[0]]
        seen: dict[tuple, int] = {}
        for j in range(1, len(pieces), 3):
            letter, inner, after = pieces[j], pieces[j + 1], pieces[j + 2]
            flat = "".join(inner.split())
            parts = flat.split(",")
            if len(parts) > (2 if letter == "v" else 1) or not all(parts):
                out.append(f"{letter}({inner})")  # malformed: the parser reports it
            else:
                ctl = (
                    (parts[0], parts[1] if len(parts) > 1 else "0")
                    if letter == "v"
                    else ("#i", parts[0])
                )
                k = seen.get(ctl)
                if k is None:
                    k = seen[ctl] = len(seen)
                    controls.append(ctl)
                out.append(f"v(_{k})")
            out.append(after)
        template = "".join(out)
        key = (template, ctx.pkey)
        cached = self.expr_cache.get(key)
        if cached is None:
            params = ctx.params
            if any(params.get(k) != v for k, v in self.b_reserved.items()):
                # TIME, TEMPER and HERTZ in a B source are the simulator's, whatever a
                # .param or subcircuit parameter of that name says (as in ngspice)
                params = {**params, **self.b_reserved}
            try:
                cached = compile_expression(template, params)
                if cached.controls != tuple((f"_{k}", "0") for k in range(len(controls))):
                    raise ExprSyntaxError("malformed control", 0)
            except ExprSyntaxError:
                # parse the original text for exact error offsets
                try:
                    compile_expression(src, params)
                except ExprSyntaxError as exc:
                    at = off + exc.offset if src == text.lower() else off
                    raise err(card, at, exc.message, exc.hint) from None
                raise err(card, off, "malformed expression", "expected: " + EXPECTED["b"]) from None
            self.expr_cache[key] = cached
        # template controls are v(_0), v(_1), ... in order of first appearance, as are the
        # parser's controls, so this card's controls map one to one
        return cached.with_controls(text, tuple(controls))

    def instance_params(
        self,
        card: Card,
        rest: list,
        ctx: Context,
        allowed: set[str],
        listing: str,
        hint: str,
        vector_ic: bool = False,
    ) -> dict[str, float]:
        """``key=value`` instance parameters of a device card, in ``allowed``.

        ``off`` (an initial-guess flag) is skipped: it has no effect on a DC solution.
        With ``vector_ic``, ``ic=a,b,c`` (transient initial conditions, several
        comma-split values) is skipped too.  Anything else is a located error that
        lists the parameters (``listing``).
        """
        inst: dict[str, float] = {}
        while rest:
            key, off = rest[0]
            if key == "off":
                rest = rest[1:]
                continue
            if vector_ic and key == "ic" and len(rest) >= 3 and rest[1][0] == "=":
                rest = rest[3:]  # ic=vds[,vgs,vbs]: transient only; values are comma-split
                while rest and rest[0][0] != "=" and (len(rest) < 2 or rest[1][0] != "="):
                    if rest[0][0] in allowed or rest[0][0] == "off":
                        break
                    rest = rest[1:]
                continue
            if len(rest) >= 3 and rest[1][0] == "=" and key in allowed:
                inst[key] = self.value(card, rest[2], ctx.params)
                rest = rest[3:]
                continue
            raise err(card, off, f"unexpected {key!r} ({listing})", hint)
        return inst

    def instance_overrides(
        self, card: Card, toks: list, sub, sname: str, ctx: Context, hint: str
    ) -> dict[str, float]:
        """``[params:] name=value ...`` of an X card, evaluated in the caller's scope."""
        overrides: dict[str, float] = {}
        k = 0
        while k < len(toks):
            tok, off = toks[k]
            if tok == "params:":
                k += 1
                continue
            if k + 1 >= len(toks) or toks[k + 1][0] != "=":
                raise err(card, off, f"unexpected {tok!r} (expected <param>=<value>)", hint)
            if k + 2 >= len(toks):
                raise err(card, toks[k + 1][1], f"missing value for parameter {tok!r}", hint)
            if tok not in {d.name for d in sub.defaults}:
                raise err(
                    card,
                    off,
                    f"subcircuit {sname} has no parameter {tok!r}",
                    "its parameters: " + (" ".join(d.name for d in sub.defaults) or "none"),
                )
            overrides[tok] = self.value(card, toks[k + 2], ctx.params, bare=True)
            k += 3
        return overrides

    def check_expansion(self, card: Card, name: str, sub, scope: Scope) -> None:
        """Raise :class:`ResourceError` before flattening an instance whose subcircuits
        expand to more elements than the available memory holds (ten levels of ten
        instances are 1e10 elements from a 40-line file)."""
        from ...checks import available_memory

        self.planned += expanded_size(sub, scope, self.expanded_memo, set())
        need = float(self.planned) * BYTES_PER_ELEMENT
        if need < self.memory_checked * 2 or need < 2**26:  # ask the system rarely
            return
        self.memory_checked = need
        avail = available_memory()
        if avail is not None and need > avail:
            raise ResourceError(
                f"instance {name} of {sub.name} (with the instances before it) flattens to "
                f"about {float(self.planned):.3g} elements, which need about "
                f"{need / 2**30:.3g} GiB of memory; about {avail / 2**30:.3g} GiB is available",
                location=card.loc(None),
                hint="xbar flattens every subcircuit instance; use fewer or smaller ones",
            )

    def instance(self, card: Card, low: str, ctx: Context) -> None:
        """``X<name> <nodes>... <subckt> [params: name=value ...]``: flatten one instance."""
        hint = "expected: " + EXPECTED["x"]
        toks = self.tokens(card, low)
        # the subcircuit name is the last token before the first parameter
        end = len(toks)
        for k in range(1, len(toks)):
            if toks[k][0] == "params:" or (k + 1 < len(toks) and toks[k + 1][0] == "="):
                end = k
                break
        if end < 2:
            raise err(card, None, f"missing subcircuit name on {toks[0][0]!r}", hint)
        sname, soff = toks[end - 1]
        nodes = toks[1 : end - 1]
        sub = ctx.scope.subckt(sname)
        if sub is None:
            raise err(
                card,
                soff,
                f"undefined subcircuit {sname!r}",
                "define it with .subckt " + sname + " <pins>... / .ends",
            )
        if len(nodes) != len(sub.pins):
            raise err(
                card,
                soff,
                f"subcircuit {sname} has {len(sub.pins)} pin"
                f"{'s' if len(sub.pins) != 1 else ''} ({' '.join(sub.pins)}), "
                f"{toks[0][0]} connects {len(nodes)}",
                f"X{toks[0][0][1:]} " + " ".join(sub.pins) + f" {sname} [params]",
            )
        if sub.name in ctx.stack:
            raise err(card, soff, f"recursive subcircuit: {' -> '.join([*ctx.stack, sname])}")
        if len(ctx.stack) >= MAX_SUBCKT_DEPTH:
            raise err(
                card,
                soff,
                f"subcircuit instances nested more than {MAX_SUBCKT_DEPTH} "
                f"deep (instance {ctx.prefix + toks[0][0]} of {sname})",
                "xbar flattens at most MAX_SUBCKT_DEPTH levels of X instances",
            )
        if not ctx.stack:  # a top-level instance: refuse what cannot fit in memory
            self.check_expansion(card, toks[0][0], sub, ctx.scope)
        overrides = self.instance_overrides(card, toks[end:], sub, sname, ctx, hint)
        params = dict(ctx.params)
        for pname, vtok, voff in sub.defaults:
            if pname in overrides:
                params[pname] = overrides[pname]
            else:
                params[pname] = self.value(sub.card, (vtok, voff), params, bare=True)
        # a pin named 0 or gnd is the global ground inside (as in ngspice): the node the
        # instance connects there is not tied to anything by this pin
        actual = [self.node(t[0], ctx) for t in nodes]
        pins = {p: n for p, n in zip(sub.pins, actual, strict=True) if p not in GROUND}
        iname = ctx.prefix + toks[0][0]
        self.register(iname, card)
        self.instances.add(iname)  # instances are not elements of the flat circuit
        scope = Scope(sub.subckts, sub.models, ctx.scope)
        child = Context(iname + ".", pins, params, scope, [*ctx.stack, sub.name])
        # body .param cards first (all of them, as at the top level)
        body, pcards = [], []
        for c in self.conditional_cards(sub.body, child.params):  # (.if: per instance)
            t = c.text.lstrip()
            if t[:6].lower() == ".param" and (len(t) == 6 or t[6] in " \t"):
                pcards.append(c)
            else:
                body.append(c)
        self.resolve_params(pcards, child.params)
        self.expand(body, child)


#: instance parameters after a B source's expression (and an E/G VALUE= expression's)
_B_PARAMS = ("m", "tc1", "tc2", "temp", "dtemp")
_B_PARAM = re.compile(r"(?<=\s)(m|tc1|tc2|temp|dtemp)\s*=(?!=)", re.IGNORECASE)
_B_ASSIGN = re.compile(r"\s*([a-z_]\w*)\s*=\s*(\{[^}]*\}|'[^']*'|[^\s=]+)\s*", re.IGNORECASE)


def _node_token_error(card: Card, token: str) -> NetlistError:
    """The error for a node token such as ``b)1``, which ngspice reads as two nodes."""
    at = card.text.lower().find(token)
    return err(
        card,
        at if at >= 0 else None,
        f"node name {token!r}: ngspice ends a node name at ')' and reads the rest as "
        "the next field",
        "write node names without parentheses",
    )


def _unparen_controls(toks: list) -> list:
    """``E1 b 0 (a,0) 2`` / ``(a 0)`` / ``( a , 0 )``: the control pair without its
    parentheses (ngspice reads it so); other token lists unchanged."""
    if len(toks) < 5 or not toks[3][0].startswith("("):
        return toks
    end = next((j for j in range(3, len(toks)) if toks[j][0].endswith(")")), None)
    if end is None:
        return toks
    inner = []
    for t, off in toks[3 : end + 1]:
        name = t.lstrip("(")
        off += len(t) - len(name)
        name = name.rstrip(")")
        if name:
            inner.append((name, off))
    return toks[:3] + inner + toks[end + 1 :] if len(inner) == 2 else toks


def _x_target(text: str) -> str:
    """The subcircuit name of an ``X`` card's text: the last token before its parameters."""
    toks = text.lower().replace("=", " = ").split()
    end = len(toks)
    for k in range(1, len(toks)):
        if toks[k] == "params:" or (k + 1 < len(toks) and toks[k + 1] == "="):
            end = k
            break
    return toks[end - 1] if end >= 2 else ""


def expanded_size(sub, scope: Scope, memo: dict, active: set) -> int:
    """Elements that flattening subcircuit ``sub`` makes (an estimate for the memory
    check: unresolvable or recursive instances count one element; their expansion
    raises the located error)."""
    key = id(sub)
    if key in memo:
        return memo[key]
    if key in active:
        return 1
    active.add(key)
    inner = Scope(sub.subckts, sub.models, scope)
    n = 0
    for c in sub.body:
        t = c.text.lstrip()
        if not t or t[0] == ".":
            continue
        target = inner.subckt(_x_target(t)) if t[0] in "xX" else None
        n += expanded_size(target, inner, memo, active) if target is not None else 1
    active.discard(key)
    memo[key] = n
    return n


def poly_terms(nd: int, n: int) -> list[tuple[int, ...]]:
    """The first ``n`` (at least ``nd + 1``) terms of SPICE's polynomial in ``nd`` controls,
    as index tuples: ``()`` (the constant), ``(0,)`` ... ``(nd-1,)``, then the products
    of each degree in lexicographic order (``(0, 0), (0, 1), ..., (nd-1, nd-1)``, ...),
    the order of SPICE2's ``POLY`` coefficients (checked against ngspice).

    >>> poly_terms(2, 6)
    [(), (0,), (1,), (0, 0), (0, 1), (1, 1)]
    """
    from itertools import combinations_with_replacement

    terms: list[tuple[int, ...]] = [()]
    degree = 1
    while len(terms) < max(n, nd + 1):
        terms += list(combinations_with_replacement(range(nd), degree))
        degree += 1
    return terms[: max(n, nd + 1)]


def poly_text(coefs: list[float], nd: int) -> tuple[str, dict[str, float]]:
    """Expression text over controls ``v(_0)`` ... and its coefficient parameters."""
    terms = poly_terms(nd, len(coefs))
    params = {f"p{j}": (coefs[j] if j < len(coefs) else 0.0) for j in range(len(terms))}
    parts = ["p%d%s" % (j, "".join(f"*v(_{i})" for i in t)) for j, t in enumerate(terms)]
    return " + ".join(parts), params
