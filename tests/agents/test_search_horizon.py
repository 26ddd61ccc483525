"""The batched horizon look-ahead agrees with ``simulate(horizon=h)`` per candidate; at
``horizon=1`` it is the one-step look-ahead; the greedy agent's ``horizon`` option."""

from __future__ import annotations

import numpy as np
import pytest

from gym_powergrid.agents import CandidateSet, GreedySearch, TreeSearchLineServiceStatus
from gym_powergrid.agents.lookahead import (
    BatchHorizonLookahead,
    BatchLookahead,
    SimulateHorizonLookahead,
    horizon_score,
    make_lookahead,
)
from gym_powergrid.core import batch as kb

EXACT = [kb.ST_GAME_OVER, kb.ST_STATUS, kb.ST_N_OVERFLOW, kb.ST_LOADS_CUT, kb.ST_PRODS_CUT,
         kb.ST_BROKEN, kb.ST_NODE_SW, kb.ST_LINE_SW, kb.ST_DISTANCE, kb.ST_DEPTH,
         kb.ST_LINES_OFF]


def _stressed_env(make_env, steps=4, margin=1.05):
    """An env a few steps in, with overflows, broken lines and cooldowns."""
    env = make_env(margin=margin, maintenance={(3, 5): 4})
    env.reset(seed=0, options={"chronic": "a"})
    rng = np.random.default_rng(1)
    helper = env.action_helper
    for _ in range(steps):
        a = helper.do_nothing()
        a[helper.offset_status + int(rng.integers(helper.n_line))] = 1
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return env


def _candidates(env):
    cands = CandidateSet(env, lines=True, substations=True, prune_invalid=False)
    return cands.actions[cands.mask(env.state, env.limits)]


def _state(env):
    st = env.state
    return [st.topo.copy(), st.line_unavailable.copy(), st.line_overflow_steps.copy(),
            st.line_cooldown.copy(), st.sub_cooldown.copy(), st.step]


