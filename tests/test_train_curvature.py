"""The genuine curvature penalty of ``hessian`` training (issue 12 item 7).

Exact references: the softmax-regression Hessian in closed form, a full Hessian built
column by column on a small ReLU network, and central finite differences of the
penalty estimator itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from xbar.cli import main as cli_main
from xbar.errors import ConfigError
from xbar.network.data import Dataset
from xbar.network.layers import Dense, ReLU, softmax
from xbar.network.model import Model
from xbar.network.train import (
    _Flat,
    _loss_grad,
    curvature_term,
    frozen_pattern,
    hessian_penalty,
    noise_scales,
    train,
)


def softmax_regression(seed=0, n_in=5, classes=3, batch=40):
    rng = np.random.default_rng(seed)
    m = Model(
        [Dense(n_in, classes, rng.normal(0, 0.7, (n_in, classes)), rng.normal(0, 0.3, classes))],
        (n_in,),
        classes,
    )
    x = rng.normal(size=(batch, n_in))
    y = rng.integers(0, classes, batch)
    return m, x, y


def exact_softmax_diag(m, x, y):
    """Closed-form Hessian diagonal of the mean cross-entropy of ``x @ W + b``."""
    lay = m.layers[0]
    p = softmax(x @ lay.W + lay.b)
    q = p * (1 - p)  # (B, K)
    hW = (x**2).T @ q / x.shape[0]  # (n_in, K)
    hb = q.mean(axis=0)
    return np.concatenate([hW.ravel(), hb.ravel()])  # flat order of _Flat: W then b


def small_relu_net(seed=1):
    rng = np.random.default_rng(seed)
    m = Model(
        [
            Dense(4, 6, rng.normal(0, 0.8, (4, 6)), rng.normal(0, 0.2, 6)),
            ReLU(),
            Dense(6, 3, rng.normal(0, 0.8, (6, 3)), rng.normal(0, 0.2, 3)),
        ],
        (4,),
        3,
    )
    x = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, 30)
    return m, x, y


def loss_grad_fn(m, x, y):
    flat = _Flat(m)

    def f(th):
        flat.set(th)
        loss, g, _ = _loss_grad(m, flat, x, y)
        return loss, g

    return flat, f


def full_hessian(f, theta, h=1e-6):
    n = theta.size
    H = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        H[:, i] = (f(theta + e)[1] - f(theta - e)[1]) / (2 * h)
    return 0.5 * (H + H.T)


def test_softmax_regression_penalty_matches_closed_form_per_vector_and_in_mean():
    m, x, y = softmax_regression()
    flat, f = loss_grad_fn(m, x, y)
    theta = flat.get()
    diag = exact_softmax_diag(m, x, y)
    H = full_hessian(f, theta)
    np.testing.assert_allclose(np.diag(H), diag, rtol=1e-6, atol=1e-9)
    s = noise_scales(m, 0.2, flat)
    # one vector: P_v = (1/2) w^T H w + O(eps^2)
    rng = np.random.default_rng(5)
    w = s * np.random.default_rng(5).choice(np.array([-1.0, 1.0]), size=theta.shape)
    p_v, _ = hessian_penalty(f, theta, s, rng, step=1e-2)
    assert p_v == pytest.approx(0.5 * w @ H @ w, rel=1e-3)
    # Hutchinson mean -> (1/2) sum s_i^2 H_ii (closed form), within 4 standard errors
    est = curvature_term(m, x, y, 0.2, samples=4000, step=1e-2, seed=3)
    exact = 0.5 * np.sum(s**2 * diag)
    assert abs(est.value - exact) <= 4 * est.stderr
    assert est.stderr < 0.05 * exact  # the check has teeth
    assert est.sigma == 0.2 and est.samples == 4000 and est.images == 40


def test_relu_network_curvature_matches_full_hessian_diagonal():
    m, x, y = small_relu_net()
    flat, f = loss_grad_fn(m, x, y)
    theta = flat.get()
    H = full_hessian(f, theta)
    s = noise_scales(m, 0.1, flat)
    exact = 0.5 * np.sum(s**2 * np.diag(H))
    # along these directions a ReLU kink lies 1e-4..1e-3 noise scales away; the frozen
    # activation pattern makes the estimate independent of the step
    est = curvature_term(m, x, y, 0.1, samples=3000, step=0.1, seed=0)
    assert abs(est.value - exact) <= 4 * est.stderr, (est, exact)
    assert est.stderr < 0.1 * exact


@pytest.mark.parametrize("maker", [softmax_regression, small_relu_net])
def test_penalty_gradient_matches_finite_differences_of_the_penalty(maker):
    m, x, y = maker()
    flat, f = loss_grad_fn(m, x, y)
    theta = flat.get()
    s = noise_scales(m, 0.1, flat)

    def penalty(th, draws=3):
        return hessian_penalty(f, th, s, np.random.default_rng(11), draws=draws, step=0.05)

    p0, grad = penalty(theta)
    h = 1e-5
    fd = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        fd[i] = (penalty(theta + e)[0] - penalty(theta - e)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-6 * np.abs(fd).max())
    assert np.abs(grad).max() > 1e-3  # not trivially zero


def test_unit_step_is_paired_noise_injection_and_small_step_is_not():
    """The estimator with eps = 1 and free patterns (the old default of ``hessian``):
    g + grad P_v = mean gradient at theta +- w, i.e. paired noise injection."""
    m, x, y = small_relu_net(3)
    flat, f = loss_grad_fn(m, x, y)
    theta = flat.get()
    s = noise_scales(m, 0.2, flat)
    w = s * np.random.default_rng(2).choice(np.array([-1.0, 1.0]), size=theta.shape)
    l0, g0 = f(theta)
    paired = 0.5 * (f(theta + w)[1] + f(theta - w)[1])
    _, gp1 = hessian_penalty(f, theta, s, np.random.default_rng(2), step=1.0)
    np.testing.assert_allclose(g0 + gp1, paired, rtol=1e-10, atol=1e-14)
    _, gp = hessian_penalty(f, theta, s, np.random.default_rng(2), step=0.05)
    assert np.abs(g0 + gp - paired).max() > 1e-3 * np.abs(paired).max()


def tiny_digits():
    from xbar.network import load_dataset

    d = load_dataset("digits")
    return Dataset(
        d.x_train[:96],
        d.y_train[:96],
        d.x_val[:40],
        d.y_val[:40],
        d.x_test[:40],
        d.y_test[:40],
        "digits-tiny",
        10,
    )


def test_train_reports_curvature_for_every_method():
    data = tiny_digits()
    for method, sigma in (("plain", 0.0), ("hessian", 0.1)):
        r = train(
            "default", data, method=method, train_noise=sigma, epochs=1, seed=0, curvature_samples=4
        )
        c = r.curvature
        assert c is not None and np.isfinite(c.value) and c.stderr >= 0
        assert c.sigma == (0.15 if method == "plain" else 0.1) and c.samples == 4
        assert c.images == 96 and c.step == 0.01
    r = train("default", data, epochs=1, seed=0, curvature_samples=0)
    assert r.curvature is None


def test_curvature_arguments_checked():
    data = tiny_digits()
    with pytest.raises(ConfigError, match="hessian_step"):
        train("default", data, method="hessian", train_noise=0.1, hessian_step=0.0)
    with pytest.raises(ConfigError, match="curvature_samples"):
        train("default", data, epochs=1, curvature_samples=1)
    m, x, y = softmax_regression()
    with pytest.raises(ConfigError, match="curvature_sigma"):
        curvature_term(m, x, y, 0.0)


def test_cli_train_json_has_curvature(tmp_path, capsys):
    import json

    out = tmp_path / "m"
    rc = cli_main(
        [
            "train",
            "--epochs",
            "1",
            "--method",
            "hessian",
            "--train-noise",
            "0.1",
            "--hessian-step",
            "0.1",
            "--curvature-samples",
            "3",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["hessian_step"] == 0.1
    c = summary["curvature"]
    assert c["samples"] == 3 and c["sigma"] == 0.1 and c["step"] == 0.1 and np.isfinite(c["value"])
    rc = cli_main(["train", "--hessian-step", "-1", "--out", str(tmp_path / "n")])
    assert rc == 2 and "hessian_step" in capsys.readouterr().err


def test_frozen_pattern_removes_kinks_from_the_second_difference():
    """Free patterns: the second difference grows like 1/eps across a kink; frozen: flat."""
    m, x, y = small_relu_net()
    flat, f = loss_grad_fn(m, x, y)
    theta = flat.get()
    s = noise_scales(m, 0.1, flat)
    w = s * np.random.default_rng(0).choice(np.array([-1.0, 1.0]), size=theta.shape)
    H = full_hessian(f, theta)

    def second_difference(eps, frozen):
        l0 = f(theta)[0]
        if frozen:
            with frozen_pattern(m):
                lp, lm = f(theta + eps * w)[0], f(theta - eps * w)[0]
        else:
            lp, lm = f(theta + eps * w)[0], f(theta - eps * w)[0]
        return (lp - 2 * l0 + lm) / (2 * eps**2)

    exact = 0.5 * w @ H @ w
    assert abs(second_difference(1e-2, False) - exact) > 5 * abs(exact)  # kink inside
    errs = [second_difference(eps, True) / exact - 1 for eps in (1e-1, 1e-2, 1e-3)]
    assert abs(errs[0]) < 0.05 and abs(errs[1]) < 1e-3  # O(eps^2): no 1/eps kink term
    assert abs(errs[2]) < 1e-5 and abs(errs[1]) < abs(errs[0]) / 50
    assert not any(getattr(la, "freeze_pattern", False) for la in m.all_layers())


def test_hessian_training_stays_healthy():
    """Regression: without frozen patterns, eps = 0.05 drove the penalty to -125 and the
    accuracy to chance (the optimiser parked units on kinks)."""
    from xbar.network import load_dataset

    d = load_dataset("digits")
    data = Dataset(
        d.x_train[:320],
        d.y_train[:320],
        d.x_val[:100],
        d.y_val[:100],
        d.x_test[:100],
        d.y_test[:100],
        "digits-320",
        10,
    )
    r = train(
        "default", data, method="hessian", train_noise=0.15, epochs=4, seed=0, curvature_samples=8
    )
    assert r.history[-1]["val_accuracy"] > 0.6
    assert r.history[-1]["loss"] < r.history[0]["loss"]
    assert min(h["penalty"] for h in r.history) > -0.05
    assert r.curvature.value > -3 * r.curvature.stderr
