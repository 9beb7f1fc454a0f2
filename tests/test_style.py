"""The whole tree is formatted by one formatter (ruff format, configured in pyproject.toml).

ruff is pinned in the ``test`` extra so that every machine formats alike; run
``ruff format .`` before committing.  Without ruff the check is skipped locally
and fails in CI (``CI=true``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_tree_is_formatted():
    if importlib.util.find_spec("ruff") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("ruff is required in CI (pip install -e '.[test]')")
        pytest.skip("ruff not installed (pip install -e '.[test]')")
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(ROOT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, "not formatted (run `ruff format .`):\n" + run.stdout + run.stderr
