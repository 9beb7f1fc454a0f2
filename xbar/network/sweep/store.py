"""The resumable CSV store of a sweep, locked against a second writer.

Format: comment lines (``# key: json``) with the magic line, the fingerprint and the sweep's
metadata, then a CSV table with one row per finished task::

    # xbar sweep v1
    # fingerprint: 0123456789abcdef
    # model: "..."
    point,programming_sigma,chip,accuracy,seconds,energy_per_image
    0,0.0,0,0.975,1.23,4.74e-09

``energy_per_image`` is the chip's energy per test image [J] (:mod:`xbar.network.energy`;
empty when the evaluator reports none).  Files written before that column existed are read
and resumed as they are (their rows keep the old columns; energies read back as NaN).

Rows are appended and flushed one at a time as whole lines, so a reader (or a resumed run)
sees every finished task; an incomplete last line (a run killed while writing) is ignored by
readers and cut off by the next writer.

One writer at a time: :meth:`SweepStore.open` takes an exclusive ``flock`` on the CSV for the
whole sweep.  A second sweep on the same file is refused at once with a :class:`ConfigError`
naming the file and the process that holds it (never two writers, so never a task run twice
or a row written twice).  The lock dies with its process, also on ``kill -9``.  Where
``fcntl`` is missing (Windows) there is no lock.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...checks import path_arg, special_file
from ...errors import ConfigError
from .fingerprint import jsonable
from .grid import Grid, Task, format_value, parse_cell
from .table import SweepTable

__all__ = ["SweepStore", "read_rows", "read_sweep"]

MAGIC = "# xbar sweep v1"


def columns(fields: Sequence[str], energy: bool = True) -> list[str]:
    """Column names of a sweep CSV over ``fields`` (``energy=False``: the older layout)."""
    return ["point", *fields, "chip", "accuracy", "seconds"] + (
        ["energy_per_image"] if energy else []
    )


def header(fingerprint: str, meta: dict[str, Any], fields: Sequence[str]) -> str:
    """The comment lines and the column line that start a sweep CSV."""
    lines = [MAGIC, f"# fingerprint: {fingerprint}"]
    for key, value in meta.items():
        lines.append(f"# {key}: {json.dumps(jsonable(value), sort_keys=True)}")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(columns(fields))
    return "\n".join(lines) + "\n" + buf.getvalue()


def read_rows(path: Path) -> tuple[dict[str, str], list[str], list[list[str]]]:
    """Header comments (key -> raw text), column names and rows of a sweep CSV.

    Never modifies the file: an incomplete last line (no newline yet) is left out.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read sweep CSV {str(path)!r}: {exc.strerror or exc}") from None
    raw = raw[: raw.rfind(b"\n") + 1]
    text = raw.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if not lines or lines[0].strip() != MAGIC:
        raise ConfigError(
            f"{path} exists and is not an xbar sweep CSV",
            hint="choose another --out path, or delete the file",
        )
    meta: dict[str, str] = {}
    body = []
    for line in lines:
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if value:
                meta[key.strip()] = value.strip()
        elif line.strip():
            body.append(line)
    rows = list(csv.reader(body))
    return meta, (rows[0] if rows else []), rows[1:]


