"""Checks of user input shared by the library and the CLI, each raising an xbar error.

Every public entry point that takes arrays, files or sizes from a user goes through one of
these, so a whole class of bad input gets one clear message rather than a numpy or OS
traceback: :func:`real_array` (numbers, not text, objects or complex values),
:func:`read_text` (a UTF-8 text file), :func:`output_path` (a file that can be written),
:func:`write_files` (whole files or none, also on a full disk or Ctrl-C),
:func:`memory_guard` (``MemoryError`` becomes :class:`~xbar.errors.ResourceError`) and
:func:`check_options` (simulator tolerances).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InputTypeError, ResourceError, ValueRangeError, XbarError

if TYPE_CHECKING:
    import numpy as np

# numpy is imported inside the functions that use it: the configuration and CLI modules
# import this one, and `xbar --help` has no use for numpy's 0.05-0.1 s import

__all__ = [
    "special_file",
    "check_options",
    "memory_guard",
    "output_path",
    "path_arg",
    "positive_int",
    "read_limited",
    "read_text",
    "real_array",
    "write_files",
]


def path_arg(path: Any, what: str) -> Path:
    """``path`` as a Path; anything but a str or os.PathLike is an InputTypeError.

    >>> path_arg("a.csv", "sweep CSV").name
    'a.csv'
    """
    if isinstance(path, str | os.PathLike):
        return Path(path)
    raise InputTypeError(
        f"{what} must be a file path (str or os.PathLike), got {type(path).__name__}"
    )


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1 (an int, or a float with an integer value); else an error.

    >>> positive_int("limit", 5.0)
    5
    """
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputTypeError(f"{name}={value!r}: must be a positive integer")
    if not (math.isfinite(float(value)) and float(value).is_integer() and value >= 1):
        raise ValueRangeError(f"{name}={value!r}: must be a positive integer")
    return int(value)


def real_array(name: str, value: Any, *, allow_bool: bool = False) -> np.ndarray:
    """``value`` as a float64 array, refusing anything that is not real numbers.

    Text (also numeric text such as ``"1e-6"``), complex numbers (never silently dropping
    the imaginary part), objects, ``None`` and ragged nested lists are refused naming
    ``name``; so are booleans (a mask given where numbers are meant), unless
    ``allow_bool``.  Integers convert.

    Raises
    ------
    InputTypeError
        A value of the wrong kind (a ``TypeError`` too).

    Examples
    --------
    >>> real_array("G", [[1e-6, 2e-6]]).dtype
    dtype('float64')
    >>> real_array("G", [1e-6 + 1e-9j])
    Traceback (most recent call last):
    ...
    xbar.errors.InputTypeError: error: G holds complex numbers; xbar works with real quantities only
    hint: pass the real part explicitly (np.real) if that is what you mean
    """
    import numpy as np

    if value is None:
        raise InputTypeError(f"{name} is missing (got None)")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise InputTypeError(f"{name} is not a rectangular array of numbers: {exc}") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise InputTypeError(
            f"{name} holds complex numbers; xbar works with real quantities only",
            hint="pass the real part explicitly (np.real) if that is what you mean",
        )
    if kind in "USO" or kind not in "biuf":
        what = {"U": "text", "S": "bytes", "O": "Python objects"}.get(kind, f"{arr.dtype}")
        sample = arr.flat[0] if arr.size else None
        sample = sample.item() if isinstance(sample, np.generic) else sample
        raise InputTypeError(
            f"{name} must hold numbers, got {what}"
            + (f" (for example {sample!r})" if sample is not None else ""),
            hint="convert it first, e.g. np.asarray(x, dtype=float)",
        )
    if kind == "b" and not allow_bool:
        raise InputTypeError(
            f"{name} holds booleans (True/False), not numbers",
            hint="if a mask is meant, convert it explicitly, e.g. mask * 1e-4 or "
            "mask.astype(float)",
        )
    try:
        return arr.astype(float)
    except MemoryError:
        need = arr.size * 8 / 2**30
        raise ResourceError(
            f"{name} of shape {arr.shape} needs {need:.3g} GiB of memory as float64 numbers",
            hint="use a smaller array",
        ) from None


def special_file(path: str | os.PathLike) -> str:
    """Why ``path`` cannot be read as a file's contents: ``"a device"`` (``/dev/zero``,
    a terminal), ``"a pipe"`` or ``"a socket"`` (reading them may never end), or ``""``
    for a regular file, a directory or a missing path (whose errors the reader reports).

    >>> special_file("/dev/zero"), special_file(__file__)
    ('a device', '')
    """
    import stat

    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return ""
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return ""


