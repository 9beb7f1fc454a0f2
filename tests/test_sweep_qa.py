"""Regression tests for QA defects of ``xbar sweep`` (issue 5 item 6, issue 7 items 5 and 7).

1. The base configuration is not validated alone: every grid point's resolved configuration
   (base + swept values) is, before any work.
2. A sweep killed with SIGTERM (or interrupted) leaves no worker process behind.
3. ``--values`` rejects empty entries, duplicates and values of the wrong type.
4. Plots of integer fields have ticks at the swept values only; categorical fields get a
   categorical axis.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import numpy as np
import pytest

from xbar.cli import main
from xbar.errors import ConfigError
from xbar.network.config import AnalogConfig
from xbar.network.sweep import parse_values, plot_sweep, sweep

sweep_module = importlib.import_module("xbar.network.sweep")

SEEN: list[AnalogConfig] = []


def recording_evaluate(model, config, *, dataset=None, limit=None, chips=None, progress=None):
    SEEN.append(config)
    accs = [0.9 - 0.01 * config.adc_bits - 0.001 * k for k in chips]
    return SimpleNamespace(accuracies=accs, accuracy=float(np.mean(accs)))


# ---------------------------------------------------------------------------------------------
# 1. grid points are validated, not the base alone
# ---------------------------------------------------------------------------------------------


def test_base_invalid_on_swept_field_is_fine_when_every_point_is_valid():
    SEEN.clear()
    base = AnalogConfig(adc_range="calibrated")  # adc_bits=0 with a range: invalid alone
    with pytest.raises(ConfigError, match="adc_bits=0"):
        base.replace()
    t = sweep("m", base, {"adc_bits": [4, 8]}, executor="serial", evaluate=recording_evaluate)
    assert t.complete
    assert [(c.adc_bits, c.adc_range) for c in SEEN] == [(4, "calibrated"), (8, "calibrated")]

    # two fields: the base is invalid on both swept fields, every point is valid
    SEEN.clear()
    base = AnalogConfig(adc_range="calibrated", programming_sigma=0.1)  # error kind 'none'
    t = sweep(
        "m",
        base,
        {"adc_bits": [4, 8], "programming_error": ["state_independent", "weight_range"]},
        executor="serial",
        evaluate=recording_evaluate,
    )
    assert t.accuracies.shape == (2, 2, 1) and t.complete
    assert {(c.adc_bits, c.programming_error) for c in SEEN} == {
        (4, "state_independent"),
        (4, "weight_range"),
        (8, "state_independent"),
        (8, "weight_range"),
    }
    assert all(c.programming_sigma == 0.1 and c.adc_range == "calibrated" for c in SEEN)


def test_invalid_grid_point_is_named_before_any_work(tmp_path):
    SEEN.clear()
    out = tmp_path / "s.csv"
    with pytest.raises(ConfigError, match=r"sweep point adc_bits=0: adc_bits=0 \(no ADC\)"):
        sweep(
            "m",
            AnalogConfig(adc_range="calibrated"),
            {"adc_bits": [4, 0]},
            out=out,
            executor="serial",
            evaluate=recording_evaluate,
        )
    with pytest.raises(
        ConfigError, match="sweep point adc_bits=4, programming_error=none: programming_sigma=0.1"
    ):
        sweep(
            "m",
            AnalogConfig(adc_range="calibrated", programming_sigma=0.1),
            {"adc_bits": [4], "programming_error": ["weight_range", "none"]},
            out=out,
            executor="serial",
            evaluate=recording_evaluate,
        )
    # a non-swept field that is invalid is still caught, naming that field
    with pytest.raises(ConfigError, match="g_min"):
        sweep(
            "m",
            AnalogConfig(g_min=2.0, g_max=1.0),
            {"adc_bits": [4]},
            out=out,
            executor="serial",
            evaluate=recording_evaluate,
        )
    with pytest.raises(ConfigError, match="repeats"):
        sweep(
            "m",
            AnalogConfig(repeats=0),
            {"adc_bits": [4]},
            out=out,
            executor="serial",
            evaluate=recording_evaluate,
        )
    assert SEEN == [] and not out.exists()


@pytest.fixture
def cli_fake(monkeypatch, tmp_path):
    """``xbar sweep`` with a stand-in evaluator (in this process: --serial)."""
    monkeypatch.setattr(
        sweep_module, "sweep", functools.partial(sweep_module.sweep, evaluate=recording_evaluate)
    )
    monkeypatch.chdir(tmp_path)
    SEEN.clear()
    return tmp_path


def test_cli_adc_bits_sweep_with_calibrated_range(cli_fake, capsys):
    argv = [
        "sweep",
        "--field",
        "adc_bits",
        "--values",
        "4,8",
        "--adc-range",
        "calibrated",
        "--limit",
        "20",
        "--serial",
        "--out",
        "a.csv",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    assert [(c.adc_bits, c.adc_range) for c in SEEN] == [(4, "calibrated"), (8, "calibrated")]
    # two fields, the base invalid on both of them
    SEEN.clear()
    argv = [
        "sweep",
        "--field",
        "adc_bits",
        "--values",
        "4,8",
        "--adc-range",
        "calibrated",
        "--field2",
        "programming_error",
        "--values2",
        "state_independent,weight_range",
        "--programming-sigma",
        "0.05",
        "--serial",
        "--out",
        "b.csv",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    assert len(SEEN) == 4 and all(c.programming_sigma == 0.05 for c in SEEN)
    # a bad point is refused before any work, naming the point
    SEEN.clear()
    argv = [
        "sweep",
        "--field",
        "adc_bits",
        "--values",
        "0,8",
        "--adc-range",
        "calibrated",
        "--serial",
        "--out",
        "c.csv",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "sweep point adc_bits=0" in err and "adc_range='calibrated'" in err
    assert SEEN == [] and not (cli_fake / "c.csv").exists()
    # a bad type in a flag is still an error at once
    assert (
        main(
            [
                "sweep",
                "--field",
                "adc_bits",
                "--values",
                "4",
                "--g-min",
                "x",
                "--serial",
                "--out",
                "d.csv",
            ]
        )
        == 2
    )
    assert "g_min" in capsys.readouterr().err and SEEN == []


# ---------------------------------------------------------------------------------------------
# 3. --values: empty entries, duplicates, wrong types
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, text, needle",
    [
        ("programming_sigma", ",0.1", "entry 1 of ',0.1' is empty"),
        ("programming_sigma", "0.1,", "entry 2 of '0.1,' is empty"),
        ("programming_sigma", "0.1,,0.2", "entry 2 of '0.1,,0.2' is empty"),
        ("programming_sigma", "0.1, ,0.2", "entry 2"),
        ("programming_sigma", "0.1,0.2,0.1", "'0.1' twice"),
        ("programming_sigma", "0.1,0.10", "'0.1' and '0.10' twice"),
        ("adc_bits", "4,4.0", "'4' and '4.0' twice"),
        ("mapping", "offset,offset", "'offset' twice"),
        ("adc_bits", "4,4.5", "'4.5'"),
        ("adc_bits", "4,nan", "'nan'"),
        ("programming_sigma", "0.1,abc", "'abc'"),
        ("programming_clip", "true,maybe", "'maybe'"),
        ("programming_clip", "true,on", "'true' and 'on' twice"),
    ],
)
def test_parse_values_rejects_bad_entries(field, text, needle):
    cfg = AnalogConfig()
    with pytest.raises(ConfigError) as err:
        parse_values(cfg, field, text)
    msg = str(err.value)
    assert repr(field) in msg and needle in msg


def test_parse_values_accepts_good_lists():
    cfg = AnalogConfig()
    assert parse_values(cfg, "programming_sigma", " 0, 0.05 ,0.1") == [0.0, 0.05, 0.1]
    assert parse_values(cfg, "adc_bits", ["4", "8"]) == [4, 8]
    assert parse_values(cfg, "adc_range", "none,calibrated") == [None, "calibrated"]
    assert parse_values(cfg, "programming_clip", "true,false,None") == [True, False, "none"]


def test_cli_rejects_empty_value_entry(cli_fake, capsys):
    assert (
        main(
            [
                "sweep",
                "--field",
                "programming_sigma",
                "--values",
                ",0.1",
                "--programming-error",
                "state_independent",
                "--serial",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "'programming_sigma'" in err and "',0.1'" in err and "empty" in err
    assert SEEN == []
    assert (
        main(
            [
                "sweep",
                "--field",
                "adc_bits",
                "--values",
                "4",
                "--field2",
                "mapping",
                "--values2",
                "offset,differential,offset",
                "--serial",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "'mapping'" in err and "twice" in err and SEEN == []


# ---------------------------------------------------------------------------------------------
# 4. plot axes
# ---------------------------------------------------------------------------------------------


def test_plot_integer_field_has_integer_ticks(tmp_path):
    t = sweep(
        "m",
        AnalogConfig(adc_range="calibrated", repeats=2),
        {"adc_bits": [2, 3, 4, 6]},
        executor="serial",
        evaluate=recording_evaluate,
    )
    fig = plot_sweep(t, tmp_path / "i.png")
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [2.0, 3.0, 4.0, 6.0]
    assert [x.get_text() for x in ax.get_xticklabels()] == ["2", "3", "4", "6"]
    assert len(ax.xaxis.get_minorticklocs()) == 0
    # also on a log axis, and two fields with an integer first field
    t2 = sweep(
        "m",
        AnalogConfig(adc_range="calibrated"),
        {"adc_bits": [2, 4, 8], "mapping": ["differential", "offset"]},
        executor="serial",
        evaluate=recording_evaluate,
    )
    ax2 = plot_sweep(t2, xscale="log").axes[0]
    assert list(ax2.get_xticks()) == [2.0, 4.0, 8.0]
    assert [x.get_text() for x in ax2.get_xticklabels()] == ["2", "4", "8"]
    assert len(ax2.xaxis.get_minorticklocs()) == 0


def test_plot_categorical_field_has_categorical_axis():
    t = sweep(
        "m",
        AnalogConfig(adc_bits=4),
        {"adc_range": ["calibrated", "max", "full_scale", None]},
        executor="serial",
        evaluate=recording_evaluate,
    )
    ax = plot_sweep(t).axes[0]
    assert list(ax.get_xticks()) == [0.0, 1.0, 2.0, 3.0]
    assert [x.get_text() for x in ax.get_xticklabels()] == [
        "calibrated",
        "max",
        "full_scale",
        "none",
    ]
    assert ax.get_xlim() == (-0.5, 3.5)
    # a float field keeps a numeric axis (ticks chosen by matplotlib)
    t3 = sweep(
        "m",
        AnalogConfig(programming_error="state_independent"),
        {"programming_sigma": [0.0, 0.05, 0.1]},
        executor="serial",
        evaluate=recording_evaluate,
    )
    ax3 = plot_sweep(t3).axes[0]
    assert ax3.get_xlim()[0] < 0.0 < 0.1 < ax3.get_xlim()[1]


# ---------------------------------------------------------------------------------------------
# 2. no worker survives SIGTERM / an interrupt
# ---------------------------------------------------------------------------------------------

HELPER = '''
import os, time
from types import SimpleNamespace


def sleepy(model, config, *, dataset=None, limit=None, chips=None, progress=None):
    """Record this worker's pid, then work 'forever' (unless sigma is 0)."""
    d = os.environ["XBAR_TEST_PIDDIR"]
    with open(os.path.join(d, f"{os.getpid()}.{time.monotonic_ns()}"), "w"):
        pass
    if config.programming_sigma > 0:
        time.sleep(120)
    return SimpleNamespace(accuracies=[0.5 for _ in chips])
