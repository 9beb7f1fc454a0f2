"""SPICE netlist export of a crossbar (placeholder, filled below)."""


def to_netlist(xb, path=None, V=None, **kw):
    raise NotImplementedError
