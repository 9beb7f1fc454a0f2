"""Measured and analytic cell laws in network inference (``device`` = exponential,
power_law, tabulated): the tiles against exact crossbar solves, the interpolation in the
attenuation against the sum it stands for, energy, ADC full scale, configuration errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xbar.crossbar import Exponential, PowerLaw, Sinh, Tabulated
from xbar.errors import ConfigError, ValueRangeError
from xbar.network import load_dataset, load_model
from xbar.network.cells import (
    attenuation_nodes,
    cell_device,
    chebyshev_nodes,
    lagrange_weights,
    remainder_function,
)
from xbar.network.config import AnalogConfig
from xbar.network.energy import LayerMeter
from xbar.network.evaluate import evaluate
from xbar.network.peripherals import full_scale_range
from xbar.network.tiles import Tile, TileSpec, TransferCache, make_crossbar

TABLE = str(Path(__file__).resolve().parents[1] / "examples" / "iv_table.csv")

#: every cell law with the largest relative errors of the linearised tiles against exact
#: solves, measured on four random 48 x 24 tiles (wires 1 ohm, drivers and sense 10 ohm,
#: inputs up to 0.2 V): column currents (max |I - I_exact| / max |I_exact|: sinh 2.4-3.7e-3,
#: exponential v0 = 0.3 V 2.0-2.7e-2, power law 1.4-2.2e-2, the table 2.5-3.7e-3) and cell
#: power (1.6 %, 6.8 %, 6.5 %, 1.4 %); the bounds asserted are about 1.5x those
LAWS = [
    ({"device": "sinh", "device_k": 4.0}, 6e-3, 0.025),
    ({"device": "exponential", "device_v0": 0.3}, 4e-2, 0.10),
    ({"device": "power_law", "device_alpha": 3.0, "device_v_ref": 0.3}, 3.5e-2, 0.10),
    ({"device": "tabulated", "device_table": TABLE}, 6e-3, 0.025),
]


def _tile(cfg, seed=0, M=48, N=24):
    rng = np.random.default_rng(seed)
    G = rng.uniform(1e-6, 1e-4, (M, N))
    W = TransferCache().transfer_matrix(G, cfg)
    return Tile(TileSpec(0, 0, M, 0, N, "offset", False), G, W), rng.uniform(0, 0.2, (16, M))


def test_cell_device_of_each_law():
    assert isinstance(cell_device(AnalogConfig(device="sinh")), Sinh)
    assert cell_device(AnalogConfig(device="exponential", device_v0=0.05)).v0 == 0.05
    d = cell_device(AnalogConfig(device="power_law", device_alpha=2.5, device_v_ref=0.4))
    assert isinstance(d, PowerLaw) and (d.alpha, d.v_ref) == (2.5, 0.4)
    t = cell_device(AnalogConfig(device="tabulated", device_table=TABLE))
    assert isinstance(t, Tabulated) and t is cell_device(
        AnalogConfig(device="tabulated", device_table=TABLE)
    )
    assert isinstance(cell_device(AnalogConfig(device="exponential")), Exponential)


@pytest.mark.parametrize(("law", "bound", "_"), LAWS)
def test_linearised_tile_against_exact_solve(law, bound, _):
    cfg = AnalogConfig(r_row=1.0, r_col=1.0, r_driver=10.0, r_sense=10.0, **law)
    tile, V = _tile(cfg)
    I = tile.currents(V, cfg)
    exact = make_crossbar(tile.G, cfg).solve(V).output
    scale = np.abs(exact).max()
    err = np.abs(I - exact).max() / scale
    assert err < bound
    # and better than applying the law to the driven voltages
    r = remainder_function(cfg)
    naive = V @ tile.W_eff + r(V) @ tile.W_eff
    assert err < 0.7 * np.abs(naive - exact).max() / scale
    # the exact mode is the crossbar solve itself
    ecfg = cfg.replace(nonlinear_mode="exact")
    assert np.allclose(tile.currents(V, ecfg), exact, rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize(("law", "_", "__"), LAWS)
def test_interpolation_is_the_cell_by_cell_sum(law, _, __):
    """sum_m r(a_m V) @ (G L_m(a)) against sum_i G_ij r(a_ij V_i), for every law (sinh: the
    node scheme against the series the tiles use)."""
    cfg = AnalogConfig(r_row=0.5, r_col=0.5, **law)
    tile, V = _tile(cfg, seed=1, N=64)
    a = tile.attenuation()
    r = remainder_function(cfg)
    direct = np.einsum("kij,ij->kj", r(V[:, :, None] * a[None]), tile.G)
    got = tile.cell_excess(V, cfg)
    assert tile._nodes[3] is not None  # (the interpolation, not the cell-by-cell sum)
    assert np.abs(got - direct).max() <= 2e-6 * np.abs(V @ tile.W_eff + direct).max()
    if law["device"] == "sinh":
        series = tile.currents(V, cfg) - V @ tile.W_eff
        assert np.abs(series - direct).max() <= 1e-10 * np.abs(direct).max()


def test_strong_attenuation_falls_back_to_the_cell_by_cell_sum():
    cfg = AnalogConfig(r_row=5.0, r_col=5.0, device="tabulated", device_table=TABLE)
    tile, V = _tile(cfg, seed=1, N=64)
    got = tile.cell_excess(V, cfg)
    assert tile._nodes[3] is None  # (more than 48 nodes would be needed)
    a, r = tile.attenuation(), remainder_function(cfg)
    assert np.allclose(got, np.einsum("kij,ij->kj", r(V[:, :, None] * a[None]), tile.G))


def test_ideal_wires_are_exact_for_any_law():
    for law, *_ in LAWS:
        cfg = AnalogConfig(**law)
        tile, V = _tile(cfg)
        exact = make_crossbar(tile.G, cfg).solve(V).output
        assert np.allclose(tile.currents(V, cfg), exact, rtol=1e-10, atol=0)
        nodes = attenuation_nodes(remainder_function(cfg), 1.0, 0.0, 0.2)
        assert nodes.tolist() == [1.0]


def test_lagrange_weights_interpolate_polynomials():
    nodes = chebyshev_nodes(0.6, 5)
    a = np.linspace(0.6, 1.0, 11)
    L = lagrange_weights(nodes, a)
    for p in range(5):
        assert np.allclose(L.T @ nodes**p, a**p, rtol=1e-12)


def test_attenuation_nodes_refuse_non_finite_laws():
    with pytest.raises(ValueRangeError, match="not finite"):
        attenuation_nodes(lambda v: np.exp(1e4 * v), 0.5, 0.0, 1.0)


@pytest.mark.parametrize(("law", "_", "bound"), LAWS)
def test_tile_cell_power_against_exact_solve(law, _, bound):
    """The cells' power of a read (linearised: the small-signal forms plus the law's extra
    power at the attenuated voltages) against the exact solve's."""
    cfg = AnalogConfig(r_row=1.0, r_col=1.0, r_driver=10.0, r_sense=10.0, **law)
    tile, V = _tile(cfg, seed=2)
    meter = LayerMeter(cfg, TransferCache())
    got = meter.array_power(meter.step(V), tile)
    exact = make_crossbar(tile.G, cfg).solve(V).power
    assert got["cells"] == pytest.approx(float(np.sum(exact.cells)), rel=bound)
    ideal = LayerMeter(cfg.replace(r_row=0.0, r_col=0.0, r_driver=0.0, r_sense=0.0), None)
    p = make_crossbar(tile.G, cfg.replace(r_row=0.0, r_col=0.0, r_driver=0.0, r_sense=0.0))
    got = ideal.array_power(ideal.step(V), tile)["cells"]  # ideal wires: exact
    assert got == pytest.approx(float(np.sum(p.solve(V).power.cells)), rel=1e-9)


