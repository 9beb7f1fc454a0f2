"""Faults of whole processes and their environment (hostile inputs, round 5).

Each case runs the ``xbar`` command as a user's shell would (a subprocess) where the
fault is one of the process: signals, closed or full standard output, pipes that never
end, memory limits, thread and cache variables.  Every one must end with one clear
message and the conventional exit status, never a traceback, a hang or a partial file.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from xbar import environment
from xbar.checks import available_memory, read_limited
from xbar.cli import clip_lines, main
from xbar.errors import Location, NetlistError, ResourceError

ROOT = Path(__file__).resolve().parents[1]
LINUX = os.path.isdir("/proc/self")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), XBAR_KEEP_MEMORY="0")
    env.pop("XBAR_DEBUG", None)
    env.update(extra)
    return env


def _xbar(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """``python -m xbar.cli ARGS`` in a fresh process; its completed process (text)."""
    kw.setdefault("env", _env())
    return subprocess.run(
        [sys.executable, "-m", "xbar.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=kw.pop("cwd", ROOT),
        **kw,
    )


def _clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# signals: one line, 128 + signal number, clean-up code runs
# ---------------------------------------------------------------------------------------------

# a command that signals it is running, then works (sleeps) until it is stopped; with a
# path it is writing a file (all or nothing, xbar.checks.write_files) while stopped
BLOCKING = """
import sys, time, pathlib
import xbar.cli.validate as v
from xbar.checks import write_files

ready, target = pathlib.Path(sys.argv[1]), sys.argv[2]

def slow_write(fh):
    fh.write(b"half of the report")
    fh.flush()
    ready.write_text("ready")
    time.sleep(60)

def run(args):
    if target != "-":
        write_files({pathlib.Path(target): slow_write})
    ready.write_text("ready")
    time.sleep(60)
    return 0

v.run = run
from xbar.cli import main
sys.exit(main(["validate"]))
"""


def _start_blocking(tmp_path: Path, target: str = "-") -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "blocking.py"
    script.write_text(BLOCKING)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ready), target],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    deadline = time.monotonic() + 60
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc, ready


@pytest.mark.skipif(not LINUX, reason="POSIX signals")
@pytest.mark.parametrize(
    "sig, what",
    [
        (signal.SIGTERM, "terminated by SIGTERM"),
        (signal.SIGHUP, "terminated by SIGHUP"),
        (signal.SIGINT, "interrupted"),
    ],
)
def test_signal_gives_one_line_and_conventional_status(tmp_path, sig, what):
    """Before: SIGTERM and SIGHUP ended every command but `sweep` silently (the shell's
    143/129 and nothing on stderr); now one line names the command and the signal."""
    proc, _ = _start_blocking(tmp_path)
    try:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert err.strip() == f"xbar validate: {what}", err


STUCK = """
import sys, threading, time, pathlib
import xbar.cli.validate as v

def run(args):
    # a worker thread deep in a compiled kernel: neither a signal nor the exit can stop it
    threading.Thread(target=time.sleep, args=(120,), name="kernel").start()
    pathlib.Path(sys.argv[1]).write_text("ready")
    time.sleep(120)

