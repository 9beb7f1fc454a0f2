"""Figures of a sweep: mean accuracy versus the first field, one curve per second-field value."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ConfigError
from .grid import format_value
from .table import SweepTable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_sweep"]

_LABELS = {
    "programming_sigma": r"programming error $\sigma$",
    "read_noise_sigma": r"read noise $\sigma$",
    "adc_bits": "ADC resolution (bits)",
    "dac_bits": "DAC resolution (bits)",
    "input_bits": "input bits",
    "weight_bits": "weight bits",
    "weight_slices": "weight slices",
    "r_row": r"row wire resistance per cell ($\Omega$)",
    "r_col": r"column wire resistance per cell ($\Omega$)",
    "r_driver": r"driver resistance ($\Omega$)",
    "r_sense": r"sense resistance ($\Omega$)",
    "array_rows": "array rows",
    "array_cols": "array columns",
    "drift_time": "drift time (s)",
    "stuck_rate": "stuck-cell rate",
    "g_min": "G_min (S)",
    "g_max": "G_max (S)",
}


def _null_locator():
    from matplotlib.ticker import NullLocator

    return NullLocator()


def _format_x_axis(ax, xs: np.ndarray, xs_raw, numeric: bool, integer: bool, xscale: str) -> None:
    """Ticks and scale of the x axis: categorical, integer ticks, or a numeric scale."""
    if not numeric:
        # categorical (mapping, adc_range, booleans...): one evenly spaced slot per value
        ax.set_xticks(xs, [format_value(v) for v in xs_raw])
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.xaxis.set_minor_locator(_null_locator())
    elif integer:
        if xscale != "linear":
            if xscale == "symlog":
                positive = xs[xs > 0]
                ax.set_xscale("symlog", linthresh=float(positive.min()) if positive.size else 1.0)
            else:
                ax.set_xscale(xscale)
        ax.set_xticks(xs, [str(int(v)) for v in xs])
        ax.xaxis.set_minor_locator(_null_locator())
    elif xscale == "symlog":
        positive = xs[xs > 0]
        lin = float(positive.min()) if positive.size else 1.0
        ax.set_xscale("symlog", linthresh=lin)
        ax.set_xticks(xs, [f"{v:g}" for v in xs])
        if xs.min() >= 0:
            ax.set_xlim(left=-0.1 * lin)
    elif xscale != "linear":
        ax.set_xscale(xscale)


def _energy_axis(ax, table: SweepTable, xs: np.ndarray, order: np.ndarray) -> None:
    """Mean energy per image [nJ] on a twin log axis, dashed, one curve per second value."""
    second = table.values[1] if len(table.fields) > 1 else (None,)
    markers = "osD^v<>ph*"
    e = table.energy_mean
    if not np.any(np.isfinite(e)):
        raise ConfigError(
            "this sweep has no energies to plot (its CSV predates them, or "
            "the evaluator reported none)",
            hint="rerun it into a new --out",
        )
    ax2 = ax.twinx()
    for j, v2 in enumerate(second):
        label = "energy per image" if v2 is None else f"energy, {table.fields[1]} = {v2}"
        ax2.plot(
            xs[order],
            1e9 * e[order, j],
            ls="--",
            marker=markers[j % len(markers)],
            ms=3,
            lw=1.2,
            color=f"C{j}",
            alpha=0.8,
            label=label,
        )
    ax2.set_yscale("log")
    ax2.set_ylabel("energy per image (nJ, dashed)")
    ax2.legend(fontsize=8, frameon=False, loc="lower right")


def _draw_curves(ax, table: SweepTable, xs: np.ndarray, order: np.ndarray, band: str) -> None:
    """One mean-accuracy curve (with its band) per value of the second field."""
    second = table.values[1] if len(table.fields) > 1 else (None,)
    mean, std, lo, hi = table.mean, table.std, table.min, table.max
    markers = "osD^v<>ph*"
    for j, v2 in enumerate(second):
        m = 100 * mean[order, j]
        label = None if v2 is None else f"{table.fields[1]} = {v2}"
        (line,) = ax.plot(xs[order], m, marker=markers[j % len(markers)], ms=4, lw=1.6, label=label)
        if band == "std":
            s = 100 * std[order, j]
            ax.fill_between(xs[order], m - s, m + s, color=line.get_color(), alpha=0.18, lw=0)
        elif band == "ci":
            from ..stats import mean_ci

            cis = [mean_ci(table.accuracies[i, j]) for i in order]
            ax.fill_between(
                xs[order],
                [100 * c.low for c in cis],
                [100 * c.high for c in cis],
                color=line.get_color(),
                alpha=0.18,
                lw=0,
            )
        elif band == "minmax":
            ax.fill_between(
                xs[order],
                100 * lo[order, j],
                100 * hi[order, j],
                color=line.get_color(),
                alpha=0.18,
                lw=0,
            )


def plot_sweep(
    table: SweepTable,
    path: str | os.PathLike | None = None,
    *,
    band: str = "std",
    title: str | None = None,
    digital: float | None = None,
    xscale: str = "linear",
    ax: Axes | None = None,
    energy: bool = False,
) -> Figure:
    """Plot mean accuracy versus the first swept field, one curve per value of the second.

    Parameters
    ----------
    table : SweepTable
        From :func:`sweep` or :func:`read_sweep`.
    path : str or path, optional
        Save the figure here (PNG, PDF, SVG by suffix).
    band : {"std", "ci", "minmax", "none"}
        Shaded band around the mean: +/- one standard deviation over chips, the 95 %
        confidence interval of the mean over chips (Student t), or the
        min-max range over chips.
    title : str, optional
        Figure title.
    digital : float, optional
        Digital (ideal) accuracy, drawn as a dashed reference line.
    xscale : {"linear", "log", "symlog"}
        Scale of the x axis (``symlog`` keeps a zero value visible on a log-like axis).
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    energy : bool
        Also draw the mean energy per image (nJ, log scale, dashed, right axis) next to
        the accuracy; needs a table with energies.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(table, SweepTable):
        raise ConfigError(
            f"plot_sweep needs a SweepTable (from sweep or read_sweep), got {type(table).__name__}"
        )
    if band not in ("std", "ci", "minmax", "none"):
        raise ConfigError(f"band must be 'std', 'ci', 'minmax' or 'none', got {band!r}")
    if path is not None:
        from ...plot import check_path

        check_path(path)  # a missing folder or an unknown suffix, before drawing
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.2, 3.6), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    xs_raw = table.values[0]
    numeric = all(
        isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_)
        for v in xs_raw
    )
    # an integer field (adc_bits, array_rows...) gets ticks at its swept values only
    integer = numeric and all(isinstance(v, int | np.integer) for v in xs_raw)
    xs = np.asarray(xs_raw, dtype=float) if numeric else np.arange(len(xs_raw), dtype=float)
    order = np.argsort(xs, kind="stable")
    _draw_curves(ax, table, xs, order, band)
    if digital is not None:
        ax.axhline(100 * digital, color="0.4", ls="--", lw=1, label="digital")
    if energy:
        _energy_axis(ax, table, xs, order)
    _format_x_axis(ax, xs, xs_raw, numeric, integer, xscale)
    ax.set_xlabel(_LABELS.get(table.fields[0], table.fields[0].replace("_", " ")))
    band_text = {
        "std": r" ($\pm$1 std over chips)",
        "ci": " (95% CI of the mean)",
        "minmax": " (min-max over chips)",
        "none": "",
    }[band]
    if table.chips > 1:
        ax.set_ylabel(f"test accuracy (%)\nmean of {table.chips} chips{band_text}")
    else:
        ax.set_ylabel("test accuracy (%)")
    ax.grid(True, alpha=0.3)
    if len(table.fields) > 1 or digital is not None:
        ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    if path is not None:
        from ...plot import save_figure

        save_figure(fig, path, dpi=150)
    return fig
