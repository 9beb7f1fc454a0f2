"""The result of a sweep: accuracy per (grid point, chip), with summaries over chips."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SweepTable"]


def _nanreduce(fn, a: np.ndarray) -> np.ndarray:
    out = np.full(a.shape[:2], np.nan)
    ok = np.isfinite(a).any(axis=2)
    if ok.any():
        out[ok] = fn(a[ok], axis=1)
    return out


def _num(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


@dataclass(frozen=True)
class SweepTable:
    """Accuracy of every (grid point, chip) task of a sweep.

    Attributes
    ----------
    fields : tuple of str
        The swept configuration fields (one or two).
    values : tuple of tuple
        The grid values of each field, in sweep order.
    accuracies : ndarray
        Accuracy (fraction in [0, 1]) per task, shape (values of the first field,
        values of the second field or 1, chips).  NaN where a task has not run.
    seconds : ndarray
        Evaluation wall time of each task in seconds, same shape as ``accuracies``.
    fingerprint : str
        Hash of model, data, evaluator and base configuration (swept fields excluded).
    path : Path or None
        The CSV the rows live in.
    computed : int
        Tasks evaluated by the call that returned this table.
    reused : int
        Tasks read back from an earlier run's CSV.
    energies : ndarray or None
        Energy per test image [J] of each task's chip (:mod:`xbar.network.energy`), same
        shape as ``accuracies``; NaN where unknown (None: not recorded).

    Examples
    --------
    >>> t = SweepTable(("sigma",), ((0.0, 0.1),), np.array([[[0.9, 0.8]], [[0.7, np.nan]]]),
    ...                np.zeros((2, 1, 2)))
    >>> t.chips, t.complete, [round(float(m), 2) for m in t.mean[:, 0]]
    (2, False, [0.85, 0.7])
    """

    fields: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    accuracies: np.ndarray
    seconds: np.ndarray
    fingerprint: str = ""
    path: Path | None = None
    computed: int = 0
    reused: int = 0
    energies: np.ndarray | None = None

    @property
    def chips(self) -> int:
        """Number of chips per grid point."""
        return int(self.accuracies.shape[2])

    @property
    def complete(self) -> bool:
        """True when every task has a result."""
        return bool(np.all(np.isfinite(self.accuracies)))

    @property
    def mean(self) -> np.ndarray:
        """Mean accuracy over chips, shape (n1, n2)."""
        return _nanreduce(np.nanmean, self.accuracies)

    @property
    def std(self) -> np.ndarray:
        """Standard deviation of accuracy over chips (population, ddof=0), shape (n1, n2)."""
        return _nanreduce(np.nanstd, self.accuracies)

    @property
    def min(self) -> np.ndarray:
        """Worst chip's accuracy per grid point, shape (n1, n2)."""
        return _nanreduce(np.nanmin, self.accuracies)

    @property
    def max(self) -> np.ndarray:
        """Best chip's accuracy per grid point, shape (n1, n2)."""
        return _nanreduce(np.nanmax, self.accuracies)

    @property
    def energy_mean(self) -> np.ndarray:
        """Mean energy per image [J] over chips, shape (n1, n2); NaN where unknown."""
        if self.energies is None:
            return np.full(self.accuracies.shape[:2], np.nan)
        return _nanreduce(np.nanmean, self.energies)

    def summary(self) -> list[dict[str, Any]]:
        """One dict per grid point: swept values, mean, std, min, max and the per-chip list."""
        out = []
        second = self.values[1] if len(self.fields) > 1 else (None,)
        mean, std, lo, hi = self.mean, self.std, self.min, self.max
        energy = self.energy_mean
        for i, v1 in enumerate(self.values[0]):
            for j, v2 in enumerate(second):
                row: dict[str, Any] = {self.fields[0]: v1}
                if len(self.fields) > 1:
                    row[self.fields[1]] = v2
                row.update(
                    accuracy=_num(mean[i, j]),
                    accuracy_std=_num(std[i, j]),
                    accuracy_min=_num(lo[i, j]),
                    accuracy_max=_num(hi[i, j]),
                    accuracies=[_num(a) for a in self.accuracies[i, j]],
                    energy_per_image=_num(energy[i, j]),
                )
                out.append(row)
        return out
