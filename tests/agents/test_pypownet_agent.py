"""pypownet 2.2.9 agents played unchanged on PowerGridEnv (gym_powergrid.agents.pypownet_agent).

The agent files of ``pypownet_agents/`` are written against pypownet's API only. When the side
venv with pypownet 2.2.9 exists (``$PYPOWNET_VENV``, default ``/work/venv-pypownet``), pypownet's
own shipped agents run too, and a deterministic agent is played by pypownet itself and by the
adapter on default14: same switch layout, same observation at reset, same actions.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gym_powergrid.agents import agent_name, make_agent, resolve_agent
from gym_powergrid.agents.pypownet_agent import PypownetAgent, PypownetAgentError
from gym_powergrid.agents.pypownet_compat.actions import ElementType
from gym_powergrid.agents.pypownet_compat.environment import RunEnv
from gym_powergrid.agents.pypownet_compat.errors import UnsupportedPypownetAPI
from gym_powergrid.agents.pypownet_compat.observation import (
    PYPOWNET_LAYOUT,
    SUBSTATION_ID_OFFSET,
    field_sizes,
    to_pypownet_array,
)
from gym_powergrid.cli import main
from gym_powergrid.runner import Runner

HERE = Path(__file__).resolve().parent / "pypownet_agents"
FIXTURE_ENV = "agents._fixture:make_env"
VENV = Path(os.environ.get("PYPOWNET_VENV", "/work/venv-pypownet"))
VENV_PY = VENV / "bin" / "python"
DEFAULT14 = VENV / "parameters" / "default14"
_AGENT_PY = sorted(glob.glob(str(VENV / "lib" / "python3*" / "site-packages" / "pypownet"
                                 / "agent.py")))
needs_pypownet = pytest.mark.skipif(
    not (VENV_PY.exists() and DEFAULT14.is_dir() and _AGENT_PY),
    reason=f"no pypownet 2.2.9 side venv at {VENV} (set PYPOWNET_VENV)")


def spec(file: str, cls: str) -> str:
    return f"pypownet:{HERE / file}:{cls}"


def play(env, agent, n_steps: int, seed: int = 0):
    """Play like pypownet's Runner (soft mode: reset after a game over); return the actions."""
    obs, info = env.reset(seed=seed)
    agent.reset(obs, info)
    actions = []
    for _ in range(n_steps):
        a = agent.act(obs)
        actions.append(a.copy())
        obs, r, terminated, truncated, info = env.step(a)
        agent.feed_reward(a, obs, r, info)
        if terminated or truncated:
            obs, info = env.reset()
    return actions


# ---------------------------------------------------------------------- observation and actions
def test_observation_array_carries_every_field_in_pypownet_order(env):
    obs = env.step(env.action_helper.do_nothing())[0]
    runenv = RunEnv(env)
    g = env.grid
    array = to_pypownet_array(obs)
    assert array.shape == (sum(field_sizes(g.n_prod, g.n_load, g.n_line, g.n_sub)),)
    o = runenv.observation_space.array_to_observation(array)
    for field, ours, _ in PYPOWNET_LAYOUT:
        expected = np.asarray(obs[ours], dtype=float).ravel()
        if field.endswith("substations_ids"):
            expected = expected + SUBSTATION_ID_OFFSET
        np.testing.assert_array_equal(getattr(o, field), expected, err_msg=field)
    np.testing.assert_array_equal(o.as_array(), array)
    np.testing.assert_allclose(o.get_lines_capacity_usage(),
                               obs["ampere_flows"] / obs["thermal_limits"], rtol=1e-6)
    sub = int(np.argmax([env.action_helper.get_number_elements_of_substation(s)
                         for s in range(g.n_sub)]))
    nodes, types = o.get_nodes_of_substation(sub + SUBSTATION_ID_OFFSET)
    assert len(nodes) == len(types) == env.action_helper.get_number_elements_of_substation(sub)
    status, other = o.get_lines_status_of_substation(sub + SUBSTATION_ID_OFFSET)
    touching = (g.line_sub_or_idx == sub) | (g.line_sub_ex_idx == sub)
    assert len(status) == len(other) == int(touching.sum())
    assert all(SUBSTATION_ID_OFFSET <= s < g.n_sub + SUBSTATION_ID_OFFSET for s in other)
    with pytest.raises(UnsupportedPypownetAPI, match="Observation.are_lines_on is not"):
        o.are_lines_on  # noqa: B018  (not a field of pypownet 2.2.9)
    with pytest.raises(ValueError, match="Expected observation array of length"):
        runenv.observation_space.array_to_observation(array[:-1])
    with pytest.raises(TypeError, match="Dict observation"):
        to_pypownet_array(array)


