"""Saving and loading models: the ``.json`` + ``.npz`` pair, shipped and zoo names, ONNX.

:func:`load_model` is the one entry point that knows every source of a model, so it
sits above :mod:`~xbar.network.model` (the model itself), :mod:`~xbar.network.zoo`
(shipped and generated models) and :mod:`~xbar.network.onnx_import`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .arrays import read_npz
from .model import Model, model_from_config
from .onnx_import import load_onnx
from .zoo import available_models, shipped_model_path, wrn

__all__ = ["save_model", "load_model"]


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".npz", ".json") else p
    return stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".npz")


def save_model(model: Model, path: str | Path) -> tuple[Path, Path]:
    """Write ``model`` as ``<path>.json`` + ``<path>.npz`` (a ``.npz``/``.json`` suffix is
    dropped first); returns both paths."""
    if not (callable(getattr(model, "config", None)) and callable(getattr(model, "state", None))):
        raise ModelError(f"save_model needs an xbar.network.Model, got {type(model).__name__}")
    from ..checks import write_files

    jpath, npath = _paths(path)
    text = (json.dumps(model.config(), indent=1) + "\n").encode()
    state = model.state()
    try:
        jpath.parent.mkdir(parents=True, exist_ok=True)
        # both files or neither (a full disk or Ctrl-C leaves no half-written model)
        write_files({jpath: lambda fh: fh.write(text), npath: lambda fh: np.savez(fh, **state)})
    except OSError as exc:
        raise ModelError(
            f"cannot write model to {jpath.parent}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
        ) from None
    return jpath, npath


_WRN = re.compile(r"^wrn-(\d+)-(\d+)$")


def load_model(name_or_path: str | Path, *, input_shape: tuple[int, ...] | None = None) -> Model:
    """Load a shipped model, a zoo model or a saved model.

    Parameters
    ----------
    name_or_path : str or Path
        ``"default"``, ``"default_noise"``, ``"default_hessian"``, ``"default_act4"``
        (shipped, trained on the digits; ``default_act4`` with 4-bit activations),
        ``"wrn-D-K"`` (a randomly initialised pre-activation Wide ResNet for 32x32x3
        inputs, seed 0), a path to a ``.json``/``.npz`` pair written by
        :func:`save_model` (either file, or the common stem), or an ``.onnx`` file
        (:func:`~xbar.network.load_onnx`; needs the ``onnx`` package), written
        ``FILE.onnx#OUTPUT`` to name the output that holds the logits.  Any other
        existing file is read as ONNX (a PyTorch or Keras checkpoint is named as such).
    input_shape : tuple of int, optional
        For an ONNX graph with dynamic image dimensions: the per-sample shape of the
        data (see :func:`~xbar.network.load_onnx`); ignored for other models.

    Examples
    --------
    >>> from xbar.network import load_model
    >>> load_model("default").input_shape
    (8, 8, 1)
    """
    name = str(name_or_path)
    if name.lower().endswith(".onnx"):
        return load_onnx(name, input_shape=input_shape)
    if ".onnx#" in name.lower() and not Path(name).exists():  # FILE.onnx#OUTPUT
        path, _, output = name.rpartition("#")
        return load_onnx(path, output=output, input_shape=input_shape)
    m = _WRN.match(name)
    if m:
        return wrn(depth=int(m.group(1)), width=int(m.group(2)))
    shipped = shipped_model_path(name)
    jpath, npath = _paths(shipped if shipped is not None else name)
    other = Path(name).is_file() and Path(name).suffix.lower() not in (".json", ".npz")
    if shipped is None and other and not (jpath.exists() and npath.exists()):
        return load_onnx(name, input_shape=input_shape)  # another suffix: ONNX, or a checkpoint
    if not jpath.exists() or not npath.exists():
        raise ModelError(
            f"no model {name!r}: expected {jpath} and {npath}",
            hint="a shipped name ("
            + ", ".join(available_models())
            + ") or the path of a model saved by save_model",
        )
    from ..checks import special_file

    if special_file(jpath) or special_file(npath):
        raise ModelError(f"model files {str(jpath)!r}, {str(npath)!r}: not regular files")
    try:
        cfg = json.loads(jpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{jpath}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read model description {str(jpath)!r}: {exc}") from None
    arrays = read_npz(npath, "model weights")
    return model_from_config(cfg, arrays, source=str(jpath), arrays_source=str(npath))
