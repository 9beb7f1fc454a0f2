"""Cell device models: current and its derivative, vectorised over all cells.

Every model describes a *shape* scaled by the cell's small-signal conductance
``G`` [S]: the current through a cell biased at ``v`` [V] is ``i = G * f(v)``
with ``f(0) = 0`` and ``f'(0) = 1`` (so ``G`` is the conductance at 0 V and a
cell of ``G = 0`` is open).  Parameters may be scalars or arrays that broadcast
against the cell array ``(M, N)`` (per-cell parameters).

``current(v, G)`` and ``derivative(v, G)`` take ``v`` of any shape that
broadcasts with ``G`` and the parameters (the solver passes ``(K, M, N)``).

>>> import numpy as np
>>> Sinh(4.0).current(np.array([0.0, 0.25]), 1e-4)
array([0.00000000e+00, 2.93800298e-05])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike

import numpy as np
from numpy.typing import ArrayLike

from ..checks import real_array
from ..errors import ConfigError, ValueRangeError

__all__ = [
    "Device",
    "Linear",
    "Sinh",
    "Exponential",
    "PowerLaw",
    "Tabulated",
    "TableExtrapolation",
]


def _param(name: str, value: ArrayLike, *, positive: bool = True) -> np.ndarray | float:
    arr = real_array(f"device parameter {name!r}", value)
    if not np.all(np.isfinite(arr)):
        raise ValueRangeError(f"device parameter {name!r} must be finite")
    if positive and np.any(arr <= 0):
        raise ValueRangeError(f"device parameter {name!r} must be > 0")
    return float(arr) if arr.ndim == 0 else arr


def _log_limit(
    v_new: np.ndarray, v_old: np.ndarray, vt: float | np.ndarray
) -> tuple[np.ndarray, bool]:
    """Damp large steps logarithmically (SPICE ``pnjlim`` idea), elementwise."""
    dv = v_new - v_old
    big = np.abs(dv) > 2.0 * vt
    if not np.any(big):
        return v_new, False
    with np.errstate(divide="ignore"):  # log(0) where dv = 0: not big, not used
        damped = v_old + np.sign(dv) * 2.0 * vt * (1.0 + np.log(np.abs(dv) / (2.0 * vt)))
    return np.where(big, damped, v_new), True


def _within(v: np.ndarray, k_max: float, bound: float) -> bool:
    """True when ``|k v| <= bound`` for every element of ``v`` and every ``k <= k_max``
    (rounding is monotone: no product rounds above ``k_max * max|v|``); two reductions,
    no temporaries.  False for an empty or non-finite ``v`` (the caller's exact test
    decides then)."""
    if v.size == 0:
        return False
    return bool(k_max * max(np.max(v), -np.min(v)) <= bound)


class Device:
    """Base class of cell models (subclass and implement ``current``/``derivative``).

    Attributes
    ----------
    linear : bool
        True when ``current(v, G) == G * v`` exactly.
    """

    linear = False
    cell_params: tuple[str, ...] = ()

    def current(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:  # pragma: no cover - interface
        """Cell current [A] for voltage ``v`` [V] and small-signal conductance ``G`` [S]."""
        raise NotImplementedError

    def derivative(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:  # pragma: no cover - interface
        """Differential conductance ``di/dv`` [S]."""
        raise NotImplementedError

    def limit(self, v_new: np.ndarray, v_old: np.ndarray) -> tuple[np.ndarray, bool]:
        """Newton step limiting of the device voltage; returns ``(v, limited)``."""
        return v_new, False

    def laws(self, v: np.ndarray, G: ArrayLike, i_out: np.ndarray, g_out: np.ndarray) -> None:
        """``current`` [A] and ``derivative`` [S] at ``v`` [V] together, into ``i_out``
        and ``g_out`` (arrays of ``v``'s shape; they may not overlap ``v``).

        The Newton solver's entry point: one call per step for the whole batch, no
        temporaries the size of the batch where a model overrides it (the values are
        those of ``current`` and ``derivative``).

        >>> i, g = np.empty(2), np.empty(2)
        >>> Sinh(2.0).laws(np.array([0.0, 0.5]), 1e-4, i, g)
        >>> bool(np.allclose(i, Sinh(2.0).current(np.array([0.0, 0.5]), 1e-4)))
        True
        """
        i_out[...] = self.current(v, G)
        g_out[...] = self.derivative(v, G)

    def check_shape(self, shape: tuple[int, int]) -> None:
        """Raise :class:`~xbar.errors.ShapeError` if a parameter does not fit ``shape``."""
        from ..errors import ShapeError

        for name in self.cell_params:
            arr = np.asarray(getattr(self, name))
            if arr.ndim == 0:
                continue
            try:
                np.broadcast_shapes(arr.shape, shape)
            except ValueError:
                raise ShapeError(
                    f"{type(self).__name__} parameter {name!r} has shape {arr.shape}, "
                    f"which does not broadcast to the array shape {shape}"
                ) from None


@dataclass(frozen=True)
class Linear(Device):
    """Ohmic cell: ``i = G v``.

    >>> Linear().current(0.5, 2e-4)
    0.0001
    """

    linear = True

    def current(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G * v

    def derivative(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G + 0.0 * v


@dataclass(frozen=True, eq=False)
class Sinh(Device):
    """The usual RRAM read model ``i = G sinh(k v) / k``.

    Parameters
    ----------
    k : float or array (M, N)
        Nonlinearity [1/V]; ``k -> 0`` is linear.
    """

    k: float | np.ndarray = 3.0
    cell_params = ("k",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", _param("k", self.k))

    def current(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G * np.sinh(self.k * v) / self.k

    def derivative(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G * np.cosh(self.k * v)

    def laws(self, v: np.ndarray, G: ArrayLike, i_out: np.ndarray, g_out: np.ndarray) -> None:
        # the same operations as current() and derivative(), in place: no temporaries
        np.multiply(self.k, v, out=i_out)
        np.cosh(i_out, out=g_out)
        np.sinh(i_out, out=i_out)
        np.multiply(G, i_out, out=i_out)
        np.divide(i_out, self.k, out=i_out)
        np.multiply(G, g_out, out=g_out)

    def limit(self, v_new: np.ndarray, v_old: np.ndarray) -> tuple[np.ndarray, bool]:
        vt = 1.0 / self.k
        if _within(v_new, np.max(self.k), 3.0):  # quick exact test: no cell is far
            return v_new, False
        far = np.abs(self.k * v_new) > 3.0
        if not np.any(far):
            return v_new, False
        lim, hit = _log_limit(v_new, v_old, vt)
        return np.where(far, lim, v_new), bool(hit)


@dataclass(frozen=True, eq=False)
class Exponential(Device):
    """Diode-like (selector) model ``i = G v0 (exp(v / v0) - 1)``.

    This is a SPICE diode with saturation current ``IS = G v0`` and emission
    coefficient ``N = v0 / Vt`` (``Vt = kT/q`` at the netlist temperature).

    Parameters
    ----------
    v0 : float or array (M, N)
        Slope voltage [V] (``n * Vt``; 0.02585 V for an ideal junction at 27 degC).
    """

    v0: float | np.ndarray = 0.025864186
    cell_params = ("v0",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "v0", _param("v0", self.v0))

    def current(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G * self.v0 * np.expm1(v / self.v0)

    def derivative(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G * np.exp(v / self.v0)

    def laws(self, v: np.ndarray, G: ArrayLike, i_out: np.ndarray, g_out: np.ndarray) -> None:
        # the same operations as current() and derivative(), in place: no temporaries
        np.divide(v, self.v0, out=i_out)
        np.exp(i_out, out=g_out)
        np.expm1(i_out, out=i_out)
        np.multiply(np.multiply(G, self.v0), i_out, out=i_out)  # (G v0) expm1, as current()
        np.multiply(G, g_out, out=g_out)

    def limit(self, v_new: np.ndarray, v_old: np.ndarray) -> tuple[np.ndarray, bool]:
        if v_new.size and np.max(v_new) <= 10.0 * np.min(self.v0):  # quick exact test
            return v_new, False
        far = v_new > 10.0 * self.v0
        if not np.any(far):
            return v_new, False
        lim, hit = _log_limit(v_new, v_old, self.v0)
        return np.where(far, lim, v_new), bool(hit)


@dataclass(frozen=True, eq=False)
class PowerLaw(Device):
    """Linear plus odd power law: ``i = G (v + v_ref sign(v) |v / v_ref|^alpha)``.

    Ohmic with conductance ``G`` at small bias, rising as ``|v|^alpha`` above ``v_ref``.

    Parameters
    ----------
    alpha : float or array (M, N)
        Exponent, >= 1.
    v_ref : float or array (M, N)
        Voltage [V] where the power-law term equals the linear one.
    """

    alpha: float | np.ndarray = 3.0
    v_ref: float | np.ndarray = 0.5
    cell_params = ("alpha", "v_ref")

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", _param("alpha", self.alpha))
        object.__setattr__(self, "v_ref", _param("v_ref", self.v_ref))
        if np.any(np.asarray(self.alpha) < 1):
            raise ValueRangeError("PowerLaw exponent 'alpha' must be >= 1")

    def current(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G * (v + self.v_ref * np.sign(v) * np.abs(v / self.v_ref) ** self.alpha)

    def derivative(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G * (1.0 + self.alpha * np.abs(v / self.v_ref) ** (self.alpha - 1.0))


@dataclass(frozen=True)
class TableExtrapolation:
    """Cells of one solve whose voltage left the range of a :class:`Tabulated` I-V table.

    Outside its table the curve is continued linearly with the slope at the table's end
    (as ngspice's B-source ``pwl()`` function does; its ``TABLE`` sources clamp to the
    end value instead, which would give a cell zero differential conductance there).
    The answer is then a property of that continuation, not of the measured device.

    Attributes
    ----------
    element : str
        ``"cell"`` (the device) or ``"selector"``.
    table_range : tuple of float
        First and last voltage of the table [V].
    voltage_range : tuple of float
        Lowest and highest voltage [V] across the element over the cells outside.
    count : int
        Number of (input, row, column) cells outside the table.
    cells : ndarray of int, shape (min(count, 100), 3)
        ``(input k, row i, column j)`` of cells outside, the furthest outside first.
    """

    element: str
    table_range: tuple[float, float]
    voltage_range: tuple[float, float]
    count: int
    cells: np.ndarray = field(repr=False)

    def __str__(self) -> str:
        k, i, j = (int(x) for x in self.cells[0])
        return (
            f"{self.count} {self.element} voltage(s) outside the I-V table "
            f"[{self.table_range[0]:g}, {self.table_range[1]:g}] V (from "
            f"{self.voltage_range[0]:.4g} to {self.voltage_range[1]:.4g} V; furthest: "
            f"input {k}, cell ({i}, {j})): the curve was extrapolated linearly there"
        )


def _table_delimiter(text: str) -> str | None:
    """The column separator of an I-V table, decided from its data lines only.

    ``';'`` (with decimal commas) if a data line has one, else ``','`` if one has that,
    else ``None`` (tabs or spaces).  Data lines start like a number; ``#`` comments and a
    header never decide (a comment ``# V; I`` above whitespace columns is no separator).
    Without such lines the non-comment lines decide.

    >>> _table_delimiter("# V; I\\n0.1 1e-5\\n0.2 2e-5")
    >>> _table_delimiter("v,i\\n0,1;1e-5")
    ';'
    """
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    data = [ln for ln in lines if ln[0] in "0123456789+-."]
    return next((d for d in ";," if any(d in ln for ln in data or lines)), None)


@dataclass(frozen=True, eq=False)
class Tabulated(Device):
    """Measured I-V curve, monotone PCHIP interpolation, linear extrapolation.

    The table is normalised by its slope at 0 V, so a cell carries
    ``i = G * i_table(v) / i_table'(0)``.  Outside the table the curve continues
    linearly with its end slope; every solve reports the cells where that happened
    (:attr:`CrossbarSolution.extrapolated`, a list of :class:`TableExtrapolation`), or,
    with ``outside="error"``, refuses them.

    Parameters
    ----------
    v, i : array (P,)
        Strictly increasing voltages [V] (spanning 0 V) and monotone currents [A].
    outside : {"extrapolate", "error"}
        What a voltage beyond the table does: continue linearly and be reported
        (default), or raise :class:`~xbar.errors.ValueRangeError` naming the cells.
    """

    v: np.ndarray = field(default_factory=lambda: np.array([-1.0, 0.0, 1.0]))
    i: np.ndarray = field(default_factory=lambda: np.array([-1.0, 0.0, 1.0]))
    outside: str = "extrapolate"

    def outside_table(
        self, ve: np.ndarray, scale: np.ndarray, element: str = "cell"
    ) -> TableExtrapolation | None:
        """The cells whose voltage ``ve`` (K, M, N) [V] is beyond the table (cells with
        ``scale`` 0, open, do not count); None when every voltage is inside."""
        lo, hi = float(self.v[0]), float(self.v[-1])
        beyond = np.maximum(lo - ve, ve - hi) * (np.broadcast_to(scale, ve.shape[-2:]) > 0)
        out = beyond > 0
        count = int(out.sum())
        if count == 0:
            return None
        idx = np.argwhere(out)
        order = np.argsort(-beyond[out], kind="stable")[:100]
        vals = ve[out]
        return TableExtrapolation(
            element, (lo, hi), (float(vals.min()), float(vals.max())), count, idx[order]
        )

    def __post_init__(self) -> None:
        from scipy.interpolate import PchipInterpolator

        if self.outside not in ("extrapolate", "error"):
            raise ConfigError(
                f"Tabulated outside={self.outside!r}; expected 'extrapolate' or 'error'"
            )

        v = real_array("Tabulated voltages v", self.v).ravel()
        i = real_array("Tabulated currents i", self.i).ravel()
        if v.shape != i.shape or v.size < 2:
            raise ValueRangeError("Tabulated needs two equal-length columns v, i with >= 2 points")
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(i))):
            raise ValueRangeError("Tabulated I-V table contains NaN or inf")
        if np.any(np.diff(v) <= 0):
            k = int(np.argmax(np.diff(v) <= 0)) + 1
            raise ValueRangeError(f"Tabulated voltages must increase strictly (row {k})")
        if np.any(np.diff(i) < 0):
            k = int(np.argmax(np.diff(i) < 0)) + 1
            raise ValueRangeError(f"Tabulated currents must be monotone increasing (row {k})")
        if not (v[0] <= 0.0 <= v[-1]):
            raise ValueRangeError("Tabulated voltages must span 0 V")
        pchip = PchipInterpolator(v, i, extrapolate=False)
        dpchip = pchip.derivative()
        i0 = float(pchip(0.0))
        g0 = float(dpchip(0.0))
        if not g0 > 0:
            raise ValueRangeError("Tabulated curve has zero slope at 0 V; cannot normalise by G")
        object.__setattr__(self, "v", v)
        object.__setattr__(self, "i", i)
        object.__setattr__(self, "_pchip", pchip)
        object.__setattr__(self, "_dpchip", dpchip)
        object.__setattr__(self, "_i0", i0)
        object.__setattr__(self, "_g0", g0)
        object.__setattr__(self, "_ends", (float(dpchip(v[0])), float(dpchip(v[-1]))))

    @classmethod
    def from_csv(
        cls, path: str | PathLike, *, delimiter: str | None = None, outside: str = "extrapolate"
    ) -> Tabulated:
        """Read a two-column table (voltage [V], current [A]); one header line is skipped.

        Columns are separated by ``;`` (then ``0,1`` is a decimal comma, as spreadsheets
        write it in comma-decimal locales), else by ``,``, else by tabs or spaces (what
        ``numpy.savetxt`` writes), as the data lines show (comments and the header do not
        decide); ``delimiter`` forces one.  ``#`` lines are comments.

        Raises
        ------
        ConfigError
            The file cannot be read, or a line is not two numbers (``file:line``).
        ValueRangeError
            The table is not a valid I-V curve (names the file and line).
        """
        import csv

        rows = []
        lines = []
        from ..checks import path_arg, special_file

        path = path_arg(path, "I-V table")
        if special_file(path):
            raise ConfigError(f"{path}: the I-V table is {special_file(path)}, not a file")
        try:
            with open(path, newline="") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise ConfigError(f"{path}: I-V table file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the I-V table ({exc})") from None
        text = text.removeprefix("\ufeff")
        dialect_delim = delimiter if delimiter is not None else _table_delimiter(text)
        header = None
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                parts = (
                    line.split()
                    if dialect_delim is None
                    else next(csv.reader([line], delimiter=dialect_delim, skipinitialspace=True))
                )
            except csv.Error as exc:
                raise ConfigError(f"{path}:{lineno}: {exc}") from None
            parts = [p for p in parts if p.strip()]
            if dialect_delim == ";":  # spreadsheet CSV of comma-decimal locales: 0,1;1e-5
                parts = [p.replace(",", ".") for p in parts]
            try:
                if len(parts) != 2:
                    raise ValueError(f"{len(parts)} fields")
                rows.append((float(parts[0]), float(parts[1])))
                lines.append(lineno)
            except ValueError:
                if not rows and header is None:  # one header line
                    header = lineno
                    continue
                sep = {None: "tabs or spaces"}.get(dialect_delim, repr(dialect_delim))
                raise ConfigError(
                    f"{path}:{lineno}: expected two numbers 'voltage, current' (separated "
                    f"by {sep}), got {line!r}",
                    hint="a decimal comma needs ';' between the columns"
                    if dialect_delim == "," and line.count(",") > 1
                    else "",
                ) from None
        if not rows:
            raise ConfigError(f"{path}: no I-V data rows (expected lines 'voltage, current')")
        arr = np.array(rows)
        bad = ~np.all(np.isfinite(arr), axis=1)
        if np.any(bad):
            lineno = lines[int(np.argmax(bad))]
            raise ValueRangeError(f"{path}:{lineno}: voltage and current must be finite")
        dv = np.diff(arr[:, 0]) <= 0
        if np.any(dv):
            lineno = lines[int(np.argmax(dv)) + 1]
            raise ValueRangeError(f"{path}:{lineno}: voltages must increase strictly")
        di = np.diff(arr[:, 1]) < 0
        if np.any(di):
            lineno = lines[int(np.argmax(di)) + 1]
            raise ValueRangeError(f"{path}:{lineno}: currents must be monotone increasing")
        try:
            return cls(arr[:, 0], arr[:, 1], outside=outside)
        except ValueRangeError as exc:
            raise ValueRangeError(f"{path}: {exc.message}") from None

    def _raw(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        lo, hi = self.v[0], self.v[-1]
        inside = np.clip(v, lo, hi)
        out = self._pchip(inside)
        out = np.where(v < lo, self.i[0] + self._ends[0] * (v - lo), out)
        out = np.where(v > hi, self.i[-1] + self._ends[1] * (v - hi), out)
        return out - self._i0

    def _draw(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        lo, hi = self.v[0], self.v[-1]
        out = self._dpchip(np.clip(v, lo, hi))
        out = np.where(v < lo, self._ends[0], out)
        return np.where(v > hi, self._ends[1], out)

    def current(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G * self._raw(v) / self._g0

    def derivative(self, v: ArrayLike, G: ArrayLike) -> np.ndarray:
        return G * self._draw(v) / self._g0
