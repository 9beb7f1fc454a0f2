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

Accuracy contract
-----------------
:meth:`Factorizer.solve` follows the LU solve with iterative refinement,
``x += solve(r)`` with ``r = b - A x``, at most :data:`REFINE_STEPS` steps, each
kept only while it lowers ``max|r|`` (after the first, by at least half).  The
engine passes a residual computed from the element stamps with row sums in
extended precision (:meth:`xbar.spice.assembly.Pattern.residual`), which sees the
small conductances that rounding removes from an assembled diagonal such as
``1 + 4e-5``.  The contract: the returned ``x`` has a stamp residual no larger
than plain LU's, and where ``cond(A) * 1e-16 << 1`` a forward error of about
``cond(A) * 1e-19`` relative (the extended-precision residual) instead of LU's
``cond(A) * 1e-16``: a network whose node is tied to the rest only by 4e-5 S
beside 1 S comes out exact (1.0 V, not 1 + 2e-12 V).  Circuits with
``cond(A) * 1e-16`` near 1 (a 1e-12 ohm jumper among kilo-ohms) stay
ill-posed in double precision, in xbar as in ngspice; refinement narrows, but
does not remove, their error.  Without a residual function the assembled
matrix is used and refinement stops at round-off
(``max|r| <= REFINE_EPS * (max|a_ij| * nnz per row * max|x| + max|b|)``).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import SingularCircuitError

#: at most this many refinement steps per solve
REFINE_STEPS = 3
#: the residual level (times the matrix and solution scale) below which no step is taken
REFINE_EPS = 4 * np.finfo(np.float64).eps

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

    def __init__(
        self, names: list[str], *, ordering: str = "MMD_AT_PLUS_A", diag_pivot_thresh: float = 0.1
    ):
        if ordering not in ORDERINGS:
            from ..errors import ConfigError

            raise ConfigError(f"ordering must be one of {ORDERINGS}, got {ordering!r}")
        self.names = names
        self.ordering = ordering
        self.diag_pivot_thresh = diag_pivot_thresh
        self.lu = None
        self.A = None
        self.scale = 0.0
        self.n_factorizations = 0
        self.n_refinements = 0

    def factorize(self, A: sp.csr_matrix) -> None:
        """Factorise ``A`` (CSR or CSC, square); raises SingularCircuitError if singular."""
        n = A.shape[0]
        if n == 0:
            self.lu = None
            return
        # max |a_ij| times the longest row: bounds |A| |x| by scale * max|x|
        rows = A if A.format == "csr" else A.tocsr()  # (no CSC -> CSR round trip)
        row_nnz = np.diff(rows.indptr).max() if A.nnz else 0
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
        self.A = A
        self.scale = float(np.abs(A.data).max() * row_nnz) if A.nnz else 0.0
        self.n_factorizations += 1
        u = lu.U.diagonal()
        if not np.all(np.isfinite(u)):
            raise SingularCircuitError(
                "the circuit matrix has non-finite entries after "
                "factorisation (values out of range)"
            )

    def solve(self, b: np.ndarray, residual=None) -> np.ndarray:
        """Solve ``A x = b`` for a vector or a block of right-hand sides (columns).

        ``residual(b, x)``, when given, computes ``b - A x`` more accurately than
        the assembled matrix can (:meth:`xbar.spice.assembly.Pattern.residual`);
        iterative refinement uses it (see the module's accuracy contract).
        """
        if self.lu is None:
            return np.zeros_like(np.asarray(b, dtype=np.float64))
        b = np.asarray(b, dtype=np.float64)
        x = self.lu.solve(b)
        if np.all(np.isfinite(x)):
            x = self._refine(b, x, residual)
        if not np.all(np.isfinite(x)):
            bad = np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1))
            culprits = [self.names[k] for k in bad[:10]] if len(self.names) == len(x) else []
            exc = SingularCircuitError(
                "the circuit matrix is numerically singular (the solution is not finite"
                + (f" at {', '.join(culprits)})" if culprits else ")"),
                hint="look for floating nodes, zero-valued elements or extreme values",
            )
            exc.unknowns = tuple(culprits)
            raise exc
        return x

    def _refine(self, b: np.ndarray, x: np.ndarray, residual=None) -> np.ndarray:
        """Iterative refinement: ``x += solve(b - A x)`` while the residual drops."""
        accurate = residual is not None
        if residual is None:

            def residual(b_, x_):
                return b_ - self.A @ x_

        r = residual(b, x)
        res = np.abs(r).max(axis=0)
        for step in range(REFINE_STEPS):
            # the assembled matrix cannot see below round-off; an accurate residual can
            tol = (
                0.0
                if accurate and step == 0
                else REFINE_EPS * (self.scale * np.abs(x).max(axis=0) + np.abs(b).max(axis=0))
            )
            if np.all(res <= tol):
                break
            with np.errstate(all="ignore"):
                x_new = x + self.lu.solve(r)
            r_new = residual(b, x_new)
            res_new = np.abs(r_new).max(axis=0)
            better = res_new < (0.5 * res if step else res)
            if not np.any(better):
                break
            self.n_refinements += 1
            if x.ndim == 1:
                x, r, res = x_new, r_new, res_new
            else:  # keep the step per right-hand side where it helped
                x = np.where(better, x_new, x)
                r = np.where(better, r_new, r)
                res = np.minimum(res, res_new)
        return x

    def _singular(self, A: sp.csc_matrix, why: str) -> SingularCircuitError:
        culprits = _null_unknowns(A, self.names)
        if culprits:
            msg = (
                f"the circuit matrix is singular ({why}); the unknowns involved are: "
                + ", ".join(culprits)
            )
        else:
            msg = f"the circuit matrix is singular ({why})"
        exc = SingularCircuitError(
            msg,
            hint="look for nodes without a DC path to ground, loops of voltage sources or "
            "nodes fed only by current sources",
        )
        exc.unknowns = tuple(culprits)  # for solve_dc to name the elements there
        return exc


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
