"""Sweeps: network accuracy over a grid of one or two configuration fields, chip by chip.

A sweep evaluates ``model`` on every point of a grid of analog configurations
(one or two fields of :class:`xbar.network.AnalogConfig` varied, the rest taken
from a base configuration) and, at every point, on ``repeats`` independently
programmed chips.  One *task* is one (grid point, chip ``k``) pair; it calls
``evaluate(model, config, chips=[k])``.  Because chip ``k`` is the same seeded
chip in every process, the table does not depend on where or in which order the
tasks run: serially, in local worker processes, or on a Dask cluster.

Every finished task is appended to the output CSV at once (and flushed), so an
interrupted sweep, rerun with the same output path and the same configuration,
computes only the missing tasks.  The CSV starts with comment lines that hold a
fingerprint of the model, the data, the evaluator and the base configuration
(swept fields and ``repeats`` excluded); a file written for anything else is
refused with an error naming what differs, never silently mixed.  The fingerprint does
not cover xbar's own code: the header records the xbar version, and results of an
evaluator that has changed since are reused as they are (start a new file to redo them).

Examples
--------
A sweep with a stand-in evaluator (any callable with the signature of
:func:`xbar.network.evaluate` that returns an object with ``accuracies``):

>>> from dataclasses import dataclass
>>> from types import SimpleNamespace
>>> @dataclass(frozen=True)
... class Cfg:
...     sigma: float = 0.0
...     repeats: int = 2
>>> def fake(model, config, *, dataset=None, limit=None, chips=None, progress=None):
...     return SimpleNamespace(accuracies=[1.0 - config.sigma - 0.01 * k for k in chips])
>>> table = sweep("m", Cfg(), {"sigma": [0.0, 0.1]}, executor="serial", evaluate=fake)
>>> table.accuracies.shape
(2, 1, 2)
>>> [round(float(m), 3) for m in table.mean[:, 0]]
[0.995, 0.895]
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import hashlib
import io
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, XbarError

log = logging.getLogger(__name__)

__all__ = ["SweepTable", "sweep", "read_sweep", "plot_sweep", "parse_values"]

_MAGIC = "# xbar sweep v1"
#: fields that may not be swept: the chip axis is the inner axis of every sweep
_NOT_SWEEPABLE = ("repeats",)
#: fields left out of the fingerprint, so a rerun with more chips reuses the chips already done
_NOT_FINGERPRINTED = ("repeats", "threads")
#: seconds to wait for a remote Dask scheduler before giving up
SCHEDULER_TIMEOUT = 5.0


# ---------------------------------------------------------------------------------------------
# result table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepTable:
    """Accuracy of every (grid point, chip) task of a sweep.

    Attributes
    ----------
    fields : tuple of str
        The swept configuration fields (one or two).
    values : tuple of tuple
        The grid values of each field, in sweep order.
    accuracies : ndarray
        Accuracy (fraction in [0, 1]) per task, shape (values of the first field,
        values of the second field or 1, chips).  NaN where a task has not run.
    seconds : ndarray
        Evaluation wall time of each task in seconds, same shape as ``accuracies``.
    fingerprint : str
        Hash of model, data, evaluator and base configuration (swept fields excluded).
    path : Path or None
        The CSV the rows live in.
    computed : int
        Tasks evaluated by the call that returned this table.
    reused : int
        Tasks read back from an earlier run's CSV.
    """

    fields: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    accuracies: np.ndarray
    seconds: np.ndarray
    fingerprint: str = ""
    path: Path | None = None
    computed: int = 0
    reused: int = 0

    @property
    def chips(self) -> int:
        """Number of chips per grid point."""
        return int(self.accuracies.shape[2])

    @property
    def complete(self) -> bool:
        """True when every task has a result."""
        return bool(np.all(np.isfinite(self.accuracies)))

    @property
    def mean(self) -> np.ndarray:
        """Mean accuracy over chips, shape (n1, n2)."""
        return _nanreduce(np.nanmean, self.accuracies)

    @property
    def std(self) -> np.ndarray:
        """Standard deviation of accuracy over chips (population, ddof=0), shape (n1, n2)."""
        return _nanreduce(np.nanstd, self.accuracies)

    @property
    def min(self) -> np.ndarray:
        """Worst chip's accuracy per grid point, shape (n1, n2)."""
        return _nanreduce(np.nanmin, self.accuracies)

    @property
    def max(self) -> np.ndarray:
        """Best chip's accuracy per grid point, shape (n1, n2)."""
        return _nanreduce(np.nanmax, self.accuracies)

    def summary(self) -> list[dict[str, Any]]:
        """One dict per grid point: swept values, mean, std, min, max and the per-chip list."""
        out = []
        second = self.values[1] if len(self.fields) > 1 else (None,)
        for i, v1 in enumerate(self.values[0]):
            for j, v2 in enumerate(second):
                row: dict[str, Any] = {self.fields[0]: v1}
                if len(self.fields) > 1:
                    row[self.fields[1]] = v2
                accs = self.accuracies[i, j]
                row.update(
                    accuracy=_num(self.mean[i, j]),
                    accuracy_std=_num(self.std[i, j]),
                    accuracy_min=_num(self.min[i, j]),
                    accuracy_max=_num(self.max[i, j]),
                    accuracies=[_num(a) for a in accs],
                )
                out.append(row)
        return out


