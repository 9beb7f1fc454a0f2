"""Classes of hostile input found by the second audit (``scripts/audit.py``), one test per class.

Each test covers the class with several examples, not only the one the audit tried:
netlist cards that name what does not exist, unbalanced parentheses, expressions nested
beyond Python's recursion limit, wrong argument types, booleans where numbers are meant,
configurations checked where they are made, non-finite inputs, and CLI flags and data-set
files whose problems were silent.
"""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.cli import main
from xbar.errors import (
    ConfigError,
    InputTypeError,
    ModelError,
    NetlistError,
    ResourceError,
    ValueRangeError,
    XbarError,
)

DIV = "V1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n"


def _cli(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, err


# ---------------------------------------------------------------------------------------------
# netlists
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cards, needle",
    [
        ("K1 L1 L2 0.5", "'l1'"),  # no inductors at all
        ("L1 a b 1u\nK1 L1 L9 0.5", "'l9'"),  # the second is missing
        ("L1 a b 1u\nK1 L1 V1 0.5", "'v1'"),  # a V source is not an inductor
        (".subckt s p\nL1 p 0 1u\nK1 L1 L2 1\n.ends\nX1 a s", "'l2'"),  # inside a subcircuit
    ],
)
def test_coupling_must_name_inductors(cards, needle):
    with pytest.raises(NetlistError) as info:
        xbar.read_netlist(f"t\n{DIV}{cards}\n.op\n")
    assert needle in str(info.value) and "inductor" in str(info.value)
    assert info.value.location is not None


def test_coupling_of_inductors_declared_later_is_fine():
    c = xbar.read_netlist(f"t\n{DIV}K1 L1 L2 0.5\nL1 b c 1u\nL2 c 0 1u\n.op\n")
    assert xbar.solve_dc(c).voltage("b") == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "card, column",
    [
        ("V9 c 0 PULSE(0 1 0", 13),
        ("V9 c 0 SIN(0 1 1k", 11),
        ("I9 c 0 DC 1m PWL(0 0 1 1", 17),
        ("V9 c 0 1 )", 10),
        (".model dm D(IS=1e-14", 12),
        (".model dm D IS=1e-14)", 21),
    ],
)
def test_unbalanced_parentheses_are_located(card, column):
    text = f"t\n{DIV}R9 c 0 1k\n{card}\n.op\n"
    with pytest.raises(NetlistError, match="unbalanced parentheses") as info:
        xbar.read_netlist(text)
    assert info.value.location.line == 6
    assert info.value.location.column == column


@pytest.mark.parametrize(
    "expr",
    [
        "(" * 3000 + "1" + ")" * 3000,
        "-" * 5000 + "1",
        "sin(" * 2000 + "1" + ")" * 2000,
        "1" + "+(1" * 2000 + ")" * 2000,
    ],
)
@pytest.mark.parametrize("where", ["value", "param", "bsource"])
def test_expressions_nested_too_deeply(expr, where):
    card = {
        "value": f"V1 x 0 {{{expr}}}\nR1 x 0 1",
        "param": f".param p={{{expr}}}\nV1 x 0 {{p}}\nR1 x 0 1",
        "bsource": f"V1 x 0 1\nR1 x y 1\nB1 y 0 I={expr}",
    }[where]
    with pytest.raises(NetlistError, match="nested too deeply") as info:
        xbar.read_netlist(f"t\n{card}\n.op\n")
    assert info.value.location is not None


@pytest.mark.parametrize("source", [None, b"t\nV1 a 0 1\n", 42, ["t", "V1 a 0 1"], 1.5])
def test_read_netlist_wrong_types(source):
    with pytest.raises(InputTypeError, match="read_netlist needs a file path"):
        xbar.read_netlist(source)


def test_read_netlist_takes_any_pathlike(tmp_path):
    import os

    class P(os.PathLike):
        def __fspath__(self):
            return str(tmp_path / "n.cir")

    (tmp_path / "n.cir").write_text("t\n" + DIV + ".op\n")
    assert xbar.solve_dc(xbar.read_netlist(P())).voltage("b") == pytest.approx(0.5)


