"""From crossbar arrays to the reduced nodal structure the solvers use.

A *family* is a set of parallel lines (all rows, or all columns).  Each line
has ``n`` nodes joined by ``n - 1`` internal segments, plus one end segment at
each end (``seg_g`` has ``n + 1`` columns; column 0 is the end-0 segment,
column ``n`` the end-1 segment, each already including the driver/sense
resistance).  Zero-resistance segments (conductance ``inf``) collapse nodes
into super-nodes; super-nodes tied to an ideal source through zero resistance
become *known* nodes.  No infinite conductance ever reaches a matrix.

Sources are numbered per solve: 0 is 0 V (ground / virtual ground), ``1..M``
the inputs, then one index per bias value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CircuitError


@dataclass
class Family:
    """Collapsed chains of one family of lines (rows or columns).

    Attributes
    ----------
    L, n : int
        Number of lines and nodes per line.
    ptr : int64 array (L + 1,)
        Line ``l`` owns super-nodes ``ptr[l]:ptr[l+1]``.
    off : float array (nS,)
        Conductance [S] from super-node ``s`` to ``s + 1`` of the same chain (0 at a chain end).
    dfix : float array (nS,)
        Wire conductance attached to each super-node (segments and connected ends).
    node_sup, node_src : int64 arrays (L, n)
        Super-node of each node (-1 when known) and source index of known nodes (-1 otherwise).
    ext_sup, ext_src : int64 arrays; ext_g : float array
        Couplings of unknown super-nodes to known potentials (rhs terms ``g * V[src]``).
    seg_g : float array (L, n + 1)
        Segment conductances (``inf`` for zero resistance).
    end_src : int64 array (L, 2)
        Source index at end 0 and end 1 (-1: floating).
    """

    L: int
    n: int
    ptr: np.ndarray
    off: np.ndarray
    dfix: np.ndarray
    node_sup: np.ndarray
    node_src: np.ndarray
    ext_sup: np.ndarray
    ext_src: np.ndarray
    ext_g: np.ndarray
    seg_g: np.ndarray
    end_src: np.ndarray

    @property
    def nS(self) -> int:
        return int(self.ptr[-1])

    @property
    def uncollapsed(self) -> bool:
        """True when every node is its own unknown super-node (nS == L n implies it)."""
        return self.nS == self.L * self.n


def build_family(seg_g: np.ndarray, end_src: np.ndarray, what: str) -> Family:
    """Collapse a family's lines into chains (vectorised over lines).

    Parameters
    ----------
    seg_g : array (L, n + 1)
        Segment conductances [S], ``inf`` for zero resistance.
    end_src : int array (L, 2)
        Source index of end 0 / end 1, or -1 for a floating end.
    what : str
        ``"row"`` or ``"column"`` (for error messages).
    """
    L, n1 = seg_g.shape
    n = n1 - 1
    inner_fin = np.isfinite(seg_g[:, 1:n])  # (L, n-1)
    grp = np.zeros((L, n), dtype=np.int64)
    if n > 1:
        grp[:, 1:] = np.cumsum(inner_fin, axis=1)
    ng = grp[:, -1] + 1
    c0 = end_src[:, 0] >= 0
    c1 = end_src[:, 1] >= 0
    k0 = c0 & ~np.isfinite(seg_g[:, 0])
    k1 = c1 & ~np.isfinite(seg_g[:, n])
    both = k0 & k1 & (ng == 1)
    if np.any(both & (end_src[:, 0] != end_src[:, 1])):
        line = int(np.argmax(both & (end_src[:, 0] != end_src[:, 1])))
        raise CircuitError(
            f"{what} {line}: both ends are held by different ideal sources through zero "
            "resistance (a short circuit between them)",
            hint=f"give the {what} wires, driver or sense a nonzero resistance, or float one end",
        )
    nu = np.maximum(ng - k0.astype(np.int64) - k1.astype(np.int64), 0)
    nu = np.where(both, 0, nu)
    ptr = np.zeros(L + 1, dtype=np.int64)
    np.cumsum(nu, out=ptr[1:])
    local = grp - k0[:, None].astype(np.int64)
    known0 = k0[:, None] & (grp == 0)
    known1 = k1[:, None] & (grp == (ng - 1)[:, None])
    known = known0 | known1
    node_sup = np.where(known, -1, ptr[:-1][:, None] + local)
    src1 = np.where(known1, end_src[:, 1][:, None], -1)
    node_src = np.where(known0, end_src[:, 0][:, None], src1)
    off, dfix, ext_sup, ext_src, ext_g = _couplings(
        seg_g, end_src, node_sup, node_src, int(ptr[-1])
    )
    return Family(
        L=L,
        n=n,
        ptr=ptr,
        off=off,
        dfix=dfix,
        node_sup=node_sup,
        node_src=node_src,
        ext_sup=ext_sup,
        ext_src=ext_src,
        ext_g=ext_g,
        seg_g=seg_g,
        end_src=end_src.astype(np.int64),
    )


def _couplings(
    seg_g: np.ndarray, end_src: np.ndarray, node_sup: np.ndarray, node_src: np.ndarray, nS: int
) -> tuple[np.ndarray, ...]:
    """Chain couplings ``off``, wire diagonal ``dfix`` and the couplings to known nodes.

    Returns ``off`` (nS,), ``dfix`` (nS,) and ``ext_sup``, ``ext_src``, ``ext_g``
    (see :class:`Family`).
    """
    n = seg_g.shape[1] - 1
    inner_fin = np.isfinite(seg_g[:, 1:n])
    off = np.zeros(nS)
    dfix = np.zeros(nS)
    ext_sup, ext_src, ext_g = [], [], []
    # internal finite segments between node j-1 and j
    if n > 1:
        li, jj = np.nonzero(inner_fin)
        jj = jj + 1
        g = seg_g[li, jj]
        sa = node_sup[li, jj - 1]
        sb = node_sup[li, jj]
        both_u = (sa >= 0) & (sb >= 0)
        off[sa[both_u]] = g[both_u]
        np.add.at(dfix, sa[sa >= 0], g[sa >= 0])
        np.add.at(dfix, sb[sb >= 0], g[sb >= 0])
        m = (sa >= 0) & (sb < 0)
        ext_sup.append(sa[m])
        ext_src.append(node_src[li[m], jj[m]])
        ext_g.append(g[m])
        m = (sb >= 0) & (sa < 0)
        ext_sup.append(sb[m])
        ext_src.append(node_src[li[m], jj[m] - 1])
        ext_g.append(g[m])
    # connected ends with finite resistance
    for end, col, node in ((0, 0, 0), (1, n, n - 1)):
        conn = (end_src[:, end] >= 0) & np.isfinite(seg_g[:, col])
        s = node_sup[:, node]
        m = conn & (s >= 0)
        g = seg_g[m, col]
        np.add.at(dfix, s[m], g)
        ext_sup.append(s[m])
        ext_src.append(end_src[m, end])
        ext_g.append(g)
    return (
        off,
        dfix,
        np.concatenate(ext_sup).astype(np.int64),
        np.concatenate(ext_src).astype(np.int64),
        np.concatenate(ext_g).astype(float),
    )


def end_currents(fam: Family, V: np.ndarray, cell_in: np.ndarray, Vsrc: np.ndarray) -> np.ndarray:
    """Currents [A] flowing from each line into its end sources, shape (K, L, 2).

    Parameters
    ----------
    V : array (K, L, n)
        Node voltages of the family (known nodes included).
    cell_in : array (K, L, n)
        Current flowing from the cells into each node.
    Vsrc : array (K, nsrc)
        Source voltages.

    Segment currents follow from KCL once the current in one finite segment (or
    a floating end) is known; a line that is ideal from end to end with both
    ends held splits its current equally between them.
    """
    K, L, n = V.shape
    seg = fam.seg_g
    total = cell_in.sum(axis=2)
    i_in0 = np.zeros((K, L))  # current entering node 0 from end 0 (segment 0)
    c0 = fam.end_src[:, 0] >= 0
    c1 = fam.end_src[:, 1] >= 0
    decided = np.zeros(L, dtype=bool)
    # end 0 floating
    m = ~c0
    i_in0[:, m] = 0.0
    decided |= m
    # end 1 floating: everything leaves through end 0
    m = ~decided & ~c1
    i_in0[:, m] = -total[:, m]
    decided |= m
    # end 0 segment finite
    m = ~decided & np.isfinite(seg[:, 0])
    if np.any(m):
        src = fam.end_src[m, 0]
        i_in0[:, m] = seg[m, 0] * (Vsrc[:, src] - V[:, m, 0])
        decided |= m
    # end 1 segment finite: i_seg[n] = g (V[n-1] - Vsrc1) = i_in0 + total
    m = ~decided & np.isfinite(seg[:, n])
    if np.any(m):
        src = fam.end_src[m, 1]
        i_out = seg[m, n] * (V[:, m, n - 1] - Vsrc[:, src])
        i_in0[:, m] = i_out - total[:, m]
        decided |= m
    rest = np.nonzero(~decided)[0]
    for line in rest:
        fin = np.nonzero(np.isfinite(seg[line, 1:n]))[0]
        if fin.size:
            s = fin[0] + 1  # segment between node s-1 and s
            i_seg = seg[line, s] * (V[:, line, s - 1] - V[:, line, s])
            i_in0[:, line] = i_seg - cell_in[:, line, :s].sum(axis=1)  # inflow, nodes < s
        else:
            i_in0[:, line] = -0.5 * total[:, line]
    out = np.empty((K, L, 2))
    out[:, :, 0] = -i_in0
    out[:, :, 1] = i_in0 + total
    out[:, ~c0, 0] = 0.0
    out[:, ~c1, 1] = 0.0
    return out
