"""rgb_array frames: shape, changes with the state, every case renders, bad input is explained."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pygame")

from _fake_obs import (  # noqa: E402
    break_line,
    daily_sequence,
    fake_observation,
    move_to_busbar1,
    overflow_line,
)

from gym_powergrid.errors import ConfigurationError  # noqa: E402
from gym_powergrid.render import GridRenderer, describe_action  # noqa: E402


def _busy_state(grid, obs):
    """A state with every kind of drawing: overflow, broken, maintenance, off, split, cut."""
    o = overflow_line(obs, 0, 1.2)
    o = break_line(o, 1, cooldown=4)
    o = break_line(o, 2, cooldown=10)
    o["lines_status"][3] = 0
    o["ampere_flows"][3] = 0.0
    o["timesteps_before_planned_maintenance"][4] = 6
    sub = int(np.argmax(grid.sub_n_elements))
    o = move_to_busbar1(grid, o, sub, 3)
    o["are_loads_cut"][0] = 1
    o["are_prods_cut"][-1] = 1
    info = {"chronic_name": "chronic_0", "timestep": 17, "lines_in_maintenance": [2],
            "lines_broken": [1], "game_over_reason": None}
    return o, info


def test_frame_shape_and_dtype(case14):
    grid, obs = case14
    r = GridRenderer(grid, "rgb_array", width=960, height=540)
    frame = r.render(obs)
    assert frame.shape == (540, 960, 3)
    assert frame.dtype == np.uint8
    assert frame.flags.writeable and frame.flags.c_contiguous
    assert frame.std() > 10  # not a blank image
    r.close()


def test_frame_changes_when_a_line_breaks(case14):
    grid, obs = case14
    r = GridRenderer(grid, "rgb_array")
    before = r.render(obs, {"timestep": 1})
    after = r.render(break_line(obs, 5, cooldown=3), {"timestep": 1})
    changed = np.any(before != after, axis=2)
    assert changed.sum() > 200
    # the change is in the grid drawing (left part), not only in the panels
    assert changed[:, : r.grid_rect[2]].sum() > 100


def test_same_state_gives_same_pixels_in_grid_area(case14):
    grid, obs = case14
    r = GridRenderer(grid, "rgb_array")
    a = r.render(obs)
    b = r.render(obs)
    x, y, w, h = r.grid_rect
    assert np.array_equal(a[y:y + h, x:x + w], b[y:y + h, x:x + w])


@pytest.mark.parametrize("source", ["case14", "case30", "case118", "five_bus"])
def test_known_state_renders_on_every_grid(source):
    grid, obs = fake_observation(source)
    r = GridRenderer(grid, "rgb_array")
    for o in daily_sequence(obs, 3):
        r.render(o)
    o, info = _busy_state(grid, obs)
    act = np.zeros(grid.n_prod + grid.n_load + 3 * grid.n_line, dtype=np.int8)
    act[grid.n_prod] = 1
    act[-1] = 1
    frame = r.render(o, info, cumulative_reward=-12.5,
                     reward_components={"usage": 0.8, "cut loads": -2.0},
                     last_action_text=describe_action(grid, act, obs),
                     game_over="too many loads cut")
    assert frame.shape == (720, 1280, 3)
    assert np.isfinite(r.grid_view.geo.sub_xy).all()
    r.close()


def test_grid_without_geodata_gets_a_layout_inside_the_drawing_area():
    grid, obs = fake_observation("five_bus")
    assert np.isnan(grid.sub_geo_xy).all()
    r = GridRenderer(grid, "rgb_array")
    xy = r.grid_view.geo.sub_xy
    x, y, w, h = r.grid_rect
    assert ((xy[:, 0] > x) & (xy[:, 0] < x + w) & (xy[:, 1] > y) & (xy[:, 1] < y + h)).all()
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy)) * 1e9
    assert d.min() > 2 * r.grid_view.geo.sub_radius
    r.render(obs)


def test_game_over_banner_is_drawn(case14):
    grid, obs = case14
    r = GridRenderer(grid, "rgb_array")
    plain = r.render(obs)
    banner = r.render(obs, game_over="blackout")
    from_info = r.render(obs, {"game_over_reason": "blackout"})
    x, y, w, h = r.grid_rect
    mid = slice(y + h // 2 - 10, y + h // 2 + 10)
    assert np.any(plain[mid] != banner[mid])
    assert np.array_equal(banner[mid], from_info[mid])


def test_history_counts_overflows_over_the_last_day(case14):
    grid, obs = case14
    r = GridRenderer(grid, "rgb_array")
    hot = overflow_line(overflow_line(obs, 0, 1.3), 4, 1.05)
    for k in range(30):
        r.render(hot if k % 10 == 0 else obs)
    # frames 0, 10, 20 overflowed; only 10 and 20 are in the last 24 frames
    assert r.history.overflows_last_day().sum() == 4
    load, prod = r.history.series()
    assert load.shape == (30,) and np.all(prod > load)
    r.reset_history()
    assert len(r.history) == 0


def test_history_restarts_with_a_new_chronic(case14):
    grid, obs = case14
    r = GridRenderer(grid, "rgb_array")
    for _ in range(5):
        r.render(obs, {"chronic_name": "a"})
    r.render(obs, {"chronic_name": "b"})
    assert len(r.history) == 1


def test_odd_values_do_not_crash(case14):
    grid, obs = case14
    o = {k: np.array(v, dtype=float) for k, v in obs.items()}
    o["ampere_flows"][0] = np.nan
    o["thermal_limits"][1] = 0.0
    o["active_loads"][2] = np.nan
    for key in ("date_year", "date_month", "date_day", "date_hour", "date_minute"):
        o[key] = np.array([0.0])  # invalid date: no date shown
    info = {"lines_in_maintenance": np.zeros(grid.n_line, dtype=bool), "lines_broken": [999]}
    r = GridRenderer(grid, "rgb_array")
    assert r.render(o, info).shape == (720, 1280, 3)
    # every element on busbar 1 at once
    for key in ("productions_nodes", "loads_nodes", "lines_or_nodes", "lines_ex_nodes"):
        o[key][:] = 1
    r.render(o, info, reward_components={"nan": float("nan")}, last_action_text=["x" * 400])


def test_missing_key_names_the_key(case14):
    grid, obs = case14
    o = dict(obs)
    del o["ampere_flows"]
    r = GridRenderer(grid, "rgb_array")
    with pytest.raises(KeyError, match="ampere_flows"):
        r.render(o)
    o = dict(obs, lines_status=np.ones(3))
    with pytest.raises(ValueError, match="lines_status"):
        r.render(o)


@pytest.mark.parametrize("kwargs", [{"render_mode": "ansi"}, {"width": 10},
                                    {"render_mode": "rgb_array", "fps": 0}])
def test_bad_arguments_are_explained(case14, kwargs):
    grid, _ = case14
    args = {"render_mode": "rgb_array"} | kwargs
    with pytest.raises(ConfigurationError):
        GridRenderer(grid, **args)
