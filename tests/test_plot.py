"""Plots and the ``xbar crossbar`` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import xbar
from xbar.cli import main
from xbar.errors import ConfigError

G = np.random.default_rng(0).uniform(1e-6, 1e-4, (8, 6))
V = np.full((2, 8), 0.3)


def test_plots_save_files_with_labels(tmp_path):
    xb = xbar.Crossbar(G, 2.0, 2.0)
    sol = xb.solve(V, return_nodes=True)
    fig = xbar.plot.plot_voltages(sol, tmp_path / "v.png", k=1)
    assert (tmp_path / "v.png").stat().st_size > 1000
    assert fig.axes[0].get_xlabel() == "column j"
    assert any("voltage [V]" == a.get_ylabel() for a in fig.axes)  # colorbar labels
    fig = xbar.plot.plot_ir_drop(xb, None, V)
    drop = fig.axes[0].images[0].get_array()
    assert drop.shape == (8, 6) and float(drop.max()) > 0  # wires lose voltage
    xbar.plot.plot_cell_currents(sol, tmp_path / "i.pdf")
    assert (tmp_path / "i.pdf").exists()
    fig = xbar.plot.plot_output_error(xb, V, tmp_path / "e.png")
    line = fig.axes[0].lines[0].get_ydata()
    assert np.all(np.asarray(line) < 0)  # IR drop lowers every output
    xbar.plot.overview(xb, V, tmp_path / "o.png")


def test_plot_errors():
    xb = xbar.Crossbar(G, 1.0, 1.0)
    with pytest.raises(ConfigError, match="return_nodes=True"):
        xbar.plot.plot_voltages(xb.solve(V))
    with pytest.raises(ConfigError, match="needs input voltages"):
        xbar.plot.plot_ir_drop(xb)
    with pytest.raises(ConfigError, match="k=5 out of range"):
        xbar.plot.plot_cell_currents(xb, None, V, k=5)


def test_cli_crossbar_json_and_plot(tmp_path, capsys):
    out = tmp_path / "xb.png"
    rc = main(
        [
            "crossbar",
            "--rows",
            "16",
            "--cols",
            "12",
            "--r-wire",
            "2",
            "--inputs",
            "3",
            "--json",
            "--plot",
            str(out),
        ]
    )
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["rows"] == 16 and rep["cols"] == 12
    assert rep["max_ir_drop_volts"] > 0 and 0 < rep["max_output_error_vs_ideal"] < 0.1
    assert out.exists()


def test_cli_crossbar_npz_ideal_and_errors(tmp_path, capsys):
    p = tmp_path / "g.npz"
    np.savez(p, G=G)
    assert main(["crossbar", "--conductances", str(p), "--r-wire", "0", "--device", "sinh"]) == 0
    text = capsys.readouterr().out
    assert "crossbar 8x6, sinh cells" in text
    bad = tmp_path / "bad.npz"
    np.savez(bad, G=-G)
    assert main(["crossbar", "--conductances", str(bad)]) == 2
    assert "G at index (0, 0)" in capsys.readouterr().err
