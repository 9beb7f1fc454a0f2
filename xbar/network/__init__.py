"""Neural networks on simulated crossbar arrays.

Images are NHWC throughout.  Core (layers, models, data, training, noise model):

>>> from xbar.network import load_model, load_dataset
>>> model = load_model("default")
>>> data = load_dataset("digits")
>>> model.predict(data.x_test[:4]).shape
(4,)
"""

# ruff: noqa: F401  (re-exports)
from .config import AnalogConfig
from .data import Dataset, load_dataset, shaped_for, synthetic_images
from .datasets import DataOptions
from .evaluate import EvaluationResult, LayerStats, evaluate
from .layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool,
    Layer,
    MaxPool2D,
    ReLU,
    Residual,
    argmax,
    cross_entropy,
    softmax,
)
from .mapping import map_weights
from .model import Model, Node
from .model_io import load_model, save_model
from .noise import draw_weight_noise, perturb_model, weight_range_sigma
from .onnx_export import save_onnx, to_onnx
from .onnx_import import load_onnx
from .ops import Activation, Binary, Concat, ConstOp, Pad, ReduceMean, Reshape, Softmax, Transpose
from .sweep import SweepTable, plot_sweep, read_sweep, sweep
from .tiles import TransferCache
from .zoo import default_architecture, wrn
