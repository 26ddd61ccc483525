"""Grid-structure helpers of the scenario generator: regions, bridges, maintenance and hazards.

Pure numpy over :class:`~gym_powergrid.grid.arrays.GridArrays`; randomness only through the
:class:`numpy.random.Generator` passed in.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..grid.arrays import GridArrays


def hop_distances(grid: GridArrays) -> np.ndarray:
    """(n_sub, n_sub) number of in-service branches on the shortest path (large if unreachable)."""
    n = grid.n_sub
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b, on in zip(grid.line_sub_or_idx.tolist(), grid.line_sub_ex_idx.tolist(),
                        grid.line_in_service.tolist()):
        if on and a != b:
            adj[a].append(b)
            adj[b].append(a)
    dist = np.full((n, n), n + 1, dtype=np.int64)
    for s in range(n):
        dist[s, s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for v in adj[u]:
                if dist[s, v] > dist[s, u] + 1:
                    dist[s, v] = dist[s, u] + 1
                    queue.append(v)
    return dist


def substation_regions(grid: GridArrays, n_regions: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster substations into ``n_regions`` connected-ish regions by graph distance.

    Seeds are spread by farthest-point sampling (first seed drawn at random), then every
    substation joins its nearest seed (ties: lowest region index).

    Returns:
        (n_sub,) int64 region index of every substation.
    """
    dist = hop_distances(grid)
    n = grid.n_sub
    n_regions = max(1, min(int(n_regions), n))
    seeds = [int(rng.integers(n))]
    while len(seeds) < n_regions:
        d = dist[seeds].min(axis=0)
        seeds.append(int(np.argmax(d)))
    return np.argmin(dist[seeds], axis=0).astype(np.int64)


def bridge_lines(grid: GridArrays) -> np.ndarray:
    """(n_line,) bool: in-service branches whose outage splits the grid (or already out).

    Brute force (one connectivity check per branch): fine for grids of a few hundred branches.
    """
    n = grid.n_sub
    or_idx = grid.line_sub_or_idx
    ex_idx = grid.line_sub_ex_idx
    on = grid.line_in_service.astype(bool)
    out = ~on.copy()
    for line in np.flatnonzero(on):
        keep = on.copy()
        keep[line] = False
        if _n_components(n, or_idx[keep], ex_idx[keep]) > 1:
            out[line] = True
    return out


def _n_components(n: int, a: np.ndarray, b: np.ndarray) -> int:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in zip(a.tolist(), b.tolist()):
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[ru] = rv
    return len({find(i) for i in range(n)})


def maintenance_schedule(
    rng: np.random.Generator,
    hours: np.ndarray,
    weekday: np.ndarray,
    n_line: int,
    candidates: np.ndarray,
    rate_per_month: float,
    start_hours: tuple[int, int],
    duration_steps: tuple[int, int],
    steps_per_hour: float = 1.0,
) -> np.ndarray:
    """Planned outages: a few per month, starting on working-day mornings, hours long.

    The number of outages is Poisson with mean ``rate_per_month`` scaled by the chronic's length
    (30-day months). At most one outage starts on a given day; a line is maintained at most once
    per chronic while other candidates remain.

    Args:
        rng: random generator.
        hours: (T,) fractional hour of the day of each step.
        weekday: (T,) weekday (Monday = 0; holidays read as Sunday).
        n_line: number of branches.
        candidates: indices of the branches that may be maintained.
        rate_per_month: mean number of outages per 30 days.
        start_hours: inclusive range of start hours (e.g. ``(8, 10)``).
        duration_steps: inclusive range of durations, in steps.
        steps_per_hour: steps per hour (1 for hourly chronics).

    Returns:
        (T, n_line) int32, pypownet encoding (``d > 0`` at the start row).
    """
    n_steps = hours.shape[0]
    out = np.zeros((n_steps, n_line), dtype=np.int32)
    candidates = np.asarray(candidates, dtype=np.int64)
    if candidates.size == 0 or n_steps == 0:
        return out
    days = n_steps / (24.0 * steps_per_hour)
    n_events = int(rng.poisson(rate_per_month * days / 30.0))
    lo, hi = start_hours
    start_mask = (weekday < 5) & (hours >= lo) & (hours <= hi) & (np.mod(hours, 1.0) == 0)
    starts = np.flatnonzero(start_mask)
    if n_events == 0 or starts.size == 0:
        return out
    day_of = (starts / (24.0 * steps_per_hour)).astype(np.int64)
    free_days = np.unique(day_of)
    n_events = min(n_events, free_days.size)
    days_chosen = np.sort(rng.choice(free_days, size=n_events, replace=False))
    order = rng.permutation(candidates)
    for i, day in enumerate(days_chosen.tolist()):
        options = starts[day_of == day]
        t = int(options[rng.integers(options.size)])
        line = int(order[i % order.size])
        d = int(rng.integers(duration_steps[0], duration_steps[1] + 1))
        out[t, line] = min(d, n_steps - t)
    return out


