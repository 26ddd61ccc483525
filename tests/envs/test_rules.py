"""One test per game rule of pypownet, on small in-memory environments."""

from __future__ import annotations

import numpy as np
import pytest

from tests.envs._factory import base_flows, cascade_pair, grid_and_net, make_chronic, make_env


def line_switch(env, *lines):
    a = env.action_helper.do_nothing()
    for line in lines:
        a = env.action_helper.set_lines_status_switch_from_id(a, line, 1)
    return a


def test_line_cooldown_refuses_second_switch():
    env = make_env(n_timesteps_actionned_line_reactionable=3)
    env.reset(seed=0)
    _, _, _, _, info = env.step(line_switch(env, 3))
    assert info["illegal"]["lines_on_cooldown"] == []
    assert env.state.line_status[3] == 0
    obs, _, _, _, info = env.step(line_switch(env, 3))  # on cooldown: refused
    assert info["illegal"]["lines_on_cooldown"] == [3]
    assert obs["lines_status"][3] == 0
    env.step(env.action_helper.do_nothing())
    obs, _, _, _, info = env.step(line_switch(env, 3))  # 3 steps later: allowed
    assert info["illegal"]["lines_on_cooldown"] == []
    assert obs["lines_status"][3] == 1


def test_substation_cooldown():
    env = make_env(n_timesteps_actionned_node_reactionable=2)
    env.reset(seed=0)
    h = env.action_helper
    sub = 3
    n = h.get_number_elements_of_substation(sub)
    cfg = np.zeros(n, np.int8)
    cfg[-2:] = 1
    a = h.set_switches_configuration_of_substation(h.do_nothing(), sub, cfg)
    obs, _, _, _, info = env.step(a)
    assert info["illegal"]["substations_on_cooldown"] == []
    assert obs["timesteps_before_nodes_reactionable"][sub] == 1
    _, _, _, _, info = env.step(a)
    assert info["illegal"]["substations_on_cooldown"] == [sub]


def test_too_many_lines_becomes_do_nothing():
    env = make_env(max_number_actionned_lines=2)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(line_switch(env, 1, 2, 3))
    assert info["illegal"]["replaced_by_do_nothing"]
    assert obs["lines_status"].all()
    assert not info["action_applied"].any()


def test_maintenance_takes_line_out_for_d_steps_and_reconnection_refused():
    grid, _ = grid_and_net()
    m = np.zeros((48, grid.n_line), int)
    m[2, 5] = 3  # line 5 out at steps 2, 3, 4
    env = make_env(chronics=[make_chronic(maintenance=m)], n_timesteps_horizon_maintenance=5)
    obs, _ = env.reset(seed=0)
    assert obs["timesteps_before_planned_maintenance"][5] == 2
    obs, _, _, _, info = env.step(env.action_helper.do_nothing())  # step 1
    assert obs["timesteps_before_planned_maintenance"][5] == 1
    obs, _, _, _, info = env.step(env.action_helper.do_nothing())  # step 2: maintenance
    assert info["lines_maintenance_started"] == [5]
    assert obs["lines_status"][5] == 0
    assert obs["timesteps_before_lines_reconnectable"][5] == 3  # pypownet: d, then d - 1 ...
    obs, _, _, _, info = env.step(line_switch(env, 5))  # step 3: refused
    assert info["illegal"]["illegal_reconnections"] == [5]
    assert obs["lines_status"][5] == 0
    obs, _, _, _, info = env.step(env.action_helper.do_nothing())  # step 4: still out
    assert obs["timesteps_before_lines_reconnectable"][5] == 1
    obs, _, _, _, info = env.step(line_switch(env, 5))  # step 5: still refused (counter 1)
    assert info["illegal"]["illegal_reconnections"] == [5]
    assert obs["timesteps_before_lines_reconnectable"][5] == 0
    obs, _, _, _, info = env.step(line_switch(env, 5))  # step 6 = 2 + d + 1: allowed
    assert info["illegal"]["illegal_reconnections"] == []
    assert obs["lines_status"][5] == 1


def test_soft_overflow_breaks_on_nth_step():
    limits = np.maximum(base_flows() * 10.0, 1.0)
    line = int(np.argmax(base_flows()))
    limits[line] = base_flows()[line] / 1.2  # 120 %: soft, not hard
    env = make_env(chronics=[make_chronic(limits=limits)],
                   n_timesteps_consecutive_soft_overflow_breaks=3,
                   n_timesteps_soft_overflow_is_broken=4, max_number_loads_game_over=20)
    env.reset(seed=0)  # pypownet's reset plays step 0: the line is overflowed at its end (1)
    for _ in range(2):  # ... and at the end of steps 1 and 2 (3 in a row)
        obs, _, term, _, info = env.step(env.action_helper.do_nothing())
        assert obs["lines_status"][line] == 1 and info["lines_broken"] == []
    obs, _, term, _, info = env.step(env.action_helper.do_nothing())  # still over: breaks
    assert line in info["lines_broken"]
    assert obs["lines_status"][line] == 0
    assert obs["timesteps_before_lines_reconnectable"][line] == 4  # reconnectable 5 steps later


