"""Embedded data sets.

``digits``: the UCI optical handwritten digits (8x8 images, 1797 samples, 10 classes)
as scikit-learn ships it (``xbar/data/digits.csv.gz``; see
``xbar/data/DIGITS_LICENSE.txt``).  Images are float64 in [0, 1] (counts 0..16 divided
by 16), **NHWC** ``(N, 8, 8, 1)``.  The split is fixed and stratified per class:
30% test, then 15% of the remainder as validation (for checkpoint choice), the rest
training.

``synthetic-HxWxC`` (e.g. ``synthetic-32x32x3``): seeded random images and labels in
the shapes a large model (a Wide ResNet) needs, **for timing only**.

Data set files (``.npz``) are read without pickle and checked array by array (CIFAR python
batches with a restricted unpickler, :mod:`xbar.network.safe_pickle`).
"""

from __future__ import annotations

import gzip
import math
import os
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError
from .arrays import Dataset, read_npz

if TYPE_CHECKING:
    from .datasets import DataOptions
    from .model import Model

TEST_FRACTION = 0.30
VAL_FRACTION = 0.15
SPLIT_SEED = 20220901


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
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


def split_indices(
    y: np.ndarray, seed: int = SPLIT_SEED
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


_SPLIT_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_SYNTHETIC = re.compile(r"^synthetic-(\d+)x(\d+)x(\d+)$")
#: sizes of the train / validation / test splits of a ``synthetic-HxWxC`` data set
SYNTHETIC_SIZES = (256, 64, 256)
SYNTHETIC_CLASSES = 10
SYNTHETIC_SEED = 0


def _dataset_from_arrays(arr: dict[str, np.ndarray], source: str, name: str) -> Dataset:
    """Check the six split arrays of a data set file and build the :class:`Dataset`."""
    missing = [k for k in _SPLIT_KEYS if k not in arr]
    if missing:
        raise ModelError(
            f"data set file {source!r} lacks arrays {missing}",
            hint="it needs x_train, y_train, x_val, y_val, x_test, y_test",
        )
    out: dict[str, np.ndarray] = {}
    sample = None
    for split in ("train", "val", "test"):
        x, y = arr[f"x_{split}"], arr[f"y_{split}"]
        if x.ndim != 4:
            raise ModelError(
                f"data set file {source!r}: x_{split} has shape {x.shape}, "
                "expected NHWC images (N, H, W, C)"
            )
        if x.shape[0] == 0:
            raise ModelError(f"data set file {source!r}: x_{split} holds no images")
        if sample is None:
            sample = x.shape[1:]
        elif x.shape[1:] != sample:
            raise ModelError(
                f"data set file {source!r}: x_{split} images have shape "
                f"{x.shape[1:]}, but x_train images have {sample}"
            )
        x = x.astype(float)
        if not np.isfinite(x).all():
            raise ModelError(f"data set file {source!r}: x_{split} holds NaN or infinite values")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ModelError(
                f"data set file {source!r}: y_{split} has shape {y.shape}, "
                f"expected ({x.shape[0]},) (one label per image of x_{split})"
            )
        if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise ModelError(f"data set file {source!r}: y_{split} holds non-integer labels")
        y = y.astype(np.int64)
        if (y < 0).any():
            raise ModelError(f"data set file {source!r}: y_{split} holds negative labels")
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    classes = int(max(out["y_train"].max(), out["y_val"].max(), out["y_test"].max())) + 1
    return Dataset(**out, name=name, classes=classes)


def synthetic_dataset(
    input_shape: tuple[int, ...],
    classes: int = SYNTHETIC_CLASSES,
    sizes: tuple[int, int, int] = SYNTHETIC_SIZES,
    seed: int = SYNTHETIC_SEED,
) -> Dataset:
    """Random images and random labels, **for timing only** (accuracy is chance level).

    Images are uniform in [0, 1), NHWC; labels uniform over ``classes``; both drawn
    from ``numpy.random.default_rng(seed)``, so the data set is the same in every run.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for n in sizes:
        parts.append(rng.random((int(n), *input_shape)))
        parts.append(rng.integers(0, classes, size=int(n)).astype(np.int64))
    return Dataset(
        *parts, name="synthetic-" + "x".join(str(int(d)) for d in input_shape), classes=int(classes)
    )


def load_dataset(name: str | Path = "digits", options: DataOptions | None = None) -> Dataset:
    """Load an embedded data set, a synthetic one, or an ``.npz`` with the six split arrays.

    Parameters
    ----------
    name : str or Path
        ``"digits"``; ``"synthetic-HxWxC"`` (e.g. ``"synthetic-32x32x3"``: seeded random
        images and labels, 10 classes, 256 / 64 / 256 train / validation / test images;
        **for timing large models only**, its accuracy is chance level); or a path to
        an ``.npz`` holding ``x_train, y_train, x_val, y_val, x_test, y_test`` (NHWC
        images, integer labels); or a data set on disk in its distribution format,
        ``"cifar10:PATH"``, ``"cifar100:PATH"``, ``"mnist:PATH"``,
        ``"fashion-mnist:PATH"``, ``"kmnist:PATH"``, ``"emnist:PATH"``, ``"svhn:PATH"``,
        ``"folder:PATH"``, ``"npz:PATH"`` (``x``/``y``), ``"npy:PATH"``,
        see :mod:`xbar.network.datasets`.  Files are read without pickle (CIFAR python
        batches: a restricted unpickler that builds only containers and arrays).
    options : xbar.network.datasets.DataOptions, optional
        Normalisation, resizing, cropping, layout and limits for data sets on disk.

    Raises
    ------
    ModelError
        For an unknown name, or a file that is missing, not a valid ``.npz``, lacks
        arrays or has arrays of the wrong shapes (naming the file and the array).

    Examples
    --------
    >>> from xbar.network import load_dataset
    >>> d = load_dataset("digits")
    >>> d.x_train.shape[1:], d.x_test.shape[0], d.classes
    ((8, 8, 1), 539, 10)
    >>> load_dataset("synthetic-32x32x3").input_shape
    (32, 32, 3)
    """
    if not isinstance(name, str | os.PathLike):
        raise ModelError(
            f"data set must be a name or a file path, got {type(name).__name__}",
            hint="'digits', 'synthetic-HxWxC' or the path of an .npz",
        )
    if str(name) == "digits":
        pixels, y = _digits_raw()
        x = (pixels / 16.0).reshape(-1, 8, 8, 1)
        train_idx, val_idx, test_idx = split_indices(y)
        return Dataset(
            x[train_idx],
            y[train_idx],
            x[val_idx],
            y[val_idx],
            x[test_idx],
            y[test_idx],
            "digits",
            10,
        )
    m = _SYNTHETIC.match(str(name))
    if m:
        shape = tuple(int(g) for g in m.groups())
        if min(shape) < 1 or int(np.prod(shape)) > 2**20:
            raise ModelError(
                f"data set {str(name)!r}: image size must be at least 1x1x1 "
                "and at most 2**20 values"
            )
        return synthetic_dataset(shape)
    from .datasets import FORMATS, alias_array_names, load_from_disk

    path = Path(name)
    prefix = str(name).partition(":")[0].lower()
    if path.suffix == ".npz" and options is None and path.is_file():
        arr = alias_array_names(read_npz(path, "data set file"), path)
        if "x" not in arr and ("x_val" in arr or "x_test" not in arr):
            return _dataset_from_arrays(arr, str(path), path.stem)  # the six split arrays
        # else x, y (+ x_train, y_train) or Keras' mnist.npz: x_train, y_train, x_test, y_test
    if prefix in FORMATS or path.suffix == ".npz" or path.exists():
        return load_from_disk(str(name), options)
    raise ModelError(
        f"unknown data set {str(name)!r}",
        hint="'digits', 'synthetic-HxWxC' (timing only), FORMAT:PATH with FORMAT "
        "one of " + ", ".join(FORMATS) + ", or the path of an .npz",
    )


def shaped_for(dataset: Dataset, model: Model) -> Dataset:
    """``dataset`` with its images flattened when ``model`` takes flat inputs of that size
    (or without their channel axis when ``model`` takes single-channel (H, W) images).

    Images are flattened in (C, H, W) order for models imported from ONNX (what
    ``x.view(x.size(0), -1)`` on NCHW tensors gives) and in (H, W, C) order for
    xbar's own models and Keras models converted by tf2onnx (channels last); any
    other data set is returned unchanged.
    """
    shape = tuple(model.input_shape)
    if len(shape) == 2 and dataset.x_test.ndim == 4 and dataset.input_shape == (*shape, 1):
        return _map_images(dataset, lambda x: x[..., 0])  # Keras Input(shape=(28, 28))
    one_channel = len(shape) == 2 or (len(shape) == 3 and shape[2] == 1)
    if dataset.x_test.ndim == 2 and one_channel and dataset.input_shape == (math.prod(shape),):
        # rows of H*W pixels (a CSV like Kaggle's MNIST) for a single-channel image model
        return _map_images(dataset, lambda x: x.reshape(len(x), *shape))
    if len(shape) != 1 or dataset.x_test.ndim != 4 or int(np.prod(dataset.input_shape)) != shape[0]:
        return dataset
    meta = getattr(model, "meta", {})
    chw = meta.get("source") == "onnx" and meta.get("producer") != "tf2onnx"

    def flat(x: np.ndarray) -> np.ndarray:
        return (x.transpose(0, 3, 1, 2) if chw else x).reshape(len(x), -1)

    return _map_images(dataset, flat)


def _map_images(dataset: Dataset, f) -> Dataset:
    """``dataset`` with ``f`` applied to the images of every split."""
    return Dataset(
        f(dataset.x_train),
        dataset.y_train,
        f(dataset.x_val),
        dataset.y_val,
        f(dataset.x_test),
        dataset.y_test,
        dataset.name,
        dataset.classes,
    )


def synthetic_images(
    n: int, input_shape: tuple[int, ...] = (32, 32, 3), seed: int = 0
) -> np.ndarray:
    """``n`` random NHWC images, uniform in [0, 1) (for timing large models)."""
    return np.random.default_rng(seed).random((int(n), *input_shape))