@pytest.mark.parametrize(
    "data, needle",
    [(bytes(range(256)), "binary"), (b"R1 a 0 caf\xe9\n", "UTF-8 syntax error")],
)
def test_bad_include_names_both_files(data, needle, tmp_path):
    """(A Latin-1 file is read as Latin-1, as ngspice reads bytes; its bad value is named,
    as ngspice stops at it: a byte that is not UTF-8 outside a comment.)"""
    (tmp_path / "inc.cir").write_bytes(data)
    (tmp_path / "main.cir").write_text("t\n.include inc.cir\n" + DIV + ".op\n")
    with pytest.raises(NetlistError) as info:
        xbar.read_netlist(tmp_path / "main.cir")
    text = str(info.value)
    assert needle in text and "inc.cir" in text
    assert "main.cir:2" in text or "inc.cir:1:" in text


@pytest.mark.parametrize("name", [3, None, 1.0, ("b",)])
@pytest.mark.parametrize("method", ["voltage", "current"])
def test_solution_lookup_needs_text(name, method):
    op = xbar.solve_dc(xbar.read_netlist("t\n" + DIV + ".op\n"))
    with pytest.raises(InputTypeError, match="name must be text"):
        getattr(op, method)(name)


# ---------------------------------------------------------------------------------------------
# the Python API
# ---------------------------------------------------------------------------------------------

G4 = np.full((4, 4), 1e-5)


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda: xbar.Crossbar(np.ones((4, 4), bool)), "G holds booleans"),
        (lambda: xbar.Crossbar(G4, r_row=True), "r_row holds booleans"),
        (lambda: xbar.Crossbar(G4, r_source=np.array(False)), "r_source holds booleans"),
        (
            lambda: xbar.Crossbar(G4, selector=xbar.Sinh(3.0), g_selector=np.ones((4, 4), bool)),
            "g_selector holds booleans",
        ),
        (lambda: xbar.Crossbar(G4).solve(np.ones((2, 4), bool)), "V (input voltages [V])"),
        (lambda: xbar.Sinh(k=True), "booleans"),
        (lambda: xbar.crossbar.Tabulated(v=[-1, 0, 1], i=[False, False, True]), "booleans"),
    ],
)
def test_booleans_are_not_numbers(make, needle):
    with pytest.raises(InputTypeError, match="booleans") as info:
        make()
    assert needle in str(info.value)


def test_model_inputs_may_be_boolean_images():
    from xbar.network import load_model

    model = load_model("default")
    x = np.zeros((2, 8, 8, 1), bool)
    assert model.predict(x).shape == (2,)


@pytest.mark.parametrize("shape", [(10**6, 10**6), (10**5, 10**5, 10), (2**40, 4)])
def test_arrays_too_large_for_memory(shape):
    huge = np.broadcast_to(np.float32(1e-5), shape)  # no memory until converted
    with pytest.raises(ResourceError, match="GiB of memory") as info:
        xbar.Crossbar(huge)
    assert "G of shape" in str(info.value)


@pytest.mark.parametrize("v_read", [np.nan, np.inf, "0.2", 1j, [0.1, 0.2], None])
def test_crossbar_v_read_checked_where_given(v_read):
    with pytest.raises(XbarError, match="v_read"):
        xbar.Crossbar(G4, v_read=v_read)


@pytest.mark.parametrize(
    "field, value",
    [
        ("g_min", -1e-6),
        ("g_max", float("nan")),
        ("r_row", float("inf")),
        ("adc_bits", 1.5),
        ("adc_bits", True),
        ("adc_bits", 40),
        ("g_max", "1e-4"),
        ("v_read", 1j),
        ("array_rows", 0),
        ("repeats", -1),
        ("seed", -3),
        ("mapping", "diagonal"),
        ("programming_sigma", float("inf")),
        ("stuck_rate", 1.5),
        ("input_bits", None),
        ("weight_bits", [8]),
    ],
)
def test_analog_config_fields_checked_where_made(field, value):
    from xbar.network import AnalogConfig

    with pytest.raises(ConfigError) as info:
        AnalogConfig(**{field: value})
    assert field in str(info.value)


def test_analog_config_accepts_numpy_numbers_as_python_numbers():
    from xbar.network import AnalogConfig

    cfg = AnalogConfig(adc_bits=np.int64(6), g_min=np.float32(1e-6), array_rows=64.0)
    assert type(cfg.adc_bits) is int and type(cfg.g_min) is float
    assert type(cfg.array_rows) is int and cfg.array_rows == 64


