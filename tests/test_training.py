"""stable-baselines3 on gym_powergrid: every policy / action-space combination users expect, the
chronic split wrapper, and :mod:`gym_powergrid.training` end to end (train, save, reload, act,
evaluate, plot, JSON)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

import gym_powergrid  # noqa: E402,F401
from gym_powergrid.envs.wrappers import DiscreteUnitaryActions, FlatObservation  # noqa: E402
from gym_powergrid.training import (  # noqa: E402
    ChronicSubset,
    PolicyAgent,
    TrainConfig,
    load_model,
    main,
    make_training_env,
    split_chronics,
    train,
)

ENV_ID = "PowerGrid-case14-v0"


def _shipped_case14() -> bool:
    from gym_powergrid.envs.sources import shipped_environments

    return "case14" in shipped_environments()


#: tests of the documented recipe run on the shipped case14 (the others build envs in memory)
needs_case14 = pytest.mark.skipif(not _shipped_case14(),
                                  reason="the shipped case14 parameter folder is missing")


@pytest.fixture(scope="module")
def memory_kwargs():
    """``gymnasium.make`` keywords for a small case14 env built in memory (5 short chronics)."""
    from envs._factory import grid_and_net

    _, net = grid_and_net("case14")
    return {"parameters": net, "chronics": _chronics()}


def _chronics():
    from envs._factory import make_chronic

    return [make_chronic("case14", n_steps=48, wave=0.04 * i, name=f"c{i}") for i in range(5)]


def _env(kwargs, action_space="discrete", observation="flat"):
    return make_training_env(ENV_ID, kwargs, "survival", action_space, observation)


# ---------------------------------------------------------------------- SB3 compatibility
@pytest.mark.parametrize("algo,action_space,observation,policy", [
    ("ppo", "multibinary", "dict", "MultiInputPolicy"),
    ("ppo", "multibinary", "flat", "MlpPolicy"),
    ("ppo", "discrete", "flat", "MlpPolicy"),
    ("ppo", "discrete", "dict", "MultiInputPolicy"),
    ("dqn", "discrete", "flat", "MlpPolicy"),
])
def test_sb3_learns_on_each_space(memory_kwargs, algo, action_space, observation, policy):
    from stable_baselines3 import DQN, PPO

    env = _env(memory_kwargs, action_space, observation)
    assert isinstance(env.observation_space,
                      gym.spaces.Box if observation == "flat" else gym.spaces.Dict)
    assert isinstance(env.action_space, gym.spaces.Discrete if action_space == "discrete"
                      else gym.spaces.MultiBinary)
    if algo == "dqn":
        model = DQN(policy, env, learning_starts=64, buffer_size=1000, batch_size=32, seed=0,
                    device="cpu", policy_kwargs={"net_arch": [32]})
    else:
        model = PPO(policy, env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu",
                    policy_kwargs={"net_arch": [32]})
    model.learn(200)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(np.asarray(action).astype(env.action_space.dtype)
                                     if action_space == "multibinary" else int(action))
    env.step(action if action_space == "multibinary" else int(action))
    env.close()


def test_sb3_env_checker_on_training_wrappers(memory_kwargs):
    from stable_baselines3.common.env_checker import check_env

    for action_space, observation in (("discrete", "flat"), ("multibinary", "dict")):
        env = _env(memory_kwargs, action_space, observation)
        check_env(env, warn=False)
        env.close()


@needs_case14
def test_maskable_ppo_finds_masks_through_subproc_vec_env():
    """MaskablePPO reads ``action_masks`` through ``SubprocVecEnv.env_method``, and masked
    actions are never chosen."""
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported

    cfg = TrainConfig(env_id=ENV_ID, n_envs=2, vec_env="subproc", timesteps=256,
                      action_space="discrete", n_steps=64, batch_size=64, n_epochs=1,
                      net_arch=(32,))
    from gym_powergrid.training import make_vec_env

    venv = make_vec_env(cfg, ["01_jan", "02_feb"])
    try:
        assert type(venv).__name__ == "SubprocVecEnv"
        assert is_masking_supported(venv)
        venv.reset()
        masks = get_action_masks(venv)
        n = venv.action_space.n
        assert masks.shape == (2, n) and masks.dtype == bool and masks[:, 0].all()
        model = MaskablePPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0,
                            device="cpu", policy_kwargs={"net_arch": [32]})
        model.learn(256)
        # put line 0 on cooldown in env 0, then the policy must never pick it there
        obs = venv.reset()
        obs, *_ = venv.step(np.array([1, 0]))  # action 1 = switch line 0 (legal at start)
        masks = get_action_masks(venv)
        assert not masks[0, 1]
        for _ in range(20):
            actions, _ = model.predict(obs, action_masks=masks, deterministic=False)
            assert masks[np.arange(2), actions].all()
    finally:
        venv.close()


def test_maskable_ppo_with_action_masker(memory_kwargs):
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.wrappers import ActionMasker

    env = ActionMasker(_env(memory_kwargs), lambda e: e.get_wrapper_attr("action_masks")())
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0,
                        device="cpu", policy_kwargs={"net_arch": [32]})
    model.learn(128)
    env.close()


# ---------------------------------------------------------------------- chronic split
def test_split_chronics():
    names = [f"{m:02d}" for m in range(1, 25)]
    train_, held = split_chronics(names, 8, seed=0)
    assert len(held) == 8 and sorted(train_ + held) == names and not set(train_) & set(held)
    assert held == sorted(held) and (train_, held) == split_chronics(names, 8, seed=0)
    assert split_chronics(names, 8, seed=1)[1] != held  # the draw depends on the seed
    assert held != names[-8:]  # drawn across the year, not its end
    assert split_chronics(names, 0, heldout=["05"]) == ([n for n in names if n != "05"], ["05"])
    assert split_chronics(["a"], 3) == (["a"], ["a"])  # one chronic: used for both
    with pytest.raises(ValueError, match="unknown chronic"):
        split_chronics(names, 3, train=["99"])


def test_chronic_subset_plays_only_allowed_chronics(memory_kwargs):
    env = _env(memory_kwargs)
    env = ChronicSubset(env, ["c1", "c3"], random_start=True)
    seen = set()
    env.reset(seed=0)
    for _ in range(30):
        _, info = env.reset()
        seen.add(info["chronic_name"])
        assert 0 <= info["timestep"] < 48
    assert seen == {"c1", "c3"}
    _, info = env.reset(options={"chronic": "c0"})  # explicit choice passes through
    assert info["chronic_name"] == "c0"
    with pytest.raises(Exception, match="unknown chronic"):
        ChronicSubset(_env(memory_kwargs), ["nope"])


def test_chronic_subset_continues_the_chronic_after_a_soft_game_over(memory_kwargs):
    from envs._factory import make_chronic

    hazards = np.zeros((48, 20), int)
    hazards[1, :] = 5  # every line breaks at step 1: game over (the reset at step 0 is fine)
    kwargs = dict(memory_kwargs, chronics=[make_chronic(name="x", hazards=hazards),
                                           make_chronic(name="y", hazards=hazards)])
    env = ChronicSubset(_env(kwargs, "discrete", "flat"), ["x", "y"])
    _, info = env.reset(seed=3)
    first = info["chronic_name"]
    _, _, terminated, _, info = env.step(0)
    assert terminated
    _, info = env.reset()
    assert info["chronic_name"] == first and info["timestep"] > 0


def test_train_config_errors():
    with pytest.raises(ValueError, match="Discrete"):
        TrainConfig(algo="maskable-ppo", action_space="multibinary")
    with pytest.raises(ValueError, match="algo"):
        TrainConfig(algo="a2c")
    with pytest.raises(ValueError, match="timesteps"):
        TrainConfig(timesteps=0)
    with pytest.raises(ValueError, match="unknown env.*PowerGrid-case14-hard-v0"):
        TrainConfig(env_id="PowerGrid-case14-hrd-v0")
    with pytest.raises(ValueError, match="unknown reward"):
        TrainConfig(reward="survive")


@pytest.mark.parametrize("argv, message", [
    (["--env", "PowerGrid-case15-v0"], "unknown env"),
    (["--reward", "nope"], "unknown reward"),
    (["--heldout-chronics", "13_jan", "99_xyz"], "unknown chronic"),
    (["--train-chronics", "01_january"], "unknown chronic"),
    (["--timesteps", "0"], "timesteps"),
    (["--heuristic", "gredy"], "unknown agent"),
    (["--expert", "greedy[horizn=3]"], "horizn"),
    # the candidates recipe's own options
    (["--ablations", "best"], "unknown ablation"),
    (["--algo", "ppo"], "maskable-ppo"),
    (["--top-k", "-1"], "top_k"),
    (["--env", "PowerGrid-case14-hard"], "unknown env"),
    (["--heldout-chronics", "99_xyz"], "unknown chronic"),
])
def test_training_command_rejects_bad_input_before_training(argv, message, capsys, monkeypatch):
    import gym_powergrid.training as training

    def no_training(cfg):  # pragma: no cover - reaching it is the failure
        raise AssertionError("training started")

    monkeypatch.setattr(training, "train", no_training)
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert out.startswith("error:") and message in out


def test_training_command_rejects_an_unknown_algorithm(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--algo", "a2c"])
    assert exc.value.code == 2
    assert "invalid choice: 'a2c'" in capsys.readouterr().err


# ---------------------------------------------------------------------- end to end
@needs_case14
def test_train_end_to_end_saves_reloads_and_evaluates(tmp_path):
    """The documented recipe on the shipped case14, with a tiny budget."""
    cfg = TrainConfig(env_id=ENV_ID, timesteps=2048, n_envs=2, vec_env="subproc",
                      action_space="discrete", n_heldout=3, eval_seeds=(0,),
                      start_method="fork",  # workers start at once (the default is tested above)
                      n_steps=256, batch_size=128, n_epochs=2, net_arch=(64, 64),
                      out=str(tmp_path / "run"), eval_max_steps=24, eval_workers=1,
                      baselines=("do-nothing", "greedy"))
    result = train(cfg)
    assert result.model_path.is_file() and result.model_path.with_suffix(".json").is_file()
    assert result.curve_path is not None and result.curve_path.stat().st_size > 1000
    agg = result.evaluation
    assert list(agg["agent"]) == ["policy", "do-nothing", "greedy"]
    assert result.heldout_chronics == split_chronics(
        [f"{k + 1:02d}_{m}" for k, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul",
                                                   "aug", "sep", "oct", "nov", "dec"))], 3)[1]
    assert len(result.train_chronics) == 9
    assert (agg["episodes"] == 3).all() and (agg["survival_mean"] <= 24).all()
    assert (tmp_path / "run" / "evaluation" / "agents.csv").is_file()
    m = result.metrics()
    assert m["timesteps"] == 2048 and "policy/survival_mean" in m
    assert all(isinstance(v, float) for v in m.values())
    # the training episodes were recorded by the Monitor, on the training chronics only
    from gym_powergrid.training import load_monitor

    df = load_monitor(tmp_path / "run" / "monitor")
    assert df["l"].sum() <= 2048 + 2 * 256 and len(df) > 0
    # the saved model reloads and acts in a plain env, like any agent
    model = load_model(result.model_path)
    assert type(model).__name__ == "MaskablePPO"
    env = gym.make(ENV_ID)
    agent = PolicyAgent(env, path=result.model_path)
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        action = agent.act(obs)
        assert action.dtype == np.int8 and action.shape == env.action_space.shape
        obs, *_ = env.step(action)
    env.close()


def test_policy_agent_rejects_a_model_of_another_size(memory_kwargs, tmp_path):
    from sb3_contrib import MaskablePPO

    env = _env(memory_kwargs)
    model = MaskablePPO("MlpPolicy", env, n_steps=32, batch_size=32, device="cpu")
    raw = gym.make(ENV_ID, **memory_kwargs)
    with pytest.raises(ValueError, match="min_elements"):
        PolicyAgent(raw, model=model, min_elements=5)
    agent = PolicyAgent(raw, model=model)
    obs, _ = raw.reset(seed=0)
    assert agent.act(obs).shape == raw.action_space.shape
    with pytest.raises(ValueError, match="GYM_POWERGRID_MODEL"):
        PolicyAgent(raw)
    # a PPO policy on the raw switches and the Dict observation
    from stable_baselines3 import PPO

    model = PPO("MultiInputPolicy", _env(memory_kwargs, "multibinary", "dict"), n_steps=32,
                batch_size=32, device="cpu")
    agent = PolicyAgent(raw, model=model)
    assert agent.action_kind == "multibinary" and agent.observation_kind == "dict"
    action = agent.act(obs)
    assert action.dtype == np.int8 and set(np.unique(action)) <= {0, 1}
    raw.step(action)


@needs_case14
def test_training_command_line(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["--algo", "ppo", "--env", ENV_ID, "--action-space", "discrete",
                 "--timesteps", "256", "--n-envs", "1", "--eval-seeds", "0",
                 "--n-steps", "128", "--batch-size", "64", "--n-epochs", "1", "--net-arch", "32",
                 "--eval-max-steps", "5",
                 "--eval-workers", "1", "--baselines", "do-nothing", "--out", str(out),
                 "--json", str(tmp_path / "m.json")])
    assert code == 0
    text = capsys.readouterr().out
    assert "held-out chronics" in text and "do-nothing" in text
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["timesteps"] == 256 and "policy/survival_mean" in metrics
    assert (out / "model.zip").is_file() and (out / "learning_curve.png").is_file()


def test_training_command_line_rejects_bad_combinations(capsys):
    assert main(["--algo", "dqn", "--action-space", "multibinary"]) == 2
    assert "Discrete" in capsys.readouterr().out


def test_discrete_wrapper_masks_match_the_env_rules(memory_kwargs):
    env = _env(memory_kwargs, "discrete", "dict")
    disc = env.get_wrapper_attr("action_masks")
    env.reset(seed=0)
    assert disc().all()
    inner = env
    while not isinstance(inner, DiscreteUnitaryActions):
        inner = inner.env
    sub_actions = [i for i, a in enumerate(inner.actions) if a[0] == "substation"]
    env.step(sub_actions[0])
    mask = disc()
    sub = inner.actions[sub_actions[0]][1]
    assert not any(mask[i] for i, a in enumerate(inner.actions)
                   if a[0] == "substation" and a[1] == sub)
    assert not isinstance(env, FlatObservation)


# ---------------------------------------------------------------------- guarded actions
HARD_ID = "PowerGrid-case14-hard-v0"


@needs_case14
def test_guarded_actions_play_the_reconnection_heuristic_with_action_0():
    """Always choosing 0 in the guarded env is exactly the reconnect baseline, step for step,
    and the policy is asked only in danger states."""
    from gym_powergrid.agents import make_agent
    from gym_powergrid.envs.guard import GuardedActions, max_usage

    env = GuardedActions(gym.make(HARD_ID), threshold=0.95)
    obs, info = env.reset(seed=0, options={"chronic": "04_apr"})
    assert max_usage(obs) >= 0.95
    decisions, steps = 0, info["env_steps"]
    while True:
        obs, reward, terminated, truncated, info = env.step(0)
        decisions += 1
        steps += info["env_steps"]
        assert info["episode_env_steps"] == steps
        if terminated or truncated:
            break
        assert max_usage(obs) >= 0.95  # asked only in danger
    guarded_steps = env.unwrapped.state.step
    assert decisions < steps / 5

    raw = gym.make(HARD_ID)
    agent = make_agent("reconnect", raw)
    obs, _ = raw.reset(seed=0, options={"chronic": "04_apr"})
    while True:
        obs, _, terminated, truncated, _ = raw.step(agent.act(obs))
        if terminated or truncated:
            break
    assert raw.unwrapped.state.step == guarded_steps
    with pytest.raises(ValueError, match="action must be an integer"):
        env.step(10_000)


@needs_case14
def test_guarded_recipe_end_to_end(tmp_path):
    """The greedy-guarded recipe (the previous default, now by flag), tiny budget: JSON keys,
    learning curve, evaluation of the saved policy through PolicyAgent (same guard rule)."""
    out = tmp_path / "hard"
    code = main(["--action-space", "guarded", "--timesteps", "32", "--n-steps", "16",
                 "--batch-size", "16", "--n-epochs", "1", "--net-arch", "32", "--n-envs", "2",
                 "--vec-env", "dummy",
                 "--heldout-chronics", "04_apr", "--eval-max-steps", "48", "--eval-workers", "1",
                 "--baselines", "do-nothing", "reconnect", "--no-progress", "--out", str(out),
                 "--json", str(tmp_path / "m.json")])
    assert code == 0
    m = json.loads((tmp_path / "m.json").read_text())
    for agent in ("policy", "do-nothing", "reconnect"):
        assert m[f"{agent}/episodes"] == 2 and 0 < m[f"{agent}/survival_mean"] <= 48
    recipe = json.loads((out / "model.json").read_text())
    assert recipe["action_space"] == "guarded" and recipe["heldout_chronics"] == ["04_apr"]
    assert recipe["heuristic"] == "greedy" and recipe["timesteps"] == 32
    assert (out / "learning_curve.png").stat().st_size > 1000
    raw = gym.make(HARD_ID)
    agent = PolicyAgent(raw, path=out / "model.zip")
    assert agent.action_kind == "guarded"
    obs, _ = raw.reset(seed=0, options={"chronic": "04_apr"})
    assert raw.step(agent.act(obs))[0] is not None


@needs_case14
def test_guarded_actions_with_several_experts():
    """Actions 1..k are the experts' moves (specs with options, as in the agent benchmark), the
    unitary actions follow; bad expert specs are errors before anything is built."""
    from gym_powergrid.agents import make_agent
    from gym_powergrid.envs.guard import GuardedActions

    env = GuardedActions(gym.make(HARD_ID), expert=("greedy", "greedy[horizon=3]"))
    plain = GuardedActions(gym.make(HARD_ID))
    assert env.offset == 2 and env.action_space.n == plain.action_space.n + 2
    obs, _ = env.reset(seed=0, options={"chronic": "04_apr"})
    mask = env.action_masks()
    assert mask.shape == (env.action_space.n,) and mask[:3].all()
    assert env.describe(2) == "greedy[horizon=3]'s move"
    assert env.describe(3) == plain.describe(1)
    reference = make_agent("greedy", env, horizon=3, search_above=0)  # the wrapper's
    assert np.array_equal(env.to_switches(2, obs), reference.act(obs))
    assert TrainConfig(expert="greedy").expert == ("greedy",)
    assert TrainConfig(action_space="guarded", expert=()).expert is None
    with pytest.raises(ValueError, match="horizn"):
        TrainConfig(expert=("greedy[horizn=3]",))
    with pytest.raises(ValueError, match="unknown agent"):
        TrainConfig(expert=("gready",))


@needs_case14
def test_guarded_actions_with_another_heuristic_play_it_with_action_0():
    """heuristic="greedy": the greedy search plays outside danger and is action 0, so always
    answering 0 replays the greedy agent step for step."""
    from gym_powergrid.agents import make_agent
    from gym_powergrid.envs.guard import GuardedActions

    env = gym.make(HARD_ID)
    guarded = GuardedActions(env, heuristic="greedy")
    assert guarded.describe(0) == "greedy's move (default)"
    guarded.reset(seed=0, options={"chronic": "12_dec"})
    steps = []
    while len(steps) < 3:
        guarded.step(0)
        steps.append(env.unwrapped.state.step)
    played = env.unwrapped.state.step
    raw = gym.make(HARD_ID)
    agent = make_agent("greedy", raw, search_above=0)  # the wrapper gates, not the agent
    obs, _ = raw.reset(seed=0, options={"chronic": "12_dec"})
    while raw.unwrapped.state.step < played:
        obs, _, terminated, _, _ = raw.step(agent.act(obs))
        assert not terminated
    assert np.array_equal(raw.unwrapped.state.line_status, env.unwrapped.state.line_status)
    assert np.array_equal(raw.unwrapped.state.nodes(), env.unwrapped.state.nodes())
    with pytest.raises(ValueError, match="unknown agent"):
        TrainConfig(heuristic="gredy")
