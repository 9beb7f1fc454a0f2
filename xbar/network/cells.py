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

__all__ = ["cell_device", "cell_function"]


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