def check_writable(path: Path) -> None:
    """Raise :class:`ConfigError` if ``path`` is a directory or its folder is missing."""
    if path.is_dir():
        raise ConfigError(f"output path {str(path)!r} is a directory", hint="give a file name")
    kind = special_file(path)
    if kind:  # a FIFO would block the open (and the resume read) forever; /dev/full fails
        raise ConfigError(
            f"cannot write sweep output {str(path)!r}: it is {kind}, not a file",
            hint="give a file name: the sweep keeps its rows there and resumes from them",
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(
            f"cannot write sweep output {str(path)!r}: directory {str(parent)!r} does not exist"
        )


def lock_holder(path: Path) -> str:
    """Who holds the ``flock`` on ``path``: 'process PID (command)' from /proc/locks (Linux)."""
    try:
        inode = path.stat().st_ino
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            entries = f.read().splitlines()
    except OSError:
        return "another process"
    for entry in entries:
        parts = entry.split()
        if "FLOCK" in parts and "->" not in parts and len(parts) >= 6:
            i = parts.index("FLOCK")  # FLOCK ADVISORY WRITE pid maj:min:inode start end
            pid, dev = parts[i + 3 : i + 5]
            if dev.rsplit(":", 1)[-1] == str(inode):
                return f"process {pid}" + _command(pid)
    return "another process"


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return ""
    text = " ".join(a.decode(errors="replace") for a in argv if a)
    return f" ({text[:120]})" if text else ""


def mismatch_details(stored: dict[str, str], meta: dict[str, Any]) -> str:
    """What differs between a stored header and this run's metadata, in words."""
    diffs = []
    for key in ("model", "dataset", "limit", "evaluator", "fields"):
        if key in stored and key in meta:
            new = json.dumps(jsonable(meta[key]), sort_keys=True)
            if stored[key] != new:
                diffs.append(f"{key}: file has {stored[key]}, this run {new}")
    try:
        old_cfg = json.loads(stored.get("base_config", "{}"))
    except json.JSONDecodeError:
        old_cfg = {}
    new_cfg = jsonable(meta.get("base_config", {}))
    for k in sorted(set(old_cfg) | set(new_cfg)):
        if old_cfg.get(k, "<absent>") != new_cfg.get(k, "<absent>"):
            diffs.append(
                f"{k}: file has {old_cfg.get(k, '<absent>')!r}, "
                f"this run {new_cfg.get(k, '<absent>')!r}"
            )
    return "; ".join(diffs[:6]) or "model or data differ"


class SweepStore:
    """A sweep CSV opened for appending, locked against other writers until :meth:`close`.

    Use :meth:`open` (a context manager is the object itself).
    """

    def __init__(self, path: Path, fh):
        self.path = path
        self._fh = fh
        self._writer = csv.writer(fh, lineterminator="\n")

    @classmethod
    def open(cls, path: str | os.PathLike) -> SweepStore:
        """Open (create) ``path`` and take the writer's lock.

        Raises
        ------
        ConfigError
            The folder is missing, the path is a directory or not writable, or another
            sweep holds the file (the message names the file and the holder).
        """
        path = Path(path)
        check_writable(path)
        try:
            fh = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ConfigError(
                f"cannot write sweep output {str(path)!r}: {exc.strerror or exc}",
                hint="choose a writable --out path",
            ) from None
        try:
            _lock(fh, path)
        except BaseException:
            fh.close()
            raise
        return cls(path, fh)

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock and close the file."""
        if not self._fh.closed:
            with self._naming_errors():  # what a failed flush left in the buffer
                self._fh.close()

    def resume(
        self, fingerprint: str, meta: dict[str, Any], grid: Grid
    ) -> dict[int, tuple[float, float, float]]:
        """Results already in the file for tasks of ``grid`` (task index -> (accuracy, s,
        energy per image [J] or NaN)).

        A new (empty) file gets its header.  A file of another sweep is refused, naming
        what differs.  Rows outside the grid are kept in the file and ignored here.
        """
        size = self.path.stat().st_size
        text = header(fingerprint, meta, grid.fields)
        if size == 0 or self._is_torn_header(text, size):
            with self._naming_errors():
                self._fh.truncate(0)  # (append mode: the header then starts the file)
                self._fh.write(text)
                self._fh.flush()
            return {}
        self._cut_incomplete_line(size)
        stored, cols, rows = read_rows(self.path)
        if stored.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"{self.path} holds a sweep of a different model or configuration "
                f"(fingerprint {stored.get('fingerprint')}, this run {fingerprint}): "
                + mismatch_details(stored, meta),
                hint="use another --out path, or delete the file to start over",
            )
        if cols == columns(grid.fields, energy=False):
            self._energy = False  # a file from before the energy column: keep its layout
        elif cols != columns(grid.fields):
            raise ConfigError(f"{self.path} has columns {cols}, expected {columns(grid.fields)}")
        checked_rows(self.path, rows, len(cols), len(grid.fields))
        return _match_rows(grid, rows, len(cols))

    def _is_torn_header(self, text: str, size: int) -> bool:
        """Whether the file holds only the start of this run's own header (its writing was
        cut short: a full disk); such a file was refused as 'not an xbar sweep CSV'."""
        data = text.encode("utf-8")
        if size >= len(data):
            return False
        with open(self.path, "rb") as f:
            return data.startswith(f.read())

    def _cut_incomplete_line(self, size: int) -> None:
        with open(self.path, "rb") as f:
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return
            f.seek(0)
            raw = f.read()
        os.truncate(self.path, raw.rfind(b"\n") + 1)

    def append(
        self, grid: Grid, task: Task, accuracy: float, seconds: float, energy: float = float("nan")
    ) -> None:
        """Write one finished task as one line and flush it."""
        point = grid.points[task.point]
        row = [
            task.point,
            *(format_value(v) for v in point),
            task.chip,
            repr(float(accuracy)),
            f"{seconds:.6g}",
        ]
        if getattr(self, "_energy", True):
            row.append("" if np.isnan(energy) else repr(float(energy)))
        with self._naming_errors():
            self._writer.writerow(row)
            self._fh.flush()

    @contextlib.contextmanager
    def _naming_errors(self) -> Iterator[None]:
        """Give an OSError of a write (a full disk) the file's name."""
        try:
            yield
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.path)) from None


