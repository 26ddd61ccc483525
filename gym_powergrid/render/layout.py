"""Where things go on screen: substation positions, parallel-line offsets, injection angles.

Pure numpy (+ networkx, a pandapower dependency, when the grid has no geodata). Positions come
from ``GridArrays.sub_geo_xy`` when every substation has coordinates; otherwise a deterministic
networkx layout is computed once per grid structure and cached in memory.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from ..grid.arrays import GridArrays

logger = logging.getLogger(__name__)

_LAYOUT_CACHE: dict[tuple[str, str], np.ndarray] = {}
_GEOMETRY_CACHE: dict[tuple, GridGeometry] = {}
_GEOMETRY_CACHE_MAX = 32


def _structure_key(grid: GridArrays) -> tuple[str, str]:
    h = hashlib.sha1()
    h.update(np.int64(grid.n_sub).tobytes())
    h.update(np.ascontiguousarray(grid.line_sub_or_idx, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(grid.line_sub_ex_idx, dtype=np.int64).tobytes())
    h.update(np.isfinite(grid.sub_geo_xy).tobytes())
    h.update(np.nan_to_num(grid.sub_geo_xy).tobytes())
    h.update(np.ascontiguousarray(grid.prod_sub_idx, dtype=np.int64).tobytes())
    h.update(b"|")
    h.update(np.ascontiguousarray(grid.load_sub_idx, dtype=np.int64).tobytes())
    return grid.name, h.hexdigest()


def _graph(grid: GridArrays):
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(grid.n_sub))
    g.add_edges_from(zip(grid.line_sub_or_idx.tolist(), grid.line_sub_ex_idx.tolist()))
    return g


def _computed_layout(grid: GridArrays) -> np.ndarray:
    """Deterministic layout for grids without (complete) geodata."""
    import networkx as nx

    g = _graph(grid)
    geo = np.asarray(grid.sub_geo_xy, dtype=np.float64)
    known = np.isfinite(geo).all(axis=1)
    if known.any():
        # keep known coordinates, place the others near their known neighbours
        pos = {int(i): tuple(geo[i]) for i in np.flatnonzero(known)}
        rng = np.random.default_rng(0)
        centre = geo[known].mean(axis=0)
        for i in np.flatnonzero(~known):
            nbrs = [pos[j] for j in g.neighbors(int(i)) if j in pos]
            base = np.mean(nbrs, axis=0) if nbrs else centre
            pos[int(i)] = tuple(base + rng.normal(scale=0.1, size=2))
        out = nx.spring_layout(g, pos=pos, fixed=list(np.flatnonzero(known)), seed=0)
    else:
        try:
            out = nx.kamada_kawai_layout(g)
        except Exception:  # noqa: BLE001 - any solver failure falls back to a spring layout
            logger.info("kamada_kawai_layout failed for %s; using spring_layout", grid.name)
            out = nx.spring_layout(g, seed=0)
    return np.array([out[i] for i in range(grid.n_sub)], dtype=np.float64)


def substation_positions(grid: GridArrays) -> np.ndarray:
    """Abstract ``(n_sub, 2)`` substation coordinates (y up): geodata or a cached layout."""
    geo = np.asarray(grid.sub_geo_xy, dtype=np.float64)
    if geo.shape == (grid.n_sub, 2) and np.isfinite(geo).all():
        if grid.n_sub < 2 or np.ptp(geo, axis=0).max() > 0:
            return geo.copy()
    key = _structure_key(grid)
    if key not in _LAYOUT_CACHE:
        logger.info("grid %s has no complete geodata: computing a graph layout", grid.name)
        _LAYOUT_CACHE[key] = _computed_layout(grid)
    return _LAYOUT_CACHE[key].copy()


def fit_to_rect(xy: np.ndarray, rect: tuple[float, float, float, float],
                margin: float, max_stretch: float = 1.0) -> np.ndarray:
    """Scale abstract coordinates (y up) into a pixel rectangle ``(x, y, w, h)`` (y down).

    The aspect ratio is kept, except that one axis may be stretched by up to ``max_stretch``
    to use more of a rectangle whose shape differs from the layout's.
    """
    x0, y0, w, h = rect
    xy = np.asarray(xy, dtype=np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    avail = np.array([max(w - 2 * margin, 1.0), max(h - 2 * margin, 1.0)])
    fit = avail / span
    s = np.minimum(fit, float(np.min(fit)) * max(1.0, max_stretch))
    used = span * s
    off = np.array([x0 + margin, y0 + margin]) + (avail - used) / 2
    out = np.empty_like(xy)
    out[:, 0] = off[0] + (xy[:, 0] - lo[0]) * s[0]
    out[:, 1] = off[1] + (hi[1] - xy[:, 1]) * s[1]
    return out


def spread(xy: np.ndarray, min_dist: float, rect: tuple[float, float, float, float],
           margin: float, iterations: int = 60) -> np.ndarray:
    """Push apart points closer than ``min_dist`` (deterministic), keeping them in ``rect``."""
    p = np.asarray(xy, dtype=np.float64).copy()
    n = p.shape[0]
    if n < 2:
        return p
    x0, y0, w, h = rect
    lo = np.array([x0 + margin, y0 + margin])
    hi = np.array([x0 + w - margin, y0 + h - margin])
    eye = np.eye(n, dtype=bool)
    # identical points are separated along a fixed, index-dependent direction
    ang = (np.arange(n)[:, None] - np.arange(n)[None, :]) * 2.399
    fallback_x, fallback_y = np.cos(ang), np.sin(ang)
    for _ in range(iterations):
        dx = p[:, 0:1] - p[:, 0][None, :]
        dy = p[:, 1:2] - p[:, 1][None, :]
        dist = np.sqrt(dx * dx + dy * dy)
        close = (dist < min_dist) & ~eye
        if not close.any():
            break
        same = dist < 1e-9
        inv = np.where(same, 0.0, 1.0 / np.where(same, 1.0, dist))
        ux = np.where(same, fallback_x, dx * inv)
        uy = np.where(same, fallback_y, dy * inv)
        push = np.where(close, (min_dist - dist) * 0.25, 0.0)
        p[:, 0] += (push * ux).sum(axis=1)
        p[:, 1] += (push * uy).sum(axis=1)
        np.clip(p, lo, hi, out=p)
    return p


def clear_lines(xy: np.ndarray, sub_or: np.ndarray, sub_ex: np.ndarray, clearance: float,
                rect: tuple[float, float, float, float], margin: float,
                iterations: int = 40) -> np.ndarray:
    """Move substations off lines that pass over them (lines not connected to them).

    A line drawn across a substation it does not touch reads as a connection; this pushes such
    substations perpendicular to the line until they are ``clearance`` pixels away (or the
    iterations run out). Deterministic.
    """
    p = np.asarray(xy, dtype=np.float64).copy()
    n = p.shape[0]
    if n < 3 or sub_or.size == 0:
        return p
    x0, y0, w, h = rect
    lo = np.array([x0 + margin, y0 + margin])
    hi = np.array([x0 + w - margin, y0 + h - margin])
    incident = np.zeros((n, sub_or.shape[0]), dtype=bool)
    incident[sub_or, np.arange(sub_or.shape[0])] = True
    incident[sub_ex, np.arange(sub_ex.shape[0])] = True
    for _ in range(iterations):
        a, b = p[sub_or], p[sub_ex]
        ab = b - a
        len2 = np.maximum((ab**2).sum(axis=1), 1e-12)
        ap = p[:, None, :] - a[None]
        t = np.clip((ap * ab[None]).sum(-1) / len2[None], 0.0, 1.0)
        closest = a[None] + t[..., None] * ab[None]
        away = p[:, None, :] - closest
        dist = np.sqrt((away**2).sum(-1))
        bad = (dist < clearance) & ~incident & (t > 0.0) & (t < 1.0)
        if not bad.any():
            break
        # unit vector away from the line (perpendicular when the point is on it)
        perp = np.stack([-ab[:, 1], ab[:, 0]], axis=1) / np.sqrt(len2)[:, None]
        unit = np.where((dist > 1e-6)[..., None], away / np.maximum(dist, 1e-6)[..., None],
                        perp[None])
        push = np.where(bad, clearance - dist, 0.0)[..., None] * unit * 0.5
        p += push.sum(axis=1)
        np.clip(p, lo, hi, out=p)
    return p


def nearest_neighbour_distances(xy: np.ndarray) -> np.ndarray:
    """Distance from each point to its nearest other point (inf for a single point)."""
    n = xy.shape[0]
    if n < 2:
        return np.full(n, np.inf)
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    d[np.eye(n, dtype=bool)] = np.inf
    return d.min(axis=1)


def parallel_offsets(sub_or: np.ndarray, sub_ex: np.ndarray, spacing: float) -> np.ndarray:
    """Perpendicular offset of each line so that parallel lines do not overlap (0 if alone)."""
    n = sub_or.shape[0]
    out = np.zeros(n)
    groups: dict[tuple[int, int], list[int]] = {}
    for i in range(n):
        a, b = int(sub_or[i]), int(sub_ex[i])
        groups.setdefault((min(a, b), max(a, b)), []).append(i)
    for (a, _b), idx in groups.items():
        m = len(idx)
        for k, i in enumerate(idx):
            off = (k - (m - 1) / 2) * spacing
            # perpendicular is computed from origin to extremity; flip for reversed lines
            out[i] = off if int(sub_or[i]) == a else -off
    return out


def _segment_distances(pts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances ``(n_pts, n_seg)`` from points to segments ``a[k] -> b[k]``."""
    ab = b - a
    len2 = np.maximum((ab**2).sum(axis=1), 1e-12)
    ap = pts[:, None, :] - a[None, :, :]
    t = np.clip((ap * ab[None]).sum(-1) / len2[None], 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.sqrt(((pts[:, None, :] - closest) ** 2).sum(-1))


def injection_angles(sub_xy: np.ndarray, sub_or: np.ndarray, sub_ex: np.ndarray,
                     inj_sub: np.ndarray, stub: float = 0.0, clearance: float = 0.0,
                     n_candidates: int = 36) -> np.ndarray:
    """Screen angle (radians) of each injection around its substation, away from the lines.

    Greedy and deterministic: each injection takes the candidate direction farthest (in angle)
    from the substation's lines and from injections already placed there; productions should be
    passed before loads so that they get the best spots. With ``stub`` (distance of the glyph
    from the substation centre) and ``clearance`` (pixels), directions whose glyph would land
    closer than ``clearance`` to another substation, another glyph or a line not connected to
    the substation are penalised.
    """
    n_sub = sub_xy.shape[0]
    taken: list[list[float]] = [[] for _ in range(n_sub)]
    line_dirs: list[list[float]] = [[] for _ in range(n_sub)]
    for a, b in zip(sub_or.tolist(), sub_ex.tolist()):
        if a == b:
            continue
        d = sub_xy[b] - sub_xy[a]
        line_dirs[a].append(float(np.arctan2(d[1], d[0])))
        line_dirs[b].append(float(np.arctan2(-d[1], -d[0])))
    cand = np.linspace(-np.pi, np.pi, n_candidates, endpoint=False) + np.pi / 2
    unit = np.stack([np.cos(cand), np.sin(cand)], axis=1)
    check = stub > 0 and clearance > 0
    placed: list[np.ndarray] = []
    seg_a, seg_b = sub_xy[sub_or], sub_xy[sub_ex]
    out = np.zeros(inj_sub.shape[0])
    for i, s in enumerate(inj_sub.tolist()):
        score = np.full(cand.shape, np.pi)
        for ang, weight in [(a, 1.0) for a in line_dirs[s]] + [(a, 1.25) for a in taken[s]]:
            diff = np.abs((cand - ang + np.pi) % (2 * np.pi) - np.pi)
            score = np.minimum(score, diff / weight)
        if check:
            pos = sub_xy[s] + stub * unit
            others = np.delete(sub_xy, s, axis=0)
            gap = np.full(cand.shape, np.inf)
            if others.size:
                gap = np.sqrt(((pos[:, None] - others[None]) ** 2).sum(-1)).min(axis=1)
            if placed:
                pl = np.asarray(placed)
                gap = np.minimum(gap, np.sqrt(((pos[:, None] - pl[None]) ** 2).sum(-1)).min(1))
            foreign = (sub_or != s) & (sub_ex != s)
            if foreign.any():
                d_seg = _segment_distances(pos, seg_a[foreign], seg_b[foreign]).min(axis=1)
                gap = np.minimum(gap, d_seg * 1.5)
            score = score - 2.0 * np.clip((clearance - gap) / clearance, 0.0, 1.0)
        k = int(np.argmax(score))
        best = float(cand[k])
        taken[s].append(best)
        if check:
            placed.append(sub_xy[s] + stub * unit[k])
        out[i] = best
    return out


@dataclass(frozen=True, eq=False)
class GridGeometry:
    """Static pixel geometry of a grid drawing (computed once per renderer).

    Attributes:
        sub_xy: ``(n_sub, 2)`` substation centres in pixels.
        sub_radius: substation circle radius in pixels.
        bus_dx: horizontal offset of busbars 0/1 from the centre when a substation is split.
        line_offset: perpendicular offset of each line (parallel lines).
        prod_xy: production glyph centres; ``prod_angle`` their direction from the substation.
        load_xy: load glyph centres; ``load_angle`` their direction from the substation.
        glyph_radius: injection glyph radius in pixels.
    """

    sub_xy: np.ndarray
    sub_radius: float
    bus_dx: float
    line_offset: np.ndarray
    prod_xy: np.ndarray
    prod_angle: np.ndarray
    load_xy: np.ndarray
    load_angle: np.ndarray
    glyph_radius: float


def grid_geometry(grid: GridArrays, rect: tuple[float, float, float, float],
                  label_room: float = 0.0) -> GridGeometry:
    """Compute the pixel geometry of ``grid`` inside ``rect = (x, y, w, h)``.

    ``label_room`` is extra margin (pixels) kept free around the drawing for text labels placed
    beyond the injection glyphs. Results are cached by grid structure, rectangle and label
    room (treat the returned arrays as read-only).
    """
    key = (_structure_key(grid), tuple(float(v) for v in rect), float(label_room))
    if key not in _GEOMETRY_CACHE:
        if len(_GEOMETRY_CACHE) >= _GEOMETRY_CACHE_MAX:
            _GEOMETRY_CACHE.clear()
        _GEOMETRY_CACHE[key] = _grid_geometry(grid, rect, label_room)
    return _GEOMETRY_CACHE[key]


def _grid_geometry(grid: GridArrays, rect: tuple[float, float, float, float],
                   label_room: float) -> GridGeometry:
    abstract = substation_positions(grid)
    stretch = 1.5
    # sizes follow the spacing of the substations on screen, and margins follow the sizes
    # (capped so that small canvases keep most of their area for the grid): settle in 3 rounds
    margin = min(40.0 + label_room, 0.2 * min(rect[2], rect[3]))
    for _ in range(3):
        xy = fit_to_rect(abstract, rect, margin, stretch)
        nn = nearest_neighbour_distances(xy)
        typical = float(np.median(nn[np.isfinite(nn)])) if np.isfinite(nn).any() else 100.0
        radius = float(np.clip(0.25 * typical, 5.0, 16.0))
        glyph = float(np.clip(0.6 * radius, 3.5, 8.0))
        stub = 1.9 * radius + glyph + 4.0
        margin = min(stub + glyph + 10.0 + label_room, 0.2 * min(rect[2], rect[3]))
    xy = fit_to_rect(abstract, rect, margin, stretch)
    # never ask for more room than the area offers, or the layout degenerates into a lattice
    room = 0.8 * float(np.sqrt(max(rect[2] - 2 * margin, 1) * max(rect[3] - 2 * margin, 1)
                               / max(grid.n_sub, 1)))
    xy = spread(xy, min_dist=min(2.2 * stub, room), rect=rect, margin=margin, iterations=200)
    xy = clear_lines(xy, grid.line_sub_or_idx, grid.line_sub_ex_idx, 1.6 * radius, rect, margin)
    xy = spread(xy, min_dist=min(1.8 * stub, room), rect=rect, margin=margin, iterations=50)
    offsets = parallel_offsets(grid.line_sub_or_idx, grid.line_sub_ex_idx, spacing=radius * 0.8)
    inj_sub = np.concatenate([grid.prod_sub_idx, grid.load_sub_idx]).astype(np.int64)
    ang = injection_angles(xy, grid.line_sub_or_idx, grid.line_sub_ex_idx, inj_sub,
                           stub=stub, clearance=2.5 * glyph + 4)
    inj_xy = xy[inj_sub] + stub * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    n_p = grid.n_prod
    return GridGeometry(
        sub_xy=xy,
        sub_radius=radius,
        bus_dx=radius,
        line_offset=offsets,
        prod_xy=inj_xy[:n_p],
        prod_angle=ang[:n_p],
        load_xy=inj_xy[n_p:],
        load_angle=ang[n_p:],
        glyph_radius=glyph,
    )
