"""Scopes and parameters: subcircuit definitions, flattening contexts, values.

The structure pass (:meth:`Scopes.collect`) splits the cards into subcircuit
definitions, models, ``.param`` cards and the rest; :class:`Scope` resolves
subcircuit and model names through the nesting of definitions;
:class:`Context` is one level of flattening (name prefix, pin map,
parameters).  :meth:`Scopes.value` turns a value token into a number and
:meth:`Scopes.resolve_params` evaluates a scope's ``.param`` cards as ngspice
does.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..circuit import DiodeModel
from ..expr import FUNCTIONS, ExprSyntaxError, constant_value
from ..units import try_parse_value
from .conditionals import (
    IF_WORDS,
    card_word,
    condition_text,
    has_conditionals,
    refuse_definition_in_branch,
    select_branches,
)
from .lexer import EXPECTED, Card, err, split_tokens

__all__ = [
    "GROUND",
    "Context",
    "ModelDef",
    "NodeTokenError",
    "ParamDefault",
    "Scope",
    "Scopes",
    "Subckt",
    "ngspice_node_token",
]

GROUND = ("0", "gnd")
_PARAM_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
_FUNC = re.compile(
    r"\s*\.func\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)\s*=?\s*(.*)$", re.IGNORECASE
)
_WORD = re.compile(r"(?<![A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_])")
_CALL = re.compile(r"(?<![A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_]*)\s*\(")
#: .func calls expanded in one expression at most this many times (recursion guard)
_MAX_FUNC_EXPANSIONS = 1000


class NodeTokenError(ValueError):
    """A node token that ngspice would split into several (``b)1``); the element
    reader turns it into a located NetlistError."""


def ngspice_node_token(token: str) -> str:
    """The node name ngspice-39 reads from ``token`` (``INPgetNetTok``): leading ``(``
    and ``)`` are skipped and a ``)`` ends the name, so ``(b``, ``b)`` and ``((b))``
    are node ``b``, and ``b(1)`` is ``b(1``.  A token with more after its ``)``
    (ngspice reads two nodes there) or nothing left raises :class:`NodeTokenError`.

    >>> ngspice_node_token("(b"), ngspice_node_token("b)"), ngspice_node_token("b(1)")
    ('b', 'b', 'b(1')
    """
    core = token.lstrip("()")
    cut = core.find(")")
    if cut >= 0:
        if core[cut:].strip(")"):
            raise NodeTokenError(token)
        core = core[:cut]
    if not core:
        raise NodeTokenError(token)
    return core


def _substitute(body: str, actual: dict[str, str]) -> str:
    """``body`` with each whole-word argument name replaced by ``(value)``."""
    if not actual:
        return body
    return _WORD.sub(
        lambda w: f"({actual[w.group(1).lower()]})" if w.group(1).lower() in actual else w.group(1),
        body,
    )


def expand_funcs(text: str, funcs: dict, card: Card) -> str:
    """Replace every call ``f(a, b)`` of a ``.func`` by ``((body with (a), (b)))``.

    >>> expand_funcs("2*sq(x+1)", {"sq": (["u"], "u*u", None)}, None)
    '2*((x+1)*(x+1))'
    """
    count = 0
    pos = 0
    while True:
        m = _CALL.search(text, pos)
        if m is None:
            return text
        name = m.group(1).lower()
        if name not in funcs:
            pos = m.end()
            continue
        args, body, _ = funcs[name]
        depth, k, start, actual = 1, m.end(), m.end(), []
        while k < len(text) and depth:
            ch = text[k]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            if (ch == "," and depth == 1) or depth == 0:
                actual.append(text[start:k].strip())
                start = k + 1
            k += 1
        if depth:
            return text  # unbalanced: the expression parser reports it
        actual = [a for a in actual if a] if actual != [""] else []
        if len(actual) != len(args):
            raise err(
                card,
                None,
                f".func {name} takes {len(args)} argument"
                f"{'s' if len(args) != 1 else ''}, called with {len(actual)}",
                f"{name}({', '.join(args)})",
            )
        new = _substitute(body, dict(zip(args, actual, strict=True)))
        text = text[: m.start()] + f"({new})" + text[k:]
        count += 1
        if count > _MAX_FUNC_EXPANSIONS:
            raise err(card, None, f".func {name}: calls nested too deeply (recursive .func?)")
        pos = m.start()


class ModelDef(NamedTuple):
    """A ``.model`` definition: the model (None until its values are evaluated) and its card."""

    model: DiodeModel | None
    card: Card


class ParamDefault(NamedTuple):
    """A subcircuit parameter default: name, value text and its offset in the header card."""

    name: str
    text: str
    offset: int


# --------------------------------------------------------------------------- definitions


class Subckt:
    __slots__ = ("name", "pins", "defaults", "body", "card", "subckts", "models", "if_depth")

    def __init__(self, name, pins, defaults, card):
        self.name = name
        self.pins = pins
        self.defaults: list[ParamDefault] = defaults
        self.body: list[Card] = []
        self.card = card
        self.subckts: dict[str, Subckt] = {}
        self.models: dict[str, tuple] = {}
        #: .if blocks open while reading the body; -1 once the body has any (decided
        #: per instance: :meth:`Scopes.conditional_cards`)
        self.if_depth = 0


class Scope:
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


class Context:
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


class Scopes:
    """Builder part: the structure pass, parameter values, nodes and element names.

    A mixin of :class:`~xbar.spice.netlist.builder.Builder` (uses its
    ``node_index``, ``node_names``, ``names`` and ``parse_model``).
    """

    # ---------------------------------------------------------------- structure pass
    def collect(self, cards: list[Card]):
        """Split the top level into definitions, directives and element cards."""
        top_subckts: dict[str, Subckt] = {}
        top_models: dict[str, tuple] = {}
        elements: list[Card] = []
        params_cards: list[Card] = []
        stack: list[Subckt] = []
        misplaced: dict[int, tuple[Card, str]] = {}
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
            if word == ".func":
                self.parse_func(card)
                continue
            if word == ".global":
                self.globals.update(t.lower() for t in text.split()[1:])
                continue
            if word == ".subckt":
                if stack and stack[-1].if_depth > 0:
                    raise refuse_definition_in_branch(card, word)
                sub = self.parse_subckt_header(card)
                stack.append(sub)
                continue
            if word == ".ends":
                self.close_subckt(card, stack, misplaced, top_subckts)
                continue
            if stack:
                if word in (".op", ".dc", ".options", ".option", ".opt", ".title", ".temp"):
                    # an error once the subcircuit is known to be closed (else: unterminated)
                    misplaced.setdefault(id(stack[-1]), (card, word))
                    continue
                if card_word(card) in IF_WORDS:
                    self.track_if(stack[-1], card_word(card))
                if word == ".model":
                    if stack[-1].if_depth > 0:
                        raise refuse_definition_in_branch(card, word)
                    # values may use the instance's parameters: evaluated per instance
                    name, _ = self.parse_model(card, None)
                    self.define_once(stack[-1].models, name, ModelDef(None, card), "model")
                else:
                    stack[-1].body.append(card)
                continue
            if word == ".param":
                params_cards.append(card)
            elif word == ".model":
                name, _ = self.parse_model(card, None)  # values: after the .param cards
                self.define_once(top_models, name, ModelDef(None, card), "model")
            else:
                elements.append(card)  # other directives are handled in order
        if stack:
            sub = stack[-1]
            raise err(
                sub.card,
                None,
                f"unterminated .subckt {sub.name} (opened at "
                f"{sub.card.file}:{sub.card.line}): .ends is missing before the end of "
                "the netlist",
                "add .ends " + sub.name,
            )
        return top_subckts, top_models, params_cards, elements

    @staticmethod
    def track_if(sub: Subckt, word: str) -> None:
        """Count the ``.if`` blocks open in ``sub``'s body (its ``if_depth``)."""
        depth = max(sub.if_depth, 0)
        if word == ".if":
            depth += 1
        elif word == ".endif" and depth:
            depth -= 1
        sub.if_depth = depth

    def conditional_cards(self, cards: list[Card], params: dict[str, float]) -> list[Card]:
        """``cards`` (one scope) with their ``.if`` blocks decided (:mod:`.conditionals`):
        as ngspice's numparam, every ``.param`` card of the scope, in any branch taken or
        not, is read first (the last definition wins) and kept; a condition sees those
        values and ``params``, which itself is not changed."""
        if not has_conditionals(cards):
            return cards
        local = dict(params)
        depth = 0
        every = []
        for c in cards:  # the scope's .param cards, in every branch (not in subcircuits)
            w = card_word(c)
            depth += (w == ".subckt") - (w == ".ends" and depth > 0)
            if w == ".param" and not depth:
                every.append(c)
        self.resolve_params(every, local)

        def decide(card: Card) -> bool:
            text, off = condition_text(card)
            try:
                return constant_value(self.expand_text(text, card), local) != 0
            except ExprSyntaxError as exc:
                raise err(card, off + exc.offset, exc.message, exc.hint) from None

        return select_branches(cards, decide)

    def define_once(self, scope: dict, name: str, definition, what: str) -> None:
        """Define ``name`` in ``scope`` unless it is already defined there: as ngspice, the
        first definition wins and a redefinition is ignored (with a note naming both)."""
        first = scope.get(name)
        if first is None:
            scope[name] = definition
            return
        self.note(
            definition.card,
            f"{what} {name!r} is defined again; this definition is ignored and the first "
            f"one ({first.card.loc()}) is used, as ngspice does",
        )

    def close_subckt(
        self,
        card: Card,
        stack: list[Subckt],
        misplaced: dict[int, tuple[Card, str]],
        top_subckts: dict[str, Subckt],
    ) -> None:
        """``.ends [name]``: close the innermost open subcircuit and define it in the
        enclosing one (or at the top level); errors name the card at fault."""
        text = card.text
        if not stack:
            raise err(
                card,
                None,
                ".ends without a matching .subckt",
                "expected: " + EXPECTED[".subckt"],
            )
        sub = stack.pop()
        if id(sub) in misplaced:
            bad, bad_word = misplaced[id(sub)]
            raise err(
                bad,
                None,
                f"{bad_word} is not allowed inside a subcircuit "
                f"(.subckt {sub.name}, line {sub.card.line})",
                "put analysis and option cards at the top level",
            )
        toks = text.split()
        if len(toks) > 1 and toks[1].lower() != sub.name:
            raise err(
                card,
                text.index(toks[1]),
                f".ends {toks[1].lower()} closes .subckt {sub.name}",
                "expected: .ends " + sub.name,
            )
        target = stack[-1].subckts if stack else top_subckts
        self.define_once(target, sub.name, sub, "subcircuit")

    def parse_subckt_header(self, card: Card) -> Subckt:
        toks = split_tokens(card, card.text.lower())
        if len(toks) < 2:
            raise err(card, None, "missing subcircuit name", "expected: " + EXPECTED[".subckt"])
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
                    raise err(
                        card,
                        toks[k + 1][1],
                        f"missing value for parameter {tok!r}",
                        "expected: " + EXPECTED[".subckt"],
                    )
                defaults.append(ParamDefault(tok, toks[k + 2][0], toks[k + 2][1]))
                k += 3
                continue
            if defaults:
                raise err(
                    card,
                    off,
                    f"unexpected {tok!r} after the parameters",
                    "expected: " + EXPECTED[".subckt"],
                )
            if "(" in tok or ")" in tok:  # ".subckt cell (t b)": pins t and b (ngspice)
                try:
                    tok = ngspice_node_token(tok)
                except NodeTokenError:
                    raise err(
                        card,
                        off,
                        f"pin name {tok!r}: ngspice ends a name at ')' and reads the rest as "
                        "the next pin",
                        "expected: " + EXPECTED[".subckt"],
                    ) from None
            if tok in pins and tok not in GROUND:
                raise err(card, off, f"pin {tok!r} is listed twice")
            pins.append(tok)
            k += 1
        return Subckt(name, pins, defaults, card)

    def parse_func(self, card: Card) -> None:
        """``.func name(a, b) {expr}`` (or ``= expr``): a function for later expressions."""
        m = _FUNC.match(card.text)
        if m is None:
            raise err(card, None, "malformed .func", "expected: " + EXPECTED[".func"])
        name = m.group(1).lower()
        args = [a.strip().lower() for a in m.group(2).split(",") if a.strip()]
        body = m.group(3).strip()
        if body and body[0] in "{'" and body[-1] == ("}" if body[0] == "{" else "'"):
            body = body[1:-1]
        if not body:
            raise err(card, None, f".func {name} has no body", "expected: " + EXPECTED[".func"])
        if name in FUNCTIONS or name in ("v", "i"):
            raise err(card, m.start(1), f".func {name} would hide a built-in function")
        self.funcs[name] = (args, body.lower(), card)

    def expand_text(self, text: str, card: Card) -> str:
        """``text`` with calls of ``.func`` functions replaced by their bodies."""
        return expand_funcs(text, self.funcs, card) if self.funcs else text

    # ---------------------------------------------------------------- values
    def value(
        self, card: Card, tok: tuple[str, int], params: dict[str, float], bare: bool = False
    ) -> float:
        """A number, ``{expr}`` or ``'expr'``; with ``bare``, also an unbraced
        expression (subcircuit parameters, as ngspice allows).  Expressions and
        subcircuit parameters are read as ngspice's numparam does (``mil`` = 1e-3)."""
        text, off = tok
        c = text[0]
        if (
            bare
            and (c.isalpha() or c in "(_")
            or bare
            and try_parse_value(text)[0] is None
            and c not in "{'"
        ):
            c = "{"
            text = "{" + text + "}"
            off -= 1
        if c == "{" or c == "'":
            inner = self.expand_text(text[1:-1], card)
            try:
                return constant_value(inner, params)
            except ExprSyntaxError as exc:
                raise err(card, off + 1 + exc.offset, exc.message, exc.hint) from None
        v, reason = try_parse_value(text, numparam=bare)  # (subcircuit parameters: numparam)
        if v is None:
            if text in params:  # a bare parameter name: ngspice substitutes it
                return params[text]
            raise err(
                card,
                off,
                f"invalid value: {reason}",
                "expected a number such as 1.5, 2e-3, 10k or {expression}",
            )
        return v

    def param_assignments(self, text: str, card: Card, base: int):
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
            raise err(card, off, "expected <name>=<value>", "expected: " + EXPECTED[".param"])
        out = []
        for n, m in enumerate(good):
            end = good[n + 1].start() if n + 1 < len(good) else len(text)
            raw = text[m.end() : end]
            vtext = raw.strip()
            voff = base + m.end() + (len(raw) - len(raw.lstrip()))
            if not vtext:
                raise err(
                    card,
                    base + m.start(),
                    f"missing value for parameter {m.group(1).lower()!r}",
                    "expected: " + EXPECTED[".param"],
                )
            if vtext[0] in "{'" and vtext[-1] == ("}" if vtext[0] == "{" else "'"):
                vtext = vtext[1:-1]
                voff += 1
            out.append((m.group(1).lower(), vtext, voff))
        return out

    def resolve_params(self, cards: list[Card], params: dict[str, float]) -> None:
        """Evaluate the ``.param`` cards of one scope into ``params`` (in place).

        As in ngspice, the last definition of a name wins and a value may use
        parameters defined on later cards; a circular definition is an error.
        ``params`` holds the values inherited from the enclosing scope.
        """
        pending: dict[str, tuple[str, Card, int]] = {}
        for card in cards:
            text = card.text
            start = text.lower().index(".param") + 6
            for name, vtext, voff in self.param_assignments(text[start:], card, start):
                pending.pop(name, None)  # keep definition order = order of last definition
                pending[name] = (vtext, card, voff)
        if "temper" in pending:  # ngspice keeps TEMPER the circuit temperature
            _, card, voff = pending.pop("temper")
            self.note(
                card,
                ".param temper ignored: temper is the circuit temperature in ngspice "
                "(set it with .temp or .options temp=)",
            )
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
                chain = " -> ".join([*active[active.index(name) :], name])
                raise err(
                    card,
                    voff,
                    f"circular parameter definition: {chain}",
                    "a parameter must not depend on itself",
                )
            active.append(name)
            try:
                value = constant_value(self.expand_text(vtext, card), lazy)
            except ExprSyntaxError as exc:
                raise err(card, voff + exc.offset, exc.message, exc.hint) from None
            active.pop()
            done[name] = value
            return value

        for name in pending:  # in order: backward references need no recursion
            try:
                params[name] = evaluate(name)
            except RecursionError:
                vtext, card, voff = pending[name]
                raise err(
                    card,
                    voff,
                    f"parameter {name!r}: forward references nested too deeply",
                    "define parameters before the ones that use them",
                ) from None

    # ---------------------------------------------------------------- nodes and names
    def node(self, name: str, ctx: Context) -> int:
        if "(" in name or ")" in name:
            name = ngspice_node_token(name)
        if ctx.pins is not None:
            idx = ctx.pins.get(name)
            if idx is not None:
                return idx
            if name in GROUND:
                return 0
            if name not in self.globals:
                name = ctx.prefix + name
        elif name in GROUND:
            return 0
        idx = self.node_index.get(name)
        if idx is None:
            idx = len(self.node_names)
            self.node_index[name] = idx
            self.node_names.append(name)
        return idx

    def note(self, card: Card, text: str) -> None:
        """Record a note (something skipped or defaulted) at ``card``'s location."""
        self.notes.append(f"{card.file}:{card.line}: {text}")

    def register(self, name: str, card: Card, prefix: str = "") -> None:
        """Record element ``name`` (flattened); with the instance ``prefix`` of a branch
        element, also its ngspice name (``x1.vq.r`` -> ``v.x1.vq.r``)."""
        if prefix:
            self.spice_names[name] = f"{name[len(prefix)]}.{name}"
        prev = self.names.get(name)
        if prev is not None:
            raise err(
                card, None, f"duplicate element name {name!r}", f"first defined at {prev.loc()}"
            )
        self.names[name] = card
