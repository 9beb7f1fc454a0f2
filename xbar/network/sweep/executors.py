"""Where the tasks of a sweep run: this process, local worker processes or a Dask cluster.

Every executor is a context manager that yields ``run(tasks)``, a generator of
``(task index, accuracy, seconds, energy per image)`` in completion order.  Leaving the
context stops the work: on an exception (KeyboardInterrupt, ``SystemExit`` from
:func:`exit_on_signals`, an error in the caller) the worker processes are terminated at
once, not after their running tasks.

Workers also watch their parent: a local worker process (and a worker of a Dask
LocalCluster started for the sweep) exits within about half a second when the sweep process
dies, even by ``kill -9`` which runs no clean-up (on Linux the kernel kills it at once through
``PR_SET_PDEATHSIG``).  With no worker left, multiprocessing's resource tracker exits too.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError, ResourceError
from .grid import Task

__all__ = ["Job", "check_executor", "exit_on_signals", "make_executor", "run_task", "watch_parent"]

#: seconds between two checks of a worker that its parent is still alive
PARENT_POLL = 0.5


@dataclass(frozen=True)
class Job:
    """Everything a worker needs besides the task itself (shipped once per worker).

    Attributes
    ----------
    model : object
        The model object given to the evaluator.
    dataset : object or None
        Passed to the evaluator (None: the model's own test set).
    limit : int or None
        Number of test samples.
    evaluate : callable or None
        Stand-in for :func:`xbar.network.evaluate` (None: the real one).
    """

    model: Any
    dataset: Any
    limit: int | None
    evaluate: Callable | None


def run_task(job: Job, task: Task) -> tuple[int, float, float, float]:
    """Evaluate one task; returns (task index, accuracy of its chip, seconds, energy per
    image [J] of its chip, NaN when the evaluator reports none)."""
    evaluate = job.evaluate
    if evaluate is None:
        from ..evaluate import evaluate  # the real evaluator (xbar.network.evaluate)
    t0 = time.perf_counter()
    result = evaluate(
        job.model, task.config, dataset=job.dataset, limit=job.limit, chips=[task.chip]
    )
    seconds = time.perf_counter() - t0
    accs = getattr(result, "accuracies", None)
    acc = float(accs[0]) if accs is not None and len(accs) else float(result.accuracy)
    energy = getattr(result, "energy", None) or {}
    return task.index, acc, seconds, float(energy.get("total", float("nan")))


# ---------------------------------------------------------------------------------------------
# workers that die with their parent
# ---------------------------------------------------------------------------------------------


def _set_pdeathsig() -> None:
    """Linux: ask the kernel to SIGKILL this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: the polling thread is enough
        pass


def watch_parent(parent_pid: int, *, pdeathsig: bool = True) -> None:
    """Make this (worker) process exit as soon as process ``parent_pid`` is gone.

    Installs the Linux parent-death signal (when ``pdeathsig``) and a daemon thread that
    polls the parent pid every :data:`PARENT_POLL` seconds and calls ``os._exit(1)`` when the
    process has been re-parented.  If the parent is already gone, exits at once.
    """
    if pdeathsig:
        _set_pdeathsig()
    if os.getppid() != parent_pid:
        os._exit(1)

    def poll() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL)
        os._exit(1)

    threading.Thread(target=poll, name="xbar-parent-watch", daemon=True).start()


_WORKER_JOB: Job | None = None


def worker_threads() -> int:
    """Threads of a worker: ``XBAR_THREADS`` if set, else one (the field ``threads`` wins)."""
    from ...threads import from_env

    return from_env() or 1


def _init_worker(job: Job, parent_pid: int) -> None:
    global _WORKER_JOB
    from ... import memory
    from ...threads import set_threads

    watch_parent(parent_pid)
    set_threads(worker_threads())
    memory.apply()  # as the xbar command does in its own process
    _WORKER_JOB = job


def _run_task_on_dask(job: Job, task: Task) -> tuple[int, float, float, float]:
    from ...threads import limit

    with limit(worker_threads()):
        return run_task(job, task)


def _run_task_in_worker(task: Task) -> tuple[int, float, float, float]:
    if _WORKER_JOB is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("sweep worker not initialised")
    return run_task(_WORKER_JOB, task)


# ---------------------------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------------------------


