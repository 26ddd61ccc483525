"""The training command on the native vector env (``vec_env="native"``)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

import gym_powergrid  # noqa: E402,F401
from gym_powergrid.training import TrainConfig, load_monitor, make_vec_env, train  # noqa: E402

ENV_ID = "PowerGrid-case14-v0"


@pytest.mark.parametrize("kwargs, message", [
    ({"action_space": "candidates"}, "subproc"),
    ({"action_space": "guarded"}, "subproc"),
    ({"action_space": "discrete", "random_start": True}, "random_start"),
])
def test_native_vec_env_rejects_what_it_cannot_train_on(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(env_id=ENV_ID, vec_env="native", **kwargs)


def test_native_vec_env_plays_only_the_training_chronics(tmp_path):
    cfg = TrainConfig(env_id=ENV_ID, vec_env="native", action_space="discrete", n_envs=3)
    chosen = ["02_feb", "05_may"]
    venv = make_vec_env(cfg, chosen, tmp_path)
    try:
        assert type(venv).__name__ == "VecMonitor"
        native = venv.venv.native
        venv.reset()
        seen = set()
        masks = venv.env_method("action_masks")
        assert len(masks) == 3 and all(m[0] for m in masks)
        for _ in range(300):  # do-nothing: several episodes end on case14-v0 within 300 steps
            venv.step(np.zeros(3, dtype=np.int64))
            seen.update(e.current_chronic.name for e in native.envs)
        assert seen <= set(chosen) and seen
    finally:
        venv.close()
    with pytest.raises(Exception, match="99_xyz"):
        make_vec_env(cfg, ["99_xyz"], None)


@pytest.mark.slow
def test_train_on_the_native_vec_env(tmp_path):
    """A tiny MaskablePPO run on the native vector env: model, Monitor CSV, evaluation."""
    cfg = TrainConfig(env_id=ENV_ID, vec_env="native", action_space="discrete", n_envs=4,
                      timesteps=512, n_steps=64, batch_size=64, n_epochs=1, net_arch=(32,),
                      n_heldout=2, eval_seeds=(0,), eval_max_steps=16, eval_workers=1,
                      baselines=("do-nothing",), out=str(tmp_path / "run"), progress=False)
    result = train(cfg)
    assert result.model_path.is_file()
    df = load_monitor(tmp_path / "run" / "monitor")
    assert len(df) > 0 and df["l"].sum() <= 512 + 4 * 64
    assert set(df["game_over_reason"].dropna()) <= {"diverged", "too_many_loads_cut",
                                                    "too_many_prods_cut", "", "none"}
    assert list(result.evaluation["agent"]) == ["policy", "do-nothing"]
