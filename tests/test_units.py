"""SPICE numbers: scale factors, unit letters, and the forms that are rejected."""

import math

import pytest

from xbar.errors import NetlistError
from xbar.spice.units import parse_value, try_parse_value

GOOD = [
    ("1", 1.0),
    ("-1.5", -1.5),
    ("+2", 2.0),
    (".5", 0.5),
    ("1.", 1.0),
    ("2.5e-3", 2.5e-3),
    ("1E3", 1e3),
    ("1d3", 1e3),  # FORTRAN exponent, as ngspice
    ("1e3k", 1e6),  # a scale factor after an exponent still applies (ngspice)
    ("1T", 1e12),
    ("1g", 1e9),
    ("1meg", 1e6),
    ("1MEG", 1e6),
    ("1MEGohm", 1e6),
    ("10k", 1e4),
    ("10kohm", 1e4),
    ("10K", 1e4),
    ("1m", 1e-3),
    ("1M", 1e-3),  # M is milli in SPICE
    ("1.5mA", 1.5e-3),
    ("4.7u", 4.7e-6),
    ("3n", 3e-9),
    ("2p", 2e-12),
    ("7f", 7e-15),
    ("7F", 7e-15),
    ("1mil", 25.4e-6),
    ("5V", 5.0),
    ("10Volts", 10.0),
    ("1kHz", 1e3),
    ("0", 0.0),
    ("-0.0", 0.0),
    ("1e", 1.0),  # exponent without digits: letters ignored
]


@pytest.mark.parametrize("text,value", GOOD)
def test_good_values(text, value):
    assert parse_value(text) == pytest.approx(value, rel=1e-15, abs=0)


def test_decimal_rounding_is_exact():
    # the scale factor is applied to the decimal exponent, not by a multiplication
    assert parse_value("1.1u") == 1.1e-6
    assert parse_value("0.3k") == 300.0
    assert parse_value("2.2meg") == 2.2e6


BAD = [
    ("nan", "not a number"),
    ("inf", "not a number"),
    ("-inf", "not a number"),
    ("abc", "not a number"),
    ("", "not a number"),
    ("1.2.3", "not a number"),
    ("1_000", "not a number"),
    ("--1", "not a number"),
    ("1e400", "overflows"),
    ("4k7", "4k7"),
    ("1a", "ambiguous"),
    ("2amp", "ambiguous"),
    ("0x10", "digits after"),
    ("\u0661\u0662", "not a number"),  # non-ASCII digits
]


@pytest.mark.parametrize("text,phrase", BAD)
def test_bad_values(text, phrase):
    value, reason = try_parse_value(text)
    assert value is None and phrase in reason
    with pytest.raises(NetlistError, match="invalid number") as info:
        parse_value(text)
    assert info.value.hint


def test_strip_and_finite():
    assert parse_value("  3k ") == 3000.0
    assert math.isfinite(parse_value("1e308"))
