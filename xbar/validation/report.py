"""Tables, JSON and the Markdown report (with figures) of a validation run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .framework import ERROR, FAILED, PASSED, SKIPPED, Outcome

_VERDICT = {PASSED: "pass", FAILED: "FAIL", ERROR: "ERROR", SKIPPED: "skip"}


def _fmt_err(o: Outcome) -> str:
    if o.result is None or not math.isfinite(o.result.max_rel_error):
        return "-"
    return f"{o.result.max_rel_error:.2e}"


def table_rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    """Rows (header first) of the summary table."""
    rows = [["case", "kind", "reference", "max rel error", "tolerance", "result"]]
    for o in outcomes:
        rows.append(
            [
                o.case.name,
                o.case.kind,
                o.case.reference,
                _fmt_err(o),
                f"{o.case.tolerance:.0e}",
                _VERDICT[o.status],
            ]
        )
    return rows


def format_table(outcomes: Sequence[Outcome]) -> str:
    """Plain-text table for the terminal, then one line per failure or skip."""
    rows = table_rows(outcomes)
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"{o.case.name}: {o.message}" for o in outcomes if o.message]
    if notes:
        lines.append("")
        lines.extend(notes)
    lines.append("")
    lines.append(summary_line(outcomes))
    return "\n".join(lines)


def summary_line(outcomes: Sequence[Outcome]) -> str:
    """``"N passed, N failed, N skipped in S s"``."""
    count = {s: 0 for s in (PASSED, FAILED, ERROR, SKIPPED)}
    for o in outcomes:
        count[o.status] += 1
    total = sum(o.seconds for o in outcomes)
    parts = [f"{count[PASSED]} passed", f"{count[FAILED] + count[ERROR]} failed"]
    if count[SKIPPED]:
        parts.append(f"{count[SKIPPED]} skipped")
    return ", ".join(parts) + f" ({len(outcomes)} cases, {total:.1f} s)"


def markdown_table(outcomes: Sequence[Outcome]) -> str:
    """The summary table as Markdown."""
    rows = table_rows(outcomes)
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    for r in rows[1:]:
        r = [f"`{r[0]}`", *r[1:]]
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out)


def to_json(outcomes: Sequence[Outcome]) -> dict:
    """``{"cases": [...]}`` with one dictionary per case (see :meth:`Outcome.to_dict`)."""
    return {"cases": [o.to_dict() for o in outcomes]}


# ---------------------------------------------------------------------------
# figures


def _draw_loglog(spec: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.2), constrained_layout=True)
    x = np.asarray(spec["x"], dtype=float)
    markers = "os^vD"
    for k, (label, y) in enumerate(spec["series"].items()):
        y = np.asarray(y, dtype=float)
        style = "--" if label.startswith(("first order", "slope", "reference")) else "-"
        ax.loglog(x, y, style, marker=markers[k % len(markers)], ms=4, label=label)
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.set_ylabel(spec.get("ylabel", ""))
    ax.set_title(spec.get("title", ""), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _draw_heatmaps(spec: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    maps = {k: np.asarray(v, dtype=float) for k, v in spec["maps"].items()}
    fig, axes = plt.subplots(
        1, len(maps), figsize=(4.2 * len(maps), 3.8), constrained_layout=True, squeeze=False
    )
    shared = [k for k in maps if not k.startswith("difference")]
    lo = min(float(maps[k].min()) for k in shared) if shared else None
    hi = max(float(maps[k].max()) for k in shared) if shared else None
    for ax, (label, data) in zip(axes[0], maps.items(), strict=True):
        if label.startswith("difference"):
            lim = float(np.abs(data).max()) or 1.0
            im = ax.imshow(data, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        else:
            im = ax.imshow(data, cmap="viridis", vmin=lo, vmax=hi, aspect="auto")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("column j")
        ax.set_ylabel("row i")
        fig.colorbar(im, ax=ax, label=spec.get("unit", ""))
    fig.suptitle(spec.get("title", ""), fontsize=10)
    fig.savefig(path, dpi=130)
    plt.close(fig)


_DRAW = {"loglog": _draw_loglog, "heatmaps": _draw_heatmaps}


def write_figures(outcomes: Sequence[Outcome], out_dir: Path) -> dict[str, list[tuple]]:
    """Draw every figure the cases produced; returns case name -> [(PNG name, caption)]."""
    made: dict[str, list[tuple]] = {}
    for o in outcomes:
        if o.result is None:
            continue
        for fig_name, spec in o.result.figures.items():
            draw = _DRAW.get(spec.get("type"))
            if draw is None:
                continue
            fname = f"{fig_name}.png"
            draw(spec, out_dir / fname)
            made.setdefault(o.case.name, []).append((fname, spec.get("caption", "")))
    return made


# ---------------------------------------------------------------------------
# the Markdown report

_INTRO = """\
# xbar validation report

