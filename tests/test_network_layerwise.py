"""Per-layer hardware settings (``AnalogConfig.layers``): equivalence with the whole-network
value, digital layers, isolation of one layer's override, cache keys, errors that name the
culprit, TOML and command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xbar.errors import ConfigError, UnknownFieldError
from xbar.network import load_dataset, load_model
from xbar.network.config import AnalogConfig
from xbar.network.evaluate import evaluate, plan_network, program_chip
from xbar.network.layerwise import parse_layer_option
from xbar.network.tiles import TransferCache

#: a chip with random programming errors, padding, wires, ADC and DAC
BASE = dict(
    adc_bits=8,
    dac_bits=8,
    r_row=1.0,
    r_col=1.0,
    array_rows=64,
    array_cols=64,
    programming_error="state_proportional",
    programming_sigma=0.05,
    stuck_rate=0.01,
    seed=3,
    calibration_size=32,
)


@pytest.fixture(scope="module")
def model():
    return load_model("default")  # matmul layers conv1, conv2, dense


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


def _run(model, data, cfg, **kw):
    return evaluate(model, cfg, dataset=data, limit=60, cache=TransferCache(), **kw)


def _same_results(a, b):
    assert a.accuracies == b.accuracies
    for sa, sb in zip(a.layer_stats, b.layer_stats, strict=True):
        assert sa.rel_error == sb.rel_error
        assert sa.adc_ranges == sb.adc_ranges
        assert sa.clip_fraction == sb.clip_fraction
        assert sa.energy == sb.energy
    assert a.energy == b.energy


@pytest.mark.parametrize(
    "change",
    [
        {"adc_bits": 6},
        {"programming_sigma": 0.1},  # random: the same chip draws too
        {"r_row": 3.0, "g_max": 5e-5},
        {"array_rows": 32, "array_cols": 48},  # another tiling (other draw counts)
        {"weight_bits": 6, "weight_slices": 2},
    ],
)
def test_rule_matching_every_layer_equals_the_network_value(model, data, change):
    whole = _run(model, data, AnalogConfig(**{**BASE, **change}), chips=[0, 1])
    ruled = _run(
        model, data, AnalogConfig.from_dict({**BASE, "layers": {"*": change}}), chips=[0, 1]
    )
    _same_results(whole, ruled)
    assert all(s.settings == {k: v for k, v in change.items()} for s in ruled.layer_stats)


def test_digital_layer_is_exactly_the_digital_product(model, data):
    cfg = AnalogConfig.from_dict({**BASE, "layers": {"#0": {"digital": True}}})
    folded, plans = plan_network(model, cfg)
    assert plans[0].digital and plans[0].mapping is None and not plans[0].specs
    net = program_chip(plans, folded, cfg, 0, TransferCache())
    layer = folded.layer("conv1")
    X = np.random.default_rng(0).standard_normal((50, layer.W2d.shape[0]))
    assert np.array_equal(net.hook(layer, X), X @ layer.W2d)
    res = _run(model, data, cfg)
    conv1 = res.layer_stats[0]
    assert conv1.settings == {"digital": True} and conv1.tiles == 0 and conv1.energy == {}
    assert conv1.rel_error == 0.0
    # the network's energy is the analog layers' only
    assert res.energy["total"] == pytest.approx(sum(s.energy["total"] for s in res.layer_stats[1:]))


def test_all_digital_equals_the_digital_network(model, data):
    cfg = AnalogConfig.from_dict({**BASE, "layers": {"*": {"digital": True}}})
    res = _run(model, data, cfg)
    assert res.accuracy == res.ideal_accuracy


def _programmed(model, cfg, chip=0):
    folded, plans = plan_network(model, cfg)
    return program_chip(plans, folded, cfg, chip, TransferCache())


@pytest.mark.parametrize(
    "rule",
    [
        {"array_rows": 16, "programming_sigma": 0.2},  # other tiles, more draws
        {"digital": True},  # no draws at all
        {"mapping": "offset", "stuck_rate": 0.0},
    ],
)
def test_rule_on_the_first_layer_leaves_the_other_layers_draws(model, rule):
    base = _programmed(model, AnalogConfig(**BASE))
    ruled = _programmed(model, AnalogConfig.from_dict({**BASE, "layers": {"conv1": rule}}))
    for name in ("conv2", "dense"):
        for ta, tb in zip(base.layers[name].tiles, ruled.layers[name].tiles, strict=True):
            assert np.array_equal(ta.G, tb.G)
    assert len(base.layers["conv1"].tiles) != len(ruled.layers["conv1"].tiles) or not all(
        np.array_equal(ta.G, tb.G)
        for ta, tb in zip(base.layers["conv1"].tiles, ruled.layers["conv1"].tiles, strict=True)
    )


def test_override_on_last_layer_changes_only_that_layer(model, data):
    base = _run(model, data, AnalogConfig(**BASE))
    rule = {"adc_bits": 5, "r_row": 4.0, "programming_sigma": 0.2, "read_pulse": 20e-9}
    ruled = _run(model, data, AnalogConfig.from_dict({**BASE, "layers": {"dense": rule}}))
    for a, b in zip(base.layer_stats[:2], ruled.layer_stats[:2], strict=True):
        assert (a.rel_error, a.adc_ranges, a.energy) == (b.rel_error, b.adc_ranges, b.energy)
        assert b.settings == {}
    a, b = base.layer_stats[2], ruled.layer_stats[2]
    assert b.settings == rule and b.sections == ["dense"]
    assert a.rel_error != b.rel_error and a.energy["total"] != b.energy["total"]
    assert b.energy["adc_conversions"] == a.energy["adc_conversions"]
    assert b.energy["adc"] == pytest.approx(a.energy["adc"] * 2**5 / 2**8)


def test_cache_keys_follow_the_layer_wires(model, data):
    cache = TransferCache()
    cfg = AnalogConfig(**BASE).replace(programming_error="none", programming_sigma=0.0)
    cfg = cfg.replace(stuck_rate=0.0)
    evaluate(model, cfg, dataset=data, limit=20, cache=cache)
    misses = cache.misses
    tiles = {p.name: len(p.specs) for p in plan_network(model, cfg)[1]}
    ruled = cfg.replace(layers={"dense": {"r_col": 2.0}})
    evaluate(model, ruled, dataset=data, limit=20, cache=cache)
    assert cache.misses - misses == tiles["dense"]  # conv tiles hit, dense's are new
    evaluate(model, ruled, dataset=data, limit=20, cache=cache)
    assert cache.misses - misses == tiles["dense"]


def test_layer_matrix_path_per_layer(model, data):
    """A linear layer (one matrix) beside a layer with an ADC."""
    cfg = AnalogConfig.from_dict({"r_row": 1.0, "layers": {"dense": {"adc_bits": 8}}})
    folded, plans = plan_network(model, cfg)
    net = program_chip(plans, folded, cfg, 0, TransferCache())
    assert net.layers["conv1"].linear_reads() and not net.layers["dense"].linear_reads()
    res = _run(model, data, cfg)
    assert res.layer_stats[0].adc_ranges == [] and len(res.layer_stats[2].adc_ranges) == 1


# ---------------------------------------------------------------------------- errors
def test_unknown_layer_lists_the_model_layers(model, data):
    cfg = AnalogConfig.from_dict({"layers": {"fc*": {"adc_bits": 8}}})
    with pytest.raises(ConfigError) as e:
        _run(model, data, cfg)
    text = str(e.value)
    assert '[layers."fc*"]' in text and "#0 conv1, #1 conv2, #2 dense" in text
    with pytest.raises(ConfigError, match="did you mean 'dense'"):
        _run(model, data, AnalogConfig.from_dict({"layers": {"dence": {"adc_bits": 8}}}))
    with pytest.raises(ConfigError, match="no layer #3"):
        _run(model, data, AnalogConfig.from_dict({"layers": {"#3": {"digital": True}}}))


@pytest.mark.parametrize(
    ("table", "kind", "words"),
    [
        ({"adc_bit": 8}, UnknownFieldError, ["adc_bit", '[layers."conv1"]', "adc_bits"]),
        ({"adc_bits": -1}, ConfigError, ['[layers."conv1"]', "adc_bits=-1"]),
        ({"adc_bits": "many"}, ConfigError, ['[layers."conv1"]', "adc_bits"]),
        ({"mapping": "diagonal"}, ConfigError, ['[layers."conv1"]', "mapping"]),
        ({"seed": 2}, ConfigError, ['[layers."conv1"]', "whole network"]),
        ({"digital": True, "adc_bits": 8}, ConfigError, ["digital", "adc_bits"]),
        ({"digital": "maybe"}, ConfigError, ["digital", '[layers."conv1"]']),
        (3, ConfigError, ['[layers."conv1"]', "table"]),
    ],
)
def test_bad_sections_are_named(table, kind, words):
    with pytest.raises(kind) as e:
        AnalogConfig.from_dict({"layers": {"conv1": table}})
    for w in words:
        assert w in str(e.value)


def test_settings_that_conflict_on_a_layer_name_it(model, data):
    cfg = AnalogConfig.from_dict(
        {"layers": {"conv*": {"input_mode": "bit_serial"}, "conv2": {"dac_bits": 8}}}
    )
    with pytest.raises(ConfigError) as e:
        _run(model, data, cfg)
    text = str(e.value)
    assert "layer 'conv2'" in text and '[layers."conv*"]' in text and "dac_bits" in text


def test_toml_sections_and_flags(tmp_path):
    p = tmp_path / "chip.toml"
    p.write_text(
        'adc_bits = 8\n[layers."conv*"]\nadc_bits = 10\nr_row = 2.0\n'
        '[layers."#-1"]\ndigital = true\n'
    )
    cfg = AnalogConfig.from_toml(p, layers={"conv*": {"adc_bits": "6"}, "conv2": {"g_max": 5e-5}})
    assert cfg.to_dict()["layers"] == {
        "conv*": {"adc_bits": 6, "r_row": 2.0},
        "#-1": {"digital": True},
        "conv2": {"g_max": 5e-5},
    }
    s = cfg.layer_settings(["conv1", "conv2", "dense"])
    assert [x.config.adc_bits for x in s] == [6, 6, 8]
    assert s[1].config.g_max == 5e-5 and s[0].config.g_max == 1e-4
    assert s[2].digital and s[2].changes == {"digital": True}
    assert cfg.replace(r_col=1.0).layers == cfg.layers  # to_dict / from_dict round trip
    bad = tmp_path / "bad.toml"
    bad.write_text('[layers."conv1"]\nadc_bitz = 3\n')
    with pytest.raises(UnknownFieldError, match=r"bad.toml.*|adc_bitz"):
        AnalogConfig.from_toml(bad)


def test_ideal_and_design_strip_rules():
    cfg = AnalogConfig.from_dict(
        {
            "layers": {
                "a": {
                    "adc_bits": 8,
                    "g_max": 5e-5,
                    "programming_error": "state_independent",
                    "programming_sigma": 0.1,
                },
                "b": {"digital": True},
            }
        }
    )
    assert cfg.as_ideal().to_dict()["layers"] == {"a": {"g_max": 5e-5}, "b": {"digital": True}}
    assert cfg.as_design().to_dict()["layers"]["a"] == {"adc_bits": 8, "g_max": 5e-5}
    assert cfg.random_effects == ["programming_sigma"]
    assert "layers" in cfg.nonidealities


def test_layer_option_parsing():
    assert parse_layer_option("conv1:adc_bits=10,r_row=2") == (
        "conv1",
        {"adc_bits": "10", "r_row": "2"},
    )
    assert parse_layer_option("model/conv:0:digital") == ("model/conv:0", {"digital": "true"})
    assert parse_layer_option("#-1:digital=false")[1] == {"digital": "false"}
    for bad in ("conv1", "conv1:", ":adc_bits=3", "conv1:adc_bits=3,oops"):
        with pytest.raises(ConfigError, match="--layer"):
            parse_layer_option(bad)


def test_cli_layer_flags(tmp_path, capsys):
    from xbar.cli import main

    rc = main(
        [
            "infer",
            "--limit",
            "30",
            "--no-progress",
            "--adc-bits",
            "8",
            "--layer",
            "#0:digital",
            "--layer",
            "dense:adc_bits=10,r_row=2",
            "--json",
        ]
    )
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["config"]["layers"] == {
        "#0": {"digital": True},
        "dense": {"adc_bits": 10, "r_row": 2.0},
    }
    stats = {s["name"]: s for s in d["layer_stats"]}
    assert stats["conv1"]["settings"] == {"digital": True} and stats["conv2"]["settings"] == {}
    assert stats["dense"]["settings"] == {"adc_bits": 10, "r_row": 2.0}
    rc = main(
        ["infer", "--limit", "30", "--no-progress", "--adc-bits", "8", "--layer", "#0:digital"]
    )
    out = capsys.readouterr().out
    assert "layer conv1: digital" in out and "digital (not metered)" in out
    assert main(["infer", "--limit", "5", "--no-progress", "--layer", "fc:adc_bits=3"]) != 0
    err = capsys.readouterr().err
    assert '[layers."fc"]' in err and "conv1" in err and "Traceback" not in err


def test_sweep_over_a_per_layer_field(model, data, tmp_path):
    from xbar.network.sweep import parse_values, sweep

    base = AnalogConfig.from_dict({"adc_bits": 8, "layers": {"#0": {"digital": True}}})
    assert parse_values(base, "dense:adc_bits", "3,8") == [3, 8]
    table = sweep(
        model,
        base,
        {"dense:adc_bits": [3, 8]},
        out=tmp_path / "s.csv",
        executor="serial",
        limit=40,
        dataset=data,
    )
    assert table.fields == ("dense:adc_bits",)
    direct = [
        evaluate(model, base.replace(**{"dense:adc_bits": v}), dataset=data, limit=40).accuracy
        for v in (3, 8)
    ]
    assert [float(a) for a in table.accuracies[:, 0, 0]] == direct
    with pytest.raises(UnknownFieldError, match="adc_bitz"):
        parse_values(base, "dense:adc_bitz", "3")
    with pytest.raises(ConfigError, match="whole network"):
        parse_values(base, "dense:seed", "3")
    with pytest.raises(ConfigError, match="PATTERN:FIELD"):
        parse_values(base, "layers", "3")
    with pytest.raises(ConfigError, match='layers."fc"'):
        sweep(model, base, {"fc:adc_bits": [3]}, out=None, executor="serial", limit=5, dataset=data)


@pytest.mark.parametrize("name", ["per_layer.toml", "measured_cells.toml"])
def test_example_configs_run(name, model, data):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / name
    cfg = AnalogConfig.from_toml(path).replace(repeats=1)
    res = evaluate(model, cfg, dataset=data, limit=20, cache=TransferCache())
    assert any(s.settings for s in res.layer_stats)
