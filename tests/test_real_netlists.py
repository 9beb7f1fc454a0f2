"""Realistic netlists (``netlists/real/``), each run unchanged by xbar and by ngspice.

The files are written in the styles real netlists use (textbook listings,
simulator examples with ``.control`` blocks and corner libraries, crossbar
exports with valueless sources and MOSFET access devices, ``.func`` memristor
models, regression-suite decks with option cards, ``.nodeset``/``.ic`` and
global nodes).  Every node voltage and source current that ngspice reports
must match at every sweep point to 1e-6 (relative, with an absolute floor of
1e-9 of the largest value); every node and source of xbar's must be in
ngspice's output and vice versa.

Also here: level-1 MOSFET sweeps of VDS x VGS at three VBS, of VBS and of the
source (inverse mode), NMOS and PMOS, at the nominal temperature and at 85 degC
with TNOM 20 degC, against ngspice.
"""

from pathlib import Path

import numpy as np
import pytest

from xbar import read_netlist, solve_dc

pytestmark = pytest.mark.ngspice

REAL = Path(__file__).resolve().parents[1] / "netlists" / "real"
FILES = sorted(p.name for p in REAL.glob("*.cir"))


def match(result, spice, rtol=1e-6):
    """Assert equal node and source sets and values at every point."""
    ours_v = {k: np.atleast_1d(v) for k, v in result.voltages.items()}
    ours_i = {k: np.atleast_1d(v) for k, v in result.currents.items()}
    theirs_v = {k: v for k, v in spice.voltages.items() if "#" not in k}
    assert set(ours_v) == set(theirs_v), sorted(set(ours_v) ^ set(theirs_v))
    assert set(ours_i) == set(spice.currents), sorted(set(ours_i) ^ set(spice.currents))
    vscale = max(np.abs(np.concatenate(list(theirs_v.values()))).max(), 1e-30)
    iscale = max([np.abs(v).max() for v in spice.currents.values()] + [1e-30])
    for name, v in ours_v.items():
        np.testing.assert_allclose(
            v, theirs_v[name], rtol=rtol, atol=1e-9 * vscale, err_msg=f"v({name})"
        )
    for name, i in ours_i.items():
        np.testing.assert_allclose(
            i, spice.currents[name], rtol=rtol, atol=1e-9 * iscale, err_msg=f"i({name})"
        )


@pytest.mark.parametrize("name", FILES)
def test_real_netlist_matches_ngspice(name, ngspice):
    path = REAL / name
    result = solve_dc(read_netlist(path))
    spice = ngspice(path)
    assert spice.analysis == result.analysis
    match(result, spice)


def test_real_netlists_cover_the_habits():
    texts = {n: (REAL / n).read_text().lower() for n in FILES}
    every = "\n".join(texts.values())
    for habit in (
        ".control",
        ".endc",
        ".lib ",
        ".func",
        ".tran",
        ".ac ",
        "pulse(",
        "sin(",
        "mp out in vdd vdd pch",
        ".global",
        ".nodeset",
        ".ic ",
        "tc1=",
        "\nc",
        "\nl",
        "\nk",
        "v=",
        "i(vmeas)",
        "\nf1",
        "\nh1",
        "v2.",
        ".subckt sense in 0",
    ):
        assert habit in every, habit
    assert len(FILES) >= 9


MOS = """level-1 sweep
Vd d 0 1
Vg g 0 {vg}
Vb b 0 {vb}
Vs s 0 0
M1 d g s b {mod} W=10u L=2u
.model nm NMOS(LEVEL=1 VTO=0.7 KP=110u GAMMA=0.45 PHI=0.7 LAMBDA=0.04 IS=1e-15)
.model pm PMOS(LEVEL=1 VTO=-0.8 KP=40u GAMMA=0.5 PHI=0.65 LAMBDA=0.05 RD=20 RS=10)
.options reltol=1e-9 abstol=1e-15 vntol=1e-12
{temp}
{dc}
.end
"""


def _sweeps():
    for mod, t in (("nm", 1), ("pm", -1)):
        for vb in (0.0, -1.5 * t, 0.3 * t):  # body effect both ways
            yield mod, 1, vb, f".dc Vd {-t} {3 * t} {0.1 * t} Vg {-0.5 * t} {3 * t} {0.25 * t}"
        yield mod, 2 * t, 0, f".dc Vb {-3 * t} {0.5 * t} {0.1 * t} Vd 0 {3 * t} {0.5 * t}"
        yield mod, 1, 0, f".dc Vs {-t} {2 * t} {0.1 * t} Vg 0 {3 * t} {0.5 * t}"


_HOT = ".options tnom=20\n.temp 85"  # mos1temp.c: KP, PHI, VBI, IS scaled


@pytest.mark.parametrize(
    "mod,vg,vb,dc,temp",
    [(*s, "") for s in _sweeps()] + [(*s, _HOT) for s in _sweeps() if s[3].startswith(".dc Vd")],
)
def test_mosfet_level1_sweeps_match_ngspice(mod, vg, vb, dc, temp, ngspice):
    text = MOS.format(mod=mod, vg=vg, vb=vb, dc=dc, temp=temp)
    result = solve_dc(read_netlist(text))
    spice = ngspice(text)
    assert len(result.sweep) == len(spice.sweep) > 200
    match(result, spice)
    if dc.startswith(".dc Vd"):  # cutoff and conduction (linear, saturation, inverse)
        i = np.abs(result.current("vd"))
        assert (i < 1e-10).any() and (i > 1e-5).any()
