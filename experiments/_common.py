"""Shared helpers of the experiment scripts: arguments, one sweep per CSV, tables, figures.

Every experiment writes ``docs/figures/<name>.csv`` (one row per (grid point, chip), the
format of :func:`xbar.network.sweep`) and ``docs/figures/<name>.png``.  Rerunning a script
resumes: finished rows are reused, only missing ones are computed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--chips", type=int, default=None, help="chips per grid point")
    p.add_argument("--limit", type=int, default=None, help="test images (default: all 539)")
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    p.add_argument(
        "--executor",
        default="processes",
        help="processes | serial | local | a Dask scheduler address",
    )
    p.add_argument("--only", nargs="*", default=None, help="run only these parts")
    p.add_argument("--out", type=Path, default=FIGURES, help="directory for CSV and PNG files")
    return p


class Progress:
    """Prints one line per 10% of a sweep to stderr."""

    def __init__(self, name: str):
        self.name, self.t0, self.last = name, time.perf_counter(), -1

    def __call__(self, done: int, total: int) -> None:
        step = int(10 * done / max(total, 1))
        if step != self.last:
            self.last = step
            el = time.perf_counter() - self.t0
            print(f"  {self.name}: {done}/{total} tasks, {el:.0f} s", file=sys.stderr, flush=True)


def run(name, model, base, axes, args, *, chips=None, limit=None):
    """Run (or resume) one sweep into ``<out>/<name>.csv``; returns the table."""
    from xbar.network import sweep

    if chips is not None:
        base = base.replace(repeats=chips)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    table = sweep(
        model,
        base,
        axes,
        out=args.out / f"{name}.csv",
        executor=args.executor,
        workers=args.workers,
        limit=limit if limit is not None else args.limit,
        progress=Progress(name),
    )
    el = time.perf_counter() - t0
    print(
        f"{name}: {table.computed} tasks run, {table.reused} reused, {el:.1f} s "
        f"({np.nansum(table.seconds):.1f} s of task time)",
        file=sys.stderr,
        flush=True,
    )
    return table


def digital_accuracy(model, limit=None) -> float:
    """Accuracy of the model in floating point on the digits test set (first ``limit``)."""
    from xbar.network import load_dataset, load_model

    m = load_model(model) if isinstance(model, str | Path) else model
    d = load_dataset("digits")
    n = len(d.y_test) if limit is None else min(limit, len(d.y_test))
    return float(m.accuracy(d.x_test[:n], d.y_test[:n]))


def markdown_table(table, *, digits=1) -> str:
    """Mean [95% CI of the mean] (std, min) per grid point, first field down, second across."""
    from xbar.network.stats import mean_ci

    f1 = table.fields[0]
    second = table.values[1] if len(table.fields) > 1 else ("accuracy",)
    head = (
        f"| {f1} | "
        + " | ".join(
            f"{table.fields[1]}={v}" if len(table.fields) > 1 else "accuracy" for v in second
        )
        + " |"
    )
    lines = [head, "|" + "---|" * (1 + len(second))]
    for i, v1 in enumerate(table.values[0]):
        cells = []
        for j in range(len(second)):
            ci, lo = mean_ci(table.accuracies[i, j]), table.min[i, j]
            if table.chips > 1:
                cells.append(
                    f"{100 * ci.mean:.{digits}f} [{100 * ci.low:.{digits}f}, "
                    f"{100 * ci.high:.{digits}f}] (std {100 * ci.std:.{digits}f}, "
                    f"min {100 * lo:.{digits}f})"
                )
            else:
                cells.append(f"{100 * ci.mean:.{digits}f}")
        lines.append(f"| {v1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, default=float) + "\n")


def write_summary(out: Path, prefix: str, names, header: str, summary: dict, key: str) -> None:
    """Collect every finished part ``<prefix>_<name>.md/.json`` (this run or earlier ones)
    into ``<prefix>_summary.md`` and ``<prefix>_summary.json`` (under ``summary[key]``), and
    print the markdown."""
    report = [header]
    summary.setdefault(key, {})
    for name in names:
        md, js = out / f"{prefix}_{name}.md", out / f"{prefix}_{name}.json"
        if md.exists() and js.exists():
            report.append(md.read_text())
            summary[key][name] = json.loads(js.read_text())
    save_json(out / f"{prefix}_summary.json", summary)
    (out / f"{prefix}_summary.md").write_text("\n".join(report))
    print("\n".join(report))


def figure(ncols: int, nrows: int = 1, width: float = 4.4, height: float = 3.4):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def fill_doc(doc: Path, key: str, text: str) -> bool:
    """Replace the block between ``<!-- generated:KEY -->`` and ``<!-- /generated:KEY -->``
    in ``doc`` with ``text`` (so the docs' numbers come from the scripts, never by hand).

    Returns False (and leaves the file alone) when the markers are missing.
    """
    begin, end = f"<!-- generated:{key} -->", f"<!-- /generated:{key} -->"
    src = doc.read_text()
    if begin not in src or end not in src:
        return False
    head, rest = src.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{text.strip()}\n{end}{tail}")
    return True
