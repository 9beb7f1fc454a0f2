"""Newton-Raphson for DC operating points, with SPICE's convergence tests.

A :class:`DCSystem` holds what does not change between iterations: the
sparsity pattern, the linear part of the matrix, the source right-hand side
and the device parameters.  :meth:`DCSystem.newton` runs plain Newton from a
start point; :meth:`DCSystem.operating_point` adds the fallbacks SPICE uses
when plain Newton fails (gmin stepping, then source stepping).

Each iteration linearises every device at its (limited) operating point,
assembles ``A x = b`` with the devices' companion models and solves for the
new ``x`` (SPICE's formulation).  Convergence needs, after the first
iteration and with no device limited in it:

* every unknown: ``|x_new - x_old| <= reltol*max(|x_new|, |x_old|) + tol``
  with ``tol = vntol`` for voltages and ``abstol`` for branch currents;
* every device: the current predicted by its linearisation at ``x_new``
  differs from the current at its linearisation point by at most
  ``reltol*max(|predicted|, |current|) + abstol`` (ngspice's ``DIOconvTest``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .assembly import Pattern
from .circuit import Circuit, Options
from .devices import (
    DiodeParams,
    diode_current,
    evaluate_bsource,
    limit_bsource,
    limit_diode,
)
from .errors import CircuitError, ConvergenceError, SingularCircuitError
from .linsolve import Factorizer

log = logging.getLogger(__name__)

#: numba assembly pays off only above this many nonzeros: numba's import and
#: cache load cost ~0.3-0.5 s per process, while a whole Newton assembly with
#: np.bincount takes 0.4 ms at 128x128 cells (numba: 0.3 ms) and 2.8 ms at
#: 256x256 (numba: 2.4 ms), measured on the development machine
NUMBA_MIN_NNZ = 2_000_000


@dataclass
class DeviceState:
    """Linearisation points of the nonlinear devices (SPICE's ``state0``)."""

    vd: np.ndarray
    cd: np.ndarray
    gd: np.ndarray
    vb: list = field(default_factory=list)
    ib: list = field(default_factory=list)
    dib: list = field(default_factory=list)

    def copy(self) -> DeviceState:
        return DeviceState(self.vd.copy(), self.cd.copy(), self.gd.copy(),
                           [v.copy() for v in self.vb], [v.copy() for v in self.ib],
                           [v.copy() for v in self.dib])


@dataclass
class NewtonResult:
    """Outcome of one Newton run."""

    x: np.ndarray
    state: DeviceState | None
    iterations: int
    converged: bool
    worst: str = ""
    worst_ratio: float = 0.0


class DCSystem:
    """A circuit prepared for repeated DC solves.

    Parameters
    ----------
    circuit : Circuit
    options : Options
        Tolerances and limits (``reltol``, ``vntol``, ``abstol``, ``gmin``, ``itl1``, ``itl2``).
    ordering : str
        SuperLU ordering, see :mod:`xbar.linsolve`.
    kernel : str
        Assembly kernel: ``"numpy"`` (bincount), ``"numba"`` (scatter-add) or
        ``"auto"`` (numba from :data:`NUMBA_MIN_NNZ` nonzeros up).
    """

    def __init__(self, circuit: Circuit, options: Options, *, ordering: str = "MMD_AT_PLUS_A",
                 kernel: str = "auto"):
        self.circuit = circuit
        self.options = options
        self.pattern = Pattern.build(circuit)
        self.layout = self.pattern.layout
        self.base = self.pattern.linear_data()
        self.factorizer = Factorizer(self.layout.names, ordering=ordering)
        self.sources = np.concatenate(
            [np.asarray(circuit.vsources.value, dtype=np.float64),
             np.asarray(circuit.isources.value, dtype=np.float64)]
        )
        self.diodes = DiodeParams.of(circuit, options) if len(circuit.diodes) else None
        self.d_neg = np.asarray(circuit.diodes.nneg, dtype=np.int64)
        if kernel == "auto":
            kernel = "numba" if self.pattern.nnz >= NUMBA_MIN_NNZ else "numpy"
        if kernel not in ("numpy", "numba"):
            from .errors import ConfigError

            raise ConfigError(f"kernel must be 'auto', 'numpy' or 'numba', got {kernel!r}")
        self.kernel = kernel
        nv = self.layout.n_voltage
        self.abs_tol = np.concatenate([np.full(nv, options.vntol),
                                       np.full(self.layout.n_branch, options.abstol)])
        self.total_iterations = 0

    @property
    def is_linear(self) -> bool:
        return self.circuit.is_linear

    # ------------------------------------------------------------ helpers
    def rhs(self, source_values: np.ndarray) -> np.ndarray:
        """Right-hand side(s) of the independent sources (vector or block (n_src, k))."""
        return self.pattern.source_matrix @ source_values

    def extended(self, x: np.ndarray) -> np.ndarray:
        """Voltages of all extended nodes (ground first) from the unknown vector."""
        return np.concatenate([[0.0], x[: self.layout.n_voltage]])

    def solve_linear(self, source_block: np.ndarray) -> np.ndarray:
        """Solve a linear circuit for a block of source vectors (n_src, k) -> (n, k)."""
        self.factorizer.factorize(self.pattern.matrix(self.base))
        return self.factorizer.solve(self.rhs(source_block))

    def _control_voltages(self, ve: np.ndarray):
        vd = ve[self.layout.diode_prime] - ve[self.d_neg] if self.diodes is not None else None
        vb = [ve[g.controls[:, :, 0]] - ve[g.controls[:, :, 1]] for g in self.pattern.bgroups]
        return vd, vb

    def initial_state(self, x: np.ndarray) -> DeviceState:
        """Device state for a fresh operating point: junctions at vcrit (SPICE's INITJCT)."""
        ve = self.extended(x)
        _, vbs = self._control_voltages(ve)
        if self.diodes is not None:
            vd = self.diodes.vcrit.copy()
            cd, gd = diode_current(vd, self.diodes, self.options.gmin)
        else:
            vd = cd = gd = np.zeros(0)
        state = DeviceState(vd, cd, gd)
        for g, vb in zip(self.pattern.bgroups, vbs, strict=True):
            i, di = evaluate_bsource(g.expr, vb)
            bad = ~(np.isfinite(i) & np.all(np.isfinite(di), axis=1))
            if bad.any():
                k = int(g.members[np.flatnonzero(bad)[0]])
                b = self.circuit.bsources[k]
                raise CircuitError(
                    f"behavioural source {b.name} is not finite at its starting point "
                    f"(control voltages {vb[np.flatnonzero(bad)[0]].tolist()} V)",
                    location=self.circuit.locations.get(b.name),
                )
            state.vb.append(vb)
            state.ib.append(i)
            state.dib.append(di)
        return state

    def _linearise(self, x: np.ndarray, state: DeviceState) -> tuple[DeviceState, bool]:
        """New device state at ``x`` (limited against ``state``); True if any limiting."""
        ve = self.extended(x)
        vd_x, vbs = self._control_voltages(ve)
        limited = False
        new = DeviceState(state.vd, state.cd, state.gd)
        if self.diodes is not None:
            vd, lim = limit_diode(vd_x, state.vd, self.diodes)
            limited |= bool(lim.any())
            new.cd, new.gd = diode_current(vd, self.diodes, self.options.gmin)
            new.vd = vd
        for k, g in enumerate(self.pattern.bgroups):
            v, i, di, lim = limit_bsource(g.expr, vbs[k], state.vb[k], state.ib[k], state.dib[k])
            limited |= bool(lim.any())
            new.vb.append(v)
            new.ib.append(i)
            new.dib.append(di)
        return new, limited

    def _assemble_solve(self, state: DeviceState, src: np.ndarray, gshunt: float) -> np.ndarray:
        pat = self.pattern
        nl = np.concatenate([state.gd] + [d.ravel() for d in state.dib]) if (
            len(state.gd) or state.dib) else np.zeros(0)
        data = pat.assemble(self.base, nl, gshunt=gshunt, kernel=self.kernel)
        ieq = [state.cd - state.gd * state.vd]
        nB = len(self.circuit.bsources)
        ib = np.zeros(nB)
        for g, v, i, di in zip(pat.bgroups, state.vb, state.ib, state.dib, strict=True):
            ib[g.members] = i - np.sum(di * v, axis=1)
        b = self.rhs(src) + pat.nl_rhs_matrix @ np.concatenate(ieq + [ib])
        self.factorizer.factorize(pat.matrix(data))
        return self.factorizer.solve(b)

    def _device_converged(self, x: np.ndarray, state: DeviceState) -> tuple[bool, str]:
        reltol, abstol = self.options.reltol, self.options.abstol
        ve = self.extended(x)
        vd_x, vbs = self._control_voltages(ve)
        if self.diodes is not None and len(state.vd):
            cdhat = state.cd + state.gd * (vd_x - state.vd)
            tol = reltol * np.maximum(np.abs(cdhat), np.abs(state.cd)) + abstol
            bad = np.abs(cdhat - state.cd) > tol
            if bad.any():
                return False, self.circuit.diodes.name[int(np.flatnonzero(bad)[0])]
        for g, vb, v, i, di in zip(self.pattern.bgroups, vbs, state.vb, state.ib, state.dib,
                                   strict=True):
            ihat = i + np.sum(di * (vb - v), axis=1)
            tol = reltol * np.maximum(np.abs(ihat), np.abs(i)) + abstol
            bad = np.abs(ihat - i) > tol
            if bad.any():
                return False, self.circuit.bsources[int(g.members[np.flatnonzero(bad)[0]])].name
        return True, ""

    # ------------------------------------------------------------- Newton
    def newton(self, x0: np.ndarray, state: DeviceState | None, *, maxiter: int,
               source_scale: float = 1.0, sources: np.ndarray | None = None,
               gshunt: float = 0.0) -> NewtonResult:
        """Plain Newton-Raphson from ``x0``.

        ``state=None`` starts the devices fresh (junctions at vcrit); otherwise
        the devices continue from ``state`` (a previous solution).
        """
        src = (self.sources if sources is None else sources) * source_scale
        x = np.array(x0, dtype=np.float64)
        fresh = state is None
        if fresh:
            state = self.initial_state(x)
        reltol = self.options.reltol
        worst, worst_ratio = "", np.inf
        for it in range(1, maxiter + 1):
            if fresh and it == 1:
                limited = False
            else:
                state, limited = self._linearise(x, state)
            x_new = self._assemble_solve(state, src, gshunt)
            self.total_iterations += 1
            if not np.all(np.isfinite(x_new)):
                return NewtonResult(x, state, it, False, "(non-finite solution)", np.inf)
            tol = reltol * np.maximum(np.abs(x_new), np.abs(x)) + self.abs_tol
            ratio = np.abs(x_new - x) / tol
            k = int(np.argmax(ratio)) if len(ratio) else 0
            worst = self.layout.names[k] if len(ratio) else ""
            worst_ratio = float(ratio[k]) if len(ratio) else 0.0
            if it > 1 and not limited and worst_ratio <= 1.0:
                ok, dev = self._device_converged(x_new, state)
                if ok:
                    return NewtonResult(x_new, state, it, True)
                worst, worst_ratio = dev, 1.0
            elif limited and worst_ratio <= 1.0:
                worst = worst or "(device limiting)"
            x = x_new
        return NewtonResult(x, state, maxiter, False, worst, worst_ratio)

    def gmin_stepping(self, x0, *, maxiter: int, sources=None) -> NewtonResult:
        """ngspice-style dynamic gmin stepping: a shunt on every node, reduced to zero."""
        g_target = self.options.gmin
        g = 1e-2
        factor = 10.0
        x, state = np.array(x0, dtype=np.float64), None
        total = 0
        res = self.newton(x, None, maxiter=maxiter, gshunt=g, sources=sources)
        total += res.iterations
        if not res.converged:
            return NewtonResult(res.x, res.state, total, False, res.worst, res.worst_ratio)
        x, state = res.x, res.state
        while g > g_target:
            g_next = max(g / factor, g_target)
            res = self.newton(x, state.copy(), maxiter=maxiter, gshunt=g_next, sources=sources)
            total += res.iterations
            if res.converged:
                x, state, g = res.x, res.state, g_next
                if res.iterations < maxiter / 4:
                    factor = min(factor * np.sqrt(factor), 1e3)
                elif res.iterations > 3 * maxiter / 4:
                    factor = np.sqrt(factor)
            else:
                factor = np.sqrt(np.sqrt(factor))
                if factor < 1.00005:
                    return NewtonResult(x, state, total, False, res.worst, res.worst_ratio)
        res = self.newton(x, state.copy(), maxiter=maxiter, gshunt=0.0, sources=sources)
        res.iterations += total
        return res

    def source_stepping(self, x0, *, maxiter: int, sources=None) -> NewtonResult:
        """Ramp every independent source from 0 to its value, adaptively."""
        total = 0
        res = self.newton(np.zeros_like(x0), None, maxiter=maxiter, source_scale=0.0,
                          sources=sources)
        total += res.iterations
        if not res.converged:
            return NewtonResult(res.x, res.state, total, False, res.worst, res.worst_ratio)
        x, state, s, step = res.x, res.state, 0.0, 0.05
        while s < 1.0:
            s_next = min(1.0, s + step)
            res = self.newton(x, state.copy(), maxiter=maxiter, source_scale=s_next,
                              sources=sources)
            total += res.iterations
            if res.converged:
                x, state, s = res.x, res.state, s_next
                if res.iterations < maxiter / 4:
                    step *= 1.5
            else:
                step /= 4.0
                if step < 1e-7:
                    res.iterations = total
                    return res
        return NewtonResult(x, state, total, True)

    def operating_point(self, x0: np.ndarray | None = None, state: DeviceState | None = None,
                        *, maxiter: int | None = None, sources: np.ndarray | None = None,
                        what: str = "operating point"):
        """Solve with Newton, then gmin stepping, then source stepping.

        Returns ``(NewtonResult, strategy)``; raises ConvergenceError naming the
        worst unknown and every strategy tried.
        """
        maxiter = self.options.itl1 if maxiter is None else maxiter
        n = self.layout.size
        x0 = np.zeros(n) if x0 is None else x0
        tried = []
        attempts = [
            ("newton", lambda: self.newton(x0, state, maxiter=maxiter, sources=sources)),
            ("gmin stepping", lambda: self.gmin_stepping(x0, maxiter=maxiter, sources=sources)),
            ("source stepping",
             lambda: self.source_stepping(x0, maxiter=maxiter, sources=sources)),
        ]
        last = None
        singular: list[SingularCircuitError] = []
        for name, attempt in attempts:
            try:
                res = attempt()
            except SingularCircuitError as exc:
                if name == "newton" and self.is_linear:
                    raise
                singular.append(exc)
                res = NewtonResult(x0, None, 0, False, "(singular matrix)", np.inf)
                if last is None:
                    last = res
                tried.append(name)
                continue
            tried.append(name)
            if res.converged:
                return res, name
            log.debug("%s failed for %s (worst %s)", name, what, res.worst)
            if last is None or not last.worst or last.worst.startswith("("):
                last = res
        if len(singular) == len(attempts):
            # singular whatever the strategy: a structural problem, not convergence
            first = singular[0]
            raise SingularCircuitError(
                f"{first.message} (at every strategy: " + ", ".join(tried) + ")",
                location=first.location, hint=first.hint)
        if last.worst.startswith("("):
            why = ("the linearised circuit became singular or non-finite (device currents "
                   "out of range)")
        else:
            why = (f"worst unknown {last.worst!r} (change {last.worst_ratio:.3g} times its "
                   "tolerance)")
        raise ConvergenceError(
            f"no convergence for the {what}: {why}; strategies tried: " + ", ".join(tried),
            hint="check device parameters and source values; loosen .options reltol/vntol "
                 "or raise itl1",
        )
