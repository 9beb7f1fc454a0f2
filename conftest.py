"""Shared pytest fixtures (root conftest: serves tests/, validation/ and doctests).

``ngspice``: cross-check tests take this fixture.  On a developer machine
without ngspice they are skipped with a reason; in CI (``XBAR_REQUIRE_NGSPICE=1``,
set by ``.ci/run``) a missing ngspice is a failure, never a skip.
"""

from __future__ import annotations

import os

import pytest


def _require_ngspice():
    from xbar.spice.ngspice import ngspice_available, run_ngspice

    if not ngspice_available():
        if os.environ.get("XBAR_REQUIRE_NGSPICE") == "1":
            pytest.fail("ngspice is required (XBAR_REQUIRE_NGSPICE=1) but not installed")
        pytest.skip("ngspice not installed (apt-get install -y ngspice); cross-check skipped")
    return run_ngspice


@pytest.fixture
def ngspice():
    """The :func:`xbar.spice.ngspice.run_ngspice` callable, or skip/fail as described above."""
    return _require_ngspice()
