"""One exception family for everything xbar rejects.

Every error carries enough context to find the culprit: a netlist location
(file, line, column and the source line), a node or element name, a
configuration field, and a hint with the expected form.  The CLI prints
``str(err)`` and exits non-zero; the library never prints.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a netlist file (1-based line and column)."""

    file: str
    line: int
    column: int = 1
    source: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class XbarError(Exception):
    """Base class of all errors raised by xbar on purpose.

    Parameters
    ----------
    message : str
        What is wrong, naming the culprit.
    location : Location, optional
        Where in a netlist the problem is.
    hint : str, optional
        The expected form, or what to try.
    """

    def __init__(self, message: str, *, location: Location | None = None, hint: str = "") -> None:
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self._format())

    def add_context(self, prefix: str) -> None:
        """Prepend ``prefix`` to the message (for example the sweep point it came from).

        >>> err = XbarError("adc_bits=0 needs no adc_range")
        >>> err.add_context("sweep point adc_bits=0")
        >>> str(err)
        'error: sweep point adc_bits=0: adc_bits=0 needs no adc_range'
        """
        self.message = f"{prefix}: {self.message}"
        self.args = (self._format(),)

    def _format(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(f"{self.location}: error: {self.message}")
            if self.location.source:
                src, col = source_window(self.location.source.rstrip("\n"), self.location.column)
                parts.append("    " + src)
                parts.append("    " + " " * col + "^")
        else:
            parts.append(f"error: {self.message}")
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


#: widest source line an error shows: a longer one is cut to a window around the column
SOURCE_WIDTH = 160


def source_window(line: str, column: int, width: int = SOURCE_WIDTH) -> tuple[str, int]:
    """``(text shown, 0-based caret offset)`` of a source line, cut around ``column``.

    A line of a 200 MB file would otherwise be printed whole under the message.

    >>> source_window("R1 a b 1k", 4)
    ('R1 a b 1k', 3)
    >>> text, caret = source_window("x" * 1000 + "?" + "y" * 1000, 1001, width=20)
    >>> text, text[caret]
    ('...xxxxxxxxxx?yyyyyyyyy...', '?')
    """
    col = max(column - 1, 0)
    if len(line) <= width:
        return line, col
    start = max(0, min(col - width // 2, len(line) - width))
    head = "..." if start > 0 else ""
    tail = "..." if start + width < len(line) else ""
    return head + line[start : start + width] + tail, col - start + len(head)


class NetlistError(XbarError, ValueError):
    """A netlist that cannot be read: syntax, unknown cards, undefined names."""


class CircuitError(XbarError, ValueError):
    """A circuit that is well formed but cannot be solved as given."""


class SingularCircuitError(CircuitError):
    """Floating nodes, loops of voltage sources, current-source cut sets."""


class ConvergenceError(XbarError, RuntimeError):
    """Newton (and every fallback) failed to meet the tolerances, or the result sits at a
    numerical clamp (an overflowing device law) and so is not a solution."""


class ShapeError(XbarError, ValueError):
    """An array whose shape does not fit."""


class ValueRangeError(XbarError, ValueError):
    """A number that is NaN, infinite, negative where it must not be, or out of range."""


class InputTypeError(XbarError, TypeError):
    """A value of the wrong kind: text or complex numbers where real numbers are needed,
    an object where an array or a configuration is expected."""


class ConfigError(XbarError, ValueError):
    """A configuration with an unknown field or an impossible value (names the field)."""


class UnknownFieldError(ConfigError, TypeError):
    """A configuration field that does not exist (also a ``TypeError``, as Python raises for
    an unexpected keyword argument)."""


class ModelError(XbarError, ValueError):
    """A neural-network model or data set that does not fit together, or a model or data
    file that is not valid (names the file and why)."""


class ResourceError(XbarError, MemoryError):
    """A problem too large for this machine (names the size and the memory it needs)."""


def show(value) -> str:
    """``repr`` of a value for error messages, numpy scalars shown as plain numbers.

    >>> import numpy as np
    >>> show(np.float64(0.5)), show("x"), show(np.int64(3))
    ('0.5', "'x'", '3')
    """
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        value = item()
    return repr(value)
