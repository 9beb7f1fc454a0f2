"""The cell model of a network configuration as an :class:`xbar.crossbar.Device`.

:func:`cell_device` turns the ``device`` fields of an
:class:`~xbar.network.AnalogConfig` (or any object with those attributes) into the
device model that :class:`xbar.Crossbar` solves with, so the network's tiles and an
exact crossbar solve use the same cell law.  A measured table (``device="tabulated"``)
is read once per file and kept while the file is unchanged.

>>> from types import SimpleNamespace
>>> cfg = SimpleNamespace(device="power_law", device_alpha=3.0, device_v_ref=0.5)
>>> cell_device(cfg)
PowerLaw(alpha=3.0, v_ref=0.5)
>>> float(cell_function(cfg)(1.0))  # f(v) = v + v_ref (v / v_ref)**alpha
5.0
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

__all__ = [
    "attenuation_nodes",
    "cell_device",
    "cell_function",
    "chebyshev_nodes",
    "lagrange_weights",
    "remainder_function",
]


@functools.lru_cache(maxsize=16)
def _table(path: str, stamp: tuple[int, int]):
    """The :class:`~xbar.crossbar.Tabulated` device of ``path`` (``stamp``: its
    modification time and size, so an edited file is read again)."""
    from ..crossbar import Tabulated

    return Tabulated.from_csv(path)


def cell_device(config: Any):
    """The :class:`xbar.crossbar.Device` of ``config.device`` and its parameters.

    Parameters
    ----------
    config : AnalogConfig or an object with the same ``device*`` attributes
        ``device`` one of linear, sinh (``device_k`` [1/V]), exponential (``device_v0``
        [V]), power_law (``device_alpha``, ``device_v_ref`` [V]) or tabulated
        (``device_table``, the path of a two-column voltage [V], current [A] table).

    Raises
    ------
    ConfigError, ValueRangeError
        The table cannot be read or is not a monotone I-V curve through 0 V (the
        message names the file and line).
    """
    from ..crossbar import Exponential, Linear, PowerLaw, Sinh

    kind = config.device
    if kind == "linear":
        return Linear()
    if kind == "sinh":
        return Sinh(config.device_k)
    if kind == "exponential":
        return Exponential(config.device_v0)
    if kind == "power_law":
        return PowerLaw(config.device_alpha, config.device_v_ref)
    if kind == "tabulated":
        path = os.path.abspath(config.device_table)
        try:
            st = os.stat(path)
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = (0, 0)  # from_csv names the problem
        return _table(path, stamp)
    from ..errors import ConfigError

    raise ConfigError(f"device={kind!r} is not a known cell model")


def remainder_function(config: Any, v_range: tuple[float, float] | None = None):
    """``r(v) = f(v) - v``: the nonlinear part of ``config``'s normalised cell law (the
    part the linearised tiles add to the small-signal array); None for linear cells.

    ``v_range``: ``(lo, hi)`` [V] that every argument will lie in.  A measured table is
    then evaluated from 2**14 + 1 samples of the range by linear interpolation (3.5x faster
    than its PCHIP; the table is a piecewise cubic, so the samples hold it to about 1e-10
    of its largest value over 0.2 V); analytic laws are evaluated as they are.
    """
    f = cell_function(config)
    if f is None:
        return None

    def r(v):
        return f(v) - v

    if config.device == "tabulated" and v_range is not None and v_range[1] > v_range[0]:
        return _sampled(r, *v_range)
    return r


def _sampled(g, lo: float, hi: float, n: int = 1 << 14):
    """``g`` on ``[lo, hi]`` by linear interpolation of ``n + 1`` uniform samples
    (arguments outside are clamped to the ends)."""
    values = g(np.linspace(lo, hi, n + 1))
    scale = n / (hi - lo)

    def fast(v):
        u = (np.asarray(v, dtype=float) - lo) * scale
        np.clip(u, 0.0, n, out=u)
        k = np.minimum(u.astype(np.intp), n - 1)
        u -= k
        out = values[k]
        out += u * (values[k + 1] - out)
        return out

    return fast


def cell_function(config: Any):
    """The normalised cell law ``f(v)`` (I = G f(v), f(0) = 0, f'(0) = 1) of
    ``config``'s cell, vectorised; None for linear cells."""
    if config.device == "linear":
        return None
    device = cell_device(config)

    def f(v: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # the read's check names inf
            return np.asarray(device.current(v, 1.0), dtype=float)

    return f


#: most interpolation nodes in the attenuation that :func:`attenuation_nodes` tries
MAX_NODES = 48


def chebyshev_nodes(a_lo: float, count: int) -> np.ndarray:
    """``count`` Chebyshev extreme points on ``[a_lo, 1]``, from 1 down (1 and ``a_lo``
    are nodes; one node: ``[1.0]``)."""
    if count == 1:
        return np.ones(1)
    t = np.cos(np.pi * np.arange(count) / (count - 1))
    return 0.5 * (1.0 + a_lo) + 0.5 * (1.0 - a_lo) * t


def lagrange_weights(nodes: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The Lagrange basis polynomials of ``nodes`` (Chebyshev extreme points) at ``a``:
    ``(len(nodes), *a.shape)``, ``sum_m L[m] g(nodes[m])`` interpolates ``g`` at ``a``
    (barycentric formula; exact at the nodes).

    >>> L = lagrange_weights(chebyshev_nodes(0.5, 3), np.array([0.6, 1.0]))
    >>> bool(np.allclose(L.sum(axis=0), 1.0)), L[:, 1].tolist()
    (True, [1.0, 0.0, 0.0])
    """
    a = np.asarray(a, dtype=float)
    M = nodes.size
    if M == 1:
        return np.ones((1, *a.shape))
    w = (-1.0) ** np.arange(M)
    w[0] *= 0.5
    w[-1] *= 0.5
    d = a[None, ...] - nodes.reshape((M,) + (1,) * a.ndim)
    hit = d == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = w.reshape((M,) + (1,) * a.ndim) / d
        L = terms / terms.sum(axis=0)
    exact = hit.any(axis=0)
    if exact.any():
        L[:, exact] = hit[:, exact].astype(float)
    return L


def attenuation_nodes(
    g, a_lo: float, v_lo: float, v_hi: float, rel: float = 1e-6, what: str = "cell law"
) -> np.ndarray:
    """The fewest Chebyshev nodes in the attenuation ``a`` on ``[a_lo, 1]`` with which
    ``g(a v)`` interpolated in ``a`` is within ``rel`` of ``max |g|`` for every ``a`` in
    ``[a_lo, 1]`` and ``v`` in ``[v_lo, v_hi]`` [V] (checked on a 129 x 65 grid).

    Raises
    ------
    ValueRangeError
        When ``g`` is not finite on the range, or :data:`MAX_NODES` nodes do not reach
        ``rel`` (the hint names ``nonlinear_mode='exact'``).
    """
    from ..errors import ValueRangeError

    if a_lo >= 1.0 or v_lo == v_hi:
        return np.ones(1)
    a = np.linspace(a_lo, 1.0, 129)
    v = np.linspace(v_lo, v_hi, 65)
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite law is named below
        exact = g(a[:, None] * v[None, :])
    scale = float(np.max(np.abs(exact)))
    if not np.all(np.isfinite(exact)):
        raise ValueRangeError(
            f"the {what} is not finite for cell voltages in [{v_lo:.4g}, {v_hi:.4g}] V",
            hint="use physical device parameters, or a smaller v_read",
        )
    if scale == 0.0:
        return np.ones(1)
    count = 2
    while True:
        nodes = chebyshev_nodes(a_lo, count)
        approx = np.einsum("ma,mv->av", lagrange_weights(nodes, a), g(nodes[:, None] * v))
        if np.max(np.abs(approx - exact)) <= rel * scale:
            return nodes
        if count >= MAX_NODES:
            raise ValueRangeError(
                f"the {what} cannot be interpolated in the cell attenuation (down to "
                f"{a_lo:.3g}) within {rel:g} with {MAX_NODES} nodes for nonlinear_mode="
                "'linearized'",
                hint="use nonlinear_mode='exact' (a circuit solve per read)",
            )
        count = min(MAX_NODES, count + max(2, count // 2))
