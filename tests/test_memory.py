"""xbar.memory: the allocator setting of the CLI's processes."""

import os
import platform
import subprocess
import sys

import pytest

from xbar.errors import ValueRangeError
from xbar.memory import ENV_VAR, keep_freed_memory, wanted

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.parametrize("bad", [0, -1, 2048, 1.5, "64", None, True])
def test_bad_sizes_are_named(bad):
    with pytest.raises((ValueRangeError, TypeError, ValueError)) as err:
        keep_freed_memory(trim_mib=bad)
    assert "trim_mib" in str(err.value)


@pytest.mark.parametrize(("value", "want"), [("0", False), ("off", False), ("1", True), ("", True)])
def test_environment_switch(monkeypatch, value, want):
    monkeypatch.setenv(ENV_VAR, value)
    assert wanted() is want


def test_applies_on_glibc_in_a_fresh_process():
    # in its own process: the setting is process-wide and cannot be undone
    code = "from xbar.memory import keep_freed_memory as k; print(k(64, 8), k(64, 8))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ([str(GLIBC)] * 2)


def test_cli_runs_without_the_setting(tmp_path):
    env = {**os.environ, "XBAR_KEEP_MEMORY": "0"}
    code = "import sys; from xbar.cli import main; sys.exit(main(['solve']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(("value", "want"), [("0", False), ("1", GLIBC)])
def test_apply_follows_the_environment(value, want):
    code = "from xbar import memory; print(memory.apply())"
    env = {**os.environ, ENV_VAR: value}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == [str(want)]
