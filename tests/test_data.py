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
    np.savez(
        p,
        x_train=d.x_train[:5],
        y_train=d.y_train[:5],
        x_val=d.x_val[:2],
        y_val=d.y_val[:2],
        x_test=d.x_test[:3],
        y_test=d.y_test[:3],
    )
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


def _mini_arrays(d, **changes):
    arr = dict(
        x_train=d.x_train[:5],
        y_train=d.y_train[:5],
        x_val=d.x_val[:2],
        y_val=d.y_val[:2],
        x_test=d.x_test[:3],
        y_test=d.y_test[:3],
    )
    arr.update(changes)
    return {k: v for k, v in arr.items() if v is not None}


def test_dataset_file_errors_name_the_file(tmp_path):
    # QA: a junk .npz gave numpy's "pickled data" ValueError traceback
    junk = tmp_path / "j.npz"
    junk.write_bytes(b"junk")
    with pytest.raises(ModelError, match="j.npz.*not an .npz archive"):
        load_dataset(junk)
    empty = tmp_path / "e.npz"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        load_dataset(empty)
    with pytest.raises(ModelError, match="does not exist"):
        load_dataset(tmp_path / "missing.npz")
    single = tmp_path / "one.npz"
    with open(single, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(ModelError, match="single .npy array"):
        load_dataset(single)
    d = load_dataset("digits")
    cases = [
        (dict(y_val=None), r"lacks arrays \['y_val'\]"),
        (dict(x_test=d.x_test[:3, :, :, 0]), "x_test has shape .* expected NHWC"),
        (dict(x_val=np.zeros((2, 4, 4, 1))), "x_val images have shape"),
        (dict(y_train=d.y_train[:4]), r"y_train has shape \(4,\), expected \(5,\)"),
        (dict(y_test=np.array([0.5, 1, 2])), "non-integer labels"),
        (dict(y_test=np.array([-1, 1, 2])), "negative labels"),
        (dict(x_train=np.full((5, 8, 8, 1), np.nan)), "NaN"),
        (dict(x_val=np.zeros((0, 8, 8, 1)), y_val=np.zeros(0)), "x_val holds no images"),
        (dict(y_test=np.array(["a", "b", "c"])), "dtype"),
    ]
    for k, (changes, msg) in enumerate(cases):
        p = tmp_path / f"bad{k}.npz"
        np.savez(p, **_mini_arrays(d, **changes))
        with pytest.raises(ModelError, match=msg) as e:
            load_dataset(p)
        assert str(p) in str(e.value)
    objects = tmp_path / "obj.npz"
    np.savez(objects, **_mini_arrays(d, y_test=np.array([0, None, 1], dtype=object)))
    with pytest.raises(ModelError, match="obj.npz.*y_test"):
        load_dataset(objects)


def test_synthetic_dataset_is_seeded_and_fits_wrn():
    a = load_dataset("synthetic-32x32x3")
    b = load_dataset("synthetic-32x32x3")
    assert a.input_shape == (32, 32, 3) and a.classes == 10
    assert a.x_train.shape[0] > 0 and a.x_val.shape[0] > 0 and a.x_test.shape[0] > 0
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert 0 <= a.x_train.min() and a.x_train.max() < 1
    a.check_model(load_model("wrn-10-1"))
    assert load_dataset("synthetic-4x5x2").input_shape == (4, 5, 2)
    with pytest.raises(ModelError, match="synthetic-0x4x4"):
        load_dataset("synthetic-0x4x4")


def test_model_dataset_mismatch_names_both_shapes_and_suggests_synthetic():
    d = load_dataset("digits")
    with pytest.raises(ModelError) as e:
        d.check_model(load_model("wrn-16-4"))
    text = str(e.value)
    assert "(32, 32, 3)" in text and "(8, 8, 1)" in text and "synthetic-32x32x3" in text
