"""The CIFAR "python version" batches, read with a restricted unpickler.

torchvision and the CIFAR web page distribute ``cifar-10-batches-py/`` (``data_batch_1``
... ``data_batch_5``, ``test_batch``) and ``cifar-100-python/`` (``train``, ``test``):
pickles (Python 2's cPickle, protocol 2) of a dict with ``data`` (uint8, N x 3072: the R,
G and B planes of 32x32 images) and ``labels`` (CIFAR-10) or ``fine_labels`` /
``coarse_labels`` (CIFAR-100).

A pickle can run any code when loaded, so these files are read by
:class:`RestrictedUnpickler`, which admits only plain containers, numbers, strings and
bytes (no ``find_class`` needed) and numpy arrays and dtypes (the few numpy functions
that rebuild an array from its bytes).  Any other class or function in the file stops the
read with a :class:`~xbar.errors.ModelError` naming it; object arrays are refused too.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import ModelError

__all__ = ["Refused", "RestrictedUnpickler", "load_restricted", "cifar_python_batch"]

#: the globals a pickle of numpy arrays needs (numpy 1 and 2 module names; protocol 2's
#: bytes through _codecs.encode; protocol 5's arrays through _frombuffer)
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}

#: largest batch file read [bytes] (a CIFAR batch is about 31 MB, CIFAR-100's train 155 MB)
MAX_BYTES = 1 << 30


class Refused(pickle.UnpicklingError):
    """A pickle refers to a class or function that :class:`RestrictedUnpickler` never builds."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only containers, scalars, strings, bytes and numpy arrays."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise Refused(
            f"it refers to {module}.{name}, which a data batch never needs (only plain "
            "containers and numpy arrays are read)"
        )


def load_restricted(path: Path, what: str):
    """The object pickled in ``path``, read with :class:`RestrictedUnpickler`.

    Python 2 strings are decoded as latin-1 (numpy's convention for Python 2 pickles).

    Raises
    ------
    ModelError
        The file is missing, a device, too large, damaged, or refers to anything but
        plain containers and numpy arrays.
    """
    from ..checks import special_file

    kind = special_file(path)
    if kind:
        raise ModelError(f"{what} {str(path)!r} is {kind}, not a file")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ModelError(f"{what} {str(path)!r} has {size} bytes; a data batch is < 1 GiB")
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Refused as exc:
        raise ModelError(f"{what} {str(path)!r} is not read: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - EOFError, ValueError... of a damaged file
        raise ModelError(
            f"{what} {str(path)!r} is damaged or not a pickle "
            f"({type(exc).__name__}: {exc or 'truncated'})",
            hint="download the batch again",
        ) from None


def _text_keys(obj) -> dict:
    """A dict with ``bytes`` keys (pickles written by Python 3) decoded to ``str``."""
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def cifar_python_batch(
    path: Path, label_key: str, classes: int, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x 32 x 32 x 3, uint8) and labels (N,) of one CIFAR python batch.

    Raises
    ------
    ModelError
        Naming the file and the field that is missing or malformed.
    """
    what = "CIFAR python batch"
    obj = load_restricted(path, what)
    if not isinstance(obj, dict):
        raise ModelError(f"{what} {str(path)!r} holds a {type(obj).__name__}, expected a dict")
    obj = _text_keys(obj)
    for key in ("data", label_key):
        if key not in obj:
            raise ModelError(
                f"{what} {str(path)!r} has no {key!r} entry (it has "
                f"{', '.join(sorted(map(str, obj))) or 'nothing'})"
            )
    x = obj["data"]
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 2):
        desc = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x)
        raise ModelError(f"{what} {str(path)!r}: 'data' is a {desc}, expected uint8 N x 3072")
    if x.shape[1] != 3072:
        raise ModelError(f"{what} {str(path)!r}: 'data' rows have {x.shape[1]} values, not 3072")
    try:
        y = np.asarray(obj[label_key])
    except Exception:  # noqa: BLE001 - a ragged or odd label list
        y = np.asarray([], dtype=object)
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
        raise ModelError(
            f"{what} {str(path)!r}: {label_key!r} must be {len(x)} integers, one per image"
        )
    bad = np.flatnonzero((y < 0) | (y >= classes))
    if bad.size:
        raise ModelError(
            f"{what} {str(path)!r}: image {int(bad[0])} has label {int(y[bad[0]])}, "
            f"expected 0..{classes - 1}"
        )
    n = len(x) if limit is None else min(len(x), limit)
    return x[:n].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1), y[:n].astype(np.int64)
