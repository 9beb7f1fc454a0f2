"""Data sets from disk in their real distribution formats (small files built here)."""

import gzip

import numpy as np
import pytest

from xbar.cli import main
from xbar.errors import ConfigError, ModelError
from xbar.network import DataOptions, load_dataset


def _cifar_file(path, n, head, seed, label_max):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, label_max, size=(n, head), dtype=np.uint8)
    pixels = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    path.write_bytes(np.concatenate([labels, pixels], axis=1).tobytes())
    return labels, pixels


def test_cifar10_binary(tmp_path):
    root = tmp_path / "cifar-10-batches-bin"
    root.mkdir()
    for k in (1, 2):
        _cifar_file(root / f"data_batch_{k}.bin", 6, 1, k, 10)
    labels, pixels = _cifar_file(root / "test_batch.bin", 5, 1, 9, 10)
    d = load_dataset(f"cifar10:{tmp_path}")  # the parent folder works too
    assert d.x_test.shape == (5, 32, 32, 3) and d.classes == 10
    np.testing.assert_array_equal(d.y_test, labels[:, 0])
    # record layout: R plane, G plane, B plane, each row-major 32x32
    np.testing.assert_allclose(d.x_test[1, 2, 3, 1], pixels[1, 1024 + 2 * 32 + 3] / 255)
    assert len(d.x_train) + len(d.x_val) == 12
    d2 = load_dataset(
        f"cifar10:{root}", DataOptions(limit=2, train_limit=3, mean=(0.5,), std=(0.25, 0.5, 1.0))
    )
    assert d2.x_test.shape[0] == 2 and len(d2.x_train) + len(d2.x_val) == 3
    np.testing.assert_allclose(d2.x_test[0, ..., 1], (d.x_test[0, ..., 1] - 0.5) / 0.5)


def test_cifar100_fine_and_coarse(tmp_path):
    root = tmp_path / "cifar-100-binary"
    root.mkdir()
    _cifar_file(root / "train.bin", 4, 2, 1, 20)
    labels, _ = _cifar_file(root / "test.bin", 3, 2, 2, 20)
    fine = load_dataset(f"cifar100:{root}")
    coarse = load_dataset(f"cifar100:{root}", DataOptions(label="coarse"))
    assert fine.classes == 100 and coarse.classes == 20
    np.testing.assert_array_equal(fine.y_test, labels[:, 1])
    np.testing.assert_array_equal(coarse.y_test, labels[:, 0])


def test_cifar_errors_name_file_and_form(tmp_path):
    root = tmp_path / "cifar-10-batches-bin"
    root.mkdir()
    with pytest.raises(ModelError, match="test_batch.bin.*does not exist"):
        load_dataset(f"cifar10:{root}")
    (root / "test_batch.bin").write_bytes(b"\x00" * 3000)
    with pytest.raises(ModelError, match=r"test_batch.bin.*3000 bytes.*3073-byte records"):
        load_dataset(f"cifar10:{root}")
    rec = np.zeros(3073, np.uint8)
    rec[0] = 12
    (root / "test_batch.bin").write_bytes(rec.tobytes())
    with pytest.raises(ModelError, match="label 12, expected 0..9"):
        load_dataset(f"cifar10:{root}")


def _idx(path, arr, gz):
    header = (0x800 + arr.ndim).to_bytes(4, "big") + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape
    )
    data = header + arr.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_plain_and_gz(tmp_path, gz):
    rng = np.random.default_rng(0)
    xt, yt = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 10, 7)
    _idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (10, 28, 28)), gz)
    _idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, 10), gz)
    _idx(tmp_path / "t10k-images-idx3-ubyte", xt, gz)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", yt, gz)
    for kind in ("mnist", "fashion-mnist"):
        d = load_dataset(f"{kind}:{tmp_path}")
        assert d.x_test.shape == (7, 28, 28, 1)
        np.testing.assert_array_equal(d.y_test, yt)
        np.testing.assert_allclose(d.x_test[..., 0], xt / 255)


def test_mnist_errors(tmp_path):
    with pytest.raises(ModelError, match="t10k-images-idx3-ubyte"):
        load_dataset(f"mnist:{tmp_path}")
    _idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 4, 4)), False)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2), False)
    with pytest.raises(ModelError, match="3 images but .* 2 labels"):
        load_dataset(f"mnist:{tmp_path}")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x03rest")
    with pytest.raises(ModelError, match="not an idx1 file"):
        load_dataset(f"mnist:{tmp_path}")


