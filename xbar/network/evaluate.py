"""Network inference on simulated crossbar arrays: :func:`evaluate`.

Pipeline per chip (see the module docs of each step):

1. *plan* (once per run): fold batch-norm, map every matmul layer's weights to
   cell planes (:mod:`~xbar.network.mapping`) and split them into tiles
   (:mod:`~xbar.network.tiles`);
2. *program* (once per chip): target conductances of every tile, then the
   chip's programming error, stuck cells and drift (:mod:`~xbar.network.nonideal`),
   then each tile's transfer matrix through the circuit solver (cached);
3. *calibrate*: the input (and activation) range of every layer and the ADC range
   of every layer and plane from ``calibration_size`` training images, once on
   the error-free design and kept for every chip (``calibration="design"``,
   default) or on every programmed chip (``"chip"``);
4. *infer*: the model's forward pass with an ``mvm`` hook that runs each matmul
   layer through its tiles: inputs split into a positive and a negative pass
   when signed, DAC or bit-serial steps, one dense matmul per tile (all output
   pixels of the batch at once), analog combination of +/- or reference
   columns, the ADC, and digital recombination (slices, scale groups, row tiles,
   offset, column gains).  Biases are added digitally by the layer.

Every chip is independent: chip ``k`` gives the same accuracy whatever other
chips are evaluated with it and on whatever executor.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, ModelError, ValueRangeError, show
from .config import AnalogConfig, LayerSetting
from .convgram import conv_geometry
from .mapping import LayerMapping, map_weights
from .noise import noise_plan, set_affine

if TYPE_CHECKING:
    from .arrays import Dataset
    from .model import Model
from .nonideal import (
    CALIBRATION_STREAM,
    READ_STREAM,
    LayerErrors,
    add_pair_difference,
    apply_drift,
    apply_stuck,
    chip_rng,
    draw_weight_range,
    noise_rng,
    program_cells,
    weight_range_on,
)
from .peripherals import (
    adc_quantize,
    adc_quantize_interval,
    calibrated_range,
    full_scale_range,
    inner_range,
    input_steps,
    output_range,
    pow2_ranges,
    quantize_activations,
    quantize_levels,
)
from .shared import SharedInputs
from .stats import mean_ci
from .tiles import (
    Tile,
    TileSpec,
    TransferCache,
    default_cache,
    plan_tiles,
    tile_target_conductances,
)

__all__ = [
    "evaluate",
    "EvaluationResult",
    "LayerStats",
    "AnalogNetwork",
    "plan_network",
    "program_chip",
    "LayerPlan",
    "needs_calibration",
    "calibration_images",
    "same_on_every_chip",
]

logger = logging.getLogger(__name__)

#: the relative MVM error of a layer is measured on at most this many output pixels per batch
_MAX_ERROR_ROWS = 256
#: and at most every this-many-th row (the reference is then at most 1/16 of the analog
#: product's cost even for small batches, where 256 rows would be all of them)
_ERROR_STRIDE = 16
#: at most this many calibration samples per (layer, plane) are kept for percentiles
_MAX_CALIBRATION_SAMPLES = 2_000_000
#: at most this many input rows (output pixels) per layer are kept to calibrate ADC ranges
_MAX_CALIBRATION_ROWS = 65_536


@dataclass
class LayerPlan:
    """The chip-independent part of one layer: its settings, mapping and tiles.

    A layer kept digital by a per-layer rule has no mapping (None) and no tiles.
    """

    name: str
    W: np.ndarray
    mapping: LayerMapping | None
    specs: list[TileSpec]
    #: target conductances [S] of every tile (before any chip's errors), read-only
    targets: list[np.ndarray] = field(default_factory=list)
    #: the layer's effective settings (:meth:`AnalogConfig.layer_settings`); None: the
    #: configuration's own fields, analog
    setting: LayerSetting | None = None
    #: (mapping, specs, targets) of this layer under other configurations (the draws of
    #: :class:`_Streams`), by configuration
    variants: dict = field(default_factory=dict, repr=False)

    @property
    def digital(self) -> bool:
        """True when a per-layer rule keeps the layer digital."""
        return self.setting is not None and self.setting.digital

    @property
    def sections(self) -> tuple[str, ...]:
        """Patterns of the per-layer rules that apply to this layer."""
        return () if self.setting is None else self.setting.sections

    def config(self, config: AnalogConfig) -> AnalogConfig:
        """This layer's configuration under ``config`` (its matching rules applied)."""
        return config.for_sections(self.sections, self.name)[0] if config.layers else config

    def layout(self, config: AnalogConfig) -> tuple:
        """``(mapping, specs, targets)`` of the layer under ``config`` (rule-free): its own
        when ``config`` maps it the same way, else computed once and kept."""
        own = self.setting.config if self.setting is not None else None
        if own is None or config == own or _same_layout(config, own):
            if self.mapping is not None:
                return self.mapping, self.specs, self.targets
        got = self.variants.get(config)
        if got is None:
            mapping = map_weights(self.W, config)
            specs = plan_tiles(mapping, config)
            got = self.variants[config] = (mapping, specs, _targets(mapping, specs, config))
        return got


@dataclass
class LayerStats:
    """Per-layer statistics of an evaluation (averaged over the evaluated chips).

    Attributes
    ----------
    name : str
    n_in, n_out : int
        Rows and output columns of the layer.
    planes : int
        Cell planes (slices x scale groups).
    tiles : int
        Arrays per chip.
    cells : int
        Weight cells per chip (without reference columns).
    input_scale : float
        Calibrated full-scale input (mean over chips).
    adc_ranges : list of float
        ADC range [A] per plane (mean over chips; ``adc_range="inner"``: the larger
        magnitude of the range's two ends); empty without an ADC.
    clip_fraction : float
        Fraction of ADC conversions that clipped (test images).
    input_clip_fraction : float
        Fraction of quantised input values (DAC or bit-serial) above the calibrated input
        scale, applied at full scale (test images; 0 for unquantised analog inputs).
    rel_error : float
        ||Y_analog - X W|| / ||X W|| of the layer's MVM outputs on the test images
        (X the layer's actual analog-chain inputs, W the digital weights), measured
        on every k-th output pixel of a batch (k >= 16 and at most 256 pixels per batch,
        the first one rotating from batch to batch).
    conversions_per_image : float
        Column read-outs (ADC conversions when the ADC is on) per test image: output
        pixels x output columns x planes x input passes and bit steps x row tiles.
    cache_hits, cache_misses : int
        Transfer-matrix cache lookups of the layer's tiles.
    mvm_batches : int
        Tile matmuls served from the cached transfer matrices.
    energy : dict
        Energy per test image [J] by part (``cells``, ``row_wires``, ``col_wires``,
        ``drivers``, ``sense``, ``dac``, ``adc``, ``digital``; sums ``array``, ``wires``,
        ``periphery``, ``total``), the counts behind them per image and the effective
        ``ops`` and ``ops_per_joule`` (see :mod:`xbar.network.energy`); empty when
        energy is off.  Averaged over the metered chips (``energy_chips``).
    energy_spread : dict
        Chip-to-chip spread of the layer's energy per image over the metered chips
        (:func:`xbar.network.energy.chip_spread`: ``std``, ``sem``, ``ci95``,
        ``rel_std`` of ``total``, ``array``, ``wires``, ``periphery``); empty with
        fewer than two metered chips.
    energy_sample : dict
        When only a sample of the test images had their array energy metered
        (``energy_images``): the estimate of the layer's array energy per image and
        its 95 % interval over images (:func:`xbar.network.energy.image_spread`);
        empty when every image was metered.
    settings : dict
        What per-layer rules set on this layer: the fields whose value differs from the
        configuration's, or ``{"digital": True}`` for a digital layer (no tiles, no
        errors, no energy metered); empty for a layer with the configuration's fields.
    sections : list of str
        Patterns of the per-layer rules that matched the layer.
    """

    name: str
    n_in: int
    n_out: int
    planes: int
    tiles: int
    cells: int
    input_scale: float = 0.0
    adc_ranges: list[float] = field(default_factory=list)
    clip_fraction: float = 0.0
    input_clip_fraction: float = 0.0
    rel_error: float = 0.0
    conversions_per_image: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    mvm_batches: int = 0
    energy: dict = field(default_factory=dict)
    energy_spread: dict = field(default_factory=dict)
    energy_sample: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)