def test_action_space_delegates_to_the_action_helper(env):
    space = RunEnv(env).action_space
    h = env.action_helper
    assert space.action_length == h.action_length
    np.testing.assert_array_equal(space.substations_ids, np.arange(env.grid.n_sub) + 1)
    for s in range(env.grid.n_sub):
        sid = s + SUBSTATION_ID_OFFSET
        n = space.get_number_elements_of_substation(sid)
        assert n == h.get_number_elements_of_substation(s)
        config = np.arange(n) % 2
        action = space.get_do_nothing_action(as_class_Action=True)
        returned = space.set_substation_switches_in_action(action, sid, config)
        assert returned is action  # an Action changes in place, as in pypownet
        np.testing.assert_array_equal(
            action.as_array(), h.set_switches_configuration_of_substation(h.do_nothing(), s,
                                                                          config))
        values, types = space.get_substation_switches_in_action(action, sid)
        np.testing.assert_array_equal(values, config)
        groups, _ = space.get_substation_switches_in_action(action, sid, False)
        assert sum(len(x) for x in groups) == n
        assert list(types).count(ElementType.PRODUCTION) == len(groups[0])
        array = space.get_do_nothing_action()
        new = space.set_substation_switches_in_action(array, sid, config)
        assert not array.any() and new.as_array().sum() == config.sum()
    # line switches: in place on an Action and on an array; sub-actions are views
    action = space.get_do_nothing_action(as_class_Action=True)
    space.set_lines_status_switch_from_id(action, 3, 1)
    assert space.get_lines_status_switch_from_id(action, 3) == 1
    assert action.lines_status_subaction[3] == 1 and action[h.offset_status + 3] == 1
    action.prods_switches_subaction[0] = 1
    assert action.as_array()[0] == 1 and len(action) == h.action_length
    assert action.__len__(do_sum=False) == (env.grid.n_prod, env.grid.n_load) + (
        env.grid.n_line,) * 3
    twin = copy.deepcopy(action)
    twin.set_as_do_nothing()
    assert action.as_array().sum() == 2 and twin.as_array().sum() == 0
    array = space.get_do_nothing_action()
    space.set_lines_status_switch_from_id(array, 0, 1)
    assert array[h.offset_status] == 1
    with pytest.raises(ValueError, match="ids run from 1 to"):
        space.get_number_elements_of_substation(0)
    with pytest.raises(ValueError, match="length"):
        space.array_to_action(np.zeros(3))
    with pytest.raises(UnsupportedPypownetAPI, match="ActionSpace._verify_action_shape"):
        space._verify_action_shape(array)


def test_simulate_returns_what_pypownet_returns(env):
    runenv = RunEnv(env)
    dn = runenv.action_space.get_do_nothing_action()
    obs, reward, done, flag = runenv.simulate(dn)
    _, expected, _, info = env.simulate(dn, loadflow_mode=env.config.loadflow_mode)
    assert isinstance(reward, float) and reward == pytest.approx(expected)
    assert done is False and flag is None and obs.shape == to_pypownet_array(env.reset(
        seed=0)[0]).shape
    _, rewards, _, _ = runenv.simulate(dn, do_sum=False)
    assert rewards == pytest.approx(list(info["reward_components"].values()))
    with pytest.raises(UnsupportedPypownetAPI, match="RunEnv.step"):
        runenv.step(dn)
    with pytest.raises(UnsupportedPypownetAPI, match="RunEnv.game is not supported"):
        runenv.game  # noqa: B018


# ---------------------------------------------------------------------- example agent files
@pytest.mark.parametrize("file, cls", [
    ("do_nothing.py", "DoNothingAgent"), ("random_line_switch.py", "RandomLineSwitchAgent"),
    ("tree_search.py", "TreeSearchLines"), ("node_split.py", "SplitLargestSubstation"),
    ("scripted.py", "ObservationDriven")])
def test_example_agents_play_through_the_runner(make_env, file, cls):
    env = make_env()
    agent = make_agent(spec(file, cls), env, seed=1)
    assert isinstance(agent, PypownetAgent) and agent_name(agent).endswith(f"{file}:{cls}")
    summary = Runner(env, agent, progress=False).run(episodes=1, max_steps=6, seed=0)
    assert summary.episodes[0].steps == 6
    inner = agent.pypownet_agent
    if cls == "DoNothingAgent":
        assert inner.n_calls == 6 and summary.episodes[0].actions_taken == 0
        assert len(inner.rewards_seen) == 6 and all(len(r) >= 1 for r in inner.rewards_seen)
    if cls == "TreeSearchLines":
        assert inner.simulations == 6 * (env.grid.n_line + 1)
    if cls == "SplitLargestSubstation":
        assert summary.episodes[0].actions_taken == 1 and inner.split_substation is not None


