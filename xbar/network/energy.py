"""Energy of inference on simulated arrays: the exact array power of every read, plus
converters and digital accumulation.

Per read of a tile (one input vector applied for ``read_pulse`` seconds; one input
bit for ``bit_serial`` inputs):

* **array**: the exact DC power of the tile's circuit for the applied voltages (cells,
  row and column wires, driver and sense resistances; :mod:`xbar.crossbar.power`)
  times ``read_pulse``.  Linear cells: each tile's power is a quadratic form
  ``P(V) = V^T Q V``; the (M, M) matrices ``Q`` of every part are computed once per
  programmed tile and cached beside its transfer matrix (same key, so invalidated
  with it), and a whole batch costs its Gram matrix ``V^T V`` (shared by every tile
  on the same rows) and one inner product per part: ``sum_k V_k^T Q V_k =
  sum(Q * V^T V)``.  Without parasitics ``Q`` is ``diag(sum_j G_ij)``.
  ``sinh`` cells (``i = G sinh(k v) / k``), ``linearized`` mode: the forms of the
  small-signal array plus the cells' extra power ``sum_n c_n G v^(2n+2)`` (c_n = k^(2n)
  / (2n+1)!) with each cell's voltage taken as ``a_ij V_i``, ``a_ij`` the cell's exact
  attenuation in the linear array (the same scheme as the outputs; error measured
  against exact solves in ``tests/test_energy.py`` and ``docs/energy.md``);
  ``exact`` mode: the power of the tile's circuit solve itself.  Without parasitics
  the sinh power ``sum_ij G_ij V_i sinh(k V_i) / k`` is exact.  Other cell laws
  (``exponential``, ``power_law``, ``tabulated``): the same, with the law's extra power
  ``sum_ij G_ij a_ij V_i r(a_ij V_i)`` (``r = f(v) - v``) interpolated in the
  attenuation (:func:`xbar.network.cells.attenuation_nodes`) where the sinh series is
  summed.
* **DAC**: ``dac_energy`` per row per ``analog`` read (bit-serial inputs: none).
* **ADC**: ``adc_fom * 2**adc_bits`` per conversion (one per output column per read,
  after the analog +/- or reference subtraction); none with ``adc_bits = 0``.
* **digital**: ``digital_energy`` per shift-and-add of a digitised partial sum (one
  per conversion).

Input-switched arrays (``array_topology = "input_switched"``): the exact total power
of a read is ``v_read`` times the summed sense currents (the source line supplies what
the bit lines sink); it is reported under ``cells`` (on-resistance and both lines
included; the split over them is not computed).

Reads of a linear layer (one matrix per chip, :meth:`LayerMeter.read_linear`) are
metered together: the forms of the tiles on the same rows are summed when the chip is
programmed, so a batch costs one Gram matrix and one product (all parts) per row
block.  A stride-1 convolution's Grams come from shifted products of its input images
where that is cheaper (:mod:`xbar.network.convgram`: the same sums in another order).
Which chips are metered is :attr:`AnalogConfig.energy_chips` (the first one by default;
:func:`chip_spread` gives the spread over several).  The array part is metered on a
seeded random sample of :attr:`AnalogConfig.energy_images` test images
(:func:`image_sample`; every image of a smaller set), each sampled image apart, and
:func:`image_spread` gives the estimate's interval over images
(:meth:`LayerMeter.start_batch`); the converters and adds count every image.

Not modelled: wire and cell capacitance (charging the lines each read), driver and
sense-amplifier bias power, buffers, data movement, programming.

Effective operations per image count ``2 n_in n_out`` per output pixel of every
matmul layer (one multiply and one add per weight), whatever the mapping spends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ValueRangeError
from .cells import attenuation_nodes, cell_function, lagrange_weights, remainder_function
from .config import AnalogConfig
from .convgram import block_grams, gram_plan

__all__ = [
    "ARRAY_PARTS",
    "ENERGY_PARTS",
    "EnergyTally",
    "LayerMeter",
    "SPREAD_KEYS",
    "adc_energy",
    "chip_spread",
    "code_gram",
    "energy_summary",
    "gram",
    "image_sample",
    "image_spread",
    "plot_breakdown",
]

#: Array parts reported (joules per image).
ARRAY_PARTS = ("cells", "row_wires", "col_wires", "drivers", "sense")
#: Every reported part: the array's, then the periphery's.
ENERGY_PARTS = ARRAY_PARTS + ("dac", "adc", "digital")


def adc_energy(config: AnalogConfig) -> float:
    """Energy [J] of one ADC conversion: ``adc_fom * 2**adc_bits`` (0 without an ADC)."""
    return config.adc_fom * 2.0**config.adc_bits if config.adc_bits > 0 else 0.0


@dataclass
class EnergyTally:
    """Energy [J] by part and the operation counts behind it (sums over reads)."""

    joules: dict = field(default_factory=lambda: dict.fromkeys(ENERGY_PARTS, 0.0))
    reads: int = 0
    dac_conversions: int = 0
    adc_conversions: int = 0
    adds: int = 0
    macs: int = 0
    #: images whose array energy the array parts of ``joules`` hold (0: every image)
    array_images: int = 0
    #: array energy [J] of each sampled image, in sample order (None: every image metered)
    image_joules: np.ndarray | None = None

    def add(self, other: EnergyTally) -> None:
        for k, v in other.joules.items():
            self.joules[k] += v
        self.reads += other.reads
        self.dac_conversions += other.dac_conversions
        self.adc_conversions += other.adc_conversions
        self.adds += other.adds
        self.macs += other.macs
        self.array_images += other.array_images
        if other.image_joules is not None:
            held = self.image_joules
            self.image_joules = (
                other.image_joules.copy() if held is None else held + other.image_joules
            )

    @property
    def total(self) -> float:
        return float(sum(self.joules.values()))

    def for_images(self, images: int) -> EnergyTally:
        """This tally with the array parts of a sample of images scaled up to ``images``
        images (itself when every image was metered): tallies of layers then add up
        (a copy without per-image values)."""
        if not self.array_images:
            return self
        f = images / self.array_images
        joules = {k: v * f if k in ARRAY_PARTS else v for k, v in self.joules.items()}
        counts = {k: getattr(self, k) for k in ("reads", "dac_conversions", "adc_conversions")}
        return EnergyTally(joules, adds=self.adds, macs=self.macs, **counts)

    def per_image(self, images: int) -> dict:
        """Joules per image by part, ``array`` / ``periphery`` / ``total``, counts per
        image and effective operations per joule."""
        n = max(1, images)
        n_array = self.array_images or n  # (the array parts of a sample of images)
        out = {k: v / (n_array if k in ARRAY_PARTS else n) for k, v in self.joules.items()}
        out["array"] = sum(out[k] for k in ARRAY_PARTS)
        out["wires"] = out["row_wires"] + out["col_wires"]
        out["periphery"] = out["dac"] + out["adc"] + out["digital"]
        out["total"] = out["array"] + out["periphery"]
        out["ops"] = 2.0 * self.macs / n
        out["ops_per_joule"] = out["ops"] / out["total"] if out["total"] > 0 else 0.0
        for k in ("reads", "dac_conversions", "adc_conversions", "adds"):
            out[k] = getattr(self, k) / n
        return out


#: float32 holds every integer up to 2**24 exactly
F32_EXACT = 1 << 24
#: fewest reads per float32 chunk for :func:`code_gram` to take the float32 route
MIN_CODE_CHUNK = 32


#: rows per image from which a sampled image's array energy comes from its own Gram
#: matrix (fewer: from its rows' quadratic forms of the parts' total, one product for
#: the batch's sampled rows, :meth:`LayerMeter.start_batch`)
IMAGE_GRAM_ROWS = 16
_NO_ROWS = np.zeros(0, dtype=np.intp)
#: narrowest row block whose Gram takes the float32 route (narrower: the conversion costs more)
MIN_CODE_ROWS = 32


def code_gram(codes: np.ndarray, top: int, scale: float = 1.0) -> np.ndarray:
    """``C^T C`` (m, m), float64, of integer codes ``C = codes * scale`` (K, m) in
    ``0..top``, exactly, at single-precision speed.

    Every product of two codes and every partial sum of non-negative integers up to
    2**24 is an integer that float32 holds exactly, whatever order BLAS adds them in;
    so the reads go through float32 products (``ssyrk``, about twice ``dsyrk``) in
    chunks of ``2**24 // top**2`` reads (258 for 8-bit codes), converted chunk by chunk
    (in cache), and the chunks are added in float64 (exact up to 2**53).  The result is
    bit-identical to the float64 product ``C.T @ C``.  With fewer than
    :data:`MIN_CODE_CHUNK` reads per chunk (codes over 9 bits) it is that product.

    Parameters
    ----------
    codes : ndarray
        (K, m) values whose products with ``scale`` are integers ``0..top`` (to
        round-off: voltages ``lsb * C`` with ``scale = 1 / lsb``), any layout.
    top : int
        The largest code (``2**bits - 1``; 1 for input bits).
    scale : float
        Factor from ``codes`` to the integer codes.

    >>> c = np.full((1000, 3), 255.0)
    >>> bool((code_gram(c, 255) == c.T @ c).all()), float(code_gram(c, 255)[0, 0])
    (True, 65025000.0)
    >>> float(code_gram(np.array([[0.5, 1.0]]), 2, scale=2.0)[1, 1])
    4.0
    """
    chunk = F32_EXACT // max(1, int(top) ** 2)
    K, m = codes.shape
    if chunk < MIN_CODE_CHUNK:
        c = np.rint(codes * scale)
        return c.T @ c
    out = np.zeros((m, m))
    buf = np.empty((min(chunk, K), m), dtype=np.float32)
    for k in range(0, K, chunk):
        x = buf[: min(chunk, K - k)]
        # (v / lsb is within a few ulps of its integer: float32 rounds it to that integer)
        np.multiply(codes[k : k + chunk], scale, out=x, casting="unsafe")
        out += x.T @ x
    return out


def gram(V: np.ndarray) -> np.ndarray:
    """``V^T V`` (m, m) of a batch ``V`` (K, m) [V^2], any memory layout.

    numpy's product (BLAS; scipy's ``syrk`` was not reliably faster here and would
    import ``scipy.linalg``, about 0.3 s, in runs that need nothing else from it).

    >>> V = np.arange(6.0).reshape(3, 2)
    >>> gram(V).tolist()
    [[20.0, 26.0], [26.0, 35.0]]
    """
    return V.T @ V


class _Step:
    """One applied input step of a layer: every tile read with row voltages
    ``scale * V`` [V] (``V`` (K, n_in) is not copied; the scale is applied to the
    sums it gives)."""

    def __init__(
        self,
        meter: LayerMeter,
        V: np.ndarray,
        scale: float = 1.0,
        codes: tuple | None = None,
        rows: slice = slice(None),
    ):
        self.meter = meter
        self.V = V
        self.scale = float(scale)
        self.codes = codes  # (lsb [V], top): V holds integer codes 0..top times lsb
        self.rows = rows  # V's rows in the batch the tiles were read with
        #: (slot, sub-step) per metered image (None: the whole step is metered as one)
        self.images: list[tuple[int, _Step]] | None = None
        self.factor = 1.0  # of the array energy (a sample's rows not told apart by image)
        self._gram: dict = {}
        self._powers: dict = {}
        self._volts: np.ndarray | None = None

    @property
    def volts(self) -> np.ndarray:
        """The row voltages ``scale * V`` [V] (computed once, where a path needs them)."""
        if self._volts is None:
            self._volts = self.V if self.scale == 1.0 else self.V * self.scale
        return self._volts

    def gram(self, r0: int, r1: int) -> np.ndarray:
        """``sum_k V_k V_k^T`` [V^2] of rows r0:r1 over the batch, (rows, rows)."""
        g = self._gram.get((r0, r1))
        if g is None:
            g = self._code_gram(r0, r1) if self.codes is not None else None
            if g is None:
                g = gram(self.V[:, r0:r1])
            if self.scale != 1.0:
                g *= self.scale**2
            g = self._gram[(r0, r1)] = g
        return g

    def _code_gram(self, r0: int, r1: int) -> np.ndarray | None:
        """The Gram of rows r0:r1 [V^2] from the integer codes the voltages are
        (:func:`code_gram`: exact, float32 products), or None for a narrow block."""
        if r1 - r0 < MIN_CODE_ROWS:
            return None
        lsb, top = self.codes
        g = code_gram(self.V[:, r0:r1], top, 1.0 / lsb)
        g *= lsb * lsb
        return g

    def power_sum(self, r0: int, r1: int, p: int) -> np.ndarray:
        """``sum_k V_ki ** p`` [V^p] over the batch, (rows,)."""
        s = self._powers.get((r0, r1, p))
        if s is None:
            s = (self.V[:, r0:r1] ** p).sum(axis=0)
            if self.scale != 1.0:
                s *= self.scale**p
            self._powers[(r0, r1, p)] = s
        return s

    def read(self, tile) -> None:
        """Account one read of ``tile`` (its array power, converters, digital adds); the
        array power of the metered images only (:meth:`LayerMeter.start_batch`), each
        image apart."""
        m = self.meter
        t = m.tally
        pulse = m.config.read_pulse
        for slot, step in [(None, self)] if self.images is None else self.images:
            watts = m.array_power(step, tile)
            joules = [self.factor * pulse * watts.get(k, 0.0) for k in ARRAY_PARTS]
            for k, e in zip(ARRAY_PARTS, joules, strict=True):
                t.joules[k] += e
            if slot is not None and t.image_joules is not None:
                t.image_joules[slot] += sum(joules)
        m.count_read(tile.spec, self.V.shape[0])


class LayerMeter:
    """Energy accounting of one programmed layer (see the module docs).

    Parameters
    ----------
    config : AnalogConfig
    cache : TransferCache
        Where the tiles' power forms are cached (beside their transfer matrices).
    """

    def __init__(self, config: AnalogConfig, cache):
        self.config = config
        self.cache = cache
        self.tally = EnergyTally()
        self.e_adc = adc_energy(config)
        # forms of tiles programmed without them, looked up once (the cache may evict
        # them while the chip is read: a large network's forms need not fit in it)
        self._forms: dict[int, tuple] = {}
        self._summed: tuple | None = None  # (tile ids, tiles, forms summed per row block)
        self._plans: dict = {}  # convolution Gram plans (read_linear)
        self._laws: dict = {}  # general cell laws: per tile, nodes and row sums (_law_excess)
        self._totals: dict = {}  # per row block: the summed forms' total (read_linear)
        #: (images, picked, first slot) of the batch being read when only a sample of
        #: its images is metered (:meth:`start_batch`), else None
        self._batch: tuple | None = None
        self._span: tuple | None = None  # (start, count) of the batch's images read next

    def start_batch(self, images: int, picked: np.ndarray | None, first: int = 0) -> None:
        """The reads that follow are of a batch of ``images`` test images of which only
        ``picked`` (sorted indices in the batch) have their array energy metered, each
        into ``tally.image_joules[first + i]`` (``picked=None``: every image, together).

        The converters and digital adds are counted over every image either way.  The
        rows of a layer's inputs are the batch's images in order, ``P / images`` rows
        each; where they are not (``P`` not a multiple), every row is metered and the
        array energy scaled by ``len(picked) / images`` (no per-image values then:
        ``tally.image_joules`` becomes None).
        """
        self._span = None
        if picked is None:
            self._batch = None
            return
        picked = np.asarray(picked, dtype=np.intp)
        self._batch = (int(images), picked, int(first))
        self.tally.array_images += len(picked)

    def set_span(self, span: tuple | None) -> None:
        """The reads that follow are of the batch's images ``start:start + count``
        (``span = (start, count)``; a convolution unfolding its batch in chunks), or of
        the whole batch (None)."""
        self._span = span

    def _sampled_rows(self, P: int) -> tuple | None:
        """For ``P`` input rows (of the span of the batch, :meth:`set_span`): None (every
        row metered as one), else ``(rows, R, first, factor, local)``: the metered rows
        (indices), ``R`` rows per image (None: rows not told apart by image), the first
        image's slot, the array energy's factor and the sampled images (indices in the
        span)."""
        if self._batch is None:
            return None
        images, picked, first = self._batch
        if not picked.size:  # no sampled image in this batch: nothing of the array to meter
            return _NO_ROWS, 1, first, 1.0, _NO_ROWS
        start, count = (0, images) if self._span is None else self._span
        i0, i1 = (int(i) for i in np.searchsorted(picked, [start, start + count]))
        local = picked[i0:i1] - start
        if count > 0 and P % count == 0:
            R = P // count
            return (local[:, None] * R + np.arange(R)).ravel(), R, first + i0, 1.0, local
        self.tally.image_joules = None  # (rows not attributable to images: no per-image values)
        return np.arange(P), None, first + i0, len(local) / max(count, 1), local

    def _tile_forms(self, tile):
        """The power forms of ``tile``'s used rows in its whole simulated array: those it
        was programmed with, else from the cache (then kept for the chip's reads)."""
        if tile.forms is not None:
            return tile.forms.first(tile.spec.rows)
        held = self._forms.get(id(tile))
        if held is None:  # (the tile is held with its forms, so its id stays unique)
            G = tile.G if tile.G_full is None else tile.G_full
            forms = self.cache.power_forms(G, self.config, tile.spec.rows)
            held = self._forms[id(tile)] = (tile, forms)
        return held[1]

    def count_macs(self, X: np.ndarray, n_out: int) -> None:
        self.tally.macs += int(X.shape[0]) * int(X.shape[1]) * int(n_out)

    def count_read(self, spec, K: int) -> None:
        """Count one read of a tile ``spec`` over a batch of ``K`` inputs: converters and
        digital adds (the array's energy is added by the caller)."""
        self.count_reads(1, spec.rows, spec.outputs, K)

    def count_reads(self, n: int, rows: int, outputs: int, K: int) -> None:
        """:meth:`count_read` of ``n`` tiles with ``rows`` rows and ``outputs`` outputs in
        all, each read over a batch of ``K`` inputs."""
        cfg = self.config
        t = self.tally
        t.reads += K * n
        if cfg.input_mode == "analog":
            t.dac_conversions += K * rows
            t.joules["dac"] += cfg.dac_energy * K * rows
        conversions = K * outputs
        if cfg.adc_bits > 0:
            t.adc_conversions += conversions
            t.joules["adc"] += self.e_adc * conversions
        t.adds += conversions
        t.joules["digital"] += cfg.digital_energy * conversions

    def step(self, V: np.ndarray, scale: float = 1.0, codes: tuple | None = None) -> _Step:
        """Start one input step with row voltages ``scale * V`` [V] (``V`` (K, n_in), not
        copied); ``codes = (lsb, top)`` when ``V`` holds integer codes ``0..top`` times
        ``lsb`` [V] (a DAC's or input bits': its Grams are then taken exactly in float32,
        :func:`code_gram`).  With a sample of images (:meth:`start_batch`), the array is
        metered on each sampled image's rows (views of ``V``) apart."""
        step = _Step(self, V, scale, codes)
        sel = self._sampled_rows(V.shape[0])
        if sel is not None:
            _, R, first, factor, local = sel
            if R is None:
                step.factor = factor
            else:
                step.images = [
                    (
                        first + i,
                        _Step(
                            self, V[b * R : (b + 1) * R], scale, codes, slice(b * R, (b + 1) * R)
                        ),
                    )
                    for i, b in enumerate(local.tolist())
                ]
        return step

    def read_linear(
        self, X: np.ndarray, volts: float, tiles, lo: float | None = None, images=None
    ) -> None:
        """Meter the reads that one product with a linear layer's matrix stands for.

        Every tile is read with row voltages ``volts * max(X, 0)`` and, when ``X`` has
        negative entries (``lo = X.min()`` when known), ``volts * max(-X, 0)``.  Linear
        crossbar tiles read together: each row block's forms are summed over its tiles
        once per chip, so a pass costs one Gram matrix and one product per row block
        (all parts at once), whatever the number of tiles; other cells and topologies
        read tile by tile (:meth:`step`).  ``images``: ``(x, geometry)`` when ``X`` is
        ``im2col(x)`` of a stride-1 convolution (:mod:`xbar.network.convgram`); the
        Grams then come from shifted products of ``x`` where that is cheaper.
        """
        if lo is None:
            lo = float(X.min()) if X.size else 0.0
        cfg = self.config
        if not (cfg.device == "linear" and cfg.array_topology == "crossbar"):
            for V in [X] if lo >= 0 else [np.maximum(X, 0.0), np.maximum(-X, 0.0)]:
                step = self.step(V, volts)
                for tile in tiles:
                    step.read(tile)
            return
        sel = self._sampled_rows(X.shape[0])
        if sel is not None:
            self._read_linear_sample(X, volts, tiles, lo, sel)
            return
        summed = self._summed_forms(tiles)
        plan = None
        if cfg.parasitics and images is not None:
            plan = self._gram_plan(images[1], list(summed), images[0].shape[0])
        source = X if plan is None else images[0]
        for V in [source] if lo >= 0 else [np.maximum(source, 0.0), np.maximum(-source, 0.0)]:
            grams = None if plan is None else block_grams(V, plan)
            for (r0, r1), (names, forms) in summed.items():
                if cfg.parasitics:
                    g = gram(V[:, r0:r1]) if grams is None else grams[(r0, r1)]
                    w = forms @ g.reshape(-1)
                else:
                    w = (V[:, r0:r1] ** 2).sum(axis=0) @ forms
                w = cfg.read_pulse * volts**2 * np.atleast_1d(w)
                for k, e in zip(names, w.tolist(), strict=True):
                    self.tally.joules[k] += e
            rows, outputs = (sum(getattr(t.spec, a) for t in tiles) for a in ("rows", "outputs"))
            self.count_reads(len(tiles), rows, outputs, X.shape[0])

    def _read_linear_sample(self, X: np.ndarray, volts: float, tiles, lo: float, sel) -> None:
        """:meth:`read_linear` with only a sample of the batch's images metered
        (``sel`` from :meth:`_sampled_rows`): the array energy of their rows, each
        image's apart; the converters and adds of every row."""
        rows, R, first, factor, local = sel
        cfg = self.config
        n = 0 if R is None else len(rows) // R
        if len(rows):
            c = factor * cfg.read_pulse * volts**2
            summed = self._summed_forms(tiles)
            if R is not None and R >= IMAGE_GRAM_ROWS and cfg.parasitics:
                # each image's rows, a view (both passes of it for signed inputs)
                images = [X[b * R : (b + 1) * R] for b in local.tolist()]
                passes = [images] if lo >= 0 else [_split(P) for P in images]
                passes = passes if lo >= 0 else [list(p) for p in zip(*passes, strict=True)]
                w, e = self._image_grams(passes, summed)
            else:
                Xs = X if R is None else X[rows]
                w, e = self._rows_energy([Xs] if lo >= 0 else list(_split(Xs)), summed, R, n)
            for names, part in w:
                for k, x in zip(names, np.atleast_1d(part).tolist(), strict=True):
                    self.tally.joules[k] += c * x
            if n and e is not None and self.tally.image_joules is not None:
                self.tally.image_joules[first : first + n] += c * e
        n_rows, outputs = (sum(getattr(t.spec, a) for t in tiles) for a in ("rows", "outputs"))
        self.count_reads(len(tiles), n_rows, outputs, X.shape[0])

    def _image_grams(self, passes: list, summed: dict) -> tuple[list, np.ndarray]:
        """Power [V^2 S] by part (``(names, values)`` per row block) and per image of the
        sampled images' rows ``passes`` (per input pass, a list of one (R, n_in) array
        per image): each image's own Gram matrix per row block."""
        n = len(passes[0])
        e = np.zeros(n)
        out = []
        for block, (names, forms) in summed.items():
            r0, r1 = block
            total = self._total(block, forms)
            g_sum = np.zeros((r1 - r0, r1 - r0))
            for images in passes:
                for i, V in enumerate(images):
                    g = gram(V[:, r0:r1])
                    e[i] += total @ g.reshape(-1)
                    g_sum += g
            out.append((names, forms @ g_sum.reshape(-1)))
        return out, e

    def _rows_energy(self, passes: list, summed: dict, R: int | None, n: int):
        """Power [V^2 S] by part (``(names, values)`` per row block) and per image of
        ``R`` consecutive rows (None when ``R`` is None) of the metered rows ``passes``
        (one (K, n_in) array per input pass): one Gram per row block for the parts, each
        row's quadratic form of the parts' total for the images."""
        e = None if R is None else np.zeros(n)
        out = []
        for block, (names, forms) in summed.items():
            r0, r1 = block
            w = 0.0
            for V in passes:
                Vb = V[:, r0:r1]
                if not self.config.parasitics:  # forms: the cells' row sums (rows,)
                    q = (Vb**2) @ forms
                    w = w + float(q.sum())
                else:
                    w = w + forms @ gram(Vb).reshape(-1)
                    if R is not None:
                        T = self._total(block, forms).reshape(r1 - r0, r1 - r0)
                        q = np.einsum("ki,ki->k", Vb @ T, Vb)
                if R is not None:
                    e += q.reshape(n, R).sum(axis=1)
            out.append((names, w))
        return out, e

    def _total(self, block: tuple, forms: np.ndarray) -> np.ndarray:
        """The sum over parts of a row block's summed forms (M*M,) [S], kept per chip."""
        total = self._totals.get(block)
        if total is None:
            total = self._totals[block] = forms.sum(axis=0)
        return total

    def _gram_plan(self, geom, blocks: list, images: int):
        """The shifted-product plan of a convolution's Grams (None where dense is cheaper),
        kept per geometry, row blocks and batch size."""
        key = (geom, tuple(blocks), images)
        if key not in self._plans:
            self._plans[key] = gram_plan(geom, blocks, images)
        return self._plans[key]

    def prepare(self, tiles) -> None:
        """Sum the forms of a linear layer's ``tiles`` per row block now (when the chip is
        programmed) rather than on its first read (:meth:`read_linear`)."""
        if self.config.device == "linear" and self.config.array_topology == "crossbar":
            self._summed_forms(tiles)

    def _summed_forms(self, tiles) -> dict:
        """Per row block (r0, r1) of linear crossbar ``tiles``: ``(parts, forms)``, the sum
        over its tiles of the array parts' forms, flattened and stacked (parts, M*M) [S]
        (exact parasitics), or of the cells' row sums ``sum_j G_ij`` (rows,) [S] (ideal
        wires, part ``cells``); computed once for these tiles."""
        key = tuple(id(t) for t in tiles)
        held = self._summed
        if held is not None and held[0] == key:
            return held[2]
        sums: dict = {}
        for tile in tiles:
            s = tile.spec
            if not self.config.parasitics:
                with np.errstate(over="ignore"):  # (conductances near 1e308 overflow to inf)
                    h = tile.G.sum(axis=1)
                sums[(s.r0, s.r1)] = sums[(s.r0, s.r1)] + h if (s.r0, s.r1) in sums else h
                continue
            block = sums.setdefault((s.r0, s.r1), {})
            for k, Q in self._tile_forms(tile).Q.items():
                if k not in ARRAY_PARTS:
                    continue
                if k in block:
                    block[k] += Q
                else:
                    block[k] = np.array(Q, dtype=float)  # a copy: the sum is written to
        out: dict = {}
        for rows, block in sums.items():
            if not self.config.parasitics:
                out[rows] = (("cells",), block)
            else:
                names = tuple(block)
                out[rows] = (names, np.stack([block[k].reshape(-1) for k in names]))
        self._summed = (key, tiles, out)  # (the tiles are held, so their ids stay unique)
        self._totals = {}
        return out

    def array_power(self, step: _Step, tile) -> dict:
        """Summed power [W] by part of one tile read over the step's batch."""
        cfg = self.config
        s = tile.spec
        if cfg.array_topology == "input_switched":  # supply = sense current (KCL), exact
            I = tile.input_switched_currents(step.volts[:, s.r0 : s.r1], cfg)  # cached patterns
            return {"cells": cfg.v_read * float(I.sum())}
        sinh = cfg.device != "linear"
        if (
            sinh
            and cfg.parasitics
            and cfg.nonlinear_mode == "exact"
            and tile.last_solution is not None
        ):
            p = tile.last_solution.power  # (one entry per row of the batch read)
            return {k: float(np.sum(getattr(p, k)[step.rows])) for k in ARRAY_PARTS}
        if not cfg.parasitics:  # exact: every cell sees its row's voltage
            if sinh:
                V = step.volts[:, s.r0 : s.r1]
                return {"cells": float(np.sum((V * cell_function(cfg)(V)) @ tile.G))}
            return {"cells": float(step.power_sum(s.r0, s.r1, 2) @ tile.G.sum(axis=1))}
        # the whole simulated array: a padded tile's idle cells, lines and ends dissipate
        # too (its padding rows are driven at 0 V, so only the used rows' forms matter)
        forms = self._tile_forms(tile)
        out = forms.batch_energy(step.gram(s.r0, s.r1))
        if sinh:
            G = tile.G if tile.G_full is None else tile.G_full
            excess = self._sinh_excess if cfg.device == "sinh" else self._law_excess
            out["cells"] += excess(step, tile, G[: s.rows], forms.attenuation)
        return out

    def _law_excess(self, step: _Step, tile, G: np.ndarray, att: np.ndarray) -> float:
        """``sum_k sum_ij G_ij q(a_ij V_ki)``, ``q(v) = v r(v)`` the extra power of a cell
        law ``f = v + r`` at the attenuated cell voltage: interpolated in the attenuation
        at Chebyshev nodes (:func:`xbar.network.cells.attenuation_nodes`, within 1e-6 of
        the largest cell's), else cell by cell; ``G``, ``att`` as :meth:`_sinh_excess`."""
        s = tile.spec
        V = step.volts[:, s.r0 : s.r1]
        if V.size == 0:
            return 0.0
        v_lo, v_hi = min(float(V.min()), 0.0), max(float(V.max()), 0.0)
        held = self._laws.get(id(tile))
        exact = remainder_function(self.config)
        if held is None or v_lo < held[1] or v_hi > held[2]:

            def q(v):
                return v * exact(v)

            a_lo = float(att[G > 0].min()) if np.any(G > 0) else 1.0
            try:
                nodes = attenuation_nodes(q, a_lo, v_lo, v_hi, what="cell power law")
                rows = [(G * L).sum(axis=1) for L in lagrange_weights(nodes, att)]
            except ValueRangeError as exc:
                if "nodes" not in exc.message:
                    raise
                nodes, rows = None, None
            held = self._laws[id(tile)] = (tile, v_lo, v_hi, nodes, rows)
        _, lo, hi, nodes, rows = held
        r = remainder_function(self.config, (lo, hi))  # (every a V lies in the range)

        def q(v):
            return v * r(v)

        if nodes is None:  # cell by cell, in chunks of inputs
            step_k = max(1, (1 << 16) // max(1, G.size))  # arguments that stay in cache
            return float(
                sum(
                    np.einsum("kij,ij->", q(V[k0 : k0 + step_k, :, None] * att[None]), G)
                    for k0 in range(0, V.shape[0], step_k)
                )
            )
        return float(sum(q(a_m * V).sum(axis=0) @ h for a_m, h in zip(nodes, rows, strict=True)))

    def _sinh_excess(self, step: _Step, tile, G: np.ndarray, att: np.ndarray) -> float:
        """``sum_n c_n sum_ij G_ij a_ij^(2n+2) sum_k V_ki^(2n+2)`` over the terms that
        matter (up to ``(k v)^(2n) / (2n+1)! < 1e-12``); ``G``, ``att`` (rows, columns)
        the used rows of the simulated array (padding columns included)."""
        s = tile.spec
        k = self.config.device_k
        V = step.V[:, s.r0 : s.r1]
        v_max = step.scale * max(float(V.max()), -float(V.min())) if V.size else 0.0
        total = 0.0
        n = 1
        while n <= 40:
            c = k ** (2 * n) / math.factorial(2 * n + 1)
            h = (c * G * att ** (2 * n + 2)).sum(axis=1)
            total += float(step.power_sum(s.r0, s.r1, 2 * n + 2) @ h)
            if (k * v_max) ** (2 * n + 2) / math.factorial(2 * n + 3) <= 1e-12:
                break
            n += 1
        return total


def _split(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two input passes of signed inputs: ``max(X, 0)`` and ``max(-X, 0)``."""
    return np.maximum(X, 0.0), np.maximum(-X, 0.0)


def energy_summary(tallies: dict, images: int) -> tuple[dict, dict]:
    """Per-layer and whole-network energy per image from each layer's summed tally.

    Parameters
    ----------
    tallies : dict of str to EnergyTally
        Each layer's tally summed over every evaluated chip.
    images : int
        Test images times chips.

    Returns
    -------
    (per_layer, network) : dict, dict
        ``per_layer[name]`` and ``network`` as :meth:`EnergyTally.per_image`.
    """
    total = EnergyTally()
    per_layer = {}
    for name, t in tallies.items():
        per_layer[name] = t.per_image(images)
        total.add(t.for_images(images))
    return per_layer, total.per_image(images)


#: spawn key of the metered images' sample (the chips' generators use ``(chip,)`` and
#: ``(chip, stream)``): the same sample on every chip
IMAGE_SAMPLE_KEY = (0x656E, 0x6572, 0x6779)


def image_sample(n_images: int, energy_images: int, seed: int) -> np.ndarray | None:
    """The test images whose array energy is metered (:attr:`AnalogConfig.energy_images`).

    Parameters
    ----------
    n_images : int
        Test images evaluated.
    energy_images : int
        Images to meter (0: every image).
    seed : int
        The configuration's seed (the sample is the same for every chip and run).

    Returns
    -------
    ndarray of int or None
        Sorted indices of a uniform random sample of ``energy_images`` of the
        ``n_images`` images without replacement, or None when every image is metered
        (``energy_images`` 0 or at least ``n_images``).

    >>> image_sample(539, 1000, 0) is None, image_sample(10, 3, 0).tolist()
    (True, [0, 1, 3])
    """
    if energy_images <= 0 or energy_images >= n_images:
        return None
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=IMAGE_SAMPLE_KEY))
    return np.sort(rng.choice(n_images, size=energy_images, replace=False))


def image_spread(chip_tallies: list, images: int) -> tuple[dict, dict]:
    """The sampled images' estimate of the array energy per image and its uncertainty.

    Parameters
    ----------
    chip_tallies : list of dict of str to EnergyTally
        Each metered chip's layer tallies, with the array energy of every sampled image
        (``image_joules``; the same images on every chip).
    images : int
        Test images evaluated per chip (the population the sample is drawn from).

    Returns
    -------
    (per_layer, network) : dict, dict
        ``{"images", "of", "mean", "std", "sem", "ci95", "rel_ci95"}``: sampled images
        and test images, the mean over the sample of each image's array energy [J]
        (averaged over the metered chips), its image-to-image standard deviation, the
        standard error of the mean with the finite-population correction
        ``sqrt(1 - n / N)`` (sampling without replacement), the 95 % Student t interval
        and its half-width over the mean; per layer and for the whole network.  Both
        empty when every image was metered (nothing is estimated) or the per-image
        values are unknown.
    """
    from .stats import mean_ci

    if not chip_tallies:
        return {}, {}
    names = list(chip_tallies[0])
    if any(c[n].image_joules is None for c in chip_tallies for n in names) or not names:
        return {}, {}

    def estimate(values: np.ndarray) -> dict:
        ci = mean_ci(values, population=images)  # (n = 1: no spread, std and interval NaN)
        n, mean = int(values.size), ci.mean
        return dict(
            images=n,
            of=int(images),
            mean=mean,
            std=ci.std if n > 1 else math.nan,
            sem=ci.sem,
            ci95=[ci.low, ci.high],
            rel_ci95=(ci.high - mean) / mean if mean > 0 else math.nan,
        )

    chips = len(chip_tallies)
    per_layer = {n: sum(c[n].image_joules for c in chip_tallies) / chips for n in names}
    network = estimate(sum(per_layer.values()))
    return {n: estimate(v) for n, v in per_layer.items()}, network


#: Sums whose chip-to-chip spread is reported (:func:`chip_spread`).
SPREAD_KEYS = ("total", "array", "wires", "periphery")


def chip_spread(chip_tallies: list, images: int) -> tuple[dict, dict]:
    """Chip-to-chip spread of the energy per image over the metered chips.

    Parameters
    ----------
    chip_tallies : list of dict of str to EnergyTally
        One entry per metered chip: each layer's tally of that chip.
    images : int
        Test images per chip.

    Returns
    -------
    (per_layer, network) : dict, dict
        For each of :data:`SPREAD_KEYS`, ``{"std", "sem", "ci95", "rel_std"}`` of the
        per-chip energy per image [J] (sample standard deviation, standard error and
        95 % Student t interval of the mean, std / mean); ``per_layer[name]`` for the
        layer, ``network`` for the whole network.  Both empty for fewer than two chips.
    """
    from .stats import mean_ci

    if len(chip_tallies) < 2:
        return {}, {}

    def spread(per_image: list[dict]) -> dict:
        out = {}
        for key in SPREAD_KEYS:
            ci = mean_ci([e[key] for e in per_image])
            rel = ci.std / ci.mean if ci.mean > 0 else 0.0
            out[key] = {"std": ci.std, "sem": ci.sem, "ci95": [ci.low, ci.high], "rel_std": rel}
        return out

    names = list(chip_tallies[0])
    per_layer = {n: spread([c[n].per_image(images) for c in chip_tallies]) for n in names}
    network = spread([energy_summary(c, images)[1] for c in chip_tallies])
    return per_layer, network


def plot_breakdown(per_layer: dict, path, *, title: str = "") -> None:
    """Stacked bars of the energy per image [J] of every layer by part; saved to ``path``.

    Parameters
    ----------
    per_layer : dict of str to dict
        Layer name -> :meth:`EnergyTally.per_image` dict (``LayerStats.energy``).
    path : str or path-like
        Output image (any format matplotlib writes).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {
        "array: cells": ("cells",),
        "array: wires": ("row_wires", "col_wires"),
        "array: drivers + sense": ("drivers", "sense"),
        "DAC": ("dac",),
        "ADC": ("adc",),
        "digital": ("digital",),
    }
    names = list(per_layer)
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(names), 3.8))
    bottom = np.zeros(len(names))
    for label, parts in groups.items():
        vals = np.array([sum(per_layer[n].get(p, 0.0) for p in parts) for n in names]) * 1e9
        ax.bar(names, vals, bottom=bottom, label=label)
        bottom += vals
    ax.set_ylabel("energy per image [nJ]")
    ax.set_title(title or "energy per image by layer")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    from ..plot import save_figure

    try:
        save_figure(fig, path, dpi=130)
    finally:
        plt.close(fig)
