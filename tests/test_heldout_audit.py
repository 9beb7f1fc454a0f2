"""Held-out robustness audit (audit5): one compact regression test per defect class found by
probing xbar the way outside users do (netlists written for ngspice, ONNX graphs from real
exporters, data sets and tables from disk, CLI error paths)."""

from __future__ import annotations

import numpy as np
import pytest

from xbar import read_netlist, solve_dc
from xbar.errors import NetlistError

LADDER = "title\nV1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n.op\n.end\n"


# --------------------------------------------------------------------- netlists: .end
def test_cards_after_end_are_read_as_ngspice_does(tmp_path):
    """ngspice-39 comments ``.end`` out and reads on, so a card after it is in the circuit
    (ngspice gives b = 1/3 V here); xbar used to stop and answer 0.5 V."""
    c = read_netlist(LADDER + "R3 b 0 1k\n")
    assert "r3" in c.resistors.name
    assert solve_dc(c).voltage("b") == pytest.approx(1 / 3, rel=1e-12)
    assert any("after .end" in n and ":7:" in n for n in c.notes)
    inc = tmp_path / "part.inc"
    inc.write_text("* part\nR2 b 0 1k\n.end\nR3 b 0 1k\n")
    top = tmp_path / "top.cir"
    top.write_text("title\nV1 a 0 1\nR1 a b 1k\n.include part.inc\n.op\n.end\n")
    assert solve_dc(read_netlist(top)).voltage("b") == pytest.approx(1 / 3, rel=1e-12)


def test_only_comments_after_end_give_no_note():
    c = read_netlist(LADDER + "* trailing comment\n\n")
    assert not any("after .end" in n for n in c.notes)


def test_garbage_after_end_is_a_located_error():
    with pytest.raises(NetlistError) as exc:
        read_netlist(LADDER + "this is prose after the end\n")
    assert exc.value.location.line == 7


@pytest.mark.ngspice
def test_cards_after_end_match_ngspice(tmp_path, ngspice):
    path = tmp_path / "after_end.cir"
    path.write_text(LADDER + "R3 b 0 1k\n")
    spice = ngspice(path)
    assert solve_dc(read_netlist(path)).voltage("b") == pytest.approx(
        float(np.atleast_1d(spice.voltages["b"])[0]), rel=1e-9
    )
