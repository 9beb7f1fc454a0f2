"""numba kernels of the assembly step (scatter-add into a fixed CSR pattern).

Each kernel has a plain numpy twin in :mod:`xbar.spice.assembly` that the tests
compare against.  numba is imported here only, so that importing
:mod:`xbar.spice.assembly` (and the ``xbar solve`` import chain for linear
circuits) stays free of numba's start-up cost.
"""

from __future__ import annotations

import numba
import numpy as np

from ..threads import numba_caps

numba_caps()  # the thread caps of --threads / XBAR_THREADS, now that numba runs


@numba.njit(cache=True)
def _scatter_add(data, slots, signs, pidx, params):  # pragma: no cover - compiled
    """``data[slots[k]] += signs[k] * params[pidx[k]]`` for every stamp ``k``."""
    for k in range(slots.shape[0]):
        data[slots[k]] += signs[k] * params[pidx[k]]


@numba.njit(cache=True)
def _scatter_add_block(out, slots, signs, pidx, params):  # pragma: no cover - compiled
    """Block scatter-add: ``out[slots[k], j] += signs[k] * params[pidx[k], j]``."""
    m = out.shape[1]
    for k in range(slots.shape[0]):
        s = slots[k]
        p = pidx[k]
        c = signs[k]
        for j in range(m):
            out[s, j] += c * params[p, j]


def scatter_add(data: np.ndarray, slots, signs, pidx, params) -> None:
    """Add ``signs * params[pidx]`` into ``data`` at ``slots`` (in place, numba)."""
    _scatter_add(data, slots, signs, pidx, np.ascontiguousarray(params, dtype=np.float64))


def scatter_add_block(out: np.ndarray, slots, signs, pidx, params) -> None:
    """Block version of :func:`scatter_add`; ``out`` and ``params`` are 2-D (rows, batch)."""
    _scatter_add_block(out, slots, signs, pidx, np.ascontiguousarray(params, dtype=np.float64))
