"""The analog hardware configuration of a network evaluation (:class:`AnalogConfig`).

One frozen dataclass holds every choice the evaluator makes: how weights map to
conductances, the array size, the peripherals (DAC, bit-serial inputs, ADC), the
device non-idealities and the array parasitics.  An effect whose field is 0,
``None`` or ``"none"`` is off; :meth:`AnalogConfig.ideal` and
:meth:`AnalogConfig.as_ideal` turn every non-ideality off.

Units are SI: conductances in siemens, resistances in ohms, voltages in volts,
times in seconds.

>>> cfg = AnalogConfig(adc_bits=8, programming_error="state_proportional",
...                    programming_sigma=0.05)
>>> cfg.as_ideal().adc_bits, cfg.as_ideal().programming_error
(0, 'none')
>>> AnalogConfig.from_dict({"adc_bit": 8})
Traceback (most recent call last):
...
xbar.errors.UnknownFieldError: error: unknown configuration field 'adc_bit'
hint: did you mean 'adc_bits'?
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..checks import read_text
from ..errors import ConfigError, InputTypeError, UnknownFieldError, XbarError, show
from .layerwise import GLOBAL_FIELDS, LayerRule, LayerSetting, match_rules, merge_rules, parse_rules

__all__ = ["AnalogConfig", "CHOICES", "LayerRule", "LayerSetting"]

#: Allowed values of the string ("kind") fields.
CHOICES: dict[str, tuple[str, ...]] = {
    "mapping": ("differential", "offset"),
    "offset_subtraction": ("digital", "reference_column"),
    "weight_scaling": ("layer", "column", "column_pow2", "biscale"),
    "input_mode": ("analog", "bit_serial"),
    "adc_range": ("calibrated", "max", "full_scale", "inner"),
    "programming_error": ("none", "state_independent", "state_proportional", "weight_range"),
    "read_noise_kind": ("state_independent", "state_proportional"),
    "device": ("linear", "sinh", "exponential", "power_law", "tabulated"),
    "nonlinear_mode": ("linearized", "exact"),
    "weight_range_rule": ("match_range", "separate_range", "absolute", "folded_layer"),
    "calibration": ("design", "chip"),
    "array_topology": ("crossbar", "input_switched"),
}


@dataclass(frozen=True)
class AnalogConfig:
    """How a network is put on simulated crossbar arrays.

    Parameters
    ----------
    mapping : {"differential", "offset"}
        ``differential``: two cells per weight, one at ``g_min`` and the other at
        ``g_min + |w|`` scaled; the +/- column currents are subtracted in analog
        before the ADC.  ``offset``: one cell per weight holding ``w + offset``.
    offset_subtraction : {"digital", "reference_column"}
        How the offset of ``offset`` mapping is removed: digitally after the ADC,
        or in analog with one reference column per array.
    weight_scaling : {"layer", "column", "column_pow2", "biscale"}
        Proportional scaling: the largest ``|w|`` of the layer (``layer``), of each
        output column (``column``, any real digital gain per column after the ADC) maps
        to ``g_max``; ``column_pow2``: per output column a power-of-two digital gain
        ``2**-k`` of the layer's scale, k in ``0..biscale_shift``, the largest that
        keeps the column's weights in range (an exponent per column: paper 2's analog
        floating point read literally); ``biscale`` stores weights below
        ``biscale_threshold`` times the layer's largest ``|w|`` amplified by
        ``2**biscale_shift`` in their own cells and scales their partial sums down
        digitally.
    biscale_shift : int
        k of the bi-scale split (the two scales differ by ``2**k``); the largest
        exponent of ``column_pow2``.
    biscale_threshold : float
        Fraction of the layer's largest ``|w|`` below which a weight is "small";
        ``biscale_threshold * 2**biscale_shift`` must not exceed 1.
    array_rows, array_cols : int
        Physical array size; layers are tiled onto arrays of this size.
    g_min, g_max : float
        Conductance range [S].
    weight_bits : int
        Weight resolution in bits (signed); 0 keeps weights unquantised (analog).
    weight_slices : int
        Number of bit slices per weight (1 = one cell (pair) per weight).
    input_bits : int
        Input resolution of ``bit_serial`` inputs (one MVM per bit).
    input_mode : {"analog", "bit_serial"}
        Inputs as analog voltages (a DAC of ``dac_bits``) or one bit per step.
    dac_bits : int
        DAC resolution of ``analog`` inputs; 0 = unquantised.  Must be 0 with
        ``bit_serial`` inputs (they use no DAC; a non-zero value is an error).
    adc_bits : int
        ADC resolution per array column (per slice); 0 = no ADC.
    adc_range : {"calibrated", "max", "full_scale", "inner"} or None
        ADC range: a percentile of the calibration currents (``calibrated``), their
        maximum (``max``), the largest possible current (``full_scale``), or
        ``inner``: paper 1's (CrossSim's) inner range, ``[p_lo, p_hi]`` of the signed
        calibration read-outs with ``p_lo = (100 - adc_percentile) / 2`` and ``p_hi =
        100 - p_lo``, quantised to ``2**adc_bits`` levels from ``p_lo`` to ``p_hi``
        (asymmetric; 0 need not be a level; not with ``adc_pow2``).
        ``None`` means ``calibrated`` when the ADC is on; giving a range with
        ``adc_bits = 0`` is an error.
    adc_percentile : float
        Percentile of ``|I|`` that a calibrated range holds (paper 1: 99.98); the range
        is ``[-r, r]`` for signed read-outs and ``[0, r]`` for unsigned ones (xbar's
        reading of the paper's "inner 99.98 %", the same for symmetric read-outs).
    programming_error : {"none", "state_independent", "state_proportional", "weight_range"}
        Kind of programming error drawn once per chip (see :mod:`xbar.network.nonideal`).
    programming_sigma : float
        Its relative sigma (alpha of the papers; sigma of paper 2 for ``weight_range``).
    programming_mu : float
        Paper 2's mean offset mu of ``weight_range`` error (its code's ``mu``, 0 by
        default): every parameter gets ``p' = p + sigma r_p n + mu r_p`` (weights,
        biases and batch-norm affines alike, r_p the parameter tensor's noise scale);
        any finite value, negative too; needs ``programming_error="weight_range"``.
        Cells holding no parameter (reference columns, padding) get no offset.
    programming_clip : bool or "none"
        How programmed conductances are clipped (state_independent and
        state_proportional kinds): true (default) to [g_min, g_max]; false at 0 S
        only (a conductance cannot be negative); ``"none"`` not at all, the Gaussian
        idealisation in which paper 2's sigma = sqrt(2) alpha relation holds exactly
        (refused for arrays solved as circuits, which need G >= 0).  ``weight_range``
        error is never clipped above and clips offset cells at 0 S, except with
        ``"none"`` (then exactly paper 2's digital error on every weight).
    weight_range_rule : {"match_range", "separate_range", "absolute", "folded_layer"}
        Noise scales of ``weight_range`` error: ``match_range`` (default) is paper
        2's released code (merged weight/bias range per layer, biases on their own
        scale, batch-norm's effective affine perturbed as its own layer, folded
        after the perturbation); ``separate_range`` the code's ``match_range=False``
        (the same layers, each tensor on its own half range); ``absolute`` the code's
        ``use_range=False`` (``r = 1``: sigma in the parameters' own units);
        ``folded_layer`` is xbar's earlier convention (half the range of the BN-folded
        weights for weights and biases alike, unfolded batch-norm noise-free).  See
        :mod:`xbar.network.noise`.
    weight_range_fraction : float
        Paper 2's ``noise_range`` variant of the half range of ``weight_range`` error:
        ``R(x)`` over the inner fraction of each tensor's values (1, the default: ``(max
        x - min x) / 2`` over all of them).  With n values and fraction q the bounds are
        the k-th smallest and k-th largest values, ``k = floor(n (1 - q) / 2) + 1`` (the
        paper's code); it applies to ``R(W)``, ``R(b)`` and the merged range alike.  In
        (0, 1]; no effect without ``weight_range`` error.
    read_noise_sigma : float
        Relative sigma of read noise, redrawn for every MVM.
    read_noise_kind : {"state_independent", "state_proportional"}
        Read noise sigma relative to ``g_max`` or to the cell's conductance.
    drift_time : float
        Time since programming [s]; 0 = no drift.  G(t) = G (t / drift_t0)**-drift_nu.
    drift_nu, drift_t0 : float
        Drift exponent and reference time [s].
    stuck_rate : float
        Fraction of cells stuck at g_min or g_max.
    stuck_high_fraction : float
        Fraction of stuck cells stuck at g_max (the rest at g_min).
    r_row, r_col : float
        Wire resistance between neighbouring cells along a row / column [ohm].
    r_driver, r_sense : float
        Resistance of the row drivers / column sense amplifiers [ohm].
    array_topology : {"crossbar", "input_switched"}
        ``input_switched`` (paper 1's parasitics model): each cell's access transistor
        is switched by its row's input bit and a source line parallel to each bit line
        (``r_source`` per segment, held at ``v_read`` through ``r_driver`` at the
        bottom) supplies the current; needs ``bit_serial`` inputs, linear cells and
        ``r_row = 0``.  Every distinct active-row pattern of a tile is solved exactly
        (:mod:`xbar.crossbar.input_switched`) and cached per programmed tile.
    r_source : float
        Source-line wire resistance between neighbouring cells [ohm] (input_switched).
    r_on : float
        On-resistance of the access transistors [ohm] (input_switched; 0 = ideal switch).
    device : {"linear", "sinh", "exponential", "power_law", "tabulated"}
        Cell model, ``I = G f(V)`` with ``G`` the cell's conductance at 0 V
        (:mod:`xbar.crossbar.devices`): ``sinh``: f = sinh(k V) / k with k =
        ``device_k``; ``exponential``: f = v0 (exp(V / v0) - 1) with v0 = ``device_v0``;
        ``power_law``: f = V + v_ref sign(V) |V / v_ref|**alpha (``device_alpha``,
        ``device_v_ref``); ``tabulated``: a measured I-V curve read from
        ``device_table`` (monotone PCHIP interpolation, normalised by its slope at 0 V,
        linear beyond its ends).
    device_k : float
        Nonlinearity of the ``sinh`` cell [1/V].
    device_v0 : float
        Slope voltage of the ``exponential`` cell [V] (n kT/q; 0.02586 V for an ideal
        junction at 27 degC).
    device_alpha : float
        Exponent of the ``power_law`` cell (>= 1).
    device_v_ref : float
        Voltage [V] where the ``power_law`` term equals the linear one.
    device_table : str
        Path of the measured I-V table of a ``tabulated`` cell: two columns, voltage [V]
        and current [A] (:meth:`xbar.crossbar.Tabulated.from_csv`: CSV, ``;``-separated
        with decimal commas, or whitespace-separated; one header line allowed).  A
        relative path in a TOML file is relative to that file's folder.
    v_read : float
        Read voltage of a full-scale input [V].
    nonlinear_mode : {"linearized", "exact"}
        Nonlinear cells with parasitics: cached linearisation plus correction, or an
        exact circuit solve per MVM.
    read_pulse : float
        Duration [s] of one array read: per input vector (``analog``), per input bit
        (``bit_serial``).  The array's energy per read is its exact DC power times this.
    dac_energy : float
        Energy [J] of one DAC conversion (one row of one ``analog`` read; bit-serial
        inputs use 1-bit drivers and no DAC).  Default 0.1 pJ: an assumption, set it for
        your design (see ``docs/energy.md``).
    adc_fom : float
        Walden figure of merit of the ADC [J per conversion step]: one conversion of
        ``adc_bits`` bits costs ``adc_fom * 2**adc_bits``.  Default 10 fJ/conv-step
        (2.56 pJ at 8 bits): a typical published Nyquist ADC in B. Murmann's "ADC
        Performance Survey 1997-2024" (https://github.com/bmurmann/ADC-survey), where
        the best designs reach below 1 fJ/conv-step; see ``docs/energy.md``.
    digital_energy : float
        Energy [J] of one digital shift-and-add of a digitised partial sum.  Default
        0.1 pJ: a 32-bit integer add at 45 nm (M. Horowitz, "Computing's energy problem
        (and what we can do about it)", ISSCC 2014).
    energy_chips : int
        How many of the evaluated chips have their energy metered: the first
        ``energy_chips`` of them (in evaluation order), or every chip with 0 (also
        given as ``"all"``).  Default 1: the energy per image of a design moves by
        well under 1 % from chip to chip (``docs/energy.md``), while metering a chip
        with wire resistance costs its tiles' power forms.  Results name the metered
        chips and, with more than one, the chip-to-chip spread.
    energy_images : int
        How many test images have their *array* energy metered on a metered chip: a
        seeded random sample of that many (not the first ones: data sets may be
        ordered by class), the same on every chip and run, whose mean estimates the
        array energy per image, reported with its 95 % confidence interval over
        images; every image when the test set has no more (or with 0).  DAC, ADC and
        digital energies are counted over every image whatever this is.  Default
        1000: every image of small test sets (the 539 digits); for a large one the
        interval's half-width is about ``1.96 s / sqrt(1000)`` for an image-to-image
        spread ``s`` of the array energy (0.1 % for ResNet-20 on synthetic images,
        0.94 % of CIFAR-10's 10 000 at the digits' 16 %; ``docs/energy.md``).
    seed : int
        Seed of every random draw.
    repeats : int
        Number of independently programmed chips.
    calibration_size : int
        Number of training images used to calibrate input, activation and ADC
        ranges (processed in batches).
    calibration : {"design", "chip"}
        ``design`` (default): ranges are calibrated once on the error-free design
        (no programming error, read noise, stuck cells or drift; mapping,
        quantisation, wires and peripherals as configured) and kept for every
        chip, as a chip is calibrated at design time.  ``chip``: every programmed
        chip is calibrated on its own (with its errors).
    adc_pow2 : bool
        Constrain the calibrated ranges of the bit slices of a weight to differ by
        powers of two (paper 1's option): each slice's range is raised to the
        largest slice range of its group divided by a power of two.
    activation_bits : int
        Quantise every matmul layer's input to this many bits (0 = off): unsigned
        levels ``0..2**B - 1`` for non-negative inputs (after ReLU), signed
        ``-(2**(B-1) - 1)..2**(B-1) - 1`` otherwise, over a range calibrated like
        the ADC's (percentile ``adc_percentile`` of |x|, or the maximum with
        ``adc_range="max"``).
    output_levels : int
        Paper 2's ADC: uniform quantisation of every analog matmul layer's *output*
        (``X W + b``, after any folded batch-norm, before the activation) to this many
        levels (0 = off; any count >= 2, the paper uses 2 to 18), ``lo + k (hi - lo) /
        (L - 1)``, k = 0..L-1, outputs clipped to ``[lo, hi]``.  ``lo`` and ``hi`` are the
        smallest and largest output of the layer on the calibration images (training
        data, ``calibration_size`` of them), per layer, through the calibrated layers
        before it; with ``calibration="design"`` on the error-free design.  Independent of
        ``adc_bits`` (paper 1's per-column ADC of array read-outs).
    pad_tiles : bool
        With wire resistance, simulate a partly used tile as the physical
        ``array_rows`` x ``array_cols`` array: the cells that hold no weight are
        programmed at g_min (with every device error) and load the wires; their
        rows are driven at 0 V.  Unused rows are simulated when the column lines
        have resistance (``r_col``, ``r_sense``), unused columns when the row
        lines have (``r_row``, ``r_driver``); otherwise they cannot change any
        output.
    threads : int
        CPU threads of BLAS and numba during an evaluation (:mod:`xbar.threads`);
        0 = automatic (``XBAR_THREADS`` if set, else one BLAS thread and numba
        threads only for large solves).  Never changes results.
    layers : tuple of LayerRule
        Per-layer settings (:mod:`xbar.network.layerwise`): each rule matches matmul
        layers by name, glob or ``"#N"`` index and overrides any per-layer field for
        them, or keeps them ``digital``.  Given as a table ``{pattern: {field: value}}``
        (TOML sections ``[layers."conv1"]``); rules apply in order, the last one wins.
        Empty (default): every layer uses the fields above.
    """

    mapping: str = "differential"
    offset_subtraction: str = "digital"
    weight_scaling: str = "layer"
    biscale_shift: int = 2
    biscale_threshold: float = 0.25
    array_rows: int = 128
    array_cols: int = 128
    g_min: float = 1e-6
    g_max: float = 1e-4
    weight_bits: int = 0
    weight_slices: int = 1
    input_bits: int = 8
    input_mode: str = "analog"
    dac_bits: int = 0
    adc_bits: int = 0
    adc_range: str | None = None
    adc_percentile: float = 99.98
    programming_error: str = "none"
    programming_sigma: float = 0.0
    programming_mu: float = 0.0
    programming_clip: bool | str = True
    read_noise_sigma: float = 0.0
    read_noise_kind: str = "state_independent"
    drift_time: float = 0.0
    drift_nu: float = 0.05
    drift_t0: float = 1.0
    stuck_rate: float = 0.0
    stuck_high_fraction: float = 0.5
    r_row: float = 0.0
    r_col: float = 0.0
    r_driver: float = 0.0
    r_sense: float = 0.0
    array_topology: str = "crossbar"
    r_source: float = 0.0
    r_on: float = 0.0
    device: str = "linear"
    device_k: float = 4.0
    device_v0: float = 0.025864186
    device_alpha: float = 3.0
    device_v_ref: float = 0.5
    device_table: str = ""
    v_read: float = 0.2
    nonlinear_mode: str = "linearized"
    read_pulse: float = 10e-9
    dac_energy: float = 0.1e-12
    adc_fom: float = 10e-15
    digital_energy: float = 0.1e-12
    energy_chips: int = 1
    energy_images: int = 1000
    seed: int = 0
    repeats: int = 1
    calibration_size: int = 256
    weight_range_rule: str = "match_range"
    weight_range_fraction: float = 1.0
    calibration: str = "design"
    adc_pow2: bool = False
    activation_bits: int = 0
    output_levels: int = 0
    pad_tiles: bool = True
    threads: int = 0
    layers: tuple[LayerRule, ...] = ()

    # ------------------------------------------------------------------ builders
    @classmethod
    def ideal(cls, **overrides: Any) -> AnalogConfig:
        """A configuration with every non-ideality off (``overrides`` applied first)."""
        return cls.from_dict(overrides).as_ideal()

    def as_ideal(self) -> AnalogConfig:
        """This configuration with every non-ideality off.

        Mapping, scaling, array size and the conductance range are kept; weight and
        input quantisation, the ADC, programming error, read noise, drift, stuck
        cells, parasitics and the cell nonlinearity are turned off, and one chip is
        evaluated.  Per-layer rules keep their other fields (and ``digital``).
        """
        return replace(self, **_IDEAL, layers=self.rules_without(_IDEAL))

    def as_design(self) -> AnalogConfig:
        """The error-free design: this configuration without random device errors.

        Programming error, read noise, stuck cells and drift are turned off (in the
        per-layer rules too); mapping, quantisation, peripherals, wires and the cell
        model are kept.  ``calibration="design"`` calibrates ranges on it.
        """
        return replace(self, **_DESIGN, layers=self.rules_without(_DESIGN))

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of all configuration fields, in declaration order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def field_types(cls) -> dict[str, type]:
        """Base Python type (str, int, float or bool) of every scalar field (all but
        ``layers``)."""
        out = {}
        scalar = {"str": str, "int": int, "float": float, "bool": bool}
        for f in fields(cls):
            t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            base = t.split("|")[0].strip()
            if base in scalar:
                out[f.name] = scalar[base]
        return out

    @classmethod
    def layer_field_types(cls) -> dict[str, type]:
        """The fields a per-layer rule may set (every scalar field but the
        whole-network ones of :data:`xbar.network.layerwise.GLOBAL_FIELDS`), with their type."""
        return {k: t for k, t in cls.field_types().items() if k not in GLOBAL_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "") -> AnalogConfig:
        """Build a validated configuration from a mapping of field names to values.

        Parameters
        ----------
        data : dict
            Field name -> value; fields not given keep their defaults.
        source : str, optional
            Where the values came from (named in error messages).

        Raises
        ------
        ConfigError
            For an unknown field (naming the closest known one), a value of the
            wrong type, or an impossible value (see :meth:`validate`).
        """
        if not isinstance(data, dict):
            raise ConfigError(f"configuration must be a table of fields, got {type(data).__name__}")
        names = cls.field_names()
        types = cls.field_types()
        where = f" in {source}" if source else ""
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "layers":
                kwargs[key] = parse_rules(value, cls.layer_field_types(), _coerce, source)
                continue
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
                hint = (
                    f"did you mean {close[0]!r}?" if close else "known fields: " + ", ".join(names)
                )
                raise UnknownFieldError(f"unknown configuration field {key!r}{where}", hint=hint)
            kwargs[key] = _coerce(key, value, types[key], where)
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> AnalogConfig:
        """Read a configuration from a TOML file.

        Fields may be top-level keys, keys of an ``[analog]`` table, or both (the
        two are merged; a field given in both places is an error).  ``overrides``
        (for example from command-line flags) replace values of the file.
        """
        text = read_text(path, "configuration file")
        path = Path(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        if isinstance(data.get("data"), dict):
            data.pop("data")  # data-set options (xbar.network.datasets.DataOptions)
        if isinstance(data.get("analog"), dict):
            table = data.pop("analog")
            both = sorted(set(table) & set(data))
            if both:
                raise ConfigError(
                    f"{path}: field {both[0]!r} is given both at the top level and in the "
                    "[analog] table",
                    hint="give every field once (either place is fine)",
                )
            data = {**data, **table}
        _relative_tables(data, path.parent)
        layers = parse_rules(data.pop("layers", {}), cls.layer_field_types(), _coerce, str(path))
        if "layers" in overrides:  # flags add to the file's rules (same pattern: flags win)
            overrides = dict(overrides)
            extra = parse_rules(overrides.pop("layers"), cls.layer_field_types(), _coerce)
            layers = merge_rules(layers, extra)
        data = {**_without_table(data, overrides), **overrides, "layers": layers}
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a plain dictionary (JSON-serialisable); ``layers`` as the
        table ``{pattern: {field: value}}`` that :meth:`from_dict` reads back."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "layers"}
        out["layers"] = {r.pattern: r.to_dict() for r in self.layers}
        return out

    def replace(self, **changes: Any) -> AnalogConfig:
        """A validated copy with some fields changed (unknown fields raise ConfigError).

        A key ``"PATTERN:FIELD"`` sets ``FIELD`` in the per-layer rule of ``PATTERN``
        (added when the configuration has none), as a sweep over a per-layer field does.

        >>> AnalogConfig().replace(**{"fc*:adc_bits": 6}).to_dict()["layers"]
        {'fc*': {'adc_bits': 6}}
        """
        layer_keys = [k for k in changes if ":" in k]
        data = self.to_dict()
        if layer_keys:
            extra: dict[str, dict[str, Any]] = {}
            for key in layer_keys:
                pattern, name = self.split_layer_field(key)
                extra.setdefault(pattern, {})[name] = changes.pop(key)
            types = self.layer_field_types()
            rules = merge_rules(self.layers, parse_rules(extra, types, _coerce))
            data["layers"] = {r.pattern: r.to_dict() for r in rules}
        return type(self).from_dict({**_without_table(data, changes), **changes})

    @classmethod
    def split_layer_field(cls, key: str) -> tuple[str, str]:
        """``"PATTERN:FIELD"`` as ``(PATTERN, FIELD)``, FIELD checked to be per-layer.

        Raises
        ------
        ConfigError
            Not of that form, or FIELD is global or unknown (naming the section).
        """
        pattern, _, name = key.rpartition(":")
        section = f'[layers."{pattern}"]'
        if not pattern or not name:
            raise ConfigError(f"{key!r}: expected PATTERN:FIELD, e.g. 'fc*:adc_bits'")
        if name in GLOBAL_FIELDS:
            raise ConfigError(f"{section}: {name} applies to the whole network, not to one layer")
        if name not in cls.layer_field_types():
            raise UnknownFieldError(
                f"unknown configuration field {name!r} in {section} ({key!r})",
                hint=_unknown_field_hint(name),
            )
        return pattern, name

    def field_value(self, key: str) -> Any:
        """The value of field ``key``, or for ``"PATTERN:FIELD"`` the value that PATTERN's
        rule gives FIELD (the base value when the rule does not set it).

        >>> AnalogConfig(adc_bits=8).field_value("conv1:adc_bits")
        8
        """
        if ":" not in key:
            return getattr(self, key)
        pattern, name = self.split_layer_field(key)
        for rule in self.layers:
            if rule.pattern == pattern:
                return dict(rule.changes).get(name, getattr(self, name))
        return getattr(self, name)

    # ---------------------------------------------------------------- validation
    @property
    def parasitics(self) -> bool:
        """True when any wire, driver or sense resistance is non-zero."""
        return any(
            r > 0 for r in (self.r_row, self.r_col, self.r_driver, self.r_sense, self.r_source)
        )

    @property
    def nonidealities(self) -> list[str]:
        """Names of the fields whose effect is on; empty when nothing analog is simulated.

        >>> AnalogConfig().nonidealities
        []
        >>> AnalogConfig(adc_bits=8, r_row=1.0).nonidealities
        ['adc_bits', 'r_row']
        """
        ideal = replace(self.as_ideal(), repeats=self.repeats)
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(ideal, f.name)]

    def layer_settings(self, names: Sequence[str]) -> list[LayerSetting]:
        """The effective settings of every matmul layer of a model.

        Parameters
        ----------
        names : sequence of str
            The model's matmul layer names in forward order
            (``[la.name for la in model.matmul_layers()]``).

        Returns
        -------
        list of LayerSetting
            One per layer: its configuration (this one with every matching rule applied,
            validated), whether it is digital, the rules that matched and the fields that
            differ from this configuration.

        Raises
        ------
        ConfigError
            A rule that matches no layer (listing the layers), or a layer whose
            settings do not go together (naming the layer and its sections).

        >>> cfg = AnalogConfig.from_dict({"adc_bits": 8, "layers": {"fc*": {"adc_bits": 10}}})
        >>> [(s.name, s.config.adc_bits, s.changes) for s in cfg.layer_settings(["conv", "fc"])]
        [('conv', 8, {}), ('fc', 10, {'adc_bits': 10})]
        """
        matched = match_rules(self.layers, names)
        out = []
        for i, (name, hits) in enumerate(zip(names, matched, strict=True)):
            sections = tuple(self.layers[k].pattern for k in hits)
            cfg, digital = self.for_sections(sections, name)
            changes: dict[str, Any] = {}
            for k in hits:
                changes.update(self.layers[k].changes)
            diff = {k: v for k, v in changes.items() if getattr(self, k) != v}
            out.append(
                LayerSetting(
                    name, i, cfg, digital, sections, {"digital": True} if digital else diff
                )
            )
        return out

    def for_sections(self, sections: Sequence[str], layer: str = "") -> tuple[AnalogConfig, bool]:
        """This configuration with the rules of the patterns ``sections`` applied (in this
        configuration's rule order; patterns it does not hold are skipped), validated,
        without rules; and whether they make the layer digital.  ``layer`` names the
        layer in errors.

        >>> cfg = AnalogConfig.from_dict({"layers": {"fc": {"r_row": 1.0}}})
        >>> cfg.for_sections(["fc"])[0].r_row, cfg.for_sections([])[0].layers
        (1.0, ())
        """
        if not self.layers:
            return self, False
        changes: dict[str, Any] = {}
        digital = False
        applied = [r for r in self.layers if r.pattern in sections]
        for rule in applied:
            changes.update(rule.changes)
            if rule.digital is not None:
                digital = rule.digital
        if changes.get("device", "tabulated") != "tabulated" and "device_table" not in changes:
            changes["device_table"] = ""  # another law on this layer: no inherited table
        try:
            return replace(self, layers=(), **changes).validate(), digital
        except ConfigError as exc:
            shown = ", ".join(r.section for r in applied)
            exc.add_context(f"layer {layer!r} ({shown})" if layer else shown)
            raise

    def rules_without(self, names: Sequence[str]) -> tuple[LayerRule, ...]:
        """The per-layer rules without their changes of the fields ``names``."""
        return tuple(
            LayerRule(r.pattern, tuple((k, v) for k, v in r.changes if k not in names), r.digital)
            for r in self.layers
        )

    def values_on_layers(self, name: str) -> list[Any]:
        """The values field ``name`` may take on some layer: the base value and every
        per-layer rule's (without a model, which rules match is not known).

        >>> AnalogConfig.from_dict({"layers": {"fc": {"adc_bits": 6}}}).values_on_layers("adc_bits")
        [0, 6]
        """
        out = [getattr(self, name)]
        for rule in self.layers:
            out += [v for k, v in rule.changes if k == name and v not in out]
        return out

    @property
    def random_effects(self) -> list[str]:
        """Fields of the effects that differ from chip to chip (or read to read).

        Without any, every chip of ``repeats`` is the same chip.

        >>> AnalogConfig(programming_error="weight_range", programming_sigma=0.1).random_effects
        ['programming_sigma']
        """
        out = []

        def on(name: str, test: Callable[[Any], bool]) -> bool:
            return any(test(v) for v in self.values_on_layers(name))

        if on("programming_error", lambda v: v != "none") and on(
            "programming_sigma", lambda v: v > 0
        ):
            out.append("programming_sigma")
        if on("read_noise_sigma", lambda v: v > 0):
            out.append("read_noise_sigma")
        if on("stuck_rate", lambda v: v > 0):
            out.append("stuck_rate")
        return out

    @property
    def effective_adc_range(self) -> str | None:
        """The ADC range kind in force (None when the ADC is off)."""
        if self.adc_bits == 0:
            return None
        return self.adc_range or "calibrated"

    def _validate_topology(self, need: Callable[..., None]) -> None:
        isw = self.array_topology == "input_switched"
        for name in ("r_source", "r_on"):
            need(
                isw or getattr(self, name) == 0,
                name,
                "applies to array_topology='input_switched' only",
            )
        if isw:
            need(
                self.input_mode == "bit_serial",
                "array_topology",
                "input-switched arrays take one input bit per read",
                hint="set input_mode='bit_serial'",
            )
            need(
                self.device == "linear",
                "array_topology",
                "needs linear cells",
                hint="set device='linear'",
            )
            need(
                self.r_row == 0,
                "r_row",
                "must be 0 with array_topology='input_switched' "
                "(word lines are transistor gates and carry no current)",
                hint="the source-line resistance is r_source",
            )

    def _validate_device(self, need: Callable[..., None]) -> None:
        """``device_table`` goes with ``device="tabulated"``, and names a readable table."""
        if self.device != "tabulated":
            need(
                self.device_table == "",
                "device_table",
                f"applies to device='tabulated' only (device={self.device!r})",
                hint="set device='tabulated' to use the measured I-V table",
            )
            return
        need(
            self.device_table != "",
            "device",
            "needs the measured I-V table: device_table = 'FILE.csv' (voltage [V], current [A])",
        )
        from .cells import cell_device

        try:
            cell_device(self)  # read and checked once per file (kept)
        except XbarError as exc:
            exc.add_context(f"device_table={self.device_table!r}")
            raise

    def validate(self) -> AnalogConfig:
        """Check every field; raise :class:`ConfigError` naming the first bad one.

        Returns the configuration itself so calls can be chained.
        """
        self.check_fields()

        def need(cond: bool, field: str, msg: str, hint: str = "") -> None:
            if not cond:
                raise ConfigError(f"{field}={show(getattr(self, field))}: {msg}", hint=hint)

        self._validate_topology(need)
        self._validate_device(need)
        need(self.g_min < self.g_max, "g_min", f"must be below g_max={show(self.g_max)}")
        min_cols = (
            2
            if (self.mapping == "differential" or self.offset_subtraction == "reference_column")
            else 1
        )
        need(
            self.array_cols >= min_cols,
            "array_cols",
            f"{self.mapping} mapping needs at least {min_cols} columns per array",
        )
        self._validate_combinations(need)
        return self

    def check_fields(self) -> AnalogConfig:
        """Check each field on its own (type, choices, range), not how fields combine.

        Run when a configuration is made (``AnalogConfig(g_min=-1)`` is refused there);
        :meth:`validate` adds the checks across fields (``g_min < g_max``, ...), which a
        sweep's base configuration may fail on the fields it sweeps.
        """
        self._check_types_and_choices()

        def need(cond: bool, field: str, msg: str, hint: str = "") -> None:
            if not cond:
                raise ConfigError(f"{field}={show(getattr(self, field))}: {msg}", hint=hint)

        for name in (
            "g_min",
            "g_max",
            "programming_sigma",
            "read_noise_sigma",
            "drift_time",
            "drift_nu",
            "drift_t0",
            "stuck_rate",
            "stuck_high_fraction",
            "r_row",
            "r_col",
            "r_driver",
            "r_sense",
            "device_k",
            "v_read",
            "adc_percentile",
            "biscale_threshold",
            "r_source",
            "r_on",
        ):
            v = getattr(self, name)
            need(math.isfinite(v), name, "must be a finite number")
            need(v >= 0, name, "must not be negative")
        need(self.g_max > 0, "g_max", "must be positive")
        need(self.v_read > 0, "v_read", "must be positive")
        need(self.drift_t0 > 0, "drift_t0", "must be positive")
        need(self.stuck_rate <= 1, "stuck_rate", "is a fraction of cells (0 to 1)")
        need(self.stuck_high_fraction <= 1, "stuck_high_fraction", "is a fraction (0 to 1)")
        need(0 < self.adc_percentile <= 100, "adc_percentile", "must be in (0, 100]")
        need(self.device_k > 0, "device_k", "must be positive")
        for name in ("device_v0", "device_alpha", "device_v_ref"):
            v = getattr(self, name)
            need(math.isfinite(v) and v > 0, name, "must be a positive finite number")
        need(
            self.device_alpha >= 1, "device_alpha", "must be at least 1 (a power law I ~ V**alpha)"
        )
        self._check_rules()
        for name in ("read_pulse", "dac_energy", "adc_fom", "digital_energy"):
            v = getattr(self, name)
            need(math.isfinite(v), name, "must be a finite number (an energy model value)")
            need(v >= 0, name, "must not be negative (an energy model value)")
        need(
            self.read_pulse > 0,
            "read_pulse",
            "a read pulse of zero duration reads nothing",
            hint="e.g. read_pulse = 10e-9 (s)",
        )
        need(self.energy_chips >= 0, "energy_chips", "must be 0 (every chip) or more")
        need(self.energy_images >= 0, "energy_images", "must be 0 (every image) or more")
        for name in ("array_rows", "array_cols", "repeats", "calibration_size"):
            need(getattr(self, name) >= 1, name, "must be at least 1")
        need(self.seed >= 0, "seed", "must not be negative")
        need(self.threads >= 0, "threads", "must not be negative (0 = automatic)")
        need(self.weight_bits >= 0, "weight_bits", "must not be negative (0 = analog weights)")
        need(self.weight_bits <= 32, "weight_bits", "at most 32 bits are supported")
        need(self.weight_slices >= 1, "weight_slices", "must be at least 1")
        need(self.input_bits >= 1, "input_bits", "must be at least 1")
        need(self.input_bits <= 32, "input_bits", "at most 32 bits are supported")
        need(self.dac_bits >= 0, "dac_bits", "must not be negative (0 = unquantised)")
        need(self.dac_bits <= 32, "dac_bits", "at most 32 bits are supported")
        need(0 <= self.activation_bits <= 32, "activation_bits", "must be between 0 (off) and 32")
        self._check_paper2_fields(need)
        need(self.adc_bits >= 0, "adc_bits", "must not be negative (0 = no ADC)")
        need(self.adc_bits <= 32, "adc_bits", "at most 32 bits are supported")
        need(1 <= self.biscale_shift <= 16, "biscale_shift", "must be between 1 and 16")
        return self

    def _check_paper2_fields(self, need: Callable[..., None]) -> None:
        """``programming_mu``, ``weight_range_fraction`` and ``output_levels`` on their own."""
        need(math.isfinite(self.programming_mu), "programming_mu", "must be a finite number")
        need(
            0 < self.weight_range_fraction <= 1,
            "weight_range_fraction",
            "is the inner fraction of a tensor's values that its half range spans: in (0, 1]",
        )
        need(
            self.output_levels == 0 or 2 <= self.output_levels <= 2**32,
            "output_levels",
            "must be 0 (off) or a level count from 2 to 2**32",
            hint="paper 2 uses 2 to 18 levels",
        )

    def _check_rules(self) -> None:
        """Every per-layer rule's values are valid fields on their own (the checks across
        fields run per layer, :meth:`layer_settings`); errors name the rule's section."""
        if not self.layers:
            return
        base = replace(self, layers=())
        for rule in self.layers:
            if rule.changes:
                try:
                    replace(base, **dict(rule.changes))
                except ConfigError as exc:
                    exc.add_context(rule.section)
                    raise

    def _check_types_and_choices(self) -> None:
        """Each number field holds a number of its type (coerced in place: 4.0 -> 4),
        each choice field one of its choices; ``layers`` checked rules."""
        if self.layers != ():
            rules = parse_rules(self.layers, self.layer_field_types(), _coerce)
            object.__setattr__(self, "layers", rules)
        types = self.field_types()
        for name, typ in types.items():
            value = getattr(self, name)
            if name == "energy_chips" and isinstance(value, str):
                pass  # "all" (coerced below), else an error naming the field there
            elif typ in (int, float) and (
                isinstance(value, bool | str) or not isinstance(value, numbers.Real)
            ):
                if not (value is None and name == "adc_range"):
                    raise ConfigError(
                        f"{name}={show(value)}: expected "
                        + ("an integer" if typ is int else "a real number")
                        + f", got {type(value).__name__}"
                    )
            coerced = _coerce(name, value, typ, "")
            if coerced is not value:
                object.__setattr__(self, name, coerced)  # 4.0 -> 4, numpy scalars -> Python
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value is None and name == "adc_range":
                continue
            if value not in allowed:
                close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}?" if close else "one of: " + ", ".join(allowed)
                raise ConfigError(f"{name}={show(value)} is not a known {name}", hint=hint)

    def _validate_combinations(self, need: Callable[..., None]) -> None:
        """The checks of :meth:`validate` that involve more than one field."""
        if self.weight_slices > 1:
            need(
                self.weight_bits > 0,
                "weight_slices",
                "bit slicing needs quantised weights",
                hint="set weight_bits (e.g. 8)",
            )
            cell_bits = self.cell_bits_total
            need(
                cell_bits >= self.weight_slices,
                "weight_slices",
                f"more slices than the {cell_bits} magnitude bits of a weight",
            )
        need(
            self.weight_bits != 1,
            "weight_bits",
            "signed weights need at least 2 bits (a sign and a magnitude bit)",
        )
        if self.input_mode == "bit_serial" and self.dac_bits > 0:
            raise ConfigError(
                f"dac_bits={show(self.dac_bits)} conflicts with input_mode='bit_serial': "
                "bit-serial inputs apply one bit per step and use no DAC",
                hint="set the resolution of bit-serial inputs with input_bits, or use "
                "input_mode='analog' with dac_bits",
            )
        need(
            self.activation_bits != 1,
            "activation_bits",
            "at least 2 bits (signed activations need a sign and a magnitude bit)",
        )
        if self.adc_range == "inner" and self.adc_pow2:
            raise ConfigError(
                "adc_pow2=true needs ranges symmetric about 0 (or from 0), but "
                "adc_range='inner' calibrates asymmetric ones",
                hint="use adc_range='calibrated' with adc_pow2, or drop adc_pow2",
            )
        if self.adc_bits == 0 and self.adc_range is not None:
            raise ConfigError(
                f"adc_bits=0 (no ADC) but adc_range={self.adc_range!r} is set",
                hint="give adc_bits >= 1, or drop adc_range to run without an ADC",
            )
        if self.programming_error == "none" and self.programming_sigma > 0:
            raise ConfigError(
                f"programming_sigma={show(self.programming_sigma)} but programming_error='none'",
                hint="choose programming_error: state_independent, state_proportional "
                "or weight_range",
            )
        if self.programming_mu != 0 and self.programming_error != "weight_range":
            raise ConfigError(
                f"programming_mu={show(self.programming_mu)} is paper 2's mean offset of "
                f"weight_range error, but programming_error={self.programming_error!r}",
                hint="set programming_error='weight_range', or programming_mu=0",
            )
        if self.weight_scaling == "biscale":
            need(0 < self.biscale_threshold <= 1, "biscale_threshold", "must be in (0, 1]")
            need(
                self.biscale_threshold * 2**self.biscale_shift <= 1 + 1e-12,
                "biscale_threshold",
                f"amplified small weights would exceed the range: threshold x 2**"
                f"{self.biscale_shift} > 1",
                hint=f"use biscale_threshold <= {2.0**-self.biscale_shift}",
            )
        return self

    @property
    def cell_bits_total(self) -> int:
        """Magnitude bits stored in cells: weight_bits - 1 (differential) or weight_bits."""
        if self.weight_bits == 0:
            return 0
        return self.weight_bits - 1 if self.mapping == "differential" else self.weight_bits


#: The fields :meth:`AnalogConfig.as_ideal` sets (every non-ideality off).
_IDEAL: dict[str, Any] = {
    "weight_bits": 0,
    "weight_slices": 1,
    "input_mode": "analog",
    "dac_bits": 0,
    "adc_bits": 0,
    "adc_range": None,
    "programming_error": "none",
    "programming_sigma": 0.0,
    "read_noise_sigma": 0.0,
    "drift_time": 0.0,
    "stuck_rate": 0.0,
    "r_row": 0.0,
    "r_col": 0.0,
    "r_driver": 0.0,
    "r_sense": 0.0,
    "array_topology": "crossbar",
    "r_source": 0.0,
    "r_on": 0.0,
    "device": "linear",
    "device_table": "",
    "activation_bits": 0,
    "output_levels": 0,
    "programming_mu": 0.0,
    "repeats": 1,
}

#: The fields :meth:`AnalogConfig.as_design` sets (no random device errors, no drift).
_DESIGN: dict[str, Any] = {
    "programming_error": "none",
    "programming_sigma": 0.0,
    "programming_mu": 0.0,
    "read_noise_sigma": 0.0,
    "stuck_rate": 0.0,
    "drift_time": 0.0,
    "repeats": 1,
}


def _without_table(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``data`` without its ``device_table`` where ``changes`` switch to another cell law
    and give no table (``--device linear`` over a tabulated file), as a layer section does."""
    if changes.get("device", "tabulated") != "tabulated" and "device_table" not in changes:
        return {k: v for k, v in data.items() if k != "device_table"}
    return data


def _relative_tables(data: dict[str, Any], folder: Path) -> None:
    """Make the relative ``device_table`` paths of a TOML file's fields (top level and
    per-layer sections) relative to the file's ``folder``, in place."""
    layers = data.get("layers")
    tables = [data] + (
        [t for t in layers.values() if isinstance(t, dict)] if isinstance(layers, dict) else []
    )
    for table in tables:
        value = table.get("device_table")
        if isinstance(value, str) and value and not Path(value).is_absolute():
            table["device_table"] = str(folder / value)


def _unknown_field_hint(key: Any) -> str:
    names = AnalogConfig.field_names()
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else "known fields: " + ", ".join(names)


_dataclass_init = AnalogConfig.__init__


def _checked_init(self, *args: Any, **kwargs: Any) -> None:
    """The dataclass ``__init__``, with unknown or surplus fields as xbar errors."""
    names = AnalogConfig.field_names()
    if len(args) > len(names):
        raise InputTypeError(
            f"AnalogConfig takes at most {len(names)} positional fields, got {len(args)}",
            hint="pass fields by name: adc_bits=8",
        )
    for key in kwargs:
        if key not in names:
            raise UnknownFieldError(
                f"unknown configuration field {key!r}", hint=_unknown_field_hint(key)
            )
    given = names[: len(args)]
    both = [n for n in given if n in kwargs]
    if both:
        raise InputTypeError(
            f"AnalogConfig field {both[0]!r} given twice (by position and by name)"
        )
    _dataclass_init(self, *args, **kwargs)
    self.check_fields()


_checked_init = functools.wraps(_dataclass_init)(_checked_init)
AnalogConfig.__init__ = _checked_init  # type: ignore[method-assign]


def _coerce(name: str, value: Any, typ: type, where: str) -> Any:
    """Check (and gently convert) one field value to its declared type."""
    if value is None:
        if name == "adc_range":
            return None
        raise ConfigError(f"{name}{where}: a value is required")
    if name == "programming_clip" and isinstance(value, str) and value.strip().lower() == "none":
        return "none"  # no clip at all (the idealisation)
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        extra = " or 'none'" if name == "programming_clip" else ""
        raise ConfigError(f"{name}={show(value)}{where}: expected true or false{extra}")
    if name == "energy_chips" and isinstance(value, str):
        if value.strip().lower() == "all":
            return 0  # every chip
        if not value.strip().isdigit():
            raise ConfigError(f"{name}={show(value)}{where}: expected a number of chips or 'all'")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name}={show(value)}{where}: expected an integer")
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{name}={show(value)}{where}: expected an integer")
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"{name}={show(value)}{where}: expected a number")
        if isinstance(value, numbers.Real):
            return float(value) + 0.0  # (+ 0.0: a -0 given is the plain 0)
        if isinstance(value, str):
            try:
                return float(value) + 0.0
            except ValueError:
                pass
        raise ConfigError(f"{name}={show(value)}{where}: expected a number")
    if not isinstance(value, str):
        raise ConfigError(f"{name}={show(value)}{where}: expected a string")
    return value
