"""The lazy imports behind a fast start-up keep working (behaviour, not timing).

Each check runs in a fresh interpreter (``sys.modules`` of this test process already
holds everything), and asserts which heavy modules a command or an import pulls in.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("numpy", "scipy", "scipy.sparse", "numba", "matplotlib", "onnx", "dask")


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter importing this checkout; its stdout."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "XBAR_KEEP_MEMORY": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def loaded_after(code: str) -> set[str]:
    """Which of :data:`HEAVY` are imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    return set(run_python(probe).split())


def test_import_xbar_and_cli_import_no_heavy_module():
    assert loaded_after("import xbar") == set()
    assert loaded_after("import xbar.cli") == set()


def test_help_reads_the_config_fields_without_numpy():
    code = (
        "import contextlib, io\n"
        "from xbar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    code = main(['--help'])\n"
        "assert code == 0 and '--adc-bits' not in out.getvalue(), code\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    code = main(['infer', '--help'])\n"
        "assert code == 0 and '--adc-bits' in out.getvalue(), code\n"
    )
    assert loaded_after(code) == set()


@pytest.mark.parametrize(
    "command", ["solve", "crossbar", "validate", "infer", "sweep", "train", "export-onnx"]
)
def test_every_command_help_imports_no_heavy_module(command):
    code = (
        "import contextlib, io\n"
        "from xbar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    assert main([{command!r}, '--help']) == 0\n"
        "assert 'usage: xbar' in out.getvalue()\n"
    )
    assert loaded_after(code) == set()


def test_solve_of_a_small_netlist_imports_no_numba_plot_or_onnx():
    code = (
        "import contextlib, io\n"
        "from xbar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['solve']) == 0\n"
    )
    loaded = loaded_after(code)
    assert {"numpy", "scipy.sparse"} <= loaded
    assert not loaded & {"numba", "matplotlib", "onnx", "dask"}, loaded


def test_public_names_resolve_lazily():
    code = (
        "import xbar, xbar.network, xbar.crossbar\n"
        "names = [n for n in xbar.__all__ if n not in ('plot', 'network')]\n"
        "assert all(getattr(xbar, n) is not None for n in names)\n"
        "assert xbar.Crossbar is xbar.crossbar.Crossbar\n"
        "assert set(xbar.network.__all__) <= set(dir(xbar.network))\n"
        "for n in xbar.network.__all__:\n"
        "    assert getattr(xbar.network, n).__name__ == n, n\n"
        "from xbar.network import AnalogConfig, evaluate, load_model, sweep\n"
        "assert callable(evaluate) and callable(sweep) and callable(load_model)\n"
    )
    run_python(code)


@pytest.mark.parametrize("name", ["evaluate", "sweep"])
def test_function_keeps_its_name_after_its_submodule_is_imported(name):
    # xbar.network.evaluate (the function) shares its name with its submodule; importing
    # the submodule first must not hide the function (as the eager re-exports did not)
    code = (
        f"import xbar.network.{name}\n"
        "import xbar.network.sweep.executors\n"
        f"from xbar.network import {name}\n"
        f"assert callable({name}) and {name}.__name__ == {name!r}, {name}\n"
        "import sys, types\n"
        f"assert isinstance(sys.modules['xbar.network.{name}'], types.ModuleType)\n"
    )
    run_python(code)


def test_unknown_names_raise_attribute_error():
    code = (
        "import xbar, xbar.network\n"
        "for mod in (xbar, xbar.network):\n"
        "    try:\n"
        "        mod.no_such_name\n"
        "    except AttributeError as exc:\n"
        "        assert 'no_such_name' in str(exc)\n"
        "    else:\n"
        "        raise SystemExit('no AttributeError')\n"
        "from xbar.network import energy\n"  # a submodule, not a re-export
        "assert energy.__name__ == 'xbar.network.energy'\n"
    )
    run_python(code)


def test_cli_defers_numpy_submodules_it_does_not_use():
    # scipy.sparse reads every numpy attribute; the CLI binds numpy.f2py and numpy.testing
    # lazily first, so their code (and unittest's) runs only when something uses them
    code = (
        "import contextlib, io, sys\n"
        "from xbar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['solve']) == 0\n"
        "assert 'scipy.sparse' in sys.modules and 'unittest' not in sys.modules\n"
        "import numpy as np\n"
        "np.testing.assert_allclose([1.0], [1.0])\n"  # the lazy module runs on first use
        "from numpy.testing import assert_array_equal\n"
        "assert 'unittest' in sys.modules and callable(np.f2py.run_main)\n"
    )
    run_python(code)


def test_threads_that_first_use_the_kernels_together_all_get_them():
    # the kernel module is imported by the first attribute read; threads reading at the
    # same moment must wait for that one import, not see a half-run module
    code = (
        "import sys, threading\n"
        "import numpy as np, xbar\n"
        "xb = xbar.Crossbar(np.full((260, 260), 1e-4), 1.0, 1.0)\n"  # above the numpy twin
        "V = np.full(260, 0.2)\n"
        "assert 'xbar.crossbar.kernels' not in sys.modules\n"
        "out, gate = [], threading.Barrier(4)\n"
        "def run():\n"
        "    gate.wait()\n"
        "    out.append(xb.solve(V).output)\n"
        "threads = [threading.Thread(target=run) for _ in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "assert len(out) == 4 and all(np.array_equal(o, out[0]) for o in out)\n"
    )
    run_python(code)


def test_thread_caps_wait_for_numba_and_apply_when_kernels_start():
    # --threads 1 used to import numba (0.12-0.15 s) just to cap it; now the cap is applied
    # by the kernel modules when they import numba, in the thread that set it
    code = (
        "import sys, threading, contextlib, io\n"
        "import numpy as np, xbar\n"
        "from xbar import threads\n"
        "from xbar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['solve', '--threads', '1']) == 0\n"
        "assert 'numba' not in sys.modules and threads.current().numba == 1\n"
        "big = xbar.Crossbar(np.full((260, 260), 1e-4), 1.0, 1.0)\n"
        "big.solve(np.full(260, 0.2))\n"  # loads the crossbar kernels
        "import numba\n"
        "assert numba.get_num_threads() == 1\n"
        "seen = []\n"  # another thread keeps numba's own default
        "t = threading.Thread(target=lambda: seen.append(numba.get_num_threads()))\n"
        "t.start(); t.join()\n"
        "assert seen == [numba.config.NUMBA_NUM_THREADS], seen\n"
    )
    run_python(code)


def test_limit_restores_numba_imported_inside_it():
    code = (
        "import sys\n"
        "import numpy as np, xbar\n"
        "from xbar import threads\n"
        "with threads.limit(1):\n"
        "    assert 'numba' not in sys.modules\n"
        "    xbar.Crossbar(np.full((260, 260), 1e-4), 1.0, 1.0).solve(np.full(260, 0.2))\n"
        "    import numba\n"
        "    assert numba.get_num_threads() == 1\n"
        "assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS\n"
        "assert threads.current() is None\n"
    )
    run_python(code)
