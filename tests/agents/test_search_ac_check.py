"""The AC check of the search agents (``ac_check=K``): on a real hard-level state where plain
greedy's DC choice ends the game in AC, the checked greedy avoids it; ``ac_check=0`` is
pypownet's plain greedy, action for action; bad values get a clear error."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import gym_powergrid  # noqa: F401  (registers the ids)
from gym_powergrid.agents import GreedySearch, TreeSearchLineServiceStatus, make_agent
from gym_powergrid.agents.compare import parse_agent_spec
from gym_powergrid.agents.lookahead import (
    SimulateHorizonLookahead,
    SimulateLookahead,
    make_lookahead,
)
from gym_powergrid.core import batch as kb

# Plain greedy's non-do-nothing moves on PowerGrid-case30-hard-v0, chronic 07_jul, seed 0,
# steps 0-178, recorded with the code before the AC check existed (commit ddb5f60).
PLAIN_07_JUL = [(1, "switch line 26"), (16, "switch line 14"), (57, "switch line 14"),
                (65, "switch line 14"), (69, "switch line 14"), (89, "switch line 14"),
                (106, "switch line 14"), (112, "switch line 14"), (119, "switch line 14"),
                (136, "switch line 14"), (148, "switch line 14"), (164, "switch line 30"),
                (167, "switch line 14"), (177, "switch line 20"), (178, "switch line 22")]


@pytest.fixture(scope="module")
def case30_jul_179():
    """PowerGrid-case30-hard-v0 after 179 steps of plain greedy (07_jul, seed 0), and the
    moves plain greedy made on the way."""
    env = gym.make("PowerGrid-case30-hard-v0")
    env.reset(seed=0, options={"chronic": "07_jul"})
    plain = GreedySearch(env, ac_check=0, search_above=0)  # pypownet's plain greedy
    moves = []
    for n in range(179):
        a = plain.act(None)
        if a.any():
            moves.append((n, plain.last_choice))
        _, _, term, trunc, _ = env.step(a)
        assert not (term or trunc)
    yield env, plain, moves
    env.close()


def test_ac_check_zero_plays_the_plain_greedy_of_before(case30_jul_179):
    _, plain, moves = case30_jul_179
    assert moves == PLAIN_07_JUL
    assert plain.ac_lookahead is None and "ac_overrides" not in plain.stats


def test_ac_check_avoids_a_dc_choice_that_ends_the_game_in_ac(case30_jul_179):
    env, plain, _ = case30_jul_179
    base = env.unwrapped
    a_plain = plain.act(None)
    assert plain.last_choice == "switch line 15"
    _, _, ends_plain, info = base.simulate(a_plain, loadflow_mode="AC")
    assert ends_plain and info["game_over_reason"] == "diverged"
    assert not base.simulate(a_plain, loadflow_mode="DC")[2]  # DC does not see it

    default = GreedySearch(env)  # ac_check=3 and the AC correction of the DC scores
    assert default.ac_check == 3 and default.ac_correction
    assert not base.simulate(default.act(None), loadflow_mode="AC")[2]

    checked = GreedySearch(env, ac_correction=False)  # the AC check alone
    assert checked.ac_check == 3
    a_checked = checked.act(None)
    assert not np.array_equal(a_checked, a_plain) and checked.ac_overrides == 1
    assert not base.simulate(a_checked, loadflow_mode="AC")[2]
    # do-nothing ends the game in AC too, so the AC scores decide: plain's choice was among
    # the re-simulated ones and scored the game-over penalty
    assert base.simulate(base.action_helper.do_nothing(), loadflow_mode="AC")[2]
    rows = checked.last_ac_indices
    plain_row = int(np.flatnonzero((checked.candidates.actions == a_plain).all(axis=1))[0])
    assert rows[0] == 0 and plain_row in rows
    penalty = -checked.lookahead.weights.game_over
    assert checked.last_ac_scores[0] == checked.last_ac_scores[list(rows).index(plain_row)] \
        == penalty
    # the choice is the best AC score of the checked rows
    chosen_row = int(np.flatnonzero((checked.candidates.actions == a_checked).all(axis=1))[0])
    assert checked.last_ac_scores[list(rows).index(chosen_row)] == checked.last_ac_scores.max()
    assert checked.last_ac_scores.max() > penalty
    ref, _ = SimulateLookahead(env, loadflow_mode="AC").evaluate(
        checked.candidates.actions[rows])
    assert ref[list(rows).index(chosen_row)] == pytest.approx(checked.last_ac_scores.max())
    assert checked.stats["ac_checked"] == 4 and checked.stats["ac_overrides"] == 1


def test_ac_check_zero_is_the_dc_argmax(make_env):
    env = make_env(margin=1.05, maintenance={(3, 5): 4})
    env.reset(seed=0, options={"chronic": "b"})
    agent = GreedySearch(env, ac_check=0, search_above=0)
    for _ in range(8):
        a = agent.act(None)
        best = agent.last_indices[int(np.argmax(agent.last_scores))]
        assert np.array_equal(a, agent.candidates.actions[best])
        assert len(agent.last_ac_indices) == 0
        if any(env.step(a)[2:4]):
            break


def test_ac_check_rejects_what_ends_the_game_or_overloads_more_than_do_nothing(make_env):
    env = make_env(margin=1.02, maintenance={(3, 5): 4, (7, 12): 6})
    env.reset(seed=0, options={"chronic": "a"})
    agent = GreedySearch(env, ac_check=60, search_above=0)
    ref = SimulateLookahead(env, loadflow_mode="AC")
    n_rejected = 0
    for _ in range(20):
        a = agent.act(None)
        rows = agent.last_ac_indices
        score, stats = ref.evaluate(agent.candidates.actions[rows])
        ends, over = stats[:, kb.ST_GAME_OVER] > 0, stats[:, kb.ST_N_OVERFLOW]
        rejected = agent.last_ac_scores == -np.inf
        if ends[0]:
            assert not rejected.any()
        else:
            np.testing.assert_array_equal(rejected, ends | (over > over[0]))
        n_rejected += int(rejected.sum())
        kept = ~rejected
        np.testing.assert_allclose(agent.last_ac_scores[kept], score[kept], rtol=1e-9)
        assert np.array_equal(a, agent.candidates.actions[rows[np.argmax(agent.last_ac_scores)]])
        if any(env.step(a)[2:4]):
            break
    assert n_rejected > 0  # the rule was exercised


def test_ac_check_with_a_horizon_simulates_the_horizon_in_ac(make_env):
    env = make_env(margin=1.05, maintenance={(3, 5): 4})
    env.reset(seed=0, options={"chronic": "a"})
    agent = GreedySearch(env, horizon=3, ac_check=2, search_above=0)
    assert isinstance(agent.ac_lookahead, SimulateHorizonLookahead)
    assert agent.ac_lookahead.loadflow_mode == "AC"
    for _ in range(4):
        a = agent.act(None)
        rows = agent.last_ac_indices
        assert len(rows) == 3 and rows[0] == 0
        picked = [r for r in rows if np.array_equal(agent.candidates.actions[r], a)]
        assert picked, "the action is one of the AC-checked candidates"
        if any(env.step(a)[2:4]):
            break


def test_ac_correction_follows_the_ac_check(env):
    assert GreedySearch(env).ac_correction
    assert not GreedySearch(env, ac_check=0).ac_correction  # plain greedy
    assert not GreedySearch(env, horizon=3).ac_correction  # one-step only
    assert not GreedySearch(env, use_batch=False).ac_correction  # batched only
    assert not GreedySearch(env, ac_correction=False).ac_correction
    assert GreedySearch(env, ac_check=0, ac_correction=True).ac_correction
    assert not TreeSearchLineServiceStatus(env).ac_correction


def test_defaults_and_dc_games():
    env = gym.make("PowerGrid-case14-hard-dc-v0")
    env.reset(seed=0)
    assert GreedySearch(env).ac_check == 3
    assert GreedySearch(env).ac_lookahead is None  # DC game: the DC scores are the game's
    assert TreeSearchLineServiceStatus(env).ac_check == 0
    env.close()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_bad_ac_check_values_get_a_clear_error(env, bad):
    if bad is None:  # None is the class default, not an error
        assert GreedySearch(env, ac_check=None).ac_check == 3
        return
    with pytest.raises(ValueError, match="ac_check must be an integer >= 0"):
        GreedySearch(env, ac_check=bad)


def test_ac_check_from_agent_specs(env):
    name, opts = parse_agent_spec("greedy[ac_check=0]")
    assert make_agent(name, env, **opts).ac_check == 0
    name, opts = parse_agent_spec("greedy[ac_check=-2]")
    with pytest.raises(ValueError, match="ac_check must be an integer >= 0"):
        make_agent(name, env, **opts)


def test_ac_look_ahead_options(env):
    with pytest.raises(ValueError, match="loadflow_mode must be 'AC' or 'DC'"):
        SimulateLookahead(env, loadflow_mode="XC")
    with pytest.raises(ValueError, match="needs the simulate look-ahead"):
        make_lookahead(env, use_batch=True, loadflow_mode="AC")
    a = env.action_helper.do_nothing()[None, :]
    score, _ = make_lookahead(env, use_batch=False, loadflow_mode="ac").evaluate(a)
    obs, _, term, _ = env.simulate(a[0], loadflow_mode="AC")
    assert not term and score[0] < 0
