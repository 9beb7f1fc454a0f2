"""Energy of inference (xbar.network.energy): array power per read, periphery, reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xbar.errors import ConfigError
from xbar.network import AnalogConfig, evaluate, load_dataset, load_model
from xbar.network.energy import ARRAY_PARTS, ENERGY_PARTS, LayerMeter, adc_energy
from xbar.network.tiles import Tile, TileSpec, TransferCache, make_crossbar

M, N = 24, 10


def _tile(cfg, seed=0):
    G = np.random.default_rng(seed).uniform(cfg.g_min, cfg.g_max, (M, N))
    cache = TransferCache()
    spec = TileSpec(0, 0, M, 0, N, "offset", False)
    return Tile(spec, G, cache.transfer_matrix(G, cfg)), cache


def _read(cfg, tile, cache, V):
    meter = LayerMeter(cfg, cache)
    meter.step(V).read(tile)
    return meter.tally


def test_linear_tile_energy_equals_exact_solves():
    cfg = AnalogConfig(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0, read_pulse=20e-9)
    tile, cache = _tile(cfg)
    V = np.random.default_rng(1).uniform(0, cfg.v_read, (30, M))
    tally = _read(cfg, tile, cache, V)
    exact = make_crossbar(tile.G, cfg).solve(V, tol=1e-13).power
    for part in ARRAY_PARTS:
        ref = cfg.read_pulse * float(getattr(exact, part).sum())
        assert tally.joules[part] == pytest.approx(ref, rel=1e-10), part
    assert tally.joules["row_wires"] > 0 and tally.joules["sense"] > 0
    # cached: a second read reuses the forms
    _read(cfg, tile, cache, V)
    assert cache.forms_misses == 1 and cache.forms_hits == 1


@pytest.mark.parametrize("device", ["linear", "sinh"])
def test_padded_tile_energy_is_the_whole_simulated_array(device):
    """pad_tiles: a tile using 9 of 24 rows and 4 of 10 columns of its array is simulated
    with every cell present (idle rows at 0 V); its energy is that circuit's, padding
    cells, lines and ends included, not the used block's."""
    cfg = AnalogConfig(
        r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0, device=device, device_k=3.0
    )
    G_full = np.random.default_rng(7).uniform(cfg.g_min, cfg.g_max, (M, N))
    cache = TransferCache()
    W = cache.transfer_matrix(G_full, cfg)
    spec = TileSpec(0, 0, 9, 0, 4, "offset", False)
    tile = Tile(spec, G_full[:9, :4].copy(), W[:9, :4].copy(), G_full=G_full)
    V = np.random.default_rng(8).uniform(0, cfg.v_read, (12, 9))
    tally = _read(cfg, tile, cache, V)
    Vp = np.zeros((12, M))
    Vp[:, :9] = V
    exact = make_crossbar(G_full, cfg).solve(Vp, tol=1e-13).power
    used = make_crossbar(tile.G, cfg).solve(V, tol=1e-13).power
    rel = 1e-9 if device == "linear" else 0.01  # sinh: the linearised scheme's error
    total = sum(tally.joules[p] for p in ARRAY_PARTS)
    assert total == pytest.approx(cfg.read_pulse * exact.supplied.sum(), rel=rel)
    if device == "linear":
        for part in ARRAY_PARTS:
            ref = cfg.read_pulse * float(getattr(exact, part).sum())
            assert tally.joules[part] == pytest.approx(ref, rel=1e-9, abs=1e-30), part
    # the padding cells draw current: the used block alone is measurably less
    assert total > 1.05 * cfg.read_pulse * float(used.supplied.sum())


def test_ideal_wires_energy_is_sum_g_v_squared():
    cfg = AnalogConfig()
    tile, cache = _tile(cfg)
    V = np.random.default_rng(2).uniform(0, cfg.v_read, (7, M))
    tally = _read(cfg, tile, cache, V)
    ref = cfg.read_pulse * float(((V**2) @ tile.G).sum())
    assert tally.joules["cells"] == pytest.approx(ref, rel=1e-12)
    assert all(tally.joules[p] == 0.0 for p in ("row_wires", "col_wires", "drivers", "sense"))


