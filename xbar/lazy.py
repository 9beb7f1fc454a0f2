"""Modules imported on first use: the numba kernel modules, and unused numpy parts.

Importing numba and loading its cached kernels costs 0.4-0.5 s per process, more than
a small solve takes.  A module that only *may* call kernels binds the kernel module
with :func:`lazy_module`: a stand-in whose attributes are the module's, imported by
the first attribute read (through the import system, so threads that read at the same
time wait for one import; :class:`importlib.util.LazyLoader` is not thread-safe before
Python 3.12).

>>> mod = lazy_module("json")
>>> mod.dumps([1])
'[1]'
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["LazyModule", "defer_module", "lazy_module"]


class LazyModule:
    """The module ``name``, imported when one of its attributes is first read.

    Every attribute read is passed on to the module (so a value patched on the module
    is seen); reads cost a dictionary look-up in ``sys.modules`` more than a module's.
    """

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    @property
    def module(self) -> types.ModuleType:
        """The module itself (imported now if it was not)."""
        return importlib.import_module(self._name)

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)

    def __setattr__(self, attr: str, value) -> None:
        setattr(importlib.import_module(self._name), attr, value)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> LazyModule:
    """A stand-in for the module ``name`` (absolute), imported on first use.

    Raises
    ------
    ModuleNotFoundError
        No module ``name`` (checked now, without running it).
    """
    if importlib.util.find_spec(name) is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return LazyModule(name)


def defer_module(name: str) -> None:
    """Put the module ``name`` (absolute) into ``sys.modules`` unexecuted, to run on the
    first read of one of its attributes (:class:`importlib.util.LazyLoader`).

    For modules that other code imports or reads as a whole but does not use (``import``
    statements then find the deferred module); not for modules that threads may first
    use at the same time (LazyLoader is not thread-safe before Python 3.12).  Nothing
    happens if the module is already imported or does not exist.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:  # as an import does: ``package.child`` is the module
        setattr(sys.modules[parent], child, module)
