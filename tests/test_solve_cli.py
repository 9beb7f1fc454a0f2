"""``xbar solve``: table, JSON and CSV output; default netlist; errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xbar.cli import main

NETLISTS = Path(__file__).resolve().parents[1] / "netlists"


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_op_of_default_netlist(capsys):
    code, out, err = run_cli(["solve", "--json"], capsys)
    assert code == 0, err
    obj = json.loads(out)  # exactly one JSON object
    assert obj["analysis"] == "op"
    assert set(obj) >= {"voltages", "currents", "iterations", "strategy", "timing"}
    assert set(obj["timing"]) == {"parse_s", "solve_s"}
    assert obj["strategy"] == "linear" and obj["iterations"] == 1
    assert obj["voltages"]["in0"] == pytest.approx(0.2718)
    # output currents flow into the sense sources' + terminals: positive
    assert all(obj["currents"][f"v_sense{j}"] > 0 for j in range(4))
    assert all(k == k.lower() for k in list(obj["voltages"]) + list(obj["currents"]))


def test_json_dc_lists_per_point(capsys):
    code, out, _ = run_cli(["solve", str(NETLISTS / "ladder_dc.cir"), "--json"], capsys)
    assert code == 0
    obj = json.loads(out)
    assert obj["analysis"] == "dc"
    assert obj["sweep"] == pytest.approx(np.arange(0, 5.01, 0.5).tolist())
    assert obj["voltages"]["n3"] == pytest.approx((np.array(obj["sweep"]) / 8).tolist())
    assert len(obj["currents"]["vin"]) == 11 and len(obj["iterations"]) == 11


def test_csv_one_row_per_point(capsys):
    code, out, _ = run_cli(["solve", str(NETLISTS / "diode_nested_dc.cir"), "--csv"], capsys)
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][:2] == ["vdd", "ib"]
    assert "v(out)" in rows[0] and "i(vdd)" in rows[0]
    assert len(rows) == 1 + 13 * 3
    first_outer = [float(r[1]) for r in rows[1:]]
    assert first_outer[:13] == [0.0] * 13 and first_outer[13] == pytest.approx(1e-3)


def test_table_output(capsys):
    code, out, _ = run_cli(["solve", str(NETLISTS / "crossbar_sinh_4x4.cir")], capsys)
    assert code == 0
    assert "operating point (newton" in out
    assert "node" in out and "voltage [V]" in out and "current [A]" in out
    assert "v_sense3" in out


def test_bad_netlist_exits_2_with_message(tmp_path, capsys):
    bad = tmp_path / "bad.cir"
    bad.write_text("title\nR1 a 0 1k\nQ1 a b c\n.end\n")
    code, out, err = run_cli(["solve", str(bad)], capsys)
    assert code == 2 and out == ""
    assert "bad.cir:3" in err and "Traceback" not in err


def test_singular_circuit_exits_2(tmp_path, capsys):
    bad = tmp_path / "float.cir"
    bad.write_text("floating\nV1 a 0 1\nR1 a 0 1k\nR2 x y 1k\n.op\n.end\n")
    code, _, err = run_cli(["solve", str(bad), "--json"], capsys)
    assert code == 2
    assert "floating nodes x, y" in err and "float.cir:4" in err


def test_missing_default_netlist_is_a_clear_error(monkeypatch, capsys, tmp_path):
    from xbar.cli import solve

    monkeypatch.setattr(solve, "netlists_dir", lambda: tmp_path / "nowhere")
    code, _, err = run_cli(["solve"], capsys)
    assert code == 2 and "bundled default netlist" in err


def test_whole_process_json_is_one_object():
    proc = subprocess.run(
        [sys.executable, "-m", "xbar.cli", "solve", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["analysis"] == "op" and len(obj["currents"]) == 8
