"""The grid of a sweep: swept values as text, ``--values`` parsing, one configuration per point.

A sweep varies one or two fields of a configuration dataclass.  This module checks the
fields, parses value lists, gives every value one canonical text (the CSV cell and the key
that matches a stored row to a task) and builds the validated configuration of every grid
point before any work starts.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ConfigError, ResourceError, XbarError

__all__ = [
    "Grid",
    "Task",
    "build_grid",
    "check_field",
    "format_value",
    "parse_cell",
    "parse_values",
]

#: fields that may not be swept: the chip axis is the inner axis of every sweep
NOT_SWEEPABLE = ("repeats",)


def format_value(value: Any) -> str:
    """Canonical text of a swept value (CSV cell and matching key); floats round-trip.

    >>> format_value(0.1), format_value(True), format_value(None), format_value(4)
    ('0.1', 'true', 'none', '4')
    """
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return repr(float(value) + 0.0)  # -0.0 and 0.0 are one point
    if isinstance(value, int | np.integer):
        return str(int(value))
    if value is None:
        return "none"
    return str(value)


def parse_cell(text: str) -> Any:
    """Best-effort inverse of :func:`format_value` for reading a CSV back.

    >>> parse_cell("4"), parse_cell("0.5"), parse_cell("none"), parse_cell("offset")
    (4, 0.5, None, 'offset')
    """
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


def field_names(config: Any) -> list[str]:
    """Field names of a configuration dataclass instance."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ConfigError(f"base configuration must be a dataclass instance, got {type(config)!r}")
    return [f.name for f in dataclasses.fields(config)]


def check_field(config: Any, field: str) -> None:
    """Raise :class:`ConfigError` unless ``field`` is a sweepable field of ``config``."""
    names = field_names(config)
    if field not in names and ":" in field and callable(getattr(config, "field_value", None)):
        config.field_value(field)  # a per-layer field "PATTERN:FIELD" (raises naming it)
        return
    if field not in names:
        close = difflib.get_close_matches(field, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "known fields: " + ", ".join(names)
        raise ConfigError(f"unknown configuration field {field!r} to sweep", hint=hint)
    if field == "layers":
        raise ConfigError(
            "field 'layers' (the per-layer sections) cannot be swept as a whole",
            hint="sweep one section's field as PATTERN:FIELD, e.g. --field 'conv1:adc_bits'",
        )
    if field in NOT_SWEEPABLE:
        raise ConfigError(
            f"field {field!r} cannot be swept: chips are the inner axis of a sweep",
            hint="set the number of chips with repeats (--repeats N)",
        )


def _split_entries(field: str, text: str | Sequence[str]) -> tuple[list[str], str]:
    """The stripped entries of a value list and the list as the user wrote it."""
    raw = text.split(",") if isinstance(text, str) else [str(s) for s in text]
    items = [s.strip() for s in raw]
    if not any(items):
        raise ConfigError(
            f"no values given for swept field {field!r}", hint="for example --values 0,0.05,0.1"
        )
    shown = text if isinstance(text, str) else ",".join(raw)
    for pos, s in enumerate(items, start=1):
        if s == "":
            raise ConfigError(
                f"swept field {field!r}: entry {pos} of {shown!r} is empty",
                hint="separate the values by single commas, without a leading, trailing or "
                "doubled comma",
            )
    return items, shown


def _convert(s: str, current: Any, nullable: bool) -> Any:
    """One entry converted to the type of ``current`` (ValueError if it does not convert)."""
    if isinstance(current, bool):
        low = s.lower()
        if low == "none":
            return "none"  # programming_clip's third mode; other fields refuse it by name
        if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise ValueError(s)
        return low in ("true", "1", "yes", "on")
    if isinstance(current, int):
        f = float(s)
        if not f.is_integer():
            raise ValueError(s)
        return int(f)
    if isinstance(current, float):
        return float(s)
    if current is None:
        return None if s.lower() == "none" else parse_cell(s)
    return None if nullable and s.lower() == "none" else s


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
    check_field(config, field)
    items, shown = _split_entries(field, text)
    getter = getattr(config, "field_value", None)  # also "PATTERN:FIELD" (per layer)
    current = getter(field) if callable(getter) else getattr(config, field)
    nullable = current is None
    types = getattr(type(config), "field_types", None)
    if nullable and callable(types):
        typ = types().get(field)
        if typ in (bool, int, float, str):
            current = typ()
    out = []
    for s in items:
        try:
            out.append(_convert(s, current, nullable))
        except ValueError:
            kind = type(current).__name__
            raise ConfigError(
                f"value {s!r} for swept field {field!r} is not a valid {kind}",
                hint=f"{field} currently is {current!r}",
            ) from None
    seen: dict[str, str] = {}
    for s, v in zip(items, out, strict=True):
        key = format_value(v)
        if key in seen:
            same = f"{s!r}" if seen[key] == s else f"{seen[key]!r} and {s!r}"
            raise ConfigError(
                f"swept field {field!r} lists the value {same} twice in {shown!r}",
                hint="give every value once",
            )
        seen[key] = s
    return out


def replace_config(config: Any, overrides: dict[str, Any]) -> Any:
    """A copy of ``config`` with ``overrides``, validated the way the config class validates."""
    method = getattr(type(config), "replace", None)
    if callable(method):  # AnalogConfig.replace: coerces and validates
        return config.replace(**overrides)
    cfg = dataclasses.replace(config, **overrides)
    validate = getattr(cfg, "validate", None)
    if callable(validate):
        validate()
    return cfg


#: bytes one task holds at least while a sweep runs (its Task, a future, its results)
BYTES_PER_TASK = 2048


def check_task_count(points: int, repeats: int) -> None:
    """Refuse a grid whose task bookkeeping alone would not fit in memory, before any work.

    ``points * repeats`` tasks are listed up front (a billion chips once took all 22 GiB
    of a machine and were killed by the system).

    Raises
    ------
    ResourceError
        Naming ``repeats``, the task count and the memory they need and have.
    """
    from ...checks import available_memory

    need = points * repeats * BYTES_PER_TASK
    avail = available_memory()
    if avail is not None and need > avail / 2:
        raise ResourceError(
            f"repeats={repeats} on {points} grid point(s) is {points * repeats} tasks, whose "
            f"bookkeeping alone needs about {need / 2**30:.3g} GiB of memory; about "
            f"{avail / 2**30:.3g} GiB is available",
            hint="use fewer chips (repeats) or fewer values",
        )


@dataclass(frozen=True)
class Task:
    """One unit of work: chip ``chip`` of grid point ``point``.

    Attributes
    ----------
    index : int
        Position in the task list (point-major, chip-minor).
    point : int
        Grid point (row-major over the first and second field).
    chip : int
        Chip number (the evaluator's seeded chip ``chip``).
    config : object
        The grid point's configuration.
    """

    index: int
    point: int
    chip: int
    config: Any


@dataclass(frozen=True)
class Grid:
    """The validated grid of a sweep.

    Attributes
    ----------
    fields : tuple of str
        The swept fields (one or two).
    values : tuple of tuple
        The values of each field, in sweep order.
    points : list of tuple
        Every grid point as a tuple of values (row-major).
    configs : list
        The validated configuration of every point.
    repeats : int
        Chips per point.
    """

    fields: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    points: list[tuple[Any, ...]]
    configs: list[Any]
    repeats: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """(values of field 1, values of field 2 or 1, chips)."""
        n2 = len(self.values[1]) if len(self.fields) > 1 else 1
        return len(self.values[0]), n2, self.repeats

    def tasks(self) -> list[Task]:
        """Every (point, chip) task, point-major."""
        return [
            Task(index=p * self.repeats + k, point=p, chip=k, config=cfg)
            for p, cfg in enumerate(self.configs)
            for k in range(self.repeats)
        ]

    def key(self, task: Task) -> tuple[str, ...]:
        """The CSV key of a task: the point's value texts and the chip number."""
        return (*(format_value(v) for v in self.points[task.point]), str(task.chip))

    def cell(self, task: Task) -> tuple[int, int, int]:
        """Index of a task in arrays of :attr:`shape`."""
        n2 = self.shape[1]
        return task.point // n2, task.point % n2, task.chip


def _check_axes(base_config: Any, axes: Mapping[str, Iterable[Any]]):
    if not isinstance(axes, Mapping):
        raise ConfigError(
            f"axes must map field names to lists of values, got {type(axes).__name__}",
            hint="for example axes={'programming_sigma': [0, 0.1]}",
        )
    fields = tuple(axes)
    for f in fields:
        vals = axes[f]
        if isinstance(vals, str | bytes) or not hasattr(vals, "__iter__"):
            raise ConfigError(
                f"swept field {f!r}: values must be a list, got {vals!r}",
                hint=f"for example {{{f!r}: [{vals!r}]}}",
            )
    if not 1 <= len(fields) <= 2:
        raise ConfigError(
            f"a sweep varies one or two configuration fields, got {len(fields)}",
            hint="for example axes={'programming_sigma': [0, 0.1]}",
        )
    for f in fields:
        check_field(base_config, f)
    values = tuple(tuple(axes[f]) for f in fields)
    for f, vals in zip(fields, values, strict=True):
        if not vals:
            raise ConfigError(f"no values given for swept field {f!r}")
        keys = [format_value(v) for v in vals]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"swept field {f!r} lists a value twice: [{', '.join(keys)}]")
    return fields, values


