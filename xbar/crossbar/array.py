"""The :class:`Crossbar` array: the validated specification, its setup and its solves.

Topology (the default is the one badcrossbar and most papers use): row ``i``
is driven at its left end by an ideal source ``V[i]`` through ``r_driver``
and one wire segment; neighbouring row nodes are joined by one segment each;
cell ``(i, j)`` joins row node ``(i, j)`` to column node ``(i, j)``;
neighbouring column nodes are joined by one segment each; column ``j`` leaves
at the bottom through one segment and ``r_sense`` into a virtual ground (0 V).

A :class:`Crossbar` holds the validated specification and a cache.
:meth:`Crossbar.setup` builds (once) the :class:`~xbar.crossbar.CrossbarSystem`,
plain data on which the solvers are functions: :func:`xbar.crossbar.solver.solve`
(Schur-complement CG with line preconditioning, Newton for nonlinear cells) and
:func:`xbar.crossbar.transfer.transfer_matrix` (exact block elimination).
Zero-resistance segments collapse nodes into super-nodes (exact; nodes tied to
an ideal source become known).  The readable twin is
:mod:`xbar.crossbar.reference` (full MNA, ``splu``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks import check_options, memory_guard, real_array
from ..errors import ConfigError, InputTypeError, ShapeError, ValueRangeError
from ..spice.circuit import Options
from . import input_switched, power, solver, transfer
from .access import MosfetAccess, solve_with_engine
from .devices import Device, Exponential, Linear, PowerLaw, Sinh, Tabulated
from .power import PowerForms
from .solution import CrossbarSolution, LinearizedCrossbar
from .system import CrossbarSystem, build_system, line_preconditioner, parse_bias

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

__all__ = ["Crossbar", "CrossbarSolution", "LinearizedCrossbar"]


#: smallest nonzero resistance [ohm] of a wire, driver, sense or access resistor (0 is ideal)
MIN_RESISTANCE = 1e-150


def _array(name: str, value: Any, shapes: list[tuple[int, ...]]) -> np.ndarray:
    """Validate a nonnegative finite array against the allowed shapes; returns float array."""
    arr = real_array(name, value)
    if arr.ndim > 0 and arr.shape not in shapes:
        want = " or ".join(str(s) for s in shapes)
        raise ShapeError(f"{name} has shape {arr.shape}; expected a scalar or {want}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if np.any(bad):
        idx = np.argwhere(bad)[0] if arr.ndim else ()
        val = arr[tuple(idx)] if arr.ndim else float(arr)
        where = f" at index {tuple(int(i) for i in idx)}" if arr.ndim else ""
        raise ValueRangeError(
            f"{name}{where} is {float(val):g}; it must be finite and >= 0",
            hint="use 0 for an ideal (zero-resistance) wire" if name.startswith("r_") else "",
        )
    tiny = (arr > 0) & (arr < MIN_RESISTANCE) if name.startswith("r_") else False
    if np.any(tiny):  # 1/r beyond 1e150 S: the solver's squares overflow (CG gave nan)
        idx = np.argwhere(tiny)[0] if arr.ndim else ()
        val = arr[tuple(idx)] if arr.ndim else float(arr)
        where = f" at index {tuple(int(i) for i in idx)}" if arr.ndim else ""
        raise ValueRangeError(
            f"{name}{where} is {float(val):g} ohm, a conductance beyond what double "
            f"precision can square; the smallest resistance is {MIN_RESISTANCE:g} ohm",
            hint="use 0 for an ideal (zero-resistance) wire",
        )
    return arr


#: Device models that a name stands for (their default parameters), as in ``AnalogConfig``.
DEVICE_NAMES = {"linear": Linear, "sinh": Sinh, "exponential": Exponential, "power_law": PowerLaw}


def _device_model(what: str, device: Any) -> Device:
    """``device`` as a :class:`Device`: a model, or a name of :data:`DEVICE_NAMES`."""
    if isinstance(device, str):
        model = DEVICE_NAMES.get(device.strip().lower())
        if model is None:
            raise ConfigError(
                f"{what}={device!r} is not a device model name",
                hint=f"use one of {', '.join(DEVICE_NAMES)} or a model such as xbar.Sinh(k=3.0)",
            )
        return model()
    if not isinstance(device, Device):
        raise ConfigError(
            f"{what} must be an xbar device model, got {type(device).__name__}",
            hint=f"e.g. xbar.Sinh(k=3.0), or a name: {', '.join(DEVICE_NAMES)}",
        )
    return device


def _cell_models(
    shape: tuple[int, int],
    device: Device | str | None,
    selector: Device | str | None,
    g_selector: Any,
) -> tuple[Device, Device | None, np.ndarray | None]:
    """Validated cell device (default :class:`Linear`), selector and its conductance [S]."""
    device = Linear() if device is None else _device_model("device", device)
    device.check_shape(shape)
    if selector is None:
        return device, None, None
    selector = _device_model("selector", selector)
    if g_selector is None:
        raise ConfigError("a selector needs g_selector, its small-signal conductance [S]")
    selector.check_shape(shape)
    gs = _array("g_selector", g_selector, [shape])
    if np.any(gs <= 0):
        raise ValueRangeError("g_selector must be > 0")
    return device, selector, gs


# ----------------------------------------------------------------------------- Crossbar
class Crossbar:
    """A resistive crossbar array with its wires, drivers and sense circuits.

    Parameters
    ----------
    G : array (M, N)
        Cell conductances [S] (small-signal at 0 V for nonlinear models); 0 is an open cell.
    r_row, r_col : float or array
        Wire resistance per segment [ohm]; 0 is an exact ideal wire.  ``r_row`` may be
        (M, N) (the segments along the driven direction, the first one joining the
        driver to the first node) or (M, N + 1) (segment 0 joins the left end, ``N`` the
        right end); ``r_col`` likewise (M, N) or (M + 1, N) (row 0 is the top end).
    r_driver : float or array (M,)
        Source resistance of each row driver [ohm] (also used by biased row ends).
    r_sense : float or array (N,)
        Input resistance of each column's sense amplifier [ohm] (also biased column ends).
    device : Device or str
        Cell I-V model (:class:`Linear`, :class:`Sinh`, ...), or the name of one with its
        default parameters: ``"linear"``, ``"sinh"``, ``"exponential"``, ``"power_law"``.
    drive : {"left", "right", "both"}
        Row end(s) carrying the inputs.
    sense : {"bottom", "top", "both"}
        Column end(s) held at virtual ground whose current is the output.
    r_access : float or array (M, N)
        Series access resistance per cell [ohm] (1T1R).
    access : MosfetAccess, optional
        An access MOSFET in series with each cell (1T1R; drain on the cell side,
        source on the column, bulk at ground), gate driven per row by ``v_gate``.
        Such arrays are solved exactly by the circuit engine on the array's own
        netlist (:mod:`xbar.crossbar.access`), not by the line solver.
    v_gate : float or array (M,)
        Gate voltage of each row's access transistors [V] (with ``access``).
    selector : Device or str, optional
        Selector model in series with each cell (1S1R), small-signal conductance
        ``g_selector`` [S] (scalar or (M, N)).
    row_bias, col_bias : array-like, optional
        Override line ends: shape (M,) / (N,) applies to the driven / sensed ends,
        (M, 2) [left, right] / (N, 2) [top, bottom] to each end.  Entries: ``None``
        keeps the configured role, ``nan`` floats the end, a number holds it at
        that voltage [V] (through ``r_driver`` / ``r_sense``).
    options : Options, optional
        Newton tolerances (``reltol``, ``vntol``, ``abstol``, ``itl1``).
    maxiter : int
        CG iteration limit per linear solve.
    kernel : {"auto", "lanes", "inputs", "lines", "chains", "numpy"}
        CG kernel of the linear solves (see :mod:`xbar.crossbar.solver`); every
        choice gives the same answer to round-off.
    topology : {"crossbar", "input_switched"}
        ``input_switched`` (:mod:`xbar.crossbar.input_switched`): each cell's access
        transistor (on-resistance ``r_access``) is switched by its row's input bit,
        the read current comes from a source line parallel to each bit line, held
        at ``v_read`` at ``source_end`` through ``r_driver``; :meth:`solve` then takes
        bits (0/1) instead of voltages, and ``r_row`` must be 0 (gates carry no current).
    r_source : float or array
        Source-line wire resistance per segment [ohm] (``input_switched``); shapes as
        ``r_col``.
    source_end : {"bottom", "top"}
        End at which the source lines are held (``input_switched``).
    v_read : float
        Source-line voltage [V] (``input_switched``).

    Examples
    --------
    >>> import numpy as np, xbar
    >>> xb = xbar.Crossbar(np.full((4, 3), 1e-4), r_row=1.0, r_col=1.0)
    >>> sol = xb.solve(np.full(4, 0.2))
    >>> sol.output.shape
    (1, 3)
    >>> bool(np.all(sol.output < 0.2 * 4 * 1e-4))
    True
    """

    def __init__(
        self,
        G: np.ndarray,
        r_row: float | np.ndarray = 0.0,
        r_col: float | np.ndarray = 0.0,
        r_driver: float | np.ndarray = 0.0,
        r_sense: float | np.ndarray = 0.0,
        device: Device | str | None = None,
        *,
        drive: str = "left",
        sense: str = "bottom",
        r_access: float | np.ndarray = 0.0,
        access: MosfetAccess | None = None,
        v_gate: float | np.ndarray = 0.0,
        selector: Device | str | None = None,
        g_selector: float | np.ndarray | None = None,
        row_bias: Any = None,
        col_bias: Any = None,
        options: Options | None = None,
        maxiter: int = 20000,
        kernel: str = "auto",
        topology: str = "crossbar",
        r_source: float | np.ndarray = 0.0,
        source_end: str = "bottom",
        v_read: float = 0.2,
    ) -> None:
        G = real_array("G", G)
        if G.ndim != 2 or G.shape[0] < 1 or G.shape[1] < 1:
            raise ShapeError(f"G must be a 2-D array (M, N) of conductances, got shape {G.shape}")
        self._M, self._N = G.shape
        if drive not in ("left", "right", "both"):
            raise ConfigError(f"drive={drive!r}; expected 'left', 'right' or 'both'")
        if sense not in ("bottom", "top", "both"):
            raise ConfigError(f"sense={sense!r}; expected 'bottom', 'top' or 'both'")
        self._drive = drive
        self._sense = sense
        self._device, self._selector, self._g_selector = _cell_models(
            G.shape, device, selector, g_selector
        )
        self._set_solver(options, maxiter, kernel)
        parse_bias(row_bias, self._M, [0], "row_bias")  # validate now, use in setup()
        parse_bias(col_bias, self._N, [0], "col_bias")
        self._row_bias = row_bias
        self._col_bias = col_bias
        self._set("G", G)
        self._set("r_row", r_row)
        self._set("r_col", r_col)
        self._set("r_driver", r_driver)
        self._set("r_sense", r_sense)
        self._set("r_access", r_access)
        if access is not None and not isinstance(access, MosfetAccess):
            raise ConfigError("access must be an xbar.crossbar.MosfetAccess (or None)")
        self._access = access
        self._v_gate = _array("v_gate", v_gate, [(self._M,)])
        self._v_gate.setflags(write=False)
        if topology not in ("crossbar", "input_switched"):
            raise ConfigError(f"topology={topology!r}; expected 'crossbar' or 'input_switched'")
        v_arr = real_array("v_read", v_read)
        if v_arr.ndim or not np.isfinite(v_arr):
            raise ValueRangeError(f"v_read={v_read!r}: must be one finite voltage [V]")
        v_read = float(v_arr)
        if topology == "input_switched":
            input_switched.check_topology(
                dict(
                    source_end=source_end,
                    sense=sense,
                    r_row=r_row,
                    r_driver=r_driver,
                    v_read=v_read,
                    drive=drive,
                    selector=selector,
                    row_bias=row_bias,
                    col_bias=col_bias,
                    linear=self._device.linear,
                    access=access,
                )
            )
        self.topology, self.source_end, self.v_read = topology, source_end, v_read
        self._set("r_source", r_source)

    def _set_solver(self, options: Options | None, maxiter: int, kernel: str) -> None:
        """Check and store the solver settings (``options``, ``maxiter``, ``kernel``)."""
        self.options = options if options is not None else Options()
        check_options(self.options, "Crossbar options")
        if isinstance(maxiter, bool) or not isinstance(maxiter, int | np.integer) or maxiter < 1:
            raise ValueRangeError(f"maxiter={maxiter!r}: must be an integer >= 1")
        self.maxiter = int(maxiter)
        if kernel not in solver.KERNELS:
            raise ConfigError(f"kernel={kernel!r}; expected one of {solver.KERNELS}")
        self.kernel = kernel

    # --------------------------------------------------------------- read-only attributes
    def _set(self, name: str, value: Any) -> None:
        M, N = self._M, self._N
        shapes = {
            "G": [(M, N)],
            "r_row": [(M, N), (M, N + 1)],
            "r_col": [(M, N), (M + 1, N)],
            "r_driver": [(M,)],
            "r_sense": [(N,)],
            "r_access": [(M, N)],
            "r_source": [(M, N), (M + 1, N)],
        }[name]
        arr = _array(name, value, shapes)
        if name == "G":
            if arr.shape != (M, N):
                raise ShapeError(f"G must keep its shape {(M, N)}, got {arr.shape}")
            bad = ~np.isfinite(arr) | (arr < 0)
            if np.any(bad):  # pragma: no cover - caught by _array
                raise ValueRangeError("G has a bad entry")
        if name == "r_row" and arr.shape == (M, N) and self._drive == "both":
            raise ShapeError(
                f"r_row has shape {(M, N)} but drive='both' needs {(M, N + 1)} segments "
                "(one per end and one between each pair of nodes)"
            )
        if name == "r_col" and arr.shape == (M, N) and self._sense == "both":
            raise ShapeError(f"r_col has shape {(M, N)} but sense='both' needs {(M + 1, N)}")
        arr.setflags(write=False)
        self.__dict__["_" + name] = arr
        self.clear_cache()

    def clear_cache(self) -> None:
        """Forget the system and every cached result (done whenever an array is replaced)."""
        self._cache: dict[Any, Any] = {}

    @property
    def M(self) -> int:
        """Number of rows (inputs)."""
        return self._M

    @property
    def N(self) -> int:
        """Number of columns (outputs)."""
        return self._N

    @property
    def device(self) -> Device:
        """Cell I-V model."""
        return self._device

    @property
    def selector(self) -> Device | None:
        """Series selector model or None."""
        return self._selector

    @property
    def access(self) -> MosfetAccess | None:
        """Access MOSFET (1T1R) or None."""
        return self._access

    @property
    def v_gate(self) -> np.ndarray:
        """Gate voltage per row [V], (M,)."""
        return self._v_gate

    @property
    def drive(self) -> str:
        """Row end(s) carrying the inputs."""
        return self._drive

    @property
    def sense(self) -> str:
        """Column end(s) whose current is the output."""
        return self._sense

    @property
    def row_bias(self) -> Any:
        """Row end overrides (as given) or None."""
        return self._row_bias

    @property
    def col_bias(self) -> Any:
        """Column end overrides (as given) or None."""
        return self._col_bias

    @property
    def g_selector(self) -> np.ndarray | None:
        """Selector small-signal conductance [S] (M, N), or None."""
        return self._g_selector

    def _prop(name: str, doc: str) -> property:  # noqa: N805 - property factory
        def get(self: Crossbar) -> np.ndarray:
            return self.__dict__["_" + name]

        def put(self: Crossbar, value: Any) -> None:
            self._set(name, value)

        return property(get, put, doc=doc)

    G = _prop("G", "Cell conductances [S], (M, N); read-only array, assign to replace.")
    r_row = _prop("r_row", "Row wire resistance per segment [ohm].")
    r_col = _prop("r_col", "Column wire resistance per segment [ohm].")
    r_driver = _prop("r_driver", "Row driver resistance [ohm].")
    r_sense = _prop("r_sense", "Column sense resistance [ohm].")
    r_access = _prop("r_access", "Series access resistance per cell [ohm].")
    r_source = _prop("r_source", "Source-line resistance per segment [ohm] (input_switched).")
    del _prop

    def _line_solver_only(self, what: str) -> None:
        """ConfigError for line-solver methods on arrays with MOSFET access (1T1R)."""
        if self._access is not None:
            raise ConfigError(
                f"Crossbar.{what} is not available with MOSFET access "
                "transistors (their current depends on the column voltage)",
                hint="solve() such arrays (the circuit engine on the netlist)",
            )

    @property
    def is_linear(self) -> bool:
        """True when cells (and selector) are ohmic: :meth:`transfer_matrix` is exact."""
        return self._device.linear and self._selector is None and self._access is None

    def setup(self) -> CrossbarSystem:
        """The :class:`~xbar.crossbar.CrossbarSystem` of this array (built once, cached).

        Raises
        ------
        CircuitError, SingularCircuitError
            A short between two ideal sources, or a floating line.

        Examples
        --------
        >>> import numpy as np, xbar
        >>> system = xbar.Crossbar(np.full((2, 3), 1e-4), 1.0, 0.0).setup()
        >>> system.rows.nS, system.cols.nS   # ideal columns collapse to one known node each
        (6, 0)
        """
        system = self._cache.get("system")
        if system is None and self.topology == "input_switched":
            system = input_switched.build_system(self)
            self._cache["system"] = system
        if system is None:
            system = build_system(self)
            self._cache["system"] = system
        return system

    def aspreconditioner(self) -> LinearOperator:
        """The line preconditioner of the reduced nodal matrix as a scipy ``LinearOperator``.

        For users' own Krylov solves on :func:`xbar.crossbar.system.nodal_matrix`
        (small-signal cell conductances); see
        :func:`xbar.crossbar.system.line_preconditioner`.

        Examples
        --------
        >>> import numpy as np, xbar
        >>> from scipy.sparse.linalg import cg
        >>> from xbar.crossbar.system import nodal_matrix
        >>> xb = xbar.Crossbar(np.full((8, 8), 1e-3), 1.0, 1.0)
        >>> A = nodal_matrix(xb.setup())
        >>> x, info = cg(A, np.ones(A.shape[0]), M=xb.aspreconditioner())
        >>> info
        0
        """
        self._crossbar_only("aspreconditioner()")
        return line_preconditioner(self.setup())

    def __repr__(self) -> str:
        return (
            f"Crossbar({self._M}x{self._N}, device={type(self._device).__name__}, "
            f"drive={self._drive!r}, sense={self._sense!r})"
        )

    # --------------------------------------------------------------- solves
    def _inputs(self, V: Any) -> np.ndarray:
        """Validated input voltages (K, M) [V]."""
        V = real_array("V (input voltages [V])", V)
        if V.ndim == 1:
            V = V[None, :]
        if V.ndim != 2 or V.shape[1] != self._M:
            raise ShapeError(
                f"V has shape {V.shape}; expected ({self._M},) or (K, {self._M}) "
                f"for this {self._M}x{self._N} array"
            )
        if V.shape[0] == 0:
            raise ShapeError(
                f"V has shape {V.shape}: an empty batch (no input vector)",
                hint=f"give at least one input vector of length {self._M}",
            )
        if not np.all(np.isfinite(V)):
            k, i = np.argwhere(~np.isfinite(V))[0]
            raise ValueRangeError(f"V[{k}, {i}] is {V[k, i]}; input voltages must be finite")
        return V

    def solve(
        self,
        V: np.ndarray,
        *,
        warm_start: CrossbarSolution | None = None,
        return_nodes: bool = False,
        tol: float = 1e-10,
    ) -> CrossbarSolution:
        """Solve the array for input voltages ``V``.

        Parameters
        ----------
        V : array (M,) or (K, M)
            Input voltages [V] of the driven row ends.
        warm_start : CrossbarSolution, optional
            A previous solution (same K, or K = 1) whose node voltages start the iteration.
        return_nodes : bool
            Also return row/column node voltages and cell currents, (K, M, N) each.
        tol : float
            Relative KCL residual to reach, ``||A x - b|| / ||b||``.

        Returns
        -------
        CrossbarSolution
            ``output`` (K, N) column currents [A], and the rest as documented there.

        Raises
        ------
        ConvergenceError
            When CG or Newton does not reach ``tol`` within the iteration limits.
        """
        if self.topology == "input_switched":  # V holds bits; exact direct solve
            return input_switched.solution(self.setup(), V, return_nodes)
        V = self._inputs(V)
        if (
            isinstance(tol, bool)
            or not isinstance(tol, int | float | np.number)
            or not (0 < tol < 1)
        ):
            raise ConfigError(f"tol={tol!r}; expected a number with 0 < tol < 1")
        if warm_start is not None:
            self._check_warm_start(warm_start, V.shape[0])
        if self._access is not None:  # 1T1R with MOSFETs: the engine on the array's netlist
            return solve_with_engine(self, V, return_nodes)
        with memory_guard(f"solving {V.shape[0]} input(s) on a {self._M}x{self._N} array"):
            sol = solver.solve(
                self.setup(),
                V,
                tol=tol,
                maxiter=self.maxiter,
                options=self.options,
                kernel=self.kernel,
                warm_start=warm_start,
                return_nodes=return_nodes,
            )
        return self._check_tables(sol)

    def _check_warm_start(self, ws: Any, K: int) -> None:
        """A warm start must be a solution of an array of this size, for K inputs or 1."""
        if not isinstance(ws, CrossbarSolution):
            raise InputTypeError(
                f"warm_start must be a CrossbarSolution of this array, got {type(ws).__name__}"
            )
        M, N = ws.inputs.shape[-1], ws.output.shape[-1]
        if (M, N) != (self._M, self._N):
            raise ShapeError(
                f"warm_start is a solution of a {M}x{N} array; this array is {self._M}x{self._N}"
            )
        if ws.output.shape[0] not in (1, K):
            raise ShapeError(f"warm_start has batch size {ws.output.shape[0]}; expected {K} or 1")

    def _check_tables(self, sol: CrossbarSolution) -> CrossbarSolution:
        """Record (or refuse, ``Tabulated(outside="error")``) voltages beyond an I-V table."""
        if not sol.state or "ve" not in sol.state:
            return sol
        for e, (model, scale) in enumerate(self.setup().elements):
            if not isinstance(model, Tabulated):
                continue
            found = model.outside_table(sol.state["ve"][e], scale, "cell" if e == 0 else "selector")
            if found is None:
                continue
            if model.outside == "error":
                raise ValueRangeError(
                    str(found).replace("was extrapolated linearly there", "has no data there"),
                    hint="extend the I-V table, lower the inputs, or use "
                    "Tabulated(..., outside='extrapolate') to continue it linearly",
                )
            sol.extrapolated.append(found)
        return sol

    # --------------------------------------------------------------- linear maps
    def transfer_matrix(self, method: str = "auto") -> np.ndarray:
        """Exact (M, N) map ``W`` [S] with ``output = V @ W`` (plus any bias offset).

        Computed once and cached; replacing ``G`` or a resistance invalidates it.
        Only for linear cells (use :meth:`linearize` otherwise).

        Parameters
        ----------
        method : {"auto", "columns", "rows", "cg"}
            ``columns``: block elimination sweeping along the columns (dense (M, M)
            blocks, cost ~ N M^3; needs rows without zero-resistance segments and
            every connected column end sensed); ``rows``: sweeping down the rows
            (dense (N, N) blocks, cost ~ M N^3 + M^2 N^2 / 2; needs columns without
            zero-resistance segments or sensed ends); ``cg``: one batched CG solve
            per unit input (tol 1e-12, always applies).  ``auto`` tries the cheaper
            elimination for the shape first (cost model in
            :mod:`xbar.crossbar.transfer`), then the other, then ``cg``;
            :attr:`transfer_method` tells which one ran.

        Raises
        ------
        ConfigError
            Nonlinear cells, an unknown method, or a forced method that does not
            apply to this topology.
        """
        self._crossbar_only("transfer_matrix()")
        self._line_solver_only("transfer_matrix")
        if not self.is_linear:
            raise ConfigError(
                "transfer_matrix() needs linear cells; use linearize(V0) for "
                f"{type(self._device).__name__} cells"
            )
        if method not in transfer.METHODS:
            raise ConfigError(
                f"transfer_matrix(method={method!r}); expected 'auto', 'columns', 'rows' or 'cg'"
            )
        key = "W" if method == "auto" else ("W", method)
        W = self._cache.get(key)
        if W is None:
            with memory_guard(f"the transfer matrix of a {self._M}x{self._N} array"):
                W, how = transfer.transfer_matrix(
                    self.setup(), None, method, maxiter=self.maxiter, kernel=self.kernel
                )
            W.setflags(write=False)
            self._cache[key] = W
            if method == "auto":
                self._cache["transfer_method"] = how
        return W

    @property
    def transfer_method(self) -> str | None:
        """How the cached :meth:`transfer_matrix` was computed: ``"columns"`` (block sweep
        along the columns, cost ~ N M^3), ``"rows"`` (sweep down the rows, cost
        ~ M N^3 + M^2 N^2 / 2), ``"cg"`` (batched CG fallback) or None (not computed yet)."""
        return self._cache.get("transfer_method")

    def linearize(self, V0: np.ndarray) -> LinearizedCrossbar:
        """Small-signal map around the operating point ``V0`` (M,) (cached per ``V0``).

        Returns
        -------
        LinearizedCrossbar
            ``.operating_output`` (N,) [A] and ``.W`` (M, N) [S] with
            ``output(V0 + dV) ~= operating_output + dV @ W``.
        """
        self._crossbar_only("linearize()")
        self._line_solver_only("linearize")
        V0 = self._inputs(V0)
        if V0.shape[0] != 1:
            raise ShapeError(f"linearize needs one operating point of shape ({self._M},)")
        key = ("lin", V0.tobytes())
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        sol = self.solve(V0, return_nodes=False)
        if self.is_linear:
            W = self.transfer_matrix()
        else:
            system = self.setup()
            geff = solver.differential_conductance(system, sol.state["ve"])
            W, _ = transfer.transfer_matrix(system, geff, maxiter=self.maxiter, kernel=self.kernel)
        lin = LinearizedCrossbar(V0=V0[0], operating_output=sol.output[0], W=W)
        self._cache[key] = lin
        return lin

    # --------------------------------------------------------------- power
    def power_forms(self, inputs: int | None = None) -> PowerForms:
        """Power of any input as quadratic forms, ``P_c(V) = V^T Q_c V`` (cached).

        The node voltages of the unit inputs come from a direct block elimination
        (:func:`~xbar.crossbar.power.unit_responses`) or, where that does not apply or
        costs more, one batched solve (residual 1e-13); replacing ``G`` or a resistance
        invalidates the forms with the transfer matrix.  Linear cells and no biased
        line ends only (the power is then a quadratic form of the inputs).

        Parameters
        ----------
        inputs : int, optional
            Forms of the first ``inputs`` inputs only, every other input held at 0 V
            (for example the used rows of a partly used array; its idle cells, lines
            and ends still dissipate and are counted).  Default: all M.

        Returns
        -------
        PowerForms
            ``.Q`` (m, m) [S] per part (m = ``inputs``), ``.power(V)``,
            ``.batch_energy(V.T @ V)``; see :mod:`xbar.crossbar.power`.
        """
        self._crossbar_only("power_forms()")
        self._line_solver_only("power_forms")
        m = self._M if inputs is None else int(inputs)
        if not 1 <= m <= self._M:
            raise ValueRangeError(f"power_forms(inputs={inputs}): must be 1 to M={self._M}")
        forms = self._cache.get(("power_forms", m))
        if forms is None:
            system = self.setup()
            if not self.is_linear or system.bias_values.size:
                raise ConfigError(
                    "power_forms() needs linear cells and no biased line ends (the power "
                    "is then a quadratic form of the inputs)",
                    hint="use solve(V).power for this array",
                )

            def solve_units(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                sol = self.solve(V, tol=1e-13)
                return sol.state["xr"], sol.state["xc"]

            forms = power.forms_of(system, solve_units, m)
            self._cache[("power_forms", m)] = forms
        return forms

    # --------------------------------------------------------------- export
    def to_netlist(self, path: Any = None, V: np.ndarray | None = None, **kw: Any) -> str:
        """Write the identical circuit as a SPICE netlist; see :func:`xbar.crossbar.to_netlist`."""
        from .netlist import to_netlist

        return to_netlist(self, path, V, **kw)

    # --------------------------------------------------------------- input-switched arrays
    def pattern_conductances(self, bits: np.ndarray) -> np.ndarray:
        """Per-pattern transfer vectors (K, N) [S] of an input-switched array.

        ``solve(bits).output == v_read * pattern_conductances(bits)``; every distinct
        pattern is solved once and kept in this array's cache
        (:func:`xbar.crossbar.input_switched.pattern_conductances`).
        """
        if self.topology != "input_switched":
            raise ConfigError(
                "pattern_conductances() is for topology='input_switched'",
                hint="use transfer_matrix() for a crossbar",
            )
        cache = self._cache.setdefault("patterns", {})
        return input_switched.pattern_conductances(self.setup(), bits, cache)

    def _crossbar_only(self, what: str) -> None:
        if self.topology == "input_switched":
            raise ConfigError(
                f"{what} has no meaning for an input-switched array (its output "
                "is not linear in the input bits)",
                hint="use pattern_conductances(bits) or solve(bits)",
            )