def test_analog_config_cross_field_rules_wait_for_use():
    """A sweep's base may break a rule across fields on a swept field: refused when used."""
    from xbar.network import AnalogConfig, evaluate, load_model

    cfg = AnalogConfig(g_min=1e-3, g_max=1e-4)  # each field fine on its own
    with pytest.raises(ConfigError, match="g_min"):
        evaluate(load_model("default"), cfg, limit=2)


@pytest.mark.parametrize("bs", [0, -1, 1.5, "8", True])
def test_batch_sizes_checked(bs):
    from xbar.network import AnalogConfig, evaluate, load_model

    model = load_model("default")
    with pytest.raises(XbarError, match="batch_size"):
        evaluate(model, AnalogConfig(), limit=2, batch_size=bs)
    with pytest.raises(XbarError, match="batch_size"):
        model.predict(np.zeros((2, 8, 8, 1)), batch_size=bs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_images_are_refused(bad):
    from xbar.network import load_model

    x = np.zeros((3, 8, 8, 1))
    x[1, 2, 3, 0] = bad
    with pytest.raises(ValueRangeError, match=r"index \(1, 2, 3, 0\)"):
        load_model("default").predict(x)


# ---------------------------------------------------------------------------------------------
# CLI flags and data-set files
# ---------------------------------------------------------------------------------------------

XB = ["crossbar", "--rows", "4", "--cols", "4", "--inputs", "2"]


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--v-max", "inf"),
        ("--v-max", "nan"),
        ("--g-max", "inf"),
        ("--g-min", "nan"),
        ("--k", "inf"),
        ("--tol", "nan"),
        ("--seed", "-1"),
        ("--v-max", "-1"),
        ("--v-max", "-0.0"),
        ("--v-max", "0"),
    ],
)
def test_crossbar_flags_non_finite_or_negative(flag, value, capsys):
    rc, err = _cli([*XB, flag, value], capsys)
    assert rc == 2 and err.startswith("error:") and flag in err, err


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1e-6])
def test_crossbar_conductance_file_values_name_the_file(bad, tmp_path, capsys):
    G = np.full((3, 3), 1e-5)
    G[1, 2] = bad
    np.savez(tmp_path / "g.npz", G=G)
    rc, err = _cli(["crossbar", "--conductances", tmp_path / "g.npz", "--inputs", "1"], capsys)
    assert rc == 2 and "g.npz" in err and "(1, 2)" in err, err


@pytest.mark.parametrize(
    "flags",
    [
        ["--resize", "16,16"],
        ["--mean", "0.5"],
        ["--std", "0.2"],
        ["--crop", "4,4"],
        ["--layout", "NCHW"],
        ["--label", "coarse"],
    ],
)
@pytest.mark.parametrize("dataset", ["digits", "synthetic-8x8x1"])
def test_data_flags_on_builtin_data_sets_are_refused(flags, dataset, capsys):
    rc, err = _cli(["infer", "--dataset", dataset, "--limit", "2", *flags], capsys)
    assert rc == 2 and flags[0] in err and "built-in" in err, err


@pytest.mark.parametrize(
    "arrays, needle",
    [
        (dict(x=np.zeros((6, 8, 8, 1)), y=np.zeros(4, int)), "one label per image"),
        (dict(x=np.zeros((2, 8, 8, 1)), y=np.zeros(6, int)), "one label per image"),
        (dict(x=np.zeros((0, 8, 8, 1)), y=np.zeros(0, int)), "no images"),
        # (6, 1) columns (Keras' cifar10.load_data() labels) are read since onnx7
        (dict(x=np.zeros((6, 8, 8, 1)), y=np.zeros((6, 1, 2), int)), "one label per image"),
        (dict(x=np.float64(3.0), y=np.zeros(6, int)), "one label per image"),
    ],
)
def test_npz_data_sets_checked_before_the_limit(arrays, needle, tmp_path, capsys):
    np.savez(tmp_path / "d.npz", **arrays)
    rc, err = _cli(["infer", "--dataset", f"npz:{tmp_path / 'd.npz'}", "--limit", "2"], capsys)
    assert rc == 2 and "d.npz" in err and needle in err, err
    with pytest.raises(ModelError, match=needle):
        from xbar.network import load_dataset

        load_dataset(f"npz:{tmp_path / 'd.npz'}")


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda d: d["layers"][0].update(type="Conv9D"), "layer 'conv1'"),
        (lambda d: d["layers"][1].update(type=["ReLU"]), "layer 'relu1'"),
        (lambda d: d["layers"][6].update(type=None), "layer 'dense'"),
    ],
)
def test_unknown_layer_type_names_the_layer(edit, needle, tmp_path, capsys):
    import json
    import shutil

    from xbar.network.model import __file__ as model_file

    models = __import__("pathlib").Path(model_file).parents[1] / "data" / "models"
    desc = json.loads((models / "default.json").read_text())
    edit(desc)
    (tmp_path / "m.json").write_text(json.dumps(desc))
    shutil.copy(models / "default.npz", tmp_path / "m.npz")
    rc, err = _cli(["infer", "--model", tmp_path / "m", "--limit", "2"], capsys)
    assert rc == 2 and needle in err and "unknown layer type" in err, err


