"""xbar.spice.ngspice parses ngspice's ASCII raw files (op and nested dc) at full precision."""

import numpy as np
import pytest

from xbar.errors import XbarError
from xbar.spice.ngspice import _parse_raw

RAW_DC = """Title: t
Date: now
Plotname: DC transfer characteristic
Flags: real
No. Variables: 4
No. Points: 2
Variables:
\t0\tv(v-sweep)\tvoltage
\t1\tv(in)\tvoltage
\t2\tv(x1.m)\tvoltage
\t3\ti(v1)\tcurrent
Values:
0\t\t0.000000000000000e+00
\t0.000000000000000e+00
\t1.250000000000000e-01
\t-1.666666666666667e-04
1\t\t5.000000000000000e-01
\t5.000000000000000e-01
\t3.333333333333333e-01
\t-3.333333333333334e-04
"""


def test_parse_raw_dc():
    (res,) = _parse_raw(RAW_DC)
    assert res.analysis == "dc"
    np.testing.assert_array_equal(res.sweep, [0.0, 0.5])
    np.testing.assert_array_equal(res.voltages["x1.m"], [0.125, 0.3333333333333333])
    assert res.currents["v1"][1] == -3.333333333333334e-04
    assert "v-sweep" not in res.voltages


def test_live_op_divider_with_current_source(ngspice):
    res = ngspice("t\nV1 in 0 1.5\nR1 in mid 1k\nR2 mid 0 2k\nI1 0 mid 1m\n.op\n.end\n")
    assert res.analysis == "op"
    # superposition: 1.5 V * 2/3 + 1 mA * (1k || 2k)
    assert res.voltages["mid"][0] == pytest.approx(1.0 + 1e-3 * 2000 / 3, rel=1e-14)
    # current into V1's + terminal: (V(mid) - V(in)) / 1k
    assert res.currents["v1"][0] == pytest.approx((1.0 + 2 / 3 - 1.5) / 1e3, rel=1e-12)


def test_live_error_is_reported(ngspice):
    with pytest.raises(XbarError, match="ngspice failed"):
        ngspice("t\nV1 in 0 1\nR1 in 0 1k\nQ1 a b c foo\n.op\n.end\n")
