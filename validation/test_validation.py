"""Every validation case as one pytest test (the same cases ``xbar validate`` runs).

Cases outside the quick set are marked ``slow``. ngspice cases take the
``ngspice`` fixture: skipped on a developer machine without ngspice, a failure
in CI (``XBAR_REQUIRE_NGSPICE=1``).
"""

from __future__ import annotations

import pytest

from xbar.validation import ERROR, FAILED, SKIPPED, all_cases, run_case


def _params():
    out = []
    for c in all_cases():
        marks = [] if c.quick else [pytest.mark.slow]
        if c.kind == "ngspice":
            marks.append(pytest.mark.ngspice)
        out.append(pytest.param(c, id=c.name, marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_case(case, request):
    if case.kind == "ngspice":
        request.getfixturevalue("ngspice")  # skip, or fail in CI, when ngspice is missing
    outcome = run_case(case)
    if outcome.status == SKIPPED:
        pytest.skip(outcome.message)
    err = None if outcome.result is None else outcome.result.max_rel_error
    assert outcome.status not in (FAILED, ERROR), (
        f"{case.name}: {outcome.message} (max_rel_error={err}, tolerance={case.tolerance})"
    )