@dataclass
class EvaluationResult:
    """Accuracy and cost of one evaluation.

    Attributes
    ----------
    accuracy : float
        Mean test accuracy over the chips.
    ideal_accuracy : float
        Digital (floating-point) accuracy on the same images.
    accuracies : list of float
        Accuracy of each chip, in the order of ``chips``.
    accuracy_std, accuracy_min : float
        Standard deviation (population) and minimum over chips.
    accuracy_sem : float
        Standard error of the mean accuracy over chips (sample std / sqrt(chips);
        NaN for one chip).
    accuracy_ci95 : list of float
        95 % confidence interval ``[low, high]`` of the mean accuracy over chips
        (Student t, :func:`xbar.network.stats.mean_ci`; NaN for one chip).
    chips : list of int
        Chip indices evaluated.
    n_images : int
        Test images per chip.
    seconds : float
        Wall time of the whole call [s].
    setup_seconds : float
        Mapping, programming, transfer matrices and calibration, all chips [s].
    per_image_seconds : float
        Analog inference time per image and simulated chip, setup excluded [s] (chips
        that repeat an identical chip's results, see :func:`same_on_every_chip`, are not
        simulated).
    layer_stats : list of LayerStats
    cache : dict
        Transfer-matrix lookups of this call: ``hits``, ``misses`` (matrices
        computed), ``seconds`` (spent computing them); ``entries`` in the cache;
        ``forms_seconds`` spent computing the tiles' power forms (energy).
    config : AnalogConfig
    energy : dict
        Whole-network energy per test image [J] (averaged over the metered chips), by
        part as in :attr:`LayerStats.energy`, with ``ops`` and ``ops_per_joule``; empty
        when energy is off.
    energy_chips : list of int
        The chips whose energy was metered (the first ``config.energy_chips`` of
        ``chips``, or all of them); empty when energy is off.
    energy_spread : dict
        Chip-to-chip spread of the network's energy per image over the metered chips,
        as :attr:`LayerStats.energy_spread`; empty with fewer than two metered chips.
    energy_images : int
        Test images whose array energy was metered per metered chip: ``n_images``, or
        the seeded random sample of ``config.energy_images`` of them (0 when energy is
        off).  DAC, ADC and digital energies count every image.
    energy_sample : dict
        With a sample: the array energy per image it estimates and its uncertainty
        over images (``images``, ``of``, ``mean``, ``std``, ``sem``, ``ci95``,
        ``rel_ci95``; :func:`xbar.network.energy.image_spread`); empty when every
        image was metered.
    """

    accuracy: float
    ideal_accuracy: float
    accuracies: list[float]
    accuracy_std: float
    accuracy_min: float
    chips: list[int]
    n_images: int
    seconds: float
    setup_seconds: float
    per_image_seconds: float
    layer_stats: list[LayerStats]
    cache: dict
    config: AnalogConfig
    accuracy_sem: float = math.nan
    accuracy_ci95: list[float] = field(default_factory=lambda: [math.nan, math.nan])
    energy: dict = field(default_factory=dict)
    energy_chips: list[int] = field(default_factory=list)
    energy_spread: dict = field(default_factory=dict)
    energy_images: int = 0
    energy_sample: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary of every field."""
        return {
            "accuracy": self.accuracy,
            "ideal_accuracy": self.ideal_accuracy,
            "accuracies": list(self.accuracies),
            "accuracy_std": self.accuracy_std,
            "accuracy_min": self.accuracy_min,
            "accuracy_sem": _json_float(self.accuracy_sem),
            "accuracy_ci95": [_json_float(v) for v in self.accuracy_ci95],
            "chips": list(self.chips),
            "n_images": self.n_images,
            "seconds": self.seconds,
            "setup_seconds": self.setup_seconds,
            "per_image_seconds": self.per_image_seconds,
            "layer_stats": [
                dict(vars(s), energy_sample=_json_floats(s.energy_sample)) for s in self.layer_stats
            ],
            "cache": dict(self.cache),
            "config": self.config.to_dict(),
            "energy": dict(self.energy),
            "energy_chips": list(self.energy_chips),
            "energy_spread": dict(self.energy_spread),
            "energy_images": self.energy_images,
            "energy_sample": _json_floats(self.energy_sample),
        }


def _json_float(v: float) -> float | None:
    """``v``, or None for NaN (JSON has no NaN)."""
    return None if v is None or not math.isfinite(v) else float(v)


def _json_floats(d: dict) -> dict:
    """``d`` with NaN floats (also in lists) as None."""
    out = {}
    for k, v in d.items():
        if isinstance(v, float):
            v = _json_float(v)
        elif isinstance(v, list):
            v = [_json_float(x) if isinstance(x, float) else x for x in v]
        out[k] = v
    return out


# --------------------------------------------------------------------------------- planning
def plan_network(model, config: AnalogConfig) -> tuple[Any, list[LayerPlan]]:
    """Fold batch-norm and map every matmul layer with its settings (per-layer rules
    applied, :meth:`AnalogConfig.layer_settings`); returns (folded model, plans).

    Raises
    ------
    ConfigError
        A per-layer rule that matches no layer, or a layer whose settings do not go
        together.
    """
    folded = model.fold_batchnorm()
    layers = folded.matmul_layers()
    settings = config.layer_settings([la.name for la in layers]) if config.layers else None
    plans = []
    for i, layer in enumerate(layers):
        W = np.asarray(layer.W2d, dtype=float)
        st = settings[i] if settings is not None else None
        if st is not None and st.digital:
            plans.append(LayerPlan(layer.name, W, None, [], [], setting=st))
            continue
        cfg = config if st is None else st.config
        mapping = map_weights(W, cfg)
        specs = plan_tiles(mapping, cfg)
        targets = _targets(mapping, specs, cfg)
        plans.append(LayerPlan(layer.name, W, mapping, specs, targets, setting=st))
    return folded, plans


#: fields that change neither a layer's mapping and tiles nor which random numbers its
#: programming draws (peripherals, cell law, read noise, energy model)
_NO_DRAW_FIELDS = (
    "adc_bits",
    "adc_range",
    "adc_percentile",
    "adc_pow2",
    "dac_bits",
    "input_bits",
    "input_mode",
    "activation_bits",
    "output_levels",
    "read_noise_sigma",
    "read_noise_kind",
    "device",
    "device_k",
    "device_v0",
    "device_alpha",
    "device_v_ref",
    "device_table",
    "v_read",
    "nonlinear_mode",
    "read_pulse",
    "dac_energy",
    "adc_fom",
    "digital_energy",
    "drift_time",
    "drift_nu",
    "drift_t0",
)

#: fields that change the draws of programming but not the mapping or the tiles
_DRAW_ONLY_FIELDS = (
    "programming_error",
    "programming_sigma",
    "programming_mu",
    "programming_clip",
    "stuck_rate",
    "stuck_high_fraction",
    "g_min",
    "g_max",
    "r_row",
    "r_col",
    "r_driver",
    "r_sense",
    "r_source",
    "r_on",
    "pad_tiles",
)


def _same_layout(a: AnalogConfig, b: AnalogConfig) -> bool:
    """True when ``a`` and ``b`` map a layer to the same planes and tiles (they differ
    at most in fields that act after mapping, conductances aside)."""
    keep = {
        k: getattr(b, k) for k in _NO_DRAW_FIELDS + _DRAW_ONLY_FIELDS if k not in ("g_min", "g_max")
    }
    return dataclasses.replace(a, **keep) == b


def _targets(
    mapping: LayerMapping, specs: list[TileSpec], config: AnalogConfig
) -> list[np.ndarray]:
    """Target conductances of every tile; each plane's conductances computed once."""
    per_plane: dict[int, tuple] = {}
    out = []
    for spec in specs:
        plane = mapping.planes[spec.plane]
        if spec.plane not in per_plane:
            per_plane[spec.plane] = plane.conductances(config.g_min, config.g_max)
        G = tile_target_conductances(spec, plane, config, per_plane[spec.plane])
        G.setflags(write=False)
        out.append(G)
    return out


# ------------------------------------------------------------------------------ one chip
class _CalibrationPass(Exception):
    """Stops a calibration forward pass once the layer being calibrated has its inputs."""


def not_finite(layer: str, chip: int, config: AnalogConfig) -> ValueRangeError:
    """The error for a layer whose analog outputs overflowed to inf or NaN."""
    return ValueRangeError(
        f"layer {layer!r} (chip {chip}): the simulated array outputs are not finite numbers "
        f"(currents overflowed with g_max={config.g_max:g} S, v_read={config.v_read:g} V, "
        f"device={config.device!r}); no accuracy can be computed",
        hint="use physical values: conductances of micro- to millisiemens and read voltages "
        "below a few volts",
    )


