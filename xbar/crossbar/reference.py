"""Readable reference solver: the full modified nodal analysis, solved with ``splu``.

Every node of the crossbar is an unknown (row nodes, column nodes, the
internal nodes of 1T1R / 1S1R cells, driver and sense terminals), every
zero-resistance segment is a 0 V source with its own branch current, and
every driver / sense / bias is an ideal voltage source whose branch current
gives the input and output currents directly.  Nonlinear cells: plain Newton
with ``splu`` per step, iterated to machine-level updates.

This is the *general sparse path* and the twin the fast structured solver is
tested against; it is deliberately straightforward and slow.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConvergenceError
from .system import nodal_matrix as _nodal_matrix

__all__ = ["ReferenceNetwork", "reference_solve"]


class ReferenceNetwork:
    """Element lists of a crossbar in plain MNA form (built from a :class:`Crossbar`)."""

    def __init__(self, xb):
        st = xb.setup()
        M, N = xb.M, xb.N
        self.M, self.N = M, N
        self.nodes = {"0": 0}
        self.res = []  # (a, b, R)  R == 0 -> 0 V source
        self.vsrc = []  # (a, b, src index)   V(a) - V(b) = Vsrc[src]
        self.dev = []  # (a, b, model, G, i, j)
        self.out_src = []  # (vsrc index, column j)    sensed column ends
        self.in_src = []  # (vsrc index, row i)        driven row ends
        self.nsrc = st.nsrc
        self.bias = st.bias_values
        node = self.node
        seg_r, seg_c = st.row_segments, st.col_segments
        r_drv, r_sns = st.r_driver, st.r_sense
        # rows: segment s feeds node s from the left (s = 0 .. N)
        for i in range(M):
            for s in range(1, N):
                self.res.append((node(f"r{i}_{s - 1}"), node(f"r{i}_{s}"), seg_r[i, s]))
            for e, s, nd in ((0, 0, 0), (1, N, N - 1)):
                src = st.rows.end_src[i, e]
                if src < 0:
                    continue
                term = node(f"rd{i}_{e}")
                mid = node(f"rm{i}_{e}")
                self.vsrc.append((term, 0, src))
                if st.driven[i, e]:
                    self.in_src.append((len(self.vsrc) - 1, i))
                self.res.append((term, mid, float(r_drv[i])))
                self.res.append((mid, node(f"r{i}_{nd}"), seg_r[i, s]))
        for j in range(N):
            for s in range(1, M):
                self.res.append((node(f"c{s - 1}_{j}"), node(f"c{s}_{j}"), seg_c[j, s]))
            for e, s, nd in ((0, 0, 0), (1, M, M - 1)):
                src = st.cols.end_src[j, e]
                if src < 0:
                    continue
                term = node(f"cs{j}_{e}")
                mid = node(f"cm{j}_{e}")
                self.vsrc.append((term, 0, src))
                if st.sensed[j, e]:
                    self.out_src.append((len(self.vsrc) - 1, j))
                self.res.append((term, mid, float(r_sns[j])))
                self.res.append((mid, node(f"c{nd}_{j}"), seg_c[j, s]))
        G = xb.G
        r_acc = np.broadcast_to(xb.r_access, (M, N))
        for i in range(M):
            for j in range(N):
                if G[i, j] == 0:
                    continue
                a = node(f"r{i}_{j}")
                b = node(f"c{i}_{j}")
                chain = [(xb.device, G[i, j])]
                if xb.selector is not None:
                    chain.append((xb.selector, np.broadcast_to(xb.g_selector, (M, N))[i, j]))
                last = a
                for e, (model, g) in enumerate(chain):
                    nxt = b if (e == len(chain) - 1 and r_acc[i, j] == 0) else node(f"x{i}_{j}_{e}")
                    self.dev.append((last, nxt, model, g, i, j))
                    last = nxt
                if r_acc[i, j] > 0:
                    self.res.append((last, b, float(r_acc[i, j])))

    def node(self, name: str) -> int:
        idx = self.nodes.get(name)
        if idx is None:
            idx = len(self.nodes)
            self.nodes[name] = idx
        return idx

    def _params(self, model, i, j):
        """A copy of ``model`` whose per-cell parameter arrays are reduced to cell (i, j)."""
        import dataclasses

        if not dataclasses.is_dataclass(model):
            return model
        changes = {}
        for f in dataclasses.fields(model):
            v = getattr(model, f.name)
            if isinstance(v, np.ndarray) and v.ndim == 2:
                changes[f.name] = float(v[i, j])
        return dataclasses.replace(model, **changes) if changes else model

    def solve(self, V, *, maxiter: int = 200):
        """Solve for inputs ``V`` (K, M); returns (output (K, N), input currents (K, M), x)."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.linalg import splu

        V = np.atleast_2d(np.asarray(V, dtype=float))
        K = V.shape[0]
        nn = len(self.nodes) - 1
        zero_r = [(a, b) for a, b, R in self.res if R == 0]
        pos_r = [(a, b, R) for a, b, R in self.res if R > 0]
        branches = [(a, b) for a, b, _ in self.vsrc] + zero_r
        nb = len(branches)
        n = nn + nb
        rows, cols, vals = [], [], []

        def stamp_g(a, b, g):
            for p, q, s in ((a, a, g), (b, b, g), (a, b, -g), (b, a, -g)):
                if p > 0 and q > 0:
                    rows.append(p - 1)
                    cols.append(q - 1)
                    vals.append(s)

        for a, b, R in pos_r:
            stamp_g(a, b, 1.0 / R)
        for k, (a, b) in enumerate(branches):
            br = nn + k
            for p, s in ((a, 1.0), (b, -1.0)):
                if p > 0:
                    rows += [p - 1, br]
                    cols += [br, p - 1]
                    vals += [s, s]
        base = (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(vals))
        models = [(a, b, self._params(m, i, j), g) for a, b, m, g, i, j in self.dev]

        Vs = np.zeros((K, self.nsrc))
        Vs[:, 1 : self.M + 1] = V
        Vs[:, self.M + 1 :] = self.bias
        b0 = np.zeros((K, n))
        for k, (_, _, src) in enumerate(self.vsrc):
            b0[:, nn + k] = Vs[:, src]

        def volt(x, p):
            return x[p - 1] if p > 0 else 0.0

        X = np.zeros((K, n))
        for kk in range(K):
            x = np.zeros(n)
            for it in range(maxiter):
                r, c, v = [base[0]], [base[1]], [base[2]]
                rhs = b0[kk].copy()
                for a, b, m, g in models:
                    vd = volt(x, a) - volt(x, b)
                    gd = float(m.derivative(vd, g))
                    i0 = float(m.current(vd, g))
                    ieq = i0 - gd * vd
                    rr, cc, vv = [], [], []
                    for p, q, s in ((a, a, gd), (b, b, gd), (a, b, -gd), (b, a, -gd)):
                        if p > 0 and q > 0:
                            rr.append(p - 1)
                            cc.append(q - 1)
                            vv.append(s)
                    r.append(np.array(rr, dtype=np.int64))
                    c.append(np.array(cc, dtype=np.int64))
                    v.append(np.array(vv))
                    if a > 0:
                        rhs[a - 1] -= ieq
                    if b > 0:
                        rhs[b - 1] += ieq
                A = coo_matrix(
                    (np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(n, n)
                ).tocsc()
                x_new = splu(A).solve(rhs)
                dx = np.max(np.abs(x_new - x)) if n else 0.0
                x = x_new
                if not models or all(type(m).__name__ == "Linear" for _, _, m, _ in models):
                    break
                if dx <= 1e-10 * max(1.0, np.max(np.abs(x))) and it > 0:
                    break
            else:
                raise ConvergenceError("reference Newton did not converge")
            X[kk] = x
        out = np.zeros((K, self.N))
        for k, j in self.out_src:
            out[:, j] += X[:, nn + k]
        inp = np.zeros((K, self.M))
        for k, i in self.in_src:
            inp[:, i] -= X[:, nn + k]
        return out, inp, X

    def voltages(self, X, prefix: str) -> np.ndarray:
        """Node voltages (K, M, N) of ``prefix`` "r" (rows) or "c" (columns)."""
        K = X.shape[0]
        out = np.zeros((K, self.M, self.N))
        for i in range(self.M):
            for j in range(self.N):
                idx = self.nodes.get(f"{prefix}{i}_{j}")
                out[:, i, j] = X[:, idx - 1] if idx else 0.0
        return out


def reference_solve(xb, V):
    """Output currents (K, N) [A] of ``xb`` for inputs ``V`` by the full sparse MNA."""
    return ReferenceNetwork(xb).solve(V)[0]


def nodal_matrix(xb, g=None):
    """The reduced nodal matrix of a crossbar; see :func:`xbar.crossbar.system.nodal_matrix`."""
    return _nodal_matrix(xb.setup(), g)