'''

SCRIPT = """
import functools, importlib, sys

if __name__ == "__main__":
    import helper_sigterm

    sw = importlib.import_module("xbar.network.sweep")
    sw.sweep = functools.partial(sw.sweep, evaluate=helper_sigterm.sleepy)
    from xbar.cli import main

    sys.exit(main(sys.argv[1:]))
"""


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie waiting for its reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> set[int]:
    out = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.add(int(name))
    return out


def _worker_pids(piddir) -> set[int]:
    return {int(p.name.split(".")[0]) for p in piddir.iterdir()}


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_sigterm_leaves_no_worker_behind(tmp_path):
    (tmp_path / "helper_sigterm.py").write_text(textwrap.dedent(HELPER))
    script = tmp_path / "run_sweep.py"
    script.write_text(textwrap.dedent(SCRIPT))
    piddir = tmp_path / "pids"
    piddir.mkdir()
    env = dict(
        os.environ,
        XBAR_TEST_PIDDIR=str(piddir),
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    )
    argv = [
        sys.executable,
        str(script),
        "sweep",
        "--field",
        "programming_sigma",
        "--values",
        "0.1,0.2,0.3",
        "--programming-error",
        "state_independent",
        "--workers",
        "2",
        "--out",
        str(tmp_path / "s.csv"),
    ]
    proc = subprocess.Popen(
        argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while len(_worker_pids(piddir)) < 2:  # both workers busy in a task
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.05)
        workers = _worker_pids(piddir)
        seen = workers | _children(proc.pid)  # the workers and any helper process
        assert workers <= seen and all(_alive(p) for p in workers)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=15)
        err = proc.stderr.read().decode()
        assert rc == 128 + signal.SIGTERM, err
        assert "rerun to resume" in err and "Traceback" not in err
        while any(_alive(p) for p in seen) and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        assert not [p for p in seen if _alive(p)], "worker processes survived SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in seen:  # never leave our own stray processes behind, even on failure
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def test_interrupt_in_caller_stops_busy_workers(tmp_path, monkeypatch):
    """An exception in the caller (here from the progress callback) terminates the workers
    at once instead of waiting for their running tasks."""
    (tmp_path / "helper_sigterm.py").write_text(textwrap.dedent(HELPER))
    monkeypatch.syspath_prepend(str(tmp_path))
    piddir = tmp_path / "pids"
    piddir.mkdir()
    monkeypatch.setenv("XBAR_TEST_PIDDIR", str(piddir))
    helper = importlib.import_module("helper_sigterm")

    def stop(done, total):
        if done >= 1:  # the sigma-0 task is done; wait until both workers are busy
            deadline = time.monotonic() + 30
            while len(list(piddir.iterdir())) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            raise KeyboardInterrupt

    # sigma 0 finishes at once, the other points block their workers
    base = AnalogConfig(programming_error="state_independent")
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sweep(
            "m",
            base,
            {"programming_sigma": [0.1, 0.0, 0.2, 0.3]},
            executor="processes",
            workers=2,
            evaluate=helper.sleepy,
            progress=stop,
        )
    assert time.monotonic() - t0 < 60
    pids = _worker_pids(piddir)
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [p for p in pids if _alive(p)]
    for p in survivors:
        os.kill(p, signal.SIGKILL)
    assert not survivors
