"""Figures of crossbar solutions: node voltages, IR drop, cell currents, output error.

Every function accepts either a :class:`~xbar.crossbar.CrossbarSolution`
solved with ``return_nodes=True`` (``f(sol, path)``) or a
:class:`~xbar.crossbar.Crossbar` plus inputs ``V`` (``f(xb, V, path)``,
solved here), draws into a new figure or the given ``fig`` / ``ax``,
saves to ``path`` when given, and returns the figure.
Figures are built with matplotlib's object API (no pyplot, no display
needed, never shown) and are sized and labelled for papers.

>>> import numpy as np, xbar
>>> xb = xbar.Crossbar(np.full((8, 6), 1e-4), r_row=2.0, r_col=2.0)
>>> fig = xbar.plot.plot_ir_drop(xb, np.full(8, 0.3))
>>> fig.axes[0].get_title()
'IR drop of cell voltage, input 0'
"""

from __future__ import annotations

import numpy as np

from .checks import real_array
from .errors import ConfigError

__all__ = [
    "plot_voltages",
    "plot_ir_drop",
    "plot_cell_currents",
    "plot_output_error",
    "overview",
    "check_path",
    "save_figure",
    "output_error",
]


def output_error(output, ideal) -> np.ndarray:
    """Output error relative to the full-scale ideal output of the same input (a fraction).

    ``(output - ideal) / max_j |ideal[k, j]|`` for every input ``k`` and column ``j``: the
    one normalisation used by :func:`plot_output_error` and ``xbar crossbar``'s summary (it
    stays finite for columns whose ideal current is near zero).  An input whose ideal outputs
    are all zero is normalised by 1 A.

    >>> output_error([[0.9, 2.2]], [[1.0, 2.0]]).round(3).tolist()
    [[-0.05, 0.1]]
    """
    output = np.atleast_2d(np.asarray(output, dtype=float))
    ideal = np.atleast_2d(np.asarray(ideal, dtype=float))
    scale = np.abs(ideal).max(axis=1, keepdims=True)
    return (output - ideal) / np.where(scale > 0, scale, 1.0)


def _figure(fig=None, ncols=1, size=(4.2, 3.4)):
    if fig is not None:
        return fig
    from matplotlib.figure import Figure

    return Figure(figsize=(size[0] * ncols, size[1]), layout="constrained")


def _solution(obj, V, k):
    from .crossbar import Crossbar, CrossbarSolution

    if isinstance(obj, Crossbar):
        if V is None:
            raise ConfigError("plotting a Crossbar needs input voltages V")
        return obj, obj.solve(V, return_nodes=True)
    if isinstance(obj, CrossbarSolution):
        if obj.row_voltages is None:
            raise ConfigError("this plot needs a solution from solve(V, return_nodes=True)")
        return None, obj
    raise ConfigError(f"expected a Crossbar or CrossbarSolution, got {type(obj).__name__}")


def _pv(path, V):
    """Accept ``(obj, path, V=...)`` and ``(obj, V, path)`` call forms."""
    import os

    if path is not None and not isinstance(path, (str, os.PathLike)):
        path, V = V, path
    return path, V


def _check_k(sol, k):
    if not 0 <= k < sol.output.shape[0]:
        raise ConfigError(f"input index k={k} out of range (batch of {sol.output.shape[0]})")


