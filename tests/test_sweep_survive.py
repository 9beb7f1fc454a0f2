"""Sweeps survive anything (issue 15 item 5).

- ``kill -9`` of a running ``xbar sweep`` (processes or a Dask LocalCluster) leaves no worker
  process and no multiprocessing resource tracker behind: workers watch their parent.
- Two sweeps on the same ``--out``: the second is refused at once with a message naming the
  file and the holder's pid; the file never holds a task twice; a reader (``read_sweep``)
  running beside a writer never sees a duplicate or a broken row and never modifies the file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from xbar.errors import ConfigError
from xbar.network.config import AnalogConfig
from xbar.network.sweep import read_sweep, sweep

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")

HELPER = '''
import os, time
from types import SimpleNamespace


def slow(model, config, *, dataset=None, limit=None, chips=None, progress=None):
    """Record this process's pid, then work for XBAR_TEST_SLEEP seconds (0.2 s for the
    programming_sigma given in XBAR_TEST_FAST, if any)."""
    d = os.environ["XBAR_TEST_PIDDIR"]
    with open(os.path.join(d, f"{os.getpid()}.{time.monotonic_ns()}"), "w"):
        pass
    fast = os.environ.get("XBAR_TEST_FAST")
    quick = bool(fast) and abs(config.programming_sigma - float(fast)) < 1e-12
    time.sleep(0.2 if quick else float(os.environ.get("XBAR_TEST_SLEEP", "120")))
    return SimpleNamespace(accuracies=[0.5 + 0.01 * k + config.programming_sigma
                                       for k in chips])
'''

SCRIPT = """
import functools, importlib, sys

if __name__ == "__main__":
    import helper_survive

    sw = importlib.import_module("xbar.network.sweep")
    sw.sweep = functools.partial(sw.sweep, evaluate=helper_survive.slow)
    from xbar.cli import main

    sys.exit(main(sys.argv[1:]))
