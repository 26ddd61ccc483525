"""Random valid topologies for tests: a seeded numpy generator and a hypothesis strategy.

A *valid* topology here is one reachable by node splitting (moving some of a substation's
elements to busbar 1) and line switching, where the slack's busbar keeps at least one in-service
branch (so the slack's island is more than the slack alone). Loads, productions or whole
substations may end up isolated from the slack: that is wanted, both backends must report them
as cut.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gym_powergrid.grid import GridArrays, Topology, from_pandapower, pandapower_case

#: Named cases every power-flow test runs on.
CASES = ("case14", "case30", "case57", "case118", "case300")

#: element kinds in a substation's element list
PROD, LOAD, LINE_OR, LINE_EX = "prod", "load", "line_or", "line_ex"


@functools.cache
def load_case(name: str) -> tuple:
    """``(net, grid)`` of a named case, built once per session; tests must not modify the net."""
    net = pandapower_case(name)
    return net, from_pandapower(net, name=name)


def substation_elements(grid: GridArrays, sub: int) -> list[tuple[str, int]]:
    """Every ``(kind, index)`` element connected to substation ``sub``."""
    out: list[tuple[str, int]] = []
    for kind, subs in ((PROD, grid.prod_sub_idx), (LOAD, grid.load_sub_idx),
                       (LINE_OR, grid.line_sub_or_idx), (LINE_EX, grid.line_sub_ex_idx)):
        out.extend((kind, int(i)) for i in np.flatnonzero(subs == sub))
    return out


def _node_array(topo: Topology, kind: str) -> np.ndarray:
    return {PROD: topo.prod_node, LOAD: topo.load_node, LINE_OR: topo.line_or_node,
            LINE_EX: topo.line_ex_node}[kind]


def element_buses(grid: GridArrays, topo: Topology) -> tuple[np.ndarray, ...]:
    """Busbar (``sub + node * n_sub``) of every production, load, line origin and extremity."""
    n = grid.n_sub
    return (grid.prod_sub_idx + n * np.asarray(topo.prod_node, np.int64),
            grid.load_sub_idx + n * np.asarray(topo.load_node, np.int64),
            grid.line_sub_or_idx + n * np.asarray(topo.line_or_node, np.int64),
            grid.line_sub_ex_idx + n * np.asarray(topo.line_ex_node, np.int64))


def slack_island_mask(grid: GridArrays, topo: Topology) -> np.ndarray:
    """Busbars (length ``2 * n_sub``) connected to the slack's busbar by in-service branches.

    Independent of both power-flow backends: a third opinion on which busbars are energised.
    """
    prod_bus, _, or_bus, ex_bus = element_buses(grid, topo)
    on = np.asarray(topo.line_status, bool)
    n_bus = grid.n_bus
    adj = coo_matrix((np.ones(int(on.sum())), (or_bus[on], ex_bus[on])), shape=(n_bus, n_bus))
    _, labels = connected_components(adj, directed=False)
    slack_bus = prod_bus[grid.slack_prod_idx]
    island = labels == labels[slack_bus]
    if island.sum() == 1:  # the slack alone on its busbar: nothing is energised
        island[:] = False
    return island


def slack_connected(grid: GridArrays, topo: Topology) -> bool:
    """True when the slack's busbar keeps at least one in-service branch."""
    return bool(slack_island_mask(grid, topo).any())


def apply_split(topo: Topology, elements: list[tuple[str, int]], move: np.ndarray) -> None:
    """Put ``elements[i]`` on busbar 1 where ``move[i]`` is true (in place)."""
    for (kind, idx), m in zip(elements, move):
        if m:
            _node_array(topo, kind)[idx] = 1


def random_topology(grid: GridArrays, rng: np.random.Generator, max_splits: int = 3,
                    max_outages: int = 2, max_tries: int = 1000) -> Topology:
    """Draw a valid topology: 1..``max_splits`` node splits and 0..``max_outages`` line outages.

    Each split picks a substation with at least two elements and moves a random non-empty,
    proper subset of them to busbar 1. Draws that disconnect the slack are rejected.
    """
    splittable = np.flatnonzero(grid.sub_n_elements >= 2)
    in_service = np.flatnonzero(grid.line_in_service)
    for _ in range(max_tries):
        topo = Topology.reference(grid)
        n_split = int(rng.integers(1, max_splits + 1))
        for sub in rng.choice(splittable, size=min(n_split, len(splittable)), replace=False):
            elements = substation_elements(grid, int(sub))
            k = int(rng.integers(1, len(elements)))  # 1..n-1 elements move
            move = np.zeros(len(elements), bool)
            move[rng.choice(len(elements), size=k, replace=False)] = True
            apply_split(topo, elements, move)
        n_out = int(rng.integers(0, max_outages + 1))
        topo.line_status[rng.choice(in_service, size=min(n_out, len(in_service)),
                                    replace=False)] = False
        if slack_connected(grid, topo):
            return topo
    raise RuntimeError(f"no valid topology found in {max_tries} draws")  # pragma: no cover


def random_topologies(grid: GridArrays, n: int, seed: int, **kwargs) -> list[Topology]:
    """``n`` random valid topologies from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [random_topology(grid, rng, **kwargs) for _ in range(n)]


def topologies(grid: GridArrays, max_splits: int = 3, max_outages: int = 2):
    """Hypothesis strategy of valid topologies of ``grid`` (shrinks towards the reference)."""
    from hypothesis import assume
    from hypothesis import strategies as st

    splittable = [int(s) for s in np.flatnonzero(grid.sub_n_elements >= 2)]
    in_service = [int(i) for i in np.flatnonzero(grid.line_in_service)]

    @st.composite
    def _topology(draw) -> Topology:
        topo = Topology.reference(grid)
        subs = draw(st.lists(st.sampled_from(splittable), max_size=max_splits, unique=True))
        for sub in subs:
            elements = substation_elements(grid, sub)
            move = draw(st.lists(st.booleans(), min_size=len(elements), max_size=len(elements)))
            apply_split(topo, elements, np.asarray(move, bool))
        out = draw(st.lists(st.sampled_from(in_service), max_size=max_outages, unique=True))
        topo.line_status[out] = False
        assume(slack_connected(grid, topo))
        return topo

    return _topology()


def describe(grid: GridArrays, topo: Topology) -> str:
    """Short human description of how ``topo`` differs from the reference (for messages)."""
    ref = Topology.reference(grid)
    parts = []
    for kind in (PROD, LOAD, LINE_OR, LINE_EX):
        moved = np.flatnonzero(_node_array(topo, kind) != _node_array(ref, kind))
        if len(moved):
            parts.append(f"{kind}->bb1 {moved.tolist()}")
    off = np.flatnonzero(np.asarray(topo.line_status, bool) != ref.line_status)
    if len(off):
        parts.append(f"lines switched {off.tolist()}")
    return "; ".join(parts) or "reference"
