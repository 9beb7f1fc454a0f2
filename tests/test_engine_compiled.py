"""The compiled Newton path (xbar.spice.compiled, xbar.spice._newton_kernels) against
its readable twins: scipy's sparse solve, the vectorised device models and the
Python Newton path of DCSystem."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from xbar.spice import _newton_kernels as K
from xbar.spice import devices, mosfet
from xbar.spice.compiled import CompiledNewton
from xbar.spice.dc import solve_dc
from xbar.spice.netlist import read_netlist
from xbar.spice.newton import DCSystem

ROOT = Path(__file__).resolve().parents[1]


def _mna_like(n, rng):
    """A random sparse matrix with MNA's traits: symmetric pattern, some zero diagonals."""
    A = sp.random(n, n, density=min(1.0, 4.0 / n), random_state=rng, format="csr")
    A = A + A.T + sp.diags(rng.uniform(0.5, 2.0, n))
    A = A.tolil()
    for k in rng.choice(n, size=n // 5, replace=False):  # branch rows: zero diagonal
        A[k, k] = 0.0
        j = (k + 1) % n
        A[k, j] = A[j, k] = 1.0
    return A.tocsr()


@pytest.mark.parametrize("n", [1, 5, 30, 120])
def test_fixed_order_lu_solves_like_scipy(n):
    rng = np.random.default_rng(n)
    A = _mna_like(n, rng)
    lu = spla.splu(A.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1)
    pr, pc = lu.perm_r.astype(np.int64), lu.perm_c.astype(np.int64)
    B = A.tocoo()
    Bp = sp.csr_matrix((B.data, (pr[B.row], pc[B.col])), shape=(n, n)).sorted_indices()
    ptr, idx, diag = K.lu_symbolic(n, Bp.indptr.astype(np.int64), Bp.indices.astype(np.int64))
    keys = np.repeat(np.arange(n), np.diff(ptr)) * n + idx
    val = np.zeros(len(idx))
    val[np.searchsorted(keys, np.repeat(np.arange(n), np.diff(Bp.indptr)) * n + Bp.indices)] = (
        Bp.data
    )
    assert K.lu_factor((ptr, idx, diag), val, np.zeros(n), 1e3) == -1
    b = rng.normal(size=n)
    x = np.zeros(n)
    K.lu_solve((ptr, idx, diag), val, np.argsort(pr), np.argsort(pc), b, x, np.zeros(n))
    np.testing.assert_allclose(x, spla.spsolve(A.tocsc(), b), rtol=1e-9, atol=1e-12)


def test_fixed_order_lu_reports_a_small_pivot():
    # natural order on [[0, 1], [1, 0]]: the first pivot is zero
    ptr, idx, diag = K.lu_symbolic(2, np.array([0, 2, 4]), np.array([0, 1, 0, 1]))
    val = np.array([0.0, 1.0, 1.0, 0.0])
    assert K.lu_factor((ptr, idx, diag), val, np.zeros(2), 1e3) == 0
    val = np.array([1e-6, 1.0, 1.0, 1.0])  # multiplier 1e6 > growth
    assert K.lu_factor((ptr, idx, diag), val, np.zeros(2), 1e3) == 1


def _system(text, **kw):
    return DCSystem(read_netlist(text), read_netlist(text).options, **kw)


def test_stamp_residual_matches_extended_precision_residual():
    text = (ROOT / "netlists" / "crossbar_1s1r_4x4.cir").read_text()
    system = _system(text)
    pat, fast = system.pattern, system.compiled
    rng = np.random.default_rng(0)
    n = pat.size
    x, b = rng.normal(size=n), rng.normal(size=n)
    nl = rng.uniform(1e-9, 1e-3, size=pat.n_diode + pat.n_bderiv)
    out = np.zeros(n)
    K.stamp_residual(fast.stamps, nl, 1e-6, pat.layout.n_voltage, b, x, *np.zeros((2, n)), out)
    np.testing.assert_allclose(out, pat.residual(b, x, nl, 1e-6), rtol=1e-13, atol=1e-18)


def test_scalar_device_kernels_match_vectorised_models():
    rng = np.random.default_rng(1)
    text = (ROOT / "netlists" / "real" / "zener_regulator.cir").read_text()
    system = _system(text)
    p = system.diodes
    dp = (p.csat, p.vte, p.vcrit, p.bv_given, p.tbv, p.vtebrk)
    for vnew, vold in rng.uniform(-8, 3, size=(400, 2)):
        for k in range(len(p)):
            sub = devices.DiodeParams(*(np.array([a[k]]) for a in dp))
            ref_v, ref_lim = devices.limit_diode(np.array([vnew]), np.array([vold]), sub)
            v, lim = K.diode_limit(vnew, vold, dp, k)
            assert v == pytest.approx(ref_v[0], rel=1e-14, abs=1e-15) and lim == ref_lim[0]
            cd, gd = devices.diode_current(np.array([v]), sub, 1e-12)
            assert K.diode_iv(v, dp, k, 1e-12) == pytest.approx((cd[0], gd[0]), rel=1e-13)
    for vnew, vold, vto in rng.uniform(-6, 6, size=(2000, 3)):
        assert K.fetlim(vnew, vold, vto) == mosfet.fetlim(vnew, vold, vto)
        assert K.limvds(vnew, vold) == mosfet.limvds(vnew, vold)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_mos_kernels_match_the_level1_model(sign):
    rng = np.random.default_rng(2)
    n = 500
    ch = mosfet.MosChannel(
        *(
            np.full(n, v)
            for v in (sign, 2e-4, 0.7 * sign - 0.4 * np.sqrt(0.65), 0.65, 0.4, 0.04, 0.0259, 0.6)
        )
    )
    v, vo = rng.uniform(-4, 4, size=(2, n, 4))
    i_ref, d_ref = ch.evaluate(list(v.T))
    lim_ref = ch.limit(v, vo)
    prm = np.array([sign, 2e-4, ch.vbi[0], 0.65, 0.4, 0.04, 0.0259, 0.6])
    di, out = np.zeros(4), np.zeros(4)
    for k in range(n):
        assert K.mos_channel(prm, v[k], di) == pytest.approx(i_ref[k], rel=1e-13, abs=1e-300)
        np.testing.assert_allclose(di, [d[k] for d in d_ref], rtol=1e-13, atol=1e-300)
        K.mos_channel_limit(prm, v[k], vo[k], out)
        np.testing.assert_array_equal(out, lim_ref[k])
    jn = mosfet.MosJunction(np.full(n, sign), np.full(n, 1e-15), np.full(n, 0.0259), 0.6, 1e-12)
    jn.vcrit = np.full(n, 0.6)
    i_ref, d_ref = jn.evaluate([v[:, 0], v[:, 1]])
    lim_ref = jn.limit(v[:, :2], vo[:, :2])
    prm = np.array([sign, 1e-15, 0.0259, 0.6, 1e-12])
    for k in range(n):
        assert K.mos_junction(prm, v[k], di) == pytest.approx(i_ref[k], rel=1e-13)
        assert di[0] == pytest.approx(d_ref[0][k], rel=1e-13)
        K.mos_junction_limit(prm, v[k, :2], vo[k, :2], out)
        np.testing.assert_array_equal(out[:2], lim_ref[k])


NETLISTS = sorted(glob.glob(str(ROOT / "netlists" / "real" / "*.cir"))) + [
    str(ROOT / "netlists" / name)
    for name in ("crossbar_1s1r_4x4.cir", "diode_nested_dc.cir", "crossbar_sinh_4x4.cir")
]


@pytest.mark.parametrize("path", NETLISTS, ids=lambda p: Path(p).name)
def test_compiled_path_agrees_with_python_path(path):
    circuit = read_netlist(path)
    py = solve_dc(circuit, engine="python")
    fast = solve_dc(circuit, engine="compiled")
    assert fast.strategy == py.strategy
    np.testing.assert_array_equal(fast.iterations, py.iterations)
    scale = max(1.0, float(np.max(np.abs(py.x)))) if py.x.size else 1.0
    np.testing.assert_allclose(fast.x, py.x, rtol=0, atol=1e-11 * scale)


def test_a_pivot_order_that_keeps_failing_gives_the_run_back():
    # growth 0.5 rejects SuperLU's own order (multipliers up to 10): the compiled run
    # orders again, then gives up (None) so that the caller runs the Python path
    circuit = read_netlist(ROOT / "netlists" / "real" / "bridge_rectifier_dc.cir")
    system = DCSystem(circuit, circuit.options, compiled=False)
    x0 = system.start_point()
    for growth, orders in ((0.5, 4), (1e3, 1)):
        fast = CompiledNewton(system, growth=growth)
        res = fast.newton(
            x0, system.initial_state(x0), maxiter=100, src=system.sources, gshunt=0.0, fresh=True
        )
        assert fast.n_orders == orders
        assert (res is None) == (orders > 1)
    py = system.newton(x0, None, maxiter=100)
    assert res.iterations == py.iterations
    np.testing.assert_allclose(res.x, py.x, rtol=0, atol=1e-12)


def test_compiled_newton_is_used_and_falls_back_with_the_python_diagnosis():
    text = (
        "diode that cannot settle in 3 iterations\n.options itl1=3 itl2=3\n"
        ".model dm D(IS=1e-14)\nv1 a 0 5\nd1 a b dm\nr1 b 0 1\n.op\n.end\n"
    )
    system = _system(text)
    assert isinstance(system.compiled, CompiledNewton)
    from xbar.errors import ConvergenceError

    with pytest.raises(ConvergenceError, match="d1"):
        solve_dc(read_netlist(text))


@pytest.mark.parametrize("engine", ["compiled", "python"])
def test_singular_circuits_are_reported_by_either_engine(engine):
    from xbar.errors import SingularCircuitError

    # a VCCS cancelling the resistor: node a has no net conductance (passes topology)
    text = "cancelled\ni1 0 a 1m\nr1 a 0 1k\ng1 a 0 a 0 -1m\n.dc i1 0 1m 10u\n.end\n"
    with pytest.raises(SingularCircuitError, match="singular"):
        solve_dc(read_netlist(text), engine=engine)


def test_linear_sweep_through_the_compiled_block_solve_matches():
    text = (ROOT / "netlists" / "ladder_dc.cir").read_text().replace("0.5\n", "0.001\n")
    circuit = read_netlist(text)
    fast, py = solve_dc(circuit, engine="compiled"), solve_dc(circuit, engine="python")
    assert len(fast.sweep) == 5001
    np.testing.assert_allclose(fast.x, py.x, rtol=1e-15, atol=1e-15)
    # every node of the R-2R ladder is vin / 2^k (exactly representable steps)
    np.testing.assert_allclose(fast.voltage("n3"), fast.sweep / 8, rtol=1e-15, atol=1e-17)


@pytest.mark.parametrize("itl", [3, 4, 5])
def test_fallbacks_and_errors_are_the_python_paths(itl):
    # a 1-ohm diode load stepped by 5 V: source stepping rescues points (itl 4, 5), or
    # nothing does (itl 3): the same strategies, iterations and message from either engine
    from xbar.errors import ConvergenceError

    text = (
        f"hard diode\n.options itl1={itl} itl2={itl}\n.model dm D(IS=1e-14)\n"
        "v1 a 0 0\nr1 a b 1\nd1 b 0 dm\n.dc v1 0 10 5\n.end\n"
    )
    outcomes = []
    for engine in ("compiled", "python"):
        try:
            res = solve_dc(read_netlist(text), engine=engine)
            outcomes.append((res.strategies, res.iterations.tolist(), res.x))
        except ConvergenceError as exc:
            outcomes.append(str(exc))
    if itl == 3:
        assert outcomes[0] == outcomes[1] and ".dc point 0 (v1=0)" in outcomes[0]
    else:
        assert "source stepping" in outcomes[0][0]
        assert outcomes[0][:2] == outcomes[1][:2]
        np.testing.assert_allclose(outcomes[0][2], outcomes[1][2], rtol=1e-12, atol=1e-15)


def _random_circuit(seed: int) -> str:
    """A random connected network of resistors, diodes (some with RS and BV), a
    MOSFET pair, a VCVS and current sources, swept by its first source."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 9))
    lines = [
        f"random {seed}",
        ".model dm D(IS=1e-14 N=1.1 RS=3 BV=6 IBV=1e-6)",
        ".model dn D(IS=2e-15)",
        ".model nch nmos (level=1 vto=0.6 kp=100u gamma=0.4 lambda=0.03 rd=2 rs=2)",
        ".model pch pmos (level=1 vto=-0.7 kp=40u lambda=0.05)",
        "v1 n1 0 1",
        "vdd nd 0 3",
        "rdd nd n2 2k",
    ]
    for k in range(2, n + 1):  # a chain keeps every node connected
        lines.append(f"r{k} n{k - 1} n{k} {rng.uniform(100, 1e4):.4g}")
    for k in range(int(rng.integers(2, 6))):
        a, b = rng.integers(1, n + 1, size=2)
        lines.append(f"rx{k} n{a} {'0' if a == b else f'n{b}'} {rng.uniform(50, 5e4):.4g}")
    for k in range(int(rng.integers(1, 4))):
        a = int(rng.integers(1, n + 1))
        lines.append(f"d{k} n{a} 0 {'dm' if k % 2 else 'dn'}")
    lines += [
        f"mn nout n{n} 0 0 nch w=2u l=1u",
        f"mp nout n{n} nd nd pch w=4u l=1u",
        "rl nout 0 100k",
        f"e1 ne 0 n{n} 0 0.5",
        "re ne 0 1k",
        f"i1 0 n{int(rng.integers(1, n + 1))} {rng.uniform(0, 1e-4):.3g}",
        f".dc v1 {rng.uniform(-8, -1):.3f} {rng.uniform(1, 8):.3f} 0.05",
        ".end",
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(6))
def test_random_circuits_agree_between_engines(seed):
    circuit = read_netlist(_random_circuit(seed))
    py = solve_dc(circuit, engine="python")
    fast = solve_dc(circuit, engine="compiled")
    assert fast.strategies == py.strategies
    np.testing.assert_array_equal(fast.iterations, py.iterations)
    np.testing.assert_allclose(fast.x, py.x, rtol=1e-9, atol=1e-12)


def test_behavioural_exponential_limited_alike():
    # exp() of a control far from the solution: limit_bsource pulls the step back in
    # both engines between the (compiled or Python) iterations
    text = "exp source\nv1 a 0 0\nr1 a b 1k\nb1 b 0 I=1e-12*exp(V(b)/0.02)\n.dc v1 0 30 0.5\n.end\n"
    circuit = read_netlist(text)
    fast, py = solve_dc(circuit, engine="compiled"), solve_dc(circuit, engine="python")
    assert fast.strategies == py.strategies and fast.iterations.sum() > 2 * len(fast.sweep)
    np.testing.assert_array_equal(fast.iterations, py.iterations)
    np.testing.assert_allclose(fast.x, py.x, rtol=1e-12, atol=1e-15)
