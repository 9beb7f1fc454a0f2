"""Power and energy cases: the array power split against ngspice, the cached forms.

* ``ngspice_power_*``: the validation suite's own netlist of a crossbar (not xbar's
  exporter), solved by ngspice with ``.save`` of every element's current and power
  (``@r[i]``, ``@r[p]``, ``@b[i]``, ``@d[id]``).  References: the power the sources
  deliver, ``sum(-V_s I_s)`` over ngspice's source branch currents, and every part of
  the split from ngspice's elements: ``@r[p]`` of each wire and cell resistor,
  ``I^2 R`` of the wire and driver/sense shares of the combined end resistors (the
  netlist joins ``r_driver + r_row`` and ``r_col + r_sense`` in one resistor), and
  ``I x V`` for the nonlinear elements (B sources, diodes).  Compared with
  ``xbar.Crossbar.solve(V).power``; errors are relative to the supplied power.
* ``power_forms_*``: the cached quadratic forms of a linear array against exact solves
  of random inputs (round-off), and the network's linearised sinh energy against exact
  solves (the documented linearisation error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cases_ngspice import (
    LINEAR_TOL,
    LINEAR_WHY,
    NONLINEAR_TOL,
    NONLINEAR_WHY,
    SOLVE_TOL,
    crossbar_netlist,
)
from .framework import Case, CaseResult, CaseSkipped, Check, add_case, case, rel_error

PARTS = ("cells", "selectors", "access", "row_wires", "col_wires", "drivers", "sense")


@dataclass(frozen=True)
class PowerSpec:
    """One ngspice power case."""

    m: int
    n: int
    r_wire: float
    r_driver: float
    r_sense: float
    device: str
    seed: int
    r_access: float = 0.0

    @property
    def name(self) -> str:
        dev = "1t1r" if self.r_access else self.device
        return f"ngspice_power_{self.m}x{self.n}_{dev}_r{self.r_wire:g}"


def _save_cards(spec: PowerSpec) -> str:
    m, n = spec.m, spec.n
    vec = [f"@rdrv{i}[i]" for i in range(m)] + [f"@rsns{j}[i]" for j in range(n)]
    vec += [f"@rrow{i}_{j}[p]" for i in range(m) for j in range(1, n)]
    vec += [f"@rcol{i}_{j}[p]" for j in range(n) for i in range(1, m)]
    cells = [(i, j) for i in range(m) for j in range(n)]
    if spec.device in ("linear", "1s1r"):
        vec += [f"@rcell{i}_{j}[i]" for i, j in cells]
    if spec.device == "1s1r":
        vec += [f"@dsel{i}_{j}[id]" for i, j in cells]
    if spec.device == "sinh":
        vec += [f"@bcell{i}_{j}[i]" for i, j in cells]
    if spec.device == "exp":
        vec += [f"@dcell{i}_{j}[id]" for i, j in cells]
    lines, line = [], ".save all"
    for v in vec:
        if len(line) > 200:
            lines.append(line)
            line = "+"
        line += " " + v
    lines.append(line)
    return "\n".join(lines)


def _spice_power(spec: PowerSpec, res, G, V) -> dict[str, float]:
    """Every part of the split from ngspice's element currents and powers [W]."""
    m, n = spec.m, spec.n
    v = {k: float(np.ravel(x)[0]) for k, x in res.voltages.items()}
    i = {k: float(np.ravel(x)[0]) for k, x in res.currents.items()}

    def cur(name):  # element current vectors appear as i(@x[i]) or i(@x[id])
        return i[name]

    i_drv = np.array([cur(f"@rdrv{r}[i]") for r in range(m)])
    i_sns = np.array([cur(f"@rsns{c}[i]") for c in range(n)])
    out = dict.fromkeys(PARTS, 0.0)
    out["supplied"] = float(sum(-V[r] * i[f"vin{r}"] for r in range(m)))
    out["row_wires"] = sum(v[f"@rrow{r}_{c}[p]"] for r in range(m) for c in range(1, n))
    out["row_wires"] += float(np.sum(i_drv**2) * spec.r_wire)
    out["drivers"] = float(np.sum(i_drv**2) * spec.r_driver)
    out["col_wires"] = sum(v[f"@rcol{r}_{c}[p]"] for c in range(n) for r in range(1, m))
    out["col_wires"] += float(np.sum(i_sns**2) * spec.r_wire)
    out["sense"] = float(np.sum(i_sns**2) * spec.r_sense)
    for r in range(m):
        for c in range(n):
            vcell = v[f"r{r}_{c}"] - v[f"c{r}_{c}"]
            if spec.device == "linear":
                ic = cur(f"@rcell{r}_{c}[i]")
                out["cells"] += ic * ic / G[r, c]
                out["access"] += ic * ic * spec.r_access
            elif spec.device == "1s1r":
                ic = cur(f"@rcell{r}_{c}[i]")
                out["cells"] += ic * ic / G[r, c]
                out["selectors"] += cur(f"@dsel{r}_{c}[id]") * (v[f"m{r}_{c}"] - v[f"c{r}_{c}"])
            elif spec.device == "sinh":
                out["cells"] += cur(f"@bcell{r}_{c}[i]") * vcell
            else:
                out["cells"] += cur(f"@dcell{r}_{c}[id]") * vcell
    return out