def test_sinh_without_parasitics_is_exact():
    cfg = AnalogConfig(device="sinh", device_k=4.0)
    tile, cache = _tile(cfg)
    V = np.random.default_rng(3).uniform(0, cfg.v_read, (9, M))
    tally = _read(cfg, tile, cache, V)
    ref = cfg.read_pulse * float(((V * np.sinh(4 * V) / 4) @ tile.G).sum())
    assert tally.joules["cells"] == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("k, r, bound", [(2.0, 2.5, 0.01), (4.0, 2.5, 0.04)])
def test_sinh_linearized_energy_error_is_as_documented(k, r, bound):
    """docs/energy.md: the linearised array energy of sinh cells is within a few % of
    exact solves at v_read = 0.2 V (measured 0.5 % at k = 2, 2.2 % at k = 4 with 64 x 20
    tiles); the correction must beat ignoring the nonlinearity."""
    cfg = AnalogConfig(device="sinh", device_k=k, r_row=r, r_col=r, r_driver=10.0, r_sense=10.0)
    tile, cache = _tile(cfg, seed=4)
    V = np.random.default_rng(5).uniform(0, cfg.v_read, (40, M))
    tally = _read(cfg, tile, cache, V)
    approx = sum(tally.joules[p] for p in ARRAY_PARTS)
    exact = cfg.read_pulse * float(make_crossbar(tile.G, cfg).solve(V).power.supplied.sum())
    err = abs(approx - exact) / exact
    lin = _read(cfg.replace(device="linear"), tile, cache, V)
    err_lin = abs(sum(lin.joules[p] for p in ARRAY_PARTS) - exact) / exact
    assert err < bound, err
    assert err < err_lin


def test_sinh_exact_mode_uses_the_solve():
    cfg = AnalogConfig(device="sinh", device_k=4.0, r_row=2.0, r_col=2.0, nonlinear_mode="exact")
    tile, cache = _tile(cfg)
    V = np.random.default_rng(6).uniform(0, cfg.v_read, (5, M))
    tile.currents(V, cfg)
    tally = _read(cfg, tile, cache, V)
    exact = make_crossbar(tile.G, cfg).solve(V).power
    assert tally.joules["cells"] == pytest.approx(cfg.read_pulse * exact.cells.sum(), rel=1e-9)


def test_periphery_counts_and_energies():
    cfg = AnalogConfig(adc_bits=6, adc_fom=5e-15, dac_energy=2e-13, digital_energy=3e-14)
    assert adc_energy(cfg) == pytest.approx(5e-15 * 64)
    assert adc_energy(cfg.replace(adc_bits=0)) == 0.0
    tile, cache = _tile(cfg)
    K = 11
    tally = _read(cfg, tile, cache, np.full((K, M), 0.1))
    assert tally.reads == K and tally.dac_conversions == K * M
    assert tally.adc_conversions == K * N and tally.adds == K * N
    assert tally.joules["dac"] == pytest.approx(2e-13 * K * M)
    assert tally.joules["adc"] == pytest.approx(5e-15 * 64 * K * N)
    assert tally.joules["digital"] == pytest.approx(3e-14 * K * N)
    bits = _read(cfg.replace(input_mode="bit_serial"), tile, cache, np.full((K, M), 0.1))
    assert bits.dac_conversions == 0 and bits.joules["dac"] == 0.0


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("read_pulse", 0.0, "zero duration"),
        ("read_pulse", -1e-9, "negative"),
        ("dac_energy", -1e-12, "negative"),
        ("adc_fom", float("nan"), "finite"),
        ("digital_energy", float("inf"), "finite"),
        ("adc_fom", "cheap", "number"),
    ],
)
def test_bad_energy_parameters_name_the_field(field, value, words):
    with pytest.raises(ConfigError, match=field) as err:
        AnalogConfig.from_dict({field: value})
    assert words in str(err.value)