@contextmanager
def _serial(job: Job, workers: int):
    def run(tasks: list[Task]):
        for t in tasks:
            yield run_task(job, t)

    yield run


@contextmanager
def _processes(job: Job, workers: int):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = None

    def run(tasks: list[Task]):
        nonlocal pool
        if not tasks:
            return
        # spawn: a fresh interpreter per worker, safe whatever threads the parent runs
        pool = ProcessPoolExecutor(
            max_workers=max(1, min(workers, len(tasks))),
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(job, os.getpid()),
        )
        futures = [pool.submit(_run_task_in_worker, t) for t in tasks]
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except BrokenProcessPool:
                raise ResourceError(
                    "a sweep worker process died (killed by a signal, or by the system when "
                    "memory ran out); the tasks finished before are kept in the output",
                    hint="rerun the same command to resume; use fewer --workers if memory is short",
                ) from None
            yield result

    try:
        yield run
    except BaseException:
        # interrupted (KeyboardInterrupt, SystemExit from a SIGTERM handler, an error in the
        # caller's progress callback...): stop the workers now instead of waiting for their
        # running tasks, so that no worker outlives the sweep
        if pool is not None:
            stop_pool(pool)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def stop_pool(pool, grace: float = 2.0) -> None:
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


def _dask_client(address: Any, workers: int, timeout: float):
    """(client, cluster or None, whether we own the client) for an executor spec."""
    from distributed import Client, LocalCluster

    if isinstance(address, Client):
        return address, None, False
    if address == "local":
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        # the workers are this process's children: make them die with it
        client.run(watch_parent, os.getpid(), pdeathsig=False)
        return client, cluster, True
    try:
        return Client(address, timeout=f"{timeout}s"), None, True
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError...
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address!r} "
            f"(waited {timeout:g} s): {type(exc).__name__}: {exc}",
            hint="start one with `dask scheduler` and workers with `dask worker ADDRESS`,"
            " or use --scheduler local",
        ) from None


@contextmanager
def _dask(job: Job, workers: int, address: Any, timeout: float):
    try:
        from distributed import as_completed
    except ImportError:  # pragma: no cover - depends on the installation
        raise ConfigError(
            "Dask sweeps need dask.distributed, which is not installed",
            hint="pip install 'xbar[cluster]'",
        ) from None
    client = cluster = None
    own_client = True
    futures: list = []
    try:
        client, cluster, own_client = _dask_client(address, workers, timeout)

        def run(tasks: list[Task]):
            if not tasks:
                return
            job_future = client.scatter(job, broadcast=True, hash=False)
            futures.extend(
                client.submit(_run_task_on_dask, job_future, t, pure=False) for t in tasks
            )
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


def check_executor(executor: Any) -> None:
    """Raise :class:`ConfigError` for an executor name that :func:`make_executor` rejects."""
    if (
        isinstance(executor, str)
        and executor not in ("serial", "processes", "local")
        and ":" not in executor
    ):
        raise ConfigError(
            f"unknown executor {executor!r}",
            hint="use 'serial', 'processes', 'local' (a Dask LocalCluster) or "
            "a Dask scheduler address such as tcp://host:8786",
        )


def make_executor(executor: Any, job: Job, workers: int, *, timeout: float = 5.0):
    """The executor context manager for ``executor``.

    Parameters
    ----------
    executor : {"serial", "processes", "local"}, Dask address or ``distributed.Client``
        Where tasks run.
    job : Job
        What every task shares.
    workers : int
        Worker processes for "processes" and "local".
    timeout : float
        Seconds to wait for a remote Dask scheduler.
    """
    if executor == "serial":
        return _serial(job, workers)
    if executor == "processes":
        return _processes(job, workers)
    check_executor(executor)
    return _dask(job, workers, executor, timeout)  # a dask.distributed.Client


@contextmanager
def exit_on_signals(signums=None) -> Iterator[None]:
    """Turn SIGTERM (and SIGHUP) into ``SystemExit(128 + signum)`` while the block runs.

    Python's default action for SIGTERM ends the process without unwinding, so worker
    processes of a sweep would be stopped only by their parent watch; raising instead lets
    the executor's clean-up terminate them at once.  A no-op outside the main thread.
    """
    if signums is None:
        signums = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = {}
    try:
        for s in signums:
            previous[s] = signal.signal(s, handler)
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
