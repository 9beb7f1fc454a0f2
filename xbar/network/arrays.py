"""The data set container and the pickle-free ``.npz`` reader.

Shared by :mod:`xbar.network.data` (built-in data sets and :func:`load_dataset`),
:mod:`xbar.network.datasets` (formats on disk) and model files
(:mod:`xbar.network.model_io`); both names are also reachable from
:mod:`xbar.network.data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:
    from .model import Model

__all__ = ["Dataset", "read_npz"]


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

    def check_model(self, model: Model) -> None:
        """Raise :class:`~xbar.errors.ModelError` if ``model`` does not fit this data set."""
        shape = tuple(model.input_shape)
        if shape == self.input_shape and model.classes < self.classes:
            labels = [
                y for y in (self.y_train, self.y_val, self.y_test) if y is not None and y.size
            ]
            one_based = self.classes == model.classes + 1 and min(int(y.min()) for y in labels) == 1
            raise ModelError(
                f"model {model.name!r} has {model.classes} output classes, but data set "
                f"{self.name!r} has labels 0..{self.classes - 1} ({self.classes} classes)",
                hint="the labels run from 1 to "
                f"{self.classes - 1}: xbar counts classes from 0 (as torch and Keras do), so "
                "subtract 1 from every label"
                if one_based
                else "the model's last layer must give at least one logit per class of the "
                "data set (the images fit: inputs are "
                f"{shape} in both); check that the data set is the one the model was "
                "trained on",
            )
        if shape != self.input_shape:
            hint = ""
            if len(shape) == 3:
                hint = (
                    f"data set 'synthetic-{shape[0]}x{shape[1]}x{shape[2]}' has random "
                    f"{shape} images (for timing only)"
                )
                mine = self.input_shape
                if len(mine) == 3 and (mine[1], mine[2], mine[0]) == shape:
                    hint = (
                        f"the images look channels-first ({mine[0]} channels of "
                        f"{mine[1]}x{mine[2]}): read them with --layout NCHW (layout = "
                        '"NCHW" in [data], DataOptions(layout="NCHW"))'
                    )
                elif len(mine) == 3 and mine[:2] == shape[:2]:
                    hint = (
                        f"the images have {mine[2]} channel(s), the model takes {shape[2]}: "
                        "grayscale images for a colour model or the reverse; give the "
                        "images the model was trained on (e.g. saved after Pillow's "
                        ".convert('RGB') / .convert('L'))"
                    )
                elif len(mine) == 3 and mine[2] == shape[2]:
                    hint = (
                        f"resize or crop the images to {shape[0]},{shape[1]} "
                        "(--resize H,W / --crop H,W, or size / crop in [data]); " + hint
                    )
            raise ModelError(
                f"model {model.name!r} takes inputs {shape} with "
                f"{model.classes} classes, but data set {self.name!r} has inputs "
                f"{self.input_shape} with {self.classes} classes",
                hint=hint,
            )


def read_npz(path: str | Path, what: str = "file") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, read without pickle.

    Parameters
    ----------
    path : str or Path
        The archive.
    what : str
        What the file is (``"data set file"``, ``"model weights"``), for messages.

    Raises
    ------
    ModelError
        Naming the file, when it does not exist, is not a NumPy ``.npz`` archive, is
        damaged, or holds object (pickled) or non-numeric arrays.
    """
    import zipfile
    import zlib

    path = Path(path)
    if not path.is_file():
        from ..checks import special_file

        kind = special_file(path) or ("a directory" if path.is_dir() else "")
        raise ModelError(
            f"{what} {str(path)!r} " + (f"is {kind}, not a file" if kind else "does not exist")
        )
    bad = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise ModelError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    if magic == b"\x93NUMPY":
        raise ModelError(
            f"{what} {str(path)!r} is a single .npy array, not an .npz archive",
            hint="write it with numpy.savez (named arrays)",
        )
    if magic[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ModelError(
            f"{what} {str(path)!r} is not an .npz archive (a zip file of .npy "
            "arrays)" + (": the file is empty" if not magic else ""),
            hint="write it with numpy.savez",
        )
    with open(path, "rb") as fh:  # numpy leaks its own handle on a damaged archive
        try:
            z = np.load(fh, allow_pickle=False)
        except bad as exc:
            raise ModelError(
                f"{what} {str(path)!r} is not a valid .npz archive ({_why(exc)})",
                hint="write it with numpy.savez (numeric arrays, no objects)",
            ) from None
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ModelError(
                f"{what} {str(path)!r} is a single .npy array, not an .npz archive",
                hint="write it with numpy.savez (named arrays)",
            )
        with z:
            return _npz_arrays(z, path, what, bad)


def _npz_arrays(z, path: Path, what: str, bad: tuple) -> dict[str, np.ndarray]:
    out = {}
    for key in z.files:
        _check_declared_size(z, key, path, what)
        try:
            arr = z[key]
        except bad as exc:
            raise ModelError(
                f"{what} {str(path)!r}: array {key!r} cannot be read ({_why(exc)})"
            ) from None
        if arr.dtype.kind == "c":
            raise ModelError(
                f"{what} {str(path)!r}: array {key!r} holds complex numbers; "
                "xbar works with real quantities only (the imaginary part "
                "is never dropped)"
            )
        if arr.dtype.kind not in "biuf":
            raise ModelError(
                f"{what} {str(path)!r}: array {key!r} has dtype {arr.dtype}, expected numbers"
            )
        out[key] = arr
    return out


def _check_declared_size(z, key: str, path: Path, what: str) -> None:
    """Refuse an array whose header declares more bytes than its archive member holds
    (or than the memory available), before numpy allocates them: a damaged or hostile
    header of shape (100000, 100000) would ask for 80 GB."""
    import math

    from ..checks import available_memory

    name = key if key in z.zip.namelist() else f"{key}.npy"
    try:
        size = z.zip.getinfo(name).file_size
        with z.zip.open(name) as fh:
            version = np.lib.format.read_magic(fh)
            read = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read is None:
                return
            shape, _, dtype = read(fh)
    except Exception:  # noqa: BLE001 - an unreadable header: numpy names it below
        return
    declared = math.prod(shape) * dtype.itemsize
    memory = available_memory()
    if declared > size or (memory is not None and declared > memory):
        raise ModelError(
            f"{what} {str(path)!r}: array {key!r} declares shape {tuple(shape)} "
            f"({declared:.3g} bytes of {dtype}) but "
            + (
                f"its archive member holds {size} bytes"
                if declared > size
                else f"only {memory:.3g} bytes of memory are available"
            ),
            hint="the file is damaged or was not written by numpy.savez",
        )


def _why(exc: BaseException) -> str:
    if isinstance(exc, ValueError) and "pickle" in str(exc):
        return "unreadable as numeric arrays; pickled objects are never loaded"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