class AnalogLayer:
    """One matmul layer programmed on one chip; :meth:`mvm` runs it on its tiles.

    Ranges (set by calibration, see :meth:`AnalogNetwork.calibrate`):
    ``input_scale`` (the input that maps to ``v_read``), ``act_range`` /
    ``act_signed`` (activation quantiser, ``activation_bits`` > 0),
    ``adc_ranges`` (one per plane; ``full_scale`` ranges are per tile) and
    ``out_range`` (``(lo, hi)`` of paper 2's output quantiser, ``output_levels`` > 0).
    ``bias`` is the layer's (folded) digital bias, which the model adds after the hook.
    """

    def __init__(
        self, plan: LayerPlan, tiles: list[Tile], bias_delta: np.ndarray, config: AnalogConfig
    ):
        self.plan = plan
        self.tiles = tiles
        self.bias_delta = bias_delta
        self.config = config
        self.input_scale: float | None = None
        self.act_range: float | None = None
        self.act_signed = False
        self.bias: np.ndarray | float = 0.0
        self.out_range: tuple[float, float] | None = None
        self.adc_ranges: list[float | tuple[float, float] | None] = [None] * len(
            plan.mapping.planes
        )
        self.clipped = 0
        self.conversions = 0
        self.input_clipped = 0  # quantised input values above full scale (clipped to it)
        self.input_values = 0
        self.err_num = 0.0
        self.err_den = 0.0
        self.err_batches = 0  # batches measured (rotates the sampled rows)
        self.mvm_batches = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.meter = None  # an xbar.network.energy.LayerMeter when energy is accounted
        self._matrix: np.ndarray | None = None  # layer_matrix(), built on first use
        self._overflow = False  # full-scale currents overflow (set with the matrix)

    @property
    def calibrated(self) -> bool:
        """True when every range this layer needs is set."""
        if self.config.output_levels and self.out_range is None:
            return False
        return self._reads_ready

    @property
    def _reads_ready(self) -> bool:
        """True when every range the array reads need is set (all but ``out_range``)."""
        cfg = self.config
        if self.input_scale is None:
            return False
        if cfg.activation_bits and self.act_range is None:
            return False
        needs_adc = cfg.adc_bits > 0 and cfg.effective_adc_range != "full_scale"
        return not (needs_adc and any(r is None for r in self.adc_ranges))

    def ranges(self) -> dict[str, Any]:
        """The calibrated ranges (to copy onto other chips of the same design)."""
        return {
            "input_scale": self.input_scale,
            "act_range": self.act_range,
            "act_signed": self.act_signed,
            "adc_ranges": list(self.adc_ranges),
            "out_range": self.out_range,
        }

    def set_ranges(self, ranges: dict[str, Any]) -> None:
        """Use ranges calibrated elsewhere (:meth:`ranges` of the design)."""
        self.input_scale = ranges["input_scale"]
        self.act_range = ranges["act_range"]
        self.act_signed = ranges["act_signed"]
        self.adc_ranges = list(ranges["adc_ranges"])
        self.out_range = ranges.get("out_range")

    @property
    def plane_ranges(self) -> list[float]:
        """ADC range [A] per plane (``full_scale``: the largest of the plane's tiles;
        ``inner``: the larger magnitude of its two ends)."""
        if self.config.effective_adc_range == "full_scale":
            out = [0.0] * len(self.adc_ranges)
            for t in self.tiles:
                out[t.spec.plane] = max(out[t.spec.plane], self._adc_range(t.spec))
            return out
        return [
            max(abs(r[0]), abs(r[1])) if isinstance(r, tuple) else (r or 0.0)
            for r in self.adc_ranges
        ]

    def _adc_signed(self, p: int) -> bool:
        plane = self.plan.mapping.planes[p]
        return plane.kind == "differential" or self.config.offset_subtraction == "reference_column"

    def _adc_range(self, s: TileSpec) -> float | tuple[float, float]:
        if self.config.effective_adc_range == "full_scale":
            plane = self.plan.mapping.planes[s.plane]
            return full_scale_range(
                self.config,
                kind=plane.kind,
                reference=s.reference,
                offset_frac=plane.offset_conductance,
                rows=s.rows,
            )
        return self.adc_ranges[s.plane]

    def _digitise(self, Y, weight, s: TileSpec, A, sumV, track: bool) -> None:
        """ADC, digital offset removal and recombination of one tile read-out into Y."""
        cfg = self.config
        plane = self.plan.mapping.planes[s.plane]
        dg = cfg.g_max - cfg.g_min
        if track:
            self.conversions += A.size
        if cfg.adc_bits > 0:
            r = self._adc_range(s)
            if isinstance(r, tuple):  # adc_range="inner": [p_lo, p_hi]
                A, n_clip = adc_quantize_interval(A, r[0], r[1], cfg.adc_bits)
            else:
                A, n_clip = adc_quantize(A, r, cfg.adc_bits, self._adc_signed(s.plane))
            if track:
                self.clipped += n_clip
        if sumV is not None:  # digital offset subtraction
            A = A - sumV * (cfg.g_min + dg * plane.offset_conductance)
        Y[:, s.j0 : s.j1] += (weight * plane.coef * plane.vmax / dg) * A

    def _voltage_scale(self) -> float | None:
        """Volts per input unit when inputs are applied without a DAC; None with one.

        Linear cells without an ADC give 1.0: every read is then homogeneous in the
        voltages (read noise too), so the inputs go in unscaled, uncopied, and
        :meth:`mvm` rescales the outputs instead (:meth:`output_scale`).
        """
        cfg = self.config
        if cfg.input_mode != "analog" or cfg.dac_bits > 0:
            return None
        if cfg.device == "linear" and cfg.adc_bits == 0:
            return 1.0
        return cfg.v_read / self.input_scale

    def output_scale(self) -> float:
        """Factor from the summed digitised read-outs to the layer's ``X @ W`` units."""
        volts = self._voltage_scale()
        s = self.plan.mapping.scale
        return s if volts == 1.0 else (self.input_scale / self.config.v_read) * s

    def _passes(self, X: np.ndarray):
        """(sign, list of (step weight, row voltages V)) per input pass of inputs X."""
        cfg = self.config
        volts = self._voltage_scale()
        signed = bool(X.size) and X.min() < 0
        parts = [(1.0, X)] + ([(-1.0, -X)] if signed else [])
        for sign, xs in parts:
            if volts is not None:  # no DAC: one pass, V = x * volts (X itself when 1.0)
                V = _positive_part(xs, volts, signed)
                yield sign, [(1.0, V)]
            else:
                steps = input_steps(_positive_part(xs, 1.0 / self.input_scale, signed), cfg)
                yield sign, [(w, levels * cfg.v_read) for w, levels in steps]

    def _codes(self) -> tuple | None:
        """``(lsb [V], top)`` when every applied step is integer codes ``0..top`` times
        ``lsb`` (a DAC of ``dac_bits``, or input bits), else None."""
        cfg = self.config
        if cfg.input_mode == "analog":
            top = 2**cfg.dac_bits - 1
            return (cfg.v_read / top, top) if cfg.dac_bits > 0 else None
        return (cfg.v_read, 1)

    def _input_key(self) -> tuple:
        """What the input passes depend on besides the inputs and their scale (two layers
        with other settings may read the same shared inputs)."""
        cfg = self.config
        return (cfg.input_mode, cfg.dac_bits, cfg.input_bits, cfg.v_read, self._voltage_scale())

    def _reads(self, X: np.ndarray, rng: np.random.Generator | None, meter=None, shared=None):
        """Every tile read-out of inputs X: (digital weight, spec, ADC input, row sum of V).

        ``meter``: an energy meter told about every step and tile read (or None);
        ``shared``: the input passes of a chip-independent ``X`` are computed once."""
        cfg = self.config
        to_volts = cfg.v_read / self.input_scale if self._voltage_scale() == 1.0 else 1.0
        passes = _once(
            shared,
            X,
            ("passes", self.input_scale, *self._input_key()),
            lambda: [(sign, list(steps)) for sign, steps in self._passes(X)],
        )
        for sign, steps in passes:
            for w_t, V in steps:
                step = None
                if meter is not None:  # the meter needs volts, also on the unscaled path
                    step = meter.step(V, to_volts, self._codes())
                for tile in self.tiles:
                    s = tile.spec
                    Vt = V[:, s.r0 : s.r1]
                    A = tile.read(Vt, cfg, rng)
                    self.mvm_batches += 1
                    if step is not None:
                        step.read(tile)
                    sumV = None
                    if s.kind == "offset" and not s.reference:
                        sumV = _once(
                            shared,
                            V,
                            ("row sum", s.r0, s.r1),
                            lambda Vt=Vt: Vt.sum(axis=1, keepdims=True),
                        )
                    yield sign * w_t, s, A, sumV

    def quantize_input(self, X: np.ndarray) -> np.ndarray:
        """The layer input after activation quantisation (X itself when off)."""
        if not self.config.activation_bits:
            return X
        return quantize_activations(X, self.act_range, self.config.activation_bits, self.act_signed)

    def mvm(
        self,
        X: np.ndarray,
        rng: np.random.Generator | None,
        calibrate: bool = False,
        track: bool = True,
        shared: SharedInputs | None = None,
        images=None,
    ) -> np.ndarray:
        """Analog ``X @ W`` (P x n_out) of inputs ``X`` (P x n_in), plus the bias error.

        An uncalibrated layer calibrates itself on its first batch.  ``shared``: what
        depends on ``X`` alone is computed once for all chips when ``X`` is one of its
        chip-independent arrays.  ``images``: ``(x, geometry)`` when ``X`` is the im2col
        columns of images ``x`` of a stride-1 convolution (the energy meter's Grams can
        then come from ``x``; :mod:`xbar.network.convgram`).
        """
        X = np.asarray(X, dtype=float)
        lo = None  # min(X) when a linear layer has looked at it (once per batch)
        if self.linear_reads() and not self.config.activation_bits:
            lo = _once(shared, X, ("min",), lambda: float(X.min()) if X.size else 0.0)
            if self.input_scale is None:  # what calibrate() sets, from the same pass
                m = max(float(X.max()) if X.size else 0.0, -lo)
                self.input_scale = m if m > 0 else 1.0
        if not self._reads_ready:
            self.calibrate([X], rng)
        track = track and not calibrate
        cfg = self.config
        Xq = _once(
            shared,
            X,
            ("quantize", cfg.activation_bits, self.act_range, self.act_signed),
            lambda: self.quantize_input(X),
        )
        meter = self.meter if track else None
        if meter is not None:
            meter.count_macs(Xq, self.plan.mapping.n_out)
        if track and not (cfg.input_mode == "analog" and cfg.dac_bits == 0):
            # inputs beyond the calibrated full scale are clipped by the DAC / bit steps
            clipped, values = _once(
                shared, Xq, ("clipped", self.input_scale), lambda: _clip_count(Xq, self.input_scale)
            )
            self.input_clipped += clipped
            self.input_values += values
        if self.linear_reads():
            Y = self._linear_mvm(Xq, meter, track, lo, images if Xq is X else None)
        else:
            Y = np.zeros((X.shape[0], self.plan.mapping.n_out))
            for weight, s, A, sumV in self._reads(Xq, rng, meter, shared):
                self._digitise(Y, weight, s, A, sumV, track)
            Y *= self.output_scale()
        if track:
            # rel_error on every k-th output pixel (k >= _ERROR_STRIDE, at most
            # _MAX_ERROR_ROWS per batch), from a first row that rotates from batch to batch:
            # the digital reference product would otherwise cost as much as the analog one
            rows = X.shape[0]
            k = max(-(-rows // _MAX_ERROR_ROWS), _ERROR_STRIDE)
            start = self.err_batches % min(k, rows) if rows else 0
            self.err_batches += 1
            key = ("reference", self.plan.name, k, start)
            ref, den = _once(shared, X, key, lambda: self._ref(X[start::k]))
            diff = Y[start::k] - ref
            self.err_num += float(np.sum(np.square(diff, out=diff)))
            self.err_den += den
        if self.bias_delta.any():  # (none without programming errors: no pass over Y)
            Y += self.bias_delta  # Y is this call's own array
        return Y

    def quantize_output(self, Y: np.ndarray) -> np.ndarray:
        """Paper 2's ADC on the layer's output ``Y + bias`` (``output_levels`` uniform
        levels over ``out_range``), returned without the bias the model adds after the
        hook; ``Y`` itself when off."""
        levels = self.config.output_levels
        if not levels or self.out_range is None:
            return Y
        q = quantize_levels(Y + self.bias, *self.out_range, levels)[0]
        q -= self.bias
        return q

    def _ref(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        """The digital product of the rows ``X`` and its squared norm."""
        ref = X @ self.plan.W
        return ref, float(np.sum(ref**2))

    def linear_reads(self) -> bool:
        """True when every read of the layer is linear in its inputs and noiseless
        (then :meth:`mvm` is one product with :meth:`layer_matrix`).

        Linear cells, analog inputs without a DAC, no ADC, no read noise, a crossbar
        array: every tile read, the +/- passes, the offset removal and the digital
        recombination are then one linear map of the layer's inputs.
        """
        cfg = self.config
        return (
            cfg.input_mode == "analog"
            and cfg.dac_bits == 0
            and cfg.device == "linear"
            and cfg.adc_bits == 0
            and cfg.read_noise_sigma == 0
            and cfg.array_topology == "crossbar"
        )

    def layer_matrix(self) -> np.ndarray:
        """The linear map (n_in x n_out) of all the layer's tiles when :meth:`_linear`.

        The sum over tiles of ``weight x (combine(W_eff) - offset)`` placed at the tile's
        rows and columns, times the output scale: ``mvm(X) = X @ layer_matrix()``
        (+ bias error) up to round-off, exactly the same read as tile by tile.
        """
        if self._matrix is None:
            cfg = self.config
            m = self.plan.mapping
            dg = cfg.g_max - cfg.g_min
            M = np.zeros((m.n_in, m.n_out))
            for tile in self.tiles:
                s = tile.spec
                plane = m.planes[s.plane]
                C = tile.combine(tile.W_eff)
                if s.kind == "offset" and not s.reference:  # digital offset subtraction
                    C = C - (cfg.g_min + dg * plane.offset_conductance)
                M[s.r0 : s.r1, s.j0 : s.j1] += (plane.coef * plane.vmax / dg) * C
            M *= self.output_scale()
            self._matrix = M
            # the physical column currents at full-scale inputs must exist (the matrix itself
            # is scaled back and can stay finite where tile-by-tile currents overflow)
            with np.errstate(over="ignore"):
                peak = max(float(np.abs(t.W_eff).sum(axis=0).max()) for t in self.tiles)
            self._overflow = not math.isfinite(cfg.v_read * peak)
        return self._matrix

    def _linear_mvm(self, X: np.ndarray, meter, track: bool, lo: float | None = None, images=None):
        """``X @ layer_matrix()``, counted (tile reads, conversions) and metered like the
        tile-by-tile reads it stands for (``lo``: ``X.min()`` when already known;
        ``images``: see :meth:`mvm`)."""
        Y = X @ self.layer_matrix()
        if self._overflow:  # as the tile reads would: not finite (the hook names the layer)
            Y = np.full_like(Y, np.inf)
        if lo is None:
            lo = float(X.min()) if X.size else 0.0
        passes = 2 if lo < 0 else 1
        self.mvm_batches += passes * len(self.tiles)
        if track:
            self.conversions += passes * X.shape[0] * sum(t.spec.outputs for t in self.tiles)
        if meter is not None:  # row voltages max(+-X, 0) * v_read / input_scale
            volts = self.config.v_read / self.input_scale
            meter.read_linear(X, volts, self.tiles, lo, images)
        return Y

    def calibrate(self, batches: list[np.ndarray], rng: np.random.Generator | None) -> None:
        """Set input, activation and ADC ranges from this layer's calibration inputs."""
        cfg = self.config
        X = _subsample_rows(batches)
        # max |x| without a temporary array of |x| (the inputs can be large im2col matrices)
        m = max((max(float(b.max()), -float(b.min())) for b in batches if b.size), default=0.0)
        if cfg.activation_bits:
            self.act_signed = any(b.size and b.min() < 0 for b in batches)
            r = calibrated_range(X, cfg)  # percentile (or max with adc_range="max")
            self.act_range = r if r > 0 else (m if m > 0 else 1.0)
            m = self.act_range
        self.input_scale = m if m > 0 else 1.0
        if cfg.adc_bits > 0 and cfg.effective_adc_range != "full_scale":
            self._calibrate_adc(X, rng)
        self._calibrate_output(X, rng)

    def _calibrate_adc(self, X: np.ndarray, rng: np.random.Generator | None) -> None:
        """ADC ranges per plane from the read-outs of the calibration inputs ``X``."""
        cfg = self.config
        samples: list[list[np.ndarray]] = [[] for _ in self.adc_ranges]
        for _, s, A, _ in self._reads(self.quantize_input(X), rng):
            samples[s.plane].append(A.ravel())
        ranges = []
        for p, sl in enumerate(samples):
            flat = np.concatenate(sl) if sl else np.zeros(0)
            if flat.size > _MAX_CALIBRATION_SAMPLES:
                flat = flat[:: -(-flat.size // _MAX_CALIBRATION_SAMPLES)]
            if self.adc_ranges[p] is not None:
                ranges.append(self.adc_ranges[p])
            elif cfg.effective_adc_range == "inner":
                ranges.append(inner_range(flat, cfg.adc_percentile))
            else:
                ranges.append(calibrated_range(flat, cfg))
        if cfg.adc_pow2:
            ranges = pow2_ranges(ranges, [p.label for p in self.plan.mapping.planes])
        self.adc_ranges = ranges

    def _calibrate_output(self, X: np.ndarray, rng: np.random.Generator | None) -> None:
        """``out_range``: the smallest and largest output ``X W + b`` of the calibration
        inputs ``X`` read on this layer (``output_levels`` > 0; kept when already set)."""
        if not self.config.output_levels or self.out_range is not None:
            return
        Y = self.mvm(X, rng, calibrate=True, track=False) + self.bias
        self.out_range = output_range(Y)


def _once(shared: SharedInputs | None, X: np.ndarray, key: tuple, compute: Callable[[], Any]):
    """``compute()``, a function of ``X`` (and of ``key``) alone: computed once for all chips
    when ``X`` is a chip-independent array of ``shared``."""
    return compute() if shared is None else shared.derived(X, key, compute)


def _clip_count(Xq: np.ndarray, scale: float) -> tuple[int, int]:
    """Quantised inputs above full scale ``scale``, and values applied (both passes)."""
    values = Xq.size * (2 if Xq.size and Xq.min() < 0 else 1)
    return int(np.count_nonzero(np.abs(Xq) > scale)), values


def _subsample_rows(batches: list[np.ndarray], limit: int = _MAX_CALIBRATION_ROWS) -> np.ndarray:
    """The rows of all batches, every k-th when there are more than ``limit``."""
    X = np.concatenate(batches, axis=0) if len(batches) > 1 else batches[0]
    if X.shape[0] > limit:
        X = X[:: -(-X.shape[0] // limit)]
    return X


def _positive_part(X: np.ndarray, scale: float, signed: bool) -> np.ndarray:
    """``max(X, 0) * scale`` (``X`` itself when nothing changes; never written to)."""
    if not signed:
        return X if scale == 1.0 else X * scale
    out = np.maximum(X, 0.0)
    if scale != 1.0:
        out *= scale
    return out


class AnalogNetwork:
    """One programmed chip: every matmul layer of a model on its tiles.

    Use :meth:`hook` as the model's ``mvm`` callable.  ``model`` is the chip's own
    copy of the folded model when its digital batch-norm layers carry errors
    (``weight_range``), else None (the caller's folded model is used).
    """

    def __init__(self, layers: dict[str, AnalogLayer], chip: int, config: AnalogConfig, model=None):
        self.layers = layers
        self.chip = chip
        self.config = config
        self.model = model
        self._rng: np.random.Generator | None = noise_rng(config.seed, chip, READ_STREAM)
        self._calibrate = False
        self._collecting: AnalogLayer | None = None
        #: the work on the test batches that every chip shares (set during :meth:`predict`)
        self.shared: SharedInputs | None = None
        self._batch = 0  # the batch predict() is running
        self._entries: frozenset[str] = frozenset()  # matmul layers fed by the model input
        self._images: tuple | None = None  # (conv layer, images, their columns, geometry)
        #: sorted indices of the test images whose array energy is metered (None: all)
        self.energy_sample: np.ndarray | None = None
        self._chunk: tuple | None = None  # (layer, first image, images) of its next product

    def hook(self, layer, X2d: np.ndarray) -> np.ndarray:
        """The model's ``mvm`` hook: analog ``X2d @ layer.W2d`` (+ bias error)."""
        try:
            alayer = self.layers[layer.name]
        except KeyError:
            raise ModelError(f"layer {layer.name!r} was not programmed on the chip") from None
        shared = self.shared
        if shared is not None and layer.name in self._entries and layer.kind == "dense":
            # the whole batch, the same on every chip (a convolution's columns come kept from
            # columns(); one unfolding its batch in chunks calls this once per chunk)
            X2d = shared.keyed(("input", self._batch, layer.name), lambda: X2d)
        images = None
        held, self._images = self._images, None
        if held is not None and held[0] is layer and held[2] is X2d and alayer.meter is not None:
            images = (held[1], held[3])  # X2d = im2col of these images (stride-1 conv)
        chunk, self._chunk = self._chunk, None
        if alayer.meter is not None:  # which of the batch's images X2d's rows are
            alayer.meter.set_span(chunk[1:] if chunk is not None and chunk[0] is layer else None)
        Y = alayer.mvm(X2d, self._rng, calibrate=self._calibrate, shared=shared, images=images)
        Y = alayer.quantize_output(Y)
        if not all_finite(Y):
            raise not_finite(layer.name, self.chip, alayer.config)
        return Y

    def ranges(self) -> dict[str, dict[str, Any]]:
        """Calibrated ranges of every layer."""
        return {name: al.ranges() for name, al in self.layers.items()}

    def set_ranges(self, ranges: dict[str, dict[str, Any]]) -> None:
        """Use ranges calibrated on another chip (the design)."""
        for name, r in ranges.items():
            self.layers[name].set_ranges(r)

    def calibrate(self, folded_model, x_cal: np.ndarray, batch_size: int | None = None) -> None:
        """Set input, activation and ADC ranges of every layer from calibration images.

        Layer by layer in forward order: one pass over ``x_cal`` (in batches of
        ``batch_size``) gathers the inputs of the first uncalibrated layer, through
        the already calibrated (digitised) layers before it, and stops there; the
        layer is then calibrated on all of them.  Read noise of calibration reads
        comes from the chip's calibration stream.
        """
        model = self.model or folded_model
        bs = int(batch_size) if batch_size else max(1, x_cal.shape[0])
        self._rng = noise_rng(self.config.seed, self.chip, CALIBRATION_STREAM)
        self._calibrate = True
        try:
            for _ in range(len(self.layers)):
                todo = [al for al in self.layers.values() if not al.calibrated]
                if not todo:
                    break
                self._calibrate_next(model, x_cal, bs)
        finally:
            self._calibrate = False
            self._collecting = None
        self._rng = noise_rng(self.config.seed, self.chip, READ_STREAM)

    def _calibrate_next(self, model, x_cal: np.ndarray, bs: int) -> None:
        """One calibration pass: gather and calibrate the next uncalibrated layer."""
        gathered: dict[str, list[np.ndarray]] = {}
        for s in range(0, x_cal.shape[0], bs):
            target = self._collecting
            try:
                model.forward(x_cal[s : s + bs], mvm=self._gather_hook(gathered))
            except _CalibrationPass:
                pass
            if target is None and self._collecting is None:
                break
        al = self._collecting
        self._collecting = None
        if al is None:
            return
        al.calibrate(gathered[al.plan.name], self._rng)

    def _gather_hook(self, gathered: dict[str, list[np.ndarray]]):
        def hook(layer, X2d):
            al = self.layers.get(layer.name)
            if al is not None and not al.calibrated:
                if self._collecting is None:
                    self._collecting = al
                if al is self._collecting:
                    gathered.setdefault(layer.name, []).append(np.asarray(X2d, dtype=float))
                    return np.asarray(X2d, dtype=float) @ al.plan.W + al.bias_delta
                raise _CalibrationPass
            return self.hook(layer, X2d)

        return hook

    def predict(
        self,
        folded_model,
        x: np.ndarray,
        batch_size: int,
        progress: Callable[[], None] | None = None,
        shared: SharedInputs | None = None,
    ) -> np.ndarray:
        """Predicted classes of ``x`` (N,) on this chip.

        ``shared``: a :class:`~xbar.network.shared.SharedInputs` of ``x`` in batches of
        ``batch_size``, through which the chips of one evaluation share the work that
        does not depend on the chip (ignored when it holds other batches).
        """
        model = self.model or folded_model
        out = np.empty(x.shape[0], dtype=np.int64)
        if shared is not None and shared.holds(x, batch_size):
            self.shared, self._entries = shared, _entry_layers(model)
        try:
            for k, s in enumerate(range(0, x.shape[0], batch_size)):
                self._batch = k
                self._meter_batch(s, min(s + batch_size, x.shape[0]))
                logits = model.forward(x[s : s + batch_size], mvm=self)
                out[s : s + batch_size] = np.argmax(logits, axis=1)
                if progress is not None:
                    progress()
        finally:
            self.shared = None
        return out

    def _meter_batch(self, start: int, stop: int) -> None:
        """Tell the energy meters which of test images ``start:stop`` are in the sample
        whose array energy is metered (:attr:`energy_sample`)."""
        sample = self.energy_sample
        if sample is None:
            return
        lo, hi = (int(i) for i in np.searchsorted(sample, [start, stop]))
        for al in self.layers.values():
            if al.meter is not None:
                al.meter.start_batch(stop - start, sample[lo:hi] - start, lo)

    def chunk(self, layer, start: int, count: int) -> None:
        """The hook protocol of :mod:`xbar.network.layers`: the next product of ``layer`` is
        of the batch's images ``start:start + count`` only (a convolution unfolding a large
        batch in chunks), not of the whole batch."""
        self._chunk = (layer, int(start), int(count))

    def __call__(self, layer, X2d: np.ndarray) -> np.ndarray:
        """The same as :meth:`hook` (the chip is itself a ``mvm`` hook, with :meth:`columns`)."""
        return self.hook(layer, X2d)

    def columns(self, layer, x: np.ndarray, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """im2col columns of a convolution's input (the hook protocol of
        :mod:`xbar.network.layers`): made once for every chip when ``x`` is shared."""
        if self.shared is None or layer.name not in self._entries:
            cols = compute()
        else:
            geometry = (layer.kh, layer.kw, layer.strides, layer.pads, layer.dilations)
            cols = self.shared.keyed(("im2col", self._batch, layer.name, *geometry), compute)
        al = self.layers.get(layer.name)
        geom = conv_geometry(layer, x) if al is not None and al.meter is not None else None
        # metered stride-1 convolutions: the images, for the energy meter's Grams (hook())
        self._images = None if geom is None else (layer, x, cols, geom)
        return cols


def all_finite(Y: np.ndarray) -> bool:
    """True when every entry of ``Y`` is finite: a finite sum says so in one pass without
    a temporary (inf and nan propagate into the sum); an overflowing sum is checked entry
    by entry.

    >>> all_finite(np.array([1e308, 1e308])), all_finite(np.array([1.0, np.nan]))
    (True, False)
    """
    with np.errstate(over="ignore", invalid="ignore"):  # the answer says it; no warning
        total = float(Y.sum())
    return math.isfinite(total) or bool(np.all(np.isfinite(Y)))


def _entry_layers(model) -> frozenset[str]:
    """Names of the Dense / Conv2D layers that take the model's input as it is (and are
    applied nowhere else in the model)."""
    from collections import Counter

    from .layers import Conv2D, Dense
    from .model import INPUT

    uses = Counter(la.name for la in model.all_layers()) if hasattr(model, "all_layers") else {}
    return frozenset(
        n.layer.name
        for n in getattr(model, "nodes", ())
        if isinstance(n.layer, Dense | Conv2D)
        and list(n.inputs) == [INPUT]
        and uses.get(n.layer.name) == 1
    )


def _pad(G: np.ndarray, spec: TileSpec, config: AnalogConfig) -> np.ndarray:
    """The physical array of a partly used tile (padding cells at g_min), or G.

    Only the padding that can change an output is simulated: unused rows (driven
    at 0 V) load the column lines only when they have resistance (``r_col`` or
    ``r_sense`` > 0), unused columns load the row lines only when those have
    (``r_row`` or ``r_driver`` > 0); otherwise every column (row) line is an
    independent circuit and the padding carries no current into the used cells.
    """
    if not (config.parasitics and config.pad_tiles):
        return G
    rows, cols = G.shape
    if config.r_col > 0 or config.r_sense > 0:
        rows = max(config.array_rows, rows)
    if config.r_row > 0 or config.r_driver > 0:
        cols = max(config.array_cols, cols)
    if (rows, cols) == G.shape:
        return G
    full = np.full((rows, cols), config.g_min)
    full[: G.shape[0], : G.shape[1]] = G
    return full


def program_tile(
    spec: TileSpec,
    plane,
    errors: LayerErrors | None,
    config: AnalogConfig,
    rng: np.random.Generator,
    cache: TransferCache,
    energy: bool = False,
    target: np.ndarray | None = None,
) -> Tile:
    """Program one tile of one chip: target conductances, then every error, then W_eff
    (with ``energy``, computed together with the tile's power forms where that applies).

    Every physically present cell is programmed and gets its errors: the idle cell
    of a differential pair, pairs of weights held by another scale group, the
    reference column and (with wire resistance and ``pad_tiles``) the cells of a
    partly used array, which sit at g_min with their rows at 0 V.  Draw order: the
    ``weight_range`` errors of reference and padding cells, then per-cell
    programming error, then stuck cells.  ``target``: the tile's target
    conductances when already computed (:attr:`LayerPlan.targets`; not written to).
    """
    G = programmed_conductances(spec, plane, errors, config, rng, target)
    if energy:
        return make_tile(spec, G, *cache.transfer_with_forms(G, config))
    return make_tile(spec, G, cache.transfer_matrix(G, config))


def programmed_conductances(
    spec: TileSpec,
    plane,
    errors: LayerErrors | None,
    config: AnalogConfig,
    rng: np.random.Generator,
    target: np.ndarray | None = None,
) -> np.ndarray:
    """The programmed conductances [S] of one tile's physical array (padding included).

    The random draws of :func:`program_tile`, in its order; a new array (``target``
    is never written to).
    """
    if target is None:
        target = tile_target_conductances(spec, plane, config)
    rows = target.shape[0]
    G = _pad(target, spec, config)
    if G is target:
        G = target.copy()
    n = spec.outputs
    if errors is not None:
        d = errors.deltas[spec.plane][spec.r0 : spec.r1, spec.j0 : spec.j1]
        clip = config.programming_clip != "none"
        if spec.kind == "differential":
            G[:rows, 0 : 2 * n : 2], G[:rows, 1 : 2 * n : 2] = add_pair_difference(
                G[:rows, 0 : 2 * n : 2], G[:rows, 1 : 2 * n : 2], d
            )
        else:
            G[:rows, :n] = add_pair_difference(G[:rows, :n], None, d, clip)[0]
        spare = np.ones(G.shape, dtype=bool)  # cells holding no weight
        spare[:rows, : (2 * n if spec.kind == "differential" else n)] = False
        if spare.any():
            e = errors.cell_sigma * rng.standard_normal(int(spare.sum()))
            if spec.kind == "differential":
                e = np.maximum(e, 0.0)
            G[spare] = np.maximum(G[spare] + e, 0.0) if clip else G[spare] + e
    G = program_cells(G, config, rng)
    G = apply_stuck(G, config, rng)
    return apply_drift(G, config)


def _check_wireable(Gs: list[np.ndarray], layer: str, chip: int, config: AnalogConfig) -> None:
    """Refuse conductances below 0 S (``programming_clip="none"``) when the tiles are solved
    as circuits (wire, driver, sense or source resistance): a circuit of negative
    resistors is no physical array (the crossbar solver refused it deep inside, naming
    neither layer nor field)."""
    if not config.parasitics:
        return
    low = min(float(G.min()) for G in Gs if G.size) if Gs else 0.0
    if low < 0:
        raise ValueRangeError(
            f"layer {layer!r} (chip {chip}): programmed conductances go down to {low:.3g} S "
            f"with programming_clip=none ({config.programming_error} error, sigma "
            f"{config.programming_sigma:g}); an array with wire resistance cannot hold "
            "negative conductances",
            hint="set programming_clip=true (clip to [g_min, g_max]) or false (clip at "
            "0 S), or drop the wire, "
            "driver and sense resistances (r_row, r_col, r_driver, r_sense, r_source)",
        )


def _transfer_matrices(cache, Gs, specs, config: AnalogConfig, energy: bool) -> list:
    """(W_eff, power forms) of a layer's programmed tiles: with ``energy``, each with its
    forms (one elimination gives both where it applies); else all together, only each
    tile's used block (:meth:`TransferCache.transfer_matrices`), without forms."""
    if energy:
        return [
            cache.transfer_with_forms(G, config, used=(s.rows, s.columns))
            for G, s in zip(Gs, specs, strict=True)
        ]
    Ws = cache.transfer_matrices(Gs, config, used=[(s.rows, s.columns) for s in specs])
    return [(W, None) for W in Ws]


def make_tile(spec: TileSpec, G: np.ndarray, W_eff: np.ndarray, forms=None) -> Tile:
    """The :class:`Tile` of programmed physical conductances ``G``, their ``W_eff`` and (energy)
    power forms."""
    rows, cols = spec.rows, spec.columns
    if G.shape == (rows, cols):
        return Tile(spec, G, W_eff, forms=forms)
    return Tile(
        spec,
        np.ascontiguousarray(G[:rows, :cols]),
        np.ascontiguousarray(W_eff[:rows, :cols]),
        G_full=G,
        forms=forms,
    )


def program_chip(
    plans: list[LayerPlan],
    folded_model,
    config: AnalogConfig,
    chip: int,
    cache: TransferCache,
    noise: tuple | None = None,
    energy: bool = False,
    progress: Callable[[], None] | None = None,
) -> AnalogNetwork:
    """Program chip ``chip``: errors, stuck cells, drift and transfer matrices of every tile.

    Draw order (fixed, so a chip is reproducible): for each layer in forward order,
    its ``weight_range`` errors (:func:`~xbar.network.nonideal.draw_weight_range`:
    bias, weights per plane, folded batch-norms), then each tile in plan order
    (:func:`program_tile`); after all layers, the ``weight_range`` errors of the
    batch-norm layers that stay digital, applied to a copy of the model.  With
    per-layer rules, each layer draws as on a chip whose every layer had its settings
    (:class:`_Streams`); a digital layer draws nothing.

    ``noise``: the result of :func:`xbar.network.noise.noise_plan` of the unfolded
    model (default: the folded model under the ``folded_layer`` rule; pass it for
    ``weight_range`` with the ``match_range`` rule).
    ``energy=True`` attaches a :class:`~xbar.network.energy.LayerMeter` to every layer.
    """
    streams = _Streams(plans, folded_model, config, chip, noise)
    layers: dict[str, AnalogLayer | DigitalLayer] = {}
    for index, plan in enumerate(plans):
        if plan.digital:
            layers[plan.name] = DigitalLayer(plan, plan.config(config))
            continue
        lc = plan.config(config)
        rng = streams.generator(index, lc)
        m, specs, targets = plan.layout(lc)
        errors = streams.errors(plan, m, lc, rng)
        h0, m0 = cache.hits, cache.misses
        Gs = [
            programmed_conductances(spec, m.planes[spec.plane], errors, lc, rng, target)
            for spec, target in zip(specs, targets or [None] * len(specs), strict=True)
        ]
        _check_wireable(Gs, plan.name, chip, lc)
        Ws = _transfer_matrices(cache, Gs, specs, lc, energy)
        tiles = [make_tile(sp, G, *W) for sp, G, W in zip(specs, Gs, Ws, strict=True)]
        for _ in tiles if progress is not None else ():
            progress()
        b = folded_model.layer(plan.name).b
        bias_delta = errors.bias_delta if errors is not None else np.zeros_like(b, dtype=float)
        al = AnalogLayer(plan, tiles, bias_delta, lc)
        al.bias = b
        if al.linear_reads():  # the chip's one matrix per layer, built with the chip
            al.layer_matrix()
        al.cache_hits, al.cache_misses = cache.hits - h0, cache.misses - m0
        if energy:
            from .energy import LayerMeter

            al.meter = LayerMeter(lc, cache)
            if al.linear_reads():  # the forms summed per row block, built with the chip
                al.meter.prepare(al.tiles)
        layers[plan.name] = al
    chip_model = None
    if weight_range_on(config) and streams.noise()[1]:
        rng = streams.generator(len(plans), config.for_sections(())[0])
        chip_model = folded_model.copy()
        sigma, mu = config.programming_sigma, config.programming_mu
        for bn in streams.noise()[1]:
            set_affine(chip_model.layer(bn.name), *bn.draw(sigma, rng, mu))
    return AnalogNetwork(layers, chip, config, chip_model)


class _Streams:
    """The programming draws of one chip, layer by layer.

    Layer ``L`` is programmed from the chip's generator (:func:`chip_rng`) as it stands
    after the layers before ``L`` have drawn *with L's settings*: the draws that L's
    settings on every layer would give.  So a per-layer rule never moves another layer's
    draws, a rule that matches every layer gives the chip of the same value set for the
    whole network, and without rules every layer draws in turn from one generator (as
    before rules existed; nothing is replayed).  A generator is kept per distinct
    draw-relevant configuration (fields that change no draw, such as the ADC, share one).
    """

    def __init__(self, plans, folded_model, config: AnalogConfig, chip: int, noise):
        self.plans, self.folded, self.config, self.chip = plans, folded_model, config, chip
        self._noise = noise
        self._one = None if config.layers else chip_rng(config.seed, chip)
        self._gens: dict[AnalogConfig, list] = {}

    def noise(self) -> tuple:
        """The ``weight_range`` noise plan (default: the folded model, ``folded_layer``)."""
        if self._noise is None:
            self._noise = noise_plan(self.folded, "folded_layer")
        return self._noise

    def generator(self, index: int, lc: AnalogConfig) -> np.random.Generator:
        """The generator that layer ``index`` with configuration ``lc`` draws from."""
        if self._one is not None:
            return self._one
        key = dataclasses.replace(lc, **{k: getattr(self.config, k) for k in _NO_DRAW_FIELDS})
        entry = self._gens.get(key)
        if entry is None:
            entry = self._gens[key] = [chip_rng(self.config.seed, self.chip), 0]
        rng = entry[0]
        for j in range(entry[1], index):  # the draws layer j makes under these settings
            m, specs, targets = self.plans[j].layout(key)
            errors = self.errors(self.plans[j], m, key, rng)
            for spec, target in zip(specs, targets, strict=True):
                programmed_conductances(spec, m.planes[spec.plane], errors, key, rng, target)
        entry[1] = max(entry[1], index + 1)
        return rng

    def errors(self, plan: LayerPlan, mapping, lc: AnalogConfig, rng) -> LayerErrors | None:
        """Layer ``plan``'s ``weight_range`` errors under ``lc`` (None when it has none)."""
        if not weight_range_on(lc):
            return None
        layer = self.folded.layer(plan.name)
        return draw_weight_range(mapping, self.noise()[0][plan.name], layer.b, lc, rng, layer)


class DigitalLayer:
    """A matmul layer kept digital by a per-layer rule: ``X @ W`` with the exact weights.

    No tiles, no device errors, no converters; its energy is not metered (not in the
    totals).  It has the interface of :class:`AnalogLayer` that the chip uses.
    """

    calibrated = True
    meter = None

    def __init__(self, plan: LayerPlan, config: AnalogConfig):
        self.plan, self.config = plan, config
        self.tiles: list[Tile] = []
        self.bias_delta = np.zeros(plan.W.shape[1])
        self.input_scale = None

    def ranges(self) -> dict[str, Any]:
        """No ranges: nothing to calibrate."""
        return {}

    def set_ranges(self, ranges: dict[str, Any]) -> None:
        """Nothing to set."""

    def mvm(self, X: np.ndarray, rng=None, calibrate=False, track=True, shared=None, images=None):
        """``X @ W`` (P x n_out) of inputs ``X`` (P x n_in), digitally."""
        return np.asarray(X, dtype=float) @ self.plan.W

    def quantize_output(self, Y: np.ndarray) -> np.ndarray:
        """``Y`` itself: a digital layer has no ADC (``output_levels`` does not apply)."""
        return Y


# -------------------------------------------------------------------------------- evaluate
def _check_inputs(model, config, dataset) -> None:
    if not isinstance(config, AnalogConfig):
        raise ConfigError(f"config must be an AnalogConfig, got {type(config).__name__}")
    config.validate()
    for name in ("matmul_layers", "forward", "fold_batchnorm"):
        if not hasattr(model, name):
            raise ModelError(f"model has no {name}(); expected an xbar.network.Model")
    if not model.matmul_layers():
        raise ModelError(f"model {getattr(model, 'name', '?')!r} has no Dense/Conv2D layer to map")
    check = getattr(dataset, "check_model", None)
    if check is not None:
        check(model)
    else:
        shape = tuple(dataset.x_test.shape[1:])
        if tuple(model.input_shape) != shape:
            raise ModelError(f"model takes inputs {tuple(model.input_shape)}, data set has {shape}")
    for split in ("x_test", "x_train"):
        x = getattr(dataset, split)
        if x.shape[0] == 0:
            raise ModelError(f"data set split {split!r} is empty")
        if not np.isfinite(x).all():  # else the analog outputs would be NaN, blamed on the chip
            raise ModelError(
                f"data set {getattr(dataset, 'name', '?')!r}: {split} holds NaN or infinite values"
            )
    y = np.asarray(dataset.y_test)
    classes = getattr(model, "classes", None)
    if classes is not None and y.size and (y.min() < 0 or y.max() >= classes):
        raise ModelError(
            f"data set labels span {int(y.min())}..{int(y.max())}, but the model "
            f"has {classes} classes"
        )


#: bytes of results kept per chip at least (index, accuracy, per-layer statistics)
_BYTES_PER_CHIP = 512


def _check_chip_count(repeats: int) -> None:
    """Refuse ``repeats`` whose per-chip results alone would not fit in memory."""
    from ..checks import available_memory
    from ..errors import ResourceError

    need = repeats * _BYTES_PER_CHIP
    avail = available_memory()
    if avail is not None and need > avail / 2:
        raise ResourceError(
            f"repeats={repeats}: the per-chip results alone need about "
            f"{need / 2**30:.3g} GiB of memory; about {avail / 2**30:.3g} GiB is available",
            hint="use fewer chips (repeats); 30-100 chips give a confidence interval",
        )


def _chip_list(chips) -> list[int]:
    """Chip indices given by the caller, as a list of ints (ConfigError naming the entry)."""
    if isinstance(chips, str | bytes) or not hasattr(chips, "__iter__"):
        raise ConfigError(f"chips={chips!r}: expected a list of chip indices, e.g. [0, 1, 2]")
    out = []
    for c in chips:
        if isinstance(c, bool) or not isinstance(c, int | np.integer):
            raise ConfigError(f"chips: entry {c!r} is not an integer chip index")
        out.append(int(c))
    return out


def needs_calibration(config: AnalogConfig) -> bool:
    """True when a layer's input range or an ADC range changes the results.

    With linear cells, unquantised analog inputs (``dac_bits = 0``) and no ADC, the
    input scale cancels exactly (voltages ``x / scale * v_read``, outputs times
    ``scale / v_read``; read noise is proportional to the voltages), so no
    calibration images are needed.  With per-layer rules, True when any layer may need
    it (:meth:`AnalogConfig.values_on_layers`).
    """

    def on(name: str, test: Callable[[Any], bool]) -> bool:
        return any(test(v) for v in config.values_on_layers(name))

    return (
        on("adc_bits", lambda v: v > 0)
        or on("dac_bits", lambda v: v > 0)
        or on("input_mode", lambda v: v != "analog")
        or on("device", lambda v: v != "linear")
        or on("activation_bits", lambda v: v > 0)
        or on("output_levels", lambda v: v > 0)
    )


def calibration_images(config: AnalogConfig, n_eval: int) -> int:
    """Training images used to calibrate: ``calibration_size``, at most ``n_eval``, 0 if unneeded.

    >>> calibration_images(AnalogConfig(adc_bits=8), 2), calibration_images(AnalogConfig(), 500)
    (2, 0)
    """
    if not needs_calibration(config):
        return 0
    return max(1, min(config.calibration_size, n_eval))


def default_batch_size(model) -> int:
    """Images per forward pass: 256 for small inputs, fewer for large ones (fixed per model)."""
    size = int(np.prod(model.input_shape))
    return int(max(1, min(256, 2**16 // max(size, 1))))


def evaluate(
    model: Model,
    config: AnalogConfig,
    *,
    dataset: Dataset | str | None = None,
    limit: int | None = None,
    chips: Iterable[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache: TransferCache | None = None,
    batch_size: int | None = None,
    ideal_accuracy: float | None = None,
    energy: bool = True,
) -> EvaluationResult:
    """Test accuracy of ``model`` on simulated analog hardware.

    Parameters
    ----------
    model : xbar.network.Model
        The trained network (batch-norm is folded before mapping).
    config : AnalogConfig
        Hardware configuration (validated before any work starts).
    dataset : xbar.network.Dataset, optional
        Default: ``load_dataset("digits")``.  Calibration uses its training split.
        Shaped for the model as ``xbar infer`` does (:func:`~xbar.network.shaped_for`):
        images are flattened for a model with flat inputs, and rows of H*W values (a
        CSV) become images for a single-channel image model.
    limit : int, optional
        Evaluate only the first ``limit`` test images.
    chips : iterable of int, optional
        Chip indices to evaluate (default ``range(config.repeats)``), each at most
        once; chip ``k`` is the same programmed chip in every call.
    progress : callable, optional
        ``progress(done, total)`` after every unit of work: each tile programmed
        (with its transfer matrix), each chip's calibration pass and each test
        batch; ``total`` counts them over all chips.  If it also has a
        ``stage(text)`` method, that is called when a step starts ("chip 2/5:
        calibrate (256 images)").
    cache : TransferCache, optional
        Transfer-matrix cache to use.  By default the process-wide cache of
        :func:`xbar.network.tiles.default_cache` (256 MiB), so repeated calls on the
        same chips (an ADC or peripheral sweep, one task per chip on a worker) reuse
        the transfer matrices; keys hash the programmed conductances and
        resistances, so results never depend on what is cached.
    batch_size : int, optional
        Images per forward pass (default: :func:`default_batch_size`).  Read noise
        draws depend on it; keep it fixed to reproduce numbers.
    ideal_accuracy : float, optional
        Skip computing the digital accuracy and report this value instead.
    energy : bool
        Account the energy of every read (exact array power, DAC, ADC, digital; see
        :mod:`xbar.network.energy`) into ``result.energy`` and each layer's
        ``energy`` (default True).

    Returns
    -------
    EvaluationResult

    Raises
    ------
    ConfigError, ModelError
        For a bad configuration or a model / data set mismatch, before any long work.

    Notes
    -----
    The call runs under :func:`xbar.threads.limit` with ``config.threads`` (by
    default one BLAS thread); the previous thread limits come back afterwards.
    """
    if not isinstance(config, AnalogConfig):
        raise ConfigError(f"config must be an AnalogConfig, got {type(config).__name__}")
    if progress is not None and not callable(progress):
        raise ConfigError(
            f"progress must be a function progress(done, total), got {type(progress).__name__}"
        )
    if batch_size is not None:
        from ..checks import positive_int

        batch_size = positive_int("batch_size", batch_size)
    from ..threads import limit as thread_limit

    options = (dataset, limit, chips, progress, cache, batch_size, ideal_accuracy, energy)
    with thread_limit(config.threads):
        return _evaluate(model, config, *options)


def _evaluate(
    model, config, dataset, limit, chips, progress, cache, batch_size, ideal_accuracy, energy
) -> EvaluationResult:
    """:func:`evaluate` under its thread limit: check, plan, calibrate the design, run chips."""
    t_start = time.perf_counter()
    dataset = _load_dataset(dataset, model)
    _check_inputs(model, config, dataset)
    x, y = _test_split(dataset, limit)
    chips = _checked_chips(chips, config)
    n_cal = calibration_images(config, x.shape[0])
    x_cal = np.asarray(dataset.x_train[:n_cal], dtype=float) if n_cal else None
    bs = int(batch_size) if batch_size else default_batch_size(model)
    cache = cache if cache is not None else default_cache()
    before = cache.stats()

    t0 = time.perf_counter()
    folded, plans = plan_network(model, config)
    noise = None
    if "weight_range" in config.values_on_layers("programming_error"):
        noise = noise_plan(model, config.weight_range_rule, config.weight_range_fraction)
    design_ranges = _design_ranges(plans, folded, config, cache, x_cal, bs, progress, energy)
    setup = time.perf_counter() - t0
    if ideal_accuracy is None:
        ideal_accuracy = float(np.mean(folded.predict(x, batch_size=bs) == y))
    run = _ChipRun(plans, folded, config, cache, noise, energy, bs, x_cal, design_ranges)
    run.start_progress(progress, len(chips), math.ceil(x.shape[0] / bs))
    if len(chips) > 1:  # chip-independent work on the test batches, done on the first chip
        run.shared = SharedInputs(x, bs)
    for k, chip in enumerate(chips):
        run.chip(k, chip, x, y)
    run.setup_seconds += setup
    return run.result(chips, x.shape[0], ideal_accuracy, before, time.perf_counter() - t_start)


def _load_dataset(dataset, model):
    """The data set to evaluate on: a Dataset, or loaded by name / path (default digits),
    shaped for ``model`` as ``xbar infer`` does (:func:`~xbar.network.data.shaped_for`:
    images flattened for a flat-input model, CSV rows made images, ...)."""
    from .data import Dataset, load_dataset, shaped_for

    if dataset is None or isinstance(dataset, str | os.PathLike):
        dataset = load_dataset("digits" if dataset is None else dataset)
    elif not hasattr(dataset, "x_test"):
        raise ModelError(
            f"dataset must be an xbar.network.Dataset or a data set name, got "
            f"{type(dataset).__name__}"
        )
    if not isinstance(dataset, Dataset) or not hasattr(model, "input_shape"):
        return dataset  # not ours to shape; _check_inputs names what is wrong
    return shaped_for(dataset, model)


def _test_split(dataset, limit) -> tuple[np.ndarray, np.ndarray]:
    """Test images (float) and labels, the first ``limit`` of them when given."""
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
            raise ConfigError(f"limit={show(limit)}: must be a positive integer (at least 1)")
    x = np.asarray(dataset.x_test, dtype=float)
    y = np.asarray(dataset.y_test)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y


def _checked_chips(chips, config: AnalogConfig) -> list[int]:
    """The chip indices to evaluate (default ``range(repeats)``), each >= 0 and listed once."""
    if chips is None:
        _check_chip_count(config.repeats)
    chips = list(range(config.repeats)) if chips is None else _chip_list(chips)
    if not chips:
        raise ConfigError("chips: no chip to evaluate")
    if any(c < 0 for c in chips):
        raise ConfigError(f"chips={chips}: chip indices must be >= 0")
    counts = Counter(chips)  # (list.count per chip took 63 s for 100000 chips)
    dupes = sorted(c for c, n in counts.items() if n > 1)
    if dupes:
        raise ConfigError(
            f"chips={chips}: chip {', '.join(map(str, dupes))} is listed more "
            "than once (it would be counted twice in the accuracy statistics)",
            hint="list every chip index once",
        )
    return chips


def _design_ranges(plans, folded, config, cache, x_cal, bs, progress, energy) -> dict | None:
    """Ranges calibrated once on the error-free design (``calibration="design"``), or None."""
    if config.calibration != "design" or x_cal is None:
        return None
    # chips without device errors hold the design's conductances: with energy on, its
    # tiles' transfer matrices are computed with their power forms (one elimination)
    noiseless = config.rules_without(("read_noise_sigma",))
    same = config.as_design() == config.replace(
        repeats=1, read_noise_sigma=0.0, layers={r.pattern: r.to_dict() for r in noiseless}
    )
    design = program_chip(plans, folded, config.as_design(), 0, cache, energy=energy and same)
    if callable(getattr(progress, "stage", None)):
        progress.stage(f"design: calibrate ({x_cal.shape[0]} images)")
    design.calibrate(folded, x_cal, bs)
    return design.ranges()


class _ChipRun:
    """The per-chip loop of :func:`evaluate`: program, calibrate, infer; sums the results.

    Everything that does not depend on the chip (plans, target conductances, the
    calibration images and the design's ranges) is given once, not redone per chip;
    ``shared`` keeps the chip-independent work on the test batches (the first layers'
    im2col columns and what is derived from them alone) from the first chip.  When no
    chip draws a random number (:func:`same_on_every_chip`), every chip is the same
    chip: one is simulated (the first, metered when energy is on; it serves the unmetered
    chips too) and the others repeat its results, exactly what simulating them gives.
    """

    def __init__(self, plans, folded, config, cache, noise, energy, bs, x_cal, design_ranges):
        self.plans, self.folded, self.config, self.cache = plans, folded, config, cache
        self.noise, self.energy, self.bs = noise, energy, bs
        self.x_cal, self.design_ranges = x_cal, design_ranges
        self.accuracies: list[float] = []
        self.setup_seconds = 0.0
        self.infer_seconds = 0.0
        self.stats: dict[str, LayerStats] = {}
        self.counts: dict[str, list[int]] = {}
        self.metered: list[tuple[int, dict]] = []  # (chip, its layers' energy tallies)
        self.progress = None
        self.done = self.total = self.n_chips = 0
        self.shared: SharedInputs | None = None
        self.identical = same_on_every_chip(config)
        # energy path -> (chip, network, accuracy) of the chip simulated for it
        self.twins: dict[bool, tuple[int, AnalogNetwork, float]] = {}
        self.simulated = 0  # chips simulated (the others repeat a twin)
        self.n_images = 0
        self.energy_images = 0  # images whose array energy is metered per metered chip

    def start_progress(self, progress, n_chips: int, n_batches: int) -> None:
        """Units per chip: every tile programmed, the calibration pass, every test batch."""
        n_tiles = sum(len(p.specs) for p in self.plans)
        self.progress, self.n_chips = progress, n_chips
        self.units = n_tiles + (1 if self.x_cal is not None else 0) + n_batches  # per chip
        self.total = self.units * n_chips

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def stage(self, k: int, text: str) -> None:
        stage = getattr(self.progress, "stage", None)
        if callable(stage):
            stage(f"chip {k + 1}/{self.n_chips}: {text}")

    def chip(self, k: int, chip: int, x: np.ndarray, y: np.ndarray) -> None:
        """Program, calibrate and evaluate chip ``chip`` (the ``k``-th of the run)."""
        cfg = self.config
        t0 = time.perf_counter()
        self.stage(k, "program" + (" + transfer matrices" if cfg.parasitics else ""))
        # energy on the first energy_chips chips only (0: all); the others take the
        # no-energy path (no power forms, only the used blocks of padded tiles)
        energy = self.energy and (cfg.energy_chips == 0 or k < cfg.energy_chips)
        # a metered twin also serves the unmetered chips (the same reads, tallies unused)
        twin = self.twins.get(energy) or (None if energy else self.twins.get(True))
        if twin is not None:
            self._repeat(k, chip, energy, twin)
            return
        net = program_chip(
            self.plans, self.folded, cfg, chip, self.cache, self.noise, energy, self.tick
        )
        if self.x_cal is not None:
            n = self.x_cal.shape[0]
            if self.design_ranges is not None:
                self.stage(k, f"calibrate ({n} images) = the design's ranges")
                net.set_ranges(self.design_ranges)
            else:
                self.stage(k, f"calibrate ({n} images)")
                net.calibrate(self.folded, self.x_cal, self.bs)
            self.tick()
        self.setup_seconds += time.perf_counter() - t0
        if energy:
            self._sample(net, x.shape[0])
        self.stage(k, "infer")
        t1 = time.perf_counter()
        pred = net.predict(self.folded, x, self.bs, self.tick, self.shared)
        self.infer_seconds += time.perf_counter() - t1
        self.simulated += 1
        self.n_images = x.shape[0]
        accuracy = float(np.mean(pred == y))
        if self.identical:
            self.twins[energy] = (chip, net, accuracy)
        self._count(chip, net, accuracy, energy)

    def _sample(self, net: AnalogNetwork, n_images: int) -> None:
        """Meter the array energy of a metered chip on the configuration's sample of the
        ``n_images`` test images (``energy_images``; every image: nothing to do)."""
        from .energy import image_sample

        sample = image_sample(n_images, self.config.energy_images, self.config.seed)
        self.energy_images = n_images if sample is None else len(sample)
        net.energy_sample = sample
        if sample is not None:
            for al in net.layers.values():
                if al.meter is not None:
                    al.meter.tally.image_joules = np.zeros(len(sample))

    def _count(self, chip: int, net: AnalogNetwork, accuracy: float, energy: bool) -> None:
        """Add one chip's accuracy, layer statistics and (``energy``) tallies."""
        self.accuracies.append(accuracy)
        _accumulate_stats(self.stats, self.counts, net, self.n_images, len(self.accuracies))
        if energy:
            tallies = {n: al.meter.tally for n, al in net.layers.items() if al.meter is not None}
            self.metered.append((chip, tallies))
        logger.debug("chip %d: accuracy %.4f", chip, accuracy)

    def _repeat(self, k: int, chip: int, energy: bool, twin: tuple) -> None:
        """Chip ``chip`` is the same as the simulated ``twin`` (chip, network, accuracy):
        count its results (its energy tallies when ``energy``)."""
        twin, net, accuracy = twin
        self.stage(k, f"the same chip as chip {twin} (no random device errors)")
        for _ in range(self.units):
            self.tick()
        self._count(chip, net, accuracy, energy)

    def result(self, chips, n_images, ideal_accuracy, before, seconds) -> EvaluationResult:
        """The :class:`EvaluationResult` of the chips run (``before``: cache stats at start)."""
        n_ch = len(chips)
        for s in self.stats.values():
            s.input_scale /= n_ch
            s.rel_error /= n_ch
            s.adc_ranges = [r / n_ch for r in s.adc_ranges]
        energy_total, energy_spread, sample = _finish_energy(self.metered, self.stats, n_images)
        acc = np.asarray(self.accuracies)
        ci = mean_ci(acc)
        after = self.cache.stats()
        return EvaluationResult(
            accuracy=float(acc.mean()),
            ideal_accuracy=float(ideal_accuracy),
            accuracies=self.accuracies,
            accuracy_std=float(acc.std()),
            accuracy_min=float(acc.min()),
            chips=chips,
            n_images=int(n_images),
            seconds=seconds,
            setup_seconds=self.setup_seconds,
            per_image_seconds=self.infer_seconds / max(1, n_images * self.simulated),
            layer_stats=list(self.stats.values()),
            cache={
                "hits": after["hits"] - before["hits"],
                "misses": after["misses"] - before["misses"],
                "entries": after["entries"],
                "seconds": after["seconds"] - before["seconds"],
                "forms_seconds": after["forms_seconds"] - before["forms_seconds"],
            },
            config=self.config,
            accuracy_sem=ci.sem,
            accuracy_ci95=[ci.low, ci.high],
            energy=energy_total,
            energy_chips=[c for c, _ in self.metered],
            energy_spread=energy_spread,
            energy_images=self.energy_images if self.metered else 0,
            energy_sample=sample,
        )


def _finish_energy(metered: list, stats: dict[str, LayerStats], images: int) -> tuple:
    """Energy per image over the metered chips ``(chip, {layer: tally})`` into each
    layer's stats; the whole network's per-image dict, its chip-to-chip spread and
    (a sample of images metered) its estimate over images."""
    if not metered:
        return {}, {}, {}
    from .energy import EnergyTally, chip_spread, energy_summary, image_spread

    summed: dict[str, EnergyTally] = {}
    for _, tallies in metered:
        for name, t in tallies.items():
            summed.setdefault(name, EnergyTally()).add(t)
    per_layer, total = energy_summary(summed, images * len(metered))
    spread_layers, spread = chip_spread([t for _, t in metered], images)
    sample_layers, sample = image_spread([t for _, t in metered], images)
    for name, e in per_layer.items():
        stats[name].energy = e
        stats[name].energy_spread = spread_layers.get(name, {})
        stats[name].energy_sample = sample_layers.get(name, {})
    return total, spread, sample


def same_on_every_chip(config: AnalogConfig) -> bool:
    """True when no chip draws a random number, so every chip is the same chip: the
    configuration is its error-free design (:meth:`AnalogConfig.as_design`) but for the
    deterministic drift.

    >>> same_on_every_chip(AnalogConfig(r_row=1.0, repeats=20, drift_time=1e3))
    True
    >>> same_on_every_chip(AnalogConfig(read_noise_sigma=0.01, repeats=20))
    False
    """
    random = (
        "programming_error",
        "programming_sigma",
        "programming_mu",
        "read_noise_sigma",
        "stuck_rate",
    )
    if any(k in random for rule in config.layers for k, _ in rule.changes):
        return False  # (conservative: a rule may draw on the layers it matches)
    plain = config.replace(layers={}) if config.layers else config
    design = plain.as_design().replace(drift_time=config.drift_time)
    return design == plain.replace(repeats=1)


def _accumulate_stats(
    stats: dict[str, LayerStats],
    counts: dict[str, list[int]],
    net: AnalogNetwork,
    n_images: int,
    n_chips: int,
) -> None:
    for name, al in net.layers.items():
        m = al.plan.mapping
        s = stats.get(name)
        if s is None and m is None:  # a digital layer
            n_in, n_out = al.plan.W.shape
            stats[name] = LayerStats(name, n_in, n_out, 0, 0, 0, settings={"digital": True})
            stats[name].sections = list(al.plan.sections)
        if m is None:
            continue
        if s is None:
            s = stats[name] = LayerStats(
                name, m.n_in, m.n_out, len(m.planes), len(al.tiles), m.cells
            )
            s.adc_ranges = [0.0] * (len(m.planes) if al.config.adc_bits else 0)
            if al.plan.setting is not None:
                s.settings = dict(al.plan.setting.changes)
                s.sections = list(al.plan.sections)
            counts[name] = [0, 0, 0, 0]
        s.input_scale += al.input_scale or 0.0
        if al.config.adc_bits:
            s.adc_ranges = [a + r for a, r in zip(s.adc_ranges, al.plane_ranges, strict=True)]
        c = counts[name]
        c[0] += al.clipped
        c[1] += al.conversions
        s.clip_fraction = c[0] / c[1] if (c[1] and al.config.adc_bits) else 0.0
        c[2] += al.input_clipped
        c[3] += al.input_values
        s.input_clip_fraction = c[2] / c[3] if c[3] else 0.0
        s.conversions_per_image = c[1] / max(1, n_images * n_chips)
        s.rel_error += math.sqrt(al.err_num / al.err_den) if al.err_den > 0 else 0.0
        s.cache_hits += al.cache_hits
        s.cache_misses += al.cache_misses
        s.mvm_batches += al.mvm_batches
