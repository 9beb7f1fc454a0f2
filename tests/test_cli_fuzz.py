"""Fuzzing the CLI's configuration and model inputs (issue 15), as the netlist fuzzer does.

Random and mutated TOML configurations and model files go through ``xbar infer``: the only
outcome besides success is an :class:`~xbar.errors.XbarError` printed as one message with exit
code 2, naming the file or the field.  Never a traceback, never the internal-error exit 70.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xbar.cli import main
from xbar.errors import XbarError
from xbar.network import AnalogConfig, load_model, save_model

FIELDS = AnalogConfig.field_names()
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

toml_scalars = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(f), repr(f))
    ),
    st.sampled_from(
        [
            "true",
            "false",
            '"linear"',
            '"sinh"',
            '"calibrated"',
            '"none"',
            '""',
            '"weight_range"',
            '"x"',
            "[]",
            "[1, 2]",
            "{}",
            "{a = 1}",
            "1979-05-27",
        ]
    ),
    st.text(st.characters(codec="utf-8", exclude_characters='"\\\n\r'), max_size=8).map(
        lambda t: json.dumps(t)
    ),
)
toml_keys = st.one_of(
    st.sampled_from(FIELDS),
    st.sampled_from(["analog", "adc_bit", "x y"]),
    st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10),
)


@st.composite
def toml_files(draw) -> bytes:
    """A TOML text of random fields and values, sometimes mangled at the byte level."""
    lines = []
    if draw(st.booleans()):
        lines.append("[analog]")
    for _ in range(draw(st.integers(0, 6))):
        lines.append(f"{draw(toml_keys)} = {draw(toml_scalars)}")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if draw(st.integers(0, 3)) == 0:  # byte-level damage: cut, insert, bad encodings
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.binary(max_size=4)) + data[pos + draw(st.integers(0, 3)) :]
    return data


def _run(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc in (0, 2), f"exit {rc}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    return rc, err


@SETTINGS
@given(toml_files())
def test_fuzzed_toml_configs_fail_cleanly(tmp_path, capsys, data):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    # --limit 0 stops right after the configuration is read and validated
    rc, err = _run(["infer", "--config", str(path), "--limit", "0"], capsys)
    assert rc == 2 and err.startswith("error:")
    if "--limit" not in err:  # the configuration itself was refused: name the file or field
        assert "fuzz.toml" in err or any(f in err for f in FIELDS), err
    try:
        AnalogConfig.from_toml(path)
    except XbarError as exc:  # the API raises only the family
        assert str(exc)


@SETTINGS
@given(st.sampled_from(FIELDS), toml_scalars)
def test_fuzzed_config_flags_fail_cleanly(capsys, field, value):
    # a value that looks like an option ("-x") is argparse's usage error: exit 2, no traceback
    flag = "--" + field.replace("_", "-")
    rc, err = _run(["infer", flag, value.strip('"'), "--limit", "0"], capsys)
    assert rc == 2
    if "--limit" not in err:
        assert field in err or flag in err, err


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**3), 10**3),
        st.sampled_from([10**12, -(10**12), 2**63]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=6),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    base = tmp_path_factory.mktemp("model") / "m"
    save_model(load_model("default"), base)
    return base


def _copy_model(saved_model, tmp_path):
    base = tmp_path / "m"
    shutil.copy(saved_model.with_suffix(".json"), base.with_suffix(".json"))
    shutil.copy(saved_model.with_suffix(".npz"), base.with_suffix(".npz"))
    return base


@st.composite
def model_edits(draw):
    """(path in the description, new value or None to delete)."""
    cfg = load_model("default").config()
    if draw(st.booleans()):
        key = draw(
            st.sampled_from(
                ["format", "version", "layout", "input_shape", "classes", "layers", "name"]
            )
        )
        return [key], draw(st.one_of(st.none(), json_values))
    i = draw(st.integers(0, len(cfg["layers"]) - 1))
    keys = [*cfg["layers"][i], "bogus"]
    return ["layers", i, draw(st.sampled_from(keys))], draw(st.one_of(st.none(), json_values))


@SETTINGS
@given(model_edits())
def test_fuzzed_model_descriptions_fail_cleanly(saved_model, tmp_path_factory, capsys, edit):
    tmp = tmp_path_factory.mktemp("fz")
    base = _copy_model(saved_model, tmp)
    cfg = json.loads(base.with_suffix(".json").read_text())
    where, value = edit
    node = cfg
    for k in where[:-1]:
        node = node[k]
    if value is None:
        node.pop(where[-1], None)
    else:
        node[where[-1]] = value
    base.with_suffix(".json").write_text(json.dumps(cfg))
    rc, err = _run(["infer", "--model", str(base), "--limit", "2", "--no-progress"], capsys)
    if rc == 2:
        assert "m.json" in err or "m.npz" in err, err


@SETTINGS
@given(
    st.sampled_from([".json", ".npz"]),
    st.integers(0, 10**6),
    st.integers(0, 64),
    st.binary(max_size=16),
)
def test_fuzzed_model_bytes_fail_cleanly(
    saved_model, tmp_path_factory, capsys, suffix, pos, cut, insert
):
    tmp = tmp_path_factory.mktemp("fb")
    base = _copy_model(saved_model, tmp)
    path = base.with_suffix(suffix)
    data = path.read_bytes()
    pos %= len(data) + 1
    path.write_bytes(data[:pos] + insert + data[pos + cut :])
    rc, err = _run(["infer", "--model", str(base), "--limit", "2", "--no-progress"], capsys)
    if rc == 2:
        assert path.name in err or "m.json" in err or "m.npz" in err, err


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "z"]),
        st.sampled_from(["f", "i", "c", "U", "shape", "empty", "nan"]),
        max_size=7,
    )
)
def test_fuzzed_data_sets_fail_cleanly(tmp_path_factory, capsys, spec):
    tmp = tmp_path_factory.mktemp("fd")
    make = {
        "f": lambda: np.random.default_rng(0).random((4, 8, 8, 1)),
        "i": lambda: np.arange(4) % 10,
        "c": lambda: np.ones((4, 8, 8, 1)) * 1j,
        "U": lambda: np.array(["a"] * 4),
        "shape": lambda: np.ones((4, 3)),
        "empty": lambda: np.zeros((0, 8, 8, 1)),
        "nan": lambda: np.full((4, 8, 8, 1), np.nan),
    }
    np.savez(tmp / "d.npz", **{k: make[v]() for k, v in spec.items()})
    rc, err = _run(
        ["infer", "--dataset", str(tmp / "d.npz"), "--limit", "2", "--no-progress"], capsys
    )
    if rc == 2:
        assert "d.npz" in err, err
