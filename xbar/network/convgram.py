"""Gram matrices of a convolution's im2col columns from shifted products of its images.

The exact energy of a batch of reads is one Gram matrix ``V^T V`` of the row voltages
per row block (:mod:`xbar.network.energy`).  For a stride-1 convolution the rows of
``V`` are image patches, so the Gram entries between kernel offsets ``o1 = (i1, j1)``
and ``o2`` are sums of products of the image with itself shifted by ``o2 - o1``, over
the pixels that offset ``o1`` sees.  Every pair of offsets with the same shift shares
one product over the whole batch (:func:`block_grams`): the images flattened to
(pixels, channels) against themselves shifted by ``du W + dv`` rows, both plain views
of one zero-padded copy, so the product needs no copies; each pair then subtracts the
thin strips at the image border that its window does not see (which include the
pixels whose shifted partner wrapped into the next image row).  With 64 or more
channels per offset, the nine diagonal blocks of a 3x3 kernel share one product, so
the Grams cost about a third to a ninth of the dense ones.  With few channels the images
are first unfolded along their width (:func:`unfolded_plan`: the kernel's columns become
channels, so only row shifts remain and the products are fewer and wider).  The sums are the same
products added in another order: equal to the dense Gram to round-off (relative to
the Gram's largest entry; the inputs of a read are never negative).

:func:`gram_plan` says when this is cheaper than the dense Grams (a cost estimate in
multiply-adds plus a fixed cost per product), else returns None.

>>> import numpy as np
>>> from xbar.network.layers import im2col
>>> x = np.random.default_rng(0).uniform(size=(2, 5, 6, 4))
>>> geom = ConvGeometry(kh=3, kw=3, pads=(1, 1, 1, 1), dilations=(1, 1), shape=(5, 6, 4))
>>> V = im2col(x, 3, 3, 1, 1)
>>> G = block_grams(x, make_plan(geom, [(0, 20), (20, 36)]))
>>> bool(np.allclose(G[(0, 20)], V[:, :20].T @ V[:, :20]))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "ConvGeometry",
    "block_grams",
    "conv_geometry",
    "gram_plan",
    "make_plan",
    "unfold_width",
    "unfolded_plan",
]

#: multiply-adds that one small product costs in fixed overhead (slicing, copy, call)
PRODUCT_OVERHEAD = 300_000
#: the shifted products are narrow (``C`` channels wide, ``C / 16`` multiply-adds per byte
#: read), so with few channels they are memory-bound and each shift streams the batch
#: again: below :data:`MIN_CHANNELS` channels they pay only while the batch's images fit
#: in :data:`MAX_NARROW_BYTES`, and below 16 channels never (measured on a 2 MiB-L2
#: machine, dense / shifted: 8x8x8 images x 180 (0.7 MB) 1.0 / 4.1 ms, x 64 0.37 / 0.46
#: ms; 32x32x16 x 4 (0.5 MB) 1.05 / 0.87 ms, x 21 (2.7 MB) 5.4 / 6.1 ms; 64 channels or
#: more 2.5-5x cheaper at any batch size)
MIN_CHANNELS = 32
MAX_NARROW_BYTES = 1 << 19


@dataclass(frozen=True)
class ConvGeometry:
    """A stride-1, ungrouped convolution of images of ``shape`` (H, W, C): kernel
    ``kh`` x ``kw``, zero ``pads`` (top, left, bottom, right), ``dilations`` (dh, dw);
    im2col columns ordered ``(kh, kw, c)``."""

    kh: int
    kw: int
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    shape: tuple[int, int, int]

    @property
    def out(self) -> tuple[int, int]:
        """Output height and width."""
        (t, l, b, r), (dh, dw), (H, W, _) = self.pads, self.dilations, self.shape
        return H + t + b - dh * (self.kh - 1), W + l + r - dw * (self.kw - 1)


def conv_geometry(layer, x: np.ndarray) -> ConvGeometry | None:
    """The :class:`ConvGeometry` of a Conv2D ``layer`` on images ``x`` (B, H, W, C), or
    None when it is strided or grouped (no shifted-product form)."""
    if getattr(layer, "groups", 1) != 1 or tuple(layer.strides) != (1, 1) or x.ndim != 4:
        return None
    geom = ConvGeometry(
        layer.kh, layer.kw, tuple(layer.pads), tuple(layer.dilations), tuple(x.shape[1:])
    )
    return geom if min(geom.out) >= 1 else None


def _interval(a: int, b: int) -> tuple[int, int]:
    return (a, max(a, b))


def _minus(outer: tuple[int, int], inner: tuple[int, int]) -> list[tuple[int, int]]:
    """The (up to two) intervals of ``outer`` outside ``inner`` (inner within outer)."""
    if inner[0] >= inner[1]:
        return [outer] if outer[0] < outer[1] else []
    return [iv for iv in ((outer[0], inner[0]), (inner[1], outer[1])) if iv[0] < iv[1]]


@dataclass
class _Pair:
    """One block of a row block's Gram: segments p (rows at ``at_p``) and q."""

    block: tuple[int, int]
    at_p: tuple[int, int]
    at_q: tuple[int, int]
    key: tuple  # (flat shift, A, B): the shared product
    strips: list  # (rows, cols) regions to subtract from it
    own: tuple  # (rows, cols): the region of x that the pair's window sees
    direct: bool = False  # computed over ``own`` itself instead
    shared: tuple | None = None  # the product it is cut from (default ``key``)

    def cut(self, product: np.ndarray) -> np.ndarray:
        """The pair's block of the shared product (its channels A x B)."""
        if self.shared is None or self.shared == self.key:
            return product
        a, b = self.key[1][0] - self.shared[1][0], self.key[2][0] - self.shared[2][0]
        return product[a : a + self.at_p[1], b : b + self.at_q[1]]