def _lock(fh, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(
            f"sweep output {str(path)!r} is being written by {lock_holder(path)}",
            hint="wait for that sweep to finish (then rerun to reuse its rows), or choose "
            "another --out path",
        ) from None
    except OSError:  # a file system without flock (some network mounts): go on unlocked
        return


def _energy_cell(text: str) -> float:
    return float(text) if text.strip() else float("nan")


def _match_rows(
    grid: Grid, rows: list[list[str]], width: int
) -> dict[int, tuple[float, float, float]]:
    index_of = {grid.key(t): t for t in grid.tasks()}
    nf = len(grid.fields)
    done: dict[int, tuple[float, float, float]] = {}
    for row in rows:
        if len(row) != width:
            continue
        t = index_of.get((*row[1 : 1 + nf], row[1 + nf]))
        if t is None or t.index in done:
            continue  # a point outside this grid, or a duplicate
        try:
            energy = _energy_cell(row[4 + nf]) if width > 4 + nf else float("nan")
            done[t.index] = (float(row[2 + nf]), float(row[3 + nf]), energy)
        except ValueError:
            continue
    return done


def read_sweep(path: str | os.PathLike) -> SweepTable:
    """Read a sweep CSV back into a :class:`SweepTable` (for plotting or analysis).

    The grid is rebuilt from the rows: numeric values sorted ascending, words in the order
    they first appear.  Tasks missing from the file are NaN; a task that appears twice
    with the same result counts once, with different results it is an error naming both
    rows, as is a damaged row.  Safe while a sweep is writing the file.
    """
    path = path_arg(path, "sweep CSV")
    if not path.is_file():
        raise ConfigError(f"sweep CSV {str(path)!r} does not exist")
    stored, cols, rows = read_rows(path)
    has_energy = cols[-1:] == ["energy_per_image"]
    core = cols[:-1] if has_energy else cols
    fields = tuple(core[1:-3])
    if not fields or core[-3:] != ["chip", "accuracy", "seconds"]:
        raise ConfigError(f"{path} has unexpected columns {cols}")
    nf = len(fields)
    checked_rows(path, rows, len(cols), nf)
    values = _grid_values(rows, len(fields))
    chips = 1 + max((int(r[1 + len(fields)]) for r in rows), default=0)
    n2 = len(values[1]) if len(fields) > 1 else 1
    accs = np.full((len(values[0]), n2, chips), np.nan)
    secs = np.full_like(accs, np.nan)
    energies = np.full_like(accs, np.nan)
    pos = [{format_value(v): i for i, v in enumerate(vals)} for vals in values]
    for r in rows:
        i = pos[0][format_value(parse_cell(r[1]))]
        j = pos[1][format_value(parse_cell(r[2]))] if len(fields) > 1 else 0
        k = int(r[1 + len(fields)])
        if np.isnan(accs[i, j, k]):
            accs[i, j, k] = float(r[2 + nf])
            secs[i, j, k] = float(r[3 + nf])
            if has_energy:
                energies[i, j, k] = _energy_cell(r[4 + nf])
    return SweepTable(
        fields=fields,
        values=tuple(values),
        accuracies=accs,
        seconds=secs,
        fingerprint=stored.get("fingerprint", ""),
        path=path,
        reused=int(np.isfinite(accs).sum()),
        energies=energies,
    )


#: the most chips per grid point a sweep CSV may claim (a guard against a damaged file)
MAX_CHIPS = 1_000_000


def checked_rows(path: Path, rows: list[list[str]], width: int, nfields: int) -> None:
    """Raise :class:`ConfigError` naming the first damaged data row of a sweep CSV: a row
    with the wrong number of cells or values that are not a result, or a second row for
    the same point and chip with a different result.  (An identical repeated row is
    harmless and counts once; the torn last line of a killed writer is never read.)"""
    seen: dict[tuple[str, ...], tuple[int, list[str]]] = {}
    for n, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ConfigError(
                f"{path}: data row {n} {','.join(row)!r} has {len(row)} cells, expected {width}",
                hint="the file is damaged: repair or delete that row",
            )
        _check_row(path, n, row, nfields)
        key = tuple(row[1 : 2 + nfields])
        first = seen.setdefault(key, (n, row))
        if first[1][2 + nfields] != row[2 + nfields]:
            raise ConfigError(
                f"{path}: data rows {first[0]} and {n} give different accuracies "
                f"({first[1][2 + nfields]} and {row[2 + nfields]}) for the same point and "
                f"chip {','.join(key)!r}",
                hint="the file was edited or written by two programs: delete the wrong row",
            )


def _check_row(path: Path, n: int, row: list[str], nfields: int) -> None:
    """Raise :class:`ConfigError` naming data row ``n`` unless it is a valid result row."""
    chip, acc, sec = row[1 + nfields], row[2 + nfields], row[3 + nfields]
    energy = row[4 + nfields] if len(row) > 4 + nfields else ""
    try:
        ok = 0 <= int(chip) < MAX_CHIPS
        float(acc), float(sec)
        _energy_cell(energy)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(
            f"{path}: data row {n} {','.join(row)!r} is not a sweep result "
            f"(chip an integer in [0, {MAX_CHIPS}), accuracy and seconds numbers, "
            "energy per image a number or empty)",
            hint="the file is damaged: repair or delete that row",
        )


def _grid_values(rows: list[list[str]], nfields: int) -> list[tuple[Any, ...]]:
    per_field: list[list[str]] = [[] for _ in range(nfields)]
    for r in rows:
        for i in range(nfields):
            if r[1 + i] not in per_field[i]:
                per_field[i].append(r[1 + i])
    values = []
    for texts in per_field:
        parsed = [parse_cell(s) for s in texts]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in parsed):
            parsed = sorted(parsed)
        values.append(tuple(parsed))
    return values
