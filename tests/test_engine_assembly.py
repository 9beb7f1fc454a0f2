"""Assembly: the CSR pattern and scatter-add kernels against a naive dense MNA."""

from __future__ import annotations

import numpy as np
import pytest
from engine_builders import build

from xbar.spice.assembly import Pattern, scatter_add_numpy
from xbar.spice.circuit import DiodeModel


def random_elements(rng, n_nodes=8, n_elem=20):
    nodes = ["0"] + [f"n{k}" for k in range(1, n_nodes)]
    els = [("V1", "n1", "0", 1.0)]
    for k in range(n_elem):
        a, b = rng.choice(len(nodes), size=2, replace=False)
        kind = rng.choice(["R", "R", "R", "G", "E", "I"])
        if kind == "R":
            els.append((f"R{k}", nodes[a], nodes[b], float(rng.uniform(10, 1e4))))
        elif kind == "I":
            els.append((f"I{k}", nodes[a], nodes[b], float(rng.normal())))
        else:
            c, d = rng.choice(len(nodes), size=2, replace=False)
            els.append(
                (
                    f"{kind}{k}",
                    nodes[a],
                    nodes[b],
                    nodes[c],
                    nodes[d],
                    float(rng.normal()) * (1e-3 if kind == "G" else 1.0),
                )
            )
    return els


def dense_mna(c):
    """Naive dense MNA of the linear part (loops, no cleverness)."""
    nn = c.n_nodes - 1
    nb = len(c.vsources) + len(c.vcvs)
    A = np.zeros((nn + nb, nn + nb))

    def add(r, col, v):
        if r > 0 and col > 0:
            A[r - 1, col - 1] += v

    for k in range(len(c.resistors)):
        a, b, g = c.resistors.npos[k], c.resistors.nneg[k], 1 / c.resistors.value[k]
        add(a, a, g)
        add(b, b, g)
        add(a, b, -g)
        add(b, a, -g)
    for k in range(len(c.vccs)):
        p, n, cp, cn, g = (
            c.vccs.npos[k],
            c.vccs.nneg[k],
            c.vccs.cpos[k],
            c.vccs.cneg[k],
            c.vccs.gain[k],
        )
        add(p, cp, g)
        add(p, cn, -g)
        add(n, cp, -g)
        add(n, cn, g)
    br = nn
    for tab, is_e in ((c.vsources, False), (c.vcvs, True)):
        for k in range(len(tab)):
            p, n = tab.npos[k], tab.nneg[k]
            if p > 0:
                A[p - 1, br] += 1
                A[br, p - 1] += 1
            if n > 0:
                A[n - 1, br] -= 1
                A[br, n - 1] -= 1
            if is_e:
                if tab.cpos[k] > 0:
                    A[br, tab.cpos[k] - 1] -= tab.gain[k]
                if tab.cneg[k] > 0:
                    A[br, tab.cneg[k] - 1] += tab.gain[k]
            br += 1
    return A


@pytest.mark.parametrize("seed", range(5))
def test_linear_pattern_matches_dense_mna(seed):
    rng = np.random.default_rng(seed)
    c, _ = build(random_elements(rng))
    pat = Pattern.build(c)
    A = pat.matrix(pat.linear_data()).toarray()
    np.testing.assert_allclose(A, dense_mna(c), rtol=1e-14, atol=0)
    # the pattern keeps a slot for every node diagonal even where the value is zero
    diag_data = pat.linear_data()[pat.diag_slots]
    assert len(pat.diag_slots) == c.n_nodes - 1
    assert np.all(np.isfinite(diag_data))


def test_pattern_never_drops_zero_entries():
    c, _ = build(
        [
            ("V1", "a", "0", 1.0),
            ("R1", "a", "b", 1e3),
            ("R2", "b", "0", 1e3),
            ("R3", "c", "0", 1e3),
            ("G1", "c", "0", "a", "0", 0.0),
        ]
    )
    pat = Pattern.build(c)
    A = pat.matrix(pat.linear_data())
    assert A.nnz == pat.nnz  # zero-valued G stamps keep their slots
    assert pat.nnz > np.count_nonzero(A.toarray())


def test_source_rhs_signs():
    c, _ = build(
        [
            ("V1", "a", "0", 2.0),
            ("R1", "a", "b", 1.0),
            ("I1", "b", "0", 3e-3),
            ("R2", "b", "0", 1.0),
        ]
    )
    pat = Pattern.build(c)
    b = pat.source_matrix @ np.array([2.0, 3e-3])
    # I1 drives current from b through the source to 0: it leaves node b
    names = pat.layout.names
    assert b[names.index("b")] == pytest.approx(-3e-3)
    assert b[names.index("v1#branch")] == pytest.approx(2.0)


