"""Sweeps with the real evaluator and the shipped model, through the API and ``xbar sweep``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xbar.cli import main
from xbar.network import load_model, sweep
from xbar.network.config import AnalogConfig
from xbar.network.evaluate import evaluate

LIMIT = 40


@pytest.fixture(scope="module")
def model():
    return load_model("default")


def test_real_evaluator_serial_processes_dask_identical(model, tmp_path):
    pytest.importorskip("distributed")
    base = AnalogConfig(programming_error="weight_range", g_min=0.0, repeats=2, seed=5)
    axes = {"programming_sigma": [0.1, 0.3]}
    ref = sweep(model, base, axes, executor="serial", limit=LIMIT)
    # chip k of the sweep is chip k of a direct evaluation of all chips at once
    direct = evaluate(model, base.replace(programming_sigma=0.3), chips=[0, 1], limit=LIMIT)
    assert list(ref.accuracies[1, 0]) == direct.accuracies
    assert ref.mean[0, 0] > ref.mean[1, 0]  # more error, less accuracy
    procs = sweep(
        model, base, axes, executor="processes", workers=2, limit=LIMIT, out=tmp_path / "p.csv"
    )
    assert np.array_equal(procs.accuracies, ref.accuracies)
    dask = sweep(
        model, base, axes, executor="local", workers=2, limit=LIMIT, out=tmp_path / "d.csv"
    )
    assert np.array_equal(dask.accuracies, ref.accuracies)


def test_model_name_and_object_share_fingerprint(model, tmp_path):
    out = tmp_path / "n.csv"
    base = AnalogConfig(adc_bits=4, adc_range="calibrated")
    a = sweep(
        "default", base, {"mapping": ["differential"]}, executor="serial", limit=LIMIT, out=out
    )
    # the same weights loaded from another path, or the object itself, reuse the row
    b = sweep(model, base, {"mapping": ["differential"]}, executor="serial", limit=LIMIT, out=out)
    assert b.reused == 1 and b.computed == 0
    assert a.accuracies[0, 0, 0] == b.accuracies[0, 0, 0]


def test_cli_sweep_json_csv_plot_and_resume(tmp_path, capsys):
    out, png = tmp_path / "s.csv", tmp_path / "s.png"
    argv = [
        "sweep",
        "--field",
        "programming_sigma",
        "--values",
        "0,0.2",
        "--field2",
        "mapping",
        "--values2",
        "differential,offset",
        "--programming-error",
        "state_independent",
        "--repeats",
        "2",
        "--limit",
        str(LIMIT),
        "--serial",
        "--out",
        str(out),
        "--plot",
        str(png),
        "--json",
    ]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["fields"] == ["programming_sigma", "mapping"]
    assert res["computed"] == 8 and res["reused"] == 0 and res["chips"] == 2
    pts = {(p["programming_sigma"], p["mapping"]): p for p in res["points"]}
    assert len(pts["programming_sigma" and (0.2, "offset")]["accuracies"]) == 2
    assert pts[(0.0, "differential")]["accuracy"] > pts[(0.2, "differential")]["accuracy"]
    assert res["config"]["programming_error"] == "state_independent"
    assert png.stat().st_size > 5000
    # rerun: nothing to compute, same numbers
    assert main(argv) == 0
    res2 = json.loads(capsys.readouterr().out)
    assert res2["computed"] == 0 and res2["reused"] == 8
    assert res2["points"] == res["points"]
    # text output
    assert main(argv[:-1]) == 0
    text = capsys.readouterr().out
    assert "mean %" in text and "offset" in text


def test_cli_sigma_sweep_without_kind_gets_a_note(tmp_path, capsys):
    argv = [
        "sweep",
        "--field",
        "programming_sigma",
        "--values",
        "0.1",
        "--limit",
        "10",
        "--serial",
        "--out",
        str(tmp_path / "x.csv"),
    ]
    assert main(argv) == 0
    assert "state_independent" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--field", "adc_bitz", "--values", "4"], "adc_bits"),
        (["--field", "adc_bits", "--values", "4,x"], "adc_bits"),
        (["--field", "adc_bits", "--values", "0,4", "--adc-range", "calibrated"], "adc_bits"),
        (["--field", "repeats", "--values", "1,2"], "repeats"),
        (["--field", "adc_bits", "--values", "4", "--field2", "mapping"], "--values2"),
        (
            ["--field", "adc_bits", "--values", "4", "--out", "/nonexistent/dir/s.csv"],
            "/nonexistent/dir",
        ),
        (["--field", "adc_bits", "--values", "4", "--repeats", "0"], "repeats"),
        (["--field", "programming_sigma", "--values", "-0.1"], "programming_sigma"),
        (["--field", "weight_scaling", "--values", "layer,bogus"], "weight_scaling"),
        (
            ["--field", "adc_bits", "--values", "4", "--scheduler", "tcp://127.0.0.1:9"],
            "tcp://127.0.0.1:9",
        ),
    ],
)
def test_cli_bad_input(argv, needle, tmp_path, capsys, monkeypatch):
    import importlib

    monkeypatch.setattr(importlib.import_module("xbar.network.sweep"), "SCHEDULER_TIMEOUT", 1.0)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", *argv, "--limit", "5"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and needle in err
    assert "Traceback" not in err
