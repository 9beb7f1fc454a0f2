"""Structural checks that name the culprit before a singular matrix is factorised.

* **Floating islands**: groups of nodes with no DC path to ground through
  conductive elements (R, V, E outputs, diodes, and G or B sources controlled
  by their own terminals).
* **Current-source cut sets**: such a group that is reached only through
  current sources (I, or G/B sources controlled elsewhere) -- its voltage is
  undetermined.
* **Voltage-source loops**: a cycle of V and E branches (including a source
  shorted onto itself), which makes the branch currents undetermined.

:func:`check_topology` raises :class:`~xbar.errors.SingularCircuitError`
naming the nodes and elements, with the netlist location of one element.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..errors import SingularCircuitError
from .circuit import Circuit
from .mosfet import expand_mosfets

_MAX_NAMES = 8


def _names(items: list[str]) -> str:
    items = list(items)
    if len(items) <= _MAX_NAMES:
        return ", ".join(items)
    return ", ".join(items[:_MAX_NAMES]) + f" and {len(items) - _MAX_NAMES} more"


def _placed(circuit: Circuit, items: list[str]) -> str:
    """Element names each with its netlist line (``r1 (deck.cir:3)``), as :func:`_names`."""
    out = []
    for n in list(items)[:_MAX_NAMES]:
        loc = circuit.locations.get(n)
        out.append(f"{n} ({loc.file}:{loc.line})" if loc is not None else n)
    more = len(items) - _MAX_NAMES
    return ", ".join(out) + (f" and {more} more" if more > 0 else "")


def _edges(circuit: Circuit):
    """Conductive edges (a, b, element name) as arrays plus the name list."""
    a, b, names = [], [], []
    for table in (circuit.resistors, circuit.vsources, circuit.vcvs, circuit.diodes):
        a.append(np.asarray(table.npos, dtype=np.int64))
        b.append(np.asarray(table.nneg, dtype=np.int64))
        names += list(table.name)
    g = circuit.vccs
    self_ctrl = [
        k
        for k in range(len(g))
        if {int(g.npos[k]), int(g.nneg[k])} == {int(g.cpos[k]), int(g.cneg[k])}
    ]
    a.append(np.asarray(g.npos, dtype=np.int64)[self_ctrl])
    b.append(np.asarray(g.nneg, dtype=np.int64)[self_ctrl])
    names += [g.name[k] for k in self_ctrl]
    conductive_b = [s for s in circuit.bsources if _b_is_conductive(s)]
    a.append(np.array([s.npos for s in conductive_b], dtype=np.int64))
    b.append(np.array([s.nneg for s in conductive_b], dtype=np.int64))
    names += [s.name for s in conductive_b]
    return np.concatenate(a), np.concatenate(b), names


def _b_is_conductive(s) -> bool:
    """A behavioural source conducts when it is controlled by its own terminal voltage
    (one that writes a branch equation, ``B ... V=`` or E/H, has no nodes to join: a
    negative terminal is a branch, even when it reads its own current)."""
    if s.npos < 0 or s.nneg < 0:
        return False
    if getattr(s, "conductive", False):
        return True
    ends = {s.npos, s.nneg}
    return any(set(c) == ends for c in s.controls)


def locate_singular(circuit: Circuit, exc: SingularCircuitError) -> SingularCircuitError:
    """``exc`` (a singular matrix naming its unknowns, without a netlist location) with
    the elements at those unknowns named at their file:line, the likeliest culprit first
    (a negative resistor, then behavioural sources); ``exc`` itself when nothing is known.
    """
    unknowns = getattr(exc, "unknowns", ())
    if exc.location is not None or not unknowns:
        return exc
    index = {name.lower(): k for k, name in enumerate(circuit.node_names)}
    nodes, named = set(), []
    for u in unknowns:
        if u.endswith("#branch") or u.endswith("#internal"):
            named.append(u.rsplit("#", 1)[0])
        elif u.lower() in index:
            nodes.add(index[u.lower()])
    elements = list(dict.fromkeys(named + elements_at(circuit, nodes)))
    if not elements:
        return exc
    res = circuit.resistors
    negative = {name for name, v in zip(res.name, res.value, strict=True) if v < 0}
    behavioural = {s.name for s in circuit.bsources}
    elements.sort(key=lambda n: (n not in negative, n not in behavioural))
    shown = [
        f"{n} ({loc.file}:{loc.line})" if (loc := circuit.locations.get(n)) else n
        for n in elements[:8]
    ]
    more = f" and {len(elements) - 8} more" if len(elements) > 8 else ""
    what = "negative resistance " if elements[0] in negative else ""
    out = SingularCircuitError(
        f"{exc.message}; elements there: {', '.join(shown)}{more}",
        location=circuit.locations.get(elements[0]),
        hint=(f"{what}{elements[0]} may cancel the other conductances; " if what else "")
        + exc.hint,
    )
    out.unknowns = unknowns
    return out


def elements_at(circuit: Circuit, nodes: set[int]) -> list[str]:
    """Names of elements with a terminal (or control node) in ``nodes``."""
    out = []
    for table in (circuit.resistors, circuit.vsources, circuit.isources, circuit.diodes):
        for k, name in enumerate(table.name):
            if int(table.npos[k]) in nodes or int(table.nneg[k]) in nodes:
                out.append(name)
    for table in (circuit.vccs, circuit.vcvs):
        for k, name in enumerate(table.name):
            if {
                int(table.npos[k]),
                int(table.nneg[k]),
                int(table.cpos[k]),
                int(table.cneg[k]),
            } & nodes:
                out.append(name)
    for s in circuit.bsources:
        if {s.npos, s.nneg} & nodes or any(set(c) & nodes for c in s.controls):
            out.append(s.name)
    return out


def check_topology(circuit: Circuit) -> None:
    """Raise SingularCircuitError for floating islands, current-source cut sets and
    voltage-source loops; return None for a well-posed circuit.  MOSFETs count as
    their devices (:func:`~xbar.spice.mosfet.expand_mosfets`)."""
    circuit = expand_mosfets(circuit)
    n = circuit.n_nodes
    _check_vsource_loops(circuit)
    if n <= 1:
        return
    a, b, _ = _edges(circuit)
    graph = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    floating = np.flatnonzero(labels != labels[0])
    if len(floating) == 0:
        return
    # report the island containing the first floating node
    island = np.flatnonzero(labels == labels[floating[0]])
    nodes = {int(i) for i in island}
    node_names = [circuit.node_names[i] for i in island]
    feeders = []
    for table in (circuit.isources, circuit.vccs):
        for k, name in enumerate(table.name):
            ends = {int(table.npos[k]), int(table.nneg[k])}
            if len(ends & nodes) == 1:
                feeders.append(name)
    for s in circuit.bsources:
        if not _b_is_conductive(s) and len({s.npos, s.nneg} & nodes) == 1:
            feeders.append(s.name)
    attached = elements_at(circuit, nodes)
    attached += [n for n, a, b in circuit.open_elements if a in nodes or b in nodes][:8]
    loc_elem = feeders[0] if feeders else (attached[0] if attached else None)
    location = circuit.locations.get(loc_elem) if loc_elem else None
    what = "node" if len(island) == 1 else "nodes"
    if feeders:
        raise SingularCircuitError(
            f"{what} {_names(node_names)} fed only by current sources "
            f"({_placed(circuit, feeders)}): no DC path to ground, so the voltage is undetermined",
            location=location,
            hint="add a resistor from these nodes to ground or to the rest of the circuit",
        )
    raise SingularCircuitError(
        f"floating {what} {_names(node_names)}: no DC path to ground"
        + (f" (elements: {_placed(circuit, attached)})" if attached else ""),
        location=location,
        hint="connect the island to ground through a resistor, or to the rest of the circuit",
    )


def _check_vsource_loops(circuit: Circuit) -> None:
    parent = list(range(circuit.n_nodes))
    adjacency: dict[int, list[tuple[int, str]]] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for table in (circuit.vsources, circuit.vcvs):
        for k, name in enumerate(table.name):
            p, q = int(table.npos[k]), int(table.nneg[k])
            rp, rq = find(p), find(q)
            if rp == rq:
                loop = _path(adjacency, p, q) if p != q else []
                members = loop + [name]
                raise SingularCircuitError(
                    (
                        f"voltage source {name} is shorted (both terminals on node "
                        f"{circuit.node_names[p]})"
                        if p == q
                        else f"loop of voltage sources: {_placed(circuit, members)}"
                    ),
                    location=circuit.locations.get(name),
                    hint="a loop of V/E sources fixes no current; put a resistor in the loop "
                    "or remove one source",
                )
            parent[rp] = rq
            adjacency.setdefault(p, []).append((q, name))
            adjacency.setdefault(q, []).append((p, name))


def _path(adjacency, start: int, goal: int) -> list[str]:
    """Element names on a path from ``start`` to ``goal`` in the V/E forest (BFS)."""
    prev: dict[int, tuple[int, str] | None] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node == goal:
            break
        for nxt, name in adjacency.get(node, []):
            if nxt not in prev:
                prev[nxt] = (node, name)
                queue.append(nxt)
    out = []
    node = goal
    while prev.get(node) is not None:
        node, name = prev[node]
        out.append(name)
    return out[::-1]