def test_evaluate_reports_energy_per_layer_and_image():
    model, data = load_model("default"), load_dataset("digits")
    cfg = AnalogConfig(adc_bits=8, dac_bits=8, r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0)
    res = evaluate(model, cfg, dataset=data, limit=16, cache=TransferCache())
    e = res.energy
    for part in ENERGY_PARTS:
        assert e[part] >= 0
    assert e["total"] == pytest.approx(sum(e[p] for p in ENERGY_PARTS))
    assert e["array"] == pytest.approx(sum(e[p] for p in ARRAY_PARTS))
    assert e["ops_per_joule"] == pytest.approx(e["ops"] / e["total"])
    assert e["adc"] == pytest.approx(e["adc_conversions"] * cfg.adc_fom * 2**8)
    # the layers add up to the network; ops are 2 n_in n_out per output pixel
    assert sum(s.energy["total"] for s in res.layer_stats) == pytest.approx(e["total"])
    dense = [s for s in res.layer_stats if s.name == "dense"][0]
    assert dense.energy["ops"] == 2 * dense.n_in * dense.n_out
    assert res.to_dict()["energy"]["total"] == e["total"]
    # energy accounting changes no result
    off = evaluate(model, cfg, dataset=data, limit=16, cache=TransferCache(), energy=False)
    assert off.energy == {} and off.accuracies == res.accuracies
    assert all(s.energy == {} for s in off.layer_stats)
    assert math.isfinite(e["cells"]) and e["row_wires"] > 0