@dataclass
class GramPlan:
    """What :func:`block_grams` computes for one geometry and set of row blocks."""

    geom: ConvGeometry
    blocks: list[tuple[int, int]]
    full: dict  # key -> (rows, cols) of the shared product
    pairs: list[_Pair]
    #: (kw, left pad, right pad, dw, output width): the images are unfolded along their
    #: width first (kernel columns into channels; ``geom`` is then the unfolded one)
    unfold: tuple | None = None

    def cost(self, images: int) -> float:
        """Estimated multiply-adds (plus :data:`PRODUCT_OVERHEAD` per product)."""
        products = set(self.full.items())
        for p in self.pairs:
            products.update((p.key, region) for region in ([p.own] if p.direct else p.strips))
        total = sum(_macs(images, key, region) + PRODUCT_OVERHEAD for key, region in products)
        if self.unfold is not None:  # the unfolded copy
            H, W, C = self.geom.shape
            total += images * H * W * C + PRODUCT_OVERHEAD
        return total


def _macs(images: int, key: tuple, region) -> float:
    (r0, r1), (c0, c1) = region
    shift, A, B = key
    sym = 0.5 if (shift, A) == (0, B) else 1.0
    return sym * images * (r1 - r0) * (c1 - c0) * (A[1] - A[0]) * (B[1] - B[0])


def _segments(geom: ConvGeometry, r0: int, r1: int) -> list[tuple[int, int, int, int]]:
    """(offset, c0, c1, row in the block) of im2col columns r0:r1."""
    C = geom.shape[2]
    out, n = [], r0
    while n < r1:
        o, c0 = divmod(n, C)
        c1 = min(C, c0 + r1 - n)
        out.append((o, c0, c1, n - r0))
        n += c1 - c0
    return out


def make_plan(geom: ConvGeometry, blocks: list[tuple[int, int]], hull: bool = False) -> GramPlan:
    """The shifted products that give the Grams of columns ``r0:r1`` of every block;
    ``hull``: one product per shift, over the hull of the channels its pairs need."""
    (t, l, _, _), (dh, dw), (H, W, _) = geom.pads, geom.dilations, geom.shape
    OH, OW = geom.out
    full: dict = {}
    pairs: list[_Pair] = []
    for r0, r1 in blocks:
        segs = _segments(geom, r0, r1)
        for ip, (o1, a0, a1, at1) in enumerate(segs):
            i1, j1 = divmod(o1, geom.kw)
            for o2, b0, b1, at2 in segs[ip:]:
                i2, j2 = divmod(o2, geom.kw)
                du, dv = (i2 - i1) * dh, (j2 - j1) * dw
                # fr x fc: pixels u with u and u + (du, dv) inside the image; rr x rc: of
                # those, the ones that offset o1's window sees (x coordinates)
                fr = _interval(max(0, -du), min(H, H - du))
                fc = _interval(max(0, -dv), min(W, W - dv))
                wr = (i1 * dh - t, i1 * dh - t + OH)
                wc = (j1 * dw - l, j1 * dw - l + OW)
                rr = _interval(max(fr[0], wr[0]), min(fr[1], wr[1]))
                rc = _interval(max(fc[0], wc[0]), min(fc[1], wc[1]))
                key = (du * W + dv, (a0, a1), (b0, b1))  # (flat shift, A, B)
                # the flat product covers every pixel: cut all but rr x rc
                strips = [(iv, (0, W)) for iv in _minus((0, H), rr)]
                strips += [(rr, iv) for iv in _minus((0, W), rc)] if rr[0] < rr[1] else []
                pair = _Pair((r0, r1), (at1, a1 - a0), (at2, b1 - b0), key, strips, (rr, rc))
                if rr[0] >= rr[1] or rc[0] >= rc[1]:
                    pair.strips, pair.key = [], None  # the window sees none of it: zeros
                else:
                    full.setdefault(key, ((0, H), (0, W)))
                pairs.append(pair)
    if hull:
        full = _hulls(full, pairs)
    _direct_where_cheaper(full, pairs)
    return GramPlan(geom, list(blocks), full, pairs)