def test_seeded_random_agent_repeats_its_trajectory(make_env):
    runs = []
    for _ in range(2):
        env = make_env()
        agent = make_agent(spec("random_line_switch.py", "RandomLineSwitchAgent"), env, seed=5)
        runs.append(np.array(play(env, agent, 8)))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert all(a[-env.grid.n_line:].sum() == 1 for a in runs[0])


def test_tree_search_picks_the_best_simulated_action(env):
    agent = make_agent(spec("tree_search.py", "TreeSearchLines"), env, seed=0)
    obs, _ = env.reset(seed=0)
    chosen = agent.act(obs)
    h = env.action_helper
    candidates = [h.do_nothing()] + [h.set_lines_status_switch_from_id(h.do_nothing(), k, 1)
                                     for k in range(env.grid.n_line)]
    rewards = [env.simulate(c, loadflow_mode=env.config.loadflow_mode)[1] for c in candidates]
    np.testing.assert_array_equal(chosen, candidates[int(np.argmax(rewards))])


def test_cli_runs_a_pypownet_agent_file(tmp_path, capsys):
    totals = tmp_path / "totals.json"
    code = main(["run", FIXTURE_ENV, "--agent", spec("node_split.py", "SplitLargestSubstation"),
                 "--steps", "4", "--seed", "0", "--no-progress", "--json", str(totals)])
    assert code == 0
    assert "SplitLargestSubstation" in capsys.readouterr().out
    assert json.loads(totals.read_text())["steps"] == 4


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("agent_spec, message", [
    ("pypownet:nowhere/agent.py:Agent", "does not exist"),
    (f"pypownet:{HERE / 'do_nothing.py'}", "must look like"),
    (f"pypownet:{HERE / 'do_nothing.py'}:DoNothingAgnt", "Did you mean 'DoNothingAgent'"),
    (f"pypownet:{HERE / 'bad_agents.py'}:NotAnAgent", "not a pypownet agent"),
    (f"pypownet:{HERE / 'bad_agents.py'}:helper", "not a class"),
    (f"pypownet:{HERE / 'bad_agents.py'}:UsesTheGame", r"RunEnv\.game \(line"),
    (f"pypownet:{HERE / 'bad_agents.py'}:Agent", "abstract Agent base"),
])
def test_bad_specs_get_clear_errors(agent_spec, message):
    with pytest.raises(PypownetAgentError, match=message):
        resolve_agent(agent_spec)


def test_options_are_refused_by_name(env):
    with pytest.raises(PypownetAgentError, match="takes no options.*got depth"):
        make_agent(spec("do_nothing.py", "DoNothingAgent"), env, seed=0, depth=2)


def test_cli_reports_a_bad_pypownet_spec(capsys):
    code = main(["run", FIXTURE_ENV, "--agent", spec("do_nothing.py", "DoNothingAgnt"),
                 "--steps", "1", "--no-progress"])
    assert code == 2 and "Did you mean 'DoNothingAgent'" in capsys.readouterr().err


def test_missing_pypownet_module_and_bad_return_are_named(tmp_path, env):
    f = tmp_path / "uses_runner.py"
    f.write_text("import pypownet.runner\n")
    with pytest.raises(PypownetAgentError, match="imports pypownet.runner, which"):
        resolve_agent(f"pypownet:{f}:Anything")
    agent = make_agent(spec("bad_agents.py", "ReturnsNonsense"), env, seed=0)
    with pytest.raises(PypownetAgentError, match="act\\(\\) returned str"):
        agent.act(env.reset(seed=0)[0])


def test_sys_modules_are_restored_after_loading():
    before = {k: sys.modules.get(k) for k in ("pypownet", "pypownet.agent")}
    resolve_agent(spec("do_nothing.py", "DoNothingAgent"))
    assert {k: sys.modules.get(k) for k in before} == before