def test_cli_crossbar_prints_the_power_split(capsys):
    import json

    from xbar.cli import main

    assert main(["crossbar", "--rows", "12", "--cols", "8", "--r-driver", "10", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)["power_watts"]
    parts = ("cells", "row_wires", "col_wires", "drivers", "sense", "selectors", "access")
    assert sum(rep[k] for k in parts) == pytest.approx(rep["supplied"], rel=1e-9)
    assert rep["balance_error"] < 1e-9 and rep["drivers"] > 0
    assert main(["crossbar", "--rows", "12", "--cols", "8"]) == 0
    assert "power (mean/input) supplied" in capsys.readouterr().out


def test_cli_infer_energy_report_and_figure(tmp_path, capsys):
    import json

    from xbar.cli import main

    png = tmp_path / "energy.png"
    assert (
        main(
            ["infer", "--limit", "8", "--no-progress", "--adc-bits", "6", "--energy-plot", str(png)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "energy per image" in out and "TOPS/W" in out and png.stat().st_size > 0
    assert main(["infer", "--limit", "8", "--no-progress", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["energy"]["total"] > 0 and d["layer_stats"][0]["energy"]["total"] > 0
    assert main(["infer", "--limit", "8", "--no-progress", "--json", "--no-energy"]) == 0
    assert json.loads(capsys.readouterr().out)["energy"] == {}
    assert main(["infer", "--read-pulse", "0", "--no-progress"]) == 2
    assert "read_pulse" in capsys.readouterr().err


def test_sweep_records_energy_and_reads_old_csvs(tmp_path):
    from xbar.network import read_sweep, sweep
    from xbar.network.sweep.store import columns

    model, data = load_model("default"), load_dataset("digits")
    cfg = AnalogConfig(adc_bits=6, repeats=1)
    out = tmp_path / "s.csv"
    t = sweep(model, cfg, {"adc_bits": [4, 6]}, out=out, executor="serial", limit=6, dataset=data)
    assert np.all(np.isfinite(t.energies)) and np.all(t.energies > 0)
    assert t.energy_mean[0, 0] < t.energy_mean[1, 0]  # fewer ADC bits, less energy
    assert t.summary()[1]["energy_per_image"] == pytest.approx(float(t.energies[1, 0, 0]))
    back = read_sweep(out)
    np.testing.assert_allclose(back.energies, t.energies)
    again = sweep(
        model, cfg, {"adc_bits": [4, 6]}, out=out, executor="serial", limit=6, dataset=data
    )
    assert again.computed == 0 and np.allclose(again.energies, t.energies)
    # a CSV written before the energy column: read and resumed in its own layout
    lines = out.read_text().splitlines()
    head = ",".join(columns(("adc_bits",)))
    old = [ln for ln in lines if ln.startswith("#")]
    old.append(",".join(columns(("adc_bits",), energy=False)))
    rows = [ln.rsplit(",", 1)[0] for ln in lines if not ln.startswith("#") and ln != head]
    out.write_text("\n".join(old + rows[:1]) + "\n")
    partial = read_sweep(out)
    assert np.isnan(partial.energies).all() and np.isfinite(partial.accuracies[0, 0, 0])
    resumed = sweep(
        model, cfg, {"adc_bits": [4, 6]}, out=out, executor="serial", limit=6, dataset=data
    )
    assert resumed.computed == 1 and resumed.reused == 1
    assert out.read_text().splitlines()[-1].count(",") == rows[0].count(",")


def test_energy_is_in_volts_on_every_input_path():
    """No DAC and no ADC (inputs applied unscaled, the output rescaled) gives the first
    layer (same images, same voltages) the same array energy as with an ADC (inputs
    scaled to volts)."""
    model, data = load_model("default"), load_dataset("digits")
    base = AnalogConfig(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0)
    a = evaluate(model, base, dataset=data, limit=12, cache=TransferCache())
    b = evaluate(model, base.replace(adc_bits=16), dataset=data, limit=12, cache=TransferCache())
    first = a.layer_stats[0].name
    ea = {s.name: s.energy for s in a.layer_stats}[first]
    eb = {s.name: s.energy for s in b.layer_stats}[first]
    for part in ("cells", "row_wires", "col_wires", "drivers", "sense"):
        assert ea[part] == pytest.approx(eb[part], rel=1e-9), part


def test_transfer_matrix_computed_with_the_forms_is_the_same():
    """TransferCache.transfer_with_forms (energy on): W_eff from the forms' elimination
    equals the transfer-matrix path's, and the stored forms serve any used rows."""
    cfg = AnalogConfig(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0)
    G = np.random.default_rng(9).uniform(cfg.g_min, cfg.g_max, (M, N))
    with_forms, plain = TransferCache(), TransferCache()
    W, forms = with_forms.transfer_with_forms(G, cfg)
    assert forms.Q["cells"].shape == (M, M) and forms.transfer is None
    ref = plain.transfer_matrix(G, cfg)
    assert np.allclose(W, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    assert with_forms.misses == 1 and with_forms.forms_misses == 1
    with_forms.power_forms(G, cfg, inputs=5)  # served by the stored forms of all rows
    assert with_forms.forms_hits == 1 and with_forms.forms_misses == 1


def test_forms_computed_once_per_tile_even_when_the_cache_evicts_them():
    """A network whose forms do not fit in the cache (WRN-16-4's 343 tiles in 256 MiB):
    each tile's forms are computed once, with its transfer matrix, and held by its layer's
    meter for the chip's reads (not recomputed after an eviction)."""
    model, data = load_model("default"), load_dataset("digits")
    cfg = AnalogConfig(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0, array_rows=64)
    tiny = TransferCache(max_bytes=1)
    r = evaluate(model, cfg, dataset=data, limit=30, cache=tiny)
    big = evaluate(model, cfg, dataset=data, limit=30, cache=TransferCache())
    n_tiles = sum(s.tiles for s in r.layer_stats)
    assert tiny.forms_misses == n_tiles == tiny.misses
    assert r.energy["total"] == pytest.approx(big.energy["total"], rel=1e-12)
