"""The validation framework itself: verdicts, JSON schema, report and figures, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xbar.validation import catalog, report
from xbar.validation import framework as fw


def _case(func, tol=1e-9, name="demo", kind="analytic"):
    return fw.Case(name, kind, "a demo case", "closed form", tol, "because", func)


def test_rel_error_is_normwise():
    assert fw.rel_error([1.0, 0.0], [1.0, 1e-30]) == pytest.approx(1e-30)
    assert fw.rel_error([2.0, 1.0], [1.0, 1.0]) == 1.0
    with pytest.raises(ValueError):
        fw.rel_error([1.0], [1.0, 2.0])


def test_fit_order_recovers_slope():
    h = np.logspace(-3, -1, 5)
    assert fw.fit_order(h, 3 * h**2) == pytest.approx(2.0)


def test_verdicts():
    ok = fw.run_case(_case(lambda: fw.CaseResult(1e-10)))
    assert ok.status == fw.PASSED and ok.passed is True
    bad = fw.run_case(_case(lambda: fw.CaseResult(1e-8)))
    assert bad.status == fw.FAILED and "tolerance" in bad.message
    nan = fw.run_case(_case(lambda: fw.CaseResult(float("nan"))))
    assert nan.status == fw.FAILED
    slope = fw.Check("slope", 1.2, 0.9, 1.1)
    check = fw.run_case(_case(lambda: fw.CaseResult(0.0, checks=[slope])))
    assert check.status == fw.FAILED and "slope" in check.message

    def boom():
        raise RuntimeError("kaput")

    err = fw.run_case(_case(boom))
    assert err.status == fw.ERROR and "kaput" in err.message

    def skip():
        raise fw.CaseSkipped("ngspice not found")

    sk = fw.run_case(_case(skip, kind="ngspice"))
    assert sk.status == fw.SKIPPED and sk.passed is None


def test_json_schema_and_table():
    outs = fw.run_cases(
        [
            _case(lambda: fw.CaseResult(1e-12, details={"a": np.float64(2.0)}), name="good"),
            _case(lambda: fw.CaseResult(1.0), name="bad"),
        ]
    )
    data = json.loads(json.dumps(report.to_json(outs)))
    first = data["cases"][0]
    for key in ("name", "kind", "max_rel_error", "tolerance", "passed"):
        assert key in first
    assert first["passed"] is True and data["cases"][1]["passed"] is False
    assert first["details"]["a"] == 2.0
    table = report.format_table(outs)
    assert "good" in table and "FAIL" in table and "1 passed, 1 failed" in table


def test_report_writes_markdown_and_figures(tmp_path):
    figs = {
        "conv": {
            "type": "loglog",
            "x": [1, 2, 4],
            "series": {"err": [1, 0.5, 0.25]},
            "xlabel": "n",
            "ylabel": "e",
            "title": "t",
        },
        "maps": {
            "type": "heatmaps",
            "maps": {"a": np.ones((3, 4)), "b": np.zeros((3, 4)), "difference": np.ones((3, 4))},
            "unit": "V",
        },
    }
    outs = fw.run_cases([_case(lambda: fw.CaseResult(0.0, figures=figs))])
    path = report.write_report(outs, tmp_path)
    text = path.read_text()
    assert "because" in text and "conv.png" in text
    assert (tmp_path / "conv.png").stat().st_size > 1000
    assert (tmp_path / "maps.png").stat().st_size > 1000


def test_registry_has_the_issue_cases():
    names = {c.name for c in catalog.all_cases()}
    assert len(names) >= 15
    for needed in (
        "ideal_zero_wire_resistance",
        "word_line_ladder",
        "bit_line_ladder",
        "single_cell_sinh_series",
        "engine_diode_lambert_w",
        "passivity",
        "kcl_power_linear",
        "continuum_limit_telegrapher",
        "reciprocity_transposed_array",
    ):
        assert needed in names
    kinds = {c.kind for c in catalog.all_cases()}
    assert kinds == {"analytic", "ngspice"}
    assert all(c.tolerance > 0 and c.why for c in catalog.all_cases())
    assert not math.isnan(sum(c.tolerance for c in catalog.all_cases()))


def test_select_cases_pattern_and_quick():
    assert [c.name for c in catalog.select_cases("passivity")] == ["passivity"]
    assert all(c.quick for c in catalog.select_cases(quick=True))
    assert catalog.select_cases("no_such_case_xyz") == []


def test_cli_unknown_case_is_an_error(capsys):
    from xbar.cli import main

    assert main(["validate", "--case", "no_such_case_xyz"]) == 2
    assert "no validation case" in capsys.readouterr().err
