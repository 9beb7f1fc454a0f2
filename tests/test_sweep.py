"""Sweep machinery: executors give identical tables, resume, fingerprints, errors, plots.

These tests use a stand-in evaluator defined here (picklable, deterministic per chip), so they
do not depend on the network evaluator's speed; ``test_sweep_real.py`` runs the real one.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from xbar.errors import ConfigError, ValueRangeError
from xbar.network.sweep import parse_values, plot_sweep, read_sweep, sweep


@dataclass(frozen=True)
class FakeConfig:
    programming_sigma: float = 0.0
    mapping: str = "differential"
    adc_bits: int = 8
    calibrate: bool = True
    repeats: int = 3
    seed: int = 0

    def __post_init__(self):
        if self.programming_sigma < 0:
            raise ValueRangeError(f"programming_sigma must be >= 0, got {self.programming_sigma}")


CALLS: list[tuple] = []


def fake_evaluate(model, config, *, dataset=None, limit=None, chips=None, progress=None):
    """Accuracy falls with sigma; chip k gets its own seeded draw (same in every process)."""
    accs = []
    for k in chips:
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, k]))
        base = 0.98 - (0.1 if config.mapping == "offset" else 0.0)
        accs.append(float(np.clip(base - config.programming_sigma * (1 + rng.random()), 0, 1)))
        CALLS.append((config.programming_sigma, config.mapping, k))
    return SimpleNamespace(accuracies=accs, accuracy=float(np.mean(accs)))


def slow_fake_evaluate(model, config, *, dataset=None, limit=None, chips=None, progress=None):
    time.sleep(0.05)
    return fake_evaluate(model, config, dataset=dataset, limit=limit, chips=chips)


AXES = {"programming_sigma": [0.0, 0.1, 0.2], "mapping": ["differential", "offset"]}
MODEL = {"name": "toy", "weights": np.arange(6.0)}


SIGMAS = {"programming_sigma": [0.0, 0.1]}


def run(axes=AXES, config=None, *, model=MODEL, executor="serial", evaluate=fake_evaluate, **kw):
    """:func:`sweep` of the stand-in evaluator: serial, default configuration and model
    unless told otherwise (each test names only what differs)."""
    config = FakeConfig() if config is None else config
    return sweep(model, config, axes, executor=executor, evaluate=evaluate, **kw)


def _rows(path):
    with open(path) as f:
        return [r for r in csv.reader(line for line in f if not line.startswith("#"))][1:]


def test_serial_table_shape_and_values():
    CALLS.clear()
    t = run()
    assert t.accuracies.shape == (3, 2, 3)
    assert t.complete and t.computed == 18 and t.reused == 0
    assert len(CALLS) == 18
    # chip k of point (i, j) is exactly what the evaluator gives for that config and chip
    cfg = FakeConfig(programming_sigma=0.1, mapping="offset")
    want = fake_evaluate(MODEL, cfg, chips=[2]).accuracies[0]
    assert t.accuracies[1, 1, 2] == want
    assert np.allclose(t.mean, t.accuracies.mean(axis=2))
    assert t.mean[0, 0] > t.mean[2, 0] and t.mean[0, 0] > t.mean[0, 1]
    s = t.summary()
    assert len(s) == 6 and s[3]["mapping"] == "offset" and s[3]["programming_sigma"] == 0.1
    assert len(s[3]["accuracies"]) == 3


def test_executors_identical_and_interrupted_resume(tmp_path):
    """serial == 2 processes == 2-worker dask LocalCluster; a stopped run resumes exactly."""
    pytest.importorskip("distributed")
    ref = run()

    full = run(executor="processes", workers=2, out=tmp_path / "p.csv")
    assert np.array_equal(full.accuracies, ref.accuracies)
    assert len(_rows(tmp_path / "p.csv")) == 18

    # processes, stopped by the progress callback after 5 finished tasks
    out = tmp_path / "d.csv"

    def stop_after(n):
        def cb(done, total):
            if done >= n:
                raise KeyboardInterrupt

        return cb

    with pytest.raises(KeyboardInterrupt):
        run(
            executor="processes",
            workers=2,
            out=out,
            evaluate=slow_fake_evaluate,
            progress=stop_after(5),
        )
    n_first = len(_rows(out))
    assert 5 <= n_first < 18

    # finish it on a 2-worker dask LocalCluster: only the missing tasks run
    seen = []
    t = run(
        executor="local",
        workers=2,
        out=out,
        evaluate=slow_fake_evaluate,
        progress=lambda d, n: seen.append(d),
    )
    assert t.reused == n_first and t.computed == 18 - n_first
    assert seen[0] == n_first and seen[-1] == 18
    assert np.array_equal(t.accuracies, ref.accuracies)
    rows = _rows(out)
    keys = [tuple(r[1:4]) for r in rows]
    assert len(rows) == 18 and len(set(keys)) == 18

    # a third run computes nothing
    again = run(out=out, evaluate=slow_fake_evaluate)
    assert again.computed == 0 and again.reused == 18
    assert np.array_equal(again.accuracies, ref.accuracies)


def test_resume_serial_only_missing_tasks_run(tmp_path):
    out = tmp_path / "s.csv"
    CALLS.clear()

    def cb(done, total):
        if done == 7:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        run(out=out, progress=cb)
    first = list(CALLS)
    assert len(first) == 7 and len(_rows(out)) == 7
    CALLS.clear()
    t = run(out=out)
    assert len(CALLS) == 11 and not set(CALLS) & set(first)
    ref = run()
    assert np.array_equal(t.accuracies, ref.accuracies)


def test_more_chips_and_wider_grid_reuse_rows(tmp_path):
    out = tmp_path / "g.csv"
    run(SIGMAS, FakeConfig(repeats=2), out=out)
    CALLS.clear()
    wider = {"programming_sigma": [0.0, 0.1, 0.3]}
    t = run(wider, FakeConfig(repeats=3), out=out)
    assert t.reused == 4 and t.computed == 5 and len(CALLS) == 5
    ref = run(wider, FakeConfig(repeats=3))
    assert np.array_equal(t.accuracies, ref.accuracies)


def test_truncated_last_line_is_dropped(tmp_path):
    out = tmp_path / "t.csv"
    run(SIGMAS, out=out)
    text = out.read_text()
    out.write_text(text[:-7])  # a run killed in the middle of writing its last row
    CALLS.clear()
    t = run(SIGMAS, out=out)
    assert t.computed == 1 and len(CALLS) == 1 and t.complete
    assert len(_rows(out)) == 6


def test_fingerprint_mismatch_is_refused(tmp_path):
    out = tmp_path / "f.csv"
    run(SIGMAS, out=out)
    before = out.read_text()
    with pytest.raises(ConfigError, match="mapping"):
        run(SIGMAS, FakeConfig(mapping="offset"), out=out)
    other_model = {"name": "toy", "weights": np.arange(6.0) + 1}
    with pytest.raises(ConfigError, match="different model"):
        run(SIGMAS, model=other_model, out=out)
    with pytest.raises(ConfigError, match="limit"):
        run(SIGMAS, limit=10, out=out)
    assert out.read_text() == before
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not an xbar sweep"):
        run({"programming_sigma": [0.0]}, out=junk)


def test_bad_input_fails_before_work(tmp_path):
    CALLS.clear()
    one = {"programming_sigma": [0.1]}
    with pytest.raises(ConfigError, match="does not exist"):
        run(one, out=tmp_path / "no" / "x.csv")
    with pytest.raises(ConfigError, match="directory"):
        run(one, out=tmp_path)
    with pytest.raises(ConfigError, match="programming_sigm") as err:
        run({"programming_sigm": [0.1]})
    assert "did you mean programming_sigma" in str(err.value)
    with pytest.raises(ConfigError, match="repeats"):
        run({"repeats": [1, 2]})
    with pytest.raises(ConfigError, match="one or two"):
        run({"programming_sigma": [0], "mapping": ["offset"], "adc_bits": [4]})
    with pytest.raises(ConfigError, match="twice"):
        run({"programming_sigma": [0.1, 0.1]})
    with pytest.raises(ValueRangeError, match="programming_sigma"):
        run({"programming_sigma": [0.1, -0.1]}, out=tmp_path / "n.csv")
    assert not (tmp_path / "n.csv").exists()
    with pytest.raises(ConfigError, match="workers"):
        run(one, executor="processes", workers=0)
    with pytest.raises(ConfigError, match="unknown executor"):
        run(one, executor="threads")
    assert CALLS == []


def test_unreachable_scheduler_names_address(monkeypatch):
    pytest.importorskip("distributed")
    import importlib

    sw = importlib.import_module("xbar.network.sweep")  # the module (the package exports sweep())

    monkeypatch.setattr(sw, "SCHEDULER_TIMEOUT", 1.0)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"tcp://127\.0\.0\.1:9"):
        run({"programming_sigma": [0.1]}, executor="tcp://127.0.0.1:9")
    assert time.perf_counter() - t0 < 20


def test_parse_values():
    cfg = FakeConfig()
    assert parse_values(cfg, "programming_sigma", "0, 0.05,0.1") == [0.0, 0.05, 0.1]
    assert parse_values(cfg, "adc_bits", "4,6,8") == [4, 6, 8]
    assert parse_values(cfg, "mapping", "differential,offset") == ["differential", "offset"]
    assert parse_values(cfg, "calibrate", "true,off") == [True, False]
    with pytest.raises(ConfigError, match="adc_bits"):
        parse_values(cfg, "adc_bits", "4.5")
    with pytest.raises(ConfigError, match="programming_sigma"):
        parse_values(cfg, "programming_sigma", "abc")
    with pytest.raises(ConfigError, match="no values"):
        parse_values(cfg, "programming_sigma", " , ")


def test_read_back_and_plot(tmp_path):
    out = tmp_path / "r.csv"
    t = run(out=out)
    back = read_sweep(out)
    assert back.fields == t.fields and back.values == t.values
    assert np.array_equal(back.accuracies, t.accuracies)
    png = tmp_path / "r.png"
    fig = plot_sweep(back, png, digital=0.98, title="toy")
    assert png.stat().st_size > 5000
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # two mappings and the digital line
    assert "sigma" in ax.get_xlabel() and "accuracy" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["mapping = differential", "mapping = offset"]
    # categorical first axis
    t2 = run({"mapping": ["differential", "offset"]})
    fig2 = plot_sweep(t2, tmp_path / "c.png", band="minmax")
    assert [x.get_text() for x in fig2.axes[0].get_xticklabels()] == ["differential", "offset"]
    fig3 = plot_sweep(t, xscale="symlog")
    assert fig3.axes[0].get_xscale() == "symlog" and fig3.axes[0].get_xlim()[0] < 0.0
    with pytest.raises(ConfigError, match="band"):
        plot_sweep(t2, band="iqr")


def test_frozen_config_replace_semantics():
    # sweeping replaces only the swept field, the rest comes from the base configuration
    base = FakeConfig(adc_bits=5, seed=3)
    CALLS.clear()
    t = run({"mapping": ["offset"]}, base)
    ref = fake_evaluate(MODEL, dataclasses.replace(base, mapping="offset"), chips=[0, 1, 2])
    assert list(t.accuracies[0, 0]) == ref.accuracies


def test_dask_scheduler_address_and_client(tmp_path):
    """A running cluster reached by its address (as --scheduler ADDRESS does) or a Client."""
    distributed = pytest.importorskip("distributed")
    axes = {"programming_sigma": [0.0, 0.2]}
    ref = run(axes)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        t = run(axes, executor=cluster.scheduler_address, out=tmp_path / "a.csv")
        assert np.array_equal(t.accuracies, ref.accuracies)
        with distributed.Client(cluster) as client:
            t2 = run(axes, executor=client)
            assert np.array_equal(t2.accuracies, ref.accuracies)
            assert client.status == "running"  # a client we were given is left open
