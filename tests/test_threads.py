"""Thread control (:mod:`xbar.threads`): one setting caps BLAS and numba, nothing at import."""

from __future__ import annotations

import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info

import xbar.threads as th
from xbar.errors import ConfigError


def _blas_threads() -> list[int]:
    import scipy.linalg  # noqa: F401

    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})


@pytest.fixture(autouse=True)
def _restore_process_setting(monkeypatch):
    monkeypatch.delenv(th.ENV_VAR, raising=False)
    saved = th._current
    yield
    th._current = saved


def test_plan_values(monkeypatch):
    cores = th.available_cores()
    assert th._caps(0) == th.ThreadPlan(blas=1, numba=cores)
    assert th._caps(1) == th.ThreadPlan(blas=1, numba=1)
    assert th._caps(64) == th.ThreadPlan(blas=64, numba=cores)
    monkeypatch.setenv(th.ENV_VAR, "1")
    th._current = None
    assert th.plan(0) == th.ThreadPlan(1, 1)
    assert th.plan(None) == th.ThreadPlan(1, 1)
    assert th.plan(2).blas == 2  # an explicit value beats the environment


@pytest.mark.parametrize(
    "bad", [-1, 1.5, "two", True, th.MAX_THREADS + 1, 2**64, "18446744073709551616"]
)
def test_bad_counts_name_the_setting(bad):
    with pytest.raises(ConfigError, match="threads"):
        th.plan(bad)


def test_bad_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv(th.ENV_VAR, "lots")
    th._current = None
    with pytest.raises(ConfigError, match=th.ENV_VAR):
        th.plan(0)


def test_limit_caps_blas_and_numba_and_restores():
    import numba

    before_blas, before_numba = _blas_threads(), numba.get_num_threads()
    with th.limit(1) as caps:
        assert caps == th.ThreadPlan(1, 1)
        assert _blas_threads() == [1]
        assert numba.get_num_threads() == 1
        assert th.current() == caps
        with th.limit(0) as inner:  # automatic inside a limit keeps the caps in force
            assert inner == caps
    assert _blas_threads() == before_blas
    assert numba.get_num_threads() == before_numba


def test_limit_restores_after_an_error():
    before = _blas_threads()
    with pytest.raises(RuntimeError), th.limit(1):
        raise RuntimeError("boom")
    assert _blas_threads() == before


def test_import_changes_nothing():
    code = (
        "import numpy, scipy.linalg, xbar, xbar.network, xbar.threads\n"
        "from threadpoolctl import threadpool_info\n"
        "print(sorted(i['num_threads'] for i in threadpool_info() if i['user_api']=='blas'))"
    )
    env_out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    bare = subprocess.run(
        [sys.executable, "-c", code.replace(", xbar, xbar.network, xbar.threads", "")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert env_out == bare


def test_evaluate_runs_under_its_config_threads(monkeypatch):
    from xbar.network import AnalogConfig, evaluate, load_model
    from xbar.network.tiles import TransferCache

    seen = []
    real = th.limit

    def spy(n=0):
        seen.append(n)
        return real(n)

    monkeypatch.setattr(th, "limit", spy)
    model = load_model("default")
    before = _blas_threads()
    r1 = evaluate(model, AnalogConfig(threads=1, r_row=1.0), limit=20, cache=TransferCache())
    r0 = evaluate(model, AnalogConfig(r_row=1.0), limit=20, cache=TransferCache())
    assert seen == [1, 0]
    assert r1.accuracy == r0.accuracy  # threads never change results
    assert _blas_threads() == before


def test_config_field_validated():
    from xbar.network import AnalogConfig

    with pytest.raises(ConfigError, match="threads"):
        AnalogConfig(threads=-2).validate()


def test_cli_flag_applies(capsys):
    from xbar.cli import main

    assert main(["crossbar", "--rows", "4", "--cols", "4", "--threads", "1"]) == 0
    assert th.current() == th.ThreadPlan(1, 1)
    assert main(["infer", "--limit", "5", "--threads", "1", "--no-progress"]) == 0
    assert th.current() == th.ThreadPlan(1, 1)
    assert main(["crossbar", "--rows", "4", "--cols", "4", "--threads", "-1"]) == 2
    assert "threads" in capsys.readouterr().err


def test_sweep_worker_gets_one_thread(monkeypatch):
    from xbar.network.sweep.executors import worker_threads

    assert worker_threads() == 1
    monkeypatch.setenv(th.ENV_VAR, "2")
    assert worker_threads() == 2


def test_huge_thread_count_from_cli_is_a_config_error(capsys):
    from xbar.cli import main

    assert main(["infer", "--threads", str(2**64), "--limit", "0"]) == 2
    assert "at most" in capsys.readouterr().err