"""


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, name) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    rest = text.rsplit(")", 1)[1].split()
    return rest[0], int(rest[1]), name


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _descendants(root: int) -> set[int]:
    """Every live process below ``root`` (children, grandchildren...)."""
    parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                parent[int(name)] = st[1]
    out, frontier = set(), {root}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier and p not in out}
        out |= frontier
    return {p for p in out if _alive(p)}


def _setup(tmp_path, sleep="120", fast=None):
    (tmp_path / "helper_survive.py").write_text(textwrap.dedent(HELPER))
    script = tmp_path / "run_sweep.py"
    script.write_text(textwrap.dedent(SCRIPT))
    piddir = tmp_path / "pids"
    piddir.mkdir()
    env = dict(
        os.environ,
        XBAR_TEST_PIDDIR=str(piddir),
        XBAR_TEST_SLEEP=sleep,
        XBAR_TEST_FAST="" if fast is None else fast,
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    )
    return script, piddir, env


def _sweep_argv(script, out, *extra):
    return [
        sys.executable,
        str(script),
        "sweep",
        "--field",
        "programming_sigma",
        "--values",
        "0.1,0.2,0.3",
        "--programming-error",
        "state_independent",
        "--out",
        str(out),
        *extra,
    ]


def _wait_for(cond, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: sweep exited early: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _kill_all(pids):
    for p in pids:  # never leave our own stray processes behind, even on failure
        if _alive(p):
            os.kill(p, signal.SIGKILL)


@pytest.mark.parametrize(
    "executor",
    [
        ["--workers", "2"],
        pytest.param(["--scheduler", "local", "--workers", "2"], id="dask-local"),
    ],
)
def test_kill_9_leaves_no_process_behind(tmp_path, executor):
    if "--scheduler" in executor:
        pytest.importorskip("distributed")
    script, piddir, env = _setup(tmp_path)
    proc = subprocess.Popen(
        _sweep_argv(script, tmp_path / "s.csv", *executor),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen: set[int] = set()
    try:
        _wait_for(lambda: len(list(piddir.iterdir())) >= 2, 90, "workers did not start", proc)
        seen = _descendants(proc.pid)  # workers, resource tracker, any helper process
        workers = {int(p.name.split(".")[0]) for p in piddir.iterdir()}
        assert workers <= seen, (workers, seen)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        t0 = time.monotonic()
        while any(_alive(p) for p in seen) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        left = {p: _stat(p) for p in seen if _alive(p)}
        assert not left, f"processes survived kill -9 of the sweep: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_all(seen)


def test_second_writer_is_refused_naming_file_and_holder(tmp_path):
    script, piddir, env = _setup(tmp_path, sleep="0.3")
    out = tmp_path / "s.csv"
    first = subprocess.Popen(
        _sweep_argv(script, out, "--serial", "--repeats", "4"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen: set[int] = set()
    try:
        _wait_for(lambda: any(piddir.iterdir()), 60, "first sweep did not start", first)
        second = subprocess.run(
            _sweep_argv(script, out, "--serial", "--repeats", "4"),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
        )
        err = second.stderr.decode()
        assert second.returncode == 2, err
        assert str(out) in err and f"process {first.pid}" in err, err
        assert "Traceback" not in err
        # a reader beside the writer: never a duplicate, never a torn row, file untouched
        snapshots = []
        while first.poll() is None:
            size = out.stat().st_size
            t = read_sweep(out)
            assert np.isfinite(t.accuracies).sum() == t.reused
            snapshots.append(t.reused)
            assert out.stat().st_size >= size
            time.sleep(0.1)
        assert first.wait(timeout=120) == 0, first.stderr.read().decode()
        assert snapshots == sorted(snapshots)
        lines = [x for x in out.read_text().splitlines() if x and not x.startswith("#")][1:]
        keys = [tuple(x.split(",")[1:3]) for x in lines]
        assert len(keys) == 12 == len(set(keys))
        # now the file is free: a rerun reuses every row
        again = subprocess.run(
            _sweep_argv(script, out, "--serial", "--repeats", "4"),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
        )
        assert again.returncode == 0 and "0 task(s) run, 12 reused" in again.stdout.decode()
    finally:
        seen = {first.pid}
        _kill_all(seen)


def _const(model, config, *, dataset=None, limit=None, chips=None, progress=None):
    from types import SimpleNamespace

    return SimpleNamespace(accuracies=[0.5 for _ in chips])


def test_lock_in_process_and_released_after_error(tmp_path):
    """The API refuses a second writer too, and the lock goes with the sweep (also on error)."""
    from xbar.network.sweep.store import SweepStore

    out = tmp_path / "a.csv"
    base = AnalogConfig(programming_error="state_independent")
    with SweepStore.open(out):
        with pytest.raises(ConfigError, match=f"{out}.*is being written by process {os.getpid()}"):
            sweep(
                "m", base, {"programming_sigma": [0.1]}, out=out, executor="serial", evaluate=_const
            )

    def boom(done, total):
        if done:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        sweep(
            "m",
            base,
            {"programming_sigma": [0.1, 0.2]},
            out=out,
            executor="serial",
            evaluate=_const,
            progress=boom,
        )
    t = sweep(
        "m", base, {"programming_sigma": [0.1, 0.2]}, out=out, executor="serial", evaluate=_const
    )
    assert t.reused == 1 and t.computed == 1


def test_reader_ignores_and_keeps_a_torn_last_line(tmp_path):
    out = tmp_path / "t.csv"
    base = AnalogConfig(programming_error="state_independent")
    sweep("m", base, {"programming_sigma": [0.1, 0.2]}, out=out, executor="serial", evaluate=_const)
    torn = out.read_text() + "1,0.2"
    out.write_text(torn)
    t = read_sweep(out)
    assert t.reused == 2 and out.read_text() == torn  # the reader does not cut the file


def test_a_killed_worker_stops_the_sweep_cleanly(tmp_path):
    """A worker killed from outside (the OOM killer, kill -9) is an XbarError, rows kept.

    The tasks of the first value (one per chip) are quick and the others run for minutes, so
    that once five tasks have started both workers are busy whatever the load: the kill
    always lands in a running task (with equal short tasks a loaded machine could finish
    the sweep before the kill)."""
    script, piddir, env = _setup(tmp_path, fast="0.1")
    out = tmp_path / "s.csv"
    proc = subprocess.Popen(
        _sweep_argv(script, out, "--workers", "2", "--repeats", "3"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen: set[int] = set()
    try:
        _wait_for(lambda: len(list(piddir.iterdir())) >= 5, 120, "no slow task started", proc)
        seen = _descendants(proc.pid)
        victim = min(int(p.name.split(".")[0]) for p in piddir.iterdir())
        os.kill(victim, signal.SIGKILL)
        rc = proc.wait(timeout=120)
        err = proc.stderr.read().decode()
        assert rc == 2, err
        assert "worker process died" in err and "Traceback" not in err
        kept = read_sweep(out)  # the quick tasks' rows (one per chip) are kept
        assert kept.values == ((0.1,),) and kept.reused == 3
        t0 = time.monotonic()
        while any(_alive(p) for p in seen) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert not [p for p in seen if _alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_all(seen)
