"""RLlib: the registered env (masks, scaled observations) and two PPO iterations on local Ray.

Skipped with the reason when RLlib is missing: it is not in the test extra because
``ray[rllib]`` pins ``gymnasium==1.2.2`` (the project tests on the newest gymnasium).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("ray.rllib", reason='RLlib is not installed (pip install '
                    '"gym-powergrid[rllib]"; it pins gymnasium==1.2.2, so it is not in [test])')

from gym_powergrid.integrations.rllib import ENV_NAME, make_env, register  # noqa: E402


def test_env_has_rllib_masks_and_scaled_observations():
    env = make_env({"env_id": "PowerGrid-case14-v0", "chronics": ["01_jan"]})
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert set(obs) == {"observations", "action_mask"}
    masks = env.get_wrapper_attr("action_masks")()
    np.testing.assert_array_equal(obs["action_mask"], masks.astype(np.float32))
    assert np.abs(obs["observations"]).max() < 50  # scaled, not MW/A
    line = 1  # action 1 switches line 0 off: it goes on cooldown, its action is masked next
    obs, *_ = env.step(line)
    assert obs["action_mask"][line] == 0.0 and obs["action_mask"][0] == 1.0
    plain = make_env({"action_space": "multibinary", "chronics": ["01_jan"]})
    assert not isinstance(plain.reset(seed=0)[0], dict)  # no mask for raw switches
    assert register() == ENV_NAME


@pytest.mark.timeout(400)
def test_two_ppo_iterations_from_the_training_cli(tmp_path):
    from gym_powergrid.training import main

    out, js = tmp_path / "run", tmp_path / "m.json"
    code = main(["--framework", "rllib", "--algo", "maskable-ppo", "--timesteps", "128",
                 "--n-envs", "1", "--n-steps", "64", "--batch-size", "32", "--n-epochs", "2",
                 "--net-arch", "32", "--out", str(out), "--json", str(js)])
    assert code == 0
    m = json.loads((out / "rllib.json").read_text())
    assert m["iterations"] == 2 and m["steps"] == [64, 128] and len(m["returns"]) == 2
    assert math.isfinite(m["episode_return_mean"])
    assert (out / "rllib_checkpoint").is_dir()
    assert json.loads(js.read_text())["env_steps"] == 128


def test_rllib_recipe_refuses_what_it_cannot_run(capsys):
    from gym_powergrid.training import main

    assert main(["--framework", "rllib", "--algo", "dqn"]) == 2
    assert "the RLlib recipe is PPO" in capsys.readouterr().out
    assert main(["--framework", "rllib", "--observation", "dict"]) == 2
    assert "observation='flat'" in capsys.readouterr().out
