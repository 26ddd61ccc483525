"""The line-reconnection heuristic reconnects a line as soon as the rules allow it."""

from __future__ import annotations

import numpy as np

from gym_powergrid.agents import DoNothing, LineReconnection, SimulateLookahead

LINE = 3


def _play(env, agent, n_steps):
    obs, _ = env.reset(seed=0, options={"chronic": "a"})
    trace = []
    for _ in range(n_steps):
        action = agent.act(obs)
        trace.append((obs, action))
        obs, _, term, trunc, _ = env.step(action)
        assert not term
    return trace, obs


def test_reconnects_after_maintenance_as_soon_as_allowed(make_env):
    env = make_env(margin=3.0, maintenance={(2, LINE): 3})
    agent = LineReconnection(env)
    off = env.action_helper.offset_status
    trace, last = _play(env, agent, 10)
    allowed_at = None
    for t, (obs, action) in enumerate(trace):
        line_off = obs["lines_status"][LINE] == 0
        allowed = (line_off and obs["timesteps_before_lines_reconnectable"][LINE] == 0
                   and obs["timesteps_before_lines_reactionable"][LINE] == 0)
        if line_off and not allowed:
            assert not action.any(), f"step {t}: reconnection attempted while not allowed"
        if allowed:
            allowed_at = t
            assert action[off + LINE] == 1 and action.sum() == 1
            break
    assert allowed_at is not None and allowed_at >= 3
    assert trace[allowed_at + 1][0]["lines_status"][LINE] == 1
    assert agent.n_reconnections == 1
    assert last["lines_status"].all()


def test_do_nothing_leaves_the_line_off(make_env):
    env = make_env(margin=3.0, maintenance={(2, LINE): 3})
    _, last = _play(env, DoNothing(env), 10)
    assert last["lines_status"][LINE] == 0


def test_picks_the_best_of_several_lines(make_env):
    # three lines whose outage breaks nothing (with lines 9 and 15 out the fixture's tight
    # limits cascade into an island, which has no solution)
    env = make_env(margin=3.0, maintenance={(2, 3): 3, (2, 5): 3, (2, 10): 3})
    agent = LineReconnection(env)
    env.reset(seed=0, options={"chronic": "a"})
    for _ in range(5):  # until the three lines are reconnectable (step 2 + 3 + 1)
        env.step(env.action_helper.do_nothing())
    lines = agent.reconnectable_lines()
    assert set(lines.tolist()) >= {3, 5, 10}
    action = agent.act(None)
    cands = np.array([env.action_helper.set_lines_status_switch_from_id(
        env.action_helper.do_nothing(), int(line), 1) for line in lines])
    scores, _ = SimulateLookahead(env).evaluate(cands)
    chosen = int(np.flatnonzero(action[env.action_helper.offset_status:])[0])
    assert scores[list(lines).index(chosen)] >= scores.max() - 1e-5
    assert agent.candidates_per_second > 0


def test_require_improvement_can_decline(make_env):
    env = make_env(margin=3.0, maintenance={(2, LINE): 3})
    env.reset(seed=0, options={"chronic": "a"})
    for _ in range(5):  # reconnectable by the action of step 2 + 3 + 1
        env.step(env.action_helper.do_nothing())
    huge_cost = {"line_switch": 1e3}
    assert not LineReconnection(env, require_improvement=True, weights=huge_cost).act(None).any()
    assert LineReconnection(env, weights=huge_cost).act(None).any()