# ---------------------------------------------------------------------------------------------
# item 2: tabulated devices outside their table, and overflow named at the right element
# ---------------------------------------------------------------------------------------------

TABLE = dict(v=[-0.5, 0.0, 0.5], i=[-1.0, 0.0, 1.2])


@pytest.mark.parametrize(
    "kw, v, element",
    [
        (dict(r_row=1.0, r_col=1.0), 0.8, "cell"),
        (dict(), -0.9, "cell"),
        (dict(selector="table", device=None, g_selector=1e-7), 2.0, "selector"),
    ],
)
def test_extrapolated_table_cells_are_reported(kw, v, element):
    from xbar.crossbar import Tabulated

    table = Tabulated(**TABLE)
    kw = dict(kw)
    if kw.pop("selector", None):
        kw["selector"] = table
    G = np.full((3, 4), 1e-5)
    G[1, 1] = 0.0  # an open cell never counts
    device = kw.pop("device", table)
    V = np.zeros((2, 3))
    V[1, 0] = v
    sol = xbar.Crossbar(G, device=device, **kw).solve(V)
    assert len(sol.extrapolated) == 1
    ext = sol.extrapolated[0]
    assert ext.element == element and ext.table_range == (-0.5, 0.5)
    assert ext.count == 4  # input 1, row 0, every column
    assert set(map(tuple, ext.cells.tolist())) == {(1, 0, j) for j in range(4)}
    lo, hi = ext.voltage_range
    assert (hi > 0.5) if v > 0 else (lo < -0.5)
    assert "extrapolated linearly" in str(ext) and element in str(ext)
    inside = xbar.Crossbar(G, device=device, **kw).solve(V * 0.1)
    assert inside.extrapolated == []


def test_table_outside_error_refuses_and_names_cells():
    from xbar.crossbar import Tabulated

    xb = xbar.Crossbar(np.full((2, 2), 1e-5), device=Tabulated(**TABLE, outside="error"))
    assert xb.solve(np.full((1, 2), 0.4)).extrapolated == []
    with pytest.raises(ValueRangeError, match=r"outside the I-V table \[-0.5, 0.5\] V") as info:
        xb.solve(np.array([[0.1, 0.7]]))
    assert "cell (1, 0)" in str(info.value)


@pytest.mark.parametrize("outside", ["clamp", "", None, 3])
def test_table_outside_choice_checked(outside):
    from xbar.crossbar import Tabulated

    with pytest.raises(ConfigError, match="outside"):
        Tabulated(**TABLE, outside=outside)


def test_cli_crossbar_iv_table_note(tmp_path, capsys):
    import json

    (tmp_path / "iv.csv").write_text("v,i\n-0.3,-0.5\n0,0\n0.3,0.6\n")
    argv = ["crossbar", "--rows", "4", "--cols", "4", "--inputs", "2", "--iv", tmp_path / "iv.csv"]
    rc, err = _cli([*argv, "--v-max", "0.1"], capsys)
    assert rc == 0 and "note:" not in err
    rc = main([str(a) for a in [*argv, "--v-max", "0.6", "--seed", "3", "--json"]])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert rc == 0 and "note:" in err and "outside the I-V table [-0.3, 0.3] V" in err
    (ext,) = report["extrapolated"]
    assert ext["element"] == "cell" and ext["count"] >= 1 and ext["volts"][1] > 0.3


