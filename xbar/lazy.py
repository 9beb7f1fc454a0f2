"""Modules imported on first use, for the numba kernel modules.

Importing numba and loading its cached kernels costs 0.4-0.5 s per process, more than
a small solve takes.  A module that only *may* call kernels binds the kernel module
with :func:`lazy_module`: the name is bound at once, the module runs on the first
access of one of its attributes (:class:`importlib.util.LazyLoader`, the recipe of
the :mod:`importlib` documentation).

>>> mod = lazy_module("json")   # already imported: returned as it is
>>> mod.dumps([1])
'[1]'
"""

from __future__ import annotations

import importlib.util
import sys
import types

__all__ = ["lazy_module"]


def lazy_module(name: str) -> types.ModuleType:
    """The module ``name`` (absolute), executed when one of its attributes is first read.

    A module already imported is returned as it is.  Import errors (a missing module)
    are raised here; errors inside the module's code surface at first use.
    """
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:  # as an import does: ``package.child`` is the module
        setattr(sys.modules[parent], child, module)
    return module
