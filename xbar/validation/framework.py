"""The case framework: named cases, their results, a registry and a runner.

A :class:`Case` is a named check of one solver against one independent
reference, with the tolerance it must meet and the reason for that
tolerance.  Its function returns a :class:`CaseResult`; the runner adds the
verdict.  Cases register themselves here with :func:`case` or :func:`add_case`
when their module is imported; :mod:`xbar.validation.catalog` imports every case
module and lists them (:func:`registered_cases` returns them in registration order).
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

logger = logging.getLogger(__name__)

KINDS = ("analytic", "ngspice")

#: verdicts of a run
PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"


class CaseSkipped(Exception):
    """Raised by a case that cannot run here (for example: ngspice not found)."""


@dataclass(frozen=True)
class Check:
    """One extra pass/fail condition of a case (beyond its main error bound).

    Attributes
    ----------
    name : str
        What is checked, in words.
    value : float
        The measured value.
    low, high : float
        The accepted closed interval for ``value``.
    """

    name: str
    value: float
    low: float = -math.inf
    high: float = math.inf

    @property
    def passed(self) -> bool:
        return bool(self.low <= self.value <= self.high)

    def describe(self) -> str:
        if math.isinf(self.low):
            bound = f"<= {self.high:.3g}"
        elif math.isinf(self.high):
            bound = f">= {self.low:.3g}"
        else:
            bound = f"in [{self.low:.4g}, {self.high:.4g}]"
        mark = "ok" if self.passed else "FAILED"
        return f"{self.name} = {self.value:.6g} ({bound}: {mark})"


@dataclass
class CaseResult:
    """What a case measured.

    Attributes
    ----------
    max_rel_error : float
        The largest relative error of the solver against the reference
        (see :func:`rel_error`), compared with the case's tolerance.
    details : dict
        Named numbers and short strings worth reporting (sizes, timings,
        fitted slopes).
    checks : list of Check
        Extra conditions that must also hold (a fitted convergence order, a
        sign, ...).
    figures : dict
        Plot data by figure name, drawn by :mod:`xbar.validation.report`:
        ``{"type": "loglog", "x": [...], "series": {label: [...]}, "xlabel",
        "ylabel", "title"}`` or ``{"type": "heatmaps", "maps": {label: 2-D
        array}, "title", "unit"}``.
    """

    max_rel_error: float
    details: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, dict] = field(default_factory=dict)
    worst: str = ""

    @classmethod
    def of(cls, errors: dict[str, float], **kw: Any) -> CaseResult:
        """Result whose error is the largest of named ``errors`` (all kept in ``details``)."""
        worst = max(errors, key=lambda k: errors[k])
        details = {**errors, **kw.pop("details", {})}
        return cls(float(errors[worst]), details=details, worst=worst, **kw)


@dataclass(frozen=True)
class Case:
    """A named validation case.

    Attributes
    ----------
    name : str
        Unique, ``snake_case``.
    kind : {"analytic", "ngspice"}
        Where the reference comes from.
    description : str
        What the case checks, for a newcomer.
    reference : str
        The reference, in a few words ("ladder closed form", "ngspice").
    tolerance : float
        Bound on ``max_rel_error``.
    why : str
        Why this tolerance.
    func : callable
        ``func() -> CaseResult``.
    quick : bool
        Part of the quick (default pytest) set.
    """

    name: str
    kind: str
    description: str
    reference: str
    tolerance: float
    why: str
    func: Callable[[], CaseResult]
    quick: bool = True

    def run(self) -> CaseResult:
        """Run the case and return what it measured (no verdict)."""
        return self.func()


@dataclass
class Outcome:
    """A case together with its verdict."""

    case: Case
    status: str
    result: CaseResult | None
    seconds: float
    message: str = ""

    @property
    def passed(self) -> bool | None:
        """True/False, or None when the case was skipped."""
        if self.status == SKIPPED:
            return None
        return self.status == PASSED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the ``--json`` schema of ``xbar validate``)."""
        r = self.result
        err = None if r is None or not math.isfinite(r.max_rel_error) else float(r.max_rel_error)
        out: dict[str, Any] = {
            "name": self.case.name,
            "kind": self.case.kind,
            "max_rel_error": err,
            "tolerance": self.case.tolerance,
            "passed": self.passed,
            "status": self.status,
            "reference": self.case.reference,
            "seconds": round(self.seconds, 4),
        }
        if self.message:
            out["message"] = self.message
        if r is not None:
            out["checks"] = [
                {"name": c.name, "value": float(c.value), "passed": c.passed} for c in r.checks
            ]
            out["details"] = {k: _jsonable(v) for k, v in r.details.items()}
        return out


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