@pytest.mark.parametrize(
    "device, selector",
    [
        (xbar.Linear(), xbar.Exponential(0.05)),
        (xbar.Linear(), xbar.Sinh(20.0)),
        (xbar.PowerLaw(3.0), xbar.Exponential(0.05)),
    ],
)
def test_overflow_names_the_element_that_overflowed(device, selector):
    from xbar.errors import ConvergenceError

    xb = xbar.Crossbar(np.full((2, 2), 1e-5), device=device, selector=selector, g_selector=1e-4)
    with pytest.raises(ConvergenceError) as info:
        xb.solve(np.full((1, 2), 1e3))
    text = str(info.value)
    assert f"{type(selector).__name__} selector current overflowed" in text, text
    assert "(current inf A)" in text or "nan" in text


# ---------------------------------------------------------------------------------------------
# sweep files damaged between runs
# ---------------------------------------------------------------------------------------------

SWEEP_HEAD = "# xbar sweep v1\n# fingerprint: x\npoint,adc_bits,chip,accuracy,seconds\n"


@pytest.mark.parametrize(
    "rows, needle",
    [
        (["0,4,0,0.5,1", "garbage", "1,5,0,0.7,1"], "data row 2 'garbage' has 1 cells"),
        (["0,4,0,0.5,1", "0,4", "1,5,0,0.7,1"], "data row 2 '0,4' has 2 cells"),
        (["0,4,0,0.5,1", "0,4,0,0.5,1,9,9"], "data row 2"),
        (["0,4,0,0.5,1", "1,5,0,0.7,1", "0,4,0,0.25,1"], "data rows 1 and 3"),
        (["0,4,1,0.5,1", "0,4,1,0.6,2"], "different accuracies"),
    ],
)
def test_damaged_or_conflicting_sweep_rows(rows, needle, tmp_path):
    from xbar.network.sweep import read_sweep

    path = tmp_path / "r.csv"
    path.write_text(SWEEP_HEAD + "\n".join(rows) + "\n")
    with pytest.raises(ConfigError, match=needle):
        read_sweep(path)


@pytest.mark.parametrize("tail", ["", "0,4,0,0.5,1\n", "1,5,0,0.7,1\n", "1,5,0,0.7"])
def test_repeated_identical_rows_and_torn_tail_count_once(tail, tmp_path):
    from xbar.network.sweep import read_sweep

    path = tmp_path / "r.csv"
    path.write_text(SWEEP_HEAD + "0,4,0,0.5,1\n1,5,0,0.7,1\n" + tail)
    table = read_sweep(path)
    assert np.isfinite(table.accuracies).sum() == 2
    assert table.accuracies.ravel().tolist() == [0.5, 0.7]


def test_resume_refuses_a_damaged_file_and_names_the_row(tmp_path):
    from xbar.network import AnalogConfig, sweep

    out = tmp_path / "s.csv"
    sweep("default", AnalogConfig(), {"adc_bits": [4]}, out=out, executor="serial", limit=4)
    with open(out, "a") as fh:
        fh.write("junk,row\n")
    with pytest.raises(ConfigError, match="data row 2 'junk,row'"):
        sweep("default", AnalogConfig(), {"adc_bits": [4, 5]}, out=out, executor="serial", limit=4)


# ---------------------------------------------------------------------------------------------
# item 3: constructs found in real decks (ngspice's examples, textbook listings)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cards, temp",
    [("", 27.0), (".temp 60\n", 60.0), (".options temp=85\n", 85.0), (".temp -40\n", -40.0)],
)
def test_temper_is_the_circuit_temperature(cards, temp):
    c = xbar.read_netlist(f"t\nV1 a 0 1\nR1 a 0 r={{1k*(1 + 0.01*(TEMPER - 27))}}\n{cards}.op\n")
    assert c.resistors.value[0] == pytest.approx(1000 * (1 + 0.01 * (temp - 27)))


def test_temper_is_not_redefined_by_a_param():
    """ngspice-39 ignores ``.param temper=100``: I(V1) = -1/270 A (R1 = 10*27 ohm)."""
    c = xbar.read_netlist("t\n.param temper=100\nV1 a 0 1\nR1 a 0 {10*temper}\n.op\n")
    assert c.resistors.value[0] == pytest.approx(270.0)
    assert any(".param temper ignored" in n for n in c.notes)