def test_folder_of_images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for k in range(3):
                arr = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"{k}.png")
    saved = np.asarray(Image.open(tmp_path / "test" / "dog" / "1.png"))
    d = load_dataset(f"folder:{tmp_path}")
    assert d.x_test.shape == (6, 10, 12, 3) and d.classes == 2
    np.testing.assert_array_equal(d.y_test, [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(d.x_test[4], saved / 255)
    r = load_dataset(f"folder:{tmp_path}", DataOptions(size=(16, 16), crop=(8, 8)))
    assert r.x_test.shape == (6, 8, 8, 3)
    (tmp_path / "test" / "dog" / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ModelError, match="bad.png"):
        load_dataset(f"folder:{tmp_path}")


def test_npz_x_y_nchw(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 3, 4, 6), dtype=np.uint8)
    y = np.array([0, 2, 1, 2, 0])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    d = load_dataset(f"npz:{tmp_path / 'd.npz'}", DataOptions(layout="NCHW"))
    assert d.x_test.shape == (5, 4, 6, 3) and d.classes == 3
    np.testing.assert_allclose(d.x_test, x.transpose(0, 2, 3, 1) / 255)
    np.savez(tmp_path / "bad.npz", x=x, y=y[:3])
    with pytest.raises(ModelError, match=r"bad.npz.*y has shape \(3,\)"):
        load_dataset(tmp_path / "bad.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([object()], dtype=object), y=y)
    with pytest.raises(ModelError, match="obj.npz"):
        load_dataset(tmp_path / "obj.npz")


def test_options_validation():
    with pytest.raises(ConfigError, match="unknown data option 'means'"):
        DataOptions.from_dict({"means": [0.5]})
    with pytest.raises(ConfigError, match="std values must be > 0"):
        DataOptions.from_dict({"std": "0.5,0"})
    o = DataOptions.from_dict({"size": "32x32", "mean": "0.4,0.5,0.6", "layout": "nchw"})
    assert o.size == (32, 32) and o.mean == (0.4, 0.5, 0.6) and o.layout == "NCHW"


def test_cli_infer_onnx_on_mnist_and_shape_error(tmp_path, capsys):
    pytest.importorskip("onnx")
    import onnx

    from xbar.network import onnx_zoo, save_onnx  # noqa: F401

    rng = np.random.default_rng(0)
    _idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (6, 28, 28)), False)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 6), False)
    onnx.save(onnx_zoo.lenet5(), str(tmp_path / "lenet.onnx"))
    onnx.save(onnx_zoo.mlp(), str(tmp_path / "mlp.onnx"))
    for model in ("lenet.onnx", "mlp.onnx"):  # the MLP gets flattened (C, H, W) images
        assert (
            main(
                [
                    "infer",
                    "--model",
                    str(tmp_path / model),
                    "--dataset",
                    f"mnist:{tmp_path}",
                    "--ideal",
                    "--no-progress",
                    "--json",
                ]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert '"n_images": 6' in out
    assert (
        main(
            [
                "infer",
                "--model",
                str(tmp_path / "lenet.onnx"),
                "--dataset",
                f"mnist:{tmp_path}",
                "--resize",
                "20,20",
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "(28, 28, 1)" in err and "(20, 20, 1)" in err and "--resize" in err


# ------------------------------------------------------------------ the same flags everywhere
DATA_FLAGS = {"--dataset", "--mean", "--std", "--resize", "--crop", "--layout", "--label"}


@pytest.mark.parametrize("command", ["infer", "train", "sweep"])
def test_every_command_taking_a_dataset_has_the_data_flags(command):
    from xbar.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.choices and command in a.choices)
    flags = {s for a in sub.choices[command]._actions for s in a.option_strings}
    assert DATA_FLAGS <= flags


def _npz_10x10(path, n=12, classes=10):
    """Grey 10x10 images (too big for the 8x8x1 default model without --resize)."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (n, 10, 10, 1), dtype=np.uint8)
    np.savez(path, x=x, y=np.arange(n) % classes)
    return path


def test_cli_train_prepares_the_dataset_with_the_flags(tmp_path, capsys):
    data = f"npz:{_npz_10x10(tmp_path / 'd.npz')}"
    base = ["train", "--dataset", data, "--epochs", "1", "--out", str(tmp_path / "m"), "--json"]
    assert main(base) == 2  # 10x10 images do not fit the 8x8x1 model
    err = capsys.readouterr().err
    assert "(8, 8, 1)" in err and "(10, 10, 1)" in err
    assert main([*base, "--crop", "8,8", "--mean", "0.5", "--std", "0.25"]) == 0
    out = capsys.readouterr().out
    assert '"test_accuracy"' in out and (tmp_path / "m.npz").exists()


def test_cli_sweep_prepares_the_dataset_with_the_flags(tmp_path, capsys):
    import json

    data = f"npz:{_npz_10x10(tmp_path / 'd.npz')}"
    common = ["sweep", "--field", "adc_bits", "--values", "0", "--repeats", "1", "--serial"]
    common += ["--dataset", data, "--json"]
    assert main([*common, "--out", str(tmp_path / "a.csv")]) == 2
    assert "(10, 10, 1)" in capsys.readouterr().err
    runs = []
    for k, extra in enumerate((["--resize", "8,8"], ["--resize", "8,8", "--mean", "0.5"])):
        assert main([*common, *extra, "--out", str(tmp_path / f"s{k}.csv")]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert all(r["dataset"] == data and r["chips"] == 1 for r in runs)
    assert runs[0]["fingerprint"] != runs[1]["fingerprint"]  # the prepared images differ


@pytest.mark.parametrize(
    "argv",
    [
        ["infer", "--no-progress"],
        ["train", "--epochs", "1", "--out", "OUT"],
        ["sweep", "--field", "adc_bits", "--values", "0", "--serial", "--out", "OUT.csv"],
    ],
    ids=lambda a: a[0],
)
def test_preparation_flags_on_the_builtin_digits_are_refused(tmp_path, capsys, argv):
    argv = [a.replace("OUT", str(tmp_path / "o")) for a in argv]
    assert main([*argv, "--mean", "0.5"]) == 2
    assert "--mean apply only to data sets read from disk" in capsys.readouterr().err