#: most bytes xbar reads from one input file or pipe (text inputs: netlists, configurations)
MAX_INPUT_BYTES = 1 << 30


def read_limited(path: str | os.PathLike, what: str, limit: int | None = None) -> bytes:
    """The bytes of ``path``, refusing more than ``limit`` of them (default
    :data:`MAX_INPUT_BYTES`, 1 GiB).

    A pipe (``cmd | xbar solve /dev/stdin``) is read a piece at a time and stopped at the
    limit, so an endless one (``cat /dev/zero | ...``) ends with this error instead of
    taking all memory; a regular file is measured before it is read.  OS errors (missing
    file, a directory) propagate for the caller to word.

    Raises
    ------
    ResourceError
        More than ``limit`` bytes, naming ``what``, the path and the limit.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"12345"); f.flush()
    ...     read_limited(f.name, "netlist", limit=4)
    Traceback (most recent call last):
    ...
    xbar.errors.ResourceError: error: netlist '...' holds more than 4 bytes (0.00 GiB), ...
    hint: is it the right file? a pipe that never ends (/dev/zero, yes) cannot be read whole
    """
    import stat

    limit = MAX_INPUT_BYTES if limit is None else limit

    def too_big() -> ResourceError:
        return ResourceError(
            f"{what} {str(path)!r} holds more than {limit} bytes ({limit / 2**30:.2f} GiB), "
            "more than xbar reads from one input",
            hint="is it the right file? a pipe that never ends (/dev/zero, yes) cannot be "
            "read whole",
        )

    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        if stat.S_ISREG(st.st_mode) and st.st_size > limit:
            raise too_big()
        pieces, total = [], 0
        while True:
            piece = fh.read(min(1 << 22, limit + 1 - total))
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
            if total > limit:
                raise too_big()
    return b"".join(pieces)


def read_text(path: str | os.PathLike, what: str) -> str:
    """The text of a UTF-8 file; a missing, unreadable or non-UTF-8 file is a ConfigError.

    The message names ``what`` (for example "configuration file"), the path and, for bad
    bytes, their offset.
    """
    path = path_arg(path, what)
    kind = special_file(path)
    if kind:
        raise ConfigError(f"{what} {str(path)!r} is {kind}, not a file")
    try:
        raw = read_limited(path, what)
    except IsADirectoryError:
        raise ConfigError(f"{what} {str(path)!r} is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {str(path)!r} is not UTF-8 text: byte {raw[exc.start]:#04x} at offset "
            f"{exc.start} ({exc.reason})",
            hint="save the file as UTF-8",
        ) from None