def _heat(fig, ax, data, title, label, cmap="viridis"):
    im = ax.imshow(data, aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("column j")
    ax.set_ylabel("row i")
    cb = fig.colorbar(im, ax=ax)
    cb.set_label(label)
    return im


def check_path(path) -> None:
    """Raise :class:`~xbar.errors.ConfigError` unless a figure can be saved at ``path``.

    Checks that the parent folder exists and is writable and that matplotlib
    knows the file type (from the suffix; none means PNG).  Call it before a
    long computation whose figure goes to ``path``.
    """
    import os
    from pathlib import Path

    from matplotlib.backend_bases import FigureCanvasBase

    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(
            f"cannot save the figure to {path}: folder {parent} does not exist",
            hint="create the folder or choose another path",
        )
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot save the figure to {path}: folder {parent} is not writable")
    if p.is_dir():
        raise ConfigError(f"cannot save the figure to {path}: it is a folder")
    from .checks import special_file

    if special_file(p):  # writing would replace /dev/full or /dev/null with an image file
        raise ConfigError(
            f"cannot save the figure to {path}: it is {special_file(p)}, not a file",
            hint="give a file name such as figure.png",
        )
    suffix = p.suffix.lstrip(".").lower()
    types = FigureCanvasBase.get_supported_filetypes()
    if suffix and suffix not in types:
        raise ConfigError(
            f"cannot save the figure to {path}: unknown image type {suffix!r}",
            hint="use one of " + ", ".join(sorted(types)),
        )


def save_figure(fig, path, dpi: int = 200) -> None:
    """Save the matplotlib figure ``fig`` to ``path`` (type from the suffix; none is PNG).

    The image is written to a temporary file beside ``path`` and renamed onto it, so
    that a failed write (a full disk) leaves no partial image and an older image at
    ``path`` stays intact.

    Raises
    ------
    ConfigError
        ``path`` cannot be written (see :func:`check_path`) or the write failed,
        naming the path and the reason.
    """
    import contextlib
    import os
    from pathlib import Path

    check_path(path)
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        fig.savefig(tmp, dpi=dpi, format=p.suffix.lstrip(".").lower() or "png")
        os.replace(tmp, p)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise ConfigError(f"cannot save the figure to {path}: {exc.strerror or exc}") from None


def _save(fig, path):
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_voltages(obj, path=None, V=None, *, k: int = 0, fig=None, ax=None):
    """Heatmaps of the row-wire and column-wire node voltages [V] of input ``k``."""
    path, V = _pv(path, V)
    _, sol = _solution(obj, V, k)
    _check_k(sol, k)
    fig = _figure(fig if ax is None else ax[0].figure, ncols=2)
    axes = ax if ax is not None else fig.subplots(1, 2)
    _heat(fig, axes[0], sol.row_voltages[k], f"row (word-line) voltage, input {k}", "voltage [V]")
    _heat(fig, axes[1], sol.col_voltages[k], f"column (bit-line) voltage, input {k}", "voltage [V]")
    return _save(fig, path)


def plot_ir_drop(obj, path=None, V=None, *, k: int = 0, fig=None, ax=None):
    """Heatmap of the lost cell voltage ``V_in[i] - (V_row - V_col)`` [V] of input ``k``."""
    path, V = _pv(path, V)
    _, sol = _solution(obj, V, k)
    _check_k(sol, k)
    fig = _figure(fig if ax is None else ax.figure)
    ax = ax if ax is not None else fig.subplots()
    drop = sol.inputs[k][:, None] - (sol.row_voltages[k] - sol.col_voltages[k])
    _heat(fig, ax, drop, f"IR drop of cell voltage, input {k}", "voltage drop [V]", "magma")
    return _save(fig, path)


def plot_cell_currents(obj, path=None, V=None, *, k: int = 0, fig=None, ax=None):
    """Heatmap of the cell currents [A] (row node to column node) of input ``k``."""
    path, V = _pv(path, V)
    _, sol = _solution(obj, V, k)
    _check_k(sol, k)
    fig = _figure(fig if ax is None else ax.figure)
    ax = ax if ax is not None else fig.subplots()
    _heat(fig, ax, sol.cell_currents[k], f"cell current, input {k}", "current [A]", "cividis")
    return _save(fig, path)


def plot_output_error(xb, V, path=None, *, fig=None, ax=None):
    """Error of each column current versus the ideal product ``V @ G`` [%].

    Relative to the largest ideal column current of the same input (:func:`output_error`,
    the normalisation of ``xbar crossbar``'s summary).  One line per input (up to 8 drawn),
    columns on the x axis.
    """
    V = np.atleast_2d(real_array("V (input voltages [V])", V))
    sol = xb.solve(V)
    rel = output_error(sol.output, V @ np.asarray(xb.G)) * 100.0
    fig = _figure(fig if ax is None else ax.figure, size=(5.0, 3.4))
    ax = ax if ax is not None else fig.subplots()
    cols = np.arange(xb.N)
    for k in range(min(8, rel.shape[0])):
        ax.plot(cols, rel[k], marker="." if xb.N <= 64 else None, lw=1, label=f"input {k}")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("column j")
    ax.set_ylabel("output error vs ideal V·G\n[% of largest ideal output]")
    ax.set_title(f"{xb.M}x{xb.N} array, {type(xb.device).__name__} cells")
    if rel.shape[0] > 1:
        ax.legend(fontsize="small")
    return _save(fig, path)


def overview(xb, V, path=None, *, k: int = 0):
    """Four panels: row voltages, IR drop, cell currents and output error (input ``k``)."""
    from matplotlib.figure import Figure

    V = np.atleast_2d(real_array("V (input voltages [V])", V))
    sol = xb.solve(V, return_nodes=True)
    fig = Figure(figsize=(9.5, 7.0), layout="constrained")
    axes = fig.subplots(2, 2)
    _heat(fig, axes[0, 0], sol.row_voltages[k], "row voltage", "voltage [V]")
    drop = sol.inputs[k][:, None] - (sol.row_voltages[k] - sol.col_voltages[k])
    _heat(fig, axes[0, 1], drop, "IR drop of cell voltage", "voltage drop [V]", "magma")
    _heat(fig, axes[1, 0], sol.cell_currents[k], "cell current", "current [A]", "cividis")
    plot_output_error(xb, V[k : k + 1], fig=fig, ax=axes[1, 1])
    return _save(fig, path)