def _nanreduce(fn, a: np.ndarray) -> np.ndarray:
    out = np.full(a.shape[:2], np.nan)
    ok = np.isfinite(a).any(axis=2)
    if ok.any():
        out[ok] = fn(a[ok], axis=1)
    return out


def _num(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


# ---------------------------------------------------------------------------------------------
# values, fingerprints
# ---------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    """Canonical text of a swept value (CSV cell and matching key); floats round-trip."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if value is None:
        return "none"
    return str(value)


def _parse_cell(text: str) -> Any:
    """Best-effort inverse of :func:`_fmt` for reading a CSV back."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_values(config, field: str, text: str | Sequence[str]) -> list[Any]:
    """Parse a comma-separated list of values for configuration ``field``.

    Each value is converted to the type of the field's value in ``config``
    (bool, int, float or str); a field whose current value is None accepts
    numbers and words.

    Parameters
    ----------
    config : dataclass instance
        The base configuration (gives the field's type).
    field : str
        The field name.
    text : str or sequence of str
        For example ``"0,0.05,0.1"``.

    Returns
    -------
    list
        The converted values, in the given order.

    Raises
    ------
    ConfigError
        Unknown field, empty list, an empty entry (``",0.1"``), a value given twice (also
        ``"0.1,0.10"``) or a value that does not convert to the field's type; the message
        names the field and the bad entry.
    """
    _check_field(config, field)
    raw = text.split(",") if isinstance(text, str) else [str(s) for s in text]
    items = [s.strip() for s in raw]
    if not any(items):
        raise ConfigError(f"no values given for swept field {field!r}",
                          hint="for example --values 0,0.05,0.1")
    shown = text if isinstance(text, str) else ",".join(raw)
    for pos, s in enumerate(items, start=1):
        if s == "":
            raise ConfigError(
                f"swept field {field!r}: entry {pos} of {shown!r} is empty",
                hint="separate the values by single commas, without a leading, trailing or "
                     "doubled comma")
    current = getattr(config, field)
    nullable = current is None
    types = getattr(type(config), "field_types", None)
    if nullable and callable(types):
        typ = types().get(field)
        if typ in (bool, int, float, str):
            current = typ()
    out = []
    for s in items:
        try:
            if isinstance(current, bool):
                low = s.lower()
                if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError(s)
                out.append(low in ("true", "1", "yes", "on"))
            elif isinstance(current, int):
                f = float(s)
                if not f.is_integer():
                    raise ValueError(s)
                out.append(int(f))
            elif isinstance(current, float):
                out.append(float(s))
            elif current is None:
                out.append(None if s.lower() == "none" else _parse_cell(s))
            else:
                out.append(None if nullable and s.lower() == "none" else s)
        except ValueError:
            kind = type(current).__name__
            raise ConfigError(f"value {s!r} for swept field {field!r} is not a valid {kind}",
                              hint=f"{field} currently is {current!r}") from None
    seen: dict[str, str] = {}
    for s, v in zip(items, out, strict=True):
        key = _fmt(v)
        if key in seen:
            same = f"{s!r}" if seen[key] == s else f"{seen[key]!r} and {s!r}"
            raise ConfigError(f"swept field {field!r} lists the value {same} twice in {shown!r}",
                              hint="give every value once")
        seen[key] = s
    return out


def _field_names(config) -> list[str]:
    if not dataclasses.is_dataclass(config):
        raise ConfigError(f"base configuration must be a dataclass instance, got {type(config)!r}")
    return [f.name for f in dataclasses.fields(config)]


def _check_field(config, field: str) -> None:
    names = _field_names(config)
    if field not in names:
        close = difflib.get_close_matches(field, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "known fields: " + ", ".join(names)
        raise ConfigError(f"unknown configuration field {field!r} to sweep", hint=hint)
    if field in _NOT_SWEEPABLE:
        raise ConfigError(f"field {field!r} cannot be swept: chips are the inner axis of a sweep",
                          hint="set the number of chips with repeats (--repeats N)")


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return repr(obj)


def _digest(obj: Any, h=None, _seen=None, _depth=0):
    """Hash arrays, scalars, containers and plain objects (recursively) into ``h``."""
    top = h is None
    h = hashlib.sha256() if top else h
    _seen = set() if _seen is None else _seen
    if _depth > 12:
        return h.hexdigest() if top else None
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"nd{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    elif isinstance(obj, str | bytes | int | float | bool | complex) or obj is None:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, np.generic):
        h.update(f"{obj.dtype.str}:{obj.item()!r};".encode())
    elif isinstance(obj, Path):
        h.update(f"path:{obj};".encode())
    elif id(obj) in _seen:
        h.update(b"<cycle>")
    else:
        _seen.add(id(obj))
        if isinstance(obj, Mapping):
            h.update(b"{")
            for k in sorted(obj, key=repr):
                _digest(k, h, _seen, _depth + 1)
                _digest(obj[k], h, _seen, _depth + 1)
            h.update(b"}")
        elif isinstance(obj, list | tuple):
            h.update(b"[")
            for v in obj:
                _digest(v, h, _seen, _depth + 1)
            h.update(b"]")
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            h.update(type(obj).__qualname__.encode())
            for f in dataclasses.fields(obj):
                _digest(f.name, h, _seen, _depth + 1)
                _digest(getattr(obj, f.name), h, _seen, _depth + 1)
        elif hasattr(obj, "__dict__") and not callable(obj):
            h.update(type(obj).__qualname__.encode())
            _digest(vars(obj), h, _seen, _depth + 1)
        elif callable(obj):
            h.update(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
                     .encode())
        else:
            h.update(repr(obj).encode())
    return h.hexdigest() if top else None


def _model_digest(model: Any) -> str:
    state, config = getattr(model, "state", None), getattr(model, "config", None)
    if callable(state) and callable(config):  # xbar.network.Model: architecture + arrays only
        return _digest({"config": config(), "state": state()})
    for attr in ("fingerprint", "digest"):
        fn = getattr(model, attr, None)
        if callable(fn):
            try:
                return str(fn())
            except Exception:  # noqa: BLE001 - fall back to hashing the object
                break
        if isinstance(fn, str):
            return fn
    return _digest(model)


# ---------------------------------------------------------------------------------------------
# CSV file
# ---------------------------------------------------------------------------------------------


def _columns(fields: Sequence[str]) -> list[str]:
    return ["point", *fields, "chip", "accuracy", "seconds"]


def _header(fingerprint: str, meta: dict[str, Any], fields: Sequence[str]) -> str:
    lines = [_MAGIC, f"# fingerprint: {fingerprint}"]
    for key, value in meta.items():
        lines.append(f"# {key}: {json.dumps(_jsonable(value), sort_keys=True)}")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(_columns(fields))
    return "\n".join(lines) + "\n" + buf.getvalue()


def _read_existing(path: Path) -> tuple[dict[str, str], list[str], list[list[str]]]:
    """Read header comments (key -> raw text), column names and rows of a sweep CSV.

    A last line without its newline (a run killed while writing) is cut off the
    file, so that appending starts on a fresh line.
    """
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        log.warning("%s: dropping an incomplete last line", path)
        with open(path, "r+b") as f:
            f.truncate(cut)
        raw = raw[:cut]
    text = raw.decode("utf-8", errors="replace")
    meta: dict[str, str] = {}
    body = []
    lines = text.splitlines()
    if not lines or lines[0].strip() != _MAGIC:
        raise ConfigError(f"{path} exists and is not an xbar sweep CSV",
                          hint="choose another --out path, or delete the file")
    for line in lines:
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if value:
                meta[key.strip()] = value.strip()
        elif line.strip():
            body.append(line)
    rows = list(csv.reader(body))
    columns = rows[0] if rows else []
    return meta, columns, rows[1:]


def _check_writable(path: Path) -> None:
    if path.is_dir():
        raise ConfigError(f"output path {str(path)!r} is a directory", hint="give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"cannot write sweep output {str(path)!r}: "
                          f"directory {str(parent)!r} does not exist")
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write sweep output {str(path)!r}: {exc.strerror or exc}",
                          hint="choose a writable --out path") from None


def _mismatch_details(stored: dict[str, str], meta: dict[str, Any]) -> str:
    diffs = []
    for key in ("model", "dataset", "limit", "evaluator", "fields"):
        if key in stored and key in meta:
            new = json.dumps(_jsonable(meta[key]), sort_keys=True)
            if stored[key] != new:
                diffs.append(f"{key}: file has {stored[key]}, this run {new}")
    try:
        old_cfg = json.loads(stored.get("base_config", "{}"))
    except json.JSONDecodeError:
        old_cfg = {}
    new_cfg = _jsonable(meta.get("base_config", {}))
    for k in sorted(set(old_cfg) | set(new_cfg)):
        if old_cfg.get(k, "<absent>") != new_cfg.get(k, "<absent>"):
            diffs.append(f"{k}: file has {old_cfg.get(k, '<absent>')!r}, "
                         f"this run {new_cfg.get(k, '<absent>')!r}")
    return "; ".join(diffs[:6]) or "model or data differ"


# ---------------------------------------------------------------------------------------------
# tasks and executors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs besides the task itself (shipped once per worker)."""

    model: Any
    dataset: Any
    limit: int | None
    evaluate: Callable | None


@dataclass(frozen=True)
class _Task:
    index: int  # position in the task list (point-major, chip-minor)
    point: int
    chip: int
    config: Any


_WORKER_JOB: _Job | None = None


def _default_evaluate():
    from .evaluate import evaluate  # the real evaluator (xbar.network.evaluate)

    return evaluate


def _run_task(job: _Job, task: _Task) -> tuple[int, float, float]:
    evaluate = job.evaluate if job.evaluate is not None else _default_evaluate()
    t0 = time.perf_counter()
    result = evaluate(job.model, task.config, dataset=job.dataset, limit=job.limit,
                      chips=[task.chip])
    seconds = time.perf_counter() - t0
    accs = getattr(result, "accuracies", None)
    acc = float(accs[0]) if accs is not None and len(accs) else float(result.accuracy)
    return task.index, acc, seconds


def _worker_threads() -> int:
    """Threads of a worker process: ``XBAR_THREADS`` if set, else one (field ``threads`` wins)."""
    from ..threads import from_env

    return from_env() or 1


def _init_worker(job: _Job) -> None:
    global _WORKER_JOB
    from ..threads import set_threads

    set_threads(_worker_threads())
    _WORKER_JOB = job


def _run_task_on_dask(job: _Job, task: _Task) -> tuple[int, float, float]:
    from ..threads import limit

    with limit(_worker_threads()):
        return _run_task(job, task)


def _run_task_in_worker(task: _Task) -> tuple[int, float, float]:
    assert _WORKER_JOB is not None, "worker not initialised"
    return _run_task(_WORKER_JOB, task)


@contextmanager
def _serial(job: _Job, workers: int):
    def run(tasks: list[_Task]):
        for t in tasks:
            yield _run_task(job, t)

    yield run


@contextmanager
def _processes(job: _Job, workers: int):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = None

    def run(tasks: list[_Task]):
        nonlocal pool
        if not tasks:
            return
        # spawn: a fresh interpreter per worker, safe whatever threads the parent runs
        pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))),
                                   mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(job,))
        futures = [pool.submit(_run_task_in_worker, t) for t in tasks]
        for fut in as_completed(futures):
            yield fut.result()

    try:
        yield run
    except BaseException:
        # interrupted (KeyboardInterrupt, SystemExit from a SIGTERM handler, an error in the
        # caller's progress callback...): stop the workers now instead of waiting for their
        # running tasks, so that no worker outlives the sweep
        if pool is not None:
            _stop_pool(pool)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _stop_pool(pool, grace: float = 2.0) -> None:
    """Cancel the pending tasks of a ProcessPoolExecutor and terminate its worker processes."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()  # SIGTERM: a worker busy in a task stops at once
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


@contextmanager
def _dask(job: _Job, workers: int, address: Any):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - depends on the installation
        raise ConfigError("Dask sweeps need dask.distributed, which is not installed",
                          hint="pip install 'xbar[cluster]'") from None
    cluster = None
    client = None
    own_client = True
    futures: list = []
    try:
        if isinstance(address, Client):
            client, own_client = address, False
        elif address == "local":
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            try:
                client = Client(address, timeout=f"{SCHEDULER_TIMEOUT}s")
            except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError...
                raise ConfigError(
                    f"cannot reach the Dask scheduler at {address!r} "
                    f"(waited {SCHEDULER_TIMEOUT:g} s): {type(exc).__name__}: {exc}",
                    hint="start one with `dask scheduler` and workers with `dask worker ADDRESS`,"
                    " or use --scheduler local",
                ) from None

        def run(tasks: list[_Task]):
            if not tasks:
                return
            job_future = client.scatter(job, broadcast=True, hash=False)
            futures.extend(client.submit(_run_task_on_dask, job_future, t, pure=False) for t in tasks)
            for fut in as_completed(futures):
                yield fut.result()

        yield run
    finally:
        if client is not None and futures:
            client.cancel(futures)
        if client is not None and own_client:
            client.close()
        if cluster is not None:
            cluster.close()


def _executor(executor: Any, job: _Job, workers: int):
    if executor == "serial":
        return _serial(job, workers)
    if executor == "processes":
        return _processes(job, workers)
    if isinstance(executor, str):
        if executor == "local" or "://" in executor or ":" in executor:
            return _dask(job, workers, executor)
        raise ConfigError(f"unknown executor {executor!r}",
                          hint="use 'serial', 'processes', 'local' (a Dask LocalCluster) or "
                          "a Dask scheduler address such as tcp://host:8786")
    # a dask.distributed.Client
    return _dask(job, workers, executor)


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------


def _replace(config: Any, overrides: dict[str, Any]) -> Any:
    """A copy of ``config`` with ``overrides``, validated the way the config class validates."""
    method = getattr(type(config), "replace", None)
    if callable(method):  # AnalogConfig.replace: coerces and validates
        return config.replace(**overrides)
    cfg = dataclasses.replace(config, **overrides)
    validate = getattr(cfg, "validate", None)
    if callable(validate):
        validate()
    return cfg


def _resolve_model(model: Any, stand_in: bool) -> tuple[Any, Any]:
    """Return (model object for the workers, identity for the fingerprint)."""
    if isinstance(model, str | os.PathLike):
        if stand_in:  # a stand-in evaluator gets the model exactly as given
            return model, str(model)
        from . import load_model

        obj = load_model(model)
        return obj, _model_digest(obj)
    return model, _model_digest(model)


def sweep(
    model: Any,
    base_config: Any,
    axes: Mapping[str, Iterable[Any]],
    *,
    out: str | os.PathLike | None = None,
    executor: Any = "processes",
    workers: int | None = None,
    limit: int | None = None,
    dataset: Any = None,
    progress: Callable[[int, int], None] | None = None,
    evaluate: Callable | None = None,
) -> SweepTable:
    """Evaluate ``model`` on a grid of one or two configuration fields, ``repeats`` chips each.

    Parameters
    ----------
    model : str, path or model object
        A model name or path (loaded with :func:`xbar.network.load_model`) or a loaded model.
    base_config : AnalogConfig
        The configuration every grid point starts from; ``base_config.repeats`` is the number
        of chips per point.
    axes : mapping of field name to values
        One or two fields of the configuration and their values, for example
        ``{"programming_sigma": [0, 0.05, 0.1], "mapping": ["differential", "offset"]}``.
        The first field is the x axis of :func:`plot_sweep`, the second gives one curve per value.
    out : str or path, optional
        CSV file.  Each finished task is appended and flushed at once; if the file already
        holds tasks of the same sweep (same fingerprint) they are reused, not recomputed.
    executor : {"processes", "serial", "local"}, dask address or ``distributed.Client``
        Where tasks run: local worker processes (default), this process, a Dask LocalCluster
        started for the sweep (``workers`` processes, one thread each), or an existing Dask
        cluster (``"tcp://host:8786"``).  The numbers do not depend on the executor.
    workers : int, optional
        Number of worker processes for "processes" and "local" (default: CPU count).
    limit : int, optional
        Evaluate only the first ``limit`` test samples (passed to ``evaluate``).
    dataset : optional
        Passed to ``evaluate`` (default: the model's own test set).
    progress : callable ``(done, total)``, optional
        Called after each task (``done`` counts reused tasks too).  An exception raised by it
        stops the sweep; rows already written stay in the CSV.
    evaluate : callable, optional
        Stand-in for :func:`xbar.network.evaluate` (same signature); it must be picklable to
        run in worker processes.

    Returns
    -------
    SweepTable
        Accuracies of shape (len(values of field 1), len(values of field 2) or 1, repeats).

    Raises
    ------
    ConfigError
        Unknown or unsweepable field, more than two fields, an invalid value (raised when the
        grid's configurations are built, before any work), an output path that is not
        writable, a CSV from a different sweep, an unreachable Dask scheduler.
    """
    fields = tuple(axes)
    if not 1 <= len(fields) <= 2:
        raise ConfigError(f"a sweep varies one or two configuration fields, got {len(fields)}",
                          hint="for example axes={'programming_sigma': [0, 0.1]}")
    for f in fields:
        _check_field(base_config, f)
    values = tuple(tuple(axes[f]) for f in fields)
    for f, vals in zip(fields, values, strict=True):
        if not vals:
            raise ConfigError(f"no values given for swept field {f!r}")
        keys = [_fmt(v) for v in vals]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"swept field {f!r} lists a value twice: "
                              f"[{', '.join(keys)}]")
    repeats = getattr(base_config, "repeats", 1)
    repeats = 1 if repeats is None else int(repeats)
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got {repeats}")
    if limit is not None and (int(limit) != limit or limit < 1):
        raise ConfigError(f"limit must be a positive integer, got {limit}")
    if workers is None:
        workers = os.cpu_count() or 1
    if int(workers) < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    workers = int(workers)

    # every grid point's configuration, built (and so validated) before any work
    grid = [(v1,) for v1 in values[0]] if len(fields) == 1 else [
        (v1, v2) for v1 in values[0] for v2 in values[1]]
    # (base + swept values: the base alone need not be valid on the swept fields, e.g. an
    # adc_range with the base's adc_bits=0 when adc_bits is swept)
    configs = []
    for point in grid:
        overrides = dict(zip(fields, point, strict=True))
        where = ", ".join(f"{f}={_fmt(v)}" for f, v in overrides.items())
        try:
            configs.append(_replace(base_config, overrides))
        except XbarError as exc:
            exc.message = f"sweep point {where}: {exc.message}"
            exc.args = (exc._format(),)
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid sweep point {where}: {exc}") from None

    path = Path(out) if out is not None else None
    if path is not None:
        _check_writable(path)  # before loading anything
    model_obj, model_id = _resolve_model(model, evaluate is not None)
    base = _jsonable(base_config)
    fingerprinted = {k: v for k, v in base.items()
                     if k not in fields and k not in _NOT_FINGERPRINTED}
    ev = evaluate
    meta = {
        "model": model_id,
        "dataset": "default" if dataset is None else _digest(dataset),
        "limit": limit,
        "evaluator": "xbar.network.evaluate" if ev is None else
        f"{getattr(ev, '__module__', '')}.{getattr(ev, '__qualname__', repr(ev))}",
        "fields": list(fields),
        "base_config": fingerprinted,
    }
    fingerprint = hashlib.sha256(json.dumps(_jsonable(meta), sort_keys=True).encode()
                                 ).hexdigest()[:16]
    # informational only (not fingerprinted): the same weights under another name match
    meta["model_name"] = str(model) if isinstance(model, str | os.PathLike) else getattr(
        model, "name", type(model).__name__)
    from .. import __version__

    meta["xbar_version"] = __version__

    shape = (len(values[0]), len(values[1]) if len(fields) > 1 else 1, repeats)
    accs = np.full(shape, np.nan)
    secs = np.full(shape, np.nan)
    index_of = {}  # key (value texts..., chip) -> task
    tasks: list[_Task] = []
    for p, (point, cfg) in enumerate(zip(grid, configs, strict=True)):
        for k in range(repeats):
            t = _Task(index=len(tasks), point=p, chip=k, config=cfg)
            tasks.append(t)
            index_of[(*(_fmt(v) for v in point), str(k))] = t

    def where(t: _Task) -> tuple[int, int, int]:
        n2 = shape[1]
        return t.point // n2, t.point % n2, t.chip

    done: set[int] = set()
    if path is not None:
        exists = path.exists() and path.is_file() and path.stat().st_size > 0
        if exists:
            stored, columns, rows = _read_existing(path)
            if stored.get("fingerprint") != fingerprint:
                raise ConfigError(
                    f"{path} holds a sweep of a different model or configuration "
                    f"(fingerprint {stored.get('fingerprint')}, this run {fingerprint}): "
                    + _mismatch_details(stored, meta),
                    hint="use another --out path, or delete the file to start over")
            if columns != _columns(fields):
                raise ConfigError(f"{path} has columns {columns}, expected {_columns(fields)}")
            for row in rows:
                if len(row) != len(columns):
                    continue
                t = index_of.get((*row[1:1 + len(fields)], row[1 + len(fields)]))
                if t is None or t.index in done:
                    continue  # a point outside this grid, or a duplicate
                try:
                    acc, sec = float(row[-2]), float(row[-1])
                except ValueError:
                    continue
                accs[where(t)] = acc
                secs[where(t)] = sec
                done.add(t.index)
            _check_writable(path)
        else:
            _check_writable(path)
            header = _header(fingerprint, meta, fields)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(header)

    reused = len(done)
    todo = [t for t in tasks if t.index not in done]
    total = len(tasks)
    log.info("sweep %s: %d tasks, %d reused, %d to run on %s", fingerprint, total, reused,
             len(todo), executor)
    if progress is not None:
        progress(reused, total)

    job = _Job(model=model_obj, dataset=dataset, limit=limit, evaluate=evaluate)
    computed = 0
    fh = open(path, "a", encoding="utf-8", newline="") if path is not None else None  # noqa: SIM115
    try:
        writer = csv.writer(fh, lineterminator="\n") if fh is not None else None
        if todo:
            with _executor(executor, job, workers) as run:
                for index, acc, sec in run(todo):
                    t = tasks[index]
                    accs[where(t)] = acc
                    secs[where(t)] = sec
                    computed += 1
                    if writer is not None:
                        point = grid[t.point]
                        writer.writerow([t.point, *(_fmt(v) for v in point), t.chip,
                                         repr(float(acc)), f"{sec:.6g}"])
                        fh.flush()
                    if progress is not None:
                        progress(reused + computed, total)
    finally:
        if fh is not None:
            fh.close()

    return SweepTable(fields=fields, values=values, accuracies=accs, seconds=secs,
                      fingerprint=fingerprint, path=path, computed=computed, reused=reused)


def read_sweep(path: str | os.PathLike) -> SweepTable:
    """Read a sweep CSV back into a :class:`SweepTable` (for plotting or analysis).

    The grid is rebuilt from the rows: numeric values sorted ascending, words in the order
    they first appear.  Tasks missing from the file are NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep CSV {str(path)!r} does not exist")
    stored, columns, rows = _read_existing(path)
    fields = tuple(columns[1:-3])
    if not fields or columns[-3:] != ["chip", "accuracy", "seconds"]:
        raise ConfigError(f"{path} has unexpected columns {columns}")
    rows = [r for r in rows if len(r) == len(columns)]
    per_field: list[list[str]] = [[] for _ in fields]
    for r in rows:
        for i in range(len(fields)):
            if r[1 + i] not in per_field[i]:
                per_field[i].append(r[1 + i])
    values = []
    for texts in per_field:
        parsed = [_parse_cell(s) for s in texts]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in parsed):
            parsed = sorted(parsed)
        values.append(tuple(parsed))
    chips = 1 + max((int(r[1 + len(fields)]) for r in rows), default=0)
    n2 = len(values[1]) if len(fields) > 1 else 1
    accs = np.full((len(values[0]), n2, chips), np.nan)
    secs = np.full_like(accs, np.nan)
    pos = [{_fmt(v): i for i, v in enumerate(vals)} for vals in values]
    for r in rows:
        i = pos[0][_fmt(_parse_cell(r[1]))]
        j = pos[1][_fmt(_parse_cell(r[2]))] if len(fields) > 1 else 0
        k = int(r[1 + len(fields)])
        if np.isnan(accs[i, j, k]):
            accs[i, j, k] = float(r[-2])
            secs[i, j, k] = float(r[-1])
    return SweepTable(fields=fields, values=tuple(values), accuracies=accs, seconds=secs,
                      fingerprint=stored.get("fingerprint", ""), path=path,
                      reused=int(np.isfinite(accs).sum()))


# ---------------------------------------------------------------------------------------------
# plot
# ---------------------------------------------------------------------------------------------

_LABELS = {
    "programming_sigma": r"programming error $\sigma$",
    "read_noise_sigma": r"read noise $\sigma$",
    "adc_bits": "ADC resolution (bits)",
    "dac_bits": "DAC resolution (bits)",
    "input_bits": "input bits",
    "weight_bits": "weight bits",
    "weight_slices": "weight slices",
    "r_row": r"row wire resistance per cell ($\Omega$)",
    "r_col": r"column wire resistance per cell ($\Omega$)",
    "r_driver": r"driver resistance ($\Omega$)",
    "r_sense": r"sense resistance ($\Omega$)",
    "array_rows": "array rows",
    "array_cols": "array columns",
    "drift_time": "drift time (s)",
    "stuck_rate": "stuck-cell rate",
    "g_min": "G_min (S)",
    "g_max": "G_max (S)",
}


def _null_locator():
    from matplotlib.ticker import NullLocator

    return NullLocator()


def plot_sweep(
    table: SweepTable,
    path: str | os.PathLike | None = None,
    *,
    band: str = "std",
    title: str | None = None,
    digital: float | None = None,
    xscale: str = "linear",
    ax=None,
):
    """Plot mean accuracy versus the first swept field, one curve per value of the second.

    Parameters
    ----------
    table : SweepTable
        From :func:`sweep` or :func:`read_sweep`.
    path : str or path, optional
        Save the figure here (PNG, PDF, SVG by suffix).
    band : {"std", "minmax", "none"}
        Shaded band around the mean: +/- one standard deviation over chips, or the
        min-max range over chips.
    title : str, optional
        Figure title.
    digital : float, optional
        Digital (ideal) accuracy, drawn as a dashed reference line.
    xscale : {"linear", "log", "symlog"}
        Scale of the x axis (``symlog`` keeps a zero value visible on a log-like axis).
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if band not in ("std", "minmax", "none"):
        raise ConfigError(f"band must be 'std', 'minmax' or 'none', got {band!r}")
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.2, 3.6), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    xs_raw = table.values[0]
    numeric = all(isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_)
                  for v in xs_raw)
    # an integer field (adc_bits, array_rows...) gets ticks at its swept values only
    integer = numeric and all(isinstance(v, int | np.integer) for v in xs_raw)
    xs = np.asarray(xs_raw, dtype=float) if numeric else np.arange(len(xs_raw), dtype=float)
    order = np.argsort(xs, kind="stable")
    second = table.values[1] if len(table.fields) > 1 else (None,)
    mean, std, lo, hi = table.mean, table.std, table.min, table.max
    markers = "osD^v<>ph*"
    for j, v2 in enumerate(second):
        m = 100 * mean[order, j]
        label = None if v2 is None else f"{table.fields[1]} = {v2}"
        line, = ax.plot(xs[order], m, marker=markers[j % len(markers)], ms=4, lw=1.6,
                        label=label)
        if band == "std":
            s = 100 * std[order, j]
            ax.fill_between(xs[order], m - s, m + s, color=line.get_color(), alpha=0.18, lw=0)
        elif band == "minmax":
            ax.fill_between(xs[order], 100 * lo[order, j], 100 * hi[order, j],
                            color=line.get_color(), alpha=0.18, lw=0)
    if digital is not None:
        ax.axhline(100 * digital, color="0.4", ls="--", lw=1, label="digital")
    if not numeric:
        # categorical (mapping, adc_range, booleans...): one evenly spaced slot per value
        ax.set_xticks(xs, [_fmt(v) for v in xs_raw])
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.xaxis.set_minor_locator(_null_locator())
    elif integer:
        if xscale != "linear":
            if xscale == "symlog":
                positive = xs[xs > 0]
                ax.set_xscale("symlog", linthresh=float(positive.min()) if positive.size else 1.0)
            else:
                ax.set_xscale(xscale)
        ax.set_xticks(xs, [str(int(v)) for v in xs])
        ax.xaxis.set_minor_locator(_null_locator())
    elif xscale == "symlog":
        positive = xs[xs > 0]
        lin = float(positive.min()) if positive.size else 1.0
        ax.set_xscale("symlog", linthresh=lin)
        ax.set_xticks(xs, [f"{v:g}" for v in xs])
        if xs.min() >= 0:
            ax.set_xlim(left=-0.1 * lin)
    elif xscale != "linear":
        ax.set_xscale(xscale)
    ax.set_xlabel(_LABELS.get(table.fields[0], table.fields[0].replace("_", " ")))
    band_text = {"std": r" ($\pm$1 std over chips)", "minmax": " (min-max over chips)",
                 "none": ""}[band]
    if table.chips > 1:
        ax.set_ylabel(f"test accuracy (%)\nmean of {table.chips} chips{band_text}")
    else:
        ax.set_ylabel("test accuracy (%)")
    ax.grid(True, alpha=0.3)
    if len(table.fields) > 1 or digital is not None:
        ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
