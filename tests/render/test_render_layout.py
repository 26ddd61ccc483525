"""Layout: geodata when present, a deterministic cached graph layout otherwise."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _fake_obs import fake_grid as load_grid

from gym_powergrid.render import layout


def test_geodata_is_used_when_complete():
    grid = load_grid("case14")
    assert np.array_equal(layout.substation_positions(grid), grid.sub_geo_xy)


def test_missing_geodata_gives_a_deterministic_cached_layout(monkeypatch):
    grid = dataclasses.replace(load_grid("case30"), name="case30_nogeo",
                               sub_geo_xy=np.full((30, 2), np.nan))
    layout._LAYOUT_CACHE.clear()
    a = layout.substation_positions(grid)
    assert np.isfinite(a).all() and len(layout._LAYOUT_CACHE) == 1

    def boom(_grid):
        raise AssertionError("layout recomputed instead of cached")

    monkeypatch.setattr(layout, "_computed_layout", boom)
    assert np.array_equal(layout.substation_positions(grid), a)
    monkeypatch.undo()
    layout._LAYOUT_CACHE.clear()
    assert np.allclose(layout.substation_positions(grid), a)  # same on recomputation


def test_partial_geodata_keeps_known_points():
    grid = load_grid("case14")
    geo = grid.sub_geo_xy.copy()
    geo[[3, 7]] = np.nan
    g2 = dataclasses.replace(grid, name="case14_partial", sub_geo_xy=geo)
    xy = layout.substation_positions(g2)
    keep = np.isfinite(geo).all(axis=1)
    assert np.isfinite(xy).all()
    assert np.allclose(xy[keep], geo[keep])


def test_fit_and_spread_keep_points_in_the_rectangle():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(50, 2))
    pts[1] = pts[0]  # identical points get separated
    rect = (10, 20, 400, 300)
    xy = layout.fit_to_rect(pts, rect, margin=15, max_stretch=1.5)
    xy = layout.spread(xy, min_dist=20, rect=rect, margin=15)
    assert (xy[:, 0] >= 25 - 1e-9).all() and (xy[:, 0] <= 395 + 1e-9).all()
    assert (xy[:, 1] >= 35 - 1e-9).all() and (xy[:, 1] <= 305 + 1e-9).all()
    assert np.linalg.norm(xy[0] - xy[1]) > 5


def test_parallel_lines_get_opposite_offsets():
    off = layout.parallel_offsets(np.array([0, 1, 0]), np.array([1, 0, 2]), spacing=4.0)
    # lines 0 and 1 join the same substations in opposite directions
    assert off[2] == 0 and abs(off[0]) == 2.0 and off[0] == off[1]


@pytest.mark.parametrize("case", ["case14", "case118"])
def test_injections_avoid_line_directions(case):
    grid = load_grid(case)
    geo = layout.grid_geometry(grid, (0, 0, 900, 650))
    assert np.isfinite(geo.prod_xy).all() and np.isfinite(geo.load_xy).all()
    assert 6 <= geo.sub_radius <= 16