def _run_power(spec: PowerSpec) -> CaseResult:
    import xbar

    from ..spice.circuit import Options
    from ..spice.ngspice import ngspice_available, run_ngspice

    if not ngspice_available():
        raise CaseSkipped("ngspice not found (install it: apt-get install -y ngspice)")
    rng = np.random.default_rng(spec.seed)
    m, n = spec.m, spec.n
    k, v0, g_sel = 3.0, 0.05, 1e-6
    if spec.device == "exp":
        G, V = rng.uniform(1e-7, 1e-6, (m, n)), rng.uniform(0.2, 0.5, m)
    elif spec.device == "1s1r":
        G, V = rng.uniform(1e-5, 1e-4, (m, n)), rng.uniform(0.0, 1.5, m)
    else:
        G, V = rng.uniform(1e-5, 1e-4, (m, n)), rng.uniform(0.3, 1.0, m)
    kw = dict(r_row=spec.r_wire, r_col=spec.r_wire, r_driver=spec.r_driver, r_sense=spec.r_sense)
    text = crossbar_netlist(
        G, V, device=spec.device, k=k, v0=v0, g_selector=g_sel, r_access=spec.r_access, **kw
    )
    text = text.replace("\n.op\n", "\n" + _save_cards(spec) + "\n.op\n")
    ref = _spice_power(spec, run_ngspice(text), G, V)
    device = {
        "linear": xbar.Linear(),
        "1s1r": xbar.Linear(),
        "sinh": xbar.Sinh(k),
        "exp": xbar.Exponential(v0),
    }[spec.device]
    extra = {}
    if spec.device == "1s1r":
        extra = dict(selector=xbar.Exponential(v0), g_selector=g_sel)
    if spec.r_access:
        extra["r_access"] = spec.r_access
    xb = xbar.Crossbar(
        G,
        device=device,
        **kw,
        **extra,
        options=Options(reltol=1e-10, abstol=1e-18, vntol=1e-14, gmin=1e-20),
    )
    p = xb.solve(V, tol=SOLVE_TOL).power
    scale = abs(ref["supplied"])
    errs = {"supplied": abs(float(p.supplied[0]) - ref["supplied"]) / scale}
    details = {}
    for part in PARTS:
        errs[part] = abs(float(getattr(p, part)[0]) - ref[part]) / scale
        details[f"{part}_fraction"] = ref[part] / scale
    errs["xbar_balance"] = p.balance_error
    details["ngspice_balance"] = abs(sum(ref[q] for q in PARTS) - ref["supplied"]) / scale
    return CaseResult.of(errs, details=details)


POWER_MATRIX = [
    PowerSpec(8, 6, 5.0, 50.0, 30.0, "linear", 51),
    PowerSpec(12, 10, 1.0, 10.0, 10.0, "linear", 52),
    PowerSpec(8, 8, 2.0, 20.0, 20.0, "linear", 53, r_access=5000.0),
    PowerSpec(8, 8, 2.0, 20.0, 20.0, "sinh", 54),
    PowerSpec(6, 6, 1.0, 10.0, 10.0, "exp", 55),
    PowerSpec(6, 5, 2.0, 10.0, 10.0, "1s1r", 56),
]


def _register():
    for spec in POWER_MATRIX:
        linear = spec.device == "linear"
        cells = {
            "linear": "linear",
            "sinh": "sinh (k = 3 /V)",
            "exp": "exponential (diode)",
            "1s1r": "1S1R (linear cell + exponential selector)",
        }[spec.device]
        if spec.r_access:
            cells = f"1T1R (linear cell + {spec.r_access:g} ohm access)"
        add_case(
            Case(
                name=spec.name,
                kind="ngspice",
                description=(
                    f"Power of a random {spec.m} x {spec.n} crossbar of {cells} cells (wires "
                    f"{spec.r_wire:g} ohm, driver {spec.r_driver:g} ohm, sense {spec.r_sense:g} "
                    "ohm) from xbar.Crossbar.solve(V).power against ngspice's operating point of "
                    "the same netlist: the supplied power (sum of -V I over ngspice's sources) "
                    "and every part of the split (cells, selectors, access, row and column "
                    "wires, drivers, sense) from ngspice's element currents and powers "
                    "(@r[p], I^2 R, I x V for B sources and diodes). Errors relative to the "
                    "supplied power."
                ),
                reference="ngspice element powers",
                tolerance=LINEAR_TOL if linear else NONLINEAR_TOL,
                why=LINEAR_WHY if linear else NONLINEAR_WHY,
                func=lambda spec=spec: _run_power(spec),
            )
        )


