"""Image data sets from disk, in their standard distribution formats.

``load_dataset("cifar10:PATH")`` and friends (see :func:`xbar.network.load_dataset`):

``cifar10:PATH``
    The CIFAR-10 *binary* distribution: ``PATH`` is ``cifar-10-batches-bin/`` (or
    its parent) with ``data_batch_1.bin`` ... ``data_batch_5.bin`` and
    ``test_batch.bin``; records of 1 label byte + 3072 pixel bytes (R, G, B planes
    of 32x32).  Or the *python* distribution (what torchvision downloads):
    ``cifar-10-batches-py/`` with ``data_batch_1`` ... ``test_batch``, pickles read by
    a restricted unpickler that builds only plain containers and numpy arrays
    (:mod:`xbar.network.safe_pickle`; nothing else in the file is ever run).
``cifar100:PATH``
    The CIFAR-100 binary distribution: ``cifar-100-binary/`` with ``train.bin`` and
    ``test.bin``; records of a coarse and a fine label byte + 3072 pixel bytes;
    ``label = "fine"`` (100 classes, default) or ``"coarse"`` (20 classes).  Or the
    python distribution ``cifar-100-python/`` (``train``, ``test``), read as above.
``mnist:PATH`` / ``fashion-mnist:PATH`` / ``kmnist:PATH``
    idx files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, plain or ``.gz``.
``emnist:PATH``
    EMNIST's ``emnist-<split>-test-images-idx3-ubyte`` ... (PATH: their folder, or the
    prefix ``.../emnist-<split>``); images as stored (transposed), as torchvision reads them.
``svhn:PATH``
    SVHN's ``test_32x32.mat`` (and ``train_32x32.mat``); label 10 is the digit 0.
``folder:PATH``
    One sub-folder of images per class (PNG, JPEG, ... through Pillow), classes in
    sorted folder-name order, images found as torchvision's ``ImageFolder`` finds them
    (in sub-folders too, its extensions); ``PATH/train/`` and ``PATH/test/`` (or
    ``val/``, ``valid/``, ``validation/``) when present, else every image is a test
    image.
``npz:PATH`` (or a path ending in ``.npz``)
    Arrays ``x`` and ``y`` (test images and labels; ``x_train``/``y_train``
    optional), or the six split arrays ``x_train, y_train, x_val, y_val, x_test,
    y_test``; other usual names are read as these (``X``/``y``, ``images``/``labels``,
    ``data``/``targets``, ``test_images``, ``X_train``, ``np.savez(path, images,
    labels)``'s ``arr_0``/``arr_1``; a validation split is the test split when there
    is no test split).  Images NHWC or NCHW (``layout``), 8-bit integers (0..255, any
    integer dtype), uint16 (0..65535) or floats (taken as they are); labels integers,
    integral floats or one-hot rows.
``npy:PATH``
    A folder of ``.npy`` files named as those arrays (``x_test.npy``, ``y_test.npy``, ...).
``csv:PATH`` (or a path ending in ``.csv``)
    One sample per row: a label column and numeric features (Kaggle's MNIST CSVs,
    ``DataFrame.to_csv``); a ``.csv`` file or a folder with ``*test.csv`` and optionally
    ``*train.csv``; see :mod:`xbar.network.csvdata`.  Values are taken as they are.

Pixels are scaled to [0, 1] (8-bit / 255, 16-bit / 65535; 16-bit image files too),
then optionally resized (bilinear, ``size``), centre-cropped (``crop``) and
normalised per channel (``(x - mean) / std``).  Images are NHWC float64.  Without a
training split, calibration (ADC and input ranges) uses the test images themselves.
``limit`` / ``train_limit`` read only the first images of each split (the files are
read lazily where the format allows).  Errors name the file and the expected form.
"""

from __future__ import annotations

import gzip
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelError
from .arrays import Dataset, read_npz
from .csvdata import csv_files, read_csv_split

__all__ = ["DataOptions", "load_from_disk", "FORMATS"]

FORMATS = (
    "cifar10",
    "cifar100",
    "mnist",
    "fashion-mnist",
    "kmnist",
    "emnist",
    "svhn",
    "folder",
    "npz",
    "npy",
    "csv",
)

#: classes of each EMNIST split (``letters``: labels 1..26, 0 unused, as torchvision has it)
EMNIST_CLASSES = {
    "byclass": 62,
    "bymerge": 47,
    "balanced": 47,
    "letters": 27,
    "digits": 10,
    "mnist": 10,
}
_CIFAR_BYTES = 3072