def test_horizon_one_is_the_one_step_batch(make_env):
    env = _stressed_env(make_env)
    actions = _candidates(env)
    s1, st1 = BatchLookahead(env).evaluate(actions)
    sh, sth = BatchHorizonLookahead(env, horizon=1).evaluate(actions)
    np.testing.assert_array_equal(st1[:, EXACT], sth[:, EXACT])
    np.testing.assert_allclose(sh, s1, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("h", [3, 6])
def test_batch_horizon_agrees_with_simulate_horizon(make_env, h):
    env = _stressed_env(make_env)
    actions = _candidates(env)
    before = _state(env)
    fast = BatchHorizonLookahead(env, horizon=h, discount=0.9)
    ref = SimulateHorizonLookahead(env, horizon=h, discount=0.9)
    s_b, _ = fast.evaluate(actions)
    s_r, _ = ref.evaluate(actions)
    for x, y in zip(before, _state(env)):
        np.testing.assert_array_equal(x, y)  # neither look-ahead changes the env
    np.testing.assert_array_equal(fast.last_game_over_step, ref.last_game_over_step)
    np.testing.assert_array_equal(fast.last_step_stats[:, :, EXACT],
                                  ref.last_step_stats[:, :, EXACT])
    np.testing.assert_allclose(fast.last_step_stats[:, :, kb.ST_USAGE_SQ],
                               ref.last_step_stats[:, :, kb.ST_USAGE_SQ], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s_b, s_r, rtol=1e-5, atol=1e-6)
    go = fast.last_game_over_step
    assert (go == 0).any() and (go > 0).any()  # both outcomes are exercised
    # later steps see the maintenance, the overflow counters and the cascades of earlier ones
    assert fast.last_step_stats[:, 1:, kb.ST_BROKEN].any()


def test_batch_horizon_knows_the_maintenance_ahead(make_env):
    env = make_env(maintenance={(2, 12): 3})
    env.reset(seed=0, options={"chronic": "a"})
    actions = _candidates(env)
    fast = BatchHorizonLookahead(env, horizon=4)
    ref = SimulateHorizonLookahead(env, horizon=4)
    np.testing.assert_allclose(fast.evaluate(actions)[0], ref.evaluate(actions)[0], rtol=1e-5,
                               atol=1e-6)
    dn = fast.last_step_stats[0, :, kb.ST_LINES_OFF]  # row 0: do-nothing
    np.testing.assert_array_equal(dn, [0, 1, 1, 1])  # line 12 off from step 2 (not back by
    assert fast.last_game_over_step[0] == 0  # itself: do-nothing does not reconnect it)


def test_horizon_score_orders_game_overs_by_their_step():
    h = 3
    stats = np.zeros((4, h, kb.N_STATS))
    stats[:, :, kb.ST_USAGE_SQ] = 0.5
    go = np.array([0, 1, 2, 3])
    w = np.zeros(kb.N_WEIGHTS)
    w[kb.W_USAGE], w[kb.W_GAME_OVER] = 1.0, 1e6
    score, step = horizon_score(stats, go, w, np.ones(h))
    assert list(np.argsort(-score)) == [0, 3, 2, 1]  # survive > lose late > lose early
    assert score[0] == pytest.approx(-1.5)
    assert score[1] == pytest.approx(-3e6)
    assert score[3] == pytest.approx(-1.0 - 1e6)
    np.testing.assert_array_equal(step[2], [-0.5, 0.0, 0.0])
    disc = np.array([1.0, 0.5, 0.25])
    assert horizon_score(stats, go, w, disc)[0][0] == pytest.approx(-0.5 * 1.75)


@pytest.mark.parametrize("cls", [TreeSearchLineServiceStatus, GreedySearch])
def test_horizon_one_agent_takes_todays_actions(make_env, cls):
    env = make_env(margin=1.05, maintenance={(3, 5): 4})
    env.reset(seed=0, options={"chronic": "b"})
    # the horizon kernel has no AC correction: compare the uncorrected DC scoring
    today = cls(env, ac_correction=False, search_above=0)
    h1 = cls(env, horizon=1, ac_correction=False, search_above=0)
    one_step = cls(env, ac_correction=False, search_above=0)
    one_step.lookahead = BatchHorizonLookahead(env, horizon=1)  # the horizon kernel at h=1
    assert isinstance(h1.lookahead, BatchLookahead)
    for _ in range(8):
        obs = None  # search agents read the env's state
        a, b, c = today.act(obs), h1.act(obs), one_step.act(obs)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()


def test_greedy_horizon_plays_to_the_chronic_end(make_env):
    env = make_env(margin=1.1, n_steps=12)
    env.reset(seed=0, options={"chronic": "a", "start_step": 5})
    fast = GreedySearch(env, horizon=4, search_above=0)
    ref = GreedySearch(env, horizon=4, use_batch=False, search_above=0)
    steps = []
    while True:
        steps.append(fast.lookahead.steps())
        a = fast.act(None)
        np.testing.assert_array_equal(a, ref.act(None))
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    assert steps[0] == 4 and steps[-1] == 1  # fewer steps as the chronic's end comes near
    assert fast.stats["candidates_evaluated"] > 0


def test_bad_horizon_options(make_env):
    env = make_env()
    env.reset(seed=0)
    for bad in (0, -2, 2.5, "3", True):
        with pytest.raises(ValueError, match="horizon must be an integer >= 1"):
            make_lookahead(env, horizon=bad)
    with pytest.raises(ValueError, match=r"discount must be a number in \(0, 1\]"):
        GreedySearch(env, horizon=3, discount=1.5)
    with pytest.raises(ValueError, match="ac_correction works with horizon=1 only"):
        GreedySearch(env, horizon=3, ac_correction=True)


def test_batch_horizon_threads_give_the_same_results(make_env):
    """Candidates are independent: one thread or several (one workspace each), same numbers."""
    from gym_powergrid.core.batch_horizon import HorizonEvaluator

    env = _stressed_env(make_env)
    actions = _candidates(env)
    la = BatchHorizonLookahead(env, horizon=4)
    maint, inj = la.inputs(4)
    out = []
    for threads in (1, 2):
        ev = HorizonEvaluator(env.grid, env.action_helper.node_switch_sub, threads=threads,
                              min_per_thread=1)
        out.append(ev.evaluate(actions, la.rules_i, la.rules_f, env.state, maint, inj,
                               env.limits_a))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_horizon_evaluator_refuses_bad_shapes(make_env):
    from gym_powergrid.core.batch_horizon import HorizonEvaluator

    env = make_env()
    env.reset(seed=0)
    la = BatchHorizonLookahead(env, horizon=2)
    maint, inj = la.inputs(2)
    ev = HorizonEvaluator(env.grid, env.action_helper.node_switch_sub)
    good = env.action_helper.do_nothing()[None, :]
    args = (la.rules_i, la.rules_f, env.state)
    with pytest.raises(ValueError, match="candidates must have shape"):
        ev.evaluate(good[:, :-1], *args, maint, inj, env.limits_a)
    with pytest.raises(ValueError, match="inj_rows must have shape"):
        ev.evaluate(good, *args, maint, inj[:, :-1], env.limits_a)
    with pytest.raises(ValueError, match=r"maint_rows must have shape \(2, 20\)"):
        ev.evaluate(good, *args, maint[:1], inj, env.limits_a)