v.run = run
from xbar.cli import main
sys.exit(main(["validate"], process=True))
"""


@pytest.mark.skipif(not LINUX, reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_is_prompt_while_a_kernel_thread_runs(tmp_path, sig):
    """Before: a SIGTERM'd `xbar crossbar --rows 2048 --cols 2048 --device sinh` printed
    its line and then waited for its kernel threads (still running 30 s later); now the
    process ends GRACE (5 s) after the signal, with one line and 128 + signal."""
    script = tmp_path / "stuck.py"
    script.write_text(STUCK)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)  # the kernel thread would take 120 s
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    what = "interrupted" if sig == signal.SIGINT else "terminated by SIGTERM"
    assert err.strip() == f"xbar validate: {what}", err


@pytest.mark.skipif(not LINUX, reason="POSIX signals")
def test_sigterm_while_writing_leaves_no_file(tmp_path):
    """Before: SIGTERM killed the process without unwinding, leaving the half-written
    temporary file (`.report.md.tmpPID`) beside the output; now neither remains."""
    target = tmp_path / "out" / "report.md"
    target.parent.mkdir()
    proc, _ = _start_blocking(tmp_path, str(target))
    try:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert list(target.parent.iterdir()) == [], "a partial or temporary file was left"


SWEEPER = '''
import os, sys, time
from types import SimpleNamespace


def evaluate(model, config, *, dataset=None, limit=None, chips=None, progress=None):
    """adc_bits 4 finishes at once; other points block (until the process is stopped)
    unless XBAR_TEST_FAST is set."""
    if config.adc_bits != 4 and not os.environ.get("XBAR_TEST_FAST"):
        open(os.environ["XBAR_TEST_READY"], "w").close()
        time.sleep(60)
    return SimpleNamespace(accuracies=[0.5 + 0.01 * k + config.adc_bits for k in chips])
'''

SWEEP_MAIN = """
import functools, importlib, sys

if __name__ == "__main__":
    import sweeper

    sw = importlib.import_module("xbar.network.sweep")
    sw.sweep = functools.partial(sw.sweep, evaluate=sweeper.evaluate)
    from xbar.cli import main

    sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not LINUX, reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sweep_interrupted_then_resumed_without_recomputing(tmp_path, sig):
    """Ctrl-C or SIGTERM mid-sweep: one line saying where the finished points are; the
    rerun reuses every finished row, computes only the rest, and no row is written twice."""
    (tmp_path / "sweeper.py").write_text(SWEEPER)
    (tmp_path / "run_sweep.py").write_text(SWEEP_MAIN)
    ready, out = tmp_path / "ready", tmp_path / "s.csv"
    env = _env(PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}", XBAR_TEST_READY=str(ready))
    cmd = [
        sys.executable,
        str(tmp_path / "run_sweep.py"),
        "sweep",
        "--field",
        "adc_bits",
        "--values",
        "4,6",
        "--repeats",
        "3",
        "--serial",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 90
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    _clean(err)
    assert f"finished points are kept in {out} (rerun to resume)" in err
    assert len(err.strip().splitlines()) == 1, err
    rows = [ln for ln in out.read_text().splitlines() if ln and not ln.startswith("#")][1:]
    assert len(rows) == 3  # the three chips of adc_bits=4

    env["XBAR_TEST_FAST"] = "1"
    again = subprocess.run(cmd + ["--json"], capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    import json

    summary = json.loads(again.stdout)
    assert (summary["reused"], summary["computed"]) == (3, 3)
    rows = [ln for ln in out.read_text().splitlines() if ln and not ln.startswith("#")][1:]
    assert len(rows) == len(set(rows)) == 6


@pytest.mark.parametrize("keep", [1, 5, 60, 300])
def test_sweep_whose_header_was_cut_short_starts_over(tmp_path, keep, capsys):
    """A sweep stopped while writing its header (a full disk) left a file that every
    rerun refused as 'not an xbar sweep CSV' or 'has columns []'; a file holding only the
    start of this run's own header now starts over, any other file is still refused."""
    full = tmp_path / "full.csv"
    args = ["sweep", "--field", "adc_bits", "--values", "4,6", "--limit", "5", "--serial"]
    assert main([*args, "--out", str(full)]) == 0
    cut = tmp_path / "cut.csv"
    head = full.read_bytes().split(b"\npoint,")[0]
    cut.write_bytes(head[:keep])
    assert main([*args, "--out", str(cut), "--json"]) == 0
    assert '"computed": 2' in capsys.readouterr().out
    assert cut.read_bytes().split(b"\npoint,")[0] == head
    other = tmp_path / "other.csv"
    other.write_bytes(b"# xbar sweep v1\n# fingerprint: 0123456789abcdef\n")  # not ours
    assert main([*args, "--out", str(other)]) == 2


# ---------------------------------------------------------------------------------------------
# output destinations
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not LINUX, reason="FIFOs")
def test_sweep_out_on_a_fifo_is_refused_not_a_hang(tmp_path):
    """Before: `--out FIFO` blocked forever in open(); now refused at once by name."""
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    r = _xbar("sweep", "--field", "adc_bits", "--values", "4,6", "--limit", "5", "--out", str(fifo))
    assert r.returncode == 2
    assert f"cannot write sweep output '{fifo}': it is a pipe, not a file" in r.stderr
    _clean(r.stderr)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_sweep_out_dev_full_named_up_front():
    r = _xbar("sweep", "--field", "adc_bits", "--values", "4,6", "--out", "/dev/full")
    assert r.returncode == 2 and "'/dev/full': it is a device, not a file" in r.stderr


def test_export_onnx_into_a_missing_folder_is_refused(tmp_path):
    """Before: the folder (and its parents) were created; every other output refuses."""
    target = tmp_path / "no" / "such" / "m.onnx"
    assert main(["export-onnx", "default", "--out", str(target)]) == 2
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(not LINUX, reason="flock")
def test_a_set_of_files_is_renamed_under_a_folder_lock(tmp_path, monkeypatch):
    """Two `xbar train --out m` at once renamed their m.json and m.npz in turn, which could
    pair one run's json with the other's npz; the renames of one set now hold a lock on
    the folder that the other set waits for."""
    import fcntl

    from xbar.checks import write_files

    held = []
    real = os.replace

    def replace(src, dst):
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(False)
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(fd)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    a, b = tmp_path / "m.json", tmp_path / "m.npz"
    write_files({a: lambda fh: fh.write(b"{}"), b: lambda fh: fh.write(b"z")})
    assert held == [True, True]
    assert a.read_bytes() == b"{}" and b.read_bytes() == b"z"


@pytest.mark.skipif(not LINUX, reason="shell redirections")
def test_closed_stdout_is_named_not_an_internal_error():
    """Before: `xbar solve >&-` was 'internal error: AttributeError' (exit 70)."""
    r = subprocess.run(
        f"{sys.executable} -m xbar.cli solve >&-",
        shell=True,
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 2
    assert "standard output is closed" in r.stderr
    _clean(r.stderr)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["solve"], ["validate", "--list"]])