@pytest.mark.parametrize(
    "model, needle",
    [
        ("nmos level=49 version=3.3.0 tox=3.5n", "LEVEL=49 (BSIM3 in ngspice)"),
        ("NMOS LEVEL=14 VERSION=4.3.0 TNOM=27", "LEVEL=14 (BSIM4 in ngspice)"),
        ("pmos level=54 version=4.8", "LEVEL=54 (BSIM4 in ngspice)"),
        ("nmos level=8", "LEVEL=8 (BSIM3 in ngspice)"),
        ("nmos level=3 vto=0.7", "LEVEL=3 (MOS3"),
    ],
)
def test_mosfet_levels_are_named_and_version_strings_read(model, needle):
    text = f"t\nVD d 0 1\nVG g 0 1\nM1 d g 0 0 m1\n.model m1 {model}\n.op\n"
    with pytest.raises(NetlistError, match="not supported") as info:
        xbar.read_netlist(text)
    assert needle in str(info.value) and "level 1" in str(info.value)


def test_level_one_model_with_a_version_string_runs():
    text = (
        "t\nVD d 0 1\nVG g 0 1.5\nM1 d g 0 0 m1\n.model m1 nmos level=1 version=1.0 kp=1e-4\n.op\n"
    )
    assert xbar.solve_dc(xbar.read_netlist(text)).current("vd") < 0


@pytest.mark.parametrize("value", ["4k7", "2R5", "4M7", "2meg5", "1u2"])
def test_resistor_codes_say_what_ngspice_does(value):
    with pytest.raises(NetlistError, match="RKM") as info:
        xbar.read_netlist(f"t\nV1 a 0 1\nR1 a 0 {value}\n.op\n")
    assert "ngspice-39" in str(info.value) and "write 4.7k" in str(info.value)


@pytest.mark.parametrize(
    "cards, first, others",
    [
        (".op\n.dc V1 0 1 0.5\n", ".op", [".dc at line 6"]),
        (".dc V1 0 1 0.5\n.op\n", ".dc", [".op at line 6"]),
        (".op\n.dc V1 0 1 0.5\n.dc V1 0 2 1\n", ".op", [".dc at line 6", ".dc at line 7"]),
    ],
)
def test_several_analyses_note_which_ran(cards, first, others):
    c = xbar.read_netlist("t\n" + DIV + cards)
    note = next(n for n in c.notes if "analyses" in n)
    assert f"runs the first ({first})" in note and "ngspice runs every one" in note
    assert all(o in note for o in others), note
    assert type(xbar.solve_dc(c)).__name__ == (
        "OperatingPoint" if first == ".op" else "SweepResult"
    )


def test_one_analysis_no_note():
    c = xbar.read_netlist("t\n" + DIV + ".dc V1 0 1 0.5\n")
    assert not any("analyses" in n for n in c.notes)


BJT_DECK = """Common-emitter amplifier with voltage-divider bias (textbook listing)
VCC vcc 0 DC 12
VIN in 0 DC 0 AC 1m SIN(0 1m 1k)
C1 in b 10u
R1 vcc b 47k
R2 b 0 10k
RC vcc c 4.7k
RE e 0 1k
CE e 0 100u
Q1 c b e Q2N3904
.model Q2N3904 NPN(IS=6.734f XTI=3 EG=1.11 VAF=74.03 BF=416.4 NE=1.259 ISE=6.734f
+ IKF=66.78m XTB=1.5 BR=.7371 NC=2 ISC=0 IKR=0 RC=1 CJC=3.638p MJC=.3085 VJC=.75
+ FC=.5 CJE=4.493p MJE=.2593 VJE=.75 TR=239.5n TF=301.2p ITF=.4 VTF=4 XTF=2 RB=10)
.op
.ac dec 10 10 10meg
.end
"""


