"""The README's error example is the program's real output (issue 15 item 7)."""

from __future__ import annotations

import re
from pathlib import Path

from xbar.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_error_example_is_the_real_message(tmp_path, capsys, monkeypatch):
    text = README.read_text(encoding="utf-8")
    block = re.search(
        r"```text\n\$ cat bad\.cir\n(.*?)\$ xbar solve bad\.cir\n(.*?)```", text, re.S
    )
    assert block, "README lost its error example"
    netlist, shown = block.groups()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.cir").write_text(netlist)
    assert main(["solve", "bad.cir"]) == 2
    assert capsys.readouterr().err == shown
