"""Write crossbar netlists (linear, sinh or 1S1R cells) that xbar and ngspice both run.

Topology (the default of issue 3): row i is driven at its left end by ``v_row<i>``
through ``r_driver`` and one wire segment ``r_row``; adjacent row nodes are joined
by ``r_row``; cell (i, j) joins row node ``r<i>_<j>`` to column node ``c<i>_<j>``;
adjacent column nodes are joined by ``r_col``; column j leaves at the bottom
through one segment ``r_col`` and ``r_sense`` into ``v_sense<j>`` at 0 V, whose
current (positive into its + terminal) is the column's output current.
"""

from __future__ import annotations

import numpy as np


def crossbar_netlist(
    rows: int,
    cols: int,
    *,
    cell: str = "linear",
    seed: int = 0,
    r_row: float = 1.0,
    r_col: float = 1.0,
    r_driver: float = 10.0,
    r_sense: float = 10.0,
    v_max: float = 0.5,
    levels: int = 8,
    title: str | None = None,
    comment: str = "",
    tight: bool = True,
) -> str:
    """Return netlist text of a ``rows`` x ``cols`` crossbar.

    ``cell`` is ``"linear"`` (resistors), ``"sinh"`` (B sources
    ``I = G/k*sinh(k*V)`` with k = 2 /V) or ``"1s1r"`` (a diode selector in
    series with a resistor).  Conductances take ``levels`` distinct values
    between 10 uS and 100 uS (multi-level cells), inputs are uniform in
    [0, ``v_max``] V.
    """
    rng = np.random.default_rng(seed)
    g_levels = np.linspace(1e-5, 1e-4, levels)
    G = g_levels[rng.integers(0, levels, size=(rows, cols))]
    V = [float(v) for v in np.round(rng.uniform(0, v_max, size=rows), 4)]
    k = 2.0
    out = [title or f"{rows}x{cols} {cell} crossbar"]
    if comment:
        out += ["* " + line for line in comment.strip().splitlines()]
    if tight and cell != "linear":
        out.append(".options reltol=1e-9 abstol=1e-15 vntol=1e-12")
    if cell == "1s1r":
        out.append(".model sel D(is=1e-12 n=1.8)")
    for i in range(rows):
        out.append(f"v_row{i} in{i} 0 dc {V[i]!r}")
        out.append(f"rd{i} in{i} d{i} {r_driver!r}")
        out.append(f"rw{i}_0 d{i} r{i}_0 {r_row!r}")
        for j in range(1, cols):
            out.append(f"rw{i}_{j} r{i}_{j - 1} r{i}_{j} {r_row!r}")
    for j in range(cols):
        for i in range(1, rows):
            out.append(f"rc{i}_{j} c{i - 1}_{j} c{i}_{j} {r_col!r}")
        out.append(f"rc{rows}_{j} c{rows - 1}_{j} s{j} {r_col!r}")
        out.append(f"rs{j} s{j} o{j} {r_sense!r}")
        out.append(f"v_sense{j} o{j} 0 dc 0")
    for i in range(rows):
        for j in range(cols):
            g = float(G[i, j])
            if cell == "linear":
                out.append(f"rx{i}_{j} r{i}_{j} c{i}_{j} {1.0 / g!r}")
            elif cell == "sinh":
                out.append(
                    f"b{i}_{j} r{i}_{j} c{i}_{j} I={g / k!r}*sinh({k!r}*V(r{i}_{j},c{i}_{j}))"
                )
            elif cell == "1s1r":
                out.append(f"d{i}_{j} r{i}_{j} m{i}_{j} sel")
                out.append(f"rm{i}_{j} m{i}_{j} c{i}_{j} {1.0 / g!r}")
            else:
                raise ValueError(f"unknown cell {cell!r}")
    out += [".op", ".end"]
    return "\n".join(out) + "\n"
