"""Property-based cross-check: random small crossbars against the dense textbook solve.

Hypothesis draws the shape (1..5 x 1..5), conductances (some open cells), wire,
driver and sense resistances (per segment or scalar), drive/sense ends and a
batch of inputs; xbar.Crossbar must agree with
:func:`xbar.validation.reference.dense_crossbar` to round-off, and the
reciprocity of the transfer matrix must hold.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from xbar.validation import reference as ref
from xbar.validation import rel_error

_FLIP = {"left": "top", "right": "bottom", "both": "both"}  # transpose maps drive -> sense


@st.composite
def arrays(draw):
    m = draw(st.integers(1, 5))
    n = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    G = rng.uniform(1e-6, 1e-3, (m, n))
    G[rng.random((m, n)) < 0.2] = 0.0
    G[0, 0] = max(G[0, 0], 1e-5)  # keep at least one conducting cell
    per_segment = draw(st.booleans())
    r_row = rng.uniform(0.1, 50.0, (m, n + 1)) if per_segment else float(rng.uniform(0.1, 50))
    r_col = rng.uniform(0.1, 50.0, (m + 1, n)) if per_segment else float(rng.uniform(0.1, 50))
    kw = dict(
        r_row=r_row,
        r_col=r_col,
        r_driver=float(rng.uniform(0, 100)),
        r_sense=float(rng.uniform(0, 100)),
        drive=draw(st.sampled_from(["left", "right", "both"])),
        sense=draw(st.sampled_from(["bottom", "top", "both"])),
    )
    V = rng.uniform(-1, 1, (draw(st.integers(1, 3)), m))
    return G, V, kw


@settings(max_examples=40, deadline=None)
@given(arrays())
def test_crossbar_matches_dense_nodal_solve(case):
    import xbar

    G, V, kw = case
    sol = xbar.Crossbar(G, **kw).solve(V, return_nodes=True, tol=1e-12)
    d = ref.dense_crossbar(G, V, **kw)
    assert rel_error(sol.row_voltages, d["row"]) < 1e-9
    assert rel_error(sol.col_voltages, d["col"]) < 1e-9
    assert rel_error(sol.output, d["output"]) < 1e-9
    assert rel_error(sol.input_currents, d["input"]) < 1e-9


@settings(max_examples=25, deadline=None)
@given(arrays())
def test_transfer_matrix_reciprocity(case):
    import xbar

    G, _, kw = case
    W = xbar.Crossbar(G, **kw).transfer_matrix()
    # the transposed array: rows <-> columns, drive ends <-> sense ends
    r_row, r_col = kw["r_row"], kw["r_col"]
    t_row = r_col.T if isinstance(r_col, np.ndarray) else r_col
    t_col = r_row.T if isinstance(r_row, np.ndarray) else r_row
    drive_t = {"top": "left", "bottom": "right", "both": "both"}[kw["sense"]]
    sense_t = _FLIP[kw["drive"]]
    Wt = xbar.Crossbar(
        G.T,
        r_row=t_row,
        r_col=t_col,
        r_driver=kw["r_sense"],
        r_sense=kw["r_driver"],
        drive=drive_t,
        sense=sense_t,
    ).transfer_matrix()
    assert rel_error(W, Wt.T) < 1e-9