_REGISTRY: dict[str, Case] = {}


def case(
    *,
    name: str,
    kind: str,
    description: str,
    reference: str,
    tolerance: float,
    why: str,
    quick: bool = True,
):
    """Decorator registering ``func() -> CaseResult`` as a :class:`Case`."""
    if kind not in KINDS:
        raise ValueError(f"case kind must be one of {KINDS}, not {kind!r}")

    def register(func):
        if name in _REGISTRY:
            raise ValueError(f"duplicate validation case name {name!r}")
        _REGISTRY[name] = Case(name, kind, description, reference, tolerance, why, func, quick)
        return func

    return register


def add_case(c: Case) -> None:
    """Register an already built :class:`Case` (used for generated case matrices)."""
    if c.name in _REGISTRY:
        raise ValueError(f"duplicate validation case name {c.name!r}")
    _REGISTRY[c.name] = c


def registered_cases() -> list[Case]:
    """The cases registered so far, in registration order (see :mod:`.catalog`)."""
    return list(_REGISTRY.values())


def run_case(c: Case) -> Outcome:
    """Run one case and judge it; exceptions become an ``error`` verdict."""
    start = time.perf_counter()
    try:
        result = c.run()
    except CaseSkipped as skip:
        return Outcome(c, SKIPPED, None, time.perf_counter() - start, str(skip))
    except Exception as exc:  # a crash is a failed case, reported with its cause
        logger.debug("case %s raised", c.name, exc_info=True)
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Outcome(c, ERROR, None, time.perf_counter() - start, tb)
    seconds = time.perf_counter() - start
    err = result.max_rel_error
    ok = bool(np.isfinite(err) and err <= c.tolerance) and all(ch.passed for ch in result.checks)
    msg = ""
    if not ok:
        bad = [ch.describe() for ch in result.checks if not ch.passed]
        if not (np.isfinite(err) and err <= c.tolerance):
            where = f" ({result.worst})" if result.worst else ""
            bad.insert(0, f"max_rel_error {err:.3g}{where} > tolerance {c.tolerance:.3g}")
        msg = "; ".join(bad)
    return Outcome(c, PASSED if ok else FAILED, result, seconds, msg)


def run_cases(
    cases: Iterable[Case], progress: Callable[[int, int], None] | None = None
) -> list[Outcome]:
    """Run cases in order, calling ``progress(done, total)`` after each."""
    cases = list(cases)
    outcomes = []
    if progress is not None:
        progress(0, len(cases))
    for k, c in enumerate(cases):
        outcomes.append(run_case(c))
        if progress is not None:
            progress(k + 1, len(cases))
    return outcomes


def rel_error(value: ArrayLike, reference: ArrayLike) -> float:
    """Largest deviation relative to the largest reference magnitude.

    ``max |value - reference| / max |reference|`` over all elements: a
    norm-wise relative error that stays meaningful where individual
    reference entries pass through zero.
    """
    value = np.asarray(value, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if value.shape != reference.shape:
        raise ValueError(f"shape {value.shape} does not match the reference {reference.shape}")
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    diff = float(np.max(np.abs(value - reference))) if reference.size else 0.0
    if scale == 0.0:
        return diff
    return diff / scale


def fit_order(h: ArrayLike, errors: ArrayLike) -> float:
    """Least-squares slope of ``log(errors)`` against ``log(h)`` (the convergence order)."""
    h = np.asarray(h, dtype=float)
    errors = np.asarray(errors, dtype=float)
    return float(np.polyfit(np.log(h), np.log(errors), 1)[0])
