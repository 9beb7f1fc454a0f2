"""Input-switched arrays: kernels against their numpy twin and dense nodal solves,
closed forms, the pattern cache, the netlist export (xbar's engine) and errors."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar import ladder
from xbar.crossbar.input_switched import build_system, pattern_conductances
from xbar.errors import ConfigError, ShapeError, ValueRangeError
from xbar.validation.cases_input_switched import IswSpec, dense_nodal


def make(spec: IswSpec, G):
    return xbar.Crossbar(
        G,
        r_col=spec.r_bl,
        r_driver=spec.r_driver,
        r_sense=spec.r_sense,
        r_access=spec.r_on,
        topology="input_switched",
        r_source=spec.r_src,
        source_end=spec.source_end,
        sense=spec.sense,
        v_read=0.3,
    )


@pytest.mark.parametrize("source_end", ["top", "bottom"])
@pytest.mark.parametrize("sense", ["top", "bottom"])
@pytest.mark.parametrize("r_wire,gmax", [(1.0, 1e-4), (100.0, 1e-3)])
def test_matches_dense_nodal_solve(source_end, sense, r_wire, gmax):
    """Including r * g_max = 0.1 on 96 rows (strong IR drop: the sweep stays exact)."""
    rng = np.random.default_rng(3)
    m, n = 96, 5
    G = rng.uniform(0.01 * gmax, gmax, (m, n))
    spec = IswSpec(m, n, r_wire, 0.5 * r_wire, 7.0, 3.0, 500.0, source_end, sense, 0)
    xb = make(spec, G)
    bits = rng.integers(0, 2, (4, m)).astype(float)
    bits[0] = 1
    out = xb.solve(bits).output
    nodes = xb.solve(bits, return_nodes=True)
    for k in range(bits.shape[0]):
        ref, vsl, vbl = dense_nodal(spec, G, bits[k], 0.3)
        np.testing.assert_allclose(out[k], ref, rtol=1e-9)
        np.testing.assert_allclose(nodes.output[k], ref, rtol=1e-9)
        np.testing.assert_allclose(nodes.row_voltages[k], vsl, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(nodes.col_voltages[k], vbl, rtol=1e-8, atol=1e-12)
    # the IR drop is real here: the all-on output is far below the ideal sum
    ideal = 0.3 * (1.0 / (1.0 / G + 500.0)).sum(axis=0)
    if r_wire == 100.0:
        assert np.all(out[0] < 0.8 * ideal)
    # KCL: the sense current is the sum of the cell currents
    np.testing.assert_allclose(nodes.cell_currents.sum(axis=1), nodes.output, rtol=1e-9)


def test_numba_kernel_matches_numpy_twin_with_zero_resistances():
    rng = np.random.default_rng(4)
    m, n, p = 20, 7, 9
    g = rng.uniform(1e-6, 1e-4, (m, n))
    g[rng.random(g.shape) < 0.1] = 0
    bits = rng.random((p, m)) < 0.5
    seg_s = rng.uniform(0, 5, (n, m + 1))
    seg_b = rng.uniform(0, 5, (n, m + 1))
    seg_s[rng.random(seg_s.shape) < 0.3] = 0.0  # exact zero-resistance segments
    seg_b[rng.random(seg_b.shape) < 0.3] = 0.0
    for at_start in (True, False):
        a = ladder.ladder_numpy(g, bits, seg_s, seg_b, at_start, 0.2)
        b = ladder.ladder_numba(g, bits, seg_s, seg_b, at_start, 0.2)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-22)


def test_ideal_lines_closed_forms():
    rng = np.random.default_rng(5)
    G = rng.uniform(1e-6, 1e-4, (16, 4))
    bits = rng.integers(0, 2, (6, 16)).astype(float)
    xb = xbar.Crossbar(G, topology="input_switched", r_access=1e3, v_read=0.2)
    np.testing.assert_allclose(xb.solve(bits).output, 0.2 * bits @ (1 / (1 / G + 1e3)), rtol=1e-13)
    # ideal wires but driver and sense resistors: one loop per column
    xb = xbar.Crossbar(G, r_driver=100.0, r_sense=50.0, topology="input_switched", v_read=0.2)
    gsum = bits @ G
    expect = 0.2 / (150.0 + 1 / np.where(gsum > 0, gsum, np.inf))
    np.testing.assert_allclose(xb.solve(bits).output, np.where(gsum > 0, expect, 0), rtol=1e-12)


def test_pattern_cache_solves_each_pattern_once():
    rng = np.random.default_rng(6)
    G = rng.uniform(1e-6, 1e-4, (12, 3))
    xb = xbar.Crossbar(G, r_col=2.0, topology="input_switched", r_source=2.0, v_read=0.25)
    base = rng.integers(0, 2, (4, 12))
    bits = base[rng.integers(0, 4, 50)]
    T = xb.pattern_conductances(bits)
    np.testing.assert_allclose(0.25 * T, xb.solve(bits).output, rtol=1e-13)
    assert len(xb._cache["patterns"]) == len({r.tobytes() for r in bits})
    cache: dict = {}
    pattern_conductances(xb.setup(), bits[:10], cache)
    n0 = len(cache)
    T2 = pattern_conductances(xb.setup(), bits, cache)
    np.testing.assert_array_equal(T2, T)
    assert len(cache) == len({r.tobytes() for r in bits}) >= n0
    xb.G = G * 2  # replacing G forgets the cached patterns
    assert "patterns" not in xb._cache


def test_netlist_export_runs_in_xbars_engine():
    rng = np.random.default_rng(7)
    G = rng.uniform(1e-5, 1e-4, (5, 3))
    for r_wire in (0.0, 4.0):
        xb = xbar.Crossbar(
            G,
            r_col=r_wire,
            r_sense=10.0,
            r_driver=5.0,
            r_access=800.0,
            topology="input_switched",
            r_source=r_wire,
            source_end="top",
            v_read=0.2,
        )
        b = np.array([1, 0, 1, 1, 0])
        op = xbar.solve_dc(xbar.read_netlist(xb.to_netlist(None, b)))
        got = np.array([op.current(f"vsense{j}_b") for j in range(3)]).ravel()
        np.testing.assert_allclose(got, xb.solve(b).output[0], rtol=1e-9)


def test_system_is_plain_data_in_sweep_order():
    G = np.arange(1, 7, dtype=float).reshape(3, 2) * 1e-5
    xb = xbar.Crossbar(
        G,
        r_col=1.0,
        topology="input_switched",
        r_source=2.0,
        sense="top",
        source_end="top",
        r_driver=5.0,
    )
    s = xb.setup()
    assert s is build_system(xb) or s.reversed == build_system(xb).reversed
    assert s.reversed and not s.source_at_start  # source at the sense end
    np.testing.assert_allclose(s.g, G[::-1])
    assert s.seg_s[0, -1] == 2.0 + 5.0 and s.seg_b[0, 0] == 1.0


def test_input_switched_errors():
    G = np.full((4, 3), 1e-5)
    kw = dict(topology="input_switched")
    with pytest.raises(ConfigError, match="r_row must be 0"):
        xbar.Crossbar(G, r_row=1.0, **kw)
    with pytest.raises(ConfigError, match="sense='both'"):
        xbar.Crossbar(G, sense="both", r_col=np.ones((5, 3)), **kw)
    with pytest.raises(ConfigError, match="source_end"):
        xbar.Crossbar(G, source_end="left", **kw)
    with pytest.raises(ConfigError, match="linear cells"):
        xbar.Crossbar(G, device=xbar.Sinh(2.0), **kw)
    with pytest.raises(ConfigError, match="topology="):
        xbar.Crossbar(G, topology="1t1r")
    with pytest.raises(ShapeError, match="r_source"):
        xbar.Crossbar(G, r_source=np.ones((2, 2)), **kw)
    xb = xbar.Crossbar(G, **kw)
    with pytest.raises(ValueRangeError, match=r"input bit \[0, 1\] is 0.5"):
        xb.solve([1, 0.5, 0, 1])
    with pytest.raises(ShapeError, match="input bits have shape"):
        xb.solve([1, 0])
    for call in (
        xb.transfer_matrix,
        xb.aspreconditioner,
        xb.power_forms,
        lambda: xb.linearize([1, 0, 0, 1]),
    ):
        with pytest.raises(ConfigError, match="input-switched"):
            call()
    with pytest.raises(ConfigError, match="pattern_conductances"):
        xbar.Crossbar(G).pattern_conductances([[1, 0, 0, 1]])
    with pytest.raises(ConfigError, match="no power breakdown"):
        _ = xb.solve([1, 0, 0, 1]).power


def test_network_config_checks_input_switched_fields():
    from xbar.network import AnalogConfig

    ok = AnalogConfig(
        array_topology="input_switched", input_mode="bit_serial", r_source=2.0, r_col=2.0, r_on=1e3
    ).validate()
    assert ok.parasitics
    assert ok.as_ideal().array_topology == "crossbar"
    with pytest.raises(ConfigError, match="array_topology.*one input bit per read"):
        AnalogConfig(array_topology="input_switched").validate()
    with pytest.raises(ConfigError, match="r_source.*input_switched"):
        AnalogConfig(r_source=1.0).validate()
    with pytest.raises(ConfigError, match="r_row.*must be 0"):
        AnalogConfig(array_topology="input_switched", input_mode="bit_serial", r_row=1.0).validate()
    with pytest.raises(ConfigError, match="linear cells"):
        AnalogConfig.from_dict(
            dict(array_topology="input_switched", input_mode="bit_serial", device="sinh")
        )


def test_network_tile_solves_each_pattern_exactly_once():
    """Tile currents equal exact solves; repeated patterns come from the tile's cache."""
    from xbar.network import AnalogConfig
    from xbar.network.tiles import Tile, TileSpec

    cfg = AnalogConfig(
        array_topology="input_switched",
        input_mode="bit_serial",
        r_col=5.0,
        r_source=5.0,
        r_on=2e3,
        v_read=0.2,
    )
    rng = np.random.default_rng(8)
    G = rng.uniform(1e-6, 1e-4, (20, 6))
    tile = Tile(TileSpec(0, 0, 20, 0, 3, "differential", False), G, G)
    base = rng.integers(0, 2, (5, 20)) * 0.2
    V = base[rng.integers(0, 5, 40)]
    I = tile.currents(V, cfg)
    xb = xbar.Crossbar(
        G, r_col=5.0, r_access=2e3, topology="input_switched", r_source=5.0, v_read=0.2
    )
    np.testing.assert_allclose(I, xb.solve(V > 0).output, rtol=1e-12)
    assert len(tile._crossbar._cache["patterns"]) == len({r.tobytes() for r in V})