Every case below solves a small circuit with xbar and compares the result with a
reference computed **independently of the solver under test**: a closed form (the
hyperbolic ladder solution, Lambert's W), a scalar root-find, a dense textbook
nodal solve, a physical law (superposition, reciprocity, passivity, Kirchhoff's
current law, power balance), or ngspice run on the very same netlist.

*max rel error* is the largest deviation relative to the largest magnitude of the
compared quantity (`max |x - x_ref| / max |x_ref|`), taken over all node voltages,
currents and inputs of the case. A case passes when that error is within its
tolerance and its extra checks (for example a fitted convergence order) hold.
Linear cases are held to round-off; nonlinear ones to the Newton tolerance that
was requested; each case states why.

*kind* says where the reference comes from: `analytic` (a closed form, root-find,
dense textbook solve or physical law, computed in `xbar/validation/reference.py`,
which never calls the solvers under test; its float64 formulas are themselves
checked against 50-digit tables in `validation/references/`) or `ngspice` (the
same netlist run by ngspice; skipped with "ngspice not found" where it is not
installed). Re-run one case with `xbar validate --case NAME`; the code of every
case is in `xbar/validation/cases_analytic.py` and `cases_ngspice.py`.
"""


def prepare_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` (with its parents) and check that files can be written there.

    Call it before running the cases, so a bad ``--out`` fails at once.

    Raises
    ------
    ConfigError
        Naming the path, when it is an existing file, cannot be created or is not
        writable.
    """
    from ..errors import ConfigError

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(
            f"--out {str(out_dir)!r} exists and is not a directory",
            hint="give a directory for report.md and the figures",
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".xbar-write-test"
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"--out {str(out_dir)!r}: cannot write the report there: {exc.strerror or exc}",
            hint="choose a writable directory",
        ) from None
    return out_dir


def write_report(outcomes: Sequence[Outcome], out_dir: str | Path, *, header: str = "") -> Path:
    """Write ``report.md`` and PNG figures into ``out_dir``; returns the report path.

    Raises :class:`~xbar.errors.ConfigError` naming ``out_dir`` when it cannot be written.
    """
    from ..errors import ConfigError

    out_dir = prepare_out_dir(out_dir)
    try:
        return _write_report(outcomes, out_dir, header)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the validation report into {str(out_dir)!r}: {exc.strerror or exc}"
        ) from None


def _write_report(outcomes: Sequence[Outcome], out_dir: Path, header: str) -> Path:
    figures = write_figures(outcomes, out_dir)
    lines = [_INTRO]
    if header:
        lines += [header, ""]
    lines += ["## Summary", "", markdown_table(outcomes), "", summary_line(outcomes), ""]
    if figures:
        lines += ["## Figures", ""]
        for name, files in figures.items():
            for f, caption in files:
                lines += [
                    f"![{name}: {f}]({f})",
                    "",
                    f"*{caption} (case `{name}`)*" if caption else f"*Case `{name}`.*",
                    "",
                ]
    lines += ["## The cases", ""]
    for o in outcomes:
        c = o.case
        lines += [f"### `{c.name}` ({c.kind}) - {_VERDICT[o.status]}", "", c.description, ""]
        lines.append(f"- **Reference:** {c.reference}")
        lines.append(f"- **Tolerance:** {c.tolerance:.0e} - {c.why}")
        lines.append(f"- **Measured:** max rel error {_fmt_err(o)} in {o.seconds:.2f} s")
        if o.message:
            lines.append(f"- **Note:** {o.message}")
        if o.result is not None:
            for ch in o.result.checks:
                lines.append(f"- **Check:** {ch.describe()}")
            for key, val in o.result.details.items():
                lines.append(f"- {key}: {_fmt_detail(val)}")
        for f, _ in figures.get(c.name, []):
            lines.append(f"- Figure: [{f}]({f})")
        lines.append("")
    from ..checks import write_files

    path = out_dir / "report.md"
    text = "\n".join(lines).encode("utf-8")
    write_files({path: lambda fh: fh.write(text)})  # never a half-written report
    return path


def _fmt_detail(val) -> str:
    if isinstance(val, float):
        return f"{val:.4g}"
    if isinstance(val, dict):
        return ", ".join(f"{k} {_fmt_detail(v)}" for k, v in val.items())
    return str(val)