def test_hard_overflow_breaks_at_once_with_cascade():
    l1, l2, limits = cascade_pair()
    env = make_env(chronics=[make_chronic(limits=limits)], max_number_loads_game_over=20,
                   max_number_prods_game_over=20)
    obs, info = env.reset(seed=0)  # pypownet's reset plays its step, cascade included
    assert info["lines_broken"][:2] == [l1, l2]
    assert info["cascade_depth"] >= 2
    assert obs["lines_status"][l1] == 0 and obs["lines_status"][l2] == 0
    assert obs["timesteps_before_lines_reconnectable"][l1] == 10  # hard: n = 10


def test_easy_mode_never_breaks_lines():
    l1, l2, limits = cascade_pair()
    env = make_env(chronics=[make_chronic(limits=limits)], game_over_mode="easy")
    env.reset(seed=0)
    obs, _, _, _, info = env.step(env.action_helper.do_nothing())
    assert info["lines_broken"] == [] and obs["lines_status"].all()


def isolate_load_action(env):
    grid = env.grid
    load = 0
    sub = int(grid.load_sub_idx[load])
    lines = np.flatnonzero((grid.line_sub_or_idx == sub) | (grid.line_sub_ex_idx == sub))
    return line_switch(env, *lines), load, sub


def test_game_over_on_isolated_loads_and_soft_continuation():
    env = make_env(max_number_loads_game_over=0, max_number_actionned_lines=10,
                   max_number_actionned_total=10)
    env.reset(seed=0)
    a, load, sub = isolate_load_action(env)
    obs, reward, term, trunc, info = env.step(a)
    assert info["game_over_reason"] in ("too_many_loads_cut", "diverged")
    assert term and not trunc
    with pytest.raises(RuntimeError):
        env.step(env.action_helper.do_nothing())
    obs, info = env.reset()  # soft mode: same chronic, next step, reference topology
    assert info["timestep"] == 2
    assert obs["lines_status"].all()


def test_hard_mode_restarts_from_first_step():
    env = make_env(max_number_loads_game_over=0, game_over_mode="hard",
                   max_number_actionned_lines=10, max_number_actionned_total=10)
    env.reset(seed=0)
    env.step(isolate_load_action(env)[0])
    _, info = env.reset()
    assert info["timestep"] == 0


def test_truncated_at_end_of_chronic():
    env = make_env(chronics=[make_chronic(n_steps=5)])
    env.reset(seed=0)
    flags = [env.step(env.action_helper.do_nothing())[2:4] for _ in range(4)]
    assert flags == [(False, False)] * 3 + [(False, True)]


def test_cut_load_reported():
    env = make_env(max_number_loads_game_over=5, max_number_actionned_lines=10,
                   max_number_actionned_total=10)
    env.reset(seed=0)
    a, load, _ = isolate_load_action(env)
    obs, _, term, _, info = env.step(a)
    if not term:
        assert obs["are_loads_cut"][load] == 1
        assert obs["active_loads"][load] == 0
        assert info["n_loads_cut"] >= 1


def test_simulate_does_not_mutate_state():
    env = make_env()
    obs, _ = env.reset(seed=0)
    before = env.state.copy()
    sim_obs, sim_reward, _, sim_info = env.simulate(line_switch(env, 4))
    sim_obs_ac, _, _, _ = env.simulate(line_switch(env, 4), loadflow_mode="AC")
    assert sim_obs["lines_status"][4] == 0 and sim_obs_ac["lines_status"][4] == 0
    for field in ("line_status", "line_cooldown", "sub_cooldown", "line_unavailable",
                  "line_overflow_steps", "prod_node"):
        np.testing.assert_array_equal(getattr(env.state, field), getattr(before, field))
    assert env.state.step == before.step
    obs2, _, _, _, _ = env.step(env.action_helper.do_nothing())
    assert obs2["lines_status"][4] == 1


@pytest.mark.parametrize("bad", [
    [0, 1], np.full(10, 2), "abc", None,
])
def test_bad_actions_raise_value_error(bad):
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)


def test_bad_action_values_and_nan():
    env = make_env()
    env.reset(seed=0)
    n = env.action_space.n
    a = np.zeros(n)
    a[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        env.step(a)
    a = np.zeros(n)
    a[1] = 0.5
    with pytest.raises(ValueError, match="only 0 or 1"):
        env.step(a)
    with pytest.raises(ValueError, match="length"):
        env.step(np.zeros(n + 1))


def test_reward_components_sum_to_reward():
    env = make_env()
    env.reset(seed=0)
    _, reward, _, _, info = env.step(line_switch(env, 2))
    comps = info["reward_components"]
    assert set(comps) == {"loads_cut", "prods_cut", "action_cost", "distance_to_reference",
                          "line_usage"}
    assert reward == pytest.approx(sum(comps.values()))
    assert comps["action_cost"] == pytest.approx(-0.2)


def test_survival_reward_and_callable_reward():
    env = make_env(reward="survival")
    env.reset(seed=0)
    _, r, _, _, info = env.step(env.action_helper.do_nothing())
    assert info["reward_components"]["survival"] == 0.5 and 0.5 < r <= 1.0
    env = make_env(reward=lambda obs, action, flag, env=None, **kw: {"const": 2.5})
    env.reset(seed=0)
    assert env.step(env.action_helper.do_nothing())[1] == 2.5
