"""The catalogue of validation cases: every case module, imported and listed.

The case modules register their cases with :mod:`xbar.validation.framework` when
they are imported; this module imports them all, so it sits above both.
"""

from __future__ import annotations

import fnmatch

from . import (  # noqa: F401  (importing a case module registers its cases)
    cases_analytic,
    cases_input_switched,
    cases_ngspice,
    cases_power,
)
from .framework import Case, registered_cases

__all__ = ["all_cases", "select_cases"]


def all_cases() -> list[Case]:
    """Every validation case, in registration order."""
    return registered_cases()


def select_cases(pattern: str | None = None, quick: bool = False) -> list[Case]:
    """Cases whose name matches the glob ``pattern`` (substring if no wildcard).

    ``quick=True`` keeps only the cases of the quick set.
    """
    chosen = []
    for c in all_cases():
        if quick and not c.quick:
            continue
        if pattern:
            pat = pattern if any(ch in pattern for ch in "*?[") else f"*{pattern}*"
            if not fnmatch.fnmatchcase(c.name, pat):
                continue
        chosen.append(c)
    return chosen
