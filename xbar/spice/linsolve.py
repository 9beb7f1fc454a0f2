"""Sparse LU factorisation of MNA matrices, with singularity diagnosis.

:class:`Factorizer` wraps scipy's SuperLU (``splu``).  MNA matrices of
resistive networks are structurally symmetric, so the fill-reducing
ordering is a minimum-degree ordering of ``A^T + A`` with symmetric mode
(the diagonal is preferred as pivot when it is within ``diag_pivot_thresh``
of the column maximum; zero diagonals of branch equations are pivoted
away).  Reusing the first factorisation's column permutation for later
Newton iterations was measured and rejected: SuperLU's ``perm_c`` applied
as a fixed symmetric permutation with ``NATURAL`` ordering made each
factorisation ~100x slower on crossbar matrices than re-ordering.

A singular matrix becomes :class:`~xbar.errors.SingularCircuitError` naming
the unknowns involved, never a scipy traceback.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import SingularCircuitError

log = logging.getLogger(__name__)

#: Orderings accepted by :class:`Factorizer` (SuperLU ``permc_spec``).
ORDERINGS = ("MMD_AT_PLUS_A", "COLAMD", "MMD_ATA", "NATURAL")


class Factorizer:
    """Factorise matrices sharing one sparsity pattern; solve many right-hand sides.

    Parameters
    ----------
    names : list of str
        A name per unknown, used in error messages.
    ordering : str
        SuperLU column ordering for the first factorisation (see :data:`ORDERINGS`).
    diag_pivot_thresh : float
        Threshold of the diagonal pivot preference (0..1).
    """

    def __init__(self, names: list[str], *, ordering: str = "MMD_AT_PLUS_A",
                 diag_pivot_thresh: float = 0.1):
        if ordering not in ORDERINGS:
            from ..errors import ConfigError

            raise ConfigError(f"ordering must be one of {ORDERINGS}, got {ordering!r}")
        self.names = names
        self.ordering = ordering
        self.diag_pivot_thresh = diag_pivot_thresh
        self.lu = None
        self.n_factorizations = 0

    def factorize(self, A: sp.csr_matrix) -> None:
        """Factorise ``A`` (CSR or CSC, square); raises SingularCircuitError if singular."""
        n = A.shape[0]
        if n == 0:
            self.lu = None
            return
        A = A.tocsc()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lu = spla.splu(
                    A,
                    permc_spec=self.ordering,
                    diag_pivot_thresh=self.diag_pivot_thresh,
                    options={"SymmetricMode": True},
                )
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise self._singular(A, str(exc)) from None
        self.lu = lu
        self.n_factorizations += 1
        u = lu.U.diagonal()
        if not np.all(np.isfinite(u)):
            raise SingularCircuitError("the circuit matrix has non-finite entries after "
                                       "factorisation (values out of range)")

    def solve(self, b: np.ndarray) -> np.ndarray:
        """Solve ``A x = b`` for a vector or a block of right-hand sides (columns)."""
        if self.lu is None:
            return np.zeros_like(np.asarray(b, dtype=np.float64))
        x = self.lu.solve(np.asarray(b, dtype=np.float64))
        if not np.all(np.isfinite(x)):
            raise SingularCircuitError(
                "the circuit matrix is numerically singular (the solution is not finite)",
                hint="look for floating nodes, zero-valued elements or extreme values",
            )
        return x

    def _singular(self, A: sp.csc_matrix, why: str) -> SingularCircuitError:
        culprits = _null_unknowns(A, self.names)
        if culprits:
            msg = (f"the circuit matrix is singular ({why}); the unknowns involved are: "
                   + ", ".join(culprits))
        else:
            msg = f"the circuit matrix is singular ({why})"
        return SingularCircuitError(
            msg,
            hint="look for nodes without a DC path to ground, loops of voltage sources or "
                 "nodes fed only by current sources",
        )


def _null_unknowns(A: sp.spmatrix, names: list[str], limit: int = 10) -> list[str]:
    """Names of the unknowns with the largest share in a null vector of ``A``.

    Empty rows/columns are reported directly; otherwise a dense SVD is used
    for matrices up to 3000 unknowns.
    """
    A = sp.csr_matrix(A)
    n = A.shape[0]
    empty = np.flatnonzero(np.abs(A).sum(axis=1).A1 == 0)
    empty = np.union1d(empty, np.flatnonzero(np.abs(A).sum(axis=0).A1 == 0))
    if len(empty):
        return [names[i] for i in empty[:limit]]
    if n > 3000:
        return []
    try:
        _, s, vt = np.linalg.svd(A.toarray())
    except np.linalg.LinAlgError:
        return []
    v = np.abs(vt[-1])
    idx = np.flatnonzero(v > 0.1 * v.max())
    idx = idx[np.argsort(-v[idx])][:limit]
    return [names[i] for i in idx]
