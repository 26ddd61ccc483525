"""The candidates recipe: slots, masks and feature bounds of CandidateActions, the ablation agents,
bad input rejected before training, and a small end-to-end training run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

import gym_powergrid  # noqa: E402,F401
from gym_powergrid.training import PolicyAgent, TrainConfig, main, train  # noqa: E402
from gym_powergrid.training.ablations import CandidateAgent  # noqa: E402
from gym_powergrid.training.candidates import FEATURES, CandidateActions  # noqa: E402

ENV_ID = "PowerGrid-case14-hard-v0"


def _shipped_case14() -> bool:
    from gym_powergrid.envs.sources import shipped_environments

    return "case14" in shipped_environments()


pytestmark = pytest.mark.skipif(not _shipped_case14(),
                                reason="the shipped case14 parameter folder is missing")


def _wrapper(threshold=0.0, **kwargs):
    return CandidateActions(gym.make(ENV_ID, reward="survival"), threshold=threshold, **kwargs)


def test_slots_masks_and_feature_bounds_over_random_choices():
    env = _wrapper(threshold=0.0, top_k=3)
    assert env.n_slots == 1 + 1 + 1 + 3
    assert env.slot_names() == ["reconnect", "greedy", "do-nothing", "dc-1", "dc-2", "dc-3"]
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0, options={"chronic": "06_jun"})
    n_flat = env.flat.observation_space.shape[0]
    seen_masked = seen_line_cut = 0
    for _ in range(150):
        assert env.observation_space.contains(obs)
        feats = obs[n_flat:].reshape(env.n_slots, len(FEATURES))
        mask = env.action_masks()
        assert mask[0] and np.array_equal(feats[:, 0] > 0, mask)
        assert not feats[~mask].any()  # masked slots: all features 0
        seen_masked += int((~mask).sum())
        seen_line_cut += int(feats[mask, FEATURES.index("cuts_line")].sum())
        # valid slots hold distinct moves
        moves = [env.to_switches(i, None) for i in np.flatnonzero(mask)]
        assert len({m.tobytes() for m in moves}) == len(moves)
        for i in np.flatnonzero(~mask):
            with pytest.raises(ValueError, match="masked"):
                env.to_switches(int(i), None)
        obs, reward, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        assert -1.0 <= reward <= 1.0 and info["env_steps"] == 1  # threshold 0: every step
        if terminated or truncated:
            obs, _ = env.reset()
    assert seen_masked > 0 and seen_line_cut > 0


def test_features_match_the_ac_simulation_of_each_slot():
    env = _wrapper(threshold=0.0)
    obs, _ = env.reset(seed=0, options={"chronic": "01_jan"})
    base = env.unwrapped
    for slot in np.flatnonzero(env.action_masks()):
        after, _, game_over, _ = base.simulate(env.to_switches(int(slot), None), "AC")
        f = env.features[slot]
        assert f[FEATURES.index("game_over")] == float(game_over)
        if not game_over:
            on = np.asarray(after["lines_status"]) != 0
            usage = np.asarray(after["ampere_flows"])[on] / np.asarray(base.limits_a)[on]
            assert f[FEATURES.index("max_usage")] == pytest.approx(min(usage.max(), 2.0),
                                                                   rel=1e-5)


def test_decisions_happen_only_in_danger_and_cover_the_steps_between():
    env = _wrapper(threshold=0.95)
    obs, info = env.reset(seed=0, options={"chronic": "06_jun"})
    usage = obs[env.flat.slices["ampere_flows"]]  # capacity usage in the flat observation
    assert usage.max() >= 0.95 - 1e-6
    total = info["env_steps"]
    for _ in range(5):
        obs, _, terminated, truncated, info = env.step(0)
        total += info["env_steps"]
        assert info["episode_env_steps"] == total
        if terminated or truncated:
            break
    assert total > 5  # the heuristic played steps outside danger


def test_ablation_agents_play_their_rule():
    raw = gym.make(ENV_ID)
    with pytest.raises(ValueError, match="unknown rule"):
        CandidateAgent(raw, rule="best")
    with pytest.raises(ValueError, match="slots"):
        CandidateAgent(raw, rule="slot-9")
    agents = {r: CandidateAgent(raw, seed=0, rule=r, danger_threshold=0.0)
              for r in ("slot-2", "uniform", "rule")}
    obs, _ = raw.reset(seed=0, options={"chronic": "06_jun"})
    for _ in range(40):
        moves = {r: a.act(obs) for r, a in agents.items()}
        assert not moves["slot-2"].any()  # slot 2 is do-nothing (masked: slot 0's move is it)
        obs, _, terminated, _, _ = raw.step(moves["rule"])
        if terminated:
            break
    stats = agents["slot-2"].stats
    assert set(stats) <= {"slot_0", "slot_2"} and sum(stats.values()) == 40
    assert len(agents["uniform"].slot_counts) > 1


def test_recipe_defaults_per_action_space():
    cfg = TrainConfig()
    assert cfg.action_space == "candidates" and cfg.heuristic == "reconnect"
    assert cfg.expert == ("greedy",) and cfg.danger_threshold == 0.95 and cfg.reward_scale == 0.01
    old = TrainConfig(action_space="guarded")
    assert old.heuristic == "greedy" and old.expert is None and old.danger_threshold == 0.95
    assert TrainConfig(expert=()).expert == ()


def test_candidates_recipe_end_to_end(tmp_path):
    """Train a few hundred decisions, evaluate policy, baselines and ablations, replay."""
    cfg = TrainConfig(env_id=ENV_ID, timesteps=128, n_envs=2, vec_env="dummy", n_steps=64,
                      batch_size=64, n_epochs=1, net_arch=(32,), heldout_chronics=("06_jun",),
                      train_chronics=("01_jan", "02_feb"), eval_seeds=(0,), eval_max_steps=30,
                      eval_workers=1, baselines=("reconnect",), top_k=2,
                      ablations=("untrained", "uniform", "slot-1"), progress=False,
                      out=str(tmp_path / "run"))
    result = train(cfg)
    agg = result.evaluation
    assert list(agg["agent"]) == ["policy", "reconnect", "untrained", "uniform", "slot-1:greedy"]
    m = result.metrics()
    assert {"policy/survival_mean", "uniform/survival_mean",
            "slot-1:greedy/survival_mean"} <= set(m)
    assert (tmp_path / "run" / "model_untrained.zip").is_file()
    # the saved policy replays the wrapper's decisions on the raw env
    raw = gym.make(ENV_ID)
    agent = PolicyAgent(raw, path=result.model_path)
    assert agent.action_kind == "candidates"
    obs, _ = raw.reset(seed=0, options={"chronic": "06_jun"})
    for _ in range(60):  # the first danger state of 06_jun is at step 35
        obs, _, terminated, _, _ = raw.step(agent.act(obs))
        if terminated:
            break
    assert sum(agent.slot_counts.values()) > 0


def test_the_recipe_searches_in_every_state_it_asks_about():
    """The recipe's expert greedy and its DC ranking have no danger gate of their own (greedy's
    default ``search_above``): the wrapper's threshold decides, so their moves are those of the
    every-step search in each danger state."""
    env = _wrapper(threshold=0.95)
    assert env.ranking.search_above == 0 and env.ranking.reconnection is None
    assert [agent.search_above for agent in env.experts] == [0.0]
    obs, _ = env.reset(seed=0, options={"chronic": "06_jun"})
    n_before = env.ranking.searched_steps
    env.step(0)
    assert env.ranking.searched_steps == n_before + 1 and len(env.ranking.last_indices) > 1
