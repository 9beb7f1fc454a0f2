"""Output selection of ``xbar solve``: ``.print``/``.save`` cards and ``--nodes``."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from xbar.cli import main
from xbar.errors import NetlistError, XbarError
from xbar.spice.dc import solve_dc
from xbar.spice.netlist import read_netlist
from xbar.spice.outputs import columns, parse_items, requested

BODY = "divider\nv1 a 0 2\nr1 a b 1k\nr2 b c 1k\nr3 c 0 2k\n"


def _csv(tmp_path, capsys, text, *extra):
    path = tmp_path / "t.cir"
    path.write_text(text)
    code = main(["solve", str(path), "--csv", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return list(csv.reader(io.StringIO(out))), err


def test_print_dc_selects_columns_in_card_order(tmp_path, capsys):
    rows, _ = _csv(tmp_path, capsys, BODY + ".print dc i(v1) v(c) v(a,c)\n.dc v1 0 2 1\n.end\n")
    assert rows[0] == ["v1", "i(v1)", "v(c)", "v(a,c)"]
    last = [float(x) for x in rows[-1]]
    assert last == pytest.approx([2.0, -0.5e-3, 1.0, 1.0])


def test_save_applies_without_print_and_print_of_other_analyses_is_ignored(tmp_path, capsys):
    text = BODY + ".save v(b)\n.print tran v(c)\n.op\n.end\n"
    rows, _ = _csv(tmp_path, capsys, text)
    assert rows == [["v(b)"], [repr(1.5)]]
    rows, _ = _csv(tmp_path, capsys, BODY + ".save all\n.op\n.end\n")
    assert rows[0] == ["v(a)", "v(b)", "v(c)", "i(v1)"]


def test_nodes_flag_overrides_the_cards(tmp_path, capsys):
    rows, _ = _csv(tmp_path, capsys, BODY + ".print dc v(c)\n.op\n.end\n", "--nodes", "b,i(v1)")
    assert rows[0] == ["v(b)", "i(v1)"]
    assert [float(x) for x in rows[1]] == pytest.approx([1.5, -0.5e-3])


def test_table_and_json_follow_the_selection(tmp_path, capsys):
    path = tmp_path / "t.cir"
    path.write_text(BODY + ".print v(b) v(b,c) i(v1)\n.op\n.end\n")
    assert main(["solve", str(path)]) == 0
    out = capsys.readouterr().out
    assert "b " in out and "\na " not in out and "v1" in out
    assert main(["solve", str(path), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["voltages"] == {"b": pytest.approx(1.5)}
    assert obj["currents"] == {"v1": pytest.approx(-0.5e-3)}
    assert list(obj["outputs"]) == ["v(b)", "v(b,c)", "i(v1)"]
    assert obj["outputs"]["v(b,c)"] == pytest.approx(0.5)


def test_unknown_output_names_the_card(tmp_path, capsys):
    path = tmp_path / "t.cir"
    path.write_text(BODY + ".print dc v(nowhere)\n.op\n.end\n")
    assert main(["solve", str(path)]) != 0
    err = capsys.readouterr().err
    assert "v(nowhere)" in err and "t.cir:6:1" in err


def test_items_and_notes():
    items, notes = parse_items("v(out) , i( v1 ) v(a, b) out2 vdb(out) @m1[id]")
    assert [it.label for it in items] == ["v(out)", "i(v1)", "v(a,b)", "v(out2)"]
    assert len(notes) == 2 and "vdb" in notes[0] and "@m1[id]" in notes[1]
    with pytest.raises(NetlistError, match="cannot read the output"):
        parse_items("i(a,b)")


def test_commas_separate_items_outside_parentheses():
    """A comma ends a bare word as a space does (it had kept 'a,b' as one node name and
    skipped 'out,i(v1)' whole); inside v(a,b) it separates the two nodes."""
    labels = [it.label for it in parse_items("out,i(v1) a,b v(c,d),e")[0]]
    assert labels == ["v(out)", "i(v1)", "v(a)", "v(b)", "v(c,d)", "v(e)"]


def test_library_selection_on_a_sweep():
    c = read_netlist(BODY + ".probe v(c)\n.dc v1 0 1 0.5\n.end\n")
    items, _ = requested(c)
    res = solve_dc(c)
    ((label, v),) = columns(res, items)
    assert label == "v(c)"
    np.testing.assert_allclose(v, res.sweep / 2)
    assert requested(read_netlist(BODY + ".op\n.end\n")) == (None, [])
    with pytest.raises(XbarError, match="no voltage source"):
        columns(res, parse_items("i(r1)")[0])