def test_network_evaluate_input_switched_ideal_equals_crossbar():
    """Without resistances an input-switched chip computes the same as a crossbar."""
    from xbar.network import AnalogConfig, evaluate, load_model

    m = load_model("default")
    base = dict(input_mode="bit_serial", input_bits=4)
    a = evaluate(m, AnalogConfig(array_topology="input_switched", **base), limit=24)
    b = evaluate(m, AnalogConfig(**base), limit=24)
    assert a.accuracies == b.accuracies
    for sa, sb in zip(a.layer_stats, b.layer_stats, strict=True):
        assert sa.rel_error == pytest.approx(sb.rel_error, rel=1e-9, abs=1e-15)


def test_network_energy_of_input_switched_reads_is_the_supplied_power():
    from xbar.network import AnalogConfig, evaluate, load_model

    m = load_model("default")
    cfg = AnalogConfig(
        array_topology="input_switched",
        input_mode="bit_serial",
        input_bits=4,
        r_col=2.0,
        r_source=2.0,
    )
    res = evaluate(m, cfg, limit=8)
    assert res.energy and res.energy["cells"] > 0
    ideal = evaluate(m, cfg.replace(r_col=0.0, r_source=0.0), limit=8)
    # the wires take part of the supply voltage: less current, less power
    assert res.energy["cells"] < ideal.energy["cells"]