def output_path(path: str | os.PathLike, what: str = "output") -> Path:
    """Check that ``path`` can be created or overwritten, before any work is done.

    Raises
    ------
    ConfigError
        The folder does not exist, is not a folder or is not writable, or the path is a
        directory or a device, pipe or socket.
    """
    path = path_arg(path, what)
    if path.is_dir():
        raise ConfigError(
            f"cannot write {what} {str(path)!r}: it is a folder", hint="give a file name"
        )
    if special_file(path):  # a rename onto it would replace /dev/null or /dev/full
        raise ConfigError(
            f"cannot write {what} {str(path)!r}: it is {special_file(path)}, not a file",
            hint="give a file name",
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise ConfigError(
            f"cannot write {what} {str(path)!r}: folder {str(parent)!r} does not exist",
            hint="create the folder first",
        )
    if not parent.is_dir():
        raise ConfigError(f"cannot write {what} {str(path)!r}: {str(parent)!r} is not a folder")
    if not os.access(parent, os.W_OK):
        raise ConfigError(
            f"cannot write {what} {str(path)!r}: folder {str(parent)!r} is not writable"
        )
    return path


@contextmanager
def _folder_lock(path: Path | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the folder of ``path`` (Linux; elsewhere nothing).

    Two processes saving the same model at once (``xbar train --out m`` twice) renamed
    their files in turn, which could leave one's ``m.json`` beside the other's ``m.npz``.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = None
    if path is not None:
        with suppress(OSError):
            fd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # (closing releases the lock)


def write_files(writers: dict[Path, Callable[[Any], None]]) -> None:
    """Write several files all or nothing: ``writers[path](fh)`` fills a temporary file
    beside ``path`` (binary mode), and only when every one is complete are they renamed
    onto their paths (under a lock on the folder, so two processes writing the same set
    never mix their files).  A full disk, an error or Ctrl-C leaves no partial file and the
    older files intact.  A path that is a device (``/dev/null``) is written directly,
    never replaced.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> write_files({p: lambda fh: fh.write(b"xbar")}); p.read_bytes()
    b'xbar'
    """
    temps: dict[Path, Path] = {}
    try:
        for path, write in writers.items():
            path = Path(path)
            if special_file(path):
                with open(path, "wb") as fh:
                    write(fh)
                continue
            temps[path] = path.with_name(f".{path.name}.tmp{os.getpid()}")
            with open(temps[path], "wb") as fh:
                write(fh)
        with _folder_lock(next(iter(temps), None)):  # two writers: one whole set after the other
            for path, tmp in temps.items():
                os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            with suppress(OSError):
                os.remove(tmp)  # left only when something failed


def available_memory() -> float | None:
    """Bytes of memory this process can still get now, or None when unknown.

    The least of: the system's available memory (Linux ``/proc/meminfo``), what is left
    of the address-space limit (``ulimit -v``, ``prlimit --as``) and what is left of the
    control group's memory limit (a container's or a batch job's), so that a request too
    big for the limit is refused up front rather than ending in a ``MemoryError`` or an
    out-of-memory kill.

    >>> m = available_memory()
    >>> m is None or m > 0
    True
    """
    found = [m for m in (_system_available(), _rlimit_left(), _cgroup_left()) if m is not None]
    return max(min(found), 0.0) if found else None


def _system_available() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _proc_status_bytes(key: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rlimit_left() -> float | None:
    """The address space left under RLIMIT_AS (``ulimit -v``), or None without a limit."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return None
    used = _proc_status_bytes("VmSize")
    return float(soft) - (used or 0.0)


def _cgroup_left() -> float | None:
    """The memory left under this process's control-group limit (v2, else v1), or None."""
    paths = [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current")]
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                if line.startswith("0::"):
                    rel = line[3:].strip().lstrip("/")
                    if rel:
                        base = f"/sys/fs/cgroup/{rel}"
                        paths.insert(0, (f"{base}/memory.max", f"{base}/memory.current"))
    except OSError:
        pass
    paths.append(
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        )
    )
    for limit_file, usage_file in paths:
        try:
            with open(limit_file) as fh:
                limit = fh.read().strip()
            with open(usage_file) as fh:
                usage = float(fh.read().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60:
            return None  # no limit (v1 writes a number near 2**63)
        return float(limit) - usage
    return None


@contextmanager
def memory_guard(what: str) -> Iterator[None]:
    """Turn a ``MemoryError`` raised in the block into a :class:`ResourceError` naming ``what``.

    >>> with memory_guard("a 10x10 solve"):
    ...     pass
    """
    try:
        yield
    except XbarError:
        raise
    except MemoryError as exc:
        detail = f" ({exc})" if str(exc) else ""
        raise ResourceError(
            f"not enough memory for {what}{detail}",
            hint="use a smaller array, fewer inputs at once, or a machine with more memory",
        ) from None


#: Options fields that must be positive finite numbers, and the integer iteration limits
_POSITIVE = ("reltol", "abstol", "vntol")
_ITERATIONS = ("itl1", "itl2")


def check_options(options: Any, where: str = "options") -> None:
    """Validate simulator options (``xbar.Options``) where they are given.

    ``reltol`` must be in (0, 1), ``abstol`` and ``vntol`` positive, ``gmin`` >= 0, the
    iteration limits at least 1, temperatures finite and above absolute zero.

    Raises
    ------
    ConfigError or ValueRangeError
        Naming the field and ``where``.
    """
    import numpy as np

    for name in (*_POSITIVE, "gmin", *_ITERATIONS, "temp", "tnom"):
        if not hasattr(options, name):
            raise ConfigError(f"{where} must be an xbar.Options, got {type(options).__name__}")
    for name in (*_POSITIVE, "gmin", "temp", "tnom"):
        v = getattr(options, name)
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float | np.integer | np.floating)
            or not math.isfinite(float(v))
        ):
            raise ValueRangeError(f"{where}.{name}={v!r}: must be a finite number")
    for name in _POSITIVE:
        if not getattr(options, name) > 0:
            raise ValueRangeError(f"{where}.{name}={getattr(options, name)!r}: must be positive")
    if not options.reltol < 1:
        raise ValueRangeError(
            f"{where}.reltol={options.reltol!r}: must be below 1 "
            "(a relative tolerance, SPICE's default is 1e-3)"
        )
    if options.gmin < 0:
        raise ValueRangeError(f"{where}.gmin={options.gmin!r}: must not be negative")
    for name in _ITERATIONS:
        v = getattr(options, name)
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueRangeError(f"{where}.{name}={v!r}: must be an integer >= 1")
    for name in ("temp", "tnom"):
        if getattr(options, name) <= -273.15:
            raise ValueRangeError(
                f"{where}.{name}={getattr(options, name)!r} degC: below absolute zero"
            )
