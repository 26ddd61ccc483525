"""The danger gate of the search agents (``search_above=u``): in a safe state (every line in
service below ``u`` x its limit) the agent plays the reconnection heuristic's move without
searching; in danger it runs the full search; ``search_above=0`` searches at every step."""

from __future__ import annotations

import numpy as np
import pytest

from gym_powergrid.agents import (
    GreedySearch,
    LineReconnection,
    TreeSearchLineServiceStatus,
    make_agent,
)
from gym_powergrid.agents.compare import parse_agent_spec
from gym_powergrid.agents.search import GREEDY_SEARCH_ABOVE
from gym_powergrid.envs.guard import GuardedActions

LINE = 3


def _max_usage(env) -> float:
    base = env.unwrapped
    on = np.asarray(base.state.line_status) != 0
    return float(np.max(base.get_lines_capacity_usage()[on]))


def test_safe_states_play_the_reconnection_without_searching(make_env):
    """Limits at 3 x the base flows: every state is safe; a line in maintenance comes back
    exactly when (and as) the reconnection heuristic brings it back."""
    env = make_env(margin=3.0, maintenance={(2, LINE): 3})
    twin = make_env(margin=3.0, maintenance={(2, LINE): 3})
    env.reset(seed=0, options={"chronic": "a"})
    twin.reset(seed=0, options={"chronic": "a"})
    gated, reconnect = GreedySearch(env, search_above=0.9), LineReconnection(twin)
    moves = []
    for _ in range(12):
        assert _max_usage(env) < 0.9 and not gated.in_danger()
        a, b = gated.act(None), reconnect.act(None)
        np.testing.assert_array_equal(a, b)
        assert gated.last_choice == reconnect.last_choice
        assert len(gated.last_indices) == len(gated.last_scores) == 0
        moves.append(gated.last_choice)
        env.step(a)
        twin.step(b)
    assert f"reconnect line {LINE}" in moves  # the reconnection was played
    assert gated.searched_steps == 0 and gated.lookahead.n_evaluated == 0  # never searched
    assert gated.stats["searched_steps"] == 0 and gated.stats["reconnections"] == 1


def test_a_danger_state_runs_the_full_search(env):
    u = _max_usage(env)
    assert 0.5 < u < 1.0
    always = GreedySearch(env, search_above=0)
    at_u = GreedySearch(env, search_above=u)  # a line exactly at the threshold: danger
    above_u = GreedySearch(env, search_above=min(1.0, u + 0.01))  # every line below: safe
    assert always.reconnection is None and always.in_danger()
    assert at_u.in_danger() and not above_u.in_danger()
    a = at_u.act(None)
    np.testing.assert_array_equal(a, always.act(None))
    assert at_u.last_choice == always.last_choice
    np.testing.assert_array_equal(at_u.last_indices, always.last_indices)
    assert at_u.searched_steps == 1 and at_u.lookahead.n_evaluated == len(at_u.last_indices) > 1
    assert not above_u.act(None).any()  # safe, nothing to reconnect: do-nothing
    assert above_u.last_choice == "do nothing" and above_u.lookahead.n_evaluated == 0


def test_defaults():
    assert GreedySearch.default_search_above == GREEDY_SEARCH_ABOVE
    assert 0 < GREEDY_SEARCH_ABOVE <= 1
    assert TreeSearchLineServiceStatus.default_search_above == 0  # pypownet's: every step


def test_search_above_from_agent_specs(env):
    name, opts = parse_agent_spec("greedy[search_above=0.9]")
    agent = make_agent(name, env, **opts)
    assert agent.search_above == 0.9 and isinstance(agent.reconnection, LineReconnection)
    name, opts = parse_agent_spec("greedy[ac_check=0,search_above=0]")  # pypownet's plain greedy
    plain = make_agent(name, env, **opts)
    assert plain.search_above == 0 and plain.reconnection is None and plain.ac_check == 0
    assert "searched_steps" not in plain.stats
    assert make_agent("greedy", env).search_above == GREEDY_SEARCH_ABOVE


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "0.9", float("nan"), None])
def test_bad_search_above_values_get_a_clear_error(env, bad):
    if bad is None:  # None is the class default, not an error
        assert GreedySearch(env, search_above=None).search_above == GREEDY_SEARCH_ABOVE
        return
    with pytest.raises(ValueError, match=r"search_above must be a fraction of the thermal "
                                         r"limit in \[0, 1\]"):
        GreedySearch(env, search_above=bad)


@pytest.mark.parametrize("spec", ["greedy[search_above=1.5]", "greedy[search_above=-0.1]",
                                  "greedy[search_above=high]"])
def test_bad_search_above_in_agent_specs(env, spec):
    name, opts = parse_agent_spec(spec)
    with pytest.raises(ValueError, match="search_above must be a fraction"):
        make_agent(name, env, **opts)


def test_the_training_wrappers_build_search_agents_without_a_gate(env):
    """The wrappers ask their agents only in their own danger states: the agents search
    whenever asked (unless the spec says otherwise)."""
    guarded = GuardedActions(env, heuristic="greedy",
                             expert=("greedy", "greedy[search_above=0.9]", "tree-search"))
    assert guarded.heuristic.search_above == 0 and guarded.heuristic.reconnection is None
    assert [e.search_above for e in guarded.experts] == [0.0, 0.9, 0.0]
