"""``xbar crossbar`` with a researcher's own data: --voltages, --resistances, --save."""

from __future__ import annotations

import json

import numpy as np
import pytest

import xbar
from xbar.cli import main

G = np.random.default_rng(3).uniform(1e-6, 1e-4, (4, 3))
V2 = np.array([[0.1, 0.2, 0.3, 0.0], [0.3, 0.25, 0.05, 0.1]])


def cli(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_error(rc, err, *needles):
    assert rc == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def gfile(tmp_path):
    p = tmp_path / "g.npz"
    np.savez(p, G=G)
    return p


def _expected(V, G, **kw):
    return xbar.Crossbar(G, 1.0, 1.0, 0.0, 0.0).solve(V, return_nodes=True, **kw)


def test_save_round_trip_matches_library(tmp_path, gfile, capsys):
    vfile, out = tmp_path / "v.npy", tmp_path / "res.npz"
    np.save(vfile, V2)
    rc, text, err = cli(
        ["crossbar", "--conductances", gfile, "--voltages", vfile, "--save", out], capsys
    )
    assert rc == 0, err
    assert "2 input(s)" in text and str(out) in text
    sol = _expected(V2, G)
    with np.load(out) as z:
        assert set(z.files) == {"V", "G", "I", "I_ideal", "V_row", "V_col", "I_cell"}
        np.testing.assert_array_equal(z["V"], V2)
        np.testing.assert_array_equal(z["G"], G)
        np.testing.assert_allclose(z["I"], sol.output, rtol=1e-9)
        np.testing.assert_allclose(z["I_ideal"], V2 @ G, rtol=1e-12)
        np.testing.assert_allclose(z["V_row"], sol.row_voltages, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(z["V_col"], sol.col_voltages, rtol=1e-9, atol=1e-15)
        assert z["I_cell"].shape == (2, 4, 3)
    assert not any(p.name.startswith("res.npz.tmp") for p in tmp_path.iterdir())


def test_save_path_without_suffix_is_kept_exactly(tmp_path, gfile, capsys):
    out = tmp_path / "results.dat"
    rc, _, err = cli(["crossbar", "--conductances", gfile, "--save", out], capsys)
    assert rc == 0, err
    assert out.exists() and not (tmp_path / "results.dat.npz").exists()
    with np.load(out) as z:
        assert z["V"].shape == (1, 4) and z["I"].shape == (1, 3)


@pytest.mark.parametrize(
    "name, write, K",
    [
        ("v.csv", lambda p: p.write_text("# V [V]\n0.1, 0.2, 0.3, 0\n0.3,0.25,0.05,0.1\n"), 2),
        ("v.txt", lambda p: p.write_text("0.1 0.2\t0.3 0  # one input\n\n"), 1),
        ("col.txt", lambda p: p.write_text("0.1\n0.2\n0.3\n0\n"), 1),  # one column = one input
        ("v.npz", lambda p: np.savez(p, other=np.ones(2), V=V2), 2),
        ("first.npz", lambda p: np.savez(p, volts=V2[0]), 1),
        ("v1.npy", lambda p: np.save(p, V2[0]), 1),
    ],
)
def test_voltage_file_formats(tmp_path, gfile, capsys, name, write, K):
    p = tmp_path / name
    write(p)
    out = tmp_path / "o.npz"
    rc, text, err = cli(
        ["crossbar", "--conductances", gfile, "--voltages", p, "--save", out, "--json"], capsys
    )
    assert rc == 0, err
    rep = json.loads(text)
    assert rep["inputs"] == K and rep["voltages"] == str(p) and rep["save"] == str(out)
    with np.load(out) as z:
        assert z["V"].shape == (K, 4)
        np.testing.assert_array_equal(z["V"][0], V2[0])
        np.testing.assert_allclose(z["I"], _expected(z["V"], G).output, rtol=1e-9)


def test_voltages_with_random_array_use_rows(tmp_path, capsys):
    p = tmp_path / "v.csv"
    p.write_text("0.1,0.2,0.3\n")
    rc, text, err = cli(["crossbar", "--rows", 3, "--cols", 5, "--voltages", p], capsys)
    assert rc == 0, err
    assert "crossbar 3x5" in text and "1 input(s)" in text


@pytest.mark.parametrize(
    "name, write, needles",
    [
        ("short.csv", lambda p: p.write_text("0.1, 0.2\n"), ["short.csv", "(1, 2)", "(4,)"]),
        ("v3.npy", lambda p: np.save(p, np.ones((2, 2, 4))), ["v3.npy", "(2, 2, 4)", "(K, 4)"]),
        ("wide.npz", lambda p: np.savez(p, V=np.ones((2, 5))), ["wide.npz", "(2, 5)", "(4,)"]),
        ("nan.csv", lambda p: p.write_text("0.1,0.2,nan,0\n"), ["nan.csv", "input 0, row 2"]),
        ("inf.npy", lambda p: np.save(p, np.array([0, 0, 0, np.inf])), ["inf.npy", "row 3"]),
        ("empty.csv", lambda p: p.write_text(""), ["empty.csv", "empty"]),
        ("comments.csv", lambda p: p.write_text("# nothing\n\n"), ["comments.csv", "no numbers"]),
        ("word.csv", lambda p: p.write_text("0.1,abc,0,0\n"), ["word.csv:1", "'abc'"]),
        ("ragged.csv", lambda p: p.write_text("0,0,0,0\n0,0\n"), ["ragged.csv:2", "2 number"]),
        ("bin.dat", lambda p: p.write_bytes(b"\xff\xfe\x00\x81binary"), ["bin.dat", "neither"]),
        ("bad.npy", lambda p: p.write_bytes(b"\x93NUMPYjunk"), ["bad.npy", "not a valid .npy"]),
        ("cplx.npy", lambda p: np.save(p, np.ones(4) * 1j), ["cplx.npy", "complex"]),
        ("none.npz", lambda p: np.savez(p), ["none.npz", "no arrays"]),
        ("missing.csv", None, ["missing.csv", "does not exist"]),
    ],
)
def test_voltage_file_errors(tmp_path, gfile, capsys, name, write, needles):
    p = tmp_path / name
    if write is not None:
        write(p)
    rc, _, err = cli(["crossbar", "--conductances", gfile, "--voltages", p], capsys)
    assert_error(rc, err, *needles)


@pytest.mark.parametrize("flags", [["--inputs", "2"], ["--v-max", "0.5"]])
def test_voltages_refuse_random_input_flags(tmp_path, gfile, capsys, flags):
    p = tmp_path / "v.csv"
    p.write_text("0,0,0,0\n")
    rc, _, err = cli(["crossbar", "--conductances", gfile, "--voltages", p, *flags], capsys)
    assert_error(rc, err, flags[0], "--voltages", "does not apply")


def test_resistances_equal_conductances(tmp_path, gfile, capsys):
    r, o1, o2 = tmp_path / "r.npz", tmp_path / "o1.npz", tmp_path / "o2.npz"
    np.savez(r, R=1.0 / G)
    assert cli(["crossbar", "--resistances", r, "--save", o1], capsys)[0] == 0
    assert cli(["crossbar", "--conductances", gfile, "--save", o2], capsys)[0] == 0
    with np.load(o1) as a, np.load(o2) as b:
        np.testing.assert_allclose(a["G"], G, rtol=1e-14)
        np.testing.assert_allclose(a["I"], b["I"], rtol=1e-12)


@pytest.mark.parametrize(
    "value, needle",
    [(0.0, "index (1, 2) is 0"), (-5.0, "index (1, 2) is -5"), (np.nan, "index (1, 2) is nan")],
)
def test_resistances_bad_values_named_by_position(tmp_path, capsys, value, needle):
    R = 1.0 / G
    R[1, 2] = value
    p = tmp_path / "r.npz"
    np.savez(p, R=R)
    rc, _, err = cli(["crossbar", "--resistances", p], capsys)
    assert_error(rc, err, "r.npz", needle, "> 0 ohm")


def test_resistances_and_conductances_are_exclusive(tmp_path, gfile, capsys):
    rc, _, err = cli(["crossbar", "--conductances", gfile, "--resistances", gfile], capsys)
    assert_error(rc, err, "--resistances", "not allowed with argument --conductances")


def test_save_folder_checked_before_the_solve(tmp_path, gfile, monkeypatch, capsys):
    def boom(*a, **k):
        raise AssertionError("solve must not run when the --save path is bad")

    monkeypatch.setattr(xbar.Crossbar, "solve", boom)
    rc, _, err = cli(["crossbar", "--save", tmp_path / "no" / "o.npz"], capsys)
    assert_error(rc, err, "--save", "does not exist")
    rc, _, err = cli(["crossbar", "--save", tmp_path], capsys)
    assert_error(rc, err, "--save", "is a folder")


def test_save_write_failure_is_a_clear_error(tmp_path, gfile, monkeypatch, capsys):
    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    out = tmp_path / "o.npz"
    rc, _, err = cli(["crossbar", "--conductances", gfile, "--save", out], capsys)
    assert_error(rc, err, "No space left on device", str(out))
    assert list(tmp_path.iterdir()) == [gfile]  # no partial file left behind


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--r-wire", "-1"),
        ("--r-row", "-1"),
        ("--r-col", "nan"),
        ("--r-driver", "-2"),
        ("--r-sense", "inf"),
        ("--tol", "0"),
        ("--tol", "-1"),
    ],
)
def test_bad_flag_values_name_the_flag_typed(capsys, flag, value):
    rc, _, err = cli(["crossbar", "--rows", 4, "--cols", 3, flag, value], capsys)
    assert_error(rc, err, flag)
    assert "r_row" not in err and "r_col" not in err and "tol=" not in err


def test_sinh_k_named_as_flag(capsys):
    rc, _, err = cli(["crossbar", "--rows", 4, "--cols", 3, "--device", "sinh", "--k", -1], capsys)
    assert_error(rc, err, "--k")