def test_stdout_on_a_full_disk(args):
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "xbar.cli", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=ROOT,
            timeout=60,
        )
    assert r.returncode == 2
    assert "No space left on device (writing the output)" in r.stderr
    _clean(r.stderr)
    assert "Exception ignored" not in r.stderr


def _ladder(path: Path, n: int) -> Path:
    lines = ["ladder", "V1 n0 0 1"]
    lines += [f"R{i} n{i} n{i + 1} 1" for i in range(n)]
    path.write_text("\n".join([*lines, f"Rend n{n} 0 1", ".op", ".end", ""]))
    return path


@pytest.mark.skipif(not LINUX, reason="pipes")
def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """`xbar solve big.cir | head -1`: exit 0 and nothing on stderr (no BrokenPipeError,
    no 'Exception ignored' when Python exits)."""
    net = _ladder(tmp_path / "big.cir", 4000)  # about 150 kB of output: more than a pipe holds
    proc = subprocess.Popen(
        [sys.executable, "-m", "xbar.cli", "solve", str(net)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=ROOT,
    )
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert proc.returncode == 0, err
    assert err == "", err


# ---------------------------------------------------------------------------------------------
# inputs that never end or are one huge line
# ---------------------------------------------------------------------------------------------

ENDLESS = """
import sys
import xbar.checks
xbar.checks.MAX_INPUT_BYTES = 1 << 20
from xbar.cli import main
sys.exit(main(["solve", "/dev/stdin"]))
"""


@pytest.mark.skipif(not LINUX, reason="/dev/stdin")
def test_endless_pipe_is_cut_at_the_limit(tmp_path):
    """Before: `yes | xbar solve /dev/stdin` read until memory ran out; now it stops at the
    input limit (1 GiB; 1 MiB here) with a message naming the input."""
    proc = subprocess.Popen(
        [sys.executable, "-c", ENDLESS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )

    def feed():
        try:
            while True:
                proc.stdin.write(b"R1 a 0 1\n" * 4096)
        except (BrokenPipeError, OSError, ValueError):
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    err = proc.stderr.read().decode()  # ends when the process exits
    proc.wait(timeout=60)
    assert proc.returncode == 2, err
    assert "netlist '/dev/stdin' holds more than 1048576 bytes" in err
    _clean(err)


def test_read_limited_measures_a_regular_file_before_reading(tmp_path):
    f = tmp_path / "a.cir"
    f.write_bytes(b"x" * 100)
    assert read_limited(f, "netlist", limit=100) == b"x" * 100
    with pytest.raises(ResourceError, match="holds more than 99 bytes"):
        read_limited(f, "netlist", limit=99)


def test_huge_source_line_is_shown_as_a_window_around_the_column():
    """Before: an error in a 200 MB one-line file printed all 200 MB under the message."""
    line = "x" * 1_000_000 + "?" + "y" * 1_000_000
    err = NetlistError("bad", location=Location("f.cir", 1, 1_000_001, line))
    text = str(err)
    assert len(text) < 500
    src, caret = text.splitlines()[1:3]
    assert src[caret.index("^")] == "?"


def test_cli_cuts_any_long_message_line():
    assert len(clip_lines("v" * 10**6)) < 2100
    assert clip_lines("short\nlines") == "short\nlines"


def test_huge_line_in_a_voltage_file_is_not_echoed(tmp_path, capsys):
    f = tmp_path / "v.txt"
    f.write_text("z" * 1_000_000 + "\n")
    assert main(["crossbar", "--rows", "4", "--cols", "4", "--voltages", str(f)]) == 2
    err = capsys.readouterr().err
    assert len(err) < 5000 and "more characters" in err


@pytest.mark.skipif(not LINUX, reason="FIFOs")
def test_fifo_as_conductance_file_is_named_a_pipe(tmp_path, capsys):
    fifo = tmp_path / "g.npz"
    os.mkfifo(fifo)
    assert main(["crossbar", "--conductances", str(fifo)]) == 2
    assert "is a pipe, not a file" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# environment: thread variables, numba's cache, matplotlib's folder, locale
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2,3"])
def test_nonsense_numba_num_threads_is_dropped_with_a_note(value):
    """Before: NUMBA_NUM_THREADS=0 or -1 was an internal error (exit 70) and 'abc' printed
    numba's traceback as a warning; now a note and the run goes on."""
    code = (
        "import sys\n"
        "from xbar.cli import main\n"
        "rc = main(['crossbar', '--rows', '8', '--cols', '8'])\n"
        "import numba\n"  # after main: reads the environment main left
        "print(numba.config.NUMBA_NUM_THREADS >= 1)\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(NUMBA_NUM_THREADS=value),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert f"note: ignoring NUMBA_NUM_THREADS={value!r}: not a positive integer" in r.stderr
    assert "could not be parsed" not in r.stderr
    _clean(r.stderr)
    assert r.stdout.strip().endswith("True")


def test_thread_variables_checked_and_capped():
    env = {"NUMBA_NUM_THREADS": "100000", "OMP_NUM_THREADS": "4,2", "MKL_NUM_THREADS": "x"}
    notes = environment.check_thread_variables(env, cores=2)
    assert env == {"NUMBA_NUM_THREADS": "2", "OMP_NUM_THREADS": "4,2"}
    assert notes == ["ignoring MKL_NUM_THREADS='x': not a positive integer"]


def test_numba_cache_goes_to_a_temporary_folder_when_nothing_else_is_writable(
    tmp_path, monkeypatch
):
    """A read-only install whose HOME cannot hold ~/.cache: before, every compiled kernel
    failed with numba's 'cannot cache function ... no locator available' (exit 70)."""
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    real = environment.writable_dir
    package = Path(environment.__file__).resolve().parent
    monkeypatch.setattr(
        environment,
        "writable_dir",
        lambda p: False if package in Path(p).parents else real(p),
    )
    env = {"HOME": str(home)}
    path = environment.ensure_numba_cache(env)
    assert path is not None and Path(path).parent == tmp_path
    assert env["NUMBA_CACHE_DIR"] == path and os.access(path, os.W_OK)
    # a cache that works, or an explicit setting, is left alone
    assert environment.ensure_numba_cache({"NUMBA_CACHE_DIR": "/x"}) is None
    monkeypatch.setattr(environment, "writable_dir", real)
    if os.access(package / "crossbar", os.W_OK):
        assert environment.ensure_numba_cache({"HOME": str(home)}) is None


def test_numba_cache_failure_is_a_clear_message(monkeypatch, capsys):
    import xbar.cli.validate as v

    def run(args):
        raise RuntimeError("cannot cache function 'f': no locator available for file 'k.py'")

    monkeypatch.setattr(v, "run", run)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "numba cannot store its compiled kernels" in err and "NUMBA_CACHE_DIR" in err


KERNEL = """
from numba import njit

@njit(cache=True)
def plus_one(x):
    return x + 1
"""

USE_KERNEL = """
import sys
import xbar.cli.validate as v

def run(args):
    import tiny_kernel
    return tiny_kernel.plus_one(1) - 2

v.run = run
from xbar.cli import main
sys.exit(main(["validate"]))
"""


def test_damaged_numba_cache_is_named_with_what_to_delete(tmp_path):
    """Before: a truncated index file in numba's cache made every solve an internal error
    (UnpicklingError, exit 70); now exit 2 naming the file and the folder to delete."""
    (tmp_path / "tiny_kernel.py").write_text(KERNEL)
    (tmp_path / "use.py").write_text(USE_KERNEL)
    cache = tmp_path / "cache"
    env = _env(PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}", NUMBA_CACHE_DIR=str(cache))
    cmd = [sys.executable, str(tmp_path / "use.py")]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    index = next(cache.rglob("*.nbi"))
    index.write_bytes(index.read_bytes()[:10])
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "numba's cache of compiled kernels is damaged" in r.stderr
    assert str(index) in r.stderr and f"delete the folder '{index.parent}'" in r.stderr
    _clean(r.stderr)


def test_matplotlib_gets_a_private_folder_when_home_cannot_hold_one(tmp_path, monkeypatch):
    """Before: HOME=/proc printed matplotlib's four-line warning on every plot."""
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    home = tmp_path / "file"
    home.write_text("")
    env = {"HOME": str(home)}
    path = environment.ensure_matplotlib_dir(env)
    assert path is not None and env["MPLCONFIGDIR"] == path
    assert environment.ensure_matplotlib_dir({"MPLCONFIGDIR": "/x"}) is None


@pytest.mark.skipif(not LINUX, reason="locales")
def test_c_locale_and_non_ascii_paths(tmp_path):
    """LANG=C without UTF-8 mode, a folder and file with spaces, µ, Ω and ±: the netlist
    is read, its note printed (stderr escapes), the result written."""
    folder = tmp_path / "dir µ Ω"
    folder.mkdir()
    net = folder / "net ±.cir"
    net.write_text("title\nV1 in 0 1\nR1 in µ 1k\nR2 µ 0 1k\n.op\n.end\n", encoding="utf-8")
    env = _env(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    r = _xbar("solve", str(net), env=env)
    assert r.returncode == 0, r.stderr
    _clean(r.stderr)
    r = _xbar("solve", str(folder / "missing ±.cir"), env=_env(PYTHONIOENCODING="ascii"))
    assert r.returncode == 2 and "cannot read netlist" in r.stderr
    _clean(r.stderr)


@pytest.mark.skipif(not LINUX, reason="locales")
@pytest.mark.parametrize(
    "env",
    [{"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}, {"PYTHONIOENCODING": "ascii"}],
)
def test_ascii_locale_prints_non_ascii_titles_escaped(tmp_path, env):
    """Before: a netlist titled 'Ω divider' under an ASCII locale was an internal error
    (UnicodeEncodeError, exit 70); now the title is printed escaped."""
    net = tmp_path / "t.cir"
    net.write_text("Ω divider ± µ\nV1 in 0 1\nR1 in 0 1k\n.op\n.end\n", encoding="utf-8")
    r = _xbar("solve", str(net), env=_env(**env))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "\\u03a9 divider \\xb1 \\xb5"
    _clean(r.stderr)


# ---------------------------------------------------------------------------------------------
# memory limits: refused up front with the size and the field
# ---------------------------------------------------------------------------------------------

LIMIT = 4 << 30  # address space for the limited runs (python + numpy + scipy fit well)


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS")
def test_available_memory_sees_the_address_space_limit():
    code = "from xbar.checks import available_memory; print(available_memory())"
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(),
        preexec_fn=_limited,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert 0 < float(r.stdout) < LIMIT
    assert available_memory() > 0


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS")
@pytest.mark.parametrize(
    "args, needle",
    [
        (["crossbar", "--rows", "2048", "--cols", "2048", "--inputs", "64"], "GiB of memory"),
        (
            [
                "infer",
                "--repeats",
                "1000000000",
                "--limit",
                "5",
                "--programming-sigma",
                "0.1",
                "--programming-error",
                "state_independent",
            ],
            "repeats=1000000000: the per-chip results alone need about",
        ),
        (
            [
                "sweep",
                "--field",
                "adc_bits",
                "--values",
                "4,6",
                "--repeats",
                "1000000",
                "--limit",
                "5",
                "--programming-sigma",
                "0.1",
                "--programming-error",
                "state_independent",
            ],
            "repeats=1000000 on 2 grid point(s) is 2000000 tasks",
        ),
    ],
)
def test_big_requests_refused_up_front_under_a_memory_limit(tmp_path, args, needle):
    """Before: under `ulimit -v` the crossbar check compared with the machine's free
    memory and then died of MemoryError; `--repeats 1e9` had no check at all (a sweep with
    it took 22 GiB and was killed by the system)."""
    if args[0] == "sweep":
        args = [*args, "--out", str(tmp_path / "s.csv")]
    r = _xbar(*args, preexec_fn=_limited)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr
    avail = float(r.stderr.split("about ")[-1].split(" GiB")[0])
    assert avail < LIMIT / 2**30  # the limit, not the machine's memory
    _clean(r.stderr)
    assert not (tmp_path / "s.csv").exists()


def test_curvature_samples_beyond_reason_are_refused_by_name(tmp_path, capsys):
    """Before: `xbar train --curvature-samples 1000000000` asked numpy for 7.45 GiB (a
    MemoryError under a limit, years of forward passes without one)."""
    out = str(tmp_path / "m")
    assert main(["train", "--epochs", "1", "--out", out, "--curvature-samples", "1000000000"]) == 2
    assert "curvature_samples=1000000000: at most 100000" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_many_chips_checked_in_linear_time():
    """`_checked_chips` counted duplicates with list.count per chip: 100000 chips took
    about a minute before the first image was read."""
    from xbar.network.config import AnalogConfig
    from xbar.network.evaluate import _checked_chips

    chips = _checked_chips(None, AnalogConfig(repeats=100_000))
    assert chips[-1] == 99_999


# ---------------------------------------------------------------------------------------------
# numbers at the edge
# ---------------------------------------------------------------------------------------------


def test_wire_resistance_below_the_solvable_range_is_named(capsys):
    """`--r-wire 1e-308` (a wire conductance of 1e308 S): before, six numpy
    RuntimeWarnings and then 'CG overflowed ... input voltages (or currents)', naming no
    field; now refused where it is given."""
    assert main(["crossbar", "--rows", "8", "--cols", "8", "--r-wire", "1e-308"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --r-wire: r_row is 1e-308 ohm") and "smallest resistance" in err
    assert main(["crossbar", "--rows", "8", "--cols", "8", "--r-wire", "1e-140"]) == 0


WARNS = """
import sys, numpy as np
import xbar.cli.validate as v
from xbar.errors import ValueRangeError

def run(args):
    np.float64(1e308) * np.float64(10.0)  # numpy: RuntimeWarning: overflow encountered
    raise ValueRangeError("the result is not finite")

v.run = run
from xbar.cli import main
sys.exit(main(["validate"]))
"""


@pytest.mark.parametrize("debug", ["", "1"])
def test_numpy_float_warnings_hidden_unless_debugging(debug):
    """A kernel's overflow warnings came before xbar's own error, with numpy source lines."""
    env = _env(XBAR_DEBUG=debug) if debug else _env()
    r = subprocess.run(
        [sys.executable, "-c", WARNS], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 2 and "the result is not finite" in r.stderr
    assert ("RuntimeWarning" in r.stderr) == bool(debug), r.stderr


@pytest.mark.parametrize("value", ["2.5", "1e3", "0x10", ""])
def test_integer_flags_refuse_floats(value, capsys):
    assert main(["infer", "--repeats", value, "--limit", "5"]) == 2
    assert "repeats" in capsys.readouterr().err


@pytest.mark.parametrize("spelling", ["inf", "+inf", "-inf", "Infinity", "nan", "-nan", "NaN"])
def test_non_finite_spellings_refused_on_the_command_line(spelling, capsys):
    assert main(["infer", "--r-row", spelling, "--limit", "5"]) == 2
    assert "r_row=" in capsys.readouterr().err


@pytest.mark.parametrize("spelling", ["inf", "+inf", "-inf", "nan", "+nan", "-nan", "1e400"])
def test_non_finite_spellings_refused_in_toml(tmp_path, spelling, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"r_row = {spelling}\n")
    assert main(["infer", "--config", str(cfg), "--limit", "5"]) == 2
    assert "r_row=" in capsys.readouterr().err


def test_negative_zero_is_a_plain_zero(capsys):
    """`-0` was kept as -0.0: shown as 'r_row -0.0', and `--values 0,-0` swept one point
    twice (two rows, two fingerprints of the same chip)."""
    from xbar.network.config import AnalogConfig

    assert str(AnalogConfig(r_row=-0.0).r_row) == "0.0"
    assert str(AnalogConfig.from_dict({"r_row": -0.0}).r_row) == "0.0"
    assert main(["sweep", "--field", "r_row", "--values", "0,-0", "--limit", "5"]) == 2
    assert "lists the value '0' and '-0' twice" in capsys.readouterr().err


def test_a_value_list_may_start_with_a_negative_number(tmp_path, capsys):
    """`--values -0.1,0,0.1` was an argparse error ('expected one argument')."""
    out = tmp_path / "s.csv"
    args = ["sweep", "--field", "programming_mu", "--values", "-0.1,0,0.1", "--limit", "5"]
    args += ["--programming-error", "weight_range", "--serial", "--out", str(out), "--json"]
    assert main(args) == 0, capsys.readouterr().err
    assert '"values": [[-0.1, 0.0, 0.1]]' in capsys.readouterr().out
