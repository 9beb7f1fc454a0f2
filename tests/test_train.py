"""Training: Hutchinson estimates, the Hessian penalty, determinism, loss reduction, CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xbar.cli import main as cli_main
from xbar.errors import ConfigError, ModelError, ValueRangeError
from xbar.network import load_dataset, load_model
from xbar.network.data import Dataset
from xbar.network.train import hessian_penalty, hutchinson_diagonal, train


def small_digits(n_train=240, n_val=80) -> Dataset:
    d = load_dataset("digits")
    return Dataset(
        d.x_train[:n_train],
        d.y_train[:n_train],
        d.x_val[:n_val],
        d.y_val[:n_val],
        d.x_test[:100],
        d.y_test[:100],
        "digits-small",
        10,
    )


def known_function(n=8, seed=0):
    """f = 1/2 t^T A t + sum log cosh(t): Hessian A + diag(sech^2 t), known exactly."""
    rng = np.random.default_rng(seed)
    B = rng.normal(0, 0.3, (n, n))
    A = B @ B.T + np.diag(rng.uniform(1, 3, n))

    def grad(t):
        return A @ t + np.tanh(t)

    def hess_diag(t):
        return np.diag(A) + 1 / np.cosh(t) ** 2

    return grad, hess_diag, A


def test_hutchinson_within_5_percent_of_exact_diagonal():
    grad, hess_diag, A = known_function()
    t = np.random.default_rng(1).normal(size=8)
    est = hutchinson_diagonal(grad, t, samples=2000, rng=np.random.default_rng(2), eps=1e-4)
    exact = hess_diag(t)
    rel = np.abs(est - exact) / np.abs(exact)
    assert rel.max() <= 0.05, rel
    # with few samples the estimate is visibly noisy (the test can fail)
    few = hutchinson_diagonal(grad, t, samples=1, rng=np.random.default_rng(3))
    assert np.abs(few - exact).max() / np.abs(exact).max() > 0.01


def test_hessian_penalty_exact_for_cubic_loss():
    """L = sum c t^3 / 6 + 1/2 t^T A t: H_ii = c_i t_i + A_ii, grad P = s^2 c / 2 exactly."""
    rng = np.random.default_rng(4)
    n = 6
    B = rng.normal(size=(n, n))
    A = B @ B.T
    c = rng.normal(size=n)
    t = rng.normal(size=n)
    s = rng.uniform(0.05, 0.2, n)

    def loss_grad(th):
        return float(np.sum(c * th**3) / 6 + 0.5 * th @ A @ th), c * th**2 / 2 + A @ th

    pen, gp = hessian_penalty(loss_grad, t, s, rng, draws=1, step=0.05)
    np.testing.assert_allclose(gp, 0.5 * s**2 * c, rtol=1e-8, atol=1e-14)
    pens = [
        hessian_penalty(loss_grad, t, s, np.random.default_rng(k), draws=50)[0] for k in range(40)
    ]
    exact = 0.5 * np.sum(s**2 * (np.diag(A) + c * t))
    assert abs(np.mean(pens) - exact) <= 0.05 * abs(exact)


def test_training_reduces_loss_and_is_deterministic():
    data = small_digits()
    r1 = train("default", data, epochs=3, seed=7, batch_size=16, lr=0.01)
    r2 = train("default", data, epochs=3, seed=7, batch_size=16, lr=0.01)
    r3 = train("default", data, epochs=3, seed=8, batch_size=16, lr=0.01)
    assert r1.history[-1]["loss"] < 0.6 * r1.history[0]["loss"]
    assert r1.history[-1]["val_accuracy"] > 0.5
    s1, s2, s3 = r1.model.state(), r2.model.state(), r3.model.state()
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])
    assert any(not np.array_equal(s1[k], s3[k]) for k in s1)
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in r1.history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in r2.history]
    assert 1 <= r1.best_epoch <= 3
    best = r1.history[r1.best_epoch - 1]["val_noisy_accuracy"]
    assert best == max(h["val_noisy_accuracy"] for h in r1.history)


@pytest.mark.parametrize("method", ["noise", "hessian"])
def test_robust_methods_train_and_differ_from_plain(method):
    data = small_digits(160, 60)
    plain = train("default", data, epochs=2, seed=3)
    r = train("default", data, method=method, train_noise=0.1, epochs=2, seed=3, draws=2)
    assert r.history[-1]["loss"] < r.history[0]["loss"]
    assert math.isfinite(r.history[-1]["val_noisy_accuracy"])
    if method == "hessian":  # early in training H is indefinite: the penalty may be < 0
        assert math.isfinite(r.history[-1]["penalty"]) and r.history[-1]["penalty"] != 0
    d = [np.abs(plain.model.state()[k] - r.model.state()[k]).max() for k in plain.model.state()]
    assert max(d) > 1e-3


def test_fine_tune_from_model_keeps_input_untouched():
    data = small_digits(96, 40)
    base = load_model("default")
    W = base.layer("dense").W.copy()
    r = train(base, data, epochs=1, seed=0, lr=1e-3)
    np.testing.assert_array_equal(base.layer("dense").W, W)
    assert not np.array_equal(r.model.layer("dense").W, W)


def test_train_with_batchnorm_model():
    from xbar.network.zoo import wrn

    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 3))
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(int)
    data = Dataset(x[:48], y[:48], x[48:], y[48:], x[48:], y[48:], "toy", 2)
    m = wrn(depth=10, width=1, input_shape=(8, 8, 3), classes=2, seed=1)
    r = train(m, data, method="hessian", train_noise=0.05, epochs=2, seed=0, batch_size=16)
    assert np.isfinite(r.history[-1]["loss"])
    bn = r.model.layer("g1b1.bn2")
    assert not np.allclose(bn.running_var, m.layer("g1b1.bn2").running_var)


def test_bad_arguments():
    data = small_digits(40, 20)
    with pytest.raises(ConfigError, match="unknown training method 'sgd'"):
        train("default", data, method="sgd")
    with pytest.raises(ValueRangeError, match="train_noise"):
        train("default", data, method="noise", train_noise=-0.1)
    with pytest.raises(ValueRangeError, match="train_noise"):
        train("default", data, method="noise", train_noise=float("nan"))
    with pytest.raises(ConfigError, match="needs train_noise > 0"):
        train("default", data, method="hessian", train_noise=0.0)
    with pytest.raises(ConfigError, match="epochs"):
        train("default", data, epochs=0)
    with pytest.raises(ModelError, match="data set"):
        train("wrn-10-1", data, epochs=1)


def test_cli_train_writes_loadable_model(tmp_path, capsys):
    (tmp_path / "models").mkdir()
    out = tmp_path / "models" / "m"
    rc = cli_main(["train", "--epochs", "1", "--seed", "1", "--out", str(out), "--json"])
    assert rc == 0
    text = capsys.readouterr().out
    assert '"test_accuracy"' in text
    m = load_model(out)
    assert m.input_shape == (8, 8, 1) and m.name == "m"


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["--method", "adam"], "unknown training method"),
        (["--method", "noise", "--train-noise", "-1"], "train_noise"),
        (["--method", "noise", "--train-noise", "nan"], "train_noise"),
        (["--epochs", "0"], "epochs"),
    ],
)
def test_cli_train_errors(tmp_path, capsys, argv, msg):
    rc = cli_main(["train", *argv, "--out", str(tmp_path / "m")])
    assert rc == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_cli_train_unwritable_out_checked_first(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = cli_main(["train", "--epochs", "50", "--out", str(blocker / "m")])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and "is not a directory" in err


def test_cli_train_missing_out_directory_is_not_created(tmp_path, capsys):
    # QA: `xbar train --out /nonexistent/m` silently created /nonexistent
    missing = tmp_path / "nonexistent"
    rc = cli_main(["train", "--epochs", "50", "--out", str(missing / "m")])
    assert rc == 2
    err = capsys.readouterr().err
    assert f"directory {str(missing)!r} does not exist" in err
    assert not missing.exists()


def test_cli_train_junk_dataset_is_a_clear_error(tmp_path, capsys):
    junk = tmp_path / "j.npz"
    junk.write_bytes(b"junk")
    rc = cli_main(["train", "--epochs", "1", "--dataset", str(junk), "--out", str(tmp_path / "m")])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(junk) in err and "not an .npz archive" in err and "Traceback" not in err
    assert not (tmp_path / "m.json").exists()
