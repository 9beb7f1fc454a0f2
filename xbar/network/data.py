"""Embedded data sets.

``digits``: the UCI optical handwritten digits (8x8 images, 1797 samples, 10 classes)
as scikit-learn ships it (``xbar/data/digits.csv.gz``; see
``xbar/data/DIGITS_LICENSE.txt``).  Images are float64 in [0, 1] (counts 0..16 divided
by 16), **NHWC** ``(N, 8, 8, 1)``.  The split is fixed and stratified per class:
30% test, then 15% of the remainder as validation (for checkpoint choice), the rest
training.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ModelError

TEST_FRACTION = 0.30
VAL_FRACTION = 0.15
SPLIT_SEED = 20220901


@dataclass(frozen=True)
class Dataset:
    """A classification data set with a fixed train / validation / test split.

    Attributes
    ----------
    x_train, x_val, x_test : ndarray
        Images, float64 in [0, 1], NHWC ``(N, H, W, C)``.
    y_train, y_val, y_test : ndarray of int64
        Class indices ``(N,)``.
    name : str
        Data set name.
    classes : int
        Number of classes.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample shape (NHWC without the batch axis)."""
        return tuple(self.x_train.shape[1:])

    def check_model(self, model) -> None:
        """Raise :class:`~xbar.errors.ModelError` if ``model`` does not fit this data set."""
        if tuple(model.input_shape) != self.input_shape or model.classes != self.classes:
            raise ModelError(
                f"model {model.name!r} takes inputs {tuple(model.input_shape)} with "
                f"{model.classes} classes, but data set {self.name!r} has inputs "
                f"{self.input_shape} with {self.classes} classes")


def stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(rest, held_out)`` with ``round(fraction * n_c)`` held out of each class."""
    held, rest = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(idx.size)]
        k = int(round(fraction * idx.size))
        held.append(idx[:k])
        rest.append(idx[k:])
    return np.sort(np.concatenate(rest)), np.sort(np.concatenate(held))


def split_indices(y: np.ndarray, seed: int = SPLIT_SEED
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed stratified ``(train, val, test)`` row indices: ``TEST_FRACTION`` of each class
    to test, then ``VAL_FRACTION`` of the rest of each class to validation."""
    rng = np.random.default_rng(seed)
    train_idx, test_idx = stratified_split(y, TEST_FRACTION, rng)
    tr, va = stratified_split(y[train_idx], VAL_FRACTION, rng)
    return train_idx[tr], train_idx[va], test_idx


def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    path = resources.files("xbar").joinpath("data", "digits.csv.gz")
    with path.open("rb") as fh, gzip.open(fh, "rt") as text:
        table = np.loadtxt(text, delimiter=",")
    return table[:, :64], table[:, 64].astype(np.int64)


def load_dataset(name: str | Path = "digits") -> Dataset:
    """Load an embedded data set (or an ``.npz`` with the six split arrays).

    Parameters
    ----------
    name : str or Path
        ``"digits"``, or a path to an ``.npz`` holding ``x_train, y_train, x_val, y_val,
        x_test, y_test`` (NHWC images).

    Examples
    --------
    >>> from xbar.network import load_dataset
    >>> d = load_dataset("digits")
    >>> d.x_train.shape[1:], d.x_test.shape[0], d.classes
    ((8, 8, 1), 539, 10)
    """
    if str(name) == "digits":
        pixels, y = _digits_raw()
        x = (pixels / 16.0).reshape(-1, 8, 8, 1)
        train_idx, val_idx, test_idx = split_indices(y)
        return Dataset(x[train_idx], y[train_idx], x[val_idx], y[val_idx], x[test_idx],
                       y[test_idx], "digits", 10)
    path = Path(name)
    if path.suffix == ".npz" and path.exists():
        keys = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        with np.load(path) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise ModelError(f"{path}: data set file lacks arrays {missing}")
            arr = {k: np.asarray(z[k]) for k in keys}
        for k in keys[1::2]:
            arr[k] = arr[k].astype(np.int64)
        for k in keys[0::2]:
            arr[k] = arr[k].astype(float)
        classes = int(max(arr["y_train"].max(), arr["y_test"].max())) + 1
        return Dataset(**arr, name=path.stem, classes=classes)
    raise ModelError(f"unknown data set {str(name)!r}",
                     hint="'digits', or the path of an .npz with x_train, y_train, x_val, "
                          "y_val, x_test, y_test")


def synthetic_images(n: int, input_shape: tuple[int, ...] = (32, 32, 3), seed: int = 0
                     ) -> np.ndarray:
    """``n`` random NHWC images, uniform in [0, 1) (for timing large models)."""
    return np.random.default_rng(seed).random((int(n), *input_shape))
