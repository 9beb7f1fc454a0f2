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
from dataclasses import replace

import numpy as np

from ..errors import CircuitError, ConvergenceError, SingularCircuitError, XbarError
from .assembly import Pattern
from .circuit import Circuit, Options
from .devices import (
    DiodeParams,
    diode_at_clamp,
    diode_current,
    evaluate_bsource,
    limit_bsource,
    limit_diode,
)
from .linsolve import Factorizer
from .mosfet import expand_mosfets
from .state import DeviceState, NewtonResult
from .topology import elements_at

log = logging.getLogger(__name__)

#: numba assembly pays off only above this many nonzeros: numba's import and
#: cache load cost ~0.3-0.5 s per process, while a whole Newton assembly with
#: np.bincount takes 0.4 ms at 128x128 cells (numba: 0.3 ms) and 2.8 ms at
#: 256x256 (numba: 2.4 ms), measured on the development machine
NUMBA_MIN_NNZ = 2_000_000

#: a device current beyond this [A] counts as overflowed (a failed Newton step)
I_OVERFLOW = 1e300


class DCSystem:
    """A circuit prepared for repeated DC solves (its MOSFETs expanded into devices).

    Parameters
    ----------
    circuit : Circuit
    options : Options
        Tolerances and limits (``reltol``, ``vntol``, ``abstol``, ``gmin``, ``itl1``, ``itl2``).
    ordering : str
        SuperLU ordering, see :mod:`xbar.spice.linsolve`.
    kernel : str
        Assembly kernel of the Python path: ``"numpy"`` (bincount), ``"numba"``
        (scatter-add) or ``"auto"`` (numba from :data:`NUMBA_MIN_NNZ` nonzeros up).
    compiled : bool, optional
        Run Newton through the compiled kernels (:mod:`xbar.spice.compiled`); default
        (None): whenever the circuit's size allows it.  The Python path still
        diagnoses every run that fails.
    """

    def __init__(
        self,
        circuit: Circuit,
        options: Options,
        *,
        ordering: str = "MMD_AT_PLUS_A",
        kernel: str = "auto",
        compiled: bool | None = None,
    ):
        circuit = expand_mosfets(circuit, options)
        self.circuit = circuit
        self.options = options
        self.pattern = Pattern.build(circuit, options)
        self.layout = self.pattern.layout
        self.base = self.pattern.linear_data()
        self.factorizer = Factorizer(self.layout.names, ordering=ordering)
        self.sources = np.concatenate(
            [
                np.asarray(circuit.vsources.value, dtype=np.float64),
                np.asarray(circuit.isources.value, dtype=np.float64),
            ]
        )
        self.diodes = DiodeParams.of(circuit, options) if len(circuit.diodes) else None
        self.d_neg = np.asarray(circuit.diodes.nneg, dtype=np.int64)
        if kernel == "auto":
            kernel = "numba" if self.pattern.nnz >= NUMBA_MIN_NNZ else "numpy"
        if kernel not in ("numpy", "numba"):
            from ..errors import ConfigError

            raise ConfigError(f"kernel must be 'auto', 'numpy' or 'numba', got {kernel!r}")
        self.kernel = kernel
        nv = self.layout.n_voltage
        self.abs_tol = np.concatenate(
            [np.full(nv, options.vntol), np.full(self.layout.n_branch, options.abstol)]
        )
        #: per B group, each source's absolute tolerance in the device test: vntol for a
        #: voltage-defining source (its value is a voltage), else abstol (ngspice's
        #: ASRCconvTest)
        self.b_abstol = [
            np.array(
                [
                    options.vntol if circuit.bsources[int(m)].nneg < 0 else options.abstol
                    for m in g.members
                ],
                dtype=float,
            )
            for g in self.pattern.bgroups
        ]
        self.total_iterations = 0
        self._compiled_wanted = compiled
        self._compiled = None

    @property
    def compiled(self):
        """The :class:`~xbar.spice.compiled.CompiledNewton` of this system, or None."""
        if self._compiled is None and self._compiled_wanted is not False:
            from .compiled import CompiledNewton, eligible

            if eligible(self):
                self._compiled = CompiledNewton(self)
            self._compiled_wanted = self._compiled is not None
        return self._compiled

    @property
    def is_linear(self) -> bool:
        return self.circuit.is_linear

    # ------------------------------------------------------------ helpers
    def start_point(self) -> np.ndarray:
        """Newton's starting unknowns: the ``.nodeset`` voltages, zero elsewhere."""
        x0 = np.zeros(self.layout.size)
        for node, value in self.circuit.nodesets.items():
            if node > 0:
                x0[node - 1] = value
        return x0

    def rhs(self, source_values: np.ndarray) -> np.ndarray:
        """Right-hand side(s) of the independent sources (vector or block (n_src, k))."""
        return self.pattern.source_matrix @ source_values

    def extended(self, x: np.ndarray) -> np.ndarray:
        """Ground (0), then every unknown: extended node ``k`` is entry ``k`` and branch
        ``j`` (its current) entry ``n_ext + j``, as behavioural-source controls index them."""
        return np.concatenate([[0.0], x])

    def solve_linear(self, source_block: np.ndarray) -> np.ndarray:
        """Solve a linear circuit for a block of source vectors (n_src, k) -> (n, k)."""
        fast = self.compiled
        if fast is not None:
            xs = fast.solve_block(np.asarray(source_block, dtype=np.float64))
            if xs is not None:
                return xs.T
        self.factorizer.factorize(self.pattern.matrix(self.base))
        return self.factorizer.solve(
            self.rhs(source_block), residual=lambda b, x: self.pattern.residual(b, x)
        )

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
            if hasattr(g.expr, "reset"):  # a switch: its declared state (ngspice's INITJCT)
                g.expr.reset()
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

    def _linearise(self, x: np.ndarray, state: DeviceState):
        """New device state at ``x`` (limited against ``state``).

        Returns ``(state, any limiting, (diode limited mask, [B limited masks],
        [B overflow masks]))``.
        """
        ve = self.extended(x)
        vd_x, vbs = self._control_voltages(ve)
        limited = False
        new = DeviceState(state.vd, state.cd, state.gd)
        d_lim = None
        b_lim, b_over = [], []
        if self.diodes is not None:
            vd, d_lim = limit_diode(vd_x, state.vd, self.diodes)
            limited |= bool(d_lim.any())
            new.cd, new.gd = diode_current(vd, self.diodes, self.options.gmin)
            new.vd = vd
        for k, g in enumerate(self.pattern.bgroups):
            v, i, di, lim, over = limit_bsource(
                g.expr, vbs[k], state.vb[k], state.ib[k], state.dib[k]
            )
            limited |= bool(lim.any())
            new.vb.append(v)
            new.ib.append(i)
            new.dib.append(di)
            b_lim.append(lim)
            b_over.append(over)
        return new, limited, (d_lim, b_lim, b_over)

    def _device_names(self, d_mask, b_masks) -> list[str]:
        """Names of the devices flagged in a diode mask and per-group B masks."""
        names = []
        if d_mask is not None and len(d_mask):
            names += [self.circuit.diodes.name[k] for k in np.flatnonzero(d_mask)]
        for g, m in zip(self.pattern.bgroups, b_masks, strict=True):
            names += [self.circuit.bsources[int(g.members[k])].name for k in np.flatnonzero(m)]
        return names

    def _overflowed(self, state: DeviceState) -> list[str]:
        """Devices whose current or conductance is not finite or beyond :data:`I_OVERFLOW`,
        and diodes whose exponential sits at its clamp (not the model's current)."""
        d_bad = None
        if self.diodes is not None and len(state.cd):
            d_bad = ~(
                np.isfinite(state.cd) & np.isfinite(state.gd) & (np.abs(state.cd) <= I_OVERFLOW)
            ) | diode_at_clamp(state.vd, self.diodes)
        b_bad = [
            ~(np.isfinite(i) & np.all(np.isfinite(di), axis=1) & (np.abs(i) <= I_OVERFLOW))
            for i, di in zip(state.ib, state.dib, strict=True)
        ]
        for k, g in enumerate(self.pattern.bgroups):  # device models with an exponent clamp
            if hasattr(g.expr, "at_clamp") and len(state.vb[k]):
                b_bad[k] = b_bad[k] | g.expr.at_clamp(
                    [state.vb[k][:, c] for c in range(g.n_controls)]
                )
        if (d_bad is None or not d_bad.any()) and not any(m.any() for m in b_bad):
            return []
        return self._device_names(d_bad, b_bad)

    def _largest_current(self, state: DeviceState) -> list[str]:
        """The device carrying the largest current magnitude (a suspect for blow-ups)."""
        best, name = -1.0, []
        if self.diodes is not None and len(state.cd):
            k = int(np.argmax(np.abs(np.nan_to_num(state.cd, nan=np.inf))))
            best, name = abs(state.cd[k]), [self.circuit.diodes.name[k]]
        for g, i in zip(self.pattern.bgroups, state.ib, strict=True):
            if len(i):
                k = int(np.argmax(np.abs(np.nan_to_num(i, nan=np.inf))))
                if not abs(i[k]) <= best:
                    best, name = abs(i[k]), [self.circuit.bsources[int(g.members[k])].name]
        return name

    def _assemble_solve(self, state: DeviceState, src: np.ndarray, gshunt: float) -> np.ndarray:
        pat = self.pattern
        nl = (
            np.concatenate([state.gd] + [d.ravel() for d in state.dib])
            if (len(state.gd) or state.dib)
            else np.zeros(0)
        )
        data = pat.assemble(self.base, nl, gshunt=gshunt, kernel=self.kernel)
        ieq = [state.cd - state.gd * state.vd]
        nB = len(self.circuit.bsources)
        ib = np.zeros(nB)
        for g, v, i, di in zip(pat.bgroups, state.vb, state.ib, state.dib, strict=True):
            ib[g.members] = i - np.sum(di * v, axis=1)
        b = self.rhs(src) + pat.nl_rhs_matrix @ np.concatenate(ieq + [ib])
        self.factorizer.factorize(pat.matrix(data))
        return self.factorizer.solve(b, residual=lambda b_, x_: pat.residual(b_, x_, nl, gshunt))

    def _device_converged(self, x: np.ndarray, state: DeviceState) -> tuple[bool, str]:
        bad = self._device_failures(x, state)
        return (False, bad[0]) if bad else (True, "")

    def _device_failures(self, x: np.ndarray, state: DeviceState) -> list[str]:
        """Devices failing ngspice's device-current test at ``x`` (all of them, by name)."""
        reltol, abstol = self.options.reltol, self.options.abstol
        ve = self.extended(x)
        vd_x, vbs = self._control_voltages(ve)
        d_bad = None
        if self.diodes is not None and len(state.vd):
            cdhat = state.cd + state.gd * (vd_x - state.vd)
            tol = reltol * np.maximum(np.abs(cdhat), np.abs(state.cd)) + abstol
            d_bad = ~(np.abs(cdhat - state.cd) <= tol)
        b_bad = []
        for vb, v, i, di, btol in zip(
            vbs, state.vb, state.ib, state.dib, self.b_abstol, strict=True
        ):
            ihat = i + np.sum(di * (vb - v), axis=1)
            tol = reltol * np.maximum(np.abs(ihat), np.abs(i)) + btol
            b_bad.append(~(np.abs(ihat - i) <= tol))
        if (d_bad is None or not d_bad.any()) and not any(m.any() for m in b_bad):
            return []
        return self._device_names(d_bad, b_bad)

    # ------------------------------------------------------------- Newton
    def newton(
        self,
        x0: np.ndarray,
        state: DeviceState | None,
        *,
        maxiter: int,
        source_scale: float = 1.0,
        sources: np.ndarray | None = None,
        gshunt: float = 0.0,
    ) -> NewtonResult:
        """Plain Newton-Raphson from ``x0``.

        ``state=None`` starts the devices fresh (junctions at vcrit); otherwise
        the devices continue from ``state`` (a previous solution).  A device
        current that overflows (not finite, or beyond :data:`I_OVERFLOW`) ends
        the run as failed, naming the device.
        """
        fast = self.compiled
        if fast is not None:
            src = (self.sources if sources is None else sources) * source_scale
            fresh = state is None
            if fresh:
                with np.errstate(all="ignore"):
                    state = self.initial_state(np.asarray(x0, dtype=np.float64))
            res = fast.newton(x0, state, maxiter=maxiter, src=src, gshunt=gshunt, fresh=fresh)
            if res is not None:
                return res
            state = None if fresh else state
        with np.errstate(all="ignore"):  # overflows are detected and reported, not warned
            return self._newton(x0, state, maxiter, source_scale, sources, gshunt)

    def _newton(self, x0, state, maxiter, source_scale, sources, gshunt) -> NewtonResult:
        src = (self.sources if sources is None else sources) * source_scale
        x = np.array(x0, dtype=np.float64)
        fresh = state is None
        if fresh:
            state = self.initial_state(x)
        worst, worst_ratio = "", np.inf
        worst_node, worst_node_ratio = "", np.inf
        info = None
        failed_device: list[str] = []
        for it in range(1, maxiter + 1):
            if fresh and it == 1:
                limited = False
            else:
                state, limited, info = self._linearise(x, state)
                over = self._overflowed(state)
                if over:
                    return NewtonResult(
                        x,
                        state,
                        it,
                        False,
                        worst,
                        worst_ratio,
                        worst_node,
                        worst_node_ratio,
                        overflow=tuple(over),
                    )
            x_new = self._assemble_solve(state, src, gshunt)
            self.total_iterations += 1
            if not np.all(np.isfinite(x_new)):
                return self._not_finite(x, x_new, state, it, info)
            worst, worst_ratio, node_worst = self._worst_change(x_new, x)
            if node_worst is not None:
                worst_node, worst_node_ratio = node_worst
            failed_device = []
            if it > 1 and not limited and worst_ratio <= 1.0:
                ok, dev = self._device_converged(x_new, state)
                if ok:
                    return NewtonResult(x_new, state, it, True)
                failed_device = [dev]
            x = x_new
        # not converged: name the devices still limited or failing the device test
        devices = failed_device or self._device_failures(x, state)
        over: list[str] = []
        if info is not None:
            devices = self._device_names(info[0], info[1]) + devices
            over = self._device_names(None, info[2])
        return NewtonResult(
            x,
            state,
            maxiter,
            False,
            worst,
            worst_ratio,
            worst_node,
            worst_node_ratio,
            devices=tuple(dict.fromkeys(devices)),
            overflow=tuple(over),
        )

    def _worst_change(
        self, x_new: np.ndarray, x: np.ndarray
    ) -> tuple[str, float, tuple[str, float] | None]:
        """The unknown whose update is largest against its tolerance, with that ratio, and
        the same for node voltages only (None without nodes)."""
        names, nv = self.layout.names, self.layout.n_voltage
        tol = self.options.reltol * np.maximum(np.abs(x_new), np.abs(x)) + self.abs_tol
        ratio = np.abs(x_new - x) / tol
        if not len(ratio):
            return "", 0.0, None
        k = int(np.argmax(ratio))
        node = None
        if nv:
            kn = int(np.argmax(ratio[:nv]))
            node = (names[kn], float(ratio[kn]))
        return names[k], float(ratio[k]), node

    def _not_finite(self, x, x_new, state, it: int, info) -> NewtonResult:
        """The failed result of an iteration whose solve gave non-finite unknowns."""
        names = self.layout.names
        k = int(np.flatnonzero(~np.isfinite(x_new))[0])
        over = self._device_names(info[0], info[2]) if info is not None else []
        node = names[k] if k < self.layout.n_voltage else ""
        return NewtonResult(
            x,
            state,
            it,
            False,
            names[k],
            np.inf,
            node,
            np.inf,
            devices=tuple(self._largest_current(state)),
            overflow=tuple(over),
        )

    def gmin_stepping(self, x0, *, maxiter: int, sources=None) -> NewtonResult:
        """ngspice's dynamic gmin stepping (``dynamic_gmin`` in ``cktop.c``): a shunt on
        every node, from 1e-3 S down to GMIN by a factor that starts at 10, grows (to at
        most 10) after quick steps and shrinks after slow ones; a failed step goes back
        to the last shunt that worked (at first 1e-2 S, from a fresh start) divided by the
        fourth root of the factor.  Each step has ITL2 iterations; then Newton without the
        shunt (``maxiter``)."""
        g_target = self.options.gmin
        step_iters = self.options.itl2
        factor = 10.0
        g_old = 1e-2
        g = g_old / factor
        x, state = np.array(x0, dtype=np.float64), None  # the last step that worked
        total = 0
        while True:
            res = self.newton(
                x, None if state is None else state.copy(), maxiter=step_iters, gshunt=g,
                sources=sources,
            )  # fmt: skip
            total += res.iterations
            if not res.converged:
                if factor < 1.00005:
                    if state is not None:
                        res = replace(res, x=x, state=state)
                    return replace(res, iterations=total)
                factor = np.sqrt(np.sqrt(factor))
                g = g_old / factor
                continue
            x, state = res.x, res.state
            if g <= g_target:
                break
            if res.iterations <= step_iters / 4:
                factor = min(factor * np.sqrt(factor), 10.0)
            if res.iterations > 3 * step_iters / 4:
                factor = np.sqrt(factor)
            g_old = g
            if g < factor * g_target:
                factor, g = g / g_target, g_target
            else:
                g = g / factor
        res = self.newton(x, state.copy(), maxiter=maxiter, gshunt=0.0, sources=sources)
        res.iterations += total
        return res

    def source_stepping(self, x0, *, maxiter: int, sources=None) -> NewtonResult:
        """Ramp every independent source from 0 to its value, adaptively."""
        total = 0
        res = self.newton(
            np.zeros_like(x0), None, maxiter=maxiter, source_scale=0.0, sources=sources
        )
        total += res.iterations
        if not res.converged:
            return replace(res, iterations=total)
        x, state, s, step = res.x, res.state, 0.0, 0.05
        while s < 1.0:
            s_next = min(1.0, s + step)
            res = self.newton(
                x, state.copy(), maxiter=maxiter, source_scale=s_next, sources=sources
            )
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

    def operating_point(
        self,
        x0: np.ndarray | None = None,
        state: DeviceState | None = None,
        *,
        maxiter: int | None = None,
        sources: np.ndarray | None = None,
        what: str = "operating point",
    ):
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
            ("source stepping", lambda: self.source_stepping(x0, maxiter=maxiter, sources=sources)),
        ]
        results: list[NewtonResult] = []
        singular: list[SingularCircuitError] = []
        for name, attempt in attempts:
            try:
                res = attempt()
            except SingularCircuitError as exc:
                if name == "newton" and self.is_linear:
                    raise
                singular.append(exc)
                tried.append(name)
                continue
            tried.append(name)
            if res.converged:
                return res, name
            log.debug("%s failed for %s (worst %s)", name, what, res.worst)
            results.append(res)
        if len(singular) == len(attempts):
            # singular whatever the strategy: a structural problem, not convergence
            first = singular[0]
            exc = SingularCircuitError(
                f"{first.message} (at every strategy: " + ", ".join(tried) + ")",
                location=first.location,
                hint=first.hint,
            )
            exc.unknowns = getattr(first, "unknowns", ())
            raise exc
        raise self._convergence_error(results, tried, what, maxiter, bool(singular))

    def _nonlinear_at(self, node: str) -> list[str]:
        """Diodes and behavioural sources with a terminal or control at ``node``."""
        try:
            k = self.circuit.node_index(node)
        except XbarError:
            return []
        nonlinear = set(self.circuit.diodes.name) | {b.name for b in self.circuit.bsources}
        return [n for n in elements_at(self.circuit, {k}) if n in nonlinear]

    def _convergence_error(self, results, tried, what, maxiter, singular) -> ConvergenceError:
        """The error of a failed operating point: worst node, culprit devices, strategies."""
        overflow = list(dict.fromkeys(n for r in results for n in r.overflow))
        devices = [
            n for n in dict.fromkeys(n for r in results for n in r.devices) if n not in overflow
        ]
        # the worst node (and unknown) of the first strategy that names one (plain Newton)
        base = next((r for r in results if r.worst or r.worst_node), None)
        parts = []

        def change(ratio):
            if not np.isfinite(ratio):
                return "not finite"
            if ratio <= 1.0:
                return f"settled: last change {ratio:.3g} times its tolerance"
            return f"last change {ratio:.3g} times its tolerance"

        if base is not None:
            if base.worst_node:
                parts.append(f"worst node {base.worst_node!r} ({change(base.worst_node_ratio)})")
            if (
                base.worst
                and base.worst != base.worst_node
                and (not base.worst_node or base.worst_ratio > base.worst_node_ratio)
            ):
                what_unknown = (
                    f"the current through {base.worst[:-7]}"
                    if base.worst.endswith("#branch")
                    else "an unknown"
                )
                parts.append(
                    f"worst unknown {base.worst!r} ({what_unknown}; {change(base.worst_ratio)})"
                )
        if overflow:
            parts.append("current overflowed (beyond floating-point range) in " + _list(overflow))
        if devices:
            parts.append(
                f"device{'s' if len(devices) > 1 else ''} not converged: " + _list(devices)
            )
        if singular:
            parts.append("the matrix became singular in some strategies")
        if not parts:
            parts.append("no unknown settled")
        limit = "itl1" if maxiter == self.options.itl1 else "the iteration limit"
        tried_text = ", ".join(tried) + f" ({limit}={maxiter} Newton iterations per run)"
        if not (overflow or devices) and base is not None and base.worst_node:
            near = self._nonlinear_at(base.worst_node)
            if near:
                parts.append(f"nonlinear devices at {base.worst_node!r}: " + _list(near))
                devices = near
        culprits = overflow or devices
        location = self.circuit.locations.get(culprits[0]) if culprits else None
        if overflow:
            hint = (
                f"the current of {_list(overflow)} grows beyond floating-point range "
                "(e.g. exp() of a large argument); check the expression's scale and the "
                "source values, or bound it with min()/max()"
            )
        else:
            hint = (
                "check device parameters and source values; loosen .options reltol/vntol "
                f"or raise itl1 (now {self.options.itl1})"
            )
        return ConvergenceError(
            f"no convergence for the {what}: "
            + "; ".join(parts)
            + "; strategies tried: "
            + tried_text,
            location=location,
            hint=hint,
        )


def _list(names, most: int = 5) -> str:
    """``a, b, c`` -- at most ``most`` names, then how many more."""
    names = list(names)
    text = ", ".join(names[:most])
    return text + (f" and {len(names) - most} more" if len(names) > most else "")
