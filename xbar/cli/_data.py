"""Data-set flags shared by the network commands (``--dataset`` and how images are prepared)."""

from __future__ import annotations

import argparse

DATASET_HELP = (
    "digits (default); synthetic-HxWxC, e.g. synthetic-32x32x3 (random images, "
    "timing only); a data set "
    "on disk: cifar10:PATH, cifar100:PATH, mnist:PATH, fashion-mnist:PATH, "
    "kmnist:PATH, emnist:PATH, svhn:PATH (test_32x32.mat), "
    "folder:PATH (class sub-folders of images), npz:PATH (x, y), npy:PATH (x.npy, "
    "y.npy), csv:PATH (a label column and features per row) or an .npz with the six "
    "split arrays"
)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for data sets read from disk (they override the config file's ``[data]`` table)."""
    g = parser.add_argument_group(
        "data set preparation (data sets on disk; override the config file's [data] table)"
    )
    g.add_argument(
        "--mean",
        default=None,
        metavar="M[,M,M]",
        help="per-channel mean subtracted from pixels scaled to [0, 1]",
    )
    g.add_argument("--std", default=None, metavar="S[,S,S]", help="per-channel std divisor")
    g.add_argument("--resize", default=None, metavar="H,W", help="resize images (bilinear)")
    g.add_argument("--crop", default=None, metavar="H,W", help="centre-crop images")
    g.add_argument(
        "--layout",
        default=None,
        metavar="NHWC|NCHW",
        help="layout of the images in an .npz (default NHWC)",
    )
    g.add_argument(
        "--label", default=None, metavar="fine|coarse", help="CIFAR-100 labels (default fine)"
    )


def data_options(args, calibration_size: int | None = None):
    """DataOptions from the config file's ``[data]`` table, then the flags."""
    import tomllib

    from ..errors import ConfigError
    from ..network.datasets import DataOptions

    table: dict = {}
    if getattr(args, "config", None):
        try:
            with open(args.config, "rb") as fh:
                table = dict(tomllib.load(fh).get("data", {}) or {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read [data] of {args.config!r}: {exc}") from None
    flags = {
        "mean": args.mean,
        "std": args.std,
        "size": args.resize,
        "crop": args.crop,
        "layout": args.layout,
        "label": args.label,
        "limit": getattr(args, "limit", None),
    }
    table.update({k: v for k, v in flags.items() if v is not None})
    if calibration_size and "train_limit" not in table:
        table["train_limit"] = calibration_size  # read only the calibration images
    return DataOptions.from_dict(table, source="--config [data] / flags")


def is_builtin(name: str) -> bool:
    """Whether ``--dataset`` names an embedded or generated data set (no file options)."""
    return name == "digits" or name.startswith("synthetic-")


def refuse_preparation_flags(args, name: str) -> None:
    """A ConfigError when preparation flags are given for a built-in data set."""
    flags = ("--mean", "--std", "--resize", "--crop", "--layout", "--label")
    given = [f for f in flags if getattr(args, f[2:], None) is not None]
    if given:
        from ..errors import ConfigError

        raise ConfigError(
            f"{', '.join(given)} apply only to data sets read from disk, not to the "
            f"built-in data set {name!r}",
            hint="give --dataset cifar10:PATH, mnist:PATH, folder:PATH or npz:PATH, "
            "or drop the flag",
        )


def load_model_for_data(args, calibration_size: int | None = None):
    """``--model``, loaded; an ONNX graph with dynamic image dimensions (exported with
    ``dynamic_axes`` for the height and width) is imported for ``--dataset``'s image size."""
    from ..network.data import load_dataset
    from ..network.model_io import load_model
    from ..network.onnx_import import DynamicInputError

    try:
        return load_model(args.model)
    except DynamicInputError:
        name = str(args.dataset)
        opts = None if is_builtin(name) else data_options(args, calibration_size)
        shape = load_dataset(name, opts).input_shape
    return load_model(args.model, input_shape=shape)


def load_for_model(args, model, calibration_size: int | None = None):
    """The data set of ``--dataset`` prepared for ``model`` (flat models get flat images).

    ``model`` is a loaded model or a name/path (loaded only to shape the images).
    """
    from ..network.data import load_dataset, shaped_for

    name = str(args.dataset)
    if is_builtin(name):
        refuse_preparation_flags(args, name)
        dataset = load_dataset(name)
    else:
        dataset = load_dataset(name, data_options(args, calibration_size))
    if isinstance(model, str):
        from ..network import load_model

        model = load_model(model)
    if name.startswith("synthetic-") and 0 < model.classes < dataset.classes:
        from ..network.data import synthetic_dataset  # random labels: the model's classes

        dataset = synthetic_dataset(dataset.input_shape, classes=model.classes)
    return shaped_for(dataset, model)
