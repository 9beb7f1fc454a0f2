"""The validation suite: named cases checking xbar against independent references.

Each :class:`Case` compares a solver under test with a reference computed
without it (closed forms, root-finds, dense textbook solves, physical laws,
or ngspice on the same netlist), against a stated tolerance.  Run them from
the command line with ``xbar validate`` or from pytest (``validation/``).

Examples
--------
>>> from xbar.validation import select_cases
>>> names = [c.name for c in select_cases("ladder")]
>>> "word_line_ladder" in names
True
"""

from __future__ import annotations

from .catalog import all_cases, select_cases
from .framework import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    Case,
    CaseResult,
    CaseSkipped,
    Check,
    Outcome,
    fit_order,
    rel_error,
    run_case,
    run_cases,
)

__all__ = [
    "Case",
    "CaseResult",
    "CaseSkipped",
    "Check",
    "Outcome",
    "PASSED",
    "FAILED",
    "SKIPPED",
    "ERROR",
    "all_cases",
    "select_cases",
    "run_case",
    "run_cases",
    "rel_error",
    "fit_order",
]
