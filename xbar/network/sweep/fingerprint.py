"""Fingerprints of a sweep: what the results in a CSV were computed from.

The fingerprint hashes the model (architecture and arrays), the data, the evaluator, the
test-sample limit, the swept fields and the base configuration (swept fields and
``repeats`` left out, so a rerun with more chips or a wider grid reuses the rows done).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["digest", "jsonable", "model_digest", "sweep_meta"]

#: fields left out of the fingerprint, so a rerun with more chips reuses the chips already done
NOT_FINGERPRINTED = ("repeats", "threads")  # threads never change results
#: depth below which nested objects are no longer hashed
_MAX_DEPTH = 12


def jsonable(obj: Any) -> Any:
    """``obj`` as JSON-compatible data (dataclasses as dicts, arrays as lists).

    >>> jsonable({"a": np.arange(2), "b": float("inf")})
    {'a': [0, 1], 'b': 'inf'}
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return repr(obj)


def _digest_container(obj: Any, h, seen: set, depth: int) -> None:
    if isinstance(obj, Mapping):
        h.update(b"{")
        for k in sorted(obj, key=repr):
            _digest_into(k, h, seen, depth + 1)
            _digest_into(obj[k], h, seen, depth + 1)
        h.update(b"}")
    elif isinstance(obj, list | tuple):
        h.update(b"[")
        for v in obj:
            _digest_into(v, h, seen, depth + 1)
        h.update(b"]")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(type(obj).__qualname__.encode())
        for f in dataclasses.fields(obj):
            _digest_into(f.name, h, seen, depth + 1)
            _digest_into(getattr(obj, f.name), h, seen, depth + 1)
    elif hasattr(obj, "__dict__") and not callable(obj):
        h.update(type(obj).__qualname__.encode())
        _digest_into(vars(obj), h, seen, depth + 1)
    elif callable(obj):
        h.update(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}".encode())
    else:
        h.update(repr(obj).encode())


def _digest_into(obj: Any, h, seen: set, depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
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
    elif id(obj) in seen:
        h.update(b"<cycle>")
    else:
        seen.add(id(obj))
        _digest_container(obj, h, seen, depth)


def digest(obj: Any) -> str:
    """SHA-256 (hex) of arrays, scalars, containers and plain objects, recursively.

    >>> digest([1, 2.0]) == digest([1, 2.0]) != digest([1, 2])
    True
    """
    h = hashlib.sha256()
    _digest_into(obj, h, set(), 0)
    return h.hexdigest()


def model_digest(model: Any) -> str:
    """Identity of a model: its architecture and arrays (an xbar Model), else its hash."""
    state, config = getattr(model, "state", None), getattr(model, "config", None)
    if callable(state) and callable(config):  # xbar.network.Model: architecture + arrays only
        return digest({"config": config(), "state": state()})
    for attr in ("fingerprint", "digest"):
        fn = getattr(model, attr, None)
        if callable(fn):
            try:
                return str(fn())
            except Exception:  # noqa: BLE001 - fall back to hashing the object
                break
        if isinstance(fn, str):
            return fn
    return digest(model)


def sweep_meta(
    model: Any,
    model_id: Any,
    base_config: Any,
    fields: Sequence[str],
    *,
    dataset: Any,
    limit: int | None,
    evaluate: Callable | None,
) -> tuple[str, dict[str, Any]]:
    """The fingerprint of a sweep and the metadata written into its CSV header.

    Returns
    -------
    fingerprint : str
        16 hex digits.
    meta : dict
        The fingerprinted items plus two informational ones (``model_name``,
        ``xbar_version``) that are not part of the fingerprint.
    """
    base = jsonable(base_config)
    if base.get("layers") in ((), [], {}):  # no per-layer rules: as before they existed
        base.pop("layers")
    fingerprinted = {
        k: v for k, v in base.items() if k not in fields and k not in NOT_FINGERPRINTED
    }
    meta: dict[str, Any] = {
        "model": model_id,
        "dataset": "default" if dataset is None else digest(dataset),
        "limit": limit,
        "evaluator": "xbar.network.evaluate"
        if evaluate is None
        else f"{getattr(evaluate, '__module__', '')}."
        f"{getattr(evaluate, '__qualname__', repr(evaluate))}",
        "fields": list(fields),
        "base_config": fingerprinted,
    }
    fingerprint = hashlib.sha256(json.dumps(jsonable(meta), sort_keys=True).encode()).hexdigest()[
        :16
    ]
    # informational only (not fingerprinted): the same weights under another name match
    meta["model_name"] = (
        str(model)
        if isinstance(model, str | os.PathLike)
        else getattr(model, "name", type(model).__name__)
    )
    from ... import __version__

    meta["xbar_version"] = __version__
    return fingerprint, meta
