"""``xbar infer``: flags, TOML, --ideal, --json, errors."""

from __future__ import annotations

import json

import pytest

from xbar.cli import main
from xbar.network.config import AnalogConfig


def _json(capsys, argv):
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def test_infer_json_ideal_equals_digital(capsys):
    d = _json(capsys, ["infer", "--ideal", "--json", "--no-progress", "--adc-bits", "4"])
    assert d["accuracy"] == d["ideal_accuracy"] >= 0.97
    for key in ("seconds", "accuracy_std", "accuracy_min", "accuracies", "config"):
        assert key in d
    assert d["config"]["adc_bits"] == 0  # --ideal wins


def test_every_field_has_a_flag():
    from xbar.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["infer"]
    flags = {o for a in sub._actions for o in a.option_strings}
    for name in AnalogConfig.field_names():  # (layers: the repeatable --layer)
        assert ("--layer" if name == "layers" else "--" + name.replace("_", "-")) in flags


def test_flags_override_toml(tmp_path, capsys):
    p = tmp_path / "c.toml"
    p.write_text(
        'adc_bits = 3\nrepeats = 2\nprogramming_error = "state_proportional"\n'
        "programming_sigma = 0.2\n"
    )
    d = _json(
        capsys,
        [
            "infer",
            "--config",
            str(p),
            "--adc-bits",
            "6",
            "--limit",
            "60",
            "--json",
            "--no-progress",
        ],
    )
    assert d["config"]["adc_bits"] == 6 and d["config"]["repeats"] == 2
    assert d["config"]["programming_sigma"] == 0.2
    assert len(d["accuracies"]) == 2 and d["n_images"] == 60
    assert d["accuracy_min"] == min(d["accuracies"])


def test_text_output(capsys):
    rc = main(["infer", "--limit", "40", "--adc-bits", "8", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "analog accuracy" in out and "conv1" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--adc-bits", "-2"], "adc_bits"),
        (["--g-min", "1e-3"], "g_min"),
        (
            ["--programming-error", "state_independent", "--programming-sigma", "-0.1"],
            "programming_sigma",
        ),
        (["--repeats", "0"], "repeats"),
        (["--weight-scaling", "global"], "weight_scaling"),
        (["--limit", "0"], "limit"),
        (["--model", "no-such-model"], "no-such-model"),
        (["--chips", "1,1"], "chip 1 is listed more than once"),
        (["--input-mode", "bit_serial", "--dac-bits", "4"], "dac_bits=4 conflicts"),
        (["--model", "wrn-16-4"], "(32, 32, 3)"),
        (["--model", "wrn-16-4"], "synthetic-32x32x3"),
    ],
)
def test_bad_input_exit_2_with_one_message(capsys, argv, needle):
    rc = main(["infer", "--no-progress", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err


def test_unknown_toml_field(tmp_path, capsys):
    p = tmp_path / "c.toml"
    p.write_text("adc_bitz = 3\n")
    rc = main(["infer", "--config", str(p)])
    err = capsys.readouterr().err
    assert rc == 2 and "adc_bitz" in err and "adc_bits" in err


def test_help_explains_zero_means_off(capsys):
    from xbar.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["infer", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--adc-bits N int, default 0 (0 = no ADC" in text
    assert "synthetic-32x32x3" in text


def test_junk_dataset_file_is_one_clear_message(tmp_path, capsys):
    junk = tmp_path / "j.npz"
    junk.write_bytes(b"junk")
    rc = main(["infer", "--no-progress", "--dataset", str(junk)])
    err = capsys.readouterr().err
    assert rc == 2 and str(junk) in err and "not an .npz archive" in err
    assert "Traceback" not in err and "pickle" not in err


def test_mixed_toml_forms_are_accepted(tmp_path, capsys):
    p = tmp_path / "c.toml"
    p.write_text("seed = 2\n[analog]\nadc_bits = 5\n")
    d = _json(capsys, ["infer", "--config", str(p), "--json", "--no-progress", "--limit", "20"])
    assert d["config"]["seed"] == 2 and d["config"]["adc_bits"] == 5
