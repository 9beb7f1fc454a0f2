"""Per-layer hardware settings: rules that override :class:`~xbar.network.AnalogConfig`
fields for the matmul layers whose name matches.

A configuration holds an ordered list of :class:`LayerRule` (its ``layers`` field).  Each
rule names its layers by a pattern:

* a layer name (``"conv1"``) or a shell-style glob of names (``"fc*"``, ``"block?.conv*"``;
  :func:`fnmatch.fnmatchcase`, case-sensitive);
* ``"#N"``: the N-th matmul layer in forward order (``"#0"`` the first, ``"#-1"`` the last).

and sets any per-layer field of the configuration (every field but the whole-network ones
in :data:`GLOBAL_FIELDS`), or ``digital = true``: the layer is then computed digitally
with its exact weights (no tiles, no device errors, no converters, no energy metered).
Rules apply in order, so a later rule wins over an earlier one for the fields both set.

In TOML::

    adc_bits = 8
    [layers."#0"]            # the first layer stays digital
    digital = true
    [layers."fc*"]
    adc_bits = 10
    r_row = 1.0

On the command line: ``--layer 'fc*:adc_bits=10,r_row=1.0' --layer '#0:digital'``.

>>> rule = LayerRule("fc*", (("adc_bits", 10),))
>>> rule.section, rule.matches("fc1", 3, 4), rule.matches("conv1", 0, 4)
('[layers."fc*"]', True, False)
>>> LayerRule("#-1", digital=True).matches("fc2", 3, 4)
True
>>> parse_layer_option("fc*:adc_bits=10,digital")
('fc*', {'adc_bits': '10', 'digital': 'true'})
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, UnknownFieldError, show

__all__ = [
    "GLOBAL_FIELDS",
    "LayerRule",
    "LayerSetting",
    "match_rules",
    "merge_rules",
    "parse_layer_option",
    "parse_rules",
]

#: Fields that belong to the whole evaluation, not to one layer (a rule may not set them).
GLOBAL_FIELDS = (
    "seed",
    "repeats",
    "calibration_size",
    "calibration",
    "energy_chips",
    "energy_images",
    "threads",
    "weight_range_rule",
    "weight_range_fraction",
    "layers",
)

_INDEX = re.compile(r"#(-?\d+)")


@dataclass(frozen=True)
class LayerRule:
    """One per-layer section: the layers it matches and what it sets there.

    Attributes
    ----------
    pattern : str
        Layer name, glob of names, or ``"#N"`` (N-th matmul layer, negative from the end).
    changes : tuple of (field, value) pairs
        Configuration fields set on the matching layers, in the order given.
    digital : bool or None
        True: the matching layers stay digital; False: analog (undoes an earlier rule);
        None: not set by this rule.
    """

    pattern: str
    changes: tuple[tuple[str, Any], ...] = ()
    digital: bool | None = None

    @property
    def section(self) -> str:
        """The rule as its TOML section header, for messages: ``[layers."fc*"]``."""
        return f'[layers."{self.pattern}"]'

    def to_dict(self) -> dict[str, Any]:
        """The rule's table: its field changes, and ``digital`` when set."""
        out = dict(self.changes)
        if self.digital is not None:
            out["digital"] = self.digital
        return out

    def matches(self, name: str, index: int, count: int) -> bool:
        """True when layer ``name``, the ``index``-th of ``count`` matmul layers, matches."""
        m = _INDEX.fullmatch(self.pattern)
        if m is not None:
            k = int(m.group(1))
            return index == (k if k >= 0 else count + k)
        return name == self.pattern or fnmatch.fnmatchcase(name, self.pattern)


@dataclass(frozen=True)
class LayerSetting:
    """The effective settings of one matmul layer.

    Attributes
    ----------
    name : str
    index : int
        Position among the model's matmul layers (forward order).
    config : AnalogConfig
        The layer's configuration: the base with every matching rule applied, without
        rules of its own (``layers`` empty).
    digital : bool
        The layer is computed digitally.
    sections : tuple of str
        Patterns of the rules that matched, in the order applied.
    changes : dict
        The fields whose value differs from the base configuration's (and ``digital``
        when true): what the report shows for the layer.
    """

    name: str
    index: int
    config: Any
    digital: bool
    sections: tuple[str, ...]
    changes: dict


def parse_rules(
    data: Any,
    field_types: Mapping[str, type],
    coerce: Callable[[str, Any, type, str], Any],
    source: str = "",
) -> tuple[LayerRule, ...]:
    """The rules of a ``layers`` table ``{pattern: {field: value}}`` (or rules already made).

    ``field_types`` maps every per-layer field to its Python type; ``coerce(name, value,
    type, where)`` checks and converts one value (``where`` names the section in errors).

    Raises
    ------
    ConfigError
        A pattern that is not a string, a section that is not a table, a field that is
        global (:data:`GLOBAL_FIELDS`) or a bad value; :class:`UnknownFieldError` for an
        unknown field.  Every message names the section.
    """
    if isinstance(data, LayerRule):
        data = (data,)
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        items = []
        for rule in data:
            if not isinstance(rule, LayerRule):
                raise ConfigError(
                    f"layers: expected a table of sections {{pattern: {{field: value}}}}, got "
                    f"a list holding {type(rule).__name__}",
                    hint='in TOML: [layers."conv1"] then adc_bits = 10',
                )
            items.append((rule.pattern, rule.to_dict()))
    elif isinstance(data, Mapping):
        items = list(data.items())
    else:
        raise ConfigError(
            f"layers{f' in {source}' if source else ''}: expected a table of sections "
            f"{{pattern: {{field: value}}}}, got {type(data).__name__}",
            hint='in TOML: [layers."conv1"] then adc_bits = 10',
        )
    return tuple(_rule(p, t, field_types, coerce, source) for p, t in items)


