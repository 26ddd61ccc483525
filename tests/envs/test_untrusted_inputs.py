"""A downloaded parameter folder never runs its code unasked; bad look-ahead modes and
configuration files get clear errors (issue 13)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gym_powergrid.config import GameConfig
from gym_powergrid.envs.powergrid_env import PowerGridEnv
from gym_powergrid.errors import ConfigurationError
from tests.envs._factory import make_env

SHIPPED = Path(__file__).parents[2] / "gym_powergrid" / "envs" / "params" / "case14"


@pytest.fixture
def folder_asking_for_its_reward_file(tmp_path) -> tuple[Path, Path]:
    env = tmp_path / "downloaded14"
    shutil.copytree(SHIPPED, env)
    config = env / "level0" / "configuration.yaml"
    config.write_text(config.read_text().replace("reward: pypownet", "reward: file"))
    marker = tmp_path / "executed"
    (env / "reward_signal.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('ran')\n"
        "class CustomRewardSignal:\n"
        "    def compute_reward(self, observation, action, flag):\n"
        "        return 1.5\n")
    return env, marker


def test_folder_configuration_cannot_run_its_reward_file(folder_asking_for_its_reward_file):
    env, marker = folder_asking_for_its_reward_file
    with pytest.raises(ConfigurationError, match=r"reward: file.*reward_signal.py.*reward='file'"):
        PowerGridEnv(parameters=env)
    assert not marker.exists()


@pytest.mark.parametrize("opt_in", [{"reward": "file"}, {"allow_reward_file": True}])
def test_caller_opt_in_runs_the_reward_file(folder_asking_for_its_reward_file, opt_in):
    env, marker = folder_asking_for_its_reward_file
    game = PowerGridEnv(parameters=env, **opt_in)
    assert marker.read_text() == "ran"
    game.reset(seed=0)
    _, reward, *_ = game.step(np.zeros(game.action_space.n, dtype=np.int8))
    assert reward == 1.5
    game.close()


def test_simulate_refuses_unknown_modes():
    env = make_env()
    env.reset(seed=0)
    action = np.zeros(env.action_space.n, dtype=np.int8)
    for mode in ("xyz", "", None, 1):
        with pytest.raises(ConfigurationError, match="loadflow_mode must be 'AC' or 'DC'"):
            env.simulate(action, mode)
    dc = env.simulate(action, "dc")
    ac = env.simulate(action, "AC")
    assert not np.array_equal(dc[0]["voltage_loads"], ac[0]["voltage_loads"])
    env.close()


def test_non_utf8_configuration_names_file_and_line(tmp_path):
    path = tmp_path / "configuration.yaml"
    path.write_bytes(b"loadflow_mode: AC\n# comment \xe9t\xe9\n")
    with pytest.raises(ConfigurationError, match=r"configuration.yaml: line 2 is not UTF-8"):
        GameConfig.from_yaml(path)
