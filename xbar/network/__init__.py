"""Neural networks on simulated crossbar arrays.

Images are NHWC throughout.  Core (layers, models, data, training, noise model):

>>> from xbar.network import load_model, load_dataset
>>> model = load_model("default")
>>> data = load_dataset("digits")
>>> model.predict(data.x_test[:4]).shape
(4,)
"""

from __future__ import annotations

import importlib
import sys
import types

# Public names -> the submodule that defines them, imported on first use (PEP 562), so that
# importing one submodule (``xbar --help`` reads :mod:`.config` for the flags of ``xbar
# infer``) does not import the whole network stack.
_EXPORTS = {
    "config": ("AnalogConfig",),
    "data": ("Dataset", "load_dataset", "shaped_for", "synthetic_images"),
    "datasets": ("DataOptions",),
    "evaluate": ("EvaluationResult", "LayerStats", "evaluate"),
    "layers": (
        "AvgPool2D", "BatchNorm", "Conv2D", "Dense", "Flatten", "GlobalAvgPool", "Layer",
        "MaxPool2D", "ReLU", "Residual", "argmax", "cross_entropy", "softmax",
    ),
    "mapping": ("map_weights",),
    "model": ("Model", "Node"),
    "model_io": ("load_model", "save_model"),
    "noise": ("draw_weight_noise", "perturb_model", "weight_range_sigma"),
    "onnx_export": ("save_onnx", "to_onnx"),
    "onnx_import": ("load_onnx",),
    "ops": (
        "Activation", "Binary", "Concat", "ConstOp", "Pad", "ReduceMean", "Reshape",
        "Softmax", "Transpose",
    ),
    "sweep": ("SweepTable", "plot_sweep", "read_sweep", "sweep"),
    "tiles": ("TransferCache",),
    "zoo": ("default_architecture", "wrn"),
}  # fmt: skip
_LAZY = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The module type of this package: ``evaluate`` and ``sweep`` stay the functions.

    Importing a submodule binds it as an attribute of its package; the functions
    :func:`evaluate` and :func:`sweep` share their submodules' names, so the first
    ``import xbar.network.evaluate`` anywhere would hide the function.  (The eager
    re-exports this package used to have bound the functions after the submodules.)
    """

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