@dataclass(frozen=True)
class DataOptions:
    """How images from disk are read and prepared.

    Attributes
    ----------
    mean, std : tuple of float, optional
        Per-channel normalisation ``(x - mean) / std`` on pixels scaled to [0, 1]
        (one value applies to every channel).
    size : tuple (H, W), optional
        Resize every image to ``H x W`` (bilinear) before cropping.
    crop : tuple (H, W), optional
        Centre crop to ``H x W``.
    layout : {"NHWC", "NCHW"}
        Layout of image arrays in ``.npz`` files.
    label : {"fine", "coarse"}
        CIFAR-100 labels.
    limit, train_limit : int, optional
        Read at most this many test / training images.
    """

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    size: tuple[int, int] | None = None
    crop: tuple[int, int] | None = None
    layout: str = "NHWC"
    label: str = "fine"
    limit: int | None = None
    train_limit: int | None = None

    @classmethod
    def from_dict(cls, data: dict, source: str = "data options") -> DataOptions:
        """Options from a ``[data]`` table or flags (``mean = [0.49, 0.48, 0.45]``, ...)."""
        known = {"mean", "std", "size", "crop", "layout", "label", "limit", "train_limit"}
        kw = {}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(
                    f"{source}: unknown data option {key!r}",
                    hint="one of " + ", ".join(sorted(known)),
                )
            if value is None:
                continue
            if key in ("mean", "std"):
                kw[key] = _floats(value, f"{source}: {key}")
            elif key in ("size", "crop"):
                kw[key] = _pair(value, f"{source}: {key}")
            elif key in ("limit", "train_limit"):
                if isinstance(value, bool) or not isinstance(value, int | str):
                    raise ConfigError(f"{source}: {key} must be a positive integer")
                try:
                    v = int(value)
                except ValueError:
                    raise ConfigError(f"{source}: {key} {value!r} is not an integer") from None
                if v < 1:
                    raise ConfigError(f"{source}: {key} must be at least 1, got {v}")
                kw[key] = v
            else:
                kw[key] = str(value).upper() if key == "layout" else str(value).lower()
        opts = cls(**kw)
        opts.check(source)
        return opts

    def check(self, source: str = "data options") -> None:
        if self.layout not in ("NHWC", "NCHW"):
            raise ConfigError(f"{source}: layout {self.layout!r} must be NHWC or NCHW")
        if self.label not in ("fine", "coarse"):
            raise ConfigError(f"{source}: label {self.label!r} must be fine or coarse")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ConfigError(f"{source}: std values must be > 0, got {list(self.std)}")


def _floats(value, what: str) -> tuple[float, ...]:
    items = (
        value.split(",")
        if isinstance(value, str)
        else (value if isinstance(value, list | tuple) else [value])
    )
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected numbers, e.g. 0.49,0.48,0.45, got {value!r}") from None
    if not out or not all(np.isfinite(out)):
        raise ConfigError(f"{what}: expected finite numbers, got {value!r}")
    return out


def _pair(value, what: str) -> tuple[int, int]:
    items = (
        re.split(r"[x,]", value)
        if isinstance(value, str)
        else (value if isinstance(value, list | tuple) else [value, value])
    )
    try:
        out = tuple(int(v) for v in items)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected H,W (e.g. 32,32), got {value!r}") from None
    if len(out) == 1:
        out = out * 2
    if len(out) != 2 or min(out) < 1:
        raise ConfigError(f"{what}: expected two positive integers H,W, got {value!r}")
    return out


# ------------------------------------------------------------------------------ readers
def _read(path: Path, what: str, header: int, size) -> bytes:
    """The first ``header`` bytes of ``path`` (gunzipped for ``.gz``), then as many as
    ``size(head)`` says follow, plus one (to tell a longer file): a header is checked
    before its body is read, so a small .gz that inflates to gigabytes is never read
    whole."""
    from ..checks import special_file

    kind = special_file(path)
    if kind:
        raise ModelError(f"{what} {str(path)!r} is {kind}, not a file")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            head = fh.read(header)
            return head + fh.read(size(head) + 1)
    except (OSError, EOFError) as exc:
        raise ModelError(f"cannot read {what} {str(path)!r}: {exc}") from None


