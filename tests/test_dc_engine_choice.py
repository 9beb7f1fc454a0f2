"""Which engine ``solve_dc(engine="auto")`` runs a sweep on (whole-process cost)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xbar.spice import dc
from xbar.spice.netlist import read_netlist

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_process(monkeypatch):
    """As in a new process: the compiled kernels not loaded (the choice reads sys.modules)."""
    monkeypatch.delitem(sys.modules, "xbar.spice._newton_kernels", raising=False)


def _ladder(tmp_path, nodes: int):
    lines = ["ladder", "v1 n0 0 dc 1"]
    lines += [f"r{k} n{k} n{k + 1} 1k\nd{k} n{k + 1} 0 dm" for k in range(nodes)]
    lines += [".model dm D(IS=1e-14)", ".dc v1 0 1 0.01", ".end"]
    path = tmp_path / "ladder.cir"
    path.write_text("\n".join(lines) + "\n")
    return read_netlist(path)


def test_explicit_engines_and_short_sweeps(tmp_path):
    c = _ladder(tmp_path, 3)
    assert dc._compiled_choice("python", 10_000, c) is False
    assert dc._compiled_choice("compiled", 1, c) is None
    assert dc._compiled_choice("auto", dc.COMPILED_MIN_POINTS - 1, c) is False


def test_fresh_process_compiles_only_where_python_would_cost_more(tmp_path, fresh_process):
    small = _ladder(tmp_path, 3)
    assert dc._compiled_choice("auto", 101, small) is False  # ~0.07 s on the Python path
    assert dc._compiled_choice("auto", 5000, small) is None  # seconds: numba pays
    big = _ladder(tmp_path, 2000)  # 4000 nodes: ~14 ms a point in Python
    assert dc._compiled_choice("auto", 101, big) is None


def test_kernels_running_compile_from_the_minimum(tmp_path):
    import xbar.spice._newton_kernels  # noqa: F401  (as after an earlier compiled sweep)

    assert dc._compiled_choice("auto", dc.COMPILED_MIN_POINTS, _ladder(tmp_path, 3)) is None


@pytest.mark.parametrize("threads", ["0", "1"])  # --threads 1 imports numba to cap it
def test_bundled_mosfet_sweep_runs_without_numba_kernels(threads):
    code = (
        "import sys, contextlib, io\n"
        "from xbar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    args = ['solve', 'netlists/real/cmos_inverter_vtc.cir', '--csv']\n"
        f"    assert main(args + ['--threads', {threads!r}]) == 0\n"
        "assert len(out.getvalue().splitlines()) == 68\n"
        "assert 'xbar.spice._newton_kernels' not in sys.modules\n"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
