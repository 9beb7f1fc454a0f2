"""CSV data sets: one sample per row, a label column and numeric feature columns.

``csv:PATH`` reads what spreadsheets, pandas (``df.to_csv``) and Kaggle's MNIST files
(``label,pixel0,...,pixel783``) hold.  ``PATH`` is a ``.csv`` file (test samples) or a
folder holding ``*test.csv`` and optionally ``*train.csv``.  A first row with any
non-numeric field is a header; the label column is the one named ``label``,
``labels``, ``target``, ``class`` or ``y`` (any case), else, without a header, the
first column.  A first column with an empty name (the index ``DataFrame.to_csv``
writes) is left out.  Values are taken as the numbers they are (pixels 0..255 stay 0..255:
give ``--std 255`` to scale them to [0, 1]).  Rows come back as feature vectors
``(N, F)``; a model taking single-channel images of F pixels gets them reshaped row by
row (see :func:`xbar.network.data.shaped_for`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import ModelError

__all__ = ["read_csv_split", "csv_files", "LABEL_NAMES"]

#: header names taken for the label column (compared in lower case)
LABEL_NAMES = ("label", "labels", "target", "class", "y")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _label_column(header: list[str] | None, path: Path) -> int:
    if header is None:
        return 0
    names = [h.strip().lower() for h in header]
    hits = [k for k, n in enumerate(names) if n in LABEL_NAMES]
    if len(hits) != 1:
        raise ModelError(
            f"csv file {str(path)!r}: "
            + (
                f"several label columns {[header[k] for k in hits]}"
                if hits
                else f"no label column among {header[:4]}{' ...' if len(header) > 4 else ''}"
            ),
            hint="name the label column one of " + ", ".join(LABEL_NAMES) + " (or write the "
            "file without a header, label first)",
        )
    return hits[0]


def read_csv_split(path: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(N, F)`` float64 and integer labels ``(N,)`` of one CSV file; at most
    ``limit`` rows are read.  Errors name the file, line and column."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ModelError(f"cannot read csv file {str(path)!r}: {exc}") from None
    with fh:
        line = fh.readline()
        fh.seek(0)
        sep = next((c for c in ",;\t" if c in line), ",")  # comma, semicolon or tab
        rows = csv.reader(fh, delimiter=sep)
        first = next(rows, None)
        if first is None or not any(f.strip() for f in first):
            raise ModelError(f"csv file {str(path)!r} is empty")
        header = first if any(_number(f) is None for f in first) else None
        index = header is not None and len(header) > 1 and not header[0].strip()
        col = _label_column(header[index:] if header else None, path) + index
        width = len(first)
        data, line0 = ([] if header else [first]), (2 if header else 1)
        for row in rows:
            if limit is not None and len(data) >= limit:
                break
            if row and any(f.strip() for f in row):
                data.append(row)
    if width < 2:
        raise ModelError(
            f"csv file {str(path)!r} has {width} column(s); expected a label and features"
        )
    if not data:
        raise ModelError(f"csv file {str(path)!r} holds no samples")
    values = np.empty((len(data), width))
    for i, row in enumerate(data):
        if len(row) != width:
            raise ModelError(
                f"csv file {str(path)!r}, line {line0 + i}: {len(row)} fields, the first "
                f"{'row (header)' if header else 'row'} has {width}"
            )
        for j, text in enumerate(row):
            v = _number(text)
            if v is None:
                raise ModelError(
                    f"csv file {str(path)!r}, line {line0 + i}, column {j + 1}: {text!r} "
                    "is not a number"
                )
            values[i, j] = v
    y = values[:, col]
    bad = np.flatnonzero((y != np.round(y)) | (y < 0))
    if bad.size:
        raise ModelError(
            f"csv file {str(path)!r}, line {line0 + int(bad[0])}: label "
            f"{float(y[bad[0]]):g} (column "
            f"{col + 1}) is not a class index 0, 1, ...",
        )
    x = np.delete(values, [col, 0] if index else [col], axis=1)
    if not np.isfinite(x).all():
        i, j = (int(k) for k in np.argwhere(~np.isfinite(x))[0])
        raise ModelError(f"csv file {str(path)!r}, line {line0 + i}: value {x[i, j]} is not finite")
    return x, y.astype(np.int64)


def csv_files(root: Path) -> tuple[Path | None, Path]:
    """(training file or None, test file) of a ``csv:`` PATH (a file or a folder)."""
    if root.is_file():
        return None, root
    if not root.is_dir():
        raise ModelError(f"csv: {str(root)!r} does not exist")
    found = {}
    for kind in ("train", "test"):
        hits = sorted(p for p in root.glob("*.csv") if p.stem.lower().endswith(kind))
        if len(hits) > 1:
            raise ModelError(
                f"csv: folder {str(root)!r} holds several {kind} files {[p.name for p in hits]}",
                hint="give the file: csv:PATH/NAME.csv",
            )
        found[kind] = hits[0] if hits else None
    if found["test"] is None:
        raise ModelError(
            f"csv: folder {str(root)!r} holds no *test.csv file",
            hint="give the file itself: csv:PATH/NAME.csv",
        )
    return found["train"], found["test"]
