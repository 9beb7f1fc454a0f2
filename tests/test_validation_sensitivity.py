"""The cases can fail: a slightly wrong circuit given to the solver must be caught.

Each test swaps the validation's adapter to the crossbar solver for one that
builds a subtly different circuit (a wire resistance off by one part in a
million, a driver resistance forgotten) and checks that the case fails.
"""

from __future__ import annotations

import pytest

from xbar.validation import FAILED, all_cases, cases_analytic, run_case


def _perturbed(scale_r_row=1.0, drop_driver=False):
    real = cases_analytic._crossbar

    def build(G, **kw):
        kw = dict(kw)
        if "r_row" in kw:
            kw["r_row"] = kw["r_row"] * scale_r_row
        if drop_driver and "r_driver" in kw:
            kw["r_driver"] = 0.0 * kw["r_driver"]
        return real(G, **kw)

    return build


def _case(name):
    return next(c for c in all_cases() if c.name == name)


@pytest.mark.parametrize(
    "name",
    [
        "word_line_ladder",
        "uniform_array_row_profiles",
        "random_arrays_dense_nodal",
        "kcl_power_linear",
    ],
)
def test_one_ppm_wire_error_is_caught(monkeypatch, name):
    monkeypatch.setattr(cases_analytic, "_crossbar", _perturbed(scale_r_row=1 + 1e-6))
    case = _case(name)
    assert run_case(case).status == FAILED


@pytest.mark.parametrize(
    "name",
    ["word_line_ladder_driver_sense", "bit_line_ladder_driver_sense", "single_cell_sinh_series"],
)
def test_forgotten_driver_resistance_is_caught(monkeypatch, name):
    monkeypatch.setattr(cases_analytic, "_crossbar", _perturbed(drop_driver=True))
    assert run_case(_case(name)).status == FAILED


def test_unperturbed_cases_pass():
    for name in ("word_line_ladder", "bit_line_ladder_driver_sense"):
        assert run_case(_case(name)).passed
