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
    for name in AnalogConfig.field_names():
        assert "--" + name.replace("_", "-") in flags


def test_flags_override_toml(tmp_path, capsys):
    p = tmp_path / "c.toml"
    p.write_text('adc_bits = 3\nrepeats = 2\nprogramming_error = "state_proportional"\n'
                 'programming_sigma = 0.2\n')
    d = _json(capsys, ["infer", "--config", str(p), "--adc-bits", "6", "--limit", "60", "--json",
                       "--no-progress"])
    assert d["config"]["adc_bits"] == 6 and d["config"]["repeats"] == 2
    assert d["config"]["programming_sigma"] == 0.2
    assert len(d["accuracies"]) == 2 and d["n_images"] == 60
    assert d["accuracy_min"] == min(d["accuracies"])


def test_text_output(capsys):
    rc = main(["infer", "--limit", "40", "--adc-bits", "8", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "analog accuracy" in out and "conv1" in out


@pytest.mark.parametrize("argv, needle", [
    (["--adc-bits", "-2"], "adc_bits"),
    (["--g-min", "1e-3"], "g_min"),
    (["--programming-error", "state_independent", "--programming-sigma", "-0.1"],
     "programming_sigma"),
    (["--repeats", "0"], "repeats"),
    (["--weight-scaling", "global"], "weight_scaling"),
    (["--limit", "0"], "limit"),
    (["--model", "no-such-model"], "no-such-model"),
])
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
