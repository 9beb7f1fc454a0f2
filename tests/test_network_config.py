"""AnalogConfig: fields, validation (errors name the field), TOML, ideal."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from xbar.errors import ConfigError
from xbar.network.config import CHOICES, AnalogConfig

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_valid_and_ideal_turns_everything_off():
    cfg = AnalogConfig(
        adc_bits=8,
        adc_range="max",
        programming_error="state_proportional",
        programming_sigma=0.1,
        read_noise_sigma=0.01,
        r_row=1.0,
        r_col=2.0,
        device="sinh",
        stuck_rate=0.01,
        drift_time=100.0,
        weight_bits=8,
        weight_slices=4,
        input_mode="bit_serial",
        repeats=5,
    )
    cfg.validate()
    ideal = cfg.as_ideal()
    ideal.validate()
    assert ideal.adc_bits == 0 and ideal.adc_range is None
    assert ideal.programming_error == "none" and ideal.programming_sigma == 0
    assert not ideal.parasitics and ideal.device == "linear"
    assert ideal.weight_bits == 0 and ideal.input_mode == "analog" and ideal.repeats == 1
    assert ideal.mapping == cfg.mapping and ideal.array_rows == cfg.array_rows
    assert AnalogConfig.ideal(mapping="offset").mapping == "offset"


def test_required_fields_exist():
    names = set(AnalogConfig.field_names())
    needed = {
        "mapping",
        "offset_subtraction",
        "weight_scaling",
        "biscale_shift",
        "biscale_threshold",
        "array_rows",
        "array_cols",
        "g_min",
        "g_max",
        "weight_bits",
        "weight_slices",
        "input_bits",
        "input_mode",
        "dac_bits",
        "adc_bits",
        "adc_range",
        "adc_percentile",
        "programming_error",
        "programming_sigma",
        "read_noise_sigma",
        "drift_time",
        "drift_nu",
        "drift_t0",
        "stuck_rate",
        "r_row",
        "r_col",
        "r_driver",
        "r_sense",
        "device",
        "device_k",
        "v_read",
        "nonlinear_mode",
        "seed",
        "repeats",
        "calibration_size",
    }
    assert needed <= names


def test_unknown_field_names_close_match():
    with pytest.raises(ConfigError) as e:
        AnalogConfig.from_dict({"programing_sigma": 0.1})
    assert "programing_sigma" in str(e.value) and "programming_sigma" in e.value.hint


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"adc_bits": -1}, "adc_bits"),
        ({"adc_bits": 0, "adc_range": "max"}, "adc_bits"),
        ({"g_min": 2e-4, "g_max": 1e-4}, "g_min"),
        (
            {"programming_error": "state_independent", "programming_sigma": -0.1},
            "programming_sigma",
        ),
        ({"programming_error": "weight_range", "programming_sigma": math.nan}, "programming_sigma"),
        ({"read_noise_sigma": -1.0}, "read_noise_sigma"),
        ({"repeats": 0}, "repeats"),
        ({"mapping": "balanced"}, "mapping"),
        ({"weight_scaling": "colum"}, "weight_scaling"),
        ({"programming_error": "gaussian"}, "programming_error"),
        ({"programming_sigma": 0.1}, "programming_sigma"),
        ({"weight_slices": 4}, "weight_slices"),
        ({"weight_bits": 4, "weight_slices": 5}, "weight_slices"),
        ({"stuck_rate": 1.5}, "stuck_rate"),
        ({"r_col": -1.0}, "r_col"),
        ({"array_cols": 1}, "array_cols"),
        ({"adc_bits": "eight"}, "adc_bits"),
        (
            {"weight_scaling": "biscale", "biscale_shift": 3, "biscale_threshold": 0.5},
            "biscale_threshold",
        ),
        ({"device": "memristor"}, "device"),
    ],
)
def test_impossible_values_name_the_field(bad, field):
    with pytest.raises(ConfigError) as e:
        AnalogConfig.from_dict(bad)
    assert field in str(e.value)


def test_choices_listed_match_validation():
    for name, allowed in CHOICES.items():
        for value in allowed:
            kw = {name: value}
            if name == "adc_range":
                kw["adc_bits"] = 8
            if value == "input_switched":
                kw["input_mode"] = "bit_serial"
            if value == "tabulated":
                kw["device_table"] = str(ROOT / "examples" / "iv_table.csv")
            AnalogConfig.from_dict(kw)


def test_from_toml_with_overrides(tmp_path):
    p = tmp_path / "chip.toml"
    p.write_text('mapping = "offset"\nadc_bits = 6\nr_col = 1.5\n')
    cfg = AnalogConfig.from_toml(p, adc_bits=8)
    assert cfg.mapping == "offset" and cfg.adc_bits == 8 and cfg.r_col == 1.5
    p.write_text("[analog]\nweight_bits = 8\n")
    assert AnalogConfig.from_toml(p).weight_bits == 8


def test_from_toml_errors(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("adc_bits = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        AnalogConfig.from_toml(p)
    p.write_text("adc_bitz = 3\n")
    with pytest.raises(ConfigError) as e:
        AnalogConfig.from_toml(p)
    assert "adc_bitz" in str(e.value) and str(p) in str(e.value)
    with pytest.raises(ConfigError, match="cannot read"):
        AnalogConfig.from_toml(tmp_path / "missing.toml")


def test_string_values_from_flags_are_coerced():
    cfg = AnalogConfig.from_dict({"adc_bits": "8", "r_col": "2.5", "programming_clip": "false"})
    assert cfg.adc_bits == 8 and cfg.r_col == 2.5 and cfg.programming_clip is False
    assert cfg.replace(adc_bits=4).adc_bits == 4
    with pytest.raises(ConfigError):
        cfg.replace(adc_bit=4)


def test_dac_bits_with_bit_serial_inputs_is_a_conflict():
    # QA: dac_bits was silently ignored in bit-serial mode
    with pytest.raises(ConfigError, match="dac_bits=4 conflicts with input_mode='bit_serial'"):
        AnalogConfig(input_mode="bit_serial", dac_bits=4).validate()
    assert AnalogConfig(input_mode="bit_serial", input_bits=4).validate().dac_bits == 0
    assert AnalogConfig(input_mode="analog", dac_bits=4).validate().dac_bits == 4


def test_toml_analog_table_and_top_level_keys_merge(tmp_path):
    # QA: an [analog] table alone was accepted, mixed with top-level keys rejected
    p = tmp_path / "chip.toml"
    p.write_text("seed = 3\nr_col = 1.5\n\n[analog]\nweight_bits = 8\nadc_bits = 6\n")
    cfg = AnalogConfig.from_toml(p, adc_bits=7)
    assert (cfg.seed, cfg.r_col, cfg.weight_bits, cfg.adc_bits) == (3, 1.5, 8, 7)
    p.write_text("adc_bits = 4\n[analog]\nadc_bits = 6\n")
    with pytest.raises(ConfigError, match="'adc_bits' is given both"):
        AnalogConfig.from_toml(p)
    p.write_text("seed = 1\n[analog]\nadc_bitz = 6\n")
    with pytest.raises(ConfigError, match="adc_bitz"):
        AnalogConfig.from_toml(p)
    p.write_text("seed = 1\n[other]\nadc_bits = 6\n")
    with pytest.raises(ConfigError, match="unknown configuration field 'other'"):
        AnalogConfig.from_toml(p)


def test_adc_bits_zero_is_off_negative_is_an_error():
    cfg = AnalogConfig(adc_bits=0).validate()
    assert cfg.effective_adc_range is None
    with pytest.raises(ConfigError, match="adc_bits=-1: must not be negative"):
        AnalogConfig(adc_bits=-1).validate()
    with pytest.raises(ConfigError, match="adc_bits=0 .*adc_range='max'"):
        AnalogConfig(adc_bits=0, adc_range="max").validate()
