"""The embedded digits data set and its fixed split."""

from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np
import pytest

from xbar.errors import ModelError
from xbar.network import load_dataset, load_model
from xbar.network.data import stratified_split

ROOT = Path(__file__).resolve().parents[1]


def test_digits_shapes_range_and_split():
    d = load_dataset("digits")
    n = d.x_train.shape[0] + d.x_val.shape[0] + d.x_test.shape[0]
    assert n == 1797 and d.classes == 10 and d.input_shape == (8, 8, 1)
    assert 0.25 <= d.x_test.shape[0] / n <= 0.31
    for x in (d.x_train, d.x_val, d.x_test):
        assert x.dtype == np.float64 and x.min() >= 0 and x.max() <= 1
    assert d.x_train.max() == 1.0  # counts 0..16 scaled by 1/16
    # stratified: every class in every split, in proportion
    for y in (d.y_train, d.y_val, d.y_test):
        counts = np.bincount(y, minlength=10)
        assert counts.min() > 0
        assert counts.max() / counts.min() < 1.25


def test_split_is_fixed_and_disjoint():
    a, b = load_dataset("digits"), load_dataset("digits")
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    from xbar.network.data import _digits_raw, split_indices

    pixels, y = _digits_raw()
    tr, va, te = split_indices(y)
    assert len(set(tr) | set(va) | set(te)) == len(tr) + len(va) + len(te) == 1797
    np.testing.assert_array_equal(a.x_test.reshape(len(te), -1), pixels[te] / 16.0)
    np.testing.assert_array_equal(a.y_train, y[tr])


def test_stratified_split_counts():
    y = np.repeat(np.arange(3), [10, 20, 30])
    rest, held = stratified_split(y, 0.3, np.random.default_rng(0))
    assert np.bincount(y[held]).tolist() == [3, 6, 9]
    assert sorted(np.concatenate([rest, held]).tolist()) == list(range(60))


def test_dataset_errors_and_model_check(tmp_path):
    with pytest.raises(ModelError, match="unknown data set 'cifar'"):
        load_dataset("cifar")
    d = load_dataset("digits")
    d.check_model(load_model("default"))
    with pytest.raises(ModelError, match="does not|data set"):
        d.check_model(load_model("wrn-10-1"))
    p = tmp_path / "mini.npz"
    np.savez(p, x_train=d.x_train[:5], y_train=d.y_train[:5], x_val=d.x_val[:2],
             y_val=d.y_val[:2], x_test=d.x_test[:3], y_test=d.y_test[:3])
    mini = load_dataset(p)
    assert mini.x_test.shape == (3, 8, 8, 1) and mini.name == "mini"


def test_data_files_are_packaged_with_attribution():
    assert (ROOT / "xbar" / "data" / "digits.csv.gz").is_file()
    lic = (ROOT / "xbar" / "data" / "DIGITS_LICENSE.txt").read_text()
    assert "Alpaydin" in lic and "CC BY 4.0" in lic and "UCI" in lic
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    pats = cfg["options.package_data"]["xbar"]
    assert "data/*" in pats and "data/**/*" in pats
