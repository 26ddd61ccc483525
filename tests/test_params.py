"""Parameter folders: a pypownet-style folder crafted by hand loads; written folders read back."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from chronics.chronic_factory import make_chronic

from gym_powergrid.config import GameConfig
from gym_powergrid.errors import ChronicError, ConfigurationError
from gym_powergrid.params import ParameterFolder, write_parameter_folder

# 4 buses + pypownet's sister buses; the slack generator is gen row 2, the transformer branch
# row 2: the grid keeps the file's order (pypownet's), so chronic columns map one to one.
REFERENCE_GRID = """function mpc = reference_grid4
%REFERENCE_GRID4
mpc.version = '2';
mpc.baseMVA = 100;
%\tbus_i\ttype\tPd\tQd\tGs\tBs\tarea\tVm\tVa\tbaseKV\tzone\tVmax\tVmin
mpc.bus = [
\t1\t3\t0\t0\t0\t0\t1\t1.06\t0\t100\t1\t1.06\t0.94;
\t2\t2\t20\t5\t0\t0\t1\t1.045\t0\t100\t1\t1.06\t0.94;
\t3\t1\t30\t10\t0\t0\t1\t1.01\t0\t100\t1\t1.06\t0.94;
\t4\t1\t25\t3\t0\t0\t1\t1.02\t0\t100\t1\t1.06\t0.94;
\t6661\t4\t0\t0\t0\t0\t1\t1.06\t0\t100\t1\t1.06\t0.94;
\t6662\t4\t0\t0\t0\t0\t1\t1.045\t0\t100\t1\t1.06\t0.94;
\t6663\t4\t0\t0\t0\t0\t1\t1.01\t0\t100\t1\t1.06\t0.94;
\t6664\t4\t0\t0\t0\t0\t1\t1.02\t0\t100\t1\t1.06\t0.94;
];
mpc.gen = [
\t2\t40\t0\t50\t-40\t1.045\t100\t1\t140\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;
\t1\t40\t0\t90\t-90\t1.06\t100\t1\t300\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;
];
mpc.branch = [
\t1\t2\t0.02\t0.06\t0.05\t0\t0\t0\t0\t0\t1\t-360\t360;
\t2\t3\t0\t0.2\t0\t0\t0\t0\t0.98\t0\t1\t-360\t360;
\t1\t3\t0.05\t0.2\t0.04\t0\t0\t0\t0\t0\t1\t-360\t360;
\t3\t4\t0.06\t0.17\t0.03\t0\t0\t0\t0\t0\t1\t-360\t360;
\t2\t4\t0.05\t0.17\t0.03\t0\t0\t0\t0\t0\t1\t-360\t360;
];
"""
CONFIGURATION = """loadflow_backend: pypower
loadflow_mode: AC  # alternative current
max_seconds_per_timestep: 1.0
hard_overflow_coefficient: 1.5
n_timesteps_hard_overflow_is_broken: 10
n_timesteps_consecutive_soft_overflow_breaks: 3
n_timesteps_soft_overflow_is_broken: 5
n_timesteps_horizon_maintenance: 20
max_number_prods_game_over: 1
max_number_loads_game_over: 0
n_timesteps_actionned_line_reactionable: 3
n_timesteps_actionned_node_reactionable: 3
n_timesteps_pending_line_reactionable_when_overflowed: 1
n_timesteps_pending_node_reactionable_when_overflowed: 1
max_number_actionned_substations: 7
max_number_actionned_lines: 10
max_number_actionned_total: 15
"""
# pypownet's chronic files: voltages in kV, -1 = production off, columns in file order, headers
# in pypownet's own naming (bus numbers first), which is read by position
CHRONIC = {
    "_N_prods_p.csv": "2_G1;1_G2\n40;60\n41;62\n39;63\n",
    "_N_prods_v.csv": "2_G1;1_G2\n104.5;106.0\n-1.0;106.0\n104.5;106.2\n",
    "_N_loads_p.csv": "2_C;3_C;4_C\n20;30;25\n21;31;26\n19;29;24\n",
    "_N_loads_q.csv": "2_C;3_C;4_C\n5;10;3\n5;10;3\n5;10;-3\n",
    "_N_prods_p_planned.csv": "2_G1;1_G2\n40;60\n41;62\n39;63\n",
    "_N_prods_v_planned.csv": "2_G1;1_G2\n104.5;106.0\n104.5;106.0\n104.5;106.0\n",
    "_N_loads_p_planned.csv": "2_C;3_C;4_C\n20;30;25\n21;31;26\n19;29;24\n",
    "_N_loads_q_planned.csv": "2_C;3_C;4_C\n5;10;3\n5;10;3\n5;10;3\n",
    "maintenance.csv": "1_2_1;1_3_2;2_3_3;2_4_4;3_4_5\n0;0;0;0;0\n0;2;0;0;0\n0;0;0;0;0\n",
    "hazards.csv": "1_2_1;1_3_2;2_3_3;2_4_4;3_4_5\n0;0;0;0;0\n0;0;0;0;0\n1;0;0;0;0\n",
    "_N_datetimes.csv": "date;time\n2012-jan-1;0:00\n2012-jan-1;1:00\n2012-jan-1;2:00\n",
    "_N_simu_ids.csv": "id\n0\n1\n2\n",
    "_N_imaps.csv": "1_2_1;1_3_2;2_3_3;2_4_4;3_4_5\n100;200;300;400;500\n",
}


@pytest.fixture(scope="module")
def pypownet_env(tmp_path_factory):
    env = tmp_path_factory.mktemp("default4")
    (env / "reward_signal.py").write_text("class CustomRewardSignal:\n    pass\n")
    level = env / "level0"
    (level / "chronics" / "a").mkdir(parents=True)
    (level / "configuration.yaml").write_text(CONFIGURATION)
    (level / "reference_grid.m").write_text(REFERENCE_GRID)
    for name, text in CHRONIC.items():
        (level / "chronics" / "a" / name).write_text(text)
    logging.getLogger("pandapower").setLevel(logging.ERROR)
    return ParameterFolder(env)


def test_pypownet_folder_loads(pypownet_env):
    folder = pypownet_env
    assert folder.levels == ("level0",) and folder.level == "level0"
    assert folder.reward_signal_path == folder.path / "reward_signal.py"
    assert folder.config.loadflow_backend == "pypower"  # pypownet's solver, numba core
    assert folder.config.max_number_loads_game_over == 0
    grid = folder.grid
    assert (grid.n_sub, grid.n_prod, grid.n_load, grid.n_line) == (4, 2, 3, 5)
    assert len(folder.net.bus) == 4  # sister buses dropped


def test_pypownet_chronic_in_grid_order(pypownet_env):
    folder = pypownet_env
    grid = folder.grid
    assert folder.column_order.is_identity
    assert grid.slack_prod_idx == 1  # slack is gen row 2
    assert folder.column_order.line.tolist() == [0, 1, 2, 3, 4]  # file's branch order
    assert grid.line_kind.tolist() == [0, 1, 0, 0, 0]  # transformer is branch row 2
    chronic, start = folder.chronics.select(chronic="a")
    assert start == 0 and chronic.n_steps == 3 and chronic.timestep_seconds == 3600
    # productions in file order (the slack second), voltages converted from kV to p.u.
    assert grid.prod_sub_idx.tolist() == [1, 0]
    np.testing.assert_allclose(chronic.prod_p_mw[:, 1], [60, 62, 63])
    np.testing.assert_allclose(chronic.prod_v_pu[0], [1.045, 1.06], rtol=1e-6)
    assert chronic.prod_off_mask.tolist() == [[False, False], [True, False], [False, False]]
    # lines: in the file's order, the transformer (file column 2) included
    np.testing.assert_array_equal(chronic.line_limit_a, [100, 200, 300, 400, 500])
    assert chronic.maintenance[1].tolist() == [0, 2, 0, 0, 0]
    assert (grid.line_sub_or_idx[1], grid.line_sub_ex_idx[1]) == (1, 2)
    assert chronic.hazards[2].tolist() == [1, 0, 0, 0, 0]
    np.testing.assert_allclose(chronic.load_p_mw[1], [21, 31, 26])


def test_config_looping_mode_is_used(tmp_path):
    env = tmp_path / "env"
    level = env / "hard"
    (level / "chronics").mkdir(parents=True)
    (level / "configuration.yaml").write_text("chronic_looping_mode: fixed\n")
    folder = ParameterFolder(env)
    assert folder.level == "hard" and folder.config.chronic_looping_mode == "fixed"
    with pytest.raises(FileNotFoundError, match="has no reference grid"):
        folder.reference_grid_path  # noqa: B018


def test_layout_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ParameterFolder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="holds no level folder"):
        ParameterFolder(tmp_path)
    (tmp_path / "level0" / "chronics").mkdir(parents=True)
    with pytest.raises(ConfigurationError, match="unknown level 'level1' in .*Did you mean"):
        ParameterFolder(tmp_path, "level1")
    with pytest.raises(FileNotFoundError, match="has no configuration.yaml"):
        ParameterFolder(tmp_path).config  # noqa: B018


# ---------------------------------------------------------------------- writing
@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("written")
    reward = root / "my_reward.py"
    reward.write_text("# reward\n")
    chronics = [make_chronic(name=n, seed=i, n_steps=24, n_prod=5, n_load=11, n_line=20)
                for i, n in enumerate(("jan", "feb"))]
    config = GameConfig(loadflow_mode="DC", chronic_looping_mode="fixed")
    folder = write_parameter_folder(root / "case14env", "case14", config, chronics,
                                    reward_signal=reward, compression="bz2")
    return folder, chronics, config


def test_written_folder_reads_back(written):
    folder, chronics, config = written
    assert folder.config == config
    assert (folder.level_path / "reference_grid.m").read_text().count("\t4\t") >= 14
    assert folder.reward_signal_path.read_text() == "# reward\n"
    assert sorted(p.name for p in (folder.chronics_path / "jan").iterdir())[0].endswith(".bz2")
    assert folder.chronics.names == ("feb", "jan")
    for original in chronics:
        back = folder.chronics[original.name]
        for attr in ("prod_p_mw", "load_p_mw", "load_q_mvar", "prod_p_planned_mw"):
            np.testing.assert_array_equal(getattr(back, attr), getattr(original, attr), attr)
        np.testing.assert_allclose(back.prod_v_pu, original.prod_v_pu, rtol=1e-6)
        np.testing.assert_array_equal(back.maintenance, original.maintenance)
        np.testing.assert_array_equal(back.line_limit_a, original.line_limit_a)
        np.testing.assert_array_equal(back.datetimes, original.datetimes)


def test_written_voltages_are_kv_like_pypownet(written):
    folder, chronics, _ = written
    import bz2

    text = bz2.decompress((folder.chronics_path / "jan" / "_N_prods_v.csv.bz2").read_bytes())
    first_row = [float(v) for v in text.decode().split("\n")[1].split(";")]
    assert max(first_row) > 100  # case14's 135 kV buses


def test_write_errors(tmp_path, written):
    folder, chronics, config = written
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_parameter_folder(folder.path, folder.grid, config, chronics)
    with pytest.raises(ChronicError, match="cannot be a folder name"):
        write_parameter_folder(tmp_path / "e", folder.grid, config,
                               [chronics[0].with_values(name="a/b")])
    with pytest.raises(ChronicError, match="names must be unique"):
        write_parameter_folder(tmp_path / "e", folder.grid, config, [chronics[0]] * 2)
    with pytest.raises(ChronicError, match="4 line columns but the grid has 20 lines"):
        write_parameter_folder(tmp_path / "e", folder.grid, config, [make_chronic()
                                                                     .with_values()
                                                                     .take_columns(
                                                                         prod_idx=[0, 1, 0, 1, 0],
                                                                         load_idx=[0] * 11)])
    other = write_parameter_folder(folder.path, folder.grid, None, chronics[:1], level="level1")
    assert other.levels == ("level0", "level1") and other.config == GameConfig()


def test_env_follows_the_file_order(pypownet_env):
    """Observations and actions index lines and productions in the file's rows (pypownet's)."""
    from gym_powergrid.envs import PowerGridEnv

    env = PowerGridEnv(parameters=str(pypownet_env.path))
    obs, _ = env.reset(seed=0)
    # branch rows: 1-2, 2-3 (the transformer), 1-3, 3-4, 2-4 (0-based substation ids)
    assert obs["lines_or_substations_ids"].tolist() == [0, 1, 0, 2, 1]
    assert obs["lines_ex_substations_ids"].tolist() == [1, 2, 2, 3, 3]
    assert obs["prods_substations_ids"].tolist() == [1, 0]  # gen rows: bus 2, then the slack
    np.testing.assert_allclose(obs["thermal_limits"], [100, 200, 300, 400, 500])
    env.close()
