"""The Student-t quantile of :mod:`xbar.network.stats` against scipy's."""

from __future__ import annotations

import math

import pytest
from scipy.special import stdtrit

from xbar.errors import ValueRangeError
from xbar.network.stats import mean_ci, t_quantile


@pytest.mark.parametrize("level", [0.01, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
def test_t_quantile_matches_scipy(level):
    for n in [*range(2, 40), 64, 100, 1000, 10_000]:
        want = float(stdtrit(n - 1, 0.5 + level / 2))
        assert t_quantile(n, level) == pytest.approx(want, rel=1e-9), (n, level)


def test_t_quantile_edges():
    assert math.isnan(t_quantile(1)) and math.isnan(t_quantile(0))
    assert t_quantile(2) == pytest.approx(12.706204736174698, rel=1e-12)  # tan(0.475 pi)
    for level in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueRangeError, match="level"):
            t_quantile(5, level)


def test_mean_ci_uses_the_quantile():
    ci = mean_ci([0.9, 0.92, 0.94])
    assert ci.high - ci.mean == pytest.approx(float(stdtrit(2, 0.975)) * ci.sem, rel=1e-12)
