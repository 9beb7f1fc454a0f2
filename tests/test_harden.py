"""Hostile input and fault audit (issue 15): one test per class of problem, not per example.

1. every rejected input is an XbarError (subclassing the matching builtin), in CLI and API;
2. no result that sits at a numerical limit is returned as an answer;
4. model and data files: invalid files, future format versions, bad layer fields named;
6. output that explains itself (notes, aligned table, help, progress, one error normalisation,
   negative numbers as flag values).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import xbar
from xbar.cli import main
from xbar.errors import (
    CircuitError,
    ConfigError,
    ConvergenceError,
    InputTypeError,
    ModelError,
    NetlistError,
    ResourceError,
    ShapeError,
    UnknownFieldError,
    ValueRangeError,
    XbarError,
)


def cli(argv, capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_clean(rc, err, *needles):
    assert rc == 2, err
    assert "Traceback" not in err and err.startswith("error:"), err
    for n in needles:
        assert n in err, (n, err)


# ---------------------------------------------------------------------------------------------
# 1. the error family
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, base",
    [
        (NetlistError, ValueError),
        (CircuitError, ValueError),
        (ConvergenceError, RuntimeError),
        (ShapeError, ValueError),
        (ValueRangeError, ValueError),
        (ConfigError, ValueError),
        (UnknownFieldError, TypeError),
        (UnknownFieldError, ConfigError),
        (InputTypeError, TypeError),
        (ModelError, ValueError),
        (ResourceError, MemoryError),
    ],
)
def test_error_classes_subclass_builtins(cls, base):
    assert issubclass(cls, XbarError) and issubclass(cls, base)
    assert cls.__name__ in xbar.__all__


BAD_BYTES = [
    b"\xff\xfeadc_bits = 4\n",
    b"adc_bits = 4 # caf\xe9\n",
    "adc_bits = 4\n".encode("utf-16"),
    b"\x80\x81\x82",
]


@pytest.mark.parametrize("data", BAD_BYTES)
@pytest.mark.parametrize(
    "command",
    [
        ["infer", "--limit", "5"],
        ["sweep", "--field", "adc_bits", "--values", "4", "--limit", "5", "--serial"],
    ],
)
def test_non_utf8_config_is_named(command, data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_bytes(data)
    rc, _, err = cli([*command, "--config", "bad.toml"], capsys)
    assert_clean(rc, err, "bad.toml", "not UTF-8")
    with pytest.raises(ConfigError, match="bad.toml"):
        xbar.network.AnalogConfig.from_toml(tmp_path / "bad.toml")


@pytest.mark.parametrize(
    "flags",
    [
        ["--v-read", "1e6", "--device", "sinh", "--r-row", "1"],
        ["--v-read", "1e300", "--device", "sinh", "--r-row", "1"],
        ["--v-read", "50", "--device-k", "1e3", "--device", "sinh", "--r-col", "2"],
        ["--v-read", "1e3", "--device", "sinh"],
        ["--g-max", "1e308", "--v-read", "10"],
    ],
)
def test_numeric_overflow_in_inference_is_an_error(flags, capsys):
    rc, _, err = cli(["infer", "--limit", "5", "--no-progress", *flags], capsys)
    assert_clean(rc, err)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: _npz(p / "a.npz", G=np.ones(4)), "2-D"),
        (lambda p: _npz(p / "a.npz", G=np.ones((2, 2, 2))), "2-D"),
        (lambda p: _npz(p / "a.npz", G=np.ones((0, 3))), "at least one cell"),
        (lambda p: _npz(p / "a.npz", G=np.array(1e-5)), "2-D"),
        (lambda p: _npz(p / "a.npz", G=np.ones((2, 2)) * (1e-5 + 1e-6j)), "complex"),
        (lambda p: _npz(p / "a.npz", G=np.array([["a", "b"]])), "'G'"),
        (lambda p: _npz(p / "a.npz", G=np.array([[None]], dtype=object)), "pickled"),
        (lambda p: _npz(p / "a.npz"), "no arrays"),
        (lambda p: (np.save(p / "a.npy", np.ones((2, 2))), str(p / "a.npy"))[1], ".npy"),
        (lambda p: ((p / "a.npz").write_bytes(b"PK\x03\x04junk"), str(p / "a.npz"))[1], "a.npz"),
        (lambda p: ((p / "a.npz").write_text("hello"), str(p / "a.npz"))[1], "not an .npz"),
        (lambda p: str(p / "missing.npz"), "does not exist"),
    ],
)
def test_crossbar_conductance_files(make, needle, tmp_path, capsys):
    path = make(tmp_path)
    rc, _, err = cli(["crossbar", "--conductances", path], capsys)
    assert_clean(rc, err, needle)


G4 = np.full((4, 4), 1e-5)
BAD_ARRAYS = [
    (np.array([["1e-5"] * 4] * 4), InputTypeError, "text"),
    ([["a", "b"], ["c", "d"]], InputTypeError, "text"),
    (G4 * (1 + 1e-3j), InputTypeError, "complex"),
    (G4.astype(complex), InputTypeError, "complex"),  # even a zero imaginary part
    ([[object()] * 4] * 4, InputTypeError, "Python objects"),
    ([[1e-5, 1e-5], [1e-5]], InputTypeError, "rectangular"),
    (None, InputTypeError, "None"),
]


@pytest.mark.parametrize("value, cls, needle", BAD_ARRAYS)
@pytest.mark.parametrize("where", ["G", "r_row", "V", "Sinh.k", "g_selector"])
def test_crossbar_api_rejects_non_real_arrays(where, value, cls, needle):
    def build():
        if where == "G":
            return xbar.Crossbar(value, 1.0, 1.0)
        if where == "r_row":
            return xbar.Crossbar(G4, value, 1.0)
        if where == "V":
            return xbar.Crossbar(G4, 1.0, 1.0).solve(
                value if not isinstance(value, np.ndarray) else value[0]
            )
        if where == "Sinh.k":
            return xbar.Sinh(value)
        return xbar.Crossbar(G4, 1.0, 1.0, selector=xbar.Exponential(0.1), g_selector=value)

    if where == "g_selector" and value is None:
        cls, needle = ConfigError, "needs g_selector"  # a selector without its conductance
    with pytest.raises(cls) as exc:
        build()
    assert isinstance(exc.value, XbarError)
    assert needle in str(exc.value) or "missing" in str(exc.value)


@pytest.mark.parametrize("V", [np.zeros((0, 4)), []])
def test_empty_batch_is_refused(V):
    with pytest.raises(ShapeError, match="empty|shape"):
        xbar.Crossbar(G4, 1.0, 1.0).solve(V)


@pytest.mark.parametrize(
    "field, value",
    [
        ("reltol", -1e-3),
        ("reltol", 0.0),
        ("reltol", 2.0),
        ("reltol", float("nan")),
        ("abstol", -1.0),
        ("vntol", 0.0),
        ("gmin", -1e-12),
        ("itl1", 0),
        ("itl1", 2.5),
        ("temp", -300.0),
        ("reltol", "1e-3"),
    ],
)
def test_crossbar_options_checked_where_given(field, value):
    import dataclasses

    opts = dataclasses.replace(xbar.Options(), **{field: value})
    with pytest.raises(XbarError, match=field):
        xbar.Crossbar(G4, 1.0, 1.0, device=xbar.Sinh(3.0), options=opts)


@pytest.mark.parametrize("kw", [dict(maxiter=0), dict(maxiter="x"), dict(maxiter=True)])
def test_crossbar_iteration_limit_checked(kw):
    with pytest.raises(ValueRangeError, match="maxiter"):
        xbar.Crossbar(G4, 1.0, 1.0, **kw)


@pytest.mark.parametrize("tol", ["x", None, 0, 1, -1e-3, True])
def test_solve_tolerance_checked(tol):
    with pytest.raises(ConfigError, match="tol"):
        xbar.Crossbar(G4, 1.0, 1.0).solve(np.ones(4), tol=tol)


def test_out_of_memory_is_a_resource_error(monkeypatch):
    from xbar.crossbar import solver, transfer

    def oom(*a, **k):
        raise MemoryError

    xb = xbar.Crossbar(G4, 1.0, 1.0)
    monkeypatch.setattr(solver, "solve", oom)
    monkeypatch.setattr(transfer, "transfer_matrix", oom)
    with pytest.raises(ResourceError, match="4x4") as exc:
        xb.solve(np.ones(4))
    assert isinstance(exc.value, MemoryError)
    with pytest.raises(ResourceError, match="transfer matrix"):
        xb.transfer_matrix()


def test_cli_memory_and_internal_errors(monkeypatch, capsys):
    import xbar.cli.crossbar as cmd

    def oom(args):
        raise MemoryError

    def bug(args):
        raise KeyError("oops")

    monkeypatch.setattr(cmd, "run", oom)
    rc, _, err = cli(["crossbar"], capsys)
    assert_clean(rc, err, "not enough memory")
    monkeypatch.setattr(cmd, "run", bug)
    rc, _, err = cli(["crossbar"], capsys)
    assert rc == 70 and "internal error" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["crossbar", "--rows", "4", "--cols", "4", "--plot", "{missing}/x.png"], "does not exist"),
        (
            ["sweep", "--field", "adc_bits", "--values", "4", "--out", "{missing}/s.csv"],
            "does not exist",
        ),
        (
            [
                "sweep",
                "--field",
                "adc_bits",
                "--values",
                "4",
                "--plot",
                "{missing}/s.png",
                "--out",
                "{tmp}/s.csv",
            ],
            "does not exist",
        ),
        (["train", "--out", "{missing}/m", "--epochs", "1"], "does not exist"),
    ],
)
def test_missing_output_folder_before_work(argv, needle, tmp_path, capsys):
    missing = tmp_path / "no" / "such"
    argv = [a.format(missing=missing, tmp=tmp_path) for a in argv]
    rc, _, err = cli(argv, capsys)
    assert_clean(rc, err, needle)
    assert not missing.exists()


def test_missing_output_folder_api(tmp_path):
    from xbar.network.sweep import SweepTable, plot_sweep

    missing = tmp_path / "no"
    xb = xbar.Crossbar(G4, 1.0, 1.0)
    with pytest.raises(ConfigError, match="does not exist"):
        xb.to_netlist(missing / "a.cir", np.ones(4))
    t = SweepTable(("adc_bits",), ((4,),), np.full((1, 1, 1), 0.5), np.zeros((1, 1, 1)))
    with pytest.raises(ConfigError, match="does not exist"):
        plot_sweep(t, missing / "a.png")
    assert not missing.exists()


@pytest.mark.parametrize(
    "make",
    [
        lambda C: C(adc_bit=3),
        lambda C: C(adc_bits=4, bogus=1),
        lambda C: C().replace(adc_bit=3),
        lambda C: C.from_dict({"ADC_BITS": 3}),
        lambda C: C(*range(100)),
    ],
)
def test_unknown_analog_config_field_in_api(make):
    from xbar.network import AnalogConfig

    with pytest.raises(XbarError) as exc:
        make(AnalogConfig)
    assert isinstance(exc.value, TypeError)  # as Python's own unexpected keyword
    assert "field" in str(exc.value)


def test_analog_config_keeps_its_signature_and_pickles():
    import inspect
    import pickle

    from xbar.network import AnalogConfig

    assert "adc_bits" in inspect.signature(AnalogConfig).parameters
    cfg = AnalogConfig(adc_bits=6)
    assert pickle.loads(pickle.dumps(cfg)) == cfg


# ---------------------------------------------------------------------------------------------
# 2. no answer that sits at a numerical limit
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [30.0, 100.0, 1e6, 1e300])
def test_sinh_series_that_cannot_converge_raises(x):
    from xbar.network.tiles import sinh_terms

    with pytest.raises(ValueRangeError, match="linearized"):
        sinh_terms(x)


@pytest.mark.parametrize("x", [0.0, 1e-9, 0.5, 4.0, 10.0])
def test_sinh_series_terms_reach_the_tolerance(x):
    import math

    from xbar.network.tiles import sinh_terms

    n = sinh_terms(x)
    approx = x + sum(x ** (2 * k + 1) / math.factorial(2 * k + 1) for k in range(1, n + 1))
    assert abs(approx - math.sinh(x)) <= 1e-11 * max(1.0, math.sinh(x))


def test_non_finite_layer_outputs_raise():
    from xbar.network import AnalogConfig, evaluate, load_model

    with pytest.raises(ValueRangeError, match="layer 'conv1'.*not finite"):
        with np.errstate(all="ignore"):
            evaluate(load_model("default"), AnalogConfig(g_max=1e308, v_read=10), limit=5)


@pytest.mark.parametrize("v", [1e3, 1e6])
@pytest.mark.parametrize("device", [xbar.Sinh(3.0), xbar.Exponential(0.05)])
def test_crossbar_overflow_is_not_converged(device, v):
    with pytest.raises(ConvergenceError, match="overflow"):
        xbar.Crossbar(G4, 1.0, 1.0, device=device).solve(np.full(4, v))


# ---------------------------------------------------------------------------------------------
# 4. model and data files
# ---------------------------------------------------------------------------------------------


def _saved_model(tmp_path):
    from xbar.network import load_model, save_model

    save_model(load_model("default"), tmp_path / "m")
    return tmp_path / "m"


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"PK\x03\x04junk", b"\x93NUMPY..."])
def test_garbage_model_and_data_files(garbage, tmp_path, capsys):
    base = _saved_model(tmp_path)
    base.with_suffix(".npz").write_bytes(garbage)
    rc, _, err = cli(["infer", "--model", str(base), "--limit", "5"], capsys)
    assert_clean(rc, err, "m.npz")
    assert "allow_pickle" not in err and "unsafely" not in err
    (tmp_path / "d.npz").write_bytes(garbage)
    rc, _, err = cli(["infer", "--dataset", str(tmp_path / "d.npz"), "--limit", "5"], capsys)
    assert_clean(rc, err, "d.npz")
    assert "allow_pickle" not in err and "unsafely" not in err


def test_pickled_arrays_are_never_loaded(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x_train=np.array([object()], dtype=object))
    rc, _, err = cli(["infer", "--dataset", str(tmp_path / "d.npz"), "--limit", "5"], capsys)
    assert_clean(rc, err, "d.npz", "pickled objects are never loaded")


@pytest.mark.parametrize("ahead", [1, 97, 10**9])
def test_model_from_the_future_is_refused(ahead, tmp_path, capsys):
    from xbar.network.model import FORMAT_VERSION

    version = FORMAT_VERSION + ahead
    base = _saved_model(tmp_path)
    j = base.with_suffix(".json")
    cfg = json.loads(j.read_text())
    cfg["version"] = version
    j.write_text(json.dumps(cfg))
    rc, _, err = cli(["infer", "--model", str(base), "--limit", "5"], capsys)
    assert_clean(rc, err, f"version {version}", f"version {FORMAT_VERSION}", "m.json")


@pytest.mark.parametrize(
    "layer, field, value, needle",
    [
        (0, "kernel", "3", "kernel"),
        (0, "kernel", 0, "kernel"),
        (0, "in_channels", True, "'in_channels'"),
        (0, "bogus", 1, "'bogus'"),
        (0, "in_channels", None, "'in_channels'"),  # None: delete the field
        (6, "n_out", -3, "'n_out'"),
        (6, "n_in", 2.5, "'n_in'"),
        (4, "size", [2], "size"),
        (6, "n_out", 10**12, "'n_out'"),  # arrays that cannot fit in memory
        (0, "out_channels", 10**13, "'out_channels'"),
    ],
)
def test_bad_layer_description_names_layer_and_field(layer, field, value, needle, tmp_path, capsys):
    base = _saved_model(tmp_path)
    j = base.with_suffix(".json")
    cfg = json.loads(j.read_text())
    spec = cfg["layers"][layer]
    if value is None:
        del spec[field]
    else:
        spec[field] = value
    j.write_text(json.dumps(cfg))
    rc, _, err = cli(["infer", "--model", str(base), "--limit", "5"], capsys)
    assert_clean(rc, err, needle, f"layers[{layer}]", repr(spec["name"]), "m.json")


# ---------------------------------------------------------------------------------------------
# 6. output that explains itself
# ---------------------------------------------------------------------------------------------


def test_infer_says_when_nothing_analog_was_simulated(capsys):
    rc, out, err = cli(["infer", "--limit", "10", "--no-progress"], capsys)
    assert rc == 0 and "nothing analog was simulated" in err and "--config" in err
    rc, out, err = cli(["infer", "--limit", "10", "--no-progress", "--ideal"], capsys)
    assert rc == 0 and "note:" not in err
    rc, out, err = cli(["infer", "--limit", "10", "--no-progress", "--json"], capsys)
    assert "nothing analog" in json.loads(out)["notes"][0]


@pytest.mark.parametrize(
    "flags, identical",
    [
        (["--adc-bits", "6", "--repeats", "3"], True),
        (["--r-row", "1", "--repeats", "2"], True),
        (
            ["--programming-error", "weight_range", "--programming-sigma", "0.1", "--repeats", "2"],
            False,
        ),
        (["--read-noise-sigma", "0.01", "--repeats", "2"], False),
    ],
)
def test_infer_says_when_chips_are_identical(flags, identical, capsys):
    rc, out, err = cli(["infer", "--limit", "10", "--no-progress", *flags], capsys)
    assert rc == 0
    assert ("chips are identical" in err) == identical, err


def test_layer_table_aligned_for_any_number():
    from xbar.cli.infer import layer_table
    from xbar.network.evaluate import LayerStats

    stats = [
        LayerStats("a", 9, 8, 1, 1, 72, rel_error=0.5, clip_fraction=0.0),
        LayerStats(
            "a_very_long_layer_name_indeed",
            123456789,
            10**12,
            99999,
            1,
            1,
            rel_error=12345.678,
            clip_fraction=1.0,
            adc_ranges=[1e-5, 2e-5],
        ),
        LayerStats("c", 1, 1, 1, 1, 1, rel_error=float("nan"), clip_fraction=1e-300),
    ]
    lines = layer_table(stats).splitlines()
    header = lines[0]
    for col in ("n_in", "n_out", "tiles", "rel.err", "clip"):
        end = header.index(col) + len(col)
        for line in lines[1:]:  # right-aligned numbers end where their header ends
            assert line[end - 1] != " " and (len(line) == end or line[end] == " "), (col, line)


def test_help_explains_rel_err_and_clip(capsys):
    assert main(["infer", "--help"]) == 0
    out = capsys.readouterr().out
    assert "rel.err" in out and "||Y_analog - X W||" in out
    assert "clip " in out and "ADC conversions" in out


def test_progress_first_frame_has_no_nan():
    from xbar.cli._progress import ProgressBar

    for first in (0, 3):  # a fresh run, and a resumed one (3 tasks reused)
        buf = io.StringIO()
        bar = ProgressBar("x", stream=buf, enabled=True)
        bar(first, 10)
        bar(10, 10)
        text = buf.getvalue()
        assert "nan" not in text and "inf" not in text
        assert "eta     --" in text.split("\r")[1]


def test_crossbar_summary_and_plot_share_the_error_normalisation(tmp_path, capsys):
    from xbar.plot import output_error, plot_output_error

    rng = np.random.default_rng(0)
    G = rng.uniform(1e-6, 1e-4, (6, 5))
    np.savez(tmp_path / "g.npz", G=G)
    rc, out, _ = cli(
        [
            "crossbar",
            "--conductances",
            str(tmp_path / "g.npz"),
            "--r-wire",
            "5",
            "--json",
            "--seed",
            "3",
        ],
        capsys,
    )
    assert rc == 0
    report = json.loads(out)
    V = np.random.default_rng(3).uniform(0.0, 0.3, (1, 6))
    xb = xbar.Crossbar(G, 5.0, 5.0)
    err = output_error(xb.solve(V).output, V @ G)
    assert report["max_output_error_vs_ideal"] == pytest.approx(np.abs(err).max(), rel=1e-6)
    fig = plot_output_error(xb, V)
    plotted = fig.axes[0].lines[0].get_ydata()
    assert np.allclose(plotted, 100 * err[0], rtol=1e-6)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["infer", "--g-min", "-1e-6"], "g_min=-1e-06"),
        (["infer", "--r-row", "-1"], "r_row=-1"),
        (["infer", "--seed", "-3"], "seed=-3"),
        (["infer", "--drift-time", "-1.5E3"], "drift_time=-1500"),
        (["infer", "--programming-sigma", "-.5"], "programming_sigma=-0.5"),
        (["sweep", "--field", "adc_bits", "--values", "4", "--g-min", "-1e-6"], "g_min=-1e-06"),
    ],
)
def test_negative_numbers_as_flag_values(argv, needle, capsys):
    rc, _, err = cli([*argv, "--limit", "5"], capsys)
    assert_clean(rc, err, needle)
    assert "expected one argument" not in err


def test_negative_number_joining_keeps_other_arguments():
    from xbar.cli import join_negative_values

    assert join_negative_values(["crossbar", "--r-wire", "-1", "--json"]) == [
        "crossbar",
        "--r-wire=-1",
        "--json",
    ]
    assert join_negative_values(["infer", "--ideal", "--limit", "5"]) == [
        "infer",
        "--ideal",
        "--limit",
        "5",
    ]
    assert join_negative_values(["x", "--a=-1", "-2"]) == ["x", "--a=-1", "-2"]


@pytest.mark.parametrize(
    "row",
    ["0,4,x,0.5,1", "0,4,0,abc,1", "0,4,-1,0.5,1", "0,4,99999999999,0.5,1", "0,4,0,0.5,nan-ish"],
)
def test_damaged_sweep_csv_names_the_row(row, tmp_path):
    from xbar.network.sweep import read_sweep

    path = tmp_path / "r.csv"
    path.write_text(
        "# xbar sweep v1\n# fingerprint: x\npoint,adc_bits,chip,accuracy,seconds\n"
        f"0,4,0,0.5,1\n{row}\n"
    )
    with pytest.raises(ConfigError, match="data row 2"):
        read_sweep(path)


@pytest.mark.parametrize("use", ["plot", "linearized", "reference", "power"])
def test_complex_inputs_never_lose_their_imaginary_part(use):
    xb = xbar.Crossbar(G4, 1.0, 1.0)
    V = np.full((1, 4), 0.1 + 0.1j)
    with pytest.raises(InputTypeError, match="complex"):
        if use == "plot":
            xbar.plot.plot_output_error(xb, V)
        elif use == "linearized":
            xbar.Crossbar(G4, 1.0, 1.0, device=xbar.Sinh(3.0)).linearize(np.full(4, 0.1)).output(V)
        elif use == "reference":
            from xbar.crossbar import reference

            reference.reference_solve(xb, V)
        else:
            xb.power_forms().power(V)


def _api_misuse_cases():
    from xbar.network import (
        AnalogConfig,
        evaluate,
        load_dataset,
        load_model,
        plot_sweep,
        read_sweep,
        save_model,
        sweep,
    )

    m = load_model("default")
    cfg = AnalogConfig()
    kw = dict(executor="serial", limit=3)
    return {
        "evaluate limit text": lambda: evaluate(m, cfg, limit="3"),
        "evaluate limit fraction": lambda: evaluate(m, cfg, limit=2.5),
        "evaluate chips text": lambda: evaluate(m, cfg, limit=3, chips="0,1"),
        "evaluate chips floats": lambda: evaluate(m, cfg, limit=3, chips=[0.5]),
        "evaluate unknown data set": lambda: evaluate(m, cfg, limit=3, dataset="nope"),
        "evaluate data set object": lambda: evaluate(m, cfg, limit=3, dataset=3),
        "evaluate model text": lambda: evaluate("default", cfg, limit=3),
        "sweep axes list": lambda: sweep(m, cfg, ["adc_bits"], **kw),
        "sweep axis scalar": lambda: sweep(m, cfg, {"adc_bits": 4}, **kw),
        "sweep axis text": lambda: sweep(m, cfg, {"mapping": "offset"}, **kw),
        "sweep workers text": lambda: sweep(m, cfg, {"adc_bits": [4]}, workers="x", **kw),
        "sweep limit text": lambda: sweep(m, cfg, {"adc_bits": [4]}, executor="serial", limit="x"),
        "sweep config None": lambda: sweep(m, None, {"adc_bits": [4]}, **kw),
        "read_sweep None": lambda: read_sweep(None),
        "plot_sweep None": lambda: plot_sweep(None),
        "load_dataset int": lambda: load_dataset(3),
        "save_model None": lambda: save_model(None, "x"),
        "predict text": lambda: m.predict(np.array([["a"]])),
        "predict complex": lambda: m.predict(np.zeros((2, 8, 8, 1)) + 1j),
        "from_toml None": lambda: AnalogConfig.from_toml(None),
        "from_dict list": lambda: AnalogConfig.from_dict([1]),
    }


@pytest.mark.parametrize("name", list(_api_misuse_cases()))
def test_network_api_misuse_is_an_xbar_error(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(XbarError):
        _api_misuse_cases()[name]()


def test_input_clipping_at_the_dac_is_counted_and_told(capsys):
    from xbar.network import AnalogConfig, evaluate, load_model

    m = load_model("default")
    few = evaluate(m, AnalogConfig(dac_bits=4, calibration_size=2), limit=100)
    assert any(s.input_clip_fraction > 0 for s in few.layer_stats)
    assert all(0 <= s.input_clip_fraction <= 1 for s in few.layer_stats)
    analog = evaluate(m, AnalogConfig(calibration_size=2, r_row=1.0), limit=20)
    assert all(s.input_clip_fraction == 0 for s in analog.layer_stats)  # nothing quantised
    rc, _, err = cli(
        ["infer", "--dac-bits", "4", "--calibration-size", "2", "--limit", "100", "--no-progress"],
        capsys,
    )
    assert rc == 0 and "exceeded the calibrated input range" in err


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--seed", "-1"], "seed"),
        (["--epochs", "-1"], "epochs"),
        (["--lr", "nan"], "lr"),
        (["--train-noise", "-0.1"], "train_noise"),
        (["--batch-size", "0"], "batch_size"),
    ],
)
def test_train_cli_bad_values(flags, needle, tmp_path, capsys):
    rc, _, err = cli(["train", *flags, "--out", str(tmp_path / "m")], capsys)
    assert_clean(rc, err, needle)
