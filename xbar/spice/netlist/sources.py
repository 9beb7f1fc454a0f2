"""Independent source specifications and their DC value, as ngspice gives it.

``V<name> n+ n- [[DC] <value>] [AC <mag> [<phase>]] [<waveform>(<args>)]``
(the same for ``I``).  For a DC analysis ngspice uses the ``DC`` value (a bare
first value is the DC value); without one, the waveform's value at time zero
(ngspice: "no DC value, transient time 0 value used"); without either, 0
("has no value, DC 0 assumed").  Time-zero values (``vsrcload.c`` with
``time = 0``):

=========================================  ====================================
``PULSE(V1 V2 TD TR TF PW PER)``           ``V1``
``SIN(VO VA FREQ TD THETA PHASE)``         ``VO + VA sin(PHASE * pi / 180)``
``EXP(V1 V2 TD1 TAU1 TD2 TAU2)``           ``V1``
``PWL(T1 V1 T2 V2 ...)``                   linear interpolation at ``t = 0``
                                           (``V1`` before the first point)
``SFFM(VO VA FC MDI FS PHASEC PHASES)``    ``VO + VA sin(PHASEC' + MDI sin(PHASES'))``,
                                           phases in degrees (``'``: in radians)
``AM(VA VO MF FC TD PHASEM PHASEC)``       0 (what ngspice-39 prints for any args)
``TRNOISE(NA NT NALPHA NAMP ...)``         0 (noise exists only in a transient)
``TRRANDOM(TYPE TS TD PARAM1 PARAM2)``     ``PARAM2`` (the offset or mean; 0 without)
=========================================  ====================================
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from .lexer import Card, check_parens, err

__all__ = ["SourceSpec", "WAVEFORMS", "parse_source_spec", "time_zero_value"]

#: waveform keywords whose time-zero value xbar computes
WAVEFORMS = ("pulse", "sin", "exp", "pwl", "sffm", "am", "trnoise", "trrandom")
_KEYWORDS = {"dc", "ac", "distof1", "distof2", *WAVEFORMS}
_PARENS = re.compile(r"[()]")


class SourceSpec(NamedTuple):
    """What a source card specifies: its DC value token (or None), its waveform
    name and argument tokens (or None), and whether an AC part was given."""

    dc: tuple[str, int] | None
    waveform: str | None
    args: list[tuple[str, int]]
    ac: bool


def _words(rest: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Tokens with parentheses removed (``pulse(0`` -> ``pulse``, ``0``), offsets kept."""
    out = []
    for tok, off in rest:
        if tok[0] in "{'":
            out.append((tok, off))
            continue
        pos = 0
        for piece in _PARENS.split(tok):
            if piece:
                out.append((piece, off + tok.index(piece, pos)))
            pos += len(piece) + 1
    return out


def parse_source_spec(card: Card, rest: list[tuple[str, int]], hint: str) -> SourceSpec:
    """Split the tokens after a source's nodes into DC value, AC part and waveform."""
    check_parens(card, hint)
    words = _words(rest)
    dc = None
    waveform, args, ac = None, [], False
    k = 0
    while k < len(words):
        word, off = words[k]
        if word == "dc":
            k += 1
            if k < len(words) and words[k][0] == "=":
                k += 1
            if k >= len(words) or words[k][0] in _KEYWORDS:
                raise err(card, off, "missing value after DC", hint)
            dc = words[k]
            k += 1
            continue
        if word in ("ac", "distof1", "distof2"):
            ac = ac or word == "ac"
            k += 1
            n = 0
            while k < len(words) and n < 2 and words[k][0] not in _KEYWORDS:
                k += 1
                n += 1
            continue
        if word in WAVEFORMS:
            if waveform is not None:
                raise err(card, off, f"a second waveform ({word.upper()}) on one source", hint)
            waveform = word
            k += 1
            while k < len(words) and words[k][0] not in _KEYWORDS:
                if words[k][0] in ("r", "td") and k + 1 < len(words) and words[k + 1][0] == "=":
                    k += 3  # PWL repeat / delay: no effect at time zero
                    continue
                args.append(words[k])
                k += 1
            if waveform == "pwl" and len(args) % 2:
                raise err(card, off, "PWL needs pairs of <time> <value>", hint)
            continue
        if dc is None and k == 0:
            dc = (word, off)
            k += 1
            continue
        raise err(card, off, f"unexpected {word!r} in the source specification", hint)
    return SourceSpec(dc, waveform, args, ac)


def time_zero_value(waveform: str, values: list[float]) -> float:
    """The value of an ngspice waveform at time zero (see the module table).

    >>> round(time_zero_value("sin", [0.3, 1.0, 1e3, 0.0, 0.0, 30.0]), 12)
    0.8
    >>> time_zero_value("pwl", [1e-9, 1.3, 2e-9, 2.0])
    1.3
    """

    def arg(k: int) -> float:
        return values[k] if k < len(values) else 0.0

    if waveform in ("pulse", "exp"):
        return arg(0)
    if waveform == "sin":
        return arg(0) + arg(1) * math.sin(arg(5) * math.pi / 180.0)
    if waveform == "sffm":
        phasec = arg(5) * math.pi / 180.0
        phases = arg(6) * math.pi / 180.0
        return arg(0) + arg(1) * math.sin(phasec + arg(3) * math.sin(phases))
    if waveform in ("am", "trnoise"):
        return 0.0
    if waveform == "trrandom":
        return arg(4)
    if waveform == "pwl":
        times, vals = values[0::2], values[1::2]
        if not vals:
            return 0.0
        if times[0] >= 0.0:
            return vals[0]
        for t0, v0, t1, v1 in zip(times, vals, times[1:], vals[1:], strict=False):
            if t0 <= 0.0 <= t1:
                return v0 if t1 == t0 else v0 + (v1 - v0) * (0.0 - t0) / (t1 - t0)
        return vals[-1]
    raise ValueError(waveform)
