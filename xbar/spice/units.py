"""SPICE numbers: engineering suffixes and trailing unit letters.

The rules follow ngspice (and its manual, section "Some naming conventions"):

* a number is an integer or a decimal (``12``, ``-4.5``, ``.5``, ``1.``),
  optionally with an exponent ``e``/``E`` (or FORTRAN ``d``/``D``) and digits;
* it may be followed by one scale factor, case-insensitive:

  ====  ==========  ====  ==========
  T     1e12        m     1e-3
  G     1e9         u     1e-6
  MEG   1e6         n     1e-9
  K     1e3         p     1e-12
  MIL   25.4e-6     f     1e-15
  ====  ==========  ====  ==========

* letters after the number or after the scale factor are ignored
  (``10kohm``, ``5V``, ``1.5mA``, ``1MEGohm``);
* a scale factor also applies after an exponent: ``1e3k`` is ``1e6``
  (ngspice does the same).

Two forms that ngspice accepts but reads in surprising ways are rejected
instead of being given a possibly wrong value:

* a digit after the unit letters, such as the resistor code ``4k7``
  (ngspice reads ``4k7`` as ``4k`` and drops the ``7``);
* a bare ``a`` right after the number (``1a``, ``2amp``): ngspice up to
  version 41 ignores it (1 ampere), version 42 and later read it as atto
  (1e-18).  Write ``1`` or ``1e-18`` instead.

NaN, infinities and values that overflow a double are errors too.
"""

from __future__ import annotations

import math
import re

from ..errors import NetlistError

__all__ = ["parse_value", "try_parse_value", "SCALE_FACTORS"]

#: Single-letter scale factors (lower case) and their exponents of ten.
SCALE_FACTORS = {"t": 12, "g": 9, "k": 3, "m": -3, "u": -6, "n": -9, "p": -12, "f": -15}

# mantissa, optional exponent, trailing letters; no nested quantifiers, so no backtracking blow-up
_NUMBER = re.compile(r"([+-]?)(\d+\.?\d*|\.\d+)(?:[eEdD]([+-]?\d+))?([A-Za-z]*)", re.ASCII)


def try_parse_value(text: str, numparam: bool = False) -> tuple[float | None, str]:
    """Parse a SPICE number without raising.

    Parameters
    ----------
    text : str
        One token, such as ``"1.5k"`` or ``"10kohm"``.
    numparam : bool, optional
        Read it as ngspice's ``.param``/``{expression}`` evaluator (numparam) does:
        ``mil`` is then ``m`` (1e-3), not 25.4e-6 as in a plain value or a B source.

    Returns
    -------
    value : float or None
        The number, or ``None`` when ``text`` is not a valid number.
    reason : str
        Empty on success, otherwise why the text was rejected.

    Examples
    --------
    >>> try_parse_value("2.2k")
    (2200.0, '')
    >>> try_parse_value("abc")[0] is None
    True
    """
    m = _NUMBER.match(text)
    if m is None or m.end() != len(text):
        if m is not None and text[m.end() : m.end() + 1].isdigit() and m.group(4):
            return None, (
                f"{text!r} has digits after its unit letters (RKM resistor codes such as 4k7 "
                "are not supported: ngspice-39 reads 4k7 as 4k, with ngbehavior=lt as 4.7k; "
                "write 4.7k)"
            )
        return None, f"{text!r} is not a number"
    sign, mant, exp, letters = m.groups()
    e10 = int(exp) if exp else 0
    scale = 1.0
    if letters:
        low = letters.lower()
        c = low[0]
        if low.startswith("meg"):
            e10 += 6
        elif low.startswith("mil") and not numparam:
            e10 -= 6
            scale = 25.4
        elif c in SCALE_FACTORS:
            e10 += SCALE_FACTORS[c]
        elif c == "a":
            return None, (
                f"{text!r}: the suffix 'a' is ambiguous (ngspice < 42 ignores it, newer "
                "versions read it as atto = 1e-18); write the number without it, or use e-18"
            )
        # other letters: units, ignored
    value = float(f"{sign}{mant}e{e10}") if e10 else float(sign + mant)
    if scale != 1.0:
        value *= scale
    if not math.isfinite(value):
        return None, f"{text!r} overflows a double-precision number"
    return value, ""


def parse_value(text: str) -> float:
    """Parse a SPICE number with an optional scale factor and unit letters.

    Parameters
    ----------
    text : str
        The number as written in a netlist (surrounding blanks are ignored).

    Returns
    -------
    float
        The value in SI units.

    Raises
    ------
    NetlistError
        If ``text`` is not a finite number in SPICE syntax.

    Examples
    --------
    >>> parse_value("10kohm")
    10000.0
    >>> parse_value("1MEG")
    1000000.0
    >>> parse_value("1.5mA")
    0.0015
    >>> parse_value("1e3k")
    1000000.0
    """
    s = text.strip()
    value, reason = try_parse_value(s)
    if value is None:
        raise NetlistError(
            f"invalid number: {reason}",
            hint="expected a number such as 1.5, 2e-3, 10k, 1meg or 4.7uA",
        )
    return value
