"""Tree search and greedy pick the best of their candidates; the batched numba look-ahead
agrees with one ``env.simulate`` per candidate."""

from __future__ import annotations

import numpy as np
import pytest

from gym_powergrid.agents import (
    CandidateSet,
    GreedySearch,
    ScoreWeights,
    SimulateLookahead,
    TreeSearchLineServiceStatus,
)
from gym_powergrid.agents.lookahead import BatchLookahead, score_from_stats
from gym_powergrid.core import batch as kb


def _stressed_env(make_env, steps=6, margin=1.05):
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


def test_batch_and_simulate_agree_on_every_greedy_candidate(make_env):
    env = _stressed_env(make_env)
    cands = CandidateSet(env, lines=True, substations=True, prune_invalid=False)
    actions = cands.actions[cands.mask(env.state, env.limits)]
    assert len(actions) > 100
    s_batch, st_batch = BatchLookahead(env).evaluate(actions)
    s_ref, st_ref = SimulateLookahead(env).evaluate(actions)
    exact = [kb.ST_GAME_OVER, kb.ST_STATUS, kb.ST_N_OVERFLOW, kb.ST_LOADS_CUT, kb.ST_PRODS_CUT,
             kb.ST_BROKEN, kb.ST_NODE_SW, kb.ST_LINE_SW, kb.ST_DISTANCE, kb.ST_DEPTH,
             kb.ST_LINES_OFF]
    np.testing.assert_array_equal(st_batch[:, exact], st_ref[:, exact])
    # observations are float32: usage agrees to float32 precision
    np.testing.assert_allclose(st_batch[:, kb.ST_USAGE_SQ], st_ref[:, kb.ST_USAGE_SQ],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s_batch, s_ref, rtol=1e-5, atol=1e-6)
    assert st_batch[:, kb.ST_BROKEN].any()  # the cascade is exercised
    best_b, best_r = int(np.argmax(s_batch)), int(np.argmax(s_ref))
    assert best_b == best_r or abs(s_batch[best_b] - s_batch[best_r]) < 1e-5


@pytest.mark.parametrize("cls", [TreeSearchLineServiceStatus, GreedySearch])
def test_batch_and_simulate_agents_take_the_same_actions(make_env, cls):
    env = make_env(margin=1.05, maintenance={(3, 5): 4})
    env.reset(seed=0, options={"chronic": "b"})
    # the reference path has no AC correction (greedy's default with its AC check)
    fast = cls(env, ac_correction=False, search_above=0)  # search at every step
    ref = cls(env, use_batch=False, search_above=0)
    for _ in range(6):
        a_fast, a_ref = fast.act(None), ref.act(None)
        assert np.array_equal(a_fast, a_ref), (fast.last_choice, ref.last_choice)
        _, _, term, trunc, _ = env.step(a_fast)
        if term or trunc:
            env.reset()
    assert fast.candidates_per_second > 0
    assert fast.stats["candidates_evaluated"] > 0


@pytest.mark.parametrize("cls", [TreeSearchLineServiceStatus, GreedySearch])
def test_search_returns_the_best_candidate(make_env, cls):
    env = _stressed_env(make_env)
    # the DC choice at every step (the AC check: test_search_ac_check.py)
    agent = cls(env, ac_check=0, search_above=0)
    action = agent.act(None)
    idx = np.flatnonzero(agent.candidates.mask(env.state, env.limits))
    scores, _ = SimulateLookahead(env).evaluate(agent.candidates.actions[idx])
    assert np.max(scores) - scores[np.argmax(scores)] == 0
    chosen = [i for i, row in enumerate(agent.candidates.actions[idx]) if np.array_equal(row,
                                                                                        action)]
    assert chosen, "the action is one of the candidates"
    assert scores[chosen[0]] >= np.max(scores) - 1e-5
    assert agent.last_choice == agent.candidates.describe(int(idx[chosen[0]]))


def test_tree_search_candidates_are_do_nothing_and_line_switches(env):
    agent = TreeSearchLineServiceStatus(env)
    c = agent.candidates
    assert len(c) == 1 + env.grid.n_line
    assert not c.actions[0].any()
    assert (c.actions[1:].sum(axis=1) == 1).all()


