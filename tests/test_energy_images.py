"""Array energy metered on a seeded sample of the test images (``energy_images``,
issue 14's speed): the estimate, its interval over images, exact periphery counts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xbar.errors import ConfigError
from xbar.network import AnalogConfig, evaluate, load_dataset, load_model
from xbar.network import energy as energy_module
from xbar.network.energy import ARRAY_PARTS, image_sample
from xbar.network.tiles import TransferCache

WIRES = dict(r_row=1.0, r_col=1.0, programming_error="state_proportional", programming_sigma=0.05)
PERIPHERY = ("dac", "adc", "digital", "dac_conversions", "adc_conversions", "adds", "ops")

#: every path of the array's power: linear layers read together (wires / none), tile by
#: tile with a DAC (codes) and bit-serial inputs, sinh cells linearised and exact, cells
#: with a general law, input-switched arrays
CASES = {
    "linear, wires": WIRES,
    "linear, ideal wires": dict(programming_error="state_proportional", programming_sigma=0.05),
    "DAC + ADC, wires": dict(WIRES, dac_bits=8, adc_bits=8, read_noise_sigma=0.01),
    "bit-serial, wires": dict(WIRES, input_mode="bit_serial", input_bits=4, adc_bits=6),
    "sinh, linearized": dict(WIRES, device="sinh", device_k=3.0, adc_bits=8),
    "sinh, exact": dict(WIRES, device="sinh", device_k=3.0, nonlinear_mode="exact", adc_bits=8),
    "exponential, ideal wires": dict(device="exponential", device_v0=0.2, adc_bits=8),
    "input_switched": dict(
        array_topology="input_switched", input_mode="bit_serial", input_bits=4, adc_bits=8
    ),
}


@pytest.fixture(scope="module")
def net():
    return load_model("default"), load_dataset("digits")


def _run(net, cfg, **kw):
    model, data = net
    kw.setdefault("cache", TransferCache())
    return evaluate(model, cfg, dataset=data, ideal_accuracy=0.0, **kw)


def test_image_sample_is_seeded_uniform_and_not_the_first_images():
    a, b = image_sample(539, 100, 0), image_sample(539, 100, 0)
    assert np.array_equal(a, b) and len(np.unique(a)) == 100
    assert np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 539
    assert not np.array_equal(a, np.arange(100))  # not the first images (sorted by class?)
    assert not np.array_equal(a, image_sample(539, 100, 1))
    assert image_sample(539, 0, 0) is None and image_sample(539, 539, 0) is None
    assert image_sample(539, 10**6, 0) is None


def test_whole_set_sample_is_the_unsampled_result(net):
    """energy_images >= the test images (or 0): every image metered, the same numbers."""
    cfg = AnalogConfig(**WIRES)
    every = _run(net, cfg.replace(energy_images=0), limit=120)
    for n in (120, 500):
        r = _run(net, cfg.replace(energy_images=n), limit=120)
        assert r.energy == every.energy and r.energy_images == 120 and r.energy_sample == {}
        assert [s.energy for s in r.layer_stats] == [s.energy for s in every.layer_stats]


@pytest.mark.parametrize("case", list(CASES))
def test_sampled_machinery_on_every_image_equals_the_unsampled(net, case, monkeypatch):
    """The sampled path, forced onto every image (each image's rows metered apart), gives
    the unsampled energies to round-off and a zero-width interval; the periphery exact."""
    cfg = AnalogConfig(**CASES[case])
    kw = dict(limit=50, batch_size=16)
    if case == "sinh, exact":  # (a Newton solve per tile read: small arrays, few images)
        cfg, kw = cfg.replace(array_rows=16, array_cols=16), dict(limit=3, batch_size=2)
    every = _run(net, cfg, **kw)
    monkeypatch.setattr(energy_module, "image_sample", lambda n, k, seed: np.arange(n))
    forced = _run(net, cfg, **kw)
    assert forced.accuracy == every.accuracy
    for k in ARRAY_PARTS + ("array", "total"):
        assert forced.energy[k] == pytest.approx(every.energy[k], rel=1e-11, abs=1e-30), k
    for k in PERIPHERY:
        assert forced.energy[k] == every.energy[k], k
    s = forced.energy_sample
    n = kw["limit"]
    assert s["images"] == s["of"] == n and forced.energy_images == n
    assert s["mean"] == pytest.approx(every.energy["array"], rel=1e-11)
    assert s["ci95"][0] == pytest.approx(s["ci95"][1], rel=1e-12)  # no sampling error
    for layer, ref in zip(forced.layer_stats, every.layer_stats, strict=True):
        assert layer.energy["array"] == pytest.approx(ref.energy["array"], rel=1e-11)
        assert layer.energy_sample["mean"] == pytest.approx(ref.energy["array"], rel=1e-11)


@pytest.mark.parametrize("case", ["linear, wires", "DAC + ADC, wires"])
def test_sampled_estimate_interval_covers_the_full_set_value(net, case):
    """A sample of 60 of 300 images, five seeds: each 95 % interval covers the array
    energy metered on every image (a miss has 5 % chance each: seeds fixed), is a few %
    wide, and the periphery is exact."""
    covered = 0
    for seed in range(5):
        cfg = AnalogConfig(**CASES[case], seed=seed)
        cache = TransferCache()
        every = _run(net, cfg.replace(energy_images=0), limit=300, cache=cache)
        r = _run(net, cfg.replace(energy_images=60), limit=300, cache=cache)
        s = r.energy_sample
        assert r.energy_images == s["images"] == 60 and s["of"] == 300
        assert r.energy["array"] == pytest.approx(s["mean"], rel=1e-9)
        lo, hi = s["ci95"]
        covered += lo <= every.energy["array"] <= hi
        assert 0.005 < s["rel_ci95"] < 0.2 and s["std"] > 0
        assert math.isclose((hi - lo) / 2 / s["mean"], s["rel_ci95"], rel_tol=1e-9)
        for k in PERIPHERY:
            assert r.energy[k] == every.energy[k], k
        assert r.accuracy == every.accuracy
    assert covered >= 4


def test_sampled_run_is_reproducible(net):
    cfg = AnalogConfig(**WIRES, energy_images=40)
    a = _run(net, cfg, limit=150)
    b = _run(net, cfg, limit=150)
    assert a.energy == b.energy and a.energy_sample == b.energy_sample
    c = _run(net, cfg.replace(seed=3), limit=150)
    assert c.energy["array"] != a.energy["array"]


def test_unsampled_images_are_not_metered(net, monkeypatch):
    """Batches without a sampled image compute no Gram matrix (the unmetered rows cost
    nothing); the batch with one meters that image's rows only."""
    calls = []
    real = energy_module.gram
    monkeypatch.setattr(energy_module, "gram", lambda V: calls.append(V.shape[0]) or real(V))
    sample = image_sample(100, 1, 0)
    _run(net, AnalogConfig(**WIRES, energy_images=1), limit=100, batch_size=10)
    # conv1 (36 pixels per 8x8 image... whatever the layer): rows of one image per Gram
    assert calls and all(k <= 64 for k in calls), calls
    assert len(calls) <= 6  # one image, each layer's row blocks once
    calls.clear()
    _run(net, AnalogConfig(**WIRES, energy_images=0), limit=100, batch_size=10)
    assert len(calls) > 20 and max(calls) > 64
    assert sample is not None


def test_sampled_with_several_chips(net):
    """Every metered chip meters the same images; the estimate is over their mean."""
    cfg = AnalogConfig(**WIRES, repeats=3, energy_chips=0, energy_images=50)
    r = _run(net, cfg, limit=120)
    assert r.energy_chips == [0, 1, 2] and r.energy_sample["images"] == 50
    assert r.energy["array"] == pytest.approx(r.energy_sample["mean"], rel=1e-9)
    assert r.energy_spread["array"]["std"] > 0


@pytest.mark.parametrize(
    "value, words",
    [
        (-1, "0 (every image) or more"),
        (float("nan"), "integer"),
        (2.5, "integer"),
        ("x", "integer"),
    ],
)
def test_bad_energy_images_names_the_field(value, words):
    with pytest.raises(ConfigError, match="energy_images") as e:
        AnalogConfig(energy_images=value)
    assert words in str(e.value)


def test_energy_images_from_toml_flags_and_not_per_layer(tmp_path, capsys):
    from xbar.cli import main

    toml = tmp_path / "c.toml"
    toml.write_text("energy_images = 7\nr_row = 1.0\n")
    assert AnalogConfig.from_toml(toml).energy_images == 7
    bad = tmp_path / "bad.toml"
    bad.write_text('[layers."conv1"]\nenergy_images = 5\n')
    with pytest.raises(ConfigError, match="energy_images"):
        AnalogConfig.from_toml(bad)
    base = ["infer", "--limit", "40", "--no-progress", "--r-row", "1", "--r-col", "1"]
    assert main(base + ["--energy-images", "10", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["energy_images"] == 10 and d["energy_sample"]["images"] == 10
    assert d["energy_sample"]["of"] == 40 and len(d["energy_sample"]["ci95"]) == 2
    assert d["layer_stats"][0]["energy_sample"]["images"] == 10
    assert main(base + ["--energy-images", "10"]) == 0
    out = capsys.readouterr().out
    assert "array energy from a seeded sample of 10 of 40 images" in out
    assert main(base) == 0
    assert "seeded sample" not in capsys.readouterr().out  # 40 <= 1000: every image
    d_all = json.loads((main(base + ["--json"]), capsys.readouterr().out)[1])
    assert d_all["energy_images"] == 40 and d_all["energy_sample"] == {}


def test_energy_images_is_sweepable(tmp_path, capsys):
    from xbar.cli import main

    out = tmp_path / "s.csv"
    args = ["sweep", "--field", "energy_images", "--values", "20,0", "--limit", "60"]
    assert main(args + ["--r-row", "1", "--r-col", "1", "--out", str(out)]) == 0
    rows = [
        r.split() for r in capsys.readouterr().out.splitlines() if r.split()[:1] in (["20"], ["0"])
    ]
    assert [r[0] for r in rows] == ["20", "0"]
    sampled, every = (float(r[-1]) for r in rows)  # nJ per image: the estimate, the exact
    assert sampled != every and abs(sampled - every) < 0.05 * every


def test_convolutions_unfolded_in_chunks_meter_the_same_images(net, monkeypatch):
    """A large batch whose convolutions are unfolded a few images at a time: each chunk's
    rows are attributed to its own images (the hook is told), so the sampled estimate
    and its interval are those of the unchunked run (a DAC configuration: its input
    ranges come from calibration, not from the first product); on the linear path the
    sample of every image still gives the unsampled energies."""
    from xbar.network import layers

    dac = AnalogConfig(**WIRES, dac_bits=8, adc_bits=8)
    kw = dict(limit=120, batch_size=40)
    plain = _run(net, dac.replace(energy_images=30), **kw)
    monkeypatch.setattr(layers, "IM2COL_MAX_ENTRIES", 7 * 36 * 9)  # 3-image chunks (conv1)
    network = evaluate_module().AnalogNetwork
    calls = []
    chunk = network.chunk
    monkeypatch.setattr(network, "chunk", lambda s, *a: calls.append(a[1:]) or chunk(s, *a))
    r = _run(net, dac.replace(energy_images=30), **kw)
    assert (3, 3) in calls and (39, 1) in calls  # (first image, images) of the chunks
    assert r.accuracy == plain.accuracy
    for k in ARRAY_PARTS + ("array", "total"):
        assert r.energy[k] == pytest.approx(plain.energy[k], rel=1e-11), k
    for k in ("mean", "std", "sem"):
        assert r.energy_sample[k] == pytest.approx(plain.energy_sample[k], rel=1e-9), k
    # the linear path (its input scale is set by the first chunk: compare within the run)
    cfg = AnalogConfig(**WIRES)
    every = _run(net, cfg, **kw)
    monkeypatch.setattr(energy_module, "image_sample", lambda n, k, seed: np.arange(n))
    forced = _run(net, cfg, **kw)
    for k in ARRAY_PARTS:
        assert forced.energy[k] == pytest.approx(every.energy[k], rel=1e-11), k
    assert forced.energy_sample["mean"] == pytest.approx(every.energy["array"], rel=1e-11)


def evaluate_module():
    import importlib

    return importlib.import_module("xbar.network.evaluate")  # (the package exports the function)
