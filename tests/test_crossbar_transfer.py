"""Both block-elimination orientations of Crossbar.transfer_matrix on tall and wide arrays."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar import transfer
from xbar.crossbar.reference import ReferenceNetwork
from xbar.errors import ConfigError


def _cases(M, N, rng):
    rr = rng.uniform(0.5, 2.0, (M, N))
    rc = rng.uniform(0.5, 2.0, (M, N))
    return {
        "default": dict(r_row=1.0, r_col=1.0),
        "driver_sense": dict(r_row=1.0, r_col=2.0, r_driver=7.0, r_sense=3.0),
        "per_segment": dict(
            r_row=rr, r_col=rc, r_driver=np.linspace(1, 2, M), r_sense=np.linspace(2, 3, N)
        ),
        "drive_right_sense_top": dict(r_row=rr, r_col=rc, drive="right", sense="top"),
        "drive_both": dict(
            r_row=rng.uniform(0.5, 2, (M, N + 1)), r_col=1.0, drive="both", r_driver=1.0
        ),
        "sense_both": dict(
            r_row=1.0, r_col=rng.uniform(0.5, 2, (M + 1, N)), sense="both", r_sense=2.0
        ),
        "access_1t1r": dict(r_row=1.0, r_col=1.0, r_access=rng.uniform(1e2, 1e3, (M, N))),
        "row_bias": dict(r_row=1.0, r_col=1.0, row_bias=[[None, 0.1]] * M),
        "col_bias": dict(r_row=1.0, r_col=1.0, r_sense=1.0, col_bias=[[0.05, None]] * N),
        "ideal_rows_driver": dict(r_row=0.0, r_col=rc, r_driver=2.0),
        "ideal_rows": dict(r_row=0.0, r_col=1.0),
        "zero_row_segments": dict(
            r_row=np.where(rng.random((M, N)) < 0.4, 0.0, rr), r_col=1.0, r_driver=1.0
        ),
        "ideal_cols": dict(r_row=1.0, r_col=0.0, r_sense=2.0),
    }


# which orientation cannot apply: the swept family must not be collapsed
NOT_ROWS = {"ideal_cols"}
NOT_COLUMNS = {"ideal_rows_driver", "ideal_rows", "zero_row_segments", "col_bias"}


@pytest.mark.parametrize("shape", [(11, 4), (4, 11)], ids=["tall", "wide"])
@pytest.mark.parametrize("case", sorted(_cases(2, 2, np.random.default_rng(0))))
def test_both_orientations_match_solver_and_reference(shape, case):
    M, N = shape
    rng = np.random.default_rng(M * 100 + N)
    kw = _cases(M, N, rng)[case]
    G = rng.uniform(1e-6, 1e-4, (M, N))
    G[1, 2] = 0.0  # an open cell
    xb = xbar.Crossbar(G, **kw)
    ref = ReferenceNetwork(xb)
    Wref = ref.solve(np.eye(M))[0] - ref.solve(np.zeros(M))[0]
    scale = np.abs(Wref).max()
    V = rng.uniform(-0.3, 0.3, (3, M))
    exact = xb.solve(V, tol=1e-13).output - xb.solve(np.zeros(M), tol=1e-13).output
    ran = 0
    for method, excluded in (("rows", NOT_ROWS), ("columns", NOT_COLUMNS)):
        if case in excluded:
            with pytest.raises(ConfigError, match=method):
                xb.transfer_matrix(method)
            continue
        W = xb.transfer_matrix(method)
        np.testing.assert_allclose(W, Wref, rtol=0, atol=1e-10 * scale)
        np.testing.assert_allclose(V @ W, exact, rtol=0, atol=1e-9 * np.abs(exact).max())
        ran += 1
    assert ran >= 1
    W = xb.transfer_matrix()
    assert xb.transfer_method in ("rows", "columns")
    np.testing.assert_allclose(W, Wref, rtol=0, atol=1e-10 * scale)
    assert np.abs(Wref - G).max() > 1e-6 * scale  # the parasitics matter here


def test_cg_fallback_and_bad_method():
    rng = np.random.default_rng(5)
    G = rng.uniform(1e-6, 1e-4, (6, 5))
    # zero segments in both families: neither elimination applies
    rr = np.where(rng.random((6, 5)) < 0.4, 0.0, 1.0)
    xb = xbar.Crossbar(
        G, r_row=rr, r_col=np.where(rng.random((6, 5)) < 0.4, 0.0, 1.0), r_driver=1.0, r_sense=1.0
    )
    W = xb.transfer_matrix()
    assert xb.transfer_method == "cg"
    ref = ReferenceNetwork(xb)
    np.testing.assert_allclose(W, ref.solve(np.eye(6))[0], rtol=0, atol=1e-9 * np.abs(W).max())
    np.testing.assert_allclose(xb.transfer_matrix("cg"), W, rtol=0, atol=1e-9 * np.abs(W).max())
    with pytest.raises(ConfigError, match="method"):
        xb.transfer_matrix("lu")


def test_cost_model_picks_the_cheaper_orientation():
    assert transfer.row_cost(256, 20, 1) < transfer.column_cost(256, 20, 1)
    assert transfer.column_cost(20, 256, 1) < transfer.row_cost(20, 256, 1)
    G = np.full((200, 6), 1e-5)
    tall = xbar.Crossbar(G, 1.0, 1.0)
    wide = xbar.Crossbar(G.T, 1.0, 1.0)
    tall.transfer_matrix()
    wide.transfer_matrix()
    assert (tall.transfer_method, wide.transfer_method) == ("rows", "columns")
    # the two orientations agree to round-off on a larger array
    xb = xbar.Crossbar(
        np.random.default_rng(1).uniform(1e-5, 1e-4, (30, 24)), 2.0, 1.0, r_driver=5.0, r_sense=5.0
    )
    Wr, Wc = xb.transfer_matrix("rows"), xb.transfer_matrix("columns")
    assert np.abs(Wr - Wc).max() <= 1e-12 * np.abs(Wc).max()