def _hulls(full: dict, pairs: list[_Pair]) -> dict:
    """One shared product per shift, over the channels of all its keys."""
    hulls: dict = {}
    for s, (a0, a1), (b0, b1) in full:
        h = hulls.get(s, (a0, a1, b0, b1))
        hulls[s] = (min(h[0], a0), max(h[1], a1), min(h[2], b0), max(h[3], b1))
    out = {}
    for p in pairs:
        if p.key is not None:
            h = hulls[p.key[0]]
            p.shared = (p.key[0], (h[0], h[1]), (h[2], h[3]))
            out[p.shared] = full[p.key]
    return out


def _direct_where_cheaper(full: dict, pairs: list[_Pair]) -> None:
    """A pair whose full product no other pair uses, or whose strips cover more than its
    own region, is computed over its own region instead."""
    users: dict = {}
    for p in pairs:
        if p.key is not None:
            users.setdefault(p.shared or p.key, []).append(p)
    for key, ps in users.items():
        for p in ps:
            (r0, r1), (c0, c1) = p.own
            strips = sum((r[1] - r[0]) * (c[1] - c[0]) for r, c in p.strips)
            if len(ps) == 1 or strips >= (r1 - r0) * (c1 - c0):
                p.direct, p.strips = True, []
        if all(p.direct for p in ps):
            del full[key]


def unfolded_plan(geom: ConvGeometry, blocks: list[tuple[int, int]]) -> GramPlan:
    """The plan on the images unfolded along their width: im2col's columns ``(i, j, c)``
    are those of a ``kh x 1`` kernel on ``kw * C`` channels ``(j, c)``, so only row
    shifts remain (few products, wide ones: pays for few channels)."""
    (t, l, b, r), (dh, dw), (H, _, C) = geom.pads, geom.dilations, geom.shape
    OW = geom.out[1]
    flat = ConvGeometry(geom.kh, 1, (t, 0, b, 0), (dh, 1), (H, OW, geom.kw * C))
    plan = make_plan(flat, blocks, hull=True)
    plan.unfold = (geom.kw, l, r, dw, OW)
    return plan


def unfold_width(x: np.ndarray, unfold: tuple) -> np.ndarray:
    """Images (B, H, W, C) unfolded along their width: (B, H, OW, kw * C), channels
    ordered (kernel column, channel)."""
    kw, l, r, dw, OW = unfold
    xp = np.pad(x, ((0, 0), (0, 0), (l, r), (0, 0))) if l or r else x
    win = sliding_window_view(xp, dw * (kw - 1) + 1, axis=2)[:, :, :OW, :, ::dw]
    B, H, _, C, _ = win.shape
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 3)).reshape(B, H, OW, kw * C)


def gram_plan(geom: ConvGeometry, blocks: list[tuple[int, int]], images: int) -> GramPlan | None:
    """The plan :func:`block_grams` follows, or None where the dense Grams are cheaper.

    Parameters
    ----------
    geom : ConvGeometry
        The convolution and the shape of its input images.
    blocks : list of (int, int)
        Row blocks ``(r0, r1)``: ranges of im2col columns (array rows) whose Grams are
        needed.
    images : int
        Images per batch (the cost estimate scales with it).

    Returns
    -------
    GramPlan or None
        The cheaper of :func:`make_plan` and :func:`unfolded_plan` by estimated
        multiply-adds (plus :data:`PRODUCT_OVERHEAD` per product), when below the
        dense Grams' ``images * OH * OW * m^2 / 2`` per block of ``m`` rows and the
        products are not memory-bound (:data:`MIN_CHANNELS`, :data:`MAX_NARROW_BYTES`).
    """
    H, W, C = geom.shape
    if C < MIN_CHANNELS and (C < 16 or images * H * W * C * 8 > MAX_NARROW_BYTES):
        return None
    plans = [make_plan(geom, blocks)] + ([unfolded_plan(geom, blocks)] if geom.kw > 1 else [])
    plan = min(plans, key=lambda p: p.cost(images))
    OH, OW = geom.out
    dense = sum(0.5 * images * OH * OW * (r1 - r0) ** 2 + PRODUCT_OVERHEAD for r0, r1 in blocks)
    return plan if plan.cost(images) < dense else None


