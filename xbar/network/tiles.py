"""Tiling layers onto arrays, programming the tiles, and cached array transfer matrices.

Tiling: a layer's ``n_in`` rows are split into row tiles of at most
``array_rows`` rows (their partial sums are digitised separately and
accumulated digitally); each plane's output columns are split into column tiles
of at most ``array_cols`` physical columns.  A differential plane uses two
adjacent physical columns per output (+ then -); an offset plane one, plus one
reference column per tile with ``offset_subtraction = "reference_column"``
(cells at the offset conductance; its current is subtracted in analog).

Each tile is a :class:`xbar.Crossbar` with the configured wire, driver and sense
resistances.  With linear cells the tile's currents are exactly ``V @ W_eff``
with ``W_eff = crossbar.transfer_matrix()``; it is computed once per programmed
tile (by :meth:`xbar.Crossbar.transfer_matrix`, an exact block elimination
oriented along the rows or the columns, whichever is cheaper) and kept in a
:class:`TransferCache` keyed by a hash of (programmed
conductances, resistances, device, topology), then reused for every input and
output pixel.  Without parasitics ``W_eff = G``.

Nonlinear (``sinh``) cells, I = G sinh(k v) / k:

* without parasitics the cell voltage is the applied one, so the currents are
  exactly ``f(V) @ G`` with ``f(v) = sinh(k v) / k``;
* ``nonlinear_mode = "linearized"`` with parasitics: the wires are linearised
  with the cells at their small-signal conductance G (exact transfer matrix
  ``W_eff``, cached) and the cell nonlinearity is added as a correction.  Writing
  the cell law as ``G (v + sum_n c_n v^(2n+1))`` (sinh series, c_n = k^(2n) /
  (2n+1)!) and each cell's voltage as ``a_ij V_i`` with the attenuation
  ``a_ij = W_eff_ij / G_ij`` (clipped to [0, 1]) of the linear network, the
  currents are ``V @ W_eff + sum_n (V^(2n+1)) @ (c_n G a^(2n+1))``: a few dense
  matmuls with cached matrices (terms up to (k v)^(2n) / (2n+1)! < 1e-12).  Exact
  for ideal wires (a = 1); measured against exact solves it is 4-10x better than
  applying the cell law to the driven voltages (``f(V) @ W_eff``); see
  ``benchmarks/RESULTS.md`` and ``tests/test_network_tiles.py``;
* other cell laws (``exponential``, ``power_law``, a measured ``tabulated`` curve;
  :mod:`xbar.network.cells`), ``linearized`` with parasitics: the same scheme, the
  currents ``V @ W_eff + sum_i G_ij r(a_ij V_i)`` with ``r(v) = f(v) - v`` the law's
  nonlinear part at the attenuated cell voltage.  ``r(a v)`` is interpolated in the
  attenuation at Chebyshev nodes ``a_m`` on ``[min a, 1]`` (1 is a node, so ideal
  wires stay exact): ``sum_m r(a_m V) @ (G L_m(a))``, a few dense matmuls with cached
  matrices, the node count chosen per tile so that the interpolation stays within
  1e-6 of the largest cell current (:func:`xbar.network.cells.attenuation_nodes`).
  For ``sinh`` it is the same quantity as the series above (tested).  Where 48
  nodes do not reach 1e-6 (a measured table, C1 only, on strongly attenuated tiles)
  the sum is evaluated cell by cell instead (exact for the scheme, slower);
* ``nonlinear_mode = "exact"``: a batched circuit solve of the tile for every
  MVM (``crossbar.solve(V).output``) with the configured cell law, for checking.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ValueRangeError
from .cells import (
    attenuation_nodes,
    cell_device,
    cell_function,
    lagrange_weights,
    remainder_function,
)
from .config import AnalogConfig
from .mapping import LayerMapping, Plane

if TYPE_CHECKING:
    from ..crossbar.power import PowerForms

__all__ = [
    "TileSpec",
    "Tile",
    "TransferCache",
    "plan_tiles",
    "tile_target_conductances",
    "make_crossbar",
    "cell_function",
    "default_cache",
]


@dataclass(frozen=True)
class TileSpec:
    """Where a tile sits: plane index, rows ``r0:r1`` and logical output columns ``j0:j1``."""

    plane: int
    r0: int
    r1: int
    j0: int
    j1: int
    kind: str
    reference: bool

    @property
    def rows(self) -> int:
        return self.r1 - self.r0

    @property
    def outputs(self) -> int:
        return self.j1 - self.j0

    @property
    def columns(self) -> int:
        """Physical columns used (weight cells plus the reference column)."""
        width = 2 if self.kind == "differential" else 1
        return self.outputs * width + (1 if self.reference else 0)


def plan_tiles(mapping: LayerMapping, config: AnalogConfig) -> list[TileSpec]:
    """Split every plane of a layer into tiles of at most array_rows x array_cols cells."""
    specs = []
    for p, plane in enumerate(mapping.planes):
        reference = plane.kind == "offset" and config.offset_subtraction == "reference_column"
        width = 2 if plane.kind == "differential" else 1
        per_tile = (config.array_cols - (1 if reference else 0)) // width
        for r0 in range(0, mapping.n_in, config.array_rows):
            r1 = min(r0 + config.array_rows, mapping.n_in)
            for j0 in range(0, mapping.n_out, per_tile):
                j1 = min(j0 + per_tile, mapping.n_out)
                specs.append(TileSpec(p, r0, r1, j0, j1, plane.kind, reference))
    return specs


def tile_target_conductances(
    spec: TileSpec, plane: Plane, config: AnalogConfig, plane_conductances: tuple | None = None
) -> np.ndarray:
    """Target conductances [S] of one tile (rows x physical columns), before errors.

    ``plane_conductances`` is ``plane.conductances(g_min, g_max)`` when already
    computed (it is the same for every tile of the plane).
    """
    if plane_conductances is None:
        plane_conductances = plane.conductances(config.g_min, config.g_max)
    gp, gn = plane_conductances
    gp = gp[spec.r0 : spec.r1, spec.j0 : spec.j1]
    G = np.empty((spec.rows, spec.columns))
    if spec.kind == "differential":
        gn = gn[spec.r0 : spec.r1, spec.j0 : spec.j1]
        G[:, 0::2] = gp
        G[:, 1::2] = gn
    else:
        G[:, : spec.outputs] = gp
        if spec.reference:
            G[:, -1] = config.g_min + (config.g_max - config.g_min) * plane.offset_conductance
    return G


def make_crossbar(G: np.ndarray, config: AnalogConfig, *, linear: bool = False):
    """An :class:`xbar.Crossbar` of programmed conductances ``G`` with the config's wires.

    ``linear=True`` gives the small-signal (linear-cell) array of the same
    conductances, whose transfer matrix the linearised scheme uses.
    """
    from ..crossbar import Crossbar, Linear

    if config.array_topology == "input_switched":
        return Crossbar(
            G,
            r_col=config.r_col,
            r_driver=config.r_driver,
            r_sense=config.r_sense,
            r_access=config.r_on,
            topology="input_switched",
            r_source=config.r_source,
            v_read=config.v_read,
        )
    device = Linear() if (linear or config.device == "linear") else cell_device(config)
    return Crossbar(
        G,
        r_row=config.r_row,
        r_col=config.r_col,
        r_driver=config.r_driver,
        r_sense=config.r_sense,
        device=device,
    )


def _compute(
    indices: list[int], Gs: list[np.ndarray], config: AnalogConfig, used: list
) -> dict[int, np.ndarray]:
    """Transfer matrices (their ``used`` blocks) of ``Gs[i]`` for ``i`` in ``indices``.

    Linear small-signal cells.  With resistive row and column wires every array takes
    :func:`xbar.crossbar.uniform.transfer_matrices` (measured 2.5-10x faster than
    :meth:`xbar.Crossbar.transfer_matrix` from 9x8 to padded 128x128 tiles, and only the
    used block of a padded tile is computed); otherwise the general solver.
    """
    from ..crossbar.uniform import applies, transfer_matrices

    if applies(config.r_row, config.r_col):
        Ws = transfer_matrices(
            [Gs[i] for i in indices],
            config.r_row,
            config.r_col,
            config.r_driver,
            config.r_sense,
            used=[used[i] for i in indices],
        )
        return dict(zip(indices, Ws, strict=True))
    out: dict[int, np.ndarray] = {}
    for i in indices:
        W = make_crossbar(Gs[i], config, linear=True).transfer_matrix()
        m, n = used[i] or Gs[i].shape
        out[i] = np.array(W[:m, :n], dtype=float)
    return out


def _fast(config: AnalogConfig) -> bool:
    """Tiles of ``config`` that :func:`xbar.crossbar.sweep.tile_solve` can take (default
    topology, resistive row and column wires)."""
    return config.array_topology != "input_switched" and config.r_row > 0 and config.r_col > 0


def _digest(G: np.ndarray) -> bytes:
    """A hash of the conductances (0.2 ms at 128 x 128: computed once per tile and call)."""
    return hashlib.blake2b(
        np.ascontiguousarray(G, dtype=np.float64).tobytes(), digest_size=20
    ).digest()


def _key(
    G: np.ndarray,
    config: AnalogConfig,
    used: tuple[int, int] | None = None,
    digest: bytes | None = None,
) -> str:
    """The store key of a tile (``digest``: :func:`_digest` of ``G`` when known)."""
    h = hashlib.blake2b(digest or _digest(G), digest_size=20)
    h.update(
        repr(
            (
                G.shape,
                config.r_row,
                config.r_col,
                config.r_driver,
                config.r_sense,
                "linear-small-signal",
                "drive-left/sense-bottom",
            )
            + (() if used is None or tuple(used) == G.shape else ("block", *used))
        ).encode()
    )
    return h.hexdigest()


@dataclass
class TransferCache:
    """Least-recently-used cache of tile transfer matrices W_eff (linear or small-signal).

    Keys hash the programmed conductances (after every error), the four
    resistances and the topology, so any change of conductances, errors or
    resistances gives a new key.  ``hits`` / ``misses`` count lookups;
    ``seconds`` is the time spent computing missed entries.  The tiles' power forms
    (:meth:`power_forms`) live in the same store under the same key, counted by
    ``forms_hits`` / ``forms_misses`` / ``forms_seconds``.

    Parameters
    ----------
    max_bytes : int
        Memory bound of the stored matrices (default 1 GiB).
    """

    max_bytes: int = 1 << 30
    hits: int = 0
    misses: int = 0
    seconds: float = 0.0
    forms_hits: int = 0
    forms_misses: int = 0
    forms_seconds: float = 0.0
    _store: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __getstate__(self):  # picklable (the lock is not)
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def transfer_matrix(self, G: np.ndarray, config: AnalogConfig) -> np.ndarray:
        """W_eff of a tile with conductances ``G`` [S] (rows x columns) under ``config``.

        Without any resistance W_eff is ``G`` itself (not cached); input-switched
        arrays have no transfer matrix (their tiles solve per bit pattern) and get
        ``G`` too.
        """
        return self.transfer_matrices([G], config)[0]

    def transfer_with_forms(
        self, G: np.ndarray, config: AnalogConfig, used: tuple[int, int] | None = None
    ) -> tuple:
        """``(W_eff, forms)``: the transfer matrix (its ``used`` (rows, columns) block) and
        the power forms of the tile's used rows (energy accounting; the other rows driven
        at 0 V, every cell, line and end of the whole array counted), both cached.

        With resistive row and column wires both come from one numpy sweep
        (:func:`xbar.crossbar.sweep.tile_solve`: uniform padding in closed form, no scipy
        or numba); otherwise, or where its assumptions fail, the forms come from
        :meth:`xbar.Crossbar.power_forms` (one direct elimination, which also gives a
        missing W_eff of all rows).  ``forms`` is None where the tile has none (no
        resistance: the power is then ``sum_ij G_ij V_i^2``; input-switched).
        """
        if not config.parasitics or config.array_topology == "input_switched":
            return self.transfer_matrices([G], config, used=[used])[0], None
        m = G.shape[0] if used is None else used[0]
        if _fast(config):
            digest = _digest(G)
            hit = self._cached(G, config, used, digest)
            if hit is not None:
                return hit
            got = self._sweep(G, config, used, forms=True, digest=digest)
            if got is not None:
                return got
        forms, W = self._forms(G, config, None if m == G.shape[0] else m)
        if W is None or (used is not None and tuple(used) != G.shape):
            W = self.transfer_matrices([G], config, used=[used])[0]
        return W, forms

    def _cached(self, G: np.ndarray, config: AnalogConfig, used, digest: bytes) -> tuple | None:
        """Stored ``(W block, forms)`` of a tile, or None when either is missing."""
        m = G.shape[0] if used is None else used[0]
        base = _key(G, config, digest=digest)
        with self._lock:
            W = self._store.get(_key(G, config, used, digest))
            forms = None
            for key in (("power", base, G.shape[0]), ("power", base, m)):
                forms = forms or self._store.get(key)
            if W is None or forms is None:
                return None
            self.hits += 1
            self.forms_hits += 1
            return W, forms.first(m)

    def _sweep(
        self,
        G: np.ndarray,
        config: AnalogConfig,
        used,
        forms: bool,
        counted: bool = False,
        digest: bytes | None = None,
    ) -> tuple | None:
        """``(W block, forms)`` from :func:`xbar.crossbar.sweep.tile_solve`, stored; None
        where it does not apply.  ``counted``: the forms' miss is already counted;
        ``digest``: :func:`_digest` of ``G`` when known."""
        from ..crossbar.sweep import tile_solve

        t0 = time.perf_counter()
        got = tile_solve(
            G, config.r_row, config.r_col, config.r_driver, config.r_sense, used, forms=forms
        )
        if got is None:
            return None
        W, f = got
        W.setflags(write=False)
        m = G.shape[0] if used is None else used[0]
        seconds = time.perf_counter() - t0
        digest = digest or _digest(G)
        key, base = _key(G, config, used, digest), _key(G, config, digest=digest)
        with self._lock:
            if key not in self._store:
                self.misses += 1
                self._put(key, W)
            if f is not None:
                self.forms_misses += 0 if counted else 1
                self.forms_seconds += seconds
                self._put(("power", base, m), f)
            else:
                self.seconds += seconds
        return W, f

    def transfer_matrices(
        self, Gs: list[np.ndarray], config: AnalogConfig, used: list | None = None
    ) -> list[np.ndarray]:
        """W_eff of several tiles (for example all tiles of a layer), the missing ones together.

        Tiles with resistive row and column wires go through
        :func:`xbar.crossbar.uniform.transfer_matrices`, the others through
        :meth:`xbar.Crossbar.transfer_matrix`.  Both are exact (they agree to 1e-12).
        ``used``: per tile, the (rows, columns) block of W_eff that is wanted (a padded
        tile's used cells; the block is computed and cached by itself), or None for all.
        """
        if not config.parasitics or config.array_topology == "input_switched":
            return list(Gs)
        used = [None] * len(Gs) if used is None else list(used)
        keys = [_key(G, config, u) for G, u in zip(Gs, used, strict=True)]
        out: list[np.ndarray | None] = [None] * len(Gs)
        missing: dict[str, int] = {}
        with self._lock:
            for i, key in enumerate(keys):
                W = self._store.get(key)
                if W is not None:
                    self.hits += 1
                    self._store.move_to_end(key)
                    out[i] = W
                elif key in missing:  # the same tile twice in one call: computed once
                    self.hits += 1
                else:
                    self.misses += 1
                    missing[key] = i
        t0 = time.perf_counter()
        computed = _compute(list(missing.values()), Gs, config, used)
        with self._lock:
            self.seconds += time.perf_counter() - t0
            for key, i in missing.items():
                W = computed[i]
                W.setflags(write=False)
                out[i] = W
                if key not in self._store:
                    self._store[key] = W
                    self._bytes += W.nbytes
            while self._bytes > self.max_bytes and len(self._store) > 1:
                _, old = self._store.popitem(last=False)
                self._bytes -= _nbytes(old)
        for i, key in enumerate(keys):
            if out[i] is None:
                out[i] = computed[missing[key]]
        return out

    def power_forms(
        self, G: np.ndarray, config: AnalogConfig, inputs: int | None = None
    ) -> PowerForms:
        """Power of a tile as quadratic forms of its inputs
        (:class:`xbar.crossbar.power.PowerForms`, linear or small-signal cells), cached
        beside the transfer matrix under the same key.

        ``inputs``: forms of the first ``inputs`` rows only, the others driven at 0 V
        (a padded tile's used rows; default all; stored forms of all rows serve any
        ``inputs``).  Forms of all rows computed by the direct elimination also give the
        transfer matrix, stored when missing (see :meth:`transfer_with_forms`).
        Without any resistance the power is exactly ``sum_ij G_ij V_i^2``: the cells'
        form is ``diag(sum_j G_ij)`` (not cached).
        """
        from ..crossbar.power import PowerForms

        m = G.shape[0] if inputs is None else inputs
        if not config.parasitics:
            q = np.diag(G[:m].sum(axis=1))
            return PowerForms(Q={"cells": q, "supplied": q}, attenuation=np.ones_like(G[:m]))
        return self._forms(G, config, inputs)[0]

    def _forms(self, G: np.ndarray, config: AnalogConfig, inputs: int | None) -> tuple:
        """``(forms, W)``: cached or computed forms; ``W`` the stored transfer matrix when
        the forms were computed by the direct elimination now, else None."""
        M = G.shape[0]
        m = M if inputs is None else inputs
        digest = _digest(G)
        base = _key(G, config, digest=digest)
        with self._lock:
            for key in (("power", base, M), ("power", base, m)):
                forms = self._store.get(key)
                if forms is not None:
                    self.forms_hits += 1
                    self._store.move_to_end(key)
                    return forms.first(m), None
            self.forms_misses += 1
        if _fast(config):
            got = self._sweep(G, config, (m, G.shape[1]), forms=True, counted=True, digest=digest)
            if got is not None:
                return got[1], None
        t0 = time.perf_counter()
        forms = make_crossbar(G, config, linear=True).power_forms(m)
        W = forms.transfer
        if W is not None:  # kept as the transfer matrix, not in the forms
            forms = replace(forms, transfer=None)
        with self._lock:
            self.forms_seconds += time.perf_counter() - t0
            self._put(("power", base, m), forms)
            if m < M or W is None:
                return forms, None
            if base in self._store:
                return forms, self._store[base]
            W = np.array(W, dtype=float)
            W.setflags(write=False)
            self.misses += 1  # a transfer matrix computed (with the forms)
            self._put(base, W)
        return forms, W

    def _put(self, key, entry) -> None:
        """Store ``entry`` (lock held) and evict the least recently used beyond max_bytes."""
        if key not in self._store:
            self._store[key] = entry
            self._bytes += _nbytes(entry)
        while self._bytes > self.max_bytes and len(self._store) > 1:
            _, old = self._store.popitem(last=False)
            self._bytes -= _nbytes(old)

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        """Drop every stored matrix (the counters are kept)."""
        with self._lock:
            self._store.clear()
            self._bytes = 0

    def stats(self) -> dict:
        """``{"hits", "misses", "entries", "seconds"}`` of the transfer matrices, and
        ``forms_hits``, ``forms_misses``, ``forms_seconds`` of the power forms."""
        return {
            "hits": self.hits,
            "misses": self.misses,
            "entries": len(self._store),
            "seconds": self.seconds,
            "forms_hits": self.forms_hits,
            "forms_misses": self.forms_misses,
            "forms_seconds": self.forms_seconds,
        }


def _nbytes(entry) -> int:
    """Bytes of a cached transfer matrix or power forms."""
    if isinstance(entry, np.ndarray):
        return entry.nbytes
    W = entry.transfer
    size = sum(q.nbytes for q in entry.Q.values()) + entry.attenuation.nbytes
    return size + (0 if W is None else W.nbytes)


_DEFAULT_CACHE: TransferCache | None = None


def default_cache() -> TransferCache:
    """The process-wide transfer-matrix cache (256 MiB) that :func:`evaluate` uses by default."""
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        _DEFAULT_CACHE = TransferCache(max_bytes=256 << 20)
    return _DEFAULT_CACHE


#: most terms of the sinh series that the linearised nonlinear mode sums
MAX_SINH_TERMS = 40


def sinh_terms(x: float, rel: float = 1e-12) -> int:
    """Terms n = 1.. of ``sinh(x) - x`` needed until the next is below ``rel`` (log space).

    Raises :class:`~xbar.errors.ValueRangeError` when more than :data:`MAX_SINH_TERMS` are
    needed: the truncated series would be silently wrong, never an answer to return.

    >>> sinh_terms(0.8), sinh_terms(4.0)
    (6, 12)
    """
    logx = math.log(x) if x > 0 else -math.inf
    n = 1
    while (2 * n + 2) * logx - math.lgamma(2 * n + 4) > math.log(rel):
        if n >= MAX_SINH_TERMS:
            raise ValueRangeError(
                f"device_k x cell voltage = {x:.3g} is too large for nonlinear_mode="
                f"'linearized': its sinh series does not converge in {MAX_SINH_TERMS} terms",
                hint="use nonlinear_mode='exact', a smaller v_read or a smaller device_k",
            )
        n += 1
    return n


#: elements of the law's argument per block (measured: 65536 keeps a tabulated law at
#: 4.5 ns per cell, 4M elements at 22 ns: the temporaries stay in the caches)
_CHUNK = 1 << 16


def _cell_by_cell(V: np.ndarray, G: np.ndarray, a: np.ndarray, r) -> np.ndarray:
    """``sum_i G_ij r(a_ij V_ki)`` directly, in chunks of inputs (K x columns)."""
    M, N = G.shape
    out = np.empty((V.shape[0], N))
    step = max(1, _CHUNK // max(1, M * N))
    for k0 in range(0, V.shape[0], step):
        Vk = V[k0 : k0 + step]
        out[k0 : k0 + step] = np.einsum("kij,ij->kj", r(Vk[:, :, None] * a[None]), G)
    return out


@dataclass
class Tile:
    """A programmed tile of one chip: conductances, transfer matrix and how to read it.

    Attributes
    ----------
    spec : TileSpec
    G : ndarray
        Programmed conductances [S] (rows x physical columns).
    W_eff : ndarray
        Transfer matrix [S]: column currents = V @ W_eff (linear cells).
    G_full : ndarray or None
        The whole physical array when the tile is partly used and its padding cells
        are simulated (``G`` and ``W_eff`` are then its used block: rows ``:rows``,
        columns ``:columns``; the padding rows are driven at 0 V).
    forms : PowerForms or None
        The power forms of all rows of the simulated array, when programmed with energy
        accounting (:meth:`TransferCache.transfer_with_forms`).
    """

    spec: TileSpec
    G: np.ndarray
    W_eff: np.ndarray
    G_full: np.ndarray | None = None
    last_solution: object = field(default=None, repr=False)  # exact mode: the last solve
    _crossbar: object = None
    _series: list = field(default_factory=list, repr=False)
    #: general cell laws: (v_lo, v_hi, nodes, [G L_m(a)] or None for cell by cell)
    _nodes: tuple | None = field(default=None, repr=False)
    _combined: np.ndarray | None = field(default=None, repr=False)
    forms: object = field(default=None, repr=False)  # power forms of all rows (energy)

    def _sinh_series(self, k: float, v_max: float) -> list[np.ndarray]:
        """``c_n G a^(2n+1)`` for the terms n = 1, 2, ... that matter up to ``v_max``."""
        n_needed = sinh_terms(k * v_max)
        if len(self._series) < n_needed:
            a = np.divide(self.W_eff, self.G, out=np.zeros_like(self.G), where=self.G > 0)
            np.clip(a, 0.0, 1.0, out=a)
            for n in range(len(self._series) + 1, n_needed + 1):
                c = k ** (2 * n) / math.factorial(2 * n + 1)
                self._series.append(c * self.G * a ** (2 * n + 1))
        return self._series[:n_needed]

    def attenuation(self) -> np.ndarray:
        """``a_ij = W_eff_ij / G_ij`` clipped to [0, 1] (0 where G = 0): the fraction of
        the row voltage across each cell in the small-signal array."""
        a = np.divide(self.W_eff, self.G, out=np.zeros_like(self.G), where=self.G > 0)
        return np.clip(a, 0.0, 1.0, out=a)

    def cell_excess(self, V: np.ndarray, config: AnalogConfig) -> np.ndarray:
        """``sum_i G_ij r(a_ij V_i)`` [A] (K x physical columns): what a nonlinear cell law
        adds to the small-signal currents, each cell at its attenuated voltage."""
        if V.size == 0:
            return np.zeros((V.shape[0], self.G.shape[1]))
        v_lo, v_hi = min(float(V.min()), 0.0), max(float(V.max()), 0.0)
        held = self._nodes
        if held is None or v_lo < held[0] or v_hi > held[1]:
            a = self.attenuation()
            a_lo = float(a[self.G > 0].min()) if np.any(self.G > 0) else 1.0
            try:
                nodes = attenuation_nodes(remainder_function(config), a_lo, v_lo, v_hi)
                # cell by cell evaluates the law once per column, the nodes once per node
                H = (
                    [self.G * L for L in lagrange_weights(nodes, a)]
                    if nodes.size < a.shape[1]
                    else None
                )
            except ValueRangeError as exc:
                if "nodes" not in exc.message:
                    raise
                nodes, H = None, None  # cell by cell below
            held = self._nodes = (v_lo, v_hi, nodes, H)
        _, _, nodes, H = held
        r = remainder_function(config, (held[0], held[1]))  # (every a V lies in the range)
        if H is None:
            return _cell_by_cell(V, self.G, self.attenuation(), r)
        out = np.zeros((V.shape[0], self.G.shape[1]))
        step = max(1, _CHUNK // V.shape[1])  # inputs per block: the law's arguments in cache
        for k0 in range(0, V.shape[0], step):
            Vk = V[k0 : k0 + step]
            for a_m, H_m in zip(nodes, H, strict=True):
                out[k0 : k0 + step] += r(a_m * Vk) @ H_m
        return out

    def currents(self, V: np.ndarray, config: AnalogConfig, rng=None) -> np.ndarray:
        """Column currents [A] (K x physical columns) for row voltages ``V`` [V] (K x rows)."""
        f = cell_function(config)
        if config.array_topology == "input_switched":
            I = self.input_switched_currents(V, config)
        elif f is None:
            I = V @ self.W_eff
        elif not config.parasitics:
            I = f(V) @ self.G
        elif config.nonlinear_mode == "linearized" and config.device == "sinh":
            I = V @ self.W_eff
            v_max = float(np.abs(V).max()) if V.size else 0.0
            if v_max > 0:
                for n, H in enumerate(self._sinh_series(config.device_k, v_max), start=1):
                    I += (V ** (2 * n + 1)) @ H
        elif config.nonlinear_mode == "linearized":
            I = V @ self.W_eff + self.cell_excess(V, config)
        else:
            if self._crossbar is None:
                self._crossbar = make_crossbar(
                    self.G if self.G_full is None else self.G_full, config
                )
            Vp = V
            if self.G_full is not None:  # padding rows at 0 V, padding columns not read
                Vp = np.zeros((V.shape[0], self.G_full.shape[0]))
                Vp[:, : V.shape[1]] = V
            self.last_solution = self._crossbar.solve(Vp)
            I = np.asarray(self.last_solution.output, dtype=float)[:, : self.G.shape[1]]
        if rng is not None and config.read_noise_sigma > 0:
            from .nonideal import read_noise

            I = I + read_noise(V if f is None else f(V), self.G, config, rng)
        return I

    def input_switched_currents(self, V: np.ndarray, config: AnalogConfig) -> np.ndarray:
        """Exact currents of an input-switched tile: rows with V > 0 are on (one bit).

        Each distinct active-row pattern is solved once per programmed tile (the
        array's pattern cache, :meth:`xbar.Crossbar.pattern_conductances`).
        """
        if self._crossbar is None:
            self._crossbar = make_crossbar(self.G, config)
        return config.v_read * self._crossbar.pattern_conductances(V > 0)

    def read(self, V: np.ndarray, config: AnalogConfig, rng=None) -> np.ndarray:
        """ADC inputs (K x outputs): ``combine(currents(V, config, rng))``, cheaper.

        With linear cells the analog combination is folded into the cached transfer
        matrix (``V @ combine(W_eff)``: half the multiply-adds of a differential
        tile); read noise is drawn exactly as :meth:`currents` draws it and combined
        the same way, so results equal ``combine(currents(...))`` up to round-off.
        """
        if config.device != "linear" or config.array_topology == "input_switched":
            return self.combine(self.currents(V, config, rng))
        if self._combined is None:
            W = self.combine(self.W_eff)
            self._combined = np.ascontiguousarray(W) if W is not self.W_eff else W
        A = V @ self._combined
        if rng is not None and config.read_noise_sigma > 0:
            from .nonideal import read_noise

            A = A + self.combine(read_noise(V, self.G, config, rng))
        return A

    def combine(self, I: np.ndarray) -> np.ndarray:
        """Analog combination before the ADC: I+ - I-, I - I_ref, or I (K x outputs)."""
        s = self.spec
        if s.kind == "differential":
            with np.errstate(invalid="ignore"):  # inf - inf: caught as non-finite outputs
                return I[:, 0::2] - I[:, 1::2]
        if s.reference:
            return I[:, : s.outputs] - I[:, -1:]
        return I