def test_input_switched_circuit_is_the_exported_netlist():
    from xbar.crossbar.circuit import to_circuit
    from xbar.errors import ConfigError, ShapeError

    rng = np.random.default_rng(11)
    xb = xbar.Crossbar(
        rng.uniform(1e-5, 1e-4, (4, 3)),
        r_col=3.0,
        r_sense=10.0,
        r_driver=5.0,
        r_access=500.0,
        topology="input_switched",
        r_source=2.0,
        v_read=0.3,
    )
    bits = np.array([1, 1, 0, 1])
    xc = to_circuit(xb, bits)
    assert not any(n.startswith("rcell2_") for n in xc.circuit.resistors.name)  # bit 0: open
    np.testing.assert_allclose(
        xc.outputs(xbar.solve_dc(xc.circuit).current), xb.solve(bits).output[0], rtol=1e-9
    )
    read = xbar.read_netlist(xb.to_netlist(None, bits))
    assert sorted(read.resistors.name) == sorted(xc.circuit.resistors.name)
    assert sorted(read.vsources.name) == sorted(xc.circuit.vsources.name)
    with pytest.raises(ConfigError, match="bit pattern"):
        xc.set_inputs(np.zeros(4))
    with pytest.raises(ShapeError, match="one bit pattern"):
        xb.to_netlist(None, np.ones((2, 4)))
