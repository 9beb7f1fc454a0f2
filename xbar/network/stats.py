"""Statistics over chips: standard error and 95 % confidence intervals, paired differences.

Every chip of a run is an independent draw of the programming errors, so the
accuracies of ``n`` chips are ``n`` independent samples; the mean's standard
error is ``s / sqrt(n)`` (``s`` the sample standard deviation, ddof = 1) and its
95 % confidence interval ``mean +/- t(0.975, n - 1) * s / sqrt(n)`` (Student t).

Two models or scalings evaluated on the *same* chip seeds (common random numbers:
chip k draws the same standard normals in both runs when their tiles match) are
compared by the per-chip differences ``d_k = a_k - b_k``: the interval of their
mean is usually much narrower than what the two separate intervals suggest.  A
difference whose interval contains 0 is reported as no difference.

>>> import numpy as np
>>> s = mean_ci([0.9, 0.92, 0.94])
>>> round(s.mean, 4), round(s.sem, 4), round(s.low, 4), round(s.high, 4)
(0.92, 0.0115, 0.8703, 0.9697)
>>> d = paired_difference([0.9, 0.92, 0.94], [0.89, 0.90, 0.93])
>>> round(d.mean, 4), d.n
(0.0133, 3)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ShapeError, ValueRangeError

__all__ = ["MeanCI", "mean_ci", "paired_difference", "t_quantile"]


@dataclass(frozen=True)
class MeanCI:
    """Mean of per-chip values with its uncertainty.

    Attributes
    ----------
    mean : float
    std : float
        Sample standard deviation (ddof = 1; 0 for one chip).
    sem : float
        Standard error of the mean, ``std / sqrt(n)`` (NaN for one chip).
    low, high : float
        95 % confidence interval of the mean (Student t; NaN for one chip).
    n : int
        Number of chips (finite values).
    """

    mean: float
    std: float
    sem: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float]:
        """The fields as a plain dictionary."""
        return asdict(self)

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely above or below 0 (a resolved difference)."""
        return bool(self.low > 0 or self.high < 0)

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """``mean [low, high]`` scaled (default: percent / points)."""
        if self.n < 2:
            return f"{scale * self.mean:.{digits}f}"
        return (
            f"{scale * self.mean:.{digits}f} [{scale * self.low:.{digits}f}, "
            f"{scale * self.high:.{digits}f}]"
        )


def t_quantile(n: int, level: float = 0.95) -> float:
    """Two-sided Student-t quantile for the mean of ``n`` samples (NaN when n < 2).

    The ``t`` with ``P(|T| <= t) = level`` for ``n - 1`` degrees of freedom (the same
    as ``scipy.stats.t.ppf(0.5 + level / 2, n - 1)`` to about 1e-10 relative up to
    10^4 samples), solved here from the incomplete beta function so that a multi-chip
    evaluation does not import ``scipy.special`` (0.1-0.2 s of start-up).

    >>> round(t_quantile(2), 3), round(t_quantile(100), 3), t_quantile(1)
    (12.706, 1.984, nan)
    """
    if n < 2:
        return math.nan
    if not 0.0 < level < 1.0:
        raise ValueRangeError(f"level={level!r}: must lie strictly between 0 and 1")
    nu = float(n - 1)
    alpha = 1.0 - level  # the two tails together
    lo, hi = 0.0, 1.0
    while _t_tails(hi, nu) > alpha:  # bracket the root
        lo, hi = hi, 2.0 * hi
    t = 0.5 * (lo + hi)
    log_c = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    for _ in range(200):  # Newton steps kept inside the bracket (bisection otherwise)
        g = _t_tails(t, nu) - alpha
        if g > 0:
            lo = t
        else:
            hi = t
        density = math.exp(log_c - (nu + 1) / 2 * math.log1p(t * t / nu))
        step = g / (2.0 * density) if density > 0 else math.inf
        new = t + step
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - t) <= 4e-16 * new or hi - lo <= 4e-16 * hi:
            return new
        t = new
    return t


def _t_tails(t: float, nu: float) -> float:
    """``P(|T| > t)`` for ``nu`` degrees of freedom: ``I_x(nu / 2, 1 / 2)`` at
    ``x = nu / (nu + t^2)``."""
    if t <= 0:
        return 1.0
    return _beta_regularized(nu / 2, 0.5, nu / (nu + t * t), t * t / (nu + t * t))


def _beta_regularized(a: float, b: float, x: float, y: float) -> float:
    """The regularised incomplete beta ``I_x(a, b)`` (``y = 1 - x``, given without round-off),
    by its continued fraction on the side where it converges fast (Lentz's method)."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, y) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return h


def mean_ci(values, level: float = 0.95, population: int | None = None) -> MeanCI:
    """Mean, standard error and confidence interval of per-chip values (NaNs ignored).

    Parameters
    ----------
    values : array_like
        One value per chip (e.g. accuracies as fractions).
    level : float
        Confidence level of the interval (default 0.95).
    population : int, optional
        Size of the finite population the values were drawn from without replacement
        (e.g. the test images a sample of them stands for): the standard error then
        carries the finite-population correction ``sqrt(1 - n / population)``.
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if n == 1:
        return MeanCI(mean, 0.0, math.nan, math.nan, math.nan, 1)
    std = float(v.std(ddof=1))
    sem = std / math.sqrt(n)
    if population is not None:
        sem *= math.sqrt(max(0.0, 1.0 - n / population))
    h = t_quantile(n, level) * sem
    return MeanCI(mean, std, sem, mean - h, mean + h, n)


def paired_difference(a, b, level: float = 0.95) -> MeanCI:
    """Mean of the per-chip differences ``a - b`` with its confidence interval.

    ``a`` and ``b`` hold the same chips in the same order (common chip seeds);
    chips where either value is NaN are dropped.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ShapeError(f"paired difference needs the same chips: {a.size} vs {b.size} values")
    return mean_ci(a - b, level)