def _point_config(base_config: Any, overrides: dict[str, Any]) -> Any:
    """Base plus one point's values, validated; errors name the point."""
    where = ", ".join(f"{f}={format_value(v)}" for f, v in overrides.items())
    try:
        return replace_config(base_config, overrides)
    except XbarError as exc:
        exc.add_context(f"sweep point {where}")
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid sweep point {where}: {exc}") from None


def build_grid(base_config: Any, axes: Mapping[str, Iterable[Any]]) -> Grid:
    """Check the axes and build (and so validate) every grid point's configuration.

    The base alone need not be valid on the swept fields (for example an ``adc_range`` with
    the base's ``adc_bits=0`` when ``adc_bits`` is swept): base plus swept values is
    validated, point by point, and an error names the point.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Cfg:
    ...     sigma: float = 0.0
    ...     repeats: int = 2
    >>> g = build_grid(Cfg(), {"sigma": [0.0, 0.1]})
    >>> g.shape, len(g.tasks()), g.key(g.tasks()[3])
    ((2, 1, 2), 4, ('0.1', '1'))
    """
    fields, values = _check_axes(base_config, axes)
    points = (
        [(v1,) for v1 in values[0]]
        if len(fields) == 1
        else [(v1, v2) for v1 in values[0] for v2 in values[1]]
    )
    configs = [_point_config(base_config, dict(zip(fields, p, strict=True))) for p in points]
    repeats = getattr(base_config, "repeats", 1)
    repeats = 1 if repeats is None else int(repeats)
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got {repeats}")
    check_task_count(len(points), repeats)
    return Grid(fields=fields, values=values, points=points, configs=configs, repeats=repeats)
