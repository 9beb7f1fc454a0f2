"""Work on the test images that is the same on every chip, done once per evaluation.

Every chip of :func:`~xbar.network.evaluate.evaluate` runs the same test batches
through the same folded model.  A matmul layer fed by the model's input directly
(the first convolution of most networks) sees the same inputs on every chip, so its
im2col columns, and what the analog layer derives from them alone (their minimum,
the digital reference product of the error statistics, the DAC or bit-serial input
voltages, the input clip count), are the same too.  :class:`SharedInputs` keeps each
of them from the first chip for the others, within a memory budget; past it, the
work is simply done again.

Results are found in two ways: by a key that names everything they depend on
(:meth:`SharedInputs.keyed`: "the im2col columns of batch 2 for layer conv1"), and,
for what is derived from such a result, by the identity of the kept array together
with a key (:meth:`SharedInputs.derived`).  Only arrays kept here count, and kept
arrays are read-only, so a lookup can only give what the computation would give.

>>> import numpy as np
>>> s = SharedInputs(np.zeros((5, 2)), batch_size=2)
>>> X = s.keyed(("input", 0, "dense"), lambda: np.arange(4.0))
>>> s.derived(X, ("min",), lambda: float(X.min())), s.derived(X, ("min",), lambda: -1.0)
(0.0, 0.0)
>>> s.derived(np.arange(4.0), ("min",), lambda: -1.0)  # not a kept array: computed
-1.0
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

__all__ = ["SharedInputs", "SHARED_BYTES"]

#: default memory budget [bytes] of the results kept for the chips after the first
SHARED_BYTES = 64 * 2**20


class SharedInputs:
    """Chip-independent results on the test batches of one evaluation.

    Parameters
    ----------
    x : ndarray
        The test images, shape ``(N, ...)``, run in batches of ``batch_size``.
    batch_size : int
        Images per batch.
    budget : int, optional
        Bytes of results kept at most (default :data:`SHARED_BYTES`).

    Attributes
    ----------
    hits, misses : int
        Lookups served from kept results, and results computed.
    bytes : int
        Bytes held by the kept results.
    """

    def __init__(self, x: np.ndarray, batch_size: int, budget: int | None = None) -> None:
        self.source, self.batch_size = x, int(batch_size)
        self.budget = int(SHARED_BYTES if budget is None else budget)
        self.bytes = 0
        self.hits = self.misses = 0
        self._arrays: dict[int, np.ndarray] = {}  # kept arrays by id (kept alive here)
        self._kept: dict[tuple, Any] = {}

    def holds(self, x: np.ndarray, batch_size: int) -> bool:
        """True when this object was made for ``x`` in batches of ``batch_size``."""
        return x is self.source and int(batch_size) == self.batch_size

    def is_kept(self, X: Any) -> bool:
        """True when ``X`` is an array kept here (a chip-independent result)."""
        return self._arrays.get(id(X)) is X

    def keyed(self, key: tuple[Hashable, ...], compute: Callable[[], Any]) -> Any:
        """The result named by ``key`` (which must name everything it depends on):
        ``compute()`` the first time, kept when it fits the budget."""
        full = ("keyed", *key)
        if full in self._kept:
            self.hits += 1
            return self._kept[full]
        self.misses += 1
        value = compute()
        self._keep(full, value)
        return value

    def derived(self, X: np.ndarray, key: tuple[Hashable, ...], compute: Callable[[], Any]) -> Any:
        """``compute()``, a function of ``X`` and of what ``key`` names only: kept when
        ``X`` is a kept array, else computed every time."""
        if not self.is_kept(X):
            return compute()
        return self.keyed((id(X), *key), compute)

    def _keep(self, key: tuple, value: Any) -> None:
        arrays = {id(a): a for a in _arrays_in(value) if not self.is_kept(a)}
        size = sum(a.nbytes for a in arrays.values())
        if self.bytes + size > self.budget:
            return
        for a in arrays.values():
            a.setflags(write=False)
            self._arrays[id(a)] = a
        self._kept[key] = value
        self.bytes += size


def _arrays_in(value: Any) -> list[np.ndarray]:
    """The numpy arrays in ``value`` (an array, or nested tuples / lists of them)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, tuple | list):
        return [a for v in value for a in _arrays_in(v)]
    return []
