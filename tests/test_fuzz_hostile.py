"""Fuzzing the classes the second audit found (``scripts/audit.py``), kept fast for the
default suite: mutated netlists with couplings, waveforms, model cards and TEMPER; nested
expressions of any depth; crossbar CLI flags; ``npz:`` data sets of any shape; damaged
sweep CSVs.  The only outcomes are a result or an :class:`~xbar.errors.XbarError` (in the
CLI: exit code 2 with the file or flag named), never another exception.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xbar
from xbar.cli import main
from xbar.errors import ConfigError, NetlistError, XbarError

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

BASE = """real-world style deck
.param rl=1k
.temp 40
VIN in 0 DC 1 PULSE(0 1 1n 1n 1n 5n 10n)
R1 in a r={rl*(1 + 1m*(TEMPER - 27))}
L1 a b 1u
L2 b c 2u
K1 L1 L2 0.9
D1 c 0 dm
C1 c 0 1p
.model dm D(IS=1e-14 N=1.5 RS=10 VERSION=1.0)
.model nm nmos (level=1 vto=0.7 kp=1e-4)
M1 c in 0 0 nm W=2u L=1u
.op
.end
"""

ALPHABET = "RVILKDMC.(){}'=,+-*/ \n0123456789kmunpTEMPERpulsedc;"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BASE) - 1), st.integers(0, 5), st.text(ALPHABET, max_size=6))
def test_mutated_real_decks_fail_cleanly(pos, cut, insert):
    text = BASE[:pos] + insert + BASE[pos + cut :]
    try:
        circuit = xbar.read_netlist(text)
    except NetlistError as err:
        if err.location is not None:
            assert err.location.line >= 1 and err.location.column >= 1
        return
    try:
        xbar.solve_dc(circuit)
    except XbarError:
        pass


@SETTINGS
@given(
    st.integers(0, 4000),
    st.sampled_from(["({})", "-{}", "sin({})", "1+({})", "max(1,{})", "abs({})"]),
    st.sampled_from(["value", "param", "bsource"]),
)
def test_nested_expressions_of_any_depth(depth, wrap, where):
    expr = "1"
    for _ in range(depth):
        expr = wrap.format(expr)
    card = {
        "value": f"V1 x 0 {{{expr}}}\nR1 x 0 1",
        "param": f".param p={{{expr}}}\nV1 x 0 {{p}}\nR1 x 0 1",
        "bsource": f"V1 x 0 1\nR1 x y 1\nB1 y 0 I={expr}",
    }[where]
    try:
        xbar.solve_dc(xbar.read_netlist(f"t\n{card}\n.op\n"))
    except XbarError as err:
        assert "nested too deeply" in str(err) or depth < 50, str(err)


def _cli(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc in (0, 2), f"exit {rc}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    return rc, err


flag_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.sampled_from(["0", "-1", "1e308", "-1e-300", "x", "", "1,2", "True", "nan", "-inf"]),
)


@SETTINGS
@given(
    st.sampled_from(
        [
            "--r-wire",
            "--r-row",
            "--r-col",
            "--r-driver",
            "--r-sense",
            "--k",
            "--g-min",
            "--g-max",
            "--v-max",
            "--tol",
            "--seed",
            "--inputs",
            "--rows",
            "--cols",
        ]
    ),
    flag_values,
    st.sampled_from(["linear", "sinh"]),
)
def test_fuzzed_crossbar_flags(capsys, flag, value, device):
    if flag in ("--rows", "--cols", "--inputs"):  # sizes: keep an accepted value small
        try:
            if float(value) > 8:
                value = "1e12"  # the memory check must refuse it before any allocation
        except ValueError:
            pass
    argv = ["crossbar", "--rows", "3", "--cols", "3", "--inputs", "1", "--device", device]
    rc, err = _cli([*argv, f"{flag}={value}"], capsys)
    if rc == 2:
        assert err.startswith("error:") or "usage:" in err, err


@SETTINGS
@given(
    st.integers(0, 7),
    st.integers(0, 7),
    st.sampled_from([(8, 8, 1), (8, 8), (64,), (9, 9, 1), (8, 8, 3), ()]),
    st.sampled_from(["int", "float", "neg", "nan", "text", "2d"]),
    st.sampled_from(["f8", "f4", "u1", "U1", "c16", "b1"]),
)
def test_fuzzed_npz_data_sets(tmp_path_factory, capsys, nx, ny, shape, labels, xdtype):
    tmp = tmp_path_factory.mktemp("npz")
    x = np.zeros((nx, *shape)).astype(xdtype)
    y = {
        "int": np.arange(ny) % 10,
        "float": np.linspace(0, 1, ny),
        "neg": -np.ones(ny, int),
        "nan": np.full(ny, np.nan),
        "text": np.array(["a"] * ny),
        "2d": np.zeros((ny, 2), int),
    }[labels]
    np.savez(tmp / "d.npz", x=x, y=y)
    rc, err = _cli(
        ["infer", "--dataset", f"npz:{tmp / 'd.npz'}", "--limit", "2", "--no-progress"], capsys
    )
    if rc == 2:
        assert "d.npz" in err or "model" in err, err


SWEEP = (
    "# xbar sweep v1\n# fingerprint: x\npoint,adc_bits,chip,accuracy,seconds,energy_per_image\n"
    "0,4,0,0.5,1,1e-9\n0,4,1,0.75,1,1e-9\n1,6,0,0.9,1.5,\n1,6,1,0.95,1,2e-9\n"
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SWEEP)), st.integers(0, 6), st.binary(max_size=6))
def test_damaged_sweep_files(tmp_path_factory, pos, cut, insert):
    path = tmp_path_factory.mktemp("sw") / "s.csv"
    raw = SWEEP.encode()
    path.write_bytes(raw[:pos] + insert + raw[pos + cut :])
    try:
        table = xbar.network.read_sweep(path)
    except ConfigError as err:
        assert "s.csv" in str(err), str(err)
        return
    finite = table.accuracies[np.isfinite(table.accuracies)]
    assert all(0 <= a <= 1 or math.isfinite(a) for a in finite)