def _rule(pattern, table, field_types, coerce, source: str) -> LayerRule:
    """One checked :class:`LayerRule` from its pattern and table."""
    where = f" in {source}" if source else ""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ConfigError(f"layers: section name {pattern!r}{where} must be a non-empty string")
    section = f'[layers."{pattern}"]'
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"{section}{where}: expected a table of fields, got {type(table).__name__} "
            f"{show(table)}",
            hint=f"{section} then one 'field = value' per line",
        )
    changes: list[tuple[str, Any]] = []
    digital = None
    for key, value in table.items():
        if key == "digital":
            digital = coerce("digital", value, bool, f" in {section}{where}")
        elif key in GLOBAL_FIELDS:
            raise ConfigError(
                f"{section}{where}: {key} applies to the whole network, not to one layer",
                hint=f"set {key} at the top level",
            )
        elif key not in field_types:
            names = [*field_types, "digital"]
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
            raise UnknownFieldError(
                f"unknown configuration field {key!r} in {section}{where}",
                hint=f"did you mean {close[0]!r}?"
                if close
                else "a layer section takes 'digital' and the per-layer fields: "
                + ", ".join(names),
            )
        else:
            changes.append((key, coerce(key, value, field_types[key], f" in {section}{where}")))
    if digital and changes:
        raise ConfigError(
            f"{section}{where}: digital = true with analog fields "
            f"({', '.join(k for k, _ in changes)}): a digital layer has no analog settings",
            hint="drop the fields, or give them in a section of their own",
        )
    return LayerRule(pattern, tuple(changes), digital)


def merge_rules(rules: Sequence[LayerRule], extra: Sequence[LayerRule]) -> tuple[LayerRule, ...]:
    """``rules`` with ``extra`` on top: a rule of an existing pattern updates its fields
    (the extra values win), a new pattern is appended (after, so it wins on overlaps)."""
    out = {r.pattern: r for r in rules}
    for r in extra:
        old = out.get(r.pattern)
        if old is None:
            out[r.pattern] = r
            continue
        changes = dict(old.changes)
        changes.update(r.changes)
        digital = old.digital if r.digital is None else r.digital
        out[r.pattern] = LayerRule(r.pattern, tuple(changes.items()), digital)
    return tuple(out.values())


def match_rules(rules: Sequence[LayerRule], names: Sequence[str]) -> list[tuple[int, ...]]:
    """For every layer of ``names`` (matmul layers in forward order), the indices of the
    rules that match it, in rule order.

    Raises
    ------
    ConfigError
        A rule that matches no layer (naming its section and listing the layers, with the
        closest name), or an index pattern beyond the layers.
    """
    count = len(names)
    out: list[list[int]] = [[] for _ in names]
    for k, rule in enumerate(rules):
        hit = False
        for i, name in enumerate(names):
            if rule.matches(name, i, count):
                out[i].append(k)
                hit = True
        if not hit:
            raise _no_match(rule, names)
    return [tuple(x) for x in out]


def _no_match(rule: LayerRule, names: Sequence[str]) -> ConfigError:
    listing = ", ".join(f"#{i} {n}" for i, n in enumerate(names))
    if _INDEX.fullmatch(rule.pattern):
        return ConfigError(
            f"{rule.section}: the model has {len(names)} matmul layer(s), so there is no "
            f"layer {rule.pattern}",
            hint=f"its matmul layers: {listing}",
        )
    close = difflib.get_close_matches(rule.pattern, list(names), n=1, cutoff=0.6)
    return ConfigError(
        f"{rule.section} matches none of the model's {len(names)} matmul layers",
        hint=(f"did you mean {close[0]!r}? " if close else "")
        + f"its matmul layers: {listing} (glob patterns such as 'fc*' and '#N' for the "
        "N-th layer also work)",
    )


_OPTION = re.compile(r"(?P<pattern>.+?):(?P<body>[A-Za-z_]\w*\s*(=.*)?)", re.S)


def parse_layer_option(text: str) -> tuple[str, dict[str, str]]:
    """One ``--layer`` value: ``PATTERN:FIELD=VALUE[,FIELD=VALUE...]``; a bare ``digital``
    means ``digital=true``.  Values stay text (the configuration converts them).

    Raises
    ------
    ConfigError
        Naming the option when it is not of that form.
    """
    m = _OPTION.fullmatch(text.strip())
    if m is None:
        raise ConfigError(
            f"--layer {text!r}: expected PATTERN:FIELD=VALUE[,FIELD=VALUE...]",
            hint="for example --layer 'conv1:adc_bits=10,r_row=2' or --layer 'fc*:digital'",
        )
    pattern, out = m.group("pattern").strip(), {}
    for item in m.group("body").split(","):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq and key == "digital":
            value = "true"
        elif not eq or not key:
            raise ConfigError(
                f"--layer {text!r}: {item.strip()!r} is not FIELD=VALUE",
                hint="separate the settings of one layer pattern by commas: "
                "'conv1:adc_bits=10,r_row=2'",
            )
        out[key] = value.strip()
    return pattern, out