_register()


@case(
    name="power_forms_linear_exact",
    kind="analytic",
    description=(
        "The cached quadratic forms of a linear array's power (Crossbar.power_forms: one "
        "direct block elimination of the M unit inputs, P_c(V) = V^T Q_c V per part) "
        "against exact solves of 6 random inputs (CG to a 1e-13 residual), for a 32 x 24 "
        "array with wires, drivers and sense resistors and for a 1T1R array in the "
        "both-ends topology (iterative path); and a batch's summed power through its Gram "
        "matrix. Errors relative to the supplied power."
    ),
    reference="exact solves",
    tolerance=1e-10,
    why=(
        "two exact linear computations of the same quadratic quantity: round-off of the "
        "direct elimination and the CG residual 1e-13, amplified by the conditioning of "
        "the wire-dominated parts; observed ~1e-13"
    ),
)
def power_forms_linear() -> CaseResult:
    import xbar

    rng = np.random.default_rng(61)
    errs = {}
    arrays = {
        "default_32x24": xbar.Crossbar(rng.uniform(1e-6, 1e-4, (32, 24)), 2.5, 2.5, 10.0, 10.0),
        "1t1r_both_ends_16x12": xbar.Crossbar(
            rng.uniform(1e-6, 1e-4, (16, 12)),
            np.full((16, 13), 2.0),
            np.full((17, 12), 2.0),
            5.0,
            5.0,
            drive="both",
            sense="both",
            r_access=2000.0,
        ),
        "ideal_rows_20x8": xbar.Crossbar(rng.uniform(1e-6, 1e-4, (20, 8)), 0.0, 3.0, 10.0),
    }
    for name, xb in arrays.items():
        V = rng.uniform(0, 0.3, (6, xb.M))
        exact = xb.solve(V, tol=1e-13).power
        forms = xb.power_forms()
        got = forms.power(V)
        scale = float(exact.supplied.max())
        errs[name] = max(
            float(np.max(np.abs(getattr(got, q) - getattr(exact, q)))) / scale
            for q in PARTS + ("supplied",)
        )
        summed = forms.batch_energy(V.T @ V)
        errs[name + "_gram"] = abs(summed["supplied"] - float(exact.supplied.sum())) / float(
            exact.supplied.sum()
        )
    return CaseResult.of(errs)


@case(
    name="power_forms_sinh_linearized",
    kind="analytic",
    description=(
        "The network's array energy for sinh cells (k = 2 and 4 /V, read voltages up to "
        "0.2 V, 2.5 ohm wires, 10 ohm drivers and sense, a 64 x 20 tile of conductances in "
        "[1e-6, 1e-4] S): power forms of the small-signal array plus the cells' excess "
        "power at their attenuated voltages (xbar.network.energy) against exact Newton "
        "solves of the same 40 inputs. The error is the documented linearisation error, "
        "not round-off; the scheme must also beat ignoring the nonlinearity."
    ),
    reference="exact solves",
    tolerance=0.04,
    why=(
        "the scheme takes each cell's voltage as its own row's attenuated input and "
        "leaves out the extra IR drop of the nonlinear current, so it errs at second "
        "order in k v and in the IR drop: documented (docs/energy.md) as below 1 % at "
        "k = 2 and below 4 % at k = 4 for v <= 0.2 V; observed 0.5 % and 2.2 %"
    ),
)
def power_forms_sinh() -> CaseResult:
    from ..network import AnalogConfig
    from ..network.energy import ARRAY_PARTS, LayerMeter
    from ..network.tiles import Tile, TileSpec, TransferCache, make_crossbar

    rng = np.random.default_rng(62)
    errs, checks = {}, []
    for k in (2.0, 4.0):
        cfg = AnalogConfig(
            device="sinh", device_k=k, r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0
        )
        G = rng.uniform(cfg.g_min, cfg.g_max, (64, 20))
        cache = TransferCache()
        tile = Tile(TileSpec(0, 0, 64, 0, 20, "offset", False), G, cache.transfer_matrix(G, cfg))
        V = rng.uniform(0, cfg.v_read, (40, 64))
        exact = float(make_crossbar(G, cfg).solve(V).power.supplied.sum())
        energies = []
        for c in (cfg, cfg.replace(device="linear")):
            meter = LayerMeter(c, cache)
            meter.step(V).read(tile)
            energies.append(sum(meter.tally.joules[p] for p in ARRAY_PARTS) / c.read_pulse)
        errs[f"k{k:g}"] = abs(energies[0] - exact) / exact
        checks.append(
            Check(
                f"k = {k:g}: error without the correction (must be larger)",
                abs(energies[1] - exact) / exact,
                errs[f"k{k:g}"],
            )
        )
    return CaseResult.of(errs, checks=checks)


__all__ = ["POWER_MATRIX", "PowerSpec", "rel_error"]
