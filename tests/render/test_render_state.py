"""FrameState: line categories, busbar use, dates, info masks (no pygame needed)."""

from __future__ import annotations

import numpy as np
from _fake_obs import break_line, fake_observation, move_to_busbar1, overflow_line

from gym_powergrid.render.state import (
    LINE_BROKEN,
    LINE_MAINTENANCE,
    LINE_OFF,
    LINE_ON,
    LINE_OVERFLOW,
    frame_state,
)


def test_line_categories_and_counts():
    grid, obs = fake_observation("case14")
    o = overflow_line(obs, 0, 1.0)
    o = break_line(o, 1, 3)
    o = break_line(o, 2, 5)
    o["lines_status"][3] = 0
    st = frame_state(grid, o, {"lines_in_maintenance": [2], "lines_broken": [1]})
    assert st.line_category[0] == LINE_OVERFLOW
    assert st.line_category[1] == LINE_BROKEN
    assert st.line_category[2] == LINE_MAINTENANCE
    assert st.line_category[3] == LINE_OFF
    assert st.line_category[4] == LINE_ON
    assert st.n_overflow == 1
    assert st.line_just_broken_mask.tolist() == [i == 1 for i in range(grid.n_line)]
    assert st.line_usage[3] == 0.0
    assert st.date.year == 2019 and st.date.hour == 0


def test_busbar_use_and_split():
    grid, obs = fake_observation("case14")
    sub = 4
    n = int(grid.sub_n_elements[sub])
    st = frame_state(grid, move_to_busbar1(grid, obs, sub, 2))
    assert st.sub_bus1_mask.tolist() == [s == sub for s in range(grid.n_sub)]
    assert st.sub_split_mask[sub]
    st = frame_state(grid, move_to_busbar1(grid, obs, sub, n))
    assert st.sub_bus1_mask[sub] and not st.sub_split_mask[sub]


def test_totals_ignore_cut_elements_and_thermal_limits_default():
    grid, obs = fake_observation("case14")
    o = dict(obs, are_loads_cut=np.eye(grid.n_load, dtype=int)[0])
    st = frame_state(grid, o)
    assert np.isclose(st.total_load_mw, obs["active_loads"][1:].sum())
    o = {k: v for k, v in obs.items() if k != "thermal_limits"}
    st = frame_state(grid, o)
    assert np.allclose(st.line_usage, obs["ampere_flows"] / grid.line_limit_a)
