"""Export a :class:`~xbar.crossbar.Crossbar` as a SPICE netlist (xbar and ngspice run it).

Node names: row node ``(i, j)`` is ``r<i>_<j>``, column node ``c<i>_<j>``.
Sources (their branch currents are the array's terminal currents):

* ``vin<i>_<e>`` -- the input (or bias) source of row ``i`` at end ``e``
  (``l``eft / ``r``ight);
* ``vsense<j>_<e>`` -- the sense (or bias) source of column ``j`` at end ``e``
  (``t``op / ``b``ottom); its branch current, positive into the + terminal,
  is the column current flowing out of the array (:func:`outputs_from_currents`).

Zero resistances become 0 V sources (exact; no tiny resistors).  Cells are
``R`` (linear), ``B`` current sources (``Sinh``, ``PowerLaw``) or diodes with a
``.model`` and an area factor (``Exponential``: ``IS = v0``, ``N = v0 / Vt``,
area ``G``).  ``.options`` asks for tight tolerances and ``gmin = 1e-20`` S, so
the junctions carry exactly the model current (ngspice puts gmin across each).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .devices import Exponential, Linear, PowerLaw, Sinh
from .system import source_voltages

__all__ = ["to_netlist", "outputs_from_currents", "sense_sources"]

# kT/q at 27 degC [V] with ngspice's constants (CODATA 2014, as ngspice and xbar's engine use)
_VT27 = 1.38064852e-23 * (27.0 + 273.15) / 1.6021766208e-19


def _num(x: float) -> str:
    return repr(float(x))


def _cell_param(value, i, j):
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else float(np.broadcast_to(arr, arr.shape)[i, j])


def sense_sources(xb) -> list[tuple[str, int]]:
    """``(source name, column)`` of every sensed column end, in netlist order."""
    st = xb.setup()
    out = []
    for j in range(xb.N):
        for e, tag in ((0, "t"), (1, "b")):
            if st.cols.end_src[j, e] >= 0 and st.sensed[j, e]:
                out.append((f"vsense{j}_{tag}", j))
    return out


def outputs_from_currents(xb, currents) -> np.ndarray:
    """Column currents (N,) [A] from a ``{source name: branch current}`` mapping.

    Works with :attr:`xbar.spice.ngspice.SpiceResult.currents` (arrays are reduced
    to their first element) and with a callable ``name -> current``.
    """
    out = np.zeros(xb.N)
    for name, j in sense_sources(xb):
        val = currents(name) if callable(currents) else currents[name]
        out[j] += float(np.ravel(val)[0])
    return out


def to_netlist(xb, path=None, V=None, *, title: str | None = None) -> str:
    """Write the crossbar as a SPICE netlist with one ``.op`` analysis.

    Parameters
    ----------
    xb : Crossbar
    path : str or Path, optional
        Where to write the netlist; the text is returned either way.
    V : array (M,), optional
        Input voltages [V] (default 0 V).
    title : str, optional
        First line of the netlist.

    Returns
    -------
    str
        The netlist text.
    """
    from ..checks import output_path, real_array

    M, N = xb.M, xb.N
    V = np.zeros(M) if V is None else real_array("to_netlist: V", V)
    if path is not None:
        output_path(path, "netlist")
    if V.shape != (M,):
        from ..errors import ShapeError

        raise ShapeError(f"to_netlist: V has shape {V.shape}; expected ({M},)")
    st = xb.setup()
    Vs = source_voltages(st, V[None, :])[0]
    raw_r, raw_c = st.row_segments, st.col_segments
    r_drv, r_sns = st.r_driver, st.r_sense
    lines = [title or f"* xbar crossbar {M}x{N} ({type(xb.device).__name__} cells)"]
    models: dict[tuple, str] = {}
    count = [0]

    def res(name, a, b, r):
        if r == 0:
            lines.append(f"V{name} {a} {b} DC 0")
        else:
            lines.append(f"R{name} {a} {b} {_num(r)}")

    # rows
    for i in range(M):
        for s in range(1, N):
            res(f"r{i}_{s}", f"r{i}_{s - 1}", f"r{i}_{s}", raw_r[i, s])
        for e, tag, s, nd in ((0, "l", 0, 0), (1, "r", N, N - 1)):
            src = st.rows.end_src[i, e]
            if src < 0:
                continue
            lines.append(f"Vin{i}_{tag} in{i}_{tag} 0 DC {_num(Vs[src])}")
            res(f"drv{i}_{tag}", f"in{i}_{tag}", f"rm{i}_{tag}", float(r_drv[i]))
            res(f"re{i}_{tag}", f"rm{i}_{tag}", f"r{i}_{nd}", raw_r[i, s])
    # columns
    for j in range(N):
        for s in range(1, M):
            res(f"c{j}_{s}", f"c{s - 1}_{j}", f"c{s}_{j}", raw_c[j, s])
        for e, tag, s, nd in ((0, "t", 0, 0), (1, "b", M, M - 1)):
            src = st.cols.end_src[j, e]
            if src < 0:
                continue
            lines.append(f"Vsense{j}_{tag} sn{j}_{tag} 0 DC {_num(Vs[src])}")
            res(f"sns{j}_{tag}", f"cm{j}_{tag}", f"sn{j}_{tag}", float(r_sns[j]))
            res(f"ce{j}_{tag}", f"c{nd}_{j}", f"cm{j}_{tag}", raw_c[j, s])
    # cells
    G = xb.G
    r_acc = np.broadcast_to(xb.r_access, (M, N))
    chain = [(xb.device, G)]
    if xb.selector is not None:
        chain.append((xb.selector, np.broadcast_to(xb.g_selector, (M, N))))
    for i in range(M):
        for j in range(N):
            if G[i, j] == 0:
                continue
            last = f"r{i}_{j}"
            for e, (model, gs) in enumerate(chain):
                end = e == len(chain) - 1 and r_acc[i, j] == 0
                nxt = f"c{i}_{j}" if end else f"x{i}_{j}_{e}"
                lines.append(_element(f"{i}_{j}_{e}", last, nxt, model, float(gs[i, j]), i, j,
                                      models, count))
                last = nxt
            if r_acc[i, j] > 0:
                lines.append(f"Racc{i}_{j} {last} c{i}_{j} {_num(r_acc[i, j])}")
    for (v0,), name in models.items():
        lines.append(f".model {name} D(IS={_num(v0)} N={_num(v0 / _VT27)})")
    # tight tolerances, and a negligible gmin so the diodes carry exactly the model current
    lines.append(".options reltol=1e-10 abstol=1e-18 vntol=1e-14 gmin=1e-20")
    lines.append(".op")
    lines.append(".end")
    text = "\n".join(lines) + "\n"
    if path is not None:
        with open(path, "w") as fh:
            fh.write(text)
    return text


def _element(tag, a, b, model, g, i, j, models, count) -> str:
    if isinstance(model, Linear):
        return f"Rcell{tag} {a} {b} {_num(1.0 / g)}"
    if isinstance(model, Sinh):
        k = _cell_param(model.k, i, j)
        return f"Bcell{tag} {a} {b} I={_num(g / k)}*sinh({_num(k)}*V({a},{b}))"
    if isinstance(model, PowerLaw):
        al = _cell_param(model.alpha, i, j)
        vr = _cell_param(model.v_ref, i, j)
        v = f"V({a},{b})"
        return (f"Bcell{tag} {a} {b} I={_num(g)}*({v}+{_num(vr)}*pwr({v}/{_num(vr)},{_num(al)}))")
    if isinstance(model, Exponential):
        v0 = _cell_param(model.v0, i, j)
        key = (v0,)
        if key not in models:
            models[key] = f"dsel{len(models)}"
        return f"Dcell{tag} {a} {b} {models[key]} area={_num(g)}"
    raise ConfigError(
        f"to_netlist: no exact SPICE form for {type(model).__name__} cells",
        hint="Linear, Sinh, PowerLaw and Exponential models can be exported",
    )