def test_full_scale_range_uses_the_cell_law():
    lin = full_scale_range(AnalogConfig(), kind="differential", reference=False, offset_frac=0)
    cfg = AnalogConfig(device="power_law", device_alpha=3.0, device_v_ref=0.2)
    got = full_scale_range(cfg, kind="differential", reference=False, offset_frac=0)
    assert got == pytest.approx(2 * lin)  # f(v_ref) = 2 v_ref at v_read = v_ref


def test_network_with_a_measured_curve():
    model, data = load_model("default"), load_dataset("digits")
    cfg = AnalogConfig(device="tabulated", device_table=TABLE, r_row=1.0, r_col=1.0, adc_bits=8)
    res = evaluate(model, cfg, dataset=data, limit=40, cache=TransferCache())
    assert res.accuracy >= res.ideal_accuracy - 0.1
    assert all(s.rel_error < 0.2 for s in res.layer_stats) and res.energy["total"] > 0
    # per layer: a measured curve on the last layer only
    ruled = AnalogConfig.from_dict(
        {"adc_bits": 8, "layers": {"dense": {"device": "tabulated", "device_table": TABLE}}}
    )
    res2 = evaluate(model, ruled, dataset=data, limit=40, cache=TransferCache())
    assert res2.layer_stats[2].settings == {"device": "tabulated", "device_table": TABLE}


def test_table_paths_and_errors(tmp_path):
    (tmp_path / "iv.csv").write_text(Path(TABLE).read_text())
    toml = tmp_path / "chip.toml"
    toml.write_text('device = "tabulated"\ndevice_table = "iv.csv"\n')
    assert AnalogConfig.from_toml(toml).device_table == str(tmp_path / "iv.csv")
    with pytest.raises(ConfigError, match="device_table"):
        AnalogConfig(device="tabulated").validate()
    with pytest.raises(ConfigError, match="applies to device='tabulated' only"):
        AnalogConfig(device="sinh", device_table=TABLE).validate()
    with pytest.raises(ConfigError, match="not found"):
        AnalogConfig(device="tabulated", device_table=str(tmp_path / "none.csv")).validate()
    bad = tmp_path / "bad.csv"
    bad.write_text("v,i\n-0.1,-1e-5\n0,0\n0.1,abc\n")
    with pytest.raises(ConfigError, match=r"bad.csv:4"):
        AnalogConfig(device="tabulated", device_table=str(bad)).validate()
    for name in ("device_v0", "device_v_ref"):
        with pytest.raises(ConfigError, match=name):
            AnalogConfig(**{name: 0.0})
    with pytest.raises(ConfigError, match="device_alpha"):
        AnalogConfig(device_alpha=0.5)
