"""Run ngspice in batch mode on a netlist and read back its results.

Used by the cross-check tests, the validation suite and the benchmarks; xbar
itself never needs ngspice.  The netlist is run with ``ngspice -b -r RAW``
and the ASCII raw file (16 significant digits) is parsed, so no precision is
lost to ngspice's printed tables.

Examples
--------
>>> from xbar.spice.ngspice import ngspice_available, run_ngspice
>>> if ngspice_available():
...     res = run_ngspice("divider\\nV1 a 0 1\\nR1 a b 1k\\nR2 b 0 1k\\n.op\\n.end\\n")
...     print(round(float(res.voltages["b"][0]), 12))
... else:
...     print(0.5)
0.5
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import XbarError

__all__ = ["SpiceResult", "ngspice_available", "ngspice_path", "run_ngspice"]


def ngspice_path() -> str | None:
    """Path of the ``ngspice`` executable, or None when it is not installed."""
    return shutil.which("ngspice")


def ngspice_available() -> bool:
    """True when an ``ngspice`` executable is on the PATH."""
    return ngspice_path() is not None


@dataclass
class SpiceResult:
    """Results of one ngspice analysis (the first plot of the raw file).

    Attributes
    ----------
    analysis : str
        ``"op"`` or ``"dc"``.
    sweep : ndarray or None
        Swept values of the (inner) source for ``.dc``, shape (points,).
    voltages : dict of str to ndarray
        Node voltages [V] by lower-case node name, shape (points,) (1 for ``.op``).
    currents : dict of str to ndarray
        Branch currents [A] of voltage sources (and other branch elements) by
        lower-case element name, ngspice sign (positive into the + terminal).
    seconds : float
        Wall time of the ngspice process [s].
    stdout : str
        Everything ngspice printed.
    plots : list of SpiceResult
        Every analysis in the raw file (this object is ``plots[0]``).
    """

    analysis: str
    sweep: np.ndarray | None
    voltages: dict[str, np.ndarray]
    currents: dict[str, np.ndarray]
    seconds: float = 0.0
    stdout: str = ""
    plots: list = field(default_factory=list, repr=False)

    def first_point(self) -> SpiceResult:
        """A transient result's first time point as an operating point (``"op"``, every
        vector of shape (1,), ``time`` left out): the operating point ngspice computes
        before the transient, which xbar solves for a netlist whose first analysis is
        ``.tran``.  Another analysis is returned unchanged."""
        if self.analysis != "transient":
            return self
        volts = {k: v[:1].copy() for k, v in self.voltages.items() if k != "time"}
        amps = {k: v[:1].copy() for k, v in self.currents.items()}
        return SpiceResult("op", None, volts, amps, self.seconds, self.stdout)


def _parse_raw(text: str) -> list[SpiceResult]:
    """Parse an ASCII SPICE raw file holding one or more plots."""
    lines = text.splitlines()
    plots = []
    i = 0
    n = len(lines)
    while i < n:
        plotname = ""
        nvars = npts = 0
        names: list[str] = []
        while i < n and not lines[i].startswith("Values:"):
            line = lines[i]
            if line.startswith("Plotname:"):
                plotname = line.split(":", 1)[1].strip()
            elif line.startswith("No. Variables:"):
                nvars = int(line.split(":", 1)[1])
            elif line.startswith("No. Points:"):
                npts = int(line.split(":", 1)[1])
            elif line.startswith("Variables:"):
                for j in range(nvars):
                    parts = lines[i + 1 + j].split()
                    names.append(parts[1].lower())
                i += nvars
            i += 1
        if i >= n:
            break
        i += 1  # past "Values:"
        tokens: list[str] = []
        need = nvars * npts
        while i < n and len(tokens) < need + npts:
            if lines[i].startswith(("Title:", "Plotname:", "Date:")):
                break
            tokens.extend(lines[i].split())
            i += 1
        # every point starts with its index, then nvars values
        data = np.empty((npts, nvars))
        k = 0
        for p in range(npts):
            k += 1  # point index
            # complex data (AC, noise) is "re,im": the real part is kept
            data[p] = [float(t.split(",", 1)[0]) for t in tokens[k : k + nvars]]
            k += nvars
        low = plotname.lower()
        analysis = (
            "op"
            if "operating" in low
            else "dc"
            if "dc transfer" in low or not low
            else low.split()[0]
        )
        voltages: dict[str, np.ndarray] = {}
        currents: dict[str, np.ndarray] = {}
        sweep = None
        for j, name in enumerate(names):
            col = data[:, j].copy()
            if name.startswith("v(") and name.endswith(")"):
                node = name[2:-1]
                if node == "v-sweep" or node.endswith("-sweep"):
                    sweep = col
                else:
                    voltages[node] = col
            elif name.startswith("i(") and name.endswith(")"):
                currents[name[2:-1]] = col
            elif name.endswith("#branch"):
                currents[name[: -len("#branch")]] = col
            elif analysis == "dc" and j == 0:
                sweep = col
            else:
                voltages[name] = col
        plots.append(SpiceResult(analysis, sweep, voltages, currents))
    return plots


def run_ngspice(netlist: str | os.PathLike, *, timeout: float = 600.0) -> SpiceResult:
    """Run ``ngspice -b`` on a netlist and return its first DC analysis (``.op`` or
    ``.dc``; the first analysis of any kind when it has none).

    Parameters
    ----------
    netlist : str or path-like
        A path to a netlist file, or the netlist text itself (a string that
        contains a newline).  ``.include`` paths in a file resolve as ngspice
        resolves them (relative to the working directory, which is set to the
        file's folder).
    timeout : float
        Seconds before the ngspice process is killed.

    Returns
    -------
    SpiceResult

    Raises
    ------
    XbarError
        ngspice is missing, timed out, reported an error, or wrote no results.
    """
    exe = ngspice_path()
    if exe is None:
        raise XbarError("ngspice is not installed", hint="apt-get install -y ngspice")
    with tempfile.TemporaryDirectory(prefix="xbar-ngspice-") as tmp:
        tmpdir = Path(tmp)
        if isinstance(netlist, str) and "\n" in netlist:
            path = tmpdir / "netlist.cir"
            path.write_text(netlist)
            cwd = tmpdir
        else:
            path = Path(netlist).resolve()
            if not path.is_file():
                raise XbarError(f"netlist file not found: {path}")
            cwd = path.parent
        raw = tmpdir / "out.raw"
        env = dict(os.environ, SPICE_ASCIIRAWFILE="1")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [exe, "-b", "-r", str(raw), str(path)],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                errors="replace",  # a title or node in Latin-1 or UTF-16 is echoed back
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise XbarError(f"ngspice timed out after {timeout:g} s on {path}") from None
        seconds = time.perf_counter() - t0
        out = proc.stdout + proc.stderr
        bad = [
            ln
            for ln in out.splitlines()
            if ln.lower().startswith(("error", "fatal")) or "simulation(s) aborted" in ln.lower()
        ]
        if proc.returncode != 0 or bad or not raw.exists():
            detail = "\n".join(bad) or out[-2000:]
            raise XbarError(f"ngspice failed on {path} (exit {proc.returncode}):\n{detail}")
        plots = _parse_raw(raw.read_text(errors="replace"))
    if not plots:
        raise XbarError(f"ngspice wrote no analysis results for {path}")
    # the DC analysis xbar compares with (.op or .dc), else the first plot
    first = next((p for p in plots if p.analysis in ("op", "dc")), plots[0])
    first.seconds = seconds
    first.stdout = out
    first.plots = plots
    return first