@pytest.mark.parametrize(
    "card, what, ngspice",
    [
        ("Q1 c b e Q2N3904", "bipolar transistors (Q)", "Gummel-Poon"),
        ("J1 c b e jmod", "JFETs (J)", "Shichman-Hodges JFET"),
        ("T1 c 0 e 0 z0=50 td=1n", "transmission lines (T)", "at DC a short"),
        ("A1 b c amod", "XSPICE code models (A)", "XSPICE code model"),
    ],
)
def test_unsupported_devices_in_a_textbook_deck(card, what, ngspice, tmp_path):
    (tmp_path / "ce.cir").write_text(BJT_DECK.replace("Q1 c b e Q2N3904", card))
    with pytest.raises(NetlistError) as info:
        xbar.read_netlist(tmp_path / "ce.cir")
    text = str(info.value)
    assert "ce.cir:10:1" in text and what in text and ngspice in text, text


# ---------------------------------------------------------------------------------------------
# files that never end (devices, pipes) and arguments of the wrong kind
# ---------------------------------------------------------------------------------------------


def _fifo(tmp_path):
    import os

    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
@pytest.mark.parametrize(
    "read, cls",
    [
        (lambda p: xbar.read_netlist(p), NetlistError),
        (lambda p: xbar.read_netlist(f"t\n.include {p}\nV1 a 0 1\nR1 a 0 1\n.op\n"), NetlistError),
        (lambda p: __import__("xbar.network").network.AnalogConfig.from_toml(p), ConfigError),
        (lambda p: xbar.crossbar.Tabulated.from_csv(p), ConfigError),
    ],
)
def test_devices_and_pipes_are_not_read(special, read, cls, tmp_path):
    """Reading /dev/zero or a pipe would never end (or fill the memory): refused at once."""
    path = _fifo(tmp_path) if special == "fifo" else special
    with pytest.raises(cls) as info:
        read(str(path))
    assert str(path) in str(info.value)
    assert "device" in str(info.value) or "pipe" in str(info.value)


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda: xbar.Options(bogus=1), "unknown simulator option 'bogus'"),
        (lambda: xbar.Options(1e-3, 1e-12, 1e-6, 1e-12, 100, 50, 27.0, 27.0, 9), "at most 8"),
        (lambda: xbar.crossbar.Tabulated.from_csv(None), "I-V table must be a file path"),
        (lambda: xbar.crossbar.Tabulated.from_csv(3), "I-V table must be a file path"),
        (lambda: xbar.network.load_onnx(None), "ONNX model must be a file path"),
        (lambda: xbar.Crossbar(G4).solve(np.ones((1, 4)), warm_start="x"), "warm_start must be"),
        (
            lambda: xbar.Crossbar(G4, device=xbar.Sinh(3.0)).solve(
                np.full((3, 4), 0.1),
                warm_start=xbar.Crossbar(G4, device=xbar.Sinh(3.0)).solve(np.full((2, 4), 0.1)),
            ),
            "batch size 2; expected 3 or 1",
        ),
        (
            lambda: xbar.Crossbar(G4).solve(
                np.ones((1, 4)), warm_start=xbar.Crossbar(np.ones((3, 5)) * 1e-5).solve(np.ones(3))
            ),
            "3x5 array",
        ),
        (
            lambda: xbar.solve_dc(xbar.read_netlist("t\n" + DIV + ".dc V1 0 1 1\n"), progress=1),
            "progress must be a function",
        ),
    ],
)
def test_arguments_of_the_wrong_kind(make, needle):
    with pytest.raises(XbarError) as info:
        make()
    assert needle in str(info.value)


@pytest.mark.parametrize("card", [".func f(x)", ".func f(x) =", ".func f(x) {}", ".func f() ''"])
def test_func_without_a_body(card):
    with pytest.raises(NetlistError, match="has no body|malformed"):
        xbar.read_netlist(f"t\n{card}\n" + DIV + ".op\n")


@pytest.mark.parametrize(
    "card, what",
    [
        (".step param rl 1k 3k 1k", "LTspice"),
        (".alter", "HSPICE"),
        (".data", "data table"),
        (".loop v1 dec 10 1 1k", "loop-gain"),
        (".protect", "HSPICE"),
        (".unprotect", "HSPICE"),
        (".connect a b", "alias"),
    ],
)
def test_cards_of_other_simulators_are_named(card, what):
    """ngspice-39 stops on each with 'unimplemented control card' (checked by hand)."""
    with pytest.raises(NetlistError, match="unknown card") as info:
        xbar.read_netlist("t\n" + DIV + card + "\n.op\n")
    assert what in str(info.value) and "ngspice-39 also stops" in str(info.value)
    assert info.value.location.line == 5