def hazard_schedule(
    rng: np.random.Generator,
    n_steps: int,
    n_line: int,
    candidates: np.ndarray,
    rate_per_month: float,
    duration_steps: tuple[int, int],
    steps_per_day: float = 24.0,
) -> np.ndarray:
    """Random outages (lightning, faults): Poisson in time, uniform over the candidate lines.

    Returns:
        (T, n_line) int32, pypownet encoding.
    """
    out = np.zeros((n_steps, n_line), dtype=np.int32)
    candidates = np.asarray(candidates, dtype=np.int64)
    if candidates.size == 0 or n_steps == 0:
        return out
    n_events = int(rng.poisson(rate_per_month * n_steps / steps_per_day / 30.0))
    for _ in range(n_events):
        t = int(rng.integers(n_steps))
        line = int(candidates[rng.integers(candidates.size)])
        d = int(rng.integers(duration_steps[0], duration_steps[1] + 1))
        out[t, line] = max(out[t, line], min(d, n_steps - t))
    return out


def island_partners(grid: GridArrays) -> np.ndarray:
    """(n_line,) in-service branches that become a bridge to an island of lines after one
    other outage: ``{c, k}`` is a cut of the grid and, with both out, the part without the
    slack still holds a branch (the game's ``diverged`` rule when it serves something).

    Such a branch is safe alone but, while its partner ``c`` is out (maintenance, hazard,
    break), its own break by overflow ends the game. Two-branch cuts are found in linear time
    by cycle-space hashing (each branch gets the XOR of random labels of the cycles through a
    spanning tree it lies on: ``{c, k}`` is a cut when their labels are equal), then each
    candidate pair is checked exactly.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = grid.n_sub
    a = np.asarray(grid.line_sub_or_idx, dtype=np.int64)
    b = np.asarray(grid.line_sub_ex_idx, dtype=np.int64)
    on = np.flatnonzero(grid.line_in_service.astype(bool) & (a != b))
    slack = int(grid.prod_sub_idx[grid.slack_prod_idx])
    # spanning tree (BFS from the slack): parent branch of every reached substation
    parent_line = np.full(n, -1, dtype=np.int64)
    parent_sub = np.full(n, -1, dtype=np.int64)
    adj = [[] for _ in range(n)]
    for k in on.tolist():
        adj[a[k]].append((b[k], k))
        adj[b[k]].append((a[k], k))
    order = [slack]
    seen = np.zeros(n, dtype=bool)
    seen[slack] = True
    for u in order:
        for v, k in adj[u]:
            if not seen[v]:
                seen[v] = True
                parent_line[v] = k
                parent_sub[v] = u
                order.append(v)
    tree = np.zeros(grid.n_line, dtype=bool)
    tree[parent_line[parent_line >= 0]] = True
    rng = np.random.default_rng(0)
    label = np.zeros(grid.n_line, dtype=np.uint64)
    node = np.zeros(n, dtype=np.uint64)
    for k in on.tolist():
        if not tree[k]:
            r = np.uint64(rng.integers(1, 2 ** 63, dtype=np.int64))
            label[k] = r
            node[a[k]] ^= r
            node[b[k]] ^= r
    for v in reversed(order[1:]):  # a tree branch's label: XOR over the subtree below it
        label[parent_line[v]] = node[v]
        node[parent_sub[v]] ^= node[v]
    groups: dict[int, list[int]] = {}
    for k in on.tolist():
        if label[k] and seen[a[k]]:
            groups.setdefault(int(label[k]), []).append(k)
    out = np.zeros(grid.n_line, dtype=bool)
    for members in groups.values():
        if len(members) < 2:
            continue
        for c in members:
            for k in members:
                if k == c or out[k]:
                    continue
                keep = np.setdiff1d(on, [c, k])
                g = coo_matrix((np.ones(keep.size), (a[keep], b[keep])), shape=(n, n))
                _, comp = connected_components(g, directed=False)
                side = comp != comp[slack]
                if (side[a[keep]] & side[b[keep]]).any():
                    out[k] = True
    return out
