"""Netlists of the ``.dc`` sweep benchmark (:mod:`bench_dc`): small circuits, long sweeps.

Every case is netlist text that xbar and ngspice both run; ``CASES`` maps a case
name to a function ``points -> text`` so that the benchmark can scale the sweep.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crossbar_netlist import crossbar_netlist  # noqa: E402


def _step(lo: float, hi: float, points: int) -> str:
    return repr((hi - lo) / (points - 1))


def diode(points: int) -> str:
    """A diode with series resistance behind 1 kOhm, swept -5..5 V."""
    return (
        "Diode and resistor, dc sweep\n"
        ".model dm D(IS=1e-14 N=1.05 RS=2)\n"
        "v1 in 0 dc 0\n"
        "r1 in a 1k\n"
        "d1 a 0 dm\n"
        f".dc v1 -5 5 {_step(-5, 5, points)}\n"
        ".end\n"
    )


def inverter(points: int) -> str:
    """A level-1 CMOS inverter transfer curve, 0..3.3 V, tight tolerances."""
    return (
        "CMOS inverter transfer curve\n"
        ".model nch nmos (level=1 vto=0.7 kp=110u gamma=0.4 phi=0.65 lambda=0.04 rd=5 rs=5"
        " is=1e-15)\n"
        ".model pch pmos (level=1 vto=-0.8 kp=50u gamma=0.57 phi=0.7 lambda=0.05 rd=8 rs=8"
        " is=1e-15)\n"
        ".options reltol=1e-9 abstol=1e-15 vntol=1e-12\n"
        "vdd vdd 0 3.3\n"
        "vin in 0 0\n"
        "mp out in vdd vdd pch w=4u l=0.5u\n"
        "mn out in 0 0 nch w=2u l=0.5u\n"
        f".dc vin 0 3.3 {_step(0, 3.3, points)}\n"
        ".end\n"
    )


def ladder(points: int, stages: int = 20) -> str:
    """An R-2R ladder of ``stages`` stages (linear: one factorisation for all points)."""
    out = ["R-2R ladder", "vin n0 0 dc 1"]
    for k in range(1, stages + 1):
        out += [f"rs{k} n{k - 1} n{k} 1k", f"rp{k} n{k} 0 2k"]
    out += [f"rt n{stages} 0 2k", f".dc vin 0 5 {_step(0, 5, points)}", ".end"]
    return "\n".join(out) + "\n"


def crossbar(size: int, cell: str):
    """A ``size`` x ``size`` crossbar whose first row input is swept 0..0.5 V."""

    def make(points: int) -> str:
        text = crossbar_netlist(size, size, cell=cell, seed=1)
        return text.replace(".op\n", f".dc v_row0 0 0.5 {_step(0, 0.5, points)}\n")

    return make


#: name -> (netlist of ``points`` points, default number of points)
CASES = {
    "diode": (diode, 10001),
    "inverter": (inverter, 3301),
    "ladder": (ladder, 10001),
    "xbar8_linear": (crossbar(8, "linear"), 1001),
    "xbar8_1s1r": (crossbar(8, "1s1r"), 501),
    "xbar8_sinh": (crossbar(8, "sinh"), 501),
    "xbar32_linear": (crossbar(32, "linear"), 201),
    "xbar32_1s1r": (crossbar(32, "1s1r"), 51),
}