# ---------------------------------------------------------------------- against pypownet itself
def _pypownet(*args: str, cwd) -> dict:
    out = subprocess.run([str(VENV_PY), str(HERE / "play_in_pypownet.py"), str(DEFAULT14),
                          "level0", *args], capture_output=True, text=True, timeout=600,
                         cwd=cwd, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def default14_env():
    from gym_powergrid.envs import PowerGridEnv

    env = PowerGridEnv(parameters=str(DEFAULT14), level="level0")
    yield env
    env.close()


@needs_pypownet
@pytest.mark.parametrize("cls", ["DoNothing", "RandomAction", "RandomPointAction",
                                 "RandomLineSwitch", "RandomNodeSplitting", "GreedySearch",
                                 "FlowsSaver"])
def test_pypownets_own_agents_run_unchanged(default14_env, tmp_path, monkeypatch, cls):
    monkeypatch.chdir(tmp_path)  # they write saved_actions*.csv / saved_flows.csv here
    agent = make_agent(f"pypownet:{_AGENT_PY[0]}:{cls}", default14_env, seed=0)
    n = 3 if cls == "GreedySearch" else 30
    actions = play(default14_env, agent, n)
    assert len(actions) == n
    if cls in ("RandomPointAction", "RandomLineSwitch"):
        assert all(a.sum() == 1 for a in actions)
    if cls == "FlowsSaver":
        assert len(Path("saved_flows.csv").read_text().splitlines()) == n


@needs_pypownet
def test_pypownets_tree_search_fails_as_in_pypownet(default14_env, tmp_path, monkeypatch):
    """pypownet 2.2.9's TreeSearchLineServiceStatus formats simulate's 4-tuple with '%.5f':
    it raises TypeError in pypownet itself, and so it does here."""
    monkeypatch.chdir(tmp_path)
    agent = make_agent(f"pypownet:{_AGENT_PY[0]}:TreeSearchLineServiceStatus",
                       default14_env, seed=0)
    with pytest.raises(TypeError):
        agent.act(default14_env.reset(seed=0)[0])


@needs_pypownet
def test_switch_layout_matches_pypownet(default14_env, tmp_path):
    ref = _pypownet("layout", cwd=tmp_path)
    space = RunEnv(default14_env).action_space
    assert ref["action_length"] == space.action_length
    for sub in ref["substations"]:
        assert space.get_number_elements_of_substation(sub["id"]) == sub["n"]
        _, types = space.get_substation_switches_in_action(space.get_do_nothing_action(),
                                                           sub["id"])
        assert [t.value for t in types] == sub["types"]
        action = space.set_substation_switches_in_action(space.get_do_nothing_action(),
                                                         sub["id"], [1] * sub["n"])
        assert np.flatnonzero(action.as_array()).tolist() == sub["ones"]


#: fields that must be equal (not only close) to pypownet's at every compared step
DISCRETE = {"lines_status", "are_loads_cut", "are_productions_cut", "loads_nodes",
            "productions_nodes", "lines_or_nodes", "lines_ex_nodes",
            "timesteps_before_lines_reconnectable", "timesteps_before_lines_reactionable",
            "timesteps_before_nodes_reactionable", "timesteps_before_planned_maintenance",
            "date_year", "date_month", "date_day", "date_hour", "date_minute", "date_second",
            "substations_ids", "loads_substations_ids", "productions_substations_ids",
            "lines_or_substations_ids", "lines_ex_substations_ids"}


@pytest.fixture(scope="module")
def scripted_traces(default14_env, tmp_path_factory):
    """The observation-driven agent of scripted.py played by pypownet and by the adapter on
    default14 (chronic a from its first row), up to pypownet's first game over included:
    ``(horizon, pypownet's trace, our observation arrays, our actions)``."""
    n = 20
    ref = _pypownet(f"{HERE / 'scripted.py'}:ObservationDriven", str(n),
                    cwd=tmp_path_factory.mktemp("pypownet"))
    horizon = ref["done"].index(True) + 1 if True in ref["done"] else n
    env = default14_env
    agent = make_agent(spec("scripted.py", "ObservationDriven"), env, seed=0)
    obs, info = env.reset(seed=0, options={"chronic": 0, "start_step": 0})
    observations, actions = [], []
    for _ in range(horizon):
        observations.append(to_pypownet_array(obs))
        action = agent.act(obs)
        actions.append(np.flatnonzero(action).tolist())
        obs, reward, terminated, truncated, info = env.step(action)
        agent.feed_reward(action, obs, reward, info)
    return horizon, ref, observations, actions


def _fields(array: np.ndarray, grid):
    sizes = field_sizes(grid.n_prod, grid.n_load, grid.n_line, grid.n_sub)
    i = 0
    for (field, _, _), k in zip(PYPOWNET_LAYOUT, sizes):
        yield field, array[i:i + k]
        i += k


@needs_pypownet
def test_same_observation_at_reset_and_same_actions_as_pypownet(default14_env, scripted_traces):
    """Every field of the first observation within 1e-4 relative (1e-3 absolute) of
    pypownet's, and the same actions up to pypownet's first game over."""
    horizon, ref, observations, actions = scripted_traces
    assert horizon >= 4, "the scripted agent should act a few times before a game over"
    theirs = dict(_fields(np.asarray(ref["observations"][0]), default14_env.grid))
    for field, ours in _fields(observations[0], default14_env.grid):
        np.testing.assert_allclose(ours, theirs[field], rtol=1e-4, atol=1e-3,
                                   err_msg=f"reset: {field}")
    assert actions == ref["actions"][:horizon]
    assert sum(map(len, actions)) >= 3  # line off, line on, node split: it did act


@needs_pypownet
def test_same_topology_and_countdowns_as_pypownet(default14_env, scripted_traces):
    """Statuses, busbars, cooldowns, countdowns, ids and dates equal to pypownet's at every
    step up to pypownet's first game over."""
    horizon, ref, observations, _ = scripted_traces
    for t in range(horizon):
        theirs = dict(_fields(np.asarray(ref["observations"][t]), default14_env.grid))
        for field, ours in _fields(observations[t], default14_env.grid):
            if field in DISCRETE:
                np.testing.assert_array_equal(ours, theirs[field], err_msg=f"step {t}: {field}")


@pytest.fixture(scope="module")
def simulate_traces(default14_env, tmp_path_factory):
    """pypownet's and our ``simulate(action, do_sum=False)`` for do-nothing and every single
    line switch, at the first 3 rows of default14's chronic a (do-nothing played between)."""
    ref = _pypownet("simulate", "3", cwd=tmp_path_factory.mktemp("pypownet"))["simulate"]
    env = default14_env
    runenv = RunEnv(env)
    space = runenv.action_space
    env.reset(seed=0, options={"chronic": 0, "start_step": 0})
    ours = []
    for _ in ref:
        step = []
        for line in range(-1, space.lines_status_subaction_length):
            action = space.get_do_nothing_action(as_class_Action=True)
            if line >= 0:
                space.set_lines_status_switch_from_id(action, line, 1)
            _, rewards, done, flag = runenv.simulate(action, do_sum=False)
            step.append([rewards, done, type(flag).__name__ if flag is not None else None])
        ours.append(step)
        env.step(env.action_helper.do_nothing())
    return ref, ours


def _assert_same_simulations(ref_step, our_step, t):
    for k, ((r_ref, d_ref, f_ref), (r, d, f)) in enumerate(zip(ref_step, our_step)):
        what = f"row {t}, {'do-nothing' if k == 0 else f'switch of line {k - 1}'}"
        assert (d, f) == (d_ref, f_ref), what
        np.testing.assert_allclose(r, r_ref, rtol=1e-4, atol=1e-6, err_msg=what)


@needs_pypownet
def test_simulate_gives_pypownets_reward_components(simulate_traces):
    """Rows 0 and 1: the same done, flag and five reward components (1e-4 relative) as
    pypownet's simulate, for do-nothing and all 20 line switches."""
    ref, ours = simulate_traces
    for t in (0, 1):
        _assert_same_simulations(ref[t], ours[t], t)


@needs_pypownet
def test_simulate_with_productions_off_gives_pypownets_rewards(simulate_traces):
    ref, ours = simulate_traces
    _assert_same_simulations(ref[2], ours[2], 2)


@needs_pypownet
@pytest.mark.parametrize("cls", ["RandomLineSwitch", "RandomNodeSplitting", "RandomPointAction"])
def test_pypownets_random_agents_draw_the_same_actions(default14_env, tmp_path, monkeypatch,
                                                         cls):
    """Seeded alike (pypownet's RunEnv(seed=0), our seed=0: np.random.seed), pypownet's own
    random agents take the same 10 actions in pypownet and here, game overs included: the
    same draws meet the same substation ids, element counts and switch layout."""
    monkeypatch.chdir(tmp_path)
    ref = _pypownet(f"{_AGENT_PY[0]}:{cls}", "10", cwd=tmp_path)
    agent = make_agent(f"pypownet:{_AGENT_PY[0]}:{cls}", default14_env, seed=0)
    obs, info = default14_env.reset(seed=0, options={"chronic": 0, "start_step": 0})
    actions = []
    for _ in range(10):
        action = agent.act(obs)
        actions.append(np.flatnonzero(action).tolist())
        obs, reward, terminated, truncated, info = default14_env.step(action)
        if terminated:
            obs, info = default14_env.reset()
    assert actions == ref["actions"]
