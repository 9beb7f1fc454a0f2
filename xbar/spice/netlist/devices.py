"""MOSFET cards, completed when the circuit is made.

A MOSFET card is recorded while reading (its defaults may depend on ``.options``
cards that come later); when the circuit is complete :func:`mosfet_table` turns
the records into the circuit's :class:`~xbar.spice.circuit.Mosfets` table, with
every instance default applied.  The engine makes its devices from that table
(:func:`xbar.spice.mosfet.expand_mosfets`).
"""

from __future__ import annotations

import numpy as np

from ..circuit import Mosfets
from .lexer import EXPECTED, err

__all__ = ["mosfet_table"]

#: ngspice's default MOSFET length and width (options DEFL, DEFW) [m]
DEFAULT_L = 100e-6
DEFAULT_W = 100e-6


def mosfet_table(rows: list[tuple], defaults: dict[str, float]) -> Mosfets:
    """The :class:`~xbar.spice.circuit.Mosfets` of the recorded ``rows``
    ``(name, [d, g, s, b], model, instance parameters, card)``; ``defaults`` holds
    ``.options defl/defw/defad/defas/scale`` (instance L and W are multiplied by SCALE,
    AD and AS by its square, as ngspice does; the defaults are not).  Raises a
    NetlistError at the card of a MOSFET whose ``L - 2*LD``, ``W`` or ``M`` is not
    positive."""
    cols: dict[str, list] = {k: [] for k in ("l", "w", "ad", "as_", "nrd", "nrs", "m", "temp")}
    cols["dtemp"] = []
    s = defaults.get("scale", 1.0)  # .options scale: instance geometry in its units
    for name, _, m, inst, card in rows:
        length = inst["l"] * s if "l" in inst else defaults.get("defl", DEFAULT_L)
        width = inst["w"] * s if "w" in inst else defaults.get("defw", DEFAULT_W)
        mult = inst.get("m", 1.0)
        leff = length - 2 * m.ld
        if not (leff > 0 and width > 0 and mult > 0):
            raise err(
                card,
                None,
                f"MOSFET {name}: L - 2*LD ({leff:g} m), W ({width:g} m) and M "
                f"({mult:g}) must be positive",
                "expected: " + EXPECTED["m"],
            )
        for key, value in (
            ("l", length),
            ("w", width),
            ("ad", inst["ad"] * s * s if "ad" in inst else defaults.get("defad", 0.0)),
            ("as_", inst["as"] * s * s if "as" in inst else defaults.get("defas", 0.0)),
            ("nrd", inst.get("nrd", 1.0)),
            ("nrs", inst.get("nrs", 1.0)),
            ("m", mult),
            ("temp", inst.get("temp", np.nan)),
            ("dtemp", inst.get("dtemp", 0.0)),
        ):
            cols[key].append(value)
    nodes = np.array([r[1] for r in rows], dtype=np.int64).reshape(-1, 4)
    return Mosfets(
        [r[0] for r in rows],
        *nodes.T,
        [r[2] for r in rows],
        **{k: np.array(v, dtype=float) for k, v in cols.items()},
    )
