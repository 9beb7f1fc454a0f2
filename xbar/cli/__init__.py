"""The ``xbar`` command line: one sub-command per module in this package.

Each sub-command module defines ``add_parser(subparsers)`` which registers
its parser and sets ``func`` (a callable taking the parsed ``args`` and
returning an exit code).  The CLI owns all output: results go to stdout,
progress bars and errors to stderr.  An :class:`xbar.errors.XbarError` is
printed as one clear message with exit code 2, never as a traceback.  Every
sub-command takes ``--threads N`` (BLAS and numba threads, :mod:`xbar.threads`),
applied once before it runs; the process keeps freed memory for reuse
(:mod:`xbar.memory`, unless ``XBAR_KEEP_MEMORY=0``).
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import importlib
import os
import re
import signal
import sys
from collections.abc import Iterator

from ..errors import XbarError
from ._signals import Terminated, unwind_signals
from ._threads import add_threads_argument, apply_threads

#: a number with a leading minus sign, which argparse would take for an option
#: (it only knows ``-1`` and ``-.5``, not ``-1e-6``, ``-inf`` or ``-1.5E3``)
_NUMBER = r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf|infinity|nan"
#: (or a comma-separated list of numbers starting with one: ``--values -0.1,0,0.1``)
_NEGATIVE_NUMBER = re.compile(rf"^-({_NUMBER})(,\s*[-+]?({_NUMBER}))*$", re.IGNORECASE)

# Sub-command modules, in the order `xbar --help` lists them.
_COMMANDS = ["solve", "crossbar", "validate", "infer", "sweep", "train", "export_onnx"]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level argument parser.

    Parameters
    ----------
    only : str, optional
        Register just this sub-command (its module alone is imported, which
        keeps ``xbar solve`` start-up free of the network stack); by default
        every sub-command is registered (for ``xbar --help``).
    """
    parser = argparse.ArgumentParser(
        prog="xbar",
        description="SPICE-accurate resistive crossbar simulation, from netlists to networks.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"xbar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS if only is None else [only]:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a sub-command not built yet
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.add_parser(sub)
        command = sub.choices.get(name)
        if command is not None and not any(
            "--threads" in a.option_strings for a in command._actions
        ):
            add_threads_argument(command)  # infer and sweep have it as a config field
    return parser


def join_negative_values(argv: list[str]) -> list[str]:
    """``--flag -1e-6`` -> ``--flag=-1e-6``, so a negative number is a flag's value.

    >>> join_negative_values(["infer", "--g-min", "-1e-6", "--json"])
    ['infer', '--g-min=-1e-6', '--json']
    >>> join_negative_values(["sweep", "--values", "-0.1,0,0.1"])
    ['sweep', '--values=-0.1,0,0.1']
    """
    out: list[str] = []
    for tok in argv:
        prev = out[-1] if out else ""
        if (
            _NEGATIVE_NUMBER.match(tok)
            and prev.startswith("--")
            and "=" not in prev
            and len(prev) > 2
        ):
            out[-1] = f"{prev}={tok}"
        else:
            out.append(tok)
    return out


def _internal_error(exc: BaseException) -> int:
    """A bug (not a rejected input): one line on stderr, exit 70; the traceback on request."""
    if os.environ.get("XBAR_DEBUG"):
        raise exc
    print(
        f"xbar: internal error: {type(exc).__name__}: {exc}\n"
        "This is a bug in xbar, not in your input; rerun with XBAR_DEBUG=1 for the "
        "traceback and please report it.",
        file=sys.stderr,
    )
    return 70


def _defer_unused_numpy_modules() -> None:
    """Bind ``numpy.f2py`` and ``numpy.testing`` as lazy modules, run when first used.

    scipy 1.17's vendored ``array_api_compat`` reads every attribute of numpy when
    ``scipy.sparse`` is imported, which imports these two submodules (and ``unittest``,
    ``charset_normalizer``, 58 compiled regular expressions): 0.05-0.08 s of CPU in
    every command that solves a netlist, for modules no command uses.  A lazy module
    is the real module; its code runs on the first access of an attribute.
    """
    from ..lazy import defer_module

    for name in ("numpy.f2py", "numpy.testing"):
        defer_module(name)


#: longest line of an error message shown; longer ones (a 200 MB line of a file) are cut
MAX_LINE = 2000


def clip_lines(text: str, width: int = MAX_LINE) -> str:
    """``text`` with every line longer than ``width`` characters cut in the middle.

    >>> clip_lines("a" * 10 + "\\nb", width=6)
    'aaa ...[4 more characters]... aaa\\nb'
    """
    out = []
    for line in text.split("\n"):
        if len(line) > width:
            half = width // 2
            cut = len(line) - 2 * half
            line = f"{line[:half]} ...[{cut} more characters]... {line[-half:]}"
        out.append(line)
    return "\n".join(out)


def _say(message: str, watchdog=None) -> None:
    """One message on stderr (after ending an unfinished progress bar line); a stop
    message also tells the signal ``watchdog`` that it is said."""
    from ._progress import end_open_line

    end_open_line()
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed
        print(clip_lines(message), file=sys.stderr)
        sys.stderr.flush()
    if watchdog is not None:
        watchdog.said.set()


def _stop_message(args, what: str) -> str:
    """``xbar COMMAND: what`` plus the command's own note (a sweep: how to resume)."""
    command = getattr(args, "command", None)
    hint = getattr(args, "interrupt_hint", "")
    return f"xbar{' ' + command if command else ''}: {what}" + (f"; {hint}" if hint else "")


def _numba_cache_error(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and "cannot cache function" in str(exc)


def damaged_numba_cache(exc: BaseException) -> str | None:
    """The cache file numba failed to read when ``exc`` came from loading it, else None.

    A truncated or foreign ``.nbi``/``.nbc`` file (a full disk, a copy cut short, another
    numba's files) made every solve an internal error (``UnpicklingError``).
    """
    tb = exc.__traceback__
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.replace("\\", "/").endswith("numba/core/caching.py"):
            me = tb.tb_frame.f_locals.get("self")
            found = getattr(me, "_index_path", None) or found or code.co_filename
        tb = tb.tb_next
    return None if found is None else str(found)


def main(argv: list[str] | None = None, *, process: bool | None = None) -> int:
    """Run the CLI; returns the process exit code.

    Exit codes: 0 success, 1 a check failed (``xbar validate``), 2 a rejected input (an
    :class:`~xbar.errors.XbarError`: bad file, field, value; not enough memory), 70 an
    internal error (a bug), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM; 129 SIGHUP).

    ``process`` (default: when ``argv`` is None, i.e. the ``xbar`` command) says that this
    call is the whole process: a stop signal then ends it within a few seconds even while
    a compiled kernel runs (:mod:`xbar.cli._signals`).
    """
    process = argv is None if process is None else process
    argv = join_negative_values(sys.argv[1:] if argv is None else list(argv))
    first = next((a for a in argv if not a.startswith("-")), None)
    module = first.replace("-", "_") if first else None  # export-onnx lives in export_onnx
    parser = build_parser(module if module in _COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its usage message (or --help/--version)
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    _tolerant_output()
    if sys.stdout is None:  # started with `>&-`: results would be lost after the work
        _say("error: standard output is closed; redirect it (e.g. >/dev/null) instead")
        return 2

    def stop(signum: int) -> str:
        name = signal.Signals(signum).name
        what = "interrupted" if name == "SIGINT" else f"terminated by {name}"
        return _stop_message(args, what)

    dog = None
    try:
        with unwind_signals(watchdog=process, message=stop) as dog, _quiet_float_warnings():
            return _run(args)
    except Terminated as exc:
        _say(stop(exc.signum), dog)
        return 128 + exc.signum
    except KeyboardInterrupt:
        _say(stop(signal.SIGINT), dog)
        return 130
    except BrokenPipeError:
        _quiet_broken_stdout()
        return 0
    except MemoryError as exc:
        _say(
            f"error: not enough memory ({exc or 'MemoryError'})\n"
            "hint: use a smaller array, fewer inputs or images at once, or a machine with "
            "more memory"
        )
        return 2
    except OSError as exc:  # a file the command writes: disk full, permission, vanished folder
        import errno

        where = f": {exc.filename!r}" if exc.filename else ""
        if not where and exc.errno in (errno.ENOSPC, errno.EIO, errno.EBADF, errno.EDQUOT):
            where = " (writing the output)"
        _say(f"error: {exc.strerror or exc}{where}")
        return 2
    except Exception as exc:  # noqa: BLE001 - the last guard: never a raw traceback
        damaged = damaged_numba_cache(exc)
        if damaged is not None and not isinstance(exc, XbarError):
            folder = os.path.dirname(damaged)
            _say(
                f"error: numba's cache of compiled kernels is damaged "
                f"({type(exc).__name__}: {exc}): {damaged}\n"
                f"hint: delete the folder {folder!r}; the kernels are compiled again on the "
                "next run (10-20 s)"
            )
            return 2
        if _numba_cache_error(exc):
            _say(
                f"error: numba cannot store its compiled kernels ({exc})\n"
                "hint: set NUMBA_CACHE_DIR to a writable folder"
            )
            return 2
        return _internal_error(exc)


def _run(args) -> int:
    """The command itself, after the process settings; XbarErrors become exit code 2."""
    from .. import memory
    from ..environment import prepare

    try:
        for note in prepare():  # thread variables, numba's cache, matplotlib's folder
            _say(f"note: {note}")
        _defer_unused_numpy_modules()
        memory.apply()  # keep freed memory for reuse, unless XBAR_KEEP_MEMORY=0
        if hasattr(args, "threads"):
            apply_threads(args.threads)  # infer and sweep apply their configuration's field
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a full disk or closed pipe shows here, not at exit
        return code
    except XbarError as err:
        _say(str(err))
        return 2


@contextlib.contextmanager
def _quiet_float_warnings() -> Iterator[None]:
    """Hide numpy's floating-point RuntimeWarnings (overflow, invalid value, divide by zero).

    xbar checks its results for non-finite numbers and raises an error naming the cause;
    the warnings before it are numpy's view from inside a kernel.  ``XBAR_DEBUG=1`` shows
    them.
    """
    import warnings

    with warnings.catch_warnings():
        if not os.environ.get("XBAR_DEBUG"):
            warnings.filterwarnings(
                "ignore",
                message=r"(overflow|invalid value|divide by zero|underflow) encountered",
                category=RuntimeWarning,
            )
        yield


def _escape_unencodable(err: UnicodeEncodeError) -> tuple[str, int]:
    """Error handler ``xbar-escape``: the bytes of surrogate-escaped text (a path given on
    an ASCII command line goes back out as it came in), ``\\u03a9`` for other characters."""
    bad = err.object[err.start : err.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in bad):
        return codecs.lookup_error("surrogateescape")(err)
    return codecs.backslashreplace_errors(err)


def _tolerant_output() -> None:
    """Never a UnicodeEncodeError for text that the terminal's encoding lacks.

    Under an ASCII locale without Python's UTF-8 mode (``LC_ALL=C PYTHONUTF8=0``, or
    ``PYTHONIOENCODING=ascii``) a netlist title ``Ω divider`` was an internal error
    (exit 70); it is now printed as ``\\u03a9 divider``.
    """
    codecs.register_error("xbar-escape", _escape_unencodable)
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if stream is not None and encoding not in ("utf8", "utf16", "utf32", ""):
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.reconfigure(errors="xbar-escape")


def _quiet_broken_stdout() -> None:
    """After a closed pipe (``xbar ... | head``): no second error when Python exits."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