def test_nonlinear_stamps_diode_and_bsource():
    m = {"dm": DiodeModel("dm", is_=1e-14, rs=5.0)}
    c, _ = build(
        [
            ("V1", "a", "0", 1.0),
            ("R1", "a", "b", 1e3),
            ("D1", "b", "0", "dm"),
            ("B1", "b", "c", "1e-3*V(a,c)*V(b)"),
            ("R2", "c", "0", 1e3),
        ],
        models=m,
    )
    pat = Pattern.build(c)
    assert pat.layout.names[pat.layout.diode_prime[0] - 1] == "d1#internal"
    gd = 0.25
    db = np.array([0.5, 0.75])  # d/dV(a,c), d/dV(b)
    nl = np.concatenate([[gd], db])
    A = pat.matrix(pat.assemble(pat.linear_data(), nl)).toarray()
    A0 = pat.matrix(pat.linear_data()).toarray()
    D = A - A0
    names = pat.layout.names
    i = {n: names.index(n) for n in ("a", "b", "c", "d1#internal")}
    assert D[i["d1#internal"], i["d1#internal"]] == pytest.approx(gd)
    # B1 current flows b -> c: row b gets +dI/dV(a,c) at a, -... at c, +dI/dV(b) at b
    assert D[i["b"], i["a"]] == pytest.approx(0.5)
    assert D[i["b"], i["c"]] == pytest.approx(-0.5)
    assert D[i["b"], i["b"]] == pytest.approx(0.75)
    assert D[i["c"], i["a"]] == pytest.approx(-0.5)
    assert D[i["c"], i["b"]] == pytest.approx(-0.75)
    # RS = 5 ohm between anode b and the internal node
    assert A0[i["b"], i["d1#internal"]] == pytest.approx(-0.2)


@pytest.mark.parametrize("seed", range(3))
def test_numba_kernel_matches_numpy_twin(seed):
    from xbar.spice._kernels import scatter_add, scatter_add_block

    rng = np.random.default_rng(seed)
    c, _ = build(random_elements(rng, n_nodes=30, n_elem=120))
    pat = Pattern.build(c)
    st = pat.linear
    params = rng.normal(size=len(pat.linear_params))
    ref = scatter_add_numpy(pat.nnz, st, params)
    fast = np.zeros(pat.nnz)
    scatter_add(fast, st.slots, st.signs, st.pidx, params)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)
    block = rng.normal(size=(len(params), 3))
    out = np.zeros((pat.nnz, 3))
    scatter_add_block(out, st.slots, st.signs, st.pidx, block)
    for j in range(3):
        np.testing.assert_allclose(
            out[:, j], scatter_add_numpy(pat.nnz, st, block[:, j]), rtol=1e-12, atol=1e-12
        )


def test_assemble_numba_equals_numpy():
    m = {"dm": DiodeModel("dm")}
    c, _ = build(
        [
            ("V1", "a", "0", 1.0),
            ("R1", "a", "b", 1e3),
            ("D1", "b", "0", "dm"),
            ("D2", "b", "c", "dm"),
            ("R2", "c", "0", 1e3),
        ],
        models=m,
    )
    pat = Pattern.build(c)
    nl = np.array([1e-3, 2e-3])
    a = pat.assemble(pat.linear_data(), nl, gshunt=1e-6, kernel="numpy")
    b = pat.assemble(pat.linear_data(), nl, gshunt=1e-6, kernel="numba")
    np.testing.assert_allclose(a, b, rtol=1e-14)


def test_zero_resistor_rejected():
    from xbar.errors import ValueRangeError

    c, _ = build([("V1", "a", "0", 1.0), ("R1", "a", "0", 1.0)])
    c.resistors.value[0] = 0.0
    with pytest.raises(ValueRangeError, match="r1"):
        Pattern.build(c)


def test_bsources_differing_in_constants_share_one_template_group():
    from xbar.spice.assembly import TemplateExpression

    els = [("V1", "a", "0", 1.0)]
    gains = [1e-5, 2e-5, 3.5e-5, 7e-5]
    for k, g in enumerate(gains):
        els.append((f"B{k}", "a", f"c{k}", f"{g!r}*sinh({1 + k}*V(a,c{k}))+{k}e-6*V(c{k})^2"))
        els.append((f"R{k}", f"c{k}", "0", 1e3))
    c, _ = build(els)
    pat = Pattern.build(c)
    assert len(pat.bgroups) == 1  # four canonical forms, one structure
    group = pat.bgroups[0]
    assert isinstance(group.expr, TemplateExpression)
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 2))
    val, derivs = group.expr.evaluate([v[:, 0], v[:, 1]])
    for k, member in enumerate(group.members):
        ev, ed = c.bsources[member].expr.evaluate([v[k, 0], v[k, 1]])
        assert val[k] == pytest.approx(float(ev), rel=1e-14)
        for j in range(2):
            assert derivs[j][k] == pytest.approx(float(ed[j]), rel=1e-14)
    sub = group.expr.take(np.array([2]))
    sv, _ = sub.evaluate([v[2:3, 0], v[2:3, 1]])
    assert sv[0] == pytest.approx(val[2], rel=1e-14)
