"""``.if (cond)`` / ``.elseif (cond)`` / ``.else`` / ``.endif`` blocks, as ngspice-39 reads
them: the cards of the first branch whose condition (a ``.param`` expression, true when
not 0) holds are kept, the others dropped.  Blocks nest.  ``.param`` cards are the
exception: ngspice's numparam reads every one of them, in every branch, taken or not,
before any condition is decided, so they are all kept (the last definition of a name
wins, as outside blocks) and the conditions see their final values (forward references
too).  In a subcircuit the blocks are decided per instance, with its parameters.
"""

from __future__ import annotations

from collections.abc import Callable

from ...errors import NetlistError
from .lexer import Card, err

__all__ = [
    "IF_WORDS",
    "card_word",
    "condition_text",
    "has_conditionals",
    "refuse_definition_in_branch",
    "select_branches",
]

IF_WORDS = (".if", ".elseif", ".else", ".endif")


def card_word(card: Card) -> str:
    """The card's first word, lower case (``.if`` of ``.if(a>1)`` too)."""
    text = card.text.lstrip()
    word = text.split(None, 1)[0].lower() if text else ""
    return word.split("(", 1)[0]


def has_conditionals(cards: list[Card]) -> bool:
    """True when some card is ``.if``, ``.elseif``, ``.else`` or ``.endif``."""
    return any(
        c.text.lstrip()[:3].lower() in (".if", ".el", ".en") and card_word(c) in IF_WORDS
        for c in cards
    )


def condition_text(card: Card) -> tuple[str, int]:
    """The condition of an ``.if``/``.elseif`` card and its column offset."""
    text = card.text
    start = text.lower().index(card_word(card)) + len(card_word(card))
    rest = text[start:]
    body = rest.strip()
    if not body:
        raise err(card, None, f"{card_word(card)} without a condition", "expected: .if (<expr>)")
    return body, start + rest.index(body[0])


def select_branches(
    cards: list[Card],
    decide: Callable[[Card], bool],
    taken: Callable[[Card], None] | None = None,
) -> list[Card]:
    """``cards`` without the ``.if`` blocks' untaken branches and their ``.if`` cards.

    ``decide(card)`` evaluates the condition of an ``.if``/``.elseif`` card (called only
    where the branch could be taken); ``taken(card)`` sees each kept card in order.
    ``.param`` cards of this scope are kept in every branch (ngspice reads them all).
    ``.if`` cards inside ``.subckt`` definitions are kept as they are (decided per
    instance).
    """
    out: list[Card] = []
    stack: list[list] = []  # [opening card, a branch taken, this one active, outer active]
    depth = 0  # .subckt nesting
    for card in cards:
        word = card_word(card)
        active = all(s[2] for s in stack)
        if word in IF_WORDS and depth == 0:
            _branch(card, word, stack, active, decide)
            continue
        if word == ".subckt":
            depth += 1
        elif word == ".ends" and depth:
            depth -= 1
        if active or (word == ".param" and depth == 0):
            out.append(card)
            if taken is not None:
                taken(card)
    if stack:
        opener = stack[-1][0]
        raise err(
            opener,
            None,
            f"unterminated .if (opened at {opener.file}:{opener.line}): .endif is missing",
            "add .endif",
        )
    return out


def _branch(card: Card, word: str, stack: list, active: bool, decide) -> None:
    """One ``.if``/``.elseif``/``.else``/``.endif`` card on the block ``stack``."""
    if word == ".if":
        outer = active
        on = outer and bool(decide(card))
        stack.append([card, on, on, outer])
        return
    if not stack:
        raise err(card, None, f"{word} without .if", "expected: .if (<expr>) ... .endif")
    top = stack[-1]
    if word == ".endif":
        stack.pop()
        return
    outer = top[3]
    if word == ".elseif":
        top[2] = outer and not top[1] and bool(decide(card))
    else:
        top[2] = outer and not top[1]
    top[1] = top[1] or top[2]


def refuse_definition_in_branch(card: Card, word: str) -> NetlistError:
    """The error for a ``.model``/``.subckt`` inside a subcircuit's ``.if`` block."""
    return err(
        card,
        None,
        f"{word} inside an .if block of a subcircuit is not supported by xbar",
        "move the definition out of the subcircuit (a top-level .if may hold it)",
    )