def test_greedy_enumerates_every_split_of_large_substations(env):
    c = CandidateSet(env, lines=True, substations=True, prune_invalid=False)
    n_el = np.bincount(env.action_helper.node_switch_sub, minlength=env.grid.n_sub)
    expected = 1 + env.grid.n_line + sum(2 ** (n - 1) - 1 for n in n_el if n >= 4)
    assert len(c) == expected == 158  # case14
    # distinct switch vectors, first element of each substation never switched
    assert len({r.tobytes() for r in c.actions}) == len(c)
    for group in c.groups:
        assert not group[3][:, 0].any()


def test_candidates_respect_cooldowns_and_unavailable_lines(env):
    c = CandidateSet(env, lines=True, substations=True)
    st = env.state
    st.line_cooldown[2] = 2
    st.line_status[4] = 0
    st.line_unavailable[4] = 3
    sub = c.groups[0][0]
    st.sub_cooldown[sub] = 1
    ok = c.mask(st, env.limits)
    assert ok[0]
    assert not ok[1 + 2] and not ok[1 + 4] and ok[1 + 3]
    first, n = c.groups[0][1], len(c.groups[0][3])
    assert not ok[first:first + n].any()


def test_pruning_drops_splits_that_isolate_an_element(env):
    c = CandidateSet(env, lines=False, substations=True, prune_invalid=True)
    ok = c.mask(env.state, env.limits)
    n_nodes = env.action_helper.offset_status
    is_line = np.zeros(n_nodes, bool)
    is_line[env.grid.n_prod + env.grid.n_load:] = True
    for _sub, first, pos, sw, _ in c.groups:
        for k, row in enumerate(sw):
            on_bus1 = row.astype(bool)
            lonely = on_bus1.sum() == 1 or (~on_bus1).sum() == 1
            no_line = not is_line[pos][on_bus1].any() or not is_line[pos][~on_bus1].any()
            assert ok[first + k] == (not lonely and not no_line)


def test_weights_and_score_formula():
    w = ScoreWeights(load_cut=3.0, line_off=0.5).vector(14)
    assert w[kb.W_LOAD_CUT] == 3.0 and w[kb.W_PROD_CUT] == pytest.approx(1.4)
    stats = np.zeros((2, kb.N_STATS))
    stats[0, kb.ST_USAGE_SQ] = 2.0
    stats[0, kb.ST_LINE_SW] = 1
    stats[0, kb.ST_LINES_OFF] = 2
    stats[1, kb.ST_GAME_OVER] = 1
    assert score_from_stats(stats, w).tolist() == [-3.2, -1e6]
    assert ScoreWeights().line_off == 0.0
    assert ScoreWeights.from_any({"overflow": 5}).overflow == 5
    with pytest.raises(ValueError, match="unknown score weight"):
        ScoreWeights.from_any({"bogus": 1})


def test_batch_rejects_wrong_shapes(env):
    la = BatchLookahead(env)
    with pytest.raises(ValueError, match="candidates must have shape"):
        la.evaluate(np.zeros((3, 5), np.int8))
    s, st = la.evaluate(np.zeros((0, env.action_helper.action_length), np.int8))
    assert s.shape == (0,) and st.shape == (0, kb.N_STATS)


def test_ac_correction_tightens_limits_by_the_ac_dc_ratio(env):
    la = BatchLookahead(env, ac_correction=True)
    ratio = la.ac_ratio()
    assert ratio.shape == (env.grid.n_line,) and (ratio >= 1).all() and (ratio <= 1.5).all()
    assert (ratio > 1.001).any()  # lines carry reactive power in AC
    np.testing.assert_allclose(la.inputs()["limits_a"], env.limits_a / ratio)
    agent = GreedySearch(env, ac_correction=True)
    assert env.action_space.contains(agent.act(None))
    with pytest.raises(ValueError, match="ac_correction"):
        GreedySearch(env, use_batch=False, ac_correction=True)