def _cifar_records(
    path: Path, head: int, classes: int, limit: int | None, label_index: int
) -> tuple[np.ndarray, np.ndarray]:
    rec = head + _CIFAR_BYTES
    if not path.is_file():
        raise ModelError(f"CIFAR file {str(path)!r} does not exist")
    size = path.stat().st_size
    if size == 0 or size % rec:
        raise ModelError(
            f"CIFAR file {str(path)!r} has {size} bytes, not a whole number of "
            f"{rec}-byte records ({head} label byte(s) + 3072 pixel bytes)",
            hint="give the folder of the binary distribution (cifar-10-batches-bin, "
            "cifar-100-binary) or of the python one (cifar-10-batches-py, cifar-100-python)",
        )
    n = size // rec if limit is None else min(size // rec, limit)
    with open(path, "rb") as fh:
        raw = np.frombuffer(fh.read(n * rec), dtype=np.uint8).reshape(n, rec)
    y = raw[:, label_index].astype(np.int64)
    if y.size and y.max() >= classes:
        bad = int(np.argmax(y >= classes))
        raise ModelError(
            f"CIFAR file {str(path)!r}: record {bad} has label {int(y[bad])}, "
            f"expected 0..{classes - 1}"
        )
    x = raw[:, head:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, y


def _cifar_python(root: Path, kind: str, opts: DataOptions):
    """The python (pickled) distribution, or None when ``root`` holds none."""
    from .safe_pickle import cifar_python_batch

    ten = kind == "cifar10"
    sub = root / ("cifar-10-batches-py" if ten else "cifar-100-python")
    root = sub if sub.is_dir() else root
    test = root / ("test_batch" if ten else "test")
    if not test.is_file():
        return None
    train = [root / f"data_batch_{k}" for k in range(1, 6)] if ten else [root / "train"]
    key, classes = ("labels", 10) if ten else (f"{opts.label}_labels", 100)
    classes = 20 if key == "coarse_labels" else classes
    x_test, y_test = cifar_python_batch(test, key, classes, opts.limit)
    x_train, y_train = _train_batches(
        train, opts.train_limit, lambda f, n: cifar_python_batch(f, key, classes, n)
    )
    return x_train, y_train, x_test, y_test, classes


def _train_batches(files, limit, read):
    """The training images and labels of the existing ``files`` in order, at most ``limit``
    in all (None: all), each file read by ``read(file, at_most)``; (None, None) if none."""
    xs, ys, left = [], [], limit
    for f in files:
        if not f.is_file() or left == 0:
            continue
        x, y = read(f, left)
        xs.append(x)
        ys.append(y)
        left = None if left is None else left - len(y)
    if not xs:
        return None, None
    return np.concatenate(xs), np.concatenate(ys)


def _cifar(root: Path, kind: str, opts: DataOptions):
    if not (root / ("cifar-10-batches-bin" if kind == "cifar10" else "cifar-100-binary")).is_dir():
        parts = _cifar_python(root, kind, opts)
        if parts is not None:
            return parts
    if kind == "cifar10":
        sub = root / "cifar-10-batches-bin"
        root = sub if sub.is_dir() else root
        train = [root / f"data_batch_{k}.bin" for k in range(1, 6)]
        test, head, classes, li = root / "test_batch.bin", 1, 10, 0
    else:
        sub = root / "cifar-100-binary"
        root = sub if sub.is_dir() else root
        train = [root / "train.bin"]
        test, head = root / "test.bin", 2
        classes, li = (100, 1) if opts.label == "fine" else (20, 0)
    if not test.is_file():
        folder = "cifar-10-batches-bin" if kind == "cifar10" else "cifar-100-binary"
        python = "cifar-10-batches-py" if kind == "cifar10" else "cifar-100-python"
        raise ModelError(
            f"{kind}: {str(test)!r} does not exist",
            hint=f"PATH is the folder of the binary distribution ({folder}) or of the "
            f"python one ({python}), or their parent",
        )
    x_test, y_test = _cifar_records(test, head, classes, opts.limit, li)
    x_train, y_train = _train_batches(
        train, opts.train_limit, lambda f, n: _cifar_records(f, head, classes, n, li)
    )
    return x_train, y_train, x_test, y_test, classes


def _idx_body_size(head: bytes, rank: int) -> int:
    """Bytes the idx header ``head`` declares (0 for a short or wrong header, which the
    caller names); more than the memory available is refused here, before reading."""
    from ..checks import available_memory

    if len(head) < 4 + 4 * rank:
        return 0
    declared = math.prod(int.from_bytes(head[4 + 4 * k : 8 + 4 * k], "big") for k in range(rank))
    memory = available_memory()
    return 0 if memory is not None and declared > memory else declared


def _idx(path: Path, rank: int, limit: int | None) -> np.ndarray:
    data = _read(path, "idx file", 4 + 4 * rank, lambda head: _idx_body_size(head, rank))
    magic = 0x800 + rank
    if len(data) < 4 + 4 * rank or int.from_bytes(data[:4], "big") != magic:
        raise ModelError(
            f"{str(path)!r} is not an idx{rank} file of unsigned bytes (magic 0x{magic:08x})",
            hint="MNIST/Fashion-MNIST idx format",
        )
    dims = [int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(rank)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank)
    declared = math.prod(dims)  # Python integers: no overflow for any header
    if body.size != declared:
        read_all = _idx_body_size(data, rank) == declared  # else refused before reading
        follow = (
            "more bytes follow"
            if body.size > declared
            else f"{body.size} bytes follow"
            if read_all
            else "that is more than the memory available (nothing more was read)"
        )
        raise ModelError(
            f"idx file {str(path)!r}: header says {dims} ({declared} bytes) but {follow}"
        )
    arr = body.reshape(dims)
    return arr if limit is None else arr[:limit]


def _find(root: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (root / name).is_file():
            return root / name
    return None


def _mnist(root: Path, kind: str, opts: DataOptions):
    """MNIST, Fashion-MNIST and KMNIST: the same four idx files, 10 classes."""
    parts = _idx_pair(root, "train", "t10k", kind, opts)
    for y in parts[1::2]:
        if y is not None and y.size and y.max() > 9:
            raise ModelError(f"{kind}: label {int(y.max())} in {str(root)!r}, expected 0..9")
    return (*parts, 10)


def _idx_pair(root: Path, train: str, test: str, kind: str, opts: DataOptions):
    """Training and test images (N, H, W, 1) and labels of ``<prefix>-images-idx3-ubyte``
    and ``<prefix>-labels-idx1-ubyte`` (plain or .gz) in ``root``; no training files
    give None, None."""
    parts = {}
    for split, prefix in (("train", train), ("test", test)):
        img, lab = (
            _find(root, f"{prefix}-images-idx3-ubyte"),
            _find(root, f"{prefix}-labels-idx1-ubyte"),
        )
        if split == "test" and (img is None or lab is None):
            raise ModelError(
                f"{kind}: {str(root)!r} lacks {prefix}-images-idx3-ubyte and/or "
                f"{prefix}-labels-idx1-ubyte (plain or .gz)"
            )
        if img is None or lab is None:
            parts[split] = (None, None)
            continue
        limit = opts.limit if split == "test" else opts.train_limit
        x, y = _idx(img, 3, limit), _idx(lab, 1, limit).astype(np.int64)
        if len(x) != len(y):
            raise ModelError(
                f"{kind}: {img.name} holds {len(x)} images but {lab.name} {len(y)} labels"
            )
        parts[split] = (x[..., None], y)
    return (*parts["train"], *parts["test"])


#: the image extensions torchvision's ImageFolder reads (other files are left out)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _image_files(d: Path) -> list[Path]:
    """The image files of class folder ``d`` and its sub-folders, in torchvision's
    ``ImageFolder`` order (``sorted(os.walk(d))``, then sorted names): files with another
    extension (``Thumbs.db``, ``README.txt``, ``.gif``) and hidden files (``.DS_Store``,
    macOS's ``._img.jpg``) are left out."""
    import os

    if not d.is_dir():
        return []
    out = []
    for top, _, names in sorted(os.walk(d, followlinks=True)):
        out += [
            Path(top) / n
            for n in sorted(names)
            if not n.startswith(".") and n.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return [p for p in out if p.is_file()]


def _pixels(im, mode: str | None) -> tuple[np.ndarray, str]:
    """One image as (H, W, C) pixels: uint8, or floats in [0, 1] for 16-bit and
    32-bit integer images (scaled by 65535: converting them to 8 bits would clip every
    value above 255 to white) and float images (taken as they are)."""
    wide = im.mode.startswith("I") or im.mode == "F"
    mode = mode or ("L" if im.mode in ("L", "1", "LA") or wide else "RGB")
    if wide:
        arr = np.asarray(im, dtype=float)
        arr = arr / 65535.0 if im.mode != "F" else arr
        arr = arr[..., None] if mode == "L" else np.repeat(arr[..., None], 3, axis=-1)
        return arr, mode
    arr = np.asarray(im.convert(mode))
    return (arr[..., None] if arr.ndim == 2 else arr), mode


def _images(folder: Path, classes: list[str], limit: int | None, mode: str | None):
    from PIL import Image, UnidentifiedImageError

    xs, ys = [], []
    for c, name in enumerate(classes):
        for f in _image_files(folder / name):
            if limit is not None and len(xs) >= limit:
                break
            try:
                with Image.open(f) as im:
                    arr, mode = _pixels(im, mode)
            except Image.DecompressionBombError as exc:  # Pillow's guard, before decoding
                raise ModelError(
                    f"image {str(f)!r} is too large to read: {exc}",
                    hint="a damaged file, or resize it before use",
                ) from None
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise ModelError(f"cannot read image {str(f)!r}: {exc}") from None
            xs.append(arr)
            ys.append(c)
    return xs, np.asarray(ys, dtype=np.int64), mode


def _folder_mode(dirs: list[Path], classes: list[str]) -> str | None:
    """``"RGB"`` when any image of the folders has colour (RGB, RGBA, palette, CMYK, ...),
    else None (grayscale: each image keeps one channel).  Mixed folders are all read as
    RGB, as torchvision's ImageFolder reads every image (grayscale ones get three equal
    channels, alpha is dropped); only the headers are read here."""
    from PIL import Image, UnidentifiedImageError

    gray = ("L", "1", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
    for d in dirs:
        for name in classes:
            for f in _image_files(d / name):
                try:
                    with Image.open(f) as im:
                        if im.mode not in gray:
                            return "RGB"
                except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
                    continue  # named when the image is read
    return None


def _same_classes(train: Path, test: Path, classes: list[str]) -> None:
    """Refuse train/ and test/ trees whose class folders differ (their labels would not
    mean the same classes: each split's labels follow its own sorted folder names)."""
    found = sorted(p.name for p in train.iterdir() if p.is_dir())
    if found != classes:
        only_train = sorted(set(found) - set(classes))
        only_test = sorted(set(classes) - set(found))
        raise ModelError(
            f"image folders {str(train)!r} and {str(test)!r} hold different classes"
            + (f"; only in train: {only_train}" if only_train else "")
            + (f"; only in test: {only_test}" if only_test else ""),
            hint="give both splits the same class sub-folders",
        )


def _folder(root: Path, opts: DataOptions):
    if not root.is_dir():
        raise ModelError(f"image folder {str(root)!r} does not exist")
    try:
        import PIL  # noqa: F401 - matplotlib's dependency; reads PNG, JPEG, BMP, TIFF, ...
    except ImportError:
        raise ModelError(
            "reading image folders needs Pillow (normally installed with matplotlib)",
            hint="pip install pillow",
        ) from None
    held = next((n for n in ("test", "val", "valid", "validation") if (root / n).is_dir()), None)
    split = (root / "train").is_dir() and held is not None  # ImageNet's train/ and val/ too
    test_dir = root / held if split else root
    classes = sorted(p.name for p in test_dir.iterdir() if p.is_dir())
    if not classes:
        raise ModelError(
            f"image folder {str(test_dir)!r} has no class sub-folders",
            hint="PATH/<class>/<image>.png (or PATH/train/... and PATH/test/...)",
        )
    if split:
        _same_classes(root / "train", test_dir, classes)
    for name in classes:  # torchvision's ImageFolder refuses them too
        if not _image_files(test_dir / name):
            raise ModelError(
                f"class folder {str(test_dir / name)!r} holds no images",
                hint="labels follow the sorted class-folder names, so an empty class "
                "shifts them: remove the folder or add its images",
            )
    dirs = [test_dir, root / "train"] if split else [test_dir]
    mode = _folder_mode(dirs, classes)
    x_test, y_test, _ = _images(test_dir, classes, opts.limit, mode)
    if not x_test:
        raise ModelError(f"image folder {str(test_dir)!r} holds no images")
    x_train = y_train = None
    if split:
        x_train, y_train, _ = _images(root / "train", classes, opts.train_limit, mode)
    return x_train, y_train, x_test, y_test, len(classes)


# --------------------------------------------------------------------------- preparation
def _prepare(x, opts: DataOptions, what: str) -> np.ndarray:
    """Stack, scale to [0, 1], resize, crop and normalise images into NHWC float64."""

    def unit(a: np.ndarray) -> np.ndarray:
        return _unit_pixels(a, what)

    if isinstance(x, list):
        imgs = [unit(a) for a in x]
        shapes = {a.shape for a in imgs}
        if len(shapes) > 1:
            if opts.size is None:
                raise ModelError(
                    f"{what}: images have different sizes {sorted(shapes)[:3]}",
                    hint="give size (--resize H,W) to resize them all",
                )
            imgs = [_resize(a[None], opts.size)[0] for a in imgs]
        x = np.stack(imgs)
    else:
        x = unit(np.asarray(x))
    _check_finite(x, what)
    if x.ndim == 2 and (opts.size is not None or opts.crop is not None):
        raise ModelError(
            f"{what}: resize and crop apply to images; this data set holds feature vectors "
            f"of {x.shape[1]} values"
        )
    if opts.size is not None and x.shape[1:3] != tuple(opts.size):
        x = _resize(x, opts.size)
    if opts.crop is not None:
        H, W = x.shape[1:3]
        h, w = opts.crop
        if h > H or w > W:
            raise ModelError(f"{what}: crop {h}x{w} is larger than the {H}x{W} images")
        t, left = (H - h) // 2, (W - w) // 2
        x = x[:, t : t + h, left : left + w]
    C = x.shape[-1]
    for name, vals in (("mean", opts.mean), ("std", opts.std)):
        if vals is not None and len(vals) not in (1, C):
            nchw = opts.layout == "NHWC" and x.shape[1] == len(vals)
            raise ModelError(
                f"{what}: {name} has {len(vals)} values for {C}-channel images "
                f"(images of shape {x.shape[1:]})",
                hint=f"the images look channels-first ({x.shape[1]} channels): read them with "
                '--layout NCHW (layout = "NCHW")'
                if nchw
                else f"give one value, or one per channel ({C})",
            )
    if opts.mean is not None:
        x = x - np.asarray(opts.mean)
    if opts.std is not None:
        x = x / np.asarray(opts.std)
    return np.ascontiguousarray(x)


def _unit_pixels(a: np.ndarray, what: str) -> np.ndarray:
    """Pixels as floats: uint8 / 255, uint16 / 65535, other integer arrays holding 0..255
    (8-bit pixels saved as int64, as ``np.array(list_of_ints)`` does) / 255; booleans 0 / 1,
    floats as they are.  Any other integer range is ambiguous and refused (NaN and
    infinite pixels are refused by :func:`_check_finite`)."""
    if a.dtype == np.uint16:
        return a.astype(float) / 65535.0
    if a.dtype.kind in "iu":
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 255:
            raise ModelError(
                f"{what}: integer pixels of dtype {a.dtype} range over {lo}..{hi}; "
                "expected 8-bit values 0..255 (any integer dtype) or uint16 (0..65535)",
                hint="save 8-bit images as uint8, or floats already scaled to [0, 1]",
            )
        return a.astype(float) / 255.0
    return a.astype(float)


def _check_finite(x: np.ndarray, what: str) -> None:
    if not np.isfinite(x).all():
        at = tuple(int(k) for k in np.argwhere(~np.isfinite(x))[0])
        raise ModelError(
            f"{what}: image {at[0]} has pixel {float(x[at])} at (row, column, channel) "
            f"{at[1:]}; pixels must be finite numbers"
        )


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of NHWC images (pixel centres aligned, edges clamped)."""
    B, H, W, C = x.shape
    h, w = size
    if (h, w) == (H, W):
        return x

    def grid(n_out, n_in):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, pos - i0

    r0, r1, fr = grid(h, H)
    c0, c1, fc = grid(w, W)
    top = x[:, r0] * (1 - fr)[None, :, None, None] + x[:, r1] * fr[None, :, None, None]
    return top[:, :, c0] * (1 - fc)[None, None, :, None] + top[:, :, c1] * fc[None, None, :, None]


def _csv(root: Path, opts: DataOptions):
    """Feature rows and labels of ``*test.csv`` (and ``*train.csv``), see :mod:`.csvdata`."""
    train, test = csv_files(root)
    x, y = read_csv_split(test, opts.limit)
    xt, yt = read_csv_split(train, opts.train_limit) if train is not None else (None, None)
    if xt is not None and xt.shape[1] != x.shape[1]:
        raise ModelError(
            f"csv: {train.name} has {xt.shape[1]} features per row, {test.name} {x.shape[1]}"
        )
    classes = int(max(v.max() for v in (y, yt) if v is not None)) + 1
    return xt, yt, x, y, classes


def _npz(path: Path, opts: DataOptions):
    return _arrays(read_npz(path, "data set file"), path, opts)


def _npy(root: Path, opts: DataOptions):
    """A folder of ``.npy`` files named as the arrays of an ``.npz`` (``x.npy``, ``y.npy``,
    or ``x_test.npy``, ``y_test.npy`` and optionally ``x_train.npy``, ``y_train.npy``);
    read without pickle, memory-mapped so that ``limit`` reads only the first images."""
    if not root.is_dir():
        raise ModelError(f"npy: folder {str(root)!r} does not exist")
    arr = {}
    for f in sorted(root.glob("*.npy")):
        words = set(re.split(r"[^a-z0-9]+", f.stem.lower()))
        if not words & (_IMAGE_WORDS | _LABEL_WORDS) and f.stem not in ("arr_0", "arr_1"):
            continue  # not an array of the data set
        try:
            arr[f.stem] = np.load(f, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ModelError(f"cannot read array file {str(f)!r}: {exc}") from None
    return _arrays(arr, root, opts)


#: words that name the images and the labels in users' array files (lower case)
_IMAGE_WORDS = {"x", "images", "image", "imgs", "img", "data", "inputs", "input", "features"}
_LABEL_WORDS = {"y", "labels", "label", "targets", "target", "classes"}
_SPLIT_WORDS = {
    "train": "train",
    "training": "train",
    "test": "test",
    "testing": "test",
    "val": "val",
    "valid": "val",
    "validation": "val",
}


def alias_array_names(arr: dict, path: Path) -> dict:
    """``arr`` with its arrays named as xbar reads them (``x``, ``y``, ``x_train``, ...)
    when they are named otherwise: ``X``/``y`` (scikit-learn), ``images``/``labels``,
    ``data``/``targets``, ``test_images``, ``X_train``, ... and ``np.savez(path, images,
    labels)``'s ``arr_0``/``arr_1`` (the 1-D one the labels).  Two arrays that would take
    one name are refused, naming both."""
    if "x" in arr or "x_test" in arr:
        return arr
    if sorted(arr) == ["arr_0", "arr_1"]:
        a, b = arr["arr_0"], arr["arr_1"]
        if np.ndim(b) == 1 and np.ndim(a) >= 2:
            return {"x": a, "y": b}
        if np.ndim(a) == 1 and np.ndim(b) >= 2:
            return {"x": b, "y": a}
    out, source = {}, {}
    for key, value in arr.items():
        words = set(re.split(r"[^a-z0-9]+", key.lower()))
        roles = [r for r, ws in (("x", _IMAGE_WORDS), ("y", _LABEL_WORDS)) if words & ws]
        splits = {_SPLIT_WORDS[w] for w in words if w in _SPLIT_WORDS}
        if len(roles) != 1 or len(splits) > 1:
            continue
        name = roles[0] + ("" if not splits or splits == {"test"} else "_" + splits.pop())
        if name in out:
            raise ModelError(
                f"data set file {str(path)!r}: arrays {source[name]!r} and {key!r} both look "
                f"like the {'images' if name[0] == 'x' else 'labels'}"
                + (f" of the {name[2:]} split" if "_" in name else ""),
                hint="name them x and y (x_train, y_train for a training split)",
            )
        out[name], source[name] = value, key
    if "x" not in out and "x_val" in out and "y_val" in out:  # train and val only
        out["x"], out["y"] = out.pop("x_val"), out.pop("y_val")
    return out if "x" in out else arr


def _arrays(arr: dict, path: Path, opts: DataOptions):
    """Images and labels from named arrays (an ``.npz`` or a folder of ``.npy`` files)."""
    arr = alias_array_names(arr, path)
    if "x" not in arr and "x_test" not in arr:
        raise ModelError(
            f"data set file {str(path)!r} has arrays {sorted(arr)}; expected x "
            "and y (optionally x_train, y_train) or the six split arrays",
            hint="numpy.savez(path, x=images, y=labels)",
        )
    xk, yk = ("x", "y") if "x" in arr else ("x_test", "y_test")
    out = []
    for xkey, ykey, limit in (("x_train", "y_train", opts.train_limit), (xk, yk, opts.limit)):
        if xkey not in arr:
            out += [None, None]
            continue
        if ykey not in arr:
            raise ModelError(f"data set file {str(path)!r} has {xkey!r} but no {ykey!r}")
        x, y = arr[xkey], _labels(arr[ykey], path, ykey)
        if x.ndim == 0 or y.ndim != 1 or len(y) != len(x):
            raise ModelError(
                f"data set file {str(path)!r}: {ykey} has shape {y.shape} but {xkey} has "
                f"shape {x.shape}; expected one label per image"
            )
        if len(x) == 0:
            raise ModelError(f"data set file {str(path)!r}: {xkey} holds no images")
        x, y = np.asarray(x[:limit]), np.asarray(y[:limit])
        if x.ndim == 3:
            x = x[..., None] if opts.layout == "NHWC" else x[:, None]
        if x.ndim != 4:
            raise ModelError(
                f"data set file {str(path)!r}: {xkey} has shape {x.shape}, "
                f"expected images (N, H, W, C) ({opts.layout} as set by layout)"
            )
        if opts.layout == "NCHW":
            x = x.transpose(0, 2, 3, 1)
        if y.ndim != 1 or len(y) != len(x):
            raise ModelError(
                f"data set file {str(path)!r}: {ykey} has shape {y.shape}, "
                f"expected ({len(x)},) (one label per image)"
            )
        if y.dtype.kind == "f" and not (y == np.round(y)).all() or (y < 0).any():
            raise ModelError(f"data set file {str(path)!r}: {ykey} must hold labels 0, 1, ...")
        out += [x, y.astype(np.int64)]
    classes = int(max(v.max() for v in out[1::2] if v is not None and v.size)) + 1
    return (*out, classes)


def _labels(y: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Integer labels from ``y``; one-hot rows (Keras' ``to_categorical``) become their
    class index, (N, 1) columns (MATLAB, SVHN) become (N,)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0]
    if y.ndim == 2 and y.shape[1] > 1 and y.size:
        one_hot = ((y == 0) | (y == 1)).all() and (y.sum(axis=1) == 1).all()
        if not one_hot:
            raise ModelError(
                f"data set file {str(path)!r}: {key} has shape {y.shape} but is not one-hot "
                "(every row one 1, the rest 0)",
                hint="give one integer label per image, or one-hot rows",
            )
        return y.argmax(axis=1)
    return y


def _emnist(root: Path, opts: DataOptions):
    """EMNIST idx files (``emnist-<split>-test-images-idx3-ubyte[.gz]``, ...): ``root`` is
    their folder (holding one split) or the prefix ``.../emnist-<split>``.  Images as
    stored, which is transposed (torchvision's EMNIST and tensorflow_datasets give them
    so, and models trained on those saw them so)."""
    if root.is_dir():
        found = sorted(
            {p.name.split("-")[1] for p in root.glob("emnist-*-test-images-idx3-ubyte*")}
        )
        if len(found) != 1:
            raise ModelError(
                f"emnist: {str(root)!r} holds "
                + (
                    f"the splits {', '.join(found)}"
                    if found
                    else "no emnist-*-test-images-idx3-ubyte file"
                ),
                hint="give one split as a prefix: emnist:PATH/emnist-balanced (splits: "
                + ", ".join(EMNIST_CLASSES)
                + ")",
            )
        root = root / f"emnist-{found[0]}"
    split = root.name.removeprefix("emnist-")
    if split not in EMNIST_CLASSES:
        raise ModelError(
            f"emnist: {root.name!r} is not an EMNIST split",
            hint="splits: " + ", ".join(EMNIST_CLASSES),
        )
    parts = _idx_pair(root.parent, f"{root.name}-train", f"{root.name}-test", "emnist", opts)
    classes = EMNIST_CLASSES[split]
    for y in parts[1::2]:
        if y is not None and y.size and y.max() >= classes:
            raise ModelError(
                f"emnist: split {split!r} has label {int(y.max())}, expected 0..{classes - 1}"
            )
    return (*parts, classes)


def _svhn(root: Path, opts: DataOptions):
    """SVHN's cropped digits (``test_32x32.mat``, ``train_32x32.mat``): ``X`` is
    (32, 32, 3, N) uint8, ``y`` (N, 1) in 1..10 with 10 for the digit 0, which becomes
    label 0 (as torchvision's SVHN does)."""
    test = root if root.suffix == ".mat" else root / "test_32x32.mat"
    train = root.parent / "train_32x32.mat" if root.suffix == ".mat" else root / "train_32x32.mat"
    if not test.is_file():
        raise ModelError(
            f"svhn: {str(test)!r} does not exist", hint="PATH is the folder of test_32x32.mat"
        )
    x_test, y_test = _svhn_mat(test, opts.limit)
    x_train = y_train = None
    if train.is_file() and train != test:
        x_train, y_train = _svhn_mat(train, opts.train_limit)
    return x_train, y_train, x_test, y_test, 10


def _svhn_mat(path: Path, limit: int | None):
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), variable_names=("X", "y"))
    except NotImplementedError:
        raise ModelError(
            f"svhn: {str(path)!r} is a MATLAB v7.3 (HDF5) file; SVHN's are v5"
        ) from None
    except (ValueError, OSError, TypeError) as exc:
        raise ModelError(f"svhn: cannot read {str(path)!r}: {exc}") from None
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None or x.ndim != 4 or x.shape[2] != 3 or y.size != x.shape[3]:
        raise ModelError(
            f"svhn: {str(path)!r} holds X {getattr(x, 'shape', None)} and y "
            f"{getattr(y, 'shape', None)}; expected X (32, 32, 3, N) and y (N, 1)"
        )
    y = y.reshape(-1).astype(np.int64)
    if y.size and (y.min() < 1 or y.max() > 10):
        bad = int(np.argmax((y < 1) | (y > 10)))
        raise ModelError(
            f"svhn: {str(path)!r}: image {bad} has label {int(y[bad])}, expected 1..10 "
            "(10 is the digit 0)"
        )
    y[y == 10] = 0
    x = np.moveaxis(x, 3, 0)
    return (x, y) if limit is None else (x[:limit], y[:limit])


def _detect(path: Path) -> str:
    if path.suffix == ".npz":
        return "npz"
    if path.suffix.lower() == ".csv" and path.is_file():
        return "csv"
    if path.suffix == ".mat" and path.is_file():
        return "svhn"
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if "test_32x32.mat" in names:
            return "svhn"
        if any(n.startswith("emnist-") and "-test-images-" in n for n in names):
            return "emnist"
        if names & {"x.npy", "x_test.npy"}:
            return "npy"
        for sub, kind in (
            ("cifar-10-batches-bin", "cifar10"),
            ("cifar-100-binary", "cifar100"),
            ("cifar-10-batches-py", "cifar10"),
            ("cifar-100-python", "cifar100"),
        ):
            if sub in names:
                return kind
        if names & {"test_batch.bin", "test_batch"}:
            return "cifar10"
        if "test.bin" in names or {"test", "meta"} <= names:
            return "cifar100"
        if any(n.startswith("t10k-images") for n in names):
            return "mnist"
        if any(n.lower().endswith("test.csv") for n in names):
            return "csv"
        return "folder"
    if path.exists():
        raise ModelError(
            f"data set {str(path)!r} is a single file, not a data set xbar reads",
            hint=_file_hint(path),
        )
    raise ModelError(
        f"data set {str(path)!r} does not exist",
        hint="FORMAT:PATH with FORMAT one of " + ", ".join(FORMATS),
    )


def _file_hint(path: Path) -> str:
    """What to give instead of the single file ``path`` (a member of a distribution)."""
    name = path.name.lower()
    if "idx" in name or name.startswith(("t10k-", "train-")):
        return f"give the folder holding the four idx files: mnist:{path.parent}"
    if name.startswith(("data_batch", "test_batch")) or name in ("train", "test", "train.bin"):
        return f"give the folder holding the batches: cifar10:{path.parent} (or cifar100:)"
    if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"):
        return "give a folder of class sub-folders of images: folder:PATH"
    return (
        "formats: " + ", ".join(FORMATS) + "; a table of numbers with a label column: "
        "csv:PATH (comma, semicolon or tab separated); other arrays: save images and labels "
        "with numpy.savez(path.npz, x=images, y=labels)"
    )


def load_from_disk(spec: str, options: DataOptions | None = None):
    """Read a data set ``"FORMAT:PATH"`` (or a path whose format is detected).

    Returns a :class:`~xbar.network.Dataset`; see the module docstring for the formats.
    """
    opts = options or DataOptions()
    kind, sep, rest = str(spec).partition(":")
    if sep and kind.lower() in FORMATS:
        kind, path = kind.lower(), Path(rest)
    else:
        path = Path(spec)
        kind = _detect(path)
    if kind in ("cifar10", "cifar100"):
        parts = _cifar(path, kind, opts)
    elif kind in ("mnist", "fashion-mnist", "kmnist"):
        if not path.is_dir():
            raise ModelError(f"{kind}: folder {str(path)!r} does not exist")
        parts = _mnist(path, kind, opts)
    elif kind in ("emnist", "svhn", "npy", "folder", "csv"):
        read = {"emnist": _emnist, "svhn": _svhn, "npy": _npy, "folder": _folder, "csv": _csv}
        parts = read[kind](path, opts)
    else:
        parts = _npz(path, opts)
    x_train, y_train, x_test, y_test, classes = parts
    if y_test.size and y_test.max() >= classes:
        raise ModelError(f"{spec}: label {int(y_test.max())} out of range 0..{classes - 1}")
    x_test = _prepare(x_test, opts, f"{spec} (test)")
    if x_train is None:  # calibrate on the test images (documented)
        x_train, y_train = x_test, y_test
    else:
        x_train = _prepare(x_train, opts, f"{spec} (train)")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ModelError(
            f"{spec}: training images have shape {x_train.shape[1:]}, test "
            f"images {x_test.shape[1:]}",
            hint="give size / crop",
        )
    n_val = max(1, len(x_train) // 10) if len(x_train) > 1 else 0
    name = f"{kind}:{path}"
    return Dataset(
        x_train[n_val:] if n_val else x_train,
        y_train[n_val:] if n_val else y_train,
        x_train[:n_val] if n_val else x_train,
        y_train[:n_val] if n_val else y_train,
        x_test,
        y_test,
        name,
        int(classes),
    )