class _Shifted:
    """Images ``x`` (B, H, W, C) and, per flat shift ``s``, the images shifted by ``s``
    pixels in (image, row, column) order, zeros past either end: views of one copy."""

    def __init__(self, x: np.ndarray, shifts) -> None:
        self.x = x
        B, H, W, C = x.shape
        self.n = B * H * W
        self.pad = max((abs(s) for s in shifts), default=0)
        # (np.empty, not np.zeros: a large calloc is fresh pages from the system each time)
        self.flat = np.empty((self.n + 2 * self.pad, C))
        self.flat[: self.pad] = 0.0
        self.flat[self.pad + self.n :] = 0.0
        self.flat[self.pad : self.pad + self.n] = x.reshape(self.n, C)

    def shifted(self, s: int) -> np.ndarray:
        """(pixels, C): the partner of every pixel (``x`` flattened for ``s = 0``)."""
        return self.flat[self.pad + s : self.pad + s + self.n]

    def products(self, keys: list) -> dict:
        """:meth:`product` over every pixel of each key.  Few channels (``A`` of at most
        16) and three or more shifts: one product for all of them (many small products
        of long, narrow operands are slow)."""
        groups: dict = {}
        out = {}
        for key in keys:
            if key[0] == 0 and key[1] == key[2]:  # symmetric: syrk, exactly symmetric
                out[key] = self.product(key)
            else:
                groups.setdefault(key[1], []).append(key)
        for (a0, a1), ks in groups.items():
            if len(ks) < 3 or a1 - a0 > 16:
                out.update({key: self.product(key) for key in ks})
                continue
            xb = np.concatenate([self.shifted(s)[:, b0:b1] for s, _, (b0, b1) in ks], axis=1)
            P = self.shifted(0)[:, a0:a1].T @ xb
            at = 0
            for key in ks:
                out[key] = P[:, at : at + key[2][1] - key[2][0]]
                at += key[2][1] - key[2][0]
        return out

    def product(self, key: tuple, region=None) -> np.ndarray:
        """``sum over pixels p`` (of ``region`` = (rows, cols) of every image when given)
        of ``x[p, A]^T x[p + s, B]``; numpy's syrk when it is symmetric."""
        s, (a0, a1), (b0, b1) = key
        if region is None:  # every pixel: plain strided views, no copies
            return self.shifted(0)[:, a0:a1].T @ self.shifted(s)[:, b0:b1]
        (r0, r1), (c0, c1) = region
        xa = np.ascontiguousarray(self.x[:, r0:r1, c0:c1, a0:a1]).reshape(-1, a1 - a0)
        if (s, a0, a1) == (0, b0, b1):
            return xa.T @ xa
        xs = self.shifted(s).reshape(self.x.shape)[:, r0:r1, c0:c1, b0:b1]
        return xa.T @ np.ascontiguousarray(xs).reshape(-1, b1 - b0)


def block_grams(x: np.ndarray, plan: GramPlan) -> dict[tuple[int, int], np.ndarray]:
    """Gram matrices of a convolution's im2col columns, per row block.

    Parameters
    ----------
    x : ndarray
        The convolution's input images, shape (B, H, W, C) (the plan's geometry).
    plan : GramPlan
        From :func:`gram_plan` or :func:`make_plan` / :func:`unfolded_plan`.

    Returns
    -------
    dict of (int, int) to ndarray
        ``{(r0, r1): V[:, r0:r1].T @ V[:, r0:r1]}`` for ``V = im2col(x)``, each
        (r1 - r0, r1 - r0), exactly symmetric; equal to the dense products to round-off.
    """
    if plan.unfold is not None:
        x = unfold_width(x, plan.unfold)
    sx = _Shifted(x, [p.key[0] for p in plan.pairs if p.key is not None])
    full = sx.products(list(plan.full))
    out = {(r0, r1): np.empty((r1 - r0, r1 - r0)) for r0, r1 in plan.blocks}
    parts: dict = {}  # (key, region) -> product (a strip is often cut from several pairs)

    def part(key, region):
        if (key, region) not in parts:
            parts[(key, region)] = sx.product(key, region)
        return parts[(key, region)]

    for p in plan.pairs:
        (i, m), (j, n) = p.at_p, p.at_q
        G = out[p.block]
        if p.key is None:
            val = np.zeros((m, n))
        elif p.direct:
            val = part(p.key, p.own)
        elif p.strips:
            val = p.cut(full[p.shared or p.key]).copy()
            for region in p.strips:
                val -= part(p.key, region)
        else:
            val = p.cut(full[p.shared or p.key])
        G[i : i + m, j : j + n] = val
        if (i, m) != (j, n):
            G[j : j + n, i : i + m] = val.T
    return out
