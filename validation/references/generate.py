"""Regenerate the high-precision reference tables in this directory (needs mpmath).

    python validation/references/generate.py

Every table is computed with 50-digit arithmetic (mpmath) *from the defining
equations*, not from the closed forms in :mod:`xbar.validation.reference`:

* ``ladders.csv``: the uniform ladder solved as its tridiagonal nodal system
  by exact-arithmetic Gaussian elimination (Thomas algorithm in mpmath);
* ``telegrapher.csv``: ``V cosh(alpha (L - x)) / cosh(alpha L)`` and the
  source current;
* ``nonlinear_cells.csv``: ``i = G sinh(k (V - i R)) / k`` and
  ``i = Is (exp((V - i R) / nVt) - 1)`` solved by mpmath's root-finder.

The tests (``tests/test_validation_reference.py``) compare the float64
closed forms the validation cases use with these tables.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent

LADDERS = [  # name, n, r, g, r_end, v
    ("short", 5, "2.5", "1e-3", "10", "0.7"),
    ("long", 400, "0.5", "2e-3", "0.5", "1"),
    ("weak", 64, "1", "1e-6", "100", "1.2"),
    ("strong", 128, "10", "1e-2", "0", "0.9"),
]

TELEGRAPHER = [("line", "1", "40", "0.02", "1")]  # name, L, rho, sigma, v

SINH = [("sinh", "1e-4", "3", "520")]  # name, G, k, R
DIODE = [("diode", "1e-14", "1.3", "1000")]  # name, Is, n, R


def ladder(n, r, g, r_end, v):
    """Nodal system of the ladder solved exactly (Thomas algorithm)."""
    import mpmath as mp

    r, g, r_end, v = map(mp.mpf, (r, g, r_end, v))
    a = [mp.mpf(0)] * n  # sub-diagonal
    b = [mp.mpf(0)] * n  # diagonal
    c = [mp.mpf(0)] * n  # super-diagonal
    d = [mp.mpf(0)] * n
    for k in range(n):
        b[k] += g
        if k + 1 < n:
            b[k] += 1 / r
            b[k + 1] += 1 / r
            c[k] = -1 / r
            a[k + 1] = -1 / r
    if r_end == 0:
        b[0], c[0], d[0] = mp.mpf(1), mp.mpf(0), v
    else:
        b[0] += 1 / r_end
        d[0] = v / r_end
    for k in range(1, n):
        w = a[k] / b[k - 1]
        b[k] -= w * c[k - 1]
        d[k] -= w * d[k - 1]
    x = [mp.mpf(0)] * n
    x[-1] = d[-1] / b[-1]
    for k in range(n - 2, -1, -1):
        x[k] = (d[k] - c[k] * x[k + 1]) / b[k]
    return x


def main() -> None:
    import mpmath as mp  # only needed to regenerate the tables

    mp.mp.dps = 50
    vt = mp.mpf("1.38064852e-23") * (mp.mpf(27) + mp.mpf("273.15")) / mp.mpf("1.6021766208e-19")
    with open(HERE / "ladders.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "n", "r_ohm", "g_S", "r_end_ohm", "v_V", "k", "voltage_V"])
        for name, n, r, g, r_end, v in LADDERS:
            for k, x in enumerate(ladder(n, r, g, r_end, v), start=1):
                w.writerow([name, n, r, g, r_end, v, k, mp.nstr(x, 20)])
    with open(HERE / "telegrapher.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "case",
                "length_m",
                "rho_ohm_per_m",
                "sigma_S_per_m",
                "v_V",
                "x_m",
                "voltage_V",
                "source_current_A",
            ]
        )
        for name, length, rho, sigma, v in TELEGRAPHER:
            L, rho_, sig, v_ = map(mp.mpf, (length, rho, sigma, v))
            alpha = mp.sqrt(rho_ * sig)
            cur = v_ * alpha / rho_ * mp.tanh(alpha * L)
            for q in range(0, 21):
                x = L * q / 20
                volt = v_ * mp.cosh(alpha * (L - x)) / mp.cosh(alpha * L)
                w.writerow(
                    [
                        name,
                        length,
                        rho,
                        sigma,
                        v,
                        mp.nstr(x, 20),
                        mp.nstr(volt, 20),
                        mp.nstr(cur, 20),
                    ]
                )
    with open(HERE / "nonlinear_cells.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "p1", "p2", "r_series_ohm", "v_V", "current_A"])
        for name, G, k, R in SINH:
            G_, k_, R_ = map(mp.mpf, (G, k, R))
            for q in range(-8, 9):
                v = mp.mpf(q) / 4
                if v == 0:
                    i = mp.mpf(0)
                else:
                    f = lambda i, v=v: i - G_ * mp.sinh(k_ * (v - i * R_)) / k_  # noqa: E731, B023
                    i = mp.findroot(f, (mp.mpf(0), v / R_), solver="anderson")
                w.writerow([name, G, k, R, mp.nstr(v, 20), mp.nstr(i, 20)])
        for name, Is, n, R in DIODE:
            Is_, n_, R_ = map(mp.mpf, (Is, n, R))
            nvt = n_ * vt
            for q in range(-4, 13):
                v = mp.mpf(q) / 4
                f = lambda i, v=v: i - Is_ * (mp.exp((v - i * R_) / nvt) - 1)  # noqa: E731, B023
                hi = max(v / R_, mp.mpf("1e-30"))
                i = mp.findroot(f, (-Is_, hi), solver="anderson")
                w.writerow([name, Is, n, R, mp.nstr(v, 20), mp.nstr(i, 20)])


if __name__ == "__main__":
    main()
