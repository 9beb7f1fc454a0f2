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
computes only the missing tasks.  One sweep writes a file at a time: a second sweep on a
file that another one is writing is refused, naming the file and the process that holds it.
The CSV starts with comment lines that hold a fingerprint of the model, the data, the
evaluator and the base configuration (swept fields and ``repeats`` excluded); a file written
for anything else is refused with an error naming what differs, never silently mixed.  The
fingerprint does not cover xbar's own code: the header records the xbar version, and results
of an evaluator that has changed since are reused as they are (start a new file to redo them).

The package: :mod:`.grid` (fields, values, one configuration per grid point),
:mod:`.fingerprint`, :mod:`.store` (the locked, resumable CSV), :mod:`.executors` (serial,
local processes, Dask; workers that die with their parent; signal handling),
:mod:`.table` (:class:`SweepTable`) and :mod:`.plot`.

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

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ...checks import positive_int
from ...errors import ConfigError, XbarError
from .executors import Job, check_executor, make_executor
from .fingerprint import model_digest, sweep_meta
from .grid import Grid, build_grid, parse_values
from .plot import plot_sweep
from .store import SweepStore, read_sweep
from .table import SweepTable

log = logging.getLogger(__name__)

__all__ = ["SweepTable", "sweep", "read_sweep", "plot_sweep", "parse_values"]

#: seconds to wait for a remote Dask scheduler before giving up
SCHEDULER_TIMEOUT = 5.0


def _resolve_model(model: Any, stand_in: bool) -> tuple[Any, Any]:
    """Return (model object for the workers, identity for the fingerprint)."""
    if isinstance(model, str | os.PathLike):
        if stand_in:  # a stand-in evaluator gets the model exactly as given
            return model, str(model)
        from ..model_io import load_model

        obj = load_model(model)
        return obj, model_digest(obj)
    return model, model_digest(model)


def _check_counts(limit: int | None, workers: int | None) -> int:
    """Validate ``limit`` and ``workers``; returns the worker count (default: CPUs)."""
    if limit is not None:
        try:
            positive_int("limit", limit)
        except XbarError as exc:
            raise ConfigError(f"limit must be a positive integer, got {limit!r}") from exc
    if workers is None:
        return os.cpu_count() or 1
    try:
        return positive_int("workers", workers)
    except XbarError:
        raise ConfigError(f"workers must be at least 1, got {workers!r}") from None


def _run_tasks(
    grid: Grid,
    done: dict[int, tuple[float, float, float]],
    job: Job,
    executor: Any,
    workers: int,
    store: SweepStore | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Run the tasks not in ``done``; returns (accuracies, seconds, energies, computed)."""
    tasks = grid.tasks()
    accs = np.full(grid.shape, np.nan)
    secs = np.full(grid.shape, np.nan)
    energies = np.full(grid.shape, np.nan)
    for index, (acc, sec, en) in done.items():
        cell = grid.cell(tasks[index])
        accs[cell], secs[cell], energies[cell] = acc, sec, en
    todo = [t for t in tasks if t.index not in done]
    log.info(
        "sweep: %d tasks, %d reused, %d to run on %s", len(tasks), len(done), len(todo), executor
    )
    if progress is not None:
        progress(len(done), len(tasks))
    computed = 0
    if not todo:
        return accs, secs, energies, computed
    with make_executor(executor, job, workers, timeout=SCHEDULER_TIMEOUT) as run:
        for index, acc, sec, *rest in run(todo):
            t = tasks[index]
            en = rest[0] if rest else np.nan
            accs[grid.cell(t)], secs[grid.cell(t)], energies[grid.cell(t)] = acc, sec, en
            computed += 1
            if store is not None:
                store.append(grid, t, acc, sec, en)
            if progress is not None:
                progress(len(done) + computed, len(tasks))
    return accs, secs, energies, computed


def _check_layer_rules(model: Any, configs: list) -> None:
    """Every point's per-layer rules match the model's layers (before any task runs)."""
    layers = getattr(model, "matmul_layers", None)
    if not callable(layers):
        return
    names = [la.name for la in layers()]
    for cfg in configs:
        if getattr(cfg, "layers", None):
            cfg.layer_settings(names)


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
        The file is locked for the whole sweep: a second sweep on it is refused.
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
        writable or is being written by another sweep, a CSV from a different sweep, an
        unreachable Dask scheduler.
    """
    grid = build_grid(base_config, axes)  # every point validated before any work
    workers = _check_counts(limit, workers)
    check_executor(executor)
    store = SweepStore.open(out) if out is not None else None  # before loading anything
    try:
        model_obj, model_id = _resolve_model(model, evaluate is not None)
        _check_layer_rules(model_obj, grid.configs)
        fingerprint, meta = sweep_meta(
            model,
            model_id,
            base_config,
            grid.fields,
            dataset=dataset,
            limit=limit,
            evaluate=evaluate,
        )
        done = store.resume(fingerprint, meta, grid) if store is not None else {}
        job = Job(model=model_obj, dataset=dataset, limit=limit, evaluate=evaluate)
        accs, secs, energies, computed = _run_tasks(
            grid, done, job, executor, workers, store, progress
        )
    finally:
        if store is not None:
            store.close()
    return SweepTable(
        fields=grid.fields,
        values=grid.values,
        accuracies=accs,
        seconds=secs,
        fingerprint=fingerprint,
        path=store.path if store else None,
        computed=computed,
        reused=len(done),
        energies=energies,
    )
