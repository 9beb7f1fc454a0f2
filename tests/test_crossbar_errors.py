"""QA defects: clear XbarErrors before long runs, never raw numpy/OS tracebacks or warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xbar
from xbar.cli import main
from xbar.errors import ConfigError, ConvergenceError, ValueRangeError


def test_cli_plot_path_checked_before_solving(monkeypatch, capsys):
    from xbar.crossbar import Crossbar

    def boom(*a, **k):
        raise AssertionError("solve must not run when the plot path is bad")

    monkeypatch.setattr(Crossbar, "solve", boom)
    assert main(["crossbar", "--rows", "4", "--cols", "4", "--plot", "/nonexistent/x.png"]) == 2
    err = capsys.readouterr().err
    assert "/nonexistent" in err and "does not exist" in err and "Traceback" not in err
    assert main(["crossbar", "--rows", "4", "--cols", "4", "--plot", "out.notanimage"]) == 2
    assert "unknown image type" in capsys.readouterr().err


def test_plot_check_path(tmp_path):
    xbar.plot.check_path(tmp_path / "a.png")
    xbar.plot.check_path(tmp_path / "a.pdf")
    with pytest.raises(ConfigError, match="does not exist"):
        xbar.plot.check_path(tmp_path / "missing" / "a.png")
    with pytest.raises(ConfigError, match="folder"):
        xbar.plot.check_path(tmp_path)


def test_cli_refuses_arrays_that_cannot_fit(capsys):
    assert main(["crossbar", "--rows", "100000", "--cols", "100000"]) == 2
    err = capsys.readouterr().err
    assert "100000x100000" in err and "GiB" in err and "available" in err


def test_cli_memory_estimate_lets_normal_runs_through(capsys):
    assert main(["crossbar", "--rows", "20", "--cols", "10", "--json"]) == 0


@pytest.mark.parametrize(
    "text, match",
    [
        (None, "not found"),
        ("v,i\n-1,-1\n0,0\n0.5,abc\n", r":4: expected two numbers"),
        ("v,i\n-1,-1\n0,0\n-0.5,1\n", r":4: voltages must increase"),
        ("v,i\n-1,-1\n0,0\n1,nan\n", r":4: voltage and current must be finite"),
        ("v,i\n-1,1\n0,0\n1,2\n", r":3: currents must be monotone"),
        ("just a header\n", "no I-V data rows"),
        (b"\xff\xfe\x00binary", "cannot read"),
    ],
)
def test_tabulated_from_csv_errors_name_file_and_line(tmp_path, text, match):
    path = tmp_path / "iv.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises((ConfigError, ValueRangeError), match=match) as info:
        xbar.Tabulated.from_csv(path)
    assert str(path) in str(info.value)


def test_tabulated_from_csv_reads_good_table(tmp_path):
    path = tmp_path / "iv.csv"
    path.write_text("# measured\nv [V], i [A]\n-1, -2e-4\n0, 0\n1, 2e-4\n")
    dev = xbar.Tabulated.from_csv(path)
    np.testing.assert_allclose(dev.v, [-1, 0, 1])


@pytest.mark.parametrize(
    "text",
    [
        "# measured 2026; probe station B\nv i\n-1 -2e-4\n0 0\n1 2e-4\n",  # ';' in a comment
        "# voltage [V], current [A]\n-1.0 -2e-4\n0.0 0.0\n1.0 2e-4\n",  # savetxt header=
        "v;i\n-1,0;-2e-4\n0;0\n1,0;2e-4\n",  # decimal commas between ';'
        "# a, b; c\nv, i\n-1, -2e-4\n0, 0\n1, 2e-4\n",
    ],
)
def test_tabulated_from_csv_separator_from_data_lines_only(tmp_path, text):
    # a ';' or ',' in a comment once chose the separator and the data lines were refused
    path = tmp_path / "iv.csv"
    path.write_text(text)
    dev = xbar.Tabulated.from_csv(path)
    np.testing.assert_allclose(dev.v, [-1, 0, 1])
    np.testing.assert_allclose(dev.i, [-2e-4, 0, 2e-4])


def test_sinh_overflow_is_a_convergence_error_without_warnings():
    xb = xbar.Crossbar(np.full((4, 4), 1e-4), 1.0, 1.0, device=xbar.Sinh(100.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning may leak
        with pytest.raises(ConvergenceError, match=r"cell \(\d+, \d+\)") as info:
            xb.solve(np.full(4, 5.0))
    assert "overflow" in str(info.value) and info.value.hint


def test_cli_sinh_overflow_exit_code(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (
            main(
                [
                    "crossbar",
                    "--rows",
                    "4",
                    "--cols",
                    "4",
                    "--device",
                    "sinh",
                    "--k",
                    "100",
                    "--v-max",
                    "5",
                ]
            )
            == 2
        )
    err = capsys.readouterr().err
    assert "cell (" in err and "RuntimeWarning" not in err


@pytest.mark.parametrize(
    "name, model",
    [("sinh", xbar.Sinh()), ("Linear", xbar.Linear()), ("power_law", xbar.PowerLaw())],
)
def test_device_by_name_is_the_default_model(name, model):
    G = np.linspace(1e-5, 1e-4, 12).reshape(4, 3)
    V = np.linspace(0.05, 0.2, 4)
    by_name = xbar.Crossbar(G, r_row=1.0, r_col=1.0, device=name).solve(V).output
    by_model = xbar.Crossbar(G, r_row=1.0, r_col=1.0, device=model).solve(V).output
    np.testing.assert_array_equal(by_name, by_model)


@pytest.mark.parametrize("device", ["sinhh", 3, object()])
def test_unknown_device_is_named_with_the_choices(device):
    with pytest.raises(ConfigError, match="device") as info:
        xbar.Crossbar(np.full((2, 2), 1e-4), device=device)
    assert "sinh" in info.value.hint and "linear" in info.value.hint
